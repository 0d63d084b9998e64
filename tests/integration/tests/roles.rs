//! Real login roles: the PostgREST pattern (log in as an authenticator,
//! switch to the request's role), the append-only log as seen by them, and
//! who may attach the capture trigger.

use audit_integration_tests::{sqlstate, texts, TestDb, TestRole};

#[test]
fn postgrest_roles_are_recorded_and_cannot_touch_the_log() {
    let db = TestDb::new("postgrest");
    let authenticator = TestRole::new(&db, "authenticator");
    let web = TestRole::new(&db, "web_user");
    let mut admin = db.connect();
    admin
        .batch_execute(&format!(
            "ALTER ROLE {a} NOINHERIT;
             ALTER ROLE {w} NOLOGIN;
             GRANT {w} TO {a};
             CREATE TABLE clientes (id int PRIMARY KEY, nombre text);
             SELECT audit.auditar('clientes');
             GRANT SELECT, INSERT, UPDATE, DELETE ON clientes TO {w};",
            a = authenticator.name,
            w = web.name
        ))
        .unwrap();

    let mut app = db.connect_as(&authenticator.name);
    // What PostgREST does for each request.
    let mut tx = app.transaction().unwrap();
    tx.batch_execute(&format!(
        "SET LOCAL ROLE {w};
         SELECT set_config('request.jwt.claims', '{{\"sub\": \"33333333-3333-3333-3333-333333333333\", \"role\": \"{w}\"}}', true);
         INSERT INTO clientes VALUES (1, 'Ana');",
        w = web.name
    ))
    .unwrap();
    // Inside the request, the log is out of reach.
    for statement in [
        "SELECT count(*) FROM audit.historial_cambios",
        "UPDATE audit.historial_cambios SET usuario_nombre = 'x'",
        "DELETE FROM audit.historial_cambios",
        "TRUNCATE audit.historial_cambios",
        "INSERT INTO audit.historial_cambios (accion, transaccion, rol_bd) VALUES ('EVENTO', 1, 'forjado')",
    ] {
        tx.batch_execute("SAVEPOINT s").unwrap();
        assert_eq!(sqlstate(tx.execute(statement, &[])), "42501", "{statement}");
        tx.batch_execute("ROLLBACK TO SAVEPOINT s").unwrap();
    }
    tx.commit().unwrap();
    // The login role itself has no access either.
    assert_eq!(
        sqlstate(app.execute("DELETE FROM audit.historial_cambios", &[])),
        "42501"
    );

    let row = admin
        .query_one(
            "SELECT rol_bd, rol_sesion, usuario_id::text FROM audit.historial_cambios WHERE accion = 'INSERT'",
            &[],
        )
        .unwrap();
    assert_eq!(row.get::<_, String>(0), web.name);
    assert_eq!(
        row.get::<_, Option<String>>(1).as_deref(),
        Some(authenticator.name.as_str())
    );
    assert_eq!(
        row.get::<_, Option<String>>(2).as_deref(),
        Some("33333333-3333-3333-3333-333333333333")
    );
}

#[test]
fn only_roles_allowed_to_audit_may_attach_the_capture_trigger() {
    let db = TestDb::new("adjuntar");
    let owner = TestRole::new(&db, "dueno");
    let migrator = TestRole::new(&db, "migraciones");
    let mut admin = db.connect();
    admin
        .batch_execute(&format!(
            "GRANT CREATE ON SCHEMA public TO {o}, {m};
             GRANT EXECUTE ON FUNCTION audit.auditar(regclass, jsonb) TO {m};",
            o = owner.name,
            m = migrator.name
        ))
        .unwrap();
    // A table owner without the permission to audit cannot attach the
    // trigger: otherwise it could write events of its choosing (any tenant)
    // into the log.
    let mut o = db.connect_as(&owner.name);
    o.batch_execute("CREATE TABLE propia (id int PRIMARY KEY, empresa_id uuid)")
        .unwrap();
    let attach = "CREATE TRIGGER t AFTER INSERT ON propia FOR EACH ROW EXECUTE FUNCTION audit.registrar_cambio()";
    assert_eq!(sqlstate(o.execute(attach, &[])), "42501");
    assert_eq!(
        sqlstate(o.execute("SELECT audit.auditar('propia')", &[])),
        "42501"
    );
    // The migration role, allowed to audit, attaches it to its own table, and
    // the capture works for it.
    let mut m = db.connect_as(&migrator.name);
    m.batch_execute(
        "CREATE TABLE migrada (id int PRIMARY KEY);
         CREATE TRIGGER on_migrada_change AFTER INSERT OR UPDATE OR DELETE ON migrada
             FOR EACH ROW EXECUTE FUNCTION audit.registrar_cambio();
         INSERT INTO migrada VALUES (1);",
    )
    .unwrap();
    let n: i64 = admin
        .query_one("SELECT count(*) FROM audit.historial_cambios WHERE tabla_afectada = 'migrada' AND accion = 'INSERT'", &[])
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
    // Stopping the audit of someone else's table needs ownership of it.
    admin
        .batch_execute(&format!(
            "GRANT EXECUTE ON FUNCTION audit.dejar_de_auditar(regclass) TO {}",
            owner.name
        ))
        .unwrap();
    assert_eq!(
        sqlstate(o.execute("SELECT audit.dejar_de_auditar('migrada')", &[])),
        "42501"
    );
    let still: i64 = admin
        .query_one("SELECT count(*) FROM audit.tablas_auditadas WHERE nombre = 'migrada' AND captura_activa", &[])
        .unwrap()
        .get(0);
    assert_eq!(still, 1, "a refused dejar_de_auditar changes nothing");
}

