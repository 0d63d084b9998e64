-- Scenarios of the read benchmark (bench/historial_plans.sh), over the data
-- of bench/historial_datos.sql. For each filter combination, the first page
-- and a later one (from a cursor 1,000 events down, or the end when fewer
-- match): rows returned, buffers touched by the query (shared hit + read),
-- rows read and thrown away by a filter, the query's execution time from
-- EXPLAIN (ANALYZE, BUFFERS), and the median wall time of the whole
-- audit.get_historial_cambios call (planning, the Rust filter parser and the
-- PL/pgSQL wrapper included) over 7 calls.

CREATE SCHEMA bench;

-- The plan of the exact query get_historial_cambios runs, with the same
-- parameters, as JSON.
CREATE FUNCTION bench.plan(filtros jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE q record; p json;
BEGIN
    SELECT * INTO STRICT q FROM audit._consulta_historial(filtros, false);
    EXECUTE 'EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ' || q.sql INTO p
        USING q.empresa_id, q.usuario_id, q.registro_id, q.desde, q.hasta, q.esquema, q.tabla,
              q.acciones, q.tipo_operacion, q.metadata, q.campo, q.antes_de, q.limite,
              q.id_mayor_que, q.id_como_maximo;
    RETURN p::jsonb;
END $$;

CREATE FUNCTION bench.ms_llamada(filtros jsonb) RETURNS numeric LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz; ms float8[] := '{}';
BEGIN
    FOR i IN 1..7 LOOP
        t0 := clock_timestamp();
        PERFORM count(*) FROM audit.get_historial_cambios(filtros);
        ms := ms || extract(epoch FROM clock_timestamp() - t0)::float8 * 1000;
    END LOOP;
    RETURN round((SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) FROM unnest(ms) x)::numeric, 2);
END $$;

CREATE FUNCTION bench.pagina(filtros jsonb)
RETURNS TABLE(filas bigint, buffers bigint, descartadas bigint, ms_consulta numeric, ms_llamada numeric, indices text)
LANGUAGE sql AS $$
    WITH p AS (SELECT bench.plan(filtros) AS j)
    SELECT (j->0->'Plan'->>'Actual Rows')::bigint,
           (j->0->'Plan'->>'Shared Hit Blocks')::bigint + (j->0->'Plan'->>'Shared Read Blocks')::bigint,
           (SELECT coalesce(sum(v::text::bigint), 0) FROM jsonb_path_query(j, 'strict $.**."Rows Removed by Filter"') v),
           round((j->0->>'Execution Time')::numeric, 2),
           bench.ms_llamada(filtros),
           (SELECT string_agg(DISTINCT regexp_replace(v #>> '{}', '^historial_cambios_(\d{4}_\d{2}|default)_', ''), ',')
              FROM jsonb_path_query(j, 'strict $.**."Index Name"') v)
      FROM p
$$;

-- Tenant 0 is the largest (~25% of events), tenant 9 the smallest (~4.5%);
-- user 7 of tenant 0; record 42 of tenant 0's productos.
CREATE TEMP TABLE escenarios(orden serial, nombre text, filtros jsonb);
INSERT INTO escenarios(nombre, filtros) VALUES
 ('(none)', '{}'),
 ('empresa_id (largest tenant)', '{"empresa_id": "e0000000-0000-4000-8000-000000000000"}'),
 ('empresa_id (smallest tenant)', '{"empresa_id": "e0000000-0000-4000-8000-000000000009"}'),
 ('empresa_id + tabla', '{"empresa_id": "e0000000-0000-4000-8000-000000000000", "tabla": "productos"}'),
 ('empresa_id + tabla (rare)', '{"empresa_id": "e0000000-0000-4000-8000-000000000009", "tabla": "sucursales"}'),
 ('empresa_id + usuario_id', '{"empresa_id": "e0000000-0000-4000-8000-000000000000", "usuario_id": "a0000000-0000-4000-8000-000000000007"}'),
 ('empresa_id + last 7 days', jsonb_build_object('empresa_id', 'e0000000-0000-4000-8000-000000000000', 'desde', now() - interval '7 days')),
 ('empresa_id + a past week', jsonb_build_object('empresa_id', 'e0000000-0000-4000-8000-000000000000',
      'desde', date_trunc('month', now()) - interval '2 months' + interval '10 days',
      'hasta', date_trunc('month', now()) - interval '2 months' + interval '17 days')),
 ('empresa_id + hasta', jsonb_build_object('empresa_id', 'e0000000-0000-4000-8000-000000000000',
      'hasta', date_trunc('month', now()) - interval '2 months' + interval '17 days')),
 ('empresa_id + registro_id', jsonb_build_object('empresa_id', 'e0000000-0000-4000-8000-000000000000', 'registro_id', md5('0/productos/42')::uuid)),
 ('empresa_id + tipo_operacion', '{"empresa_id": "e0000000-0000-4000-8000-000000000000", "tipo_operacion": "REEMPLAZO_ARCHIVO"}'),
 ('empresa_id + accion', '{"empresa_id": "e0000000-0000-4000-8000-000000000000", "accion": "DELETE"}'),
 ('empresa_id + campo', '{"empresa_id": "e0000000-0000-4000-8000-000000000000", "campo": "nombre"}'),
 ('empresa_id + tabla + campo', '{"empresa_id": "e0000000-0000-4000-8000-000000000000", "tabla": "productos", "campo": "nombre"}'),
 ('empresa_id + metadata', '{"empresa_id": "e0000000-0000-4000-8000-000000000000", "metadata": {"documento": {"proyecto_id": 7}}}'),
 ('tipo_operacion + metadata', '{"tipo_operacion": "REEMPLAZO_ARCHIVO", "metadata": {"documento": {"proyecto_id": 7}}}'),
 ('usuario_id', '{"usuario_id": "a0000000-0000-4000-8000-000000000007"}'),
 ('tabla', '{"tabla": "sucursales"}'),
 ('registro_id', jsonb_build_object('registro_id', md5('0/productos/42')::uuid)),
 ('tipo_operacion', '{"tipo_operacion": "REEMPLAZO_ARCHIVO"}'),
 ('accion', '{"accion": "DELETE"}'),
 ('desde + hasta (a past week)', jsonb_build_object(
      'desde', date_trunc('month', now()) - interval '2 months' + interval '10 days',
      'hasta', date_trunc('month', now()) - interval '2 months' + interval '17 days'));

\pset footer off
SELECT e.nombre AS filtros,
       p1.filas AS "p1 rows", p1.buffers AS "p1 buffers", p1.descartadas AS "p1 discarded",
       p1.ms_consulta AS "p1 query ms", p1.ms_llamada AS "p1 call ms",
       p2.filas AS "p2 rows", p2.buffers AS "p2 buffers", p2.descartadas AS "p2 discarded",
       p2.ms_consulta AS "p2 query ms", p2.ms_llamada AS "p2 call ms",
       p1.indices AS "indexes (page 1)"
  FROM escenarios e
 CROSS JOIN LATERAL bench.pagina(e.filtros) p1
 CROSS JOIN LATERAL (SELECT min(h.id) AS cursor FROM audit.get_historial_cambios(e.filtros || '{"limite": 1000}') h) c
 CROSS JOIN LATERAL bench.pagina(e.filtros || jsonb_build_object('antes_de', coalesce(c.cursor, 1))) p2
 ORDER BY e.orden;
