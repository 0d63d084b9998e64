//! Several sessions and commits: attribution per session, isolation of
//! transactions and contexts, and options changed by one session applying
//! at once in another.

use audit_integration_tests::TestDb;
use std::thread;

const EMPRESA_A: &str = "aaaaaaaa-0000-0000-0000-000000000001";
const EMPRESA_B: &str = "bbbbbbbb-0000-0000-0000-000000000002";

fn claims(user: &str, name: &str, empresa: &str) -> String {
    format!(
        r#"{{"sub": "{user}", "email": "{name}", "app_metadata": {{"empresa_id": "{empresa}"}}}}"#
    )
}

#[test]
fn two_users_of_two_tenants_write_at_once_and_each_event_is_theirs() {
    let db = TestDb::new("dos_usuarios");
    db.connect()
        .batch_execute(
            "CREATE TABLE productos (id int PRIMARY KEY, empresa_id uuid, nombre text);
             SELECT audit.auditar('productos');",
        )
        .unwrap();
    let workers: Vec<_> = [
        (
            "11111111-1111-1111-1111-111111111111",
            "ana@a.example",
            EMPRESA_A,
            0,
        ),
        (
            "22222222-2222-2222-2222-222222222222",
            "luis@b.example",
            EMPRESA_B,
            1000,
        ),
    ]
    .into_iter()
    .map(|(user, name, empresa, base)| {
        let mut c = db.connect();
        thread::spawn(move || {
            for i in 0..50 {
                let mut tx = c.transaction().unwrap();
                tx.execute(
                    "SELECT set_config('request.jwt.claims', $1, true)",
                    &[&claims(user, name, empresa)],
                )
                .unwrap();
                tx.execute(
                    "INSERT INTO productos VALUES ($1, $2::text::uuid, 'p')",
                    &[&(base + i), &empresa],
                )
                .unwrap();
                tx.execute(
                    "UPDATE productos SET nombre = 'q' WHERE id = $1",
                    &[&(base + i)],
                )
                .unwrap();
                tx.commit().unwrap();
            }
        })
    })
    .collect();
    for w in workers {
        w.join().unwrap();
    }
    let mut c = db.connect();
    let rows = c
        .query(
            "SELECT usuario_nombre, empresa_id::text, count(*), count(DISTINCT transaccion),
                    bool_and((registro_pk->>'id')::int >= CASE WHEN empresa_id::text = $1 THEN 0 ELSE 1000 END)
               FROM audit.historial_cambios WHERE tabla_afectada = 'productos' AND accion <> 'DDL'
              GROUP BY 1, 2 ORDER BY 1",
            &[&EMPRESA_A],
        )
        .unwrap();
    let summary: Vec<(String, String, i64, i64, bool)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("ana@a.example".into(), EMPRESA_A.into(), 100, 50, true),
            ("luis@b.example".into(), EMPRESA_B.into(), 100, 50, true),
        ]
    );
    // ids are unique and increasing in commit-independent order
    let distinct: i64 = c
        .query_one("SELECT count(DISTINCT id) FROM audit.historial_cambios WHERE tabla_afectada = 'productos'", &[])
        .unwrap()
        .get(0);
    assert_eq!(distinct, 201);
}

#[test]
fn a_rolled_back_transaction_leaves_no_event_and_a_committed_one_is_seen_by_others() {
    let db = TestDb::new("rollback");
    let mut a = db.connect();
    let mut b = db.connect();
    a.batch_execute("CREATE TABLE t (id int PRIMARY KEY); SELECT audit.auditar('t');")
        .unwrap();
    let count = |c: &mut postgres::Client| -> i64 {
        c.query_one(
            "SELECT count(*) FROM audit.historial_cambios WHERE accion = 'INSERT'",
            &[],
        )
        .unwrap()
        .get(0)
    };
    a.batch_execute("BEGIN; INSERT INTO t VALUES (1);").unwrap();
    assert_eq!(
        count(&mut b),
        0,
        "uncommitted events are invisible to other sessions"
    );
    a.batch_execute("ROLLBACK").unwrap();
    assert_eq!(count(&mut b), 0, "a rolled-back change leaves no event");
    a.batch_execute("BEGIN; INSERT INTO t VALUES (2); COMMIT;")
        .unwrap();
    assert_eq!(count(&mut b), 1);
}

