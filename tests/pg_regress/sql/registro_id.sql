-- audit.registro_id(tabla, pk): the id the capture gives a row, from its
-- key, to find a row's events without reading one first (docs/reading.md).
\set VERBOSITY terse
CREATE TABLE ri_entero (id int PRIMARY KEY, v text);
CREATE TABLE ri_compuesta (a int, b text, v text, PRIMARY KEY (a, b));
CREATE TABLE ri_uuid (id uuid PRIMARY KEY, v text);
CREATE TABLE ri_columnas (codigo text, v text);
CREATE TABLE ri_sin_clave (v text);
CREATE TABLE ri_particionada (id int, mes int, v text, PRIMARY KEY (id, mes)) PARTITION BY LIST (mes);
CREATE TABLE ri_particionada_1 PARTITION OF ri_particionada FOR VALUES IN (1);
SELECT audit.auditar('ri_entero');
SELECT audit.auditar('ri_compuesta');
SELECT audit.auditar('ri_uuid');
SELECT audit.auditar('ri_columnas', '{"columnas_clave": ["codigo"]}');
SELECT audit.auditar('ri_particionada');
INSERT INTO ri_entero VALUES (7, 'x');
INSERT INTO ri_compuesta VALUES (1, 'x''y', 'v');
INSERT INTO ri_uuid VALUES ('0b7e4c2a-0000-4000-8000-000000000001', 'v');
INSERT INTO ri_columnas VALUES ('A-1', 'v');
INSERT INTO ri_particionada VALUES (3, 1, 'v');
UPDATE ri_entero SET v = 'y';

-- The id the events carry, for every kind of key. Values are read as the
-- columns' types ("7" names the integer 7) and keys in any order.
SELECT h.tabla_afectada,
       h.registro_id = CASE h.tabla_afectada
           WHEN 'ri_entero' THEN audit.registro_id('ri_entero', '{"id": 7}')
           WHEN 'ri_compuesta' THEN audit.registro_id('ri_compuesta', '{"b": "x''y", "a": 1}')
           WHEN 'ri_uuid' THEN audit.registro_id('ri_uuid', '{"id": "0b7e4c2a-0000-4000-8000-000000000001"}')
           WHEN 'ri_columnas' THEN audit.registro_id('ri_columnas', '{"codigo": "A-1"}')
           WHEN 'ri_particionada' THEN audit.registro_id('ri_particionada_1', '{"id": 3, "mes": 1}')
       END AS igual
  FROM audit.historial_cambios h
 WHERE h.tabla_afectada LIKE 'ri\_%' AND h.accion = 'INSERT'
 ORDER BY h.tabla_afectada;
SELECT audit.registro_id('ri_entero', '{"id": "7"}') = audit.registro_id('ri_entero', '{"id": 7}') AS texto_igual;
-- A single uuid key is the id itself.
SELECT audit.registro_id('ri_uuid', '{"id": "0b7e4c2a-0000-4000-8000-000000000001"}');
-- One row's history, newest first, through the reading API.
SELECT accion, campos_modificados
  FROM audit.get_historial_cambios(jsonb_build_object('registro_id', audit.registro_id('ri_entero', '{"id": 7}')));
-- The same history by the row's key, as a filter of the reading functions
-- (with its table: bare when one audited table has that name).
SELECT accion, campos_modificados
  FROM audit.get_historial_cambios('{"tabla": "ri_entero", "registro_pk": {"id": 7}}');
SELECT count(*) AS filas FROM audit.historial_plano('{"tabla": "public.ri_compuesta", "registro_pk": {"a": 1, "b": "x''y"}}');
SELECT grupo, total FROM audit.actividad(NULL, NULL, 'tabla', '{"tabla": "ri_entero", "registro_pk": {"id": "7"}}');
-- Its errors: without tabla, with registro_id too, a table that does not
-- exist or is not audited under a bare name, and the key's own errors.
SELECT count(*) FROM audit.get_historial_cambios('{"registro_pk": {"id": 7}}');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM audit.get_historial_cambios('{"tabla": "ri_entero", "registro_pk": {"id": 7}, "registro_id": "0b7e4c2a-0000-4000-8000-000000000001"}');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM audit.get_historial_cambios('{"tabla": "public.ri_no_existe", "registro_pk": {"id": 7}}');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM audit.get_historial_cambios('{"tabla": "ri_sin_auditar", "registro_pk": {"id": 7}}');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM audit.get_historial_cambios('{"tabla": "ri_entero", "registro_pk": {"codigo": 7}}');
\echo :LAST_ERROR_SQLSTATE
-- NULL in, NULL out.
SELECT audit.registro_id('ri_entero', NULL) IS NULL AS nulo;

-- Errors (22023 unless said): not an object; a key column missing; a name
-- that is not a key column; NULL for a column that cannot be NULL; a value
-- of the wrong type (22P02, from the column's type); a table without a
-- key; not a table.
SELECT audit.registro_id('ri_entero', '[7]');
\echo :LAST_ERROR_SQLSTATE
SELECT audit.registro_id('ri_compuesta', '{"a": 1}');
\echo :LAST_ERROR_SQLSTATE
SELECT audit.registro_id('ri_entero', '{"id": 7, "v": "x"}');
\echo :LAST_ERROR_SQLSTATE
SELECT audit.registro_id('ri_entero', '{"id": null}');
\echo :LAST_ERROR_SQLSTATE
SELECT audit.registro_id('ri_entero', '{"id": "siete"}');
\echo :LAST_ERROR_SQLSTATE
SELECT audit.registro_id('ri_sin_clave', '{"v": "x"}');
\echo :LAST_ERROR_SQLSTATE
CREATE VIEW ri_vista AS SELECT 1 AS id;
SELECT audit.registro_id('ri_vista', '{"id": 1}');
\echo :LAST_ERROR_SQLSTATE
