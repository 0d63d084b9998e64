-- audit.get_historial_cambios(filtros): every filter key, newest first,
-- keyset pagination, and a clear 22023 naming the key for bad input.
-- This file's events belong to two tenants nobody else uses, and ids are
-- shown relative to the last event before the file ran.
SELECT coalesce(max(id), 0) AS inicio FROM audit.historial_cambios \gset
SELECT set_config('hf.inicio', :'inicio', false) IS NOT NULL AS listo;
CREATE FUNCTION pg_temp.ver(filtros jsonb)
RETURNS TABLE(n bigint, accion text, tabla text, usuario text, campos text[], tipo text) LANGUAGE sql AS $$
    SELECT h.id - current_setting('hf.inicio')::bigint, h.accion, h.esquema || '.' || h.tabla_afectada,
           h.usuario_nombre, h.campos_modificados, h.metadata ->> 'tipo_operacion'
      FROM audit.get_historial_cambios(filtros) h
$$;

CREATE TABLE hf_productos (id int PRIMARY KEY, nombre text, precio numeric(10,2), stock int, empresa_id uuid);
CREATE SCHEMA hf_ventas;
CREATE TABLE hf_ventas.hf_productos (id int PRIMARY KEY, total numeric, empresa_id uuid);
CREATE TABLE "HF Clientes" (id int PRIMARY KEY, nombre text, empresa_id uuid);
SELECT audit.auditar('hf_productos'), audit.auditar('hf_ventas.hf_productos'), audit.auditar('"HF Clientes"');

-- Tenant 1, Ana: creates three products and a client (with a context).
BEGIN;
SET LOCAL audit.usuario_id = 'a1000000-0000-4000-8000-000000000001';
SET LOCAL audit.usuario_nombre = 'Ana';
SELECT audit.establecer_contexto('{"motivo": "carga inicial", "lote": {"numero": 1}}');
INSERT INTO hf_productos VALUES (1, 'Laptop', 1500, 3, 'e1000000-0000-4000-8000-000000000001'),
                                (2, 'Mouse', 20, 50, 'e1000000-0000-4000-8000-000000000001'),
                                (3, 'Teclado', 45, 10, 'e1000000-0000-4000-8000-000000000001');
INSERT INTO "HF Clientes" VALUES (1, 'Cliente Uno', 'e1000000-0000-4000-8000-000000000001');
COMMIT;
SELECT pg_sleep(0.01);
-- Tenant 1, Beto: changes prices and stock, deletes one, sells, records a
-- document operation.
BEGIN;
SET LOCAL audit.usuario_id = 'b1000000-0000-4000-8000-000000000002';
SET LOCAL audit.usuario_nombre = 'Beto';
SET LOCAL audit.empresa_id = 'e1000000-0000-4000-8000-000000000001';
UPDATE hf_productos SET precio = 1400 WHERE id = 1;
UPDATE hf_productos SET stock = stock - 1 WHERE id IN (1, 2);
DELETE FROM hf_productos WHERE id = 3;
INSERT INTO hf_ventas.hf_productos VALUES (1, 99.90, 'e1000000-0000-4000-8000-000000000001');
SELECT audit.registrar_evento('REEMPLAZO_ARCHIVO', '{"documento": {"id": "doc-1", "proyecto_id": 7}}', 'hf_productos') > 0 AS evento;
COMMIT;
SELECT pg_sleep(0.01);
-- Tenant 2, Carla: her own product.
BEGIN;
SET LOCAL audit.usuario_nombre = 'Carla';
INSERT INTO hf_productos VALUES (10, 'Monitor', 300, 2, 'e2000000-0000-4000-8000-000000000002');
UPDATE hf_productos SET nombre = 'Monitor 27"' WHERE id = 10;
COMMIT;

-- A tenant's timeline, newest first (the default page is 50 events).
SELECT * FROM pg_temp.ver('{"empresa_id": "e1000000-0000-4000-8000-000000000001"}');
SELECT * FROM pg_temp.ver('{"empresa_id": "e2000000-0000-4000-8000-000000000002"}');
-- Called as PostgREST calls an RPC: one named jsonb argument.
SELECT count(*) FROM audit.get_historial_cambios(filtros => '{"empresa_id": "e2000000-0000-4000-8000-000000000002"}');

