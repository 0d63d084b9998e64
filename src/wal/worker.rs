//! The capture workers: a launcher, started with the server, that makes
//! sure every database with a capture slot has its worker; and one worker
//! per such database, which reads the output plugin's records in batches and
//! writes their events into the log.
//!
//! A batch is one transaction of the worker: the events of every writer's
//! transaction it decoded, in commit order, and the WAL position it reached
//! (`audit.captura_wal`), committed together. A writer's transaction whose
//! commit ends at or before that position is never applied again: killing
//! the worker mid-batch or stopping the server at any moment loses and
//! duplicates nothing. The slot is moved past what was applied only after
//! that commit, so WAL not yet applied is always kept.

use super::decoder::Decoder;
use super::shmem;
use crate::capture::log_insert;
use crate::capture::session;
use crate::capture::statement::RowMemory;
use crate::capture::writer::{self, Change, Event, Facts};
use crate::datums::from_varlena_image;
use crate::elevation::as_log_owner;
use crate::guc;
use crate::spi;
use crate::sql_types::Jsonb;
use audit_model::identity::Identity;
use audit_model::wal_posicion::lsn_text;
use audit_model::wal_wire::{Accion, Record, WalChange, WalContext};
use pgrx::bgworkers::{
    BackgroundWorker, BackgroundWorkerBuilder, BgWorkerStartTime, SignalWakeFlags,
};
use pgrx::prelude::*;
use pgrx::{pg_sys, IntoDatum};
use std::ffi::CStr;
use std::rc::Rc;
use std::time::Duration;
use uuid::Uuid;

/// Registers the launcher; from `_PG_init` while preloading.
pub fn register_launcher() {
    BackgroundWorkerBuilder::new("audit capture launcher")
        .set_type("audit capture launcher")
        .set_library("audit")
        .set_function("audit_captura_lanzador")
        .enable_shmem_access(None)
        .set_start_time(BgWorkerStartTime::RecoveryFinished)
        .set_restart_time(Some(Duration::from_secs(5)))
        .load();
}

/// Starts the worker of database `db` (it exits at once if one runs).
/// False when no background worker slot is free (`max_worker_processes`).
pub fn start_for(db: pg_sys::Oid) -> bool {
    if !super::preloaded() || shmem::served(db) {
        return true;
    }
    let started = BackgroundWorkerBuilder::new(&format!(
        "audit capture worker for database {}",
        db.to_u32()
    ))
    .set_type("audit capture worker")
    .set_library("audit")
    .set_function("audit_captura_trabajador")
    .set_argument(db.into_datum())
    .enable_spi_access()
    .set_start_time(BgWorkerStartTime::RecoveryFinished)
    .set_restart_time(None)
    .load_dynamic();
    started.is_ok()
}

/// The databases that have a capture slot (the slots are in shared memory,
/// readable without a database connection).
pub(super) fn databases_with_slot() -> Vec<pg_sys::Oid> {
    let mut found = Vec::new();
    // SAFETY: the slot array is read under ReplicationSlotControlLock
    // (lwlocknames.h: MainLWLockArray[37] in PostgreSQL 15), as
    // slot.c reads it; the fields read are set when a slot is created.
    unsafe {
        let lock = &raw mut (*pg_sys::MainLWLockArray.add(37)).lock;
        pg_sys::LWLockAcquire(lock, pg_sys::LWLockMode::LW_SHARED);
        let slots = (*pg_sys::ReplicationSlotCtl).replication_slots.as_ptr();
        for i in 0..pg_sys::max_replication_slots.max(0) as usize {
            let slot = &*slots.add(i);
            if !slot.in_use {
                continue;
            }
            let plugin = CStr::from_ptr(slot.data.plugin.data.as_ptr());
            let name = CStr::from_ptr(slot.data.name.data.as_ptr());
            if plugin == c"audit" && name.to_bytes().starts_with(b"audit_captura_") {
                found.push(slot.data.database);
            }
        }
        pg_sys::LWLockRelease(lock);
    }
    found
}

