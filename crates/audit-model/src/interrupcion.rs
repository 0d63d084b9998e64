//! Stopping long computations on demand.
//!
//! Some work here grows with what a caller sends, beyond anything a size
//! limit can bound: a document checked against a schema whose `oneOf`
//! branches recurse doubles its cost with each level of nesting, and a
//! patch of many operations on a large array costs their product. Inside
//! PostgreSQL such work must still stop when the server asks the backend to
//! (`statement_timeout`, a cancel, a terminate, a shutdown), or only killing
//! the process, which restarts the whole server, would end it.
//!
//! This crate knows nothing of PostgreSQL: the extension installs its check
//! once, when its library loads, and these algorithms call [`comprobar`] at
//! each step. The check does not return when the backend must stop (in the
//! extension it raises PostgreSQL's error, which unwinds through the
//! algorithm as a panic and is reported where the SQL function returns).
//! Without an installed check (plain Rust tests), [`comprobar`] does nothing.

use std::sync::OnceLock;

static CHECK: OnceLock<fn()> = OnceLock::new();

/// Installs the check every step calls; only the first call counts.
pub fn instalar(check: fn()) {
    let _ = CHECK.set(check);
}

/// One step of a long computation: stops it if it must stop.
#[inline]
pub fn comprobar() {
    if let Some(check) = CHECK.get() {
        check();
    }
}

/// For tests: a check that counts the steps of this thread and stops the
/// computation (a panic, as the extension's check unwinds) after a limit.
#[cfg(test)]
pub mod prueba {
    use std::cell::Cell;

    thread_local! {
        static PASOS: Cell<u64> = const { Cell::new(0) };
        static LIMITE: Cell<u64> = const { Cell::new(u64::MAX) };
    }

    fn contar() {
        let pasos = PASOS.with(|p| {
            p.set(p.get() + 1);
            p.get()
        });
        if pasos > LIMITE.with(Cell::get) {
            panic!("stopped after {pasos} steps");
        }
    }

    /// Runs `f` with the check installed, stopping it after `limite` steps;
    /// returns how many steps it took, or None when it was stopped.
    pub fn con_limite<T>(limite: u64, f: impl FnOnce() -> T) -> Option<(T, u64)> {
        super::instalar(contar);
        PASOS.with(|p| p.set(0));
        LIMITE.with(|l| l.set(limite));
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        LIMITE.with(|l| l.set(u64::MAX));
        result.ok().map(|value| (value, PASOS.with(Cell::get)))
    }
}
