-- A synthetic history for the read benchmark (bench/historial_plans.sh):
-- :eventos events over the last :meses months, written straight into the
-- log as its owner (the capture path is measured by capture_overhead.sh;
-- here only the shape of the data matters).
--
-- Shape, chosen to look like the seeds' SaaS (ServiVENT):
-- * 10 tenants, the largest with about a quarter of the events;
-- * 50 users per tenant, 12 tables, ~5,000 records per tenant and table;
-- * 15% INSERT, 65% UPDATE (1 to 3 changed columns), 5% DELETE, 15%
--   application events (EVENTO) with one of four document operations in
--   metadata.tipo_operacion;
-- * events in time order with a few seconds of jitter, so "timestamp"
--   order and id order agree only roughly, as with real transactions.
-- Partitions are created bare, loaded, then indexed with the extension's
-- own audit._indexar_particion, so the benchmark always measures the
-- extension's current index set.

SELECT pg_catalog.setseed(0.42) \gset

CREATE TEMP TABLE meses AS
SELECT m AS desde, m + interval '1 month' AS hasta,
       'historial_cambios_' || to_char(m, 'YYYY_MM') AS nombre
  FROM generate_series(date_trunc('month', now() AT TIME ZONE 'UTC') - (:meses - 1) * interval '1 month',
                       date_trunc('month', now() AT TIME ZONE 'UTC') + interval '1 month',
                       interval '1 month') AS m;

DO $$
DECLARE m record;
BEGIN
    SET LOCAL TimeZone = 'UTC';
    FOR m IN SELECT * FROM meses LOOP
        EXECUTE format('CREATE TABLE audit.%I PARTITION OF audit.historial_cambios FOR VALUES FROM (%L) TO (%L)',
                       m.nombre, m.desde, m.hasta);
    END LOOP;
END
$$;

CREATE TEMP TABLE tablas(n int PRIMARY KEY, nombre text, peso float8);
INSERT INTO tablas VALUES
  (0, 'productos', 0.22), (1, 'precios_productos', 0.15), (2, 'clientes', 0.12), (3, 'ventas', 0.12),
  (4, 'compras', 0.08), (5, 'gastos', 0.07), (6, 'proveedores', 0.05), (7, 'usuarios', 0.04),
  (8, 'sucursales', 0.02), (9, 'inventario', 0.08), (10, 'facturas', 0.04), (11, 'documentos', 0.01);

-- Tenant weights: tenant 0 has ~25%, then decreasing.
CREATE TEMP TABLE empresas AS
SELECT n, ('e0000000-0000-4000-8000-' || lpad(to_hex(n), 12, '0'))::uuid AS id,
       sum(w) OVER (ORDER BY n) / sum(w) OVER () AS hasta_p
  FROM (SELECT n, 1.0 / (n + 2) AS w FROM generate_series(0, 9) n) s;
CREATE TEMP TABLE tablas_acum AS
SELECT n, nombre, sum(peso) OVER (ORDER BY n) / sum(peso) OVER () AS hasta_p FROM tablas;

SELECT min(desde) AT TIME ZONE 'UTC' AS inicio FROM meses \gset
INSERT INTO audit.historial_cambios
       (id, "timestamp", usuario_id, usuario_nombre, accion, esquema, tabla_afectada, registro_id,
        registro_pk, datos_anteriores, datos_nuevos, campos_modificados, empresa_id, metadata,
        transaccion, rol_bd, aplicacion, ip_cliente)
