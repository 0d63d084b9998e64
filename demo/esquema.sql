-- Demo schema: two small business tables of a multi-tenant app, audited the
-- two ways the extension supports, and the roles a PostgREST/Supabase
-- deployment uses.
\set ON_ERROR_STOP on
CREATE EXTENSION audit;

CREATE ROLE authenticated NOLOGIN;
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
GRANT SELECT, INSERT, UPDATE, DELETE ON productos, clientes TO authenticated;
-- The API reads the history too; row-level security decides what each
-- request sees (its tenant, and only for reader roles).
GRANT SELECT ON audit.historial_cambios TO authenticated;

-- As a migration does it (seed 002): the generic trigger, attached by hand.
CREATE TRIGGER on_productos_change
    AFTER INSERT OR UPDATE OR DELETE ON productos
    FOR EACH ROW EXECUTE FUNCTION audit.registrar_cambio();

-- Through the extension, with options: never store the password hash.
SELECT audit.auditar('clientes', '{"excluir_columnas": ["password_hash"]}');