#[test]
fn session_replication_role_is_not_available_to_ordinary_roles() {
    let db = TestDb::new("replica");
    let app = TestRole::new(&db, "app");
    let mut c = db.connect_as(&app.name);
    // Setting it would skip ordinary triggers, the capture among them.
    assert_eq!(
        sqlstate(c.execute("SET session_replication_role = replica", &[])),
        "42501"
    );
}

#[test]
fn a_table_owner_without_access_to_the_extension_can_change_its_audited_tables() {
    // The event triggers run as whoever runs the DDL; what they read and
    // write of the extension's own tables they do as the log's owner.
    let db = TestDb::new("dueno_ddl");
    let owner = TestRole::new(&db, "dueno");
    let mut admin = db.connect();
    let mut o = db.connect_as(&owner.name);
    admin
        .batch_execute(&format!("GRANT CREATE ON SCHEMA public TO {}", owner.name))
        .unwrap();
    o.batch_execute(
        "CREATE TABLE datos (id int PRIMARY KEY, clave text);
         CREATE TABLE ventas (id int, region text, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
         CREATE TABLE ventas_norte PARTITION OF ventas FOR VALUES IN ('norte');",
    )
    .unwrap();
    admin
        .batch_execute(
            "SELECT audit.auditar('datos', '{\"excluir_columnas\": [\"clave\"]}');
             SELECT audit.auditar('ventas');",
        )
        .unwrap();

    o.batch_execute("ALTER TABLE datos RENAME COLUMN clave TO clave_hash")
        .unwrap();
    o.batch_execute("INSERT INTO datos VALUES (1, 'secreta')")
        .unwrap();
    let leaked: bool = admin
        .query_one("SELECT datos_nuevos ? 'clave_hash' FROM audit.historial_cambios WHERE accion = 'INSERT'", &[])
        .unwrap()
        .get(0);
    assert!(!leaked, "the renamed excluded column stays excluded");

    o.batch_execute("CREATE TABLE ventas_sur PARTITION OF ventas FOR VALUES IN ('sur')")
        .unwrap();
    let truncate_trigger: i64 = admin
        .query_one(
            "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'ventas_sur'::regclass AND tgname = 'audit_registrar_truncate'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(truncate_trigger, 1);

    o.batch_execute("DROP TABLE datos").unwrap();
    let row = admin
        .query_one(
            "SELECT (SELECT count(*) FROM audit.tablas_auditadas WHERE nombre = 'datos'),
                    (SELECT metadata->>'comando' FROM audit.historial_cambios ORDER BY id DESC LIMIT 1),
                    (SELECT rol_bd FROM audit.historial_cambios ORDER BY id DESC LIMIT 1)",
            &[],
        )
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 0);
    assert_eq!(
        row.get::<_, Option<String>>(1).as_deref(),
        Some("DROP TABLE")
    );
    assert_eq!(row.get::<_, String>(2), owner.name);
}

#[test]
fn a_role_renamed_while_a_session_uses_it_is_recorded_by_its_new_name() {
    // rol_bd's name is cached per backend by the role's OID: a rename made
    // by another session must reach it (the cache is reset when pg_authid
    // changes: src/backend.rs).
    let db = TestDb::new("rol_renombrado");
    let (before, after) = ("audit_it_rol_antes", "audit_it_rol_despues");
    let mut admin = db.connect();
    admin
        .batch_execute(&format!(
            "DROP ROLE IF EXISTS {before}; DROP ROLE IF EXISTS {after}; CREATE ROLE {before};
             CREATE TABLE t (id int PRIMARY KEY, v int);
             SELECT audit.auditar('t');
             GRANT SELECT, INSERT, UPDATE ON t TO {before};"
        ))
        .unwrap();
    let mut writer = db.connect();
    writer
        .batch_execute(&format!("SET ROLE {before}; INSERT INTO t VALUES (1, 1)"))
        .unwrap();
    admin
        .batch_execute(&format!("ALTER ROLE {before} RENAME TO {after}"))
        .unwrap();
    writer.batch_execute("UPDATE t SET v = 2").unwrap();
    let recorded = texts(
        &mut admin,
        "SELECT rol_bd FROM audit.historial_cambios WHERE tabla_afectada = 't' AND accion <> 'DDL' ORDER BY id",
    );
    writer.batch_execute("RESET ROLE").unwrap();
    admin
        .batch_execute(&format!("DROP OWNED BY {after}; DROP ROLE {after}"))
        .unwrap();
    assert_eq!(recorded, [before, after]);
}
