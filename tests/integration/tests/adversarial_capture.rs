//! Adversarial suite, capture reliability and data fidelity (SECURITY.md
//! §5): no way of changing an audited table escapes the log, a change that
//! cannot be recorded does not happen, and what is recorded is exactly what
//! was there, whatever the writer's session settings.

use audit_integration_tests::{count, sqlstate_of, texts, TestDb};
use std::io::Write;

fn audited(test: &str, table: &str) -> TestDb {
    let db = TestDb::new(test);
    db.connect()
        .batch_execute(&format!("{table}; SELECT audit.auditar('t');"))
        .unwrap();
    db
}

#[test]
fn a_change_that_cannot_be_recorded_does_not_happen() {
    let db = audited(
        "adv_c_failclosed",
        "CREATE TABLE t (id int PRIMARY KEY, v text)",
    );
    db.connect()
        .batch_execute("INSERT INTO t VALUES (1, 'antes')")
        .unwrap();
    // Someone holds the log locked; the writer gives up waiting.
    let mut locker = db.connect();
    let mut lock = locker.transaction().unwrap();
    lock.batch_execute("LOCK TABLE audit.historial_cambios IN ACCESS EXCLUSIVE MODE")
        .unwrap();
    let mut writer = db.connect();
    let outcome =
        writer.batch_execute("SET lock_timeout = '200ms'; UPDATE t SET v = 'despues' WHERE id = 1");
    assert_eq!(sqlstate_of(outcome), "55P03");
    lock.rollback().unwrap();
    let v: String = writer.query_one("SELECT v FROM t", &[]).unwrap().get(0);
    assert_eq!(v, "antes", "the change went with its event");
}

#[test]
fn a_change_is_never_captured_twice() {
    // A capture trigger attached by hand to a table whose changes are
    // already captured (by a row trigger, or from the WAL) would record each
    // of them twice: refused, and nothing changes.
    let db = audited(
        "adv_c_dos_veces",
        "CREATE TABLE t (id int PRIMARY KEY, v text)",
    );
    let mut c = db.connect();
    c.batch_execute(
        "CREATE TABLE w (id int PRIMARY KEY, v text);
         CREATE TABLE s (id int PRIMARY KEY, v text);",
    )
    .unwrap();
    c.batch_execute("SELECT audit.auditar('w', '{\"captura\": \"wal\"}')")
        .unwrap();
    let triggers = "SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal";
    let before = count(&mut c, triggers);
    for table in ["t", "w"] {
        let refused = c
            .batch_execute(&format!(
                "CREATE TRIGGER otra AFTER UPDATE ON {table}
                     FOR EACH ROW EXECUTE FUNCTION audit.registrar_cambio()"
            ))
            .expect_err("a second capture of the same changes");
        let e = refused.as_db_error().expect("a server error");
        assert_eq!(e.code().code(), "42710", "{table}: {e:?}");
        assert!(
            e.message().contains("is already captured by trigger"),
            "{e:?}"
        );
    }
    assert_eq!(count(&mut c, triggers), before);
    // Triggers for different events do not overlap (as "sentencia" has
    // them): attached by hand one by one, each is accepted.
    c.batch_execute(
        "CREATE TRIGGER s_ins AFTER INSERT ON s REFERENCING NEW TABLE AS nuevas
             FOR EACH STATEMENT EXECUTE FUNCTION audit.registrar_cambio();
         CREATE TRIGGER s_upd AFTER UPDATE ON s REFERENCING OLD TABLE AS viejas NEW TABLE AS nuevas
             FOR EACH STATEMENT EXECUTE FUNCTION audit.registrar_cambio();",
    )
    .unwrap();
    c.batch_execute(
        "INSERT INTO t VALUES (1, 'a'); INSERT INTO s VALUES (1, 'a'); UPDATE s SET v = 'b';",
    )
    .unwrap();
    assert_eq!(
        texts(
            &mut c,
            "SELECT tabla_afectada || ' ' || accion FROM audit.historial_cambios
              WHERE accion <> 'DDL' ORDER BY id"
        ),
        ["t INSERT", "s INSERT", "s UPDATE"]
    );
}

