//! Adversarial suite, privilege escalation (SECURITY.md §2): an application
//! role and the owner of an audited table try to write, rewrite or silence
//! the log, or to make the extension act for them. Each test is one attack
//! with its safe outcome asserted: refused with 42501, and nothing changed.

use audit_integration_tests::{count, sqlstate, sqlstate_of, texts, Cluster, TestDb, TestRole};
use postgres::{Client, NoTls};

/// A database with an audited table `cuentas` owned by the login role
/// `owner` (the application's migration role) and used by `app`.
fn owned_table(test: &str) -> (TestDb, TestRole, TestRole) {
    let db = TestDb::new(test);
    let owner = TestRole::new(&db, "owner");
    let app = TestRole::new(&db, "app");
    db.connect()
        .batch_execute(&format!(
            "GRANT CREATE ON SCHEMA public TO {o};
             SET ROLE {o};
             CREATE TABLE cuentas (id int PRIMARY KEY, saldo numeric);
             GRANT SELECT, INSERT, UPDATE, DELETE ON cuentas TO {a};
             RESET ROLE;
             SELECT audit.auditar('cuentas');
             INSERT INTO cuentas VALUES (1, 100);",
            o = owner.name,
            a = app.name
        ))
        .unwrap();
    (db, owner, app)
}

fn events(db: &TestDb) -> i64 {
    count(
        &mut db.connect(),
        "SELECT count(*) FROM audit.historial_cambios",
    )
}

#[test]
fn the_application_role_cannot_write_read_or_empty_the_log() {
    let (db, _owner, app) = owned_table("adv_p_app");
    let before = events(&db);
    let mut c = db.connect_as(&app.name);
    for statement in [
        "SELECT count(*) FROM audit.historial_cambios",
        "INSERT INTO audit.historial_cambios (accion, transaccion, rol_bd) VALUES ('EVENTO', 1, 'x')",
        "UPDATE audit.historial_cambios SET datos_nuevos = '{}'",
        "DELETE FROM audit.historial_cambios",
        "TRUNCATE audit.historial_cambios",
        "DELETE FROM audit.historial_cambios_default",
        "UPDATE audit.tablas_config SET opciones = '{\"excluir_columnas\": [\"saldo\"]}'",
        "DELETE FROM audit.bloques",
        // The restore's tables: the technical log is read under RLS like
        // the log; definitions are readable, writable by nobody.
        "SELECT count(*) FROM audit.log_tecnico",
        "INSERT INTO audit.log_tecnico (nivel, categoria, mensaje, rol_bd, transaccion) VALUES ('ERROR', 'x', 'x', 'x', 1)",
        "DELETE FROM audit.log_tecnico",
        "INSERT INTO audit.modulos (nombre, tablas, creado_por) VALUES ('m', '{}', 'x')",
        "INSERT INTO audit.marcas (modulo, nombre, ultimo_id, creada_por) VALUES ('m', 'x', 0, 'x')",
        "DELETE FROM audit.estructuras_tabla",
        // Configuration versions hold secrets: nothing at all; the types
        // are read through the view only.
        "SELECT count(*) FROM audit.config_versiones",
        "INSERT INTO audit.config_versiones (tipo, json_config, rol_bd, transaccion) VALUES ('smtp', '{}', 'x', 1)",
        "SELECT count(*) FROM audit.tipos_config_propios",
        "UPDATE audit.tipos_config_propios SET campos_secretos = '{}'",
        "SELECT audit.guardar_config('smtp', '{}')",
        "SELECT audit.config_actual('smtp')",
        "SELECT audit.definir_tipo_config('smtp', NULL, '{}')",
        "SELECT audit._restaurar_config(1, true, NULL)",
        "SELECT nextval('audit.historial_cambios_id_seq')",
        "COPY audit.historial_cambios FROM STDIN",
    ] {
        assert_eq!(sqlstate(c.execute(statement, &[])), "42501", "{statement}");
    }
    assert_eq!(events(&db), before);
}

