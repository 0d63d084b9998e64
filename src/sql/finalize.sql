-- Finalize: runs last in the install script, after every Rust function exists.
-- Same rules as bootstrap.sql.

-- 1. What capture an audited table lacks.
--
-- Every table that holds rows of the audited table (the table itself, its
-- partitions and the tables that inherit from it, at any depth) needs an
-- enabled capture of INSERT, UPDATE and DELETE (a row trigger of
-- audit.registrar_cambio(), or, with "captura": "sentencia", a statement
-- trigger with transition tables) and, when TRUNCATE is captured, an enabled
-- TRUNCATE capture trigger. A table captured from the WAL ("captura":
-- "wal") needs instead REPLICA IDENTITY FULL, its context trigger enabled
-- ALWAYS, and the database's capture slot. One entry per table and missing
-- capture, such as 'row capture of public.hija'; empty when capture is
-- complete. The one definition behind audit.tablas_auditadas.captura_activa
-- and the DDL guard (src/ddl_guard.rs), which refuses any command that would
-- add an entry for a role that may not stop auditing.
CREATE FUNCTION audit._faltas_captura(tabla regclass, capturar_truncate boolean, captura text DEFAULT 'fila')
    RETURNS text[]
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
AS $gaps$
    WITH RECURSIVE arbol(relid) AS (
        SELECT tabla::oid
        UNION
        SELECT i.inhrelid FROM pg_inherits i JOIN arbol a ON i.inhparent = a.relid
    ),
    hojas AS (
        -- A partitioned table holds no rows of its own.
        SELECT a.relid, c.relreplident FROM arbol a JOIN pg_class c ON c.oid = a.relid WHERE c.relkind <> 'p'
    ),
    disparadores AS (
        SELECT g.tgrelid, g.tgtype::int4 AS tipo, g.tgfoid, g.tgenabled,
               (g.tgtype::int4 & 1) <> 0 OR g.tgoldtable IS NOT NULL OR g.tgnewtable IS NOT NULL AS filas
          FROM pg_trigger g
         WHERE g.tgfoid IN ('audit.registrar_cambio()'::regprocedure, 'audit._contexto_wal()'::regprocedure)
           AND g.tgenabled = ANY (ARRAY['O', 'A']::"char"[])
           AND g.tgrelid IN (SELECT relid FROM hojas)
    ),
    captura_fila AS (
        SELECT d.* FROM disparadores d WHERE d.tgfoid = 'audit.registrar_cambio()'::regprocedure
    ),
    faltas AS (
        -- INSERT (4), DELETE (8), UPDATE (16): by a row trigger or a statement
        -- trigger with transition tables, never by a plain statement trigger.
        SELECT h.relid, 'row capture' AS que FROM hojas h
         WHERE captura IS DISTINCT FROM 'wal'
           AND EXISTS (SELECT FROM unnest(ARRAY[4, 8, 16]) e(bit)
                        WHERE NOT EXISTS (SELECT FROM captura_fila d
                                           WHERE d.tgrelid = h.relid AND d.filas AND (d.tipo & e.bit) <> 0))
        UNION ALL
        -- TRUNCATE (32).
        SELECT h.relid, 'TRUNCATE capture' FROM hojas h
         WHERE captura IS DISTINCT FROM 'wal' AND capturar_truncate
           AND NOT EXISTS (SELECT FROM captura_fila d WHERE d.tgrelid = h.relid AND (d.tipo & 32) <> 0)
        UNION ALL
        -- From the WAL: whole old rows in the WAL, and the writer's context
        -- (BEFORE (2) INSERT, DELETE, UPDATE and TRUNCATE, statement level,
        -- firing ALWAYS, also in replica mode).
        SELECT h.relid, 'REPLICA IDENTITY FULL' FROM hojas h
         WHERE captura = 'wal' AND h.relreplident <> 'f'
        UNION ALL
        SELECT h.relid, 'context trigger' FROM hojas h
         WHERE captura = 'wal'
           AND NOT EXISTS (SELECT FROM disparadores d
                            WHERE d.tgrelid = h.relid AND d.tgfoid = 'audit._contexto_wal()'::regprocedure
                              AND d.tgenabled = 'A' AND (d.tipo & (1 | 2)) = 2 AND (d.tipo & (4 | 8 | 16 | 32)) = 60)
        UNION ALL
        SELECT h.relid, 'capture slot ' || ('audit_captura_' || d.oid::text)
          FROM hojas h, pg_database d
         WHERE captura = 'wal' AND d.datname = current_database()
           AND NOT EXISTS (SELECT FROM pg_replication_slots s WHERE s.slot_name = 'audit_captura_' || d.oid::text)
    )
    SELECT COALESCE(array_agg(f.que || ' of ' || f.relid::regclass::text ORDER BY f.relid::regclass::text COLLATE "C", f.que COLLATE "C"), '{}')
      FROM faltas f;
