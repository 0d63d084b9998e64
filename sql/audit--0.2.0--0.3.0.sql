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
