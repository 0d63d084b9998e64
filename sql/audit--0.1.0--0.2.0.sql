-- audit 0.1.0 -> 0.2.0 (CHANGELOG.md). Run by ALTER EXTENSION audit UPDATE,
-- with search_path = audit, pg_temp. Same rules as the install script
-- (src/sql/bootstrap.sql), except that a function whose body changes is
-- replaced in place (CREATE OR REPLACE: PostgreSQL 15 refuses it for an
-- object that is not already a member of this extension, so nothing can be
-- captured this way). What this script leaves must equal a fresh install of
-- 0.2.0, object by object: tests/integration/tests/upgrade.rs compares them.

-- 1. historial_plano keeps what an application event is: every row carries
--    its event's tipo_operacion and metadata.
ALTER TYPE audit.fila_plana ADD ATTRIBUTE tipo_operacion text, ADD ATTRIBUTE metadata jsonb;

CREATE OR REPLACE FUNCTION audit.historial_plano(filtros jsonb DEFAULT '{}'::pg_catalog.jsonb)
    RETURNS SETOF audit.fila_plana
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $plano$
DECLARE
    q record;
BEGIN
    SELECT * INTO STRICT q FROM audit._consulta_historial(filtros, true);
    RETURN QUERY EXECUTE
        'SELECT e.id, e."timestamp", e.usuario_nombre, e.accion, e.tabla_afectada, e.registro_id,
                f.campo, f.valor_anterior #>> ''{}'', f.valor_nuevo #>> ''{}'',
                e.metadata ->> ''tipo_operacion'', e.metadata
           FROM (' || q.sql || ') AS e
           LEFT JOIN LATERAL audit._campos_evento(e.accion, e.datos_anteriores, e.datos_nuevos,
                                                  e.campos_modificados, e.esquema, e.tabla_afectada) AS f
             ON $11 IS NULL OR f.campo = $11
          ORDER BY e.id DESC, f.orden'
        USING q.empresa_id, q.usuario_id, q.registro_id, q.desde, q.hasta, q.esquema, q.tabla,
              q.acciones, q.tipo_operacion, q.metadata, q.campo, q.antes_de, q.limite,
              q.id_mayor_que, q.id_como_maximo, q.notas;
END
$plano$;

-- 2. audit.registro_id(tabla, pk): the id of a row from its key.
CREATE FUNCTION audit.registro_id(
	"tabla" regclass, /* Regclass */
	"pk" jsonb /* Jsonb */
) RETURNS uuid /* pgrx :: Uuid */
STRICT STABLE PARALLEL SAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'registro_id_wrapper';
COMMENT ON FUNCTION audit.registro_id(regclass, jsonb) IS
    'The id the capture gives a row of the table, from its key as a JSON object (columnas_clave or the primary key): the registro_id filter of get_historial_cambios.';

-- 3. The technical log's comment names the categories it is written with.
COMMENT ON TABLE audit.log_tecnico IS
    'Technical log (append-only), by category: rollback (a failed restore of data), versionado (a failed restore of a configuration version), captura (the capture from the WAL behind by more than audit.captura_aviso_lag).';
