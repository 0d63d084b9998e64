//! Retention (`audit.retencion_meses`, applied by `audit.mantenimiento()`):
//! whole monthly partitions go, only when every event in them is sealed and
//! old enough; what went is recorded; verification still passes and counts
//! the purged events; a partition that cannot be locked in time is left
//! for the next run. `audit._aplicar_retencion` takes "now" as a parameter,
//! so the tests look at this month's partition from three months ahead.

use audit_integration_tests::{count, json, sqlstate_of, TestDb, TestRole};
use postgres::Client;
use serde_json::Value;

const FROM_THE_FUTURE: &str =
    "audit._aplicar_retencion(1, now() + interval '3 months', '200 milliseconds')";

/// The monthly partition that holds the events of `with_events` (written in
/// one transaction, so they share one month whatever the date).
fn this_month(c: &mut Client) -> String {
    c.query_one(
        "SELECT relname::text FROM pg_class
          WHERE oid = (SELECT tableoid FROM audit.historial_cambios WHERE tabla_afectada = 't' LIMIT 1)",
        &[],
    )
    .unwrap()
    .get(0)
}

fn partition_exists(c: &mut Client, name: &str) -> bool {
    c.query_one("SELECT to_regclass('audit.' || $1) IS NOT NULL", &[&name])
        .unwrap()
        .get(0)
}

/// An audited table with committed events in this month's partition.
fn with_events(test: &str) -> TestDb {
    let db = TestDb::new(test);
    db.connect()
        .batch_execute(
            "BEGIN;
             CREATE TABLE t (id int PRIMARY KEY, v text);
             SELECT audit.auditar('t');
             INSERT INTO t SELECT g, 'v' FROM generate_series(1, 5) g;
             UPDATE t SET v = 'w' WHERE id <= 2;
             COMMIT;",
        )
        .unwrap();
    db
}

#[test]
fn an_old_sealed_partition_is_dropped_recorded_and_still_verifies() {
    let db = with_events("retencion_sellada");
    let mut c = db.connect();
    let month = this_month(&mut c);

    // Not everything sealed yet: the partition stays.
    let r = json(&mut c, FROM_THE_FUTURE);
    assert!(partition_exists(&mut c, &month), "{r}");
    let skipped: Vec<&Value> = r["omitidas"].as_array().unwrap().iter().collect();
    assert!(
        skipped
            .iter()
            .any(|o| o["particion"] == month.as_str() && o["motivo"] == "eventos_sin_sellar"),
        "{r}"
    );

    c.batch_execute("SELECT audit.sellar()").unwrap();
    let before = count(&mut c, &format!("SELECT count(*) FROM audit.{month}"));
    let first = count(&mut c, &format!("SELECT min(id) FROM audit.{month}"));
    c.batch_execute("SELECT audit.sellar()").unwrap();
    let r = json(&mut c, FROM_THE_FUTURE);
    assert!(!partition_exists(&mut c, &month), "{r}");
    let dropped = r["eliminadas"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["particion"] == month.as_str())
        .unwrap_or_else(|| panic!("{month} not dropped: {r}"));
    // The retention events of the first run were written to this month too.
    let held = dropped["eventos"].as_i64().unwrap();
    assert!(held >= before, "{r}");

    // Recorded: which ids went, by whom, and as an event in the log itself.
    let rangos: String = c
        .query_one(
            "SELECT rangos_id::text FROM audit.retenciones WHERE particion = $1",
            &[&month],
        )
        .unwrap()
        .get(0);
    assert!(rangos.starts_with(&format!("{{\"[{first},")), "{rangos}");
    assert_eq!(
        count(
            &mut c,
            &format!(
                "SELECT count(*) FROM audit.historial_cambios
                  WHERE metadata->>'tipo_operacion' = 'RETENCION' AND metadata->>'particion' = '{month}'
                    AND (metadata->>'eventos')::bigint = {held}"
            )
        ),
        1
    );

    // The chain still verifies; the purged events are counted as such.
    let v = json(&mut c, "audit.verificar()");
    assert_eq!(v["valido"], true, "{v}");
    assert_eq!(v["eventos_purgados"].as_i64().unwrap(), held, "{v}");

    // The table and the log go on: the next event finds a place (the
    // default partition until maintenance creates its month again), and
    // maintenance moves it into its month's partition.
    c.batch_execute("INSERT INTO t VALUES (6, 'nuevo')")
        .unwrap();
    c.batch_execute("SELECT audit.mantenimiento()").unwrap();
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM audit.historial_cambios
              WHERE accion = 'INSERT' AND registro_pk = '{\"id\": 6}'
                AND tableoid = format('audit.historial_cambios_%s', to_char(\"timestamp\" AT TIME ZONE 'UTC', 'YYYY_MM'))::regclass"
        ),
        1
    );
}

