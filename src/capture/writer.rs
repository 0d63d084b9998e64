//! Writing one event into `audit.historial_cambios`: the event's own fields
//! plus the session facts every event carries. Stored by `log_insert` as the
//! log's owner (see `elevation.rs`): no other role may insert.

use crate::capture::log_insert::{self, LogRow, COLUMNS};
use crate::capture::session;
use crate::catalog;
use crate::datums;
use crate::elevation::as_log_owner;
use crate::ledger;
use audit_model::identity::Identity;
use audit_model::notas::{Notas, Traslado};
use pgrx::pg_sys;
use pgrx::IntoDatum;
use serde_json::{Map, Value};
use std::rc::Rc;
use uuid::Uuid;

/// What happened, with exactly the snapshots that kind of event has. The log
/// relies on this for its shape (an INSERT has no "before", a DELETE no
/// "after", an UPDATE lists its changed columns): it has no CHECK constraints,
/// which would be compiled again in every transaction that writes.
#[derive(Default)]
pub enum Cambio<'a> {
    Insert {
        nuevos: pg_sys::Datum,
    },
    Update {
        anteriores: pg_sys::Datum,
        nuevos: pg_sys::Datum,
        campos: Vec<&'a str>,
    },
    Delete {
        anteriores: pg_sys::Datum,
    },
    Truncate,
    #[default]
    Evento,
    Ddl,
}

impl Cambio<'_> {
    pub fn accion(&self) -> &'static str {
        match self {
            Cambio::Insert { .. } => "INSERT",
            Cambio::Update { .. } => "UPDATE",
            Cambio::Delete { .. } => "DELETE",
            Cambio::Truncate => "TRUNCATE",
            Cambio::Evento => "EVENTO",
            Cambio::Ddl => "DDL",
        }
    }

    pub fn anteriores(&self) -> Option<pg_sys::Datum> {
        match self {
            Cambio::Update { anteriores, .. } | Cambio::Delete { anteriores } => Some(*anteriores),
            _ => None,
        }
    }

    pub fn nuevos(&self) -> Option<pg_sys::Datum> {
        match self {
            Cambio::Insert { nuevos } | Cambio::Update { nuevos, .. } => Some(*nuevos),
            _ => None,
        }
    }

    pub fn campos(&self) -> Option<&[&str]> {
        match self {
            Cambio::Update { campos, .. } => Some(campos),
            _ => None,
        }
    }
}

/// An event: what happened and to what, beyond the session facts every
/// event carries.
#[derive(Default)]
pub struct Event<'a> {
    pub cambio: Cambio<'a>,
    pub esquema: Option<&'a str>,
    pub tabla: Option<&'a str>,
    pub registro_id: Option<Uuid>,
    pub registro_pk: Option<pg_sys::Datum>,
    /// The row's own tenant; when None, the session's tenant is recorded.
    pub empresa_id: Option<[u8; 16]>,
    pub metadata: Option<pg_sys::Datum>,
    pub registro_id_anterior: Option<Uuid>,
    /// The side of a move between tenants this event records, if it does.
    pub traslado: Option<Traslado>,
    /// Exact text of values `to_jsonb` cannot represent, by column, in the
    /// before- and after-images.
    pub exactos_anteriores: Option<Map<String, Value>>,
    pub exactos_nuevos: Option<Map<String, Value>>,
}

/// The event's `notas` (crates/audit-model/src/notas.rs), or None: the
/// common case costs a few comparisons.
fn notas(event: &Event<'_>, identity: &Identity, avisos: &[String]) -> Option<pg_sys::Datum> {
    let empresa_evento = event
        .empresa_id
        .map(Uuid::from_bytes)
        .or(identity.empresa_id);
    if avisos.is_empty()
        && identity.empresa_id == empresa_evento
        && event.traslado.is_none()
        && event.exactos_anteriores.is_none()
        && event.exactos_nuevos.is_none()
    {
        return None;
    }
    Notas {
        empresa_evento,
        empresa_identidad: identity.empresa_id,
        avisos_identidad: avisos,
        traslado: event.traslado,
        exactos_anteriores: event.exactos_anteriores.clone(),
        exactos_nuevos: event.exactos_nuevos.clone(),
    }
    .to_json()
    .map(|v| crate::sql_types::Jsonb::from_value(&v).0)
}

