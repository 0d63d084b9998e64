-- What the reference console (console/, served by `make demo`) needs beyond
-- the scenario: the API's role may use the configuration functions (revoked
-- from PUBLIC, docs/configuration.md), and a configuration type whose schema
-- became stricter after a version was saved, so that restoring that version
-- shows the validation error next to its field.
\set ON_ERROR_STOP on
GRANT EXECUTE ON FUNCTION audit.config_actual(text), audit.historial_config(text),
      audit.comparar_config(bigint, bigint), audit.restaurar_config(bigint, boolean, boolean, text)
   TO authenticated;

SET audit.empresa_id = 'e0000000-0000-4000-8000-00000000000a';
SET audit.usuario_nombre = 'Administradora';
SELECT audit.definir_tipo_config('avisos',
    '{"type": "object", "properties": {"dias": {"type": "integer"}, "canal": {"type": "string"}}}',
    descripcion => 'Avisos de vencimiento');
SELECT audit.guardar_config('avisos', '{"dias": 30, "canal": "email"}', 'un mes de margen');
SELECT audit.guardar_config('avisos', '{"dias": 7, "canal": "email"}', 'una semana');
-- Later, the application allows at most two weeks: the first version can no
-- longer be restored.
SELECT audit.definir_tipo_config('avisos',
    '{"type": "object", "required": ["dias", "canal"],
      "properties": {"dias": {"type": "integer", "maximum": 14}, "canal": {"enum": ["email", "sms"]}}}',
    descripcion => 'Avisos de vencimiento');
RESET audit.empresa_id;
RESET audit.usuario_nombre;
