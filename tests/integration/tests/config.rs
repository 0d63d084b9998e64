//! Configuration documents (docs/configuration.md) across real sessions: concurrent
//! saves, a stale snapshot, the fallback seen from another session, and
//! tenants through a PostgREST-like role with claims.

use audit_integration_tests::{
    claims, conninfo, count, sqlstate, texts, with_claims, TestDb, TestRole,
};
use postgres::{Client, NoTls};
use std::time::{Duration, Instant};

const EMPRESA: &str = "c0000000-0000-4000-8000-00000000000c";

fn admin(db: &TestDb) -> Client {
    let mut c = db.connect();
    c.batch_execute(&format!("SET audit.empresa_id = '{EMPRESA}'"))
        .unwrap();
    c
}

fn smtp(host: &str) -> String {
    format!(
        r#"{{"host": "{host}", "port": 587, "remitente": "no-reply@example.com", "password": "pw-{host}"}}"#
    )
}

/// Waits until a session of `application_name` waits on a lock.
fn wait_until_blocked(observer: &mut Client, application_name: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let waiting = count(
            observer,
            &format!(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = '{application_name}' AND wait_event_type = 'Lock'"
            ),
        );
        if waiting == 1 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{application_name} never waited for the lock"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn two_sessions_saving_at_once_make_two_versions_in_lock_order() {
    let db = TestDb::new("cfg_concurrent");
    let mut a = admin(&db);
    a.batch_execute("BEGIN").unwrap();
    let va: i64 = a
        .query_one(
            "SELECT audit.guardar_config('smtp', $1::text::jsonb, 'sesión A')",
            &[&smtp("a.example.com")],
        )
        .unwrap()
        .get(0);
    // B saves the same configuration while A's transaction is open: it waits.
    let name = db.name.clone();
    let b = std::thread::spawn(move || {
        let mut c = Client::connect(&conninfo(&name, None), NoTls).unwrap();
        c.batch_execute(&format!(
            "SET application_name = 'cfg_b'; SET audit.empresa_id = '{EMPRESA}'"
        ))
        .unwrap();
        let id: i64 = c
            .query_one(
                "SELECT audit.guardar_config('smtp', $1::text::jsonb, 'sesión B')",
                &[&smtp("b.example.com")],
            )
            .unwrap()
            .get(0);
        id
    });
    let mut observer = db.connect();
    wait_until_blocked(&mut observer, "cfg_b");
    a.batch_execute("COMMIT").unwrap();
    let vb = b.join().unwrap();

    // Both saved, in the order they got the lock; B's predecessor is A's
    // version (it read the active version after A committed).
    assert!(vb > va, "{va} {vb}");
    let mut c = admin(&db);
    assert_eq!(
        texts(
            &mut c,
            "SELECT id_version || ':' || coalesce(version_anterior::text, '-') || ':' || comentario
               FROM audit.historial_config('smtp')"
        ),
        vec![format!("{vb}:{va}:sesión B"), format!("{va}:-:sesión A")]
    );
    // The active version is B's, with no ambiguity.
    assert_eq!(
        texts(&mut c, "SELECT audit.config_actual('smtp') ->> 'host'"),
        vec!["b.example.com"]
    );
}

#[test]
fn a_save_on_a_stale_repeatable_read_snapshot_is_a_serialization_failure() {
    let db = TestDb::new("cfg_stale");
    let mut a = admin(&db);
    let v1: i64 = a
        .query_one(
            "SELECT audit.guardar_config('smtp', $1::text::jsonb)",
            &[&smtp("uno.example.com")],
        )
        .unwrap()
        .get(0);
    let mut b = admin(&db);
    b.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        .unwrap();
    // B's snapshot: version 1 is the active one.
    assert_eq!(
        count(
            &mut b,
            "SELECT count(*) FROM audit.historial_config('smtp')"
        ),
        1
    );
    let v2: i64 = a
        .query_one(
            "SELECT audit.guardar_config('smtp', $1::text::jsonb)",
            &[&smtp("dos.example.com")],
        )
        .unwrap()
        .get(0);
    // B would add a second successor to version 1: refused, retryable.
    let r = b.execute(
        "SELECT audit.guardar_config('smtp', $1::text::jsonb)",
        &[&smtp("tres.example.com")],
    );
    assert_eq!(sqlstate(r), "40001");
    b.batch_execute("ROLLBACK").unwrap();
    // The retry, in a new transaction, builds on version 2.
    let v3: i64 = b
        .query_one(
            "SELECT audit.guardar_config('smtp', $1::text::jsonb)",
            &[&smtp("tres.example.com")],
        )
        .unwrap()
        .get(0);
    assert_eq!(
        texts(
            &mut a,
            "SELECT id_version || ':' || coalesce(version_anterior::text, '-') FROM audit.historial_config('smtp')"
        ),
        vec![format!("{v3}:{v2}"), format!("{v2}:{v1}"), format!("{v1}:-")]
    );
    // One event per version, none for the failed attempt.
    assert_eq!(
        count(&mut a, "SELECT count(*) FROM audit.historial_cambios WHERE tabla_afectada = 'config_versiones'"),
        3
    );
}

