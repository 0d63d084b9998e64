-- A page filtered by metadata containment is planned along the partitions'
-- index of the events with metadata (crates/audit-model/src/filtros.rs,
-- CONTAINMENT): its pages must be exactly those of the plain containment,
-- from the newest, from a cursor and with other filters, with events
-- without metadata interleaved.
\set VERBOSITY terse
SELECT coalesce(max(id), 0) AS inicio FROM audit.historial_cambios \gset
-- 6,000 application events; every 97th names document 5 (62 of them),
-- interleaved with events without metadata.
CREATE TABLE mp_t (id int PRIMARY KEY, v int);
SELECT audit.auditar('mp_t');
DO $$
BEGIN
    FOR i IN 1..6000 LOOP
        PERFORM audit.registrar_evento('DOC', jsonb_build_object('doc', i % 97, 'i', i));
        IF i % 3 = 0 THEN
            INSERT INTO mp_t VALUES (i, i);
        END IF;
    END LOOP;
END
$$;
CREATE FUNCTION pg_temp.directa(contiene jsonb, limite int, antes bigint DEFAULT NULL, tipo text DEFAULT NULL)
RETURNS bigint[] LANGUAGE sql AS $$
    SELECT coalesce(array_agg(id ORDER BY id DESC), '{}') FROM (
        SELECT id FROM audit.historial_cambios
         WHERE id > (SELECT max(id) - 10000 FROM audit.historial_cambios)
           AND metadata @> contiene AND (antes IS NULL OR id < antes)
           AND (tipo IS NULL OR metadata ->> 'tipo_operacion' = tipo)
         ORDER BY id DESC LIMIT limite) s
$$;
CREATE FUNCTION pg_temp.pagina(filtros jsonb) RETURNS bigint[] LANGUAGE sql AS $$
    SELECT coalesce(array_agg(id ORDER BY id DESC), '{}') FROM audit.get_historial_cambios(filtros)
$$;
SELECT count(*) AS con_doc_5 FROM audit.historial_cambios WHERE id > :inicio AND metadata @> '{"doc": 5}';

-- 40 of them, among events without metadata.
SELECT pg_temp.pagina('{"metadata": {"doc": 5}, "limite": 40}') = pg_temp.directa('{"doc": 5}', 40) AS igual_40,
       cardinality(pg_temp.pagina('{"metadata": {"doc": 5}, "limite": 40}')) AS filas;
-- More than there are: all of them, and the end.
SELECT pg_temp.pagina('{"metadata": {"doc": 5}, "limite": 1000}') = pg_temp.directa('{"doc": 5}', 1000) AS igual_todas;
-- From a cursor in the middle, and with another filter.
SELECT (pg_temp.directa('{"doc": 5}', 30))[30] AS cursor \gset
SELECT pg_temp.pagina(jsonb_build_object('metadata', '{"doc": 5}'::jsonb, 'limite', 20, 'antes_de', :cursor))
       = pg_temp.directa('{"doc": 5}', 20, :cursor) AS igual_desde_cursor;
SELECT pg_temp.pagina('{"metadata": {"doc": 5}, "tipo_operacion": "DOC", "limite": 25}')
       = pg_temp.directa('{"doc": 5}', 25, NULL, 'DOC') AS igual_con_tipo;
-- Nothing matches: an empty page.
SELECT pg_temp.pagina('{"metadata": {"doc": 500}}') AS ninguna;

SELECT audit.dejar_de_auditar('mp_t');
DROP TABLE mp_t;
