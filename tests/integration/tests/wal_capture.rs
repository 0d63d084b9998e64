//! Capture from the WAL (`"captura": "wal"`): the output plugin and the
//! capture worker must write exactly the events the row triggers write, and
//! exactly once, whatever happens to the worker or the server.
//!
//! Equality: one workload runs in two databases with the same tables, one
//! captured by row triggers and one from the WAL; every field of every event
//! is compared, except what differs by nature (the id, the transaction, its
//! time and the hash that covers them).

use audit_integration_tests::{
    count, json, restored_copy, sqlstate_of, texts, Cluster, TestDb, TestRole,
};
use postgres::Client;
use std::time::{Duration, Instant};

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

/// A database with table `t` captured from the WAL.
fn wal_table(test: &str) -> TestDb {
    let db = TestDb::new(test);
    let mut c = db.connect();
    c.batch_execute("CREATE TABLE t (id int PRIMARY KEY, v text, empresa_id uuid)")
        .unwrap();
    c.batch_execute("SELECT audit.auditar('t', '{\"captura\": \"wal\"}')")
        .unwrap();
    db
}

fn row_events(c: &mut Client) -> i64 {
    count(
        c,
        "SELECT count(*) FROM audit.historial_cambios WHERE accion IN ('INSERT', 'UPDATE', 'DELETE', 'TRUNCATE')",
    )
}

/// The capture worker's state (`estado_captura()`'s `worker`) once `ready`
/// says so; fails after 30 s with `waiting_for` and the last state.
fn worker_once(
    c: &mut Client,
    waiting_for: &str,
    ready: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let estado = json(c, "audit.estado_captura()");
        if ready(&estado["worker"]) {
            return estado["worker"].clone();
        }
        assert!(Instant::now() < deadline, "{waiting_for}: {estado}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The capture worker's process id (waits for it to run).
fn worker_pid(c: &mut Client) -> i32 {
    let worker = worker_once(c, "no capture worker", |w| w["pid"].is_i64());
    worker["pid"].as_i64().expect("checked above") as i32
}

#[test]
fn switching_modes_in_either_direction_loses_nothing() {
    let db = TestDb::new("wal_cambio_modo");
    let mut c = db.connect();
    c.batch_execute(
        "CREATE TABLE t (id int PRIMARY KEY, v text);
         SELECT audit.auditar('t');
         INSERT INTO t VALUES (1, 'fila');",
    )
    .unwrap();
    let identity = "SELECT relreplident::text FROM pg_class WHERE oid = 't'::regclass";
    assert_eq!(texts(&mut c, identity), ["d"]);
    // The worker cannot store its position until the end: it decodes every
    // switch below in one batch, after the last one committed. Each change
    // must still be judged by the mode in force when it was made.
    c.batch_execute(
        "SELECT audit.auditar('t', '{\"captura\": \"wal\"}'); SELECT audit.auditar('t')",
    )
    .unwrap();
    let mut locker = db.connect();
    let mut lock = locker.transaction().unwrap();
    lock.batch_execute("LOCK TABLE audit.captura_wal IN ACCESS EXCLUSIVE MODE")
        .unwrap();
    for (mode, id) in [("wal", 2), ("sentencia", 3), ("wal", 4), ("fila", 5)] {
        c.batch_execute(&format!(
            "SELECT audit.auditar('t', '{{\"captura\": \"{mode}\"}}'); INSERT INTO t VALUES ({id}, '{mode}'); UPDATE t SET v = v || '!';"
        ))
        .unwrap();
        assert_eq!(
            texts(&mut c, identity),
            [if mode == "wal" { "f" } else { "d" }],
            "the replica identity follows the mode, and comes back as it was"
        );
    }
    lock.rollback().unwrap();
    wait_for_capture(&mut c);
    // Every change once: 5 inserts, and 2 + 3 + 4 + 5 updates.
    let estado = json(&mut c, "audit.estado_captura()");
    assert_eq!(row_events(&mut c), 5 + 14, "{estado}");
    assert_eq!(
        count(
            &mut c,
            "SELECT count(DISTINCT (registro_id, datos_nuevos)) FROM audit.historial_cambios WHERE accion = 'UPDATE'"
        ),
        14
    );
    let captura =
        "SELECT captura_activa::text FROM audit.tablas_auditadas WHERE tabla = 't'::regclass";
    assert_eq!(texts(&mut c, captura), ["true"]);
    assert_eq!(json(&mut c, "audit.verificar()")["valido"], true);
    // Stopping the audit gives back the identity it found.
    c.batch_execute(
        "ALTER TABLE t REPLICA IDENTITY NOTHING;
         SELECT audit.auditar('t', '{\"captura\": \"wal\"}');
         SELECT audit.dejar_de_auditar('t');",
    )
    .unwrap();
    assert_eq!(texts(&mut c, identity), ["n"]);
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM pg_trigger WHERE tgrelid = 't'::regclass"
        ),
        0
    );
}

