-- Versioned configuration documents (docs/configuration.md): save, read, history,
-- compare, restore with preview and fallback; secrets masked everywhere
-- but config_actual; every save and restore in the log with the
-- transaction's context. Run as a superuser with a tenant (the admin
-- panel's view); access rules are in config_access.sql.
\set VERBOSITY terse
-- Version and technical-log ids appear in the output: fixed starting points.
-- In a database of its own: the ids printed below start where this file
-- sets them, whatever the other files wrote (each golden file stands alone).
\set db_comun :DBNAME
SET client_min_messages = warning;
DROP DATABASE IF EXISTS audit_regress_config_documents;
RESET client_min_messages;
CREATE DATABASE audit_regress_config_documents;
\c audit_regress_config_documents
CREATE EXTENSION audit;
SELECT setval('audit.config_versiones_id_seq', 100) IS NOT NULL AS ids_fijos,
       setval('audit.log_tecnico_id_seq', 5000000) IS NOT NULL AS log_fijo;
SELECT coalesce(max(id), 0) AS inicio FROM audit.historial_cambios \gset
SET audit.empresa_id = 'c0000000-0000-4000-8000-00000000000c';
SET audit.usuario_id = 'a0000000-0000-4000-8000-00000000000a';
SET audit.usuario_nombre = 'Ana Admin';
SELECT audit.definir_tipo_config('doc_libre');

-- Nothing saved yet: no active document.
SELECT audit.config_actual('smtp') IS NULL AS sin_version;

-- Save, with the reason in the transaction context.
BEGIN;
SELECT audit.establecer_contexto('{"motivo": "alta del servidor de correo"}');
SELECT audit.guardar_config('smtp', '{"host": "smtp.example.com", "port": 587, "remitente": "no-reply@example.com",
    "usuario": "app", "password": "hunter2", "tls": "starttls"}', 'inicial') AS v1;
COMMIT;
-- The same document again saves nothing and returns the active id.
SELECT audit.guardar_config('smtp', '{"host": "smtp.example.com", "port": 587, "remitente": "no-reply@example.com",
    "usuario": "app", "password": "hunter2", "tls": "starttls"}', 'otra vez') AS igual;
-- A change of host, port and password.
SELECT audit.guardar_config('smtp', '{"host": "mail.example.com", "port": 465, "remitente": "no-reply@example.com",
    "usuario": "app", "password": "s3cret", "tls": "tls"}', 'cambio de proveedor') AS v2;
-- Built on a version that is no longer active: refused (40001), nothing saved.
SELECT audit.guardar_config('smtp', '{"host": "otro.example.com", "port": 25, "remitente": "a@example.com"}',
    'formulario viejo', version_base => 101);
