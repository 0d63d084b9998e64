//! Diffs over jsonb (docs/reading.md): `audit.jsonb_diff`, `audit.jsonb_patch`,
//! `audit.jsonb_aplicar_patch`. The algorithms are in audit-model
//! (json_diff, json_patch_apply); this is their SQL face.
//!
//! Values go to Rust JSON through jsonb's own text and come back through
//! jsonb's own input, with numbers kept as text, so nothing is rounded.

use crate::error::{fail, AuditError};
use crate::sql_types::Jsonb;
use audit_model::json_diff::{patch, top_level_changes};
use audit_model::json_patch_apply::{apply, parse_patch};
use pgrx::prelude::*;
use serde_json::{Map, Value};

fn read(value: Jsonb, name: &'static str) -> Value {
    value
        .to_value(name)
        .unwrap_or_else(|e| fail(AuditError::JsonDoc(e)))
}

/// A row snapshot: an object, or nothing (SQL NULL, as `datos_anteriores`
/// of an INSERT), which has no members.
fn snapshot(value: Option<Jsonb>, name: &'static str) -> Map<String, Value> {
    match value.map(|v| read(v, name)) {
        None => Map::new(),
        Some(Value::Object(members)) => members,
        Some(other) => fail(AuditError::InvalidArgument {
            name,
            message: format!(
                "it must be a JSON object (a row), not {}",
                audit_model::json_kind(&other)
            ),
        }),
    }
}

/// The top-level members whose value differs:
/// `{"member": {"antes": old, "despues": new}}`, JSON `null` for a missing
/// side. A NULL argument is a row that did not exist (no members).
#[pg_extern(immutable, parallel_safe)]
#[search_path(pg_catalog, pg_temp)]
fn jsonb_diff(antes: Option<Jsonb>, despues: Option<Jsonb>) -> Jsonb {
    let antes = snapshot(antes, "antes");
    let despues = snapshot(despues, "despues");
    Jsonb::from_value(&Value::Object(top_level_changes(&antes, &despues)))
}

/// An RFC 6902 JSON Patch turning `antes` into `despues`.
#[pg_extern(immutable, parallel_safe, strict)]
#[search_path(pg_catalog, pg_temp)]
fn jsonb_patch(antes: Jsonb, despues: Jsonb) -> Jsonb {
    let ops = patch(&read(antes, "antes"), &read(despues, "despues"));
    Jsonb::from_value(&serde_json::to_value(&ops).expect("patch operations serialize"))
}

/// Applies an RFC 6902 JSON Patch; any failing operation fails the call.
#[pg_extern(immutable, parallel_safe, strict)]
#[search_path(pg_catalog, pg_temp)]
fn jsonb_aplicar_patch(documento: Jsonb, patch: Jsonb) -> Jsonb {
    let ops = parse_patch(&read(patch, "patch")).unwrap_or_else(|e| fail(AuditError::Patch(e)));
    let result =
        apply(read(documento, "documento"), &ops).unwrap_or_else(|e| fail(AuditError::Patch(e)));
    Jsonb::from_value(&result)
}