#[test]
fn what_cannot_be_captured_from_the_wal_is_refused() {
    let db = TestDb::new("wal_rechazos");
    let mut c = db.connect();
    c.batch_execute(
        "CREATE UNLOGGED TABLE sin_wal (id int PRIMARY KEY);
         CREATE TEMP TABLE temporal (id int PRIMARY KEY);
         CREATE TABLE particionada (id int, k int, PRIMARY KEY (id, k)) PARTITION BY LIST (k);
         CREATE TABLE padre (id int PRIMARY KEY);
         CREATE TABLE hija () INHERITS (padre);
         CREATE TABLE normal (id int PRIMARY KEY);",
    )
    .unwrap();
    for (table, state) in [
        ("sin_wal", "0A000"),
        ("pg_temp.temporal", "0A000"),
        ("particionada", "0A000"),
        ("padre", "0A000"),
    ] {
        assert_eq!(
            sqlstate_of(c.batch_execute(&format!(
                "SELECT audit.auditar('{table}', '{{\"captura\": \"wal\"}}')"
            ))),
            state,
            "{table}"
        );
    }
    // The slot must exist before the first captured change commits, and
    // PostgreSQL creates one only in a transaction that has not written.
    assert_eq!(
        sqlstate_of(c.batch_execute(
            "BEGIN; INSERT INTO normal VALUES (1);
             SELECT audit.auditar('normal', '{\"captura\": \"wal\"}');"
        )),
        "55000"
    );
    c.batch_execute("ROLLBACK").unwrap();
    assert_eq!(
        count(&mut c, "SELECT count(*) FROM audit.tablas_auditadas"),
        0,
        "nothing was left half done"
    );
    // In a transaction of its own it works; later ones need no new slot.
    c.batch_execute("SELECT audit.auditar('normal', '{\"captura\": \"wal\"}')")
        .unwrap();
    c.batch_execute(
        "BEGIN; CREATE TABLE otra (id int PRIMARY KEY);
         SELECT audit.auditar('otra', '{\"captura\": \"wal\"}'); COMMIT;",
    )
    .unwrap();
    // A captured table cannot join a tree later.
    assert_eq!(
        sqlstate_of(c.batch_execute("CREATE TABLE nieta () INHERITS (normal)")),
        "0A000"
    );
    // Nor become unlogged, which would keep its changes out of the WAL
    // (the owner included: the command fails and the table stays logged);
    // switched to another mode first, it may.
    let unlogged = c
        .batch_execute("ALTER TABLE normal SET UNLOGGED")
        .expect_err("a table captured from the WAL was made unlogged");
    let db_error = unlogged.as_db_error().expect("a server error");
    assert_eq!(db_error.code().code(), "0A000");
    assert!(
        db_error
            .hint()
            .is_some_and(|h| h.contains("\"captura\": \"fila\"")),
        "{db_error:?}"
    );
    assert_eq!(
        texts(
            &mut c,
            "SELECT relpersistence::text FROM pg_class WHERE oid = 'normal'::regclass"
        ),
        ["p"]
    );
    c.batch_execute(
        "SELECT audit.auditar('otra', '{\"captura\": \"fila\"}');
         ALTER TABLE otra SET UNLOGGED;",
    )
    .unwrap();
    // Bad arguments.
    for (sql, state) in [
        ("SELECT audit.esperar_captura(NULL)", "22004"),
        ("SELECT audit.esperar_captura('-1 second')", "22023"),
    ] {
        assert_eq!(sqlstate_of(c.batch_execute(sql)), state, "{sql}");
    }
}

/// Creates the extension and a table `t`, and asks to capture it from the
/// WAL: the refusal (55000) that must come, nothing changed.
fn wal_capture_refused(c: &mut Client) -> postgres::error::DbError {
    c.batch_execute("CREATE EXTENSION audit; CREATE TABLE t (id int PRIMARY KEY)")
        .unwrap();
    let refused = c
        .batch_execute("SELECT audit.auditar('t', '{\"captura\": \"wal\"}')")
        .unwrap_err();
    let db = refused.as_db_error().expect("a server error").clone();
    assert_eq!(db.code().code(), "55000", "{db:?}");
    assert_eq!(count(c, "SELECT count(*) FROM audit.tablas_config"), 0);
    db
}

#[test]
fn the_server_prerequisites_are_named() {
    // No preload: the workers and their shared memory do not exist.
    let plain = Cluster::start(&["wal_level=logical"]);
    let mut c = plain.connect("postgres");
    let db = wal_capture_refused(&mut c);
    assert!(db.message().contains("shared_preload_libraries"), "{db:?}");
    assert!(db.hint().unwrap_or_default().contains("restart"), "{db:?}");
    drop(c);
    drop(plain);
    // wal_level = replica.
    let replica = Cluster::start(&["shared_preload_libraries=audit"]);
    let mut c = replica.connect("postgres");
    let db = wal_capture_refused(&mut c);
    assert!(db.message().contains("wal_level = logical"), "{db:?}");
    // Nothing changed.
    assert_eq!(
        count(&mut c, "SELECT count(*) FROM pg_replication_slots"),
        0
    );
    drop(c);
    drop(replica);
    // Room for the launcher and one database's worker only.
    let small = Cluster::start(&[
        "wal_level=logical",
        "shared_preload_libraries=audit",
        "max_worker_processes=2",
        "max_logical_replication_workers=0",
    ]);
    let mut c = small.connect("postgres");
    for sql in [
        "CREATE EXTENSION audit; CREATE TABLE t (id int PRIMARY KEY)",
        "SELECT audit.auditar('t', '{\"captura\": \"wal\"}')",
        "CREATE DATABASE otra",
    ] {
        c.batch_execute(sql).unwrap();
    }
    let mut otra = small.connect("otra");
    let started = Instant::now();
    let db = wal_capture_refused(&mut otra);
    assert!(db.message().contains("max_worker_processes = 2"), "{db:?}");
    assert!(db.hint().unwrap_or_default().contains("restart"), "{db:?}");
    // At once, not after waiting for a slot that nothing would create.
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(
        count(
            &mut otra,
            "SELECT count(*) FROM pg_replication_slots s JOIN pg_database d ON d.oid = s.datoid
              WHERE d.datname = current_database()"
        ),
        0
    );
    // The first database's capture is unaffected.
    c.batch_execute("INSERT INTO t VALUES (1)").unwrap();
    wait_for_capture(&mut c);
    assert_eq!(row_events(&mut c), 1);
}

