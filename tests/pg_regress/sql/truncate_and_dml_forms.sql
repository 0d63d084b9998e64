-- TRUNCATE, TRUNCATE ... CASCADE, upserts, MERGE, COPY and savepoints.
CREATE TABLE padres (id int PRIMARY KEY, nombre text);
CREATE TABLE hijos (id int PRIMARY KEY, padre int REFERENCES padres, nota text);
SELECT audit.auditar('padres');
SELECT audit.auditar('hijos');

INSERT INTO padres VALUES (1, 'uno');
-- INSERT ... ON CONFLICT DO UPDATE is recorded as the UPDATE it is;
-- DO NOTHING records nothing.
INSERT INTO padres VALUES (1, 'uno bis') ON CONFLICT (id) DO UPDATE SET nombre = EXCLUDED.nombre;
INSERT INTO padres VALUES (1, 'ignorado') ON CONFLICT DO NOTHING;
-- MERGE: one event per action.
MERGE INTO padres p USING (VALUES (1, 'uno ter'), (2, 'dos')) AS v(id, nombre) ON p.id = v.id
 WHEN MATCHED THEN UPDATE SET nombre = v.nombre
 WHEN NOT MATCHED THEN INSERT VALUES (v.id, v.nombre);
-- COPY fires the row trigger like INSERT.
COPY hijos FROM STDIN;
10	1	a
11	2	b
\.
-- A rolled-back savepoint takes its events with it.
BEGIN;
INSERT INTO padres VALUES (3, 'tres');
SAVEPOINT s;
INSERT INTO padres VALUES (4, 'cuatro');
ROLLBACK TO SAVEPOINT s;
COMMIT;
SELECT accion, tabla_afectada, registro_pk, campos_modificados FROM audit.historial_cambios
 WHERE tabla_afectada IN ('padres', 'hijos') AND accion <> 'DDL' ORDER BY id;

-- TRUNCATE ... CASCADE: one event for each audited table it empties.
TRUNCATE padres CASCADE;
SELECT accion, tabla_afectada, registro_id, datos_anteriores FROM audit.historial_cambios
 WHERE accion = 'TRUNCATE' AND tabla_afectada IN ('padres', 'hijos') ORDER BY tabla_afectada;
DROP TABLE hijos, padres;
