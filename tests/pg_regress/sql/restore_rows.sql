-- audit.restaurar_registro and audit.estado_en (docs/restore.md): one row, or
-- the whole table, as it was at an instant. A row's state at an instant is
-- the before-image of the first change after it, so only the events after
-- the instant are read.
\set VERBOSITY terse
-- In a database of its own: the ids printed below start where this file
-- sets them, whatever the other files wrote (each golden file stands alone).
\set db_comun :DBNAME
SET client_min_messages = warning;
DROP DATABASE IF EXISTS audit_regress_restore_rows;
RESET client_min_messages;
CREATE DATABASE audit_regress_restore_rows;
\c audit_regress_restore_rows
CREATE EXTENSION audit;
SELECT setval('audit.historial_cambios_id_seq', 2000000) IS NOT NULL AS ids_fijos;
CREATE TABLE rr_cuentas (id uuid PRIMARY KEY, titular text, saldo numeric, abierta boolean DEFAULT true);
SELECT audit.auditar('rr_cuentas');
-- The changes happen in separate transactions (an instant separates
-- transactions: events carry their transaction's start time).
INSERT INTO rr_cuentas VALUES ('00000000-0000-0000-0000-00000000000a', 'Ana', 100),
                              ('00000000-0000-0000-0000-00000000000b', 'Luis', 50);
SELECT pg_sleep(0.01);
SELECT clock_timestamp() AS t1 \gset
SELECT pg_sleep(0.01);
UPDATE rr_cuentas SET saldo = 80 WHERE titular = 'Ana';
UPDATE rr_cuentas SET saldo = 60 WHERE titular = 'Ana';
DELETE FROM rr_cuentas WHERE titular = 'Luis';
INSERT INTO rr_cuentas VALUES ('00000000-0000-0000-0000-00000000000c', 'Eva', 10);
SELECT pg_sleep(0.01);
SELECT clock_timestamp() AS t2 \gset

-- The table as it was at t1, and at t2 (which is now).
SELECT e FROM audit.estado_en('rr_cuentas', :'t1') e ORDER BY e ->> 'titular';
SELECT e FROM audit.estado_en('rr_cuentas', :'t2') e ORDER BY e ->> 'titular';

-- Ana back to t1 (an UPDATE), previewed first.
SELECT r -> 'simulado' AS simulado, r -> 'cambios' -> 0 -> 'operacion' AS operacion,
       r -> 'cambios' -> 0 -> 'antes' ->> 'saldo' AS antes, r -> 'cambios' -> 0 -> 'despues' ->> 'saldo' AS despues
  FROM audit.restaurar_registro('rr_cuentas', '00000000-0000-0000-0000-00000000000a', :'t1', simular => true) r;
SELECT saldo FROM rr_cuentas WHERE titular = 'Ana';
SELECT r -> 'aplicado' AS aplicado, r -> 'cambios' -> 0 -> 'filas' AS filas
  FROM audit.restaurar_registro('rr_cuentas', '00000000-0000-0000-0000-00000000000a', :'t1') r;
-- Luis, deleted since, is re-created; Eva, who did not exist at t1, goes.
SELECT r -> 'cambios' -> 0 -> 'operacion' AS operacion
  FROM audit.restaurar_registro('rr_cuentas', '00000000-0000-0000-0000-00000000000b', :'t1') r;
SELECT r -> 'cambios' -> 0 -> 'operacion' AS operacion
  FROM audit.restaurar_registro('rr_cuentas', '00000000-0000-0000-0000-00000000000c', :'t1') r;
SELECT titular, saldo, abierta FROM rr_cuentas ORDER BY titular;
-- Restoring again changes nothing.
SELECT r -> 'cambios' AS cambios
  FROM audit.restaurar_registro('rr_cuentas', '00000000-0000-0000-0000-00000000000a', :'t1') r;
-- Each restore was recorded, marked with where it came from.
SELECT accion, metadata -> 'restauracion' ->> 'funcion' AS funcion, metadata -> 'restauracion' ? 'instante' AS con_instante
  FROM audit.historial_cambios
 WHERE tabla_afectada = 'rr_cuentas' AND metadata ->> 'tipo_operacion' = 'RESTAURACION' ORDER BY id;
-- A row with no recorded change since the instant is left as it is.
SELECT r -> 'cambios' AS cambios, r -> 'advertencias' AS advertencias
  FROM audit.restaurar_registro('rr_cuentas', '00000000-0000-0000-0000-0000000000ff', now()) r;

-- Bad input.
SELECT audit.estado_en('rr_cuentas', now() + interval '1 day');
SELECT audit.estado_en('rr_cuentas', '2000-01-01');
SELECT audit.estado_en('rr_cuentas', NULL);
SELECT audit.estado_en(NULL, now());
SELECT audit.restaurar_registro('rr_cuentas', NULL, now());
SELECT audit.restaurar_registro('rr_cuentas', '00000000-0000-0000-0000-00000000000a', now() + interval '1 hour');
CREATE TABLE rr_libre (id int PRIMARY KEY);
SELECT audit.estado_en('rr_libre', now());
SELECT audit.restaurar_registro('rr_libre', gen_random_uuid(), now());
-- Across a TRUNCATE (it records no rows) nothing can be rebuilt.
SELECT clock_timestamp() AS t3 \gset
TRUNCATE rr_cuentas;
SELECT audit.estado_en('rr_cuentas', :'t3');
SELECT r -> 'aplicado' AS aplicado, r -> 'error' ->> 'mensaje' AS mensaje
  FROM audit.restaurar_registro('rr_cuentas', '00000000-0000-0000-0000-00000000000a', :'t3') r;

-- A table keyed by columnas_clave (no primary key) can be restored too.
CREATE TABLE rr_tarifas (zona text NOT NULL, peso int NOT NULL, precio numeric);
SELECT audit.auditar('rr_tarifas', '{"columnas_clave": ["zona", "peso"]}');
INSERT INTO rr_tarifas VALUES ('norte', 1, 5), ('sur', 1, 6);
SELECT pg_sleep(0.01);
SELECT clock_timestamp() AS t4 \gset
UPDATE rr_tarifas SET precio = precio * 2;
SELECT e FROM audit.estado_en('rr_tarifas', :'t4') e ORDER BY e ->> 'zona';
SELECT registro_id AS tarifa_norte FROM audit.historial_cambios
 WHERE tabla_afectada = 'rr_tarifas' AND accion = 'INSERT' AND registro_pk ->> 'zona' = 'norte' \gset
SELECT r -> 'aplicado' AS aplicado FROM audit.restaurar_registro('rr_tarifas', :'tarifa_norte', :'t4') r;
SELECT * FROM rr_tarifas ORDER BY zona;
\c :db_comun
DROP DATABASE audit_regress_restore_rows;