#[test]
fn a_context_message_the_extension_did_not_write_is_ignored() {
    // Any role may write a logical message with the extension's prefix
    // (pg_logical_emit_message is PUBLIC's): one naming another role and
    // another time must not be believed, and bytes that are no message at
    // all must not stop the capture.
    let mut cluster = Cluster::start(&["wal_level=logical", "shared_preload_libraries=audit"]);
    let mut c = cluster.connect("postgres");
    c.batch_execute(
        "CREATE EXTENSION audit; CREATE TABLE t (id int PRIMARY KEY, v text);
         CREATE ROLE escritor; GRANT INSERT ON t TO escritor;",
    )
    .unwrap();
    c.batch_execute("SELECT audit.auditar('t', '{\"captura\": \"wal\"}')")
        .unwrap();
    let pid = worker_pid(&mut c);
    // The key that signs the extension's messages: the server's alone.
    let key_file = format!("{}/data/audit_captura_wal.clave", cluster.dir);
    let key = std::fs::metadata(&key_file).expect("the key file");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(key.permissions().mode() & 0o777, 0o600);
    assert_eq!(key.len(), 48);
    c.batch_execute(
        r#"SET ROLE escritor;
           BEGIN;
           INSERT INTO t VALUES (1, 'a');
           SELECT pg_logical_emit_message(true, 'audit', pg_catalog.format(
               '{"t": %s, "i": 0, "r": "postgres", "s": "postgres", "n": "El Jefe", "a": "psql"}',
               pg_current_xact_id()));
           INSERT INTO t VALUES (2, 'b');
           SELECT pg_logical_emit_message(true, 'audit', 'no JSON');
           SELECT pg_logical_emit_message(true, 'audit', '{no JSON either');
           INSERT INTO t VALUES (3, 'c');
           COMMIT;
           RESET ROLE;"#,
    )
    .unwrap();
    wait_for_capture(&mut c);
    let events = texts(
        &mut c,
        "SELECT concat_ws(' ', registro_pk ->> 'id', rol_bd, coalesce(usuario_nombre, '-'),
                          \"timestamp\" > '2020-01-01', \"timestamp\" = min(\"timestamp\") OVER ())
           FROM audit.historial_cambios WHERE accion = 'INSERT' ORDER BY id",
    );
    assert_eq!(
        events,
        ["1 escritor - t t", "2 escritor - t t", "3 escritor - t t"]
    );
    let log = cluster.log_tail(200);
    assert_eq!(
        log.matches(
            "wrote a logical message with prefix \"audit\" that the extension did not write"
        )
        .count(),
        3,
        "{log}"
    );
    // The same worker, never stopped by them.
    assert_eq!(worker_pid(&mut c), pid);
    // A damaged key is an error that names the file (XX001), not a new key
    // made in silence: the change is not made.
    drop(c);
    cluster.stop("fast");
    std::fs::write(&key_file, b"not a key").unwrap();
    cluster.start_again();
    let mut c = cluster.connect("postgres");
    let refused = c
        .batch_execute("INSERT INTO t VALUES (4, 'd')")
        .expect_err("a write signed with a damaged key");
    let db = refused.as_db_error().expect("a server error");
    assert_eq!(db.code().code(), "XX001", "{db:?}");
    assert!(
        db.message().contains("audit_captura_wal.clave") && db.message().contains("is damaged"),
        "{db:?}"
    );
    assert!(
        db.hint().unwrap_or_default().contains("Move the file away"),
        "{db:?}"
    );
    assert_eq!(count(&mut c, "SELECT count(*) FROM t"), 3);
    // A key file that cannot be read (here a directory in its place) is an
    // I/O error naming it (58030), not a new key either.
    drop(c);
    cluster.stop("fast");
    std::fs::remove_file(&key_file).unwrap();
    std::fs::create_dir(&key_file).unwrap();
    cluster.start_again();
    let mut c = cluster.connect("postgres");
    let refused = c
        .batch_execute("INSERT INTO t VALUES (4, 'd')")
        .expect_err("a write signed with a key that cannot be read");
    let db = refused.as_db_error().expect("a server error");
    assert_eq!(db.code().code(), "58030", "{db:?}");
    assert!(
        db.message().contains("audit_captura_wal.clave") && db.message().contains("cannot be read"),
        "{db:?}"
    );
    assert!(
        db.hint()
            .unwrap_or_default()
            .contains("operating-system user"),
        "{db:?}"
    );
    assert_eq!(count(&mut c, "SELECT count(*) FROM t"), 3);
}

#[test]
fn a_snapshot_that_fails_while_decoding_is_logged_and_the_capture_goes_on() {
    // to_jsonb renders a value of a type made in the database through the
    // type's cast to json, which its owner may write in SQL: it runs while
    // the WAL is decoded, and may fail there; and a committed value may be
    // larger than a jsonb snapshot can hold. Such a change is written to
    // the technical log instead of stopping the capture for good; the
    // cast's other results are recorded as the row triggers record them.
    let db = wal_table("wal_conversion");
    let mut c = db.connect();
    c.batch_execute(
        "CREATE TYPE humor AS ENUM ('feliz', 'triste');
         CREATE FUNCTION humor_json(humor) RETURNS json LANGUAGE sql AS
           $$SELECT CASE WHEN $1 = 'triste' THEN to_json(1 / (ascii($1::text) - ascii('t')))
                       ELSE to_json('<' || $1 || '>') END$$;
         CREATE TABLE h (id int PRIMARY KEY, v humor);
         SELECT audit.auditar('h', '{\"captura\": \"wal\"}');
         CREATE TABLE grande (id int PRIMARY KEY, v text);
         SELECT audit.auditar('grande', '{\"captura\": \"wal\"}');",
    )
    .unwrap();
    let pid = worker_pid(&mut c);
    // Everything below in one pass of the worker: the cast appears between
    // two changes of the table it decodes.
    let mut locker = db.connect();
    let mut lock = locker.transaction().unwrap();
    lock.batch_execute("LOCK TABLE audit.historial_cambios IN ACCESS EXCLUSIVE MODE")
        .unwrap();
    for sql in [
        "INSERT INTO h VALUES (1, 'feliz')",
        "CREATE CAST (humor AS json) WITH FUNCTION humor_json(humor)",
        "INSERT INTO h VALUES (2, 'feliz')",
        "INSERT INTO h VALUES (3, 'triste')",
        // One byte more than a jsonb string holds (a row trigger would
        // have failed the INSERT), and a toasted value that fits.
        "INSERT INTO grande VALUES (1, repeat('x', 256 * 1024 * 1024))",
        "INSERT INTO grande VALUES (2, repeat('y', 300000))",
        "INSERT INTO t VALUES (1, 'after')",
    ] {
        c.batch_execute(sql).unwrap();
    }
    lock.rollback().unwrap();
    wait_for_capture(&mut c);
    assert_eq!(
        texts(
            &mut c,
            "SELECT tabla_afectada || ' ' || left(datos_nuevos::text, 40)
                    || ' ' || length(datos_nuevos ->> 'v')
               FROM audit.historial_cambios WHERE accion = 'INSERT' ORDER BY id"
        ),
        [
            r#"h {"v": "feliz", "id": 1} 5"#,
            r#"h {"v": "<feliz>", "id": 2} 7"#,
            r#"grande {"v": "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy 300000"#,
            r#"t {"v": "after", "id": 1, "empresa_id": nu 5"#
        ]
    );
    let logged = texts(
        &mut c,
        "SELECT concat_ws(' ', nivel, categoria, mensaje, detalle ->> 'tabla', detalle ->> 'motivo')
           FROM audit.log_tecnico WHERE nivel = 'ERROR' ORDER BY id",
    );
    assert_eq!(
        logged,
        [
            "ERROR captura a change of table public.h was not recorded: its snapshot failed: division by zero h its snapshot failed: division by zero",
            "ERROR captura a change of table public.grande was not recorded: its snapshot failed: string too long to represent as jsonb string grande its snapshot failed: string too long to represent as jsonb string"
        ]
    );
    assert_eq!(worker_pid(&mut c), pid, "the worker never stopped");
}