$gaps$;

-- 1b. audit.tablas_auditadas: the audited tables and their effective options.
--
-- A table is listed when it has options (audit.auditar) or a capture trigger
-- (attached by hand). captura_activa is true only when nothing is missing
-- (falta, from audit._faltas_captura): a capture trigger disabled or dropped
-- behind the extension's back, on the table, a partition or a table that
-- inherits from it, shows here.
CREATE VIEW audit.tablas_auditadas AS
WITH tablas AS (
    SELECT cfg.tabla::pg_catalog.oid AS relid FROM audit.tablas_config cfg
    UNION
    SELECT t.tgrelid FROM pg_catalog.pg_trigger t
     WHERE t.tgfoid OPERATOR(pg_catalog.=) 'audit.registrar_cambio()'::pg_catalog.regprocedure
       AND t.tgparentid OPERATOR(pg_catalog.=) 0
       AND ((t.tgtype::pg_catalog.int4 OPERATOR(pg_catalog.&) 1) OPERATOR(pg_catalog.<>) 0
            OR t.tgoldtable IS NOT NULL OR t.tgnewtable IS NOT NULL)
),
estado AS (
    SELECT tablas.relid, cfg.opciones, cfg.desde,
           COALESCE((cfg.opciones OPERATOR(pg_catalog.->>) 'capturar_truncate')::pg_catalog.bool, true) AS capturar_truncate,
           COALESCE(cfg.opciones OPERATOR(pg_catalog.->>) 'captura', 'fila') AS captura
      FROM tablas
      LEFT JOIN audit.tablas_config cfg ON cfg.tabla::pg_catalog.oid OPERATOR(pg_catalog.=) tablas.relid
)
SELECT c.oid::pg_catalog.regclass AS tabla,
       n.nspname::pg_catalog.text AS esquema,
       c.relname::pg_catalog.text AS nombre,
       ARRAY(SELECT pg_catalog.jsonb_array_elements_text(
                 COALESCE(cfg.opciones OPERATOR(pg_catalog.->) 'excluir_columnas', '[]'::pg_catalog.jsonb))) AS excluir_columnas,
       CASE
           WHEN cfg.opciones OPERATOR(pg_catalog.?) 'columna_empresa'
               THEN cfg.opciones OPERATOR(pg_catalog.->>) 'columna_empresa'
           ELSE (SELECT a.attname::pg_catalog.text
                   FROM pg_catalog.pg_attribute a
                   JOIN pg_catalog.pg_type ty ON ty.oid OPERATOR(pg_catalog.=) a.atttypid
                  WHERE a.attrelid OPERATOR(pg_catalog.=) c.oid
                    AND a.attname OPERATOR(pg_catalog.=) 'empresa_id'
                    AND NOT a.attisdropped
                    AND 'pg_catalog.uuid'::pg_catalog.regtype OPERATOR(pg_catalog.=) ANY (ARRAY[ty.oid, ty.typbasetype]))
       END AS columna_empresa,
       cfg.capturar_truncate,
       COALESCE(
           (SELECT pg_catalog.array_agg(a.attname::pg_catalog.text ORDER BY k.ord)
              FROM pg_catalog.pg_index i
             CROSS JOIN LATERAL pg_catalog.unnest(i.indkey::pg_catalog.int2[]) WITH ORDINALITY AS k(attnum, ord)
              JOIN pg_catalog.pg_attribute a
                ON a.attrelid OPERATOR(pg_catalog.=) i.indrelid AND a.attnum OPERATOR(pg_catalog.=) k.attnum
             WHERE i.indrelid OPERATOR(pg_catalog.=) c.oid AND i.indisprimary),
           ARRAY(SELECT pg_catalog.jsonb_array_elements_text(cfg.opciones OPERATOR(pg_catalog.->) 'columnas_clave'))
       ) AS columnas_clave,
       ARRAY(SELECT t.tgname::pg_catalog.text
               FROM pg_catalog.pg_trigger t
              WHERE t.tgrelid OPERATOR(pg_catalog.=) c.oid
                AND t.tgfoid OPERATOR(pg_catalog.=) 'audit.registrar_cambio()'::pg_catalog.regprocedure
                AND t.tgparentid OPERATOR(pg_catalog.=) 0
              ORDER BY 1) AS triggers,
       pg_catalog.cardinality(f.falta) OPERATOR(pg_catalog.=) 0 AS captura_activa,
       cfg.opciones,
       cfg.desde,
       f.falta
  FROM estado cfg
  JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) cfg.relid
  JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
  CROSS JOIN LATERAL (SELECT audit._faltas_captura(c.oid::pg_catalog.regclass, cfg.capturar_truncate, cfg.captura) AS falta) f;

