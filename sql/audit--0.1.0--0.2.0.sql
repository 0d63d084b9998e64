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

-- 4. actividad takes the timeline's filters and groups by tipo_operacion. A
--    new argument is a new signature: the old function is dropped (a grant
--    or revoke a DBA made on it must be made again on the new one).
DROP FUNCTION audit.actividad(timestamptz, timestamptz, text);
CREATE FUNCTION audit.actividad(
    desde timestamptz,
    hasta timestamptz,
    agrupar_por text DEFAULT 'dia',
    filtros jsonb DEFAULT '{}'::pg_catalog.jsonb)
    RETURNS TABLE(grupo text, inserciones bigint, actualizaciones bigint, eliminaciones bigint,
                  eventos bigint, total bigint)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $actividad$
DECLARE
    clave text;
    orden text;
    conteos constant text := 'count(*) FILTER (WHERE h.accion = ''INSERT''),
                count(*) FILTER (WHERE h.accion = ''UPDATE''),
                count(*) FILTER (WHERE h.accion = ''DELETE''),
                count(*) FILTER (WHERE h.accion = ''EVENTO''),
                count(*)';
    q record;
BEGIN
    IF agrupar_por IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed', MESSAGE = 'agrupar_por must not be null',
            HINT = 'Group by dia, semana, mes, usuario, tabla or tipo_operacion.';
    END IF;
    clave := CASE lower(btrim(agrupar_por))
        WHEN 'dia' THEN 'to_char(h."timestamp", ''YYYY-MM-DD'')'
        WHEN 'semana' THEN 'to_char(h."timestamp", ''IYYY-"W"IW'')'
        WHEN 'mes' THEN 'to_char(h."timestamp", ''YYYY-MM'')'
        WHEN 'usuario' THEN 'coalesce(h.usuario_nombre, h.usuario_id::text, h.usuario_externo, h.rol_bd)'
        WHEN 'tabla' THEN 'CASE WHEN h.esquema = ''public'' THEN h.tabla_afectada ELSE h.esquema || ''.'' || h.tabla_afectada END'
        WHEN 'tipo_operacion' THEN 'h.metadata ->> ''tipo_operacion'''
    END;
    IF clave IS NULL THEN
        RAISE EXCEPTION USING
            ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('invalid value for agrupar_por: "%s"', agrupar_por),
            HINT = 'Group by dia, semana, mes, usuario, tabla or tipo_operacion.';
    END IF;
    IF desde > hasta THEN
        RAISE EXCEPTION USING
            ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('invalid value for hasta: it is earlier than desde (%s < %s)', hasta, desde);
    END IF;
    orden := CASE WHEN lower(btrim(agrupar_por)) IN ('usuario', 'tabla', 'tipo_operacion') THEN '6 DESC, 1' ELSE '1' END;
    IF filtros IS NULL OR filtros = '{}'::jsonb THEN
        RETURN QUERY EXECUTE format(
            'SELECT %s AS grupo, %s
               FROM audit.historial_cambios h
              WHERE ($1 IS NULL OR h."timestamp" >= $1)
                AND ($2 IS NULL OR h."timestamp" < $2)
              GROUP BY 1
              ORDER BY %s',
            clave, conteos, orden)
            USING desde, hasta;
        RETURN;
    END IF;
    IF jsonb_typeof(filtros) = 'object' AND filtros ?| ARRAY['limite', 'antes_de'] THEN
        RAISE EXCEPTION USING
            ERRCODE = 'invalid_parameter_value',
            MESSAGE = 'invalid value for filtros: limite and antes_de page a timeline; activity counts every matching event',
            HINT = 'Leave them out; the other filters of get_historial_cambios apply.';
    END IF;
    SELECT * INTO STRICT q FROM audit._consulta_historial(filtros, true);
    RETURN QUERY EXECUTE format(
        'SELECT %s AS grupo, %s
           FROM (' || q.sql || ') AS h
          WHERE ($17 IS NULL OR h."timestamp" >= $17)
            AND ($18 IS NULL OR h."timestamp" < $18)
          GROUP BY 1
          ORDER BY %s',
        clave, conteos, orden)
        USING q.empresa_id, q.usuario_id, q.registro_id, q.desde, q.hasta, q.esquema, q.tabla,
              q.acciones, q.tipo_operacion, q.metadata, q.campo, q.antes_de, q.limite,
              q.id_mayor_que, q.id_como_maximo, q.notas, desde, hasta;
END
$actividad$;
COMMENT ON FUNCTION audit.actividad(timestamptz, timestamptz, text, jsonb) IS
    'Counts of inserts, updates, deletes, application events and all events, grouped by dia, semana, mes, usuario, tabla or tipo_operacion; filtros as get_historial_cambios (without limite and antes_de).';

-- 5. resumen_evento: the one-line summary over the log's row type, for
--    PostgREST's computed columns.
CREATE FUNCTION audit.resumen_evento(evento audit.historial_cambios) RETURNS text
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $resumen$
    SELECT audit.resumen(evento.id)
