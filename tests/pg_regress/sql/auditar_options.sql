-- audit.auditar(tabla, opciones): options, idempotency, replacement, and
-- every bad input with its SQLSTATE. audit.dejar_de_auditar.
CREATE TABLE clientes (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant uuid NOT NULL,
    empresa_id text,
    nombre text,
    password_hash text,
    ultimo_acceso timestamptz
);

SELECT audit.auditar('clientes', '{"excluir_columnas": ["password_hash", "ultimo_acceso"], "columna_empresa": "tenant"}');
SELECT tabla, excluir_columnas, columna_empresa, capturar_truncate, columnas_clave, triggers, captura_activa, opciones
  FROM audit.tablas_auditadas WHERE tabla = 'clientes'::regclass;

INSERT INTO clientes (tenant, nombre, password_hash, ultimo_acceso)
VALUES ('e0000000-0000-0000-0000-000000000002', 'Ana', 'secreto', now());
-- Only excluded columns change: not recorded.
UPDATE clientes SET password_hash = 'otro', ultimo_acceso = now();
-- An excluded column changes along with another: recorded, without it.
UPDATE clientes SET nombre = 'Ana María', password_hash = 'tercero';
SELECT accion, datos_anteriores, datos_nuevos, campos_modificados, empresa_id
  FROM audit.historial_cambios WHERE tabla_afectada = 'clientes' AND accion <> 'DDL' ORDER BY id;

-- Calling again replaces the options (idempotent): defaults where not given.
SELECT audit.auditar('clientes');
SELECT audit.auditar('clientes');
SELECT excluir_columnas, columna_empresa, triggers FROM audit.tablas_auditadas WHERE tabla = 'clientes'::regclass;
UPDATE clientes SET password_hash = 'cuarto';
SELECT accion, campos_modificados, datos_nuevos ? 'password_hash' AS guarda_password, empresa_id
  FROM audit.historial_cambios WHERE tabla_afectada = 'clientes' AND accion <> 'DDL' ORDER BY id DESC LIMIT 1;

-- Each call is itself recorded.
SELECT accion, metadata FROM audit.historial_cambios WHERE tabla_afectada = 'clientes' AND accion = 'DDL' ORDER BY id;

-- No tenant column at all: the session's tenant is recorded.
SELECT audit.auditar('clientes', '{"columna_empresa": null}');
SET audit.empresa_id = 'e0000000-0000-0000-0000-0000000000ff';
UPDATE clientes SET nombre = 'Ana M.';
RESET audit.empresa_id;
SELECT columna_empresa FROM audit.tablas_auditadas WHERE tabla = 'clientes'::regclass;
SELECT empresa_id FROM audit.historial_cambios WHERE tabla_afectada = 'clientes' AND accion = 'UPDATE' ORDER BY id DESC LIMIT 1;

-- Bad input: a clear error, the SQLSTATE, and nothing changed.
SELECT opciones AS antes FROM audit.tablas_config WHERE tabla = 'clientes'::regclass \gset
SELECT audit.auditar(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT audit.auditar('clientes', '[]');
\echo :LAST_ERROR_SQLSTATE
SELECT audit.auditar('clientes', '{"excluir": ["nombre"]}');
\echo :LAST_ERROR_SQLSTATE
SELECT audit.auditar('clientes', '{"excluir_columnas": "nombre"}');
\echo :LAST_ERROR_SQLSTATE
SELECT audit.auditar('clientes', '{"excluir_columnas": ["nombre", "nombre"]}');
\echo :LAST_ERROR_SQLSTATE
-- The tenant column cannot be excluded: a move to another tenant would go
-- unrecorded.
SELECT audit.auditar('clientes', '{"excluir_columnas": ["tenant"], "columna_empresa": "tenant"}');
\echo :LAST_ERROR_SQLSTATE
SELECT audit.auditar('clientes', '{"capturar_truncate": "no"}');
\echo :LAST_ERROR_SQLSTATE
SELECT audit.auditar('clientes', '{"excluir_columnas": ["no_existe"]}');
\echo :LAST_ERROR_SQLSTATE
SELECT audit.auditar('clientes', '{"columna_empresa": "no_existe"}');
\echo :LAST_ERROR_SQLSTATE
SELECT audit.auditar('clientes', '{"columna_empresa": "empresa_id"}');
\echo :LAST_ERROR_SQLSTATE
SELECT audit.auditar('clientes', '{"columnas_clave": ["nombre"]}');
\echo :LAST_ERROR_SQLSTATE
SELECT audit.auditar('no_existe');
\echo :LAST_ERROR_SQLSTATE
-- A regclass given as a bare OID is not checked by PostgreSQL itself.
SELECT audit.auditar(4294967295::oid::regclass);
\echo :LAST_ERROR_SQLSTATE
SELECT opciones = :'antes'::jsonb AS opciones_intactas FROM audit.tablas_config WHERE tabla = 'clientes'::regclass;

-- capturar_truncate false: the TRUNCATE trigger is removed.
SELECT audit.auditar('clientes', '{"capturar_truncate": false}');
SELECT capturar_truncate, triggers FROM audit.tablas_auditadas WHERE tabla = 'clientes'::regclass;
TRUNCATE clientes;
SELECT count(*) AS truncates FROM audit.historial_cambios WHERE tabla_afectada = 'clientes' AND accion = 'TRUNCATE';

-- dejar_de_auditar: triggers and options go, the history stays.
SELECT count(*) AS eventos_antes FROM audit.historial_cambios WHERE tabla_afectada = 'clientes';
SELECT audit.dejar_de_auditar('clientes');
SELECT count(*) AS listada FROM audit.tablas_auditadas WHERE tabla = 'clientes'::regclass;
SELECT count(*) AS triggers FROM pg_trigger WHERE tgrelid = 'clientes'::regclass;
INSERT INTO clientes (tenant, nombre) VALUES ('e0000000-0000-0000-0000-000000000002', 'Sin auditar');
SELECT count(*) AS eventos_despues, count(*) FILTER (WHERE accion = 'DDL') AS ddl
  FROM audit.historial_cambios WHERE tabla_afectada = 'clientes';
-- Again: nothing to do, said so.
SELECT audit.dejar_de_auditar('clientes');
SELECT audit.dejar_de_auditar(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT audit.dejar_de_auditar(4294967295::oid::regclass);
\echo :LAST_ERROR_SQLSTATE
DROP TABLE clientes;
