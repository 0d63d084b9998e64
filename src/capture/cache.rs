//! Per-backend cache of [`TableState`], one entry per table a capture
//! trigger fired on.
//!
//! An entry is dropped when PostgreSQL invalidates the table's relcache entry:
//! on any ALTER TABLE, index or constraint change, and when `audit.auditar`
//! (or any change to `audit.tablas_config`) changes its options, which sends
//! that invalidation to every backend at commit. A change of the extension's
//! own tables forgets everything, including cached OIDs.

use crate::capture::table_state::TableState;
use pgrx::pg_sys;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

thread_local! {
    static TABLES: RefCell<HashMap<pg_sys::Oid, Rc<TableState>>> = RefCell::new(HashMap::new());
    /// Bumped by every invalidation, so that a state built while one arrived
    /// is used once but not kept.
    static GENERATION: Cell<u64> = const { Cell::new(0) };
    /// Set when an invalidation arrived while the map was borrowed.
    static STALE: Cell<bool> = const { Cell::new(false) };
}

/// The state of the table `rel` (a trigger's relation), built if needed.
pub fn table_state(rel: pg_sys::Relation) -> Rc<TableState> {
    // SAFETY: rel is the open relation of the firing trigger.
    let relid = unsafe { (*rel).rd_id };
    if STALE.with(|s| s.replace(false)) {
        TABLES.with(|t| t.borrow_mut().clear());
    }
    if let Some(state) = TABLES.with(|t| t.borrow().get(&relid).cloned()) {
        return state;
    }
    let generation = GENERATION.with(Cell::get);
    let state = Rc::new(TableState::build(rel));
    if GENERATION.with(Cell::get) == generation {
        TABLES.with(|t| t.borrow_mut().insert(relid, state.clone()));
    }
    state
}

/// Forgets every cached table (used after a change to the extension itself).
pub fn forget_all() {
    GENERATION.with(|g| g.set(g.get() + 1));
    match TABLES.with(|t| t.try_borrow_mut().map(|mut m| m.clear())) {
        Ok(()) => {}
        Err(_) => STALE.with(|s| s.set(true)),
    }
}

/// A table's relcache entry was invalidated (src/backend.rs): forget its
/// state, and that of a partitioned table whose root it is.
pub fn forget_table(relid: pg_sys::Oid) {
    GENERATION.with(|g| g.set(g.get() + 1));
    let removed = TABLES.with(|t| {
        t.try_borrow_mut()
            .map(|mut m| m.retain(|&leaf, state| leaf != relid && state.root != relid))
    });
    if removed.is_err() {
        STALE.with(|s| s.set(true));
    }
}

#[cfg(any(test, feature = "pg_test"))]
#[pgrx::pg_schema]
mod tests {
    use crate::test_support::{one, run};
    use pgrx::prelude::*;

    #[pg_test]
    fn test_options_change_applies_in_the_same_transaction() {
        run("CREATE TABLE t_opt (id int PRIMARY KEY, secreto text)");
        run("SELECT audit.auditar('t_opt')");
        run("INSERT INTO t_opt VALUES (1, 'a')");
        run("SELECT audit.auditar('t_opt', '{\"excluir_columnas\": [\"secreto\"]}')");
        run("INSERT INTO t_opt VALUES (2, 'b')");
        let kept = one::<bool>(
            "SELECT datos_nuevos ? 'secreto' FROM audit.historial_cambios
              WHERE tabla_afectada = 't_opt' AND registro_pk = '{\"id\": 2}'",
        );
        assert_eq!(kept, Some(false));
    }
}
