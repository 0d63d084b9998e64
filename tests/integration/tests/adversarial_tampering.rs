//! Adversarial suite, tampering (SECURITY.md §4): a superuser is the only
//! one who can change the log, and only after switching the guards off
//! explicitly; what it changes in sealed events is found by
//! `audit.verificar()`, and what it rewrites consistently is found against
//! a digest kept outside. Sealing follows committed work across sessions.

use audit_integration_tests::{count, json, sqlstate_of, texts, verify_with, TestDb};
use serde_json::Value;

/// A database with an audited table, a few committed events, all sealed.
fn sealed(test: &str) -> TestDb {
    let db = TestDb::new(test);
    db.connect()
        .batch_execute(
            "CREATE TABLE t (id int PRIMARY KEY, v text, empresa_id uuid);
             SELECT audit.auditar('t');
             INSERT INTO t SELECT g, 'v' || g, 'a0000000-0000-4000-8000-00000000000a' FROM generate_series(1, 5) g;
             UPDATE t SET v = v || '!' WHERE id <= 2;
             DELETE FROM t WHERE id = 5;",
        )
        .unwrap();
    // (A batch is one transaction: sealing comes after the commit.)
    db.connect().batch_execute("SELECT audit.sellar()").unwrap();
    db
}

/// What a superuser has to do first to change the log at all.
const GUARDS_OFF: &str = "ALTER EVENT TRIGGER audit_al_terminar_ddl DISABLE;
     ALTER TABLE audit.historial_cambios DISABLE TRIGGER historial_cambios_solo_insercion;
     ALTER TABLE audit.historial_cambios DISABLE TRIGGER historial_cambios_sin_insercion;
     ALTER TABLE audit.bloques DISABLE TRIGGER bloques_solo_insercion;";

