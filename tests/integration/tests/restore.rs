//! Restore and rollback against a real cluster (docs/restore.md, docs/restore.md):
//! what needs commits, several sessions or roles, which the golden tests
//! (tests/pg_regress/sql/restore_*.sql) cannot show.

use audit_integration_tests::{claims, conninfo, count, texts, with_claims, TestDb, TestRole};
use postgres::{Client, NoTls};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Three tables with foreign keys between them, audited and grouped in a
/// module with a mark "m" after the first rows.
fn shop(test: &str) -> TestDb {
    let db = TestDb::new(test);
    db.connect()
        .batch_execute(
            "CREATE TABLE a_clientes (id int PRIMARY KEY, nombre text, empresa_id uuid);
             CREATE TABLE b_pedidos (id int PRIMARY KEY, cliente_id int REFERENCES a_clientes, total numeric, empresa_id uuid);
             CREATE TABLE c_lineas (pedido_id int REFERENCES b_pedidos, n int, producto text, empresa_id uuid, PRIMARY KEY (pedido_id, n));
             SELECT audit.auditar('a_clientes'), audit.auditar('b_pedidos'), audit.auditar('c_lineas');
             INSERT INTO a_clientes VALUES (1, 'Ana', 'a0000000-0000-4000-8000-00000000000a'), (2, 'Luis', 'b0000000-0000-4000-8000-00000000000b');
             INSERT INTO b_pedidos VALUES (10, 1, 5, 'a0000000-0000-4000-8000-00000000000a'), (20, 2, 7, 'b0000000-0000-4000-8000-00000000000b');
             INSERT INTO c_lineas VALUES (10, 1, 'x', 'a0000000-0000-4000-8000-00000000000a'), (20, 1, 'y', 'b0000000-0000-4000-8000-00000000000b');
             SELECT audit.crear_modulo('tienda', ARRAY['c_lineas', 'a_clientes', 'b_pedidos']::regclass[]);
             SELECT audit.crear_marca('tienda', 'm');",
        )
        .unwrap();
    db
}

/// Every row of the three tables, as text, in a fixed order.
fn contents(c: &mut Client) -> Vec<String> {
    texts(
        c,
        "SELECT t || ':' || f::text FROM (
            SELECT 'a' AS t, to_jsonb(x) AS f FROM a_clientes x UNION ALL
            SELECT 'b', to_jsonb(x) FROM b_pedidos x UNION ALL
            SELECT 'c', to_jsonb(x) FROM c_lineas x) s ORDER BY 1",
    )
}

fn report(c: &mut Client, sql: &str) -> serde_json::Value {
    let text: String = c
        .query_one(&format!("SELECT ({sql})::text"), &[])
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .get(0);
    serde_json::from_str(&text).unwrap()
}

/// A connection that keeps the notices (WARNINGs) it receives.
fn connect_with_notices(db: &TestDb, user: Option<&str>) -> (Client, Arc<Mutex<Vec<String>>>) {
    let notices = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = notices.clone();
    let mut config: postgres::Config = conninfo(&db.name, user).parse().unwrap();
    config.notice_callback(move |n| {
        sink.lock()
            .unwrap()
            .push(format!("{}: {}", n.severity(), n.message()))
    });
    (config.connect(NoTls).unwrap(), notices)
}

