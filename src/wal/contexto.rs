//! The writer's side of capture from the WAL: `audit._contexto_wal()`, a
//! `BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ... FOR EACH STATEMENT`
//! trigger (`ENABLE ALWAYS`, so that it also fires under
//! `session_replication_role = replica`). It writes the facts the row
//! triggers read from the session (identity, context, roles, application,
//! address, transaction id and start time) into the WAL as a transactional
//! logical message, prefix `audit`, signed (src/wal/clave.rs), for the
//! changes of the statement's table that follow it. Once per transaction
//! and audited table, and again only when something in it changed (a new
//! `SET LOCAL audit.usuario_id`, an `establecer_contexto`, a SECURITY
//! DEFINER function changing the current role...): a statement that
//! changes nothing of it costs a few comparisons. Before the first one, the
//! database's capture slot must be there (`ensure_slot_for_writer`).

use crate::capture::session;
use crate::guc;
use audit_model::identity::Identity;
use audit_model::wal_wire::WalContext;
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::cell::RefCell;
use std::ffi::{c_char, CStr};
use std::rc::Rc;

extern "C-unwind" {
    // replication/message.h, absent from pgrx's bindings. Called only
    // through pg_guard_ffi_boundary.
    fn LogLogicalMessage(
        prefix: *const c_char,
        message: *const c_char,
        size: usize,
        transactional: bool,
    ) -> pg_sys::XLogRecPtr;
}

/// What the last message of this transaction for one audited table (its
/// root: schema, name) was written from.
struct Emitted {
    tabla: (String, String),
    identity: Rc<Identity>,
    contexto: Vec<u8>,
    usuario: pg_sys::Oid,
    sesion: pg_sys::Oid,
    aplicacion: Vec<u8>,
}

thread_local! {
    /// One entry per audited table written in this transaction (a few).
    static ESCRITO: RefCell<Vec<Emitted>> = const { RefCell::new(Vec::new()) };
}

/// At the end of a transaction (src/backend.rs): the next one writes its
/// own messages.
pub fn on_transaction_end() {
    ESCRITO.with(|e| e.borrow_mut().clear());
}

/// At the end of a subtransaction (src/backend.rs).
pub fn on_subtransaction_end(event: pg_sys::SubXactEvent::Type) {
    // A message written in a subtransaction that rolls back is gone from
    // the WAL's point of view: write them again at the next statements.
    if event == pg_sys::SubXactEvent::SUBXACT_EVENT_ABORT_SUB {
        ESCRITO.with(|e| e.borrow_mut().clear());
    }
}

// Declared in SQL (`sql =`): a trigger function, reading its TriggerData
// from the raw fcinfo.
#[pg_extern(sql = r#"
CREATE FUNCTION audit._contexto_wal() RETURNS trigger
    LANGUAGE c
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', '@FUNCTION_NAME@';
COMMENT ON FUNCTION audit._contexto_wal() IS
    'Capture from the WAL: BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE FOR EACH STATEMENT (ENABLE ALWAYS) on each table captured with "captura": "wal"; writes the transaction''s context into the WAL.';
"#)]
fn _contexto_wal(fcinfo: pg_sys::FunctionCallInfo) {
    // SAFETY: this call's fcinfo; the trigger data is used within the call.
    let td = unsafe { crate::capture::trigger_data(fcinfo, "audit._contexto_wal()") };
    let event = td.tg_event;
    if event & pg_sys::TRIGGER_EVENT_ROW != 0
        || event & pg_sys::TRIGGER_EVENT_TIMINGMASK != pg_sys::TRIGGER_EVENT_BEFORE
    {
        crate::capture::misuse("audit._contexto_wal() must be fired BEFORE ... FOR EACH STATEMENT");
    }
    // The first statement of the transaction (or since a rolled-back
    // savepoint): the changes about to be made need the capture slot.
    if ESCRITO.with(|e| e.borrow().is_empty()) {
        super::ensure_slot_for_writer();
    }
    // The audited table the statement's changes are filed under (a
    // partition's are its root's), as the decoder names them.
    let state = crate::capture::cache::table_state(td.tg_relation);
    write_if_changed((state.schema.clone(), state.table.clone()));
}

fn raw_bytes(c: Option<&CStr>) -> &[u8] {
    c.map_or(&[], CStr::to_bytes)
}

fn application_bytes() -> Vec<u8> {
    // SAFETY: application_name is a GUC string owned by PostgreSQL.
    unsafe {
        let p = pg_sys::application_name;
        if p.is_null() {
            Vec::new()
        } else {
            CStr::from_ptr(p).to_bytes().to_vec()
        }
    }
}

/// Writes the context message for the statement on audited table `tabla`
/// unless the last one of this transaction for that table was written from
/// the same facts. Per table, because the decoder gives each change the
/// last message of its own table: a statement nested in another (a
/// SECURITY DEFINER function, a trigger writing elsewhere) writes its own
/// message, and the outer statement's later changes must not take it.
pub fn write_if_changed(tabla: (String, String)) {
    let identity = session::identity();
    // SAFETY: plain accessors.
    let (usuario, sesion) = unsafe { (pg_sys::GetUserId(), pg_sys::GetSessionUserId()) };
    // SAFETY: used below before anything can change a setting (reading
    // application_name changes none), and copied into `Emitted`.
    let contexto = raw_bytes(unsafe { guc::raw(&guc::CONTEXTO) });
    let aplicacion = application_bytes();
    let same = ESCRITO.with(|e| {
        e.borrow().iter().any(|w| {
            w.tabla == tabla
                && Rc::ptr_eq(&w.identity, &identity)
                && w.usuario == usuario
                && w.sesion == sesion
                && w.contexto == contexto
                && w.aplicacion == aplicacion
        })
    });
    if same {
        return;
    }
    let escrito = Emitted {
        tabla: tabla.clone(),
        identity: identity.clone(),
        contexto: contexto.to_vec(),
        usuario,
        sesion,
        aplicacion,
    };
    let message = WalContext {
        transaccion: session::transaction_id(),
        inicio: session::transaction_time(),
        usuario_id: identity.usuario_id.map(|u| u.to_string()),
        usuario_nombre: identity.usuario_nombre.clone(),
        empresa_id: identity.empresa_id.map(|u| u.to_string()),
        usuario_externo: identity.usuario_externo.clone(),
        avisos: identity.avisos.iter().map(ToString::to_string).collect(),
        metadata: session::context_jsonb()
            .to_value("audit.contexto")
            .unwrap_or_else(|_| serde_json::json!({})),
        rol_bd: session::database_role().to_string(),
        rol_sesion: session::session_role(),
        aplicacion: session::application(),
        ip_cliente: session::client_address_text(),
        tabla: Some(tabla),
    };
    let json = serde_json::to_vec(&message).expect("the context serializes");
    // Signed (audit_model::wal_signing): any role may write a message with
    // this prefix, and the output plugin believes only ours. Bound to the
    // top-level transaction id, the one the decoder files the message under.
    let bytes = super::clave::key().sign(message.transaccion as u32, &json);
    // SAFETY: a transactional message with a static prefix and our bytes;
    // PostgreSQL copies them into the WAL record.
    unsafe {
        pg_sys::ffi::pg_guard_ffi_boundary(|| {
            LogLogicalMessage(
                super::PREFIJO.as_ptr(),
                bytes.as_ptr().cast(),
                bytes.len(),
                true,
            )
        })
    };
    ESCRITO.with(|e| {
        let mut e = e.borrow_mut();
        e.retain(|w| w.tabla != escrito.tabla);
        e.push(escrito);
    });
}