#[test]
fn a_superuser_cannot_change_the_log_while_the_guards_are_on() {
    let db = sealed("adv_x_guards");
    let mut su = db.connect();
    su.batch_execute(
        "SELECT audit._escribir_log_tecnico('ERROR', 'rollback', 'a failed restore', '{}');
         SELECT audit.guardar_config('mantenimiento', '{\"activo\": false}')",
    )
    .unwrap();
    let before = count(&mut su, "SELECT count(*) FROM audit.historial_cambios");
    for statement in [
        "UPDATE audit.historial_cambios SET usuario_nombre = 'otro'",
        "DELETE FROM audit.historial_cambios",
        "TRUNCATE audit.historial_cambios",
        "INSERT INTO audit.historial_cambios SELECT * FROM audit.historial_cambios",
        "SET session_replication_role = replica;
         INSERT INTO audit.historial_cambios_default (id, accion, transaccion, rol_bd) VALUES (-1, 'INSERT', 1, 'x')",
        "ALTER TABLE audit.historial_cambios DISABLE TRIGGER historial_cambios_sin_insercion",
        "DELETE FROM audit.bloques",
        "DELETE FROM audit.log_tecnico",
        "TRUNCATE audit.log_tecnico",
        "SET session_replication_role = replica; UPDATE audit.log_tecnico SET mensaje = ''",
        "ALTER TABLE audit.log_tecnico NO FORCE ROW LEVEL SECURITY",
        "DELETE FROM audit.config_versiones",
        "TRUNCATE audit.config_versiones",
        "SET session_replication_role = replica; UPDATE audit.config_versiones SET json_config = '{}'",
        "ALTER TABLE audit.config_versiones DISABLE TRIGGER config_versiones_solo_insercion",
        "ALTER TABLE audit.config_versiones NO FORCE ROW LEVEL SECURITY",
        "DROP POLICY misma_empresa ON audit.config_versiones",
        // session_replication_role skips ordinary triggers, not ENABLE ALWAYS ones.
        "SET session_replication_role = replica; DELETE FROM audit.historial_cambios",
        "SET session_replication_role = replica; UPDATE audit.bloques SET hash = NULL",
        // Switching a guard off is refused by the DDL guard.
        "ALTER TABLE audit.historial_cambios DISABLE TRIGGER historial_cambios_solo_insercion",
        "ALTER TABLE audit.historial_cambios DISABLE TRIGGER ALL",
        "ALTER TABLE audit.historial_cambios NO FORCE ROW LEVEL SECURITY",
        "DROP TRIGGER historial_cambios_solo_insercion ON audit.historial_cambios",
    ] {
        let state = sqlstate_of(su.batch_execute(statement));
        assert_ne!(state, "succeeded", "{statement}");
        su.batch_execute("RESET session_replication_role").unwrap();
    }
    assert_eq!(
        count(&mut su, "SELECT count(*) FROM audit.historial_cambios"),
        before
    );
    assert_eq!(
        count(
            &mut su,
            "SELECT count(*) FROM audit.log_tecnico WHERE mensaje = 'a failed restore'"
        ),
        1
    );
    assert_eq!(
        texts(
            &mut su,
            "SELECT json_config::text FROM audit.config_versiones"
        ),
        vec![r#"{"activo": false}"#]
    );
    assert_eq!(
        json(&mut su, "audit.verificar() -> 'valido'"),
        Value::Bool(true)
    );
}

#[test]
fn a_superuser_cannot_weaken_the_guards_by_replacing_them_or_in_replica_mode() {
    let db = sealed("adv_x_weaken");
    let mut su = db.connect();
    // Unsealed events, which only the guards protect.
    su.batch_execute("UPDATE t SET v = 'sin sellar' WHERE id = 1")
        .unwrap();
    let events = "SELECT string_agg(id || usuario_nombre IS NULL || accion || coalesce(datos_nuevos::text, ''), ',' ORDER BY id)
                    FROM audit.historial_cambios";
    let before = texts(&mut su, events);
    let triggers = "SELECT string_agg(tgenabled::text || ' ' || pg_get_triggerdef(oid), ',' ORDER BY tgrelid, tgname)
                      FROM pg_trigger WHERE tgrelid IN ('audit.historial_cambios'::regclass, 'audit.bloques'::regclass)";
    let guards = texts(&mut su, triggers);
    for statement in [
        // A guard replaced by one that never fires (or fires only in origin
        // mode: CREATE OR REPLACE resets ENABLE ALWAYS).
        "CREATE OR REPLACE TRIGGER historial_cambios_solo_insercion BEFORE UPDATE OR DELETE ON audit.historial_cambios
           FOR EACH ROW WHEN (false) EXECUTE FUNCTION audit._rechazar_modificacion()",
        "CREATE OR REPLACE TRIGGER historial_cambios_solo_insercion BEFORE UPDATE OR DELETE ON audit.historial_cambios
           FOR EACH ROW EXECUTE FUNCTION audit._rechazar_modificacion()",
        "CREATE OR REPLACE TRIGGER bloques_solo_insercion BEFORE UPDATE OR DELETE ON audit.bloques
           FOR EACH ROW WHEN (false) EXECUTE FUNCTION audit._rechazar_modificacion()",
        "CREATE OR REPLACE TRIGGER historial_cambios_sin_truncate BEFORE TRUNCATE ON audit.historial_cambios_default
           FOR EACH STATEMENT WHEN (false) EXECUTE FUNCTION audit._rechazar_modificacion()",
        // The DDL guard's event triggers fire in replica mode too.
        "SET session_replication_role = replica;
         ALTER TABLE audit.historial_cambios DISABLE TRIGGER historial_cambios_solo_insercion",
        "SET session_replication_role = replica; ALTER TABLE audit.historial_cambios DISABLE TRIGGER ALL",
        "SET session_replication_role = replica; ALTER TABLE audit.historial_cambios NO FORCE ROW LEVEL SECURITY",
        "SET session_replication_role = replica; ALTER TABLE audit.historial_cambios DROP COLUMN huella",
        "SET session_replication_role = replica; DROP TRIGGER bloques_solo_insercion ON audit.bloques",
        "SET session_replication_role = replica; ALTER TABLE audit.bloques DISABLE TRIGGER bloques_solo_insercion",
    ] {
        assert_eq!(sqlstate_of(su.batch_execute(statement)), "42501", "{statement}");
        su.batch_execute("RESET session_replication_role").unwrap();
    }
    assert_eq!(texts(&mut su, triggers), guards);
    for statement in [
        "UPDATE audit.historial_cambios SET usuario_nombre = 'otro'",
        "DELETE FROM audit.bloques",
    ] {
        assert_ne!(
            sqlstate_of(su.batch_execute(statement)),
            "succeeded",
            "{statement}"
        );
    }
    assert_eq!(texts(&mut su, events), before);
    assert_eq!(
        json(&mut su, "audit.verificar() -> 'valido'"),
        Value::Bool(true)
    );
}

#[test]
fn a_change_to_any_column_of_a_sealed_event_is_named() {
    let db = sealed("adv_x_columns");
    let mut su = db.connect();
    su.batch_execute(GUARDS_OFF).unwrap();
    let target = count(
        &mut su,
        "SELECT id FROM audit.historial_cambios WHERE accion = 'UPDATE' ORDER BY id LIMIT 1",
    );
    // One change per column, each in a transaction rolled back afterwards.
    let changes = [
        ("\"timestamp\"", "\"timestamp\" + interval '1 microsecond'"),
        ("usuario_id", "'00000000-0000-4000-8000-000000000001'"),
        ("usuario_nombre", "'otra persona'"),
        ("accion", "'INSERT'"),
        ("esquema", "'otro'"),
        ("tabla_afectada", "'otra'"),
        ("registro_id", "'00000000-0000-4000-8000-000000000002'"),
        ("registro_pk", "'{\"id\": 99}'"),
        ("datos_anteriores", "datos_anteriores || '{\"v\": \"v1 \"}'"),
        ("datos_nuevos", "datos_nuevos || '{\"v\": 1}'"),
        ("campos_modificados", "ARRAY['id']"),
        ("empresa_id", "'b0000000-0000-4000-8000-00000000000b'"),
        ("metadata", "'{\"motivo\": \"nada\"}'"),
        ("transaccion", "transaccion + 1"),
        ("rol_bd", "'otro_rol'"),
        ("aplicacion", "'otra app'"),
        ("ip_cliente", "'10.9.9.9'"),
        ("registro_id_anterior", "registro_id"),
        ("rol_sesion", "'otro_rol'"),
        ("usuario_externo", "'auth0|x'"),
        (
            "notas",
            "'{\"empresa_declarada\": \"b0000000-0000-4000-8000-00000000000b\"}'",
        ),
        ("huella", "NULL"),
    ];
    for (column, value) in changes {
        let mut tx = su.transaction().unwrap();
        tx.batch_execute(&format!(
            "UPDATE audit.historial_cambios SET {column} = {value} WHERE id = {target}"
        ))
        .unwrap();
        let text: String = tx
            .query_one("SELECT audit.verificar()::text", &[])
            .unwrap()
            .get(0);
        tx.rollback().unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["valido"], Value::Bool(false), "{column}: {v}");
        assert_eq!(
            v["primer_error"]["evento"],
            Value::from(target),
            "{column}: {v}"
        );
    }
    // A change with the event's hash recomputed is named all the same: the
    // block kept the original.
    su.batch_execute(&format!(
        "UPDATE audit.historial_cambios SET datos_nuevos = '{{\"id\": 1, \"v\": \"x\"}}' WHERE id = {target};
         UPDATE audit.historial_cambios h SET huella = audit._huella(h) WHERE id = {target};"
    ))
    .unwrap();
    let v = json(&mut su, "audit.verificar()");
    assert_eq!(v["primer_error"]["evento"], Value::from(target), "{v}");
    assert_eq!(v["primer_error"]["problema"], "modificado", "{v}");
}