SELECT g.i,
       :'inicio'::timestamptz + (now() - :'inicio'::timestamptz) * (g.i::float8 / :eventos) + random() * interval '5 seconds',
       ('a0000000-0000-4000-8000-' || lpad(to_hex(e.n * 100 + u.n), 12, '0'))::uuid,
       'Usuario ' || e.n || '-' || u.n,
       r.accion,
       'public',
       CASE WHEN r.accion = 'EVENTO' THEN 'documentos' ELSE t.nombre END,
       md5(e.n || '/' || t.nombre || '/' || rec.n)::uuid,
       jsonb_build_object('id', rec.n),
       CASE WHEN r.accion IN ('UPDATE', 'DELETE') THEN fila.datos END,
       CASE WHEN r.accion IN ('INSERT', 'UPDATE') THEN fila.datos || jsonb_build_object('stock', rec.n % 17) END,
       CASE WHEN r.accion = 'UPDATE' THEN
            CASE g.i % 4 WHEN 0 THEN '{precio}'::text[] WHEN 1 THEN '{stock}' WHEN 2 THEN '{precio,stock}' ELSE '{nombre,precio,stock}' END
       END,
       e.id,
       CASE WHEN r.accion = 'EVENTO'
            THEN jsonb_build_object('tipo_operacion', (ARRAY['REEMPLAZO_ARCHIVO', 'MARCAR_VERSION_ERRONEA', 'MARCAR_VERSION_OBSOLETA', 'RESTAURAR_ESTADO_VERSION'])[1 + (g.i % 4)],
                                    'documento', jsonb_build_object('id', rec.n, 'proyecto_id', rec.n % 40))
            ELSE '{}'::jsonb END,
       g.i / 3,
       'authenticated',
       'PostgREST 12',
       '10.0.0.1'
  FROM (SELECT i, random() AS pe, random() AS pt, random() AS pa, (random() * 49)::int AS u,
               (random() * 4999)::int AS rec
          FROM generate_series(1, :eventos) AS i) AS x
 CROSS JOIN LATERAL (SELECT x.i) AS g(i)
 CROSS JOIN LATERAL (SELECT * FROM empresas WHERE hasta_p >= x.pe ORDER BY n LIMIT 1) e
 CROSS JOIN LATERAL (SELECT * FROM tablas_acum WHERE hasta_p >= x.pt ORDER BY n LIMIT 1) t
 CROSS JOIN LATERAL (SELECT x.u AS n) u
 CROSS JOIN LATERAL (SELECT x.rec AS n) rec
 CROSS JOIN LATERAL (SELECT CASE WHEN x.pa < 0.15 THEN 'INSERT' WHEN x.pa < 0.80 THEN 'UPDATE'
                                 WHEN x.pa < 0.85 THEN 'DELETE' ELSE 'EVENTO' END AS accion) r
 CROSS JOIN LATERAL (SELECT jsonb_build_object('id', rec.n, 'empresa_id', e.id, 'nombre', 'Artículo ' || rec.n,
                                               'sku', 'SKU-' || lpad(rec.n::text, 6, '0'),
                                               'precio', round((rec.n % 997)::numeric * 1.07, 2),
                                               'stock', rec.n % 13, 'activo', true,
                                               'actualizado', '2026-01-01T00:00:00+00:00') AS datos) fila;

SELECT pg_catalog.setval('audit.historial_cambios_id_seq', :eventos) \gset

-- The time marks audit.mantenimiento() would have taken every 5 minutes
-- over that history (a real one takes them as time passes): event i was
-- "handed its id" at the i-th fraction of the span, and its timestamp is at
-- most 5 seconds later, well inside the marks' one-minute margins.
INSERT INTO audit.marcas_tiempo (instante, ultimo_id, cerrado_hasta)
SELECT m + interval '1 minute',
       floor(extract(epoch FROM m - :'inicio'::timestamptz) / extract(epoch FROM now() - :'inicio'::timestamptz) * :eventos)::bigint,
       m - interval '1 minute'
  FROM generate_series(:'inicio'::timestamptz, now() - interval '5 minutes', interval '5 minutes') AS m;

DO $$
DECLARE m record;
BEGIN
    FOR m IN SELECT * FROM meses LOOP
        PERFORM audit._indexar_particion(format('audit.%I', m.nombre)::regclass);
    END LOOP;
END
$$;
VACUUM (ANALYZE) audit.historial_cambios, audit.marcas_tiempo;
