//! Storing rows in `audit.historial_cambios` without the planner.
//!
//! A prepared INSERT pays executor start-up on every row: opening the
//! partition and its indexes, routing, and re-reading the CHECK constraints
//! from their stored text (the profile in docs/design.md: two thirds of the
//! capture's time). Instead this keeps, for the whole transaction, what
//! PostgreSQL's own `COPY FROM` keeps for a statement: an executor state with
//! the log as result relation, partition routing, the partitions' open indexes
//! and compiled constraints. Each event is then routed, checked against the
//! CHECK constraints, stored with the table's access method and indexed.
//!
//! Lifetime: built at the first event of a transaction (in
//! TopTransactionContext) and closed at commit. Relations are opened under
//! the transaction's top-level resource owner, not the statement's (which
//! would release them, with warnings, when the statement ends), so it also
//! outlives subtransactions. Before any utility command it is closed (see
//! the ProcessUtility hook below): PostgreSQL refuses ALTER, DROP or TRUNCATE
//! of a table this session still holds open. It is rebuilt at the next event,
//! as it is after the log or its partitions change. At abort PostgreSQL
//! releases everything and it is simply forgotten.
//!
//! Inserts bypass triggers on the log; it has no INSERT triggers (its guards
//! act on UPDATE, DELETE and TRUNCATE).
//!
//! Inside [`in_batches`] rows are kept and stored together (log_batch.rs).

use crate::capture::log_batch::Pending;
use crate::capture::log_columns::{LogRow, COUNT, NAMES};
use crate::error::AuditError;
use pgrx::pg_sys;
use std::cell::{Cell, RefCell};
use std::ffi::{c_char, c_int, c_void};

extern "C-unwind" {
    // executor/execPartition.h (PostgreSQL 14 and later), absent from pgrx's
    // bindings. Called only through pg_guard_ffi_boundary.
    fn ExecSetupPartitionTupleRouting(
        estate: *mut pg_sys::EState,
        rel: pg_sys::Relation,
    ) -> *mut c_void;
    fn ExecFindPartition(
        mtstate: *mut pg_sys::ModifyTableState,
        root: *mut pg_sys::ResultRelInfo,
        proute: *mut c_void,
        slot: *mut pg_sys::TupleTableSlot,
        estate: *mut pg_sys::EState,
    ) -> *mut pg_sys::ResultRelInfo;
    fn ExecCleanupTupleRouting(mtstate: *mut pg_sys::ModifyTableState, proute: *mut c_void);

    // The same function pgrx binds, without pgrx's error guard: errors of the
    // utility command itself must reach the client untouched (the guard would
    // re-raise them without their CONTEXT).
    #[link_name = "standard_ProcessUtility"]
    fn standard_process_utility_unguarded(
        pstmt: *mut pg_sys::PlannedStmt,
        query_string: *const c_char,
        read_only_tree: bool,
        context: pg_sys::ProcessUtilityContext::Type,
        params: pg_sys::ParamListInfo,
        query_env: *mut pg_sys::QueryEnvironment,
        dest: *mut pg_sys::DestReceiver,
        qc: *mut pg_sys::QueryCompletion,
    );
}

/// The executor state that stores rows in the log, built once per
/// transaction (see the module's docs). Copied out of [`INSERTER`] for each
/// row: no borrow may be held while PostgreSQL runs.
#[derive(Clone, Copy)]
struct Executor {
    estate: *mut pg_sys::EState,
    mtstate: *mut pg_sys::ModifyTableState,
    root: *mut pg_sys::ResultRelInfo,
    proute: *mut c_void,
    /// The slot each row is put in before routing, of the log's row type.
    slot: *mut pg_sys::TupleTableSlot,
    /// Attribute index in the log's descriptor of each column of a LogRow.
    positions: [usize; COUNT],
    natts: usize,
}

struct Inserter {
    executor: Executor,
    /// Rows kept by [`in_batches`], not stored yet.
    pending: Pending,
}

thread_local! {
    /// The inserter of the current transaction, if one is open.
    static INSERTER: RefCell<Option<Inserter>> = const { RefCell::new(None) };
    /// Set by relcache invalidation of the log: build a new inserter.
    static STALE: Cell<bool> = const { Cell::new(false) };
    /// How many calls of [`in_batches`] are running (they may nest).
    static BATCHING: Cell<u32> = const { Cell::new(0) };
    static PREVIOUS_PROCESS_UTILITY: Cell<pg_sys::ProcessUtility_hook_type> = const { Cell::new(None) };
}

