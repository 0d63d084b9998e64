-- Work that grows with what a caller sends, beyond what a size limit
-- bounds, stops at statement_timeout (or a cancel) like any statement
-- (crates/audit-model/src/interrupcion.rs): a document checked against a
-- recursive schema whose oneOf branches both recurse (each level doubles
-- the work: 40 levels would take years), and a patch of many operations on
-- a large array (their product). Before, neither could be stopped except by
-- killing the backend, which restarts the whole server.
\set VERBOSITY terse
SET audit.empresa_id = 'c0000000-0000-4000-8000-00000000000c';
SET audit.usuario_id = 'a0000000-0000-4000-8000-00000000000a';
SELECT audit.definir_tipo_config('menu_largo', '{"type": "object", "properties": {"menu": {"$ref": "#/$defs/item"}},
  "$defs": {"item": {"oneOf": [
     {"type": "object", "required": ["url"], "properties": {"url": {"type": "string"}, "hijos": {"type": "array", "items": {"$ref": "#/$defs/item"}}}},
     {"type": "object", "required": ["hijos"], "properties": {"hijos": {"type": "array", "items": {"$ref": "#/$defs/item"}}}}]}}}');
SET statement_timeout = '500ms';
SELECT audit.guardar_config('menu_largo', jsonb_build_object('menu',
         (repeat('{"url": "u", "hijos": [', 40) || '{"url": "u"}' || repeat(']}', 40))::jsonb));
\echo :LAST_ERROR_SQLSTATE
SELECT pg_catalog.jsonb_array_length(audit.jsonb_aplicar_patch(
         (SELECT jsonb_agg(g) FROM generate_series(1, 200000) g),
         (SELECT jsonb_agg(jsonb_build_object('op', 'remove', 'path', '/0')) FROM generate_series(1, 200000))));
\echo :LAST_ERROR_SQLSTATE
RESET statement_timeout;
-- Nothing was saved, and the same calls on small input work.
SELECT count(*) AS guardadas FROM audit.historial_config('menu_largo');
SELECT audit.guardar_config('menu_largo', '{"menu": {"hijos": [{"url": "v"}, {"hijos": []}]}}') IS NOT NULL AS guardada;
SELECT audit.jsonb_aplicar_patch('[1, 2, 3]', '[{"op": "remove", "path": "/0"}]') AS parcheado;
RESET audit.empresa_id;
RESET audit.usuario_id;
