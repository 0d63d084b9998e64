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
SELECT grupo = to_char(now(), 'YYYY-MM-DD') AS hoy, inserciones, actualizaciones, eliminaciones, eventos, total
  FROM audit.actividad(:'t0', NULL);
SELECT grupo = to_char(now(), 'IYYY-"W"IW') AS esta_semana, total FROM audit.actividad(:'t0', NULL, 'semana');
SELECT grupo = to_char(now(), 'YYYY-MM') AS este_mes, total FROM audit.actividad(:'t0', now() + interval '1 day', 'MES');
-- hasta is exclusive: nothing before t0 is this file's.
SELECT count(*) AS grupos FROM audit.actividad(:'t0', :'t0', 'dia');
-- Bad grouping or range.
SELECT * FROM audit.actividad(NULL, NULL, 'hora');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM audit.actividad(NULL, NULL, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM audit.actividad('2026-02-01 00:00+00', '2026-01-01 00:00+00');
\echo :LAST_ERROR_SQLSTATE

SELECT audit.dejar_de_auditar('hp_clientes');
DROP TABLE hp_clientes;
