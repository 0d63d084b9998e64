-- registro_id and registro_pk for every kind of key.
CREATE SCHEMA llaves;

-- Composite key: registro_pk holds both columns; registro_id is the uuid v5
-- of schema, table and key (stable: pinned here and in the model's tests).
CREATE TABLE llaves.precios (sucursal int, sku text, precio numeric, PRIMARY KEY (sucursal, sku));
SELECT audit.auditar('llaves.precios');
INSERT INTO llaves.precios VALUES (1, 'LAP-001', 1500), (2, 'LAP-001', 1450);
SELECT registro_pk, registro_id FROM audit.historial_cambios WHERE tabla_afectada = 'precios' AND accion = 'INSERT' ORDER BY id;

-- A key that is updated: registro_id is the new key's id, and
-- registro_id_anterior the old one, so the row's history can be followed.
UPDATE llaves.precios SET sku = 'LAP-002' WHERE sucursal = 1;
SELECT e.registro_pk, e.campos_modificados, e.registro_id_anterior = i.registro_id AS sigue_a_la_fila
  FROM audit.historial_cambios e
  JOIN audit.historial_cambios i ON i.tabla_afectada = 'precios' AND i.accion = 'INSERT' AND i.registro_pk = '{"sucursal": 1, "sku": "LAP-001"}'
 WHERE e.tabla_afectada = 'precios' AND e.accion = 'UPDATE';
-- An update that keeps the key has no registro_id_anterior.
UPDATE llaves.precios SET precio = 1400 WHERE sucursal = 2;
SELECT registro_id_anterior IS NULL AS sin_anterior FROM audit.historial_cambios
 WHERE tabla_afectada = 'precios' AND accion = 'UPDATE' ORDER BY id DESC LIMIT 1;

-- No primary key: registro_pk is NULL and the row is identified by its whole
-- (recorded) content; successive versions chain through registro_id_anterior.
CREATE TABLE llaves.bitacora (momento text, texto text);
SELECT audit.auditar('llaves.bitacora');
SELECT columnas_clave FROM audit.tablas_auditadas WHERE tabla = 'llaves.bitacora'::regclass;
INSERT INTO llaves.bitacora VALUES ('t1', 'uno');
UPDATE llaves.bitacora SET texto = 'uno bis';
UPDATE llaves.bitacora SET texto = 'uno ter';
DELETE FROM llaves.bitacora;
SELECT accion, registro_pk, registro_id IS NOT NULL AS con_id,
       registro_id_anterior = lag(registro_id) OVER (ORDER BY id) AS encadena
  FROM audit.historial_cambios WHERE tabla_afectada = 'bitacora' AND accion <> 'DDL' ORDER BY id;

-- columnas_clave gives a table without primary key a key of its own.
SELECT audit.auditar('llaves.bitacora', '{"columnas_clave": ["momento"]}');
SELECT columnas_clave FROM audit.tablas_auditadas WHERE tabla = 'llaves.bitacora'::regclass;
INSERT INTO llaves.bitacora VALUES ('t2', 'dos');
UPDATE llaves.bitacora SET texto = 'dos bis';
SELECT accion, registro_pk, registro_id_anterior IS NULL AS mismo_id
  FROM audit.historial_cambios WHERE tabla_afectada = 'bitacora' AND accion IN ('INSERT', 'UPDATE') ORDER BY id DESC LIMIT 2;
SELECT count(DISTINCT registro_id) AS ids FROM audit.historial_cambios
 WHERE tabla_afectada = 'bitacora' AND registro_pk = '{"momento": "t2"}';

-- An integer key.
CREATE TABLE llaves.simple (id int PRIMARY KEY, v text);
SELECT audit.auditar('llaves.simple');
INSERT INTO llaves.simple VALUES (42, 'x');
SELECT registro_pk, registro_id FROM audit.historial_cambios WHERE tabla_afectada = 'simple' AND accion = 'INSERT';

DROP SCHEMA llaves CASCADE;
