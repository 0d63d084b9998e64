-- Tamper evidence (docs/security.md): every event carries its hash; sellar()
-- chains finished transactions' events into blocks; verificar() recomputes
-- everything and names the first changed, deleted or inserted event; a
-- digest kept outside reveals a rewritten chain. The tampering below is done
-- the only way it can be: as a superuser who first switches the guards off.
\set VERBOSITY terse
CREATE TABLE te (id int PRIMARY KEY, v text);
SELECT audit.auditar('te');
INSERT INTO te SELECT g, 'v' || g FROM generate_series(1, 5) g;
UPDATE te SET v = v || '!' WHERE id <= 2;
DELETE FROM te WHERE id = 5;
-- Every event of this test database carries the hash of its columns.
SELECT count(*) > 0 AS hay_eventos, bool_and(h.huella = audit._huella(h)) AS todos_con_su_huella
  FROM audit.historial_cambios h;
SELECT min(id) AS primero, max(id) AS ultimo FROM audit.historial_cambios WHERE tabla_afectada = 'te' AND accion <> 'DDL' \gset

-- Sealing: everything finished is sealed; nothing is left behind.
SELECT s ->> 'bloques_nuevos' >= '1' AS sella, (s ->> 'eventos_sellados')::int > 0 AS eventos, s -> 'retenido_por' AS retenido_por
  FROM audit.sellar() s;
SELECT v -> 'valido' AS valido, v -> 'primer_error' AS primer_error, v -> 'eventos_sin_sellar' AS sin_sellar FROM audit.verificar() v;
-- Sealing again with nothing new writes a heartbeat block (nothing happened
-- is distinguishable from auditing being off).
SELECT (audit.sellar() ->> 'eventos_sellados')::int AS eventos_nuevos;
SELECT audit.digest() AS digest \gset
SELECT (:'digest'::jsonb) ?& ARRAY['bloque', 'hash', 'eventos_sellados', 'sellado_en', 'version'] AS digest_completo,
       length(:'digest'::jsonb ->> 'hash') AS largo_hash;
SELECT audit.verificar(:'digest') -> 'valido' AS valido_con_digest;

-- The guards, switched off (only a superuser can; the DDL guard itself has
-- to go first).
ALTER EVENT TRIGGER audit_al_terminar_ddl DISABLE;
ALTER TABLE audit.historial_cambios DISABLE TRIGGER historial_cambios_solo_insercion;
ALTER TABLE audit.historial_cambios DISABLE TRIGGER historial_cambios_sin_insercion;
ALTER TABLE audit.bloques DISABLE TRIGGER bloques_solo_insercion;
CREATE TEMP TABLE copia AS SELECT * FROM audit.historial_cambios WHERE id BETWEEN :primero AND :ultimo;

