-- audit 0.2.0 -> 0.3.0 (CHANGELOG.md). Run by ALTER EXTENSION audit UPDATE,
-- with search_path = audit, pg_temp. Same rules as sql/audit--0.1.0--0.2.0.sql:
-- what this script leaves must equal a fresh install of 0.3.0, object by
-- object (tests/integration/tests/upgrade.rs).

-- 1. Lists for administration screens over PostgREST's RPC (the console):
--    the configuration types, and the modules with their marks.
-- The configuration types, for an administration screen: the view
-- audit.tipos_config as a function (PostgREST's RPC reaches functions; the
-- console uses it).
CREATE FUNCTION audit.listar_tipos_config()
    RETURNS SETOF audit.tipos_config
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
AS $tipos$
    SELECT * FROM audit.tipos_config ORDER BY tipo
$tipos$;
COMMENT ON FUNCTION audit.listar_tipos_config() IS
    'Every configuration type (audit.tipos_config), by name.';

-- The modules with their marks, newest mark first, for an administration
-- screen (audit.modulos and audit.marcas, readable by everyone, as one
-- call: PostgREST's RPC reaches functions; the console uses it). Tables are
-- named with their schema.
CREATE FUNCTION audit.listar_modulos()
    RETURNS TABLE(nombre text, tablas text[], creado_en timestamptz, creado_por text, marcas jsonb)
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
AS $modulos$
    SELECT m.nombre, m.tablas::text[], m.creado_en, m.creado_por,
           coalesce((SELECT jsonb_agg(jsonb_build_object('id', k.id, 'nombre', k.nombre, 'instante', k.instante,
                                                         'creada_por', k.creada_por)
                                      ORDER BY k.instante DESC, k.id DESC)
                       FROM audit.marcas k
                      WHERE k.modulo = m.nombre), '[]'::jsonb)
      FROM audit.modulos m
     ORDER BY m.nombre
$modulos$;
COMMENT ON FUNCTION audit.listar_modulos() IS
    'Every module with its tables and its marks (newest first).';

-- 2. The restores render the live rows they compare with the snapshots as
--    the snapshots are rendered, whatever the caller's TimeZone,
--    IntervalStyle, bytea_output, extra_float_digits or DateStyle: a
--    timestamptz, interval or bytea column otherwise looked changed since
--    every event (false conflicts in deshacer, rows twice in estado_en).
ALTER FUNCTION audit.deshacer(bigint, boolean, boolean, boolean)
    SET TimeZone = 'UTC' SET DateStyle = 'ISO, YMD' SET IntervalStyle = 'postgres'
    SET extra_float_digits = 1 SET bytea_output = 'hex';
ALTER FUNCTION audit.restaurar_registro(regclass, uuid, timestamptz, boolean, boolean)
    SET TimeZone = 'UTC' SET DateStyle = 'ISO, YMD' SET IntervalStyle = 'postgres'
    SET extra_float_digits = 1 SET bytea_output = 'hex';
ALTER FUNCTION audit.estado_en(regclass, timestamptz)
    SET TimeZone = 'UTC' SET DateStyle = 'ISO, YMD' SET IntervalStyle = 'postgres'
    SET extra_float_digits = 1 SET bytea_output = 'hex';
ALTER FUNCTION audit.revertir_modulo(text, text, boolean, boolean)
    SET TimeZone = 'UTC' SET DateStyle = 'ISO, YMD' SET IntervalStyle = 'postgres'
    SET extra_float_digits = 1 SET bytea_output = 'hex';

-- 3. The installing role's default privileges (ALTER DEFAULT PRIVILEGES)
--    reached the extension's objects: writes and reads on the log's
--    partitions (which have no row-level security), writes on its tables
--    and sequences, CREATE on the schema. A fresh install now resets every
--    object to PostgreSQL's built-in privileges before granting its own
--    (src/sql/finalize.sql), and each later partition as it is created.
--    Here, what can only have come from default privileges goes: every
--    privilege on a partition of the log (GRANT on one has always been
--    refused), privileges other than SELECT on the other tables and
--    sequences (refused likewise; audit.alertas excepted, on which a DBA
--    grants writes) and CREATE on the schema. Privileges a DBA may have
--    granted on purpose (SELECT, EXECUTE) are left: docs/security.md says
--    how to check them.
CREATE FUNCTION audit._privilegios_de_fabrica(solo regclass) RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $fabrica$
DECLARE
    o record;
    p record;
BEGIN
    FOR o IN
        SELECT CASE c.relkind WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END AS clase,
               c.oid::regclass::text AS nombre, c.relacl AS acl,
               acldefault((CASE c.relkind WHEN 'S' THEN 's' ELSE 'r' END)::"char", c.relowner) AS fabrica
          FROM pg_class c
         WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
           AND (c.oid = solo OR (solo IS NULL AND c.relnamespace = 'audit'::regnamespace))
        UNION ALL
        SELECT 'ROUTINE', f.oid::regprocedure::text, f.proacl, acldefault('f', f.proowner)
          FROM pg_proc f
         WHERE solo IS NULL AND f.pronamespace = 'audit'::regnamespace
        UNION ALL
        SELECT 'TYPE', t.oid::regtype::text, t.typacl, acldefault('T', t.typowner)
          FROM pg_type t
         WHERE solo IS NULL AND t.typnamespace = 'audit'::regnamespace
           AND t.typacl IS NOT NULL
        UNION ALL
        SELECT 'SCHEMA', quote_ident(n.nspname), n.nspacl, acldefault('n', n.nspowner)
          FROM pg_namespace n
         WHERE solo IS NULL AND n.nspname = 'audit'
    LOOP
        CONTINUE WHEN o.acl IS NULL;
        FOR p IN
            SELECT 'REVOKE' AS orden, x.grantee, x.privilege_type, x.is_grantable
              FROM (SELECT grantee, privilege_type, is_grantable FROM aclexplode(o.acl)
                    EXCEPT SELECT grantee, privilege_type, is_grantable FROM aclexplode(o.fabrica)) x
            UNION ALL
            SELECT 'GRANT', x.grantee, x.privilege_type, x.is_grantable
              FROM (SELECT grantee, privilege_type, is_grantable FROM aclexplode(o.fabrica)
                    EXCEPT SELECT grantee, privilege_type, is_grantable FROM aclexplode(o.acl)) x
             ORDER BY 1 DESC
        LOOP
            EXECUTE format('%s %s ON %s %s %s %s%s',
                           p.orden, p.privilege_type, o.clase, o.nombre,
                           CASE p.orden WHEN 'REVOKE' THEN 'FROM' ELSE 'TO' END,
                           CASE p.grantee WHEN 0 THEN 'PUBLIC' ELSE p.grantee::regrole::text END,
                           CASE WHEN p.orden = 'REVOKE' THEN ' CASCADE'
                                WHEN p.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
        END LOOP;
    END LOOP;
END
$fabrica$;
REVOKE EXECUTE ON FUNCTION audit._privilegios_de_fabrica(regclass) FROM PUBLIC;

SELECT audit._privilegios_de_fabrica(c.oid)
  FROM pg_catalog.pg_class c
 WHERE c.relispartition AND c.relnamespace = 'audit'::pg_catalog.regnamespace;

DO $desde_privilegios_por_defecto$
DECLARE
    o record;
BEGIN
    FOR o IN
        SELECT CASE c.relkind WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END AS clase,
               c.oid::pg_catalog.regclass::pg_catalog.text AS nombre,
               x.privilege_type,
               CASE x.grantee WHEN 0 THEN 'PUBLIC' ELSE x.grantee::pg_catalog.regrole::pg_catalog.text END AS a
          FROM pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) x
         WHERE c.relnamespace = 'audit'::pg_catalog.regnamespace
           AND NOT c.relispartition
           AND c.oid <> 'audit.alertas'::pg_catalog.regclass
           AND x.grantee <> c.relowner
           AND x.privilege_type <> 'SELECT'
        UNION ALL
        SELECT 'SCHEMA', 'audit', x.privilege_type,
               CASE x.grantee WHEN 0 THEN 'PUBLIC' ELSE x.grantee::pg_catalog.regrole::pg_catalog.text END
          FROM pg_catalog.pg_namespace n, pg_catalog.aclexplode(n.nspacl) x
         WHERE n.nspname = 'audit' AND x.grantee <> n.nspowner AND x.privilege_type = 'CREATE'
    LOOP
        EXECUTE pg_catalog.format('REVOKE %s ON %s %s FROM %s CASCADE', o.privilege_type, o.clase, o.nombre, o.a);
    END LOOP;
END
$desde_privilegios_por_defecto$;

-- 4. An INSERT or COPY into the log or one of its partitions, which a
--    superuser could make with every guard on, is refused like UPDATE and
--    DELETE, except while a dump is loaded (check_function_bodies off).
--    The capture and audit.registrar_evento write below the executor: no
--    trigger fires for them. The trigger is cloned to every partition.
CREATE FUNCTION audit._rechazar_insercion() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $insert_guard$
BEGIN
    IF NOT pg_catalog.current_setting('check_function_bodies')::boolean THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION USING
        ERRCODE = 'insufficient_privilege',
        MESSAGE = 'INSERT on audit.historial_cambios is not allowed',
        DETAIL = 'Events enter the audit log only as they are captured, or through audit.registrar_evento.',
        HINT = 'To record an application event, call audit.registrar_evento(tipo_operacion, metadata).';
END
$insert_guard$;
REVOKE EXECUTE ON FUNCTION audit._rechazar_insercion() FROM PUBLIC;
CREATE TRIGGER historial_cambios_sin_insercion
    BEFORE INSERT ON audit.historial_cambios
    FOR EACH ROW EXECUTE FUNCTION audit._rechazar_insercion();
ALTER TABLE audit.historial_cambios ENABLE ALWAYS TRIGGER historial_cambios_sin_insercion;
