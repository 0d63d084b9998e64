//! Facts about the acting session that every event records: the
//! application identity (settings and claims), the transaction context, the
//! real database roles, the application name and client address, and the
//! transaction's id and start time.
//!
//! Identity and context are parsed only when the raw settings change: a
//! statement touching a million rows parses its claims once. Warnings about
//! unusable settings or claims are raised once per transaction.

use crate::catalog;
use crate::guc;
use crate::sql_types::Jsonb;
use audit_model::claims::ClaimPaths;
use audit_model::identity::{resolve, ClaimMapping, Identity, IdentityInputs};
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::cell::{Cell, RefCell};
use std::ffi::CStr;
use std::rc::Rc;

/// Raw values of the settings identity depends on, borrowed from
/// PostgreSQL's settings (see [`guc::raw`]): used before anything can change
/// a setting, copied when cached.
struct RawInputs<'a> {
    usuario_id: Option<&'a CStr>,
    usuario_nombre: Option<&'a CStr>,
    empresa_id: Option<&'a CStr>,
    /// The name of the setting that holds the claims...
    claims_setting: Option<&'a CStr>,
    /// ...and its value.
    claims: Option<&'a CStr>,
    claim_usuario: Option<&'a CStr>,
    claim_nombre: Option<&'a CStr>,
    claim_empresa: Option<&'a CStr>,
    claim_rol: Option<&'a CStr>,
    rol: Option<&'a CStr>,
}

impl<'a> RawInputs<'a> {
    /// Every input, for comparing with the cached ones.
    fn all(&self) -> [Option<&'a CStr>; 10] {
        [
            self.usuario_id,
            self.usuario_nombre,
            self.empresa_id,
            self.claims_setting,
            self.claims,
            self.claim_usuario,
            self.claim_nombre,
            self.claim_empresa,
            self.claim_rol,
            self.rol,
        ]
    }
}

struct IdentityEntry {
    inputs: Vec<Option<Vec<u8>>>,
    identity: Rc<Identity>,
}

impl IdentityEntry {
    fn matches(&self, current: &RawInputs<'_>) -> bool {
        self.inputs
            .iter()
            .zip(current.all())
            .all(|(cached, now)| cached.as_deref() == now.map(CStr::to_bytes))
    }
}

struct ContextEntry {
    raw: Vec<u8>,
    /// The context as jsonb, kept in TopMemoryContext.
    datum: pg_sys::Datum,
}

thread_local! {
    static IDENTITY: RefCell<Option<IdentityEntry>> = const { RefCell::new(None) };
    static CONTEXT: RefCell<Option<ContextEntry>> = const { RefCell::new(None) };
    static EMPTY_OBJECT: Cell<Option<pg_sys::Datum>> = const { Cell::new(None) };
    static WARNED_THIS_TRANSACTION: Cell<bool> = const { Cell::new(false) };
    static ROLE_NAME: RefCell<Option<(pg_sys::Oid, Rc<str>)>> = const { RefCell::new(None) };
    static CLIENT_ADDRESS: Cell<Option<Option<pg_sys::Datum>>> = const { Cell::new(None) };
}

/// At the end of a transaction (src/backend.rs): warnings may be raised
/// again in the next one.
pub fn on_transaction_end(event: pg_sys::XactEvent::Type) {
    if matches!(
        event,
        pg_sys::XactEvent::XACT_EVENT_COMMIT
            | pg_sys::XactEvent::XACT_EVENT_ABORT
            | pg_sys::XactEvent::XACT_EVENT_PREPARE
            | pg_sys::XactEvent::XACT_EVENT_PARALLEL_COMMIT
            | pg_sys::XactEvent::XACT_EVENT_PARALLEL_ABORT
    ) {
        WARNED_THIS_TRANSACTION.with(|w| w.set(false));
    }
}

/// # Safety
/// As for [`guc::raw`]: the values are used before anything can change a
/// setting.
unsafe fn raw_inputs<'a>() -> RawInputs<'a> {
    // SAFETY: the caller's guarantee, passed on.
    unsafe {
        let claims_setting = guc::raw(&guc::CLAIMS_SETTING);
        RawInputs {
            usuario_id: guc::raw(&guc::USUARIO_ID),
            usuario_nombre: guc::raw(&guc::USUARIO_NOMBRE),
            empresa_id: guc::raw(&guc::EMPRESA_ID),
            claims_setting,
            claims: claims_setting
                .filter(|n| !n.is_empty())
                .and_then(|n| guc::raw_by_name(n)),
            claim_usuario: guc::raw(&guc::CLAIM_USUARIO),
            claim_nombre: guc::raw(&guc::CLAIM_NOMBRE),
            claim_empresa: guc::raw(&guc::CLAIM_EMPRESA),
            claim_rol: guc::raw(&guc::CLAIM_ROL),
            rol: guc::raw(&guc::ROL),
        }
    }
}