/// # Safety
/// The entry point of the launcher, called by PostgreSQL.
#[pg_guard]
#[no_mangle]
pub unsafe extern "C-unwind" fn audit_captura_lanzador(_arg: pg_sys::Datum) {
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGHUP | SignalWakeFlags::SIGTERM);
    // Databases told to be waiting for a worker slot: said once (not every
    // second), and again after a worker of theirs has started.
    let mut waiting = std::collections::BTreeSet::new();
    while BackgroundWorker::wait_latch(Some(Duration::from_secs(1))) {
        let with_slot = databases_with_slot();
        shmem::prune(&with_slot);
        for db in with_slot {
            if start_for(db) {
                waiting.remove(&db.to_u32());
            } else if waiting.insert(db.to_u32()) {
                // SAFETY: a setting of this process, read by value.
                let limit = unsafe { pg_sys::max_worker_processes };
                pgrx::warning!(
                    "audit: no background worker slot is free to start the capture of database {} (max_worker_processes = {}); it starts as soon as one is",
                    db.to_u32(),
                    limit
                );
            }
        }
    }
}

/// The worker runs as the bootstrap superuser, as it connected; but its
/// session starts with the database's settings, and the database's owner
/// may set `session_authorization` or `role` there (both apply to
/// superusers), which would run its batches as a role that cannot write the
/// log. In a transaction: the role is looked up by name.
fn run_as_bootstrap_superuser() {
    // SAFETY: a catalog lookup of a role that always exists, in a
    // transaction; the name is copied by SetConfigOption.
    unsafe {
        let name =
            pg_sys::GetUserNameFromId(pg_sys::Oid::from(pg_sys::BOOTSTRAP_SUPERUSERID), false);
        for (setting, value) in [
            (c"session_authorization".as_ptr(), name.cast_const()),
            (c"role".as_ptr(), c"none".as_ptr()),
        ] {
            pg_sys::SetConfigOption(
                setting,
                value,
                pg_sys::GucContext::PGC_SUSET,
                pg_sys::GucSource::PGC_S_OVERRIDE,
            );
        }
    }
}

