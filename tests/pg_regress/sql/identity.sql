-- Who acted: audit.* settings first, then JWT claims (contract order); the
-- real database role always; bad claims never block a write.
CREATE TABLE notas (id int PRIMARY KEY, texto text);
SELECT audit.auditar('notas');
CREATE FUNCTION ultimo() RETURNS TABLE (usuario_id uuid, usuario_nombre text, empresa_id uuid, usuario_externo text, rol_bd text, rol_sesion text)
    LANGUAGE sql AS $$
    SELECT usuario_id, usuario_nombre, empresa_id, usuario_externo, rol_bd, rol_sesion
      FROM audit.historial_cambios WHERE tabla_afectada = 'notas' ORDER BY id DESC LIMIT 1 $$;

-- No identity at all.
INSERT INTO notas VALUES (1, 'anónima');
SELECT * FROM ultimo();

-- Claims only (PostgREST/Supabase style, transaction-local).
BEGIN;
SELECT set_config('request.jwt.claims', '{"sub": "a0000000-0000-0000-0000-000000000001", "email": "ana@ryr.example", "app_metadata": {"empresa_id": "e0000000-0000-0000-0000-000000000001", "rol": "administrador"}}', true);
UPDATE notas SET texto = 'por Ana' WHERE id = 1;
SELECT * FROM ultimo();
SELECT audit.usuario_actual(), audit.empresa_actual();
SELECT audit.identidad_actual() - 'rol_bd';
COMMIT;

-- After that transaction the claims setting is '' (not NULL): no identity,
-- and no warning.
SHOW request.jwt.claims;
UPDATE notas SET texto = 'después' WHERE id = 1;
SELECT * FROM ultimo();

-- Settings win over claims, field by field.
BEGIN;
SET LOCAL request.jwt.claims = '{"sub": "a0000000-0000-0000-0000-000000000001", "email": "ana@ryr.example", "empresa_id": "e0000000-0000-0000-0000-000000000001"}';
SET LOCAL audit.usuario_id = 'b0000000-0000-0000-0000-000000000002';
SET LOCAL audit.usuario_nombre = 'Servicio de facturación';
UPDATE notas SET texto = 'por el servicio' WHERE id = 1;
SELECT * FROM ultimo();
COMMIT;

-- Malformed claims: the write succeeds, a warning says why (once per
-- transaction), and what the settings give is still recorded.
BEGIN;
SET LOCAL request.jwt.claims = '{"sub": "a0000000-0000-0000-0000-000000000001"';
SET LOCAL audit.empresa_id = 'e0000000-0000-0000-0000-000000000003';
UPDATE notas SET texto = 'claims rotos' WHERE id = 1;
UPDATE notas SET texto = 'claims rotos 2' WHERE id = 1;
SELECT * FROM ultimo();
COMMIT;
BEGIN;
SET LOCAL request.jwt.claims = '[1, 2, 3]';
INSERT INTO notas VALUES (2, 'claims no objeto');
COMMIT;
SELECT * FROM ultimo();

-- A subject that is not a uuid (Auth0, Firebase...): kept as usuario_externo.
BEGIN;
SET LOCAL request.jwt.claims = '{"sub": "auth0|5f7c8ec7c33c6c004bbafe82", "email": "luis@ryr.example"}';
UPDATE notas SET texto = 'por Luis' WHERE id = 2;
SELECT * FROM ultimo();
COMMIT;

-- Where to read the claims is configurable (superuser settings).
BEGIN;
SET LOCAL audit.claims_setting = 'app.jwt';
SET LOCAL audit.claim_usuario = 'usuario.id';
SET LOCAL audit.claim_nombre = 'usuario.nombre';
SET LOCAL audit.claim_empresa = 'tenant';
SET LOCAL app.jwt = '{"usuario": {"id": "c0000000-0000-0000-0000-000000000003", "nombre": "Eva"}, "tenant": "e0000000-0000-0000-0000-000000000004"}';
UPDATE notas SET texto = 'por Eva' WHERE id = 2;
SELECT * FROM ultimo();
COMMIT;

-- Identity settings refuse values that could never be used.
SET audit.usuario_id = 'no-es-un-uuid';
\echo :LAST_ERROR_SQLSTATE
SET audit.empresa_id = '12345';
\echo :LAST_ERROR_SQLSTATE
SET audit.usuario_id = '';
SELECT audit.usuario_actual() IS NULL AS vacio_es_nulo;
RESET audit.usuario_id;

-- rol_bd is the real role, rol_sesion the login role when they differ
-- (PostgREST logs in as an authenticator and switches role).
CREATE ROLE identidad_app NOLOGIN;
GRANT INSERT, UPDATE ON notas TO identidad_app;
BEGIN;
SET LOCAL ROLE identidad_app;
INSERT INTO notas VALUES (3, 'como app');
COMMIT;
SELECT * FROM ultimo();
REVOKE ALL ON notas FROM identidad_app;
DROP ROLE identidad_app;

DROP FUNCTION ultimo();
DROP TABLE notas;