#[test]
fn the_context_belongs_to_its_transaction_and_session() {
    let db = TestDb::new("contexto");
    let mut a = db.connect();
    let mut b = db.connect();
    a.batch_execute("CREATE TABLE t (id int PRIMARY KEY); SELECT audit.auditar('t');")
        .unwrap();
    a.batch_execute(
        "BEGIN;
         SELECT audit.establecer_contexto('{\"motivo\": \"solo A\"}');
         INSERT INTO t VALUES (1);",
    )
    .unwrap();
    // Session B, concurrently: no context.
    b.batch_execute("INSERT INTO t VALUES (2)").unwrap();
    a.batch_execute("COMMIT; INSERT INTO t VALUES (3);")
        .unwrap();
    let rows = a
        .query(
            "SELECT (registro_pk->>'id')::int, metadata::text FROM audit.historial_cambios
              WHERE accion = 'INSERT' ORDER BY 1",
            &[],
        )
        .unwrap();
    let got: Vec<(i32, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(
        got,
        vec![
            (1, r#"{"motivo": "solo A"}"#.into()),
            (2, "{}".into()),
            (3, "{}".into())
        ]
    );
}

#[test]
fn options_changed_by_one_session_apply_at_once_in_another() {
    let db = TestDb::new("invalidacion");
    let mut a = db.connect();
    let mut b = db.connect();
    a.batch_execute(
        "CREATE TABLE cuentas (id int PRIMARY KEY, clave text);
         SELECT audit.auditar('cuentas');
         INSERT INTO cuentas VALUES (1, 'visible');",
    )
    .unwrap();
    // A has built its cached state of the table; B excludes a column.
    b.batch_execute("SELECT audit.auditar('cuentas', '{\"excluir_columnas\": [\"clave\"]}')")
        .unwrap();
    a.batch_execute("INSERT INTO cuentas VALUES (2, 'oculta')")
        .unwrap();
    let keeps: bool = a
        .query_one(
            "SELECT datos_nuevos ? 'clave' FROM audit.historial_cambios
              WHERE accion = 'INSERT' AND registro_pk = '{\"id\": 2}'",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(
        !keeps,
        "session A must see the new options at its next write"
    );
    // And a column added by B shows up in A's next snapshot.
    b.batch_execute("ALTER TABLE cuentas ADD COLUMN nota text DEFAULT 'n'")
        .unwrap();
    a.batch_execute("UPDATE cuentas SET clave = 'x', nota = 'm' WHERE id = 1")
        .unwrap();
    let nota: Option<String> = a
        .query_one(
            "SELECT datos_nuevos->>'nota' FROM audit.historial_cambios WHERE accion = 'UPDATE' ORDER BY id DESC LIMIT 1",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(nota.as_deref(), Some("m"));
}

#[test]
fn the_client_application_and_address_are_recorded() {
    let db = TestDb::new("cliente");
    let mut c = db.connect();
    c.batch_execute(
        "CREATE TABLE t (id int PRIMARY KEY); SELECT audit.auditar('t'); INSERT INTO t VALUES (1);",
    )
    .unwrap();
    let row = c
        .query_one(
            "SELECT aplicacion, host(ip_cliente), \"timestamp\" <= now()
               FROM audit.historial_cambios WHERE accion = 'INSERT'",
            &[],
        )
        .unwrap();
    assert_eq!(row.get::<_, Option<String>>(0).as_deref(), Some("audit_it"));
    assert_eq!(
        row.get::<_, Option<String>>(1).as_deref(),
        Some("127.0.0.1")
    );
    assert!(row.get::<_, bool>(2));
    // transaccion is the writing transaction's id (pg_current_xact_id).
    let mut tx = c.transaction().unwrap();
    tx.execute("INSERT INTO t VALUES (2)", &[]).unwrap();
    let same: bool = tx
        .query_one(
            "SELECT transaccion = pg_current_xact_id()::text::bigint FROM audit.historial_cambios WHERE registro_pk = '{\"id\": 2}'",
            &[],
        )
        .unwrap()
        .get(0);
    tx.commit().unwrap();
    assert!(same);
}
