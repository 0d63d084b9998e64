-- Snapshots are rendered with fixed output settings (UTC, ISO dates,
-- `postgres` intervals, hex bytea, shortest exact floats), whoever wrote
-- them. The restores compare them with the rows as they are now, and must
-- render those the same way whatever the caller's own settings: else every
-- timestamptz, interval or bytea column looks changed since the event.
\set VERBOSITY terse
CREATE TABLE ss_filas (
    id int PRIMARY KEY,
    cuando timestamptz,
    plazo interval,
    datos bytea,
    medida float8,
    dia date,
    txt text);
CREATE TABLE ss_claves (k timestamptz PRIMARY KEY, v text);
SELECT audit.auditar('ss_filas'), audit.auditar('ss_claves');
SELECT audit.crear_modulo('ss_modulo', ARRAY['ss_filas', 'ss_claves']::regclass[]);
INSERT INTO ss_filas VALUES
    (1, '2024-05-01 10:00+02', '1 day 02:00', '\x0001ff', 0.1, '2024-02-29', 'a'),
    (2, '2024-06-01 00:00+00', '-3 mons', '\xdeadbeef', 1e-300, '1999-12-31', 'b');
INSERT INTO ss_claves VALUES ('2024-01-01 00:00+00', 'x'), ('2024-02-01 00:00+00', 'y');
CREATE TEMP TABLE ss_original AS SELECT * FROM ss_filas;
SELECT audit.crear_marca('ss_modulo', 'antes') IS NOT NULL AS marcada;
SELECT clock_timestamp() AS antes \gset
UPDATE ss_filas SET txt = 'a2' WHERE id = 1;
UPDATE ss_claves SET v = 'x2' WHERE k = '2024-01-01 00:00+00';
SELECT max(id) AS ev FROM audit.historial_cambios WHERE tabla_afectada = 'ss_filas' \gset

-- The caller's settings, all unlike the snapshots'.
SET TimeZone = 'Asia/Kolkata';
SET IntervalStyle = 'iso_8601';
SET bytea_output = 'escape';
SET extra_float_digits = -3;
SET DateStyle = 'SQL, DMY';

-- The row is as the event left it: no conflict, in the preview and for real.
SELECT r -> 'error' AS error, r -> 'cambios' -> 0 -> 'despues' ->> 'txt' AS txt
  FROM audit.deshacer(:ev, simular => true) r;
SELECT r -> 'aplicado' AS aplicado FROM audit.deshacer(:ev) r;
SELECT count(*) AS iguales_al_original
  FROM ss_filas f JOIN ss_original o USING (id)
 WHERE f::text = o::text;

-- As of before the changes: each row once, each value as the snapshots
-- render it.
SELECT e FROM audit.estado_en('ss_claves', :'antes') e ORDER BY e ->> 'k';
SELECT e ->> 'cuando' AS cuando, e ->> 'plazo' AS plazo, e ->> 'datos' AS datos, e ->> 'dia' AS dia
  FROM audit.estado_en('ss_filas', :'antes') e ORDER BY e ->> 'id';

-- A row's id from its key is the capture's, whatever the caller's
-- settings (a value without an offset is read in the caller's zone), also
-- for a key column named k.
SELECT audit.registro_id('ss_claves', '{"k": "2024-01-01T00:00:00+00:00"}') = registro_id AS mismo_id,
       audit.registro_id('ss_claves', '{"k": "2024-01-01 05:30:00"}') = registro_id AS en_la_zona_del_llamante
  FROM audit.historial_cambios
 WHERE tabla_afectada = 'ss_claves' AND accion = 'INSERT' AND registro_pk = '{"k": "2024-01-01T00:00:00+00:00"}';
-- That row put back as of before its change: its value only.
SELECT r -> 'error' AS error, r -> 'cambios' AS cambios
  FROM audit.restaurar_registro('ss_claves',
                                audit.registro_id('ss_claves', '{"k": "2024-01-01T00:00:00+00:00"}'),
                                :'antes', simular => true) r;
UPDATE ss_filas SET txt = 'a3' WHERE id = 1;
-- Back to the mark: one row of each table changed since, and only those.
SELECT c ->> 'tabla' AS tabla, c -> 'actualizadas' AS actualizadas, c -> 'insertadas' AS insertadas,
       c -> 'eliminadas' AS eliminadas
  FROM audit.revertir_modulo('ss_modulo', 'antes') r, jsonb_array_elements(r -> 'cambios') c
 ORDER BY 1;
SELECT count(*) AS iguales_al_original
  FROM ss_filas f JOIN ss_original o USING (id)
 WHERE f::text = o::text;
SELECT k, v FROM ss_claves ORDER BY k;
RESET TimeZone;
RESET IntervalStyle;
RESET bytea_output;
RESET extra_float_digits;
RESET DateStyle;
