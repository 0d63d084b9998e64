//! Pure algorithms of the `audit` extension.
//!
//! Nothing in this crate links against PostgreSQL: it is the part of the
//! extension whose behaviour can be pinned down with plain `cargo test`
//! (and property tests) on any machine. The extension crate calls into it
//! from its PostgreSQL-facing code.

pub mod claims;
pub mod contexto;
pub mod identity;
pub mod options;
pub mod record_id;
