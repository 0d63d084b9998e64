//! pg_dump and restore keep the history, the options and the auditing itself.

use audit_integration_tests::{conninfo, restored_copy, texts, TestDb};

#[test]
fn dump_and_restore_keep_history_options_and_capture() {
    let source = TestDb::new("dump_origen");
    let mut c = source.connect();
    c.batch_execute(
        "CREATE TABLE productos (id int PRIMARY KEY, nombre text, costo numeric);
         SELECT audit.auditar('productos', '{\"excluir_columnas\": [\"costo\"]}');
         CREATE TABLE a_mano (id int PRIMARY KEY);
         CREATE TRIGGER on_a_mano_change AFTER INSERT OR UPDATE OR DELETE ON a_mano
             FOR EACH ROW EXECUTE FUNCTION audit.registrar_cambio();
         INSERT INTO productos VALUES (1, 'Laptop', 10.5), (2, 'Mouse', 1.25);
         UPDATE productos SET nombre = 'Laptop Gamer' WHERE id = 1;
         INSERT INTO a_mano VALUES (1);
         SELECT audit.registrar_evento('ANTES_DEL_DUMP', '{\"n\": 123456789012345678901234567890.5}');
         SELECT audit.definir_tipo_config('smtp', '{\"type\": \"object\"}', '{password}', 'redefinido');
         SELECT audit.definir_tipo_config('propio', NULL, '{clave}');
         SELECT audit.guardar_config('smtp', '{\"host\": \"uno\", \"password\": \"p1\"}');
         SELECT audit.guardar_config('smtp', '{\"host\": \"dos\", \"password\": \"p2\"}');
         SELECT audit.restaurar_config(1);
         INSERT INTO audit.alertas (canal, tabla) VALUES ('cambios_productos', 'productos');",
    )
    .unwrap();
    let history = |c: &mut postgres::Client| -> Vec<String> {
        c.query(
            "SELECT concat_ws('|', id, \"timestamp\", accion, tabla_afectada, registro_id, registro_pk, datos_anteriores,
                              datos_nuevos, campos_modificados, metadata, transaccion, rol_bd)
               FROM audit.historial_cambios ORDER BY id",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
    };
    let before = history(&mut c);
    assert!(before.len() >= 6);
    // Configuration: the installation's types (a shipped one redefined) and
    // the versions, whose restore points back at an earlier version.
    let config = |c: &mut postgres::Client| -> Vec<String> {
        c.query(
            "SELECT concat_ws('|', tipo, origen, esquema_json, campos_secretos, descripcion) FROM audit.tipos_config
             UNION ALL
             SELECT concat_ws('|', id_version, tipo, json_config, restaurada_desde, version_anterior) FROM audit.config_versiones
             ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
    };
    let config_before = config(&mut c);
    assert_eq!(config_before.len(), 5 + 3, "{config_before:?}");

    let target = restored_copy(&source, "dump_destino");

    let mut t = postgres::Client::connect(&conninfo(&target.name, None), postgres::NoTls).unwrap();
    assert_eq!(
        history(&mut t),
        before,
        "the history comes back exactly, ids and all"
    );
    assert_eq!(
        config(&mut t),
        config_before,
        "types and versions come back"
    );
    // The alert rules come back, and the next one gets a new id.
    t.batch_execute("INSERT INTO audit.alertas (canal) VALUES ('todo')")
        .unwrap();
    assert_eq!(
        texts(
            &mut t,
            "SELECT string_agg(canal, ' ' ORDER BY id) FROM audit.alertas"
        ),
        ["cambios_productos todo"]
    );
    t.batch_execute("SELECT audit.guardar_config('smtp', '{\"host\": \"tres\"}')")
        .unwrap();
    assert_eq!(
        t.query_one(
            "SELECT version_anterior FROM audit.config_versiones ORDER BY id_version DESC LIMIT 1",
            &[]
        )
        .unwrap()
        .get::<_, Option<i64>>(0),
        Some(3),
        "the next save builds on the restored line of versions"
    );
    // Restoring fired no capture (triggers are created after the data).
    let opts: String = t
        .query_one(
            "SELECT opciones::text FROM audit.tablas_config WHERE tabla = 'productos'::regclass",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(opts.contains("\"costo\""), "{opts}");
    // Capture goes on, with the restored options, and ids continue.
    t.batch_execute("UPDATE productos SET nombre = 'Mouse Pro', costo = 2 WHERE id = 2; INSERT INTO a_mano VALUES (2);")
        .unwrap();
    let row = t
        .query_one(
            "SELECT id > (SELECT max(id) FROM audit.historial_cambios WHERE accion = 'EVENTO'), datos_nuevos ? 'costo'
               FROM audit.historial_cambios WHERE accion = 'UPDATE' ORDER BY id DESC LIMIT 1",
            &[],
        )
        .unwrap();
    assert!(
        row.get::<_, bool>(0),
        "ids continue after the restored ones"
    );
    assert!(!row.get::<_, bool>(1), "the excluded column stays excluded");
    // Each table has its TRUNCATE capture back, once: restoring the row
    // trigger did not add a second one next to the dump's.
    t.batch_execute("TRUNCATE productos, a_mano").unwrap();
    let truncates = texts(
        &mut t,
        "SELECT tabla_afectada FROM audit.historial_cambios WHERE accion = 'TRUNCATE' ORDER BY 1",
    );
    assert_eq!(truncates, ["a_mano", "productos"]);
    // The restored hand-attached trigger is tied to the extension again, so
    // DROP EXTENSION still removes it.
    t.batch_execute("DROP EXTENSION audit").unwrap();
    let left: i64 = t
        .query_one("SELECT count(*) FROM pg_trigger WHERE tgrelid IN ('productos'::regclass, 'a_mano'::regclass) AND NOT tgisinternal", &[])
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
}
