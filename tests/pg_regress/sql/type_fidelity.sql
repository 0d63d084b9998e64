-- Snapshots are PostgreSQL's own to_jsonb of the row: nothing lost or
-- rounded, whatever the session's output settings.
CREATE TYPE estado AS ENUM ('borrador', 'publicado');
CREATE DOMAIN precio_positivo AS numeric(14,4) CHECK (VALUE >= 0);
CREATE TYPE direccion AS (calle text, numero int, coordenadas float8[]);
CREATE TABLE tipos (
    id int PRIMARY KEY,
    n numeric, f8 float8, f4 real, i8 bigint,
    ts timestamptz, d date, t time, iv interval,
    b bytea, arr int[], arr2 text[][], e estado, dom precio_positivo, dir direccion,
    j jsonb, js json, u uuid, ip inet, rango tstzrange, ok boolean, txt text
);
SELECT audit.auditar('tipos');

-- Settings that change how values print: the snapshot does not follow them.
SET TimeZone = 'America/Bogota';
SET extra_float_digits = -3;
SET IntervalStyle = 'iso_8601';
SET bytea_output = 'escape';
SET DateStyle = 'SQL, DMY';
INSERT INTO tipos VALUES
  (1, 123456789012345678901234567890.123456789012345678901234567890, 0.1, 3.14159, 9223372036854775807,
   '2026-03-01 10:30:00.123456-05', '2026-03-01', '23:59:59.999999', '1 year 2 months 3 days 04:05:06.789',
   '\x00ff10'::bytea, '{1,NULL,3}', '{{"a","b"},{"c",NULL}}', 'publicado', 1234.5, ROW('Av. Siempre Viva', 742, '{4.5,-74.1}'),
   '{"a": [1, 2.50, {"b": null}], "big": 1e30}', '{"keep": "as  is",  "dup": 1, "dup": 2}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
   '192.168.0.1/24', '[2026-01-01 00:00:00+00,2026-02-01 00:00:00+00)', true, 'ñandú ☃ 🐘'),
  (2, 'NaN', 'NaN', '-Infinity', 0, 'infinity', '-infinity', '00:00', '-1 day', '', '{}', '{}', 'borrador', 0, ROW(NULL, NULL, NULL),
   'null', 'null', NULL, NULL, 'empty', false, ''),
  (3, 'Infinity', '-0', 'Infinity', -1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
RESET TimeZone; RESET extra_float_digits; RESET IntervalStyle; RESET bytea_output; RESET DateStyle;

\x on
SELECT registro_pk, datos_nuevos FROM audit.historial_cambios WHERE tabla_afectada = 'tipos' AND accion = 'INSERT' ORDER BY id;
\x off

-- Back from the snapshot, column by column (as text, which shows every
-- digit). Everything comes back except what to_jsonb itself cannot keep
-- (docs/capture.md): the json column (2 was JSON null, 1 had duplicate keys
-- and spacing), the jsonb JSON null of row 2 (read back as SQL NULL), and
-- the negative zero of row 3.
\x on
SELECT t.id,
       r.n::text IS NOT DISTINCT FROM t.n::text AS n, r.f8::text IS NOT DISTINCT FROM t.f8::text AS f8,
       r.f4::text IS NOT DISTINCT FROM t.f4::text AS f4, r.i8::text IS NOT DISTINCT FROM t.i8::text AS i8,
       r.ts::text IS NOT DISTINCT FROM t.ts::text AS ts, r.d::text IS NOT DISTINCT FROM t.d::text AS d,
       r.t::text IS NOT DISTINCT FROM t.t::text AS t, r.iv::text IS NOT DISTINCT FROM t.iv::text AS iv,
       r.b::text IS NOT DISTINCT FROM t.b::text AS b, r.arr::text IS NOT DISTINCT FROM t.arr::text AS arr,
       r.arr2::text IS NOT DISTINCT FROM t.arr2::text AS arr2, r.e::text IS NOT DISTINCT FROM t.e::text AS e,
       r.dom::text IS NOT DISTINCT FROM t.dom::text AS dom, r.dir::text IS NOT DISTINCT FROM t.dir::text AS dir,
       r.j::text IS NOT DISTINCT FROM t.j::text AS j, r.js::text IS NOT DISTINCT FROM t.js::text AS js,
       r.u::text IS NOT DISTINCT FROM t.u::text AS u, r.ip::text IS NOT DISTINCT FROM t.ip::text AS ip,
       r.rango::text IS NOT DISTINCT FROM t.rango::text AS rango, r.ok::text IS NOT DISTINCT FROM t.ok::text AS ok,
       r.txt::text IS NOT DISTINCT FROM t.txt::text AS txt
  FROM tipos t
  JOIN audit.historial_cambios h
    ON h.tabla_afectada = 'tipos' AND h.accion = 'INSERT' AND (h.registro_pk->>'id')::int = t.id
 CROSS JOIN LATERAL jsonb_populate_record(NULL::tipos, h.datos_nuevos) r
 ORDER BY t.id;
\x off

-- A large TOASTed value is kept whole, and an UPDATE that leaves it alone
-- does not list it (the comparison never needs to detoast it).
INSERT INTO tipos (id, txt) VALUES (4, repeat('abcdefghij', 200000));
UPDATE tipos SET ok = true WHERE id = 4;
SELECT accion, length(datos_nuevos->>'txt') AS largo, md5(datos_nuevos->>'txt') = md5(repeat('abcdefghij', 200000)) AS identico,
       campos_modificados
  FROM audit.historial_cambios WHERE tabla_afectada = 'tipos' AND registro_pk = '{"id": 4}' ORDER BY id;
-- Setting it to an equal value (a new TOAST pointer) is not a change either.
UPDATE tipos SET txt = repeat('abcdefghij', 200000) WHERE id = 4;
SELECT count(*) AS actualizaciones FROM audit.historial_cambios WHERE tabla_afectada = 'tipos' AND registro_pk = '{"id": 4}' AND accion = 'UPDATE';

-- numeric 1.0 and 1.00 are different stored values (and print differently).
UPDATE tipos SET n = 1.0 WHERE id = 2;
UPDATE tipos SET n = 1.00 WHERE id = 2;
SELECT campos_modificados, datos_anteriores->'n' AS antes, datos_nuevos->'n' AS despues
  FROM audit.historial_cambios WHERE tabla_afectada = 'tipos' AND registro_pk = '{"id": 2}' AND accion = 'UPDATE' ORDER BY id;

DROP TABLE tipos;
DROP TYPE direccion;
DROP DOMAIN precio_positivo;
DROP TYPE estado;
