-- Restores work whatever the user's column names are: here the key and the
-- other columns are named after every alias and internal identifier of the
-- restores' own SQL (d, s, w, e, i, k, c, n, a, imagen, value, clave, tabla,
-- columnas, ...), which would make an unqualified reference ambiguous (42702).
\set VERBOSITY terse
CREATE TABLE cn_nombres (
    d int, s text,
    w text, e text, i int, k text, c text, n numeric, a text, t text, ev text, p text, r text,
    imagen text, value text, clave text, tabla text, columnas text, informe text, fila text,
    PRIMARY KEY (d, s));
SELECT audit.auditar('cn_nombres');
INSERT INTO cn_nombres (d, s, w, e, i, imagen, value, clave)
VALUES (1, 'uno', 'w1', 'e1', 10, 'img1', 'v1', 'c1'),
       (2, 'dos', 'w2', 'e2', 20, 'img2', 'v2', 'c2'),
       (3, 'tres', 'w3', 'e3', 30, 'img3', 'v3', 'c3');
SELECT clock_timestamp() AS antes_de_cambiar \gset
UPDATE cn_nombres SET w = 'W1', i = 11, value = 'V1' WHERE d = 1;
DELETE FROM cn_nombres WHERE d = 2;
INSERT INTO cn_nombres (d, s, w) VALUES (4, 'cuatro', 'w4');
SELECT id AS ev_update FROM audit.historial_cambios WHERE tabla_afectada = 'cn_nombres' AND accion = 'UPDATE' \gset
SELECT id AS ev_delete FROM audit.historial_cambios WHERE tabla_afectada = 'cn_nombres' AND accion = 'DELETE' \gset
SELECT id AS ev_insert FROM audit.historial_cambios WHERE tabla_afectada = 'cn_nombres' AND accion = 'INSERT' AND registro_pk = '{"d": 4, "s": "cuatro"}' \gset

-- The table as it was, from the log.
SELECT e->>'d' AS d, e->>'w' AS w, e->>'value' AS value
  FROM audit.estado_en('cn_nombres', :'antes_de_cambiar') e ORDER BY 1;

-- deshacer: preview and apply, for each kind of event.
SELECT r->'aplicado' AS aplicado, r->'error' AS error FROM audit.deshacer(:ev_update, simular => true) r;
SELECT r->'aplicado' AS aplicado, r->'error' AS error FROM audit.deshacer(:ev_update) r;
SELECT r->'aplicado' AS aplicado, r->'error' AS error FROM audit.deshacer(:ev_delete) r;
SELECT r->'aplicado' AS aplicado, r->'error' AS error FROM audit.deshacer(:ev_insert) r;
SELECT d, s, w, e, i, imagen, value, clave FROM cn_nombres ORDER BY d;

-- restaurar_registro and a module rolled back to its mark.
UPDATE cn_nombres SET imagen = 'cambiada' WHERE d = 3;
SELECT r->'aplicado' AS aplicado, r->'error' AS error
  FROM (SELECT DISTINCT registro_id FROM audit.historial_cambios
         WHERE tabla_afectada = 'cn_nombres' AND registro_pk = '{"d": 3, "s": "tres"}') h,
       audit.restaurar_registro('cn_nombres', h.registro_id, :'antes_de_cambiar') r;
SELECT audit.crear_modulo('cn_modulo', ARRAY['cn_nombres']::regclass[]);
SELECT audit.crear_marca('cn_modulo', 'inicio') > 0 AS marca;
UPDATE cn_nombres SET e = 'E', clave = 'K' WHERE d = 1;
DELETE FROM cn_nombres WHERE d = 3;
INSERT INTO cn_nombres (d, s) VALUES (5, 'cinco');
SELECT r->'aplicado' AS aplicado, r->'error' AS error FROM audit.revertir_modulo('cn_modulo', 'inicio', simular => true) r;
SELECT r->'aplicado' AS aplicado, r->'error' AS error FROM audit.revertir_modulo('cn_modulo', 'inicio') r;
SELECT d, s, w, e, i, imagen, value, clave FROM cn_nombres ORDER BY d;
