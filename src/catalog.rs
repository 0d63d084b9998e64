//! The extension's own objects and small catalog lookups.
//!
//! OIDs of the extension's objects are looked up once per backend and kept
//! until a relcache invalidation of the log says they may have changed (the
//! extension was dropped and created again in the same session).

use pgrx::pg_sys;
use std::cell::Cell;
use std::ffi::CStr;

#[derive(Clone, Copy, Debug)]
pub struct ExtensionIds {
    /// `audit.historial_cambios`
    pub log: pg_sys::Oid,
    /// Owner of the log: the role the capture path writes as.
    pub log_owner: pg_sys::Oid,
    /// `audit.tablas_config`
    pub config: pg_sys::Oid,
    /// `audit.historial_cambios_id_seq`
    pub sequence: pg_sys::Oid,
    /// `audit.registrar_cambio()`
    pub capture_fn: pg_sys::Oid,
    /// `audit._contexto_wal()` (capture from the WAL)
    pub context_fn: pg_sys::Oid,
    /// The extension itself (pg_extension row).
    pub extension: pg_sys::Oid,
}

thread_local! {
    static IDS: Cell<Option<ExtensionIds>> = const { Cell::new(None) };
}

const LOOKUP: &str = "\
SELECT c.oid AS log, c.relowner AS log_owner,
       'audit.tablas_config'::pg_catalog.regclass::pg_catalog.oid AS config,
       'audit.historial_cambios_id_seq'::pg_catalog.regclass::pg_catalog.oid AS sequence,
       'audit.registrar_cambio()'::pg_catalog.regprocedure::pg_catalog.oid AS capture_fn,
       'audit._contexto_wal()'::pg_catalog.regprocedure::pg_catalog.oid AS context_fn,
       e.oid AS extension
  FROM pg_catalog.pg_class c, pg_catalog.pg_extension e
 WHERE c.oid = 'audit.historial_cambios'::pg_catalog.regclass
   AND e.extname = 'audit'";

pub fn ids() -> ExtensionIds {
    if let Some(ids) = IDS.with(Cell::get) {
        return ids;
    }
    let ids = crate::spi::first(LOOKUP, &[], |row| {
        let oid = |column: &str| {
            row.get_by_name::<pg_sys::Oid, _>(column)
                .map(|oid| oid.unwrap_or_else(|| panic!("the extension's {column} was not found")))
        };
        Ok(ExtensionIds {
            log: oid("log")?,
            log_owner: oid("log_owner")?,
            config: oid("config")?,
            sequence: oid("sequence")?,
            capture_fn: oid("capture_fn")?,
            context_fn: oid("context_fn")?,
            extension: oid("extension")?,
        })
    })
    .expect("the audit extension's objects exist while it is installed");
    IDS.with(|c| c.set(Some(ids)));
    ids
}

/// Forgets the cached OIDs (they are looked up again on next use).
pub fn forget() {
    IDS.with(|c| c.set(None));
}

/// True when `relid` is one of the extension's own tables, whose changes
/// invalidate the cached OIDs.
pub fn is_own_table(relid: pg_sys::Oid) -> bool {
    IDS.with(Cell::get)
        .is_some_and(|ids| ids.log == relid || ids.config == relid)
}

/// Schema and name of a relation, or None when it no longer exists.
pub fn relation_name(relid: pg_sys::Oid) -> Option<(String, String)> {
    // SAFETY: syscache lookups that return palloc'd strings or NULL.
    unsafe {
        let name = pg_sys::get_rel_name(relid);
        if name.is_null() {
            return None;
        }
        let nsp = pg_sys::get_namespace_name(pg_sys::get_rel_namespace(relid));
        if nsp.is_null() {
            return None;
        }
        Some((cstr_to_string(nsp), cstr_to_string(name)))
    }
}

/// `schema.table`, quoted where needed, as PostgreSQL prints a regclass.
pub fn qualified_name(schema: &str, table: &str) -> String {
    format!("{}.{}", quote_ident(schema), quote_ident(table))
}

/// A relation as SQL text (`schema.table`, quoted where needed), or its OID
/// when it no longer exists.
pub fn regclass_text(relid: pg_sys::Oid) -> String {
    relation_name(relid)
        .map(|(s, t)| qualified_name(&s, &t))
        .unwrap_or_else(|| relid.to_u32().to_string())
}

pub fn quote_ident(ident: &str) -> String {
    let c = std::ffi::CString::new(ident).expect("identifiers have no NUL");
    // SAFETY: quote_identifier returns its argument or a palloc'd copy.
    unsafe { cstr_to_string(pg_sys::quote_identifier(c.as_ptr())) }
}

/// Name of a role, or its OID as text when it no longer exists.
pub fn role_name(role: pg_sys::Oid) -> String {
    // SAFETY: with noerr = true this returns NULL instead of raising.
    unsafe {
        let name = pg_sys::GetUserNameFromId(role, true);
        if name.is_null() {
            role.to_u32().to_string()
        } else {
            cstr_to_string(name)
        }
    }
}

/// # Safety
/// `ptr` must be a valid NUL-terminated string.
pub unsafe fn cstr_to_string(ptr: *const std::ffi::c_char) -> String {
    // SAFETY: the caller's guarantee: a valid NUL-terminated string.
    unsafe { CStr::from_ptr(ptr) }
        .to_string_lossy()
        .into_owned()
}