/// # Safety
/// The entry point of a database's worker, called by PostgreSQL with the
/// database's OID as argument.
#[pg_guard]
#[no_mangle]
pub unsafe extern "C-unwind" fn audit_captura_trabajador(arg: pg_sys::Datum) {
    // SAFETY: the main argument registered for this worker: a database OID.
    let db = unsafe { pg_sys::Oid::from_datum(arg, false) }.unwrap_or(pg_sys::InvalidOid);
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGHUP | SignalWakeFlags::SIGTERM);
    // SAFETY: plain global.
    let pid = unsafe { pg_sys::MyProcPid };
    if !shmem::claim(db, pid) {
        return;
    }
    // SAFETY: registering a callback with a static function; the database
    // is passed by value.
    unsafe { pg_sys::before_shmem_exit(Some(on_exit), pg_sys::Datum::from(db)) };
    BackgroundWorker::connect_worker_to_spi_by_oid(Some(db), None);
    // The worker holds the database's slot while it runs, and DROP DATABASE
    // refuses a database whose slot is in use: holding a lock on the
    // database that DROP DATABASE (and ALTER DATABASE ... RENAME) must wait
    // for lets the worker see them coming and step aside (`yield_to_ddl`).
    // SAFETY: a session lock on this process's own database.
    unsafe { lock_database(db, true) };
    // A batch that cannot take its locks fails and is tried again, rather
    // than wait behind a lock for ever without reporting its lag. Commits
    // are asynchronous (see `Durability`). The path is pinned as every
    // function of the extension pins it, so the SQL the worker shares with
    // them (capture, catalog reads) runs under the same rule
    // (docs/development.md, "SQL"), whatever the database's default path.
    // The database's and the bootstrap role's defaults for transactions
    // would be the worker's too: a database put in read-only mode for a
    // while (its writers ask for READ WRITE) would stop the capture, and
    // batches are written as read committed, as they were designed.
    for (name, value) in [
        (c"default_transaction_read_only", c"off"),
        (c"default_transaction_isolation", c"read committed"),
        (c"lock_timeout", c"5s"),
        (c"synchronous_commit", c"off"),
        (c"search_path", c"pg_catalog, pg_temp"),
    ] {
        // SAFETY: plain setting of this process.
        unsafe {
            pg_sys::SetConfigOption(
                name.as_ptr(),
                value.as_ptr(),
                pg_sys::GucContext::PGC_SUSET,
                pg_sys::GucSource::PGC_S_OVERRIDE,
            )
        };
    }
    BackgroundWorker::transaction(run_as_bootstrap_superuser);
    super::compresion::apply(db);
    super::allow_plugin(false);
    // The key that signs context messages, created now if it is not yet
    // (src/wal/clave.rs): from here on, an unsigned message is not ours.
    super::clave::key();
    pgrx::log!(
        "audit: capture from the WAL started for database {}",
        db.to_u32()
    );
    // Logical decoding says "starting logical decoding for slot" at LOG
    // level each time it starts. Keep the server log for what matters
    // (errors and warnings still go there).
    // SAFETY: a hook of this process only; it keeps the previous one.
    unsafe {
        PREVIOUS_EMIT_LOG_HOOK = pg_sys::emit_log_hook;
        pg_sys::emit_log_hook = Some(quiet_decoding_start);
    }
    // Started by audit.auditar for a database without its slot yet: create
    // it, in a transaction of its own (auditar waits for it).
    BackgroundWorker::transaction(|| {
        if !super::slot_exists() {
            super::create_slot();
        }
    });
    shmem::set_slot_ready(db);
    // The worker's own writes (the events) carry a replication origin of
    // their own, which the output plugin filters out before decoding them:
    // without it each batch would decode the previous batch's inserts.
    BackgroundWorker::transaction(|| set_origin(db));
    let slot = super::slot_name_for(db);
    if !BackgroundWorker::transaction(still_wanted) {
        BackgroundWorker::transaction(|| drop_slot_if_extension_gone(&slot));
        return;
    }
    let mut decoder = Decoder::open(&slot);
    let mut durable = Durability::default();
    let mut last_check = shmem::timestamp_now();
    let ending = loop {
        if BackgroundWorker::sighup_received() {
            // SAFETY: what a background worker does on SIGHUP.
            unsafe { pg_sys::ProcessConfigFile(pg_sys::GucContext::PGC_SIGHUP) };
            super::compresion::apply(db);
        }
        if stopping() {
            break Ending::Shutdown;
        }
        if yield_to_ddl(db) {
            break Ending::Yield;
        }
        durable.confirm(&mut decoder);
        let written = super::written_position();
        let now = shmem::timestamp_now();
        if decoder.position() >= written {
            shmem::set_applied(db, decoder.position(), 0, Some(now));
            // Once a second even when idle: is the extension still there?
            if now - last_check > 1_000_000 {
                last_check = now;
                decoder.after_transaction();
                if !BackgroundWorker::transaction(still_wanted) {
                    break Ending::Gone;
                }
            }
            if !BackgroundWorker::wait_latch(Some(Duration::from_millis(50))) {
                break Ending::Shutdown;
            }
            continue;
        }
        check_lag(db, &mut decoder);
        let limit = guc::CAPTURA_LOTE.get().max(1) as u64;
        let slot_name = slot.as_str();
        // What is written is read once flushed (as a commit would flush
        // it): the last record can otherwise stay partly unflushed for as
        // long as nobody commits (the WAL writer flushes whole pages only).
        // (Flushed to `written` but for a segment switch's padding: read no
        // further than the flush.)
        super::flush_written();
        // SAFETY: plain accessor.
        let upto = written.min(unsafe { pg_sys::GetFlushRecPtr(std::ptr::null_mut()) });
        let pass = in_transaction(|| {
            let read = decoder.decode(upto, limit, stopping);
            let reached = decoder.position();
            if !decoder.has_output() {
                return Some((reached, read, None));
            }
            decoder.after_transaction();
            with_snapshot(|| {
                if !still_wanted() {
                    return None;
                }
                Some((reached, read, apply(db, slot_name, reached, &mut decoder)))
            })
        });
        let Some((reached, read, last_commit)) = pass else {
            break Ending::Gone;
        };
        if last_commit.is_some() {
            last_check = now;
        }
        decoder.clear();
        // Published once the batch has committed: from here its events are
        // visible to whoever waited for them. The slot lets the WAL go once
        // the commit is also durable.
        shmem::set_applied(
            db,
            reached,
            last_commit.unwrap_or(0),
            read.caught_up.then_some(now),
        );
        // SAFETY: plain global: the end of this process's last commit record.
        durable.applied(
            reached,
            last_commit.map(|_| unsafe { pg_sys::XactLastCommitEnd }),
        );
        durable.confirm(&mut decoder);
        // Nothing could be read (the next record is not wholly flushed yet),
        // or everything was: let more work gather before the next batch
        // rather than spend a transaction (and the writers' disk) on every
        // writer's commit. Whoever waits for the capture (esperar_captura,
        // restores, sellar) wakes the worker at once.
        let pause = match (read.read, read.caught_up) {
            (false, _) => Some(50),
            (true, true) => Some(GATHER_MS),
            (true, false) => None,
        };
        if let Some(ms) = pause {
            if !BackgroundWorker::wait_latch(Some(Duration::from_millis(ms))) {
                break Ending::Shutdown;
            }
        }
    };
    decoder.close();
    match ending {
        Ending::Shutdown => {}
        Ending::Yield => {
            // SAFETY: the lock taken above.
            unsafe { lock_database(db, false) };
            pgrx::log!(
                "audit: capture from the WAL of database {} stepped aside for a DROP or ALTER DATABASE",
                db.to_u32()
            );
        }
        Ending::Gone => BackgroundWorker::transaction(|| drop_slot_if_extension_gone(&slot)),
    }
}

