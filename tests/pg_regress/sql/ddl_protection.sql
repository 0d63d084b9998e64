-- What DDL may not do (docs/security.md): weaken the extension's own tables, or
-- leave an audited table without its capture. Refused with 42501, and the
-- command is rolled back.
\set VERBOSITY terse
SELECT audit.mantenimiento() IS NOT NULL AS particiones_al_dia;
SELECT format('audit.historial_cambios_%s', to_char(now() AT TIME ZONE 'UTC', 'YYYY_MM')) AS particion \gset
-- This month's partition has a different name every month: a refusal on it
-- is shown as its SQLSTATE and message with the month masked, so that this
-- file's expected output holds in any month.
CREATE FUNCTION pg_temp.rechazo(sentencia text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sentencia;
    RETURN 'accepted';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || regexp_replace(SQLERRM, 'historial_cambios_[0-9]{4}_[0-9]{2}', 'historial_cambios_YYYY_MM', 'g');
END
$$;

-- 1. The log and the extension's tables, even for a superuser.
ALTER TABLE audit.historial_cambios DISABLE TRIGGER historial_cambios_solo_insercion;
\echo :LAST_ERROR_SQLSTATE
ALTER TABLE audit.historial_cambios DISABLE TRIGGER ALL;
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.rechazo(format('ALTER TABLE %s DISABLE TRIGGER historial_cambios_sin_truncate', :'particion'));
ALTER TABLE audit.historial_cambios ENABLE REPLICA TRIGGER historial_cambios_solo_insercion;
\echo :LAST_ERROR_SQLSTATE
ALTER TABLE audit.historial_cambios DISABLE ROW LEVEL SECURITY;
\echo :LAST_ERROR_SQLSTATE
-- The log's ids: one at a time, in order (audit.seguir relies on it).
ALTER SEQUENCE audit.historial_cambios_id_seq CACHE 10;
\echo :LAST_ERROR_SQLSTATE
ALTER SEQUENCE audit.historial_cambios_id_seq RESTART WITH 1;
\echo :LAST_ERROR_SQLSTATE
ALTER SEQUENCE audit.historial_cambios_id_seq RENAME TO otra_secuencia;
\echo :LAST_ERROR_SQLSTATE
ALTER SEQUENCE audit.historial_cambios_id_seq SET SCHEMA public;
\echo :LAST_ERROR_SQLSTATE
-- Also named without its schema, under a path that reaches it.
SET search_path = audit, public;
ALTER SEQUENCE historial_cambios_id_seq RENAME TO otra_secuencia;
\echo :LAST_ERROR_SQLSTATE
ALTER SEQUENCE historial_cambios_id_seq RESTART WITH 1;
\echo :LAST_ERROR_SQLSTATE
RESET search_path;
SELECT count(*) AS secuencia_intacta FROM pg_class
 WHERE relname = 'historial_cambios_id_seq' AND relnamespace = 'audit'::regnamespace;
ALTER TABLE audit.historial_cambios NO FORCE ROW LEVEL SECURITY;
\echo :LAST_ERROR_SQLSTATE
ALTER TABLE audit.historial_cambios SET UNLOGGED;
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.rechazo(format('ALTER TABLE %s SET UNLOGGED', :'particion'));
SELECT pg_temp.rechazo(format('ALTER TABLE audit.historial_cambios DETACH PARTITION %s', :'particion'));
ALTER TABLE audit.historial_cambios DROP COLUMN huella;
\echo :LAST_ERROR_SQLSTATE
ALTER TABLE audit.historial_cambios ALTER COLUMN usuario_nombre TYPE varchar(10);
\echo :LAST_ERROR_SQLSTATE
ALTER TABLE audit.historial_cambios RENAME TO otra_cosa;
\echo :LAST_ERROR_SQLSTATE
ALTER TABLE audit.historial_cambios RENAME COLUMN datos_nuevos TO d;
\echo :LAST_ERROR_SQLSTATE
ALTER TABLE audit.bloques DISABLE TRIGGER bloques_solo_insercion;
\echo :LAST_ERROR_SQLSTATE
CREATE ROLE otro_duenio NOLOGIN;
ALTER TABLE audit.historial_cambios OWNER TO otro_duenio;
\echo :LAST_ERROR_SQLSTATE
GRANT INSERT ON audit.historial_cambios TO otro_duenio;
\echo :LAST_ERROR_SQLSTATE
GRANT UPDATE, DELETE ON audit.bloques TO otro_duenio;
\echo :LAST_ERROR_SQLSTATE
GRANT ALL ON audit.historial_cambios_id_seq TO otro_duenio;
\echo :LAST_ERROR_SQLSTATE
-- Column privileges too: writing a table's options or the capture's
-- position would switch capture off without a trace.
GRANT UPDATE (opciones) ON audit.tablas_config TO otro_duenio;
\echo :LAST_ERROR_SQLSTATE
GRANT SELECT (tabla), INSERT (tabla) ON audit.tablas_config TO otro_duenio;
\echo :LAST_ERROR_SQLSTATE
GRANT ALL (lsn_aplicado) ON audit.captura_wal TO otro_duenio;
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS privilegios_de_columna FROM pg_attribute
 WHERE attrelid IN ('audit.tablas_config'::regclass, 'audit.captura_wal'::regclass) AND attacl IS NOT NULL;
DROP ROLE otro_duenio;
SELECT pg_temp.rechazo(format('DROP TABLE %s', :'particion'));
DROP TRIGGER historial_cambios_solo_insercion ON audit.historial_cambios;
\echo :LAST_ERROR_SQLSTATE
DROP POLICY misma_empresa ON audit.historial_cambios;
\echo :LAST_ERROR_SQLSTATE
ALTER POLICY lectores ON audit.historial_cambios USING (true);
\echo :LAST_ERROR_SQLSTATE
DROP FUNCTION audit.verificar(jsonb);
\echo :LAST_ERROR_SQLSTATE
-- Nor altered: a new owner could replace what row-level security asks.
CREATE ROLE otro_duenio_funcion NOLOGIN;
ALTER FUNCTION audit.es_lector() OWNER TO otro_duenio_funcion;
\echo :LAST_ERROR_SQLSTATE
DROP ROLE otro_duenio_funcion;
ALTER FUNCTION audit._rechazar_modificacion() RENAME TO otra;
\echo :LAST_ERROR_SQLSTATE
ALTER FUNCTION audit.empresa_actual() SECURITY DEFINER;
\echo :LAST_ERROR_SQLSTATE
ALTER ROUTINE audit.sellar() SET search_path = public;
\echo :LAST_ERROR_SQLSTATE
ALTER TRIGGER historial_cambios_solo_insercion ON audit.historial_cambios RENAME TO otro;
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS funciones_como_estaban FROM pg_proc p
 WHERE p.pronamespace = 'audit'::regnamespace AND p.proowner = (SELECT nspowner FROM pg_namespace WHERE nspname = 'audit')
   AND p.proname IN ('es_lector', '_rechazar_modificacion', 'empresa_actual', 'sellar')
   AND NOT p.prosecdef AND p.proconfig = ARRAY['search_path=pg_catalog, pg_temp'];
ALTER EXTENSION audit DROP TABLE audit.historial_cambios;
\echo :LAST_ERROR_SQLSTATE
-- Rows cannot be slipped in by attaching a table that holds them.
CREATE TABLE falsos (LIKE audit.historial_cambios);
INSERT INTO falsos (id, "timestamp", accion, metadata, transaccion, rol_bd) VALUES (-1, '2001-01-01 00:00+00', 'INSERT', '{}', 1, 'nadie');
ALTER TABLE audit.historial_cambios ATTACH PARTITION falsos FOR VALUES FROM ('2001-01-01 00:00+00') TO ('2001-02-01 00:00+00');
\echo :LAST_ERROR_SQLSTATE
DROP TABLE falsos;
-- Nothing above took effect.
SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = 'audit.historial_cambios'::regclass AND NOT tgisinternal ORDER BY 1;
SELECT relrowsecurity, relforcerowsecurity, relpersistence FROM pg_class WHERE oid = 'audit.historial_cambios'::regclass;
SELECT count(*) AS politicas FROM pg_policy WHERE polrelid = 'audit.historial_cambios'::regclass;
-- Tuning is allowed, and reading may be granted.
ALTER TABLE :particion SET (autovacuum_vacuum_scale_factor = 0.05);
ALTER TABLE :particion RESET (autovacuum_vacuum_scale_factor);
CREATE ROLE lector_ddl NOLOGIN;
GRANT SELECT ON audit.historial_cambios TO lector_ddl;
REVOKE SELECT ON audit.historial_cambios FROM lector_ddl;
GRANT SELECT (tabla) ON audit.tablas_config TO lector_ddl;
REVOKE SELECT (tabla) ON audit.tablas_config FROM lector_ddl;
DROP ROLE lector_ddl;

-- 2. Audited tables: their owner cannot switch capture off; a role that may
-- stop auditing can, and it is recorded.
CREATE ROLE duenio_tabla NOLOGIN;
CREATE TABLE cuentas_ddl (id int PRIMARY KEY, saldo int);
ALTER TABLE cuentas_ddl OWNER TO duenio_tabla;
SELECT audit.auditar('cuentas_ddl');
SELECT triggers FROM audit.tablas_auditadas WHERE tabla = 'cuentas_ddl'::regclass;
SET ROLE duenio_tabla;
ALTER TABLE cuentas_ddl DISABLE TRIGGER audit_registrar_cambio;
\echo :LAST_ERROR_SQLSTATE
ALTER TABLE cuentas_ddl DISABLE TRIGGER ALL;
\echo :LAST_ERROR_SQLSTATE
ALTER TABLE cuentas_ddl DISABLE TRIGGER USER;
\echo :LAST_ERROR_SQLSTATE
ALTER TABLE cuentas_ddl ENABLE REPLICA TRIGGER audit_registrar_cambio;
\echo :LAST_ERROR_SQLSTATE
ALTER TABLE cuentas_ddl DISABLE TRIGGER audit_registrar_truncate;
\echo :LAST_ERROR_SQLSTATE
DROP TRIGGER audit_registrar_cambio ON cuentas_ddl;
\echo :LAST_ERROR_SQLSTATE
DROP TRIGGER audit_registrar_truncate ON cuentas_ddl;
\echo :LAST_ERROR_SQLSTATE
-- Replacing the capture trigger with another function is dropping it.
RESET ROLE;
CREATE FUNCTION nada() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
SET ROLE duenio_tabla;
CREATE OR REPLACE TRIGGER audit_registrar_cambio AFTER INSERT OR UPDATE OR DELETE ON cuentas_ddl FOR EACH ROW EXECUTE FUNCTION nada();
\echo :LAST_ERROR_SQLSTATE
-- Other triggers of the table are the owner's business.
CREATE TRIGGER propio AFTER INSERT ON cuentas_ddl FOR EACH ROW EXECUTE FUNCTION nada();
ALTER TABLE cuentas_ddl DISABLE TRIGGER propio;
DROP TRIGGER propio ON cuentas_ddl;
-- A type change rewrites every row, and a rewrite fires no capture: with
-- USING (any expression: one row's amount set to 1) it is refused; without,
-- it is a migration like any other, recorded as a DDL event.
RESET ROLE;
INSERT INTO cuentas_ddl VALUES (7, 100);
SET ROLE duenio_tabla;
ALTER TABLE cuentas_ddl ALTER COLUMN saldo TYPE bigint USING CASE WHEN id = 7 THEN 1 ELSE saldo END;
\echo :LAST_ERROR_SQLSTATE
ALTER TABLE cuentas_ddl ALTER COLUMN saldo TYPE bigint;
SELECT saldo FROM cuentas_ddl WHERE id = 7;
-- Nor through a cast of the owner's own: to a type of its own and back,
-- the cast's function can set any value.
RESET ROLE;
GRANT CREATE ON SCHEMA public TO duenio_tabla;
SET ROLE duenio_tabla;
CREATE TYPE caja_ddl AS (v bigint);
CREATE FUNCTION a_caja_ddl(bigint) RETURNS caja_ddl LANGUAGE sql IMMUTABLE
    AS $$ SELECT ROW(CASE WHEN $1 = 100 THEN 1 ELSE $1 END)::caja_ddl $$;
CREATE CAST (bigint AS caja_ddl) WITH FUNCTION a_caja_ddl(bigint) AS ASSIGNMENT;
ALTER TABLE cuentas_ddl ALTER COLUMN saldo TYPE caja_ddl;
\echo :LAST_ERROR_SQLSTATE
SELECT saldo FROM cuentas_ddl WHERE id = 7;
DROP CAST (bigint AS caja_ddl);
DROP FUNCTION a_caja_ddl(bigint);
DROP TYPE caja_ddl;
RESET ROLE;
REVOKE CREATE ON SCHEMA public FROM duenio_tabla;
SELECT metadata -> 'cambios' AS cambios FROM audit.historial_cambios
 WHERE tabla_afectada = 'cuentas_ddl' AND accion = 'DDL' ORDER BY id DESC LIMIT 1;
DELETE FROM cuentas_ddl WHERE id = 7;
SET ROLE duenio_tabla;
RESET ROLE;
-- Capture still on, and still recording.
SELECT captura_activa FROM audit.tablas_auditadas WHERE tabla = 'cuentas_ddl'::regclass;
SELECT coalesce(max(id), 0) AS antes FROM audit.historial_cambios \gset
INSERT INTO cuentas_ddl VALUES (1, 10);
SELECT count(*) AS registrado FROM audit.historial_cambios WHERE id > :antes AND tabla_afectada = 'cuentas_ddl';
-- A capture trigger attached by hand may not be conditional or limited to
-- some columns: it would silently leave changes out.
CREATE TABLE parcial (id int PRIMARY KEY, a int, b int);
CREATE TRIGGER cond AFTER UPDATE ON parcial FOR EACH ROW WHEN (OLD.a <> NEW.a) EXECUTE FUNCTION audit.registrar_cambio();
\echo :LAST_ERROR_SQLSTATE
CREATE TRIGGER cols AFTER UPDATE OF a ON parcial FOR EACH ROW EXECUTE FUNCTION audit.registrar_cambio();
\echo :LAST_ERROR_SQLSTATE
DROP TABLE parcial;
-- The superuser (who may stop auditing) can switch capture off; that is
-- recorded, and so is switching it back on.
ALTER TABLE cuentas_ddl DISABLE TRIGGER audit_registrar_cambio;
SELECT captura_activa FROM audit.tablas_auditadas WHERE tabla = 'cuentas_ddl'::regclass;
ALTER TABLE cuentas_ddl ENABLE TRIGGER audit_registrar_cambio;
SELECT accion, metadata - 'comando' AS detalle FROM audit.historial_cambios
 WHERE id > :antes AND tabla_afectada = 'cuentas_ddl' AND accion = 'DDL' ORDER BY id;
SELECT audit.dejar_de_auditar('cuentas_ddl');
DROP TABLE cuentas_ddl;
DROP FUNCTION nada();
DROP ROLE duenio_tabla;
