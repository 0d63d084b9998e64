//! Set-based capture (`"captura": "sentencia"`): one AFTER ... FOR EACH
//! STATEMENT trigger per kind of change, reading the statement's transition
//! tables.
//!
//! Why: a row-level AFTER trigger makes PostgreSQL queue every changed row in
//! memory until the statement ends, so a statement of millions of rows holds
//! tens of megabytes in the after-trigger queue. Transition tables are
//! tuplestores that spill to disk past `work_mem`, and here each row's work
//! happens in a memory context reset after the row: the backend's memory
//! stays flat whatever the statement's size.
//!
//! The events are the row path's, made by the same function
//! (`record_change`): same rows, same columns, same values, and within a
//! statement the same order (PostgreSQL adds rows to transition tables in the
//! order it changes them, and for an UPDATE to the old and new tables
//! together, so the n-th old row and the n-th new row are one row's two
//! versions). What differs is only when the events are written relative to
//! other AFTER triggers, and that an `INSERT ... ON CONFLICT DO UPDATE`
//! records its updates and its inserts as two groups (docs/capture.md).
//!
//! Transition tables are not available per partition, and a statement
//! trigger on a partitioned or inheritance parent does not fire for changes
//! made to a child directly: `auditar` offers this mode for plain tables only.

use crate::capture::table_state::TableState;
use crate::capture::{misuse, record_change, RowChange};
use pgrx::pg_sys;

/// Records every row of the statement's transition tables.
pub fn record(td: &pg_sys::TriggerData, state: &TableState, desc: pg_sys::TupleDesc, op: u32) {
    let (old, new) = (td.tg_oldtable, td.tg_newtable);
    let has = |t: *mut pg_sys::Tuplestorestate| !t.is_null();
    let complete = match op {
        pg_sys::TRIGGER_EVENT_INSERT => has(new),
        pg_sys::TRIGGER_EVENT_UPDATE => has(old) && has(new),
        _ => has(old),
    };
    if !complete {
        misuse(
            "audit.registrar_cambio() must be fired FOR EACH ROW for INSERT, UPDATE and DELETE, \
             or FOR EACH STATEMENT with its transition tables (REFERENCING OLD TABLE for DELETE, \
             NEW TABLE for INSERT, both for UPDATE)",
        );
    }
    // The statement's events are stored together, a page at a time.
    crate::capture::log_insert::in_batches(|| record_all(state, desc, old, new));
}

/// Records the rows of the transition tables `old` and `new` (either null).
fn record_all(
    state: &TableState,
    desc: pg_sys::TupleDesc,
    old: *mut pg_sys::Tuplestorestate,
    new: *mut pg_sys::Tuplestorestate,
) {
    let has = |t: *mut pg_sys::Tuplestorestate| !t.is_null();
    // SAFETY: the tuplestores are the firing trigger's transition tables,
    // holding rows of the trigger's relation (descriptor `desc`); they live
    // until the statement's after-trigger events are done.
    unsafe {
        let mut olds = has(old).then(|| Transition::open(old, desc));
        let mut news = has(new).then(|| Transition::open(new, desc));
        let per_row = RowMemory::new();
        loop {
            pgrx::check_for_interrupts!();
            let recorded = per_row.run(|| {
                let old_row = olds.as_mut().map(|t| t.next());
                let new_row = news.as_mut().map(|t| t.next());
                let change = match (old_row, new_row) {
                    (None, Some(Some(n))) => RowChange::Insert(n),
                    (Some(Some(o)), Some(Some(n))) => RowChange::Update(o, n),
                    (Some(Some(o)), None) => RowChange::Delete(o),
                    (Some(None), Some(None)) | (None, Some(None)) | (Some(None), None) => {
                        return false
                    }
                    // One table ended before the other: they do not pair up.
                    _ => panic!(
                        "the old and new transition tables of an UPDATE have different row counts"
                    ),
                };
                record_change(state, desc, change);
                true
            });
            if !recorded {
                break;
            }
        }
        per_row.delete();
        for t in olds.into_iter().chain(news) {
            t.close();
        }
    }
}

