//! Pure algorithms of the `audit` extension.
//!
//! Nothing in this crate links against PostgreSQL: it is the part of the
//! extension whose behaviour can be pinned down with plain `cargo test`
//! (and property tests) on any machine. The extension crate calls into it
//! from its PostgreSQL-facing code.

pub mod claims;
pub mod contexto;
pub mod identity;
pub mod options;
pub mod record_id;

/// "an array", "a string"...: a JSON value's kind, for error messages.
pub(crate) fn json_kind(v: &serde_json::Value) -> &'static str {
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
