-- audit.deshacer (docs/restore.md): undo one event, with preview, conflict
-- detection, forzar and estricto. Restores are captured like any change,
-- marked RESTAURACION with the event they undo.
\set VERBOSITY terse
-- Event ids appear in messages: start this file's ids at a fixed number, so
-- they do not depend on how many events the tests before it wrote (each
-- restore_* file starts higher than the one before: ids only grow).
-- In a database of its own: the ids printed below start where this file
-- sets them, whatever the other files wrote (each golden file stands alone).
\set db_comun :DBNAME
SET client_min_messages = warning;
DROP DATABASE IF EXISTS audit_regress_restore_undo;
RESET client_min_messages;
CREATE DATABASE audit_regress_restore_undo;
\c audit_regress_restore_undo
CREATE EXTENSION audit;
SELECT setval('audit.historial_cambios_id_seq', 4000000) IS NOT NULL AS ids_fijos;
CREATE TABLE un_productos (id int PRIMARY KEY, nombre text NOT NULL, precio numeric(10,2), stock int DEFAULT 0);
SELECT audit.auditar('un_productos');
INSERT INTO un_productos VALUES (1, 'lápiz', 1.50, 10), (2, 'goma', 0.80, 5), (3, 'regla', 2.00, 7);
UPDATE un_productos SET precio = 1.75, stock = 9 WHERE id = 1;
DELETE FROM un_productos WHERE id = 2;
SELECT id AS ev_insert FROM audit.historial_cambios WHERE tabla_afectada = 'un_productos' AND accion = 'INSERT' AND registro_pk = '{"id": 3}' \gset
SELECT id AS ev_update FROM audit.historial_cambios WHERE tabla_afectada = 'un_productos' AND accion = 'UPDATE' \gset
SELECT id AS ev_delete FROM audit.historial_cambios WHERE tabla_afectada = 'un_productos' AND accion = 'DELETE' \gset

-- Preview: the report of what would happen; nothing is written.
SELECT r -> 'aplicado' AS aplicado, r -> 'simulado' AS simulado, r -> 'cambios' -> 0 -> 'operacion' AS operacion,
       r -> 'cambios' -> 0 -> 'antes' AS antes, r -> 'cambios' -> 0 -> 'despues' AS despues, r -> 'conflictos' AS conflictos
  FROM audit.deshacer(:ev_update, simular => true) r;
SELECT * FROM un_productos ORDER BY id;

-- An application event about the row since does not change it: no conflict.
SELECT audit.registrar_evento('revisado', '{}', 'un_productos', registro_id) > 0 AS evento
  FROM audit.historial_cambios WHERE id = :ev_update;
-- Undo the UPDATE: the columns it changed go back.
SELECT r -> 'aplicado' AS aplicado, r -> 'cambios' -> 0 -> 'filas' AS filas, r -> 'error' AS error
  FROM audit.deshacer(:ev_update) r;
SELECT * FROM un_productos ORDER BY id;
-- ... recorded as an ordinary UPDATE, marked as a restore of that event.
SELECT accion, datos_nuevos, metadata -> 'tipo_operacion' AS tipo, metadata -> 'restauracion' ->> 'funcion' AS funcion,
       (metadata -> 'restauracion' ->> 'evento_id')::bigint = :ev_update AS del_evento
  FROM audit.historial_cambios WHERE tabla_afectada = 'un_productos' ORDER BY id DESC LIMIT 1;

-- Undo the DELETE: the row comes back whole.
SELECT r -> 'cambios' -> 0 -> 'operacion' AS operacion FROM audit.deshacer(:ev_delete) r;
-- Undo an INSERT: the row goes.
SELECT r -> 'cambios' -> 0 -> 'operacion' AS operacion FROM audit.deshacer(:ev_insert) r;
SELECT * FROM un_productos ORDER BY id;

