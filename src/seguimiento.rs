//! Following the log forward (`audit.seguir(despues_de, limite)`) without
//! missing an event that commits late.
//!
//! Event ids come from a sequence when the event is written, and a
//! transaction commits whenever it does: a reader that has seen id 11 may
//! later see id 10 appear, from a transaction that was still running. So a
//! follower must stop below every id a running transaction may still
//! commit: the horizon.
//!
//! How the horizon is known: before taking its first id, every transaction
//! that writes events takes a transaction-level advisory lock (shared, so
//! writers never wait for each other) whose key holds a lower bound of the
//! ids it will take: the sequence's last value plus one, read before its
//! first `nextval`. PostgreSQL releases the lock when the transaction ends,
//! after its commit is visible (and when a subtransaction that took it
//! rolls back: the next event takes it again). The horizon is the smallest
//! key held, or the sequence's last value plus one when none is held, read
//! before the events are: an id below it was taken by a transaction that
//! had ended before, so a query started afterwards sees it if it committed.
//!
//! This holds because ids are taken only by the writer (src/capture/writer.rs,
//! after announcing) and the sequence hands them out one at a time (CACHE 1,
//! as bootstrap.sql creates it: a per-backend cache would hand out ids below
//! the value just read).
//!
//! The keys (crates/audit-model/src/seguimiento.rs) are two integers in a
//! range of their own, in an advisory lock of a kind SQL cannot take
//! (`pg_locks.objsubid` = 3; `pg_advisory_lock` takes 1 and 2, and is
//! PUBLIC's): with the SQL kind, any role could take the keys of the next
//! ids exclusively and make every audited write wait, or hold a low key
//! and stop every follower.

use audit_model::seguimiento::{clave, CLAVES, CLAVE_BASE};
use pgrx::prelude::*;
use std::cell::Cell;

thread_local! {
    /// This transaction (or subtransaction tree) holds its lock.
    static REGISTRADA: Cell<bool> = const { Cell::new(false) };
}

/// The transaction ended, or a subtransaction rolled back (releasing the
/// locks it took): the next event takes the lock again (src/backend.rs).
pub fn forget() {
    REGISTRADA.with(|r| r.set(false));
}

/// Called before the writer takes an event's id, as the log's owner: the
/// first time in a transaction, announces the lowest id it can take.
pub fn announce(sequence: pg_sys::Oid) {
    if REGISTRADA.with(Cell::get) {
        return;
    }
    // SAFETY: pg_sequence_last_value(regclass) of the log's sequence, as
    // its owner; NULL before its first nextval.
    let last = unsafe {
        pgrx::direct_function_call::<i64>(pg_sys::pg_sequence_last_value, &[sequence.into_datum()])
    }
    .unwrap_or(0);
    let (alto, bajo) = clave(last + 1);
    let tag = pg_sys::LOCKTAG {
        // SAFETY: plain global.
        locktag_field1: unsafe { pg_sys::MyDatabaseId }.to_u32(),
        locktag_field2: alto as u32,
        locktag_field3: bajo as u32,
        locktag_field4: ANNOUNCE_KIND,
        locktag_type: pg_sys::LockTagType::LOCKTAG_ADVISORY as u8,
        locktag_lockmethodid: pg_sys::USER_LOCKMETHOD as u8,
    };
    // SAFETY: a transaction-level lock (released by PostgreSQL when the
    // transaction, or the subtransaction that took it, ends), shared: writers
    // never wait for each other, and nobody else can take this kind.
    unsafe {
        pg_sys::LockAcquire(&tag, pg_sys::ShareLock as pg_sys::LOCKMODE, false, false);
    }
    REGISTRADA.with(|r| r.set(true));
}

/// The advisory lock kind of the announcements (`locktag_field4`, shown as
/// `pg_locks.objsubid`): 1 and 2 are what `pg_advisory_lock` takes.
const ANNOUNCE_KIND: u16 = 3;

/// The horizon: the smallest id a running writer may still commit; every
/// event below it is final. The sequence is read as the log's owner (it is
/// not readable by others; the number says how far ids have gone, not what
/// the events are).
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn _horizonte_seguimiento() -> i64 {
    // First the sequence, then the locks: a writer that takes its lock
    // after the sequence was read takes ids above what was read.
    let last = crate::elevation::as_log_owner(|| {
        crate::spi::value::<i64>(
            "SELECT pg_catalog.pg_sequence_last_value('audit.historial_cambios_id_seq'::pg_catalog.regclass)",
            &[],
        )
    })
    .unwrap_or(0);
    let held = crate::spi::rows(
        "SELECT l.classid::pg_catalog.int8 AS alto, l.objid::pg_catalog.int8 AS bajo
           FROM pg_catalog.pg_locks l
          WHERE l.locktype = 'advisory' AND l.objsubid = 3
            AND l.database = (SELECT d.oid FROM pg_catalog.pg_database d
                               WHERE d.datname = pg_catalog.current_database())
            AND l.classid::pg_catalog.int8 >= $1 AND l.classid::pg_catalog.int8 < $1 + $2",
        &[i64::from(CLAVE_BASE).into(), CLAVES.into()],
        |r| {
            Ok(audit_model::seguimiento::id_de(
                r.get_by_name::<i64, _>("alto")?.unwrap_or_default(),
                r.get_by_name::<i64, _>("bajo")?.unwrap_or_default(),
            ))
        },
    );
    held.into_iter().fold(last + 1, i64::min)
}
