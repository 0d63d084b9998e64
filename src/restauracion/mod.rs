//! Restore and rollback (docs/restore.md). The restores themselves are SQL run
//! with the caller's privileges (src/sql/restauracion.sql); here is what
//! needs Rust:
//! * `estructuras`: recording each audited table's columns over time, and
//!   mapping snapshots onto the table as it is now (schema drift);
//! * `modulos`: modules and marks, whose tables only the extension writes;
//! * `log_tecnico`: the technical log, written as the log's owner.
//!
//! The decisions (drift, write order) are pure functions in
//! `audit_model::restauracion`.

pub mod estructuras;
pub mod log_tecnico;
pub mod modulos;

use crate::elevation::as_log_owner;
use crate::spi;
use pgrx::prelude::*;

/// The id of the newest event written so far, by any session: every event
/// written from now on gets a higher one. Read as the log's owner (the
/// sequence is not readable by other roles); it tells nothing but a count.
#[pg_extern(volatile, parallel_safe)]
#[search_path(pg_catalog, pg_temp)]
fn _ultimo_evento() -> i64 {
    ultimo_evento()
}

pub fn ultimo_evento() -> i64 {
    as_log_owner(|| spi::value::<i64>(&format!("SELECT {ULTIMO_EVENTO}"), &[])).unwrap_or(0)
}

/// The SQL of [`ultimo_evento`], for statements run as the log's owner.
pub const ULTIMO_EVENTO: &str =
    "COALESCE(pg_catalog.pg_sequence_last_value('audit.historial_cambios_id_seq'::pg_catalog.regclass), 0)";
