//! Writing one event into `audit.historial_cambios`: the event's own fields
//! plus the session facts every event carries. Stored by `log_insert` as the
//! log's owner (see `elevation.rs`): no other role may insert.

use crate::capture::log_columns::{LogColumn as C, LogRow};
use crate::capture::log_insert;
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
pub enum Change<'a> {
    Insert {
        new_row: pg_sys::Datum,
    },
    Update {
        old_row: pg_sys::Datum,
        new_row: pg_sys::Datum,
        changed: Vec<&'a str>,
    },
    Delete {
        old_row: pg_sys::Datum,
    },
    Truncate,
    #[default]
    Evento,
    Ddl,
}

impl Change<'_> {
    /// The event's `accion` (the variants mirror its values).
    pub fn accion(&self) -> &'static str {
        match self {
            Change::Insert { .. } => "INSERT",
            Change::Update { .. } => "UPDATE",
            Change::Delete { .. } => "DELETE",
            Change::Truncate => "TRUNCATE",
            Change::Evento => "EVENTO",
            Change::Ddl => "DDL",
        }
    }

    /// The row before (`datos_anteriores`).
    pub fn old_row(&self) -> Option<pg_sys::Datum> {
        match self {
            Change::Update { old_row, .. } | Change::Delete { old_row } => Some(*old_row),
            _ => None,
        }
    }

    /// The row after (`datos_nuevos`).
    pub fn new_row(&self) -> Option<pg_sys::Datum> {
        match self {
            Change::Insert { new_row } | Change::Update { new_row, .. } => Some(*new_row),
            _ => None,
        }
    }

    /// The changed columns of an UPDATE (`campos_modificados`).
    pub fn changed(&self) -> Option<&[&str]> {
        match self {
            Change::Update { changed, .. } => Some(changed),
            _ => None,
        }
    }
}

/// An event: what happened and to what, beyond the session facts every
/// event carries.
#[derive(Default)]
pub struct Event<'a> {
    pub change: Change<'a>,
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
    let empresa_evento = tenant_of(event, identity);
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
    .map(|v| crate::sql_types::Jsonb::from_value(&v).datum())
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
    let ids = catalog::ids();
    let mut row = log_row(event, facts);
    as_log_owner(|| {
        // Before the id: followers of the log stop below it until this
        // transaction ends (src/seguimiento.rs).
        crate::seguimiento::announce(ids.sequence);
        // SAFETY: nextval(regclass) of the log's own sequence, as its owner.
        let id = unsafe {
            pgrx::direct_function_call_as_datum(pg_sys::nextval_oid, &[ids.sequence.into_datum()])
                .expect("nextval returns a value")
        };
        row.set(C::Id, Some(id));
        let (values, nulls) = row.values_and_nulls();
        let huella = ledger::huella::huella(values, nulls);
        row.set(C::Huella, Some(ledger::huella::bytea(&huella)));
        log_insert::insert(ids.log, &row);
        let id = id.value() as i64;
        let metadata = event.metadata.unwrap_or(facts.contexto);
        crate::alertas::notify(event, tenant_of(event, &facts.identity), metadata, id);
        id
    })
}

/// The tenant an event is filed under: the row's, else the writer's.
fn tenant_of(event: &Event<'_>, identity: &Identity) -> Option<Uuid> {
    event
        .empresa_id
        .map(Uuid::from_bytes)
        .or(identity.empresa_id)
}

/// The log row of an event with `facts`: every column but the id and the
/// hash.
fn log_row(event: &Event<'_>, facts: &Facts) -> LogRow {
    let identity = &facts.identity;
    let mut row = LogRow::default();
    row.set(C::Timestamp, Some(pg_sys::Datum::from(facts.timestamp)));
    row.set(C::UsuarioId, identity.usuario_id.as_ref().map(datums::uuid));
    row.set(
        C::UsuarioNombre,
        identity.usuario_nombre.as_deref().map(datums::text),
    );
    row.set(C::Accion, Some(datums::text(event.change.accion())));
    row.set(C::Esquema, event.esquema.map(datums::text));
    row.set(C::TablaAfectada, event.tabla.map(datums::text));
    row.set(C::RegistroId, event.registro_id.as_ref().map(datums::uuid));
    row.set(C::RegistroPk, event.registro_pk);
    row.set(C::DatosAnteriores, event.change.old_row());
    row.set(C::DatosNuevos, event.change.new_row());
    row.set(
        C::CamposModificados,
        event.change.changed().map(datums::text_array),
    );
    row.set(
        C::EmpresaId,
        tenant_of(event, identity).as_ref().map(datums::uuid),
    );
    row.set(C::Metadata, Some(event.metadata.unwrap_or(facts.contexto)));
    row.set(C::Transaccion, Some(pg_sys::Datum::from(facts.transaccion)));
    row.set(C::RolBd, Some(datums::text(&facts.rol_bd)));
    row.set(C::Aplicacion, facts.aplicacion.as_deref().map(datums::text));
    row.set(C::IpCliente, facts.ip_cliente);
    row.set(
        C::RegistroIdAnterior,
        event.registro_id_anterior.as_ref().map(datums::uuid),
    );
    row.set(C::RolSesion, facts.rol_sesion.as_deref().map(datums::text));
    row.set(
        C::UsuarioExterno,
        identity.usuario_externo.as_deref().map(datums::text),
    );
    row.set(C::Notas, notas(event, identity, &facts.avisos));
    row
}

