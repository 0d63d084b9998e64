//! Every `audit.*` setting: definition, validation and typed accessors.
//!
//! Identity settings (`audit.usuario_id`, `audit.usuario_nombre`,
//! `audit.empresa_id`) and the transaction context are set by applications,
//! usually with `SET LOCAL`, so they are USERSET; they are claims, not proof
//! (`rol_bd` records the real role). Where claims are read from is deployment
//! configuration and is SUSET. Values that could never be used are refused
//! when they are set, so a bad value breaks the `SET`, never an audited write.

use audit_model::contexto::validate_context_text;
use audit_model::identity::parse_uuid;
use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting};
use pgrx::pg_sys;
use pgrx::search_path;
use std::ffi::{c_char, c_void, CStr, CString};

/// `audit.usuario_id`: the acting application user (uuid). Default: unset.
pub static USUARIO_ID: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
/// `audit.usuario_nombre`: the acting user's display name. Default: unset.
pub static USUARIO_NOMBRE: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
/// `audit.empresa_id`: the acting tenant (uuid). Default: unset.
pub static EMPRESA_ID: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
/// `audit.claims_setting`: name of the setting holding the JWT claims as JSON.
pub static CLAIMS_SETTING: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c"request.jwt.claims"));
/// `audit.claim_usuario`: claim path(s) of the user id.
pub static CLAIM_USUARIO: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c"sub"));
/// `audit.claim_nombre`: claim path(s) of the user's display name.
pub static CLAIM_NOMBRE: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(
    c"user_metadata.full_name, user_metadata.nombre, user_metadata.name, email",
));
/// `audit.claim_empresa`: claim path(s) of the tenant id.
pub static CLAIM_EMPRESA: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c"app_metadata.empresa_id, empresa_id"));
/// `audit.claim_rol`: claim path(s) of the application role.
pub static CLAIM_ROL: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c"app_metadata.rol, user_role"));
/// `audit.rol`: the acting user's application role. Default: unset (the
/// role claim is used).
pub static ROL: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
/// `audit.roles_lectores`: application roles that may read the history.
pub static ROLES_LECTORES: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c"propietario, administrador, owner, admin"));
/// `audit.operacion_interna`: set (transaction-locally) by the extension's
/// own maintenance while it changes its own tables; see docs/security.md.
pub static OPERACION_INTERNA: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(None);
/// `audit.contexto`: the transaction context, a JSON object; written by
/// `audit.establecer_contexto`. Default: unset.
pub static CONTEXTO: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
/// `audit.retencion_meses`: months of history `audit.mantenimiento()` keeps;
/// 0 (the default) keeps everything. SUSET: dropping history is the DBA's
/// decision, never a session's.
pub static RETENCION_MESES: GucSetting<i32> = GucSetting::<i32>::new(0);
/// `audit.captura_aviso_lag`: seconds the capture from the WAL may lag
/// behind the newest commit before its worker warns (a WARNING in the
/// server log and a row in `audit.log_tecnico`). Default 60; 0: never.
pub static CAPTURA_AVISO_LAG: GucSetting<i32> = GucSetting::<i32>::new(60);
/// `audit.captura_lote`: changes the capture worker decodes per batch (its
/// transaction); a transaction is never split. Default 10000.
pub static CAPTURA_LOTE: GucSetting<i32> = GucSetting::<i32>::new(10_000);
/// `audit.captura_comprimir_wal`: whether the capture worker compresses the
/// full-page images of its own WAL (lz4) while the server's
/// `wal_compression` is off. Default on.
pub static CAPTURA_COMPRIMIR_WAL: GucSetting<bool> = GucSetting::<bool>::new(true);

/// One string setting.
struct Definition {
    name: &'static CStr,
    short: &'static CStr,
    long: &'static CStr,
    setting: &'static GucSetting<Option<CString>>,
    /// Who may set it.
    context: GucContext,
    /// Refuses unusable values.
    check: pg_sys::GucStringCheckHook,
}

