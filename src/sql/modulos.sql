-- Module rollback (docs/restore.md): audit.revertir_modulo. Modules and marks
-- are created by audit.crear_modulo and audit.crear_marca
-- (src/restauracion/modulos.rs); docs/restore.md has the design.

-- Puts every row of the module's tables that changed after the mark back as
-- it was at the mark (per row, not event by event: a row changed ten times
-- is written once), in one subtransaction: all of it or nothing.
--
-- Locking: the module's tables are locked IN EXCLUSIVE MODE, in the fixed
-- order of audit._tablas_modulo (by name; crear_marca uses the same order,
-- so the two never deadlock), until the caller's transaction ends. Readers
-- go on; writers wait. Nothing can change between reading the log and
-- writing. A lock that cannot be had (lock_timeout) fails the rollback like
-- any other error: nothing changed, a report, a log_tecnico row.
--
-- Order of writes (audit._orden_padres_primero): inserts, then updates,
-- parents first; then deletes, children first. So a child re-pointed to a
-- parent that comes back, or away from a parent that goes, is fine.
CREATE FUNCTION audit.revertir_modulo(
    modulo text,
    marca text,
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
AS $rollback$
DECLARE
    m record;
    tablas regclass[];
    t regclass;
    orden regclass[];
    info record;
    est record;
    estados jsonb := '{}'::pg_catalog.jsonb;
    e jsonb;
    cuentas jsonb := '{}'::pg_catalog.jsonb;
    n bigint;
    cambios jsonb := '[]'::pg_catalog.jsonb;
    advertencias jsonb := '[]'::pg_catalog.jsonb;
    previo text;
    o record;
    e_estado text; e_mensaje text; e_detalle text; e_pista text;
BEGIN
    -- Events captured from the WAL reach the log after their commit:
    -- wait until every transaction committed before this call is there.
    PERFORM audit.esperar_captura();
    IF modulo IS NULL OR marca IS NULL OR simular IS NULL OR estricto IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
            MESSAGE = 'modulo, marca, simular and estricto must not be null';
    END IF;
    tablas := audit._tablas_modulo(modulo);
    SELECT k.id, k.ultimo_id, k.instante INTO m
      FROM audit.marcas k
     WHERE k.modulo = revertir_modulo.modulo AND k.nombre = revertir_modulo.marca;
    IF NOT FOUND THEN
        SELECT k.modulo INTO o FROM audit.marcas k WHERE k.nombre = revertir_modulo.marca ORDER BY k.id LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION USING ERRCODE = 'undefined_object',
                MESSAGE = pg_catalog.format('mark "%s" does not exist in module "%s"', marca, modulo),
                DETAIL = pg_catalog.format('A mark of that name belongs to module "%s".', o.modulo),
                HINT = 'Marks are created with audit.crear_marca(modulo, nombre); they are listed in audit.marcas.';
        END IF;
        RAISE EXCEPTION USING ERRCODE = 'undefined_object',
            MESSAGE = pg_catalog.format('mark "%s" does not exist in module "%s"', marca, modulo),
            HINT = 'Marks are created with audit.crear_marca(modulo, nombre); they are listed in audit.marcas.';
    END IF;
    FOREACH t IN ARRAY tablas LOOP
        PERFORM audit._info_restauracion(t);
    END LOOP;

    BEGIN
        FOREACH t IN ARRAY tablas LOOP
            EXECUTE pg_catalog.format('LOCK TABLE %s IN EXCLUSIVE MODE', t);
        END LOOP;
        -- What each table looked like at the mark, and whether its snapshots
        -- still fit it; all checked before anything is written.
        FOREACH t IN ARRAY tablas LOOP
            info := audit._info_restauracion(t);
            PERFORM audit._comprobar_nombre(t, m.ultimo_id, NULL);
            est := audit._estado_previo(info.esquema, info.nombre, m.ultimo_id, NULL, NULL);
            PERFORM audit._comprobar_truncado(t, est.truncado);
            e := pg_catalog.jsonb_build_object(
                'clave', info.clave, 'presentes', est.presentes, 'ausentes', est.ausentes,
                'mapeo', audit._mapeo(t, COALESCE(est.primer_evento, m.ultimo_id + 1),
                                      est.presentes, est.ausentes, info.generadas));
            PERFORM audit._comprobar_mapeo(t, e -> 'mapeo');
            estados := estados || pg_catalog.jsonb_build_object(t::pg_catalog.text, e);
        END LOOP;
        SELECT pg_catalog.array_agg(p.tabla ORDER BY p.i),
               advertencias || COALESCE(pg_catalog.jsonb_agg(pg_catalog.format(
                   'table %s is in a cycle of foreign keys with other tables of the module: no order of writes satisfies them unless they are DEFERRABLE', p.tabla)
                   ORDER BY p.i) FILTER (WHERE p.en_ciclo), '[]'::pg_catalog.jsonb)
          INTO orden, advertencias
          FROM audit._orden_padres_primero(tablas) WITH ORDINALITY p(tabla, en_ciclo, i);

        IF NOT simular THEN
            previo := audit._inicio_restauracion(pg_catalog.jsonb_build_object(
                'funcion', 'revertir_modulo', 'modulo', modulo, 'marca', marca, 'marca_id', m.id));
        END IF;
        FOREACH t IN ARRAY orden LOOP
            e := estados -> t::pg_catalog.text;
            n := audit._escribir_imagenes(t, 'INSERT', ARRAY(SELECT pg_catalog.jsonb_array_elements_text(e -> 'clave')),
                                          e -> 'mapeo', e -> 'presentes', NULL, simular);
            cuentas := cuentas || pg_catalog.jsonb_build_object(t::pg_catalog.text, pg_catalog.jsonb_build_object('insertadas', n));
        END LOOP;
        FOREACH t IN ARRAY orden LOOP
            e := estados -> t::pg_catalog.text;
            n := audit._escribir_imagenes(t, 'UPDATE', ARRAY(SELECT pg_catalog.jsonb_array_elements_text(e -> 'clave')),
                                          e -> 'mapeo', e -> 'presentes', NULL, simular);
            cuentas := pg_catalog.jsonb_set(cuentas, ARRAY[t::pg_catalog.text, 'actualizadas'], pg_catalog.to_jsonb(n));
        END LOOP;
        FOR i IN REVERSE pg_catalog.cardinality(orden)..1 LOOP
            t := orden[i];
            e := estados -> t::pg_catalog.text;
            n := audit._escribir(t, 'DELETE', ARRAY(SELECT pg_catalog.jsonb_array_elements_text(e -> 'clave')),
                                 NULL, e -> 'ausentes', NULL, simular);
            cuentas := pg_catalog.jsonb_set(cuentas, ARRAY[t::pg_catalog.text, 'eliminadas'], pg_catalog.to_jsonb(n));
        END LOOP;
        IF NOT simular THEN
            PERFORM audit._fin_restauracion(previo);
        END IF;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS e_estado = RETURNED_SQLSTATE, e_mensaje = MESSAGE_TEXT,
                                e_detalle = PG_EXCEPTION_DETAIL, e_pista = PG_EXCEPTION_HINT;
        RETURN audit._fallo_restauracion('revertir_modulo', simular, estricto, e_estado, e_mensaje,
            e_detalle, e_pista,
            pg_catalog.jsonb_build_object('modulo', modulo, 'marca', marca),
            'rollback');
    END;

    -- One entry per table, in write order, with what was (or would be) done.
    FOREACH t IN ARRAY orden LOOP
        e := estados -> t::pg_catalog.text;
        cambios := cambios || pg_catalog.jsonb_build_array(
            pg_catalog.jsonb_build_object('tabla', t::pg_catalog.text)
            || (cuentas -> t::pg_catalog.text)
            || pg_catalog.jsonb_build_object(
                'columnas_sin_dato', e -> 'mapeo' -> 'sin_dato',
                'columnas_eliminadas_nulas', e -> 'mapeo' -> 'eliminadas_nulas'));
        IF (cuentas #>> ARRAY[t::pg_catalog.text, 'eliminadas'])::pg_catalog.int8 > 0 THEN
            advertencias := advertencias || COALESCE((
                SELECT pg_catalog.jsonb_agg(pg_catalog.format(
                           'table %s, outside the module, references %s: its ON DELETE action applied to the deleted rows', c.conrelid::pg_catalog.regclass, t))
                  FROM pg_catalog.pg_constraint c
                 WHERE c.contype = 'f' AND c.confrelid = t
                   AND c.conrelid <> ALL (tablas::pg_catalog.oid[])), '[]'::pg_catalog.jsonb);
        END IF;
    END LOOP;
    RETURN pg_catalog.jsonb_build_object(
        'aplicado', NOT simular,
        'simulado', simular,
        'modulo', modulo,
        'marca', marca,
        'marca_instante', m.instante,
        'cambios', cambios,
        'advertencias', advertencias,
        'error', NULL);
END
$rollback$;

-- The modules with their marks, newest mark first, for an administration
-- screen (audit.modulos and audit.marcas, readable by everyone, as one
-- call: PostgREST's RPC reaches functions; the console uses it). Tables are
-- named with their schema.
CREATE FUNCTION audit.listar_modulos()
    RETURNS TABLE(nombre text, tablas text[], creado_en timestamptz, creado_por text, marcas jsonb)
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
AS $modulos$
    SELECT m.nombre, m.tablas::text[], m.creado_en, m.creado_por,
           coalesce((SELECT jsonb_agg(jsonb_build_object('id', k.id, 'nombre', k.nombre, 'instante', k.instante,
                                                         'creada_por', k.creada_por)
                                      ORDER BY k.instante DESC, k.id DESC)
                       FROM audit.marcas k
                      WHERE k.modulo = m.nombre), '[]'::jsonb)
      FROM audit.modulos m
     ORDER BY m.nombre
$modulos$;
COMMENT ON FUNCTION audit.listar_modulos() IS
    'Every module with its tables and its marks (newest first).';
