//! Capture from the WAL (`"captura": "wal"`): the writer pays only for what
//! PostgreSQL writes anyway, and the events are built after commit.
//!
//! * The writer: a table captured this way has `REPLICA IDENTITY FULL` (the
//!   WAL then holds every old row whole) and a `BEFORE ... FOR EACH
//!   STATEMENT` trigger (`contexto.rs`) that writes the transaction's context
//!   (identity, roles, application, address, start time, `metadata`) into
//!   the WAL as a transactional logical message, once per transaction and
//!   again only when it changes. No row trigger, no write to the log.
//! * The log side: one logical replication slot per database, decoded by the
//!   output plugin in this same library (`plugin.rs`), which builds each
//!   change's event with the function the row triggers use; one background
//!   worker per database (`worker.rs`) reads the plugin's output in batches,
//!   adds the writer's facts from its context message and inserts the events
//!   in commit order, storing how far it got in the same transaction
//!   (exactly once: `audit.captura_wal`).
//! * Everyone else: `audit.estado_captura()` and `audit.esperar_captura()`
//!   (`estado.rs`); restores and sealing wait for the capture first.
//!
//! Which changes are the WAL's to record is decided with the catalog as of
//! each change (logical decoding's historic snapshot; `audit.tablas_config`
//! is a user catalog table for this): changes made while the table's options
//! said "wal" are decoded into events, the others were recorded by a trigger.
//! Switching modes takes the table's strongest lock, so every transaction
//! that touches the table does so wholly before or wholly after the switch.

pub mod clave;
pub mod compresion;
pub mod contexto;
pub mod decoder;
pub mod estado;
pub mod plugin;
pub mod shmem;
pub mod worker;

use crate::error::AuditError;
use crate::spi;
use pgrx::pg_sys;
use std::sync::atomic::{AtomicBool, Ordering};

/// Prefix of the context messages in the WAL.
pub const PREFIJO: &std::ffi::CStr = c"audit";

/// Set in the postmaster when it preloads the library; inherited by every
/// process it starts.
static PRELOADED: AtomicBool = AtomicBool::new(false);

/// From `_PG_init`, when the library is in `shared_preload_libraries`.
/// How far the WAL is written: the insert position, or the start of its
/// page when no record has begun on that page yet (audit_model::wal_posicion
/// says why).
pub fn written_position() -> pg_sys::XLogRecPtr {
    // SAFETY: plain accessors of backend-global state.
    unsafe {
        audit_model::wal_posicion::flushable(
            pg_sys::GetXLogInsertRecPtr(),
            u64::from(pg_sys::XLOG_BLCKSZ),
            pg_sys::wal_segment_size as u64,
            maxalign(std::mem::size_of::<pg_sys::XLogPageHeaderData>()),
            maxalign(std::mem::size_of::<pg_sys::XLogLongPageHeaderData>()),
        )
    }
}

/// Flushes the WAL written so far, as a commit would, and returns how far
/// ([`written_position`]).
pub fn flush_written() -> pg_sys::XLogRecPtr {
    let target = written_position();
    // SAFETY: flushing the WAL is something any backend may do.
    unsafe {
        if !pg_sys::RecoveryInProgress() {
            pg_sys::XLogFlush(target);
        }
    }
    target
}

/// PostgreSQL's MAXALIGN (8 bytes on the platforms it supports here).
fn maxalign(size: usize) -> u64 {
    (size as u64).div_ceil(8) * 8
}

pub fn init_preloaded() {
    PRELOADED.store(true, Ordering::Relaxed);
    shmem::init();
    worker::register_launcher();
}

/// Whether the library was preloaded (the workers and their shared memory
/// exist only then).
pub fn preloaded() -> bool {
    PRELOADED.load(Ordering::Relaxed)
}

/// The capture slot of the current database.
pub fn slot_name() -> String {
    // SAFETY: plain global of a backend connected to a database.
    slot_name_for(unsafe { pg_sys::MyDatabaseId })
}