pub fn init() {
    let settings: [Definition; 12] = [
        Definition {
            name: c"audit.usuario_id",
            short: c"Acting application user (uuid), recorded in usuario_id.",
            long: c"Takes precedence over the JWT claims. Set it per transaction with SET LOCAL.",
            setting: &USUARIO_ID,
            context: GucContext::Userset,
            check: Some(check_uuid),
        },
        Definition {
            name: c"audit.usuario_nombre",
            short: c"Acting user's display name, recorded in usuario_nombre.",
            long: c"Takes precedence over the JWT claims. Set it per transaction with SET LOCAL.",
            setting: &USUARIO_NOMBRE,
            context: GucContext::Userset,
            check: None,
        },
        Definition {
            name: c"audit.empresa_id",
            short: c"Acting tenant (uuid), recorded in empresa_id when the row has no tenant column.",
            long: c"Takes precedence over the JWT claims. Set it per transaction with SET LOCAL.",
            setting: &EMPRESA_ID,
            context: GucContext::Userset,
            check: Some(check_uuid),
        },
        Definition {
            name: c"audit.rol",
            short: c"Acting user's application role; with audit.roles_lectores it decides who may read the history.",
            long: c"Takes precedence over the role claim. Set it per transaction with SET LOCAL.",
            setting: &ROL,
            context: GucContext::Userset,
            check: None,
        },
        Definition {
            name: c"audit.roles_lectores",
            short: c"Application roles that may read the history (comma-separated, any letter case).",
            long: c"Checked by the row-level security of the log against audit.rol or the role claim.",
            setting: &ROLES_LECTORES,
            context: GucContext::Suset,
            check: None,
        },
        Definition {
            name: c"audit.operacion_interna",
            short: c"Set by the extension's own maintenance while it changes its own tables.",
            long: c"Not for applications: it only unlocks what the extension's owner could do anyway.",
            setting: &OPERACION_INTERNA,
            context: GucContext::Userset,
            check: None,
        },
        Definition {
            name: c"audit.contexto",
            short: c"Context of the current transaction, merged into the metadata of its events.",
            long: c"A JSON object. Use audit.establecer_contexto(jsonb), which sets it for the transaction only.",
            setting: &CONTEXTO,
            context: GucContext::Userset,
            check: Some(check_contexto),
        },
        Definition {
            name: c"audit.claims_setting",
            short: c"Name of the setting that holds the JWT claims as JSON.",
            long: c"PostgREST and Supabase use request.jwt.claims.",
            setting: &CLAIMS_SETTING,
            context: GucContext::Suset,
            check: None,
        },
        Definition {
            name: c"audit.claim_usuario",
            short: c"Claim path(s) of the user id.",
            long: c"Dotted paths, comma-separated, tried in order.",
            setting: &CLAIM_USUARIO,
            context: GucContext::Suset,
            check: None,
        },
        Definition {
            name: c"audit.claim_nombre",
            short: c"Claim path(s) of the user's display name.",
            long: c"Dotted paths, comma-separated, tried in order.",
            setting: &CLAIM_NOMBRE,
            context: GucContext::Suset,
            check: None,
        },
        Definition {
            name: c"audit.claim_empresa",
            short: c"Claim path(s) of the tenant id.",
            long: c"Dotted paths, comma-separated, tried in order.",
            setting: &CLAIM_EMPRESA,
            context: GucContext::Suset,
            check: None,
        },
        Definition {
            name: c"audit.claim_rol",
            short: c"Claim path(s) of the application role.",
            long: c"Dotted paths, comma-separated, tried in order.",
            setting: &CLAIM_ROL,
            context: GucContext::Suset,
            check: None,
        },
    ];
    for Definition {
        name,
        short,
        long,
        setting,
        context,
        check,
    } in settings
    {
        // SAFETY: the hooks are extern "C-unwind" functions behind pg_guard
        // that only read their argument; names and texts are static.
        unsafe {
            GucRegistry::define_string_guc_with_hooks(
                name,
                short,
                long,
                setting,
                context,
                GucFlags::default(),
                check,
                None,
                None,
            )
        };
    }
    GucRegistry::define_int_guc(
        c"audit.retencion_meses",
        c"Months of history audit.mantenimiento() keeps; 0 keeps everything.",
        c"Whole monthly partitions of the log are dropped once all their events are sealed and older than this (docs/operations.md).",
        &RETENCION_MESES,
        0,
        1200,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"audit.captura_aviso_lag",
        c"Seconds the capture from the WAL may lag before its worker warns; 0 never warns.",
        c"The warning goes to the server log and to audit.log_tecnico (docs/capture.md, capture from the WAL).",
        &CAPTURA_AVISO_LAG,
        0,
        86_400 * 30,
        GucContext::Sighup,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_int_guc(
        c"audit.captura_lote",
        c"Changes the capture worker decodes per batch (one transaction of the worker).",
        c"A writer's transaction is never split between batches.",
        &CAPTURA_LOTE,
        1,
        1_000_000,
        GucContext::Sighup,
        GucFlags::default(),
    );
    GucRegistry::define_bool_guc(
        c"audit.captura_comprimir_wal",
        c"Whether the capture worker compresses the full-page images of its own WAL (lz4) while wal_compression is off.",
        c"Only the worker's writes to the log; the server's wal_compression is left as it is (docs/capture.md).",
        &CAPTURA_COMPRIMIR_WAL,
        GucContext::Sighup,
        GucFlags::default(),
    );
    // SAFETY: plain C call with a static string (PostgreSQL 15 and later).
    unsafe { pg_sys::MarkGUCPrefixReserved(c"audit".as_ptr()) };
}

/// The current raw value of one of our string settings, without copying.
///
/// # Safety
/// The string is PostgreSQL's, freed when the setting changes: the caller
/// must not use it after anything that may run SQL or change a setting
/// (copy it first).
pub unsafe fn raw<'a>(setting: &'static GucSetting<Option<CString>>) -> Option<&'a CStr> {
    // SAFETY: PostgreSQL owns the string and keeps the pointer current; the
    // caller keeps the borrow short (above).
    unsafe {
        let ptr: *mut c_char = *setting.as_ptr();
        (!ptr.is_null()).then(|| CStr::from_ptr(ptr))
    }
}

