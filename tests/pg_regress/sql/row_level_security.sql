-- Row-level security of the log (docs/security.md): the reading functions run as
-- the caller; a caller sees an event only when its application role (the
-- role claim, or audit.rol) is one of audit.roles_lectores and the event is
-- of its tenant (audit.empresa_actual()). Missing, empty or malformed claims
-- see nothing.
SELECT coalesce(max(id), 0) AS inicio FROM audit.historial_cambios \gset
CREATE TABLE rls_t (id int PRIMARY KEY, nombre text, empresa_id uuid);
SELECT audit.auditar('rls_t');
INSERT INTO rls_t VALUES (1, 'de la empresa 4', 'e4000000-0000-4000-8000-000000000004'),
                         (2, 'de la empresa 5', 'e5000000-0000-4000-8000-000000000005');
SELECT id AS evento_4 FROM audit.historial_cambios WHERE id > :inicio AND empresa_id = 'e4000000-0000-4000-8000-000000000004' \gset
SELECT id AS evento_5 FROM audit.historial_cambios WHERE id > :inicio AND empresa_id = 'e5000000-0000-4000-8000-000000000005' \gset
SELECT relrowsecurity AS rls, relforcerowsecurity AS forzada FROM pg_class WHERE oid = 'audit.historial_cambios'::regclass;
SELECT polname, polpermissive, polcmd FROM pg_policy WHERE polrelid = 'audit.historial_cambios'::regclass ORDER BY 1;
CREATE ROLE lector_rls NOLOGIN;

-- Without SELECT on the log: permission denied (42501) from every reading function.
SET ROLE lector_rls;
SELECT count(*) FROM audit.get_historial_cambios('{"tabla": "rls_t"}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM audit.diferencias(:evento_4);
\echo :LAST_ERROR_SQLSTATE
SELECT audit.resumen(:evento_4);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM audit.historial_plano('{"tabla": "rls_t"}');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM audit.actividad(NULL, NULL, 'tabla');
\echo :LAST_ERROR_SQLSTATE
-- The jsonb functions touch no table.
SELECT audit.jsonb_diff('{"a": 1}', '{"a": 2}');
RESET ROLE;

-- With SELECT (granted to the API's role, say), the claims decide.
GRANT SELECT ON audit.historial_cambios TO lector_rls;
SET ROLE lector_rls;
-- No claims at all: nothing.
SELECT count(*) AS sin_claims FROM audit.historial_cambios;
-- A tenant but no reader role: nothing.
BEGIN;
SET LOCAL request.jwt.claims = '{"sub": "a4000000-0000-4000-8000-000000000001", "app_metadata": {"empresa_id": "e4000000-0000-4000-8000-000000000004", "rol": "vendedor"}}';
SELECT audit.es_lector() AS lector, count(*) AS vendedor FROM audit.historial_cambios;
COMMIT;
-- A reader role but no tenant: nothing.
BEGIN;
SET LOCAL request.jwt.claims = '{"sub": "a4000000-0000-4000-8000-000000000001", "app_metadata": {"rol": "administrador"}}';
SELECT audit.es_lector() AS lector, count(*) AS sin_empresa FROM audit.historial_cambios;
COMMIT;
-- Administrator of tenant 4: tenant 4's events only, through every function.
SET request.jwt.claims = '{"sub": "a4000000-0000-4000-8000-000000000001", "app_metadata": {"empresa_id": "e4000000-0000-4000-8000-000000000004", "rol": "Administrador"}}';
SELECT id - :inicio AS n, accion, empresa_id FROM audit.get_historial_cambios('{"tabla": "rls_t"}');
SELECT count(*) AS de_otra_empresa FROM audit.get_historial_cambios('{"empresa_id": "e5000000-0000-4000-8000-000000000005"}');
SELECT campo, valor_nuevo FROM audit.diferencias(:evento_4);
SELECT audit.resumen(:evento_4);
-- Another tenant's event is reported exactly as one that does not exist
-- (P0002; the message names the id, which changes from run to run).
\set VERBOSITY sqlstate
SELECT * FROM audit.diferencias(:evento_5);
SELECT audit.resumen(:evento_5);
\set VERBOSITY default
SELECT count(DISTINCT id) FROM audit.historial_plano('{"tabla": "rls_t"}');
SELECT grupo, total FROM audit.actividad(NULL, NULL, 'tabla') WHERE grupo = 'rls_t';
RESET request.jwt.claims;
-- The empty string SET LOCAL leaves behind, and malformed claims: nothing.
SELECT current_setting('request.jwt.claims', true) = '' AS vacio, count(*) AS tras_set_local FROM audit.historial_cambios;
BEGIN;
SET LOCAL request.jwt.claims = '{"app_metadata": {"empresa_id": "e4000000-0000-4000-8000-00000000000';
SELECT count(*) AS claims_rotos FROM audit.historial_cambios;
COMMIT;
-- Settings work like claims for applications that are not behind PostgREST.
BEGIN;
SET LOCAL audit.rol = 'propietario';
SET LOCAL audit.empresa_id = 'e5000000-0000-4000-8000-000000000005';
SELECT count(*) AS propietario_empresa_5, min(empresa_id::text) AS empresa FROM audit.historial_cambios WHERE id > :inicio;
COMMIT;
-- Which roles read is the DBA's decision, not the session's.
SET audit.roles_lectores = 'vendedor';
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

-- A permissive policy a DBA adds later cannot widen reading across tenants
-- (the tenant policy is restrictive); it can be dropped again.
CREATE POLICY todo_para_lectores ON audit.historial_cambios FOR SELECT TO lector_rls USING (true);
SET ROLE lector_rls;
BEGIN;
SET LOCAL request.jwt.claims = '{"app_metadata": {"empresa_id": "e4000000-0000-4000-8000-000000000004", "rol": "vendedor"}}';
SELECT count(*) AS vendedor_con_politica_extra, count(*) FILTER (WHERE empresa_id <> 'e4000000-0000-4000-8000-000000000004') AS de_otra_empresa
  FROM audit.historial_cambios WHERE id > :inicio;
COMMIT;
RESET ROLE;
DROP POLICY todo_para_lectores ON audit.historial_cambios;
-- The configured readers are a superuser's setting.
SET audit.roles_lectores = 'auditor';
BEGIN;
SET LOCAL ROLE lector_rls;
SET LOCAL audit.rol = 'auditor';
SET LOCAL audit.empresa_id = 'e4000000-0000-4000-8000-000000000004';
SELECT count(*) AS auditor FROM audit.historial_cambios WHERE id > :inicio;
COMMIT;
RESET audit.roles_lectores;

REVOKE SELECT ON audit.historial_cambios FROM lector_rls;
DROP ROLE lector_rls;
SELECT audit.dejar_de_auditar('rls_t');
DROP TABLE rls_t;
