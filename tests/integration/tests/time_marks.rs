//! Time marks (audit.mantenimiento) with real concurrent sessions: a
//! transaction that started before a mark and writes after it must still be
//! found by date filters, and no mark may promise anything that such a
//! transaction later breaks.

use audit_integration_tests::{texts, TestDb};
use postgres::Client;

/// Events breaking the promise of some mark (bootstrap.sql, audit.marcas_tiempo).
fn broken_promises(c: &mut Client) -> i64 {
    c.query_one(
        "SELECT count(*) FROM audit.historial_cambios h, audit.marcas_tiempo m
          WHERE (h.\"timestamp\" > m.instante AND h.id <= m.ultimo_id)
             OR (h.\"timestamp\" < m.cerrado_hasta AND h.id > m.ultimo_id)",
        &[],
    )
    .unwrap()
    .get(0)
}

/// Ids of `tabla`'s events found by get_historial_cambios with a date
/// filter, and by the plain condition on "timestamp".
fn by_filter_and_by_condition(c: &mut Client, desde: &str, hasta: &str) -> (Vec<i64>, Vec<i64>) {
    let filtered = c
        .query(
            "SELECT id FROM audit.get_historial_cambios(
                 jsonb_build_object('tabla', 'cuentas', 'desde', $1::text, 'hasta', $2::text, 'limite', 1000))",
            &[&desde, &hasta],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let plain = c
        .query(
            "SELECT id FROM audit.historial_cambios
              WHERE tabla_afectada = 'cuentas' AND \"timestamp\" >= $1::text::timestamptz
                AND \"timestamp\" < $2::text::timestamptz
              ORDER BY id DESC",
            &[&desde, &hasta],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    (filtered, plain)
}

#[test]
fn a_transaction_open_across_marks_is_found_by_its_start_time() {
    let db = TestDb::new("marcas_tiempo");
    let mut admin = db.connect();
    admin
        .batch_execute(
            "CREATE TABLE cuentas (id int PRIMARY KEY, saldo int);
             SELECT audit.auditar('cuentas');
             INSERT INTO cuentas SELECT g, 0 FROM generate_series(1, 10) g;",
        )
        .unwrap();

    // A long transaction starts (its events will carry this start time)...
    let mut long = db.connect();
    long.batch_execute("BEGIN").unwrap();
    let long_start: String = long.query_one("SELECT now()::text", &[]).unwrap().get(0);
    std::thread::sleep(std::time::Duration::from_millis(50));

    // ...others write and commit, and marks are taken meanwhile (without
    // the usual minute of margin, so that only the open transaction can
    // hold them back)...
    let mut other = db.connect();
    let mut after_first_mark = String::new();
    for round in 0..3 {
        other
            .execute(
                "UPDATE cuentas SET saldo = saldo + 1 WHERE id <= $1",
                &[&(round + 2)],
            )
            .unwrap();
        admin
            .query_one("SELECT audit._marcar_tiempo('0')", &[])
            .unwrap();
        if round == 0 {
            after_first_mark = admin
                .query_one("SELECT clock_timestamp()::text", &[])
                .unwrap()
                .get(0);
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // ...and only then does the long transaction write, with ids above
    // every mark's ultimo_id but a timestamp from before them.
    long.execute("UPDATE cuentas SET saldo = -1 WHERE id = 10", &[])
        .unwrap();
    long.batch_execute("COMMIT").unwrap();
    admin
        .query_one("SELECT audit.mantenimiento()", &[])
        .unwrap();

    let (late_id, late_ts): (i64, String) = {
        let r = admin
            .query_one(
                "SELECT id, \"timestamp\"::text FROM audit.historial_cambios
                  WHERE tabla_afectada = 'cuentas' AND registro_pk = '{\"id\": 10}' AND accion = 'UPDATE'",
                &[],
            )
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!(
        late_ts, long_start,
        "the event carries its transaction's start"
    );
    let marks: i64 = admin
        .query_one("SELECT count(*) FROM audit.marcas_tiempo", &[])
        .unwrap()
        .get(0);
    assert_eq!(marks, 4, "every maintenance call took a mark");
    // The three marks taken while it was open came before its id, and each
    // was held back to before its start: they promise nothing about it.
    let (before_its_id, held_back): (i64, bool) = {
        let r = admin
            .query_one(
                "SELECT count(*), bool_and(cerrado_hasta <= $2::text::timestamptz)
                   FROM audit.marcas_tiempo WHERE ultimo_id < $1",
                &[&late_id, &long_start],
            )
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!(before_its_id, 3);
    assert!(held_back);
    assert_eq!(broken_promises(&mut admin), 0);

    // Windows that end at the long transaction's start, start at it, end
    // between the marks (a mark that ignored the open transaction would
    // claim its event is past that end), or cover everything: the late
    // event is where its timestamp says.
    let windows = [
        ("-infinity", long_start.as_str()),
        (long_start.as_str(), "infinity"),
        (long_start.as_str(), after_first_mark.as_str()),
        ("-infinity", "infinity"),
    ];
    for (desde, hasta) in windows {
        let (filtered, plain) = by_filter_and_by_condition(&mut admin, desde, hasta);
        assert_eq!(filtered, plain, "window [{desde}, {hasta})");
    }
    let (from_start, _) = by_filter_and_by_condition(&mut admin, &long_start, "infinity");
    assert!(
        from_start.contains(&late_id),
        "found from its start time on"
    );
    let (before_start, _) = by_filter_and_by_condition(&mut admin, "-infinity", &long_start);
    assert!(
        !before_start.contains(&late_id),
        "not before its start time"
    );
}

#[test]
fn idle_sessions_do_not_hold_marks_back() {
    let db = TestDb::new("marcas_inactivas");
    let mut admin = db.connect();
    // An idle session (no open transaction) is not a transaction.
    let _idle = db.connect();
    admin.batch_execute("SELECT pg_sleep(0.05)").unwrap();
    let gap: f64 = admin
        .query_one(
            "SELECT extract(epoch FROM clock_timestamp() - (audit.mantenimiento() #>> '{marca_tiempo,cerrado_hasta}')::timestamptz)::float8",
            &[],
        )
        .unwrap()
        .get(0);
    // The margin is one minute; the mantenimiento call's own transaction
    // started a moment ago.
    assert!(
        (60.0..61.0).contains(&gap),
        "cerrado_hasta is now minus the margin, got {gap}s"
    );
}

/// The capture worker of the current database, stopped (SIGSTOP) or let go
/// on (SIGCONT): it lags as a busy or restarting worker does.
fn signal_capture_worker(c: &mut Client, signal: &str) {
    let pid: i32 = c
        .query_one(
            "SELECT pid FROM pg_stat_activity
              WHERE backend_type = 'audit capture worker' AND datname = current_database()",
            &[],
        )
        .unwrap()
        .get(0);
    let status = std::process::Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{signal} {pid}");
}

#[test]
fn no_mark_is_taken_while_capture_from_the_wal_lags() {
    // The worker writes a committed transaction's events after its commit,
    // with ids handed out then and the transaction's start as their time.
    // A mark taken meanwhile would promise that no later id has an earlier
    // time, and a date filter through it would miss those events.
    let db = TestDb::new("marcas_tiempo_wal");
    let mut c = db.connect();
    for statement in [
        "CREATE TABLE cuentas (id int PRIMARY KEY, saldo int)",
        "SELECT audit.auditar('cuentas', '{\"captura\": \"wal\"}')",
        "INSERT INTO cuentas VALUES (0, 0)",
        "SELECT audit.esperar_captura('60 seconds')",
    ] {
        c.batch_execute(statement).unwrap();
    }
    signal_capture_worker(&mut c, "STOP");
    let desde: String = c
        .query_one("SELECT (now() - interval '1 hour')::text", &[])
        .unwrap()
        .get(0);
    c.batch_execute("INSERT INTO cuentas VALUES (1, 0)")
        .unwrap();
    let mark = c.query_one("SELECT audit._marcar_tiempo('0') IS NULL", &[]);
    signal_capture_worker(&mut c, "CONT");
    assert!(
        mark.unwrap().get::<_, bool>(0),
        "a mark was taken while the worker lagged"
    );
    c.batch_execute("SELECT audit.esperar_captura('60 seconds')")
        .unwrap();
    // Once it caught up, marks are taken again, and keep their promises.
    assert!(c
        .query_one("SELECT audit._marcar_tiempo('0') IS NOT NULL", &[])
        .unwrap()
        .get::<_, bool>(0));
    c.batch_execute(
        "INSERT INTO cuentas VALUES (2, 0); SELECT audit.esperar_captura('60 seconds')",
    )
    .unwrap();
    assert_eq!(broken_promises(&mut c), 0);
    let hasta: String = c
        .query_one("SELECT (now() + interval '1 hour')::text", &[])
        .unwrap()
        .get(0);
    let (filtered, plain) = by_filter_and_by_condition(&mut c, &desde, &hasta);
    assert_eq!(filtered.len(), 3);
    assert_eq!(filtered, plain);
    // A prepared transaction shows in no session (its start is unknown) and
    // its events get their ids at COMMIT PREPARED: no mark meanwhile.
    c.batch_execute("BEGIN; INSERT INTO cuentas VALUES (3, 0); PREPARE TRANSACTION 'marcas_wal'")
        .unwrap();
    let mark = c.query_one("SELECT audit._marcar_tiempo('0') IS NULL", &[]);
    c.batch_execute("COMMIT PREPARED 'marcas_wal'").unwrap();
    assert!(
        mark.unwrap().get::<_, bool>(0),
        "a mark was taken past a prepared transaction"
    );
    // The marks speed up reading the log: a role that may not read it
    // learns nothing of them from the query builder (PUBLIC's).
    let bounds = "SELECT concat_ws(' ', id_mayor_que, id_como_maximo)
                    FROM audit._consulta_historial(
                         jsonb_build_object('desde', now() + interval '1 minute'), false)";
    assert_ne!(texts(&mut c, bounds), [""]);
    let nadie = audit_integration_tests::TestRole::new(&db, "nadie");
    assert_eq!(texts(&mut db.connect_as(&nadie.name), bounds), [""]);
}
