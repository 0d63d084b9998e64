-- audit 0.2.0 -> 0.3.0 (CHANGELOG.md). Run by ALTER EXTENSION audit UPDATE,
-- with search_path = audit, pg_temp. Same rules as sql/audit--0.1.0--0.2.0.sql:
-- what this script leaves must equal a fresh install of 0.3.0, object by
-- object (tests/integration/tests/upgrade.rs).

-- 1. Lists for administration screens over PostgREST's RPC (the console):
--    the configuration types, and the modules with their marks.
-- The configuration types, for an administration screen: the view
-- audit.tipos_config as a function (PostgREST's RPC reaches functions; the
-- console uses it).
CREATE FUNCTION audit.listar_tipos_config()
    RETURNS SETOF audit.tipos_config
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
AS $tipos$
    SELECT * FROM audit.tipos_config ORDER BY tipo
$tipos$;
COMMENT ON FUNCTION audit.listar_tipos_config() IS
    'Every configuration type (audit.tipos_config), by name.';

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

-- 2. The restores render the live rows they compare with the snapshots as
--    the snapshots are rendered, whatever the caller's TimeZone,
--    IntervalStyle, bytea_output, extra_float_digits or DateStyle: a
--    timestamptz, interval or bytea column otherwise looked changed since
--    every event (false conflicts in deshacer, rows twice in estado_en).
--    (deshacer is replaced in section 5, with the same settings.)
ALTER FUNCTION audit.restaurar_registro(regclass, uuid, timestamptz, boolean, boolean)
    SET TimeZone = 'UTC' SET DateStyle = 'ISO, YMD' SET IntervalStyle = 'postgres'
    SET extra_float_digits = 1 SET bytea_output = 'hex';
ALTER FUNCTION audit.estado_en(regclass, timestamptz)
    SET TimeZone = 'UTC' SET DateStyle = 'ISO, YMD' SET IntervalStyle = 'postgres'
    SET extra_float_digits = 1 SET bytea_output = 'hex';
ALTER FUNCTION audit.revertir_modulo(text, text, boolean, boolean)
    SET TimeZone = 'UTC' SET DateStyle = 'ISO, YMD' SET IntervalStyle = 'postgres'
    SET extra_float_digits = 1 SET bytea_output = 'hex';

-- 3. The installing role's default privileges (ALTER DEFAULT PRIVILEGES)
--    reached the extension's objects: writes and reads on the log's
--    partitions (which have no row-level security), writes on its tables
--    and sequences, CREATE on the schema. A fresh install now resets every
--    object to PostgreSQL's built-in privileges before granting its own
--    (src/sql/finalize.sql), and each later partition as it is created.
--    Here, what can only have come from default privileges goes: every
--    privilege on a partition of the log (GRANT on one has always been
--    refused), privileges other than SELECT on the other tables and
--    sequences (refused likewise; audit.alertas excepted, on which a DBA
--    grants writes) and CREATE on the schema. Privileges a DBA may have
--    granted on purpose (SELECT, EXECUTE) are left: docs/security.md says
--    how to check them.
CREATE FUNCTION audit._privilegios_de_fabrica(solo regclass) RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $fabrica$
DECLARE
    o record;
    p record;
