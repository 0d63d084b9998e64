-- Auditing a partitioned table audits the rows of all its partitions,
-- present and future, under the partitioned table's name.
CREATE TABLE ventas (id int, region text, monto numeric, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
CREATE TABLE ventas_norte PARTITION OF ventas FOR VALUES IN ('norte');
SELECT audit.auditar('ventas');
-- A partition created later gets the row trigger (cloned by PostgreSQL) and
-- its TRUNCATE trigger (added by the extension).
CREATE TABLE ventas_sur PARTITION OF ventas FOR VALUES IN ('sur');
CREATE TABLE ventas_este (id int NOT NULL, region text NOT NULL, monto numeric);
ALTER TABLE ventas ATTACH PARTITION ventas_este FOR VALUES IN ('este');
SELECT tgrelid::regclass AS tabla, tgname, tgparentid <> 0 AS clonado
  FROM pg_trigger WHERE tgfoid = 'audit.registrar_cambio()'::regprocedure
   AND tgrelid::regclass::text LIKE 'ventas%' ORDER BY 1, 2;

INSERT INTO ventas VALUES (1, 'norte', 100), (2, 'sur', 200), (3, 'este', 300);
UPDATE ventas SET monto = 150 WHERE id = 1;
-- Moving a row to another partition is, in PostgreSQL, a DELETE from one
-- partition and an INSERT into the other (no UPDATE trigger fires), and the
-- partition key is part of the primary key: two events, two keys, one
-- transaction (see docs/capture.md).
UPDATE ventas SET region = 'sur', monto = 160 WHERE id = 1 AND region = 'norte';
UPDATE ventas SET id = 1 WHERE id = 1;
SELECT accion, tabla_afectada, registro_pk, campos_modificados FROM audit.historial_cambios
 WHERE tabla_afectada = 'ventas' AND accion IN ('INSERT', 'UPDATE', 'DELETE') ORDER BY id;

-- TRUNCATE of the partitioned table: one event per partition, naming it.
TRUNCATE ventas;
SELECT accion, tabla_afectada, metadata->>'particion' AS particion FROM audit.historial_cambios
 WHERE tabla_afectada = 'ventas' AND accion = 'TRUNCATE' ORDER BY particion;
-- TRUNCATE of one partition.
TRUNCATE ventas_sur;
SELECT count(*) AS truncates_sur FROM audit.historial_cambios
 WHERE tabla_afectada = 'ventas' AND accion = 'TRUNCATE' AND metadata->>'particion' = 'ventas_sur';

-- A partition cannot be audited on its own.
SELECT audit.auditar('ventas_norte');
\echo :LAST_ERROR_SQLSTATE
CREATE TRIGGER solo_norte AFTER INSERT ON ventas_norte FOR EACH ROW EXECUTE FUNCTION audit.registrar_cambio();
\echo :LAST_ERROR_SQLSTATE

SELECT audit.dejar_de_auditar('ventas');
SELECT count(*) AS triggers_restantes FROM pg_trigger
 WHERE tgfoid = 'audit.registrar_cambio()'::regprocedure AND tgrelid::regclass::text LIKE 'ventas%';
DROP TABLE ventas;
