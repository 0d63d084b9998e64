-- Modules and marks (docs/restore.md): a group of tables rolled back together
-- to a mark, per row, in an order the foreign keys between them accept,
-- with a preview, a report per table and a fallback when anything fails.
\set VERBOSITY terse
-- In a database of its own: the ids printed below start where this file
-- sets them, whatever the other files wrote (each golden file stands alone).
\set db_comun :DBNAME
SET client_min_messages = warning;
DROP DATABASE IF EXISTS audit_regress_restore_modules;
RESET client_min_messages;
CREATE DATABASE audit_regress_restore_modules;
\c audit_regress_restore_modules
CREATE EXTENSION audit;
SELECT setval('audit.historial_cambios_id_seq', 1000000) IS NOT NULL AS ids_fijos;
CREATE TABLE md_clientes (id int PRIMARY KEY, nombre text NOT NULL, email text UNIQUE);
CREATE TABLE md_pedidos (id int PRIMARY KEY, cliente_id int NOT NULL REFERENCES md_clientes, total numeric);
CREATE TABLE md_lineas (pedido_id int REFERENCES md_pedidos, n int, producto text, PRIMARY KEY (pedido_id, n));
SELECT audit.auditar('md_clientes'), audit.auditar('md_pedidos'), audit.auditar('md_lineas');
INSERT INTO md_clientes VALUES (1, 'Ana', 'ana@x'), (2, 'Luis', 'luis@x');
INSERT INTO md_pedidos VALUES (10, 1, 5.50), (11, 2, 7);
INSERT INTO md_lineas VALUES (10, 1, 'lápiz'), (11, 1, 'goma');

-- The tables in any order: the rollback orders them by their foreign keys.
SELECT audit.crear_modulo('md_ventas', ARRAY['md_lineas', 'md_clientes', 'md_pedidos']::regclass[]);
SELECT nombre, tablas FROM audit.modulos WHERE nombre = 'md_ventas';
SELECT audit.crear_marca('md_ventas', 'inicio') > 0 AS marca_creada;

-- After the mark: a customer goes with everything of theirs, a new one comes
-- with an order that takes over an old order's line, a name changes.
UPDATE md_clientes SET nombre = 'Ana María' WHERE id = 1;
DELETE FROM md_lineas WHERE pedido_id = 11;
DELETE FROM md_pedidos WHERE id = 11;
DELETE FROM md_clientes WHERE id = 2;
INSERT INTO md_clientes VALUES (3, 'Eva', 'eva@x');
INSERT INTO md_pedidos VALUES (12, 3, 1);
UPDATE md_pedidos SET cliente_id = 3 WHERE id = 10;
UPDATE md_clientes SET nombre = 'Ana M.' WHERE id = 1;

-- Preview: per table, what would be done; nothing is.
SELECT c ->> 'tabla' AS tabla, c -> 'insertadas' AS insertadas, c -> 'actualizadas' AS actualizadas, c -> 'eliminadas' AS eliminadas
  FROM audit.revertir_modulo('md_ventas', 'inicio', simular => true) r, jsonb_array_elements(r -> 'cambios') c;
SELECT count(*) AS clientes_ahora FROM md_clientes;

SELECT r -> 'aplicado' AS aplicado, r -> 'error' AS error, r -> 'advertencias' AS advertencias
  FROM audit.revertir_modulo('md_ventas', 'inicio') r;
SELECT * FROM md_clientes ORDER BY id;
SELECT * FROM md_pedidos ORDER BY id;
SELECT * FROM md_lineas ORDER BY pedido_id;
-- Recorded as ordinary changes: parents first for inserts and updates,
-- children first for deletes; a row changed twice is written once.
SELECT accion, tabla_afectada, registro_pk, metadata -> 'restauracion' ->> 'marca' AS marca
  FROM audit.historial_cambios WHERE metadata ->> 'tipo_operacion' = 'RESTAURACION' AND tabla_afectada LIKE 'md_%' ORDER BY id;
-- Rolling back again: nothing to change (the rows are as at the mark).
SELECT c ->> 'tabla' AS tabla, c -> 'insertadas' AS i, c -> 'actualizadas' AS a, c -> 'eliminadas' AS e
  FROM audit.revertir_modulo('md_ventas', 'inicio') r, jsonb_array_elements(r -> 'cambios') c;

-- Fallback: a rollback that fails half-way (the re-inserted customer's
-- email is taken by now) leaves every table as it was, reports the error
-- and writes log_tecnico, and the caller's transaction goes on.
SELECT audit.crear_marca('md_ventas', 'antes_de_borrar') > 0 AS marca_creada;
DELETE FROM md_lineas WHERE pedido_id = 10;
UPDATE md_pedidos SET total = 99 WHERE id = 11;
DELETE FROM md_pedidos WHERE id = 10;
DELETE FROM md_clientes WHERE id = 1;
INSERT INTO md_clientes VALUES (4, 'Otra Ana', 'ana@x');
CREATE TEMP TABLE md_antes AS
  SELECT 'c' AS t, to_jsonb(c) AS fila FROM md_clientes c UNION ALL
  SELECT 'p', to_jsonb(p) FROM md_pedidos p UNION ALL
  SELECT 'l', to_jsonb(l) FROM md_lineas l;
