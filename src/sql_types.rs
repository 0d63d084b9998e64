//! Two SQL types as PostgreSQL holds them, for function arguments and results.
//!
//! * [`Jsonb`] keeps a jsonb value as PostgreSQL's own datum. pgrx's `JsonB`
//!   converts to `serde_json::Value`, which rounds numbers and cannot hold every
//!   numeric; audit data must come back exactly as it went in.
//! * [`Regclass`] is a table argument declared as `regclass` in SQL (as the
//!   contract requires), carried as its OID without opening the relation.

use audit_model::json_doc::{self, JsonDocError};
use pgrx::callconv::{Arg, ArgAbi, BoxRet, FcInfo};
use pgrx::datum::Datum;
use pgrx::datum::UnboxDatum;
use pgrx::nullable::Nullable;
use pgrx::pg_sys;
use pgrx::pgrx_sql_entity_graph::metadata::{
    ArgumentError, ReturnsError, ReturnsRef, SqlMappingRef, SqlTranslatable, TypeOrigin,
};
use pgrx::{FromDatum, IntoDatum};
use std::ffi::CStr;

/// An argument and result type known to SQL as `$sql`, unboxed through its
/// `FromDatum` implementation, as pgrx does for its own types.
macro_rules! sql_datum_type {
    ($ty:ident, $sql:literal) => {
        // SAFETY: unboxes with FromDatum, as pgrx does for its own types; the SQL type (below) is the one FromDatum reads.
        unsafe impl<'fcx> ArgAbi<'fcx> for $ty {
            unsafe fn unbox_arg_unchecked(arg: Arg<'_, 'fcx>) -> Self {
                let index = arg.index();
                // SAFETY: the caller's guarantee: this argument is of the declared SQL type.
                unsafe { arg.unbox_arg_using_from_datum() }
                    .unwrap_or_else(|| panic!("argument {index} must not be null"))
            }
            unsafe fn unbox_nullable_arg(arg: Arg<'_, 'fcx>) -> Nullable<Self> {
                // SAFETY: the caller's guarantee: this argument is of the declared SQL type.
                unsafe { arg.unbox_arg_using_from_datum() }.into()
            }
        }

        // SAFETY: the SQL type named is the one the value is read and written as.
        unsafe impl SqlTranslatable for $ty {
            const TYPE_IDENT: &'static str = pgrx::pgrx_resolved_type!($ty);
            const TYPE_ORIGIN: TypeOrigin = TypeOrigin::External;
            const ARGUMENT_SQL: Result<SqlMappingRef, ArgumentError> =
                Ok(SqlMappingRef::literal($sql));
            const RETURN_SQL: Result<ReturnsRef, ReturnsError> =
                Ok(ReturnsRef::One(SqlMappingRef::literal($sql)));
        }
    };
}

sql_datum_type!(Jsonb, "jsonb");
sql_datum_type!(Regclass, "regclass");

/// A jsonb value that is never converted to or from Rust JSON values.
///
/// The datum it wraps lives in a PostgreSQL memory context; a `Jsonb` must not
/// be kept beyond the function call or memory context that produced it.
#[derive(Clone, Copy, Debug)]
pub struct Jsonb(pg_sys::Datum);

impl Jsonb {
    /// Wraps a datum as jsonb.
    ///
    /// # Safety
    /// `datum` is a (possibly toasted) jsonb datum, valid for as long as
    /// the value is used: every method reads it as jsonb.
    pub unsafe fn from_datum_unchecked(datum: pg_sys::Datum) -> Jsonb {
        Jsonb(datum)
    }

    /// The datum, to store or return.
    pub fn datum(self) -> pg_sys::Datum {
        self.0
    }

    /// Parses JSON text with PostgreSQL's own jsonb input function.
    pub fn from_text(text: &CStr) -> Jsonb {
        // SAFETY: jsonb_in takes a NUL-terminated C string; errors are raised
        // as PostgreSQL errors and turned into Rust panics by pgrx's guard.
        unsafe {
            Jsonb(call(
                pg_sys::jsonb_in,
                &[pg_sys::Datum::from(text.as_ptr())],
            ))
        }
    }

    /// The jsonb of a Rust JSON value (numbers keep their text: the
    /// workspace builds serde_json with `arbitrary_precision`).
    pub fn from_value(value: &serde_json::Value) -> Jsonb {
        let text = std::ffi::CString::new(value.to_string())
            .expect("JSON text has no NUL byte (a NUL inside a string is escaped)");
        Jsonb::from_text(&text)
    }

    /// This value as a Rust JSON value; `name` (the argument it came from)
    /// is named if it is too deep to read.
    pub fn to_value(self, name: &'static str) -> Result<serde_json::Value, JsonDocError> {
        json_doc::parse(&self.to_text_bytes(), name)
    }

    /// `{}`.
    pub fn empty_object() -> Jsonb {
        Jsonb::from_text(c"{}")
    }

