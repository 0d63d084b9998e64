//! Rows as the capture path sees them: deformed tuples, projections of some
//! of their columns, and the comparison that says which columns an UPDATE
//! changed.

use crate::capture::snapshot::composite_to_jsonb;
use crate::capture::table_state::Column;
use pgrx::pg_sys;
use std::ffi::c_int;

extern "C-unwind" {
    // Declared in utils/datum.h, absent from pgrx's bindings. Compares the
    // stored images of two datums, detoasting when needed. Called only
    // through pg_guard_ffi_boundary, which turns a PostgreSQL error into a
    // Rust panic instead of a longjmp across Rust frames.
    fn datum_image_eq(
        value1: pg_sys::Datum,
        value2: pg_sys::Datum,
        typ_by_val: bool,
        typ_len: c_int,
    ) -> bool;
}

/// A heap tuple split into its column values.
pub struct Deformed {
    pub values: Vec<pg_sys::Datum>,
    pub nulls: Vec<bool>,
}

impl Deformed {
    /// # Safety
    /// `tuple` must be a valid tuple of descriptor `desc`.
    pub unsafe fn new(tuple: pg_sys::HeapTuple, desc: pg_sys::TupleDesc) -> Deformed {
        // SAFETY: the caller's guarantee: a valid descriptor.
        let natts = unsafe { (*desc).natts } as usize;
        let mut values = vec![pg_sys::Datum::from(0); natts];
        let mut nulls = vec![true; natts];
        // SAFETY: values and nulls have natts entries; the tuple is of `desc`.
        unsafe { pg_sys::heap_deform_tuple(tuple, desc, values.as_mut_ptr(), nulls.as_mut_ptr()) };
        Deformed { values, nulls }
    }
}

/// The names of the columns whose stored value differs between two versions
/// of a row. Values are compared as stored (`datum_image_eq`, as PostgreSQL
/// does to detect unchanged columns), so `1.0` versus `1.00` in a numeric
/// column is a change, and an unchanged TOASTed value costs no detoasting.
pub fn changed_columns<'a>(columns: &'a [Column], old: &Deformed, new: &Deformed) -> Vec<&'a str> {
    columns
        .iter()
        .filter(|c| {
            let i = c.index;
            match (old.nulls[i], new.nulls[i]) {
                (true, true) => false,
                (false, false) => {
                    // SAFETY: both values are non-null datums of column i.
                    !unsafe {
                        pg_sys::ffi::pg_guard_ffi_boundary(|| {
                            datum_image_eq(old.values[i], new.values[i], c.byval, c.len as c_int)
                        })
                    }
                }
                _ => true,
            }
        })
        .map(|c| c.name.as_str())
        .collect()
}

/// Some columns of a table, as a record type of their own: the snapshot
/// without excluded columns, or the primary key alone.
///
/// The record type is "blessed" (registered for this backend), which is what
/// lets `to_jsonb` see the column names.
pub struct Projection {
    desc: pg_sys::TupleDesc,
    source: Vec<usize>,
}

impl Projection {
    /// Takes columns `source` (0-based indexes) of `from`.
    pub fn new(from: pg_sys::TupleDesc, source: Vec<usize>) -> Projection {
        // SAFETY: the descriptor is built in TopMemoryContext so it can live in
        // the per-backend cache; entries are copied from a valid descriptor.
        let desc = unsafe {
            let old = pg_sys::MemoryContextSwitchTo(pg_sys::TopMemoryContext);
            let desc = pg_sys::CreateTemplateTupleDesc(source.len() as c_int);
            for (to, &from_index) in source.iter().enumerate() {
                pg_sys::TupleDescCopyEntry(
                    desc,
                    (to + 1) as pg_sys::AttrNumber,
                    from,
                    (from_index + 1) as pg_sys::AttrNumber,
                );
            }
            let blessed = pg_sys::BlessTupleDesc(desc);
            pg_sys::MemoryContextSwitchTo(old);
            blessed
        };
        Projection { desc, source }
    }

    /// `to_jsonb` of the projected columns of `row`.
    pub fn to_jsonb(&self, row: &Deformed) -> pg_sys::Datum {
        let mut values: Vec<pg_sys::Datum> = self.source.iter().map(|&i| row.values[i]).collect();
        let mut nulls: Vec<bool> = self.source.iter().map(|&i| row.nulls[i]).collect();
        // SAFETY: values and nulls match the descriptor; heap_copy_tuple_as_datum
        // flattens TOAST pointers and stamps the record type into the datum.
        unsafe {
            let tuple = pg_sys::heap_form_tuple(self.desc, values.as_mut_ptr(), nulls.as_mut_ptr());
            let datum = pg_sys::heap_copy_tuple_as_datum(tuple, self.desc);
            pg_sys::heap_freetuple(tuple);
            composite_to_jsonb(datum)
        }
    }
}

impl Projection {
    /// The positions, in the table's descriptor, of the projected columns.
    pub fn columns(&self) -> &[usize] {
        &self.source
    }

    /// Whether the projected columns hold the same stored values in `a` and
    /// `b` (then their `to_jsonb` is the same too).
    pub fn same_in(&self, a: &Deformed, b: &Deformed) -> bool {
        self.source
            .iter()
            .enumerate()
            .all(|(at, &i)| match (a.nulls[i], b.nulls[i]) {
                (true, true) => true,
                (false, false) => {
                    // SAFETY: `at` < the projection's natts; both values are
                    // non-null datums of that column.
                    unsafe {
                        let attr = &*(*self.desc).attrs.as_ptr().add(at);
                        pg_sys::ffi::pg_guard_ffi_boundary(|| {
                            datum_image_eq(
                                a.values[i],
                                b.values[i],
                                attr.attbyval,
                                attr.attlen.into(),
                            )
                        })
                    }
                }
                _ => false,
            })
    }
}

impl Drop for Projection {
    fn drop(&mut self) {
        // SAFETY: the descriptor was created by us; the record type cache keeps
        // its own copy.
        unsafe { pg_sys::FreeTupleDesc(self.desc) };
    }
}

/// `to_jsonb` of a whole table row.
///
/// # Safety
/// `tuple` must be a valid tuple of the relation whose descriptor is `desc`.
pub unsafe fn row_to_jsonb(tuple: pg_sys::HeapTuple, desc: pg_sys::TupleDesc) -> pg_sys::Datum {
    // heap_copy_tuple_as_datum flattens TOAST pointers and stamps the table's
    // row type into the datum, as SQL's to_jsonb(NEW) would see it.
    // SAFETY: the caller's guarantee: a valid tuple of `desc`.
    unsafe { composite_to_jsonb(pg_sys::heap_copy_tuple_as_datum(tuple, desc)) }
}