#[test]
fn a_deleted_or_an_inserted_event_is_named() {
    let db = sealed("adv_x_rows");
    let mut su = db.connect();
    su.batch_execute(GUARDS_OFF).unwrap();
    let (first, last) = (
        count(&mut su, "SELECT min(id) FROM audit.historial_cambios"),
        count(&mut su, "SELECT max(id) FROM audit.historial_cambios"),
    );
    let middle = (first + last) / 2;
    let mut tx = su.transaction().unwrap();
    tx.batch_execute(&format!(
        "DELETE FROM audit.historial_cambios WHERE id = {middle}"
    ))
    .unwrap();
    let v: Value = serde_json::from_str(
        &tx.query_one("SELECT audit.verificar()::text", &[])
            .unwrap()
            .get::<_, String>(0),
    )
    .unwrap();
    tx.rollback().unwrap();
    assert_eq!(v["primer_error"]["evento"], Value::from(middle), "{v}");
    assert_eq!(v["primer_error"]["problema"], "eliminado", "{v}");

    // A forged event slipped into the sealed range, with a correct hash.
    su.batch_execute(&format!(
        "CREATE TEMP TABLE forjado AS SELECT * FROM audit.historial_cambios WHERE id = {middle};
         UPDATE forjado SET id = {middle} * 1000, datos_nuevos = '{{\"id\": 77}}';
         INSERT INTO audit.historial_cambios SELECT * FROM forjado;
         UPDATE audit.historial_cambios h SET huella = audit._huella(h) WHERE id = {middle} * 1000;"
    ))
    .unwrap();
    let v = json(&mut su, "audit.verificar()");
    assert_eq!(
        v["primer_error"]["evento"],
        Value::from(middle * 1000),
        "{v}"
    );
    assert_eq!(v["primer_error"]["problema"], "insertado", "{v}");
}

