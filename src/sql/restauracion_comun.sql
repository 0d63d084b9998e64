-- Restore (docs/restore.md): the pieces every restore shares. The restores
-- themselves are in restauracion.sql and modulos.sql; docs/restore.md
-- explains the design.
--
-- Everything here runs with the caller's privileges (SECURITY INVOKER): the
-- log is read through the caller's row-level security, and the audited
-- tables are written with the caller's rights, so RLS, constraints and the
-- tables' own triggers apply, and the writes are captured like any other.
-- Same rules as bootstrap.sql. Dynamic SQL runs inside the functions, with
-- their pinned search_path; it quotes every name with %I or a regclass, and
-- passes every value as a parameter.

-- What a restore needs to know about a table; raises when it cannot be
-- restored: not audited (55000), no key to find its rows by (55000).
CREATE FUNCTION audit._info_restauracion(
    tabla regclass,
    OUT esquema text,
    OUT nombre text,
    OUT clave text[],
    OUT excluidas text[],
    OUT generadas text[],
    OUT auditada_desde timestamptz)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $info$
BEGIN
    SELECT t.esquema, t.nombre, t.columnas_clave, t.excluir_columnas, t.desde
      INTO esquema, nombre, clave, excluidas, auditada_desde
      FROM audit.tablas_auditadas t
     WHERE t.tabla = _info_restauracion.tabla;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = pg_catalog.format('table %s is not audited', tabla),
            DETAIL = 'Its changes are not recorded, so there is nothing to restore from, and a restore would not be recorded either.',
            HINT = 'Start auditing it with audit.auditar(table).';
    END IF;
    IF pg_catalog.cardinality(clave) = 0 THEN
        RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = pg_catalog.format('table %s has no primary key', tabla),
            DETAIL = 'A restore finds each row by its key; without one, rows are identified by their whole content, which changes with every update.',
            HINT = 'Add a primary key, or name the columns that identify a row: audit.auditar(table, ''{"columnas_clave": [...]}'').';
    END IF;
    generadas := ARRAY(SELECT a.attname::pg_catalog.text FROM pg_catalog.pg_attribute a
                        WHERE a.attrelid = tabla AND a.attnum > 0
                          AND NOT a.attisdropped AND a.attgenerated <> '');
END
$info$;

-- Checks an instant a table is to be seen or put back at: not NULL, not in
-- the future, not before the table's auditing began (before then the log
-- knows nothing of it).
CREATE FUNCTION audit._comprobar_instante(tabla regclass, instante timestamptz, auditada_desde timestamptz) RETURNS void
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $check$
BEGIN
    IF instante IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed', MESSAGE = 'instante must not be null';
    END IF;
    IF instante > pg_catalog.now() THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = 'instante is in the future',
            DETAIL = pg_catalog.format('instante is %s; the log knows table %s up to now (%s).', instante, tabla, pg_catalog.now());
    END IF;
    IF instante < auditada_desde THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = pg_catalog.format('instante is before auditing of table %s began', tabla),
            DETAIL = pg_catalog.format('instante is %s; table %s has been audited since %s, and the log knows nothing of it before then.', instante, tabla, auditada_desde),
            HINT = 'Use an instant at or after that moment.';
    END IF;
END
$check$;

