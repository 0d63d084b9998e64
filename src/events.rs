//! Events that are not row changes: application events
//! (`audit.registrar_evento`), the transaction context that every event
//! carries (`audit.establecer_contexto`), and DDL events the extension
//! records about audited tables.

use crate::capture::session;
use crate::capture::writer::{self, Change, Event};
use crate::error::{fail, required, AuditError};
use crate::sql_types::{Jsonb, Regclass};
use audit_model::contexto::validate_context_text;
use pgrx::prelude::*;

/// Records an application event (`accion = 'EVENTO'`) and returns its id.
///
/// Its metadata is the transaction context, then `metadata`, then
/// `tipo_operacion` (later keys win), so the event type cannot be overridden
/// by the metadata.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn registrar_evento(
    tipo_operacion: Option<&str>,
    metadata: default!(Option<Jsonb>, "'{}'"),
    tabla: default!(Option<Regclass>, "NULL"),
    registro_id: default!(Option<pgrx::Uuid>, "NULL"),
) -> i64 {
    let tipo = required(tipo_operacion, "tipo_operacion");
    if tipo.trim().is_empty() {
        fail::<()>(AuditError::InvalidArgument {
            name: "tipo_operacion",
            message: "it must not be empty".into(),
        });
    }
    if let Err(e) = audit_model::contexto::validate_tipo_operacion(tipo) {
        fail::<()>(AuditError::InvalidArgument {
            name: "tipo_operacion",
            message: e.to_string(),
        });
    }
    let metadata = metadata.unwrap_or_else(Jsonb::empty_object);
    if !metadata.is_object() {
        fail::<()>(AuditError::InvalidArgument {
            name: "metadata",
            message: format!("it must be a JSON object, not {}", metadata.type_name()),
        });
    }
    let names = tabla.map(|t| {
        crate::catalog::relation_name(t.0)
            .unwrap_or_else(|| fail(AuditError::UndefinedTable(t.0.to_u32())))
    });
    let merged = session::context_jsonb()
        .concat(metadata)
        .concat(Jsonb::from_value(
            &serde_json::json!({ "tipo_operacion": tipo }),
        ));
    writer::write(&Event {
        change: Change::Evento,
        esquema: names.as_ref().map(|(s, _)| s.as_str()),
        tabla: names.as_ref().map(|(_, n)| n.as_str()),
        registro_id: registro_id.map(|u| uuid::Uuid::from_bytes(*u.as_bytes())),
        metadata: Some(merged.datum()),
        ..Default::default()
    })
}

/// Merges `contexto` into the current transaction's context; every event of
/// the transaction carries it in `metadata`. Gone at commit or rollback (and
/// at rollback to a savepoint taken before the call).
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn establecer_contexto(contexto: Option<Jsonb>) {
    let contexto = required(contexto, "contexto");
    if !contexto.is_object() {
        fail::<()>(AuditError::InvalidArgument {
            name: "contexto",
            message: format!("it must be a JSON object, not {}", contexto.type_name()),
        });
    }
    let merged = session::context_jsonb().concat(contexto).to_text_bytes();
    let merged = String::from_utf8(merged).expect("the database encoding is UTF8");
    // Checked here as well as by the setting's check hook, whose error would
    // repeat the whole (possibly huge) value.
    if let Err(e) = validate_context_text(&merged) {
        fail::<()>(AuditError::InvalidArgument {
            name: "contexto",
            message: e.to_string(),
        });
    }
    // Transaction-local, like SET LOCAL.
    crate::spi::run(
        "SELECT pg_catalog.set_config('audit.contexto', $1, true)",
        &[merged.as_str().into()],
    );
}

/// The metadata of an event the extension records itself: the
/// transaction context, then `detail` (its keys win).
pub fn context_with(detail: &serde_json::Value) -> Jsonb {
    session::context_jsonb().concat(Jsonb::from_value(detail))
}

/// Records a DDL event about an audited table (`accion = 'DDL'`).
pub fn record_ddl_event(schema: &str, table: &str, detail: serde_json::Value) -> i64 {
    let metadata = context_with(&detail);
    writer::write(&Event {
        change: Change::Ddl,
        esquema: Some(schema),
        tabla: Some(table),
        metadata: Some(metadata.datum()),
        ..Default::default()
    })
}