SELECT coalesce(max(id), 0) AS log_tecnico_antes FROM audit.log_tecnico \gset
BEGIN;
SELECT r -> 'aplicado' AS aplicado, r -> 'error' ->> 'sqlstate' AS sqlstate, r -> 'error' ->> 'mensaje' AS mensaje
  FROM audit.revertir_modulo('md_ventas', 'antes_de_borrar') r;
-- Still in the transaction, which is not aborted: every table unchanged.
SELECT (SELECT count(*) FROM md_antes) AS filas_antes,
       (SELECT count(*) FROM md_antes a WHERE a.fila IN (
            SELECT to_jsonb(c) FROM md_clientes c UNION ALL SELECT to_jsonb(p) FROM md_pedidos p UNION ALL SELECT to_jsonb(l) FROM md_lineas l)) AS iguales,
       (SELECT count(*) FROM md_clientes) + (SELECT count(*) FROM md_pedidos) + (SELECT count(*) FROM md_lineas) AS filas_ahora;
SELECT categoria, mensaje FROM audit.log_tecnico WHERE id > :log_tecnico_antes;
COMMIT;
-- The log_tecnico row survived the commit.
SELECT count(*) AS filas_log_tecnico FROM audit.log_tecnico WHERE id > :log_tecnico_antes;
-- No RESTAURACION event of the failed attempt.
SELECT count(*) AS eventos_del_intento FROM audit.historial_cambios WHERE metadata -> 'restauracion' ->> 'marca' = 'antes_de_borrar';
-- With estricto, the error itself.
SELECT audit.revertir_modulo('md_ventas', 'antes_de_borrar', estricto => true);
-- Once the conflicting row is gone, the same rollback works.
DELETE FROM md_clientes WHERE id = 4;
SELECT r -> 'aplicado' AS aplicado FROM audit.revertir_modulo('md_ventas', 'antes_de_borrar') r;
SELECT * FROM md_pedidos ORDER BY id;

-- A reference from outside the module is reported when its rows are deleted.
CREATE TABLE md_facturas (id int PRIMARY KEY, pedido_id int REFERENCES md_pedidos ON DELETE SET NULL);
SELECT audit.crear_marca('md_ventas', 'con_facturas') > 0 AS marca_creada;
INSERT INTO md_pedidos VALUES (13, 1, 2);
INSERT INTO md_facturas VALUES (1, 13);
SELECT r -> 'advertencias' AS advertencias FROM audit.revertir_modulo('md_ventas', 'con_facturas') r;
SELECT * FROM md_facturas;

-- Bad input.
SELECT audit.crear_modulo('md_ventas', ARRAY['md_clientes']::regclass[]);
SELECT audit.crear_modulo('md_otro', ARRAY['md_facturas']::regclass[]);
CREATE TABLE md_sin_clave (a int);
SELECT audit.auditar('md_sin_clave');
SELECT audit.crear_modulo('md_otro', ARRAY['md_sin_clave']::regclass[]);
SELECT audit.crear_modulo('md_otro', ARRAY['md_clientes', 'md_clientes']::regclass[]);
SELECT audit.crear_modulo('md_otro', ARRAY[]::regclass[]);
SELECT audit.crear_modulo('md_otro', NULL);
SELECT audit.crear_modulo(' ', ARRAY['md_clientes']::regclass[]);
SELECT audit.crear_modulo('md_otro', ARRAY[NULL]::regclass[]);
SELECT audit.crear_marca('md_ventas', 'inicio');
SELECT audit.crear_marca('md_nada', 'x');
SELECT audit.crear_marca('md_ventas', NULL);
SELECT audit.crear_modulo('md_otro', ARRAY['md_clientes']::regclass[]);
SELECT audit.crear_marca('md_otro', 'solo_otro') > 0 AS marca_creada;
\set VERBOSITY default
SELECT audit.revertir_modulo('md_ventas', 'solo_otro');
\set VERBOSITY terse
SELECT audit.revertir_modulo('md_ventas', 'no_existe');
SELECT audit.revertir_modulo('md_nada', 'inicio');
SELECT audit.revertir_modulo('md_ventas', NULL);
-- A table of the module that stopped being audited.
SELECT audit.dejar_de_auditar('md_lineas');
SELECT audit.revertir_modulo('md_ventas', 'inicio');
SELECT audit.auditar('md_lineas');
-- A table of the module dropped: the module goes on with its other tables
-- (a dropped table has nothing left to roll back).
CREATE TABLE md_efimera (id int PRIMARY KEY);
SELECT audit.auditar('md_efimera');
SELECT audit.crear_modulo('md_con_efimera', ARRAY['md_lineas', 'md_efimera']::regclass[]);
SELECT audit.crear_marca('md_con_efimera', 'antes') IS NOT NULL AS marcada;
DROP TABLE md_efimera;
SELECT tablas FROM audit.listar_modulos() WHERE nombre = 'md_con_efimera';
SELECT r -> 'error' AS error, r -> 'simulado' AS simulado
  FROM audit.revertir_modulo('md_con_efimera', 'antes', simular => true) r;
SELECT audit.crear_marca('md_con_efimera', 'despues') IS NOT NULL AS marcada;
\c :db_comun
DROP DATABASE audit_regress_restore_modules;
