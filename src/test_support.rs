//! Helpers for the in-process tests (`#[pg_test]`, run by `cargo pgrx
//! test`), which live next to the code they test. Each runs inside one
//! transaction of a throwaway cluster, so it checks what is visible from
//! inside a backend; several sessions, roles that log in, commits and
//! pg_dump are tested from outside: tests/integration (Rust client) and
//! tests/pg_regress (golden SQL).

use pgrx::prelude::*;

/// Runs `sql`, failing the test with the statement when it fails.
pub fn run(sql: &str) {
    Spi::run(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// The first column of the first row of `sql`.
pub fn one<T: IntoDatum + FromDatum>(sql: &str) -> Option<T> {
    Spi::get_one::<T>(sql).unwrap_or_else(|e| panic!("{sql}: {e}"))
}