-- usuario_id.
SELECT * FROM pg_temp.ver('{"usuario_id": "a1000000-0000-4000-8000-000000000001"}');
-- tabla: a name matches it in every schema; schema.name only there;
-- identifiers as in SQL (unquoted folds to lower case, quoted is exact).
SELECT * FROM pg_temp.ver('{"empresa_id": "e1000000-0000-4000-8000-000000000001", "tabla": "hf_productos"}');
SELECT * FROM pg_temp.ver('{"empresa_id": "e1000000-0000-4000-8000-000000000001", "tabla": "hf_ventas.hf_productos"}');
SELECT * FROM pg_temp.ver('{"empresa_id": "e1000000-0000-4000-8000-000000000001", "tabla": "HF_Productos"}');
SELECT * FROM pg_temp.ver('{"tabla": "public.\"HF Clientes\""}');
SELECT count(*) AS sin_comillas FROM audit.get_historial_cambios('{"tabla": "HF Clientes"}');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS no_existe FROM audit.get_historial_cambios('{"tabla": "\"HF clientes\""}');
-- accion: one, or a list; any letter case.
SELECT * FROM pg_temp.ver('{"empresa_id": "e1000000-0000-4000-8000-000000000001", "accion": "delete"}');
SELECT * FROM pg_temp.ver('{"empresa_id": "e1000000-0000-4000-8000-000000000001", "accion": ["INSERT", "Evento"]}');
-- registro_id: one row's history, across its events.
SELECT * FROM pg_temp.ver(jsonb_build_object('registro_id',
    (SELECT registro_id FROM audit.historial_cambios WHERE id > :inicio AND tabla_afectada = 'hf_productos'
        AND esquema = 'public' AND registro_pk = '{"id": 1}' LIMIT 1)));
-- tipo_operacion (metadata.tipo_operacion), metadata containment, campo.
SELECT * FROM pg_temp.ver('{"empresa_id": "e1000000-0000-4000-8000-000000000001", "tipo_operacion": "REEMPLAZO_ARCHIVO"}');
SELECT * FROM pg_temp.ver('{"empresa_id": "e1000000-0000-4000-8000-000000000001", "metadata": {"lote": {"numero": 1}}}');
SELECT * FROM pg_temp.ver('{"metadata": {"documento": {"proyecto_id": 7}}, "tabla": "hf_productos"}');
SELECT * FROM pg_temp.ver('{"empresa_id": "e1000000-0000-4000-8000-000000000001", "campo": "precio"}');
-- An empty metadata object filters nothing; a key set to null is no filter.
SELECT count(*) FROM audit.get_historial_cambios('{"empresa_id": "e1000000-0000-4000-8000-000000000001", "metadata": {}}');
SELECT count(*) FROM audit.get_historial_cambios('{"empresa_id": "e1000000-0000-4000-8000-000000000001", "usuario_id": null, "accion": null, "desde": null}');
-- Filters combine with AND.
SELECT * FROM pg_temp.ver('{"empresa_id": "e1000000-0000-4000-8000-000000000001", "usuario_id": "b1000000-0000-4000-8000-000000000002", "accion": "UPDATE", "campo": "stock"}');

