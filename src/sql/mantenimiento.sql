-- Maintenance (docs/operations.md): what a scheduler (pg_cron) runs every few
-- minutes. Same rules as bootstrap.sql.

-- Takes a time mark (see audit.marcas_tiempo in bootstrap.sql) and returns
-- it, or NULL with the reason in a WARNING when no mark can be trusted.
--
-- Why each step is safe (docs/reading.md, "Date filters and time marks"):
-- 1. The oldest start among the transactions running now (ours included: it
--    may still write events with its own, older, "timestamp"). A transaction
--    that started before that has ended, so every id it will ever have was
--    handed out already.
-- 2. The sequence's last value, read after 1: every event of those ended
--    transactions has an id up to it.
-- 3. The clock, read after 2: every id up to that value was handed out
--    before now, to a transaction that had started before now.
-- The margin (a minute; tests use less) on both sides covers a
-- transaction caught between taking its start time and publishing it, and
-- small clock corrections.
CREATE FUNCTION audit._marcar_tiempo(margen interval DEFAULT '1 minute') RETURNS audit.marcas_tiempo
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $marca$
DECLARE
    inicio_mas_antiguo timestamptz;
    ultimo bigint;
    llamado boolean;
    ahora timestamptz;
    marca audit.marcas_tiempo;
BEGIN
    IF margen IS NULL OR margen < interval '0' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('margen must be zero or more, not %s', coalesce(margen::text, 'NULL'));
    END IF;
    -- Other roles' transactions are hidden from pg_stat_activity without it.
    IF NOT pg_has_role('pg_read_all_stats', 'USAGE') THEN
        RAISE WARNING USING
            MESSAGE = 'no time mark taken: the role running maintenance cannot see every session''s transaction start',
            HINT = 'Run audit.mantenimiento() as a superuser or as a member of pg_read_all_stats.';
        RETURN NULL;
    END IF;
    -- With a cache, a backend hands out ids it reserved earlier: the
    -- sequence's last value no longer says what was handed out before now.
    IF (SELECT s.seqcache FROM pg_sequence s
         WHERE s.seqrelid = 'audit.historial_cambios_id_seq'::regclass) <> 1 THEN
        RAISE WARNING USING
            MESSAGE = 'no time mark taken: audit.historial_cambios_id_seq has a CACHE other than 1',
            HINT = 'ALTER SEQUENCE audit.historial_cambios_id_seq CACHE 1;';
        RETURN NULL;
    END IF;
    -- A prepared transaction is in no session: its start is unknown, and
    -- captured from the WAL its events get their ids when it is committed,
    -- however long after. No mark while one waits.
    IF EXISTS (SELECT FROM pg_prepared_xacts p WHERE p.database = current_database()) THEN
        RAISE WARNING USING
            MESSAGE = 'no time mark taken: a prepared transaction of this database is pending',
            HINT = 'COMMIT PREPARED or ROLLBACK PREPARED it (pg_prepared_xacts); the next maintenance takes a mark.';
        RETURN NULL;
    END IF;
    -- A fresh view of the sessions, not one cached earlier in this transaction.
    PERFORM pg_stat_clear_snapshot();
    SELECT min(a.xact_start) INTO inicio_mas_antiguo
      FROM pg_stat_activity a
     WHERE a.datid = (SELECT d.oid FROM pg_database d WHERE d.datname = current_database());
    -- Capture from the WAL writes a committed transaction's events after
    -- its commit, with ids handed out then and its start as their time: a
    -- transaction that was no longer running when the sessions were looked
    -- at above may still be unwritten. Every one committed by now must be
    -- in the log before the last id is read; if the capture is too far
    -- behind, no mark this time.
    BEGIN
        PERFORM audit.esperar_captura('5 seconds');
    EXCEPTION WHEN query_canceled THEN
        IF SQLERRM NOT LIKE 'capture from the WAL did not catch up%' THEN
            RAISE;  -- a cancel or statement_timeout of the caller's
        END IF;
        RAISE WARNING USING
            MESSAGE = 'no time mark taken: capture from the WAL is more than 5 seconds behind',
            HINT = 'audit.estado_captura() shows its lag; the next maintenance tries again.';
        RETURN NULL;
    END;
    SELECT s.last_value, s.is_called INTO ultimo, llamado FROM audit.historial_cambios_id_seq s;
    IF NOT llamado THEN
        ultimo := ultimo - 1;
    END IF;
    ahora := clock_timestamp();
    INSERT INTO audit.marcas_tiempo (instante, ultimo_id, cerrado_hasta)
    VALUES (ahora + margen, ultimo, least(coalesce(inicio_mas_antiguo, ahora), ahora) - margen)
    RETURNING * INTO marca;
    RETURN marca;
