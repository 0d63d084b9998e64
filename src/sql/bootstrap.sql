-- Bootstrap of the audit extension: runs first in the install script.
--
-- Rules for this file and the others in src/sql (docs/security.md,
-- docs/development.md): every name is schema-qualified; no CREATE OR REPLACE
-- and no IF NOT EXISTS; every function pins its search_path to pg_catalog,
-- pg_temp, and inside such a function operators are written plainly;
-- outside one (defaults, policies, views: SQL run with the caller's path)
-- they are written OPERATOR(pg_catalog.x). CREATE EXTENSION runs this with
-- search_path = audit, pg_temp.

-- 0. Refuse to install while the capture slot of a previous installation in
-- this database is still there. DROP EXTENSION leaves it to its capture
-- worker, which drops it a moment later (it holds it while it runs): an
-- installation made meanwhile would take that slot over, with its past, and
-- capture from the WAL would fail on it for good.
DO $previous_slot$
DECLARE
    slot text := pg_catalog.format('audit_captura_%s',
                                   (SELECT d.oid FROM pg_catalog.pg_database d
                                     WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database()));
BEGIN
    IF EXISTS (SELECT FROM pg_catalog.pg_replication_slots r WHERE r.slot_name OPERATOR(pg_catalog.=) slot) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = pg_catalog.format('the capture slot %s of a previous installation of audit is still there', slot),
            DETAIL = 'DROP EXTENSION audit leaves it to its capture worker, which drops it within a few seconds.',
            HINT = pg_catalog.format('Run CREATE EXTENSION again in a moment. If it stays (the library is not preloaded, so no worker runs), drop it: SELECT pg_drop_replication_slot(%L).', slot);
    END IF;
END
$previous_slot$;

-- 1. Refuse to install into a schema someone else prepared.
--
-- The control file names schema "audit", and PostgreSQL reuses such a schema
-- when it already exists. A schema pre-created by an unprivileged role could
-- hold objects that hijack the extension, so it is accepted only when it is
-- owned by the installing role or by a superuser and holds nothing yet (as
-- when pg_dump's output recreates it just before CREATE EXTENSION).
DO $install_guard$
DECLARE
    owner_name name;
    owner_is_superuser boolean;
    objects_inside bigint;
BEGIN
    IF pg_catalog.current_setting('server_encoding') OPERATOR(pg_catalog.<>) 'UTF8' THEN
        RAISE EXCEPTION USING
            ERRCODE = 'feature_not_supported',
            MESSAGE = 'the audit extension requires a database with UTF8 encoding',
            DETAIL = pg_catalog.format('This database uses %s. Snapshots are jsonb, and jsonb cannot hold every character of other encodings.',
                                       pg_catalog.current_setting('server_encoding')),
            HINT = 'Create the database with ENCODING ''UTF8''.';
    END IF;

    SELECT r.rolname, r.rolsuper
      INTO owner_name, owner_is_superuser
      FROM pg_catalog.pg_namespace n
      JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) n.nspowner
     WHERE n.nspname OPERATOR(pg_catalog.=) 'audit';

    IF owner_name OPERATOR(pg_catalog.<>) CURRENT_USER AND NOT owner_is_superuser THEN
        RAISE EXCEPTION USING
            ERRCODE = 'duplicate_schema',
            MESSAGE = 'schema "audit" already exists and is owned by role "' OPERATOR(pg_catalog.||) owner_name OPERATOR(pg_catalog.||) '"',
            DETAIL = 'The audit extension creates its own schema. A schema prepared by another role could hold objects that take over the extension.',
            HINT = 'Drop or rename that schema (ALTER SCHEMA audit RENAME TO ...), then run CREATE EXTENSION audit again.';
    END IF;

    SELECT (SELECT pg_catalog.count(*) FROM pg_catalog.pg_class WHERE relnamespace OPERATOR(pg_catalog.=) 'audit'::pg_catalog.regnamespace)
         OPERATOR(pg_catalog.+) (SELECT pg_catalog.count(*) FROM pg_catalog.pg_proc WHERE pronamespace OPERATOR(pg_catalog.=) 'audit'::pg_catalog.regnamespace)
         OPERATOR(pg_catalog.+) (SELECT pg_catalog.count(*) FROM pg_catalog.pg_type WHERE typnamespace OPERATOR(pg_catalog.=) 'audit'::pg_catalog.regnamespace)
         OPERATOR(pg_catalog.+) (SELECT pg_catalog.count(*) FROM pg_catalog.pg_operator WHERE oprnamespace OPERATOR(pg_catalog.=) 'audit'::pg_catalog.regnamespace)
         OPERATOR(pg_catalog.+) (SELECT pg_catalog.count(*) FROM pg_catalog.pg_collation WHERE collnamespace OPERATOR(pg_catalog.=) 'audit'::pg_catalog.regnamespace)
         OPERATOR(pg_catalog.+) (SELECT pg_catalog.count(*) FROM pg_catalog.pg_conversion WHERE connamespace OPERATOR(pg_catalog.=) 'audit'::pg_catalog.regnamespace)
      INTO objects_inside;

    IF objects_inside OPERATOR(pg_catalog.>) 0 THEN
        RAISE EXCEPTION USING
            ERRCODE = 'duplicate_schema',
            MESSAGE = 'schema "audit" already exists and is not empty',
            DETAIL = pg_catalog.format('It holds %s objects that do not belong to the extension (another audit tool, such as supa_audit, uses the same schema name).', objects_inside),
            HINT = 'Move those objects out or rename the schema (ALTER SCHEMA audit RENAME TO ...), then run CREATE EXTENSION audit again.';
    END IF;
END
$install_guard$;

-- 2. The log: audit.historial_cambios ("the black box").
CREATE SEQUENCE audit.historial_cambios_id_seq AS bigint;

CREATE TABLE audit.historial_cambios (
    -- The contract's columns, in its order.
    id                 bigint      NOT NULL DEFAULT pg_catalog.nextval('audit.historial_cambios_id_seq'::pg_catalog.regclass),
    "timestamp"        timestamptz NOT NULL DEFAULT pg_catalog.now(),
    usuario_id         uuid,
    usuario_nombre     text,
    accion             text        NOT NULL,
    esquema            text,
    tabla_afectada     text,
    registro_id        uuid,
    registro_pk        jsonb,
    datos_anteriores   jsonb,
    datos_nuevos       jsonb,
    campos_modificados text[],
    empresa_id         uuid,
    metadata           jsonb       NOT NULL DEFAULT '{}'::pg_catalog.jsonb,
    transaccion        bigint      NOT NULL,
    rol_bd             text        NOT NULL,
    aplicacion         text,
    ip_cliente         inet,
    -- Additions (after the contract's columns, as it allows).
    -- The row's previous registro_id when an UPDATE changed its key, so the
    -- history of a row can be followed across key changes.
    registro_id_anterior uuid,
    -- The login role, when it differs from rol_bd (PostgREST logs in as an
    -- authenticator role and switches to the request's role).
    rol_sesion         text,
    -- The user id from the claims when it is not a uuid (e.g. an Auth0 subject).
    usuario_externo    text,
    -- What the capture noted about the event beyond the row's values; NULL
    -- for the ordinary event (crates/audit-model/src/notas.rs): the tenant
    -- the writer claimed when it differs from the event's, why the writer's
    -- identity could not be read, a row's move between tenants, the exact
    -- text of values to_jsonb cannot represent.
    notas              jsonb,
    -- SHA-256 of the event's canonical encoding (crates/audit-model/src/huella.rs),
    -- computed by the capture path; sealed into audit.bloques by audit.sellar().
    huella             bytea
    -- No CHECK constraints: the shape of each kind of event (an INSERT has no
    -- datos_anteriores, ...) is guaranteed by the capture path's types
    -- (src/capture/writer.rs), the only writer; a CHECK would be compiled
    -- again in every transaction that writes (docs/design.md).
) PARTITION BY RANGE ("timestamp");

COMMENT ON TABLE audit.historial_cambios IS
    'Every captured change and application event (append-only). Partitioned by month (UTC) on "timestamp".';

-- Rows whose month has no partition yet land here. Monthly partitions are
-- created by audit._asegurar_particiones (called when a table starts being
-- audited, and by maintenance); they are not extension members, so pg_dump
-- dumps them as ordinary tables and a restore in a later month still works.
CREATE TABLE audit.historial_cambios_default PARTITION OF audit.historial_cambios DEFAULT;

-- Indexes live on each partition, not on the parent. The monthly partitions
-- are ordinary tables that pg_dump recreates with their own indexes; an
-- index defined on the (extension-owned) parent would make ATTACH create a
-- second copy on restore and the restore fail. Every partition gets exactly
-- this set, one per query the reading API serves and nothing more (each
-- index is paid on every captured row); partial where a column is often
-- NULL, so deployments that do not use it pay nothing. Every one ends in
-- id: a page is read newest first straight from the index and stops after
-- `limite` rows (docs/reading.md, bench/historial_plans.sh).
-- * id (unique): one event by id; the global timeline.
-- * (empresa_id, id): a tenant's timeline, alone or with a date range,
--   an action or a changed column.
-- * (empresa_id, (- id)) of the events whose metadata is not empty: a
--   tenant's timeline filtered by metadata containment (ordered by - id, so
--   that no other index can serve it: crates/audit-model/src/filtros.rs).
--   Captured rows carry the transaction's context as metadata, usually
--   none: they pay nothing.
-- * (empresa_id, tabla_afectada, id): one table's history within a tenant.
-- * (tabla_afectada, id): one table's history across tenants, and in
--   single-tenant deployments (empresa_id NULL), which the index above
--   leaves out.
-- * (registro_id, id): one record's history (detail view, undo, restore).
-- * (usuario_id, id): one user's activity.
-- * metadata->>'tipo_operacion', within a tenant and across tenants: the
--   application's operation types (document replaced, version marked...),
--   only for the events that have one.
-- * BRIN on "timestamp": date ranges in aggregate queries (audit.actividad);
--   rows arrive in time order, so it is a few pages and costs almost nothing.
-- * BRIN on transaccion: the events of a range of transactions, which is
--   what audit.sellar() seals; transaction ids grow with time as well.
CREATE FUNCTION audit._indexar_particion(particion regclass) RETURNS void
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
SELECT audit._indexar_particion('audit.historial_cambios_default');

-- Append-only guard. Grants already keep every non-owner role out; this stops
-- the owner and superusers from editing history by accident, and ENABLE
-- ALWAYS means session_replication_role = replica does not skip it.
CREATE FUNCTION audit._rechazar_modificacion() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $guard$
BEGIN
    -- The one exception: audit._asegurar_particiones moving a month's events
    -- out of the default partition into that month's new partition (the
    -- same rows, inserted there first, in the same transaction).
    IF TG_OP = 'DELETE'
       AND TG_TABLE_NAME = 'historial_cambios_default'
       AND pg_catalog.current_setting('audit.operacion_interna', true) = 'mover_eventos' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION USING
        ERRCODE = 'insufficient_privilege',
        -- Named after the log, not the monthly partition the row is in.
        MESSAGE = pg_catalog.format('%s on %s is not allowed', TG_OP,
                                    CASE WHEN pg_catalog.starts_with(TG_TABLE_NAME, 'historial_cambios')
                                         THEN 'audit.historial_cambios'
                                         ELSE 'audit.' || TG_TABLE_NAME END),
        DETAIL = 'The audit log is append-only: recorded events are never changed or deleted.',
        HINT = 'To correct data, change the audited table: the correction is recorded as a new event.';
END
$guard$;

-- Events enter the log only through the capture path and
-- audit.registrar_evento, which write below the executor (no trigger
-- fires for them): an INSERT or COPY into the log or a partition by a
-- superuser is refused, as changing one is. The exceptions bring events
-- back as they were, hashes included: loading a dump (pg_dump's output
-- turns check_function_bodies off), and a subscription's apply worker
-- replicating the log to an archive.
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

-- Row triggers on a partitioned table are cloned to every partition, present
-- and future; TRUNCATE triggers are not, so each partition gets its own.
CREATE TRIGGER historial_cambios_sin_insercion
    BEFORE INSERT ON audit.historial_cambios
    FOR EACH ROW EXECUTE FUNCTION audit._rechazar_insercion();
ALTER TABLE audit.historial_cambios ENABLE ALWAYS TRIGGER historial_cambios_sin_insercion;
CREATE TRIGGER historial_cambios_solo_insercion
    BEFORE UPDATE OR DELETE ON audit.historial_cambios
    FOR EACH ROW EXECUTE FUNCTION audit._rechazar_modificacion();
CREATE TRIGGER historial_cambios_sin_truncate
    BEFORE TRUNCATE ON audit.historial_cambios
    FOR EACH STATEMENT EXECUTE FUNCTION audit._rechazar_modificacion();
CREATE TRIGGER historial_cambios_sin_truncate
    BEFORE TRUNCATE ON audit.historial_cambios_default
    FOR EACH STATEMENT EXECUTE FUNCTION audit._rechazar_modificacion();
ALTER TABLE audit.historial_cambios ENABLE ALWAYS TRIGGER historial_cambios_solo_insercion;
ALTER TABLE audit.historial_cambios ENABLE ALWAYS TRIGGER historial_cambios_sin_truncate;
ALTER TABLE audit.historial_cambios_default ENABLE ALWAYS TRIGGER historial_cambios_sin_truncate;

-- Creates the partitions of the current month and the next `meses` months
-- (UTC months), and of every month whose events wait in the default
-- partition. Returns how many it created.
--
-- Events of a month that had no partition yet sit in the default partition;
-- when that month's partition is created they are moved into it, in this
-- transaction (so an event written in the last instant of a month, before
-- any partition of that month existed, still ends up in its month's
-- partition when the next call runs in the following month): copied, removed from the default partition (the append-only
-- guard lets exactly that DELETE through, flagged by
-- audit.operacion_interna for this transaction), then the new table is
-- attached. The default partition is
-- locked first, so no concurrent insert can fall between copy and delete.
-- Called only from administrative paths (audit.auditar, CREATE TRIGGER,
-- maintenance), never while recording an event: partition DDL takes locks
-- that must not be taken in the middle of users' writes.
CREATE FUNCTION audit._asegurar_particiones(meses integer DEFAULT 2) RETURNS integer
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    -- Its DDL on the log is the extension's own (src/ddl_guard.rs).
    SET audit.operacion_interna = 'particiones'
    SET "TimeZone" = 'UTC'
    SET "DateStyle" = 'ISO, YMD'
AS $partitions$
DECLARE
    primer_mes timestamp := pg_catalog.date_trunc('month', pg_catalog.now() AT TIME ZONE 'UTC');
    mes timestamp;
    desde timestamptz;
    hasta timestamptz;
    nombre text;
    creadas integer := 0;
BEGIN
    IF meses IS NULL OR meses < 0 OR meses > 120 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = pg_catalog.format('meses must be between 0 and 120, not %s', meses);
    END IF;
    -- Two sessions starting to audit tables at once must not race here.
    PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('audit._asegurar_particiones'));
    FOR mes IN
        SELECT primer_mes + pg_catalog.make_interval(months => i)
          FROM pg_catalog.generate_series(0, meses) i
        UNION
        SELECT DISTINCT pg_catalog.date_trunc('month', d."timestamp" AT TIME ZONE 'UTC')
          FROM audit.historial_cambios_default d
        ORDER BY 1
    LOOP
        desde := mes AT TIME ZONE 'UTC';
        hasta := (mes + pg_catalog.make_interval(months => 1)) AT TIME ZONE 'UTC';
        nombre := 'historial_cambios_' || pg_catalog.to_char(desde, 'YYYY_MM');
        CONTINUE WHEN pg_catalog.to_regclass(pg_catalog.format('audit.%I', nombre)) IS NOT NULL;
        LOCK TABLE audit.historial_cambios_default IN SHARE ROW EXCLUSIVE MODE;
        IF EXISTS (SELECT FROM audit.historial_cambios_default
                    WHERE "timestamp" >= desde AND "timestamp" < hasta) THEN
            EXECUTE pg_catalog.format('CREATE TABLE audit.%I (LIKE audit.historial_cambios INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', nombre);
            EXECUTE pg_catalog.format('INSERT INTO audit.%I SELECT * FROM audit.historial_cambios_default WHERE "timestamp" >= $1 AND "timestamp" < $2', nombre)
                USING desde, hasta;
            PERFORM pg_catalog.set_config('audit.operacion_interna', 'mover_eventos', true);
            DELETE FROM audit.historial_cambios_default
             WHERE "timestamp" >= desde AND "timestamp" < hasta;
            PERFORM pg_catalog.set_config('audit.operacion_interna', 'particiones', true);
            EXECUTE pg_catalog.format('ALTER TABLE audit.historial_cambios ATTACH PARTITION audit.%I FOR VALUES FROM (%L) TO (%L)',
                                      nombre, desde, hasta);
        ELSE
            EXECUTE pg_catalog.format('CREATE TABLE audit.%I PARTITION OF audit.historial_cambios FOR VALUES FROM (%L) TO (%L)',
                                      nombre, desde, hasta);
        END IF;
        PERFORM audit._indexar_particion(pg_catalog.format('audit.%I', nombre)::pg_catalog.regclass);
        EXECUTE pg_catalog.format('CREATE TRIGGER historial_cambios_sin_truncate BEFORE TRUNCATE ON audit.%I FOR EACH STATEMENT EXECUTE FUNCTION audit._rechazar_modificacion()',
                                  nombre);
        EXECUTE pg_catalog.format('ALTER TABLE audit.%I ENABLE ALWAYS TRIGGER historial_cambios_sin_truncate', nombre);
        creadas := creadas + 1;
    END LOOP;
    RETURN creadas;