-- 1. A changed value: named.
UPDATE audit.historial_cambios SET datos_nuevos = '{"id": 1, "v": "otro"}' WHERE id = :primero;
SELECT v -> 'valido' AS valido, (v #>> '{primer_error,evento}')::bigint - :primero AS evento, v #>> '{primer_error,problema}' AS problema
  FROM audit.verificar() v;
-- 2. The same change with its hash recomputed: still named (the block kept
-- the original hash).
UPDATE audit.historial_cambios h SET huella = audit._huella(h) WHERE id = :primero;
SELECT v -> 'valido' AS valido, (v #>> '{primer_error,evento}')::bigint - :primero AS evento, v #>> '{primer_error,problema}' AS problema
  FROM audit.verificar() v;
DELETE FROM audit.historial_cambios WHERE id = :primero;
INSERT INTO audit.historial_cambios SELECT * FROM copia WHERE id = :primero;
SELECT audit.verificar() -> 'valido' AS restaurado;
-- 3. A deleted event: named.
DELETE FROM audit.historial_cambios WHERE id = :primero + 2;
SELECT v -> 'valido' AS valido, (v #>> '{primer_error,evento}')::bigint - :primero AS evento, v #>> '{primer_error,problema}' AS problema
  FROM audit.verificar() v;
INSERT INTO audit.historial_cambios SELECT * FROM copia WHERE id = :primero + 2;
-- 4. An event inserted behind the log's back into a sealed range: named.
INSERT INTO audit.historial_cambios
SELECT id + 1000000, "timestamp", usuario_id, usuario_nombre, accion, esquema, tabla_afectada, registro_id, registro_pk,
       datos_anteriores, '{"id": 99, "v": "inventado"}', campos_modificados, empresa_id, metadata, transaccion, rol_bd,
       aplicacion, ip_cliente, registro_id_anterior, rol_sesion, usuario_externo, NULL
  FROM copia WHERE id = :primero + 1;
UPDATE audit.historial_cambios h SET huella = audit._huella(h) WHERE id = :primero + 1000001;
SELECT v -> 'valido' AS valido, (v #>> '{primer_error,evento}')::bigint - :primero AS evento, v #>> '{primer_error,problema}' AS problema
  FROM audit.verificar() v;
DELETE FROM audit.historial_cambios WHERE id = :primero + 1000001;
SELECT audit.verificar() -> 'valido' AS restaurado;
-- 5. A changed block: its list of events, its header, the chain.
CREATE TEMP TABLE bloques_copia AS SELECT * FROM audit.bloques;
UPDATE audit.bloques SET hojas = substr(hojas, 41) WHERE eventos > 0 AND id = (SELECT max(id) FROM audit.bloques WHERE eventos > 0);
SELECT v -> 'valido' AS valido, v #>> '{primer_error,problema}' AS problema FROM audit.verificar() v;
UPDATE audit.bloques b SET hojas = c.hojas FROM bloques_copia c WHERE c.id = b.id;
UPDATE audit.bloques SET sellado_en = sellado_en + interval '1 second' WHERE id = (SELECT min(id) FROM audit.bloques);
SELECT v -> 'valido' AS valido, v #>> '{primer_error,problema}' AS problema, (v #>> '{primer_error,bloque}')::int AS bloque
  FROM audit.verificar() v;
UPDATE audit.bloques b SET sellado_en = c.sellado_en FROM bloques_copia c WHERE c.id = b.id;
DELETE FROM audit.bloques WHERE id = (SELECT min(id) FROM audit.bloques);
SELECT v -> 'valido' AS valido, v #>> '{primer_error,problema}' AS problema FROM audit.verificar() v;
INSERT INTO audit.bloques SELECT * FROM bloques_copia WHERE id = (SELECT min(id) FROM bloques_copia);
SELECT audit.verificar() -> 'valido' AS restaurado;
-- 6. A chain rewritten from scratch after changing an event: internally
-- consistent, and only the digest kept outside reveals it.
UPDATE audit.historial_cambios h SET datos_nuevos = '{"id": 3, "v": "reescrito"}' WHERE id = :primero + 2;
UPDATE audit.historial_cambios h SET huella = audit._huella(h) WHERE id = :primero + 2;
DELETE FROM audit.bloques;
SELECT (audit.sellar() ->> 'bloques_nuevos')::int >= 1 AS cadena_nueva;
SELECT audit.verificar() -> 'valido' AS valido_sin_digest;
SELECT v -> 'valido' AS valido_con_digest, v #>> '{primer_error,problema}' AS problema FROM audit.verificar(:'digest') v;
-- Put everything back.
DELETE FROM audit.bloques;
INSERT INTO audit.bloques SELECT * FROM bloques_copia;
DELETE FROM audit.historial_cambios WHERE id = :primero + 2;
INSERT INTO audit.historial_cambios SELECT * FROM copia WHERE id = :primero + 2;
ALTER TABLE audit.historial_cambios ENABLE ALWAYS TRIGGER historial_cambios_solo_insercion;
ALTER TABLE audit.historial_cambios ENABLE ALWAYS TRIGGER historial_cambios_sin_insercion;
ALTER TABLE audit.bloques ENABLE ALWAYS TRIGGER bloques_solo_insercion;
ALTER EVENT TRIGGER audit_al_terminar_ddl ENABLE;
SELECT v -> 'valido' AS valido, v -> 'primer_error' AS primer_error FROM audit.verificar(:'digest') v;

-- A change made after the last seal, before the next: verificar checks it
-- against its own hash.
ALTER EVENT TRIGGER audit_al_terminar_ddl DISABLE;
ALTER TABLE audit.historial_cambios DISABLE TRIGGER historial_cambios_solo_insercion;
ALTER TABLE audit.historial_cambios DISABLE TRIGGER historial_cambios_sin_insercion;
INSERT INTO te VALUES (10, 'nuevo');
SELECT max(id) AS sin_sellar FROM audit.historial_cambios \gset
UPDATE audit.historial_cambios SET usuario_nombre = 'otra persona' WHERE id = :sin_sellar;
SELECT v -> 'valido' AS valido, (v #>> '{primer_error,evento}')::bigint = :sin_sellar AS es_el_cambiado, v #>> '{primer_error,problema}' AS problema
  FROM audit.verificar() v;
-- And sellar refuses to vouch for it (with a WARNING naming the event).
SET client_min_messages = error;
SELECT s -> 'bloques_nuevos' AS bloques, (s #>> '{error,evento}')::bigint = :sin_sellar AS lo_nombra FROM audit.sellar() s;
RESET client_min_messages;
UPDATE audit.historial_cambios h SET usuario_nombre = c.usuario_nombre
  FROM (SELECT usuario_nombre FROM audit.historial_cambios WHERE id = :sin_sellar - 1) c WHERE h.id = :sin_sellar;
ALTER TABLE audit.historial_cambios ENABLE ALWAYS TRIGGER historial_cambios_solo_insercion;
ALTER TABLE audit.historial_cambios ENABLE ALWAYS TRIGGER historial_cambios_sin_insercion;
ALTER EVENT TRIGGER audit_al_terminar_ddl ENABLE;
SELECT audit.verificar() -> 'valido' AS valido;

-- Who may seal and verify: not PUBLIC (an auditor role can be granted
-- verificar: it returns only the verdict and the first bad event's id).
CREATE ROLE curioso NOLOGIN;
SET ROLE curioso;
SELECT audit.sellar();
SELECT audit.verificar();
SELECT audit.digest();
RESET ROLE;
DROP ROLE curioso;
SELECT audit.verificar('{"bloque": "uno"}');
\echo :LAST_ERROR_SQLSTATE

-- Sealing and retention read what committed up to now: not under
-- REPEATABLE READ or SERIALIZABLE, whose snapshot is older (a transaction
-- committed in between would be left out of its block for good).
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT audit.sellar();
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN ISOLATION LEVEL SERIALIZABLE;
SELECT audit.mantenimiento();
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT audit._aplicar_retencion(1);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;

SELECT audit.dejar_de_auditar('te');
DROP TABLE te;