END
$marca$;

-- Retention (audit.retencion_meses, docs/operations.md): drops the log's
-- monthly partitions whose every event is older than `meses` months and
-- already sealed, and records in audit.retenciones (and as a RETENCION
-- event in the log) which ids each one held. Never deletes single events,
-- never touches the default partition, never drops an unsealed event.
-- `ahora` is a parameter so tests can look from the future; maintenance
-- passes now(). `espera` bounds how long it waits for its locks: a drop
-- needs an exclusive lock on the log for an instant, and waiting behind a
-- long reader would stall every audited write queued behind it; a partition
-- not locked in time is left for the next run.
CREATE FUNCTION audit._aplicar_retencion(meses integer, ahora timestamptz DEFAULT pg_catalog.now(),
                                         espera interval DEFAULT '5 seconds') RETURNS jsonb
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    -- Dropping a log partition is the extension's own DDL (src/ddl_guard.rs).
    SET audit.operacion_interna = 'retencion'
    SET "TimeZone" = 'UTC'
AS $retencion$
DECLARE
    limite timestamptz;
    sellado_hasta bigint;
    p record;
    ultima_transaccion bigint;
    eventos bigint;
    rangos int8range[];
    eliminadas jsonb := '[]';
    omitidas jsonb := '[]';
    espera_previa text := pg_catalog.current_setting('lock_timeout');
    eliminada boolean;
