//! Secret fields: the values a configuration type marks as secret
//! (`campos_secretos`) are shown as `"***"` everywhere a document leaves
//! the versions table: the history, comparisons, restore reports, the
//! change log and the technical log.
//!
//! A secret field is named by its key, and the name matches that key at
//! any depth (`password` hides `{"password": ..}` and
//! `{"copia": {"password": ..}}`, also inside arrays). Matching more than
//! the author meant hides too much, never too little. A JSON `null` stays
//! `null`: "no password set" is not a secret, and an administrator needs
//! to see it.

use serde_json::{Map, Value};

/// What a secret value is shown as.
pub const MASCARA: &str = "***";

/// `doc` with every non-null value of a secret field replaced by `"***"`.
pub fn enmascarar(doc: &Value, secretos: &[String]) -> Value {
    match doc {
        Value::Object(members) => Value::Object(
            members
                .iter()
                .map(|(k, v)| (k.clone(), enmascarar_miembro(k, v, secretos)))
                .collect(),
        ),
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| enmascarar(v, secretos)).collect())
        }
        other => other.clone(),
    }
}

fn enmascarar_miembro(clave: &str, valor: &Value, secretos: &[String]) -> Value {
    if valor.is_null() || !es_secreto(clave, secretos) {
        enmascarar(valor, secretos)
    } else {
        Value::String(MASCARA.into())
    }
}

fn es_secreto(clave: &str, secretos: &[String]) -> bool {
    secretos.iter().any(|s| s == clave)
}

/// The top-level differences of `jsonb_diff` (`{"member": {"antes": a,
/// "despues": b}}`) with secrets hidden. They are computed from the real
/// documents, so a changed password still shows as a change
/// (`{"antes": "***", "despues": "***"}`).
pub fn enmascarar_diferencias(
    diferencias: &Map<String, Value>,
    secretos: &[String],
) -> Map<String, Value> {
    diferencias
        .iter()
        .map(|(miembro, lados)| {
            let lados = match lados {
                Value::Object(lados) => Value::Object(
                    lados
                        .iter()
                        .map(|(lado, v)| (lado.clone(), enmascarar_miembro(miembro, v, secretos)))
                        .collect(),
                ),
                other => enmascarar_miembro(miembro, other, secretos),
            };
            (miembro.clone(), lados)
        })
        .collect()
}

/// The secret field names as given, checked (none empty or blank), without
/// repetitions, in their first order.
pub fn normalizar(nombres: &[String]) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::with_capacity(nombres.len());
    for n in nombres {
        if n.trim().is_empty() {
            return Err("a secret field name must not be empty".into());
        }
        if !out.contains(n) {
            out.push(n.clone());
        }
    }
    Ok(out)
}

/// The secret fields of `anteriores` missing from `nuevos`: a field once
/// secret stays secret (the versions already saved hold its values), so a
/// redefinition keeps them.
pub fn retirados(anteriores: &[String], nuevos: &[String]) -> Vec<String> {
    anteriores
        .iter()
        .filter(|s| !nuevos.contains(s))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn s(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn secret_values_are_hidden_at_any_depth() {
        let doc = json!({
            "host": "smtp.example.com",
            "password": "hunter2",
            "copia": {"password": 1234, "usuario": "u"},
            "cuentas": [{"clave": ["a", "b"]}, {"clave": {"x": 1}}, "clave"],
        });
        assert_eq!(
            enmascarar(&doc, &s(&["password", "clave"])),
            json!({
                "host": "smtp.example.com",
                "password": "***",
                "copia": {"password": "***", "usuario": "u"},
                "cuentas": [{"clave": "***"}, {"clave": "***"}, "clave"],
            })
        );
    }

    #[test]
    fn null_stays_null_and_no_secrets_changes_nothing() {
        let doc = json!({"password": null, "n": 1.50});
        assert_eq!(enmascarar(&doc, &s(&["password"])), doc);
        assert_eq!(enmascarar(&doc, &[]), doc);
    }

    #[test]
    fn a_changed_secret_still_shows_as_a_change() {
        let diff = json!({
            "password": {"antes": "a", "despues": "b"},
            "token": {"antes": null, "despues": "t"},
            "copia": {"antes": {"password": "x"}, "despues": {"password": "y", "k": 1}},
            "host": {"antes": "a", "despues": "b"},
        });
        let masked = enmascarar_diferencias(diff.as_object().unwrap(), &s(&["password", "token"]));
        assert_eq!(
            Value::Object(masked),
            json!({
                "password": {"antes": "***", "despues": "***"},
                "token": {"antes": null, "despues": "***"},
                "copia": {"antes": {"password": "***"}, "despues": {"password": "***", "k": 1}},
                "host": {"antes": "a", "despues": "b"},
            })
        );
    }

    #[test]
    fn names_are_checked_and_deduplicated() {
        assert_eq!(normalizar(&s(&["a", "b", "a"])), Ok(s(&["a", "b"])));
        assert!(normalizar(&s(&["a", " "])).is_err());
        assert!(normalizar(&s(&[""])).is_err());
    }

    #[test]
    fn retired_secrets_are_the_missing_ones() {
        assert_eq!(retirados(&s(&["a", "b"]), &s(&["b", "c"])), s(&["a"]));
        assert!(retirados(&s(&["a"]), &s(&["a"])).is_empty());
    }
}