#[test]
fn copy_upsert_cte_and_multi_row_statements_are_all_recorded() {
    let db = audited("adv_c_forms", "CREATE TABLE t (id int PRIMARY KEY, v text)");
    let mut c = db.connect();
    let mut copy = c.copy_in("COPY t FROM STDIN").unwrap();
    copy.write_all(b"1\tuno\n2\tdos\n3\ttres\n").unwrap();
    copy.finish().unwrap();
    c.batch_execute(
        "INSERT INTO t VALUES (3, 'TRES'), (4, 'cuatro') ON CONFLICT (id) DO UPDATE SET v = excluded.v;
         WITH borrados AS (DELETE FROM t WHERE id = 1 RETURNING id) UPDATE t SET v = 'x' WHERE id IN (SELECT id + 1 FROM borrados);
         MERGE INTO t USING (VALUES (4, 'CUATRO'), (5, 'cinco')) s(id, v) ON t.id = s.id
           WHEN MATCHED THEN UPDATE SET v = s.v WHEN NOT MATCHED THEN INSERT VALUES (s.id, s.v);",
    )
    .unwrap();
    let actions = texts(&mut c, "SELECT accion || ':' || (registro_pk ->> 'id') FROM audit.historial_cambios WHERE tabla_afectada = 't' AND accion <> 'DDL' ORDER BY id");
    assert_eq!(
        actions,
        [
            "INSERT:1", "INSERT:2", "INSERT:3", "UPDATE:3", "INSERT:4", "DELETE:1", "UPDATE:2",
            "UPDATE:4", "INSERT:5"
        ]
    );
    // Replaying the log's last state of each row gives the table.
    let replay_matches = count(
        &mut c,
        "SELECT count(*) FROM (
           SELECT DISTINCT ON (registro_id) accion, datos_nuevos FROM audit.historial_cambios
            WHERE tabla_afectada = 't' ORDER BY registro_id, id DESC) u
          WHERE accion <> 'DELETE' AND datos_nuevos IN (SELECT to_jsonb(t) FROM t)",
    );
    assert_eq!(replay_matches, count(&mut c, "SELECT count(*) FROM t"));
}

#[test]
fn truncate_is_recorded_also_when_it_cascades() {
    let db = audited(
        "adv_c_truncate",
        "CREATE TABLE t (id int PRIMARY KEY); CREATE TABLE hija (id int PRIMARY KEY, t_id int REFERENCES t);
         SELECT audit.auditar('hija')",
    );
    let mut c = db.connect();
    c.batch_execute("INSERT INTO t VALUES (1); INSERT INTO hija VALUES (1, 1); TRUNCATE t CASCADE")
        .unwrap();
    let truncated = texts(
        &mut c,
        "SELECT tabla_afectada FROM audit.historial_cambios WHERE accion = 'TRUNCATE' ORDER BY 1",
    );
    assert_eq!(truncated, ["hija", "t"]);
}

#[test]
fn a_partition_added_later_is_captured_like_the_others() {
    let db = audited(
        "adv_c_partition",
        "CREATE TABLE t (id int, anio int, PRIMARY KEY (id, anio)) PARTITION BY LIST (anio);
         CREATE TABLE t_2025 PARTITION OF t FOR VALUES IN (2025)",
    );
    let mut c = db.connect();
    c.batch_execute(
        "CREATE TABLE t_2026 PARTITION OF t FOR VALUES IN (2026);
         CREATE TABLE t_2027 (id int, anio int, PRIMARY KEY (id, anio));
         ALTER TABLE t ATTACH PARTITION t_2027 FOR VALUES IN (2027);
         INSERT INTO t VALUES (1, 2025), (1, 2026), (1, 2027);
         TRUNCATE t_2026; TRUNCATE t_2027;",
    )
    .unwrap();
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM audit.historial_cambios WHERE accion = 'INSERT'"
        ),
        3
    );
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM audit.historial_cambios WHERE accion = 'TRUNCATE'"
        ),
        2
    );
}

#[test]
fn a_rolled_back_savepoint_leaves_no_event_and_a_kept_one_does() {
    let db = audited("adv_c_savepoint", "CREATE TABLE t (id int PRIMARY KEY)");
    let mut c = db.connect();
    c.batch_execute(
        "BEGIN; INSERT INTO t VALUES (1);
         SAVEPOINT a; INSERT INTO t VALUES (2); ROLLBACK TO SAVEPOINT a;
         SAVEPOINT b; INSERT INTO t VALUES (3); RELEASE SAVEPOINT b; COMMIT;",
    )
    .unwrap();
    let ids = texts(&mut c, "SELECT registro_pk ->> 'id' FROM audit.historial_cambios WHERE accion = 'INSERT' ORDER BY id");
    assert_eq!(ids, ["1", "3"]);
}