BEGIN
    -- A partition is checked for unsealed events after it is locked: under
    -- REPEATABLE READ or SERIALIZABLE the check would read a snapshot older
    -- than the lock, and miss an event committed in between.
    IF pg_catalog.current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION USING ERRCODE = 'feature_not_supported',
            MESSAGE = pg_catalog.format('retention cannot run in a %s transaction',
                                        pg_catalog.upper(pg_catalog.current_setting('transaction_isolation'))),
            HINT = 'Call it in a READ COMMITTED transaction (the default), or on its own.';
    END IF;
    IF meses IS NULL OR meses < 0 OR meses > 1200 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = pg_catalog.format('meses must be between 0 and 1200, not %s', coalesce(meses::text, 'NULL'));
    END IF;
    IF ahora IS NULL OR espera IS NULL OR espera < interval '0' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = 'ahora must not be NULL and espera must be zero or more';
    END IF;
    IF meses = 0 THEN
        RETURN pg_catalog.jsonb_build_object('meses', 0, 'eliminadas', eliminadas, 'omitidas', omitidas);
    END IF;
    limite := ahora - pg_catalog.make_interval(months => meses);
    -- Blocks seal consecutive ranges of transactions from the first one: an
    -- event is sealed when its transaction is below the last block's end.
    SELECT pg_catalog.max(b.xid_hasta) INTO sellado_hasta FROM audit.bloques b;
    FOR p IN
        SELECT c.oid::pg_catalog.regclass AS particion, c.relname::pg_catalog.text AS nombre,
               r.limites[1]::pg_catalog.timestamptz AS desde, r.limites[2]::pg_catalog.timestamptz AS hasta
          FROM pg_catalog.pg_inherits i
          JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
         CROSS JOIN LATERAL (SELECT pg_catalog.regexp_match(pg_catalog.pg_get_expr(c.relpartbound, c.oid),
                                    'FROM \(''([^'']+)''\) TO \(''([^'']+)''\)') AS limites) r
         WHERE i.inhparent = 'audit.historial_cambios'::pg_catalog.regclass
           AND r.limites IS NOT NULL  -- not the default partition
           AND r.limites[2]::pg_catalog.timestamptz <= limite
         ORDER BY 3
    LOOP
        eliminada := false;
        BEGIN
            PERFORM pg_catalog.set_config('lock_timeout', (pg_catalog.date_part('epoch', espera) * 1000)::pg_catalog.int8::pg_catalog.text, true);
            -- From here no event can enter the partition (a transaction that
            -- began in its month and writes only now would wait), so what
            -- is checked below is what is dropped.
            EXECUTE pg_catalog.format('LOCK TABLE %s IN SHARE MODE', p.particion);
            EXECUTE pg_catalog.format('SELECT pg_catalog.max(transaccion), pg_catalog.count(*) FROM %s', p.particion)
                INTO ultima_transaccion, eventos;
            IF ultima_transaccion IS NOT NULL
               AND (sellado_hasta IS NULL OR ultima_transaccion >= sellado_hasta) THEN
                omitidas := omitidas || pg_catalog.jsonb_build_object(
                    'particion', p.nombre, 'motivo', 'eventos_sin_sellar');
            ELSE
                -- The partition's ids as ranges that contain no id of any other
                -- partition (months overlap in ids only at their edges).
                EXECUTE pg_catalog.format($rangos$
                    WITH propios AS (SELECT id FROM %1$s),
                         extremos AS (SELECT pg_catalog.min(id) AS lo, pg_catalog.max(id) AS hi FROM propios),
                         ajenos AS (SELECT h.id FROM audit.historial_cambios h, extremos e
                                     WHERE h.tableoid <> %2$s::pg_catalog.oid
                                       AND h.id >= e.lo AND h.id <= e.hi),
                         todos AS (SELECT id, true AS propio FROM propios UNION ALL SELECT id, false FROM ajenos),
                         grupos AS (SELECT id, propio,
                                           pg_catalog.count(*) FILTER (WHERE NOT propio) OVER (ORDER BY id) AS g
                                      FROM todos)
                    SELECT coalesce(pg_catalog.array_agg(pg_catalog.int8range(lo, hi, '[]') ORDER BY lo), '{}')
                      FROM (SELECT pg_catalog.min(id) AS lo, pg_catalog.max(id) AS hi
                              FROM grupos WHERE propio GROUP BY g) r
                    $rangos$, p.particion, p.particion::pg_catalog.oid) INTO rangos;
                EXECUTE pg_catalog.format('DROP TABLE %s', p.particion);
                eliminada := true;
            END IF;
        EXCEPTION WHEN lock_not_available THEN
            -- (Aborting the block's subtransaction also undid its lock_timeout.)
            omitidas := omitidas || pg_catalog.jsonb_build_object(
                'particion', p.nombre, 'motivo', 'bloqueo');
        END;
        PERFORM pg_catalog.set_config('lock_timeout', espera_previa, true);
        CONTINUE WHEN NOT eliminada;
        INSERT INTO audit.retenciones (particion, desde, hasta, eventos, rangos_id, meses, rol_bd)
        VALUES (p.nombre, p.desde, p.hasta, eventos, rangos, meses, current_user);
        PERFORM audit.registrar_evento('RETENCION', pg_catalog.jsonb_build_object(
            'particion', p.nombre, 'desde', p.desde, 'hasta', p.hasta, 'eventos', eventos, 'meses', meses,
            'rangos_id', pg_catalog.to_jsonb(rangos::pg_catalog.text[])));
        eliminadas := eliminadas || pg_catalog.jsonb_build_object(
            'particion', p.nombre, 'desde', p.desde, 'hasta', p.hasta, 'eventos', eventos);
    END LOOP;
    RETURN pg_catalog.jsonb_build_object('meses', meses, 'limite', limite,
                                         'eliminadas', eliminadas, 'omitidas', omitidas);
END
$retencion$;

-- Safe to run at any time, from any number of sessions.
CREATE FUNCTION audit.mantenimiento() RETURNS jsonb
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $mantenimiento$
DECLARE
    creadas integer;
    marca audit.marcas_tiempo;
    sellado jsonb;
    retencion jsonb;
BEGIN
    creadas := audit._asegurar_particiones(2);
    marca := audit._marcar_tiempo();
    sellado := audit.sellar();
    -- After sealing: what was just sealed may already be old enough to go.
    retencion := audit._aplicar_retencion(audit._retencion_meses());
    RETURN jsonb_build_object(
        'particiones_creadas', creadas,
        'marca_tiempo', CASE WHEN marca.instante IS NOT NULL THEN to_jsonb(marca) END,
        'sellado', sellado,
        'retencion', retencion);
END
$mantenimiento$;

COMMENT ON FUNCTION audit.mantenimiento() IS
    'Run every few minutes (pg_cron): creates the coming months'' log partitions, takes a time mark for date filters, seals finished transactions'' events and applies retention (audit.retencion_meses).';
