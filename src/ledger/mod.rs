//! Tamper evidence (docs/security.md), in the style of SQL Server's ledger: each
//! event carries a hash computed by the capture path (no shared state on
//! the write path); `audit.sellar()` later chains the events of finished
//! transactions into blocks; `audit.verificar()` recomputes every hash and
//! the chain; `audit.digest()` gives the latest block's hash to keep outside
//! the database. What this protects against whom: SECURITY.md.

mod eventos;
pub mod huella;
mod sellado;
mod verificacion;

use crate::capture::log_columns::{COUNT, NAMES};
use pgrx::pg_sys;
use pgrx::prelude::*;

/// The hash of a stored event, recomputed from its columns (what
/// `huella` must equal unless the event was changed).
// Declared in SQL (`sql =`): the hash is computed over the row's own datums,
// deformed from the raw fcinfo; pgrx's composite argument (PgHeapTuple)
// would convert every field into Rust values first.
#[pg_extern(sql = r#"
CREATE FUNCTION audit._huella(evento audit.historial_cambios) RETURNS bytea
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', '@FUNCTION_NAME@';
"#, requires = ["bootstrap"])]
fn _huella(fcinfo: pg_sys::FunctionCallInfo) -> Vec<u8> {
    // SAFETY: called by fmgr with one non-null argument (STRICT) of the
    // log's row type.
    let (values, nulls) = unsafe { deform(pgrx::fcinfo::pg_getarg_datum_raw(fcinfo, 0)) };
    huella::huella(&values, &nulls).to_vec()
}

/// The values of a row of the log's type, in [`NAMES`] order.
///
/// # Safety
/// `row` must be a composite datum of type `audit.historial_cambios`.
unsafe fn deform(row: pg_sys::Datum) -> (Vec<pg_sys::Datum>, Vec<bool>) {
    // SAFETY: the caller's guarantee: a composite datum of the log's row type.
    unsafe {
        let header =
            pg_sys::pg_detoast_datum(row.cast_mut_ptr()).cast::<pg_sys::HeapTupleHeaderData>();
        let typid = (*header).t_choice.t_datum.datum_typeid;
        let typmod = (*header).t_choice.t_datum.datum_typmod;
        let desc = pg_sys::lookup_rowtype_tupdesc(typid, typmod);
        let natts = (*desc).natts as usize;
        let mut tuple = pg_sys::HeapTupleData {
            t_len: pgrx::varsize_any(header.cast()) as u32,
            t_self: pg_sys::ItemPointerData::default(),
            t_tableOid: pg_sys::InvalidOid,
            t_data: header,
        };
        let mut all_values = vec![pg_sys::Datum::from(0); natts];
        let mut all_nulls = vec![true; natts];
        pg_sys::heap_deform_tuple(
            &mut tuple,
            desc,
            all_values.as_mut_ptr(),
            all_nulls.as_mut_ptr(),
        );
        let mut values = vec![pg_sys::Datum::from(0); COUNT];
        let mut nulls = vec![true; COUNT];
        let attrs = (*desc).attrs.as_slice(natts);
        for (i, attr) in attrs.iter().enumerate() {
            if attr.attisdropped {
                continue;
            }
            let name = pgrx::name_data_to_str(&attr.attname);
            if let Some(pos) = NAMES.iter().position(|c| *c == name) {
                values[pos] = all_values[i];
                nulls[pos] = all_nulls[i];
            }
        }
        pg_sys::DecrTupleDescRefCount(desc);
        (values, nulls)
    }
}
