//! Row snapshots: PostgreSQL's own `to_jsonb` of the row.
//!
//! The row is handed to `to_jsonb` as a composite datum, exactly as
//! `to_jsonb(NEW)` in SQL would: numeric keeps every digit, NaN and Infinity
//! become strings, bytea becomes its hex text, composite and array values
//! nest. Nothing goes through Rust JSON values.
//!
//! Some output depends on session settings a caller can change. For the
//! duration of the call they are pinned to fixed values, so a snapshot never
//! depends on who wrote it: timestamps in UTC, ISO dates, shortest exact
//! floats (`extra_float_digits = 1`), `postgres` interval style and hex
//! bytea. (`money` still follows `lc_monetary`, which cannot be pinned this
//! cheaply; see docs/capture.md.)
//!
//! What `to_jsonb` itself cannot keep is documented in docs/capture.md: a
//! `json` column becomes normalized jsonb, JSON `null` in a json/jsonb column
//! looks like SQL NULL, and a float's negative zero loses its sign.

use pgrx::pg_sys;
use std::cell::Cell;
use std::ffi::c_int;

extern "C" {
    // Declared in utils/varlena.h (PGDLLIMPORT), absent from pgrx's bindings.
    static mut bytea_output: c_int;
}

// utils/bytea.h: enum { BYTEA_OUTPUT_ESCAPE, BYTEA_OUTPUT_HEX } (not in pgrx's bindings).
const BYTEA_OUTPUT_HEX: c_int = 1;
const INTSTYLE_POSTGRES: c_int = pg_sys::INTSTYLE_POSTGRES as c_int;
const USE_ISO_DATES: c_int = pg_sys::USE_ISO_DATES as c_int;
const DATEORDER_YMD: c_int = pg_sys::DATEORDER_YMD as c_int;

thread_local! {
    /// `to_jsonb` prepared for "a composite argument"; built once per backend.
    static TO_JSONB: Cell<*mut pg_sys::FmgrInfo> = const { Cell::new(std::ptr::null_mut()) };
    static UTC: Cell<*mut pg_sys::pg_tz> = const { Cell::new(std::ptr::null_mut()) };
}

/// `to_jsonb(row)` for a composite datum (a table row or a blessed record).
pub fn composite_to_jsonb(row: pg_sys::Datum) -> pg_sys::Datum {
    let flinfo = to_jsonb_fn();
    let _pinned = PinnedOutput::new();
    // SAFETY: flinfo is a valid FmgrInfo for to_jsonb whose fn_expr declares a
    // record argument; `row` is a composite datum carrying its type in its
    // header, which is how to_jsonb finds the columns.
    unsafe { pg_sys::FunctionCall1Coll(flinfo, pg_sys::InvalidOid, row) }
}

/// Builds the FmgrInfo once. `to_jsonb` finds its argument's type through
/// `fn_expr` (it is polymorphic); a call expression with a `record` constant
/// argument makes it treat any composite datum as a row.
fn to_jsonb_fn() -> *mut pg_sys::FmgrInfo {
    let cached = TO_JSONB.with(Cell::get);
    if !cached.is_null() {
        return cached;
    }
    // SAFETY: everything is allocated in TopMemoryContext and lives as long
    // as the backend, like the function itself.
    let flinfo = unsafe {
        let old = pg_sys::MemoryContextSwitchTo(pg_sys::TopMemoryContext);
        let flinfo =
            pg_sys::palloc0(std::mem::size_of::<pg_sys::FmgrInfo>()).cast::<pg_sys::FmgrInfo>();
        let to_jsonb_oid = pg_sys::Oid::from(pg_sys::F_TO_JSONB);
        pg_sys::fmgr_info(to_jsonb_oid, flinfo);
        let arg = pg_sys::makeConst(
            pg_sys::RECORDOID,
            -1,
            pg_sys::InvalidOid,
            -1,
            pg_sys::Datum::from(0),
            true,
            false,
        );
        let args = pg_sys::lappend(std::ptr::null_mut(), arg.cast());
        let call = pg_sys::makeFuncExpr(
            to_jsonb_oid,
            pg_sys::JSONBOID,
            args,
            pg_sys::InvalidOid,
            pg_sys::InvalidOid,
            pg_sys::CoercionForm::COERCE_EXPLICIT_CALL,
        );
        (*flinfo).fn_expr = call.cast();
        pg_sys::MemoryContextSwitchTo(old);
        flinfo
    };
    TO_JSONB.with(|c| c.set(flinfo));
    flinfo
}

fn utc() -> *mut pg_sys::pg_tz {
    let cached = UTC.with(Cell::get);
    if !cached.is_null() {
        return cached;
    }
    // SAFETY: pg_tzset caches zones for the life of the backend.
    let tz = unsafe { pg_sys::pg_tzset(c"UTC".as_ptr()) };
    assert!(!tz.is_null(), "time zone UTC is not available");
    UTC.with(|c| c.set(tz));
    tz
}

