-- Schema drift (docs/restore.md): when a table's columns changed since the
-- snapshots, a restore maps what still matches and refuses, naming the
-- columns, rather than dropping data or filling it with NULL. Columns are
-- followed by attribute number and type through the structures recorded
-- at every ALTER TABLE (audit.estructuras_tabla).
\set VERBOSITY terse
-- In a database of its own: the ids printed below start where this file
-- sets them, whatever the other files wrote (each golden file stands alone).
\set db_comun :DBNAME
SET client_min_messages = warning;
DROP DATABASE IF EXISTS audit_regress_restore_schema_drift;
RESET client_min_messages;
CREATE DATABASE audit_regress_restore_schema_drift;
\c audit_regress_restore_schema_drift
CREATE EXTENSION audit;
SELECT setval('audit.historial_cambios_id_seq', 3000000) IS NOT NULL AS ids_fijos;
CREATE TABLE dr_items (id int PRIMARY KEY, nombre text, precio numeric, nota text, total numeric GENERATED ALWAYS AS (precio * 2) STORED);
SELECT audit.auditar('dr_items');
SELECT tabla, desde_id, columnas FROM audit.estructuras_tabla WHERE tabla = 'dr_items'::regclass ORDER BY desde_id;
SELECT audit.crear_modulo('dr_modulo', ARRAY['dr_items']::regclass[]);
INSERT INTO dr_items VALUES (1, 'uno', 10, NULL), (2, 'dos', 20, NULL);
SELECT audit.crear_marca('dr_modulo', 'm1') > 0 AS marca;
UPDATE dr_items SET precio = precio + 1, nombre = upper(nombre);
DELETE FROM dr_items WHERE id = 2;

-- A column added since: it keeps its value (updated rows) or gets its
-- default (re-created rows); generated columns are recomputed.
ALTER TABLE dr_items ADD COLUMN stock int DEFAULT 7;
UPDATE dr_items SET stock = 3;
SELECT count(*) AS versiones FROM audit.estructuras_tabla WHERE tabla = 'dr_items'::regclass;
SELECT r -> 'aplicado' AS aplicado, r -> 'cambios' -> 0 -> 'columnas_sin_dato' AS sin_dato
  FROM audit.revertir_modulo('dr_modulo', 'm1', simular => true) r;

-- A column dropped since whose old values were all NULL: nothing is lost.
ALTER TABLE dr_items DROP COLUMN nota;
SELECT r -> 'aplicado' AS aplicado, r -> 'cambios' -> 0 -> 'columnas_eliminadas_nulas' AS eliminadas_nulas
  FROM audit.revertir_modulo('dr_modulo', 'm1') r;
SELECT id, nombre, precio, total, stock FROM dr_items ORDER BY id;

-- A column renamed since: refused, naming it.
SELECT audit.crear_marca('dr_modulo', 'm2') > 0 AS marca;
UPDATE dr_items SET nombre = 'cambiado' WHERE id = 1;
ALTER TABLE dr_items RENAME COLUMN nombre TO titulo;
\set VERBOSITY default
SELECT audit.revertir_modulo('dr_modulo', 'm2', estricto => true);
\set VERBOSITY terse
SELECT id, titulo FROM dr_items WHERE id = 1;
SELECT max(id) AS ev_cambio FROM audit.historial_cambios WHERE tabla_afectada = 'dr_items' AND accion = 'UPDATE' \gset
SELECT r -> 'error' ->> 'detalle' AS detalle FROM audit.deshacer(:ev_cambio) r;
ALTER TABLE dr_items RENAME COLUMN titulo TO nombre;

-- A column retyped since: refused.
SELECT audit.crear_marca('dr_modulo', 'm3') > 0 AS marca;
UPDATE dr_items SET nombre = 'otro' WHERE id = 1;
ALTER TABLE dr_items ALTER COLUMN nombre TYPE varchar(20);
SELECT r -> 'error' ->> 'detalle' AS detalle FROM audit.revertir_modulo('dr_modulo', 'm3') r;
ALTER TABLE dr_items ALTER COLUMN nombre TYPE text;