#[test]
fn snapshots_do_not_depend_on_the_writers_session_settings() {
    let db = audited(
        "adv_c_settings",
        "CREATE TABLE t (id int PRIMARY KEY, ts timestamptz, d date, f float8, r real, iv interval, b bytea, n numeric, ar float8[])",
    );
    let values = "'2026-03-01 12:34:56.789+00', '2026-03-01', 0.1, 1.1, '1 day 2 hours', '\\x00ff', 1.10, '{0.1, 1e300}'";
    let mut plain = db.connect();
    plain
        .batch_execute(&format!("INSERT INTO t VALUES (1, {values})"))
        .unwrap();
    let mut odd = db.connect();
    odd.batch_execute(&format!(
        "SET TimeZone = 'Pacific/Chatham'; SET DateStyle = 'SQL, DMY'; SET extra_float_digits = -3;
         SET IntervalStyle = 'iso_8601'; SET bytea_output = 'escape';
         INSERT INTO t VALUES (2, {values})"
    ))
    .unwrap();
    let snapshots = texts(&mut plain, "SELECT (datos_nuevos - 'id')::text FROM audit.historial_cambios WHERE accion = 'INSERT' ORDER BY id");
    assert_eq!(snapshots.len(), 2);
    assert_eq!(snapshots[0], snapshots[1]);
    assert!(snapshots[0].contains("\"f\": 0.1,"), "{}", snapshots[0]);
    assert!(
        snapshots[0].contains("\"ts\": \"2026-03-01T12:34:56.789+00:00\""),
        "{}",
        snapshots[0]
    );
}

#[test]
fn special_values_come_back_exactly_from_the_snapshot() {
    let db = audited(
        "adv_c_special",
        "CREATE TABLE t (id int PRIMARY KEY, n numeric, f float8, ts timestamptz, d date, b bytea, txt text,
                         j jsonb, arr text[], big numeric, r int4range)",
    );
    let mut c = db.connect();
    c.batch_execute(
        "INSERT INTO t VALUES
           (1, 'NaN', 'Infinity', 'infinity', '-infinity', '\\x00', E'comillas \" y \\\\ y \\t tab y ñ y 😀', '{\"a\": [1, null, {\"b\": 1.50}]}', '{NULL, \"\", \"a,b\"}',
            123456789012345678901234567890.123456789012345678901234567890, 'empty'),
           (2, '-0.0', '-Infinity', '2026-01-01 00:00:00.000001+00', '2026-02-28', '', '', '{\"x\": null}', '{}', 1e-100, '[1,2)'),
           (3, 'Infinity', 'NaN', NULL, NULL, NULL, NULL, NULL, NULL, '-Infinity', NULL)",
    )
    .unwrap();
    // Rebuilding each row from its snapshot gives the row back, bit for bit.
    // (One value cannot be told apart, by to_jsonb itself: a json or jsonb
    // column holding JSON null and one that is SQL NULL both snapshot as
    // null; docs/capture.md says so.)
    let differing = count(
        &mut c,
        "SELECT count(*) FROM audit.historial_cambios h JOIN t ON t.id = (h.datos_nuevos ->> 'id')::int
          WHERE h.accion = 'INSERT' AND (jsonb_populate_record(NULL::t, h.datos_nuevos)::text IS DISTINCT FROM t::text)",
    );
    assert_eq!(differing, 0);
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM audit.historial_cambios WHERE accion = 'INSERT'"
        ),
        3
    );
}

#[test]
fn a_large_row_is_recorded_whole() {
    let db = audited(
        "adv_c_large",
        "CREATE TABLE t (id int PRIMARY KEY, doc text, datos jsonb)",
    );
    let mut c = db.connect();
    c.batch_execute(
        "INSERT INTO t SELECT 1, string_agg(md5(g::text), '') , jsonb_object_agg('k' || g, g)
           FROM generate_series(1, 100000) g",
    )
    .unwrap();
    let same = count(
        &mut c,
        "SELECT count(*) FROM audit.historial_cambios h, t
          WHERE h.accion = 'INSERT' AND h.datos_nuevos = to_jsonb(t) AND length(h.datos_nuevos ->> 'doc') = 3200000",
    );
    assert_eq!(same, 1);
}
