//! The log replicated to an archive node (docs/replication.md): a second
//! cluster, started by the test, subscribes by logical replication to the
//! log, its sealed blocks and its time marks. What the primary records
//! arrives identical; the archive verifies it on its own and with a digest
//! taken on the primary; a copy altered on the archive is found there; what
//! the primary's retention drops stays on the archive, still verifiable.

use audit_integration_tests::{
    claims, conninfo, count, json, server, sqlstate, texts, verify_with, with_claims, Cluster,
    TestDb, TestRole,
};
use postgres::{Client, NoTls};
use serde_json::Value;
use std::time::{Duration, Instant};

/// The publication on the primary and the subscription on the archive.
const NOMBRE: &str = "audit_archivo";
/// What `audit.verificar()` reads (src/ledger: the log and the blocks),
/// and the time marks, so that date filters work on the archive too.
const TABLAS: &str = "audit.historial_cambios, audit.bloques, audit.marcas_tiempo";
/// How long replication may take before the test gives up.
const ESPERA: Duration = Duration::from_secs(60);

const TENANT: &str = "a0000000-0000-4000-8000-00000000000a";

/// The subscription on the archive. Dropping it while the primary is up
/// also drops its replication slot there; should that fail, TestDb's drop
/// removes the slot before dropping the database.
struct Subscription<'a> {
    archive: &'a Cluster,
    db: &'static str,
}

impl Subscription<'_> {
    fn drop_now(&self) -> Result<(), postgres::Error> {
        Client::connect(&self.archive.conninfo(self.db), NoTls)?
            .batch_execute(&format!("DROP SUBSCRIPTION IF EXISTS {NOMBRE}"))
    }
}

impl Drop for Subscription<'_> {
    // (Also while a failed test unwinds: errors are ignored, never a panic.)
    fn drop(&mut self) {
        let _ = self.drop_now();
    }
}

