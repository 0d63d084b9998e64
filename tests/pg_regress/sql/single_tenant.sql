-- Single-tenant deployments (docs/security.md): audit.leer_eventos_sin_empresa
-- lets reader roles read the events that carry no tenant, by rewriting the
-- log's misma_empresa policy; off, the policy is the installed one again.
\set VERBOSITY terse
SELECT coalesce(max(id), 0) AS inicio FROM audit.historial_cambios \gset
CREATE TABLE st_notas (id int PRIMARY KEY, texto text);
SELECT audit.auditar('st_notas');
INSERT INTO st_notas VALUES (1, 'sin empresa');
CREATE ROLE lector_st NOLOGIN;
GRANT SELECT ON audit.historial_cambios TO lector_st;
SELECT pg_get_expr(polqual, polrelid) AS instalada FROM pg_policy
 WHERE polrelid = 'audit.historial_cambios'::regclass AND polname = 'misma_empresa';

-- A reader without a tenant (claims with a reader role only) reads nothing.
SET ROLE lector_st;
BEGIN;
SET LOCAL request.jwt.claims = '{"app_metadata": {"rol": "administrador"}}';
SELECT count(*) AS antes FROM audit.historial_cambios WHERE id > :inicio;
-- Not the reader's to switch: EXECUTE is the DBA's to grant.
SELECT audit.leer_eventos_sin_empresa(true);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
RESET ROLE;

-- NULL is no answer.
SELECT audit.leer_eventos_sin_empresa(NULL);
\echo :LAST_ERROR_SQLSTATE

SELECT audit.leer_eventos_sin_empresa(true);
SELECT pg_get_expr(polqual, polrelid) AS con_sin_empresa FROM pg_policy
 WHERE polrelid = 'audit.historial_cambios'::regclass AND polname = 'misma_empresa';
SET ROLE lector_st;
BEGIN;
SET LOCAL request.jwt.claims = '{"app_metadata": {"rol": "administrador"}}';
SELECT accion, tabla_afectada, metadata ->> 'tipo_operacion' AS tipo_operacion, metadata ->> 'permitir' AS permitir
  FROM audit.get_historial_cambios('{}') WHERE id > :inicio ORDER BY id;
ROLLBACK;
RESET ROLE;

SELECT audit.leer_eventos_sin_empresa(false);
SELECT pg_get_expr(polqual, polrelid) AS de_nuevo_instalada FROM pg_policy
 WHERE polrelid = 'audit.historial_cambios'::regclass AND polname = 'misma_empresa';
SET ROLE lector_st;
BEGIN;
SET LOCAL request.jwt.claims = '{"app_metadata": {"rol": "administrador"}}';
SELECT count(*) AS despues FROM audit.historial_cambios WHERE id > :inicio;
ROLLBACK;
RESET ROLE;

SELECT audit.dejar_de_auditar('st_notas');
DROP TABLE st_notas;
REVOKE SELECT ON audit.historial_cambios FROM lector_st;
DROP ROLE lector_st;
