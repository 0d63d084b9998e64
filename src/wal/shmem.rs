//! What every backend must know about the capture workers without asking
//! them: which process serves which database, and how far it has applied
//! the WAL. In shared memory, so `audit.esperar_captura` sees progress
//! whatever its own snapshot (a REPEATABLE READ caller would never see the
//! worker's table move). Exists only when the library is preloaded.

use pgrx::lwlock::PgLwLock;
use pgrx::pg_sys;
use pgrx::shmem::PGRXSharedMemory;
use pgrx::{pg_guard, pg_shmem_init};

/// Databases whose capture can run at once.
pub const MAX_BASES: usize = 64;

/// One database's capture worker.
#[derive(Copy, Clone, Debug, Default)]
pub struct Worker {
    /// The database (0: a free entry).
    pub db: u32,
    /// The worker's process id, 0 when none runs.
    pub pid: i32,
    /// Every transaction that committed before this WAL position is in the
    /// log (0: not known yet).
    pub aplicado: u64,
    /// Commit time of the last transaction applied (PostgreSQL timestamp).
    pub ultimo_commit: i64,
    /// When the worker last had applied everything flushed to the WAL
    /// (PostgreSQL timestamp): how far behind it is, in time, is measured
    /// from here while WAL waits.
    pub al_dia: i64,
    /// A lag warning was given and the lag has not dropped below the
    /// threshold since.
    pub avisado: bool,
    /// The worker has found the database's slot complete (created, at its
    /// consistent point, persistent): what commits from now on is decoded.
    pub slot_listo: bool,
    /// The worker's own `wal_compression` (PostgreSQL's `WalCompression`).
    pub compresion_wal: i32,
}

#[derive(Copy, Clone)]
pub struct Workers([Worker; MAX_BASES]);

impl Default for Workers {
    fn default() -> Self {
        Workers([Worker::default(); MAX_BASES])
    }
}

// SAFETY: plain data, no pointers.
unsafe impl PGRXSharedMemory for Workers {}

// SAFETY: a lock of its own name, initialised by pg_shmem_init! (below)
// while shared memory is set up, before any use.
static ENTRADAS: PgLwLock<Workers> = unsafe { PgLwLock::new(c"audit_captura_wal") };

/// Reserves the shared memory; from `_PG_init` while preloading only.
pub fn init() {
    pg_shmem_init!(ENTRADAS);
}

fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    pid != 0 && unsafe { libc_kill(pid, 0) } == 0
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

/// Makes `pid` the worker of database `db`, unless a live one already is.
/// Returns whether it is now.
pub fn claim(db: pg_sys::Oid, pid: i32) -> bool {
    let mut entradas = ENTRADAS.exclusive();
    let db = db.to_u32();
    if let Some(e) = entradas.0.iter_mut().find(|e| e.db == db) {
        if e.pid != pid && alive(e.pid) {
            return false;
        }
        // (A worker that takes over keeps the lag its predecessor had.)
        e.pid = pid;
        return true;
    }
    // A free entry, else one whose worker is gone (its database may have
    // been dropped: entries are not freed with their database).
    let free = entradas.0.iter().position(|e| e.db == 0);
    let free = free.or_else(|| entradas.0.iter().position(|e| !alive(e.pid)));
    match free.map(|i| &mut entradas.0[i]) {
        Some(e) => {
            *e = Worker {
                db,
                pid,
                al_dia: now(),
                ..Worker::default()
            };
            true
        }
        None => false,
    }
}

fn now() -> i64 {
    // SAFETY: plain accessor.
    unsafe { pg_sys::GetCurrentTimestamp() }
}

/// Forgets the entries of databases that no longer have a capture slot and
/// whose worker is gone (the launcher's housekeeping).
pub fn prune(with_slot: &[pg_sys::Oid]) {
    let mut entradas = ENTRADAS.exclusive();
    for e in entradas.0.iter_mut() {
        if e.db != 0 && !alive(e.pid) && !with_slot.iter().any(|d| d.to_u32() == e.db) {
            *e = Worker::default();
        }
    }
}

/// The worker of `db` found its slot complete.
pub fn set_slot_ready(db: pg_sys::Oid) {
    let mut entradas = ENTRADAS.exclusive();
    if let Some(e) = entradas.0.iter_mut().find(|e| e.db == db.to_u32()) {
        e.slot_listo = true;
    }
}

/// The worker of `db` writes its WAL with this `wal_compression`.
pub fn set_compression(db: pg_sys::Oid, compresion_wal: i32) {
    let mut entradas = ENTRADAS.exclusive();
    if let Some(e) = entradas.0.iter_mut().find(|e| e.db == db.to_u32()) {
        e.compresion_wal = compresion_wal;
    }
}

/// The worker of `db` ends.
pub fn release(db: pg_sys::Oid, pid: i32) {
    let mut entradas = ENTRADAS.exclusive();
    if let Some(e) = entradas
        .0
        .iter_mut()
        .find(|e| e.db == db.to_u32() && e.pid == pid)
    {
        e.pid = 0;
        e.slot_listo = false;
    }
}

/// The database's entry, if its capture ever ran since the server started.
pub fn get(db: pg_sys::Oid) -> Option<Worker> {
    ENTRADAS
        .share()
        .0
        .iter()
        .find(|e| e.db == db.to_u32())
        .copied()
}

/// Whether a live worker serves `db`.
pub fn served(db: pg_sys::Oid) -> bool {
    get(db).is_some_and(|e| alive(e.pid))
}

/// Records, after its batch committed, how far the worker of `db` has
/// applied the WAL; `al_dia`: the batch had applied everything flushed when
/// it started, at that time.
pub fn set_applied(db: pg_sys::Oid, aplicado: u64, ultimo_commit: i64, al_dia: Option<i64>) {
    let mut entradas = ENTRADAS.exclusive();
    if let Some(e) = entradas.0.iter_mut().find(|e| e.db == db.to_u32()) {
        e.aplicado = e.aplicado.max(aplicado);
        if ultimo_commit != 0 {
            e.ultimo_commit = ultimo_commit;
        }
        if let Some(t) = al_dia {
            e.al_dia = e.al_dia.max(t);
        }
    }
}

/// Records whether the lag is over its threshold; true when it has just
/// gone over (a warning is due).
pub fn set_lag_warned(db: pg_sys::Oid, over: bool) -> bool {
    let mut entradas = ENTRADAS.exclusive();
    match entradas.0.iter_mut().find(|e| e.db == db.to_u32()) {
        Some(e) => {
            let due = over && !e.avisado;
            e.avisado = over;
            due
        }
        None => false,
    }
}

/// The current PostgreSQL timestamp.
pub fn timestamp_now() -> i64 {
    now()
}
