//! Capture: the generic trigger `audit.registrar_cambio()`.
//!
//! Fired AFTER INSERT/UPDATE/DELETE FOR EACH ROW (or, for tables audited with
//! `"captura": "sentencia"`, FOR EACH STATEMENT with transition tables: see
//! `statement.rs`), and AFTER TRUNCATE FOR EACH STATEMENT. One event per row
//! change (or per TRUNCATE) goes into `audit.historial_cambios`. If recording fails, the user's statement fails
//! with it (fail-closed): no change without its record.

pub mod cache;
pub mod exact_values;
pub mod existing_rows;
mod log_batch;
pub mod log_columns;
pub mod log_insert;
pub mod row;
pub mod session;
pub mod snapshot;
pub mod statement;
pub mod table_state;
pub mod writer;

use crate::error::AuditError;
use crate::sql_types::Jsonb;
use audit_model::notas::Traslado;
use audit_model::record_id::registro_id;
use pgrx::pg_sys;
use pgrx::prelude::*;
use row::{changed_columns, row_to_jsonb, Deformed};
use table_state::{Key, TableState};
use uuid::Uuid;
use writer::{Change, Event};

// Declared in SQL (`sql =`): a trigger function reads its TriggerData from
// the raw fcinfo (pgrx's #[pg_trigger] would copy every tuple it is given).
#[pg_extern(sql = r#"
CREATE FUNCTION audit.registrar_cambio() RETURNS trigger
    LANGUAGE c
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', '@FUNCTION_NAME@';
COMMENT ON FUNCTION audit.registrar_cambio() IS
    'Generic audit trigger: AFTER INSERT OR UPDATE OR DELETE FOR EACH ROW (or AFTER INSERT, UPDATE or DELETE FOR EACH STATEMENT with its transition tables), or AFTER TRUNCATE FOR EACH STATEMENT.';
"#)]
fn registrar_cambio(fcinfo: pg_sys::FunctionCallInfo) {
    // An AFTER trigger's result is ignored; returning () returns a zero datum.
    // SAFETY: this call's fcinfo; the trigger data is used within the call.
    record(unsafe { trigger_data(fcinfo, "audit.registrar_cambio()") });
}

/// The trigger data of a call, or the error PostgreSQL gives for a trigger
/// function called directly.
///
/// # Safety
/// `fcinfo` is the current call's; the result must not outlive the call.
pub unsafe fn trigger_data<'a>(
    fcinfo: pg_sys::FunctionCallInfo,
    function: &str,
) -> &'a pg_sys::TriggerData {
    // SAFETY: fcinfo comes from PostgreSQL; when called as a trigger its
    // context is a TriggerData node valid for the call.
    unsafe {
        if !pgrx::trigger_support::called_as_trigger(fcinfo) {
            pgrx::ereport!(
                ERROR,
                PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
                format!("{function} can only be called as a trigger")
            );
        }
        &*((*fcinfo).context as *const pg_sys::TriggerData)
    }
}

