//! Per-backend state: every callback and hook this library registers in a
//! backend, and every cache it keeps, with what resets it. (As
//! `contrib/pg_stat_statements.c` does in `_PG_init`: one place to read.)
//!
//! | state (module) | what it holds | reset by |
//! |---|---|---|
//! | `catalog::IDS` | OIDs of the log, its sequence, the options table, the capture function | relcache invalidation of any of the extension's tables, or of everything |
//! | `capture::cache::TABLES` | each audited table's capture state (keys, excluded columns, tenant column, record types) | relcache invalidation of the table or its partitioned root; of the extension's tables; of everything |
//! | `capture::log_insert::INSERTER` | the executor state that stores log rows, and rows kept to store together | closed before commit and before any utility command; forgotten at abort; rebuilt after invalidation of the extension's tables |
//! | `capture::session::IDENTITY`, `CONTEXT` | the identity and context parsed from the settings | compared with the raw settings at each use: rebuilt when they change |
//! | `capture::session::WARNED_THIS_TRANSACTION` | identity warnings already raised | end of transaction |
//! | `capture::session::ROLE_NAME` | the name of the role writing (`rol_bd`), by OID | any change to `pg_authid` (a role renamed) |
//! | `capture::session::CLIENT_ADDRESS`, `EMPTY_OBJECT` | the client address, `{}` | never: they cannot change in a backend |
//! | `capture::snapshot::TO_JSONB`, `UTC` | `to_jsonb`'s call info, the UTC zone | never |
//! | `alertas::REGLAS` | the alert rules of `audit.alertas` | relcache invalidation of that table (its trigger sends one at every change) or of everything |
//! | `wal::contexto::ESCRITO` | the context message this transaction wrote into the WAL | end of transaction; abort of a subtransaction |
//! | `seguimiento::REGISTRADA` | this transaction announced its lowest event id (an advisory lock) | end of transaction; abort of a subtransaction |
//! | `ddl_guard::OWN_DDL` | set while `auditar` runs its own DDL | the end of that call (also on error) |
//!
//! The capture worker's own state (src/wal/worker.rs) lives in its process
//! and dies with it.

use crate::capture::{cache, log_insert, session};
use crate::catalog;
use crate::wal::contexto;
use pgrx::pg_sys;
use std::ffi::c_void;

/// Registers everything; once per backend, from `_PG_init`.
pub fn init() {
    // SAFETY: registering callbacks and chaining a hook with static
    // functions, once per backend (from _PG_init).
    unsafe {
        pg_sys::CacheRegisterRelcacheCallback(Some(on_relcache_invalidation), 0.into());
        pg_sys::CacheRegisterSyscacheCallback(
            pg_sys::SysCacheIdentifier::AUTHOID as i32,
            Some(on_role_change),
            0.into(),
        );
        // A cast created or dropped changes which tables' snapshots may run
        // SQL (TableState::runs_sql).
        pg_sys::CacheRegisterSyscacheCallback(
            pg_sys::SysCacheIdentifier::CASTSOURCETARGET as i32,
            Some(on_cast_change),
            0.into(),
        );
        pg_sys::RegisterXactCallback(Some(on_xact), std::ptr::null_mut());
        pg_sys::RegisterSubXactCallback(Some(on_subxact), std::ptr::null_mut());
        log_insert::install_utility_hook();
    }
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn on_relcache_invalidation(_arg: pg_sys::Datum, relid: pg_sys::Oid) {
    if relid == pg_sys::InvalidOid || catalog::is_own_table(relid) {
        // Either everything is invalid, or the extension's own objects
        // changed (a partition created, DROP EXTENSION...): start afresh.
        catalog::forget();
        log_insert::mark_stale();
        cache::forget_all();
    } else {
        cache::forget_table(relid);
    }
    crate::alertas::forget_if(relid);
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn on_cast_change(_arg: pg_sys::Datum, _cache: i32, _hash: u32) {
    cache::forget_all();
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn on_role_change(_arg: pg_sys::Datum, _cache: i32, _hash: u32) {
    session::forget_role_names();
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn on_xact(event: pg_sys::XactEvent::Type, _arg: *mut c_void) {
    // In the order the separate callbacks ran before (PostgreSQL calls the
    // last registered first).
    contexto::on_transaction_end();
    log_insert::on_xact(event);
    session::on_transaction_end(event);
    use pg_sys::XactEvent::*;
    if matches!(
        event,
        XACT_EVENT_COMMIT
            | XACT_EVENT_ABORT
            | XACT_EVENT_PREPARE
            | XACT_EVENT_PARALLEL_COMMIT
            | XACT_EVENT_PARALLEL_ABORT
    ) {
        crate::seguimiento::forget();
    }
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn on_subxact(
    event: pg_sys::SubXactEvent::Type,
    _my: pg_sys::SubTransactionId,
    _parent: pg_sys::SubTransactionId,
    _arg: *mut c_void,
) {
    contexto::on_subtransaction_end(event);
    // The locks a rolled-back subtransaction took are released with it.
    if event == pg_sys::SubXactEvent::SUBXACT_EVENT_ABORT_SUB {
        crate::seguimiento::forget();
    }
}
