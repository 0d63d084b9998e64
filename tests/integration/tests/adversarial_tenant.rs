//! Adversarial suite, tenant isolation and forged claims (SECURITY.md §3):
//! a role allowed to read the log (SELECT, granted to the API's role) sees
//! the events of the tenant in its claims, only when its application role is
//! a reader, and nothing at all when the claims are missing, empty or
//! malformed. Each test is one attack with its safe outcome asserted.

use audit_integration_tests::{claims, count, sqlstate_of, texts, with_claims, TestDb, TestRole};
use postgres::Client;

const EMPRESA_A: &str = "a0000000-0000-4000-8000-00000000000a";
const EMPRESA_B: &str = "b0000000-0000-4000-8000-00000000000b";
const USUARIO: &str = "11111111-1111-4111-8111-111111111111";

/// A database with three events of tenant A and two of tenant B on an
/// audited table, and a login role holding SELECT on the log.
fn tenants(test: &str) -> (TestDb, TestRole) {
    let db = TestDb::new(test);
    let api = TestRole::new(&db, "api");
    db.connect()
        .batch_execute(&format!(
            "CREATE TABLE pedidos (id int PRIMARY KEY, empresa_id uuid NOT NULL, nombre text);
             SELECT audit.auditar('pedidos');
             INSERT INTO pedidos VALUES (1, '{EMPRESA_A}', 'a1'), (2, '{EMPRESA_A}', 'a2'), (3, '{EMPRESA_B}', 'b1');
             UPDATE pedidos SET nombre = nombre || '!' WHERE id IN (1, 3);
             GRANT SELECT ON audit.historial_cambios TO {api};
             GRANT SELECT, INSERT, UPDATE ON pedidos TO {api};",
            api = api.name
        ))
        .unwrap();
    (db, api)
}

fn visible(c: &mut Client, claims: &str) -> i64 {
    with_claims(
        c,
        claims,
        "SELECT count(*) FROM audit.historial_cambios WHERE tabla_afectada = 'pedidos'",
    )[0]
    .as_deref()
    .unwrap()
    .parse()
    .unwrap()
}

#[test]
fn a_reader_sees_its_own_tenant_only_through_every_way_of_reading() {
    let (db, api) = tenants("adv_t_own");
    let mut c = db.connect_as(&api.name);
    let admin_a = claims(USUARIO, EMPRESA_A, "administrador");
    assert_eq!(visible(&mut c, &admin_a), 3);
    let by_tenant_b = format!(
        "SELECT count(*) FROM audit.get_historial_cambios('{{\"empresa_id\": \"{EMPRESA_B}\"}}')"
    );
    let direct_other = format!("SELECT count(*) FROM audit.historial_cambios WHERE empresa_id IS DISTINCT FROM '{EMPRESA_A}'");
    for (sql, expected) in [
        ("SELECT count(*) FROM audit.get_historial_cambios('{\"tabla\": \"pedidos\"}')", 3),
        (by_tenant_b.as_str(), 0),
        ("SELECT count(*) FROM audit.historial_plano('{\"tabla\": \"pedidos\"}') WHERE valor_nuevo LIKE 'b%'", 0),
        (direct_other.as_str(), 0),
    ] {
        let n: i64 = with_claims(&mut c, &admin_a, sql)[0].as_deref().unwrap().parse().unwrap();
        assert_eq!(n, expected, "{sql}");
    }
    let activity = with_claims(
        &mut c,
        &admin_a,
        "SELECT total FROM audit.actividad(NULL, NULL, 'tabla') WHERE grupo = 'pedidos'",
    );
    assert_eq!(activity, [Some("3".to_owned())]);
    let admin_b = claims(USUARIO, EMPRESA_B, "Administrador");
    assert_eq!(visible(&mut c, &admin_b), 2);
}

#[test]
fn no_claims_at_all_see_nothing() {
    let (db, api) = tenants("adv_t_none");
    let mut c = db.connect_as(&api.name);
    assert_eq!(
        count(&mut c, "SELECT count(*) FROM audit.historial_cambios"),
        0
    );
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM audit.get_historial_cambios('{}')"
        ),
        0
    );
}

#[test]
fn the_empty_claims_set_local_leaves_behind_see_nothing() {
    let (db, api) = tenants("adv_t_empty");
    let mut c = db.connect_as(&api.name);
    // A request sets the claims for its transaction; the next transaction of
    // the pooled connection finds '' in the setting, not "no setting".
    assert_eq!(visible(&mut c, &claims(USUARIO, EMPRESA_A, "admin")), 3);
    let left: String = c
        .query_one("SELECT current_setting('request.jwt.claims', true)", &[])
        .unwrap()
        .get(0);
    assert_eq!(left, "");
    assert_eq!(
        count(&mut c, "SELECT count(*) FROM audit.historial_cambios"),
        0
    );
}