#[test]
fn the_application_role_cannot_run_the_administrative_functions() {
    let (db, _owner, app) = owned_table("adv_p_funcs");
    let mut c = db.connect_as(&app.name);
    for call in [
        "SELECT audit.sellar()",
        "SELECT audit.verificar()",
        "SELECT audit.digest()",
        "SELECT audit.mantenimiento()",
        "SELECT audit.auditar('cuentas', '{\"excluir_columnas\": [\"saldo\"]}')",
        "SELECT audit.dejar_de_auditar('cuentas')",
        "SELECT audit._asegurar_particiones(1)",
        "SELECT audit._marcar_tiempo('1 minute')",
        "SELECT audit.crear_modulo('m', ARRAY['cuentas']::regclass[])",
    ] {
        assert_eq!(sqlstate_of(c.batch_execute(call)), "42501", "{call}");
    }
    // Capture is untouched.
    c.batch_execute("UPDATE cuentas SET saldo = 1").unwrap();
    assert_eq!(
        count(
            &mut db.connect(),
            "SELECT count(*) FROM audit.historial_cambios WHERE accion = 'UPDATE' AND datos_nuevos ? 'saldo'"
        ),
        1
    );
}

#[test]
fn the_owner_of_an_audited_table_cannot_silence_its_capture() {
    let (db, owner, _app) = owned_table("adv_p_silence");
    db.connect()
        .batch_execute(&format!(
            "CREATE FUNCTION public.nada() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
             GRANT EXECUTE ON FUNCTION public.nada() TO {}",
            owner.name
        ))
        .unwrap();
    let mut c = db.connect_as(&owner.name);
    for statement in [
        "ALTER TABLE cuentas DISABLE TRIGGER audit_registrar_cambio",
        "ALTER TABLE cuentas DISABLE TRIGGER USER",
        "ALTER TABLE cuentas DISABLE TRIGGER audit_registrar_truncate",
        "ALTER TABLE cuentas ENABLE REPLICA TRIGGER audit_registrar_cambio",
        "DROP TRIGGER audit_registrar_cambio ON cuentas",
        "CREATE OR REPLACE TRIGGER audit_registrar_cambio AFTER INSERT ON cuentas FOR EACH ROW EXECUTE FUNCTION public.nada()",
    ] {
        assert_eq!(sqlstate_of(c.batch_execute(statement)), "42501", "{statement}");
    }
    // Every change and a TRUNCATE are still recorded.
    let before = events(&db);
    c.batch_execute("UPDATE cuentas SET saldo = 0; DELETE FROM cuentas; TRUNCATE cuentas")
        .unwrap();
    assert_eq!(events(&db), before + 3);
}

#[test]
fn a_table_owner_cannot_attach_the_capture_trigger_to_forge_events() {
    let (db, owner, _app) = owned_table("adv_p_forge");
    let mut c = db.connect_as(&owner.name);
    // A table of its own whose rows claim another tenant: attaching capture
    // would let it write events of its choosing into the log.
    c.batch_execute("CREATE TABLE falsa (id int PRIMARY KEY, empresa_id uuid)")
        .unwrap();
    assert_eq!(
        sqlstate_of(c.batch_execute(
            "CREATE TRIGGER t AFTER INSERT OR UPDATE OR DELETE ON falsa FOR EACH ROW EXECUTE FUNCTION audit.registrar_cambio()"
        )),
        "42501"
    );
    assert_eq!(
        count(
            &mut db.connect(),
            "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'falsa'::regclass"
        ),
        0
    );
}

#[test]
fn application_events_cannot_forge_who_when_or_where() {
    let (db, _owner, app) = owned_table("adv_p_event");
    let mut c = db.connect_as(&app.name);
    c.batch_execute(
        "SELECT audit.registrar_evento('FORJADO', '{\"rol_bd\": \"postgres\", \"usuario_id\": \"00000000-0000-4000-8000-000000000000\",
                                                    \"timestamp\": \"2000-01-01\", \"id\": 1, \"transaccion\": 1}')",
    )
    .unwrap();
    let row = db
        .connect()
        .query_one(
            "SELECT rol_bd, usuario_id IS NULL, \"timestamp\" > now() - interval '1 hour', id > 1, transaccion > 1,
                    huella = audit._huella(h)
               FROM audit.historial_cambios h WHERE metadata ->> 'tipo_operacion' = 'FORJADO'",
            &[],
        )
        .unwrap();
    assert_eq!(
        row.get::<_, String>(0),
        app.name,
        "the real role is recorded"
    );
    for (i, what) in [
        (1, "usuario_id"),
        (2, "timestamp"),
        (3, "id"),
        (4, "transaccion"),
        (5, "huella"),
    ] {
        assert!(
            row.get::<_, bool>(i),
            "{what} comes from the server, not the metadata"
        );
    }
}

