-- Restore of single events and rows, and time travel (docs/restore.md):
-- audit.deshacer, audit.restaurar_registro, audit.estado_en.
-- The shared pieces are in restauracion_comun.sql; docs/restore.md has the
-- design and examples.

-- Undoes one event: an INSERT is deleted, a DELETE re-inserted, an UPDATE
-- put back (only the columns that event changed; the others keep later
-- changes when forced). Refused when the row changed after the event
-- (later events, or a difference no event explains) unless forzar.
CREATE FUNCTION audit.deshacer(
    evento_id bigint,
    simular boolean DEFAULT false,
    forzar boolean DEFAULT false,
    estricto boolean DEFAULT false) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    -- Live rows are rendered as the snapshots are (src/capture/snapshot.rs),
    -- whatever the caller's settings, so that they compare equal.
    SET TimeZone = 'UTC'
    SET DateStyle = 'ISO, YMD'
    SET IntervalStyle = 'postgres'
    SET extra_float_digits = 1
    SET bytea_output = 'hex'
AS $undo$
DECLARE
    ev record;
    tabla regclass;
    info record;
    actual jsonb;
    objetivo jsonb;
    imagen jsonb;
    operacion text;
    mapeo jsonb;
    filas bigint;
    conflictos jsonb := '[]'::pg_catalog.jsonb;
    advertencias jsonb := '[]'::pg_catalog.jsonb;
    previo text;
    e_estado text; e_mensaje text; e_detalle text; e_pista text;