/// Installs the utility hook (from src/backend.rs), chaining the previous
/// one.
///
/// # Safety
/// Once per backend, from `_PG_init`.
pub unsafe fn install_utility_hook() {
    // SAFETY: reading and setting the hook variable, from _PG_init.
    unsafe {
        PREVIOUS_PROCESS_UTILITY.with(|p| p.set(pg_sys::ProcessUtility_hook));
        pg_sys::ProcessUtility_hook = Some(release_before_utility);
    }
}

/// Runs `f` with the transaction's top-level resource owner as the current
/// one, so what it opens or closes belongs to the transaction.
fn under_top_owner<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(pg_sys::ResourceOwner);
    impl Drop for Restore {
        fn drop(&mut self) {
            // SAFETY: restores the owner saved below.
            unsafe { pg_sys::CurrentResourceOwner = self.0 };
        }
    }
    // SAFETY: inside a transaction both owners exist.
    let _restore = unsafe {
        let saved = Restore(pg_sys::CurrentResourceOwner);
        pg_sys::CurrentResourceOwner = pg_sys::TopTransactionResourceOwner;
        saved
    };
    f()
}

/// Runs `f`, keeping the log rows it stores to store them together
/// (log_batch.rs); all are stored before this returns. If `f` fails, the
/// rows it kept are dropped with the rest of its work.
pub fn in_batches<R>(f: impl FnOnce() -> R) -> R {
    struct Batching;
    impl Drop for Batching {
        fn drop(&mut self) {
            BATCHING.with(|b| b.set(b.get() - 1));
            if std::thread::panicking() {
                // Nothing may be called in PostgreSQL while an error unwinds.
                INSERTER.with(|i| {
                    if let Ok(mut i) = i.try_borrow_mut() {
                        if let Some(i) = i.as_mut() {
                            i.pending.discard();
                        }
                    }
                });
            }
        }
    }
    BATCHING.with(|b| b.set(b.get() + 1));
    let batching = Batching;
    let result = f();
    flush();
    drop(batching);
    result
}

/// Stores the rows kept so far, if any.
fn flush() {
    let has_rows = INSERTER.with(|i| i.borrow().as_ref().is_some_and(|i| !i.pending.is_empty()));
    if has_rows {
        // SAFETY: the inserter is open in this transaction; its relations
        // belong to the top-level owner.
        with_pending(|pending, estate| under_top_owner(|| unsafe { pending.flush(estate) }));
    }
}

/// Runs `f` on the open inserter's pending rows and executor state. The rows
/// are taken out while `f` runs, since `f` calls into PostgreSQL and no
/// borrow may be held across such a call, then put back.
fn with_pending(f: impl FnOnce(&mut Pending, *mut pg_sys::EState)) {
    let (mut pending, estate) = INSERTER.with(|i| {
        let mut i = i.borrow_mut();
        let i = i.as_mut().expect("the inserter is open");
        (
            std::mem::replace(&mut i.pending, Pending::new()),
            i.executor.estate,
        )
    });
    f(&mut pending, estate);
    INSERTER.with(|i| {
        if let Some(i) = i.borrow_mut().as_mut() {
            i.pending = pending;
        }
    });
}

/// Closes the inserter now, if one is open (it is rebuilt when needed),
/// storing first the rows it keeps.
pub fn close() {
    flush();
    if let Some(inserter) = INSERTER.with(|i| i.borrow_mut().take()) {
        // SAFETY: its resources belong to the top-level owner.
        under_top_owner(|| unsafe { inserter.close() });
    }
}

/// The log or its partitions changed: the next event builds a new inserter.
/// Safe to call from an invalidation callback (touches nothing else).
pub fn mark_stale() {
    STALE.with(|s| s.set(true));
}