/// The raw value of any setting by name (for example the claims setting,
/// which belongs to PostgREST), or None when it does not exist.
///
/// # Safety
/// As for [`raw`].
pub unsafe fn raw_by_name<'a>(name: &CStr) -> Option<&'a CStr> {
    // SAFETY: GetConfigOption returns a pointer into GUC storage or NULL;
    // the caller keeps the borrow short.
    unsafe {
        let ptr = pg_sys::GetConfigOption(name.as_ptr(), true, false);
        (!ptr.is_null()).then(|| CStr::from_ptr(ptr))
    }
}

/// Refuses a value with `message` as the detail (GUC check-hook protocol).
fn refuse(message: &str) -> bool {
    // SAFETY: GUC_check_* globals are reset by PostgreSQL before each hook
    // call and read right after it returns false.
    unsafe {
        pg_sys::GUC_check_errcode(pgrx::PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE as i32);
        let detail = CString::new(message.replace('\0', "")).unwrap_or_default();
        pg_sys::GUC_check_errdetail_string = pg_sys::pstrdup(detail.as_ptr());
    }
    false
}

/// "the context ..." -> "The context ...." (details are full sentences).
fn sentence(message: &str) -> String {
    let mut chars = message.chars();
    match chars.next() {
        Some(first) => format!("{}{}.", first.to_uppercase(), chars.as_str()),
        None => String::new(),
    }
}

unsafe fn new_value<'a>(newval: *mut *mut c_char) -> &'a [u8] {
    // SAFETY: the caller's guarantee: the check hook's newval, a NUL-terminated string or null.
    unsafe {
        let ptr = *newval;
        if ptr.is_null() {
            &[]
        } else {
            CStr::from_ptr(ptr).to_bytes()
        }
    }
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn check_uuid(
    newval: *mut *mut c_char,
    _extra: *mut *mut c_void,
    _source: pg_sys::GucSource::Type,
) -> bool {
    // SAFETY: PostgreSQL calls the check hook with its newval.
    let bytes = unsafe { new_value(newval) };
    match std::str::from_utf8(bytes) {
        Ok(s) if s.trim().is_empty() || parse_uuid(s).is_some() => true,
        _ => refuse("The value must be a uuid, or empty to unset it."),
    }
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn check_contexto(
    newval: *mut *mut c_char,
    _extra: *mut *mut c_void,
    _source: pg_sys::GucSource::Type,
) -> bool {
    // SAFETY: PostgreSQL calls the check hook with its newval.
    let bytes = unsafe { new_value(newval) };
    let Ok(text) = std::str::from_utf8(bytes) else {
        return refuse("The context is not valid UTF-8.");
    };
    match validate_context_text(text) {
        Ok(()) => true,
        Err(e) => refuse(&sentence(&e.to_string())),
    }
}

/// `audit.retencion_meses` for the maintenance function. A call into the
/// library, not `current_setting()`: it loads the library first, so a value
/// set before the library was loaded is validated before it is used.
#[pgrx::pg_extern(stable, parallel_safe)]
#[search_path(pg_catalog, pg_temp)]
fn _retencion_meses() -> i32 {
    RETENCION_MESES.get()
}

#[cfg(any(test, feature = "pg_test"))]
#[pgrx::pg_schema]
mod tests {
    use crate::test_support::{one, run};
    use pgrx::prelude::*;

    #[pg_test]
    #[should_panic(expected = "invalid value for parameter \"audit.contexto\"")]
    fn test_context_setting_refuses_non_objects() {
        run("SET LOCAL audit.contexto = '[1, 2]'");
    }

    #[pg_test]
    fn test_context_setting_takes_an_object() {
        run(r#"SET LOCAL audit.contexto = '{"motivo": "x"}'"#);
        assert_eq!(
            one::<String>("SELECT current_setting('audit.contexto')").as_deref(),
            Some(r#"{"motivo": "x"}"#)
        );
    }

    #[pg_test]
    #[should_panic(expected = "invalid value for parameter \"audit.usuario_id\"")]
    fn test_uuid_settings_refuse_other_text() {
        run("SET LOCAL audit.usuario_id = 'juan'");
    }

    #[pg_test]
    #[should_panic(expected = "invalid value for parameter \"audit.empresa_id\"")]
    fn test_tenant_setting_refuses_other_text() {
        run("SET LOCAL audit.empresa_id = '12345'");
    }

    #[pg_test]
    fn test_uuid_settings_take_a_uuid_or_nothing() {
        run("SET LOCAL audit.usuario_id = '11111111-1111-1111-1111-111111111111'");
        run("SET LOCAL audit.usuario_id = ''");
        run("SET LOCAL audit.empresa_id = ' '");
    }
}