COMMENT ON VIEW audit.tablas_auditadas IS
    'Audited tables with their effective options. columnas_clave empty means rows are identified by their whole content; falta lists what capture is missing (captura_activa is false when it is not empty).';

-- 2. Options changed: every backend must rebuild its cached table state.
CREATE TRIGGER tablas_config_invalidar
    AFTER INSERT OR UPDATE OR DELETE ON audit.tablas_config
    FOR EACH ROW EXECUTE FUNCTION audit._config_cambiada();

-- Alert rules changed: every backend reads them again (src/alertas.rs); a
-- rule's tabla must be a table name.
CREATE TRIGGER alertas_invalidar
    AFTER INSERT OR UPDATE OR DELETE ON audit.alertas
    FOR EACH ROW EXECUTE FUNCTION audit._alertas_cambiadas();
CREATE TRIGGER alertas_invalidar_truncate
    AFTER TRUNCATE ON audit.alertas
    FOR EACH STATEMENT EXECUTE FUNCTION audit._alertas_cambiadas();

-- 2b. audit.tipos_config: the configuration types in force, the
-- installation's own definition first, else the shipped one (bootstrap.sql §7).
CREATE VIEW audit.tipos_config AS
SELECT p.tipo, p.esquema_json, p.campos_secretos, p.descripcion,
       'propio'::pg_catalog.text AS origen, p.definido_en, p.definido_por
  FROM audit.tipos_config_propios p
UNION ALL
SELECT d.tipo, d.esquema_json, d.campos_secretos, d.descripcion,
       'predefinido'::pg_catalog.text, NULL::pg_catalog.timestamptz, NULL::pg_catalog.text
  FROM audit.tipos_config_predefinidos d
 WHERE NOT EXISTS (SELECT FROM audit.tipos_config_propios p WHERE p.tipo OPERATOR(pg_catalog.=) d.tipo);
COMMENT ON VIEW audit.tipos_config IS
    'Configuration document types: JSON Schema, secret fields, description; origen says whether the extension ships it or this installation defined it.';

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

-- 3. Event triggers (see src/ddl.rs).
CREATE EVENT TRIGGER audit_al_terminar_ddl ON ddl_command_end
    WHEN TAG IN ('CREATE TRIGGER', 'CREATE TABLE', 'ALTER TABLE', 'ALTER POLICY', 'ALTER EXTENSION', 'GRANT',
                 'ALTER FUNCTION', 'ALTER PROCEDURE', 'ALTER ROUTINE', 'ALTER TRIGGER')
    EXECUTE FUNCTION audit._al_terminar_ddl();
CREATE EVENT TRIGGER audit_al_eliminar ON sql_drop
    EXECUTE FUNCTION audit._al_eliminar();
CREATE EVENT TRIGGER audit_al_empezar_ddl ON ddl_command_start
    WHEN TAG IN ('ALTER TABLE', 'ALTER SEQUENCE')
    EXECUTE FUNCTION audit._al_empezar_ddl();
-- They fire always: enabled the default way (origin), they would not fire
-- under session_replication_role = replica, and every ALTER TABLE on the log
-- would then be accepted. Logical replication applies no DDL, so this costs
-- a subscriber nothing. Switching them off stays a deliberate act
-- (ALTER EVENT TRIGGER ... DISABLE), as docs/security.md says.
ALTER EVENT TRIGGER audit_al_terminar_ddl ENABLE ALWAYS;
ALTER EVENT TRIGGER audit_al_eliminar ENABLE ALWAYS;
ALTER EVENT TRIGGER audit_al_empezar_ddl ENABLE ALWAYS;

