-- The log's insert state lives for a transaction (src/capture/log_insert.rs):
-- DDL, savepoints and caught errors around audited writes in one transaction.
CREATE TABLE w (id int PRIMARY KEY, v text);
SELECT audit.auditar('w');

BEGIN;
INSERT INTO w VALUES (1, 'a');
-- DDL on the log itself after events of this transaction (more partitions).
SELECT audit._asegurar_particiones(4) >= 0 AS particiones;
-- DDL on the audited table.
ALTER TABLE w ADD COLUMN x int;
INSERT INTO w VALUES (2, 'b', 1);
-- A savepoint rolled back takes its event with it; later events are kept.
SAVEPOINT s1;
INSERT INTO w VALUES (3, 'c', 2);
ROLLBACK TO SAVEPOINT s1;
INSERT INTO w VALUES (4, 'd', 3);
-- An error caught by PL/pgSQL (a subtransaction) inside the capture path's
-- transaction.
DO $$ BEGIN INSERT INTO w VALUES (4, 'duplicada'); EXCEPTION WHEN unique_violation THEN NULL; END $$;
-- A subtransaction that writes events and commits.
DO $$ BEGIN INSERT INTO w VALUES (5, 'e', 4); EXCEPTION WHEN others THEN RAISE; END $$;
-- TRUNCATE of an audited table in the same transaction.
TRUNCATE w;
INSERT INTO w VALUES (6, 'f', 5);
COMMIT;
SELECT accion, registro_pk, datos_nuevos FROM audit.historial_cambios
 WHERE tabla_afectada = 'w' AND accion <> 'DDL' ORDER BY id;

-- A failed statement leaves no event and does not disturb the next ones.
BEGIN;
INSERT INTO w VALUES (7, 'g', 6);
INSERT INTO w VALUES (7, 'otra vez', 6);
ROLLBACK;
INSERT INTO w VALUES (8, 'h', 7);
SELECT count(*) FILTER (WHERE registro_pk = '{"id": 7}') AS del_fallido,
       count(*) FILTER (WHERE registro_pk = '{"id": 8}') AS siguiente
  FROM audit.historial_cambios WHERE tabla_afectada = 'w';

-- Dropping and re-creating the extension in the transaction that wrote.
CREATE DATABASE audit_ciclo;
\c audit_ciclo
CREATE EXTENSION audit;
CREATE TABLE w (id int PRIMARY KEY);
SELECT audit.auditar('w');
BEGIN;
INSERT INTO w VALUES (1);
DROP EXTENSION audit;
CREATE EXTENSION audit;
SELECT audit.auditar('w');
INSERT INTO w VALUES (2);
COMMIT;
SELECT accion, registro_pk FROM audit.historial_cambios WHERE accion <> 'DDL' ORDER BY id;
\c audit_regress
DROP DATABASE audit_ciclo;
DROP TABLE w;