-- A column dropped since that had values: refused (the values would be lost).
SELECT audit.crear_marca('dr_modulo', 'm4') > 0 AS marca;
DELETE FROM dr_items WHERE id = 1;
ALTER TABLE dr_items DROP COLUMN stock;
SELECT r -> 'error' ->> 'detalle' AS detalle FROM audit.revertir_modulo('dr_modulo', 'm4') r;
SELECT count(*) AS filas FROM dr_items;

-- Identity columns: a re-created row keeps its recorded id (the sequence
-- does not move: it has already handed that id out).
CREATE TABLE dr_tickets (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, asunto text);
SELECT audit.auditar('dr_tickets');
INSERT INTO dr_tickets (asunto) VALUES ('a'), ('b');
DELETE FROM dr_tickets WHERE asunto = 'a';
SELECT max(id) AS ev_ticket FROM audit.historial_cambios WHERE tabla_afectada = 'dr_tickets' \gset
SELECT r -> 'aplicado' AS aplicado FROM audit.deshacer(:ev_ticket) r;
INSERT INTO dr_tickets (asunto) VALUES ('c');
SELECT * FROM dr_tickets ORDER BY id;

-- A table renamed since the point: its events under the old name would be
-- missed, so the restore is refused (a rename back makes it possible again).
SELECT audit.crear_marca('dr_modulo', 'm5') > 0 AS marca;
SELECT clock_timestamp() AS t_m5 \gset
INSERT INTO dr_items (id, nombre, precio) VALUES (9, 'nueve', 9);
ALTER TABLE dr_items RENAME TO dr_articulos;
SELECT nombre FROM audit.estructuras_tabla WHERE tabla = 'dr_articulos'::regclass ORDER BY desde_id DESC, version DESC LIMIT 2;
SELECT r -> 'error' ->> 'mensaje' AS mensaje FROM audit.revertir_modulo('dr_modulo', 'm5') r;
SELECT audit.estado_en('dr_articulos', :'t_m5');
ALTER TABLE dr_articulos RENAME TO dr_items;
SELECT r -> 'aplicado' AS aplicado, r -> 'cambios' -> 0 -> 'eliminadas' AS eliminadas FROM audit.revertir_modulo('dr_modulo', 'm5') r;

-- Several ALTER TABLEs with no event between them, as one migration runs
-- them: a column dropped and another of the same name added, or two columns
-- swapped by three renames. Each is a version of its own, so a restore
-- across them sees the drop (or the renames) and is refused, writing
-- nothing: the new column never held the old one's values.
CREATE TABLE dr_precios (id int PRIMARY KEY, precio int);
SELECT audit.auditar('dr_precios');
INSERT INTO dr_precios VALUES (1, 100);
DELETE FROM dr_precios;
SELECT max(id) AS ev_precio FROM audit.historial_cambios WHERE tabla_afectada = 'dr_precios' \gset
ALTER TABLE dr_precios DROP COLUMN precio;
ALTER TABLE dr_precios ADD COLUMN precio int;
SELECT count(*) AS versiones FROM audit.estructuras_tabla WHERE tabla = 'dr_precios'::regclass;
SELECT r -> 'error' ->> 'detalle' AS detalle FROM audit.deshacer(:ev_precio) r;
CREATE TABLE dr_montos (id int PRIMARY KEY, neto int, bruto int);
SELECT audit.auditar('dr_montos');
INSERT INTO dr_montos VALUES (1, 10, 12);
DELETE FROM dr_montos;
SELECT max(id) AS ev_montos FROM audit.historial_cambios WHERE tabla_afectada = 'dr_montos' \gset
BEGIN;
ALTER TABLE dr_montos RENAME COLUMN neto TO tmp;
ALTER TABLE dr_montos RENAME COLUMN bruto TO neto;
ALTER TABLE dr_montos RENAME COLUMN tmp TO bruto;
COMMIT;
SELECT r -> 'error' ->> 'detalle' AS detalle FROM audit.deshacer(:ev_montos) r;
SELECT (SELECT count(*) FROM dr_precios) + (SELECT count(*) FROM dr_montos) AS filas_escritas;
\c :db_comun
DROP DATABASE audit_regress_restore_schema_drift;
