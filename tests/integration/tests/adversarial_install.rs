//! Adversarial suite, installation (SECURITY.md §1): the extension's code
//! cannot be redirected through a hostile search_path, cannot be installed
//! into a schema someone prepared, and its install script and catalog carry
//! none of the known extension-script hazards.

use audit_integration_tests::{count, sqlstate_of, TestDb, TestRole};
use postgres::{Client, NoTls};

#[test]
fn every_function_pins_its_search_path_and_none_runs_as_its_definer() {
    let db = TestDb::new("adv_i_catalog");
    let mut c = db.connect();
    assert!(
        count(
            &mut c,
            "SELECT count(*) FROM pg_proc WHERE pronamespace = 'audit'::regnamespace"
        ) > 20
    );
    let unpinned: Vec<String> = c
        .query(
            "SELECT oid::regprocedure::text FROM pg_proc
              WHERE pronamespace = 'audit'::regnamespace
                AND NOT coalesce('search_path=pg_catalog, pg_temp' = ANY (proconfig), false)",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(unpinned.is_empty(), "{unpinned:?}");
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM pg_proc WHERE pronamespace = 'audit'::regnamespace AND prosecdef"
        ),
        0
    );
    // A view that reads the log must run as its caller, or it would read
    // around row-level security. (audit.tablas_auditadas reads only the
    // options, no events.)
    let definer_views = count(
        &mut c,
        "SELECT count(*) FROM pg_class v
           JOIN pg_rewrite r ON r.ev_class = v.oid
           JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
          WHERE v.relkind = 'v' AND d.refobjid = 'audit.historial_cambios'::regclass
            AND NOT coalesce('security_invoker=true' = ANY (v.reloptions), false)",
    );
    assert_eq!(definer_views, 0);
    // RLS is on and forced on the log; nothing in schema audit is writable by PUBLIC.
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM pg_class WHERE oid = 'audit.historial_cambios'::regclass AND relrowsecurity AND relforcerowsecurity"
        ),
        1
    );
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM pg_class c WHERE relnamespace = 'audit'::regnamespace AND relkind IN ('r', 'p', 'S')
                AND (has_table_privilege('public', c.oid, 'INSERT') OR has_table_privilege('public', c.oid, 'UPDATE')
                     OR has_table_privilege('public', c.oid, 'DELETE') OR has_table_privilege('public', c.oid, 'TRUNCATE'))"
        ),
        0
    );
    assert_eq!(
        count(&mut c, "SELECT count(*) FROM pg_namespace WHERE nspname = 'audit' AND has_schema_privilege('public', oid, 'CREATE')"),
        0
    );
}

#[test]
fn the_installed_script_has_no_replaceable_or_conditional_objects() {
    let db = TestDb::new("adv_i_script");
    let sharedir: String = db
        .connect()
        .query_one("SELECT setting FROM pg_config WHERE name = 'SHAREDIR'", &[])
        .unwrap()
        .get(0);
    let script = std::fs::read_to_string(format!("{sharedir}/extension/audit--0.1.0.sql"))
        .expect("the install script is readable on the test host");
    // (Comments may name the hazards; only statements count.)
    let upper: String = script
        .lines()
        .map(|l| l.split("--").next().unwrap_or_default().to_uppercase() + "\n")
        .collect();
    for hazard in [
        "CREATE OR REPLACE",
        "IF NOT EXISTS",
        "\"@EXTSCHEMA@\"",
        "'@EXTSCHEMA@'",
    ] {
        assert!(
            !upper.contains(hazard),
            "the install script contains {hazard}"
        );
    }
}