/// Runs `f` in a transaction of the worker, without a snapshot. Decoding
/// runs in one: the reorder buffer then replays each decoded transaction in
/// a subtransaction, and the end of a subtransaction leaves the worker's
/// session lock alone (a top-level transaction that aborts, as a replay
/// outside any transaction does, releases session locks too). No snapshot
/// is taken for decoding: one held while a large transaction is decoded
/// would hold back vacuum in every database.
fn in_transaction<R>(f: impl FnOnce() -> R) -> R {
    // SAFETY: a background worker starting and ending its own transaction;
    // an error unwinds out of the worker, which then ends (and the
    // transaction is aborted).
    unsafe {
        pg_sys::SetCurrentStatementStartTimestamp();
        pg_sys::StartTransactionCommand();
    }
    let r = f();
    // SAFETY: ends the transaction started above.
    unsafe { pg_sys::CommitTransactionCommand() };
    r
}

/// Runs `f` with a snapshot of the present (to apply a batch).
fn with_snapshot<R>(f: impl FnOnce() -> R) -> R {
    // SAFETY: within a transaction; popped below.
    unsafe { pg_sys::PushActiveSnapshot(pg_sys::GetTransactionSnapshot()) };
    let r = f();
    // SAFETY: pops what was pushed above.
    unsafe { pg_sys::PopActiveSnapshot() };
    r
}

/// The batches applied whose commit may not be durable yet. The worker
/// commits asynchronously (`synchronous_commit = off`, as PostgreSQL's own
/// logical replication workers do: a flush per batch would compete with the
/// writers' own commits for the disk); the slot is told a batch is applied
/// only once the WAL is flushed past the batch's commit. A crash before that
/// loses the batch and its stored position together, and the slot still has
/// the WAL to decode it again.
#[derive(Default)]
struct Durability {
    /// (position applied, end of the commit record that applied it; 0 when
    /// the batch wrote nothing), in order.
    pending: std::collections::VecDeque<(u64, u64)>,
}

impl Durability {
    fn applied(&mut self, reached: u64, commit_end: Option<u64>) {
        self.pending.push_back((reached, commit_end.unwrap_or(0)));
    }

    /// Confirms to the slot the last position whose batch, and every batch
    /// before it, is durable.
    fn confirm(&mut self, decoder: &mut Decoder) {
        // SAFETY: plain accessor.
        let flushed = unsafe { pg_sys::GetFlushRecPtr(std::ptr::null_mut()) };
        let mut last = None;
        while let Some(&(reached, commit_end)) = self.pending.front() {
            if commit_end > flushed {
                break;
            }
            last = Some(reached);
            self.pending.pop_front();
        }
        if let Some(reached) = last {
            decoder.confirm(reached);
        }
    }
}

/// How long the worker lets work gather after a batch that caught up: under
/// a steady load of small transactions, batches of this many milliseconds
/// of work. (Measured with pgbench: a batch per writer's commit cost the
/// writers a quarter of their throughput, one per 200 ms under a fifth.)
const GATHER_MS: u64 = 200;

/// Whether the worker was asked to stop (SIGTERM). Not pgrx's
/// `sigterm_received`, which forgets the request once it has answered.
pub fn stopping() -> bool {
    // SAFETY: a flag set by the signal handler and never cleared.
    unsafe { std::ptr::read_volatile(&raw const pg_sys::ShutdownRequestPending) != 0 }
}

/// Why the worker stops.
enum Ending {
    /// The server or an administrator asked it to.
    Shutdown,
    /// DROP DATABASE or ALTER DATABASE waits for the database.
    Yield,
    /// The extension (or the slot) is gone.
    Gone,
}