#[test]
fn a_failure_midway_leaves_every_table_as_it_was_and_log_tecnico_keeps_the_row() {
    let db = shop("rs_fallback");
    let mut c = db.connect();
    c.batch_execute(
        "UPDATE a_clientes SET nombre = 'Ana M.' WHERE id = 1;
         INSERT INTO a_clientes VALUES (3, 'Eva', NULL);
         INSERT INTO b_pedidos VALUES (30, 3, 1, NULL);
         UPDATE b_pedidos SET total = 50 WHERE id = 10;
         INSERT INTO c_lineas VALUES (30, 1, 'z', NULL);
         -- The rollback's last phase deletes these lines; this trigger makes
         -- that fail, after the inserts and updates of the other tables.
         CREATE FUNCTION public.no_borrar() RETURNS trigger LANGUAGE plpgsql AS
           $$ BEGIN RAISE EXCEPTION 'lines cannot be deleted today' USING ERRCODE = 'P0001'; END $$;
         CREATE TRIGGER no_borrar BEFORE DELETE ON c_lineas FOR EACH ROW EXECUTE FUNCTION public.no_borrar();",
    )
    .unwrap();
    let before = contents(&mut c);
    let events_before = count(&mut c, "SELECT count(*) FROM audit.historial_cambios");

    let (mut s, notices) = connect_with_notices(&db, None);
    s.batch_execute("BEGIN").unwrap();
    let r = report(&mut s, "audit.revertir_modulo('tienda', 'm')");
    assert_eq!(r["aplicado"], false, "{r}");
    assert_eq!(r["error"]["sqlstate"], "P0001", "{r}");
    assert_eq!(
        r["error"]["mensaje"], "lines cannot be deleted today",
        "{r}"
    );
    // The caller's transaction is not aborted: it can go on and commit.
    assert_eq!(contents(&mut s), before);
    s.batch_execute("COMMIT").unwrap();
    let warnings = notices.lock().unwrap().clone();
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("WARNING: audit.revertir_modulo did not apply")),
        "{warnings:?}"
    );

    // Seen from another session after the commit: every table as before, no
    // event of the attempt, and the technical log has the failure.
    let mut other = db.connect();
    assert_eq!(contents(&mut other), before);
    assert_eq!(
        count(&mut other, "SELECT count(*) FROM audit.historial_cambios"),
        events_before
    );
    let log = texts(
        &mut other,
        "SELECT nivel || '|' || categoria || '|' || (detalle -> 'error' ->> 'sqlstate') || '|' || (detalle ->> 'modulo') FROM audit.log_tecnico",
    );
    assert_eq!(log, vec!["ERROR|rollback|P0001|tienda"]);

    // Without the obstacle the same rollback goes through, and the tables
    // are as at the mark.
    other
        .batch_execute("DROP TRIGGER no_borrar ON c_lineas")
        .unwrap();
    let r = report(&mut other, "audit.revertir_modulo('tienda', 'm')");
    assert_eq!(r["aplicado"], true, "{r}");
    assert_eq!(
        contents(&mut other),
        vec![
            r#"a:{"id": 1, "nombre": "Ana", "empresa_id": "a0000000-0000-4000-8000-00000000000a"}"#,
            r#"a:{"id": 2, "nombre": "Luis", "empresa_id": "b0000000-0000-4000-8000-00000000000b"}"#,
            r#"b:{"id": 10, "total": 5, "cliente_id": 1, "empresa_id": "a0000000-0000-4000-8000-00000000000a"}"#,
            r#"b:{"id": 20, "total": 7, "cliente_id": 2, "empresa_id": "b0000000-0000-4000-8000-00000000000b"}"#,
            r#"c:{"n": 1, "producto": "x", "pedido_id": 10, "empresa_id": "a0000000-0000-4000-8000-00000000000a"}"#,
            r#"c:{"n": 1, "producto": "y", "pedido_id": 20, "empresa_id": "b0000000-0000-4000-8000-00000000000b"}"#,
        ]
    );
}

#[test]
fn a_role_without_privileges_on_the_tables_changes_nothing() {
    let db = shop("rs_privileges");
    let lector = TestRole::new(&db, "lector");
    let mut admin = db.connect();
    admin
        .batch_execute(&format!(
            "GRANT SELECT ON audit.historial_cambios, a_clientes, b_pedidos, c_lineas TO {r};
             UPDATE a_clientes SET nombre = 'cambiado' WHERE id = 1;",
            r = lector.name
        ))
        .unwrap();
    let before = contents(&mut admin);
    let evento = count(
        &mut admin,
        "SELECT max(id) FROM audit.historial_cambios WHERE accion = 'UPDATE'",
    );
    let mut c = db.connect_as(&lector.name);
    // As a superuser-less reader with claims: it can see the event...
    let ana = claims(
        "11111111-1111-4111-8111-111111111111",
        "a0000000-0000-4000-8000-00000000000a",
        "administrador",
    );
    let seen = with_claims(
        &mut c,
        &ana,
        &format!("SELECT count(*) FROM audit.historial_cambios WHERE id = {evento}"),
    );
    assert_eq!(seen, vec![Some("1".to_owned())]);
    // ... but may not change the table: 42501 in the report, or raised.
    let out = with_claims(
        &mut c,
        &ana,
        &format!("SELECT audit.deshacer({evento}) -> 'error' ->> 'sqlstate'"),
    );
    assert_eq!(out, vec![Some("42501".to_owned())]);
    let out = with_claims(
        &mut c,
        &ana,
        "SELECT audit.revertir_modulo('tienda', 'm') -> 'error' ->> 'sqlstate'",
    );
    assert_eq!(out, vec![Some("42501".to_owned())]);
    let mut tx = c.transaction().unwrap();
    tx.execute("SELECT set_config('request.jwt.claims', $1, true)", &[&ana])
        .unwrap();
    let err = tx
        .query(
            &format!("SELECT audit.deshacer({evento}, estricto => true)"),
            &[],
        )
        .unwrap_err();
    assert_eq!(err.code().map(|s| s.code()), Some("42501"));
    drop(tx);
    // Nor set marks (they lock the tables) or define modules.
    let err = c
        .batch_execute("SELECT audit.crear_marca('tienda', 'mia')")
        .unwrap_err();
    assert_eq!(err.code().map(|s| s.code()), Some("42501"));
    let err = c
        .batch_execute("SELECT audit.crear_modulo('mio', ARRAY['a_clientes']::regclass[])")
        .unwrap_err();
    assert_eq!(err.code().map(|s| s.code()), Some("42501"));
    assert_eq!(contents(&mut admin), before);
}