BEGIN
    -- Events captured from the WAL reach the log after their commit:
    -- wait until every transaction committed before this call is there.
    PERFORM audit.esperar_captura();
    IF evento_id IS NULL OR simular IS NULL OR forzar IS NULL OR estricto IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
            MESSAGE = 'evento_id, simular, forzar and estricto must not be null';
    END IF;
    -- The before-image with the exact text of the values to_jsonb does not
    -- render exactly (notas.valores_exactos), which is what is written back;
    -- the after-image as captured, which is what the row is compared with.
    SELECT e.id, e.accion, e.esquema, e.tabla_afectada, e.registro_id, e.registro_pk,
           e.datos_anteriores ||
               COALESCE(e.notas #> '{valores_exactos,anteriores}', '{}'::pg_catalog.jsonb) AS datos_anteriores,
           e.datos_nuevos, e.campos_modificados
      INTO ev
      FROM audit.historial_cambios e WHERE e.id = evento_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'no_data_found',
            MESSAGE = pg_catalog.format('event %s does not exist', evento_id),
            HINT = 'Event ids come from audit.get_historial_cambios. An event hidden from you by row-level security is reported the same way.';
    END IF;
    IF ev.accion <> ALL (ARRAY['INSERT', 'UPDATE', 'DELETE']) THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = pg_catalog.format('event %s cannot be undone: it is not a row change (accion %s)', evento_id, ev.accion),
            DETAIL = 'Only INSERT, UPDATE and DELETE events carry the rows they changed.';
    END IF;
    tabla := pg_catalog.to_regclass(pg_catalog.format('%I.%I', ev.esquema, ev.tabla_afectada));
    IF tabla IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_table',
            MESSAGE = pg_catalog.format('table %I.%I of event %s no longer exists', ev.esquema, ev.tabla_afectada, evento_id);
    END IF;
    info := audit._info_restauracion(tabla);
    -- A table of that name audited only since after the event is not the
    -- event's table: the event's was dropped (or renamed away) and another
    -- made under its name, or auditing stopped and started again. Its rows
    -- are not the event's. (Its first recorded structure is registered
    -- when its auditing starts, after the last event then.)
    IF ev.id <= (SELECT pg_catalog.min(s.desde_id) FROM audit.estructuras_tabla s
                  WHERE s.tabla = pg_catalog.to_regclass(pg_catalog.format('%I.%I', ev.esquema, ev.tabla_afectada))) THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_table',
            MESSAGE = pg_catalog.format('table %I.%I of event %s no longer exists', ev.esquema, ev.tabla_afectada, evento_id),
            DETAIL = pg_catalog.format('Table %s, of that name now, has been audited since %s, after the event: it is another table, or its auditing started again since.',
                                       tabla, info.auditada_desde),
            HINT = 'The event''s rows are in audit.historial_cambios (datos_anteriores, datos_nuevos) to be put back by hand.';
    END IF;

    BEGIN
        -- The row where the event left it (registro_pk: its key after the
        -- event), locked until the end of the transaction.
        actual := audit._fila_actual(tabla, info.clave, ev.registro_pk);

        SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                   'id', e.id, 'accion', e.accion, 'timestamp', e."timestamp", 'usuario_nombre', e.usuario_nombre, 'rol_bd', e.rol_bd)
                   ORDER BY e.id), '[]'::pg_catalog.jsonb)
          INTO conflictos
          FROM audit.historial_cambios e
         WHERE e.tabla_afectada = ev.tabla_afectada
           AND e.esquema = ev.esquema
           AND e.id > ev.id
           -- Application events about the row (audit.registrar_evento) do
           -- not change it: only row changes and TRUNCATE are conflicts.
           AND e.accion = ANY (ARRAY['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE'])
           AND (e.accion = 'TRUNCATE'
                OR ev.registro_id = ANY (ARRAY[e.registro_id, e.registro_id_anterior]));
        -- No later event, yet the row is not what the event left: changed
        -- while capture was off, or by a replica. Compared on the columns
        -- both have (columns added or dropped since are drift, checked below).
        IF pg_catalog.jsonb_array_length(conflictos) = 0
           AND (CASE WHEN ev.accion = 'DELETE' THEN actual IS NOT NULL
                     ELSE actual IS NULL
                          OR (SELECT pg_catalog.jsonb_object_agg(a.key, a.value) FROM pg_catalog.jsonb_each(actual) a
                               WHERE ev.datos_nuevos ? a.key)
                             IS DISTINCT FROM
                             (SELECT pg_catalog.jsonb_object_agg(n.key, n.value) FROM pg_catalog.jsonb_each(ev.datos_nuevos) n
                               WHERE actual ? n.key)
                END) THEN
            conflictos := pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
                'id', NULL, 'accion', NULL,
                'mensaje', 'the row is not as the event left it, and no recorded event explains the difference'));
        END IF;
        IF pg_catalog.jsonb_array_length(conflictos) > 0 THEN
            IF NOT forzar THEN
                RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
                    MESSAGE = pg_catalog.format('event %s cannot be undone: its row changed after it', evento_id),
                    DETAIL = 'Later changes: ' ||
                             (SELECT pg_catalog.string_agg(COALESCE(c.value ->> 'id' || ' (' || (c.value ->> 'accion') || ')',
                                                                    c.value ->> 'mensaje'), ', ')
                                FROM pg_catalog.jsonb_array_elements(conflictos) c) || '.',
                    HINT = 'Undo the later events first (newest first), or pass forzar => true to undo this one over them.';
            END IF;
            advertencias := advertencias || pg_catalog.to_jsonb(
                'forced over later changes of the row (see conflictos)'::pg_catalog.text);
        END IF;

        IF ev.accion = 'INSERT' THEN
            operacion := 'DELETE';
            imagen := ev.registro_pk;
            objetivo := NULL;
            mapeo := audit._mapeo(tabla, ev.id, '[]'::pg_catalog.jsonb, pg_catalog.jsonb_build_array(imagen), info.generadas);
        ELSIF ev.accion = 'DELETE' THEN
            operacion := CASE WHEN actual IS NULL THEN 'INSERT' ELSE 'UPDATE' END;
            imagen := ev.datos_anteriores;
            objetivo := imagen;
            mapeo := audit._mapeo(tabla, ev.id, pg_catalog.jsonb_build_array(imagen), '[]'::pg_catalog.jsonb, info.generadas);
        ELSE
            IF actual IS NULL THEN
                RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
                    MESSAGE = pg_catalog.format('event %s cannot be undone: its row no longer exists', evento_id),
                    HINT = 'To bring the row back as it was, use audit.restaurar_registro(table, registro_id, instante).';
            END IF;
            operacion := 'UPDATE';
            -- Only what this event changed, and the key to find the row by.
            SELECT pg_catalog.jsonb_object_agg(a.key, a.value) INTO imagen
              FROM pg_catalog.jsonb_each(ev.datos_anteriores) a
             WHERE a.key = ANY (ev.campos_modificados || info.clave);
            objetivo := actual || imagen;
            mapeo := audit._mapeo(tabla, ev.id, pg_catalog.jsonb_build_array(imagen), '[]'::pg_catalog.jsonb, info.generadas);
        END IF;
        PERFORM audit._comprobar_mapeo(tabla, mapeo);
        PERFORM audit._comprobar_nombre(tabla, ev.id, NULL);

        IF NOT simular THEN
            previo := audit._inicio_restauracion(pg_catalog.jsonb_build_object('funcion', 'deshacer', 'evento_id', evento_id));
        END IF;
        filas := audit._escribir_imagenes(tabla, operacion, info.clave, mapeo, pg_catalog.jsonb_build_array(imagen),
                                          CASE WHEN operacion = 'UPDATE' THEN ev.registro_pk END,
                                          simular);
        IF NOT simular THEN
            PERFORM audit._fin_restauracion(previo);
        END IF;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS e_estado = RETURNED_SQLSTATE, e_mensaje = MESSAGE_TEXT,
                                e_detalle = PG_EXCEPTION_DETAIL, e_pista = PG_EXCEPTION_HINT;
        RETURN audit._fallo_restauracion('deshacer', simular, estricto, e_estado, e_mensaje,
            e_detalle, e_pista,
            pg_catalog.jsonb_build_object('evento_id', evento_id, 'conflictos', conflictos),
            'rollback');
    END;

    IF filas = 0 THEN
        advertencias := advertencias || pg_catalog.to_jsonb(
            'nothing to change: the row is already as the undo would leave it'::pg_catalog.text);
    END IF;
    advertencias := advertencias || COALESCE((
        SELECT pg_catalog.jsonb_agg(pg_catalog.format('column %I has no recorded value: it keeps its current value (update) or gets its default (insert)', c))
          FROM pg_catalog.jsonb_array_elements_text(mapeo -> 'sin_dato') c
         WHERE operacion = 'INSERT'), '[]'::pg_catalog.jsonb);
    RETURN pg_catalog.jsonb_build_object(
        'aplicado', NOT simular,
        'simulado', simular,
        'evento_id', evento_id,
        'cambios', pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
            'tabla', tabla::pg_catalog.text,
            'operacion', operacion,
            'registro_id', ev.registro_id,
            'filas', filas,
            'antes', actual,
            'despues', objetivo)),
        'conflictos', conflictos,
        'advertencias', advertencias,
        'error', NULL);