/// Output settings pinned for a snapshot; restored on drop, also when the
/// conversion raises an error (pgrx unwinds through this frame).
struct PinnedOutput {
    timezone: *mut pg_sys::pg_tz,
    float_digits: c_int,
    interval_style: c_int,
    date_style: c_int,
    date_order: c_int,
    bytea: c_int,
}

impl PinnedOutput {
    fn new() -> Self {
        let utc = utc();
        // SAFETY: these are plain backend globals read by the output functions.
        unsafe {
            let saved = PinnedOutput {
                timezone: pg_sys::session_timezone,
                float_digits: pg_sys::extra_float_digits,
                interval_style: pg_sys::IntervalStyle,
                date_style: pg_sys::DateStyle,
                date_order: pg_sys::DateOrder,
                bytea: bytea_output,
            };
            pg_sys::session_timezone = utc;
            pg_sys::extra_float_digits = 1;
            pg_sys::IntervalStyle = INTSTYLE_POSTGRES;
            pg_sys::DateStyle = USE_ISO_DATES;
            pg_sys::DateOrder = DATEORDER_YMD;
            bytea_output = BYTEA_OUTPUT_HEX;
            saved
        }
    }
}

impl Drop for PinnedOutput {
    fn drop(&mut self) {
        // SAFETY: restores the values saved in new().
        unsafe {
            pg_sys::session_timezone = self.timezone;
            pg_sys::extra_float_digits = self.float_digits;
            pg_sys::IntervalStyle = self.interval_style;
            pg_sys::DateStyle = self.date_style;
            pg_sys::DateOrder = self.date_order;
            bytea_output = self.bytea;
        }
    }
}

#[cfg(any(test, feature = "pg_test"))]
#[pgrx::pg_schema]
mod tests {
    use crate::test_support::{one, run};
    use pgrx::prelude::*;

    #[pg_test]
    fn test_snapshot_is_sql_to_jsonb_of_the_row() {
        run("SET LOCAL TimeZone = 'UTC'");
        run("CREATE TYPE t_par AS (x numeric, y text[])");
        run("CREATE TABLE t_snap (id int PRIMARY KEY, n numeric, f float8, ts timestamptz, b bytea, p t_par, j jsonb, r int4range)");
        run("SELECT audit.auditar('t_snap')");
        run("INSERT INTO t_snap VALUES (1, 1e-30, 'Infinity', now(), '\\xdeadbeef', ROW(2.50, '{a,NULL}'), '{\"k\": [1, {\"z\": 0.10}]}', '[1,5)')");
        run("UPDATE t_snap SET n = 'NaN'");
        let same = one::<bool>(
            "SELECT bool_and(h.datos_nuevos = to_jsonb(t)) FROM audit.historial_cambios h, t_snap t
              WHERE h.tabla_afectada = 't_snap' AND h.accion = 'UPDATE'",
        );
        assert_eq!(same, Some(true));
    }

    #[pg_test]
    fn test_capture_leaves_session_output_settings_as_they_were() {
        run("SET LOCAL TimeZone = 'Asia/Kolkata'");
        run("SET LOCAL extra_float_digits = -2");
        run("SET LOCAL IntervalStyle = 'sql_standard'");
        run("SET LOCAL DateStyle = 'German, DMY'");
        run("SET LOCAL bytea_output = 'escape'");
        run("CREATE TABLE t_out (id int PRIMARY KEY, ts timestamptz, f float8, iv interval, b bytea)");
        run("SELECT audit.auditar('t_out')");
        run("INSERT INTO t_out VALUES (1, '2026-01-01 00:00:00+00', 0.1, '1 day', '\\x01')");
        // The snapshot used the fixed settings...
        let ts = one::<String>("SELECT datos_nuevos->>'ts' FROM audit.historial_cambios WHERE tabla_afectada = 't_out' AND accion = 'INSERT'");
        assert_eq!(ts.as_deref(), Some("2026-01-01T00:00:00+00:00"));
        let b = one::<String>("SELECT datos_nuevos->>'b' FROM audit.historial_cambios WHERE tabla_afectada = 't_out' AND accion = 'INSERT'");
        assert_eq!(b.as_deref(), Some("\\x01"));
        // ...and the session's own are untouched.
        assert_eq!(
            one::<String>("SHOW TimeZone").as_deref(),
            Some("Asia/Kolkata")
        );
        assert_eq!(
            one::<String>("SHOW extra_float_digits").as_deref(),
            Some("-2")
        );
        assert_eq!(
            one::<String>("SHOW IntervalStyle").as_deref(),
            Some("sql_standard")
        );
        assert_eq!(
            one::<String>("SHOW DateStyle").as_deref(),
            Some("German, DMY")
        );
        assert_eq!(
            one::<String>("SHOW bytea_output").as_deref(),
            Some("escape")
        );
        assert_eq!(
            one::<String>("SELECT ts::text FROM t_out").as_deref(),
            Some("01.01.2026 05:30:00 IST")
        );
        assert_eq!(
            one::<String>("SELECT b::text FROM t_out").as_deref(),
            Some("\\001")
        );
    }
}