#[test]
fn ordinary_roles_cannot_switch_off_triggers_or_widen_reading() {
    let (db, owner, app) = owned_table("adv_p_settings");
    for role in [&owner.name, &app.name] {
        let mut c = db.connect_as(role);
        for statement in [
            "SET session_replication_role = replica",
            "ALTER TABLE audit.historial_cambios DISABLE ROW LEVEL SECURITY",
            "DROP POLICY misma_empresa ON audit.historial_cambios",
            "CREATE POLICY todo ON audit.historial_cambios FOR SELECT USING (true)",
        ] {
            assert_eq!(
                sqlstate_of(c.batch_execute(statement)),
                "42501",
                "{role}: {statement}"
            );
        }
        // The test cluster preloads the library: the setting exists from
        // the session's start and refuses at once.
        let mut c = db.connect_as(role);
        assert_eq!(
            sqlstate_of(c.batch_execute("SET audit.roles_lectores = 'vendedor'")),
            "42501"
        );
    }
}

#[test]
fn a_reader_list_set_before_the_library_loads_is_thrown_away() {
    // Without shared_preload_libraries (fine for the trigger modes), an
    // audit.* setting does not exist until the library loads in a session:
    // PostgreSQL accepts any value as a placeholder before, and throws away a
    // non-superuser's when the library loads (with a warning).
    let cluster = Cluster::start(&[]);
    let mut admin = cluster.connect("postgres");
    admin
        .batch_execute(
            "CREATE EXTENSION audit;
             DROP ROLE IF EXISTS cualquiera; CREATE ROLE cualquiera LOGIN;",
        )
        .unwrap();
    let mut c = Client::connect(
        &cluster
            .conninfo("postgres")
            .replace("user=postgres", "user=cualquiera"),
        NoTls,
    )
    .unwrap();
    c.batch_execute("SET audit.roles_lectores = 'vendedor'")
        .unwrap();
    let (reader, list): (bool, String) = {
        let mut tx = c.transaction().unwrap();
        tx.batch_execute("SET LOCAL audit.rol = 'vendedor'")
            .unwrap();
        let row = tx
            .query_one(
                "SELECT audit.es_lector(), current_setting('audit.roles_lectores')",
                &[],
            )
            .unwrap();
        (row.get(0), row.get(1))
    };
    assert!(!reader);
    assert_eq!(list, "propietario, administrador, owner, admin");
    // Once loaded, the setting refuses outright.
    assert_eq!(
        sqlstate_of(c.batch_execute("SET audit.roles_lectores = 'vendedor'")),
        "42501"
    );
}

#[test]
fn a_grant_of_the_log_by_someone_else_than_its_owner_grants_nothing() {
    let (db, owner, app) = owned_table("adv_p_grant");
    let mut c = db.connect_as(&owner.name);
    // PostgreSQL answers a GRANT without grant option with a warning.
    let _ = c.batch_execute(&format!(
        "GRANT ALL ON audit.historial_cambios TO {}",
        app.name
    ));
    let granted = count(
        &mut db.connect(),
        &format!(
            "SELECT count(*) FROM unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) p
              WHERE has_table_privilege('{}', 'audit.historial_cambios', p)",
            app.name
        ),
    );
    assert_eq!(granted, 0);
}

#[test]
fn not_even_a_superuser_can_grant_writing_the_log() {
    let (db, _owner, app) = owned_table("adv_p_su_grant");
    let mut su = db.connect();
    for privilege in ["INSERT", "UPDATE", "DELETE", "TRUNCATE"] {
        assert_eq!(
            sqlstate_of(su.batch_execute(&format!(
                "GRANT {privilege} ON audit.historial_cambios TO {}",
                app.name
            ))),
            "42501",
            "{privilege}"
        );
    }
    assert_eq!(
        count(
            &mut su,
            &format!(
                "SELECT count(*) FROM unnest(ARRAY['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) p
                  WHERE has_table_privilege('{}', 'audit.historial_cambios', p)",
                app.name
            )
        ),
        0
    );
}

