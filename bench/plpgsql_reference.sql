-- The same design as the extension's capture, in PL/pgSQL, for comparison in
-- the same run: a generic AFTER ROW trigger, to_jsonb snapshots, changed
-- columns, identity from request.jwt.claims, one log table with the same
-- columns and the same indexes.
CREATE SCHEMA ref;
CREATE TABLE ref.historial (
    id bigserial, "timestamp" timestamptz NOT NULL DEFAULT now(), usuario_id uuid, usuario_nombre text,
    accion text NOT NULL, esquema text, tabla_afectada text, registro_id uuid, registro_pk jsonb,
    datos_anteriores jsonb, datos_nuevos jsonb, campos_modificados text[], empresa_id uuid,
    metadata jsonb NOT NULL DEFAULT '{}', transaccion bigint NOT NULL, rol_bd text NOT NULL,
    aplicacion text, ip_cliente inet
);
CREATE UNIQUE INDEX ON ref.historial (id);
CREATE INDEX ON ref.historial (empresa_id, id) WHERE empresa_id IS NOT NULL;
CREATE INDEX ON ref.historial (empresa_id, tabla_afectada, id) WHERE empresa_id IS NOT NULL;
CREATE INDEX ON ref.historial (tabla_afectada, id);
CREATE INDEX ON ref.historial (registro_id, id) WHERE registro_id IS NOT NULL;
CREATE INDEX ON ref.historial (usuario_id, id) WHERE usuario_id IS NOT NULL;
CREATE INDEX ON ref.historial (empresa_id, (metadata ->> 'tipo_operacion'), id)
    WHERE empresa_id IS NOT NULL AND (metadata ->> 'tipo_operacion') IS NOT NULL;
CREATE INDEX ON ref.historial ((metadata ->> 'tipo_operacion'), id) WHERE (metadata ->> 'tipo_operacion') IS NOT NULL;
CREATE INDEX ON ref.historial USING brin ("timestamp");

CREATE FUNCTION ref.registrar_cambio() RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    claims jsonb := nullif(current_setting('request.jwt.claims', true), '')::jsonb;
    antes jsonb;
    despues jsonb;
    campos text[];
    fila jsonb;
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN antes := to_jsonb(OLD); END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN despues := to_jsonb(NEW); END IF;
    IF TG_OP = 'UPDATE' THEN
        SELECT array_agg(d.key ORDER BY d.key) INTO campos
          FROM jsonb_each(despues) d WHERE antes->d.key IS DISTINCT FROM d.value;
        IF campos IS NULL THEN RETURN NULL; END IF;
    END IF;
    fila := coalesce(despues, antes);
    INSERT INTO ref.historial (usuario_id, usuario_nombre, accion, esquema, tabla_afectada, registro_id, registro_pk,
                               datos_anteriores, datos_nuevos, campos_modificados, empresa_id, metadata,
                               transaccion, rol_bd, aplicacion, ip_cliente)
    VALUES ((claims->>'sub')::uuid, claims->>'email', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME,
            md5(TG_TABLE_SCHEMA || TG_TABLE_NAME || (fila->>'id'))::uuid, jsonb_build_object('id', fila->'id'),
            antes, despues, campos, (fila->>'empresa_id')::uuid,
            coalesce(nullif(current_setting('audit.contexto', true), '')::jsonb, '{}'),
            txid_current(), current_user, current_setting('application_name'), inet_client_addr());
    RETURN NULL;
END $$;