/// Stores one row. Must run as the log's owner (the sequence's nextval and
/// the index insertions are the owner's work).
pub fn insert(log: pg_sys::Oid, row: &LogRow) {
    if STALE.with(|s| s.replace(false)) {
        close();
    }
    under_top_owner(|| {
        if INSERTER.with(|i| i.borrow().is_none()) {
            // SAFETY: builds executor state in TopTransactionContext.
            let inserter = unsafe { Inserter::new(log) };
            INSERTER.with(|i| *i.borrow_mut() = Some(inserter));
        }
        // Copy the pointers out: no borrow may be held while calling
        // PostgreSQL (an invalidation callback could run meanwhile).
        let executor = INSERTER.with(|i| {
            let i = i.borrow();
            i.as_ref().expect("an inserter was just built").executor
        });
        // SAFETY: the state is valid for this transaction (see module docs).
        unsafe {
            let (leaf, stored) = route(executor, row);
            if BATCHING.with(Cell::get) == 0 {
                store(executor.estate, leaf, stored);
            } else {
                keep(executor.estate, leaf, stored);
            }
        }
    });
}

/// Adds a routed row to the inserter's pending rows.
///
/// # Safety
/// As for [`store`].
unsafe fn keep(
    estate: *mut pg_sys::EState,
    leaf: *mut pg_sys::ResultRelInfo,
    stored: *mut pg_sys::TupleTableSlot,
) {
    // SAFETY: the caller's guarantees (`estate` is the open inserter's).
    with_pending(|pending, _| unsafe { pending.add(estate, leaf, stored) });
}

/// Fills the inserter's slot with `row`, routes it to its partition of the
/// log and checks it against that partition's constraints. Returns the
/// partition and the row in its row type.
///
/// # Safety
/// The state is the open inserter's, in this transaction.
unsafe fn route(
    Executor {
        estate,
        mtstate,
        root,
        proute,
        slot,
        positions,
        natts,
    }: Executor,
    row: &LogRow,
) -> (*mut pg_sys::ResultRelInfo, *mut pg_sys::TupleTableSlot) {
    // SAFETY: the caller's guarantee: the open inserter's state; the slot has natts values.
    unsafe {
        pg_sys::ExecClearTuple(slot);
        let values = std::slice::from_raw_parts_mut((*slot).tts_values, natts);
        let nulls = std::slice::from_raw_parts_mut((*slot).tts_isnull, natts);
        nulls.fill(true);
        let (row_values, row_nulls) = row.values_and_nulls();
        for (i, &at) in positions.iter().enumerate() {
            values[at] = row_values[i];
            nulls[at] = row_nulls[i];
        }
        pg_sys::ExecStoreVirtualTuple(slot);

        let leaf = pg_sys::ffi::pg_guard_ffi_boundary(|| {
            ExecFindPartition(mtstate, root, proute, slot, estate)
        });
        let mut stored = slot;
        let map = (*leaf).ri_RootToPartitionMap;
        if !map.is_null() {
            stored =
                pg_sys::execute_attr_map_slot((*map).attrMap, slot, (*leaf).ri_PartitionTupleSlot);
        }
        let rel = (*leaf).ri_RelationDesc;
        (*stored).tts_tableOid = (*rel).rd_id;
        if !(*(*rel).rd_att).constr.is_null() {
            pg_sys::ExecConstraints(leaf, stored, estate);
        }
        (leaf, stored)
    }
}

/// Stores one routed row and its index entries now.
///
/// # Safety
/// `leaf` and `stored` come from [`route`] with the open inserter's state.
unsafe fn store(
    estate: *mut pg_sys::EState,
    leaf: *mut pg_sys::ResultRelInfo,
    stored: *mut pg_sys::TupleTableSlot,
) {
    // SAFETY: the caller's guarantee: `leaf` and `stored` come from route() in this transaction.
    unsafe {
        let rel = (*leaf).ri_RelationDesc;
        let tuple_insert = (*(*rel).rd_tableam)
            .tuple_insert
            .expect("heap tables have tuple_insert");
        let cid = pg_sys::GetCurrentCommandId(true);
        pg_sys::ffi::pg_guard_ffi_boundary(|| {
            tuple_insert(rel, stored, cid, 0, std::ptr::null_mut())
        });
        index_stored_row(estate, leaf, stored);
    }
}

/// Makes the index entries of a row just stored in `leaf` (its slot holds
/// the row's new TID), then empties the per-row memory the indexes'
/// expressions used.
///
/// # Safety
/// `estate` and `leaf` are the open inserter's; `stored` holds a row of
/// `leaf` stored in this command.
pub(super) unsafe fn index_stored_row(
    estate: *mut pg_sys::EState,
    leaf: *mut pg_sys::ResultRelInfo,
    stored: *mut pg_sys::TupleTableSlot,
) {
    // SAFETY: the caller's guarantees.
    unsafe {
        if (*leaf).ri_NumIndices > 0 {
            pg_sys::ExecInsertIndexTuples(
                leaf,
                stored,
                estate,
                false,
                false,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            );
        }
        let per_tuple = (*estate).es_per_tuple_exprcontext;
        if !per_tuple.is_null() {
            pg_sys::MemoryContextReset((*per_tuple).ecxt_per_tuple_memory);
        }
    }
}

