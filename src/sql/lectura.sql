-- Reading the history (docs/reading.md): SQL functions around the Rust query
-- builder (src/historial.rs). Same rules as bootstrap.sql (operators inside
-- function bodies are plain: every function pins search_path to pg_catalog,
-- pg_temp, and PostgreSQL never looks up operators in pg_temp).
--
-- Every function here is SECURITY INVOKER: it reads audit.historial_cambios
-- with the caller's privileges and row-level security. An event the caller
-- cannot see does not exist for these functions.

-- The fields of one event, in the order a side-by-side view shows them:
-- for an UPDATE the changed columns (campos_modificados, as the capture
-- decided them: a value whose stored bytes changed); for an INSERT or a
-- DELETE every column of the snapshot, in the table's column order when the
-- table still exists. Events without snapshots (TRUNCATE, EVENTO, DDL) have
-- no fields. A missing side is SQL NULL; a column that was NULL is JSON null.
CREATE FUNCTION audit._campos_evento(
    accion text,
    datos_anteriores jsonb,
    datos_nuevos jsonb,
    campos_modificados text[],
    esquema text,
    tabla text)
    RETURNS TABLE(campo text, valor_anterior jsonb, valor_nuevo jsonb, orden bigint)
    LANGUAGE sql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $campos$
    SELECT u.campo, datos_anteriores -> u.campo, datos_nuevos -> u.campo, u.orden
      FROM unnest(campos_modificados) WITH ORDINALITY AS u(campo, orden)
     WHERE accion = 'UPDATE'
    UNION ALL
    SELECT k.campo, datos_anteriores -> k.campo, datos_nuevos -> k.campo,
           row_number() OVER (ORDER BY a.attnum NULLS LAST, k.campo)
      FROM jsonb_object_keys(CASE WHEN accion IN ('INSERT', 'DELETE')
                                  THEN coalesce(datos_nuevos, datos_anteriores) END) AS k(campo)
      -- Looked up by name in the catalogs (not with to_regclass, which
      -- would need USAGE on the table's schema).
      LEFT JOIN pg_class c
        ON c.relname = tabla
       AND c.relnamespace = (SELECT n.oid FROM pg_namespace n WHERE n.nspname = esquema)
      LEFT JOIN pg_attribute a
        ON a.attrelid = c.oid AND a.attname = k.campo AND a.attnum > 0 AND NOT a.attisdropped
    ORDER BY 4
$campos$;

-- The timeline: one page of events, newest first (see docs/reading.md).
CREATE FUNCTION audit.get_historial_cambios(filtros jsonb DEFAULT '{}'::pg_catalog.jsonb)
    RETURNS SETOF audit.historial_cambios
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $historial$
DECLARE
    q record;
BEGIN
    SELECT * INTO STRICT q FROM audit._consulta_historial(filtros, false);
    -- Values are parameters, never SQL text; a one-shot plan sees their
    -- values, so partitions are pruned and the right index is chosen.
    RETURN QUERY EXECUTE q.sql
        USING q.empresa_id, q.usuario_id, q.registro_id, q.desde, q.hasta, q.esquema, q.tabla,
              q.acciones, q.tipo_operacion, q.metadata, q.campo, q.antes_de, q.limite,
              q.id_mayor_que, q.id_como_maximo, q.notas;
END
$historial$;

-- The side-by-side view of one event. STRICT, as audit.resumen: no event
-- id, no rows.
CREATE FUNCTION audit.diferencias(evento_id bigint)
    RETURNS TABLE(campo text, valor_anterior jsonb, valor_nuevo jsonb)
    LANGUAGE plpgsql STABLE STRICT
    SET search_path = pg_catalog, pg_temp
AS $diferencias$
DECLARE
    e audit.historial_cambios;
BEGIN
    SELECT * INTO e FROM audit.historial_cambios h WHERE h.id = evento_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING
            ERRCODE = 'no_data_found',
            MESSAGE = format('event %s does not exist', evento_id),
            HINT = 'Event ids come from audit.get_historial_cambios. An event hidden from you by row-level security is reported the same way.';
    END IF;
    RETURN QUERY
        SELECT f.campo, f.valor_anterior, f.valor_nuevo
          FROM audit._campos_evento(e.accion, e.datos_anteriores, e.datos_nuevos, e.campos_modificados,
                                    e.esquema, e.tabla_afectada) f
         ORDER BY f.orden;
END
$diferencias$;

-- One row per changed field, for spreadsheets. Same filters as
-- get_historial_cambios, but without limite it returns every matching
-- event (an export, not a page), and with campo only that field's rows. Values are text: strings without quotes,
-- other JSON values as JSON, NULL for a missing side or a JSON null. An
-- event without fields (TRUNCATE, EVENTO, DDL) is one row with campo NULL.
-- Every row carries its event's tipo_operacion and metadata: what an
-- application event is (a file replaced, a version marked wrong) is there.
-- (A named row type rather than RETURNS TABLE: pgspot, which CI runs on
-- this script, cannot parse a function whose OUT column is "timestamp".)
CREATE TYPE audit.fila_plana AS (id bigint, "timestamp" timestamptz, usuario_nombre text, accion text,
                                 tabla_afectada text, registro_id uuid, campo text, valor_anterior text,
                                 valor_nuevo text, tipo_operacion text, metadata jsonb);
COMMENT ON TYPE audit.fila_plana IS 'A row of audit.historial_plano: one changed field of one event.';

CREATE FUNCTION audit.historial_plano(filtros jsonb DEFAULT '{}'::pg_catalog.jsonb)
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

-- Counts for dashboards. Days, weeks and months are those of the session's
-- TimeZone; desde is inclusive, hasta exclusive, NULL means unbounded.
-- filtros takes get_historial_cambios' filters (tabla, accion, usuario_id,
-- empresa_id, tipo_operacion, metadata, registro_id...), but not its pages
-- (limite, antes_de): every matching event is counted. Without filtros the
-- counts read the log directly; with them, through the same query builder
-- as the timeline (its filters, its indexes, its errors).
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