#[test]
fn a_database_without_its_slot_refuses_or_makes_it_before_the_first_change() {
    // A restore (as a failover, or a copy of the database) brings the
    // tables, their options and context triggers, but not the slot: a
    // change that nothing would ever record must not be let through.
    let source = wal_table("wal_sin_slot_origen");
    source
        .connect()
        .batch_execute("CREATE TABLE libre (id int PRIMARY KEY)")
        .unwrap();
    let target = restored_copy(&source, "wal_sin_slot_destino");
    let mut c = target.connect();
    assert_eq!(
        texts(
            &mut c,
            "SELECT captura_activa::text FROM audit.tablas_auditadas"
        ),
        ["false"]
    );
    // A transaction that has written cannot create the slot: refused.
    c.batch_execute("BEGIN; INSERT INTO libre VALUES (1)")
        .unwrap();
    let refused = c
        .batch_execute("INSERT INTO t VALUES (1, 'a')")
        .expect_err("a change of a WAL-captured table without a slot");
    let db = refused.as_db_error().expect("a server error");
    assert_eq!(db.code().code(), "55000", "{db:?}");
    assert!(
        db.hint()
            .unwrap_or_default()
            .contains("Run the transaction again"),
        "{db:?}"
    );
    c.batch_execute("ROLLBACK").unwrap();
    // The refusal set the worker making the slot: the same transaction,
    // run again once it is there, goes through and is recorded.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let again = c.batch_execute(
            "BEGIN; INSERT INTO libre VALUES (1); INSERT INTO t VALUES (1, 'a'); COMMIT;",
        );
        match again {
            Ok(()) => break,
            Err(e) => {
                assert_eq!(e.code().map(|s| s.code()), Some("55000"), "{e:?}");
                c.batch_execute("ROLLBACK").unwrap();
                assert!(Instant::now() < deadline, "the slot was never made");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
    // And one that writes nothing else first never needed to wait.
    c.batch_execute("INSERT INTO t VALUES (2, 'b')").unwrap();
    wait_for_capture(&mut c);
    assert_eq!(row_events(&mut c), 2);
    assert_eq!(
        texts(
            &mut c,
            "SELECT captura_activa::text FROM audit.tablas_auditadas"
        ),
        ["true"]
    );
}

#[test]
fn the_owner_cannot_take_what_capture_from_the_wal_needs() {
    let db = TestDb::new("wal_guardas");
    let owner = TestRole::new(&db, "owner");
    let mut c = db.connect();
    c.batch_execute(&format!(
        "GRANT CREATE ON SCHEMA public TO {o};
         SET ROLE {o}; CREATE TABLE t (id int PRIMARY KEY, v text); RESET ROLE;",
        o = owner.name
    ))
    .unwrap();
    c.batch_execute("SELECT audit.auditar('t', '{\"captura\": \"wal\"}')")
        .unwrap();
    let mut o = db.connect_as(&owner.name);
    for statement in [
        "ALTER TABLE t REPLICA IDENTITY DEFAULT",
        "ALTER TABLE t REPLICA IDENTITY NOTHING",
        "ALTER TABLE t DISABLE TRIGGER audit_contexto_wal",
        "ALTER TABLE t DISABLE TRIGGER ALL",
        "ALTER TABLE t ENABLE TRIGGER audit_contexto_wal",
        "ALTER TABLE t ENABLE REPLICA TRIGGER audit_contexto_wal",
        "DROP TRIGGER audit_contexto_wal ON t",
        "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots",
        "SELECT audit.dejar_de_auditar('t')",
        "SELECT audit.estado_captura()",
    ] {
        assert_eq!(
            sqlstate_of(o.batch_execute(statement)),
            "42501",
            "{statement}"
        );
    }
    assert_eq!(
        texts(
            &mut c,
            "SELECT captura_activa::text FROM audit.tablas_auditadas WHERE tabla = 't'::regclass"
        ),
        ["true"]
    );
    // Still captured, and the owner's writes too; waiting is for everyone.
    o.batch_execute("INSERT INTO t VALUES (1, 'x')").unwrap();
    o.batch_execute("SELECT audit.esperar_captura()").unwrap();
    assert_eq!(row_events(&mut c), 1);
    // A role that may stop auditing can: recorded, and the view says what
    // is missing.
    c.batch_execute("ALTER TABLE t REPLICA IDENTITY DEFAULT")
        .unwrap();
    assert_eq!(
        texts(
            &mut c,
            "SELECT array_to_string(falta, ';') FROM audit.tablas_auditadas WHERE tabla = 't'::regclass"
        ),
        ["REPLICA IDENTITY FULL of public.t"]
    );
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM audit.historial_cambios WHERE accion = 'DDL' AND metadata->'cambios' ? 'REPLICA IDENTITY'"
        ),
        1
    );
    // A change then comes without its old row: no event is made up, and the
    // technical log names it.
    c.batch_execute("UPDATE t SET v = 'y' WHERE id = 1")
        .unwrap();
    wait_for_capture(&mut c);
    assert_eq!(row_events(&mut c), 1);
    assert_eq!(
        texts(
            &mut c,
            "SELECT concat_ws(' ', nivel, detalle ->> 'tabla', detalle ->> 'motivo') FROM audit.log_tecnico"
        ),
        ["ERROR t it came without the row it changed (REPLICA IDENTITY is not FULL)"]
    );
}