/// The identity as the extension resolves it now.
pub fn identity() -> Rc<Identity> {
    // SAFETY: compared, and copied when cached, before anything below can
    // change a setting.
    let current = unsafe { raw_inputs() };
    let cached = IDENTITY.with(|c| {
        c.borrow()
            .as_ref()
            .filter(|e| e.matches(&current))
            .map(|e| e.identity.clone())
    });
    let identity = match cached {
        Some(identity) => identity,
        None => {
            let text = |raw: Option<&CStr>| raw.map(|c| c.to_string_lossy().into_owned());
            let usuario_id = text(current.usuario_id);
            let usuario_nombre = text(current.usuario_nombre);
            let empresa_id = text(current.empresa_id);
            let rol = text(current.rol);
            let claims_setting = text(current.claims_setting).unwrap_or_default();
            let claims = text(current.claims);
            let paths = |raw: Option<&CStr>| ClaimPaths::parse(&text(raw).unwrap_or_default());
            let mapping = ClaimMapping {
                usuario: paths(current.claim_usuario),
                nombre: paths(current.claim_nombre),
                empresa: paths(current.claim_empresa),
                rol: paths(current.claim_rol),
            };
            let inputs = IdentityInputs {
                usuario_id: usuario_id.as_deref(),
                usuario_nombre: usuario_nombre.as_deref(),
                empresa_id: empresa_id.as_deref(),
                rol: rol.as_deref(),
                claims_setting: &claims_setting,
                claims: claims.as_deref(),
            };
            let identity = Rc::new(resolve(&inputs, &mapping));
            let entry = IdentityEntry {
                inputs: current
                    .all()
                    .iter()
                    .map(|c| c.map(|c| c.to_bytes().to_vec()))
                    .collect(),
                identity: identity.clone(),
            };
            IDENTITY.with(|c| *c.borrow_mut() = Some(entry));
            // A different identity may have different problems: say them again.
            WARNED_THIS_TRANSACTION.with(|w| w.set(false));
            identity
        }
    };
    if !identity.avisos.is_empty() && !WARNED_THIS_TRANSACTION.with(|w| w.replace(true)) {
        for aviso in &identity.avisos {
            warning!("{aviso}");
        }
    }
    identity
}

/// `{}` as jsonb, kept for the life of the backend.
pub fn empty_object() -> pg_sys::Datum {
    if let Some(d) = EMPTY_OBJECT.with(Cell::get) {
        return d;
    }
    // SAFETY: copies a fresh jsonb into TopMemoryContext.
    let d = unsafe {
        crate::datums::copy_varlena_into(pg_sys::TopMemoryContext, Jsonb::empty_object().datum())
    };
    EMPTY_OBJECT.with(|c| c.set(Some(d)));
    d
}

/// [`context`] as a [`Jsonb`].
pub fn context_jsonb() -> Jsonb {
    // SAFETY: context() is a jsonb datum, valid until the context changes.
    unsafe { Jsonb::from_datum_unchecked(context()) }
}

/// The transaction context (`audit.establecer_contexto`) as jsonb; `{}` when
/// none is set. The datum stays valid until the context changes.
pub fn context() -> pg_sys::Datum {
    // SAFETY: compared, then copied (`to_owned`) before anything runs.
    let raw = match unsafe { guc::raw(&guc::CONTEXTO) } {
        Some(c) if !c.is_empty() => c,
        _ => return empty_object(),
    };
    let cached = CONTEXT.with(|c| {
        c.borrow()
            .as_ref()
            .filter(|e| e.raw.as_slice() == raw.to_bytes())
            .map(|e| e.datum)
    });
    if let Some(d) = cached {
        return d;
    }
    let raw = raw.to_owned();
    // Parsed in the current (short-lived) context, then copied, so that
    // nothing of the parse outlives this call. The setting's check hook has
    // already refused anything jsonb would refuse.
    let parsed = Jsonb::from_text(&raw);
    // SAFETY: jsonb is a varlena type.
    let datum =
        unsafe { crate::datums::copy_varlena_into(pg_sys::TopMemoryContext, parsed.datum()) };
    let previous = CONTEXT.with(|c| {
        c.borrow_mut().replace(ContextEntry {
            raw: raw.into_bytes(),
            datum,
        })
    });
    if let Some(old) = previous {
        // SAFETY: the old copy was palloc'd in TopMemoryContext by us and is
        // no longer referenced by the cache.
        unsafe { pg_sys::pfree(old.datum.cast_mut_ptr()) };
    }
    datum
}

/// A role changed (src/backend.rs: pg_authid's cache was invalidated, e.g.
/// by ALTER ROLE ... RENAME): look its name up again.
pub fn forget_role_names() {
    ROLE_NAME.with(|r| {
        if let Ok(mut r) = r.try_borrow_mut() {
            *r = None;
        }
    });
}

