//! Rows that enter an audited table without being written to it: a table
//! attached as a partition (`ALTER TABLE ... ATTACH PARTITION`) brings its
//! rows along. Each is recorded as the INSERT event the capture path writes
//! for a row inserted into the partition (same function, same snapshot
//! rules), so the history of every row in the audited table starts with an
//! event, however the row got there.

use crate::capture::cache;
use crate::capture::statement::RowMemory;
use crate::capture::{record_change_with, RowChange};
use pgrx::pg_sys;

/// Records every row of table `relid` (a leaf of an audited partitioned
/// table, locked by the command that attached it) as inserted, with
/// `metadata` as the events' metadata. Returns how many rows it recorded.
pub fn record_as_inserted(relid: pg_sys::Oid, metadata: pg_sys::Datum) -> i64 {
    let mut recorded = 0;
    // SAFETY: the relation exists and is locked by the running ALTER TABLE;
    // the scan uses the table's own access method through its routine table
    // (what tableam.h's inline table_beginscan does), with a registered
    // snapshot that sees this transaction's own changes, and every resource
    // is released before returning (or by the transaction's abort).
    unsafe {
        let rel = pg_sys::table_open(relid, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
        let state = cache::table_state(rel);
        let desc = (*rel).rd_att;
        let am = &*(*rel).rd_tableam;
        let snapshot = pg_sys::RegisterSnapshot(pg_sys::GetLatestSnapshot());
        let flags = pg_sys::ScanOptions::SO_TYPE_SEQSCAN
            | pg_sys::ScanOptions::SO_ALLOW_STRAT
            | pg_sys::ScanOptions::SO_ALLOW_PAGEMODE;
        let scan = am.scan_begin.expect("a table access method scans")(
            rel,
            snapshot,
            0,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            flags,
        );
        let slot = pg_sys::table_slot_create(rel, std::ptr::null_mut());
        let next = am.scan_getnextslot.expect("a table access method scans");
        let per_row = RowMemory::new();
        while next(scan, pg_sys::ScanDirection::ForwardScanDirection, slot) {
            pgrx::check_for_interrupts!();
            per_row.run(|| {
                let mut copied = false;
                let tuple = pg_sys::ExecFetchSlotHeapTuple(slot, false, &mut copied);
                record_change_with(&state, desc, RowChange::Insert(tuple), Some(metadata));
            });
            recorded += 1;
        }
        per_row.delete();
        pg_sys::ExecDropSingleTupleTableSlot(slot);
        am.scan_end.expect("a table access method scans")(scan);
        pg_sys::UnregisterSnapshot(snapshot);
        pg_sys::table_close(rel, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
    }
    recorded
}
