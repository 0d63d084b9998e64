-- A tenant's restore leaves alone a row that holds another tenant's data
-- now: that row's later changes are hidden from the caller by row-level
-- security, so what the restore read says nothing of them. Here tenant A
-- deleted its row 5, tenant B then made its own row 5 (a reused key), and
-- A's administrator rolls the module back: A's row cannot come back over
-- B's, and B's data stays (42501, in the preview too).
\set VERBOSITY terse
CREATE ROLE admin_inquilino NOLOGIN;
GRANT USAGE ON SCHEMA audit TO admin_inquilino;
GRANT SELECT ON audit.historial_cambios TO admin_inquilino;
CREATE TABLE ti_cosas (id int PRIMARY KEY, empresa_id uuid NOT NULL, v text);
GRANT SELECT, INSERT, UPDATE, DELETE ON ti_cosas TO admin_inquilino;
SELECT audit.auditar('ti_cosas');
SELECT audit.crear_modulo('ti_modulo', ARRAY['ti_cosas']::regclass[]);
INSERT INTO ti_cosas VALUES (5, 'aaaaaaaa-0000-4000-8000-000000000000', 'de A'),
                            (6, 'aaaaaaaa-0000-4000-8000-000000000000', 'de A');
SELECT audit.crear_marca('ti_modulo', 'inicio') IS NOT NULL AS marcada;
DELETE FROM ti_cosas WHERE id = 5;
UPDATE ti_cosas SET v = 'de A, cambiada' WHERE id = 6;
INSERT INTO ti_cosas VALUES (5, 'bbbbbbbb-0000-4000-8000-000000000000', 'de B');
SET ROLE admin_inquilino;
SET request.jwt.claims = '{"sub": "11111111-0000-4000-8000-000000000000", "app_metadata": {"empresa_id": "aaaaaaaa-0000-4000-8000-000000000000", "rol": "admin"}}';
SELECT r -> 'error' ->> 'sqlstate' AS estado, r -> 'error' ->> 'mensaje' AS mensaje, r -> 'error' ->> 'detalle' AS detalle
  FROM audit.revertir_modulo('ti_modulo', 'inicio', simular => true) r;
SELECT r -> 'aplicado' AS aplicado, r -> 'error' ->> 'sqlstate' AS estado
  FROM audit.revertir_modulo('ti_modulo', 'inicio') r;
RESET request.jwt.claims;
RESET ROLE;
SELECT id, empresa_id, v FROM ti_cosas ORDER BY id;
-- A role that reads every tenant's events (here the superuser, without a
-- tenant) sees B's insert after the mark, and rolls everything back.
SELECT r -> 'aplicado' AS aplicado FROM audit.revertir_modulo('ti_modulo', 'inicio') r;
SELECT id, empresa_id, v FROM ti_cosas ORDER BY id;
SELECT audit.dejar_de_auditar('ti_cosas');
DROP TABLE ti_cosas;
REVOKE SELECT ON audit.historial_cambios FROM admin_inquilino;
REVOKE USAGE ON SCHEMA audit FROM admin_inquilino;
DROP ROLE admin_inquilino;