/// The log's column list (log_columns.rs), the log table, the writer and
/// the hash must agree: adding a column to one and not the others fails here.
#[cfg(any(test, feature = "pg_test"))]
#[pgrx::pg_schema]
mod tests {
    use super::*;
    use crate::capture::log_columns::{LogColumn, NAMES};
    use crate::sql_types::Jsonb;
    use audit_model::identity::Identity;
    use pgrx::prelude::*;

    /// An event with every field known, and facts likewise.
    fn full_row() -> LogRow {
        let json = |s: &str| Jsonb::from_text(&std::ffi::CString::new(s).unwrap()).datum();
        let uuid = |n: u8| Uuid::from_bytes([n; 16]);
        let identity = Identity {
            usuario_id: Some(uuid(1)),
            usuario_nombre: Some("Ana".into()),
            empresa_id: Some(uuid(2)),
            rol: Some("admin".into()),
            usuario_externo: Some("auth0|x".into()),
            avisos: Vec::new(),
        };
        // SAFETY: inet_in of a valid address text.
        let ip = unsafe {
            pgrx::direct_function_call_as_datum(
                pg_sys::inet_in,
                &[Some(pg_sys::Datum::from(c"10.0.0.1".as_ptr()))],
            )
        };
        let facts = Facts {
            identity: Rc::new(identity),
            avisos: vec!["a warning".into()],
            rol_bd: "postgres".into(),
            rol_sesion: Some("app".into()),
            aplicacion: Some("psql".into()),
            ip_cliente: ip,
            timestamp: 1,
            transaccion: 2,
            contexto: json(r#"{"motivo": "x"}"#),
        };
        let event = Event {
            change: Change::Update {
                old_row: json(r#"{"a": 1}"#),
                new_row: json(r#"{"a": 2}"#),
                changed: vec!["a"],
            },
            esquema: Some("public"),
            tabla: Some("t"),
            registro_id: Some(uuid(3)),
            registro_pk: Some(json(r#"{"a": 2}"#)),
            empresa_id: Some([4; 16]),
            metadata: None,
            registro_id_anterior: Some(uuid(5)),
            traslado: None,
            exactos_anteriores: None,
            exactos_nuevos: None,
        };
        log_row(&event, &facts)
    }

    #[pg_test]
    fn test_the_column_list_is_the_log_table() {
        let in_table: Vec<String> = Spi::connect(|c| {
            c.select(
                "SELECT attname::text FROM pg_attribute
                  WHERE attrelid = 'audit.historial_cambios'::regclass
                    AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
                None,
                &[],
            )
            .unwrap()
            .map(|r| r.get::<String>(1).unwrap().unwrap())
            .collect()
        });
        assert_eq!(in_table, NAMES);
    }

    #[pg_test]
    fn test_the_writer_sets_every_column_but_the_id_and_the_hash() {
        let row = full_row();
        for column in LogColumn::ALL {
            let expected = !matches!(column, LogColumn::Id | LogColumn::Huella);
            assert_eq!(row.get(column).is_some(), expected, "{column:?}");
        }
    }

    #[pg_test]
    fn test_the_hash_covers_every_column_but_itself() {
        let mut row = full_row();
        row.set(LogColumn::Id, Some(pg_sys::Datum::from(7i64)));
        let hash = |row: &LogRow| {
            let (values, nulls) = row.values_and_nulls();
            ledger::huella::huella(values, nulls)
        };
        let whole = hash(&row);
        for column in LogColumn::ALL {
            let kept = row.get(column);
            row.set(column, None);
            let changed = hash(&row) != whole;
            row.set(column, kept);
            assert_eq!(changed, column != LogColumn::Huella, "{column:?}");
        }
    }
}