/// What every event records about who wrote it and when, beyond what
/// happened: the writing session's facts, read from the session itself
/// (synchronous capture) or from the context message its transaction wrote
/// into the WAL (capture from the WAL: src/wal/).
pub struct Facts {
    pub identity: Rc<Identity>,
    /// The identity's warnings, as messages (`notas.avisos_identidad`).
    pub avisos: Vec<String>,
    pub rol_bd: Rc<str>,
    pub rol_sesion: Option<String>,
    pub aplicacion: Option<String>,
    pub ip_cliente: Option<pg_sys::Datum>,
    pub timestamp: pg_sys::TimestampTz,
    pub transaccion: i64,
    /// The transaction context: the metadata of events that give none.
    pub contexto: pg_sys::Datum,
}

impl Facts {
    /// The current session's facts.
    pub fn of_session() -> Facts {
        let identity = session::identity();
        Facts {
            avisos: identity.avisos.iter().map(ToString::to_string).collect(),
            identity,
            rol_bd: session::database_role(),
            rol_sesion: session::session_role(),
            aplicacion: session::application(),
            ip_cliente: session::client_address(),
            timestamp: session::transaction_time(),
            transaccion: session::transaction_id(),
            contexto: session::context(),
        }
    }
}

/// Inserts the event with the current session's facts and returns its id.
pub fn write(event: &Event<'_>) -> i64 {
    // The insert does not go through the executor, which would refuse writes
    // in a READ ONLY transaction; refuse the same way (SQLSTATE 25006).
    // (Audited DML never gets here in one: PostgreSQL refuses it first.)
    // SAFETY: raises a PostgreSQL error when the transaction is read-only.
    unsafe { pg_sys::PreventCommandIfReadOnly(c"INSERT INTO audit.historial_cambios".as_ptr()) };
    write_with(event, &Facts::of_session())
}

/// Inserts the event with `facts` and returns its id.
pub fn write_with(event: &Event<'_>, facts: &Facts) -> i64 {
    let identity = &facts.identity;
    let ids = catalog::ids();

    let mut row = LogRow {
        values: [pg_sys::Datum::from(0); COLUMNS.len()],
        nulls: [true; COLUMNS.len()],
    };
    let mut set = |i: usize, d: Option<pg_sys::Datum>| {
        if let Some(d) = d {
            row.values[i] = d;
            row.nulls[i] = false;
        }
    };
    set(1, Some(pg_sys::Datum::from(facts.timestamp)));
    set(2, identity.usuario_id.as_ref().map(datums::uuid));
    set(3, identity.usuario_nombre.as_deref().map(datums::text));
    set(4, Some(datums::text(event.cambio.accion())));
    set(5, event.esquema.map(datums::text));
    set(6, event.tabla.map(datums::text));
    set(7, event.registro_id.as_ref().map(datums::uuid));
    set(8, event.registro_pk);
    set(9, event.cambio.anteriores());
    set(10, event.cambio.nuevos());
    set(11, event.cambio.campos().map(datums::text_array));
    let empresa = event
        .empresa_id
        .map(|b| datums::uuid_bytes(&b))
        .or(identity.empresa_id.as_ref().map(datums::uuid));
    set(12, empresa);
    set(13, Some(event.metadata.unwrap_or(facts.contexto)));
    set(14, Some(pg_sys::Datum::from(facts.transaccion)));
    set(15, Some(datums::text(&facts.rol_bd)));
    set(16, facts.aplicacion.as_deref().map(datums::text));
    set(17, facts.ip_cliente);
    set(18, event.registro_id_anterior.as_ref().map(datums::uuid));
    set(19, facts.rol_sesion.as_deref().map(datums::text));
    set(20, identity.usuario_externo.as_deref().map(datums::text));
    set(21, notas(event, identity, &facts.avisos));

    as_log_owner(|| {
        // SAFETY: nextval(regclass) of the log's own sequence, as its owner.
        let id = unsafe {
            pgrx::direct_function_call_as_datum(pg_sys::nextval_oid, &[ids.sequence.into_datum()])
                .expect("nextval returns a value")
        };
        row.values[0] = id;
        row.nulls[0] = false;
        let huella = ledger::huella::huella(&row.values, &row.nulls);
        row.values[ledger::huella::HASHED] = ledger::huella::bytea(&huella);
        row.nulls[ledger::huella::HASHED] = false;
        log_insert::insert(ids.log, &row);
        id.value() as i64
    })
}
