//! Following the log forward (`audit.seguir`, src/seguimiento.rs): a
//! follower that asks for the events after the last id it received never
//! misses one whose transaction commits late, nor one of a prepared
//! transaction, and is not held back by work that rolled back.

use audit_integration_tests::{count, sqlstate_of, TestDb};
use postgres::Client;

/// The ids `audit.seguir` returns after `after`.
fn follow(c: &mut Client, after: i64) -> Vec<i64> {
    c.query("SELECT id FROM audit.seguir($1, 1000)", &[&after])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

fn id_of(c: &mut Client, key: i32) -> i64 {
    count(
        c,
        &format!(
            "SELECT id FROM audit.historial_cambios WHERE tabla_afectada = 't' AND registro_pk = '{{\"id\": {key}}}'"
        ),
    )
}

#[test]
fn a_follower_waits_for_late_commits_and_skips_nothing() {
    let db = TestDb::new("seguir");
    let mut reader = db.connect();
    reader
        .batch_execute(
            "CREATE TABLE t (id int PRIMARY KEY, v text);
             SELECT audit.auditar('t');",
        )
        .unwrap();
    let start = count(&mut reader, "SELECT max(id) FROM audit.historial_cambios");

    // A takes an id and keeps its transaction open; B takes the next one
    // and commits.
    let mut a = db.connect();
    a.batch_execute("BEGIN; INSERT INTO t VALUES (1, 'a')")
        .unwrap();
    let mut b = db.connect();
    b.batch_execute("INSERT INTO t VALUES (2, 'b')").unwrap();
    let b_id = id_of(&mut reader, 2);
    // B's event is committed and visible, but a follower stops below A's.
    assert!(
        count(
            &mut reader,
            &format!("SELECT count(*) FROM audit.historial_cambios WHERE id = {b_id}")
        ) == 1
    );
    assert_eq!(follow(&mut reader, start), Vec::<i64>::new());
    a.batch_execute("COMMIT").unwrap();
    let a_id = id_of(&mut reader, 1);
    assert!(a_id < b_id);
    assert_eq!(follow(&mut reader, start), [a_id, b_id]);

    // Work that rolls back holds nothing back once it is gone; a
    // subtransaction rolled back gives up its announcement and the next
    // event announces again.
    let mut c = db.connect();
    c.batch_execute(
        "BEGIN; SAVEPOINT s; INSERT INTO t VALUES (3, 'c'); ROLLBACK TO s; INSERT INTO t VALUES (4, 'd')",
    )
    .unwrap();
    b.batch_execute("INSERT INTO t VALUES (5, 'e')").unwrap();
    let e_id = id_of(&mut reader, 5);
    assert_eq!(
        follow(&mut reader, b_id),
        Vec::<i64>::new(),
        "C's event 4 is still to come"
    );
    c.batch_execute("COMMIT").unwrap();
    let d_id = id_of(&mut reader, 4);
    assert_eq!(follow(&mut reader, b_id), [d_id, e_id]);
    let mut r = db.connect();
    r.batch_execute("BEGIN; INSERT INTO t VALUES (6, 'f'); ROLLBACK")
        .unwrap();
    b.batch_execute("INSERT INTO t VALUES (7, 'g')").unwrap();
    let g_id = id_of(&mut reader, 7);
    assert_eq!(follow(&mut reader, e_id), [g_id]);

    // A prepared transaction keeps its announcement until it is committed.
    let mut p = db.connect();
    p.batch_execute("BEGIN; INSERT INTO t VALUES (8, 'h'); PREPARE TRANSACTION 'audit_it_seguir'")
        .unwrap();
    b.batch_execute("INSERT INTO t VALUES (9, 'i')").unwrap();
    let i_id = id_of(&mut reader, 9);
    assert_eq!(follow(&mut reader, g_id), Vec::<i64>::new());
    p.batch_execute("COMMIT PREPARED 'audit_it_seguir'")
        .unwrap();
    let h_id = id_of(&mut reader, 8);
    assert_eq!(follow(&mut reader, g_id), [h_id, i_id]);

    // Pages: limite events at a time, oldest first.
    let page: Vec<i64> = reader
        .query("SELECT id FROM audit.seguir($1, 2)", &[&start])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(page, [a_id, b_id]);
}

#[test]
fn what_seguir_refuses() {
    let db = TestDb::new("seguir_errores");
    let mut c = db.connect();
    for (sql, state) in [
        ("SELECT * FROM audit.seguir(NULL)", "22004"),
        ("SELECT * FROM audit.seguir(0, 0)", "22023"),
        ("SELECT * FROM audit.seguir(0, 1001)", "22023"),
        (
            "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT * FROM audit.seguir(0)",
            "0A000",
        ),
    ] {
        assert_eq!(sqlstate_of(c.batch_execute(sql)), state, "{sql}");
        let _ = c.batch_execute("ROLLBACK");
    }
}

#[test]
fn no_role_can_stall_writers_or_followers_with_advisory_locks() {
    // Writers announce the ids they may take with locks of a kind SQL
    // cannot take: a role without any grant, holding the advisory locks of
    // the keys the next ids would have had (exclusive) and of a low one
    // (shared), neither makes writers wait nor holds followers back.
    let db = TestDb::new("seguir_bloqueos");
    let nadie = audit_integration_tests::TestRole::new(&db, "nadie");
    let mut c = db.connect();
    c.batch_execute(
        "CREATE TABLE t (id int PRIMARY KEY, v text);
         SELECT audit.auditar('t');
         INSERT INTO t VALUES (1, 'a');",
    )
    .unwrap();
    let mut attacker = db.connect_as(&nadie.name);
    attacker
        .batch_execute(
            "SELECT count(pg_advisory_lock(1635057664, i))
               FROM generate_series(audit._horizonte_seguimiento()::int,
                                    audit._horizonte_seguimiento()::int + 100) i;
             SELECT pg_advisory_lock_shared(1635057664, 1);",
        )
        .unwrap();
    c.batch_execute(
        "SET statement_timeout = '5s'; INSERT INTO t VALUES (2, 'b'); RESET statement_timeout",
    )
    .unwrap();
    let last = count(&mut c, "SELECT max(id) FROM audit.historial_cambios");
    assert!(
        follow(&mut c, 0).contains(&last),
        "the follower reaches the last event"
    );
    drop(attacker);
}