#[test]
fn malformed_claims_see_nothing_and_break_nothing() {
    let (db, api) = tenants("adv_t_malformed");
    let mut c = db.connect_as(&api.name);
    for forged in [
        "{\"app_metadata\": {\"empresa_id\": \"a0000000-0000-4000-8000-00000000000a\", \"rol\": \"admin\"",
        "not json at all",
        "[\"admin\", \"a0000000-0000-4000-8000-00000000000a\"]",
        "{\"app_metadata\": {\"empresa_id\": \"a0000000' OR true --\", \"rol\": \"admin\"}}",
        "{\"app_metadata\": {\"empresa_id\": [\"a0000000-0000-4000-8000-00000000000a\"], \"rol\": \"admin\"}}",
        "{\"app_metadata\": {\"empresa_id\": null, \"rol\": \"admin\"}}",
        "{\"app_metadata\": {\"empresa_id\": \"a0000000-0000-4000-8000-00000000000a\", \"rol\": [\"admin\"]}}",
    ] {
        assert_eq!(visible(&mut c, forged), 0, "{forged}");
    }
}

#[test]
fn a_role_that_is_not_a_reader_sees_nothing_even_of_its_tenant() {
    let (db, api) = tenants("adv_t_role");
    let mut c = db.connect_as(&api.name);
    for rol in ["vendedor", "", " ", "administrador2", "admin,propietario"] {
        assert_eq!(
            visible(&mut c, &claims(USUARIO, EMPRESA_A, rol)),
            0,
            "{rol:?}"
        );
    }
    // Nor can the session widen the list of readers (a superuser's setting).
    assert_eq!(
        sqlstate_of(c.batch_execute("SET audit.roles_lectores = 'vendedor'")),
        "42501"
    );
}

#[test]
fn an_event_belongs_to_the_tenant_of_its_row_not_to_the_writers_claims() {
    let (db, api) = tenants("adv_t_row");
    let mut c = db.connect_as(&api.name);
    // A user of tenant A writes a row of tenant B (the table's own checks or
    // policies are the application's business): the event is B's, so A's
    // readers cannot use the log to see B's data, and B's readers see it.
    with_claims(
        &mut c,
        &claims(USUARIO, EMPRESA_A, "vendedor"),
        &format!("INSERT INTO pedidos VALUES (10, '{EMPRESA_B}', 'escrita por A')"),
    );
    let tenant: String = db
        .connect()
        .query_one(
            "SELECT empresa_id::text FROM audit.historial_cambios WHERE registro_pk = '{\"id\": 10}'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(tenant, EMPRESA_B);
    assert_eq!(visible(&mut c, &claims(USUARIO, EMPRESA_A, "admin")), 3);
    assert_eq!(visible(&mut c, &claims(USUARIO, EMPRESA_B, "admin")), 3);
    // B's readers see that the writer claimed A, and can find such events.
    let claimed = with_claims(
        &mut c,
        &claims(USUARIO, EMPRESA_B, "admin"),
        "SELECT string_agg(registro_pk::text || ' ' || (notas->>'empresa_declarada'), ',')
           FROM audit.get_historial_cambios('{\"notas\": {}}')",
    );
    assert_eq!(claimed, [Some(format!("{{\"id\": 10}} {EMPRESA_A}"))]);
}

#[test]
fn a_row_moved_to_another_tenant_shows_each_tenant_its_own_side_only() {
    let (db, api) = tenants("adv_t_move");
    let mut c = db.connect_as(&api.name);
    with_claims(
        &mut c,
        &claims(USUARIO, EMPRESA_A, "vendedor"),
        &format!("UPDATE pedidos SET empresa_id = '{EMPRESA_B}', nombre = 'movida' WHERE id = 2"),
    );
    let side = |c: &mut Client, empresa: &str| {
        with_claims(
            c,
            &claims(USUARIO, empresa, "admin"),
            "SELECT string_agg(accion || ' ' || coalesce(datos_anteriores::text, '-') || ' ' || coalesce(datos_nuevos::text, '-')
                               || ' ' || (notas->>'traslado'), ',' ORDER BY id)
               FROM audit.historial_cambios WHERE registro_pk = '{\"id\": 2}' AND notas ? 'traslado'",
        )
    };
    // A sees the row leave, with its own values; B sees it arrive, with its
    // own; neither sees the other's.
    assert_eq!(
        side(&mut c, EMPRESA_A),
        [Some(format!(
            "DELETE {{\"id\": 2, \"nombre\": \"a2\", \"empresa_id\": \"{EMPRESA_A}\"}} - salida"
        ))]
    );
    assert_eq!(
        side(&mut c, EMPRESA_B),
        [Some(format!(
            "INSERT - {{\"id\": 2, \"nombre\": \"movida\", \"empresa_id\": \"{EMPRESA_B}\"}} entrada"
        ))]
    );
    // The two sides share the row's id and the transaction.
    let mut admin = db.connect();
    assert_eq!(
        count(
            &mut admin,
            "SELECT count(DISTINCT (registro_id, transaccion)) FROM audit.historial_cambios WHERE notas ? 'traslado'"
        ),
        1
    );
    // Moving it back and undoing work as for any row: the log's state of
    // the row before the move is A's version.
    admin
        .batch_execute(
            "SELECT audit.restaurar_registro('pedidos', registro_id, \"timestamp\" - interval '1 microsecond')
               FROM audit.historial_cambios WHERE notas->>'traslado' = 'salida'",
        )
        .unwrap();
    assert_eq!(
        texts(
            &mut admin,
            "SELECT empresa_id || ' ' || nombre FROM pedidos WHERE id = 2"
        ),
        [format!("{EMPRESA_A} a2")]
    );
}