pub fn slot_name_for(db: pg_sys::Oid) -> String {
    format!("audit_captura_{}", db.to_u32())
}

/// Whether the current database has its capture slot.
pub fn slot_exists() -> bool {
    spi::read_value::<bool>(
        "SELECT EXISTS (SELECT FROM pg_catalog.pg_replication_slots WHERE slot_name = $1)",
        &[slot_name().as_str().into()],
    )
    .unwrap_or(false)
}

/// Lets this session use the `audit` output plugin. Recent PostgreSQL 15
/// releases accept as output plugins only the libraries named in
/// `output_plugin_libraries` (by default `pgoutput, test_decoding`), a
/// superuser setting meant to keep REPLICATION roles from loading arbitrary
/// libraries; this library is trusted by whoever installed the extension.
/// Set only where the extension itself creates or reads its slot: for the
/// transaction (`local`) when a slot is created, for the whole session in
/// the capture worker. A server without the setting needs nothing.
pub fn allow_plugin(local: bool) {
    // SAFETY: GetConfigOption with missing_ok returns NULL for an unknown
    // setting; set_config_option copies its arguments. The caller is a
    // superuser (the worker, or the log's owner), as the setting requires.
    unsafe {
        if pg_sys::GetConfigOption(c"output_plugin_libraries".as_ptr(), true, false).is_null() {
            return;
        }
        pg_sys::set_config_option(
            c"output_plugin_libraries".as_ptr(),
            c"audit".as_ptr(),
            pg_sys::GucContext::PGC_SUSET,
            pg_sys::GucSource::PGC_S_SESSION,
            if local {
                pg_sys::GucAction::GUC_ACTION_LOCAL
            } else {
                pg_sys::GucAction::GUC_ACTION_SET
            },
            true,
            0,
            false,
        );
    }
}

/// Refuses capture from the WAL where it cannot work, naming what to fix.
pub fn check_prerequisites() {
    // SAFETY: reading a GUC variable.
    let level = unsafe { pg_sys::wal_level };
    if level < pg_sys::WalLevel::WAL_LEVEL_LOGICAL as i32 {
        AuditError::WalCaptureUnavailable {
            what: "wal_level = logical".into(),
            hint: "Set wal_level = logical in postgresql.conf (ALTER SYSTEM SET wal_level = logical) and restart the server.".into(),
        }
        .report();
    }
    if !preloaded() {
        AuditError::WalCaptureUnavailable {
            what: "the audit library in shared_preload_libraries".into(),
            hint: "Add audit to shared_preload_libraries in postgresql.conf (ALTER SYSTEM SET shared_preload_libraries = 'audit', keeping any libraries already there) and restart the server: it starts the capture workers.".into(),
        }
        .report();
    }
}