#[test]
fn the_database_owners_settings_do_not_stop_the_worker() {
    // What the owner of a database sets for it (ALTER DATABASE ... SET) is
    // set for the worker too: its sessions start with the database's and
    // the bootstrap role's settings. A database kept read-only for a while
    // (writers then ask for READ WRITE), every transaction serializable, or
    // every session under another role (`role`, `session_authorization`,
    // which apply to superusers too) must not stop the capture: the
    // database's owner is not a role that may stop it.
    let db = wal_table("wal_defaults_bd");
    let owner = TestRole::new(&db, "duena");
    let mut c = db.connect();
    c.batch_execute(&format!(
        "ALTER DATABASE {} OWNER TO {}",
        db.name, owner.name
    ))
    .unwrap();
    db.connect_as(&owner.name)
        .batch_execute(&format!(
            "ALTER DATABASE {0} SET default_transaction_read_only = on;
             ALTER DATABASE {0} SET default_transaction_isolation = serializable;
             ALTER DATABASE {0} SET role = {1};
             ALTER DATABASE {0} SET session_authorization = {1};",
            db.name, owner.name
        ))
        .unwrap();
    let pid = worker_pid(&mut c);
    c.batch_execute(&format!("SELECT pg_terminate_backend({pid})"))
        .unwrap();
    worker_once(&mut c, "a new worker", |w| {
        w["pid"].as_i64().is_some_and(|p| p != i64::from(pid))
    });
    let mut writer = db.connect();
    writer
        .batch_execute(
            "SET SESSION AUTHORIZATION postgres; SET ROLE NONE;
             BEGIN READ WRITE; INSERT INTO t SELECT g, 'v' FROM generate_series(1, 100) g; COMMIT;",
        )
        .unwrap();
    wait_for_capture(&mut c);
    assert_eq!(row_events(&mut c), 100);
    assert_eq!(count(&mut c, "SELECT count(*) FROM audit.log_tecnico"), 0);
    // (A role that owns a database cannot be dropped.)
    c.batch_execute(&format!("ALTER DATABASE {} OWNER TO postgres", db.name))
        .unwrap();
}

#[test]
fn killing_the_worker_mid_batch_loses_and_duplicates_nothing() {
    let db = wal_table("wal_matar_worker");
    let mut c = db.connect();
    let pid = worker_pid(&mut c);
    c.batch_execute("INSERT INTO t SELECT g, 'v' FROM generate_series(1, 60000) g")
        .unwrap();
    // It is applying a 60,000-event transaction: stop it in the middle.
    std::thread::sleep(Duration::from_millis(300));
    c.batch_execute(&format!("SELECT pg_terminate_backend({pid})"))
        .unwrap();
    c.batch_execute("UPDATE t SET v = 'w' WHERE id <= 1000")
        .unwrap();
    wait_for_capture(&mut c);
    assert_ne!(worker_pid(&mut c), pid, "a new worker took over");
    assert_eq!(row_events(&mut c), 61_000);
    assert_eq!(
        count(
            &mut c,
            "SELECT count(DISTINCT (registro_id, accion)) FROM audit.historial_cambios WHERE accion IN ('INSERT', 'UPDATE')"
        ),
        61_000
    );
    c.batch_execute("SELECT audit.sellar()").unwrap();
    let v = json(&mut c, "audit.verificar()");
    assert_eq!(v["valido"], true, "{v}");
}

#[test]
fn an_immediate_stop_of_the_server_loses_and_duplicates_nothing() {
    let mut cluster = Cluster::start(&[
        "wal_level=logical",
        "shared_preload_libraries=audit",
        "logical_decoding_work_mem=64kB",
    ]);
    let mut c = cluster.connect("postgres");
    c.batch_execute("CREATE EXTENSION audit; CREATE TABLE t (id int PRIMARY KEY, v text);")
        .unwrap();
    c.batch_execute("SELECT audit.auditar('t', '{\"captura\": \"wal\"}')")
        .unwrap();
    for i in 0..5 {
        c.batch_execute(&format!(
            "INSERT INTO t SELECT g, 'v' FROM generate_series({}, {}) g",
            i * 20_000 + 1,
            (i + 1) * 20_000
        ))
        .unwrap();
    }
    drop(c);
    cluster.stop("immediate");
    cluster.start_again();
    let mut c = cluster.connect("postgres");
    wait_for_capture(&mut c);
    assert_eq!(row_events(&mut c), 100_000);
    assert_eq!(
        count(&mut c, "SELECT count(DISTINCT registro_id) FROM audit.historial_cambios WHERE accion = 'INSERT'"),
        100_000
    );
    c.batch_execute("SELECT audit.sellar()").unwrap();
    let v = json(&mut c, "audit.verificar()");
    assert_eq!(v["valido"], true, "{v}");
}

