-- Install-script and privilege hygiene (security bar §1): every function
-- pins its search_path, none is SECURITY DEFINER, the install script has no
-- CREATE OR REPLACE / IF NOT EXISTS, and PUBLIC holds only what it should.
SELECT p.oid::regprocedure AS sin_search_path
  FROM pg_proc p
 WHERE p.pronamespace = 'audit'::regnamespace
   AND NOT EXISTS (SELECT FROM unnest(p.proconfig) c WHERE c LIKE 'search_path=%');
SELECT p.oid::regprocedure AS security_definer FROM pg_proc p
 WHERE p.pronamespace = 'audit'::regnamespace AND p.prosecdef;
SELECT DISTINCT c AS search_path_fijado FROM pg_proc p, unnest(p.proconfig) c
 WHERE p.pronamespace = 'audit'::regnamespace AND c LIKE 'search_path=%';

-- (SQL comments are removed first: they may name what they forbid.)
SELECT m[1] AS prohibido
  FROM regexp_matches(
         regexp_replace(
           pg_read_file((SELECT setting FROM pg_config WHERE name = 'SHAREDIR') || '/extension/audit--'
                        || (SELECT extversion FROM pg_extension WHERE extname = 'audit') || '.sql'),
           '--[^\n]*', '', 'g'),
         '(CREATE\s+OR\s+REPLACE|IF\s+NOT\s+EXISTS|''@extschema@|"@extschema@)', 'gi') AS m;

-- What PUBLIC may execute.
SELECT p.oid::regprocedure AS ejecutable_por_public
  FROM pg_proc p
 WHERE p.pronamespace = 'audit'::regnamespace
   AND has_function_privilege('public', p.oid, 'EXECUTE')
 ORDER BY p.oid::regprocedure::text;
-- What PUBLIC may do with the extension's tables (nothing but read the
-- list of audited tables).
SELECT c.oid::regclass AS relacion, has_table_privilege('public', c.oid, 'SELECT') AS select,
       has_table_privilege('public', c.oid, 'INSERT,UPDATE,DELETE,TRUNCATE') AS escribir
  FROM pg_class c WHERE c.relnamespace = 'audit'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'S')
   AND c.relname NOT LIKE 'historial_cambios_2%'
 ORDER BY c.relname;
SELECT has_schema_privilege('public', 'audit', 'USAGE') AS uso, has_schema_privilege('public', 'audit', 'CREATE') AS crear;
-- Non-superusers cannot redirect where claims are read from. The test
-- cluster preloads the library (as capture from the WAL needs), so the
-- settings exist from the start and SET refuses at once. (Without
-- preloading, SET before the library loads in a session creates a
-- placeholder, which PostgreSQL discards with a warning when it loads:
-- tests/integration/tests/adversarial_privilege.rs checks that case.)
CREATE ROLE cualquiera NOLOGIN;
SET ROLE cualquiera;
SET audit.claims_setting = 'otra.cosa';
SELECT audit.usuario_actual();
SHOW audit.claims_setting;
SET audit.claims_setting = 'otra.cosa';
\echo :LAST_ERROR_SQLSTATE
SET audit.claim_empresa = 'x';
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
DROP ROLE cualquiera;
