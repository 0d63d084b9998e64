-- audit.historial_plano(filtros): one row per changed field, for
-- spreadsheets, and audit.actividad(desde, hasta, agrupar_por): counts for
-- dashboards.
SELECT coalesce(max(id), 0) AS inicio FROM audit.historial_cambios \gset
SELECT clock_timestamp() AS t0 \gset
CREATE TABLE hp_clientes (id int PRIMARY KEY, nombre text, saldo numeric(10,2), datos jsonb, empresa_id uuid);
SELECT audit.auditar('hp_clientes');
BEGIN;
SET LOCAL audit.usuario_nombre = 'Ana';
INSERT INTO hp_clientes VALUES (1, 'Ana "La Jefa", S.A.', 100, '{"tags": ["vip"]}', 'e3000000-0000-4000-8000-000000000003');
UPDATE hp_clientes SET saldo = 50.5, nombre = E'Línea 1\nLínea 2' WHERE id = 1;
COMMIT;
BEGIN;
SET LOCAL audit.usuario_nombre = 'Beto';
SET LOCAL audit.empresa_id = 'e3000000-0000-4000-8000-000000000003';
UPDATE hp_clientes SET datos = NULL WHERE id = 1;
SELECT audit.registrar_evento('EXPORTACION', '{"formato": "csv"}', 'hp_clientes') > 0 AS evento;
DELETE FROM hp_clientes;
COMMIT;

-- Every matching event (no page size unless limite is given), newest first,
-- then its fields in column order. Strings without quotes, other values as
-- JSON, NULL for a missing side or a JSON null; an event without fields is
-- one row with campo NULL.
SELECT id - :inicio AS n, usuario_nombre, accion, tabla_afectada, campo, valor_anterior, valor_nuevo
  FROM audit.historial_plano('{"empresa_id": "e3000000-0000-4000-8000-000000000003"}');
SELECT count(DISTINCT id) AS eventos FROM audit.historial_plano('{"empresa_id": "e3000000-0000-4000-8000-000000000003", "limite": 2}');
-- An application event keeps what it is: its tipo_operacion and metadata
-- are on its row (and on every row, for the changes too).
SELECT id - :inicio AS n, accion, campo, tipo_operacion, metadata
  FROM audit.historial_plano('{"empresa_id": "e3000000-0000-4000-8000-000000000003", "accion": "EVENTO"}');
-- With campo, only that field's rows.
SELECT id - :inicio AS n, campo, valor_anterior, valor_nuevo
  FROM audit.historial_plano('{"empresa_id": "e3000000-0000-4000-8000-000000000003", "accion": "UPDATE", "campo": "saldo"}');
-- The spreadsheet export: CSV with a header (here to stdout; \copy ... TO
-- 'historial.csv' writes a file on the client).
\copy (SELECT usuario_nombre, accion, tabla_afectada, campo, valor_anterior, valor_nuevo FROM audit.historial_plano('{"empresa_id": "e3000000-0000-4000-8000-000000000003", "accion": ["INSERT", "UPDATE"]}')) TO STDOUT WITH (FORMAT csv, HEADER)
-- Same filters and errors as get_historial_cambios.
SELECT * FROM audit.historial_plano('{"limite": 0}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM audit.historial_plano('{"tabla": 5}');
\echo :LAST_ERROR_SQLSTATE

-- actividad: this file's events (all after t0), grouped five ways.
SELECT * FROM audit.actividad(:'t0', NULL, 'usuario');
SELECT * FROM audit.actividad(:'t0', NULL, 'tabla');
-- By day, week and month (in the session's time zone): one group for each
-- day, week or month in which this file's events were written (whatever the
-- date: the file's transactions may straddle midnight or a month's end), and
-- the counts add up to the file's events.
CREATE FUNCTION pg_temp.periodos(inicio bigint, formato text) RETURNS text[] LANGUAGE sql AS $$
    SELECT array_agg(DISTINCT to_char("timestamp", formato) ORDER BY to_char("timestamp", formato))
      FROM audit.historial_cambios WHERE id > inicio
$$;
SELECT array_agg(grupo ORDER BY grupo) = pg_temp.periodos(:inicio, 'YYYY-MM-DD') AS dias_de_los_eventos,
       sum(inserciones) AS inserciones, sum(actualizaciones) AS actualizaciones,
       sum(eliminaciones) AS eliminaciones, sum(eventos) AS eventos, sum(total) AS total
  FROM audit.actividad(:'t0', NULL);
SELECT array_agg(grupo ORDER BY grupo) = pg_temp.periodos(:inicio, 'IYYY-"W"IW') AS semanas_de_los_eventos, sum(total) AS total
  FROM audit.actividad(:'t0', NULL, 'semana');
SELECT array_agg(grupo ORDER BY grupo) = pg_temp.periodos(:inicio, 'YYYY-MM') AS meses_de_los_eventos, sum(total) AS total
  FROM audit.actividad(:'t0', now() + interval '1 day', 'MES');
-- Filtered as the timeline is (here: one tenant, one table), and grouped by
-- tipo_operacion: the application events by kind, the row changes (which
-- have none) in the NULL group.
SELECT * FROM audit.actividad(:'t0', NULL, 'tipo_operacion',
                              '{"empresa_id": "e3000000-0000-4000-8000-000000000003", "tabla": "hp_clientes"}');
SELECT * FROM audit.actividad(:'t0', NULL, 'usuario', '{"tipo_operacion": "EXPORTACION"}');
SELECT sum(total) AS solo_updates FROM audit.actividad(:'t0', NULL, 'dia', '{"accion": "UPDATE", "tabla": "hp_clientes"}');
-- hasta is exclusive: nothing before t0 is this file's.
SELECT count(*) AS grupos FROM audit.actividad(:'t0', :'t0', 'dia');
-- Bad grouping or range.
SELECT * FROM audit.actividad(NULL, NULL, 'hora');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM audit.actividad(NULL, NULL, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM audit.actividad('2026-02-01 00:00+00', '2026-01-01 00:00+00');
\echo :LAST_ERROR_SQLSTATE
-- Bad filters: a page key (activity counts every event), and the
-- timeline's own errors.
SELECT * FROM audit.actividad(NULL, NULL, 'dia', '{"limite": 10}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM audit.actividad(NULL, NULL, 'dia', '{"tabla": 5}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM audit.actividad(NULL, NULL, 'dia', '[1]');
\echo :LAST_ERROR_SQLSTATE

SELECT audit.dejar_de_auditar('hp_clientes');
DROP TABLE hp_clientes;
