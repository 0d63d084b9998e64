//! Alert rules (`audit.alertas`): an event that matches a rule sends
//! `NOTIFY` on the rule's channel, with the event's id, when its
//! transaction commits (src/alertas.rs). Real sessions: a listener, a
//! writer, an administrator changing the rules while the writer's backend
//! keeps them cached.

use audit_integration_tests::{count, sqlstate_of, TestDb, TestRole};
use postgres::fallible_iterator::FallibleIterator;
use postgres::Client;
use serde_json::Value;
use std::time::Duration;

/// The notifications the listener has received, as (channel, event id),
/// waiting up to a second after the last one.
fn received(listener: &mut Client) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    let mut notifications = listener.notifications();
    let mut it = notifications.timeout_iter(Duration::from_secs(1));
    while let Some(n) = it.next().unwrap() {
        let payload: Value = serde_json::from_str(n.payload()).unwrap();
        out.push((n.channel().to_owned(), payload["evento"].as_i64().unwrap()));
    }
    out
}

fn last_event(c: &mut Client, tabla: &str, accion: &str) -> i64 {
    count(
        c,
        &format!(
            "SELECT max(id) FROM audit.historial_cambios WHERE tabla_afectada = '{tabla}' AND accion = '{accion}'"
        ),
    )
}

