-- Demo schema: three business tables of a multi-tenant app, audited three
-- ways (a trigger attached by hand, row capture through audit.auditar, and
-- capture from the WAL), and the roles a PostgREST/Supabase deployment uses.
\set ON_ERROR_STOP on
CREATE EXTENSION audit;

-- Roles are the cluster's: another database may have created it already.
DO $$
BEGIN
    CREATE ROLE authenticated NOLOGIN;
EXCEPTION WHEN duplicate_object THEN
    NULL;
END
$$;
GRANT USAGE ON SCHEMA public TO authenticated;

CREATE TABLE productos (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    empresa_id uuid NOT NULL,
    sku        text NOT NULL,
    nombre     text NOT NULL,
    precio     numeric(12,2) NOT NULL,
    stock      integer NOT NULL DEFAULT 0
);
CREATE TABLE clientes (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    empresa_id    uuid NOT NULL,
    nombre        text NOT NULL,
    email         text,
    password_hash text
);
-- Written often and in volume (every sale, every delivery): captured from
-- the WAL, so the writers pay almost nothing for it.
CREATE TABLE movimientos_stock (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    empresa_id  uuid NOT NULL,
    producto_id uuid NOT NULL,
    cantidad    integer NOT NULL,
    motivo      text NOT NULL
);
GRANT SELECT, INSERT, UPDATE, DELETE ON productos, clientes, movimientos_stock TO authenticated;
-- The API reads the history too; row-level security decides what each
-- request sees (its tenant, and only for reader roles).
GRANT SELECT ON audit.historial_cambios TO authenticated;

-- As a migration does it (seed 002): the generic trigger, attached by hand.
CREATE TRIGGER on_productos_change
    AFTER INSERT OR UPDATE OR DELETE ON productos
    FOR EACH ROW EXECUTE FUNCTION audit.registrar_cambio();

-- Through the extension, with options: never store the password hash.
SELECT audit.auditar('clientes', '{"excluir_columnas": ["password_hash"]}');

-- From the WAL (the cluster runs with wal_level = logical and the library
-- preloaded; scripts/demo.sh). In a statement of its own: the first table
-- captured this way creates the database's capture slot.
SELECT audit.auditar('movimientos_stock', '{"captura": "wal"}');
