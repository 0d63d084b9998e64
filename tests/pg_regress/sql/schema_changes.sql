-- Schema changes of an audited table: the cached per-table state follows
-- them at once, options follow renamed columns, and a dropped table keeps
-- its history.
CREATE TABLE usuarios (id int PRIMARY KEY, email text, clave text, empresa uuid);
SELECT audit.auditar('usuarios', '{"excluir_columnas": ["clave"], "columna_empresa": "empresa"}');
INSERT INTO usuarios VALUES (1, 'a@x.example', 'secreta', 'e0000000-0000-0000-0000-000000000001');

-- Added and dropped columns show up in the very next event of this session.
ALTER TABLE usuarios ADD COLUMN telefono text DEFAULT '555';
UPDATE usuarios SET email = 'b@x.example';
ALTER TABLE usuarios DROP COLUMN telefono;
UPDATE usuarios SET email = 'c@x.example';
SELECT accion, datos_nuevos FROM audit.historial_cambios WHERE tabla_afectada = 'usuarios' AND accion <> 'DDL' ORDER BY id;

-- Renaming an excluded column keeps it excluded; renaming the tenant column
-- keeps it the tenant column.
ALTER TABLE usuarios RENAME COLUMN clave TO clave_hash;
ALTER TABLE usuarios RENAME COLUMN empresa TO empresa_ref;
SELECT excluir_columnas, columna_empresa FROM audit.tablas_auditadas WHERE tabla = 'usuarios'::regclass;
UPDATE usuarios SET email = 'd@x.example', clave_hash = 'otra';
SELECT datos_nuevos ? 'clave_hash' AS guarda_la_clave, campos_modificados, empresa_id
  FROM audit.historial_cambios WHERE tabla_afectada = 'usuarios' ORDER BY id DESC LIMIT 1;

-- Dropping the tenant column: the capture goes on with the session's
-- tenant, and says so.
ALTER TABLE usuarios DROP COLUMN empresa_ref;
UPDATE usuarios SET email = 'e@x.example';
SELECT empresa_id FROM audit.historial_cambios WHERE tabla_afectada = 'usuarios' ORDER BY id DESC LIMIT 1;

-- Options changed in another way (audit.auditar) apply at once too.
SELECT audit.auditar('usuarios', '{"excluir_columnas": ["clave_hash", "email"]}');
UPDATE usuarios SET email = 'f@x.example';
UPDATE usuarios SET id = 2;
SELECT accion, datos_nuevos, campos_modificados FROM audit.historial_cambios
 WHERE tabla_afectada = 'usuarios' AND accion = 'UPDATE' ORDER BY id DESC LIMIT 1;

-- Renaming the table: later events use the new name.
ALTER TABLE usuarios RENAME TO cuentas;
UPDATE cuentas SET id = 3;
SELECT tabla_afectada, registro_pk FROM audit.historial_cambios WHERE accion = 'UPDATE' ORDER BY id DESC LIMIT 1;
SELECT tabla FROM audit.tablas_auditadas WHERE nombre = 'cuentas';

-- Dropping an audited table: its options go, the drop is recorded, its
-- history stays.
SELECT count(*) AS eventos FROM audit.historial_cambios WHERE tabla_afectada IN ('usuarios', 'cuentas');
DROP TABLE cuentas;
SELECT count(*) AS listadas FROM audit.tablas_auditadas WHERE nombre = 'cuentas';
SELECT accion, esquema, tabla_afectada, metadata FROM audit.historial_cambios ORDER BY id DESC LIMIT 1;
SELECT count(*) AS eventos FROM audit.historial_cambios WHERE tabla_afectada IN ('usuarios', 'cuentas');