#[test]
fn ids_follow_commit_order_and_only_committed_work_is_recorded() {
    let db = wal_table("wal_orden");
    let mut first = db.connect();
    let mut second = db.connect();
    let mut admin = db.connect();
    // The first to write commits last.
    first
        .batch_execute("BEGIN; INSERT INTO t VALUES (1, 'primero')")
        .unwrap();
    second
        .batch_execute("BEGIN; INSERT INTO t VALUES (2, 'segundo'); COMMIT;")
        .unwrap();
    first
        .batch_execute("INSERT INTO t VALUES (3, 'primero'); COMMIT;")
        .unwrap();
    // Prepared transactions: one committed, one rolled back.
    for statement in [
        "BEGIN; INSERT INTO t VALUES (4, 'preparada'); PREPARE TRANSACTION 'wal_si';",
        "BEGIN; INSERT INTO t VALUES (5, 'descartada'); PREPARE TRANSACTION 'wal_no';",
        "COMMIT PREPARED 'wal_si'",
        "ROLLBACK PREPARED 'wal_no'",
    ] {
        admin.batch_execute(statement).unwrap();
    }
    // A rolled-back transaction and savepoint, and a change made in
    // replica mode, which row triggers would not see.
    admin
        .batch_execute(
            "BEGIN; INSERT INTO t VALUES (6, 'no'); ROLLBACK;
             BEGIN; SAVEPOINT s; INSERT INTO t VALUES (7, 'no'); ROLLBACK TO s; INSERT INTO t VALUES (8, 'si'); COMMIT;
             SET session_replication_role = replica; INSERT INTO t VALUES (9, 'replica'); RESET session_replication_role;",
        )
        .unwrap();
    // A change applied by logical replication (it carries a replication
    // origin, as a subscriber's apply worker's do) was recorded where it
    // was made: not again here.
    admin
        .batch_execute(
            "SELECT pg_replication_origin_create('audit_it_suscripcion');
             SELECT pg_replication_origin_session_setup('audit_it_suscripcion');
             INSERT INTO t VALUES (10, 'replicada');
             SELECT pg_replication_origin_session_reset();
             SELECT pg_replication_origin_drop('audit_it_suscripcion');",
        )
        .unwrap();
    wait_for_capture(&mut admin);
    assert_eq!(
        texts(
            &mut admin,
            "SELECT registro_pk->>'id' FROM audit.historial_cambios WHERE accion = 'INSERT' ORDER BY id"
        ),
        ["2", "1", "3", "4", "8", "9"]
    );
    // The replica-mode change has its writer's context like any other.
    assert_eq!(
        texts(
            &mut admin,
            "SELECT rol_bd FROM audit.historial_cambios WHERE registro_pk = '{\"id\": 9}'"
        ),
        ["postgres"]
    );
}

#[test]
fn waiting_times_out_and_sealing_waits_for_the_worker() {
    let db = wal_table("wal_espera");
    let mut c = db.connect();
    worker_pid(&mut c);
    // Someone holds the log: the worker cannot write.
    let mut locker = db.connect();
    let mut lock = locker.transaction().unwrap();
    lock.batch_execute("LOCK TABLE audit.historial_cambios IN ACCESS EXCLUSIVE MODE")
        .unwrap();
    c.batch_execute("INSERT INTO t VALUES (1, 'a')").unwrap();
    assert_eq!(
        sqlstate_of(c.batch_execute("SELECT audit.esperar_captura('300 milliseconds')")),
        "57014"
    );
    lock.rollback().unwrap();
    wait_for_capture(&mut c);
    let sealed = json(&mut c, "audit.sellar()");
    assert!(
        sealed["eventos_sellados"].as_i64().unwrap() >= 1,
        "{sealed}"
    );
    assert_eq!(json(&mut c, "audit.verificar()")["valido"], true);
}

#[test]
fn a_lagging_capture_warns_and_says_so_in_the_technical_log() {
    let cluster = Cluster::start(&[
        "wal_level=logical",
        "shared_preload_libraries=audit",
        "audit.captura_aviso_lag=1",
    ]);
    let mut c = cluster.connect("postgres");
    c.batch_execute("CREATE EXTENSION audit; CREATE TABLE t (id int PRIMARY KEY, v text);")
        .unwrap();
    c.batch_execute("SELECT audit.auditar('t', '{\"captura\": \"wal\"}')")
        .unwrap();
    worker_pid(&mut c);
    let mut locker = cluster.connect("postgres");
    let mut lock = locker.transaction().unwrap();
    lock.batch_execute("LOCK TABLE audit.historial_cambios IN ACCESS EXCLUSIVE MODE")
        .unwrap();
    c.batch_execute("INSERT INTO t VALUES (1, 'a')").unwrap();
    // The worker's batch gives up on the lock (its lock_timeout) and the
    // next one finds the capture lagging.
    let deadline = Instant::now() + Duration::from_secs(30);
    while count(&mut c, "SELECT count(*) FROM audit.log_tecnico") == 0 {
        assert!(Instant::now() < deadline, "no lag warning");
        std::thread::sleep(Duration::from_millis(100));
    }
    let lag = json(&mut c, "audit.estado_captura()")["lag_segundos"]
        .as_f64()
        .unwrap_or(0.0);
    assert!(lag > 1.0, "{lag}");
    lock.rollback().unwrap();
    wait_for_capture(&mut c);
    let warned = texts(
        &mut c,
        "SELECT nivel || ' ' || categoria || ' ' || mensaje FROM audit.log_tecnico ORDER BY id",
    );
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(
        warned[0].starts_with("ADVERTENCIA captura capture from the WAL is "),
        "{warned:?}"
    );
    assert!(cluster
        .log_tail(200)
        .contains("audit: capture from the WAL is"));
    assert_eq!(row_events(&mut c), 1);
    let estado = json(&mut c, "audit.estado_captura()");
    assert_eq!(estado["lag_segundos"], 0.0, "{estado}");
    assert_eq!(estado["tablas"], 1, "{estado}");
    assert_eq!(estado["slot_existe"], true, "{estado}");
}

#[test]
fn dropping_the_extension_drops_its_slot() {
    let db = wal_table("wal_drop");
    let mut c = db.connect();
    let pid = worker_pid(&mut c);
    // Held by a worker that cannot run yet, the slot outlives the drop: an
    // installation made meanwhile would take it over, with its past (and
    // capture from the WAL then failed on it for good). It is refused,
    // nothing installed, until the worker has dropped the slot.
    let signal = |s: &str| {
        assert!(std::process::Command::new("kill")
            .args([format!("-{s}"), pid.to_string()])
            .status()
            .expect("kill runs")
            .success());
    };
    signal("STOP");
    c.batch_execute("DROP EXTENSION audit").unwrap();
    let refused = c
        .batch_execute("CREATE EXTENSION audit")
        .expect_err("a slot is still there");
    signal("CONT");
    let db_error = refused.as_db_error().expect("a server error");
    assert_eq!(db_error.code().code(), "55000", "{db_error:?}");
    assert!(
        db_error.message().contains("previous installation"),
        "{db_error:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while count(&mut c, "SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'audit_captura_%' AND database = current_database()") > 0 {
        assert!(Instant::now() < deadline, "the slot is still there");
        std::thread::sleep(Duration::from_millis(100));
    }
    // The table is back to what it was.
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM pg_trigger WHERE tgrelid = 't'::regclass"
        ),
        0
    );
    // Then the extension installs again, and captures from the WAL.
    c.batch_execute("CREATE EXTENSION audit").unwrap();
    c.batch_execute("SELECT audit.auditar('t', '{\"captura\": \"wal\"}')")
        .unwrap();
    c.batch_execute("INSERT INTO t VALUES (1, 'otra vez')")
        .unwrap();
    wait_for_capture(&mut c);
    assert_eq!(row_events(&mut c), 1);
}