/// Takes (`true`) or releases the worker's session lock on its database,
/// in a mode that only DROP DATABASE and ALTER DATABASE's strongest forms
/// conflict with.
unsafe fn lock_database(db: pg_sys::Oid, take: bool) {
    let mode = pg_sys::AccessShareLock as pg_sys::LOCKMODE;
    // SAFETY: a shared-object lock on the database, held for the session.
    unsafe {
        if take {
            pg_sys::LockSharedObjectForSession(pg_sys::DatabaseRelationId, db, 0, mode);
        } else {
            pg_sys::UnlockSharedObjectForSession(pg_sys::DatabaseRelationId, db, 0, mode);
        }
    }
}

/// Whether a command waits for the database lock the worker holds (DROP
/// DATABASE, ALTER DATABASE ... RENAME or SET TABLESPACE): the worker then
/// releases the slot and the lock, and ends. The launcher starts it again,
/// and its connection waits until the command is over (if the database
/// still exists).
fn yield_to_ddl(db: pg_sys::Oid) -> bool {
    let tag = pg_sys::LOCKTAG {
        locktag_field1: pg_sys::InvalidOid.to_u32(),
        locktag_field2: pg_sys::DatabaseRelationId.to_u32(),
        locktag_field3: db.to_u32(),
        locktag_field4: 0,
        locktag_type: pg_sys::LockTagType::LOCKTAG_OBJECT as u8,
        locktag_lockmethodid: pg_sys::DEFAULT_LOCKMETHOD as u8,
    };
    // SAFETY: asks about a lock this process holds for its session.
    unsafe { pg_sys::LockHasWaiters(&tag, pg_sys::AccessShareLock as pg_sys::LOCKMODE, true) }
}

/// Whether the extension is still installed and the slot still there.
fn still_wanted() -> bool {
    spi::read_value::<bool>(
        "SELECT pg_catalog.to_regclass('audit.captura_wal') IS NOT NULL",
        &[],
    )
    .unwrap_or(false)
}

/// After DROP EXTENSION audit: the slot would keep WAL for ever; it goes,
/// with the worker's replication origin.
fn drop_slot_if_extension_gone(slot: &str) {
    if still_wanted() {
        return;
    }
    spi::run(
        "SELECT pg_catalog.pg_drop_replication_slot(slot_name) FROM pg_catalog.pg_replication_slots
          WHERE slot_name = $1 AND NOT active",
        &[slot.into()],
    );
    spi::run(
        "SELECT pg_catalog.pg_replication_origin_session_reset()",
        &[],
    );
    spi::run(
        "SELECT pg_catalog.pg_replication_origin_drop($1) WHERE pg_catalog.pg_replication_origin_oid($1) IS NOT NULL",
        &[slot.into()],
    );
}

static mut PREVIOUS_EMIT_LOG_HOOK: pg_sys::emit_log_hook_type = None;

