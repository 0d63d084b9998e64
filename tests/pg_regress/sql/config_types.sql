-- Configuration types (docs/configuration.md): the four shipped types, their JSON
-- Schemas and secret fields, and audit.definir_tipo_config with every way a
-- definition is refused. Nothing is changed by a refused definition.
\set VERBOSITY terse
SELECT tipo, campos_secretos, esquema_json -> 'required' AS obligatorios, descripcion IS NOT NULL AS descrito
  FROM audit.tipos_config_predefinidos ORDER BY tipo;

-- A new type; NULL schema: any JSON object.
SELECT audit.definir_tipo_config('copias', '{"type": "object", "required": ["destino"],
    "properties": {"destino": {"type": "string"}, "clave": {"type": "string"}}}', '{clave,clave}', 'Backups');
SELECT audit.definir_tipo_config('libre');
SELECT tipo, origen, esquema_json IS NULL AS sin_esquema, campos_secretos, descripcion, definido_por
  FROM audit.tipos_config WHERE tipo IN ('copias', 'libre') ORDER BY tipo;

-- Redefining a shipped type: the installation's definition takes precedence.
-- A secret field cannot be dropped (saved versions hold its values).
SELECT audit.definir_tipo_config('ftp', '{"type": "object"}', '{token}', 'FTP, any shape');
SELECT tipo, origen, esquema_json, campos_secretos FROM audit.tipos_config WHERE tipo = 'ftp';
-- The shipped definition is still there, underneath (it is what CREATE
-- EXTENSION creates; the installation's own is what pg_dump saves).
SELECT tipo, esquema_json -> 'required' AS obligatorios FROM audit.tipos_config_predefinidos WHERE tipo = 'ftp';
SELECT tabla::text FROM (SELECT unnest(extconfig)::regclass AS tabla FROM pg_extension WHERE extname = 'audit') c
 WHERE tabla::text LIKE 'audit.%config%' ORDER BY 1;

-- Each definition is an application event in the log, with before and after.
SELECT accion, esquema, tabla_afectada, metadata ->> 'tipo_operacion' AS tipo_operacion,
       metadata -> 'tipo_config' ->> 'tipo' AS tipo, metadata -> 'tipo_config' -> 'antes' ->> 'origen' AS antes,
       metadata -> 'tipo_config' -> 'despues' -> 'campos_secretos' AS secretos
  FROM audit.historial_cambios WHERE metadata ->> 'tipo_operacion' = 'TIPO_CONFIG_DEFINIDO'
   AND metadata -> 'tipo_config' ->> 'tipo' IN ('copias', 'libre', 'ftp') ORDER BY id;

-- Bad input, each with its SQLSTATE; none changes anything.
SELECT audit.definir_tipo_config(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT audit.definir_tipo_config('SMTP');
\echo :LAST_ERROR_SQLSTATE
SELECT audit.definir_tipo_config('2fa');
\echo :LAST_ERROR_SQLSTATE
SELECT audit.definir_tipo_config(repeat('a', 64));
\echo :LAST_ERROR_SQLSTATE
-- Not a JSON object.
SELECT audit.definir_tipo_config('malo', '[]');
\echo :LAST_ERROR_SQLSTATE
SELECT audit.definir_tipo_config('malo', 'true');
\echo :LAST_ERROR_SQLSTATE
-- Not a valid JSON Schema: the path inside the schema and the rule.
SELECT audit.definir_tipo_config('malo', '{"type": 12}');
\echo :LAST_ERROR_SQLSTATE
SELECT audit.definir_tipo_config('malo', '{"properties": {"port": {"minimum": "uno"}}}');
\echo :LAST_ERROR_SQLSTATE
SELECT audit.definir_tipo_config('malo', '{"required": "host"}');
\echo :LAST_ERROR_SQLSTATE
-- Valid, but unusable: a pattern the linear-time engine refuses, a
-- reference outside the schema (nothing is ever fetched).
SELECT audit.definir_tipo_config('malo', '{"properties": {"a": {"pattern": "(("}}}');
\echo :LAST_ERROR_SQLSTATE
SELECT audit.definir_tipo_config('malo', '{"properties": {"a": {"pattern": "^(?!admin)"}}}');
\echo :LAST_ERROR_SQLSTATE
SELECT audit.definir_tipo_config('malo', '{"$ref": "https://example.com/esquema.json"}');
\echo :LAST_ERROR_SQLSTATE
SELECT audit.definir_tipo_config('malo', '{"$ref": "#/$defs/falta"}');
\echo :LAST_ERROR_SQLSTATE
-- Secret fields: NULL, a NULL element, an empty name.
SELECT audit.definir_tipo_config('malo', NULL, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT audit.definir_tipo_config('malo', NULL, ARRAY[NULL]::text[]);
\echo :LAST_ERROR_SQLSTATE
SELECT audit.definir_tipo_config('malo', NULL, '{""}');
\echo :LAST_ERROR_SQLSTATE
-- A schema larger than the 1 MiB limit.
SELECT audit.definir_tipo_config('malo', jsonb_build_object('description', repeat('x', 1048576)));
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS tipos_malos FROM audit.tipos_config WHERE tipo = 'malo';

-- Only SELECT on the view: the tables behind it are the extension's.
CREATE ROLE tipos_app NOLOGIN;
SET ROLE tipos_app;
SELECT count(*) AS tipos_visibles FROM audit.tipos_config WHERE tipo IN ('copias', 'libre', 'ftp', 'smtp');
SELECT audit.definir_tipo_config('intruso');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO audit.tipos_config_propios (tipo, campos_secretos, definido_por) VALUES ('intruso', '{}', 'x');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM audit.tipos_config_predefinidos;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
DROP ROLE tipos_app;