impl Inserter {
    /// # Safety
    /// Must run inside a transaction, as a role that may insert into the log.
    unsafe fn new(log: pg_sys::Oid) -> Inserter {
        // SAFETY: the caller's guarantee: inside a transaction, as a role that may insert into the log.
        unsafe {
            let old = pg_sys::MemoryContextSwitchTo(pg_sys::TopTransactionContext);
            let estate = pg_sys::CreateExecutorState();
            pg_sys::MemoryContextSwitchTo((*estate).es_query_cxt);

            // A one-entry range table, as COPY builds it: error messages
            // (failing constraints) read the result relation's entry.
            let lockmode = pg_sys::RowExclusiveLock as pg_sys::LOCKMODE;
            let rel = pg_sys::table_open(log, lockmode);
            let pstate = pg_sys::make_parsestate(std::ptr::null_mut());
            let nsitem = pg_sys::addRangeTableEntryForRelation(
                pstate,
                rel,
                lockmode as c_int,
                std::ptr::null_mut(),
                false,
                false,
            );
            (*(*nsitem).p_rte).requiredPerms = pg_sys::ACL_INSERT as pg_sys::AclMode;
            pg_sys::ExecInitRangeTable(estate, (*pstate).p_rtable);
            pg_sys::table_close(rel, pg_sys::NoLock as pg_sys::LOCKMODE);

            let root = pg_sys::palloc0(std::mem::size_of::<pg_sys::ResultRelInfo>())
                .cast::<pg_sys::ResultRelInfo>();
            (*root).type_ = pg_sys::NodeTag::T_ResultRelInfo;
            pg_sys::ExecInitResultRelation(estate, root, 1);
            pg_sys::CheckValidResultRel(root, pg_sys::CmdType::CMD_INSERT);

            let mtstate = pg_sys::palloc0(std::mem::size_of::<pg_sys::ModifyTableState>())
                .cast::<pg_sys::ModifyTableState>();
            (*mtstate).ps.type_ = pg_sys::NodeTag::T_ModifyTableState;
            (*mtstate).ps.plan = std::ptr::null_mut();
            (*mtstate).ps.state = estate;
            (*mtstate).operation = pg_sys::CmdType::CMD_INSERT;
            (*mtstate).mt_nrels = 1;
            (*mtstate).resultRelInfo = root;
            (*mtstate).rootResultRelInfo = root;

            let log_rel = (*root).ri_RelationDesc;
            let proute = pg_sys::ffi::pg_guard_ffi_boundary(|| {
                ExecSetupPartitionTupleRouting(estate, log_rel)
            });
            let desc = (*log_rel).rd_att;
            let slot = pg_sys::ExecInitExtraTupleSlot(estate, desc, &pg_sys::TTSOpsVirtual);
            let natts = (*desc).natts as usize;
            let positions = column_positions(desc);
            pg_sys::MemoryContextSwitchTo(old);
            Inserter {
                executor: Executor {
                    estate,
                    mtstate,
                    root,
                    proute,
                    slot,
                    positions,
                    natts,
                },
                pending: Pending::new(),
            }
        }
    }

    /// Closes everything it opened. Must run under the top-level owner.
    unsafe fn close(self) {
        // SAFETY: the caller runs this under the top-level owner that holds these relations; each is closed once (self is consumed).
        unsafe {
            pg_sys::ffi::pg_guard_ffi_boundary(|| {
                ExecCleanupTupleRouting(self.executor.mtstate, self.executor.proute)
            });
            let estate = self.executor.estate;
            pg_sys::ExecCloseResultRelations(estate);
            pg_sys::ExecCloseRangeTableRelations(estate);
            pg_sys::ExecResetTupleTable((*estate).es_tupleTable, false);
            pg_sys::FreeExecutorState(estate);
        }
    }
}