/// Drops the LOG line logical decoding writes each time a batch starts
/// decoding (and the one on reaching a consistent point).
#[pg_guard]
unsafe extern "C-unwind" fn quiet_decoding_start(edata: *mut pg_sys::ErrorData) {
    // SAFETY: PostgreSQL passes the error being reported; message_id is its
    // untranslated format string or NULL.
    unsafe {
        let id = (*edata).message_id;
        if (*edata).elevel == pg_sys::LOG as i32 && !id.is_null() {
            let id = CStr::from_ptr(id).to_bytes();
            if id.starts_with(b"starting logical decoding for slot") {
                (*edata).output_to_server = false;
            }
        }
        if let Some(previous) = PREVIOUS_EMIT_LOG_HOOK {
            previous(edata);
        }
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn on_exit(_code: std::ffi::c_int, arg: pg_sys::Datum) {
    // SAFETY: the database OID registered above; plain global.
    let db = unsafe { pg_sys::Oid::from_datum(arg, false) }.unwrap_or(pg_sys::InvalidOid);
    // SAFETY: a plain global.
    shmem::release(db, unsafe { pg_sys::MyProcPid });
    // The session lock on the database: PostgreSQL releases session locks
    // when a transaction aborts, not when a process that is in none exits
    // (it would stay in the lock table, and DROP DATABASE wait for ever).
    // SAFETY: releases this process's own session locks.
    unsafe { pg_sys::LockReleaseSession(pg_sys::DEFAULT_LOCKMETHOD as pg_sys::LOCKMETHODID) };
}

/// Marks this session's transactions with the replication origin
/// `audit_captura_<db>` (created when missing). Origins are cluster-wide and
/// outlive a dropped database (each keeps one of `max_replication_slots`
/// progress entries): those of databases that no longer exist are dropped
/// first.
fn set_origin(db: pg_sys::Oid) {
    spi::run(
        "SELECT pg_catalog.pg_replication_origin_drop(o.roname)
           FROM pg_catalog.pg_replication_origin o
          WHERE o.roname ~ '^audit_captura_[0-9]+$'
            AND NOT EXISTS (SELECT FROM pg_catalog.pg_database d
                             WHERE 'audit_captura_' || d.oid::pg_catalog.text = o.roname)",
        &[],
    );
    let origin = super::slot_name_for(db);
    spi::run(
        "SELECT pg_catalog.pg_replication_origin_create($1)
          WHERE pg_catalog.pg_replication_origin_oid($1) IS NULL",
        &[origin.as_str().into()],
    );
    spi::run(
        "SELECT pg_catalog.pg_replication_origin_session_setup($1)",
        &[origin.as_str().into()],
    );
}

/// The worker's stored position, or 0.
fn stored_position(slot: &str) -> u64 {
    spi::value::<i64>(
        "SELECT (lsn_aplicado - '0/0'::pg_catalog.pg_lsn)::pg_catalog.int8
           FROM audit.captura_wal WHERE slot = $1",
        &[slot.into()],
    )
    .map_or(0, |v| v as u64)
}

/// Applies the decoded records: the events of every transaction not
/// applied before, in commit order, and the position reached, stored in the
/// same transaction. Returns the commit time of the last transaction
/// applied, if any.
fn apply(db: pg_sys::Oid, slot: &str, reached: u64, decoder: &mut Decoder) -> Option<i64> {
    let applied = stored_position(slot).max(shmem::get(db).map_or(0, |e| e.aplicado));
    let mut batch = Batch::new(applied);
    // The batch's events are stored together, a page at a time.
    log_insert::in_batches(|| decoder.for_each(|data| batch.read(data)));
    // Stored with the events it applied. A batch that applied none writes
    // nothing (its own write would be WAL to decode, for ever): decoding
    // again from the slot's position sees nothing of what it skipped either.
    if batch.last_commit.is_some() {
        store_position(slot, reached, batch.last_commit);
    }
    batch.last_commit
}

fn store_position(slot: &str, reached: u64, last_commit: Option<i64>) {
    as_log_owner(|| {
        spi::run(
            "INSERT INTO audit.captura_wal AS c (slot, lsn_aplicado, ultimo_commit, actualizado)
             VALUES ($1, $2::pg_catalog.pg_lsn, pg_catalog.to_timestamp($3), pg_catalog.now())
             ON CONFLICT (slot) DO UPDATE
                SET lsn_aplicado = EXCLUDED.lsn_aplicado,
                    ultimo_commit = COALESCE(EXCLUDED.ultimo_commit, c.ultimo_commit),
                    actualizado = EXCLUDED.actualizado",
            &[
                slot.into(),
                lsn_text(reached).as_str().into(),
                last_commit.map(unix_seconds).into(),
            ],
        )
    });
}

/// PostgreSQL timestamp (microseconds since 2000) as Unix seconds.
fn unix_seconds(ts: i64) -> f64 {
    ts as f64 / 1_000_000.0 + 946_684_800.0
}

/// Warns, once per episode, when the capture is behind by more than
/// `audit.captura_aviso_lag` seconds: a WARNING in the server log and a row
/// in `audit.log_tecnico`.
fn check_lag(db: pg_sys::Oid, decoder: &mut Decoder) {
    let limit = guc::CAPTURA_AVISO_LAG.get();
    let Some(lag) = super::estado::lag_seconds(db) else {
        return;
    };
    let over = limit > 0 && lag > f64::from(limit);
    if !shmem::set_lag_warned(db, over) || !over {
        return;
    }
    let mensaje =
        format!("capture from the WAL is {lag:.0} s behind (audit.captura_aviso_lag = {limit} s)");
    pgrx::warning!("audit: {mensaje}");
    let detalle =
        serde_json::json!({ "segundos": lag, "limite": limit, "slot": super::slot_name_for(db) });
    decoder.after_transaction();
    BackgroundWorker::transaction(|| log_tecnico("ADVERTENCIA", &mensaje, &detalle.to_string()));
}

/// A change the plugin could not turn into an event (`Record::Omission`,
/// with why): a row in `audit.log_tecnico`, in the batch's transaction, so
/// that it is written exactly once, as the events are.
fn record_omission(detalle: &[u8]) {
    let detalle = String::from_utf8_lossy(detalle);
    let parsed: serde_json::Value = serde_json::from_str(&detalle).unwrap_or_default();
    let mensaje = format!(
        "a change of table {}.{} was not recorded: {}",
        parsed["esquema"].as_str().unwrap_or("?"),
        parsed["tabla"].as_str().unwrap_or("?"),
        parsed["motivo"].as_str().unwrap_or("?"),
    );
    log_tecnico("ERROR", &mensaje, &detalle);
}

/// A row of category `captura` in `audit.log_tecnico` (`detalle`: a JSON
/// object's text), in the current transaction.
fn log_tecnico(nivel: &str, mensaje: &str, detalle: &str) {
    as_log_owner(|| {
        spi::run(
            "SELECT audit._escribir_log_tecnico($1, 'captura', $2, $3::pg_catalog.jsonb)",
            &[nivel.into(), mensaje.into(), detalle.into()],
        )
    });
}

/// The records of one batch, applied as they are read.
struct Batch {
    /// Transactions ending at or before this were applied before.
    applied: u64,
    rows: i64,
    /// End of the last whole transaction read.
    last_end: u64,
    last_commit: Option<i64>,
    txn: Option<Txn>,
    memoria: RowMemory,
}

/// The writer's transaction being read.
struct Txn {
    skip: bool,
    xid: u32,
    commit: i64,
    /// The last context message of the transaction, whatever its table.
    facts: Option<Rc<Facts>>,
    /// The last message for each audited table (schema, name): a change
    /// takes its own table's (see src/wal/contexto.rs).
    por_tabla: Vec<((String, String), Rc<Facts>)>,
}

impl Txn {
    /// The facts of a change of `esquema`.`tabla`: its table's last
    /// message, else the transaction's last one (a message of 0.2.0 names
    /// no table), else none was written.
    fn facts_for(&mut self, esquema: &str, tabla: &str) -> Rc<Facts> {
        if let Some((_, f)) = self
            .por_tabla
            .iter()
            .rev()
            .find(|((s, t), _)| s == esquema && t == tabla)
        {
            return f.clone();
        }
        self.facts
            .get_or_insert_with(|| Rc::new(facts_without_message(self.xid, self.commit)))
            .clone()
    }
}

impl Batch {
    fn new(applied: u64) -> Batch {
        Batch {
            applied,
            rows: 0,
            last_end: 0,
            last_commit: None,
            txn: None,
            memoria: RowMemory::new(),
        }
    }

    fn read(&mut self, data: &[u8]) {
        self.rows += 1;
        let registro = Record::decode(data)
            .unwrap_or_else(|e| panic!("audit: a capture record cannot be read: {e}"));
        match registro {
            Record::Begin {
                xid,
                lsn_fin,
                commit,
            } => {
                self.txn = Some(Txn {
                    skip: lsn_fin <= self.applied,
                    xid,
                    commit,
                    facts: None,
                    por_tabla: Vec::new(),
                });
            }
            Record::Context(bytes) => {
                if let Some(txn) = self.txn.as_mut().filter(|t| !t.skip) {
                    // The plugin passes only messages it believes; one that
                    // still cannot be read must not stop the capture (the
                    // worker would stop at it again on every start).
                    match serde_json::from_slice::<WalContext>(bytes) {
                        // Kept for the transaction's events: in the batch's
                        // memory, not the per-event memory.
                        Ok(contexto) => {
                            let facts = Rc::new(facts_from(&contexto));
                            match contexto.tabla {
                                Some(tabla) => {
                                    txn.por_tabla.retain(|(t, _)| *t != tabla);
                                    txn.por_tabla.push((tabla, facts.clone()));
                                }
                                None => txn.por_tabla.clear(),
                            }
                            txn.facts = Some(facts);
                        }
                        Err(e) => warning!(
                            "audit: a context message of transaction {} cannot be read ({e}); it was ignored",
                            txn.xid
                        ),
                    }
                }
            }
            Record::Change(cambio) => {
                if let Some(txn) = self.txn.as_mut().filter(|t| !t.skip) {
                    let facts = txn.facts_for(cambio.esquema, cambio.tabla);
                    self.memoria.run(|| write_event(&cambio, &facts));
                }
            }
            Record::Omission(detalle) => {
                if self.txn.as_ref().is_some_and(|t| !t.skip) {
                    record_omission(detalle);
                }
            }
            Record::Commit { lsn_fin, commit } => {
                let applied_now = self.txn.take().is_some_and(|t| !t.skip);
                self.last_end = self.last_end.max(lsn_fin);
                if applied_now {
                    self.last_commit = Some(commit);
                }
            }
        }
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        let memoria = std::mem::replace(&mut self.memoria, RowMemory::new());
        memoria.delete();
    }
}

/// The writer's facts from its context message.
fn facts_from(c: &WalContext) -> Facts {
    let uuid = |s: &Option<String>| s.as_deref().and_then(|s| Uuid::parse_str(s).ok());
    let identity = Identity {
        usuario_id: uuid(&c.usuario_id),
        usuario_nombre: c.usuario_nombre.clone(),
        empresa_id: uuid(&c.empresa_id),
        rol: None,
        usuario_externo: c.usuario_externo.clone(),
        avisos: Vec::new(),
    };
    Facts {
        identity: Rc::new(identity),
        avisos: c.avisos.clone(),
        rol_bd: c.rol_bd.as_str().into(),
        rol_sesion: c.rol_sesion.clone(),
        aplicacion: c.aplicacion.clone(),
        ip_cliente: c.ip_cliente.as_deref().map(session::inet),
        timestamp: c.inicio,
        transaccion: c.transaccion,
        contexto: Jsonb::from_value(&c.metadata).datum(),
    }
}

/// Facts for a transaction that wrote no context message (its context
/// trigger did not fire: the guards were switched off): who wrote is not
/// known, and the event says so.
fn facts_without_message(xid: u32, commit: i64) -> Facts {
    Facts {
        identity: Rc::new(Identity::default()),
        avisos: vec![
            "the transaction wrote no context message (its context trigger did not fire): the writer is unknown"
                .into(),
        ],
        rol_bd: "(desconocido)".into(),
        rol_sesion: None,
        aplicacion: None,
        ip_cliente: None,
        timestamp: commit,
        transaccion: full_xid(xid),
        contexto: session::empty_object(),
    }
}

/// A 32-bit transaction id with its epoch (it is in the recent past).
fn full_xid(xid: u32) -> i64 {
    // SAFETY: plain accessor.
    let next = unsafe { pg_sys::ReadNextFullTransactionId() }.value;
    let epoch = next >> 32;
    let next32 = next as u32;
    let epoch = if xid > next32 {
        epoch.saturating_sub(1)
    } else {
        epoch
    };
    ((epoch << 32) | u64::from(xid)) as i64
}

/// Writes the event a capture record carries, with the writer's facts.
fn write_event(c: &WalChange, facts: &Facts) {
    let datum = |b: Option<&[u8]>| b.map(from_varlena_image);
    let map = |s: Option<&str>| {
        s.and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok())
            .and_then(|v| match v {
                serde_json::Value::Object(m) => Some(m),
                _ => None,
            })
    };
    let change = match c.accion {
        Accion::Insert => Change::Insert {
            new_row: datum(c.nuevos).expect("an INSERT has its row"),
        },
        Accion::Update => Change::Update {
            old_row: datum(c.anteriores).expect("an UPDATE has its old row"),
            new_row: datum(c.nuevos).expect("an UPDATE has its new row"),
            changed: c.campos.clone().unwrap_or_default(),
        },
        Accion::Delete => Change::Delete {
            old_row: datum(c.anteriores).expect("a DELETE has its row"),
        },
        Accion::Truncate => Change::Truncate,
    };
    let event = Event {
        change,
        esquema: Some(c.esquema),
        tabla: Some(c.tabla),
        registro_id: c.registro_id.map(Uuid::from_bytes),
        registro_pk: datum(c.registro_pk),
        empresa_id: c.empresa_id,
        metadata: None,
        registro_id_anterior: c.registro_id_anterior.map(Uuid::from_bytes),
        traslado: c.traslado,
        exactos_anteriores: map(c.exactos_anteriores),
        exactos_nuevos: map(c.exactos_nuevos),
    };
    writer::write_with(&event, facts);
}