#[test]
fn events_written_under_unreadable_claims_say_so() {
    let (db, api) = tenants("adv_t_marked");
    let mut c = db.connect_as(&api.name);
    for (i, forged) in [
        "not json at all",
        "{\"sub\": \"x\", \"app_metadata\": {\"empresa_id\": \"no-uuid\"}}",
    ]
    .iter()
    .enumerate()
    {
        with_claims(
            &mut c,
            forged,
            &format!(
                "INSERT INTO pedidos VALUES ({}, '{EMPRESA_A}', 'x')",
                20 + i
            ),
        );
    }
    with_claims(
        &mut c,
        "{}",
        &format!("INSERT INTO pedidos VALUES (30, '{EMPRESA_A}', 'sin claims')"),
    );
    let marked = texts(
        &mut db.connect(),
        "SELECT registro_pk->>'id' || ': ' || coalesce(notas->>'avisos_identidad', 'none')
           FROM audit.historial_cambios WHERE (registro_pk->>'id')::int >= 20 ORDER BY id",
    );
    assert_eq!(marked.len(), 3);
    assert!(
        marked[0].starts_with("20: [\"claims in setting request.jwt.claims are ignored"),
        "{marked:?}"
    );
    assert!(
        marked[1].contains("claim app_metadata.empresa_id is not a valid uuid"),
        "{marked:?}"
    );
    assert_eq!(marked[2], "30: none", "no claims is not broken claims");
}

#[test]
fn a_leaky_function_in_the_query_never_sees_another_tenants_rows() {
    let (db, api) = tenants("adv_t_leak");
    db.connect()
        .batch_execute(&format!(
            "CREATE FUNCTION public.fuga(j jsonb) RETURNS boolean LANGUAGE plpgsql COST 0.0000001 AS
               $$ BEGIN RAISE NOTICE 'fuga: %', j; RETURN true; END $$;
             GRANT EXECUTE ON FUNCTION public.fuga(jsonb) TO {}",
            api.name
        ))
        .unwrap();
    let notices = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let sink = notices.clone();
    let mut config: postgres::Config = audit_integration_tests::conninfo(&db.name, Some(&api.name))
        .parse()
        .unwrap();
    config.notice_callback(move |n| sink.lock().unwrap().push(n.message().to_owned()));
    let mut c = config.connect(postgres::NoTls).unwrap();
    // The cheap function would run first if it could: RLS quals run before
    // any function that is not leakproof.
    with_claims(
        &mut c,
        &claims(USUARIO, EMPRESA_A, "admin"),
        "SELECT count(*) FROM audit.historial_cambios WHERE public.fuga(datos_nuevos)",
    );
    let seen = notices.lock().unwrap().clone();
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert!(seen.iter().all(|n| !n.contains("b1")), "{seen:?}");
}

#[test]
fn another_tenants_event_is_indistinguishable_from_one_that_does_not_exist() {
    let (db, api) = tenants("adv_t_exists");
    let other: i64 = count(
        &mut db.connect(),
        &format!("SELECT max(id) FROM audit.historial_cambios WHERE empresa_id = '{EMPRESA_B}'"),
    );
    let mut c = db.connect_as(&api.name);
    let admin_a = claims(USUARIO, EMPRESA_A, "admin");
    for function in ["audit.diferencias", "audit.resumen"] {
        let mut outcome = |id: i64| {
            let mut tx = c.transaction().unwrap();
            tx.execute(
                "SELECT set_config('request.jwt.claims', $1, true)",
                &[&admin_a],
            )
            .unwrap();
            let err = tx
                .batch_execute(&format!("SELECT {function}({id})"))
                .expect_err("not visible");
            let code = err.code().unwrap().code().to_owned();
            let message = err
                .as_db_error()
                .unwrap()
                .message()
                .replace(&id.to_string(), "N");
            (code, message)
        };
        let hidden = outcome(other);
        let missing = outcome(other + 1_000_000);
        assert_eq!(hidden, missing, "{function}");
        assert_eq!(hidden.0, "P0002");
    }
}

#[test]
fn the_policy_functions_run_once_per_query_not_once_per_row() {
    let (db, api) = tenants("adv_t_once");
    let mut c = db.connect_as(&api.name);
    let plan = with_claims(
        &mut c,
        &claims(USUARIO, EMPRESA_A, "admin"),
        "EXPLAIN (COSTS OFF) SELECT * FROM audit.historial_cambios",
    )
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join("\n");
    assert!(plan.contains("InitPlan"), "{plan}");
    assert!(!plan.contains("SubPlan"), "{plan}");
}