$resumen$;
COMMENT ON FUNCTION audit.resumen_evento(audit.historial_cambios) IS
    'audit.resumen of an event given as a row of the log: a computed column for PostgREST (select=id,resumen_evento).';

-- 6. The timeline's comment names the new filter key (registro_pk).
COMMENT ON FUNCTION audit.get_historial_cambios(jsonb) IS
    'Events newest first, one page at a time: filters desde, hasta, usuario_id, tabla, accion, registro_id, registro_pk (with tabla), empresa_id, tipo_operacion, metadata, notas, campo, limite (1-1000, default 50), antes_de (cursor).';

-- 7. Alert rules (src/alertas.rs, docs/reading.md): an event that is
-- everything a rule names (each column optional: table, action, changed
-- column, tipo_operacion, tenant) sends NOTIFY on the rule's channel when
-- its transaction commits, with the event's id. Managed by the roles a DBA
-- grants it to; read by the capture as the log's owner.
CREATE TABLE audit.alertas (
    id             bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    canal          text        NOT NULL CHECK (canal OPERATOR(pg_catalog.~) '^[a-z_][a-z0-9_]*$'
                                               AND pg_catalog.length(canal) OPERATOR(pg_catalog.<=) 63),
    -- 'nombre' or 'esquema.nombre', as the tabla filter of the reading functions.
    tabla          text,
    accion         text        CHECK (accion OPERATOR(pg_catalog.=) ANY (ARRAY['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'EVENTO', 'DDL'])),
    campo          text,
    tipo_operacion text,
    empresa_id     uuid,
    descripcion    text,
    creada         timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE audit.alertas IS
    'Alert rules: an event matching every column a rule sets (tabla, accion, campo changed, tipo_operacion, empresa_id) sends NOTIFY canal with {"evento": id, "alerta": id} at commit.';

SELECT pg_catalog.pg_extension_config_dump('audit.alertas', '');
CREATE FUNCTION audit._alertas_cambiadas() RETURNS trigger
    LANGUAGE c
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', '_alertas_cambiadas_wrapper';
CREATE TRIGGER alertas_invalidar
    AFTER INSERT OR UPDATE OR DELETE ON audit.alertas
    FOR EACH ROW EXECUTE FUNCTION audit._alertas_cambiadas();
CREATE TRIGGER alertas_invalidar_truncate
    AFTER TRUNCATE ON audit.alertas
    FOR EACH STATEMENT EXECUTE FUNCTION audit._alertas_cambiadas();
REVOKE ALL ON TABLE audit.alertas FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION audit._alertas_cambiadas() FROM PUBLIC;

-- 8. Following the log forward (src/seguimiento.rs): audit.seguir, and the
--    horizon it stops at.
CREATE FUNCTION audit._horizonte_seguimiento() RETURNS bigint /* i64 */
STRICT VOLATILE PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_horizonte_seguimiento_wrapper';
-- Following the log forward (src/seguimiento.rs): the events after
-- despues_de, oldest first, at most limite of them, stopping below the
-- smallest id a running transaction may still commit, so that the next
-- call, from the last id returned, never misses an event that commits late.
-- READ COMMITTED only: a transaction of a higher isolation level reads with
-- a snapshot older than the horizon.
CREATE FUNCTION audit.seguir(despues_de bigint DEFAULT 0, limite integer DEFAULT 100)
    RETURNS SETOF audit.historial_cambios
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $seguir$
DECLARE
    horizonte bigint;
BEGIN
    IF despues_de IS NULL OR limite IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
            MESSAGE = 'despues_de and limite must not be null',
            HINT = 'Start from 0, then pass the id of the last event you received.';
    END IF;
    IF limite < 1 OR limite > 1000 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('invalid value for limite: it must be from 1 to 1000, not %s', limite);
    END IF;
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION USING ERRCODE = 'feature_not_supported',
            MESSAGE = format('audit.seguir cannot run in a %s transaction', upper(current_setting('transaction_isolation'))),
            DETAIL = 'Its snapshot is older than the horizon it would read to: an event committed in between would be skipped.',
            HINT = 'Call it in a READ COMMITTED transaction (the default), or on its own.';
    END IF;
    -- Read first; the query below takes its snapshot afterwards.
    horizonte := audit._horizonte_seguimiento();
    RETURN QUERY
        SELECT h.* FROM audit.historial_cambios h
         WHERE h.id > despues_de AND h.id < horizonte
         ORDER BY h.id
         LIMIT limite;
END
$seguir$;
COMMENT ON FUNCTION audit.seguir(bigint, integer) IS
    'Events after despues_de, oldest first (at most limite), up to the smallest id a running transaction may still commit: call again from the last id received to follow the log without missing a late commit.';

-- 9. The DDL guard refuses ALTER SEQUENCE on the extension's sequences, before
--    the command runs (a RESTART is not undone at its end). An event
--    trigger's tags cannot be altered: it is created again, as the install
--    script creates it.
DROP EVENT TRIGGER audit_al_empezar_ddl;
CREATE EVENT TRIGGER audit_al_empezar_ddl ON ddl_command_start
    WHEN TAG IN ('ALTER TABLE', 'ALTER SEQUENCE')
    EXECUTE FUNCTION audit._al_empezar_ddl();
ALTER EVENT TRIGGER audit_al_empezar_ddl ENABLE ALWAYS;

-- 10. audit._retencion_meses() is declared from its Rust signature (no
--     arguments: pgrx marks it STRICT, which changes nothing for a call).
ALTER FUNCTION audit._retencion_meses() STRICT;

-- 11. Single-tenant deployments (src/lectura_sin_empresa.rs,
--     docs/security.md): the switch that lets reader roles read the events
--     without a tenant, by rewriting the misma_empresa policies.
CREATE FUNCTION audit.leer_eventos_sin_empresa(permitir boolean) RETURNS void
    VOLATILE PARALLEL UNSAFE
    SET search_path TO pg_catalog, pg_temp
    LANGUAGE c
    AS 'MODULE_PATHNAME', 'leer_eventos_sin_empresa_wrapper';
REVOKE EXECUTE ON FUNCTION audit.leer_eventos_sin_empresa(boolean) FROM PUBLIC;


-- 12. A tenant's page filtered by metadata containment reads the new index
--     of the events whose metadata is not empty (bench/historial_plans.sh):
--     audit._indexar_particion creates it for new partitions, and it is
--     built here for the existing ones (a long step on a large log: it
--     reads each partition once, and blocks writes to it meanwhile).
CREATE OR REPLACE FUNCTION audit._indexar_particion(particion regclass) RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $indexes$
DECLARE
    nombre text := (SELECT relname FROM pg_catalog.pg_class WHERE oid = particion);
BEGIN
    EXECUTE pg_catalog.format('CREATE UNIQUE INDEX %I ON %s (id)', nombre || '_id_idx', particion);
    EXECUTE pg_catalog.format('CREATE INDEX %I ON %s (empresa_id, id) WHERE empresa_id IS NOT NULL',
                              nombre || '_empresa_idx', particion);
    EXECUTE pg_catalog.format('CREATE INDEX %I ON %s (empresa_id, tabla_afectada, id) WHERE empresa_id IS NOT NULL',
                              nombre || '_empresa_tabla_idx', particion);
    EXECUTE pg_catalog.format($sql$CREATE INDEX %I ON %s (empresa_id, (- id))
                                 WHERE empresa_id IS NOT NULL AND metadata <> '{}'::jsonb$sql$,
                              nombre || '_empresa_metadata_idx', particion);
    EXECUTE pg_catalog.format('CREATE INDEX %I ON %s (tabla_afectada, id)',
                              nombre || '_tabla_idx', particion);
    EXECUTE pg_catalog.format('CREATE INDEX %I ON %s (registro_id, id) WHERE registro_id IS NOT NULL',
                              nombre || '_registro_idx', particion);
    EXECUTE pg_catalog.format('CREATE INDEX %I ON %s (usuario_id, id) WHERE usuario_id IS NOT NULL',
                              nombre || '_usuario_idx', particion);
    EXECUTE pg_catalog.format($sql$CREATE INDEX %I ON %s (empresa_id, (metadata ->> 'tipo_operacion'), id)
                                 WHERE empresa_id IS NOT NULL AND (metadata ->> 'tipo_operacion') IS NOT NULL$sql$,
                              nombre || '_empresa_tipo_idx', particion);
    EXECUTE pg_catalog.format($sql$CREATE INDEX %I ON %s ((metadata ->> 'tipo_operacion'), id)
                                 WHERE (metadata ->> 'tipo_operacion') IS NOT NULL$sql$,
                              nombre || '_tipo_idx', particion);
    EXECUTE pg_catalog.format('CREATE INDEX %I ON %s USING brin ("timestamp")',
                              nombre || '_timestamp_brin', particion);
    EXECUTE pg_catalog.format('CREATE INDEX %I ON %s USING brin (transaccion)',
                              nombre || '_transaccion_brin', particion);
END
$indexes$;
DO $upgrade$
DECLARE
    p record;
BEGIN
    FOR p IN SELECT c.oid::pg_catalog.regclass AS particion, c.relname
               FROM pg_catalog.pg_inherits i
               JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) i.inhrelid
              WHERE i.inhparent OPERATOR(pg_catalog.=) 'audit.historial_cambios'::pg_catalog.regclass
    LOOP
        EXECUTE pg_catalog.format($sql$CREATE INDEX %I ON %s (empresa_id, (OPERATOR(pg_catalog.-) id))
                                     WHERE empresa_id IS NOT NULL AND metadata OPERATOR(pg_catalog.<>) '{}'::pg_catalog.jsonb$sql$,
                                  p.relname OPERATOR(pg_catalog.||) '_empresa_metadata_idx', p.particion);
    END LOOP;
END
$upgrade$;