-- 4. Row-level security of the log (docs/security.md).
--
-- A caller that is not a superuser, BYPASSRLS or the owner sees an event
-- only when both hold, each evaluated once per query (the sub-selects become
-- init plans, and the tenant one an index condition):
-- * its application role (audit.rol, else the role claim) is one of
--   audit.roles_lectores (permissive policy);
-- * the event's tenant is the caller's tenant, audit.empresa_actual()
--   (restrictive policy: a permissive policy someone adds later cannot widen
--   reading across tenants).
-- Missing, empty or malformed claims give no role and no tenant: nothing is
-- visible. FORCE makes the owner subject to it too, should the owner ever be
-- an ordinary role. There are no INSERT/UPDATE/DELETE policies: the capture
-- path writes below the executor, and nothing else may write.
ALTER TABLE audit.historial_cambios ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit.historial_cambios FORCE ROW LEVEL SECURITY;
CREATE POLICY lectores ON audit.historial_cambios AS PERMISSIVE FOR SELECT TO PUBLIC
    USING ((SELECT audit.es_lector()));
CREATE POLICY misma_empresa ON audit.historial_cambios AS RESTRICTIVE FOR SELECT TO PUBLIC
    USING (empresa_id OPERATOR(pg_catalog.=) (SELECT audit.empresa_actual()));

-- The technical log (failed restores) is read under the same rules, with the
-- tenant of whoever ran the restore. Its one INSERT policy lets the owner
-- write (audit._escribir_log_tecnico, as the owner); no other role can be
-- granted INSERT on it.
ALTER TABLE audit.log_tecnico ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit.log_tecnico FORCE ROW LEVEL SECURITY;
CREATE POLICY lectores ON audit.log_tecnico AS PERMISSIVE FOR SELECT TO PUBLIC
    USING ((SELECT audit.es_lector()));
CREATE POLICY misma_empresa ON audit.log_tecnico AS RESTRICTIVE FOR SELECT TO PUBLIC
    USING (empresa_id OPERATOR(pg_catalog.=) (SELECT audit.empresa_actual()));
CREATE POLICY escritura ON audit.log_tecnico AS PERMISSIVE FOR INSERT TO PUBLIC
    WITH CHECK (true);

-- Configuration versions: the same two reading policies. The config
-- functions read it as the extension's owner (and filter by the caller's
-- tenant themselves); these policies hold for any role a DBA grants SELECT
-- to, and for the owner (forced).
ALTER TABLE audit.config_versiones ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit.config_versiones FORCE ROW LEVEL SECURITY;
CREATE POLICY lectores ON audit.config_versiones AS PERMISSIVE FOR SELECT TO PUBLIC
    USING ((SELECT audit.es_lector()));
CREATE POLICY misma_empresa ON audit.config_versiones AS RESTRICTIVE FOR SELECT TO PUBLIC
    USING (empresa_id OPERATOR(pg_catalog.=) (SELECT audit.empresa_actual()));
CREATE POLICY escritura ON audit.config_versiones AS PERMISSIVE FOR INSERT TO PUBLIC
    WITH CHECK (true);

-- 5. Privileges. Functions are executable by PUBLIC by default; starting and
-- stopping auditing, and everything internal, is taken back here and granted
-- by the DBA to the roles that run migrations (docs/security.md).
-- audit.registrar_cambio() keeps EXECUTE for PUBLIC: PostgreSQL checks it
-- when a partition of an audited table is created (cloning its row trigger),
-- which any table owner may do. Attaching it by hand is refused by the
-- CREATE TRIGGER event trigger unless the role may call audit.auditar.
-- First, every object of the extension gets PostgreSQL's built-in
-- privileges back: a DBA's default privileges (ALTER DEFAULT PRIVILEGES,
-- for the installing role or for schema audit) are for the DBA's own
-- objects, and would grant writes on the log, its partitions or its
-- sequence, reads of every tenant through the partitions (which have no
-- row-level security), or CREATE on the schema. The grants below are the
-- design; the log's later partitions are reset the same way as they are
-- created (src/ddl_guard.rs).
-- audit._privilegios_de_fabrica(NULL) resets every object in schema audit
-- (and the schema); with a relation, that relation only.
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
SELECT audit._privilegios_de_fabrica(NULL);
REVOKE EXECUTE ON FUNCTION audit._privilegios_de_fabrica(regclass) FROM PUBLIC;

