//! Values `to_jsonb` cannot represent exactly, kept as their text.
//!
//! `to_jsonb` renders an array as a JSON array and drops its lower bounds:
//! `'[0:1][2:3]={{1,2},{3,4}}'` and `'{{1,2},{3,4}}'` give the same JSON. A
//! snapshot stays `to_jsonb`'s output (the contract), and when a value of an
//! event's row has lower bounds other than 1, anywhere in it, the event also
//! keeps that value's text (`notas.valores_exactos`), which restores write
//! back instead. The check is made only for the columns whose type can hold
//! an array (found once per table): arrays, domains over them, and
//! composite, range or multirange types with an array somewhere inside.

use crate::capture::row::Deformed;
use pgrx::pg_sys;
use serde_json::{Map, Value};

/// How a column's values are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    /// An array of scalars: its own lower bounds, read from its header.
    LowerBounds,
    /// Anything else that may hold an array: its text, where PostgreSQL
    /// writes bounds other than 1 as a `[m:n]=` decoration.
    Text,
}

/// A column whose values may need their exact text.
#[derive(Debug)]
pub struct ExactColumn {
    index: usize,
    name: String,
    check: Check,
    output: pg_sys::Oid,
}

/// The columns of `columns` (index, name, type) that need the check.
pub fn exact_columns(
    columns: impl Iterator<Item = (usize, String, pg_sys::Oid)>,
) -> Vec<ExactColumn> {
    columns
        .filter_map(|(index, name, typid)| {
            let check = check_for(typid)?;
            let mut output = pg_sys::InvalidOid;
            let mut varlena = false;
            // SAFETY: syscache lookup of an existing type.
            unsafe { pg_sys::getTypeOutputInfo(typid, &mut output, &mut varlena) };
            Some(ExactColumn {
                index,
                name,
                check,
                output,
            })
        })
        .collect()
}

fn check_for(typid: pg_sys::Oid) -> Option<Check> {
    // SAFETY: syscache lookups of an existing type.
    let base = unsafe { pg_sys::getBaseType(typid) };
    // SAFETY: a syscache lookup of the base type just found.
    let element = unsafe { pg_sys::get_element_type(base) };
    if element != pg_sys::InvalidOid {
        return Some(if may_hold_array(element, 0) {
            Check::Text
        } else {
            Check::LowerBounds
        });
    }
    may_hold_array(base, 0).then_some(Check::Text)
}

/// Whether a value of type `typid` can contain an array.
fn may_hold_array(typid: pg_sys::Oid, depth: u32) -> bool {
    // Types cannot contain themselves; the limit only bounds the walk.
    if depth > 32 {
        return true;
    }
    // SAFETY: syscache lookups of existing types; the row type's descriptor
    // is a palloc'd copy, freed here.
    unsafe {
        let base = pg_sys::getBaseType(typid);
        if pg_sys::get_element_type(base) != pg_sys::InvalidOid {
            return true;
        }
        match pg_sys::get_typtype(base) as u8 {
            b'c' => {
                let desc = pg_sys::lookup_rowtype_tupdesc_copy(base, -1);
                let attrs = (*desc).attrs.as_slice((*desc).natts as usize);
                let holds = attrs
                    .iter()
                    .any(|a| !a.attisdropped && may_hold_array(a.atttypid, depth + 1));
                pg_sys::FreeTupleDesc(desc);
                holds
            }
            b'r' => may_hold_array(pg_sys::get_range_subtype(base), depth + 1),
            b'm' => may_hold_array(pg_sys::get_multirange_range(base), depth + 1),
            _ => false,
        }
    }
}

/// The exact text of the values of `row` that `to_jsonb` would not render
/// exactly, by column name; None when there are none.
pub fn exact_texts(columns: &[ExactColumn], row: &Deformed) -> Option<Map<String, Value>> {
    let mut texts = Map::new();
    for c in columns {
        if row.nulls[c.index] {
            continue;
        }
        let value = row.values[c.index];
        // SAFETY: a non-null datum of the column's type; the array header
        // is read from a detoasted copy, the text from the type's output
        // function (both in the current, short-lived memory context).
        let text = unsafe {
            match c.check {
                Check::LowerBounds => {
                    has_bounds_other_than_one(value).then(|| output_text(c.output, value))
                }
                Check::Text => Some(output_text(c.output, value)).filter(|t| t.contains("]=")),
            }
        };
        if let Some(text) = text {
            texts.insert(c.name.clone(), Value::String(text));
        }
    }
    (!texts.is_empty()).then_some(texts)
}

/// # Safety
/// `value` must be a non-null array datum.
unsafe fn has_bounds_other_than_one(value: pg_sys::Datum) -> bool {
    // SAFETY: the caller's guarantee: a non-null array datum, detoasted here.
    unsafe {
        let array = pg_sys::pg_detoast_datum(value.cast_mut_ptr()).cast::<pg_sys::ArrayType>();
        let ndim = (*array).ndim.max(0) as usize;
        // ARR_LBOUND: the dimensions follow the fixed header, then the
        // lower bounds, one int per dimension each.
        let dims = array
            .cast::<u8>()
            .add(std::mem::size_of::<pg_sys::ArrayType>())
            .cast::<std::ffi::c_int>();
        let lower = std::slice::from_raw_parts(dims.add(ndim), ndim);
        lower.iter().any(|&b| b != 1)
    }
}

/// # Safety
/// `value` must be a non-null datum of the type whose output function is `output`.
unsafe fn output_text(output: pg_sys::Oid, value: pg_sys::Datum) -> String {
    // SAFETY: the caller's guarantee: a non-null datum of the output function's type.
    unsafe {
        let text = pg_sys::OidOutputFunctionCall(output, value);
        crate::catalog::cstr_to_string(text)
    }
}
