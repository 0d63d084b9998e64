//! Alerts: an event that matches a rule of `audit.alertas` sends `NOTIFY`
//! on the rule's channel with the event's id (docs/reading.md).
//!
//! The notification is PostgreSQL's own `pg_notify`: queued with the
//! transaction that writes the event and delivered when it commits, never
//! for a transaction that rolls back. Events captured from the WAL notify
//! when the capture worker's batch commits, that is once the event is in
//! the log.
//!
//! The rules are read once per backend and kept until `audit.alertas`
//! changes: its trigger (`audit._alertas_cambiadas`) invalidates the
//! table's relcache entry, which every backend receives at commit
//! (src/backend.rs). An event with no rule to match costs one look at the
//! cached list.

use crate::capture::writer::Event;
use crate::datums;
use crate::error::AuditError;
use crate::sql_types::Jsonb;
use audit_model::alertas::{payload, Hecho, Regla};
use audit_model::qualified_name::parse_qualified_name;
use pgrx::prelude::*;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use uuid::Uuid;

thread_local! {
    /// The rules and the OID of the table they were read from.
    static REGLAS: RefCell<Option<Rc<Vec<Regla>>>> = const { RefCell::new(None) };
    static TABLA: Cell<pg_sys::Oid> = const { Cell::new(pg_sys::InvalidOid) };
}

/// A relation's relcache entry was invalidated (src/backend.rs): forget the
/// rules if it was the rules' table, or if everything was invalidated.
pub fn forget_if(relid: pg_sys::Oid) {
    if relid == pg_sys::InvalidOid || relid == TABLA.with(Cell::get) {
        REGLAS.with(|r| {
            if let Ok(mut r) = r.try_borrow_mut() {
                *r = None;
            }
        });
    }
}

/// The rules table's OID, or None when this database's SQL objects predate
/// it (the library was updated, `ALTER EXTENSION audit UPDATE` not yet run).
fn rules_table() -> Option<pg_sys::Oid> {
    let namespace = crate::capture::catalog_audit_namespace();
    // SAFETY: a syscache lookup by name in the extension's schema.
    let oid = unsafe { pg_sys::get_relname_relid(c"alertas".as_ptr(), namespace) };
    (oid != pg_sys::InvalidOid).then_some(oid)
}

/// The rules, read when needed. Runs as the log's owner (the table is not
/// readable by others).
fn reglas() -> Rc<Vec<Regla>> {
    if let Some(r) = REGLAS.with(|r| r.borrow().clone()) {
        return r;
    }
    let Some(oid) = rules_table() else {
        return Rc::new(Vec::new());
    };
    let rows = crate::spi::rows(
        "SELECT id, canal, tabla, accion, campo, tipo_operacion, empresa_id
           FROM audit.alertas ORDER BY id",
        &[],
        |r| {
            Ok((
                r.get::<i64>(1)?.unwrap_or_default(),
                r.get::<String>(2)?.unwrap_or_default(),
                r.get::<String>(3)?,
                r.get::<String>(4)?,
                r.get::<String>(5)?,
                r.get::<String>(6)?,
                r.get::<pgrx::Uuid>(7)?,
            ))
        },
    );
    let reglas: Vec<Regla> = rows
        .into_iter()
        .map(
            |(id, canal, tabla, accion, campo, tipo_operacion, empresa)| {
                // Checked when the rule was written (check_rule).
                let nombre = tabla.as_deref().and_then(|t| parse_qualified_name(t).ok());
                Regla {
                    id,
                    canal,
                    esquema: nombre.as_ref().and_then(|n| n.schema.clone()),
                    tabla: nombre.map(|n| n.name),
                    accion,
                    campo,
                    tipo_operacion,
                    empresa_id: empresa.map(|u| Uuid::from_bytes(*u.as_bytes())),
                }
            },
        )
        .collect();
    let reglas = Rc::new(reglas);
    TABLA.with(|t| t.set(oid));
    REGLAS.with(|r| *r.borrow_mut() = Some(reglas.clone()));
    reglas
}