#[test]
fn a_tenants_administrator_rolls_back_its_own_tenants_changes_only() {
    let db = shop("rs_tenant");
    let api = TestRole::new(&db, "api");
    let mut admin = db.connect();
    admin
        .batch_execute(&format!(
            "GRANT SELECT ON audit.historial_cambios TO {r};
             GRANT SELECT, INSERT, UPDATE, DELETE ON a_clientes, b_pedidos, c_lineas TO {r};",
            r = api.name
        ))
        .unwrap();
    let a = claims(
        "11111111-1111-4111-8111-111111111111",
        "a0000000-0000-4000-8000-00000000000a",
        "administrador",
    );
    let b = claims(
        "22222222-2222-4222-8222-222222222222",
        "b0000000-0000-4000-8000-00000000000b",
        "administrador",
    );
    let mut c = db.connect_as(&api.name);
    with_claims(&mut c, &a, "UPDATE b_pedidos SET total = 99 WHERE id = 10");
    with_claims(&mut c, &b, "UPDATE b_pedidos SET total = 77 WHERE id = 20");
    // Tenant A's administrator sees, and so rolls back, tenant A's events only.
    let out = with_claims(
        &mut c,
        &a,
        "SELECT (audit.revertir_modulo('tienda', 'm') -> 'aplicado')::text",
    );
    assert_eq!(out, vec![Some("true".to_owned())]);
    assert_eq!(
        texts(
            &mut admin,
            "SELECT id || '=' || total FROM b_pedidos ORDER BY id"
        ),
        vec!["10=5", "20=77"]
    );
    // The restore is recorded under tenant A, by its user.
    assert_eq!(
        texts(
            &mut admin,
            "SELECT empresa_id::text || ' ' || usuario_id::text FROM audit.historial_cambios
              WHERE metadata ->> 'tipo_operacion' = 'RESTAURACION'"
        ),
        vec!["a0000000-0000-4000-8000-00000000000a 11111111-1111-4111-8111-111111111111"]
    );
}

#[test]
fn a_rollback_waits_for_writers_and_holds_them_off_until_it_ends() {
    let db = shop("rs_locking");
    let mut c = db.connect();
    c.batch_execute("UPDATE a_clientes SET nombre = 'Ana M.' WHERE id = 1")
        .unwrap();
    let before = contents(&mut c);

    // A writer in the middle of a transaction on one of the module's tables:
    // the rollback waits for it; with a lock_timeout it fails cleanly.
    let mut writer = db.connect();
    writer
        .batch_execute("BEGIN; UPDATE c_lineas SET producto = 'w' WHERE pedido_id = 20")
        .unwrap();
    c.batch_execute("SET lock_timeout = '300ms'").unwrap();
    let r = report(&mut c, "audit.revertir_modulo('tienda', 'm')");
    assert_eq!(r["aplicado"], false, "{r}");
    assert_eq!(r["error"]["sqlstate"], "55P03", "{r}");
    writer.batch_execute("ROLLBACK").unwrap();
    assert_eq!(contents(&mut c), before);
    c.batch_execute("RESET lock_timeout").unwrap();

    // While a rollback's transaction is open, readers read and writers wait.
    c.batch_execute("BEGIN").unwrap();
    let r = report(&mut c, "audit.revertir_modulo('tienda', 'm')");
    assert_eq!(r["aplicado"], true, "{r}");
    assert_eq!(count(&mut writer, "SELECT count(*) FROM a_clientes"), 2);
    writer.batch_execute("SET lock_timeout = '300ms'").unwrap();
    let err = writer
        .batch_execute("UPDATE b_pedidos SET total = 1 WHERE id = 20")
        .unwrap_err();
    assert_eq!(err.code().map(|s| s.code()), Some("55P03"));
    c.batch_execute("COMMIT").unwrap();
    writer
        .batch_execute("UPDATE b_pedidos SET total = 1 WHERE id = 20")
        .unwrap();
}

