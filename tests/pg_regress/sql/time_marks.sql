-- audit.mantenimiento() and the time marks that make date filters read
-- only what they return. A mark is a promise about the whole log; this
-- checks the promise against every event, and that date filters give the
-- same answer with and without marks.
SELECT coalesce(max(id), 0) AS inicio FROM audit.historial_cambios \gset
CREATE TABLE mt (id int PRIMARY KEY, v int);
SELECT audit.auditar('mt');
INSERT INTO mt SELECT g, g FROM generate_series(1, 5) g;
SELECT (audit.mantenimiento() -> 'marca_tiempo') ?& ARRAY['instante', 'ultimo_id', 'cerrado_hasta'] AS marca;
UPDATE mt SET v = v + 1;
SELECT pg_sleep(0.01);
UPDATE mt SET v = v + 1 WHERE id < 3;
SELECT jsonb_typeof(audit.mantenimiento() -> 'particiones_creadas') AS particiones;
DELETE FROM mt WHERE id = 5;

-- The promise of every mark, over every event in the log.
SELECT count(*) >= 2 AS hay_marcas,
       bool_and(m.cerrado_hasta < m.instante) AS coherentes,
       (SELECT count(*) FROM audit.historial_cambios h, audit.marcas_tiempo m2
         WHERE (h."timestamp" > m2.instante AND h.id <= m2.ultimo_id)
            OR (h."timestamp" < m2.cerrado_hasta AND h.id > m2.ultimo_id)) AS promesas_rotas
  FROM audit.marcas_tiempo m;
-- A mark is only as recent as the oldest transaction still open: this
-- one's own start bounds it (events it writes later carry that start).
BEGIN;
SELECT now() AS inicio_tx \gset
SELECT pg_sleep(0.01);
SELECT (audit.mantenimiento() #>> '{marca_tiempo,cerrado_hasta}')::timestamptz < :'inicio_tx'::timestamptz AS antes_de_esta_transaccion;
UPDATE mt SET v = 0 WHERE id = 1;
COMMIT;
SELECT count(*) AS promesas_rotas FROM audit.historial_cambios h, audit.marcas_tiempo m
 WHERE (h."timestamp" > m.instante AND h.id <= m.ultimo_id) OR (h."timestamp" < m.cerrado_hasta AND h.id > m.ultimo_id);

-- Date filters give the same events with marks as the plain condition.
SELECT "timestamp" AS medio FROM audit.historial_cambios
 WHERE id > :inicio AND tabla_afectada = 'mt' AND accion = 'UPDATE' ORDER BY id LIMIT 1 OFFSET 5 \gset
SELECT array_agg(id ORDER BY id DESC) AS esperado_desde FROM audit.historial_cambios
 WHERE id > :inicio AND tabla_afectada = 'mt' AND "timestamp" >= :'medio' \gset
SELECT array_agg(id ORDER BY id DESC) AS esperado_hasta FROM audit.historial_cambios
 WHERE id > :inicio AND tabla_afectada = 'mt' AND "timestamp" < :'medio' \gset
SELECT array_agg(id) = :'esperado_desde' AS desde_igual
  FROM audit.get_historial_cambios(jsonb_build_object('tabla', 'mt', 'desde', :'medio'::timestamptz));
SELECT array_agg(id) = :'esperado_hasta' AS hasta_igual
  FROM audit.get_historial_cambios(jsonb_build_object('tabla', 'mt', 'hasta', :'medio'::timestamptz));
SELECT count(*) AS mismo_instante
  FROM audit.get_historial_cambios(jsonb_build_object('tabla', 'mt', 'desde', :'medio'::timestamptz, 'hasta', :'medio'::timestamptz));

-- Who may take marks: not PUBLIC; a role that cannot see every session's
-- transaction gets no mark (a warning says why) rather than a wrong one.
CREATE ROLE mantenedor NOLOGIN;
SET ROLE mantenedor;
SELECT audit.mantenimiento();
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
GRANT EXECUTE ON FUNCTION audit._marcar_tiempo(interval) TO mantenedor;
SET ROLE mantenedor;
SELECT audit._marcar_tiempo() IS NULL AS sin_marca;
RESET ROLE;
REVOKE EXECUTE ON FUNCTION audit._marcar_tiempo(interval) FROM mantenedor;
DROP ROLE mantenedor;
-- A sequence with a cache hands out ids out of order: no mark either. (The
-- DDL guard refuses ALTER SEQUENCE on it; the extension's maintenance flag
-- stands here for an owner who switched the guard off.)
SET audit.operacion_interna = 'prueba';
ALTER SEQUENCE audit.historial_cambios_id_seq CACHE 10;
SELECT audit._marcar_tiempo() IS NULL AS sin_marca_con_cache;
ALTER SEQUENCE audit.historial_cambios_id_seq CACHE 1;
RESET audit.operacion_interna;
SELECT audit._marcar_tiempo('-1 second');
\echo :LAST_ERROR_SQLSTATE

SELECT audit.dejar_de_auditar('mt');
DROP TABLE mt;