END
$undo$;

-- Puts one row back as it was at `instante`: re-created if deleted since,
-- deleted if it did not exist then, updated otherwise.
CREATE FUNCTION audit.restaurar_registro(
    tabla regclass,
    registro_id uuid,
    instante timestamptz,
    simular boolean DEFAULT false,
    estricto boolean DEFAULT false) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    -- Live rows are rendered as the snapshots are (src/capture/snapshot.rs),
    -- whatever the caller's settings, so that they compare equal.
    SET TimeZone = 'UTC'
    SET DateStyle = 'ISO, YMD'
    SET IntervalStyle = 'postgres'
    SET extra_float_digits = 1
    SET bytea_output = 'hex'
AS $restore$
DECLARE
    info record;
    previo_estado record;
    actual jsonb;
    objetivo jsonb;
    imagen jsonb;
    operacion text;
    mapeo jsonb;
    filas bigint := 0;
    advertencias jsonb := '[]'::pg_catalog.jsonb;
    previo text;
    e_estado text; e_mensaje text; e_detalle text; e_pista text;
BEGIN
    -- Events captured from the WAL reach the log after their commit:
    -- wait until every transaction committed before this call is there.
    PERFORM audit.esperar_captura();
    IF tabla IS NULL OR registro_id IS NULL OR simular IS NULL OR estricto IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
            MESSAGE = 'tabla, registro_id, instante, simular and estricto must not be null';
    END IF;
    info := audit._info_restauracion(tabla);
    PERFORM audit._comprobar_instante(tabla, instante, info.auditada_desde);

    BEGIN
        PERFORM audit._comprobar_nombre(tabla, NULL, instante);
        previo_estado := audit._estado_previo(info.esquema, info.nombre, NULL, instante, registro_id);
        PERFORM audit._comprobar_truncado(tabla, previo_estado.truncado);
        IF previo_estado.eventos = 0 THEN
            RETURN pg_catalog.jsonb_build_object(
                'aplicado', NOT simular, 'simulado', simular, 'cambios', '[]'::pg_catalog.jsonb,
                'advertencias', pg_catalog.jsonb_build_array('no recorded change of this row after instante: it is as it was then'),
                'error', NULL);
        END IF;
        IF pg_catalog.jsonb_array_length(previo_estado.presentes) > 0 THEN
            imagen := previo_estado.presentes -> 0;
            objetivo := imagen;
        ELSE
            imagen := previo_estado.ausentes -> 0;
            objetivo := NULL;
        END IF;
        mapeo := audit._mapeo(tabla, previo_estado.primer_evento, previo_estado.presentes, previo_estado.ausentes, info.generadas);
        PERFORM audit._comprobar_mapeo(tabla, mapeo);
        actual := audit._fila_actual(tabla, info.clave, imagen);
        operacion := CASE
            WHEN objetivo IS NOT NULL AND actual IS NULL THEN 'INSERT'
            WHEN objetivo IS NOT NULL THEN 'UPDATE'
            WHEN actual IS NOT NULL THEN 'DELETE'
        END;
        IF operacion IS NOT NULL THEN
            IF NOT simular THEN
                previo := audit._inicio_restauracion(pg_catalog.jsonb_build_object(
                    'funcion', 'restaurar_registro', 'registro_id', registro_id, 'instante', instante));
            END IF;
            filas := audit._escribir_imagenes(tabla, operacion, info.clave, mapeo, pg_catalog.jsonb_build_array(imagen), NULL, simular);
            IF NOT simular THEN
                PERFORM audit._fin_restauracion(previo);
            END IF;
        END IF;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS e_estado = RETURNED_SQLSTATE, e_mensaje = MESSAGE_TEXT,
                                e_detalle = PG_EXCEPTION_DETAIL, e_pista = PG_EXCEPTION_HINT;
        RETURN audit._fallo_restauracion('restaurar_registro', simular, estricto, e_estado, e_mensaje,
            e_detalle, e_pista,
            pg_catalog.jsonb_build_object('tabla', tabla::pg_catalog.text, 'registro_id', registro_id, 'instante', instante),
            'rollback');
    END;

    IF operacion = 'INSERT' THEN
        advertencias := advertencias || COALESCE((
            SELECT pg_catalog.jsonb_agg(pg_catalog.format('column %I has no recorded value: the re-created row gets its default', c))
              FROM pg_catalog.jsonb_array_elements_text(mapeo -> 'sin_dato') c), '[]'::pg_catalog.jsonb);
    END IF;
    RETURN pg_catalog.jsonb_build_object(
        'aplicado', NOT simular,
        'simulado', simular,
        'cambios', CASE WHEN operacion IS NULL OR filas = 0 THEN '[]'::pg_catalog.jsonb
                        ELSE pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
                            'tabla', tabla::pg_catalog.text,
                            'operacion', operacion,
                            'registro_id', registro_id,
                            'filas', filas,
                            'antes', actual,
                            'despues', objetivo)) END,
        'advertencias', advertencias,
        'error', NULL);