/// Where each of the log's columns (log_columns.rs) sits in the log's row type (looked up by name, so
/// a log whose columns were reordered by an upgrade still works).
unsafe fn column_positions(desc: pg_sys::TupleDesc) -> [usize; COUNT] {
    // SAFETY: the caller's guarantee: a valid descriptor.
    let natts = unsafe { (*desc).natts } as usize;
    let mut positions = [usize::MAX; COUNT];
    for at in 0..natts {
        // SAFETY: at < natts.
        let attr = unsafe { &*(*desc).attrs.as_ptr().add(at) };
        if attr.attisdropped {
            continue;
        }
        // SAFETY: NameData is NUL-terminated.
        let name = unsafe { crate::catalog::cstr_to_string(attr.attname.data.as_ptr()) };
        if let Some(i) = NAMES.iter().position(|c| *c == name) {
            positions[i] = at;
        }
    }
    if let Some(missing) = positions.iter().position(|&p| p == usize::MAX) {
        AuditError::LogColumnMissing(NAMES[missing]).report();
    }
    positions
}

/// At transaction events (src/backend.rs): the inserter is closed before
/// commit and forgotten after.
pub fn on_xact(event: pg_sys::XactEvent::Type) {
    use pg_sys::XactEvent::*;
    match event {
        XACT_EVENT_PRE_COMMIT | XACT_EVENT_PARALLEL_PRE_COMMIT | XACT_EVENT_PRE_PREPARE => close(),
        // At abort PostgreSQL releases everything; forget it. (At commit it
        // is already closed.)
        XACT_EVENT_ABORT | XACT_EVENT_PARALLEL_ABORT | XACT_EVENT_COMMIT | XACT_EVENT_PREPARE => {
            INSERTER.with(|i| i.borrow_mut().take());
        }
        _ => return,
    }
    STALE.with(|s| s.set(false));
}

/// Utility statements that cannot alter or drop a table themselves. (DO and
/// CALL run their statements through this hook one by one.)
unsafe fn may_alter_tables(pstmt: *mut pg_sys::PlannedStmt) -> bool {
    use pg_sys::NodeTag::*;
    // SAFETY: the caller's guarantee: the utility statement being run.
    let statement = unsafe { (*pstmt).utilityStmt };
    if statement.is_null() {
        return true;
    }
    !matches!(
        // SAFETY: checked non-null above; a Node.
        unsafe { (*statement).type_ },
        T_VariableSetStmt
            | T_VariableShowStmt
            | T_TransactionStmt
            | T_DoStmt
            | T_CallStmt
            | T_CopyStmt
            | T_ExplainStmt
            | T_PrepareStmt
            | T_ExecuteStmt
            | T_DeallocateStmt
            | T_DeclareCursorStmt
            | T_FetchStmt
            | T_ClosePortalStmt
            | T_NotifyStmt
            | T_ListenStmt
            | T_UnlistenStmt
    )
}

/// Before any utility command (DDL, TRUNCATE, VACUUM...), close the inserter:
/// PostgreSQL refuses to alter or drop a table this session holds open.
///
/// Not behind pgrx's guard, on purpose: the command's own errors pass through
/// this frame as PostgreSQL raised them. The frame owns nothing that needs
/// dropping when an error unwinds through it; closing runs in a guarded call.
#[allow(clippy::too_many_arguments)]
unsafe extern "C-unwind" fn release_before_utility(
    pstmt: *mut pg_sys::PlannedStmt,
    query_string: *const c_char,
    read_only_tree: bool,
    context: pg_sys::ProcessUtilityContext::Type,
    params: pg_sys::ParamListInfo,
    query_env: *mut pg_sys::QueryEnvironment,
    dest: *mut pg_sys::DestReceiver,
    qc: *mut pg_sys::QueryCompletion,
) {
    // SAFETY: PostgreSQL's own arguments, passed through unchanged to the previous hook or the standard function.
    unsafe {
        if may_alter_tables(pstmt) {
            close_in_transaction();
        }
        match PREVIOUS_PROCESS_UTILITY.with(Cell::get) {
            Some(previous) => previous(
                pstmt,
                query_string,
                read_only_tree,
                context,
                params,
                query_env,
                dest,
                qc,
            ),
            None => standard_process_utility_unguarded(
                pstmt,
                query_string,
                read_only_tree,
                context,
                params,
                query_env,
                dest,
                qc,
            ),
        }
    }
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn close_in_transaction() {
    // SAFETY: a plain state query.
    if unsafe { pg_sys::IsTransactionState() } {
        close();
    }
}
