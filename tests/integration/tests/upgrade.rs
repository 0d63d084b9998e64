//! Upgrades: `ALTER EXTENSION audit UPDATE` from every released version
//! (the frozen install scripts in sql/) must leave exactly what a fresh
//! install of the current version creates, and carry the log forward.
//!
//! For each released version: install it, put real history in it (capture
//! in every mode, an application event, configuration versions, a module
//! mark, sealed blocks), update, then compare the extension's catalog
//! (tables, columns, indexes, constraints, functions with their settings and
//! bodies, policies, triggers, event triggers, types, sequences, grants,
//! comments, membership) with a fresh install's, object by object, and check
//! that the history verifies, ids continue, and capture, reading and restore
//! work. A missing upgrade script fails the update; a script that leaves
//! anything different fails the comparison, naming what differs.

use audit_integration_tests::{count, json, texts, TestDb};
use postgres::Client;
use std::collections::BTreeSet;

/// One line per object of the extension, independent of OIDs, of the data
/// and of the date (the log's monthly partitions are left out: their names
/// follow the month of the install).
const CATALOG: &str = r#"
WITH ns AS (SELECT oid FROM pg_namespace WHERE nspname = 'audit'),
     ext AS (SELECT oid FROM pg_extension WHERE extname = 'audit'),
     rels AS (
        SELECT c.* FROM pg_class c
         WHERE c.relnamespace = (SELECT oid FROM ns)
           AND NOT c.relispartition
           AND NOT EXISTS (SELECT 1 FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
                            WHERE i.indexrelid = c.oid AND t.relispartition)),
     lines AS (
        SELECT format('schema acl=%s owner=%s', n.nspacl, n.nspowner::regrole) AS l
          FROM pg_namespace n WHERE n.oid = (SELECT oid FROM ns)
        UNION ALL
        SELECT format('relation %s kind=%s persistence=%s rls=%s/%s options=%s acl=%s owner=%s replident=%s partkey=%s comment=%s',
                      c.relname, c.relkind, c.relpersistence, c.relrowsecurity, c.relforcerowsecurity,
                      c.reloptions, c.relacl, c.relowner::regrole, c.relreplident,
                      pg_get_partkeydef(c.oid), obj_description(c.oid, 'pg_class'))
          FROM rels c
        UNION ALL
        SELECT format('column %s.%s #%s %s notnull=%s default=%s identity=%s generated=%s acl=%s comment=%s',
                      c.relname, a.attname,
                      row_number() OVER (PARTITION BY c.oid ORDER BY a.attnum),
                      format_type(a.atttypid, a.atttypmod), a.attnotnull,
                      pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attgenerated, a.attacl,
                      col_description(c.oid, a.attnum))
          FROM rels c
          JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
          LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
        UNION ALL
        SELECT format('index %s', pg_get_indexdef(c.oid)) FROM rels c WHERE c.relkind IN ('i', 'I')
        UNION ALL
        SELECT format('constraint %s on %s: %s', k.conname, c.relname, pg_get_constraintdef(k.oid))
          FROM pg_constraint k JOIN rels c ON c.oid = k.conrelid
        UNION ALL
        SELECT format('trigger %s enabled=%s', pg_get_triggerdef(t.oid), t.tgenabled)
          FROM pg_trigger t JOIN rels c ON c.oid = t.tgrelid WHERE NOT t.tgisinternal
        UNION ALL
        SELECT format('policy %s on %s cmd=%s permissive=%s roles=%s using=%s check=%s',
                      p.polname, c.relname, p.polcmd, p.polpermissive, p.polroles::regrole[],
                      pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid))
          FROM pg_policy p JOIN rels c ON c.oid = p.polrelid
        UNION ALL
        SELECT format('view %s: %s', c.relname, pg_get_viewdef(c.oid)) FROM rels c WHERE c.relkind IN ('v', 'm')
        UNION ALL
        SELECT format('sequence %s start=%s increment=%s min=%s max=%s cache=%s cycle=%s',
                      c.relname, s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcache, s.seqcycle)
          FROM pg_sequence s JOIN rels c ON c.oid = s.seqrelid
        UNION ALL
        SELECT format('function %s(%s) returns %s lang=%s kind=%s volatile=%s strict=%s secdef=%s parallel=%s leakproof=%s cost=%s rows=%s config=%s acl=%s owner=%s body=%s comment=%s',
                      p.proname, pg_get_function_arguments(p.oid), pg_get_function_result(p.oid),
                      l.lanname, p.prokind, p.provolatile, p.proisstrict, p.prosecdef, p.proparallel,
                      p.proleakproof, p.procost, p.prorows, p.proconfig, p.proacl, p.proowner::regrole,
                      md5(p.prosrc), obj_description(p.oid, 'pg_proc'))
          FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
         WHERE p.pronamespace = (SELECT oid FROM ns)
        UNION ALL
        SELECT format('type %s kind=%s acl=%s', t.typname, t.typtype, t.typacl)
          FROM pg_type t
         WHERE t.typnamespace = (SELECT oid FROM ns)
           AND NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = t.typrelid AND c.relispartition)
           AND NOT EXISTS (SELECT 1 FROM pg_type e JOIN pg_class c ON c.oid = e.typrelid
                            WHERE e.oid = t.typelem AND t.typcategory = 'A' AND c.relispartition)
        UNION ALL
        SELECT format('event trigger %s on %s function=%s enabled=%s tags=%s',
                      e.evtname, e.evtevent, e.evtfoid::regproc, e.evtenabled, e.evttags)
          FROM pg_event_trigger e
          JOIN pg_proc p ON p.oid = e.evtfoid
         WHERE p.pronamespace = (SELECT oid FROM ns)
        UNION ALL
        SELECT format('extension config %s', x.cfg)
          FROM (SELECT unnest(extconfig)::regclass::text AS cfg FROM pg_extension WHERE oid = (SELECT oid FROM ext)) x
        UNION ALL
        SELECT format('member %s', pg_describe_object(d.classid, d.objid, d.objsubid))
          FROM pg_depend d
         WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = (SELECT oid FROM ext)
           AND d.deptype = 'e'
           AND NOT (d.classid = 'pg_class'::regclass AND EXISTS (
                    SELECT 1 FROM pg_class c
                     WHERE c.oid = d.objid
                       AND (c.relispartition OR EXISTS (
                            SELECT 1 FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
                             WHERE i.indexrelid = c.oid AND t.relispartition))))
           AND NOT (d.classid = 'pg_type'::regclass AND EXISTS (
                    SELECT 1 FROM pg_type t JOIN pg_class c ON c.oid = t.typrelid
                     WHERE t.oid = d.objid AND c.relispartition))
     )
