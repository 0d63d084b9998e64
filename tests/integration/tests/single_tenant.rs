//! Single-tenant deployments: `audit.leer_eventos_sin_empresa(permitir)`
//! lets reader roles read the events that carry no tenant
//! (src/lectura_sin_empresa.rs, docs/security.md). Real roles and claims,
//! each read in its own transaction as PostgREST would.

use audit_integration_tests::{count, sqlstate_of, texts, with_claims, TestDb, TestRole};
use postgres::Client;

const EMPRESA_A: &str = "a0000000-0000-4000-8000-00000000000a";

/// Events of table `notas` (no tenant column, written without a tenant)
/// and of `pedidos` (tenant A), and a login role holding SELECT on the log.
fn database(test: &str) -> (TestDb, TestRole) {
    let db = TestDb::new(test);
    let api = TestRole::new(&db, "api");
    db.connect()
        .batch_execute(&format!(
            "CREATE TABLE notas (id int PRIMARY KEY, texto text);
             CREATE TABLE pedidos (id int PRIMARY KEY, empresa_id uuid NOT NULL);
             SELECT audit.auditar('notas');
             SELECT audit.auditar('pedidos');
             INSERT INTO notas VALUES (1, 'a'), (2, 'b');
             INSERT INTO pedidos VALUES (1, '{EMPRESA_A}');
             GRANT SELECT ON audit.historial_cambios TO {api};",
            api = api.name
        ))
        .unwrap();
    (db, api)
}

fn reader(rol: &str, empresa: Option<&str>) -> String {
    let mut app = serde_json::json!({ "rol": rol });
    if let Some(e) = empresa {
        app["empresa_id"] = e.into();
    }
    serde_json::json!({"sub": "11111111-1111-4111-8111-111111111111", "app_metadata": app})
        .to_string()
}

/// The events `claims` reads (action and table, or operation type),
/// directly and through the reading function, which must agree.
fn visible(c: &mut Client, claims: &str) -> Vec<String> {
    let direct = with_claims(
        c,
        claims,
        "SELECT accion || ' ' || coalesce(tabla_afectada, metadata ->> 'tipo_operacion') FROM audit.historial_cambios ORDER BY id",
    );
    let paged = with_claims(
        c,
        claims,
        "SELECT accion || ' ' || coalesce(tabla_afectada, metadata ->> 'tipo_operacion') FROM audit.get_historial_cambios('{}') ORDER BY id",
    );
    assert_eq!(direct, paged, "the table and the reading function disagree");
    direct.into_iter().map(Option::unwrap_or_default).collect()
}

fn policy(c: &mut Client) -> Vec<String> {
    texts(
        c,
        "SELECT polrelid::regclass || ': ' || pg_get_expr(polqual, polrelid) FROM pg_policy
          WHERE polname = 'misma_empresa' ORDER BY polrelid::regclass::text",
    )
}

#[test]
fn events_without_a_tenant_are_read_only_while_the_switch_is_on() {
    let (db, api) = database("sin_empresa");
    let mut admin = db.connect();
    let mut c = db.connect_as(&api.name);
    let sin_empresa = reader("administrador", None);
    let de_a = reader("administrador", Some(EMPRESA_A));
    let vendedor = reader("vendedor", None);
    let installed = policy(&mut admin);

    // As installed: an event without a tenant matches no reader's tenant.
    assert_eq!(visible(&mut c, &sin_empresa), Vec::<String>::new());
    assert_eq!(visible(&mut c, &de_a), ["INSERT pedidos"]);

    // Only roles the DBA grants it to may turn it on; NULL is no answer.
    assert_eq!(
        sqlstate_of(c.batch_execute("SELECT audit.leer_eventos_sin_empresa(true)")),
        "42501"
    );
    assert_eq!(
        sqlstate_of(admin.batch_execute("SELECT audit.leer_eventos_sin_empresa(NULL)")),
        "22004"
    );
    assert_eq!(policy(&mut admin), installed);

    admin
        .batch_execute("SELECT audit.leer_eventos_sin_empresa(true)")
        .unwrap();
    // Readers without a tenant read the events without one (auditar's DDL
    // events and the switch's own among them); readers of a tenant read
    // theirs and those.
    let sin = [
        "DDL notas",
        "DDL pedidos",
        "INSERT notas",
        "INSERT notas",
        "EVENTO LECTURA_SIN_EMPRESA",
    ];
    assert_eq!(visible(&mut c, &sin_empresa), sin);
    let mut con_a = sin.to_vec();
    con_a.insert(4, "INSERT pedidos");
    assert_eq!(visible(&mut c, &de_a), con_a);
    // Still only reader roles.
    assert_eq!(visible(&mut c, &vendedor), Vec::<String>::new());
    // A page filtered by metadata reads them too (it cannot take the index
    // of one tenant's events with metadata: the policy is an OR now).
    assert_eq!(
        with_claims(
            &mut c,
            &sin_empresa,
            "SELECT metadata ->> 'tipo_operacion' FROM audit.get_historial_cambios('{\"metadata\": {\"permitir\": true}}')"
        ),
        [Some("LECTURA_SIN_EMPRESA".to_string())]
    );
    // The switch was recorded once, with its new state; a second call that
    // changes nothing records nothing.
    admin
        .batch_execute("SELECT audit.leer_eventos_sin_empresa(true)")
        .unwrap();
    assert_eq!(
        texts(
            &mut admin,
            "SELECT metadata ->> 'permitir' FROM audit.historial_cambios
              WHERE metadata ->> 'tipo_operacion' = 'LECTURA_SIN_EMPRESA'"
        ),
        ["true"]
    );
    // The technical log follows the same switch; the configuration
    // versions (read through their functions only) do not.
    let now = policy(&mut admin);
    assert_eq!(now.len(), 3);
    for p in &now {
        let widened =
            p.starts_with("audit.historial_cambios:") || p.starts_with("audit.log_tecnico:");
        assert_eq!(p.contains("empresa_id IS NULL"), widened, "{p}");
    }

    // A role granted the switch may use it (the policies are rewritten as
    // the log's owner); off again, the policies are the installed ones.
    admin
        .batch_execute(&format!(
            "GRANT EXECUTE ON FUNCTION audit.leer_eventos_sin_empresa(boolean) TO {}",
            api.name
        ))
        .unwrap();
    c.batch_execute("SELECT audit.leer_eventos_sin_empresa(false)")
        .unwrap();
    assert_eq!(policy(&mut admin), installed);
    assert_eq!(visible(&mut c, &sin_empresa), Vec::<String>::new());
    assert_eq!(visible(&mut c, &de_a), ["INSERT pedidos"]);
    assert_eq!(
        count(
            &mut admin,
            "SELECT count(*) FROM audit.historial_cambios
              WHERE metadata ->> 'tipo_operacion' = 'LECTURA_SIN_EMPRESA'"
        ),
        2
    );
    // Changing the policy any other way is still refused.
    assert_eq!(
        sqlstate_of(
            admin.batch_execute(
                "ALTER POLICY misma_empresa ON audit.historial_cambios USING (true)"
            )
        ),
        "42501"
    );
}
