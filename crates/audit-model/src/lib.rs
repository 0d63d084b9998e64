//! Pure algorithms of the `audit` extension.
//!
//! Nothing in this crate links against PostgreSQL: it is the part of the
//! extension whose behaviour can be pinned down with plain `cargo test`
//! (and property tests) on any machine. The extension crate calls into it
//! from its PostgreSQL-facing code.

#![forbid(unsafe_code)]

pub mod alertas;
pub mod claims;
pub mod configuracion;
pub mod contexto;
pub mod filtros;
pub mod huella;
pub mod identity;
pub mod interrupcion;
pub mod json_diff;
pub mod json_doc;
pub mod json_patch_apply;
pub mod notas;
pub mod options;
pub mod qualified_name;
pub mod record_id;
pub mod restauracion;
pub mod resumen;
pub mod retencion;
pub mod seguimiento;
pub mod wal_posicion;
pub mod wal_signing;
pub mod wal_wire;

/// "an array", "a string"...: a JSON value's kind, for error messages.
pub fn json_kind(v: &serde_json::Value) -> &'static str {
    use serde_json::Value;
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
