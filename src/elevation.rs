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