-- Conflict: the row changed after the event. Refused and reported (with
-- the later events), nothing changed; a WARNING and a log_tecnico row.
INSERT INTO un_productos VALUES (4, 'compás', 3.00, 2);
SELECT max(id) AS ev_compas FROM audit.historial_cambios WHERE tabla_afectada = 'un_productos' \gset
UPDATE un_productos SET stock = 1 WHERE id = 4;
SELECT max(id) AS ev_compas_2 FROM audit.historial_cambios WHERE tabla_afectada = 'un_productos' \gset
SELECT coalesce(max(id), 0) AS log_tecnico_antes FROM audit.log_tecnico \gset
SELECT r -> 'aplicado' AS aplicado, r -> 'error' ->> 'sqlstate' AS sqlstate, r -> 'error' ->> 'mensaje' AS mensaje,
       jsonb_array_length(r -> 'conflictos') AS conflictos, (r -> 'conflictos' -> 0 ->> 'id')::bigint = :ev_compas_2 AS es_el_update
  FROM audit.deshacer(:ev_compas) r;
SELECT * FROM un_productos WHERE id = 4;
SELECT nivel, categoria, mensaje, detalle -> 'error' ->> 'sqlstate' AS sqlstate, rol_bd
  FROM audit.log_tecnico WHERE id > :log_tecnico_antes ORDER BY id;
-- A preview of the same says so too, and writes nothing to log_tecnico.
SELECT r -> 'aplicado' AS aplicado, r -> 'simulado' AS simulado, r -> 'error' ->> 'sqlstate' AS sqlstate
  FROM audit.deshacer(:ev_compas, simular => true) r;
SELECT count(*) AS filas_nuevas_log_tecnico FROM audit.log_tecnico WHERE id > :log_tecnico_antes;
-- estricto raises instead of returning the report.
SELECT audit.deshacer(:ev_compas, estricto => true);
-- forzar undoes it over the later change (the INSERT: the row goes).
SELECT r -> 'aplicado' AS aplicado, r -> 'advertencias' AS advertencias FROM audit.deshacer(:ev_compas, forzar => true) r;
SELECT count(*) AS compas FROM un_productos WHERE id = 4;

-- Undoing an UPDATE with forzar puts back only the columns it changed.
INSERT INTO un_productos VALUES (5, 'tijera', 4.00, 3);
UPDATE un_productos SET precio = 4.50 WHERE id = 5;
SELECT max(id) AS ev_precio FROM audit.historial_cambios WHERE tabla_afectada = 'un_productos' \gset
UPDATE un_productos SET stock = 30 WHERE id = 5;
SELECT r -> 'aplicado' AS aplicado FROM audit.deshacer(:ev_precio, forzar => true) r;
SELECT * FROM un_productos WHERE id = 5;

-- A change the log does not explain (made while capture was off) is a
-- conflict too.
ALTER TABLE un_productos DISABLE TRIGGER USER;
UPDATE un_productos SET nombre = 'tijeras' WHERE id = 5;
ALTER TABLE un_productos ENABLE TRIGGER USER;
SELECT max(id) AS ev_ultimo FROM audit.historial_cambios WHERE tabla_afectada = 'un_productos' AND accion = 'UPDATE' \gset
SELECT r -> 'error' ->> 'detalle' AS detalle FROM audit.deshacer(:ev_ultimo) r;

-- An UPDATE whose row is gone cannot be undone (restaurar_registro can bring it back).
DELETE FROM un_productos WHERE id = 5;
SELECT r -> 'error' ->> 'mensaje' AS mensaje, r -> 'error' ->> 'pista' AS pista FROM audit.deshacer(:ev_ultimo, forzar => true) r;

-- A unique violation while writing: the fallback leaves everything as it was.
CREATE TABLE un_usuarios (id int PRIMARY KEY, email text UNIQUE);
SELECT audit.auditar('un_usuarios');
INSERT INTO un_usuarios VALUES (1, 'a@x');
DELETE FROM un_usuarios WHERE id = 1;
SELECT max(id) AS ev_borrado FROM audit.historial_cambios WHERE tabla_afectada = 'un_usuarios' \gset
INSERT INTO un_usuarios VALUES (2, 'a@x');
SELECT r -> 'aplicado' AS aplicado, r -> 'error' ->> 'sqlstate' AS sqlstate, r -> 'error' ->> 'mensaje' AS mensaje
  FROM audit.deshacer(:ev_borrado) r;