fn record(td: &pg_sys::TriggerData) {
    let event = td.tg_event;
    let op = event & pg_sys::TRIGGER_EVENT_OPMASK;
    let for_each_row = event & pg_sys::TRIGGER_EVENT_ROW != 0;
    let timing = event & pg_sys::TRIGGER_EVENT_TIMINGMASK;
    if timing != pg_sys::TRIGGER_EVENT_AFTER {
        misuse(
            "audit.registrar_cambio() must be fired AFTER the change, not BEFORE or INSTEAD OF it",
        );
    }
    let rel = td.tg_relation;
    // SAFETY: the firing trigger's relation.
    let namespace = unsafe { (*(*rel).rd_rel).relnamespace };
    if namespace == catalog_audit_namespace() {
        misuse("audit.registrar_cambio() cannot audit the extension's own tables");
    }

    let state = cache::table_state(rel);
    // SAFETY: the relation's descriptor.
    let desc = unsafe { (*rel).rd_att };
    if op != pg_sys::TRIGGER_EVENT_TRUNCATE {
        if for_each_row {
            // A row trigger's tuples: tg_trigtuple is the new row of an
            // INSERT and the old row of an UPDATE or DELETE, tg_newtuple the
            // new row of an UPDATE.
            let change = match op {
                pg_sys::TRIGGER_EVENT_INSERT => RowChange::Insert(td.tg_trigtuple),
                pg_sys::TRIGGER_EVENT_UPDATE => RowChange::Update(td.tg_trigtuple, td.tg_newtuple),
                _ => RowChange::Delete(td.tg_trigtuple),
            };
            // SAFETY: the tuples are the relation's, valid for this call.
            unsafe { record_change(&state, desc, change) };
        } else {
            statement::record(td, &state, desc, op);
        }
        return;
    }
    // TRUNCATE (always FOR EACH STATEMENT).
    if !state.capture_truncate {
        return;
    }
    // A TRUNCATE of a partitioned table fires once per partition:
    // each partition's event names the table and the partition.
    let metadata = state.partition.as_deref().map(|p| {
        let extra = serde_json::json!({ "particion": p }).to_string();
        let extra = std::ffi::CString::new(extra).expect("JSON has no NUL");
        session::context_jsonb()
            .concat(Jsonb::from_text(&extra))
            .datum()
    });
    writer::write(&Event {
        change: Change::Truncate,
        esquema: Some(&state.schema),
        tabla: Some(&state.table),
        metadata,
        ..Default::default()
    });
}

/// One row changed by INSERT, UPDATE or DELETE: its old and new versions.
#[derive(Clone, Copy)]
pub enum RowChange {
    Insert(pg_sys::HeapTuple),
    Update(pg_sys::HeapTuple, pg_sys::HeapTuple),
    Delete(pg_sys::HeapTuple),
}

/// Records one row change: the one event both capture modes write for it
/// (none for an UPDATE that changed no recorded column).
///
/// # Safety
/// The tuples must be valid tuples of descriptor `desc`, the audited table's.
pub unsafe fn record_change(state: &TableState, desc: pg_sys::TupleDesc, change: RowChange) {
    // SAFETY: the caller's guarantees, passed on.
    unsafe { record_change_with(state, desc, change, None) }
}

/// [`record_change`] with the events' metadata given (`None`: the
/// transaction's context, as for every change a statement makes).
///
/// # Safety
/// As for [`record_change`].
pub unsafe fn record_change_with(
    state: &TableState,
    desc: pg_sys::TupleDesc,
    change: RowChange,
    metadata: Option<pg_sys::Datum>,
) {
    // SAFETY: the caller's guarantees, passed on.
    unsafe {
        build_events(state, desc, change, metadata, &mut |event| {
            writer::write(event);
        })
    }
}