BEGIN
    FOR o IN
        SELECT CASE c.relkind WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END AS clase,
               c.oid::regclass::text AS nombre, c.relacl AS acl,
               acldefault((CASE c.relkind WHEN 'S' THEN 's' ELSE 'r' END)::"char", c.relowner) AS fabrica
          FROM pg_class c
         WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
           AND (c.oid = solo OR (solo IS NULL AND c.relnamespace = 'audit'::regnamespace))
        UNION ALL
        SELECT 'ROUTINE', f.oid::regprocedure::text, f.proacl, acldefault('f', f.proowner)
          FROM pg_proc f
         WHERE solo IS NULL AND f.pronamespace = 'audit'::regnamespace
        UNION ALL
        SELECT 'TYPE', t.oid::regtype::text, t.typacl, acldefault('T', t.typowner)
          FROM pg_type t
         WHERE solo IS NULL AND t.typnamespace = 'audit'::regnamespace
           AND t.typacl IS NOT NULL
        UNION ALL
        SELECT 'SCHEMA', quote_ident(n.nspname), n.nspacl, acldefault('n', n.nspowner)
          FROM pg_namespace n
         WHERE solo IS NULL AND n.nspname = 'audit'
    LOOP
        CONTINUE WHEN o.acl IS NULL;
        FOR p IN
            SELECT 'REVOKE' AS orden, x.grantee, x.privilege_type, x.is_grantable
              FROM (SELECT grantee, privilege_type, is_grantable FROM aclexplode(o.acl)
                    EXCEPT SELECT grantee, privilege_type, is_grantable FROM aclexplode(o.fabrica)) x
            UNION ALL
            SELECT 'GRANT', x.grantee, x.privilege_type, x.is_grantable
              FROM (SELECT grantee, privilege_type, is_grantable FROM aclexplode(o.fabrica)
                    EXCEPT SELECT grantee, privilege_type, is_grantable FROM aclexplode(o.acl)) x
             ORDER BY 1 DESC
        LOOP
            EXECUTE format('%s %s ON %s %s %s %s%s',
                           p.orden, p.privilege_type, o.clase, o.nombre,
                           CASE p.orden WHEN 'REVOKE' THEN 'FROM' ELSE 'TO' END,
                           CASE p.grantee WHEN 0 THEN 'PUBLIC' ELSE p.grantee::regrole::text END,
                           CASE WHEN p.orden = 'REVOKE' THEN ' CASCADE'
                                WHEN p.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
        END LOOP;
    END LOOP;
END
$fabrica$;
REVOKE EXECUTE ON FUNCTION audit._privilegios_de_fabrica(regclass) FROM PUBLIC;

SELECT audit._privilegios_de_fabrica(c.oid)
  FROM pg_catalog.pg_class c
 WHERE c.relispartition AND c.relnamespace OPERATOR(pg_catalog.=) 'audit'::pg_catalog.regnamespace;

DO $desde_privilegios_por_defecto$
DECLARE
    o record;
BEGIN
    FOR o IN
        SELECT CASE WHEN c.relkind OPERATOR(pg_catalog.=) 'S' THEN 'SEQUENCE' ELSE 'TABLE' END AS clase,
               c.oid::pg_catalog.regclass::pg_catalog.text AS nombre,
               x.privilege_type,
               CASE WHEN x.grantee OPERATOR(pg_catalog.=) 0::pg_catalog.oid THEN 'PUBLIC'
                    ELSE x.grantee::pg_catalog.regrole::pg_catalog.text END AS a
          FROM pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) x
         WHERE c.relnamespace OPERATOR(pg_catalog.=) 'audit'::pg_catalog.regnamespace
           AND NOT c.relispartition
           AND c.oid OPERATOR(pg_catalog.<>) 'audit.alertas'::pg_catalog.regclass
           AND x.grantee OPERATOR(pg_catalog.<>) c.relowner
           AND x.privilege_type OPERATOR(pg_catalog.<>) 'SELECT'
        UNION ALL
        SELECT 'SCHEMA', 'audit', x.privilege_type,
               CASE WHEN x.grantee OPERATOR(pg_catalog.=) 0::pg_catalog.oid THEN 'PUBLIC'
                    ELSE x.grantee::pg_catalog.regrole::pg_catalog.text END
          FROM pg_catalog.pg_namespace n, pg_catalog.aclexplode(n.nspacl) x
         WHERE n.nspname OPERATOR(pg_catalog.=) 'audit' AND x.grantee OPERATOR(pg_catalog.<>) n.nspowner
           AND x.privilege_type OPERATOR(pg_catalog.=) 'CREATE'
    LOOP
        EXECUTE pg_catalog.format('REVOKE %s ON %s %s FROM %s CASCADE', o.privilege_type, o.clase, o.nombre, o.a);
    END LOOP;
END
$desde_privilegios_por_defecto$;

-- 4. An INSERT or COPY into the log or one of its partitions, which a
--    superuser could make with every guard on, is refused like UPDATE and
--    DELETE, except while a dump is loaded (check_function_bodies off).
--    The capture and audit.registrar_evento write below the executor: no
--    trigger fires for them. The trigger is cloned to every partition.
CREATE FUNCTION audit._rechazar_insercion() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $insert_guard$
BEGIN
    IF NOT pg_catalog.current_setting('check_function_bodies')::boolean THEN
        RETURN NEW;
    END IF;
    -- The log replicated to an archive (docs/replication.md): a
    -- subscription's apply worker writes the publisher's events as they are.
    IF pg_catalog.current_setting('session_replication_role') = 'replica'
       AND (SELECT a.backend_type FROM pg_catalog.pg_stat_get_activity(pg_catalog.pg_backend_pid()) a)
           = 'logical replication worker' THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION USING
        ERRCODE = 'insufficient_privilege',
        MESSAGE = 'INSERT on audit.historial_cambios is not allowed',
        DETAIL = 'Events enter the audit log only as they are captured, or through audit.registrar_evento.',
        HINT = 'To record an application event, call audit.registrar_evento(tipo_operacion, metadata).';
END
$insert_guard$;
REVOKE EXECUTE ON FUNCTION audit._rechazar_insercion() FROM PUBLIC;
CREATE TRIGGER historial_cambios_sin_insercion
    BEFORE INSERT ON audit.historial_cambios
    FOR EACH ROW EXECUTE FUNCTION audit._rechazar_insercion();
ALTER TABLE audit.historial_cambios ENABLE ALWAYS TRIGGER historial_cambios_sin_insercion;

-- 5. Restores: one is not applied under REPEATABLE READ or SERIALIZABLE
--    (its reads would see a snapshot older than its locks, and miss what
--    committed in between), and deshacer refuses an event of a table that
--    has another table's name now (42P01): it wrote the event's row into
--    the new table. Replaced in place, keeping their grants.
CREATE OR REPLACE FUNCTION audit._inicio_restauracion(origen jsonb) RETURNS text
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