/// A database with an audited partitioned table `ventas` (two partitions,
/// one row each) owned by the login role `owner`.
fn owned_partitioned_table(test: &str) -> (TestDb, TestRole) {
    let db = TestDb::new(test);
    let owner = TestRole::new(&db, "owner");
    db.connect()
        .batch_execute(&format!(
            "GRANT CREATE ON SCHEMA public TO {o};
             SET ROLE {o};
             CREATE TABLE ventas (id int, anio int, v text, PRIMARY KEY (id, anio)) PARTITION BY LIST (anio);
             CREATE TABLE ventas_2025 PARTITION OF ventas FOR VALUES IN (2025);
             CREATE TABLE ventas_2026 PARTITION OF ventas FOR VALUES IN (2026);
             RESET ROLE;
             SELECT audit.auditar('ventas');
             INSERT INTO ventas VALUES (1, 2025, 'a'), (2, 2026, 'b');",
            o = owner.name
        ))
        .unwrap();
    (db, owner)
}

fn capture_active(db: &TestDb, table: &str) -> bool {
    db.connect()
        .query_one(
            "SELECT captura_activa FROM audit.tablas_auditadas WHERE tabla = $1::text::regclass",
            &[&table],
        )
        .unwrap()
        .get(0)
}

#[test]
fn a_table_owner_cannot_take_a_partition_out_of_capture() {
    let (db, owner) = owned_partitioned_table("adv_p_detach");
    let mut c = db.connect_as(&owner.name);
    // Detach, change the rows unrecorded, attach back: refused at the first
    // step, in either form.
    for statement in [
        "ALTER TABLE ventas DETACH PARTITION ventas_2025",
        "ALTER TABLE ventas DETACH PARTITION ventas_2025 CONCURRENTLY",
    ] {
        assert_eq!(
            sqlstate_of(c.batch_execute(statement)),
            "42501",
            "{statement}"
        );
    }
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM pg_inherits WHERE inhrelid = 'ventas_2025'::regclass AND NOT inhdetachpending"
        ),
        1
    );
    let before = events(&db);
    c.batch_execute("UPDATE ventas_2025 SET v = 'cambiado'")
        .unwrap();
    assert_eq!(
        events(&db),
        before + 1,
        "a write to the partition is still recorded"
    );
    assert!(capture_active(&db, "ventas"));

    // A role that may stop auditing can detach: recorded as a DDL event
    // naming the partition and the rows that left.
    let mut admin = db.connect();
    admin
        .batch_execute("ALTER TABLE ventas DETACH PARTITION ventas_2025")
        .unwrap();
    let detail: String = admin
        .query_one(
            "SELECT (metadata - 'comando')::text FROM audit.historial_cambios
              WHERE accion = 'DDL' AND metadata->>'comando' = 'ALTER TABLE ... DETACH PARTITION'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(
        detail,
        r#"{"filas": 1, "tabla": "public.ventas", "particion": "public.ventas_2025"}"#
    );
}

