//! Capture from the WAL (`"captura": "wal"`): the output plugin and the
//! capture worker must write exactly the events the row triggers write, and
//! exactly once, whatever happens to the worker or the server.
//!
//! Equality: one workload runs in two databases with the same tables, one
//! captured by row triggers and one from the WAL; every field of every event
//! is compared, except what differs by nature (the id, the transaction, its
//! time and the hash that covers them).

use audit_integration_tests::{count, json, TestDb};
use postgres::Client;

const TABLES: &str = "
CREATE TABLE t (
    id int PRIMARY KEY,
    empresa_id uuid,
    n numeric,
    f float8,
    ts timestamptz,
    b bytea,
    arr int[],
    j jsonb,
    big text,
    oculto text
);
CREATE TABLE sin_clave (a int, b text);
CREATE TABLE con_uuid (id uuid PRIMARY KEY, v text);
";

const A: &str = "a0000000-0000-4000-8000-00000000000a";
const B: &str = "b0000000-0000-4000-8000-00000000000b";

/// Every kind of change, in transactions with different writers, tenants
/// and contexts (also changing mid-transaction), application events among
/// them, and ones that must record nothing.
fn workload() -> Vec<String> {
    vec![
        // Ana of tenant A loads rows of both tenants.
        format!("BEGIN;
         SET LOCAL audit.usuario_id = '11111111-1111-4111-8111-111111111111';
         SET LOCAL audit.usuario_nombre = 'Ana';
         SET LOCAL audit.empresa_id = '{A}';
         SELECT audit.establecer_contexto('{{\"motivo\": \"carga\", \"lote\": {{\"n\": 1}}}}');
         INSERT INTO t
         SELECT g,
                CASE WHEN g % 2 = 0 THEN '{A}'::uuid ELSE '{B}'::uuid END,
                g * 1.10, g / 3.0,
                '2026-01-01 00:00+00'::timestamptz + g * interval '1 hour',
                decode(md5(g::text), 'hex'),
                CASE WHEN g = 3 THEN '[0:1]={{3,4}}'::int[] ELSE ARRAY[g, g + 1] END,
                jsonb_build_object('g', g, 'nested', jsonb_build_array(g, 'x')),
                CASE WHEN g = 7 THEN (SELECT string_agg(md5(i::text), '') FROM generate_series(1, 400) i) END,
                's'
           FROM generate_series(1, 300) g;
         SELECT audit.registrar_evento('CARGA_TERMINADA', '{{\"filas\": 300}}', 't');
         COMMIT;"),
        // Beto, with claims only, changes things; the context changes
        // between his statements.
        format!("BEGIN;
         SET LOCAL request.jwt.claims = '{{\"sub\": \"auth0|beto\", \"app_metadata\": {{\"empresa_id\": \"{B}\", \"rol\": \"admin\"}}}}';
         UPDATE t SET n = n + 1 WHERE id % 3 = 0;
         SELECT audit.establecer_contexto('{{\"motivo\": \"ajuste\"}}');
         UPDATE t SET oculto = 'changed' WHERE id % 5 = 0;
         UPDATE t SET n = n WHERE id < 10;
         UPDATE t SET id = id + 1000 WHERE id % 7 = 0;
         UPDATE t SET big = big || 'y' WHERE id = 1007;
         UPDATE t SET n = 1.00 WHERE id = 1;
         UPDATE t SET n = 1.0 WHERE id = 1;
         UPDATE t SET empresa_id = '{A}' WHERE id = 11;
         COMMIT;"),
        // A rolled-back transaction and a rolled-back savepoint: nothing.
        "BEGIN; UPDATE t SET n = 0; ROLLBACK;".into(),
        "BEGIN;
         DELETE FROM t WHERE id % 4 = 0 OR id = 1007;
         SAVEPOINT s; UPDATE t SET n = -1; ROLLBACK TO SAVEPOINT s;
         INSERT INTO t (id) VALUES (5000);
         COMMIT;".into(),
        // Malformed claims: recorded, and the event says so.
        "BEGIN;
         SET LOCAL request.jwt.claims = 'not json';
         INSERT INTO sin_clave SELECT g % 3, 'b' || g FROM generate_series(1, 9) g;
         UPDATE sin_clave SET b = b || '!' WHERE a = 1;
         DELETE FROM sin_clave WHERE a = 2;
         COMMIT;".into(),
        format!("BEGIN;
         SET LOCAL audit.empresa_id = '{B}';
         INSERT INTO con_uuid SELECT ('00000000-0000-0000-0000-' || lpad(g::text, 12, '0'))::uuid, 'v' FROM generate_series(1, 20) g;
         UPDATE con_uuid SET v = 'w';
         SELECT audit.registrar_evento('REVISION');
         DELETE FROM con_uuid WHERE id < '00000000-0000-0000-0000-000000000010';
         COMMIT;"),
        "TRUNCATE con_uuid;".into(),
        "TRUNCATE sin_clave, t;".into(),
    ]
}

/// Audits the tables in mode `captura`.
fn audit_all(c: &mut Client, captura: &str) {
    for (table, extra) in [
        ("t", r#", "excluir_columnas": ["oculto"]"#),
        ("sin_clave", ""),
        ("con_uuid", ""),
    ] {
        c.execute(
            "SELECT audit.auditar($1::text::regclass, $2::text::jsonb)",
            &[&table, &format!(r#"{{"captura": "{captura}"{extra}}}"#)],
        )
        .unwrap();
    }
}

/// The events of `accion` (a comma-separated list) after event `after`, in
/// id order, each as the text of a jsonb object without the fields that
/// differ by nature.
fn events(c: &mut Client, after: i64, accion: &str) -> Vec<String> {
    c.query(
        "SELECT (to_jsonb(h) - 'id' - 'timestamp' - 'transaccion' - 'huella')::text
           FROM audit.historial_cambios h
          WHERE id > $1 AND accion = ANY (string_to_array($2, ','))
          ORDER BY id",
        &[&after, &accion],
    )
    .unwrap()
    .iter()
    .map(|r| r.get(0))
    .collect()
}

fn last_id(c: &mut Client) -> i64 {
    count(
        c,
        "SELECT coalesce(max(id), 0) FROM audit.historial_cambios",
    )
}

fn wait_for_capture(c: &mut Client) {
    c.batch_execute("SELECT audit.esperar_captura('60 seconds')")
        .unwrap();
}

/// Runs the workload in a database of its own with the tables captured in
/// mode `captura`; returns its row events and its application events.
fn run_workload(test: &str, captura: &str) -> (TestDb, Vec<String>, Vec<String>) {
    let db = TestDb::new(test);
    let mut c = db.connect();
    c.batch_execute(TABLES).unwrap();
    audit_all(&mut c, captura);
    let start = last_id(&mut c);
    for tx in workload() {
        c.batch_execute(&tx).unwrap();
    }
    wait_for_capture(&mut c);
    let rows = events(&mut c, start, "INSERT,UPDATE,DELETE,TRUNCATE");
    let app = events(&mut c, start, "EVENTO");
    (db, rows, app)
}

#[test]
fn the_wal_records_exactly_what_the_row_triggers_record() {
    let (_a, by_row, app_row) = run_workload("wal_igual_fila", "fila");
    let (db, from_wal, app_wal) = run_workload("wal_igual_wal", "wal");
    // The workload's row events, counted by hand: 300 + 1 + 9 + 20 inserts;
    // 100 + 42 + 1 + 2 + 3 + 20 updates; the tenant move of row 11 (a
    // DELETE for B and an INSERT for A); 65 + 10 + 1 + 3 + 9 deletes; two
    // TRUNCATE statements of 1 and 2 tables.
    assert_eq!(by_row.len(), 330 + 168 + 2 + 88 + 3);
    assert_eq!(from_wal.len(), by_row.len());
    for (i, (r, w)) in by_row.iter().zip(&from_wal).enumerate() {
        assert_eq!(r, w, "event {i} differs between row triggers and the WAL");
    }
    assert_eq!(app_row.len(), 2);
    assert_eq!(app_wal, app_row);
    // What makes them interesting is there.
    let mut c = db.connect();
    for (what, sql) in [
        ("a TOASTed value recorded whole", "SELECT count(*) FROM audit.historial_cambios WHERE length(datos_nuevos->>'big') > 12000"),
        ("a changed key", "SELECT count(*) FROM audit.historial_cambios WHERE registro_id_anterior IS NOT NULL"),
        ("a tenant move", "SELECT count(*) FROM audit.historial_cambios WHERE notas ? 'traslado'"),
        ("array bounds kept", "SELECT count(*) FROM audit.historial_cambios WHERE notas ? 'valores_exactos'"),
        ("unreadable claims said", "SELECT count(*) FROM audit.historial_cambios WHERE notas ? 'avisos_identidad'"),
        ("a claimed tenant that is not the row's", "SELECT count(*) FROM audit.historial_cambios WHERE notas ? 'empresa_declarada'"),
        ("the context as it changed", "SELECT count(*) FROM audit.historial_cambios WHERE metadata->>'motivo' = 'ajuste'"),
        ("an external user id", "SELECT count(*) FROM audit.historial_cambios WHERE usuario_externo = 'auth0|beto'"),
    ] {
        assert!(count(&mut c, sql) > 0, "{what}");
    }
    // Each application event is in the transaction of its row events.
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM audit.historial_cambios e
              WHERE e.accion = 'EVENTO' AND NOT EXISTS (
                    SELECT FROM audit.historial_cambios r WHERE r.transaccion = e.transaccion AND r.accion <> 'EVENTO')"
        ),
        0
    );
    let v = json(&mut c, "audit.verificar()");
    assert_eq!(v["valido"], true, "{v}");
}