/// The events of one row change, each handed to `emit` in order: none for
/// an UPDATE that changed no recorded column, two for a row moving to
/// another tenant, one otherwise. Every capture mode builds its events here:
/// the triggers write them, the WAL's output plugin sends them to the
/// capture worker.
///
/// # Safety
/// As for [`record_change`].
pub unsafe fn build_events(
    state: &TableState,
    desc: pg_sys::TupleDesc,
    change: RowChange,
    metadata: Option<pg_sys::Datum>,
    emit: &mut dyn FnMut(&Event<'_>),
) {
    match change {
        RowChange::Insert(tuple) => {
            // SAFETY: the caller's guarantee: a valid tuple of `desc`.
            let new = unsafe { Version::new(state, tuple, desc) };
            emit(&Event {
                change: Change::Insert {
                    new_row: new.snapshot,
                },
                empresa_id: state.row_tenant(&new.row),
                metadata,
                exactos_nuevos: new.exactos.clone(),
                ..row_event(state, &new)
            });
        }
        RowChange::Update(old_tuple, new_tuple) => {
            // SAFETY: the caller's guarantee: valid tuples of `desc`.
            let (old_row, new_row) = unsafe {
                (
                    Deformed::new(old_tuple, desc),
                    Deformed::new(new_tuple, desc),
                )
            };
            let campos = changed_columns(&state.compared, &old_row, &new_row);
            if campos.is_empty() {
                return; // nothing stored changed: nothing to record
            }
            // Most updates leave the key alone: the new version's identity
            // is then the old one's, not computed again.
            let same_key = match &state.key {
                Key::Uuid { pk, .. } | Key::Columns(pk) => pk.same_in(&old_row, &new_row),
                Key::WholeRow => false,
            };
            // SAFETY: `old_row` is `old_tuple` deformed with `desc`.
            let old = unsafe { Version::from_deformed(state, old_row, old_tuple, desc, None) };
            let identity = same_key.then_some((old.id, old.pk));
            // SAFETY: `new_row` is `new_tuple` deformed with `desc`.
            let new = unsafe { Version::from_deformed(state, new_row, new_tuple, desc, identity) };
            let (old_tenant, new_tenant) = (state.row_tenant(&old.row), state.row_tenant(&new.row));
            if old_tenant != new_tenant {
                // The row moves to another tenant: each tenant gets its side,
                // with its own values only (one UPDATE would show the old
                // tenant's values to the new one, and hide the move from the
                // old one).
                emit(&Event {
                    change: Change::Delete {
                        old_row: old.snapshot,
                    },
                    empresa_id: old_tenant,
                    metadata,
                    traslado: Some(Traslado::Salida),
                    exactos_anteriores: old.exactos.clone(),
                    ..row_event(state, &old)
                });
                emit(&Event {
                    change: Change::Insert {
                        new_row: new.snapshot,
                    },
                    empresa_id: new_tenant,
                    metadata,
                    traslado: Some(Traslado::Entrada),
                    registro_id_anterior: (old.id != new.id).then_some(old.id),
                    exactos_nuevos: new.exactos.clone(),
                    ..row_event(state, &new)
                });
                return;
            }
            emit(&Event {
                change: Change::Update {
                    old_row: old.snapshot,
                    new_row: new.snapshot,
                    changed: campos,
                },
                empresa_id: new_tenant,
                registro_id_anterior: (old.id != new.id).then_some(old.id),
                metadata,
                exactos_anteriores: old.exactos.clone(),
                exactos_nuevos: new.exactos.clone(),
                ..row_event(state, &new)
            });
        }
        RowChange::Delete(tuple) => {
            // SAFETY: the caller's guarantee: a valid tuple of `desc`.
            let old = unsafe { Version::new(state, tuple, desc) };
            emit(&Event {
                change: Change::Delete {
                    old_row: old.snapshot,
                },
                empresa_id: state.row_tenant(&old.row),
                metadata,
                exactos_anteriores: old.exactos.clone(),
                ..row_event(state, &old)
            });
        }
    }
}

/// One version of a row: its values, its snapshot and its identity.
struct Version {
    row: Deformed,
    snapshot: pg_sys::Datum,
    id: Uuid,
    pk: Option<pg_sys::Datum>,
    /// The exact text of the values the snapshot does not render exactly.
    exactos: Option<serde_json::Map<String, serde_json::Value>>,
}

impl Version {
    /// # Safety
    /// `tuple` must be a valid tuple of descriptor `desc`.
    unsafe fn new(
        state: &TableState,
        tuple: pg_sys::HeapTuple,
        desc: pg_sys::TupleDesc,
    ) -> Version {
        // SAFETY: the caller's guarantee; the deformed row is the tuple's own.
        unsafe { Version::from_deformed(state, Deformed::new(tuple, desc), tuple, desc, None) }
    }

    /// `identity`: the row's id and key snapshot when already known (from
    /// another version with the same key values).
    ///
    /// # Safety
    /// `row` must be `tuple` deformed with `desc`.
    unsafe fn from_deformed(
        state: &TableState,
        row: Deformed,
        tuple: pg_sys::HeapTuple,
        desc: pg_sys::TupleDesc,
        identity: Option<(Uuid, Option<pg_sys::Datum>)>,
    ) -> Version {
        let snapshot = match &state.snapshot {
            Some(projection) => projection.to_jsonb(&row),
            // SAFETY: the caller's guarantee: a valid tuple of `desc`.
            None => unsafe { row_to_jsonb(tuple, desc) },
        };
        let (id, pk) = match (identity, &state.key) {
            (Some(known), _) => known,
            (None, Key::Uuid { index, pk }) => {
                // A uuid primary key is NOT NULL; the key is the id.
                // SAFETY: non-null uuid datum.
                let bytes = unsafe { crate::datums::uuid_of(row.values[*index]) };
                (Uuid::from_bytes(bytes), Some(pk.to_jsonb(&row)))
            }
            (None, Key::Columns(pk)) => {
                let pk = pk.to_jsonb(&row);
                // SAFETY: to_jsonb's result, alive for this call.
                let text = unsafe { Jsonb::from_datum_unchecked(pk) }.to_text_bytes();
                (registro_id(&state.schema, &state.table, &text), Some(pk))
            }
            // No key: the row is identified by what is recorded of it, so the
            // ids of successive versions chain through registro_id_anterior.
            (None, Key::WholeRow) => (
                registro_id(
                    &state.schema,
                    &state.table,
                    // SAFETY: to_jsonb's result, alive for this call.
                    &unsafe { Jsonb::from_datum_unchecked(snapshot) }.to_text_bytes(),
                ),
                None,
            ),
        };
        let exactos = exact_values::exact_texts(&state.exact, &row);
        Version {
            row,
            snapshot,
            id,
            pk,
            exactos,
        }
    }
}

/// The fields every row event shares.
fn row_event<'a>(state: &'a TableState, version: &Version) -> Event<'a> {
    Event {
        esquema: Some(&state.schema),
        tabla: Some(&state.table),
        registro_id: Some(version.id),
        registro_pk: version.pk,
        ..Default::default()
    }
}

