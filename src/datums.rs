//! Building PostgreSQL datums from Rust values, in the current memory context.

use pgrx::pg_sys;
use uuid::Uuid;

/// A `text` datum.
pub fn text(s: &str) -> pg_sys::Datum {
    // SAFETY: cstring_to_text_with_len copies `len` bytes into a palloc'd text.
    unsafe {
        pg_sys::Datum::from(pg_sys::cstring_to_text_with_len(
            s.as_ptr().cast(),
            s.len() as i32,
        ))
    }
}

/// A `uuid` datum (pass-by-reference, 16 bytes).
pub fn uuid(u: &Uuid) -> pg_sys::Datum {
    uuid_bytes(u.as_bytes())
}

pub fn uuid_bytes(bytes: &[u8; 16]) -> pg_sys::Datum {
    // SAFETY: palloc'd 16 bytes, filled completely.
    unsafe {
        let p = pg_sys::palloc(16).cast::<u8>();
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), p, 16);
        pg_sys::Datum::from(p)
    }
}

/// The 16 bytes of a `uuid` datum.
///
/// # Safety
/// `d` must be a non-null uuid datum.
pub unsafe fn uuid_of(d: pg_sys::Datum) -> [u8; 16] {
    let mut out = [0u8; 16];
    // SAFETY: the caller's guarantee: a non-null uuid datum points at 16 bytes.
    unsafe { std::ptr::copy_nonoverlapping(d.cast_mut_ptr::<u8>(), out.as_mut_ptr(), 16) };
    out
}

/// A `text[]` datum (one-dimensional, no NULLs).
pub fn text_array(items: &[&str]) -> pg_sys::Datum {
    let mut elems: Vec<pg_sys::Datum> = items.iter().map(|s| text(s)).collect();
    // SAFETY: construct_array copies the elements into a new palloc'd array;
    // text is varlena (-1), not by value, int-aligned.
    unsafe {
        pg_sys::Datum::from(pg_sys::construct_array(
            elems.as_mut_ptr(),
            elems.len() as i32,
            pg_sys::TEXTOID,
            -1,
            false,
            pg_sys::TYPALIGN_INT as std::ffi::c_char,
        ))
    }
}

/// Copies a varlena datum into `context` (for values kept across calls),
/// detoasted, so the copy depends on nothing else.
///
/// # Safety
/// `d` must be a valid datum of a varlena type (`typlen == -1`).
pub unsafe fn copy_varlena_into(context: pg_sys::MemoryContext, d: pg_sys::Datum) -> pg_sys::Datum {
    // SAFETY: the caller's guarantee: a valid varlena datum.
    unsafe {
        let old = pg_sys::MemoryContextSwitchTo(context);
        let copy = pg_sys::pg_detoast_datum_copy(d.cast_mut_ptr());
        pg_sys::MemoryContextSwitchTo(old);
        pg_sys::Datum::from(copy)
    }
}

/// The image of a varlena datum (detoasted, with its 4-byte header): what
/// [`from_varlena_image`] turns back into the same datum.
///
/// # Safety
/// `d` must be a valid datum of a varlena type; the image lives as long as
/// the detoasted value (the current memory context, when it had to be
/// detoasted).
pub unsafe fn varlena_image<'a>(d: pg_sys::Datum) -> &'a [u8] {
    // SAFETY: the caller's guarantee: a valid varlena datum.
    unsafe {
        let p = pg_sys::pg_detoast_datum(d.cast_mut_ptr());
        std::slice::from_raw_parts(p.cast::<u8>(), pgrx::varlena::varsize_4b(p))
    }
}

/// A varlena datum from its image (see [`varlena_image`]), palloc'd in the
/// current memory context.
pub fn from_varlena_image(image: &[u8]) -> pg_sys::Datum {
    // SAFETY: a palloc'd copy of a complete varlena, header included.
    unsafe {
        let p = pg_sys::palloc(image.len()).cast::<u8>();
        std::ptr::copy_nonoverlapping(image.as_ptr(), p, image.len());
        pg_sys::Datum::from(p)
    }
}