/// The worker holds its database's slot, and PostgreSQL refuses to drop a
/// database whose slot is in use: the worker steps aside when DROP DATABASE
/// or ALTER DATABASE waits for it, and comes back after a rename.
#[test]
fn the_worker_steps_aside_for_drop_and_rename_database() {
    let mut admin = Client::connect(
        &audit_integration_tests::conninfo("postgres", None),
        postgres::NoTls,
    )
    .expect("connect to postgres");
    for name in ["audit_it_wal_apartarse", "audit_it_wal_renombrada"] {
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .unwrap();
    }
    let db = wal_table("wal_apartarse");
    let mut c = db.connect();
    let pid = worker_pid(&mut c);
    c.batch_execute("INSERT INTO t VALUES (1, 'antes')")
        .unwrap();
    wait_for_capture(&mut c);
    drop(c);
    let holder: i64 = admin
        .query_one(
            "SELECT count(*) FROM pg_replication_slots WHERE database = $1 AND active_pid = $2",
            &[&db.name, &pid],
        )
        .unwrap()
        .get(0);
    assert_eq!(holder, 1, "the worker holds the slot while it runs");

    // A rename waits for the worker, which lets go; capture resumes under
    // the new name, with nothing lost.
    admin
        .batch_execute("ALTER DATABASE audit_it_wal_apartarse RENAME TO audit_it_wal_renombrada")
        .unwrap();
    let renamed = TestDb {
        name: "audit_it_wal_renombrada".into(),
    };
    std::mem::forget(db);
    let mut c = renamed.connect();
    c.batch_execute("INSERT INTO t VALUES (2, 'después')")
        .unwrap();
    wait_for_capture(&mut c);
    assert_eq!(row_events(&mut c), 2);
    assert_ne!(worker_pid(&mut c), pid, "a new worker serves the database");
    drop(c);

    // DROP DATABASE, with no step of the user's own to release the slot.
    admin
        .batch_execute("DROP DATABASE audit_it_wal_renombrada WITH (FORCE)")
        .unwrap();
    let slots: i64 = admin
        .query_one(
            "SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'audit_captura_%' AND database = 'audit_it_wal_renombrada'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(slots, 0, "the slot went with its database");
    std::mem::forget(renamed);
}

/// Right after a segment switch (or on any page no record has begun yet),
/// PostgreSQL's insert position points past the page's header, where
/// nothing can be flushed: waiting for the capture must wait for what is
/// written, not fail ("xlog flush request ... is not satisfied"; found by
/// the console's tests, the demo's module rollback waiting for the capture).
#[test]
fn waiting_for_the_capture_right_after_a_segment_switch() {
    let db = wal_table("wal_switch");
    let mut c = db.connect();
    c.batch_execute("INSERT INTO t VALUES (1, 'a')").unwrap();
    c.batch_execute("SELECT pg_switch_wal()").unwrap();
    wait_for_capture(&mut c);
    assert_eq!(row_events(&mut c), 1);
    c.batch_execute("SELECT pg_switch_wal()").unwrap();
    c.batch_execute("INSERT INTO t VALUES (2, 'b')").unwrap();
    c.batch_execute("SELECT pg_switch_wal()").unwrap();
    wait_for_capture(&mut c);
    assert_eq!(row_events(&mut c), 2);
}

/// How the full-page images written while the rows of `t` change (after a
/// checkpoint, so every page touched gets one) are compressed: the methods
/// of the images of the log's relations (written by the worker), and of
/// `t`'s (written by the writer). `None` for an image not compressed.
fn full_page_images(
    cluster: &Cluster,
    c: &mut Client,
) -> (Vec<Option<String>>, Vec<Option<String>>) {
    let position = |c: &mut Client| -> String {
        c.query_one("SELECT pg_current_wal_insert_lsn()::text", &[])
            .unwrap()
            .get(0)
    };
    let log: Vec<String> = texts(
        c,
        "SELECT pg_relation_filenode(r.oid)::text
           FROM pg_class r
          WHERE r.oid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = 'audit.historial_cambios'::regclass)
             OR r.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid IN
                            (SELECT inhrelid FROM pg_inherits WHERE inhparent = 'audit.historial_cambios'::regclass))",
    );
    let table: Vec<String> = texts(c, "SELECT pg_relation_filenode('t')::text");
    c.batch_execute("CHECKPOINT").unwrap();
    let start = position(c);
    c.batch_execute("UPDATE t SET v = v || 'x'").unwrap();
    wait_for_capture(c);
    // (Flushed to the end, which pg_waldump must find on disk.)
    let end: String = c
        .query_one("SELECT pg_switch_wal()::text", &[])
        .unwrap()
        .get(0);
    let (mut of_log, mut of_table) = (Vec::new(), Vec::new());
    for line in cluster.waldump(&start, &end).lines() {
        let Some((reference, image)) = line.split_once("(FPW") else {
            continue;
        };
        let relation = reference
            .split("rel ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|r| r.rsplit('/').next())
            .unwrap_or_default()
            .to_owned();
        let method = image.split("method: ").nth(1).map(|m| m.trim().to_owned());
        if log.contains(&relation) {
            of_log.push(method);
        } else if table.contains(&relation) {
            of_table.push(method);
        }
    }
    (of_log, of_table)
}

