-- Restoring a configuration version (docs/configuration.md).
-- Same rules as bootstrap.sql. The save itself is Rust
-- (audit._restaurar_config, src/configuracion/guardar.rs); this wrapper
-- gives it the restores' fallback (sql/restauracion_comun.sql): on any
-- failure the active version stays, the caller gets a report, and
-- audit.log_tecnico gets a row (categoria 'versionado').
CREATE FUNCTION audit.restaurar_config(
    id_version bigint,
    simular boolean DEFAULT false,
    estricto boolean DEFAULT false,
    comentario text DEFAULT NULL) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $body$
DECLARE
    e_estado text;
    e_mensaje text;
    e_detalle text;
    e_pista text;
BEGIN
    IF id_version IS NULL OR simular IS NULL OR estricto IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
            MESSAGE = 'id_version, simular and estricto must not be null';
    END IF;
    BEGIN
        RETURN audit._restaurar_config(id_version, simular, comentario);
    EXCEPTION
        -- The caller's own mistakes (no access, a version it cannot see)
        -- are raised as themselves: there is nothing to fall back from.
        WHEN insufficient_privilege OR no_data_found THEN
            RAISE;
        WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS e_estado = RETURNED_SQLSTATE, e_mensaje = MESSAGE_TEXT,
                                    e_detalle = PG_EXCEPTION_DETAIL, e_pista = PG_EXCEPTION_HINT;
            RETURN audit._fallo_restauracion('restaurar_config', simular, estricto, e_estado, e_mensaje,
                e_detalle, e_pista,
                pg_catalog.jsonb_build_object('id_version_restaurada', id_version, 'id_version', NULL::pg_catalog.int8,
                                              'cambios', '{}'::pg_catalog.jsonb)
                    || audit._config_de_version(id_version),
                'versionado');
    END;
END
$body$;
