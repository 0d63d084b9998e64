-- The reading functions run as the caller: they need the caller's SELECT
-- on the log and see only what its row-level security lets it see. They are
-- no way around either.
SELECT coalesce(max(id), 0) AS inicio FROM audit.historial_cambios \gset
CREATE TABLE hperm (id int PRIMARY KEY, nombre text, empresa_id uuid);
SELECT audit.auditar('hperm');
INSERT INTO hperm VALUES (1, 'de la empresa 4', 'e4000000-0000-4000-8000-000000000004'),
                         (2, 'de la empresa 5', 'e5000000-0000-4000-8000-000000000005');
SELECT id AS evento_4 FROM audit.historial_cambios WHERE id > :inicio AND empresa_id = 'e4000000-0000-4000-8000-000000000004' \gset
SELECT id AS evento_5 FROM audit.historial_cambios WHERE id > :inicio AND empresa_id = 'e5000000-0000-4000-8000-000000000005' \gset
CREATE ROLE lector_historial NOLOGIN;

-- Without SELECT on the log: permission denied (42501), from every function.
SET ROLE lector_historial;
SELECT count(*) FROM audit.get_historial_cambios('{"tabla": "hperm"}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM audit.diferencias(:evento_4);
\echo :LAST_ERROR_SQLSTATE
SELECT audit.resumen(:evento_4);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM audit.historial_plano('{"tabla": "hperm"}');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM audit.actividad(NULL, NULL, 'tabla');
\echo :LAST_ERROR_SQLSTATE
-- The jsonb functions touch no table.
SELECT audit.jsonb_diff('{"a": 1}', '{"a": 2}');
RESET ROLE;

-- With SELECT and a row-level security policy (here a fixed tenant; the
-- extension's own policies come with the security work): only that
-- tenant's events exist for the caller.
GRANT SELECT ON audit.historial_cambios TO lector_historial;
ALTER TABLE audit.historial_cambios ENABLE ROW LEVEL SECURITY;
CREATE POLICY solo_empresa_4 ON audit.historial_cambios FOR SELECT TO lector_historial
    USING (empresa_id = 'e4000000-0000-4000-8000-000000000004');
SET ROLE lector_historial;
SELECT id - :inicio AS n, accion, empresa_id FROM audit.get_historial_cambios('{"tabla": "hperm"}');
SELECT count(*) FROM audit.get_historial_cambios('{"empresa_id": "e5000000-0000-4000-8000-000000000005"}');
SELECT campo, valor_nuevo FROM audit.diferencias(:evento_4);
SELECT audit.resumen(:evento_4);
-- Another tenant's event is reported exactly as one that does not exist
-- (P0002, "event N does not exist"; the message names the id, which
-- changes from run to run, so only the code is shown here).
\set VERBOSITY sqlstate
SELECT * FROM audit.diferencias(:evento_5);
SELECT audit.resumen(:evento_5);
\set VERBOSITY default
SELECT count(DISTINCT id) FROM audit.historial_plano('{"tabla": "hperm"}');
SELECT grupo, total FROM audit.actividad(NULL, NULL, 'tabla') WHERE grupo = 'hperm';
-- Writing stays impossible.
SELECT audit.mantenimiento();
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

DROP POLICY solo_empresa_4 ON audit.historial_cambios;
ALTER TABLE audit.historial_cambios DISABLE ROW LEVEL SECURITY;
REVOKE SELECT ON audit.historial_cambios FROM lector_historial;
DROP ROLE lector_historial;
SELECT audit.dejar_de_auditar('hperm');
DROP TABLE hperm;
