-- Who may use configuration documents (docs/configuration.md, docs/security.md). Versions hold
-- secrets: no role has any privilege on the table; the functions are
-- granted by the DBA, and then serve only an application role of
-- audit.roles_lectores within a tenant, for that tenant's versions. A
-- version of another tenant does not exist for the caller.
\set VERBOSITY terse
-- In a database of its own: the ids printed below start where this file
-- sets them, whatever the other files wrote (each golden file stands alone).
\set db_comun :DBNAME
SET client_min_messages = warning;
DROP DATABASE IF EXISTS audit_regress_config_access;
RESET client_min_messages;
CREATE DATABASE audit_regress_config_access;
\c audit_regress_config_access
CREATE EXTENSION audit;
SELECT setval('audit.config_versiones_id_seq', 200) IS NOT NULL AS ids_fijos;
CREATE ROLE panel NOLOGIN;
SET ROLE panel;
-- Without EXECUTE: permission denied (42501), from every function.
SELECT audit.guardar_config('ftp', '{"host": "ftp.example.com", "protocolo": "sftp"}');
\echo :LAST_ERROR_SQLSTATE
SELECT audit.config_actual('ftp');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM audit.historial_config('ftp');
\echo :LAST_ERROR_SQLSTATE
SELECT audit.comparar_config(1);
\echo :LAST_ERROR_SQLSTATE
SELECT audit.restaurar_config(1);
\echo :LAST_ERROR_SQLSTATE
-- The restore's internal step checks the same grant.
SELECT audit._restaurar_config(1, false, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM audit.config_versiones;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

GRANT EXECUTE ON FUNCTION audit.guardar_config(text, jsonb, text, bigint), audit.config_actual(text),
    audit.historial_config(text), audit.comparar_config(bigint, bigint),
    audit.restaurar_config(bigint, boolean, boolean, text) TO panel;
SET ROLE panel;
-- Granted, but no application role, or not a reader role: 42501 with the reason.
\set VERBOSITY default
SELECT audit.guardar_config('ftp', '{"host": "ftp.example.com", "protocolo": "sftp"}');
SET audit.rol = 'vendedor';
SELECT count(*) FROM audit.historial_config('ftp');
-- A reader role without a tenant.
SET audit.rol = 'admin';
SELECT audit.config_actual('ftp');
\set VERBOSITY terse

-- Tenant A saves two versions.
SET audit.empresa_id = 'a1000000-0000-4000-8000-0000000000a1';
SELECT audit.guardar_config('ftp', '{"host": "ftp.a.example.com", "protocolo": "sftp", "password": "clave-a"}', 'A1') AS a1;
SELECT audit.guardar_config('ftp', '{"host": "ftp2.a.example.com", "protocolo": "sftp", "password": "clave-a2"}', 'A2') AS a2;
SELECT id_version, json_config, comentario FROM audit.historial_config('ftp');
-- Tenant B: its own, separate line of versions; A's do not exist for it.
SET audit.empresa_id = 'b2000000-0000-4000-8000-0000000000b2';
SELECT audit.config_actual('ftp') IS NULL AS sin_version_propia;
SELECT count(*) AS versiones_visibles FROM audit.historial_config('ftp');
SELECT audit.comparar_config(201);
\echo :LAST_ERROR_SQLSTATE
SELECT audit.restaurar_config(201);
\echo :LAST_ERROR_SQLSTATE
SELECT audit.restaurar_config(201, simular => true);
\echo :LAST_ERROR_SQLSTATE
SELECT audit.guardar_config('ftp', '{"host": "ftp.b.example.com", "protocolo": "ftp"}', 'B1') AS b1;
SELECT id_version, version_anterior, comentario FROM audit.historial_config('ftp');
-- Back in A: B's save did not touch A's active version.
SET audit.empresa_id = 'a1000000-0000-4000-8000-0000000000a1';
SELECT audit.config_actual('ftp') ->> 'host' AS host_a;
SELECT r -> 'aplicado' AS aplicado, r -> 'id_version' AS nueva FROM audit.restaurar_config(201) r;
SELECT audit.config_actual('ftp') ->> 'host' AS host_a;
-- The restore's internal step refuses a caller without EXECUTE on restaurar_config.
RESET ROLE;
REVOKE EXECUTE ON FUNCTION audit.restaurar_config(bigint, boolean, boolean, text) FROM panel;
SET ROLE panel;
SELECT audit._restaurar_config(201, true, NULL);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

-- Should a DBA grant SELECT on the table, row-level security still fences
-- it: reader roles, own tenant (the same policies as the log).
SELECT polname, polpermissive, polcmd FROM pg_policy WHERE polrelid = 'audit.config_versiones'::regclass ORDER BY 1;
GRANT SELECT ON audit.config_versiones TO panel;
SET ROLE panel;
SELECT count(*) AS filas_a FROM audit.config_versiones;
SET audit.empresa_id = 'b2000000-0000-4000-8000-0000000000b2';
SELECT count(*) AS filas_b FROM audit.config_versiones;
SET audit.rol = 'vendedor';
SELECT count(*) AS filas_no_lector FROM audit.config_versiones;
INSERT INTO audit.config_versiones (tipo, json_config, rol_bd, transaccion) VALUES ('ftp', '{}', 'x', 1);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
RESET audit.rol;
RESET audit.empresa_id;
DROP OWNED BY panel;
DROP ROLE panel;
\c :db_comun
DROP DATABASE audit_regress_config_access;
