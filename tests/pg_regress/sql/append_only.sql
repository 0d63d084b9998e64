-- The log is append-only: no role but the capture path writes it, and
-- UPDATE, DELETE and TRUNCATE are refused even for its owner and superusers,
-- also with session_replication_role = replica.
CREATE TABLE cosas (id int PRIMARY KEY);
SELECT audit.auditar('cosas');
INSERT INTO cosas VALUES (1);

-- As a superuser.
UPDATE audit.historial_cambios SET usuario_nombre = 'otro' WHERE tabla_afectada = 'cosas';
\echo :LAST_ERROR_SQLSTATE
DELETE FROM audit.historial_cambios WHERE tabla_afectada = 'cosas';
\echo :LAST_ERROR_SQLSTATE
TRUNCATE audit.historial_cambios;
\echo :LAST_ERROR_SQLSTATE
TRUNCATE audit.historial_cambios_default;
\echo :LAST_ERROR_SQLSTATE
SET session_replication_role = replica;
DELETE FROM audit.historial_cambios WHERE tabla_afectada = 'cosas';
\echo :LAST_ERROR_SQLSTATE
TRUNCATE audit.historial_cambios;
\echo :LAST_ERROR_SQLSTATE
RESET session_replication_role;
-- Directly on the monthly partition that holds the events (its name, which
-- changes every month, is not shown).
SELECT tableoid::regclass AS particion FROM audit.historial_cambios WHERE tabla_afectada = 'cosas' AND accion = 'INSERT' \gset
DELETE FROM :particion WHERE tabla_afectada = 'cosas';
\echo :LAST_ERROR_SQLSTATE
UPDATE :particion SET accion = 'DELETE' WHERE tabla_afectada = 'cosas';
\echo :LAST_ERROR_SQLSTATE
TRUNCATE :particion;
\echo :LAST_ERROR_SQLSTATE
-- Nor can a superuser slip an event in, with INSERT or COPY, into the log or
-- a partition, also under session_replication_role = replica.
INSERT INTO audit.historial_cambios (id, accion, tabla_afectada, transaccion, rol_bd)
    VALUES (-1, 'INSERT', 'cosas', 4611686018427387904, 'nadie');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO :particion SELECT * FROM audit.historial_cambios WHERE tabla_afectada = 'cosas';
\echo :LAST_ERROR_SQLSTATE
SET session_replication_role = replica;
INSERT INTO audit.historial_cambios_default SELECT * FROM audit.historial_cambios WHERE tabla_afectada = 'cosas';
\echo :LAST_ERROR_SQLSTATE
RESET session_replication_role;
COPY audit.historial_cambios (id, accion, tabla_afectada, transaccion, rol_bd) FROM stdin;
-2	INSERT	cosas	1	nadie
\.
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS intactos FROM audit.historial_cambios WHERE tabla_afectada = 'cosas';

-- An ordinary role: writes to audited tables are recorded, but it can
-- neither read nor write the log, nor call the administrative functions.
CREATE ROLE solo_app NOLOGIN;
GRANT INSERT, UPDATE, DELETE, SELECT ON cosas TO solo_app;
CREATE TABLE propia (id int PRIMARY KEY, empresa_id uuid);
ALTER TABLE propia OWNER TO solo_app;
SET ROLE solo_app;
INSERT INTO cosas VALUES (2);
DELETE FROM cosas WHERE id = 1;
INSERT INTO audit.historial_cambios (accion, transaccion, rol_bd) VALUES ('EVENTO', 1, 'falso');
\echo :LAST_ERROR_SQLSTATE
UPDATE audit.historial_cambios SET usuario_nombre = 'x';
\echo :LAST_ERROR_SQLSTATE
DELETE FROM audit.historial_cambios;
\echo :LAST_ERROR_SQLSTATE
TRUNCATE audit.historial_cambios;
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM audit.historial_cambios;
\echo :LAST_ERROR_SQLSTATE
SELECT nextval('audit.historial_cambios_id_seq');
\echo :LAST_ERROR_SQLSTATE
UPDATE audit.tablas_config SET opciones = '{"excluir_columnas": ["id"]}';
\echo :LAST_ERROR_SQLSTATE
SELECT audit.auditar('cosas', '{"capturar_truncate": false}');
\echo :LAST_ERROR_SQLSTATE
SELECT audit.dejar_de_auditar('cosas');
\echo :LAST_ERROR_SQLSTATE
SELECT audit._asegurar_particiones(5);
\echo :LAST_ERROR_SQLSTATE
-- Nor attach the capture trigger to a table of its own (which would let it
-- write events of its choosing, under any tenant, into the log).
CREATE TRIGGER forjar AFTER INSERT ON propia FOR EACH ROW EXECUTE FUNCTION audit.registrar_cambio();
\echo :LAST_ERROR_SQLSTATE
-- What it may do: record application events and set its context.
SELECT audit.establecer_contexto('{"motivo": "prueba"}');
SELECT audit.registrar_evento('DESDE_LA_APP') > 0 AS registrado;
RESET ROLE;
SELECT accion, rol_bd, registro_pk FROM audit.historial_cambios
 WHERE rol_bd = 'solo_app' ORDER BY id;
REVOKE ALL ON cosas FROM solo_app;
DROP TABLE cosas, propia;
DROP ROLE solo_app;
