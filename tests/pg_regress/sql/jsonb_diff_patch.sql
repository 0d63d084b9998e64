-- audit.jsonb_diff, audit.jsonb_patch, audit.jsonb_aplicar_patch (docs/reading.md).

-- jsonb_diff: top-level members whose value differs, a missing side as null.
SELECT audit.jsonb_diff('{"precio": 10, "stock": 5, "nombre": "A", "viejo": true}',
                        '{"precio": 12, "stock": 5, "nombre": "A", "nuevo": [1]}');
SELECT audit.jsonb_diff('{"a": {"b": [1, 2]}}', '{"a": {"b": [1, 2]}}') AS iguales;
-- Values are compared as stored: 2.5 and 2.50 are different (a restore must
-- give back 2.50), and a JSON null differs from a missing member.
SELECT audit.jsonb_diff('{"p": 2.5, "q": null}', '{"p": 2.50}');
-- NULL is a row that did not exist (as datos_anteriores of an INSERT).
SELECT audit.jsonb_diff(NULL, '{"id": 1, "nombre": "x"}');
SELECT audit.jsonb_diff('{"id": 1}', NULL);
SELECT audit.jsonb_diff(NULL, NULL);
-- Snapshots are objects; anything else is refused.
SELECT audit.jsonb_diff('[1]', '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT audit.jsonb_diff('{}', '"texto"');
\echo :LAST_ERROR_SQLSTATE

-- jsonb_patch: RFC 6902 operations at any depth; arrays by position, their
-- tails removed from the end; member names escaped as JSON Pointer requires.
SELECT audit.jsonb_patch('{"a": {"b": 1, "c": 2}, "l": [1, 2, 3, 4], "x/y": 1, "m~n": 1}',
                         '{"a": {"b": 1, "c": 3, "d": {"e": null}}, "l": [1, 9], "x/y": 2, "m~n": 2, "nuevo": true}');
SELECT audit.jsonb_patch('[1]', '{"a": 1}') AS otro_tipo, audit.jsonb_patch('{"a": 1}', '{"a": 1}') AS igual;
SELECT audit.jsonb_patch(NULL, '{}') IS NULL AS estricto;

-- jsonb_aplicar_patch: the six operations.
SELECT audit.jsonb_aplicar_patch('{"foo": "bar", "lista": ["a", "c"], "obj": {"k": 1}}',
  '[{"op": "add", "path": "/baz", "value": "qux"},
    {"op": "add", "path": "/lista/1", "value": "b"},
    {"op": "add", "path": "/lista/-", "value": "d"},
    {"op": "remove", "path": "/foo"},
    {"op": "replace", "path": "/obj/k", "value": 2},
    {"op": "move", "from": "/obj/k", "path": "/k"},
    {"op": "copy", "from": "/lista", "path": "/copia"},
    {"op": "test", "path": "/k", "value": 2.0}]');
-- Members an operation does not use are ignored (RFC 6902 §4).
SELECT audit.jsonb_aplicar_patch('{}', '[{"op": "add", "path": "/a", "value": 1, "extra": true}]');
-- "~1" is "/" and "~0" is "~" in a path.
SELECT audit.jsonb_aplicar_patch('{"/": 9, "~1": 10}', '[{"op": "test", "path": "/~01", "value": 10}, {"op": "remove", "path": "/~1"}]');

-- The contract's law, over captured snapshots of many types: applying the
-- patch from a to b gives exactly b (the same text, not only equal jsonb).
CREATE TYPE par_jp AS (x numeric, y text[]);
CREATE TABLE snapshots_jp (id int PRIMARY KEY, n numeric, f float8, t text, ts timestamptz, b bytea,
                           p par_jp, j jsonb, a int[], r int4range);
SELECT audit.auditar('snapshots_jp');
INSERT INTO snapshots_jp
SELECT g, g * 1.10, g / 3.0, 'texto "' || g || E'" \\ ñ', '2026-01-01'::timestamptz + g * interval '1 hour',
       decode(md5(g::text), 'hex'), ROW(g * 0.5, ARRAY['a', NULL])::par_jp, jsonb_build_object('k', g, 'l', jsonb_build_array(g, 'x', NULL)),
       ARRAY[g, g + 1], int4range(g, g + 10)
  FROM generate_series(1, 20) g;
UPDATE snapshots_jp SET n = n * 2 WHERE id % 2 = 0;
UPDATE snapshots_jp SET j = j || '{"nuevo": {"profundo": [1, 2.50]}}', a = a[1:1], t = NULL WHERE id % 3 = 0;
UPDATE snapshots_jp SET p = ROW(NULL, ARRAY['b'])::par_jp, f = 'NaN', b = '' WHERE id % 5 = 0;
SELECT count(*) AS cambios,
       bool_and(audit.jsonb_aplicar_patch(datos_anteriores, audit.jsonb_patch(datos_anteriores, datos_nuevos))::text
                = datos_nuevos::text) AS ley_ida,
       bool_and(audit.jsonb_aplicar_patch(datos_nuevos, audit.jsonb_patch(datos_nuevos, datos_anteriores))::text
                = datos_anteriores::text) AS ley_vuelta,
       bool_and((SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(audit.jsonb_diff(datos_anteriores, datos_nuevos)) k)
                = (SELECT array_agg(c ORDER BY c) FROM unnest(campos_modificados) c)) AS diff_es_campos_modificados
  FROM audit.historial_cambios WHERE tabla_afectada = 'snapshots_jp' AND accion = 'UPDATE';
SELECT audit.dejar_de_auditar('snapshots_jp');
DROP TABLE snapshots_jp;
DROP TYPE par_jp;
-- And over documents with numbers written differently and deep nesting.
WITH docs(a, b) AS (VALUES
  ('{"n": 1.0, "m": [1, [2, [3]]], "s": "x"}'::jsonb, '{"n": 1.00, "m": [1, [2, [3, 4]]], "t": null}'::jsonb),
  ('[{"a": 1}, {"b": 2}, 3]', '[{"a": 1, "c": 0}]'),
  ('"texto"', '{"a": "b"}'),
  ('{"a": {"b": {"c": {"d": {"e": 1}}}}}', '{"a": {"b": {"c": {"d": {"e": 2, "f": [true]}}}}}'))
SELECT bool_and(audit.jsonb_aplicar_patch(a, audit.jsonb_patch(a, b))::text = b::text) AS ley FROM docs;

-- Failures name the operation (from 0) and leave nothing applied (22023).
SELECT audit.jsonb_aplicar_patch('{"precio": 10}', '[{"op": "replace", "path": "/precio", "value": 12}, {"op": "test", "path": "/precio", "value": 10}]');
\echo :LAST_ERROR_SQLSTATE
SELECT audit.jsonb_aplicar_patch('{"a": 1}', '[{"op": "remove", "path": "/b"}]');
\echo :LAST_ERROR_SQLSTATE
SELECT audit.jsonb_aplicar_patch('{"a": 1}', '[{"op": "replace", "path": "/b", "value": 1}]');
\echo :LAST_ERROR_SQLSTATE
SELECT audit.jsonb_aplicar_patch('{"foo": "bar"}', '[{"op": "add", "path": "/baz/bat", "value": "qux"}]');
\echo :LAST_ERROR_SQLSTATE
SELECT audit.jsonb_aplicar_patch('[1, 2]', '[{"op": "add", "path": "/5", "value": 0}]');
\echo :LAST_ERROR_SQLSTATE
SELECT audit.jsonb_aplicar_patch('{"a": 1}', '[{"op": "move", "from": "/x", "path": "/y"}]');
\echo :LAST_ERROR_SQLSTATE
SELECT audit.jsonb_aplicar_patch('{"a": {"b": 1}}', '[{"op": "move", "from": "/a", "path": "/a/b/c"}]');
\echo :LAST_ERROR_SQLSTATE
SELECT audit.jsonb_aplicar_patch('{"a": 1}', '[{"op": "copy", "from": "/x", "path": "/y"}]');
\echo :LAST_ERROR_SQLSTATE
SELECT audit.jsonb_aplicar_patch('{"a": 1}', '[{"op": "test", "path": "/a", "value": "1"}]');
\echo :LAST_ERROR_SQLSTATE
-- Malformed patches.
SELECT audit.jsonb_aplicar_patch('{}', '{"op": "add", "path": "/a", "value": 1}');
\echo :LAST_ERROR_SQLSTATE
SELECT audit.jsonb_aplicar_patch('{}', '[{"op": "add", "path": "/a", "value": 1}, {"op": "borrar", "path": "/a"}]');
\echo :LAST_ERROR_SQLSTATE
SELECT audit.jsonb_aplicar_patch('{}', '[{"op": "add", "path": "/a"}]');
\echo :LAST_ERROR_SQLSTATE
SELECT audit.jsonb_aplicar_patch('{}', '[{"op": "move", "path": "/a"}]');
\echo :LAST_ERROR_SQLSTATE
SELECT audit.jsonb_aplicar_patch('{}', '[{"op": "add", "path": "a", "value": 1}]');
\echo :LAST_ERROR_SQLSTATE
SELECT audit.jsonb_aplicar_patch('{}', '["add"]');
\echo :LAST_ERROR_SQLSTATE

-- Very deep documents get an error, not a crash (54000); 100 levels is fine.
SELECT audit.jsonb_patch((repeat('[', 100) || repeat(']', 100))::jsonb, '[]') IS NOT NULL AS cien_niveles;
SELECT audit.jsonb_diff('{}', ('{"a": ' || repeat('[', 1000) || repeat(']', 1000) || '}')::jsonb);
\echo :LAST_ERROR_SQLSTATE
SELECT audit.jsonb_patch((repeat('[', 5000) || repeat(']', 5000))::jsonb, '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT audit.jsonb_aplicar_patch('{}', ('[{"op": "add", "path": "/a", "value": ' || repeat('[', 500) || repeat(']', 500) || '}]')::jsonb);
\echo :LAST_ERROR_SQLSTATE
-- A patch cannot build what it could not read: copying a document into
-- itself deepens it by one level each time.
SELECT audit.jsonb_aplicar_patch('{"a": 1}', (SELECT jsonb_agg('{"op": "copy", "from": "", "path": "/a"}'::jsonb) FROM generate_series(1, 200)));
\echo :LAST_ERROR_SQLSTATE