#[test]
fn rows_an_attached_table_brings_are_recorded_as_inserted() {
    let (db, owner) = owned_partitioned_table("adv_p_attach");
    let mut c = db.connect_as(&owner.name);
    c.batch_execute(
        "CREATE TABLE ventas_2027 (id int, anio int, v text, PRIMARY KEY (id, anio));
         INSERT INTO ventas_2027 VALUES (3, 2027, 'c'), (4, 2027, NULL);",
    )
    .unwrap();
    let before = events(&db);
    c.batch_execute("ALTER TABLE ventas ATTACH PARTITION ventas_2027 FOR VALUES IN (2027)")
        .unwrap();
    // One INSERT per row that entered, exactly as if it had been inserted,
    // and the attach itself.
    let mut admin = db.connect();
    let recorded = texts(
        &mut admin,
        &format!(
            "SELECT accion || ' ' || coalesce(registro_pk::text, '') || ' ' || coalesce(datos_nuevos::text, '')
                    || ' ' || coalesce(metadata->>'tipo_operacion', metadata->>'comando')
               FROM audit.historial_cambios WHERE id > {before} ORDER BY id"
        ),
    );
    assert_eq!(
        recorded,
        [
            r#"INSERT {"id": 3, "anio": 2027} {"v": "c", "id": 3, "anio": 2027} ANEXION_PARTICION"#,
            r#"INSERT {"id": 4, "anio": 2027} {"v": null, "id": 4, "anio": 2027} ANEXION_PARTICION"#,
            r#"DDL   ALTER TABLE ... ATTACH PARTITION"#,
        ]
    );
    let same_as_captured = count(
        &mut admin,
        &format!(
            "SELECT count(*) FROM audit.historial_cambios h JOIN ventas_2027 p ON h.datos_nuevos = to_jsonb(p.*)
              WHERE h.id > {before} AND h.tabla_afectada = 'ventas' AND h.registro_id IS NOT NULL
                AND h.metadata->>'particion' = 'ventas_2027'"
        ),
    );
    assert_eq!(same_as_captured, 2);
    assert!(capture_active(&db, "ventas"));
    // From now on its rows are captured like the others'.
    c.batch_execute("UPDATE ventas SET v = 'd' WHERE id = 4")
        .unwrap();
    assert_eq!(events(&db), before + 4);
}

#[test]
fn a_table_owner_cannot_hang_an_uncaptured_child_on_an_audited_table() {
    let (db, owner, _app) = owned_table("adv_p_inherit");
    let mut c = db.connect_as(&owner.name);
    c.batch_execute("CREATE TABLE suelta (id int NOT NULL, saldo numeric)")
        .unwrap();
    // Rows written through a child show up in the audited table with no
    // event: the child cannot join.
    for statement in [
        "CREATE TABLE hija () INHERITS (cuentas)",
        "ALTER TABLE suelta INHERIT cuentas",
    ] {
        assert_eq!(
            sqlstate_of(c.batch_execute(statement)),
            "42501",
            "{statement}"
        );
    }
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM pg_inherits WHERE inhparent = 'cuentas'::regclass"
        ),
        0
    );
    assert!(capture_active(&db, "cuentas"));

    // A role that may stop auditing can: recorded, and the view says that
    // capture is incomplete, and where, until the child is audited too.
    let mut admin = db.connect();
    admin
        .batch_execute("CREATE TABLE hija () INHERITS (cuentas)")
        .unwrap();
    assert!(!capture_active(&db, "cuentas"));
    let falta: Vec<String> = admin
        .query_one(
            "SELECT falta FROM audit.tablas_auditadas WHERE tabla = 'cuentas'::regclass",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(
        falta,
        [
            "TRUNCATE capture of public.hija",
            "row capture of public.hija"
        ]
    );
    assert_eq!(
        count(
            &mut admin,
            "SELECT count(*) FROM audit.historial_cambios
              WHERE accion = 'DDL' AND metadata->>'comando' = 'CREATE TABLE ... INHERITS'
                AND metadata->'captura_activa' = 'false'"
        ),
        1
    );
    admin.batch_execute("SELECT audit.auditar('hija')").unwrap();
    assert!(capture_active(&db, "cuentas"));
}

