//! Set-based capture (`"captura": "sentencia"`): statement triggers reading
//! transition tables must record exactly what the row triggers record. The
//! same workload runs under each mode inside a transaction that is rolled
//! back, so both start from the same rows; the events they wrote are
//! compared field by field and in id order. Only what differs by nature is
//! left out: the event id itself, the transaction, its time and the hash
//! (which covers them).

use audit_integration_tests::{count, sqlstate_of, texts, TestDb, TestRole};
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

/// Every kind of row change, including ones that must record nothing.
const WORKLOAD: &str = "
INSERT INTO t
SELECT g,
       CASE WHEN g % 2 = 0 THEN ('00000000-0000-0000-0000-' || lpad(g::text, 12, '0'))::uuid END,
       g * 1.10, g / 3.0,
       '2026-01-01 00:00+00'::timestamptz + g * interval '1 hour',
       decode(md5(g::text), 'hex'),
       ARRAY[g, g + 1],
       jsonb_build_object('g', g, 'nested', jsonb_build_array(g, 'x')),
       -- about 13 kB of poorly compressible text: stored out of line (TOAST)
       CASE WHEN g = 7 THEN (SELECT string_agg(md5(i::text), '') FROM generate_series(1, 400) i) END,
       's'
  FROM generate_series(1, 300) g;
UPDATE t SET n = n + 1 WHERE id % 3 = 0;
UPDATE t SET oculto = 'changed' WHERE id % 5 = 0;   -- only an excluded column
UPDATE t SET n = n WHERE id < 10;                   -- nothing changes
UPDATE t SET id = id + 1000 WHERE id % 7 = 0;       -- the key changes
UPDATE t SET big = big || 'y' WHERE id = 1007;      -- a TOASTed value changes
UPDATE t SET n = 1.00 WHERE id = 1;                 -- 1.1 -> 1.00
UPDATE t SET n = 1.0 WHERE id = 1;                  -- same number, other digits
DELETE FROM t WHERE id % 4 = 0 OR id = 1007;
INSERT INTO t (id) VALUES (5000);
INSERT INTO sin_clave SELECT g % 3, 'b' || g FROM generate_series(1, 9) g;
UPDATE sin_clave SET b = b || '!' WHERE a = 1;
DELETE FROM sin_clave WHERE a = 2;
INSERT INTO con_uuid SELECT ('00000000-0000-0000-0000-' || lpad(g::text, 12, '0'))::uuid, 'v' FROM generate_series(1, 20) g;
UPDATE con_uuid SET v = 'w';
DELETE FROM con_uuid;
";