/// Creates the database's capture slot if it does not exist yet, and makes
/// sure its worker runs. The slot must exist before the first change to
/// capture commits: a slot sees only what commits after it is created.
///
/// The worker creates it, in a transaction of its own, and this waits for
/// it (a minute at most). Creating a slot waits for the transactions running
/// at that moment to end, and PostgreSQL refuses to create one in a
/// transaction that has written: this transaction must not have written yet
/// (else it would be waiting for itself). Created from within a function
/// (nested in the caller's statement), slot creation sometimes fails on a
/// snapshot owned by another resource owner once it has had to wait.
pub fn ensure_slot() {
    // SAFETY: plain global.
    let db = unsafe { pg_sys::MyDatabaseId };
    if slot_ready(db) {
        // (If no worker slot is free, the launcher says so and starts the
        // worker once one is: the slot keeps every change meanwhile.)
        worker::start_for(db);
        return;
    }
    // SAFETY: plain accessor.
    let wrote = unsafe { pg_sys::GetTopTransactionIdIfAny() } != pg_sys::InvalidTransactionId;
    if wrote {
        AuditError::WalSlotInWritingTransaction(slot_name()).report();
    }
    // The worker creates the slot: without one, nothing would, and this
    // would wait a minute to say so unclearly.
    if !worker::start_for(db) {
        // SAFETY: a setting of this process, read by value.
        let limit = unsafe { pg_sys::max_worker_processes };
        AuditError::WalCaptureUnavailable {
            what: format!("a free background worker slot (max_worker_processes = {limit}, all in use)"),
            hint: "Each database with tables captured from the WAL has a capture worker of its own, besides the launcher: raise max_worker_processes in postgresql.conf and restart the server.".into(),
        }
        .report();
    }
    let deadline = shmem::timestamp_now().saturating_add(60_000_000);
    while !slot_ready(db) {
        if shmem::timestamp_now() > deadline {
            AuditError::SlotCreationTimeout(slot_name()).report();
        }
        // SAFETY: waiting on this backend's latch, as any backend may.
        unsafe {
            pg_sys::WaitLatch(
                pg_sys::MyLatch,
                (pg_sys::WL_LATCH_SET | pg_sys::WL_TIMEOUT | pg_sys::WL_EXIT_ON_PM_DEATH) as i32,
                20,
                pg_sys::PG_WAIT_EXTENSION,
            );
            pg_sys::ResetLatch(pg_sys::MyLatch);
        }
        pgrx::check_for_interrupts!();
    }
}

/// Before the first change a transaction makes to a table captured from
/// the WAL (its context trigger): the database's capture slot must exist,
/// or the change would never be recorded. It does not after a failover
/// (PostgreSQL 15 slots stay on the old primary), a restore of a dump or
/// a copy of the database: then the first such transaction has the worker
/// create it and waits (as `auditar` does), and one that has already
/// written, which PostgreSQL cannot create a slot for, is refused (55000)
/// rather than let through uncaptured, while the worker makes the slot for
/// the next try. The usual case is one look at shared memory.
pub fn ensure_slot_for_writer() {
    // SAFETY: plain global.
    let db = unsafe { pg_sys::MyDatabaseId };
    if preloaded() {
        if shmem::get(db).is_some_and(|e| e.slot_listo) {
            return;
        }
    } else if worker::databases_with_slot().contains(&db) {
        // No worker without the library preloaded, but the slot keeps
        // every change until one runs.
        return;
    }
    check_prerequisites();
    // SAFETY: plain accessor.
    let wrote = unsafe { pg_sys::GetTopTransactionIdIfAny() } != pg_sys::InvalidTransactionId;
    if wrote && !slot_ready(db) {
        // The worker makes the slot meanwhile (once this transaction ends:
        // a slot waits for the transactions running when it is created),
        // so that running this transaction again finds it.
        worker::start_for(db);
        AuditError::WalSlotMissing(slot_name()).report();
    }
    ensure_slot();
}

/// Whether the database's slot is complete: the worker says so, or the
/// slot has found its starting point and nobody is still creating it. (A
/// slot shows in pg_replication_slots from the start of its creation, and
/// sees only what commits after its starting point: before that, a change
/// would be missed.)
fn slot_ready(db: pg_sys::Oid) -> bool {
    shmem::get(db).is_some_and(|e| e.slot_listo)
        || spi::read_value::<bool>(
            "SELECT EXISTS (SELECT FROM pg_catalog.pg_replication_slots
                             WHERE slot_name = $1
                               AND confirmed_flush_lsn IS NOT NULL AND NOT active)",
            &[slot_name().as_str().into()],
        )
        .unwrap_or(false)
}

/// Creates the capture slot of the current database (the worker's job).
pub fn create_slot() {
    allow_plugin(true);
    // (A read-only query: one run for its effect would give the transaction
    // an id first, and PostgreSQL would refuse.)
    spi::read_value::<String>(
        "SELECT slot_name::pg_catalog.text FROM pg_catalog.pg_create_logical_replication_slot($1, 'audit')",
        &[slot_name().as_str().into()],
    );
}