END
$partitions$;

-- 3. Per-table settings of audited tables.
--
-- Keyed by regclass, not by OID: pg_dump writes a regclass as the table's
-- name and a restore resolves it to the new table, so settings survive a
-- dump and restore. A table with a capture trigger but no row here (the
-- trigger was attached by hand while event triggers were disabled) is
-- audited with the default options.
CREATE TABLE audit.tablas_config (
    tabla    regclass    PRIMARY KEY,
    opciones jsonb       NOT NULL DEFAULT '{}'::pg_catalog.jsonb,
    desde    timestamptz NOT NULL DEFAULT pg_catalog.now(),
    -- The table's replica identity before capture from the WAL set it to
    -- FULL, as the clause that restores it ('DEFAULT', 'USING INDEX i', ...);
    -- NULL when the extension did not change it.
    identidad_replica text
)
-- Read by the WAL's output plugin as of each decoded change (logical
-- decoding's historic snapshot): which changes are the WAL's to record.
WITH (user_catalog_table = true);
COMMENT ON TABLE audit.tablas_config IS
    'Options of each audited table (set with audit.auditar). Read through the view audit.tablas_auditadas.';

-- 4. Time marks: where in the id sequence a moment falls.
--
-- The timeline is ordered by id, and a date filter is on "timestamp" (the
-- transaction's start). The two orders agree only roughly: a transaction
-- that started earlier can write later, with higher ids. A mark records,
-- at one moment, facts that turn a date bound into an exact id bound, so a
-- page with a date filter is read from the id-ordered indexes starting and
-- stopping in the right place instead of scanning the month around it:
-- * every event whose "timestamp" is after `instante` has an id above
--   `ultimo_id` (ids up to it were all handed out before that moment);
-- * every event whose "timestamp" is before `cerrado_hasta` has an id up to
--   `ultimo_id` (every transaction that started before then had ended).
-- Taken by audit.mantenimiento() (src/sql/mantenimiento.sql), read by the
-- history query (src/historial.rs). Without marks date filters are just as
-- exact, only slower.
CREATE TABLE audit.marcas_tiempo (
    instante      timestamptz PRIMARY KEY,
    ultimo_id     bigint      NOT NULL,
    cerrado_hasta timestamptz NOT NULL
);
CREATE INDEX marcas_tiempo_cerrado_hasta_idx ON audit.marcas_tiempo (cerrado_hasta);
COMMENT ON TABLE audit.marcas_tiempo IS
    'Id bounds of moments in time, taken by audit.mantenimiento(); they let date filters read only the events they return.';

-- 5. Sealed blocks (tamper evidence; src/ledger, docs/tamper-evidence.md).
--
-- Each block seals the events of a range of transactions that had all ended
-- when it was sealed: their ids and hashes (hojas), a hash of that list
-- (raiz) and a hash of the header that includes the previous block's hash,
-- so the blocks form a chain. Append-only like the log. Its last hash is the
-- digest to keep outside the database.
CREATE TABLE audit.bloques (
    id            bigint      PRIMARY KEY,
    xid_desde     bigint      NOT NULL,
    xid_hasta     bigint      NOT NULL,
    eventos       bigint      NOT NULL,
    hojas         bytea       NOT NULL,
    raiz          bytea       NOT NULL,
    hash_anterior bytea,
    hash          bytea       NOT NULL,
    sellado_en    timestamptz NOT NULL
);
COMMENT ON TABLE audit.bloques IS
    'Sealed blocks of events (append-only): each seals the events of a range of finished transactions and chains to the previous block. Written by audit.sellar().';
CREATE TRIGGER bloques_solo_insercion
    BEFORE UPDATE OR DELETE ON audit.bloques
    FOR EACH ROW EXECUTE FUNCTION audit._rechazar_modificacion();
CREATE TRIGGER bloques_sin_truncate
    BEFORE TRUNCATE ON audit.bloques
    FOR EACH STATEMENT EXECUTE FUNCTION audit._rechazar_modificacion();
ALTER TABLE audit.bloques ENABLE ALWAYS TRIGGER bloques_solo_insercion;
ALTER TABLE audit.bloques ENABLE ALWAYS TRIGGER bloques_sin_truncate;

-- 6. Restore (src/sql/restauracion.sql, docs/restore.md).
--
-- The columns of each audited table, recorded when auditing starts and each
-- time the table's columns change (src/restauracion/estructuras.rs). A
-- snapshot is only names and values; these versions tell whether a column
-- it names was since renamed, retyped or dropped. A version applies to the
-- table's events with ids above desde_id: the ALTER TABLE that changes
-- columns waits for every writer of the table, so no event of the old shape
-- can get a later id. A rename is a new version too. Several ALTER TABLEs
-- with no event between them (a migration dropping a column and adding
-- another of the same name) are versions of the same desde_id, kept in
-- their order (version): the one in force for later events is the last,
-- and the ones before it are what a restore must see it went through.
CREATE TABLE audit.estructuras_tabla (
    tabla         regclass    NOT NULL,
    desde_id      bigint      NOT NULL,
    -- The table's qualified name then: events name their table by name, so
    -- a restore across a rename would miss the events under the old name.
    nombre        text        NOT NULL,
    columnas      jsonb       NOT NULL,
    registrada_en timestamptz NOT NULL DEFAULT pg_catalog.now(),
    version       integer     NOT NULL DEFAULT 1,
    PRIMARY KEY (tabla, desde_id, version)
);
COMMENT ON TABLE audit.estructuras_tabla IS
    'Columns of audited tables over time (attnum n, name c, type t), for detecting schema drift when restoring.';

-- Modules: groups of tables rolled back together to a mark (E-Maj's table
-- groups). A mark is a point in the log's id order, taken while no
-- transaction writes to the module's tables (audit.crear_marca locks them),
-- so "after the mark" means exactly the events with ids above ultimo_id.
CREATE TABLE audit.modulos (
    nombre     text        PRIMARY KEY,
    tablas     regclass[]  NOT NULL,
    creado_en  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    creado_por text        NOT NULL
);
COMMENT ON TABLE audit.modulos IS
    'Groups of audited tables that audit.revertir_modulo rolls back together (audit.crear_modulo).';
CREATE SEQUENCE audit.marcas_id_seq AS bigint;
CREATE TABLE audit.marcas (
    id         bigint      PRIMARY KEY DEFAULT pg_catalog.nextval('audit.marcas_id_seq'::pg_catalog.regclass),
    modulo     text        NOT NULL REFERENCES audit.modulos (nombre),
    nombre     text        NOT NULL,
    ultimo_id  bigint      NOT NULL,
    instante   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    creada_por text        NOT NULL,
    UNIQUE (modulo, nombre)
);
COMMENT ON TABLE audit.marcas IS
    'Marks of modules (audit.crear_marca): every event of the module''s tables after a mark has an id above its ultimo_id.';

-- The technical log: restores of data and of configuration versions that
-- failed, with their error, and the capture from the WAL falling behind
-- (audit.captura_aviso_lag), kept apart from the history of data.
-- Append-only like the log, and read through the same row-level security
-- (finalize.sql).
-- Written only by audit._escribir_log_tecnico (src/restauracion/log_tecnico.rs).
CREATE SEQUENCE audit.log_tecnico_id_seq AS bigint;
CREATE TABLE audit.log_tecnico (
    id          bigint      PRIMARY KEY DEFAULT pg_catalog.nextval('audit.log_tecnico_id_seq'::pg_catalog.regclass),
    "timestamp" timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    nivel       text        NOT NULL,
    categoria   text        NOT NULL,
    mensaje     text        NOT NULL,
    detalle     jsonb       NOT NULL DEFAULT '{}'::pg_catalog.jsonb,
    -- Additions: who, for which tenant (row-level security), in which transaction.
    usuario_id  uuid,
    empresa_id  uuid,
    rol_bd      text        NOT NULL,
    transaccion bigint      NOT NULL
);
COMMENT ON TABLE audit.log_tecnico IS
    'Technical log (append-only), by category: rollback (a failed restore of data), versionado (a failed restore of a configuration version), captura (the capture from the WAL behind by more than audit.captura_aviso_lag).';
CREATE TRIGGER log_tecnico_solo_insercion
    BEFORE UPDATE OR DELETE ON audit.log_tecnico
    FOR EACH ROW EXECUTE FUNCTION audit._rechazar_modificacion();
CREATE TRIGGER log_tecnico_sin_truncate
    BEFORE TRUNCATE ON audit.log_tecnico
    FOR EACH STATEMENT EXECUTE FUNCTION audit._rechazar_modificacion();
ALTER TABLE audit.log_tecnico ENABLE ALWAYS TRIGGER log_tecnico_solo_insercion;
ALTER TABLE audit.log_tecnico ENABLE ALWAYS TRIGGER log_tecnico_sin_truncate;

-- 7. Configuration documents (src/configuracion, docs/configuration.md).
--
-- Types of document: the ones the extension ships, and the ones this
-- installation defines or redefines (audit.definir_tipo_config). Two
-- tables so that pg_dump works: the shipped types are part of the
-- extension (CREATE EXTENSION creates them again on restore; an upgrade
-- may improve them), the installation's own are data (dumped). The view
-- audit.tipos_config (finalize.sql) shows the one in force for each name.
CREATE TABLE audit.tipos_config_predefinidos (
    tipo            text   PRIMARY KEY,
    esquema_json    jsonb  NOT NULL,
    campos_secretos text[] NOT NULL,
    descripcion     text   NOT NULL
);
COMMENT ON TABLE audit.tipos_config_predefinidos IS
    'Configuration types shipped with the extension; audit.tipos_config shows the ones in force.';
INSERT INTO audit.tipos_config_predefinidos (tipo, esquema_json, campos_secretos, descripcion) VALUES
('smtp', $schema${
  "type": "object",
  "additionalProperties": false,
  "required": ["host", "port", "remitente"],
  "properties": {
    "host": {"type": "string", "minLength": 1, "maxLength": 253},
    "port": {"type": "integer", "minimum": 1, "maximum": 65535},
    "usuario": {"type": "string", "maxLength": 320},
    "password": {"type": "string", "maxLength": 1024},
    "tls": {"enum": ["ninguno", "starttls", "tls"]},
    "remitente": {"type": "string", "format": "email"},
    "nombre_remitente": {"type": "string", "maxLength": 200},
    "timeout_segundos": {"type": "integer", "minimum": 1, "maximum": 600}
  }
}$schema$, ARRAY['password'], 'Outgoing mail server: host, port, credentials, TLS mode and sender address.'),
('ftp', $schema${
  "type": "object",
  "additionalProperties": false,
  "required": ["host", "protocolo"],
  "properties": {
    "host": {"type": "string", "minLength": 1, "maxLength": 253},
    "port": {"type": "integer", "minimum": 1, "maximum": 65535},
    "protocolo": {"enum": ["ftp", "ftps", "sftp"]},
    "usuario": {"type": "string", "maxLength": 320},
    "password": {"type": "string", "maxLength": 1024},
    "clave_privada": {"type": "string", "maxLength": 16384},
    "directorio": {"type": "string", "maxLength": 1024},
    "modo_pasivo": {"type": "boolean"}
  }
}$schema$, ARRAY['password', 'clave_privada'], 'File transfer server: host, port, protocol (ftp, ftps, sftp), credentials or private key, directory.'),
('sistema', $schema${
  "type": "object",
  "additionalProperties": false,
  "required": ["nombre"],
  "properties": {
    "nombre": {"type": "string", "minLength": 1, "maxLength": 200},
    "url_base": {"type": "string", "format": "uri"},
    "zona_horaria": {"type": "string", "minLength": 1, "maxLength": 64},
    "idioma": {"type": "string", "pattern": "^[a-z]{2}(-[A-Z]{2})?$"},
    "registro_abierto": {"type": "boolean"},
    "sesion_minutos": {"type": "integer", "minimum": 1, "maximum": 1440},
    "clave_api": {"type": "string", "maxLength": 1024}
  }
}$schema$, ARRAY['clave_api'], 'General settings: name, base URL, time zone, language, sign-up, session length, API key.'),
('mantenimiento', $schema${
  "type": "object",
  "additionalProperties": false,
  "required": ["activo"],
  "properties": {
    "activo": {"type": "boolean"},
    "mensaje": {"type": "string", "maxLength": 2000},
    "desde": {"type": "string", "format": "date-time"},
    "hasta": {"type": "string", "format": "date-time"},
    "ips_permitidas": {"type": "array", "uniqueItems": true,
                       "items": {"type": "string", "anyOf": [{"format": "ipv4"}, {"format": "ipv6"}]}},
    "copias": {
      "type": "object",
      "additionalProperties": false,
      "properties": {
        "frecuencia": {"enum": ["diaria", "semanal", "mensual"]},
        "hora": {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$"},
        "retencion_dias": {"type": "integer", "minimum": 1, "maximum": 3650},
        "clave_cifrado": {"type": "string", "maxLength": 1024}
      }
    }
  }
}$schema$, ARRAY['clave_cifrado'], 'Maintenance mode (on/off, message, window, allowed IPs) and backup schedule.');

CREATE TABLE audit.tipos_config_propios (
    tipo            text        PRIMARY KEY,
    -- NULL: any JSON object is accepted.
    esquema_json    jsonb,
    campos_secretos text[]      NOT NULL,
    descripcion     text,
    definido_en     timestamptz NOT NULL DEFAULT pg_catalog.now(),
    definido_por    text        NOT NULL
);
COMMENT ON TABLE audit.tipos_config_propios IS
    'Configuration types defined or redefined by this installation (audit.definir_tipo_config); audit.tipos_config shows the ones in force.';

-- The versions. Never changed or deleted (guards below); the newest of a
-- (tipo, empresa_id) is the active one. version_anterior is the version
-- that was active when this one was saved, and the unique index makes the
-- versions of a (tipo, empresa_id) a single line: two sessions that both
-- saw version 7 as active cannot both add its successor, so "the newest"
-- is never ambiguous (src/configuracion/guardar.rs serializes saves, and
-- reports a save built on a stale view as a serialization failure).
-- Written only by the extension; read through the config functions, with
-- row-level security like the log's should SELECT ever be granted
-- (finalize.sql). json_config holds secrets as saved: restoring gives
-- back exactly what was there.
CREATE SEQUENCE audit.config_versiones_id_seq AS bigint;
CREATE TABLE audit.config_versiones (
    id_version       bigint      PRIMARY KEY DEFAULT pg_catalog.nextval('audit.config_versiones_id_seq'::pg_catalog.regclass),
    tipo             text        NOT NULL,
    json_config      jsonb       NOT NULL,
    fecha_guardado   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    guardado_por     uuid,
    empresa_id       uuid,
    comentario       text,
    restaurada_desde bigint      REFERENCES audit.config_versiones (id_version),
    -- Additions (after the contract's columns).
    version_anterior bigint      REFERENCES audit.config_versiones (id_version),
    usuario_nombre   text,
    rol_bd           text        NOT NULL,
    transaccion      bigint      NOT NULL
);
COMMENT ON TABLE audit.config_versiones IS
    'Versions of configuration documents per type and tenant (append-only); the newest is the active one. Holds secrets: read it through audit.historial_config.';
CREATE UNIQUE INDEX config_versiones_sucesion ON audit.config_versiones
    (tipo, (COALESCE(empresa_id, '00000000-0000-0000-0000-000000000000'::pg_catalog.uuid)), (COALESCE(version_anterior, 0)));
CREATE INDEX config_versiones_tipo_idx ON audit.config_versiones
    (tipo, (COALESCE(empresa_id, '00000000-0000-0000-0000-000000000000'::pg_catalog.uuid)), id_version);
CREATE TRIGGER config_versiones_solo_insercion
    BEFORE UPDATE OR DELETE ON audit.config_versiones
    FOR EACH ROW EXECUTE FUNCTION audit._rechazar_modificacion();
CREATE TRIGGER config_versiones_sin_truncate
    BEFORE TRUNCATE ON audit.config_versiones
    FOR EACH STATEMENT EXECUTE FUNCTION audit._rechazar_modificacion();
ALTER TABLE audit.config_versiones ENABLE ALWAYS TRIGGER config_versiones_solo_insercion;
ALTER TABLE audit.config_versiones ENABLE ALWAYS TRIGGER config_versiones_sin_truncate;

-- 7b. Retention: what audit.mantenimiento() removed (src/sql/mantenimiento.sql).
--
-- Retention drops whole monthly partitions of the log, never single events,
-- and only partitions whose every event is already sealed. Their sealed
-- blocks stay (the chain of block hashes keeps verifying), and each drop
-- records here exactly which ids it removed, as ranges that hold no id of any
-- remaining partition: audit.verificar() counts a sealed event in one of
-- them as purged, and any other missing event as deleted. Append-only.
-- Capture from the WAL: how far each database's worker has applied its
-- slot (src/wal/worker.rs). Written in the same transaction as the events
-- it applied: a writer's transaction whose commit ends at or before
-- lsn_aplicado is in the log and is never applied again. Not dumped: a
-- restored database gets a slot of its own.
CREATE TABLE audit.captura_wal (
    slot          text        PRIMARY KEY,
    lsn_aplicado  pg_lsn      NOT NULL,
    ultimo_commit timestamptz,
    actualizado   timestamptz NOT NULL
);
COMMENT ON TABLE audit.captura_wal IS
    'Capture from the WAL: the position each capture worker has applied (see audit.estado_captura()).';

CREATE TABLE audit.retenciones (
    particion   text        NOT NULL,
    desde       timestamptz NOT NULL,
    hasta       timestamptz NOT NULL,
    eventos     bigint      NOT NULL,
    -- Every id the partition held lies in one of these [lo, hi] ranges, and
    -- no id of another partition does.
    rangos_id   int8range[] NOT NULL,
    meses       integer     NOT NULL,
    rol_bd      text        NOT NULL,
    eliminada_en timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (particion, eliminada_en)
);
COMMENT ON TABLE audit.retenciones IS
    'Monthly partitions of the log removed by retention (audit.retencion_meses), with the ids they held (append-only).';
CREATE TRIGGER retenciones_solo_insercion
    BEFORE UPDATE OR DELETE ON audit.retenciones
    FOR EACH ROW EXECUTE FUNCTION audit._rechazar_modificacion();
CREATE TRIGGER retenciones_sin_truncate
    BEFORE TRUNCATE ON audit.retenciones
    FOR EACH STATEMENT EXECUTE FUNCTION audit._rechazar_modificacion();
ALTER TABLE audit.retenciones ENABLE ALWAYS TRIGGER retenciones_solo_insercion;
ALTER TABLE audit.retenciones ENABLE ALWAYS TRIGGER retenciones_sin_truncate;

-- 8. Alert rules (src/alertas.rs, docs/reading.md): an event that is
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

-- 9. pg_dump: the log, its sequence and the settings are data, not
-- definition; without this a dump and restore would lose the history.
SELECT pg_catalog.pg_extension_config_dump('audit.historial_cambios', '');
SELECT pg_catalog.pg_extension_config_dump('audit.historial_cambios_default', '');
SELECT pg_catalog.pg_extension_config_dump('audit.historial_cambios_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('audit.tablas_config', '');
SELECT pg_catalog.pg_extension_config_dump('audit.marcas_tiempo', '');
SELECT pg_catalog.pg_extension_config_dump('audit.bloques', '');
SELECT pg_catalog.pg_extension_config_dump('audit.estructuras_tabla', '');
SELECT pg_catalog.pg_extension_config_dump('audit.modulos', '');
SELECT pg_catalog.pg_extension_config_dump('audit.marcas', '');
SELECT pg_catalog.pg_extension_config_dump('audit.marcas_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('audit.log_tecnico', '');
SELECT pg_catalog.pg_extension_config_dump('audit.log_tecnico_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('audit.tipos_config_propios', '');
SELECT pg_catalog.pg_extension_config_dump('audit.config_versiones', '');
SELECT pg_catalog.pg_extension_config_dump('audit.alertas', '');
SELECT pg_catalog.pg_extension_config_dump('audit.alertas_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('audit.config_versiones_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('audit.retenciones', '');