/// The recorded fields of the events written after event `after`, in id
/// order, each as the text of a jsonb object.
fn events_after(c: &mut impl postgres::GenericClient, after: i64, accion: &str) -> Vec<String> {
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

fn last_id(c: &mut impl postgres::GenericClient) -> i64 {
    c.query_one(
        "SELECT coalesce(max(id), 0) FROM audit.historial_cambios",
        &[],
    )
    .unwrap()
    .get(0)
}

/// Runs `workload` with every table audited in mode `captura`, returns the
/// INSERT/UPDATE/DELETE events it recorded, and rolls everything back.
fn record_in_mode(c: &mut Client, captura: &str, workload: &str) -> Vec<String> {
    let mut tx = c.transaction().unwrap();
    let options = |extra: &str| format!(r#"{{"captura": "{captura}"{extra}}}"#);
    tx.execute(
        "SELECT audit.auditar('t', $1::text::jsonb)",
        &[&options(r#", "excluir_columnas": ["oculto"]"#)],
    )
    .unwrap();
    for table in ["sin_clave", "con_uuid"] {
        tx.execute(
            "SELECT audit.auditar($1::text::regclass, $2::text::jsonb)",
            &[&table, &options("")],
        )
        .unwrap();
    }
    // The mode's own triggers, and only those, capture the tables.
    let statement_level: i64 = tx
        .query_one(
            "SELECT count(*) FROM pg_trigger
              WHERE tgfoid = 'audit.registrar_cambio()'::regprocedure
                AND tgrelid IN ('t'::regclass, 'sin_clave'::regclass, 'con_uuid'::regclass)
                AND tgtype & 1 = 0 AND (tgoldtable IS NOT NULL OR tgnewtable IS NOT NULL)",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(statement_level, if captura == "sentencia" { 9 } else { 0 });
    let start = last_id(&mut tx);
    tx.batch_execute(workload).unwrap();
    let events = events_after(&mut tx, start, "INSERT,UPDATE,DELETE");
    tx.rollback().unwrap();
    events
}

#[test]
fn both_modes_record_the_same_events_in_the_same_order() {
    let db = TestDb::new("sentencia_igual");
    let mut c = db.connect();
    c.batch_execute(TABLES).unwrap();

    let by_row = record_in_mode(&mut c, "fila", WORKLOAD);
    let by_statement = record_in_mode(&mut c, "sentencia", WORKLOAD);

    // The workload's events, counted by hand:
    // INSERT 300 + 1 + 9 + 20;
    // UPDATE 100 (n + 1) + 42 (key) + 1 (big) + 2 (1.1 -> 1.00 -> 1.0) + 3 + 20;
    // DELETE 65 unmoved multiples of 4 + 10 moved ones + 1007 + 3 + 20.
    let expected = 330 + 168 + 99;
    assert_eq!(by_row.len(), expected);
    assert_eq!(by_statement.len(), by_row.len());
    for (i, (r, s)) in by_row.iter().zip(&by_statement).enumerate() {
        assert_eq!(r, s, "event {i} differs between the modes");
    }
    // The TOASTed value is recorded whole in both.
    assert!(by_row
        .iter()
        .any(|e| e.contains("\"DELETE\"") && e.contains("y\"") && e.len() > 12_800));
}

#[test]
fn statements_larger_than_work_mem_record_the_same_events() {
    // With work_mem at its minimum the transition tables spill to disk,
    // where PostgreSQL reads their rows back one by one.
    let db = TestDb::new("sentencia_work_mem");
    let mut c = db.connect();
    c.batch_execute(TABLES).unwrap();
    let workload = "SET LOCAL work_mem = '64kB';
        INSERT INTO t (id, n, j) SELECT g, g, jsonb_build_object('g', g) FROM generate_series(1, 6000) g;
        UPDATE t SET n = n + 1;
        DELETE FROM t;";
    let by_row = record_in_mode(&mut c, "fila", workload);
    let by_statement = record_in_mode(&mut c, "sentencia", workload);
    assert_eq!(by_row.len(), 18_000);
    assert!(
        by_row == by_statement,
        "the modes recorded different events"
    );
}

#[test]
fn a_statement_that_fails_midway_leaves_none_of_its_events() {
    // The statement path keeps its events and stores them a page at a
    // time (src/capture/log_batch.rs). A row whose snapshot fails after
    // more than a batch was stored, and with some events kept but not yet
    // stored: rolled back to the savepoint, none of the statement's events
    // may remain, neither those stored nor those kept, and the next
    // statement of the same transaction records exactly its own.
    let db = TestDb::new("sentencia_fallo");
    let mut c = db.connect();
    c.batch_execute(
        "CREATE TYPE humor AS ENUM ('bien', 'mal');
         -- to_jsonb uses a type's cast to json: this one refuses 'mal'.
         CREATE FUNCTION humor_json(h humor) RETURNS json LANGUAGE plpgsql AS $$
         BEGIN
             IF h = 'mal' THEN RAISE EXCEPTION 'humor ilegible'; END IF;
             RETURN to_json(h::text);
         END $$;
         CREATE CAST (humor AS json) WITH FUNCTION humor_json(humor);
         CREATE TABLE h (id int PRIMARY KEY, humor humor NOT NULL);
         SELECT audit.auditar('h', '{\"captura\": \"sentencia\"}');",
    )
    .unwrap();
    let before = last_id(&mut c);
    let mut tx = c.transaction().unwrap();
    tx.batch_execute("SAVEPOINT s").unwrap();
    let failed = tx.batch_execute(
        "INSERT INTO h SELECT g, CASE WHEN g = 1500 THEN 'mal' ELSE 'bien' END::humor
           FROM generate_series(1, 1600) g",
    );
    assert_eq!(sqlstate_of(failed), "P0001");
    tx.batch_execute("ROLLBACK TO SAVEPOINT s; INSERT INTO h VALUES (1, 'bien')")
        .unwrap();
    tx.commit().unwrap();
    let recorded = events_after(&mut c, before, "INSERT,UPDATE,DELETE");
    assert_eq!(recorded.len(), 1, "first: {:?}", recorded.first());
    assert!(
        recorded[0].contains(r#""datos_nuevos": {"id": 1, "humor": "bien"}"#),
        "{recorded:?}"
    );
    let valid: bool = c
        .query_one("SELECT (audit.verificar() ->> 'valido')::boolean", &[])
        .unwrap()
        .get(0);
    assert!(valid);
}

/// One statement that makes two kinds of change to a table: the row path
/// interleaves them as PostgreSQL meets the rows; the statement path writes
/// each kind's events as a group, in the order its triggers fire
/// (docs/capture.md). The same events either way.
fn same_events_grouped(test: &str, statement: &str, expected_kinds: &[&str]) {
    let db = TestDb::new(test);
    let mut c = db.connect();
    c.batch_execute(TABLES).unwrap();
    c.batch_execute("INSERT INTO t (id, n) SELECT g, g FROM generate_series(1, 10) g")
        .unwrap();
    let mut by_row = record_in_mode(&mut c, "fila", statement);
    let mut by_statement = record_in_mode(&mut c, "sentencia", statement);
    let kind = |e: &String| {
        ["INSERT", "UPDATE", "DELETE"]
            .into_iter()
            .find(|k| e.contains(&format!("\"accion\": \"{k}\"")))
            .unwrap()
    };
    let kinds: Vec<&str> = by_statement.iter().map(kind).collect();
    assert_eq!(kinds, expected_kinds);
    by_row.sort();
    by_statement.sort();
    assert_eq!(by_row, by_statement);
}

#[test]
fn insert_on_conflict_records_the_same_events_grouped_by_kind() {
    same_events_grouped(
        "sentencia_on_conflict",
        "INSERT INTO t (id, n) SELECT g, g * 10 FROM generate_series(6, 15) g
         ON CONFLICT (id) DO UPDATE SET n = EXCLUDED.n",
        &[["UPDATE"; 5], ["INSERT"; 5]].concat(),
    );
}

#[test]
fn a_writable_cte_records_the_same_events_grouped_by_kind() {
    same_events_grouped(
        "sentencia_cte",
        "WITH moved AS (DELETE FROM t WHERE id IN (1, 2, 3) RETURNING *)
         INSERT INTO t (id, n) SELECT id + 2000, n FROM moved",
        &[["DELETE"; 3], ["INSERT"; 3]].concat(),
    );
}

#[test]
fn other_triggers_reading_the_same_transition_table_see_every_row() {
    let db = TestDb::new("sentencia_compartida");
    let mut c = db.connect();
    c.batch_execute(
        "CREATE TABLE t (id int PRIMARY KEY, v text);
         CREATE TABLE vistos (disparador text, filas bigint);
         CREATE FUNCTION contar() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             INSERT INTO vistos SELECT TG_NAME, count(*) FROM nuevas;
             RETURN NULL;
         END $$;
         -- fire before and after audit_registrar_insert (triggers fire in name order)
         CREATE TRIGGER a_antes AFTER INSERT ON t REFERENCING NEW TABLE AS nuevas
             FOR EACH STATEMENT EXECUTE FUNCTION contar();
         CREATE TRIGGER z_despues AFTER INSERT ON t REFERENCING NEW TABLE AS nuevas
             FOR EACH STATEMENT EXECUTE FUNCTION contar();
         SELECT audit.auditar('t', '{\"captura\": \"sentencia\"}');",
    )
    .unwrap();
    let start = last_id(&mut c);
    c.batch_execute("INSERT INTO t SELECT g, 'v' FROM generate_series(1, 2500) g")
        .unwrap();
    assert_eq!(events_after(&mut c, start, "INSERT").len(), 2500);
    assert_eq!(
        texts(
            &mut c,
            "SELECT disparador || '=' || filas FROM vistos ORDER BY 1"
        ),
        ["a_antes=2500", "z_despues=2500"]
    );
    // An empty statement fires the trigger too, and records nothing.
    let start = last_id(&mut c);
    c.batch_execute("UPDATE t SET v = 'w' WHERE false; DELETE FROM t WHERE id < 0")
        .unwrap();
    assert!(events_after(&mut c, start, "INSERT,UPDATE,DELETE").is_empty());
}

#[test]
fn switching_modes_leaves_one_capture_and_the_log_verifies() {
    let db = TestDb::new("sentencia_cambio");
    let mut c = db.connect();
    c.batch_execute(
        "CREATE TABLE t (id int PRIMARY KEY, v text);
         SELECT audit.auditar('t');
         SELECT audit.auditar('t', '{\"captura\": \"sentencia\"}');",
    )
    .unwrap();
    let triggers = |c: &mut Client| {
        texts(
            c,
            "SELECT tgname::text FROM pg_trigger WHERE tgrelid = 't'::regclass ORDER BY 1",
        )
    };
    assert_eq!(
        triggers(&mut c),
        [
            "audit_registrar_delete",
            "audit_registrar_insert",
            "audit_registrar_truncate",
            "audit_registrar_update"
        ]
    );
    let start = last_id(&mut c);
    c.batch_execute("INSERT INTO t VALUES (1, 'a'); UPDATE t SET v = 'b'; DELETE FROM t")
        .unwrap();
    assert_eq!(events_after(&mut c, start, "INSERT,UPDATE,DELETE").len(), 3);
    assert_eq!(
        texts(
            &mut c,
            "SELECT captura_activa || ' ' || (opciones->>'captura') FROM audit.tablas_auditadas"
        ),
        ["true sentencia"]
    );

    c.batch_execute("SELECT audit.auditar('t', '{\"captura\": \"fila\"}')")
        .unwrap();
    assert_eq!(
        triggers(&mut c),
        ["audit_registrar_cambio", "audit_registrar_truncate"]
    );
    let start = last_id(&mut c);
    c.batch_execute("INSERT INTO t VALUES (2, 'a')").unwrap();
    assert_eq!(events_after(&mut c, start, "INSERT").len(), 1);
    assert_eq!(
        texts(&mut c, "SELECT (audit.verificar() ->> 'valido')"),
        ["true"]
    );
}

#[test]
fn what_statement_capture_refuses_changes_nothing() {
    let db = TestDb::new("sentencia_rechazos");
    let mut c = db.connect();
    c.batch_execute(
        "CREATE TABLE p (id int, d date) PARTITION BY RANGE (d);
         CREATE TABLE p_2026 PARTITION OF p FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
         CREATE TABLE padre (id int);
         CREATE TABLE hija () INHERITS (padre);
         CREATE TABLE m (id int);",
    )
    .unwrap();
    let audited = |c: &mut Client| count(c, "SELECT count(*) FROM audit.tablas_auditadas");
    let capture_triggers = |c: &mut Client| {
        count(
            c,
            "SELECT count(*) FROM pg_trigger WHERE tgfoid = 'audit.registrar_cambio()'::regprocedure",
        )
    };
    let cases = [
        // partitioned, inheritance parent, inheritance child
        (
            "SELECT audit.auditar('p', '{\"captura\": \"sentencia\"}')",
            "0A000",
        ),
        (
            "SELECT audit.auditar('padre', '{\"captura\": \"sentencia\"}')",
            "0A000",
        ),
        (
            "SELECT audit.auditar('hija', '{\"captura\": \"sentencia\"}')",
            "0A000",
        ),
        (
            "SELECT audit.auditar('m', '{\"captura\": \"por_lotes\"}')",
            "22023",
        ),
        // by hand: a transition table missing, or on a row trigger
        (
            "CREATE TRIGGER x AFTER UPDATE ON m REFERENCING NEW TABLE AS n
                 FOR EACH STATEMENT EXECUTE FUNCTION audit.registrar_cambio()",
            "42P17",
        ),
        (
            "CREATE TRIGGER x AFTER DELETE ON m
                 FOR EACH STATEMENT EXECUTE FUNCTION audit.registrar_cambio()",
            "42P17",
        ),
        (
            "CREATE TRIGGER x AFTER INSERT ON m REFERENCING NEW TABLE AS n
                 FOR EACH ROW EXECUTE FUNCTION audit.registrar_cambio()",
            "42P17",
        ),
        (
            "CREATE TRIGGER x AFTER INSERT ON padre REFERENCING NEW TABLE AS n
                 FOR EACH STATEMENT EXECUTE FUNCTION audit.registrar_cambio()",
            "0A000",
        ),
    ];
    for (sql, state) in cases {
        assert_eq!(sqlstate_of(c.batch_execute(sql)), state, "{sql}");
        assert_eq!(audited(&mut c), 0, "after {sql}");
        assert_eq!(capture_triggers(&mut c), 0, "after {sql}");
    }

    // Attached by hand with its transition tables, it captures like auditar's.
    c.batch_execute(
        "CREATE TRIGGER x AFTER UPDATE ON m REFERENCING OLD TABLE AS o NEW TABLE AS n
             FOR EACH STATEMENT EXECUTE FUNCTION audit.registrar_cambio();
         INSERT INTO m VALUES (1);
         UPDATE m SET id = 2;",
    )
    .unwrap();
    assert_eq!(
        texts(
            &mut c,
            "SELECT accion || ' ' || datos_anteriores::text || ' ' || datos_nuevos::text
               FROM audit.historial_cambios WHERE tabla_afectada = 'm'"
        ),
        [r#"UPDATE {"id": 1} {"id": 2}"#]
    );
    // Only UPDATE is captured: the table is listed, its capture incomplete.
    assert_eq!(
        texts(
            &mut c,
            "SELECT tabla::text || ' ' || captura_activa FROM audit.tablas_auditadas"
        ),
        ["m false"]
    );
}

#[test]
fn a_table_owner_who_may_not_stop_auditing_cannot_remove_a_statement_trigger() {
    let db = TestDb::new("sentencia_guardia");
    let owner = TestRole::new(&db, "duena");
    let mut c = db.connect();
    c.batch_execute(&format!(
        "CREATE TABLE t (id int PRIMARY KEY, v text);
         ALTER TABLE t OWNER TO {0};
         SELECT audit.auditar('t', '{{\"captura\": \"sentencia\"}}');",
        owner.name
    ))
    .unwrap();
    let mut o = db.connect_as(&owner.name);
    for sql in [
        "DROP TRIGGER audit_registrar_update ON t",
        "ALTER TABLE t DISABLE TRIGGER audit_registrar_delete",
        "ALTER TABLE t DISABLE TRIGGER ALL",
    ] {
        assert_eq!(sqlstate_of(o.batch_execute(sql)), "42501", "{sql}");
    }
    assert_eq!(
        texts(
            &mut c,
            "SELECT captura_activa::text FROM audit.tablas_auditadas"
        ),
        ["true"]
    );
}

#[test]
fn a_table_captured_by_statement_cannot_join_an_inheritance_or_partition_tree() {
    let db = TestDb::new("sentencia_herencia");
    let mut c = db.connect();
    c.batch_execute(
        "CREATE TABLE t (id int);
         SELECT audit.auditar('t', '{\"captura\": \"sentencia\"}');
         CREATE TABLE padre (id int);
         CREATE TABLE pp (id int) PARTITION BY RANGE (id);",
    )
    .unwrap();
    for sql in [
        "CREATE TABLE hija () INHERITS (t)",
        "ALTER TABLE t INHERIT padre",
        "ALTER TABLE pp ATTACH PARTITION t FOR VALUES FROM (0) TO (100)",
    ] {
        let state = sqlstate_of(c.batch_execute(sql));
        // (A plain table cannot have partitions: PostgreSQL's own 42809.)
        assert!(
            ["0A000", "42809"].contains(&state.as_str()),
            "{sql}: {state}"
        );
        let joined = "SELECT count(*) FROM pg_inherits
                       WHERE 't'::regclass IN (inhrelid, inhparent)";
        assert_eq!(count(&mut c, joined), 0, "after {sql}");
    }
    // Row capture may join them as before.
    c.batch_execute(
        "SELECT audit.auditar('t');
         ALTER TABLE t INHERIT padre;",
    )
    .unwrap();
}

#[test]
fn restoring_works_on_tables_captured_by_statement() {
    let db = TestDb::new("sentencia_restaurar");
    let mut c = db.connect();
    c.batch_execute(
        "CREATE TABLE clientes (id int PRIMARY KEY, nombre text);
         CREATE TABLE pedidos (id int PRIMARY KEY, cliente_id int REFERENCES clientes, total numeric);
         SELECT audit.auditar('clientes', '{\"captura\": \"sentencia\"}'),
                audit.auditar('pedidos', '{\"captura\": \"sentencia\"}');
         INSERT INTO clientes SELECT g, 'c' || g FROM generate_series(1, 50) g;
         INSERT INTO pedidos SELECT g, g, g * 1.5 FROM generate_series(1, 50) g;
         SELECT audit.crear_modulo('tienda', ARRAY['clientes', 'pedidos']::regclass[]);
         SELECT audit.crear_marca('tienda', 'm');",
    )
    .unwrap();
    let contents = |c: &mut Client| {
        texts(
            c,
            "SELECT string_agg(x::text, ';' ORDER BY x::text) FROM (
                 SELECT to_jsonb(c) AS x FROM clientes c UNION ALL SELECT to_jsonb(p) FROM pedidos p) s",
        )
    };
    let at_mark = contents(&mut c);
    c.batch_execute(
        "UPDATE pedidos SET total = 0 WHERE id <= 10;
         DELETE FROM pedidos WHERE id > 40;
         DELETE FROM clientes WHERE id > 40;
         INSERT INTO clientes VALUES (100, 'nuevo');
         UPDATE clientes SET nombre = upper(nombre);",
    )
    .unwrap();
    let start = last_id(&mut c);
    let applied = texts(
        &mut c,
        "SELECT (audit.revertir_modulo('tienda', 'm') -> 'aplicado')::text",
    );
    assert_eq!(applied, ["true"]);
    assert_eq!(contents(&mut c), at_mark);
    // The rollback's own changes are in the log, recorded by the statement
    // triggers: 40 clientes and 10 pedidos updated back, 10 of each
    // inserted again, client 100 deleted.
    assert_eq!(
        events_after(&mut c, start, "INSERT,UPDATE,DELETE").len(),
        40 + 10 + 10 + 10 + 1
    );

    // Undoing one event.
    c.batch_execute("UPDATE clientes SET nombre = 'otro' WHERE id = 1")
        .unwrap();
    let evento = count(
        &mut c,
        "SELECT max(id) FROM audit.historial_cambios WHERE accion = 'UPDATE'",
    );
    c.batch_execute(&format!("SELECT audit.deshacer({evento})"))
        .unwrap();
    assert_eq!(
        texts(&mut c, "SELECT nombre FROM clientes WHERE id = 1"),
        ["c1"]
    );
    assert_eq!(
        texts(&mut c, "SELECT (audit.verificar() ->> 'valido')"),
        ["true"]
    );
}
