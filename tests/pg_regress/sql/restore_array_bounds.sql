-- Values to_jsonb cannot represent exactly: an array whose lower bounds are
-- not 1 (to_jsonb keeps its elements, not its bounds). The snapshot stays
-- to_jsonb's output; the event also keeps the value's text in
-- notas.valores_exactos, and every restore writes that back.
\set VERBOSITY terse
CREATE TYPE ab_par AS (etiqueta text, valores int[]);
CREATE DOMAIN ab_dominio AS int[];
CREATE TABLE ab_matrices (
    id int PRIMARY KEY,
    m int[],
    t text[],
    d ab_dominio,
    p ab_par,
    ps ab_par[],
    normal int[]);
SELECT audit.auditar('ab_matrices');
INSERT INTO ab_matrices VALUES
    (1, '[0:1][2:3]={{1,2},{3,4}}', '[-2:-1]={a,b}', '[5:5]={7}', ROW('x', '[0:0]={9}'), ARRAY[ROW('y', '[2:3]={1,2}')::ab_par], '{1,2}'),
    (2, '{1,2}', '{a}', '{1}', ROW('z', '{1}'), NULL, '[0:0]={0}');
SELECT clock_timestamp() AS antes \gset
-- What is recorded: the snapshot as to_jsonb renders it, and the exact text
-- of the values it does not render exactly (row 2 only its column normal).
SELECT registro_pk ->> 'id' AS id, datos_nuevos -> 'm' AS m_snapshot, notas -> 'valores_exactos' AS exactos
  FROM audit.historial_cambios WHERE tabla_afectada = 'ab_matrices' AND accion = 'INSERT' ORDER BY id;

-- Changed, then undone: every value is back exactly, bounds included.
CREATE TEMP TABLE ab_original AS SELECT * FROM ab_matrices;
UPDATE ab_matrices SET m = '{{0}}', t = '{z}', d = '{0}', p = ROW('cambiada', '{0}'), ps = NULL, normal = '{5}';
SELECT id AS ev_update FROM audit.historial_cambios WHERE tabla_afectada = 'ab_matrices' AND accion = 'UPDATE' AND registro_pk = '{"id": 1}' \gset
SELECT r -> 'aplicado' AS aplicado FROM audit.deshacer(:ev_update) r;
SELECT a.id, a.m = o.m AND array_lower(a.m, 1) = 0 AND array_lower(a.m, 2) = 2 AS m_exacta,
       a.t = o.t AND array_lower(a.t, 1) = -2 AS t_exacta, array_lower(a.d, 1) = 5 AS d_exacta,
       a.p::text = o.p::text AS p_exacta, a.ps::text = o.ps::text AS ps_exacta, a.normal = o.normal AS normal_igual
  FROM ab_matrices a JOIN ab_original o USING (id) WHERE id = 1;

-- Deleted, then undone, and a row put back as of a time.
DELETE FROM ab_matrices WHERE id = 1;
SELECT id AS ev_delete FROM audit.historial_cambios WHERE tabla_afectada = 'ab_matrices' AND accion = 'DELETE' \gset
SELECT r -> 'aplicado' AS aplicado FROM audit.deshacer(:ev_delete) r;
UPDATE ab_matrices SET normal = '{8}' WHERE id = 2;
SELECT r -> 'aplicado' AS aplicado
  FROM (SELECT DISTINCT registro_id FROM audit.historial_cambios WHERE tabla_afectada = 'ab_matrices' AND registro_pk = '{"id": 2}') h,
       audit.restaurar_registro('ab_matrices', h.registro_id, :'antes') r;
-- A module rolled back to a mark.
SELECT audit.crear_modulo('ab_modulo', ARRAY['ab_matrices']::regclass[]);
SELECT audit.crear_marca('ab_modulo', 'inicio') > 0 AS marca;
UPDATE ab_matrices SET m = '{1}', normal = '{1}';
SELECT r -> 'aplicado' AS aplicado FROM audit.revertir_modulo('ab_modulo', 'inicio') r;
SELECT a.id, a::text = o::text AS exactamente_igual, a.m::text, a.normal::text
  FROM ab_matrices a JOIN ab_original o USING (id) ORDER BY a.id;
-- A change of the bounds alone changes no element: the snapshots are equal,
-- the column is still reported changed, and undoing it restores the bounds.
UPDATE ab_matrices SET normal = '{0}' WHERE id = 2;
SELECT campos_modificados, datos_anteriores -> 'normal' AS antes, datos_nuevos -> 'normal' AS despues,
       notas -> 'valores_exactos' AS exactos
  FROM audit.historial_cambios WHERE tabla_afectada = 'ab_matrices' ORDER BY id DESC LIMIT 1;
SELECT max(id) AS ev_limites FROM audit.historial_cambios WHERE tabla_afectada = 'ab_matrices' \gset
SELECT r -> 'aplicado' AS aplicado FROM audit.deshacer(:ev_limites) r;
SELECT normal::text FROM ab_matrices WHERE id = 2;