-- The one-line summary of an event given as a row of the log, so that a
-- page and its summaries come in one call: PostgREST embeds a function over
-- a table's row type as a computed column
-- (GET /historial_cambios?select=id,accion,resumen_evento). It summarises
-- the event the caller already read, by its id (one index lookup per row),
-- with the caller's row security like every reading function.
CREATE FUNCTION audit.resumen_evento(evento audit.historial_cambios) RETURNS text
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $resumen$
    SELECT audit.resumen(evento.id)
$resumen$;

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

COMMENT ON FUNCTION audit.get_historial_cambios(jsonb) IS
    'Events newest first, one page at a time: filters desde, hasta, usuario_id, tabla, accion, registro_id, registro_pk (with tabla), empresa_id, tipo_operacion, metadata, notas, campo, limite (1-1000, default 50), antes_de (cursor).';
COMMENT ON FUNCTION audit.diferencias(bigint) IS
    'The fields of one event, old and new value side by side.';
COMMENT ON FUNCTION audit.historial_plano(jsonb) IS
    'One row per changed field, for spreadsheets; same filters as get_historial_cambios, all matching events unless limite is given.';
COMMENT ON FUNCTION audit.actividad(timestamptz, timestamptz, text, jsonb) IS
    'Counts of inserts, updates, deletes, application events and all events, grouped by dia, semana, mes, usuario, tabla or tipo_operacion; filtros as get_historial_cambios (without limite and antes_de).';
COMMENT ON FUNCTION audit.resumen_evento(audit.historial_cambios) IS
    'audit.resumen of an event given as a row of the log: a computed column for PostgREST (select=id,resumen_evento).';
COMMENT ON FUNCTION audit.seguir(bigint, integer) IS
    'Events after despues_de, oldest first (at most limite), up to the smallest id a running transaction may still commit: call again from the last id received to follow the log without missing a late commit.';
