//! Writing one event into `audit.historial_cambios`.
//!
//! The INSERT is prepared once per backend and kept (`SPI_keepplan`); the
//! plan cache re-plans it by itself if the log's definition changes. It runs
//! as the log's owner (see `elevation.rs`): no other role may insert.

use crate::capture::session;
use crate::datums;
use crate::elevation::as_log_owner;
use pgrx::pg_sys;
use std::cell::Cell;
use std::ffi::c_char;
use uuid::Uuid;

const INSERT: &std::ffi::CStr = c"\
INSERT INTO audit.historial_cambios (\"timestamp\", usuario_id, usuario_nombre, accion, esquema, tabla_afectada, \
registro_id, registro_pk, datos_anteriores, datos_nuevos, campos_modificados, empresa_id, metadata, transaccion, \
rol_bd, aplicacion, ip_cliente, registro_id_anterior, rol_sesion, usuario_externo) \
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20) RETURNING id";

const NARGS: usize = 20;

fn arg_types() -> [pg_sys::Oid; NARGS] {
    use pg_sys::*;
    [
        TIMESTAMPTZOID,
        UUIDOID,
        TEXTOID,
        TEXTOID,
        TEXTOID,
        TEXTOID,
        UUIDOID,
        JSONBOID,
        JSONBOID,
        JSONBOID,
        TEXTARRAYOID,
        UUIDOID,
        JSONBOID,
        INT8OID,
        TEXTOID,
        TEXTOID,
        INETOID,
        UUIDOID,
        TEXTOID,
        TEXTOID,
    ]
}

thread_local! {
    static PLAN: Cell<pg_sys::SPIPlanPtr> = const { Cell::new(std::ptr::null_mut()) };
}

/// What an event says beyond the session facts every event carries.
#[derive(Default)]
pub struct Event<'a> {
    pub accion: &'a str,
    pub esquema: Option<&'a str>,
    pub tabla: Option<&'a str>,
    pub registro_id: Option<Uuid>,
    pub registro_pk: Option<pg_sys::Datum>,
    pub datos_anteriores: Option<pg_sys::Datum>,
    pub datos_nuevos: Option<pg_sys::Datum>,
    pub campos_modificados: Option<Vec<&'a str>>,
    /// The row's own tenant; when None, the session's tenant is recorded.
    pub empresa_id: Option<[u8; 16]>,
    pub metadata: Option<pg_sys::Datum>,
    pub registro_id_anterior: Option<Uuid>,
}

/// Inserts the event with the current session's facts and returns its id.
pub fn write(event: &Event<'_>) -> i64 {
    let identity = session::identity();
    let rol_bd = session::database_role();
    let rol_sesion = session::session_role();
    let aplicacion = session::application();

    let mut values = [pg_sys::Datum::from(0); NARGS];
    let mut nulls = [b'n' as c_char; NARGS];
    let mut set = |i: usize, d: Option<pg_sys::Datum>| {
        if let Some(d) = d {
            values[i] = d;
            nulls[i] = b' ' as c_char;
        }
    };
    set(0, Some(pg_sys::Datum::from(session::transaction_time())));
    set(1, identity.usuario_id.as_ref().map(datums::uuid));
    set(2, identity.usuario_nombre.as_deref().map(datums::text));
    set(3, Some(datums::text(event.accion)));
    set(4, event.esquema.map(datums::text));
    set(5, event.tabla.map(datums::text));
    set(6, event.registro_id.as_ref().map(datums::uuid));
    set(7, event.registro_pk);
    set(8, event.datos_anteriores);
    set(9, event.datos_nuevos);
    set(
        10,
        event.campos_modificados.as_deref().map(datums::text_array),
    );
    let empresa = event
        .empresa_id
        .map(|b| datums::uuid_bytes(&b))
        .or(identity.empresa_id.as_ref().map(datums::uuid));
    set(11, empresa);
    set(12, Some(event.metadata.unwrap_or_else(session::context)));
    set(13, Some(pg_sys::Datum::from(session::transaction_id())));
    set(14, Some(datums::text(&rol_bd)));
    set(15, aplicacion.as_deref().map(datums::text));
    set(16, session::client_address());
    set(17, event.registro_id_anterior.as_ref().map(datums::uuid));
    set(18, rol_sesion.as_deref().map(datums::text));
    set(19, identity.usuario_externo.as_deref().map(datums::text));

    // SAFETY: SPI is connected and finished around the execution; the plan is
    // prepared with matching argument types and kept for the backend.
    unsafe {
        if pg_sys::SPI_connect() != pg_sys::SPI_OK_CONNECT as i32 {
            panic!("could not connect to SPI to record an audit event");
        }
        let plan = prepared_plan();
        let rc = as_log_owner(|| {
            pg_sys::SPI_execute_plan(plan, values.as_mut_ptr(), nulls.as_ptr(), false, 1)
        });
        if rc != pg_sys::SPI_OK_INSERT_RETURNING as i32 || pg_sys::SPI_processed != 1 {
            panic!("recording the audit event failed (SPI result {rc})");
        }
        let table = pg_sys::SPI_tuptable;
        let mut isnull = true;
        let id = pg_sys::SPI_getbinval(*(*table).vals, (*table).tupdesc, 1, &mut isnull);
        pg_sys::SPI_finish();
        id.value() as i64
    }
}

/// # Safety
/// Must be called while connected to SPI.
unsafe fn prepared_plan() -> pg_sys::SPIPlanPtr {
    let plan = PLAN.with(Cell::get);
    if !plan.is_null() {
        return plan;
    }
    let mut types = arg_types();
    unsafe {
        let plan = pg_sys::SPI_prepare(INSERT.as_ptr(), NARGS as i32, types.as_mut_ptr());
        if plan.is_null() || pg_sys::SPI_keepplan(plan) != 0 {
            let result = pg_sys::SPI_result;
            panic!("could not prepare the audit insert (SPI result {result})");
        }
        PLAN.with(|c| c.set(plan));
        plan
    }
}
