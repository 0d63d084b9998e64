//! The capture worker's own WAL: its full-page images compressed.
//!
//! The worker's writes to the log are most of the WAL that capture from the
//! WAL adds, and after each checkpoint most of that is full-page images of
//! the record index `(registro_id, id)`, whose keys are random: every event
//! touches a different leaf. The writers' commits flush that WAL along with
//! their own (a flush goes up to the commit record), so its volume is what
//! the writers feel. lz4 cuts the worker's WAL by about a third after a
//! checkpoint, for little CPU (docs/performance.md). Only this process's
//! setting changes, and only while the server's `wal_compression` is off: a
//! DBA's own choice stands.

use super::shmem;
use crate::guc;
use pgrx::pg_sys;
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether the refusal of lz4 was already reported (once per worker).
static REPORTED: AtomicBool = AtomicBool::new(false);

/// Applies `audit.captura_comprimir_wal` to this process (the worker of
/// `db`): at start and after each reload of the configuration. What it
/// comes to is published for `audit.estado_captura()`.
pub fn apply(db: pg_sys::Oid) {
    // SAFETY: plain settings of this process, outside any transaction (the
    // worker calls this at start and between batches), as ProcessConfigFile
    // does.
    unsafe {
        // Back to the server's value (the configuration file's), then
        // decide from it.
        set(None);
        let server_compresses =
            pg_sys::wal_compression != pg_sys::WalCompression::WAL_COMPRESSION_NONE as i32;
        let wanted = guc::CAPTURA_COMPRIMIR_WAL.get() && !server_compresses;
        if wanted && !set(Some(c"lz4")) && !REPORTED.swap(true, Ordering::Relaxed) {
            pgrx::log!(
                "audit: this server cannot compress WAL with lz4: the capture worker's WAL is not compressed"
            );
        }
        shmem::set_compression(db, pg_sys::wal_compression);
    }
}

/// The name of a `wal_compression` value, as the setting spells it.
pub fn name(value: i32) -> &'static str {
    match u32::try_from(value).unwrap_or(u32::MAX) {
        pg_sys::WalCompression::WAL_COMPRESSION_NONE => "off",
        pg_sys::WalCompression::WAL_COMPRESSION_PGLZ => "pglz",
        pg_sys::WalCompression::WAL_COMPRESSION_LZ4 => "lz4",
        pg_sys::WalCompression::WAL_COMPRESSION_ZSTD => "zstd",
        _ => "unknown",
    }
}

/// Sets `wal_compression` for this process (`None`: back to the server's
/// value); false when PostgreSQL refuses the value (a build without lz4).
unsafe fn set(value: Option<&std::ffi::CStr>) -> bool {
    // SAFETY: a plain setting of this process; an invalid value is reported
    // at DEBUG1 and refused (returns 0) rather than raised.
    unsafe {
        pg_sys::set_config_option(
            c"wal_compression".as_ptr(),
            value.map_or(std::ptr::null(), |v| v.as_ptr()),
            pg_sys::GucContext::PGC_SUSET,
            pg_sys::GucSource::PGC_S_SESSION,
            pg_sys::GucAction::GUC_ACTION_SET,
            true,
            pg_sys::DEBUG1 as i32,
            false,
        ) > 0
    }
}