pub(crate) fn catalog_audit_namespace() -> pg_sys::Oid {
    // SAFETY: catalog lookup; the log's namespace is the extension's schema.
    unsafe { pg_sys::get_rel_namespace(crate::catalog::ids().log) }
}

pub(crate) fn misuse(message: &str) -> ! {
    AuditError::TriggerMisuse(message.to_owned()).report()
}

#[cfg(any(test, feature = "pg_test"))]
#[pgrx::pg_schema]
mod tests {
    use crate::test_support::{one, run};
    use audit_model::record_id::registro_id;
    use pgrx::prelude::*;

    #[pg_test]
    fn test_registro_id_of_the_trigger_is_the_models() {
        run("CREATE TABLE t_ids (a int, b text, PRIMARY KEY (a, b))");
        run("SELECT audit.auditar('t_ids')");
        run("INSERT INTO t_ids VALUES (7, 'x''y')");
        let pk = one::<String>("SELECT registro_pk::text FROM audit.historial_cambios WHERE tabla_afectada = 't_ids' AND accion = 'INSERT'")
            .unwrap();
        let id = one::<pgrx::Uuid>("SELECT registro_id FROM audit.historial_cambios WHERE tabla_afectada = 't_ids' AND accion = 'INSERT'")
            .unwrap();
        assert_eq!(pk, r#"{"a": 7, "b": "x'y"}"#);
        let schema = one::<String>("SELECT esquema FROM audit.historial_cambios WHERE tabla_afectada = 't_ids' AND accion = 'INSERT'")
            .unwrap();
        assert_eq!(
            id.as_bytes(),
            registro_id(&schema, "t_ids", pk.as_bytes()).as_bytes()
        );
    }
}
