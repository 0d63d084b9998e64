-- What cannot be audited is refused with the reason, both through
-- audit.auditar and when the trigger is attached by hand.
CREATE TABLE base (id int PRIMARY KEY, v text);
CREATE VIEW vista AS SELECT * FROM base;
CREATE MATERIALIZED VIEW vista_m AS SELECT * FROM base;
CREATE FOREIGN DATA WRAPPER fdw_prueba;
CREATE SERVER servidor_prueba FOREIGN DATA WRAPPER fdw_prueba;
CREATE FOREIGN TABLE remota (id int, v text) SERVER servidor_prueba;
CREATE TEMP TABLE temporal (id int PRIMARY KEY);
CREATE SEQUENCE secuencia;

SELECT audit.auditar('vista');
\echo :LAST_ERROR_SQLSTATE
SELECT audit.auditar('vista_m');
\echo :LAST_ERROR_SQLSTATE
SELECT audit.auditar('remota');
\echo :LAST_ERROR_SQLSTATE
SELECT audit.auditar('temporal');
\echo :LAST_ERROR_SQLSTATE
SELECT audit.auditar('secuencia');
\echo :LAST_ERROR_SQLSTATE
SELECT audit.auditar('audit.historial_cambios');
\echo :LAST_ERROR_SQLSTATE
SELECT audit.auditar('pg_catalog.pg_class');
\echo :LAST_ERROR_SQLSTATE

-- Attached by hand in a way it cannot record: refused at CREATE TRIGGER.
CREATE TRIGGER antes BEFORE INSERT ON base FOR EACH ROW EXECUTE FUNCTION audit.registrar_cambio();
\echo :LAST_ERROR_SQLSTATE
CREATE TRIGGER por_sentencia AFTER INSERT ON base FOR EACH STATEMENT EXECUTE FUNCTION audit.registrar_cambio();
\echo :LAST_ERROR_SQLSTATE
CREATE TRIGGER en_remota AFTER INSERT ON remota FOR EACH ROW EXECUTE FUNCTION audit.registrar_cambio();
\echo :LAST_ERROR_SQLSTATE
CREATE TRIGGER en_el_log AFTER INSERT ON audit.historial_cambios FOR EACH ROW EXECUTE FUNCTION audit.registrar_cambio();
\echo :LAST_ERROR_SQLSTATE
-- FOR EACH STATEMENT it records from transition tables: all of them.
CREATE TRIGGER con_transicion AFTER UPDATE ON base REFERENCING NEW TABLE AS nuevas
    FOR EACH STATEMENT EXECUTE FUNCTION audit.registrar_cambio();
\echo :LAST_ERROR_SQLSTATE
CREATE TRIGGER fila_con_transicion AFTER INSERT ON base REFERENCING NEW TABLE AS nuevas
    FOR EACH ROW EXECUTE FUNCTION audit.registrar_cambio();
\echo :LAST_ERROR_SQLSTATE
-- Nothing was registered by the refused attempts.
SELECT count(*) AS auditadas FROM audit.tablas_auditadas WHERE tabla IN ('base'::regclass, 'remota'::regclass);

-- Called directly (not as a trigger).
SELECT audit.registrar_cambio();
\echo :LAST_ERROR_SQLSTATE

DROP VIEW vista;
DROP MATERIALIZED VIEW vista_m;
DROP FOREIGN TABLE remota;
DROP SERVER servidor_prueba;
DROP FOREIGN DATA WRAPPER fdw_prueba;
DROP TABLE base, temporal;
DROP SEQUENCE secuencia;