#[test]
fn matching_events_notify_their_channel_at_commit_with_their_id() {
    let db = TestDb::new("alertas");
    let mut admin = db.connect();
    admin
        .batch_execute(
            r#"CREATE TABLE productos (id int PRIMARY KEY, nombre text, precio numeric, empresa_id uuid);
               CREATE TABLE usuarios (id int PRIMARY KEY, nombre text, rol text);
               CREATE TABLE movimientos (id int PRIMARY KEY, cantidad int);
               SELECT audit.auditar('productos');
               SELECT audit.auditar('usuarios');
               INSERT INTO audit.alertas (canal, tabla, accion, campo, descripcion)
                    VALUES ('precios', 'productos', 'UPDATE', 'precio', 'a price changed'),
                           ('roles', 'public.usuarios', 'UPDATE', 'rol', 'a role changed');
               INSERT INTO audit.alertas (canal, accion, tipo_operacion, descripcion)
                    VALUES ('documentos', 'EVENTO', 'REEMPLAZO_ARCHIVO', 'a document replaced');"#,
        )
        .unwrap();
    admin
        .batch_execute(r#"SELECT audit.auditar('movimientos', '{"captura": "wal"}')"#)
        .unwrap();
    let mut listener = db.connect();
    listener
        .batch_execute("LISTEN precios; LISTEN roles; LISTEN documentos; LISTEN todo")
        .unwrap();
    let mut writer = db.connect();
    writer
        .batch_execute(
            "INSERT INTO productos VALUES (1, 'Laptop', 1000, 'e0000000-0000-4000-8000-00000000000a');
             INSERT INTO usuarios VALUES (1, 'Ana', 'vendedor');
             UPDATE productos SET nombre = 'Laptop Gamer';",
        )
        .unwrap();
    // Nothing matched: inserts, and a change of another column.
    assert_eq!(received(&mut listener), []);
    // A rolled-back change notifies nothing.
    writer
        .batch_execute("BEGIN; UPDATE productos SET precio = 1; ROLLBACK;")
        .unwrap();
    assert_eq!(received(&mut listener), []);

    writer
        .batch_execute(
            "UPDATE productos SET precio = 1200, nombre = 'Laptop G.';
             UPDATE usuarios SET rol = 'admin';
             SELECT audit.registrar_evento('REEMPLAZO_ARCHIVO', '{\"archivo\": \"contrato.pdf\"}', 'productos');
             SELECT audit.registrar_evento('VERSION_OBSOLETA', '{}', 'productos');",
        )
        .unwrap();
    let precio = last_event(&mut admin, "productos", "UPDATE");
    let rol = last_event(&mut admin, "usuarios", "UPDATE");
    let documento = count(
        &mut admin,
        "SELECT id FROM audit.historial_cambios WHERE metadata ->> 'tipo_operacion' = 'REEMPLAZO_ARCHIVO'",
    );
    let mut got = received(&mut listener);
    got.sort();
    assert_eq!(
        got,
        [
            ("documentos".to_owned(), documento),
            ("precios".to_owned(), precio),
            ("roles".to_owned(), rol),
        ]
    );

    // A rule added now reaches the writer's backend, which had the rules
    // cached, at its next transaction.
    admin
        .batch_execute("INSERT INTO audit.alertas (canal, tabla) VALUES ('todo', 'usuarios')")
        .unwrap();
    writer
        .batch_execute("UPDATE usuarios SET nombre = 'Ana M.'")
        .unwrap();
    let nombre = last_event(&mut admin, "usuarios", "UPDATE");
    assert_eq!(received(&mut listener), [("todo".to_owned(), nombre)]);
    // And a rule removed no longer fires.
    admin
        .batch_execute("DELETE FROM audit.alertas WHERE canal = 'todo'")
        .unwrap();
    writer
        .batch_execute("UPDATE usuarios SET nombre = 'Ana María'")
        .unwrap();
    assert_eq!(received(&mut listener), []);

    // Row changes carry their transaction's context as metadata: a rule on
    // its tipo_operacion matches them (as the tipo_operacion filter does).
    admin
        .batch_execute("INSERT INTO audit.alertas (canal, tipo_operacion, accion) VALUES ('todo', 'IMPORTACION', 'INSERT')")
        .unwrap();
    writer
        .batch_execute(
            r#"BEGIN;
               SELECT audit.establecer_contexto('{"tipo_operacion": "IMPORTACION"}');
               INSERT INTO productos VALUES (2, 'Mouse', 20, NULL);
               COMMIT;
               INSERT INTO productos VALUES (3, 'Teclado', 30, NULL);"#,
        )
        .unwrap();
    let importado = count(
        &mut admin,
        "SELECT id FROM audit.historial_cambios WHERE tabla_afectada = 'productos' AND registro_pk = '{\"id\": 2}'",
    );
    assert_eq!(received(&mut listener), [("todo".to_owned(), importado)]);
    admin
        .batch_execute("DELETE FROM audit.alertas WHERE canal = 'todo'")
        .unwrap();

    // Captured from the WAL: notified when the capture worker's batch
    // commits, with the id the event has in the log.
    admin
        .batch_execute("INSERT INTO audit.alertas (canal, tabla, accion) VALUES ('todo', 'movimientos', 'INSERT')")
        .unwrap();
    writer
        .batch_execute("INSERT INTO movimientos VALUES (1, 5)")
        .unwrap();
    writer
        .batch_execute("SELECT audit.esperar_captura('30 seconds')")
        .unwrap();
    let movimiento = last_event(&mut admin, "movimientos", "INSERT");
    assert_eq!(received(&mut listener), [("todo".to_owned(), movimiento)]);
}

#[test]
fn alert_rules_are_managed_by_the_roles_granted_and_checked() {
    let db = TestDb::new("alertas_admin");
    let gestor = TestRole::new(&db, "gestor");
    let mut admin = db.connect();
    // The one table of the extension a DBA may grant writes on.
    admin
        .batch_execute(&format!(
            "GRANT SELECT, INSERT, UPDATE, DELETE ON audit.alertas TO {}",
            gestor.name
        ))
        .unwrap();
    let mut g = db.connect_as(&gestor.name);
    g.batch_execute("INSERT INTO audit.alertas (canal, tabla, accion) VALUES ('precios', 'ventas.productos', 'UPDATE')")
        .unwrap();
    // Checked: a channel that LISTEN could not name unquoted, an action the
    // log does not have (23514), a tabla that is not a table name (22023).
    for (sql, state) in [
        (
            "INSERT INTO audit.alertas (canal) VALUES ('Precios Nuevos')",
            "23514",
        ),
        (
            "INSERT INTO audit.alertas (canal, accion) VALUES ('x', 'insertar')",
            "23514",
        ),
        (
            "INSERT INTO audit.alertas (canal, tabla) VALUES ('x', 'a.b.c')",
            "22023",
        ),
        (
            "UPDATE audit.alertas SET tabla = '' WHERE canal = 'precios'",
            "22023",
        ),
    ] {
        assert_eq!(sqlstate_of(g.batch_execute(sql)), state, "{sql}");
    }
    assert_eq!(count(&mut g, "SELECT count(*) FROM audit.alertas"), 1);
    // Other roles: nothing (the rules say what is watched, and where).
    let otro = TestRole::new(&db, "otro");
    let mut o = db.connect_as(&otro.name);
    assert_eq!(
        sqlstate_of(o.batch_execute("SELECT * FROM audit.alertas")),
        "42501"
    );
    assert_eq!(
        sqlstate_of(o.batch_execute("INSERT INTO audit.alertas (canal) VALUES ('x')")),
        "42501"
    );
    // Other tables of the extension still take no writes by grant.
    assert_eq!(
        sqlstate_of(admin.batch_execute(&format!(
            "GRANT INSERT ON audit.tablas_config TO {}",
            gestor.name
        ))),
        "42501"
    );
    admin
        .batch_execute(&format!("REVOKE ALL ON audit.alertas FROM {}", gestor.name))
        .unwrap();
}
