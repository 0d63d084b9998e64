-- Contract §1: the generic trigger attached by hand, exactly as a migration
-- (seed 002) does it, records INSERT, UPDATE and DELETE with full snapshots.
CREATE SCHEMA tienda;
CREATE TABLE tienda.productos (
    id uuid PRIMARY KEY,
    empresa_id uuid NOT NULL,
    nombre text NOT NULL,
    sku text,
    precio numeric(12,2),
    stock integer
);
CREATE TRIGGER on_productos_change
    AFTER INSERT OR UPDATE OR DELETE ON tienda.productos
    FOR EACH ROW EXECUTE FUNCTION audit.registrar_cambio();

-- Attaching it registered the table with default options.
SELECT tabla, columna_empresa, capturar_truncate, columnas_clave, triggers, captura_activa
  FROM audit.tablas_auditadas WHERE esquema = 'tienda';

BEGIN;
SET LOCAL request.jwt.claims = '{"sub": "a0000000-0000-0000-0000-00000000000a", "email": "juan@ryr.example", "user_metadata": {"full_name": "Juan Pérez"}, "app_metadata": {"empresa_id": "e0000000-0000-0000-0000-000000000001"}}';
INSERT INTO tienda.productos VALUES
    ('10000000-0000-0000-0000-000000000001', 'e0000000-0000-0000-0000-000000000001', 'Laptop Gamer', 'LAP-001', 1500.00, 10),
    ('10000000-0000-0000-0000-000000000002', 'e0000000-0000-0000-0000-000000000001', 'Mouse', 'MOU-001', 25.50, 100);
UPDATE tienda.productos SET precio = 1399.99, stock = 9 WHERE sku = 'LAP-001';
-- Changes nothing stored: not recorded.
UPDATE tienda.productos SET precio = 25.50 WHERE sku = 'MOU-001';
DELETE FROM tienda.productos WHERE sku = 'MOU-001';
COMMIT;

SELECT accion, usuario_id, usuario_nombre, esquema, tabla_afectada, registro_id, registro_pk,
       datos_anteriores, datos_nuevos, campos_modificados, empresa_id, metadata, rol_bd
  FROM audit.historial_cambios WHERE esquema = 'tienda' ORDER BY id;

-- One transaction: one transaction id and one timestamp (now()) for all its events.
SELECT count(DISTINCT transaccion) AS transacciones, count(DISTINCT "timestamp") AS instantes,
       bool_and("timestamp" > now() - interval '1 hour') AS recientes
  FROM audit.historial_cambios WHERE esquema = 'tienda';

-- The uuid primary key is the registro_id.
SELECT bool_and(registro_id = (registro_pk->>'id')::uuid) AS clave_es_id
  FROM audit.historial_cambios WHERE esquema = 'tienda';

DROP SCHEMA tienda CASCADE;