    /// PostgreSQL's text of this value (`jsonb_out`), as bytes in the server
    /// encoding (always UTF8 for this extension; see the install guard).
    pub fn to_text_bytes(self) -> Vec<u8> {
        // SAFETY: jsonb_out returns a palloc'd NUL-terminated string.
        unsafe {
            let out = call(pg_sys::jsonb_out, &[self.0]);
            let cstr = CStr::from_ptr(out.cast_mut_ptr::<std::ffi::c_char>());
            let bytes = cstr.to_bytes().to_vec();
            pg_sys::pfree(out.cast_mut_ptr());
            bytes
        }
    }

    /// `self || other`: top-level keys of `other` replace those of `self`.
    pub fn concat(self, other: Jsonb) -> Jsonb {
        // SAFETY: jsonb_concat takes two jsonb datums.
        unsafe { Jsonb(call(pg_sys::jsonb_concat, &[self.0, other.0])) }
    }

    /// The jsonb type name of the top-level value: "object", "array", ...
    pub fn type_name(self) -> String {
        // SAFETY: jsonb_typeof returns a text datum.
        unsafe {
            let t = call(pg_sys::jsonb_typeof, &[self.0]);
            String::from_datum(t, false).unwrap_or_default()
        }
    }

    pub fn is_object(self) -> bool {
        self.type_name() == "object"
    }
}

/// Calls a built-in function with non-null arguments; it must not return NULL.
///
/// # Safety
/// The arguments must be what `func` expects.
unsafe fn call(
    func: unsafe fn(pg_sys::FunctionCallInfo) -> pg_sys::Datum,
    args: &[pg_sys::Datum],
) -> pg_sys::Datum {
    let args: Vec<Option<pg_sys::Datum>> = args.iter().copied().map(Some).collect();
    // SAFETY: the caller's guarantee: `args` are the datums `func` takes.
    unsafe { pgrx::direct_function_call_as_datum(func, &args) }
        .expect("built-in function returned NULL")
}

impl FromDatum for Jsonb {
    unsafe fn from_polymorphic_datum(
        datum: pg_sys::Datum,
        is_null: bool,
        _: pg_sys::Oid,
    ) -> Option<Self> {
        (!is_null).then_some(Jsonb(datum))
    }

    /// A copy in `memory_context`: values read through SPI live in SPI's
    /// memory, which is freed when the SPI connection ends.
    unsafe fn from_datum_in_memory_context(
        mut memory_context: pgrx::PgMemoryContexts,
        datum: pg_sys::Datum,
        is_null: bool,
        _: pg_sys::Oid,
    ) -> Option<Self> {
        if is_null {
            return None;
        }
        // SAFETY: a jsonb datum (the caller's guarantee); the copy is
        // detoasted into the given context, which the caller keeps alive.
        unsafe {
            memory_context.switch_to(|_| {
                Some(Jsonb(pg_sys::Datum::from(pg_sys::pg_detoast_datum_copy(
                    datum.cast_mut_ptr(),
                ))))
            })
        }
    }
}

impl IntoDatum for Jsonb {
    fn into_datum(self) -> Option<pg_sys::Datum> {
        Some(self.0)
    }
    fn type_oid() -> pg_sys::Oid {
        pg_sys::JSONBOID
    }
}

// SAFETY: returns the jsonb datum as the function's result.
unsafe impl BoxRet for Jsonb {
    unsafe fn box_into<'fcx>(self, fcinfo: &mut FcInfo<'fcx>) -> Datum<'fcx> {
        // SAFETY: the caller's guarantee: this is the function's result slot.
        unsafe { fcinfo.return_raw_datum(self.0) }
    }
}

/// A `regclass` argument: the table's OID.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Regclass(pub pg_sys::Oid);

impl FromDatum for Regclass {
    unsafe fn from_polymorphic_datum(
        datum: pg_sys::Datum,
        is_null: bool,
        typoid: pg_sys::Oid,
    ) -> Option<Self> {
        // SAFETY: the caller's guarantee: a regclass (OID) datum.
        unsafe { pg_sys::Oid::from_polymorphic_datum(datum, is_null, typoid) }.map(Regclass)
    }
}

// SAFETY: returns the OID as the function's result.
unsafe impl BoxRet for Regclass {
    unsafe fn box_into<'fcx>(self, fcinfo: &mut FcInfo<'fcx>) -> Datum<'fcx> {
        // SAFETY: the caller's guarantee: this is the function's result slot.
        unsafe { fcinfo.return_raw_datum(pg_sys::Datum::from(self.0)) }
    }
}

// SAFETY: a regclass datum is an OID passed by value, as pgrx unboxes `oid`.
unsafe impl UnboxDatum for Regclass {
    type As<'src> = Regclass;
    unsafe fn unbox<'src>(datum: pgrx::datum::Datum<'src>) -> Regclass
    where
        Self: 'src,
    {
        // SAFETY: the caller's guarantee: a regclass (OID) datum.
        Regclass(unsafe { pg_sys::Oid::unbox(datum) })
    }
}

impl IntoDatum for Regclass {
    fn into_datum(self) -> Option<pg_sys::Datum> {
        self.0.into_datum()
    }
    fn type_oid() -> pg_sys::Oid {
        pg_sys::REGCLASSOID
    }
}