-- desde is inclusive, hasta exclusive; they are timestamptz text as SQL
-- reads it (here, the start of Beto's transaction).
SELECT "timestamp" AS beto FROM audit.historial_cambios WHERE id > :inicio AND usuario_nombre = 'Beto' LIMIT 1 \gset
SELECT * FROM pg_temp.ver(jsonb_build_object('empresa_id', 'e1000000-0000-4000-8000-000000000001', 'desde', :'beto'::timestamptz));
SELECT * FROM pg_temp.ver(jsonb_build_object('empresa_id', 'e1000000-0000-4000-8000-000000000001', 'hasta', :'beto'::timestamptz));
SELECT * FROM pg_temp.ver(jsonb_build_object('empresa_id', 'e1000000-0000-4000-8000-000000000001', 'desde', :'beto'::timestamptz, 'hasta', :'beto'::timestamptz));
SELECT count(*) AS todo_el_dia FROM audit.get_historial_cambios(jsonb_build_object(
    'empresa_id', 'e1000000-0000-4000-8000-000000000001', 'desde', 'yesterday', 'hasta', 'tomorrow'));

-- limite and antes_de: keyset pagination, pages of 3 until one is empty;
-- together they give every event once, newest first.
WITH RECURSIVE paginas(numero, ids) AS (
    SELECT 1, ARRAY(SELECT id FROM audit.get_historial_cambios('{"empresa_id": "e1000000-0000-4000-8000-000000000001", "limite": 3}'))
    UNION ALL
    SELECT numero + 1, ARRAY(SELECT id FROM audit.get_historial_cambios(jsonb_build_object(
               'empresa_id', 'e1000000-0000-4000-8000-000000000001', 'limite', 3, 'antes_de', ids[cardinality(ids)])))
      FROM paginas WHERE cardinality(ids) > 0
)
SELECT numero, cardinality(ids) AS eventos,
       (SELECT array_agg(i - :inicio) FROM unnest(ids) i) AS n
  FROM paginas ORDER BY numero;
SELECT count(*) AS en_la_ultima_pagina_antes_del_primero
  FROM audit.get_historial_cambios(jsonb_build_object('empresa_id', 'e1000000-0000-4000-8000-000000000001',
                                                      'antes_de', :inicio + 1));
-- The largest page.
SELECT count(*) <= 1000 AS acotado FROM audit.get_historial_cambios('{"limite": 1000}');
-- No filters (or NULL) is the first page of everything.
SELECT count(*) <= 50 AS primera_pagina FROM audit.get_historial_cambios();
SELECT count(*) <= 50 AS primera_pagina FROM audit.get_historial_cambios(NULL);

-- notas: what the capture noted about an event; {} asks for the events
-- that have any. Here a writer claiming tenant 2 changes a row of tenant 1:
-- the event is tenant 1's, and says what the writer claimed.
BEGIN;
SET LOCAL audit.usuario_nombre = 'Dora';
SET LOCAL audit.empresa_id = 'e2000000-0000-4000-8000-000000000002';
UPDATE hf_productos SET stock = 0 WHERE id = 2;
COMMIT;
SELECT * FROM pg_temp.ver('{"notas": {}}') WHERE n > 0;
SELECT empresa_id, notas FROM audit.get_historial_cambios(
    '{"notas": {"empresa_declarada": "e2000000-0000-4000-8000-000000000002"}, "tabla": "hf_productos"}');
SELECT * FROM audit.get_historial_cambios('{"notas": ["empresa_declarada"]}');
\echo :LAST_ERROR_SQLSTATE

-- Bad input: 22023, naming the key, and nothing runs.
SELECT * FROM audit.get_historial_cambios('{"usuario": "a1000000-0000-4000-8000-000000000001"}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM audit.get_historial_cambios('[{"limite": 5}]');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM audit.get_historial_cambios('{"limite": 0}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM audit.get_historial_cambios('{"limite": 5000}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM audit.get_historial_cambios('{"limite": 2.5}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM audit.get_historial_cambios('{"limite": "10"}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM audit.get_historial_cambios('{"antes_de": -1}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM audit.get_historial_cambios('{"usuario_id": "ana"}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM audit.get_historial_cambios('{"empresa_id": 1}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM audit.get_historial_cambios('{"registro_id": ""}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM audit.get_historial_cambios('{"desde": "no es una fecha"}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM audit.get_historial_cambios('{"hasta": "2026-02-30"}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM audit.get_historial_cambios('{"desde": "2026-01-01 10:00 Marte/Olimpo"}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM audit.get_historial_cambios('{"desde": 20260101}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM audit.get_historial_cambios('{"desde": "2026-12-01", "hasta": "2026-01-01"}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM audit.get_historial_cambios('{"tabla": "a.b.c"}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM audit.get_historial_cambios('{"tabla": "\"sin cerrar"}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM audit.get_historial_cambios('{"accion": "BORRAR"}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM audit.get_historial_cambios('{"accion": []}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM audit.get_historial_cambios('{"metadata": "motivo"}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM audit.get_historial_cambios('{"campo": ["precio"]}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM audit.get_historial_cambios('{"tipo_operacion": ""}');
\echo :LAST_ERROR_SQLSTATE

SELECT audit.dejar_de_auditar('hf_productos'), audit.dejar_de_auditar('hf_ventas.hf_productos'), audit.dejar_de_auditar('"HF Clientes"');
DROP TABLE hf_productos, hf_ventas.hf_productos, "HF Clientes";
DROP SCHEMA hf_ventas;