#[test]
fn a_failed_restore_leaves_the_active_version_and_its_log_tecnico_row_survives_commit() {
    let db = TestDb::new("cfg_fallback");
    let mut c = admin(&db);
    let v1: i64 = c
        .query_one(
            "SELECT audit.guardar_config('smtp', $1::text::jsonb)",
            &[&smtp("viejo.example.com")],
        )
        .unwrap()
        .get(0);
    let v2: i64 = c
        .query_one(
            "SELECT audit.guardar_config('smtp', $1::text::jsonb)",
            &[&r#"{"host": "nuevo.example.com", "port": 587, "remitente": "a@example.com", "tls": "tls"}"#],
        )
        .unwrap()
        .get(0);
    // The schema now requires tls; version 1 has none.
    c.batch_execute(
        r#"SELECT audit.definir_tipo_config('smtp', '{"type": "object", "required": ["host", "tls"]}', '{password}')"#,
    )
    .unwrap();
    let mut tx = c.transaction().unwrap();
    let report: String = tx
        .query_one("SELECT audit.restaurar_config($1)::text", &[&v1])
        .unwrap()
        .get(0);
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    assert_eq!(report["aplicado"], false, "{report}");
    assert_eq!(report["error"]["sqlstate"], "22023", "{report}");
    // The caller's transaction goes on and commits.
    tx.execute("SELECT 1", &[]).unwrap();
    tx.commit().unwrap();

    let mut other = admin(&db);
    other.batch_execute("SET audit.rol = 'admin'").unwrap();
    assert_eq!(
        texts(&mut other, "SELECT audit.config_actual('smtp') ->> 'host'"),
        vec!["nuevo.example.com"]
    );
    assert_eq!(
        count(
            &mut other,
            "SELECT max(id_version) FROM audit.config_versiones"
        ),
        v2
    );
    assert_eq!(
        texts(
            &mut other,
            "SELECT categoria || ':' || (detalle ->> 'id_version_restaurada') FROM audit.log_tecnico"
        ),
        vec![format!("versionado:{v1}")]
    );
}

#[test]
fn through_claims_each_tenant_has_its_own_configuration() {
    let db = TestDb::new("cfg_claims");
    let api = TestRole::new(&db, "api");
    let mut c = db.connect();
    c.batch_execute(&format!(
        "GRANT EXECUTE ON FUNCTION audit.guardar_config(text, jsonb, text, bigint), audit.config_actual(text),
             audit.historial_config(text), audit.comparar_config(bigint, bigint),
             audit.restaurar_config(bigint, boolean, boolean, text) TO {0}",
        api.name
    ))
    .unwrap();
    let mut web = Client::connect(&conninfo(&db.name, Some(&api.name)), NoTls).unwrap();
    let a = claims(
        "a0000000-0000-4000-8000-00000000000a",
        "e1000000-0000-4000-8000-000000000001",
        "admin",
    );
    let b = claims(
        "b0000000-0000-4000-8000-00000000000b",
        "e2000000-0000-4000-8000-000000000002",
        "admin",
    );
    let vendedor = claims(
        "c0000000-0000-4000-8000-00000000000c",
        "e1000000-0000-4000-8000-000000000001",
        "vendedor",
    );

    let va = with_claims(
        &mut web,
        &a,
        r#"SELECT audit.guardar_config('sistema', '{"nombre": "Empresa uno", "clave_api": "k-uno"}')"#,
    );
    with_claims(
        &mut web,
        &b,
        r#"SELECT audit.guardar_config('sistema', '{"nombre": "Empresa dos"}')"#,
    );
    assert_eq!(
        with_claims(
            &mut web,
            &a,
            "SELECT audit.config_actual('sistema') ->> 'nombre'"
        ),
        vec![Some("Empresa uno".to_string())]
    );
    assert_eq!(
        with_claims(
            &mut web,
            &b,
            "SELECT audit.config_actual('sistema') ->> 'nombre'"
        ),
        vec![Some("Empresa dos".to_string())]
    );
    // The history masks the key; B cannot see or restore A's version.
    assert_eq!(
        with_claims(
            &mut web,
            &a,
            "SELECT json_config ->> 'clave_api' FROM audit.historial_config('sistema')"
        ),
        vec![Some("***".to_string())]
    );
    let va = va[0].clone().unwrap();
    let mut tx = web.transaction().unwrap();
    tx.execute("SELECT set_config('request.jwt.claims', $1, true)", &[&b])
        .unwrap();
    let r = tx.execute(&format!("SELECT audit.restaurar_config({va})"), &[]);
    assert_eq!(sqlstate(r), "P0002");
    tx.rollback().unwrap();
    // A non-reader role of tenant A gets nothing.
    let mut tx = web.transaction().unwrap();
    tx.execute(
        "SELECT set_config('request.jwt.claims', $1, true)",
        &[&vendedor],
    )
    .unwrap();
    let r = tx.execute("SELECT audit.config_actual('sistema')", &[]);
    assert_eq!(sqlstate(r), "42501");
    tx.rollback().unwrap();
    // Each save is in the log with its tenant and user from the claims.
    assert_eq!(
        texts(
            &mut c,
            "SELECT empresa_id || ':' || usuario_id FROM audit.historial_cambios
              WHERE tabla_afectada = 'config_versiones' ORDER BY id"
        ),
        vec![
            "e1000000-0000-4000-8000-000000000001:a0000000-0000-4000-8000-00000000000a",
            "e2000000-0000-4000-8000-000000000002:b0000000-0000-4000-8000-00000000000b"
        ]
    );
}
