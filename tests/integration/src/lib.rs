//! Shared helpers for the integration tests: each test gets a database of
//! its own on the cluster named by PGHOST/PGPORT/PGUSER (scripts/test.sh
//! starts one), with the extension installed, and drops it at the end.

use postgres::{Client, GenericClient, NoTls};
use serde_json::Value;
use std::env;
use std::net::TcpListener;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

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
        TestDb::with_version(test, None)
    }

    /// A database with the extension at `version` (None: the default, the
    /// newest), as `CREATE EXTENSION audit VERSION '...'` installs it.
    pub fn with_version(test: &str, version: Option<&str>) -> TestDb {
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
        let create = match version {
            Some(v) => format!("CREATE EXTENSION audit VERSION '{v}'"),
            None => "CREATE EXTENSION audit".to_owned(),
        };
        db.connect()
            .batch_execute(&create)
            .unwrap_or_else(|e| panic!("{create}: {e}"));
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
            // DROP DATABASE refuses while a replication slot lives in the
            // database, and a replication test that failed half-way may
            // have left one behind.
            drop_replication_slots(&mut admin, &self.name);
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

/// Drops every replication slot of database `db` (ending the walsenders
/// that hold them first). Gives up after ten seconds: it only tidies up.
pub fn drop_replication_slots(admin: &mut Client, db: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left: i64 = match admin.query_one(
            "SELECT count(*) FROM pg_replication_slots WHERE database = $1",
            &[&db],
        ) {
            Ok(row) => row.get(0),
            Err(_) => return,
        };
        if left == 0 || Instant::now() > deadline {
            return;
        }
        // (Either may race with a walsender starting or ending: errors are
        // ignored and the loop looks again.)
        let _ = admin.execute(
            "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots
              WHERE database = $1 AND active_pid IS NOT NULL",
            &[&db],
        );
        let _ = admin.execute(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
              WHERE database = $1 AND active_pid IS NULL",
            &[&db],
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A PostgreSQL client program (`PG_BIN`, or Debian's PostgreSQL 15).
fn pg_tool(name: &str) -> String {
    let bin = env::var("PG_BIN").unwrap_or_else(|_| "/usr/lib/postgresql/15/bin".into());
    format!("{bin}/{name}")
}

/// A new database `name` holding what pg_dump and pg_restore bring of
/// `source` (restored into an empty database: without the extension that
/// `TestDb::new` installs).
pub fn restored_copy(source: &TestDb, name: &str) -> TestDb {
    let target = TestDb::new(name);
    target
        .connect()
        .batch_execute("DROP EXTENSION audit; DROP SCHEMA audit")
        .expect("empty the new database");
    dump_into(source, &target);
    target
}

fn dump_into(source: &TestDb, target: &TestDb) {
    let (host, port, user) = server();
    let connection = ["-h", &host, "-p", &port, "-U", &user];
    let dump = Command::new(pg_tool("pg_dump"))
        .args(connection)
        .args(["-Fc", "-d", &source.name])
        .output()
        .expect("run pg_dump");
    assert!(
        dump.status.success(),
        "pg_dump: {}",
        String::from_utf8_lossy(&dump.stderr)
    );
    let mut restore = Command::new(pg_tool("pg_restore"))
        .args(connection)
        .args(["--exit-on-error", "-d", &target.name])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run pg_restore");
    use std::io::Write;
    restore
        .stdin
        .take()
        .expect("piped")
        .write_all(&dump.stdout)
        .expect("write the dump to pg_restore");
    let out = restore.wait_with_output().expect("wait for pg_restore");
    assert!(
        out.status.success(),
        "pg_restore: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A command to run as the `postgres` OS user: PostgreSQL refuses to run as
/// root, and the tests run as root in CI (as scripts/lib.sh `as_postgres`).
fn postgres_command(program: &str, args: &[&str]) -> Command {
    let me = Command::new("id")
        .arg("-un")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let mut command = if me == "postgres" {
        Command::new(program)
    } else {
        let mut sudo = Command::new("sudo");
        sudo.args(["-n", "-u", "postgres", "--", program]);
        sudo
    };
    command.args(args);
    command
}

fn as_postgres(program: &str, args: &[&str]) -> Output {
    postgres_command(program, args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} as the postgres user: {e}"))
}

/// A TCP port on 127.0.0.1 that nothing is bound to, from the range
/// scripts/lib.sh `free_port` uses: below Linux's ephemeral ports, which any
/// client connection may hold at any moment.
pub fn free_port() -> u16 {
    // Start somewhere else in the range each time, so that tests started
    // together do not all try the same ports first.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    let start = (u64::from(std::process::id()) + u64::from(nanos)) % 900;
    (0..900u64)
        .map(|i| 25100 + ((start + i) % 900) as u16)
        .find(|p| TcpListener::bind(("127.0.0.1", *p)).is_ok())
        .expect("no free port between 25100 and 25999")
}

/// A throwaway PostgreSQL cluster of a test's own (e.g. the archive node of
/// the replication test): initdb'd in a fresh directory under /tmp that the
/// `postgres` user owns (every parent traversable, like scripts/lib.sh
/// `postgres_tmpdir`), run by that user from the binaries in `PG_BIN`,
/// listening on 127.0.0.1 only, no Unix socket, trust authentication.
/// Stopped and removed when the value is dropped, also when a test panics.
pub struct Cluster {
    pub dir: String,
    pub port: u16,
    bin: String,
    started: bool,
    /// The server's `-c` options, for starting it again.
    options: String,
}

impl Cluster {
    /// Starts a cluster with extra `name=value` settings.
    pub fn start(settings: &[&str]) -> Cluster {
        let bin = env::var("PG_BIN").unwrap_or_else(|_| {
            panic!("PG_BIN is not set: this test starts a cluster of its own with the PostgreSQL binaries there; run it with `make test`")
        });
        let made = as_postgres("mktemp", &["-d", "/tmp/audit-pg.XXXXXX"]);
        assert!(
            made.status.success(),
            "mktemp as postgres: {}",
            String::from_utf8_lossy(&made.stderr)
        );
        // From here on, Drop removes the directory whatever happens next.
        let mut cluster = Cluster {
            dir: String::from_utf8_lossy(&made.stdout).trim().to_owned(),
            port: free_port(),
            bin,
            started: false,
            options: String::new(),
        };
        let data = format!("{}/data", cluster.dir);
        let initdb = as_postgres(
            &format!("{}/initdb", cluster.bin),
            &[
                "-D",
                &data,
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-locale",
                // A throwaway cluster: nothing to make durable.
                "--no-sync",
            ],
        );
        assert!(
            initdb.status.success(),
            "initdb: {}{}",
            String::from_utf8_lossy(&initdb.stdout),
            String::from_utf8_lossy(&initdb.stderr)
        );
        let mut options = format!(
            "-c listen_addresses=127.0.0.1 -c port={} -c unix_socket_directories=''",
            cluster.port
        );
        for setting in settings {
            options.push_str(&format!(" -c {setting}"));
        }
        cluster.options = options;
        cluster.start_again();
        cluster
    }

    /// Starts the (stopped) server again, with the same settings.
    pub fn start_again(&mut self) {
        let data = format!("{}/data", self.dir);
        let log = format!("{}/server.log", self.dir);
        self.started = true;
        let start = as_postgres(
            &format!("{}/pg_ctl", self.bin),
            &[
                "-D",
                &data,
                "-l",
                &log,
                "-o",
                &self.options,
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
        assert!(
            start.status.success(),
            "pg_ctl start: {}\n{}",
            String::from_utf8_lossy(&start.stderr),
            self.log_tail(40)
        );
    }

    /// Stops the server in `mode` (`fast`, `immediate`: a crash, from the
    /// server's point of view).
    pub fn stop(&mut self, mode: &str) {
        let data = format!("{}/data", self.dir);
        let stop = as_postgres(
            &format!("{}/pg_ctl", self.bin),
            &["-D", &data, "-m", mode, "-w", "stop"],
        );
        assert!(
            stop.status.success(),
            "pg_ctl stop: {}",
            String::from_utf8_lossy(&stop.stderr)
        );
        self.started = false;
    }

    pub fn conninfo(&self, dbname: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user=postgres dbname={dbname} application_name=audit_it",
            self.port
        )
    }

    pub fn connect(&self, dbname: &str) -> Client {
        Client::connect(&self.conninfo(dbname), NoTls)
            .unwrap_or_else(|e| panic!("connect to {dbname} on port {}: {e}", self.port))
    }

    /// `pg_waldump -b` of the WAL from `start` to `end` (positions as
    /// `pg_current_wal_insert_lsn()` gives them): one line per record and
    /// one per block it references, full-page images with their compression.
    pub fn waldump(&self, start: &str, end: &str) -> String {
        let out = as_postgres(
            &format!("{}/pg_waldump", self.bin),
            &[
                "-b",
                "-p",
                &format!("{}/data/pg_wal", self.dir),
                "-s",
                start,
                "-e",
                end,
            ],
        );
        assert!(
            out.status.success(),
            "pg_waldump: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The last `lines` lines of the server's log, to explain a failure.
    pub fn log_tail(&self, lines: usize) -> String {
        let Ok(out) = postgres_command("cat", &[&format!("{}/server.log", self.dir)]).output()
        else {
            return "(the server log could not be read)".into();
        };
        let text = String::from_utf8_lossy(&out.stdout);
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for Cluster {
    // Runs while a failed test unwinds too: it must not panic (that would
    // abort before the other guards tidy up), so failures are ignored.
    fn drop(&mut self) {
        if self.started {
            let data = format!("{}/data", self.dir);
            let pg_ctl = format!("{}/pg_ctl", self.bin);
            let fast = ["-D", &data, "-m", "fast", "-w", "stop"];
            let stopped = postgres_command(&pg_ctl, &fast)
                .output()
                .is_ok_and(|out| out.status.success());
            if !stopped {
                // Never leave a server running (holding its port) in a
                // directory about to be removed.
                let immediate = ["-D", &data, "-m", "immediate", "-w", "stop"];
                let _ = postgres_command(&pg_ctl, &immediate).output();
            }
        }
        // Only ever a directory mktemp made above.
        if self.dir.starts_with("/tmp/audit-pg.") {
            let _ = postgres_command("rm", &["-rf", &self.dir]).output();
        }
    }
}

/// The jsonb value of one SQL expression, e.g. `json(c, "audit.verificar()")`.
pub fn json(c: &mut impl GenericClient, sql: &str) -> Value {
    let text: String = c
        .query_one(&format!("SELECT ({sql})::text"), &[])
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .get(0);
    serde_json::from_str(&text).unwrap()
}

/// `audit.verificar` given a digest kept outside.
pub fn verify_with(c: &mut impl GenericClient, digest: &Value) -> Value {
    let text: String = c
        .query_one(
            "SELECT audit.verificar($1::text::jsonb)::text",
            &[&digest.to_string()],
        )
        .unwrap()
        .get(0);
    serde_json::from_str(&text).unwrap()
}