/// Sends the notifications of event `id`, written as `event` for tenant
/// `empresa` (the row's, else the writer's), with `metadata` (the event's
/// own, else the transaction's context: the log's `metadata` column).
/// Runs as the log's owner.
pub fn notify(event: &Event<'_>, empresa: Option<Uuid>, metadata: pg_sys::Datum, id: i64) {
    let reglas = reglas();
    if reglas.is_empty() {
        return;
    }
    // SAFETY: the event's metadata, a jsonb datum alive for the event.
    let tipo_operacion = unsafe { Jsonb::from_datum_unchecked(metadata) }
        .to_value("metadata")
        .ok()
        .and_then(|v| v.get("tipo_operacion")?.as_str().map(str::to_owned));
    let campos = event.change.changed().unwrap_or_default();
    let hecho = Hecho {
        esquema: event.esquema,
        tabla: event.tabla,
        accion: event.change.accion(),
        campos,
        tipo_operacion: tipo_operacion.as_deref(),
        empresa_id: empresa,
    };
    for regla in reglas.iter().filter(|r| r.coincide(&hecho)) {
        let message = payload(id, regla.id);
        // SAFETY: pg_notify(text, text) with two text datums; it queues the
        // notification with the current transaction.
        unsafe {
            pgrx::direct_function_call_as_datum(
                pg_sys::pg_notify,
                &[
                    Some(datums::text(&regla.canal)),
                    Some(datums::text(&message)),
                ],
            );
        }
    }
}

/// `audit.alertas` changed: every backend reads the rules again (its
/// relcache entry is invalidated at commit). A rule's `tabla` must be a
/// table name, with or without its schema.
// Declared in SQL (`sql =`): a trigger function, reading its TriggerData
// from the raw fcinfo.
#[pg_extern(sql = r#"
CREATE FUNCTION audit._alertas_cambiadas() RETURNS trigger
    LANGUAGE c
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', '@FUNCTION_NAME@';
"#)]
fn _alertas_cambiadas(fcinfo: pg_sys::FunctionCallInfo) {
    // SAFETY: this call's fcinfo; the trigger data is used within the call.
    let td = unsafe { crate::capture::trigger_data(fcinfo, "audit._alertas_cambiadas()") };
    // SAFETY: a trigger on audit.alertas; its new row (INSERT, UPDATE) is a
    // tuple of the table's descriptor, or NULL for other events.
    unsafe {
        let rel = td.tg_relation;
        let row = if td.tg_newtuple.is_null() {
            td.tg_trigtuple
        } else {
            td.tg_newtuple
        };
        let op = td.tg_event & pg_sys::TRIGGER_EVENT_OPMASK;
        if !row.is_null() && op != pg_sys::TRIGGER_EVENT_DELETE {
            check_rule(rel, row);
        }
        // Sent to every backend at commit.
        pg_sys::CacheInvalidateRelcacheByRelid((*rel).rd_id);
    }
}

/// Refuses a rule whose `tabla` is not a table name.
///
/// # Safety
/// `row` is a tuple of `rel`, audit.alertas.
unsafe fn check_rule(rel: pg_sys::Relation, row: pg_sys::HeapTuple) {
    // SAFETY: the caller's guarantee; attribute numbers looked up by name.
    let tabla = unsafe {
        let desc = (*rel).rd_att;
        let at = pg_sys::SPI_fnumber(desc, c"tabla".as_ptr());
        let Some(number) = usize::try_from(at)
            .ok()
            .and_then(std::num::NonZeroUsize::new)
        else {
            return;
        };
        pgrx::htup::heap_getattr_raw(row, number, desc).and_then(|d| String::from_datum(d, false))
    };
    if let Some(t) = tabla {
        if let Err(e) = parse_qualified_name(&t) {
            AuditError::InvalidArgument {
                name: "tabla",
                message: format!("\"{t}\" is not a table name: {e}"),
            }
            .report();
        }
    }
}