GRANT USAGE ON SCHEMA audit TO PUBLIC;  -- not CREATE: nobody adds objects here

REVOKE ALL ON TABLE audit.historial_cambios, audit.historial_cambios_default, audit.tablas_config FROM PUBLIC;
REVOKE ALL ON SEQUENCE audit.historial_cambios_id_seq FROM PUBLIC;
REVOKE ALL ON TABLE audit.marcas_tiempo, audit.bloques, audit.retenciones, audit.captura_wal FROM PUBLIC;
GRANT SELECT ON audit.tablas_auditadas TO PUBLIC;
-- Definitions, not data: which tables form each module, its marks, and the
-- columns audited tables had (all of it visible in pg_catalog too).
GRANT SELECT ON audit.modulos, audit.marcas, audit.estructuras_tabla TO PUBLIC;
REVOKE ALL ON TABLE audit.log_tecnico FROM PUBLIC;
REVOKE ALL ON SEQUENCE audit.log_tecnico_id_seq, audit.marcas_id_seq FROM PUBLIC;
-- Configuration: the types are definitions (no secrets: secret fields are
-- names), the versions hold secrets and are read through the functions.
GRANT SELECT ON audit.tipos_config TO PUBLIC;
REVOKE ALL ON TABLE audit.tipos_config_predefinidos, audit.tipos_config_propios, audit.config_versiones FROM PUBLIC;
REVOKE ALL ON SEQUENCE audit.config_versiones_id_seq FROM PUBLIC;

REVOKE EXECUTE ON FUNCTION audit.auditar(regclass, jsonb) FROM PUBLIC;
-- Defining modules is administration, like auditing a table. Marks,
-- rollbacks and restores stay PUBLIC: they act with the caller's own
-- privileges on the tables (and read the log through its row-level security).
REVOKE EXECUTE ON FUNCTION audit.crear_modulo(text, regclass[]) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION audit.dejar_de_auditar(regclass) FROM PUBLIC;
-- Configuration documents hold secrets and drive the application: every
-- function is granted by the DBA (docs/configuration.md), and then also
-- needs a reader role within a tenant. audit._restaurar_config stays
-- callable (audit.restaurar_config calls it as the caller) and checks
-- that its caller may call audit.restaurar_config.
REVOKE EXECUTE ON FUNCTION audit.definir_tipo_config(text, jsonb, text[], text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION audit.guardar_config(text, jsonb, text, bigint) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION audit.config_actual(text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION audit.historial_config(text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION audit.comparar_config(bigint, bigint) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION audit.restaurar_config(bigint, boolean, boolean, text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION audit._rechazar_modificacion() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION audit._rechazar_insercion() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION audit._asegurar_particiones(integer) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION audit._indexar_particion(regclass) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION audit._al_terminar_ddl() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION audit._al_eliminar() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION audit._al_empezar_ddl() FROM PUBLIC;
-- The capture's state is for those who operate it; waiting for it
-- (audit.esperar_captura) is for everyone, as restores wait for it.
REVOKE EXECUTE ON FUNCTION audit.estado_captura() FROM PUBLIC;
-- Who reads the events without a tenant is the DBA's decision (docs/security.md).
REVOKE EXECUTE ON FUNCTION audit.leer_eventos_sin_empresa(boolean) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION audit._config_cambiada() FROM PUBLIC;
REVOKE ALL ON TABLE audit.alertas FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION audit._alertas_cambiadas() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION audit._marcar_tiempo(interval) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION audit.mantenimiento() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION audit._aplicar_retencion(integer, timestamptz, interval) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION audit._retencion_meses() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION audit.sellar() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION audit.verificar(jsonb) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION audit.digest() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION audit._huella(audit.historial_cambios) FROM PUBLIC;

COMMENT ON FUNCTION audit.auditar(regclass, jsonb) IS
    'Starts auditing a table, or replaces its options: excluir_columnas, columna_empresa, capturar_truncate, columnas_clave.';
COMMENT ON FUNCTION audit.dejar_de_auditar(regclass) IS
    'Stops auditing a table: removes its capture triggers and options. Its history stays.';
COMMENT ON FUNCTION audit.registro_id(regclass, jsonb) IS
    'The id the capture gives a row of the table, from its key as a JSON object (columnas_clave or the primary key): the registro_id filter of get_historial_cambios.';
