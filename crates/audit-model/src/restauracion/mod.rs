//! Restore planning (docs/restore.md): the parts of a restore that are pure
//! decisions, kept apart from the SQL that carries them out
//! (src/sql/restauracion.sql).
//!
//! * [`estructura`]: whether a snapshot still fits its table, when the
//!   table's columns changed since the snapshot was taken (schema drift).
//! * [`orden`]: in which order a module's tables are written so that the
//!   foreign keys between them are satisfied.

pub mod estructura;
pub mod orden;
