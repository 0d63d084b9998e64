-- Maintenance (contract §7): what a scheduler (pg_cron) runs every few
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
    -- A fresh view of the sessions, not one cached earlier in this transaction.
    PERFORM pg_stat_clear_snapshot();
    SELECT min(a.xact_start) INTO inicio_mas_antiguo
      FROM pg_stat_activity a
     WHERE a.datid = (SELECT d.oid FROM pg_database d WHERE d.datname = current_database());
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

-- Safe to run at any time, from any number of sessions.
CREATE FUNCTION audit.mantenimiento() RETURNS jsonb
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $mantenimiento$
DECLARE
    creadas integer;
    marca audit.marcas_tiempo;
    sellado jsonb;
BEGIN
    creadas := audit._asegurar_particiones(2);
    marca := audit._marcar_tiempo();
    sellado := audit.sellar();
    RETURN jsonb_build_object(
        'particiones_creadas', creadas,
        'marca_tiempo', CASE WHEN marca.instante IS NOT NULL THEN to_jsonb(marca) END,
        'sellado', sellado);
END
$mantenimiento$;

COMMENT ON FUNCTION audit.mantenimiento() IS
    'Run every few minutes (pg_cron): creates the coming months'' log partitions, takes a time mark for date filters and seals finished transactions'' events.';