/// The worker's own WAL (the log's pages) is compressed with lz4 while the
/// server's `wal_compression` is off, unless `audit.captura_comprimir_wal`
/// is off; a server that compresses keeps its method; the writers' WAL is
/// never touched.
#[test]
fn the_worker_compresses_the_full_page_images_of_its_own_wal() {
    let cluster = Cluster::start(&["wal_level=logical", "shared_preload_libraries=audit"]);
    let mut c = cluster.connect("postgres");
    c.batch_execute("CREATE EXTENSION audit; CREATE TABLE t (id int PRIMARY KEY, v text);")
        .unwrap();
    c.batch_execute("SELECT audit.auditar('t', '{\"captura\": \"wal\"}')")
        .unwrap();
    c.batch_execute("INSERT INTO t SELECT g, 'v' FROM generate_series(1, 3000) g")
        .unwrap();
    wait_for_capture(&mut c);
    for (setting, worker, log_method, table_method) in [
        ("SELECT 1", "lz4", Some("lz4"), None),
        (
            "ALTER SYSTEM SET audit.captura_comprimir_wal = off",
            "off",
            None,
            None,
        ),
        (
            "ALTER SYSTEM RESET audit.captura_comprimir_wal",
            "lz4",
            Some("lz4"),
            None,
        ),
        (
            "ALTER SYSTEM SET wal_compression = pglz",
            "pglz",
            Some("pglz"),
            Some("pglz"),
        ),
    ] {
        c.batch_execute(setting).unwrap();
        c.batch_execute("SELECT pg_reload_conf()").unwrap();
        worker_once(&mut c, setting, |w| w["compresion_wal"] == worker);
        let (of_log, of_table) = full_page_images(&cluster, &mut c);
        assert!(
            !of_log.is_empty() && !of_table.is_empty(),
            "{setting}: no images"
        );
        // (An image that would not shrink is stored as it is, whatever the
        // setting: what matters is which method the compressed ones used.)
        let methods = |images: &[Option<String>]| {
            let mut m: Vec<String> = images.iter().flatten().cloned().collect();
            m.sort();
            m.dedup();
            m
        };
        let expected = |m: Option<&str>| m.map(str::to_owned).into_iter().collect::<Vec<_>>();
        assert_eq!(
            methods(&of_log),
            expected(log_method),
            "{setting}: {of_log:?}"
        );
        assert_eq!(
            methods(&of_table),
            expected(table_method),
            "{setting}: {of_table:?}"
        );
    }
    assert_eq!(row_events(&mut c), 3000 + 4 * 3000);
}

#[test]
fn a_nested_statement_does_not_lend_its_writer_to_the_outer_one() {
    // A BEFORE ROW trigger running as its owner (SECURITY DEFINER) writes a
    // log table in the middle of the application's INSERT: its nested
    // statement writes the owner's context. The application's own rows,
    // before and after it, are still the application's, as row capture
    // records them.
    let db = TestDb::new("wal_anidada");
    let app = TestRole::new(&db, "app");
    let owner = TestRole::new(&db, "duena");
    let mut c = db.connect();
    c.batch_execute(&format!(
        "CREATE TABLE pedidos (id int PRIMARY KEY, nota text);
         CREATE TABLE bitacora (id serial PRIMARY KEY, nota text);
         CREATE FUNCTION anotar() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public
           AS $$ BEGIN INSERT INTO bitacora (nota) VALUES ('pedido ' || NEW.id); RETURN NEW; END $$;
         ALTER FUNCTION anotar() OWNER TO {o};
         GRANT INSERT ON bitacora TO {o}; GRANT USAGE ON SEQUENCE bitacora_id_seq TO {o};
         CREATE TRIGGER anotar BEFORE INSERT ON pedidos FOR EACH ROW EXECUTE FUNCTION anotar();
         GRANT INSERT ON pedidos TO {a};",
        o = owner.name,
        a = app.name
    ))
    .unwrap();
    let mut roles = Vec::new();
    for captura in ["fila", "wal"] {
        for table in ["pedidos", "bitacora"] {
            c.batch_execute(&format!(
                "SELECT audit.auditar('{table}', '{{\"captura\": \"{captura}\"}}')"
            ))
            .unwrap();
        }
        let from = last_id(&mut c);
        let base = if captura == "fila" { 0 } else { 10 };
        db.connect_as(&app.name)
            .batch_execute(&format!(
                "INSERT INTO pedidos VALUES ({}, 'x'), ({}, 'x'), ({}, 'x')",
                base + 1,
                base + 2,
                base + 3
            ))
            .unwrap();
        wait_for_capture(&mut c);
        roles.push(texts(
            &mut c,
            &format!(
                "SELECT tabla_afectada || ' ' || rol_bd FROM audit.historial_cambios
                  WHERE id > {from} AND accion = 'INSERT' ORDER BY tabla_afectada, registro_pk::text"
            ),
        ));
    }
    let expected: Vec<String> = ["bitacora"; 3]
        .iter()
        .map(|t| format!("{t} {}", owner.name))
        .chain(["pedidos"; 3].iter().map(|t| format!("{t} {}", app.name)))
        .collect();
    assert_eq!(roles[0], expected, "row capture");
    assert_eq!(roles[1], expected, "capture from the WAL");
}

#[test]
fn switching_away_from_the_wal_keeps_a_rows_history_in_order() {
    // The worker applies a committed change some time after its commit.
    // Switching the table to row capture must not let the next change's
    // event (written at once by its trigger) take an id before it.
    let db = wal_table("wal_cambio_orden");
    let mut c = db.connect();
    for round in 0..3 {
        c.batch_execute(&format!("INSERT INTO t VALUES ({round}, 'v0')"))
            .unwrap();
        c.batch_execute("SELECT audit.auditar('t', '{\"captura\": \"fila\"}')")
            .unwrap();
        c.batch_execute(&format!("UPDATE t SET v = 'v1' WHERE id = {round}"))
            .unwrap();
        c.batch_execute("SELECT audit.auditar('t', '{\"captura\": \"wal\"}')")
            .unwrap();
    }
    wait_for_capture(&mut c);
    assert_eq!(
        texts(
            &mut c,
            "SELECT string_agg(accion, ' ' ORDER BY id) FROM audit.historial_cambios
              WHERE accion IN ('INSERT', 'UPDATE') GROUP BY registro_id ORDER BY 1"
        ),
        ["INSERT UPDATE", "INSERT UPDATE", "INSERT UPDATE"]
    );
    // And the newest event of each row can be undone (it is the newest).
    let last = count(
        &mut c,
        "SELECT max(id) FROM audit.historial_cambios WHERE accion = 'UPDATE'",
    );
    let error = json(&mut c, &format!("audit.deshacer({last}, simular => true)"));
    assert_eq!(error["error"], serde_json::Value::Null, "{error}");
}