#[test]
fn cutting_off_the_latest_events_and_blocks_is_caught_by_a_digest_kept_outside() {
    let db = sealed("adv_x_tail");
    let mut su = db.connect();
    su.batch_execute("INSERT INTO t VALUES (6, 'delator')")
        .unwrap();
    su.batch_execute("SELECT audit.sellar()").unwrap();
    let digest = json(&mut su, "audit.digest()");
    // The superuser removes the last block and its events: what is left is
    // a consistent, shorter chain.
    su.batch_execute(GUARDS_OFF).unwrap();
    su.batch_execute(
        "DELETE FROM audit.historial_cambios
          WHERE transaccion > (SELECT xid_hasta FROM audit.bloques WHERE id < (SELECT max(id) FROM audit.bloques) ORDER BY id DESC LIMIT 1);
         DELETE FROM audit.bloques WHERE id = (SELECT max(id) FROM audit.bloques);",
    )
    .unwrap();
    assert_eq!(
        json(&mut su, "audit.verificar() -> 'valido'"),
        Value::Bool(true)
    );
    let v = verify_with(&mut su, &digest);
    assert_eq!(v["valido"], Value::Bool(false), "{v}");
}

#[test]
fn dropping_and_reinstalling_the_extension_is_caught_by_a_digest_kept_outside() {
    let db = sealed("adv_x_reinstall");
    let mut su = db.connect();
    let digest = json(&mut su, "audit.digest()");
    su.batch_execute(
        "DROP EXTENSION audit; CREATE EXTENSION audit; SELECT audit.auditar('t');
         INSERT INTO t VALUES (9, 'despues');",
    )
    .unwrap();
    su.batch_execute("SELECT audit.sellar()").unwrap();
    let v = verify_with(&mut su, &digest);
    assert_eq!(v["valido"], Value::Bool(false), "{v}");
}

#[test]
fn sealing_waits_for_a_long_transaction_and_never_skips_it() {
    let db = sealed("adv_x_long");
    let mut long = db.connect();
    let mut others = db.connect();
    let mut tx = long.transaction().unwrap();
    tx.batch_execute("INSERT INTO t VALUES (100, 'larga')")
        .unwrap();
    let held_by: i64 = tx.query_one("SELECT txid_current()", &[]).unwrap().get(0);
    others
        .batch_execute(
            "INSERT INTO t VALUES (101, 'despues'); INSERT INTO t VALUES (102, 'despues')",
        )
        .unwrap();
    let report = json(&mut others, "audit.sellar()");
    assert_eq!(
        report["retenido_por"]["transaccion"]["xid"],
        Value::from(held_by.to_string()),
        "sellar names what holds it back: {report}"
    );
    // Events committed after the long transaction began wait with it.
    let unsealed = json(&mut others, "audit.verificar() -> 'eventos_sin_sellar'");
    assert_eq!(unsealed, Value::from(2), "{report}");
    tx.commit().unwrap();
    let report = json(&mut others, "audit.sellar()");
    assert_eq!(report["eventos_sellados"], Value::from(3), "{report}");
    let v = json(&mut others, "audit.verificar()");
    assert_eq!(v["valido"], Value::Bool(true), "{v}");
    assert_eq!(v["eventos_sin_sellar"], Value::from(0), "{v}");
}