\echo :LAST_ERROR_SQLSTATE
-- Built on no version of this type the caller can see: one that never
-- existed (P0002, as another tenant's), or another type's (22023); a wrong
-- id, not a race worth retrying (40001).
SELECT audit.guardar_config('smtp', '{"host": "otro.example.com", "port": 25, "remitente": "a@example.com"}',
    'id inventado', version_base => 999999);
\echo :LAST_ERROR_SQLSTATE
SELECT audit.guardar_config('doc_libre', '{"limite": 0}', 'id de otro tipo', version_base => 102);
\echo :LAST_ERROR_SQLSTATE
-- What a failed restore's report names of a version: its type and the
-- active one; a version the caller cannot see is P0002.
SELECT audit._config_de_version(101) ->> 'tipo' AS tipo;
SELECT audit._config_de_version(999999);
\echo :LAST_ERROR_SQLSTATE
-- Built on the active version: saved.
SELECT audit.guardar_config('smtp', '{"host": "mail.example.com", "port": 465, "remitente": "alertas@example.com",
    "usuario": "app", "password": "s3cret", "tls": "tls"}', 'remitente', version_base => 102) AS v3;

-- Equal as jsonb but not the same text (1.0 and 1.00): saved, losslessly.
SELECT audit.guardar_config('doc_libre', '{"limite": 1.0}') AS l1, audit.guardar_config('doc_libre', '{"limite": 1.00}') AS l2,
       audit.config_actual('doc_libre') AS libre_actual;
-- The application's read: the active document as saved, secrets included.
SELECT audit.config_actual('smtp');
-- The history, newest first, secrets masked; who, when, why, what it replaced.
SELECT id_version, json_config, comentario, version_anterior, restaurada_desde, guardado_por, usuario_nombre,
       empresa_id, rol_bd, fecha_guardado IS NOT NULL AS con_fecha
  FROM audit.historial_config('smtp');
-- Compare an old version with the active one, and two given versions: a
-- changed password shows as changed, never its value.
SELECT audit.comparar_config(101);
SELECT audit.comparar_config(103, 101);
SELECT audit.comparar_config(103, 103);

-- Restore: preview first (nothing written), then apply.
SELECT audit.restaurar_config(101, simular => true);
SELECT id_version FROM audit.historial_config('smtp') LIMIT 1;
SELECT r -> 'aplicado' AS aplicado, r -> 'id_version' AS nueva, r -> 'version_activa' AS reemplaza, r -> 'error' AS error
  FROM audit.restaurar_config(101, comentario => 'volver al servidor anterior') r;
SELECT id_version, comentario, restaurada_desde, version_anterior FROM audit.historial_config('smtp') LIMIT 1;
SELECT audit.config_actual('smtp') = (SELECT json_config FROM audit.config_versiones WHERE id_version = 101) AS igual_a_101;
-- Restoring the active document again: nothing to do, said so.
SELECT r -> 'aplicado' AS aplicado, r -> 'id_version' AS activa, r -> 'advertencias' AS advertencias
  FROM audit.restaurar_config(101) r;

-- The log: each save and the restore, secrets masked, with the context.
SELECT accion, esquema, tabla_afectada, registro_pk, datos_nuevos -> 'json_config' ->> 'password' AS password,
       datos_nuevos ->> 'comentario' AS comentario, metadata ->> 'tipo_operacion' AS tipo_operacion,
       metadata -> 'config' AS config, metadata -> 'restauracion' AS restauracion, metadata ->> 'motivo' AS motivo,
       usuario_nombre, empresa_id
  FROM audit.historial_cambios
 WHERE id > :inicio AND tabla_afectada = 'config_versiones' AND datos_nuevos ->> 'tipo' = 'smtp' ORDER BY id;
-- No secret value anywhere in the log.
SELECT count(*) AS secretos_en_el_log FROM audit.historial_cambios
 WHERE id > :inicio AND (datos_nuevos::text LIKE '%hunter2%' OR datos_nuevos::text LIKE '%s3cret%');

-- The schema changes; an old version no longer satisfies it. Restoring it
-- falls back: a report, a WARNING, a technical-log row; the active version stays.
SELECT audit.definir_tipo_config('smtp', '{"type": "object", "required": ["host", "port", "remitente", "tls"],
    "properties": {"port": {"type": "integer", "minimum": 1, "maximum": 65535}, "tls": {"enum": ["tls"]}}}', '{password}');
SELECT id_version AS activa_antes FROM audit.historial_config('smtp') LIMIT 1 \gset
SELECT audit.restaurar_config(101);
SELECT id_version = :activa_antes AS activa_igual FROM audit.historial_config('smtp') LIMIT 1;
SELECT id, nivel, categoria, mensaje, detalle -> 'error' ->> 'sqlstate' AS sqlstate,
       detalle ->> 'id_version_restaurada' AS version, usuario_id, empresa_id
  FROM audit.log_tecnico WHERE id > 5000000 ORDER BY id;
-- Its preview says the same, and writes nothing (no technical-log row).
SELECT r -> 'aplicado' AS aplicado, r -> 'simulado' AS simulado, r -> 'error' ->> 'mensaje' AS mensaje
  FROM audit.restaurar_config(101, simular => true) r;
SELECT count(*) AS filas_log_tecnico FROM audit.log_tecnico WHERE id > 5000000;
-- estricto: the error itself, in the caller's transaction.
SELECT audit.restaurar_config(101, estricto => true);
\echo :LAST_ERROR_SQLSTATE
-- A new document must satisfy the new schema.
SELECT audit.guardar_config('smtp', '{"host": "h", "port": 25, "remitente": "a@example.com", "tls": "starttls"}');
\echo :LAST_ERROR_SQLSTATE

-- Bad input, each with its SQLSTATE; none saves anything.
SELECT count(*) AS versiones_antes FROM audit.config_versiones \gset
SELECT audit.guardar_config(NULL, '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT audit.guardar_config('smtp', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT audit.guardar_config('no_existe', '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT audit.guardar_config('doc_libre', '[1, 2]');
\echo :LAST_ERROR_SQLSTATE
SELECT audit.guardar_config('doc_libre', '"texto"');
\echo :LAST_ERROR_SQLSTATE
SELECT audit.guardar_config('doc_libre', jsonb_build_object('datos', repeat('x', 1048576)));
\echo :LAST_ERROR_SQLSTATE
-- Every violation is listed (path, problem, rule); values are never repeated.
\set VERBOSITY default
SELECT audit.guardar_config('mantenimiento', '{"activo": "si", "copias": {"hora": "25:00", "retencion_dias": 0,
    "clave_cifrado": 42}, "ips_permitidas": ["10.0.0.1", "no-es-ip"], "extra": 1}');
\set VERBOSITY terse
SELECT audit.config_actual('no_existe');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM audit.historial_config('no_existe');
\echo :LAST_ERROR_SQLSTATE
SELECT audit.comparar_config(999999);
\echo :LAST_ERROR_SQLSTATE
SELECT audit.comparar_config(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT audit.comparar_config(101, (SELECT max(id_version) FROM audit.config_versiones WHERE tipo = 'doc_libre'));
\echo :LAST_ERROR_SQLSTATE
SELECT audit.restaurar_config(999999);
\echo :LAST_ERROR_SQLSTATE
SELECT audit.restaurar_config(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT audit.restaurar_config(101, simular => NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) = :versiones_antes AS nada_guardado FROM audit.config_versiones;

-- Versions are never changed or removed, by anyone.
UPDATE audit.config_versiones SET comentario = 'x' WHERE id_version = 101;
\echo :LAST_ERROR_SQLSTATE
DELETE FROM audit.config_versiones WHERE id_version = 101;
\echo :LAST_ERROR_SQLSTATE
TRUNCATE audit.config_versiones CASCADE;
\echo :LAST_ERROR_SQLSTATE
RESET audit.empresa_id;
RESET audit.usuario_id;
RESET audit.usuario_nombre;
\c :db_comun
DROP DATABASE audit_regress_config_documents;