#[test]
fn shadowing_functions_and_operators_in_the_search_path_are_never_called() {
    let db = TestDb::new("adv_i_shadow");
    let evil = TestRole::new(&db, "evil");
    let mut su = db.connect();
    su.batch_execute(&format!(
        "CREATE SCHEMA trampa AUTHORIZATION {e};
         CREATE TABLE t (id int PRIMARY KEY, v text, empresa_id uuid);
         SELECT audit.auditar('t');
         GRANT ALL ON t TO {e};",
        e = evil.name
    ))
    .unwrap();
    // The attacker's look-alikes of what the extension uses: any call fails
    // loudly, so a single one would make the statements below fail.
    let mut attacker = db.connect_as(&evil.name);
    attacker
        .batch_execute(
            "CREATE FUNCTION trampa.trap() RETURNS void LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'hijacked'; END $$;
             CREATE FUNCTION trampa.to_jsonb(anyelement) RETURNS jsonb LANGUAGE plpgsql AS $$ BEGIN PERFORM trampa.trap(); RETURN NULL; END $$;
             CREATE FUNCTION trampa.now() RETURNS timestamptz LANGUAGE plpgsql AS $$ BEGIN PERFORM trampa.trap(); RETURN NULL; END $$;
             CREATE FUNCTION trampa.current_setting(text, boolean) RETURNS text LANGUAGE plpgsql AS $$ BEGIN PERFORM trampa.trap(); RETURN NULL; END $$;
             CREATE FUNCTION trampa.lower(text) RETURNS text LANGUAGE plpgsql AS $$ BEGIN PERFORM trampa.trap(); RETURN NULL; END $$;
             CREATE FUNCTION trampa.eq(text, text) RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN PERFORM trampa.trap(); RETURN NULL; END $$;
             CREATE OPERATOR trampa.= (LEFTARG = text, RIGHTARG = text, FUNCTION = trampa.eq);
             CREATE FUNCTION trampa.eqb(bigint, bigint) RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN PERFORM trampa.trap(); RETURN NULL; END $$;
             CREATE OPERATOR trampa.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = trampa.eqb);
             CREATE TABLE trampa.historial_cambios (id bigint);
             CREATE TABLE trampa.tablas_config (tabla regclass);",
        )
        .unwrap();
    let hostile = "SET search_path = trampa, pg_catalog, public;";
    // The attacker writes with the hostile path...
    attacker
        .batch_execute(&format!(
            "{hostile} INSERT INTO public.t VALUES (1, 'a'); UPDATE public.t SET v = 'b'; DELETE FROM public.t;"
        ))
        .unwrap();
    // ...and a superuser reads, maintains, seals and verifies with it.
    su.batch_execute(&format!(
        "{hostile}
         SELECT count(*) FROM audit.get_historial_cambios('{{\"tabla\": \"t\"}}');
         SELECT audit.diferencias(max(id)) FROM audit.historial_cambios;
         SELECT audit.resumen(max(id)) FROM audit.historial_cambios;
         SELECT count(*) FROM audit.historial_plano('{{}}');
         SELECT audit.jsonb_diff('{{\"a\": 1}}', '{{\"a\": 2}}');
         SELECT audit.mantenimiento();"
    ))
    .unwrap();
    su.batch_execute(&format!("{hostile} SELECT audit.sellar();"))
        .unwrap();
    let valid: bool = su
        .query_one("SELECT (audit.verificar() ->> 'valido')::boolean", &[])
        .unwrap()
        .get(0);
    assert!(valid);
    su.batch_execute("RESET search_path").unwrap();
    assert_eq!(
        count(&mut su, "SELECT count(*) FROM audit.historial_cambios WHERE tabla_afectada = 't' AND accion <> 'DDL'"),
        3
    );
}

#[test]
fn a_schema_prepared_by_another_role_stops_the_installation() {
    let db = TestDb::new("adv_i_schema");
    let evil = TestRole::new(&db, "evil");
    let mut su = db.connect();
    su.batch_execute(&format!(
        "DROP EXTENSION audit; DROP SCHEMA audit; GRANT CREATE ON DATABASE {} TO {}",
        db.name, evil.name
    ))
    .unwrap();
    let mut attacker = Client::connect(
        &audit_integration_tests::conninfo(&db.name, Some(&evil.name)),
        NoTls,
    )
    .unwrap();
    attacker
        .batch_execute(
            "CREATE SCHEMA audit;
             CREATE FUNCTION audit.es_lector() RETURNS boolean LANGUAGE sql AS 'SELECT true';",
        )
        .unwrap();
    assert_eq!(
        sqlstate_of(su.batch_execute("CREATE EXTENSION audit")),
        "42P06"
    );
    assert_eq!(
        count(
            &mut su,
            "SELECT count(*) FROM pg_extension WHERE extname = 'audit'"
        ),
        0
    );
    // An empty schema of the superuser's own is fine.
    su.batch_execute(&format!(
        "DROP SCHEMA audit CASCADE; REVOKE CREATE ON DATABASE {} FROM {}",
        db.name, evil.name
    ))
    .unwrap();
    su.batch_execute("CREATE EXTENSION audit").unwrap();
}

#[test]
fn no_one_can_grant_reading_a_partition_of_the_log_around_its_row_security() {
    let db = TestDb::new("adv_i_partition");
    let reader = TestRole::new(&db, "reader");
    let mut su = db.connect();
    let partition: String = su
        .query_one(
            "SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = 'audit.historial_cambios'::regclass LIMIT 1",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(
        sqlstate_of(su.batch_execute(&format!("GRANT SELECT ON {partition} TO {}", reader.name))),
        "42501"
    );
    assert_eq!(
        sqlstate_of(su.batch_execute(&format!(
            "GRANT SELECT ON audit.historial_cambios_default TO {}",
            reader.name
        ))),
        "42501"
    );
    su.batch_execute(&format!(
        "GRANT SELECT ON audit.historial_cambios TO {}",
        reader.name
    ))
    .unwrap();
}
