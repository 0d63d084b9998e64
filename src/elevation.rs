//! Writing the extension's own tables on behalf of any caller.
//!
//! No ordinary role has INSERT on the log; the capture path writes it as the
//! log's owner, for the shortest possible span: only around the statement that
//! writes. Everything else (the caller's identity, its privileges on the
//! audited table) stays the caller's. The switch is the one PostgreSQL uses
//! for security-definer calls and maintenance commands
//! (`SetUserIdAndSecContext` with `SECURITY_RESTRICTED_OPERATION`), so the
//! elevated statement can neither change roles nor create temporary objects.

use crate::catalog;
use pgrx::pg_sys;

/// Runs `f` as the owner of the audit log, then restores the caller's
/// identity, also when `f` raises an error (the restore runs while the error
/// unwinds; transaction abort would restore it as well).
pub fn as_log_owner<R>(f: impl FnOnce() -> R) -> R {
    let owner = catalog::ids().log_owner;
    let mut saved_user = pg_sys::InvalidOid;
    let mut saved_context: i32 = 0;
    // SAFETY: plain accessors of backend-global state.
    unsafe {
        pg_sys::GetUserIdAndSecContext(&mut saved_user, &mut saved_context);
        pg_sys::SetUserIdAndSecContext(
            owner,
            saved_context
                | pg_sys::SECURITY_LOCAL_USERID_CHANGE as i32
                | pg_sys::SECURITY_RESTRICTED_OPERATION as i32,
        );
    }
    let _restore = Restore {
        user: saved_user,
        context: saved_context,
    };
    f()
}

struct Restore {
    user: pg_sys::Oid,
    context: i32,
}

impl Drop for Restore {
    fn drop(&mut self) {
        // SAFETY: restores exactly what was saved above.
        unsafe { pg_sys::SetUserIdAndSecContext(self.user, self.context) };
    }
}

#[cfg(any(test, feature = "pg_test"))]
#[pgrx::pg_schema]
mod tests {
    use crate::test_support::{one, run};
    use pgrx::prelude::*;

    #[pg_test]
    fn test_elevation_ends_with_the_write() {
        run("CREATE ROLE t_app NOLOGIN");
        run("CREATE TABLE t_priv (id int PRIMARY KEY)");
        run("SELECT audit.auditar('t_priv')");
        run("GRANT INSERT ON t_priv TO t_app");
        run("SET LOCAL ROLE t_app");
        run("INSERT INTO t_priv VALUES (1)");
        assert_eq!(
            one::<String>("SELECT current_user::text").as_deref(),
            Some("t_app")
        );
        // Still not allowed to read the log it just wrote through the trigger.
        let readable =
            one::<bool>("SELECT has_table_privilege('audit.historial_cambios', 'SELECT')");
        assert_eq!(readable, Some(false));
        // Not in a security-restricted operation either: temp tables work.
        run("CREATE TEMP TABLE t_tmp (x int)");
        run("RESET ROLE");
        assert_eq!(
            one::<String>("SELECT rol_bd FROM audit.historial_cambios WHERE tabla_afectada = 't_priv' AND accion = 'INSERT'").as_deref(),
            Some("t_app")
        );
    }

    #[pg_test]
    fn test_elevation_ends_when_recording_fails() {
        run("CREATE ROLE t_app2 NOLOGIN");
        run("CREATE TABLE t_fail (id int PRIMARY KEY)");
        run("SELECT audit.auditar('t_fail')");
        run("GRANT INSERT ON t_fail TO t_app2");
        // Make the log refuse this role's events, so the write fails while
        // the capture path runs as the log's owner.
        // (The DDL guard refuses altering the log; the extension's internal
        // flag lets this test through, as it does the extension's own DDL.)
        run("SET LOCAL audit.operacion_interna = 'prueba'");
        run("ALTER TABLE audit.historial_cambios ADD CONSTRAINT t_rechazo CHECK (rol_bd <> 't_app2')");
        run("RESET audit.operacion_interna");
        run("SET LOCAL ROLE t_app2");
        run(
            "CREATE FUNCTION pg_temp.intentar() RETURNS text LANGUAGE plpgsql AS $$
             BEGIN INSERT INTO t_fail VALUES (1); RETURN 'inserted';
             EXCEPTION WHEN check_violation THEN RETURN SQLERRM; END $$",
        );
        let outcome = one::<String>("SELECT pg_temp.intentar()").unwrap();
        assert!(outcome.contains("t_rechazo"), "{outcome}");
        // The caller is back to its own identity, unprivileged and not in a
        // security-restricted operation.
        assert_eq!(
            one::<String>("SELECT current_user::text").as_deref(),
            Some("t_app2")
        );
        assert_eq!(
            one::<bool>("SELECT has_table_privilege('audit.historial_cambios', 'INSERT')"),
            Some(false)
        );
        run("CREATE TEMP TABLE t_tmp2 (x int)");
        run("RESET ROLE");
        // Fail-closed: the row was not written without its event.
        assert_eq!(one::<i64>("SELECT count(*) FROM t_fail"), Some(0));
        assert_eq!(one::<i64>("SELECT count(*) FROM audit.historial_cambios WHERE tabla_afectada = 't_fail' AND accion = 'INSERT'"), Some(0));
    }
}