#[test]
fn a_sealed_event_deleted_outside_a_purged_range_is_still_named() {
    let db = with_events("retencion_borrado");
    let mut c = db.connect();
    c.batch_execute("SELECT audit.sellar()").unwrap();
    // A sealed event deleted behind the log's back before the purge: the
    // ranges are taken from what the partition holds, so its id is not in
    // them, and verification still names it.
    let victim = count(&mut c, "SELECT min(id) FROM audit.historial_cambios");
    c.batch_execute(&format!(
        "ALTER EVENT TRIGGER audit_al_terminar_ddl DISABLE;
         ALTER TABLE audit.historial_cambios DISABLE TRIGGER historial_cambios_solo_insercion;
         DELETE FROM audit.historial_cambios WHERE id = {victim};
         ALTER TABLE audit.historial_cambios ENABLE ALWAYS TRIGGER historial_cambios_solo_insercion;
         ALTER EVENT TRIGGER audit_al_terminar_ddl ENABLE;"
    ))
    .unwrap();
    json(&mut c, FROM_THE_FUTURE);
    let v = json(&mut c, "audit.verificar()");
    assert_eq!(v["valido"], false, "{v}");
    assert_eq!(v["primer_error"]["evento"], Value::from(victim), "{v}");
    assert_eq!(v["primer_error"]["problema"], "eliminado", "{v}");
}

#[test]
fn a_partition_in_use_is_left_for_the_next_run() {
    let db = with_events("retencion_bloqueo");
    let mut c = db.connect();
    c.batch_execute("SELECT audit.sellar()").unwrap();
    let month = this_month(&mut c);

    // A long reader of the log holds a lock the drop must wait for.
    let mut reader = db.connect();
    let mut tx = reader.transaction().unwrap();
    tx.query_one(&format!("SELECT count(*) FROM audit.{month}"), &[])
        .unwrap();

    let r = json(&mut c, FROM_THE_FUTURE);
    assert!(partition_exists(&mut c, &month), "{r}");
    assert!(
        r["omitidas"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["particion"] == month.as_str() && o["motivo"] == "bloqueo"),
        "{r}"
    );
    let recorded = format!("SELECT count(*) FROM audit.retenciones WHERE particion = '{month}'");
    assert_eq!(count(&mut c, &recorded), 0);
    // The caller's own lock_timeout is back.
    let timeout: String = c.query_one("SHOW lock_timeout", &[]).unwrap().get(0);
    assert_eq!(timeout, "0");
    tx.rollback().unwrap();

    // (The first run recorded dropping next month's empty partition: seal
    // that event too.)
    c.batch_execute("SELECT audit.sellar()").unwrap();
    let r = json(&mut c, FROM_THE_FUTURE);
    assert!(!partition_exists(&mut c, &month), "{r}");
}

#[test]
fn retention_is_off_by_default_and_only_a_superuser_sets_it() {
    let db = with_events("retencion_ajuste");
    let mut c = db.connect();
    c.batch_execute("SELECT audit.sellar()").unwrap();
    let month = this_month(&mut c);
    let r = json(&mut c, "audit.mantenimiento()->'retencion'");
    assert_eq!(r["meses"], 0, "{r}");
    assert_eq!(r["eliminadas"], Value::Array(vec![]), "{r}");
    assert!(partition_exists(&mut c, &month));

    // With retention on, this month's events are younger than a month: kept.
    c.batch_execute("SET audit.retencion_meses = 1").unwrap();
    let r = json(&mut c, "audit.mantenimiento()->'retencion'");
    assert_eq!(r["meses"], 1, "{r}");
    assert!(partition_exists(&mut c, &month));

    let role = TestRole::new(&db, "app");
    let mut app = db.connect_as(&role.name);
    // (Once the library is loaded; before that a SET only makes a
    // placeholder, which PostgreSQL discards at load time for a non-superuser.)
    app.batch_execute("SELECT audit.jsonb_diff('{}', '{}')")
        .unwrap();
    assert_eq!(
        sqlstate_of(app.batch_execute("SET audit.retencion_meses = 1")),
        "42501"
    );
    assert_eq!(
        sqlstate_of(
            app.batch_execute("SELECT audit._aplicar_retencion(1, now() + interval '3 months')")
        ),
        "42501"
    );
    for bad in [
        "SET audit.retencion_meses = -1",
        "SELECT audit._aplicar_retencion(-1)",
        "SELECT audit._aplicar_retencion(1, NULL)",
        "SELECT audit._aplicar_retencion(1, now(), interval '-1 second')",
    ] {
        assert_eq!(sqlstate_of(c.batch_execute(bad)), "22023", "{bad}");
    }
    assert!(partition_exists(&mut c, &month));
}