SELECT * FROM un_usuarios;
-- A foreign key violation likewise: the line's order is gone since.
CREATE TABLE un_pedidos (id int PRIMARY KEY);
CREATE TABLE un_lineas (id int PRIMARY KEY, pedido_id int REFERENCES un_pedidos);
SELECT audit.auditar('un_lineas');
INSERT INTO un_pedidos VALUES (1);
INSERT INTO un_lineas VALUES (1, 1);
DELETE FROM un_lineas;
SELECT max(id) AS ev_linea FROM audit.historial_cambios WHERE tabla_afectada = 'un_lineas' \gset
DELETE FROM un_pedidos;
SELECT r -> 'aplicado' AS aplicado, r -> 'error' ->> 'sqlstate' AS sqlstate, r -> 'error' ->> 'mensaje' AS mensaje
  FROM audit.deshacer(:ev_linea) r;
SELECT count(*) AS lineas FROM un_lineas;

-- Bad input.
SELECT audit.deshacer(NULL);
SELECT audit.deshacer(:ev_update, simular => NULL);
SELECT audit.deshacer(-1);
SELECT audit.registrar_evento('aprobado') AS ev_app \gset
SELECT audit.deshacer(:ev_app);
TRUNCATE un_usuarios;
SELECT max(id) AS ev_truncate FROM audit.historial_cambios WHERE tabla_afectada = 'un_usuarios' \gset
SELECT audit.deshacer(:ev_truncate);
-- The table is no longer audited, or no longer exists.
CREATE TABLE un_temporal (id int PRIMARY KEY);
SELECT audit.auditar('un_temporal');
INSERT INTO un_temporal VALUES (1);
SELECT max(id) AS ev_temporal FROM audit.historial_cambios WHERE tabla_afectada = 'un_temporal' \gset
SELECT audit.dejar_de_auditar('un_temporal');
SELECT audit.deshacer(:ev_temporal);
DROP TABLE un_temporal;
SELECT audit.deshacer(:ev_temporal);
-- Another table made under its name, and audited: the event is not its
-- (42P01), and nothing is written into it.
CREATE TABLE un_temporal (id int PRIMARY KEY);
SELECT audit.auditar('un_temporal');
SELECT audit.deshacer(:ev_temporal);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS filas_en_la_nueva FROM un_temporal;
-- Applied only in READ COMMITTED: under REPEATABLE READ (or SERIALIZABLE)
-- its reads would see a snapshot older than its locks. A preview may run.
INSERT INTO un_temporal VALUES (7);
SELECT max(id) AS ev_nueva FROM audit.historial_cambios WHERE tabla_afectada = 'un_temporal' \gset
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT r -> 'aplicado' AS aplicado, r -> 'error' ->> 'sqlstate' AS estado, r -> 'error' ->> 'mensaje' AS mensaje
  FROM audit.deshacer(:ev_nueva) r;
SELECT r -> 'error' AS error, r -> 'simulado' AS simulado FROM audit.deshacer(:ev_nueva, simular => true) r;
COMMIT;
SELECT count(*) AS sigue_la_fila FROM un_temporal;
-- A GENERATED ALWAYS identity key changed by `SET id = DEFAULT`: an UPDATE
-- cannot give it back its value, so the undo is refused (55000) rather than
-- reported as done with the key left changed.
CREATE TABLE un_identidad (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, v text);
SELECT audit.auditar('un_identidad');
INSERT INTO un_identidad (v) VALUES ('a');
UPDATE un_identidad SET id = DEFAULT, v = 'b' WHERE id = 1;
SELECT max(id) AS ev_identidad FROM audit.historial_cambios WHERE tabla_afectada = 'un_identidad' \gset
SELECT r -> 'aplicado' AS aplicado, r -> 'error' ->> 'sqlstate' AS estado, r -> 'error' ->> 'mensaje' AS mensaje
  FROM audit.deshacer(:ev_identidad, simular => true) r;
SELECT * FROM un_identidad;
-- A table without a primary key: its rows cannot be found again.
CREATE TABLE un_sin_clave (a int, b text);
SELECT audit.auditar('un_sin_clave');
INSERT INTO un_sin_clave VALUES (1, 'x');
SELECT max(id) AS ev_sin_clave FROM audit.historial_cambios WHERE tabla_afectada = 'un_sin_clave' \gset
\set VERBOSITY default
SELECT audit.deshacer(:ev_sin_clave);
\c :db_comun
DROP DATABASE audit_regress_restore_undo;