CREATE OR REPLACE FUNCTION audit.deshacer(
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

-- 6. Time marks and capture from the WAL: a mark is taken only once every
--    transaction committed before it is in the log (the capture worker
--    writes them after their commit, with later ids and their start as
--    their time: a date filter through a mark missed them while the worker
--    lagged); and none is taken while a prepared transaction is pending (no
--    session shows its start, and from the WAL its events get their ids at
--    COMMIT PREPARED). Replaced in place, keeping its grants.
CREATE OR REPLACE FUNCTION audit._marcar_tiempo(margen interval DEFAULT '1 minute') RETURNS audit.marcas_tiempo
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

-- 7. Schema drift: several ALTER TABLEs with no event between them (a
--    column dropped and another of the same name added, or two columns
--    swapped by renames) are kept as versions of the same desde_id, in
--    order, instead of the last replacing the others: a restore across them
--    was not refused, and wrote the dropped column's values into the new one.
ALTER TABLE audit.estructuras_tabla ADD COLUMN version integer NOT NULL DEFAULT 1;
ALTER TABLE audit.estructuras_tabla DROP CONSTRAINT estructuras_tabla_pkey,
    ADD PRIMARY KEY (tabla, desde_id, version);
CREATE OR REPLACE FUNCTION audit._mapeo(tabla regclass, primer_evento bigint, presentes jsonb, ausentes jsonb, generadas text[]) RETURNS jsonb
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

CREATE OR REPLACE FUNCTION audit._comprobar_nombre(tabla regclass, desde_id bigint, desde_instante timestamptz) RETURNS void
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

-- 8. A tenant's restore never writes over, or deletes, a row that holds
--    another tenant's data now (42501): a module rollback by tenant A's
--    administrator overwrote the row tenant B had made under a key A's row
--    had had. And an UPDATE that cannot put back a GENERATED ALWAYS
--    identity column's value (an undone `SET id = DEFAULT`) is refused
--    (55000) instead of reported as restored. Replaced in place, keeping
--    its grants.
CREATE OR REPLACE FUNCTION audit._escribir(
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

-- 9. A table dropped while in a module left its OID in the module's list,
--    and every rollback and new mark of the module failed (42P01) for good.
--    Dropping a table now takes it out of its modules; here, modules lose
--    the tables already gone.
UPDATE audit.modulos m
   SET tablas = ARRAY(SELECT u.t FROM pg_catalog.unnest(m.tablas) WITH ORDINALITY u(t, i)
                       WHERE EXISTS (SELECT FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) u.t::pg_catalog.oid)
                       ORDER BY u.i)
 WHERE EXISTS (SELECT FROM pg_catalog.unnest(m.tablas) t
                WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) t::pg_catalog.oid));

-- 10. The report of a failed restaurar_config names the version's type and
--     the type's active version, as docs/configuration.md says (it left
--     both out): read by a function of the library, as the caller's tenant.
CREATE FUNCTION audit._config_de_version(
	"id_version" bigint /* i64 */
) RETURNS jsonb /* Jsonb */
STRICT STABLE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_config_de_version_wrapper';
CREATE OR REPLACE FUNCTION audit.restaurar_config(
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

-- 11. The DDL guard also sees ALTER FUNCTION / PROCEDURE / ROUTINE (owner,
--     name, schema, SECURITY DEFINER, settings) of the extension's
--     functions and ALTER TRIGGER ... RENAME of its relations' guards, which
--     went through: a new owner of audit.es_lector() could replace what
--     row-level security asks. Tags cannot be added to an event trigger:
--     it is made again, as a fresh install makes it.
DROP EVENT TRIGGER audit_al_terminar_ddl;
CREATE EVENT TRIGGER audit_al_terminar_ddl ON ddl_command_end
    WHEN TAG IN ('CREATE TRIGGER', 'CREATE TABLE', 'ALTER TABLE', 'ALTER POLICY', 'ALTER EXTENSION', 'GRANT',
                 'ALTER FUNCTION', 'ALTER PROCEDURE', 'ALTER ROUTINE', 'ALTER TRIGGER')
    EXECUTE FUNCTION audit._al_terminar_ddl();
ALTER EVENT TRIGGER audit_al_terminar_ddl ENABLE ALWAYS;

-- 12. Sealing and retention refuse to run under REPEATABLE READ or
--     SERIALIZABLE (0A000), as audit.seguir does: their reads would see a
--     snapshot older than the horizon or the lock, and a transaction
--     committed in between was left out of its block for good, or its
--     unsealed events dropped with their partition. (sellar is the
--     library's; retention is replaced in place, keeping its grants.)
CREATE OR REPLACE FUNCTION audit._aplicar_retencion(meses integer, ahora timestamptz DEFAULT pg_catalog.now(),
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

-- 13. The alert rules' id sequence is dumped with them: after a restore,
--     the next rule took id 1 again and collided with a restored one.
SELECT pg_catalog.pg_extension_config_dump('audit.alertas_id_seq', '');
