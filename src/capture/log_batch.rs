//! Log rows kept and stored together, as `COPY FROM` stores its rows.
//!
//! Stored one by one, every row pays a heap insertion of its own: a buffer
//! lock, a WAL record and its header. `table_multi_insert` (the access
//! method's bulk path, heap_multi_insert for the log) fills each page with
//! as many kept rows as fit under one lock and one WAL record. The callers
//! that produce many rows at once use it: the statement trigger (every row
//! of a statement) and the WAL capture worker (every event of a batch).
//!
//! What changes for the rows: nothing but when they reach the heap. Each
//! row is routed and checked against the log's constraints when it is
//! added (errors are raised there, by the row that causes them); its index
//! entries are made right after its page write, as COPY does. Kept rows are
//! always stored before the code that kept them returns
//! (`log_insert::in_batches`), so no reader, in this transaction or any
//! other, can miss one; if an error interrupts that code they are dropped
//! with the work that produced them.

use pgrx::pg_sys;

/// At most this many rows are kept (COPY's MAX_BUFFERED_TUPLES)...
const MAX_ROWS: usize = 1000;
/// ...and at most about this many bytes of them (COPY's MAX_BUFFERED_BYTES):
/// snapshots of wide rows are large.
const MAX_BYTES: usize = 64 * 1024;

/// Rows kept for one partition of the log (the leaf the rows were routed
/// to): a batch never spans two, so a row routed elsewhere stores the batch
/// first.
pub(super) struct Pending {
    leaf: *mut pg_sys::ResultRelInfo,
    /// Slots of the leaf's row type, made in the inserter's executor state
    /// (freed with it); the first `used` hold rows.
    slots: Vec<*mut pg_sys::TupleTableSlot>,
    used: usize,
    bytes: usize,
    /// The slots made for other leaves, reused when rows go there again
    /// (rows of two months can alternate around a month's end).
    other_leaves: Vec<(*mut pg_sys::ResultRelInfo, Vec<*mut pg_sys::TupleTableSlot>)>,
}

impl Pending {
    pub(super) const fn new() -> Pending {
        Pending {
            leaf: std::ptr::null_mut(),
            slots: Vec::new(),
            used: 0,
            bytes: 0,
            other_leaves: Vec::new(),
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.used == 0
    }

    /// Keeps a copy of `row`, already routed to `leaf` and checked, storing
    /// what was kept first when the batch is full or for another leaf.
    ///
    /// # Safety
    /// In a transaction; `estate` and `leaf` are the open inserter's, `row`
    /// holds a row of the leaf's type.
    pub(super) unsafe fn add(
        &mut self,
        estate: *mut pg_sys::EState,
        leaf: *mut pg_sys::ResultRelInfo,
        row: *mut pg_sys::TupleTableSlot,
    ) {
        // SAFETY: the caller's guarantees (above): the open inserter's state, in a transaction.
        unsafe {
            if leaf != self.leaf {
                self.flush(estate);
                let slots = match self.other_leaves.iter().position(|(l, _)| *l == leaf) {
                    Some(at) => self.other_leaves.swap_remove(at).1,
                    None => Vec::new(),
                };
                let previous = std::mem::replace(&mut self.slots, slots);
                if !self.leaf.is_null() {
                    self.other_leaves.push((self.leaf, previous));
                }
                self.leaf = leaf;
            }
            if self.used == self.slots.len() {
                // In the executor state's context, which outlives the batch.
                let old = pg_sys::MemoryContextSwitchTo((*estate).es_query_cxt);
                let rel = (*leaf).ri_RelationDesc;
                let slot = pg_sys::ExecInitExtraTupleSlot(
                    estate,
                    (*rel).rd_att,
                    pg_sys::table_slot_callbacks(rel),
                );
                pg_sys::MemoryContextSwitchTo(old);
                self.slots.push(slot);
            }
            // A copy in the slot's own memory: the row's values live in the
            // caller's per-row memory, emptied before the batch is stored.
            let kept = self.slots[self.used];
            pg_sys::ExecCopySlot(kept, row);
            (*kept).tts_tableOid = (*row).tts_tableOid;
            let tuple = pg_sys::ExecFetchSlotHeapTuple(kept, false, std::ptr::null_mut());
            self.bytes += (*tuple).t_len as usize;
            self.used += 1;
            if self.used == MAX_ROWS || self.bytes >= MAX_BYTES {
                self.flush(estate);
            }
        }
    }

    /// Stores the kept rows and their index entries.
    ///
    /// # Safety
    /// As for [`Pending::add`], under the transaction's top-level resource
    /// owner (the inserter's relations belong to it).
    pub(super) unsafe fn flush(&mut self, estate: *mut pg_sys::EState) {
        if self.used == 0 {
            return;
        }
        // SAFETY: the caller's guarantees (above); the kept slots hold rows of the leaf.
        unsafe {
            let leaf = self.leaf;
            let rel = (*leaf).ri_RelationDesc;
            let cid = pg_sys::GetCurrentCommandId(true);
            let slots = self.slots.as_mut_ptr();
            let used = self.used as i32;
            pg_sys::table_multi_insert(rel, slots, used, cid, 0, std::ptr::null_mut());
            for &slot in &self.slots[..self.used] {
                super::log_insert::index_stored_row(estate, leaf, slot);
                pg_sys::ExecClearTuple(slot);
            }
        }
        self.used = 0;
        self.bytes = 0;
    }

    /// Forgets the kept rows without storing them (an error interrupted
    /// the work that produced them). Calls nothing in PostgreSQL: it may
    /// run while an error unwinds; the copies are freed when their slots
    /// are reused or with the executor state.
    pub(super) fn discard(&mut self) {
        self.used = 0;
        self.bytes = 0;
    }
}
