-- audit.diferencias(evento_id) and audit.resumen(evento_id): the detail
-- view of one event and its line in a timeline.
SELECT coalesce(max(id), 0) AS inicio FROM audit.historial_cambios \gset
CREATE TABLE dr_productos (id int PRIMARY KEY, sku text, nombre text, precio numeric(10,2), stock int,
                           notas text, atributos jsonb, secreto text);
SELECT audit.auditar('dr_productos', '{"excluir_columnas": ["secreto"]}');
CREATE SCHEMA dr_ventas;
CREATE TABLE dr_ventas.facturas (numero int PRIMARY KEY, total numeric);
SELECT audit.auditar('dr_ventas.facturas');
CREATE TABLE dr_precios (producto int, lista text, valor numeric, PRIMARY KEY (producto, lista));
SELECT audit.auditar('dr_precios');

BEGIN;
SET LOCAL audit.usuario_nombre = 'Juan Pérez';
INSERT INTO dr_productos VALUES (1, 'LAP-001', 'Laptop Gamer', 1500, 3, NULL, '{"color": "negro"}', 'x');
UPDATE dr_productos SET precio = 1400.5, stock = 2, secreto = 'y' WHERE id = 1;
UPDATE dr_productos SET notas = 'revisar', atributos = '{"color": "rojo", "peso": 2.50}' WHERE id = 1;
UPDATE dr_productos SET nombre = NULL WHERE id = 1;
DELETE FROM dr_productos WHERE id = 1;
INSERT INTO dr_ventas.facturas VALUES (7, 99.90);
INSERT INTO dr_precios VALUES (1, 'mayorista', 10);
TRUNCATE dr_ventas.facturas;
SELECT audit.registrar_evento('REEMPLAZO_ARCHIVO', '{"motivo": "plano corregido"}', 'dr_productos') > 0 AS evento;
SELECT audit.registrar_evento('CIERRE_DE_CAJA') > 0 AS evento;
COMMIT;
-- Who falls back to the user's id, then the database role.
BEGIN;
SET LOCAL audit.usuario_id = 'a1000000-0000-4000-8000-000000000001';
INSERT INTO dr_productos (id, sku, nombre) VALUES (2, NULL, 'Sin precio');
COMMIT;
INSERT INTO dr_productos (id) VALUES (3);

-- One line per event.
SELECT id - :inicio AS n, accion, audit.resumen(id)
  FROM audit.historial_cambios WHERE id > :inicio ORDER BY id;
-- The same line from the row itself: a page and its summaries in one call
-- (PostgREST embeds it: select=id,accion,resumen_evento).
SELECT bool_and(audit.resumen_evento(h) = audit.resumen(h.id)) AS iguales, count(*) AS eventos
  FROM audit.get_historial_cambios('{"tabla": "dr_productos"}') h;
SELECT h.id - :inicio AS n, audit.resumen_evento(h)
  FROM audit.get_historial_cambios('{"tabla": "dr_productos", "limite": 2}') h;

-- The side-by-side view. An INSERT: every column, in the table's order,
-- with no old value (SQL NULL); excluded columns are not there.
SELECT * FROM audit.diferencias((SELECT min(id) FROM audit.historial_cambios WHERE id > :inicio AND accion = 'INSERT'));
-- An UPDATE: the changed columns only (the excluded one never shows).
SELECT d.* FROM audit.historial_cambios h, audit.diferencias(h.id) d
 WHERE h.id > :inicio AND h.accion = 'UPDATE' ORDER BY h.id;
-- A DELETE: every column, with no new value.
SELECT * FROM audit.diferencias((SELECT id FROM audit.historial_cambios WHERE id > :inicio AND accion = 'DELETE'));
-- Events without rows have no fields.
SELECT h.accion, count(d.campo) AS campos FROM audit.historial_cambios h
  LEFT JOIN LATERAL audit.diferencias(h.id) d ON true
 WHERE h.id > :inicio AND h.accion IN ('TRUNCATE', 'EVENTO', 'DDL') GROUP BY h.accion ORDER BY 1;
-- Columns dropped since the event come last, by name; a dropped table's
-- events are listed by name.
ALTER TABLE dr_productos DROP COLUMN sku;
SELECT campo FROM audit.diferencias((SELECT min(id) FROM audit.historial_cambios WHERE id > :inicio AND accion = 'INSERT'));
SELECT audit.dejar_de_auditar('dr_precios');
DROP TABLE dr_precios;
SELECT * FROM audit.diferencias((SELECT id FROM audit.historial_cambios WHERE id > :inicio AND tabla_afectada = 'dr_precios' AND accion = 'INSERT'));
SELECT audit.resumen((SELECT id FROM audit.historial_cambios WHERE id > :inicio AND tabla_afectada = 'dr_precios' AND accion = 'INSERT'));

-- An id that names no event: P0002 with the id.
SELECT * FROM audit.diferencias(-5);
\echo :LAST_ERROR_SQLSTATE
SELECT audit.resumen(9223372036854775807);
\echo :LAST_ERROR_SQLSTATE
-- NULL in, nothing out (both are STRICT).
SELECT count(*) AS filas_de_null FROM audit.diferencias(NULL);
SELECT audit.resumen(NULL) IS NULL AS resumen_de_null;

SELECT audit.dejar_de_auditar('dr_productos'), audit.dejar_de_auditar('dr_ventas.facturas');
DROP TABLE dr_productos, dr_ventas.facturas;
DROP SCHEMA dr_ventas;
