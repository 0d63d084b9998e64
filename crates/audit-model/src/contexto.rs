//! The transaction context (`audit.establecer_contexto`): what may be stored.
//!
//! The context is held in the setting `audit.contexto` and copied into the
//! `metadata` of every event of the transaction, so the capture path must be
//! able to read it back as jsonb without ever failing. This check runs when
//! the setting is assigned and refuses anything PostgreSQL's jsonb would
//! refuse later.

use serde_json::Value;

/// Largest context accepted, in bytes of JSON text. The context is copied
/// into every event of the transaction; a bigger one belongs in an event of
/// its own (`audit.registrar_evento`).
pub const MAX_CONTEXT_BYTES: usize = 64 * 1024;

/// Longest `tipo_operacion`, in bytes: it is indexed (the log's
/// partitions keep a b-tree of it, whose entries PostgreSQL caps at about
/// 2.7 kB), and it names a kind of operation, not its details.
pub const MAX_TIPO_OPERACION_BYTES: usize = 256;

/// Checks a `tipo_operacion` (of an application event, or of a context).
pub fn validate_tipo_operacion(tipo: &str) -> Result<(), ContextError> {
    if tipo.len() > MAX_TIPO_OPERACION_BYTES {
        return Err(ContextError::TipoOperacion(format!(
            "it is {} bytes long",
            tipo.len()
        )));
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContextError {
    #[error("tipo_operacion must be a string of at most {MAX_TIPO_OPERACION_BYTES} bytes: {0}")]
    TipoOperacion(String),
    #[error("the context is not valid JSON: {0}")]
    InvalidJson(String),
    #[error("the context must be a JSON object")]
    NotAnObject,
    #[error("the context is {0} bytes long; the limit is {MAX_CONTEXT_BYTES}")]
    TooLarge(usize),
    #[error("the context contains the character \\u0000, which jsonb cannot store")]
    NulCharacter,
}

/// Checks the text of a context. An empty string means "no context".
pub fn validate_context_text(text: &str) -> Result<(), ContextError> {
    if text.is_empty() {
        return Ok(());
    }
    if text.len() > MAX_CONTEXT_BYTES {
        return Err(ContextError::TooLarge(text.len()));
    }
    let value: Value =
        serde_json::from_str(text).map_err(|e| ContextError::InvalidJson(e.to_string()))?;
    if !value.is_object() {
        return Err(ContextError::NotAnObject);
    }
    if contains_nul(&value) {
        return Err(ContextError::NulCharacter);
    }
    match value.get("tipo_operacion") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(tipo)) => validate_tipo_operacion(tipo),
        Some(other) => Err(ContextError::TipoOperacion(format!(
            "it is {}",
            crate::json_kind(other)
        ))),
    }
}

/// Iterative, so that depth cannot exhaust the stack (serde_json has already
/// bounded it at parse time, but this keeps the function safe on its own).
fn contains_nul(root: &Value) -> bool {
    let mut pending = vec![root];
    while let Some(v) = pending.pop() {
        match v {
            Value::String(s) if s.contains('\0') => return true,
            Value::Array(items) => pending.extend(items),
            Value::Object(map) => {
                if map.keys().any(|k| k.contains('\0')) {
                    return true;
                }
                pending.extend(map.values());
            }
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tipo_operacion_is_a_short_string() {
        assert_eq!(
            validate_context_text(r#"{"tipo_operacion": "IMPORTACION"}"#),
            Ok(())
        );
        assert_eq!(validate_context_text(r#"{"tipo_operacion": null}"#), Ok(()));
        let long = format!(
            r#"{{"tipo_operacion": "{}"}}"#,
            "x".repeat(MAX_TIPO_OPERACION_BYTES + 1)
        );
        assert!(matches!(
            validate_context_text(&long),
            Err(ContextError::TipoOperacion(_))
        ));
        assert!(matches!(
            validate_context_text(r#"{"tipo_operacion": {"a": 1}}"#),
            Err(ContextError::TipoOperacion(_))
        ));
        assert_eq!(
            validate_tipo_operacion(&"x".repeat(MAX_TIPO_OPERACION_BYTES)),
            Ok(())
        );
    }

    #[test]
    fn accepts_objects_and_empty() {
        assert_eq!(validate_context_text(""), Ok(()));
        assert_eq!(validate_context_text("{}"), Ok(()));
        assert_eq!(
            validate_context_text(r#"{"motivo": "corrección", "n": 1.50, "x": {"y": [1, null]}}"#),
            Ok(())
        );
    }

    #[test]
    fn refuses_what_jsonb_or_the_contract_would_refuse() {
        assert!(matches!(
            validate_context_text("{"),
            Err(ContextError::InvalidJson(_))
        ));
        assert_eq!(validate_context_text("[]"), Err(ContextError::NotAnObject));
        assert_eq!(
            validate_context_text("null"),
            Err(ContextError::NotAnObject)
        );
        assert_eq!(
            validate_context_text(r#"{"a": "x\u0000y"}"#),
            Err(ContextError::NulCharacter)
        );
        assert_eq!(
            validate_context_text(r#"{"a\u0000": 1}"#),
            Err(ContextError::NulCharacter)
        );
        assert_eq!(
            validate_context_text(r#"{"a": [["\u0000"]]}"#),
            Err(ContextError::NulCharacter)
        );
        let big = format!(r#"{{"a": "{}"}}"#, "x".repeat(MAX_CONTEXT_BYTES));
        assert_eq!(
            validate_context_text(&big),
            Err(ContextError::TooLarge(big.len()))
        );
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = format!("{{\"a\": {}{}}}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(matches!(
            validate_context_text(&deep),
            Err(ContextError::InvalidJson(_))
        ));
    }
}