END
$restore$;

-- The whole table as it was at `instante`, one jsonb per row (columns
-- excluded from capture are left out, as in the snapshots). Rows changed
-- since come from the log; the others are read from the table now. Reads
-- the log through the caller's row-level security: rows whose changes the
-- caller cannot see are shown as they are now.
-- VOLATILE, not STABLE: after waiting for the capture from the WAL, its
-- queries must see what the capture worker committed meanwhile.
CREATE FUNCTION audit.estado_en(tabla regclass, instante timestamptz) RETURNS SETOF jsonb
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    -- Live rows are rendered as the snapshots are (src/capture/snapshot.rs),
    -- whatever the caller's settings, so that they compare equal.
    SET TimeZone = 'UTC'
    SET DateStyle = 'ISO, YMD'
    SET IntervalStyle = 'postgres'
    SET extra_float_digits = 1
    SET bytea_output = 'hex'
AS $asof$
DECLARE
    info record;
    previo_estado record;
BEGIN
    -- Events captured from the WAL reach the log after their commit:
    -- wait until every transaction committed before this call is there.
    PERFORM audit.esperar_captura();
    IF tabla IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed', MESSAGE = 'tabla must not be null';
    END IF;
    info := audit._info_restauracion(tabla);
    PERFORM audit._comprobar_instante(tabla, instante, info.auditada_desde);
    PERFORM audit._comprobar_nombre(tabla, NULL, instante);
    previo_estado := audit._estado_previo(info.esquema, info.nombre, NULL, instante, NULL);
    PERFORM audit._comprobar_truncado(tabla, previo_estado.truncado);
    RETURN QUERY EXECUTE pg_catalog.format(
        'SELECT i.value FROM pg_catalog.jsonb_array_elements($1) i
         UNION ALL
         SELECT pg_catalog.to_jsonb(d.*) - $2
           FROM %s d
          WHERE NOT EXISTS (SELECT FROM audit.historial_cambios e
                             WHERE e.tabla_afectada = $3 AND e.esquema = $4
                               AND e."timestamp" > $5
                               AND e.accion = ANY (ARRAY[''INSERT'', ''UPDATE'', ''DELETE''])
                               AND e.registro_pk = %s)',
        tabla, audit._sql_clave(info.clave))
        USING previo_estado.presentes, info.excluidas, info.nombre, info.esquema, instante;
END
$asof$;