-- The rows of a table as they were at a point of the log, for the rows that
-- changed after it (the others are as they are now).
--
-- The point is an event id (a mark: events above it) or an instant (events
-- whose transaction started after it). A row's state there is the
-- before-image of the first event after the point that touched it:
-- * UPDATE or DELETE: its datos_anteriores (it existed, like this);
-- * INSERT: it did not exist;
-- * an UPDATE that changed the key touches two rows: the old key
--   (datos_anteriores, registro_id_anterior) and the new one (which did not
--   exist before).
-- This needs only the events after the point, never a replay from the start.
-- presentes: images of rows that existed then; ausentes: keys (registro_pk)
-- of rows that did not. primer_evento: the first event after the point;
-- truncado: the first TRUNCATE after it (TRUNCATE records no rows, so what it
-- removed cannot be put back).
CREATE FUNCTION audit._estado_previo(
    esquema text,
    nombre text,
    desde_id bigint,
    desde_instante timestamptz,
    registro uuid,
    OUT presentes jsonb,
    OUT ausentes jsonb,
    OUT eventos bigint,
    OUT primer_evento bigint,
    OUT truncado bigint)
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
AS $body$
    WITH ev AS (
        -- (The exact text of values to_jsonb does not render exactly wins
        -- over their rendering: notas.valores_exactos.)
        SELECT e.id, e.accion, e.registro_id, e.registro_id_anterior, e.registro_pk,
               e.datos_anteriores ||
                   COALESCE(e.notas #> '{valores_exactos,anteriores}', '{}'::pg_catalog.jsonb) AS datos_anteriores
          FROM audit.historial_cambios e
         WHERE e.tabla_afectada = _estado_previo.nombre
           AND e.esquema = _estado_previo.esquema
           AND e.accion = ANY (ARRAY['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE'])
           AND (_estado_previo.desde_id IS NULL OR e.id > _estado_previo.desde_id)
           AND (_estado_previo.desde_instante IS NULL OR e."timestamp" > _estado_previo.desde_instante)
    ), toques AS (
        SELECT ev.id, COALESCE(ev.registro_id_anterior, ev.registro_id) AS fila, true AS existia, ev.datos_anteriores AS dato
          FROM ev WHERE ev.accion = ANY (ARRAY['UPDATE', 'DELETE'])
        UNION ALL
        SELECT ev.id, ev.registro_id, false, ev.registro_pk
          FROM ev WHERE ev.accion = 'INSERT'
                     OR (ev.accion = 'UPDATE' AND ev.registro_id_anterior IS NOT NULL)
    ), primeros AS (
        SELECT DISTINCT ON (t.fila) t.fila, t.existia, t.dato
          FROM toques t
         WHERE _estado_previo.registro IS NULL OR t.fila = _estado_previo.registro
         ORDER BY t.fila, t.id
    )
    SELECT COALESCE((SELECT pg_catalog.jsonb_agg(p.dato) FROM primeros p WHERE p.existia), '[]'::pg_catalog.jsonb),
           COALESCE((SELECT pg_catalog.jsonb_agg(p.dato) FROM primeros p WHERE NOT p.existia), '[]'::pg_catalog.jsonb),
           (SELECT pg_catalog.count(*) FROM ev WHERE _estado_previo.registro IS NULL
                OR _estado_previo.registro = ANY (ARRAY[ev.registro_id, ev.registro_id_anterior])),
           (SELECT pg_catalog.min(ev.id) FROM ev),
           (SELECT pg_catalog.min(ev.id) FROM ev WHERE ev.accion = 'TRUNCATE');
$body$;

-- How images (presentes) and keys (ausentes) map onto the table now: the
-- columns written back, the ones without data, and what stops the restore
-- (a column dropped with values, renamed or retyped since). The recorded
-- structures from the one in force at the first event onwards are compared
-- (audit._mapear_columnas, src/restauracion/estructuras.rs).
CREATE FUNCTION audit._mapeo(tabla regclass, primer_evento bigint, presentes jsonb, ausentes jsonb, generadas text[]) RETURNS jsonb
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
AS $body$
    SELECT audit._mapear_columnas(
        COALESCE((SELECT pg_catalog.jsonb_agg(e.columnas ORDER BY e.desde_id, e.version)
                    FROM audit.estructuras_tabla e
                   WHERE e.tabla = _mapeo.tabla
                     -- from the version in force at the first event on
                     AND NOT EXISTS (
                         SELECT FROM (SELECT e2.desde_id, e2.version FROM audit.estructuras_tabla e2
                                       WHERE e2.tabla = _mapeo.tabla AND e2.desde_id < _mapeo.primer_evento
                                       ORDER BY e2.desde_id DESC, e2.version DESC LIMIT 1) vigente
                          WHERE (e.desde_id, e.version) < (vigente.desde_id, vigente.version))),
                 '[]'::pg_catalog.jsonb)
            || pg_catalog.jsonb_build_array(audit._estructura_actual(_mapeo.tabla)),
        COALESCE((SELECT pg_catalog.jsonb_object_agg(c.key, c.con_valor)
                    FROM (SELECT kv.key, pg_catalog.bool_or(kv.value <> 'null'::pg_catalog.jsonb) AS con_valor
                            FROM (SELECT i.value AS imagen FROM pg_catalog.jsonb_array_elements(_mapeo.presentes) i
                                  UNION ALL
                                  SELECT k.value FROM pg_catalog.jsonb_array_elements(_mapeo.ausentes) k) im
                           CROSS JOIN LATERAL pg_catalog.jsonb_each(im.imagen) kv
                           GROUP BY kv.key) c),
                 '{}'::pg_catalog.jsonb),
        _mapeo.generadas);
$body$;

-- Refuses a restore from a point (an event id, or an instant) before which
-- the table had another name: events name their table, so the events under
-- the old name would be missed and the rows they changed left as they are.
CREATE FUNCTION audit._comprobar_nombre(tabla regclass, desde_id bigint, desde_instante timestamptz) RETURNS void
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $check$
DECLARE
    antes text;
BEGIN
    SELECT e.nombre INTO antes
      FROM audit.estructuras_tabla e
     WHERE e.tabla = _comprobar_nombre.tabla
       AND e.nombre <> _comprobar_nombre.tabla::pg_catalog.text
       -- A name some event was recorded under: the last version of its
       -- desde_id (the others were renamed again before any event).
       AND NOT EXISTS (SELECT FROM audit.estructuras_tabla e3
                        WHERE e3.tabla = e.tabla AND e3.desde_id = e.desde_id AND e3.version > e.version)
       -- from the version in force at the point on
       AND NOT EXISTS (
           SELECT FROM (SELECT e2.desde_id, e2.version FROM audit.estructuras_tabla e2
                         WHERE e2.tabla = _comprobar_nombre.tabla
                           AND (e2.desde_id < _comprobar_nombre.desde_id
                                OR e2.registrada_en <= _comprobar_nombre.desde_instante)
                         ORDER BY e2.desde_id DESC, e2.version DESC LIMIT 1) vigente
            WHERE (e.desde_id, e.version) < (vigente.desde_id, vigente.version))
     ORDER BY e.desde_id, e.version
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = pg_catalog.format('cannot restore table %s: it was renamed since (it was %s)', _comprobar_nombre.tabla, antes),
            DETAIL = 'Events name the table they changed; those recorded under the old name would be missed.',
            HINT = 'Rename the table back to restore it, or restore the data by hand from audit.historial_cambios.';
    END IF;
END
$check$;

-- Raises 55000 naming every column that stops the restore, if any.
CREATE FUNCTION audit._comprobar_mapeo(tabla regclass, mapeo jsonb) RETURNS void
    LANGUAGE plpgsql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
AS $check$
BEGIN
    IF pg_catalog.jsonb_array_length(mapeo -> 'problemas') > 0 THEN
        RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = pg_catalog.format('cannot restore table %s: its columns changed since', tabla),
            DETAIL = (SELECT pg_catalog.string_agg(p.value ->> 'mensaje', '; ')
                        FROM pg_catalog.jsonb_array_elements(mapeo -> 'problemas') p)
                     || '.',
            HINT = 'Nothing is dropped or filled with NULL silently: put the column back as it was, or restore the data by hand from audit.historial_cambios.';
    END IF;
END
$check$;

-- Refuses a restore across a TRUNCATE: it records no rows.
CREATE FUNCTION audit._comprobar_truncado(tabla regclass, truncado bigint) RETURNS void
    LANGUAGE plpgsql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
AS $check$
BEGIN
    IF truncado IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = pg_catalog.format('cannot restore table %s: it was truncated since (event %s)', tabla, truncado),
            DETAIL = 'A TRUNCATE is recorded as one event without the rows it removed, so they cannot be put back.',
            HINT = 'Restore to a point after the TRUNCATE, or from a backup.';
    END IF;
END
$check$;

-- SQL that matches row `d` of a table with row `otra` on the key columns
-- (`d.k1 = otra.k1 AND ...`), for the dynamic statements of restores.
CREATE FUNCTION audit._sql_coincidencia(clave text[], otra text) RETURNS text
    LANGUAGE sql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
AS $body$
    SELECT pg_catalog.string_agg(pg_catalog.format('d.%1$I = %2$I.%1$I', k, otra), ' AND ')
      FROM pg_catalog.unnest(clave) k;
$body$;

-- One set-based statement of a restore on one table, or (simular) the count
-- of rows it would change. The images all have the same keys; `columnas`
-- are the ones written (the mapping's columns among those keys).
-- * INSERT: images whose key is not in the table now;
-- * UPDATE: rows whose key is in the images (or equals `donde`, when an
--   undo puts back a changed key) and whose written columns differ;
-- * DELETE: rows whose key is in the images (keys).
-- (The operation is named as the log's `accion` and the reports name it.)
-- Identity columns keep their recorded values on insert (OVERRIDING SYSTEM
-- VALUE) and are never updated; the key is updated only with `donde`.
CREATE FUNCTION audit._escribir(
    tabla regclass,
    operacion text,
    clave text[],
    columnas text[],
    imagenes jsonb,
    donde jsonb,
    simular boolean) RETURNS bigint
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $write$
DECLARE
    coincide text;
    lista text;
    asignaciones text;
    quitar_actual text[];
    quitar_imagen text[];
    filas bigint;
    columna_empresa text;
    empresa uuid := audit.empresa_actual();
    ajena text;
    siempre text;
    distinta boolean;
BEGIN
    IF pg_catalog.jsonb_array_length(imagenes) = 0 THEN
        RETURN 0;
    END IF;
    -- A tenant's restore never writes over, or deletes, a row that holds
    -- another tenant's data now (a key the other tenant reused after the
    -- caller's row went, or a row moved to the other tenant): that row's
    -- later changes are hidden from the caller by row-level security, so
    -- what the restore read says nothing of them. Checked in the preview
    -- too.
    IF operacion IN ('UPDATE', 'DELETE') AND empresa IS NOT NULL THEN
        SELECT t.columna_empresa INTO columna_empresa FROM audit.tablas_auditadas t WHERE t.tabla = _escribir.tabla;
        IF columna_empresa IS NOT NULL THEN
            EXECUTE pg_catalog.format(
                'SELECT pg_catalog.to_jsonb(d.*)::pg_catalog.text
                   FROM %1$s d, pg_catalog.jsonb_array_elements($1) e(imagen)
                  CROSS JOIN LATERAL pg_catalog.jsonb_populate_record(NULL::%1$s, COALESCE($2, e.imagen)) s
                  WHERE %2$s AND d.%3$I::pg_catalog.text IS DISTINCT FROM $3::pg_catalog.text
                  LIMIT 1',
                tabla, audit._sql_coincidencia(clave, 's'), columna_empresa)
               INTO ajena USING imagenes, donde, empresa;
            IF ajena IS NOT NULL THEN
                RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
                    MESSAGE = pg_catalog.format('cannot restore a row of table %s: it holds another tenant''s data now', tabla),
                    DETAIL = pg_catalog.format('The row with key %s belongs to another tenant now (column %s): its changes are not yours to see.',
                                               (SELECT pg_catalog.string_agg(pg_catalog.format('%s = %s', c, (ajena::pg_catalog.jsonb) ->> c), ', ')
                                                  FROM pg_catalog.unnest(clave) c),
                                               columna_empresa),
                    HINT = 'A role that reads every tenant''s events can restore it; or leave it, and restore the other rows one by one.';
            END IF;
        END IF;
    END IF;
    coincide := audit._sql_coincidencia(clave, 's');
    SELECT pg_catalog.string_agg(pg_catalog.format('%I', c), ', ')
      INTO lista FROM pg_catalog.unnest(columnas) c;
    IF operacion = 'INSERT' THEN
        IF simular THEN
            EXECUTE pg_catalog.format(
                'SELECT pg_catalog.count(*) FROM pg_catalog.jsonb_populate_recordset(NULL::%1$s, $1) s
                  WHERE NOT EXISTS (SELECT FROM %1$s d WHERE %2$s)', tabla, coincide)
               INTO filas USING imagenes;
            RETURN filas;
        END IF;
        EXECUTE pg_catalog.format(
            'INSERT INTO %1$s (%3$s) OVERRIDING SYSTEM VALUE
             SELECT %4$s FROM pg_catalog.jsonb_populate_recordset(NULL::%1$s, $1) s
              WHERE NOT EXISTS (SELECT FROM %1$s d WHERE %2$s)',
            tabla, coincide, lista,
            (SELECT pg_catalog.string_agg(pg_catalog.format('s.%I', c), ', ') FROM pg_catalog.unnest(columnas) c))
           USING imagenes;
    ELSIF operacion = 'DELETE' THEN
        IF simular THEN
            EXECUTE pg_catalog.format(
                'SELECT pg_catalog.count(*) FROM %1$s d, pg_catalog.jsonb_populate_recordset(NULL::%1$s, $1) s WHERE %2$s',
                tabla, coincide)
               INTO filas USING imagenes;
            RETURN filas;
        END IF;
        EXECUTE pg_catalog.format(
            'DELETE FROM %1$s d USING pg_catalog.jsonb_populate_recordset(NULL::%1$s, $1) s WHERE %2$s', tabla, coincide)
           USING imagenes;
    ELSIF operacion = 'UPDATE' THEN
        -- Only rows whose written columns differ are updated (compared as
        -- jsonb, which every type has; to_jsonb of the row is the same
        -- rendering the snapshot was taken with).
        quitar_actual := ARRAY(SELECT a.attname::pg_catalog.text FROM pg_catalog.pg_attribute a
                                WHERE a.attrelid = tabla AND a.attnum > 0
                                  AND NOT a.attisdropped AND a.attname::pg_catalog.text <> ALL (columnas));
        quitar_imagen := ARRAY(SELECT k FROM pg_catalog.jsonb_object_keys(imagenes -> 0) k
                                WHERE k <> ALL (columnas));
        -- An UPDATE cannot give a GENERATED ALWAYS identity column a value
        -- (it is left out below): where the row's value differs from the
        -- image's (`SET id = DEFAULT` changed it), the restore cannot put it
        -- back, and says so rather than report a row it did not restore.
        FOR siempre IN
            SELECT a.attname::pg_catalog.text FROM pg_catalog.pg_attribute a
             WHERE a.attrelid = tabla AND a.attidentity = 'a' AND NOT a.attisdropped
               AND a.attname::pg_catalog.text = ANY (columnas)
        LOOP
            EXECUTE pg_catalog.format(
                'SELECT EXISTS (SELECT FROM %1$s d, pg_catalog.jsonb_array_elements($1) e(imagen)
                                  CROSS JOIN LATERAL pg_catalog.jsonb_populate_record(NULL::%1$s, e.imagen) s
                                  CROSS JOIN LATERAL pg_catalog.jsonb_populate_record(NULL::%1$s, COALESCE($2, e.imagen)) w
                                 WHERE %2$s AND d.%3$I IS DISTINCT FROM s.%3$I)',
                tabla, audit._sql_coincidencia(clave, 'w'), siempre)
               INTO distinta USING imagenes, donde;
            IF distinta THEN
                RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
                    MESSAGE = pg_catalog.format('cannot put back column %I of table %s: it is GENERATED ALWAYS AS IDENTITY', siempre, tabla),
                    DETAIL = 'An UPDATE cannot give it a value, and the row''s value differs from the one to put back.',
                    HINT = pg_catalog.format('ALTER TABLE %s ALTER COLUMN %I SET GENERATED BY DEFAULT, restore, then set it back to ALWAYS.', tabla, siempre);
            END IF;
        END LOOP;
        SELECT pg_catalog.string_agg(pg_catalog.format('%1$I = s.%1$I', c), ', ')
          INTO asignaciones
          FROM pg_catalog.unnest(columnas) c
         WHERE (donde IS NOT NULL OR c <> ALL (clave))
           AND NOT EXISTS (SELECT FROM pg_catalog.pg_attribute a
                            WHERE a.attrelid = tabla AND a.attname = c
                              AND a.attidentity = 'a');
        IF asignaciones IS NULL THEN
            RETURN 0;
        END IF;
        coincide := audit._sql_coincidencia(clave, 'w');
        -- The rows to update: matched by key (w: the image, or `donde`), and
        -- different in the written columns.
        lista := pg_catalog.format(
            'pg_catalog.jsonb_array_elements($1) e(imagen)
              CROSS JOIN LATERAL pg_catalog.jsonb_populate_record(NULL::%1$s, e.imagen) s
              CROSS JOIN LATERAL pg_catalog.jsonb_populate_record(NULL::%1$s, COALESCE($4, e.imagen)) w
              WHERE %2$s
                AND (pg_catalog.to_jsonb(d.*) - $2) IS DISTINCT FROM (e.imagen - $3)',
            tabla, coincide);
        IF simular THEN
            EXECUTE pg_catalog.format('SELECT pg_catalog.count(*) FROM %s d, %s', tabla, lista)
               INTO filas USING imagenes, quitar_actual, quitar_imagen, donde;
            RETURN filas;
        END IF;
        EXECUTE pg_catalog.format('UPDATE %s d SET %s FROM %s', tabla, asignaciones, lista)
           USING imagenes, quitar_actual, quitar_imagen, donde;
    ELSE
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value', MESSAGE = pg_catalog.format('unknown operation %s', operacion);
    END IF;
    GET DIAGNOSTICS filas = ROW_COUNT;
    RETURN filas;
END
$write$;

-- _escribir for images of different shapes: images taken before and after a
-- column was added have different keys, and an image must never give NULL
-- to a column it has no value for. So images are written in groups of equal
-- keys, each group with the mapped columns it has.
CREATE FUNCTION audit._escribir_imagenes(
    tabla regclass,
    operacion text,
    clave text[],
    mapeo jsonb,
    imagenes jsonb,
    donde jsonb,
    simular boolean) RETURNS bigint
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $write$
DECLARE
    grupo record;
    filas bigint := 0;
BEGIN
    FOR grupo IN
        SELECT x.claves, pg_catalog.jsonb_agg(x.imagen) AS imagenes
          FROM (SELECT i.value AS imagen,
                       ARRAY(SELECT k FROM pg_catalog.jsonb_object_keys(i.value) k ORDER BY k) AS claves
                  FROM pg_catalog.jsonb_array_elements(imagenes) i) x
         GROUP BY x.claves
    LOOP
        filas := filas + audit._escribir(
            tabla, operacion, clave,
            ARRAY(SELECT c FROM pg_catalog.jsonb_array_elements_text(mapeo -> 'columnas') c
                   WHERE c = ANY (grupo.claves)),
            grupo.imagenes, donde, simular);
    END LOOP;
    RETURN filas;
END
$write$;

-- Marks the writes of a restore (until audit._fin_restauracion) as one: the
-- events they produce carry metadata.tipo_operacion = 'RESTAURACION' and
-- metadata.restauracion = origen (which function, from which event, mark or
-- instant), on top of the caller's own context. Returns the context to put
-- back afterwards.
CREATE FUNCTION audit._inicio_restauracion(origen jsonb) RETURNS text
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $begin$
DECLARE
    previo text := COALESCE(pg_catalog.current_setting('audit.contexto', true), '');
BEGIN
    -- A restore reads the log and the tables, locks them, then writes. Under
    -- REPEATABLE READ or SERIALIZABLE its reads see the transaction's
    -- snapshot, taken before its locks: a change committed in between would
    -- be missed, and the restore would report success over it.
    IF pg_catalog.current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION USING ERRCODE = 'feature_not_supported',
            MESSAGE = pg_catalog.format('a restore cannot be applied in a %s transaction',
                                        pg_catalog.upper(pg_catalog.current_setting('transaction_isolation'))),
            DETAIL = 'Its reads would see the transaction''s snapshot, taken before its locks, and miss what committed in between.',
            HINT = 'Apply it in a READ COMMITTED transaction (the default); a preview (simular => true) may run in any.';
    END IF;
    PERFORM audit.establecer_contexto(pg_catalog.jsonb_build_object('tipo_operacion', 'RESTAURACION', 'restauracion', origen));
    RETURN previo;
END
$begin$;

CREATE FUNCTION audit._fin_restauracion(previo text) RETURNS void
    LANGUAGE sql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $body$
    SELECT pg_catalog.set_config('audit.contexto', previo, true);
$body$;

-- Raises an error again, as it was caught.
CREATE FUNCTION audit._relanzar(estado text, mensaje text, detalle text, pista text) RETURNS void
    LANGUAGE plpgsql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
AS $raise$
BEGIN
    -- RAISE refuses NULL options, so each combination is spelled out.
    IF detalle IS NOT NULL AND pista IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = estado, MESSAGE = mensaje, DETAIL = detalle, HINT = pista;
    ELSIF detalle IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = estado, MESSAGE = mensaje, DETAIL = detalle;
    ELSIF pista IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = estado, MESSAGE = mensaje, HINT = pista;
    ELSE
        RAISE EXCEPTION USING ERRCODE = estado, MESSAGE = mensaje;
    END IF;
END
$raise$;

-- What every restore does when it fails (docs/restore.md): the failed attempt
-- was a subtransaction, already rolled back, so the tables are as before.
-- Builds the report (aplicado false, with the error); unless it was a
-- preview, writes a row to audit.log_tecnico and a WARNING to the server
-- log; with estricto raises the error instead of returning.
--
-- The log_tecnico row is written in the caller's transaction (PostgreSQL
-- has no autonomous transactions): it stays when the caller commits, which
-- is what returning a report instead of raising allows. With estricto it
-- goes with the aborted transaction unless the caller catches the error.
CREATE FUNCTION audit._fallo_restauracion(
    funcion text,
    simular boolean,
    estricto boolean,
    estado text,
    mensaje text,
    detalle text,
    pista text,
    extra jsonb,
    -- audit.log_tecnico's categoria: 'rollback' (data), 'versionado' (configuration).
    categoria text) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $fail$
DECLARE
    -- GET STACKED DIAGNOSTICS gives '' for an absent detail or hint.
    detalle_error text := NULLIF(detalle, '');
    pista_error text := NULLIF(pista, '');
    informe jsonb := pg_catalog.jsonb_build_object(
        'aplicado', false,
        'simulado', simular,
        'cambios', '[]'::pg_catalog.jsonb,
        'advertencias', '[]'::pg_catalog.jsonb,
        'error', pg_catalog.jsonb_build_object('sqlstate', estado, 'mensaje', mensaje, 'detalle', detalle_error, 'pista', pista_error))
        || COALESCE(extra, '{}'::pg_catalog.jsonb);
BEGIN
    IF NOT simular THEN
        PERFORM audit._escribir_log_tecnico('ERROR', categoria,
            pg_catalog.format('audit.%s: %s', funcion, mensaje), informe);
        IF NOT estricto THEN
            RAISE WARNING USING MESSAGE = pg_catalog.format('audit.%s did not apply: %s', funcion, mensaje),
                DETAIL = pg_catalog.format('SQLSTATE %s. Nothing was changed; the report and audit.log_tecnico have the details.', estado);
        END IF;
    END IF;
    IF estricto THEN
        PERFORM audit._relanzar(estado, mensaje, detalle_error, pista_error);
    END IF;
    RETURN informe;
END
$fail$;

-- The key of an image, as SQL that builds it from row `d` of the table
-- (jsonb_build_object renders values as to_jsonb does, as registro_pk has them).
CREATE FUNCTION audit._sql_clave(clave text[]) RETURNS text
    LANGUAGE sql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
AS $body$
    SELECT 'pg_catalog.jsonb_build_object(' ||
           pg_catalog.string_agg(pg_catalog.format('%L, d.%I', k, k), ', ') || ')'
      FROM pg_catalog.unnest(clave) k;
$body$;

-- The row of the table whose key is that of `imagen`, locked FOR UPDATE
-- (which needs UPDATE privilege: a role that may not change the table
-- stops here with 42501), as jsonb; NULL when there is none.
CREATE FUNCTION audit._fila_actual(tabla regclass, clave text[], imagen jsonb) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $row$
DECLARE
    fila jsonb;
BEGIN
    EXECUTE pg_catalog.format(
        'SELECT pg_catalog.to_jsonb(d.*) FROM %1$s d, pg_catalog.jsonb_populate_record(NULL::%1$s, $1) w WHERE %2$s FOR UPDATE OF d',
        tabla, audit._sql_coincidencia(clave, 'w'))
       INTO fila USING imagen;
    RETURN fila;
END
$row$;