#[test]
fn the_modules_tables_are_locked_in_a_fixed_order() {
    let db = shop("rs_lock_order");
    let name = db.name.clone();
    // Someone holds the middle table (by name: a_, b_, c_); the rollback
    // must hold the first, wait for the middle, and not touch the last yet.
    let mut holder = db.connect();
    holder
        .batch_execute("BEGIN; LOCK TABLE b_pedidos IN ROW EXCLUSIVE MODE")
        .unwrap();
    let worker = std::thread::spawn(move || {
        let mut c = Client::connect(&conninfo(&name, None), NoTls).unwrap();
        c.batch_execute("SET application_name = 'rollback_under_test'")
            .unwrap();
        let text: String = c
            .query_one("SELECT audit.revertir_modulo('tienda', 'm')::text", &[])
            .unwrap()
            .get(0);
        text
    });
    let mut observer = db.connect();
    let deadline = Instant::now() + Duration::from_secs(10);
    let locks = loop {
        let held = texts(
            &mut observer,
            "SELECT c.relname || ':' || l.mode || ':' || l.granted
               FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
               JOIN pg_stat_activity a ON a.pid = l.pid
              WHERE a.application_name = 'rollback_under_test' AND c.relname IN ('a_clientes', 'b_pedidos', 'c_lineas')
              ORDER BY 1",
        );
        if held.iter().any(|l| l.ends_with(":false")) || Instant::now() > deadline {
            break held;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(
        locks,
        vec![
            "a_clientes:ExclusiveLock:true",
            "b_pedidos:ExclusiveLock:false"
        ]
    );
    holder.batch_execute("COMMIT").unwrap();
    let r: serde_json::Value = serde_json::from_str(&worker.join().unwrap()).unwrap();
    assert_eq!(r["aplicado"], true, "{r}");
}

#[test]
fn an_instant_separates_transactions_by_when_they_started() {
    let db = shop("rs_instant");
    let mut early = db.connect();
    // A transaction that starts before the instant and commits after it:
    // its change counts as before the instant (events carry their
    // transaction's start time, docs/restore.md).
    early.batch_execute("BEGIN; SELECT now()").unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let mut c = db.connect();
    let instante: String = c
        .query_one("SELECT clock_timestamp()::text", &[])
        .unwrap()
        .get(0);
    std::thread::sleep(Duration::from_millis(20));
    early
        .batch_execute("UPDATE a_clientes SET nombre = 'temprano' WHERE id = 1; COMMIT")
        .unwrap();
    c.batch_execute("UPDATE a_clientes SET nombre = 'tarde' WHERE id = 2")
        .unwrap();
    let at = |c: &mut Client| {
        texts(
            c,
            &format!(
                "SELECT e ->> 'nombre' FROM audit.estado_en('a_clientes', '{instante}') e ORDER BY (e ->> 'id')::int"
            ),
        )
    };
    assert_eq!(at(&mut c), vec!["temprano", "Luis"]);
    // Putting customer 2 back as it was then undoes only the late change.
    let registro: String = c
        .query_one(
            "SELECT registro_id::text FROM audit.historial_cambios WHERE tabla_afectada = 'a_clientes' AND registro_pk = '{\"id\": 2}' LIMIT 1",
            &[],
        )
        .unwrap()
        .get(0);
    let r = report(
        &mut c,
        &format!("audit.restaurar_registro('a_clientes', '{registro}', '{instante}')"),
    );
    assert_eq!(r["aplicado"], true, "{r}");
    assert_eq!(
        texts(&mut c, "SELECT nombre FROM a_clientes ORDER BY id"),
        vec!["temprano", "Luis"]
    );
}