/// Polls `done` until it holds; fails after ESPERA with `what` and the end
/// of the archive's server log (where apply errors are reported).
fn wait_for(what: &str, archive: &Cluster, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < ESPERA,
            "timed out after {ESPERA:?} waiting for {what}; the archive's log ends with:\n{}",
            archive.log_tail(30)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until the archive has applied everything the primary committed so
/// far: the subscription's walsender on the primary reports it replayed up
/// to the primary's current WAL position (the lag query of
/// docs/replication.md).
fn wait_until_applied(primary: &mut Client, archive: &Cluster) {
    let target: String = primary
        .query_one("SELECT pg_current_wal_lsn()::text", &[])
        .unwrap()
        .get(0);
    wait_for(
        &format!("the archive to apply up to {target}"),
        archive,
        || {
            primary
                .query_one(
                    "SELECT coalesce(bool_or(replay_lsn >= $1::text::pg_lsn), false)
                   FROM pg_stat_replication WHERE application_name = $2",
                    &[&target, &NOMBRE],
                )
                .unwrap()
                .get(0)
        },
    );
}

/// Runs `sql` on both nodes, asserts they give the same rows, returns them.
fn same_on_both(primary: &mut Client, archive: &mut Client, sql: &str) -> Vec<String> {
    let here = texts(primary, sql);
    let there = texts(archive, sql);
    assert_eq!(here, there, "{sql}: the archive differs from the primary");
    here
}

/// Every event as its whole row's text (each column, `huella` and the
/// snapshots included), in id order.
const EVENTOS: &str = "SELECT h::text FROM audit.historial_cambios h ORDER BY id";
const BLOQUES: &str = "SELECT b::text FROM audit.bloques b ORDER BY id";
const MARCAS: &str = "SELECT m::text FROM audit.marcas_tiempo m ORDER BY instante";

#[test]
fn the_log_replicated_to_an_archive_arrives_intact_and_verifies_there() {
    let db = TestDb::new("replicacion");
    let mut primary = db.connect();
    let wal_level: String = primary.query_one("SHOW wal_level", &[]).unwrap().get(0);
    assert_eq!(
        wal_level, "logical",
        "the test cluster (PGHOST/PGPORT) runs with wal_level = {wal_level}, and logical replication needs \
         wal_level = logical: scripts/test.sh starts its cluster so; restart yours with -c wal_level=logical"
    );
    // Rows are compared as text: pin what their text depends on.
    primary.batch_execute("SET TimeZone = 'UTC'").unwrap();

    // Events recorded before the archive exists: they reach it through the
    // subscription's initial copy.
    primary
        .batch_execute(
            "CREATE TABLE t (id int PRIMARY KEY, v text, empresa_id uuid);
             SELECT audit.auditar('t');",
        )
        .unwrap();
    for change in [
        format!("INSERT INTO t SELECT g, 'v' || g, '{TENANT}' FROM generate_series(1, 5) g"),
        "UPDATE t SET v = v || '!' WHERE id <= 2".into(),
        "DELETE FROM t WHERE id = 5".into(),
        "SELECT audit.sellar()".into(),
    ] {
        primary.batch_execute(&change).unwrap();
    }

    // The recipe, primary side: a role that may replicate and read the
    // published tables past row-level security, and an insert-only
    // publication through the log's root.
    let replicador = TestRole::new(&db, "replicador");
    primary
        .batch_execute(&format!(
            "ALTER ROLE {r} REPLICATION BYPASSRLS;
             GRANT USAGE ON SCHEMA audit TO {r};
             GRANT SELECT ON {TABLAS} TO {r};
             CREATE PUBLICATION {NOMBRE} FOR TABLE {TABLAS}
                 WITH (publish = 'insert', publish_via_partition_root = true);",
            r = replicador.name
        ))
        .unwrap();

    // Archive side: the extension (same tables, same columns), the coming
    // months' partitions, the subscription.
    let archive = Cluster::start(&["fsync=off"]);
    archive
        .connect("postgres")
        .batch_execute("CREATE DATABASE archivo")
        .unwrap();
    let mut arch = archive.connect("archivo");
    arch.batch_execute(
        "SET TimeZone = 'UTC';
         CREATE EXTENSION audit;
         SELECT audit._asegurar_particiones(2);",
    )
    .unwrap();
    let (host, port, _) = server();
    let publisher = format!(
        "host={host} port={port} user={} dbname={} options=-crow_security=off",
        replicador.name, db.name
    );
    let subscription = Subscription {
        archive: &archive,
        db: "archivo",
    };
    arch.batch_execute(&format!(
        "CREATE SUBSCRIPTION {NOMBRE} CONNECTION '{publisher}' PUBLICATION {NOMBRE}
             WITH (copy_data = true)"
    ))
    .unwrap();
    wait_for("the initial copy of the three tables", &archive, || {
        let row = arch
            .query_one(
                "SELECT count(*) FILTER (WHERE r.srsubstate = 'r'), count(*)
                   FROM pg_subscription_rel r JOIN pg_subscription s ON s.oid = r.srsubid
                  WHERE s.subname = $1",
                &[&NOMBRE],
            )
            .unwrap();
        (row.get::<_, i64>(0), row.get::<_, i64>(1)) == (3, 3)
    });
    wait_until_applied(&mut primary, &archive);

    // The same extension on both nodes: same version, same columns.
    same_on_both(
        &mut primary,
        &mut arch,
        "SELECT extversion FROM pg_extension WHERE extname = 'audit'
         UNION ALL
         SELECT attrelid::regclass || '.' || attname || ' ' || format_type(atttypid, atttypmod)
           FROM pg_attribute
          WHERE attrelid IN ('audit.historial_cambios'::regclass, 'audit.bloques'::regclass,
                             'audit.marcas_tiempo'::regclass)
            AND attnum > 0 AND NOT attisdropped",
    );
    let copied = same_on_both(&mut primary, &mut arch, EVENTOS);
    same_on_both(&mut primary, &mut arch, BLOQUES);
    assert_eq!(
        texts(
            &mut arch,
            "SELECT accion || ' ' || count(*) FROM audit.historial_cambios
              WHERE tabla_afectada = 't' AND accion <> 'DDL' GROUP BY accion ORDER BY accion"
        ),
        ["DELETE 1", "INSERT 5", "UPDATE 2"],
        "the archive received the row changes"
    );
    let on_primary = json(&mut primary, "audit.verificar()");
    assert_eq!(on_primary["valido"], Value::Bool(true), "{on_primary}");
    assert_eq!(
        json(&mut arch, "audit.verificar()"),
        on_primary,
        "the archive verifies the copy as the primary verifies the original"
    );

    // Changes after the subscription stream in: a tenant's user through
    // claims, maintenance (a new block, a time mark), and an event not
    // sealed yet.
    let mut app = db.connect();
    with_claims(
        &mut app,
        &claims("5f0c6d4e-1b7a-4c39-9a52-0d8e2f1a3b4c", TENANT, "admin"),
        "UPDATE t SET v = 'cambiado por la app' WHERE id = 3",
    );
    primary
        .batch_execute("INSERT INTO t VALUES (6, 'seis', NULL)")
        .unwrap();
    let mantenimiento = json(&mut primary, "audit.mantenimiento()");
    assert!(mantenimiento["marca_tiempo"].is_object(), "{mantenimiento}");
    primary.batch_execute("DELETE FROM t WHERE id = 6").unwrap();
    wait_until_applied(&mut primary, &archive);

    let streamed = same_on_both(&mut primary, &mut arch, EVENTOS);
    assert_eq!(streamed[..copied.len()], copied[..]);
    assert_eq!(streamed.len(), copied.len() + 3);
    same_on_both(&mut primary, &mut arch, BLOQUES);
    assert!(!same_on_both(&mut primary, &mut arch, MARCAS).is_empty());
    let on_primary = json(&mut primary, "audit.verificar()");
    assert_eq!(on_primary["valido"], Value::Bool(true), "{on_primary}");
    assert_eq!(on_primary["eventos_sin_sellar"], 1, "{on_primary}");
    assert_eq!(json(&mut arch, "audit.verificar()"), on_primary);
    // A digest taken on the primary, kept outside, checked on the archive.
    let digest = json(&mut primary, "audit.digest()");
    let checked = verify_with(&mut arch, &digest);
    assert_eq!(checked["valido"], Value::Bool(true), "{checked}");

    // The archive checks its own copy: a superuser there who switches the
    // guards off and changes or deletes a sealed event is found out. (In a
    // transaction rolled back afterwards: the rest of the test goes on
    // with the intact copy.)
    let target = count(
        &mut arch,
        "SELECT min(id) FROM audit.historial_cambios WHERE tabla_afectada = 't' AND accion = 'INSERT'",
    );
    {
        let mut tx = arch.transaction().unwrap();
        tx.batch_execute(
            "ALTER EVENT TRIGGER audit_al_terminar_ddl DISABLE;
             ALTER TABLE audit.historial_cambios DISABLE TRIGGER historial_cambios_solo_insercion;
             SAVEPOINT antes;",
        )
        .unwrap();
        tx.execute(
            "UPDATE audit.historial_cambios SET datos_nuevos = datos_nuevos || '{\"v\": \"otro\"}'
              WHERE id = $1",
            &[&target],
        )
        .unwrap();
        let altered = json(&mut tx, "audit.verificar()");
        assert_eq!(altered["valido"], Value::Bool(false), "{altered}");
        assert_eq!(
            altered["primer_error"]["problema"], "modificado",
            "{altered}"
        );
        assert_eq!(altered["primer_error"]["evento"], target, "{altered}");
        let against_digest = verify_with(&mut tx, &digest);
        assert_eq!(
            against_digest["valido"],
            Value::Bool(false),
            "{against_digest}"
        );
        tx.batch_execute("ROLLBACK TO SAVEPOINT antes").unwrap();
        tx.execute(
            "DELETE FROM audit.historial_cambios WHERE id = $1",
            &[&target],
        )
        .unwrap();
        let deleted = json(&mut tx, "audit.verificar()");
        assert_eq!(
            deleted["primer_error"]["problema"], "eliminado",
            "{deleted}"
        );
        assert_eq!(deleted["primer_error"]["evento"], target, "{deleted}");
        tx.rollback().unwrap();
    }
    assert_eq!(json(&mut arch, "audit.verificar()"), on_primary);
    assert_eq!(
        json(&mut primary, "audit.verificar()"),
        on_primary,
        "what was done on the archive stays there"
    );

    // Why the publication is insert-only: maintenance moves a month's
    // events out of the default partition with a DELETE, and PostgreSQL
    // refuses a DELETE on a table without a replica identity that some
    // publication publishes deletes of (55000) — maintenance would fail.
    {
        let mut tx = primary.transaction().unwrap();
        tx.batch_execute(
            "CREATE PUBLICATION audit_todo FOR TABLE audit.historial_cambios
                 WITH (publish_via_partition_root = true);
             SET LOCAL audit.operacion_interna = 'mover_eventos';",
        )
        .unwrap();
        assert_eq!(
            sqlstate(tx.execute(
                "DELETE FROM audit.historial_cambios_default WHERE false",
                &[]
            )),
            "55000"
        );
        tx.rollback().unwrap();
    }

    // Retention on the primary (audit.retencion_meses, applied by
    // maintenance) drops whole monthly partitions whose events are all
    // sealed: a DROP TABLE. Looked at from three months ahead, so that this
    // month is old enough to go. DDL is not replicated and an insert-only
    // publication sends no deletes: the archive keeps those events.
    primary.batch_execute("SELECT audit.sellar()").unwrap();
    wait_until_applied(&mut primary, &archive);
    let before = same_on_both(&mut primary, &mut arch, EVENTOS);
    let retencion = json(
        &mut primary,
        "audit._aplicar_retencion(1, now() + interval '3 months')",
    );
    let dropped: i64 = retencion["eliminadas"]
        .as_array()
        .map(|e| e.iter().filter_map(|p| p["eventos"].as_i64()).sum())
        .unwrap_or_default();
    assert_eq!(dropped as usize, before.len(), "{retencion}");
    // What retention records (its RETENCION events) and the next change
    // land in the primary's default partition, the month having none now;
    // maintenance recreates the month and moves them there (copy into a
    // table not yet attached, DELETE from the default partition, ATTACH),
    // then seals them. The copy is not published: the archive gets each
    // event once.
    primary
        .batch_execute("UPDATE t SET v = 'tras la retencion' WHERE id = 1")
        .unwrap();
    let waiting = count(
        &mut primary,
        "SELECT count(*) FROM audit.historial_cambios_default",
    );
    assert!(waiting >= 2, "RETENCION events and the UPDATE: {waiting}");
    let mantenimiento = json(&mut primary, "audit.mantenimiento()");
    assert!(
        mantenimiento["particiones_creadas"].as_i64() >= Some(1),
        "{mantenimiento}"
    );
    assert_eq!(
        count(
            &mut primary,
            "SELECT count(*) FROM audit.historial_cambios_default"
        ),
        0
    );
    wait_until_applied(&mut primary, &archive);

    let remaining = texts(&mut primary, EVENTOS);
    assert_eq!(remaining.len() as i64, waiting);
    let archived = texts(&mut arch, EVENTOS);
    assert_eq!(
        archived,
        [before.clone(), remaining].concat(),
        "the archive kept everything and got the new events once"
    );
    same_on_both(&mut primary, &mut arch, BLOQUES);
    // The primary accounts for what it purged; the archive, which still has
    // it all and was not sent audit.retenciones, verifies it all.
    let on_primary = json(&mut primary, "audit.verificar()");
    assert_eq!(on_primary["valido"], Value::Bool(true), "{on_primary}");
    assert_eq!(on_primary["eventos_purgados"], before.len(), "{on_primary}");
    assert_eq!(
        count(&mut arch, "SELECT count(*) FROM audit.retenciones"),
        0
    );
    let kept = json(&mut arch, "audit.verificar()");
    assert_eq!(kept["valido"], Value::Bool(true), "{kept}");
    assert_eq!(kept["eventos"], archived.len(), "{kept}");
    assert_eq!(kept["eventos_purgados"], 0, "{kept}");
    assert_eq!(kept["eventos_sin_sellar"], 0, "{kept}");
    assert_eq!(kept["bloques"], on_primary["bloques"], "{kept}");
    let digest = json(&mut primary, "audit.digest()");
    assert_eq!(verify_with(&mut arch, &digest)["valido"], Value::Bool(true));

    // Tearing down: dropping the subscription drops its slot on the
    // primary, or the test database could not be dropped.
    subscription.drop_now().unwrap();
    let mut admin = Client::connect(&conninfo("postgres", None), NoTls).unwrap();
    let slots: i64 = admin
        .query_one(
            "SELECT count(*) FROM pg_replication_slots WHERE database = $1",
            &[&db.name],
        )
        .unwrap()
        .get(0);
    assert_eq!(slots, 0, "the subscription's slot was left on the primary");
}