SELECT l FROM lines ORDER BY l
"#;

fn catalog(c: &mut Client) -> BTreeSet<String> {
    texts(c, CATALOG).into_iter().collect()
}

/// The versions this build can update from: every install script in the
/// extension directory but the default version's.
fn released(c: &mut Client) -> Vec<String> {
    texts(
        c,
        "SELECT v.version FROM pg_available_extension_versions v
           JOIN pg_available_extensions a ON a.name = v.name
          WHERE v.name = 'audit' AND v.version <> a.default_version
          ORDER BY string_to_array(v.version, '.')::int[]",
    )
}

/// History of every kind, written by the old version.
fn fill(c: &mut Client) {
    c.batch_execute(
        r#"CREATE TABLE t_fila (id int PRIMARY KEY, v text, empresa_id uuid);
           CREATE TABLE t_sentencia (id int PRIMARY KEY, v text);
           CREATE TABLE t_wal (id int PRIMARY KEY, v text);
           SELECT audit.auditar('t_fila');
           SELECT audit.auditar('t_sentencia', '{"captura": "sentencia"}');"#,
    )
    .unwrap();
    // In a transaction of its own: it creates the database's capture slot.
    c.batch_execute(r#"SELECT audit.auditar('t_wal', '{"captura": "wal"}')"#)
        .unwrap();
    c.batch_execute(
        r#"SET audit.usuario_nombre = 'Ana';
           SET audit.empresa_id = 'e0000000-0000-4000-8000-00000000000a';
           INSERT INTO t_fila VALUES (1, 'a', 'e0000000-0000-4000-8000-00000000000a'),
                                     (2, 'b', 'e0000000-0000-4000-8000-00000000000a');
           UPDATE t_fila SET v = 'a2' WHERE id = 1;
           INSERT INTO t_sentencia SELECT g, 's' || g FROM generate_series(1, 5) g;
           DELETE FROM t_sentencia WHERE id = 5;
           INSERT INTO t_wal VALUES (1, 'w');
           UPDATE t_wal SET v = 'w2';
           SELECT audit.registrar_evento('REEMPLAZO_ARCHIVO', '{"archivo": "contrato.pdf"}', 't_fila');
           SELECT audit.guardar_config('smtp', '{"host": "smtp.example.com", "port": 587, "remitente": "a@example.com"}', 'inicial');
           SELECT audit.guardar_config('smtp', '{"host": "mail.example.com", "port": 465, "remitente": "a@example.com"}', 'cambio');
           SELECT audit.crear_modulo('tienda', ARRAY['t_fila', 't_sentencia']::regclass[]);
           SELECT audit.crear_marca('tienda', 'antes');
           UPDATE t_fila SET v = 'b2' WHERE id = 2;"#,
    )
    .unwrap();
    // After the commit of the statements above (a batch of statements is
    // one transaction): the capture from the WAL applies committed work.
    c.batch_execute("SELECT audit.esperar_captura('30 seconds')")
        .unwrap();
    let sealed = json(c, "audit.sellar()");
    assert!(
        sealed["eventos_sellados"].as_i64().unwrap_or(0) > 0,
        "{sealed}"
    );
}

#[test]
fn updating_from_every_released_version_equals_a_fresh_install() {
    let fresh = TestDb::new("upgrade_fresh");
    let mut f = fresh.connect();
    let versions = released(&mut f);
    assert!(
        !versions.is_empty(),
        "no released version to update from: sql/ must hold the frozen install scripts"
    );
    let expected = catalog(&mut f);
    for version in versions {
        let old = TestDb::with_version(
            &format!("upgrade_from_{}", version.replace('.', "_")),
            Some(&version),
        );
        let mut c = old.connect();
        fill(&mut c);
        let last_before = count(&mut c, "SELECT max(id) FROM audit.historial_cambios");

        c.batch_execute("ALTER EXTENSION audit UPDATE")
            .unwrap_or_else(|e| {
                let why = e
                    .as_db_error()
                    .map_or(e.to_string(), |d| d.message().to_owned());
                panic!("ALTER EXTENSION audit UPDATE from {version}: {why}")
            });
        let now: String = c
            .query_one(
                "SELECT extversion FROM pg_extension WHERE extname = 'audit'",
                &[],
            )
            .unwrap()
            .get(0);
        let default: String = f
            .query_one(
                "SELECT extversion FROM pg_extension WHERE extname = 'audit'",
                &[],
            )
            .unwrap()
            .get(0);
        assert_eq!(now, default, "the update from {version} stopped short");

        // The catalog, object by object.
        let updated = catalog(&mut c);
        let missing: Vec<&String> = expected.difference(&updated).collect();
        let extra: Vec<&String> = updated.difference(&expected).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "updating from {version} does not give a fresh install.\n\
             only in a fresh install:\n  {}\nonly after the update:\n  {}",
            missing
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("\n  "),
            extra
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("\n  ")
        );

        // The history carried forward verifies, and ids continue.
        let valid = json(&mut c, "audit.verificar() -> 'valido'");
        assert_eq!(
            valid,
            serde_json::Value::Bool(true),
            "verificar after the update from {version}"
        );
        c.batch_execute(
            r#"INSERT INTO t_fila VALUES (3, 'c', 'e0000000-0000-4000-8000-00000000000a');
               INSERT INTO t_sentencia VALUES (6, 's6');
               INSERT INTO t_wal VALUES (2, 'w');"#,
        )
        .unwrap();
        c.batch_execute("SELECT audit.esperar_captura('30 seconds')")
            .unwrap();
        let after = texts(
            &mut c,
            &format!(
                "SELECT tabla_afectada || ' ' || accion FROM audit.historial_cambios
                  WHERE id > {last_before} AND accion <> 'DDL' ORDER BY tabla_afectada"
            ),
        );
        assert_eq!(
            after,
            ["t_fila INSERT", "t_sentencia INSERT", "t_wal INSERT"],
            "capture after the update from {version}"
        );

        // Reading, old events and new, through the new version's functions.
        let page = count(
            &mut c,
            r#"SELECT count(*) FROM audit.get_historial_cambios('{"tabla": "t_fila", "limite": 100}')"#,
        );
        // 3 inserts, 2 updates, auditar's DDL event and the application event.
        assert_eq!(page, 7);
        let evento = texts(
            &mut c,
            r#"SELECT tipo_operacion || ' ' || (metadata ->> 'archivo')
                 FROM audit.historial_plano('{"accion": "EVENTO"}')"#,
        );
        assert_eq!(evento, ["REEMPLAZO_ARCHIVO contrato.pdf"]);

        // Restore: the module back to its mark, a configuration version.
        let rollback = json(&mut c, "audit.revertir_modulo('tienda', 'antes')");
        assert_eq!(
            rollback["aplicado"],
            serde_json::Value::Bool(true),
            "{rollback}"
        );
        assert_eq!(
            texts(&mut c, "SELECT v FROM t_fila ORDER BY id"),
            ["a2", "b"],
            "the rollback to the mark taken before version {version}'s update"
        );
        let restored = json(
            &mut c,
            "audit.restaurar_config((SELECT min(id_version) FROM audit.config_versiones))",
        );
        assert_eq!(
            restored["aplicado"],
            serde_json::Value::Bool(true),
            "{restored}"
        );
        let valid = json(&mut c, "audit.verificar() -> 'valido'");
        assert_eq!(valid, serde_json::Value::Bool(true));
    }
}