/// The privileges of the extension's objects (an ACL as stored, or
/// PostgreSQL's built-in one where none is, its items in order), with the
/// owner's name left out, object by object (the log's partitions by their position: their
/// names follow the month).
const OBJECT_PRIVILEGES: &str = "
    SELECT format('%s %s %s', kind, name,
                  (SELECT string_agg(replace(i::text, current_user, 'OWNER'), ' ' ORDER BY i::text) FROM unnest(acl) i))
      FROM (SELECT 'relation' AS kind,
                   CASE WHEN c.relispartition THEN 'partition' ELSE c.relname::text END AS name,
                   coalesce(c.relacl, acldefault(CASE c.relkind WHEN 'S' THEN 's' ELSE 'r' END::\"char\", c.relowner)) AS acl
              FROM pg_class c WHERE c.relnamespace = 'audit'::regnamespace AND c.relkind NOT IN ('i', 'I', 'c', 't')
            UNION ALL
            SELECT 'function', p.oid::regprocedure::text, coalesce(p.proacl, acldefault('f', p.proowner))
              FROM pg_proc p WHERE p.pronamespace = 'audit'::regnamespace
            UNION ALL
            SELECT 'schema', n.nspname::text, coalesce(n.nspacl, acldefault('n', n.nspowner))
              FROM pg_namespace n WHERE n.nspname = 'audit') o
     ORDER BY 1";

#[test]
fn default_privileges_do_not_reach_the_extensions_objects() {
    // A DBA's usual defaults ("the application may use every table I
    // create", functions not executable by PUBLIC) are for the DBA's own
    // objects: the extension's get its designed privileges only, at
    // install and for every partition of the log made later. Otherwise an
    // application role would read every tenant through a partition (no
    // row-level security there) and write events that a seal then covers.
    let db = TestDb::new("adv_p_default_acl");
    let reference = TestDb::new("adv_p_default_acl_ref");
    let app = TestRole::new(&db, "app");
    let mut c = db.connect();
    c.batch_execute(&format!(
        "DROP EXTENSION audit CASCADE;
         ALTER DEFAULT PRIVILEGES GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON TABLES TO {a};
         ALTER DEFAULT PRIVILEGES GRANT ALL ON SEQUENCES TO {a};
         ALTER DEFAULT PRIVILEGES GRANT EXECUTE ON FUNCTIONS TO {a};
         ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
         ALTER DEFAULT PRIVILEGES GRANT USAGE, CREATE ON SCHEMAS TO {a};
         CREATE EXTENSION audit;",
        a = app.name
    ))
    .unwrap();
    let designed = texts(&mut reference.connect(), OBJECT_PRIVILEGES);
    assert_eq!(texts(&mut c, OBJECT_PRIVILEGES), designed);
    // The defaults for schema audit itself, set after the install, reach
    // the partitions the maintenance creates months later: not any more.
    c.batch_execute(&format!(
        "ALTER DEFAULT PRIVILEGES IN SCHEMA audit GRANT SELECT, INSERT ON TABLES TO {a};
         SELECT audit._asegurar_particiones(6);",
        a = app.name
    ))
    .unwrap();
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM pg_class c, aclexplode(c.relacl) x
              WHERE c.relispartition AND c.relnamespace = 'audit'::regnamespace AND x.grantee <> c.relowner"
        ),
        0
    );
    assert!(
        count(
            &mut c,
            "SELECT count(*) FROM pg_class WHERE relispartition AND relnamespace = 'audit'::regnamespace"
        ) >= 7
    );
    // And the role reads nothing and writes nothing.
    let mut as_app = db.connect_as(&app.name);
    assert_eq!(
        sqlstate(as_app.execute("SELECT * FROM audit.historial_cambios_default", &[])),
        "42501"
    );
    assert_eq!(
        sqlstate(as_app.execute(
            "INSERT INTO audit.historial_cambios_default (id, accion, transaccion, rol_bd) VALUES (-1, 'INSERT', 1, 'x')",
            &[]
        )),
        "42501"
    );
    assert_eq!(
        sqlstate(as_app.execute("CREATE TABLE audit.intrusa (id int)", &[])),
        "42501"
    );
}

#[test]
fn the_log_has_no_partition_outside_schema_audit() {
    // A partition elsewhere would be outside every check of the log's
    // objects: its owner could be changed, its guard switched off.
    let db = TestDb::new("adv_p_partition_elsewhere");
    let mut c = db.connect();
    assert_eq!(
        sqlstate_of(c.batch_execute(
            "CREATE TABLE public.hc_2031 PARTITION OF audit.historial_cambios
                 FOR VALUES FROM ('2031-01-01 00:00+00') TO ('2031-02-01 00:00+00')"
        )),
        "42501"
    );
    c.batch_execute("CREATE TABLE public.hc_2032 (LIKE audit.historial_cambios)")
        .unwrap();
    assert_eq!(
        sqlstate_of(c.batch_execute(
            "ALTER TABLE audit.historial_cambios ATTACH PARTITION public.hc_2032
                 FOR VALUES FROM ('2032-01-01 00:00+00') TO ('2032-02-01 00:00+00')"
        )),
        "42501"
    );
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM pg_inherits WHERE inhrelid IN ('public.hc_2032'::regclass)"
        ),
        0
    );
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM pg_class WHERE relname = 'hc_2031'"
        ),
        0
    );
}
