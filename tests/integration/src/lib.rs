//! Shared helpers for the integration tests: each test gets a database of
//! its own on the cluster named by PGHOST/PGPORT/PGUSER (scripts/test.sh
//! starts one), with the extension installed, and drops it at the end.

use postgres::{Client, NoTls};
use std::env;

/// Connection settings of the test cluster. Panics with a clear message when
/// they are missing: these tests need a running cluster (`make test`).
pub fn server() -> (String, String, String) {
    let get = |name: &str| {
        env::var(name).unwrap_or_else(|_| {
            panic!("{name} is not set: integration tests need a running cluster; run them with `make test`")
        })
    };
    (get("PGHOST"), get("PGPORT"), get("PGUSER"))
}

pub fn conninfo(dbname: &str, user: Option<&str>) -> String {
    let (host, port, default_user) = server();
    format!(
        "host={host} port={port} user={} dbname={dbname} application_name=audit_it",
        user.unwrap_or(&default_user)
    )
}

/// A database created for one test and dropped when the value is dropped.
pub struct TestDb {
    pub name: String,
}

impl TestDb {
    pub fn new(test: &str) -> TestDb {
        let name = format!("audit_it_{test}");
        let mut admin =
            Client::connect(&conninfo("postgres", None), NoTls).expect("connect to postgres");
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .unwrap();
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap();
        let db = TestDb { name };
        db.connect()
            .batch_execute("CREATE EXTENSION audit")
            .expect("CREATE EXTENSION audit");
        db
    }

    pub fn connect(&self) -> Client {
        Client::connect(&conninfo(&self.name, None), NoTls).expect("connect to the test database")
    }

    pub fn connect_as(&self, user: &str) -> Client {
        Client::connect(&conninfo(&self.name, Some(user)), NoTls).expect("connect as a test role")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Ok(mut admin) = Client::connect(&conninfo("postgres", None), NoTls) {
            let _ = admin.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

/// Creates a login role for a test (roles are cluster-wide; the name is
/// prefixed so tests do not collide) and drops it at the end, with whatever
/// it owns or was granted in the test database.
pub struct TestRole {
    pub name: String,
    db: String,
}

impl TestRole {
    pub fn new(db: &TestDb, name: &str) -> TestRole {
        let name = format!("{}_{name}", db.name);
        let mut c = db.connect();
        c.batch_execute(&format!(
            "DROP ROLE IF EXISTS {name}; CREATE ROLE {name} LOGIN"
        ))
        .unwrap();
        TestRole {
            name,
            db: db.name.clone(),
        }
    }
}

impl Drop for TestRole {
    fn drop(&mut self) {
        if let Ok(mut c) = Client::connect(&conninfo(&self.db, None), NoTls) {
            let _ = c.batch_execute(&format!("DROP OWNED BY {}", self.name));
        }
        if let Ok(mut admin) = Client::connect(&conninfo("postgres", None), NoTls) {
            let _ = admin.batch_execute(&format!("DROP ROLE IF EXISTS {}", self.name));
        }
    }
}

/// The SQLSTATE of a failed statement.
pub fn sqlstate(result: Result<u64, postgres::Error>) -> String {
    match result {
        Ok(_) => "succeeded".to_owned(),
        Err(e) => e
            .code()
            .map(|c| c.code().to_owned())
            .unwrap_or_else(|| e.to_string()),
    }
}

/// The SQLSTATE of a failed statement run with `batch_execute`.
pub fn sqlstate_of(result: Result<(), postgres::Error>) -> String {
    sqlstate(result.map(|_| 0))
}

/// The first column of every row of a query, as text.
pub fn texts(c: &mut Client, sql: &str) -> Vec<String> {
    c.query(sql, &[])
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// One bigint (or count) from a query.
pub fn count(c: &mut Client, sql: &str) -> i64 {
    c.query_one(sql, &[])
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .get(0)
}

/// JWT claims as PostgREST sets them: a user, and in app_metadata the
/// tenant and the application role.
pub fn claims(usuario: &str, empresa: &str, rol: &str) -> String {
    serde_json::json!({"sub": usuario, "app_metadata": {"empresa_id": empresa, "rol": rol}})
        .to_string()
}

/// Runs `sql` in a transaction of its own with `request.jwt.claims` set to
/// `claims` for that transaction (SET LOCAL, as PostgREST does), and returns
/// the first column of every row as text.
pub fn with_claims(c: &mut Client, claims: &str, sql: &str) -> Vec<Option<String>> {
    let mut tx = c.transaction().unwrap();
    tx.execute(
        "SELECT set_config('request.jwt.claims', $1, true)",
        &[&claims],
    )
    .unwrap();
    let rows = tx
        .simple_query(sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .into_iter()
        .filter_map(|m| match m {
            postgres::SimpleQueryMessage::Row(r) => Some(r.get(0).map(str::to_owned)),
            _ => None,
        })
        .collect();
    tx.commit().unwrap();
    rows
}
