-- audit.registrar_evento: application events with rich metadata, as the
-- document operations of seed 001 record them.
-- Only this file's events are looked at (the log is shared by all tests).
SELECT coalesce(max(id), 0) AS inicio FROM audit.historial_cambios \gset
CREATE TABLE documentos_proyecto (id uuid PRIMARY KEY, titulo text, version int, estado text);
INSERT INTO documentos_proyecto VALUES ('d0000000-0000-0000-0000-000000000456', 'Plano', 1, 'valida');

BEGIN;
SET LOCAL request.jwt.claims = '{"sub": "a0000000-0000-0000-0000-000000000789", "email": "admin@constructora.example", "app_metadata": {"empresa_id": "e0000000-0000-0000-0000-000000000001"}}';
SELECT audit.establecer_contexto('{"motivo": "Corrección de error en plano", "proyecto_id": "proyecto-123"}');
SELECT audit.registrar_evento('REEMPLAZO_ARCHIVO', '{
  "motivo_reemplazo": "Corrección de error en plano",
  "archivo_original": {"nombre": "plano-v1.pdf", "tamano_bytes": 2048576, "tamano_mb": "1.95", "tipo_mime": "application/pdf",
                       "backup_path": "proyecto-123/backups/doc-456_backup_1699123456_plano-v1.pdf"},
  "archivo_nuevo": {"nombre": "plano-v1-corregido.pdf", "tamano_bytes": 2156432, "tamano_mb": "2.06", "tipo_mime": "application/pdf"},
  "tiempo": {"fecha_creacion_documento": "2025-11-15T10:00:00Z", "fecha_reemplazo": "2025-11-15T14:30:00Z", "horas_transcurridas": 4, "ventana_48h_cumplida": true},
  "comparacion": {"diferencia_bytes": 107856, "diferencia_mb": "0.10", "porcentaje_cambio": "5.27"}
}', 'documentos_proyecto', 'd0000000-0000-0000-0000-000000000456') > 0 AS registrado;
SELECT audit.registrar_evento('MARCAR_VERSION_ERRONEA', '{"motivo_cambio": "Datos incorrectos en sección 3",
  "documento": {"id": "doc-123", "titulo": "Licencia de Construcción", "version": 2, "estado_anterior": "valida", "estado_nuevo": "erronea", "es_version_actual": false},
  "version_correcta": {"id": "doc-456", "vinculacion": "Esta versión errónea es corregida por la versión indicada"}}', 'documentos_proyecto') > 0 AS registrado;
SELECT audit.registrar_evento('MARCAR_VERSION_OBSOLETA', '{"motivo_cambio": "Reemplazada por versión 4", "razon_obsolescencia": "Reemplazada por versión 4 con actualizaciones"}') > 0 AS registrado;
-- The event type cannot be overridden by the metadata.
SELECT audit.registrar_evento('RESTAURAR_ESTADO_VERSION', '{"tipo_operacion": "OTRA_COSA", "restauracion": {"desde_estado": "erronea", "razon": "Restauración manual"}}') > 0 AS registrado;
COMMIT;

SELECT accion, usuario_id, usuario_nombre, empresa_id, esquema, tabla_afectada, registro_id,
       datos_anteriores IS NULL AND datos_nuevos IS NULL AS sin_fila, metadata->>'tipo_operacion' AS tipo,
       metadata->>'motivo' AS motivo_contexto
  FROM audit.historial_cambios WHERE accion = 'EVENTO' AND id > :inicio ORDER BY id;
-- Nested metadata is kept as given (numbers, strings, booleans, objects).
SELECT metadata FROM audit.historial_cambios
 WHERE accion = 'EVENTO' AND id > :inicio AND metadata->>'tipo_operacion' = 'REEMPLAZO_ARCHIVO';
-- Events can be found by their metadata.
SELECT count(*) FROM audit.historial_cambios
 WHERE id > :inicio AND metadata @> '{"documento": {"estado_nuevo": "erronea"}}';
-- The returned id is the event's id.
SELECT audit.registrar_evento('PRUEBA') AS nuevo_id \gset
SELECT accion, metadata FROM audit.historial_cambios WHERE id = :nuevo_id;

-- Bad input.
SELECT audit.registrar_evento(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT audit.registrar_evento('  ');
\echo :LAST_ERROR_SQLSTATE
SELECT audit.registrar_evento('X', '[1, 2]');
\echo :LAST_ERROR_SQLSTATE
SELECT audit.registrar_evento('X', 'null');
\echo :LAST_ERROR_SQLSTATE
SELECT audit.registrar_evento('X', '{}', 'tabla_que_no_existe');
\echo :LAST_ERROR_SQLSTATE
SELECT audit.registrar_evento('X', '{}', 4294967295::oid::regclass);
\echo :LAST_ERROR_SQLSTATE
BEGIN READ ONLY;
SELECT audit.registrar_evento('X');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
SELECT count(*) AS eventos_x FROM audit.historial_cambios WHERE id > :inicio AND metadata->>'tipo_operacion' = 'X';
DROP TABLE documentos_proyecto;