fn role_name_cached(role: pg_sys::Oid) -> Rc<str> {
    if let Some(name) = ROLE_NAME.with(|r| {
        r.borrow()
            .as_ref()
            .filter(|(oid, _)| *oid == role)
            .map(|(_, n)| n.clone())
    }) {
        return name;
    }
    let name: Rc<str> = catalog::role_name(role).into();
    ROLE_NAME.with(|r| *r.borrow_mut() = Some((role, name.clone())));
    name
}

/// `rol_bd`: the role whose privileges the change ran with (current_user).
/// Not a setting: it cannot be forged by the application.
pub fn database_role() -> Rc<str> {
    // SAFETY: plain accessor.
    role_name_cached(unsafe { pg_sys::GetUserId() })
}

/// `rol_sesion`: the login role, when it differs from `rol_bd`.
pub fn session_role() -> Option<String> {
    // SAFETY: plain accessors.
    let (session, current) = unsafe { (pg_sys::GetSessionUserId(), pg_sys::GetUserId()) };
    (session != current).then(|| catalog::role_name(session))
}

/// `application_name`, when set.
pub fn application() -> Option<String> {
    // SAFETY: application_name is a GUC string owned by PostgreSQL.
    unsafe {
        let p = pg_sys::application_name;
        (!p.is_null() && *p != 0).then(|| catalog::cstr_to_string(p))
    }
}

/// The client's address (`inet_client_addr()`), looked up once per session.
pub fn client_address() -> Option<pg_sys::Datum> {
    if let Some(addr) = CLIENT_ADDRESS.with(Cell::get) {
        return addr;
    }
    // Copied into TopMemoryContext inside the SPI connection: SPI's memory is
    // gone once it closes.
    let text =
        crate::spi::value::<String>("SELECT pg_catalog.inet_client_addr()::pg_catalog.text", &[]);
    let addr = text.map(|text| {
        let text = std::ffi::CString::new(text).expect("an address has no NUL byte");
        // SAFETY: inet_in parses what PostgreSQL itself printed; the copy in
        // TopMemoryContext lives as long as the session.
        unsafe {
            let inet = pgrx::direct_function_call_as_datum(
                pg_sys::inet_in,
                &[Some(pg_sys::Datum::from(text.as_ptr()))],
            )
            .expect("inet_in returns a value");
            crate::datums::copy_varlena_into(pg_sys::TopMemoryContext, inet)
        }
    });
    CLIENT_ADDRESS.with(|c| c.set(Some(addr)));
    addr
}

/// An `inet` datum from its text, in the current memory context.
pub fn inet(text: &str) -> pg_sys::Datum {
    let text = std::ffi::CString::new(text).expect("an address has no NUL byte");
    // SAFETY: inet_in parses the text (an error for a bad one).
    unsafe {
        pgrx::direct_function_call_as_datum(
            pg_sys::inet_in,
            &[Some(pg_sys::Datum::from(text.as_ptr()))],
        )
        .expect("inet_in returns a value")
    }
}

/// The client's address as text, as `inet_client_addr()::text` gives it.
pub fn client_address_text() -> Option<String> {
    client_address().map(|inet| {
        // SAFETY: an inet datum; inet_out returns a palloc'd C string.
        unsafe {
            let out = pgrx::direct_function_call_as_datum(pg_sys::inet_out, &[Some(inet)])
                .expect("inet_out returns a value");
            crate::catalog::cstr_to_string(out.cast_mut_ptr())
        }
    })
}

/// `transaccion`: the top-level transaction id, with epoch (as
/// `pg_current_xact_id()`), so it never wraps around.
pub fn transaction_id() -> i64 {
    // SAFETY: assigns the top transaction id if the transaction has none yet.
    unsafe { pg_sys::GetTopFullTransactionId().value as i64 }
}

/// `"timestamp"`: the transaction's start time, as `now()`.
pub fn transaction_time() -> pg_sys::TimestampTz {
    // SAFETY: plain accessor.
    unsafe { pg_sys::GetCurrentTransactionStartTimestamp() }
}

#[cfg(any(test, feature = "pg_test"))]
#[pgrx::pg_schema]
mod tests {
    use crate::test_support::{one, run};
    use pgrx::prelude::*;

    #[pg_test]
    fn test_identity_settings_are_read_per_statement() {
        run("CREATE TABLE t_who (id int PRIMARY KEY)");
        run("SELECT audit.auditar('t_who')");
        run("SET LOCAL audit.usuario_id = '11111111-1111-1111-1111-111111111111'");
        run("INSERT INTO t_who VALUES (1)");
        run("SET LOCAL audit.usuario_id = '22222222-2222-2222-2222-222222222222'");
        run("INSERT INTO t_who VALUES (2)");
        let users = one::<String>(
            "SELECT string_agg(usuario_id::text, ',' ORDER BY id) FROM audit.historial_cambios WHERE tabla_afectada = 't_who' AND accion = 'INSERT'",
        );
        assert_eq!(
            users.as_deref(),
            Some("11111111-1111-1111-1111-111111111111,22222222-2222-2222-2222-222222222222")
        );
    }
}