/// A reader of one transition table, with a read pointer of its own: the
/// tuplestore is shared with every other trigger that reads it.
struct Transition {
    store: *mut pg_sys::Tuplestorestate,
    pointer: i32,
    slot: *mut pg_sys::TupleTableSlot,
    /// The context the slot's tuples are read into (see `next`).
    reading: pg_sys::MemoryContext,
}

impl Transition {
    /// # Safety
    /// `store` must hold tuples of descriptor `desc`.
    unsafe fn open(store: *mut pg_sys::Tuplestorestate, desc: pg_sys::TupleDesc) -> Transition {
        // SAFETY: the caller's guarantee: a transition table of rows of `desc`.
        unsafe {
            let pointer =
                pg_sys::tuplestore_alloc_read_pointer(store, pg_sys::EXEC_FLAG_REWIND as i32);
            pg_sys::tuplestore_select_read_pointer(store, pointer);
            pg_sys::tuplestore_rescan(store);
            let slot = pg_sys::MakeSingleTupleTableSlot(desc, &pg_sys::TTSOpsMinimalTuple);
            Transition {
                store,
                pointer,
                slot,
                reading: pg_sys::CurrentMemoryContext,
            }
        }
    }

    /// The next row, as a heap tuple allocated in the current memory context.
    unsafe fn next(&mut self) -> Option<pg_sys::HeapTuple> {
        // SAFETY: the store and the slot are this reader's, open until close().
        unsafe {
            pg_sys::tuplestore_select_read_pointer(self.store, self.pointer);
            // Once the store has spilled to disk, each tuple read is palloc'd
            // in the current context and owned by the slot, which frees it
            // at the next read: it must not live in the row's memory, which
            // is reset before then.
            let row_memory = pg_sys::MemoryContextSwitchTo(self.reading);
            let found = pg_sys::tuplestore_gettupleslot(self.store, true, false, self.slot);
            pg_sys::MemoryContextSwitchTo(row_memory);
            if !found {
                return None;
            }
            let mut copied = false;
            // A minimal-tuple slot has no heap tuple of its own: this is a
            // copy, freed with the row's memory.
            Some(pg_sys::ExecFetchSlotHeapTuple(
                self.slot,
                false,
                &mut copied,
            ))
        }
    }

    unsafe fn close(self) {
        // SAFETY: the slot is this reader's own; the store stays (shared).
        unsafe {
            pg_sys::ExecDropSingleTupleTableSlot(self.slot);
            // Leave the shared store as other readers expect to find it.
            pg_sys::tuplestore_select_read_pointer(self.store, 0);
        }
    }
}

/// A memory context for one row's work, emptied after each row. (The trigger
/// is called once for the whole statement: without this, every snapshot of
/// every row would stay allocated until the statement ends.)
pub(crate) struct RowMemory(pg_sys::MemoryContext);

impl RowMemory {
    pub(crate) fn new() -> RowMemory {
        // SAFETY: a child of the trigger call's context, deleted with it at
        // the latest (also when an error interrupts the loop).
        RowMemory(unsafe {
            pg_sys::AllocSetContextCreateInternal(
                pg_sys::CurrentMemoryContext,
                c"audit statement capture".as_ptr(),
                pg_sys::ALLOCSET_DEFAULT_MINSIZE as usize,
                pg_sys::ALLOCSET_DEFAULT_INITSIZE as usize,
                pg_sys::ALLOCSET_DEFAULT_MAXSIZE as usize,
            )
        })
    }

    /// Runs `f` with this as the current context, then empties it.
    pub(crate) fn run<R>(&self, f: impl FnOnce() -> R) -> R {
        // SAFETY: switching to a valid context and back; what `f` allocated
        // there is no longer referenced once it returns (the event is
        // stored; caches copy into longer-lived contexts).
        unsafe {
            let previous = pg_sys::MemoryContextSwitchTo(self.0);
            let result = f();
            pg_sys::MemoryContextSwitchTo(previous);
            pg_sys::MemoryContextReset(self.0);
            result
        }
    }

    pub(crate) fn delete(self) {
        // SAFETY: created in new(), not current.
        unsafe { pg_sys::MemoryContextDelete(self.0) };
    }
}
