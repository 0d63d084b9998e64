//! A configuration type's JSON Schema: checked and compiled once per
//! call, then used to check documents.
//!
//! Validation is the `jsonschema` crate's (draft 2020-12 unless the
//! schema's `$schema` names another draft), with `format` checked
//! (`"format": "email"` means an e-mail address). Three choices matter:
//! * No external references: the crate is built without its HTTP and file
//!   resolvers, so a `$ref` to a URL or a file is refused when the type is
//!   defined, and validation never reaches outside the database server.
//! * Patterns use the `regex` engine, which runs in linear time: a
//!   `pattern` cannot make a save spin (no backtracking, no look-around).
//! * Messages never include a document's values (the crate's masked
//!   form), since a value may be a password: they name the path, the rule
//!   and the schema's limit.
//! * Checking a document can still take exponential time: a recursive
//!   schema whose `oneOf`/`anyOf` branches each recurse (an ordinary tree
//!   of menu items, each with a URL or children) doubles its cost with each
//!   level of the document. Every subschema of the compiled copy carries a
//!   keyword of ours, [`PASO`], whose only work is a step of
//!   [`crate::interrupcion`]: a save that runs too long stops at
//!   `statement_timeout` or a cancel, as any statement does.

use jsonschema::{Keyword, PatternOptions, ValidationError, Validator};
use serde_json::{Map, Value};

/// The keyword added to every subschema of the compiled copy (the schema
/// as defined and stored is unchanged).
const PASO: &str = "x-audit-paso";

/// [`PASO`]'s check: never fails, only lets the computation be stopped.
struct Paso;

impl<'i> Keyword<'i> for Paso {
    fn validate(&self, _: &'i Value) -> Result<(), ValidationError<'i>> {
        crate::interrupcion::comprobar();
        Ok(())
    }

    fn is_valid(&self, _: &'i Value) -> bool {
        crate::interrupcion::comprobar();
        true
    }
}

/// A copy of `schema` with [`PASO`] in every subschema: the values of the
/// keywords that hold schemas (in every draft), not those that hold data
/// (`enum`, `const`, `default`, `examples`).
fn con_pasos(schema: &Value) -> Value {
    fn marcar(schema: &mut Value) {
        let Value::Object(map) = schema else {
            return; // true / false: nothing to evaluate
        };
        let each = |v: &mut Value| {
            if let Value::Object(m) = v {
                m.values_mut().for_each(marcar)
            }
        };
        for (keyword, value) in map.iter_mut() {
            match keyword.as_str() {
                "properties" | "patternProperties" | "$defs" | "definitions"
                | "dependentSchemas" | "dependencies" => each(value),
                "allOf" | "anyOf" | "oneOf" | "prefixItems" => {
                    if let Value::Array(a) = value {
                        a.iter_mut().for_each(marcar)
                    }
                }
                "items" | "additionalItems" => match value {
                    Value::Array(a) => a.iter_mut().for_each(marcar),
                    other => marcar(other),
                },
                "additionalProperties"
                | "contains"
                | "if"
                | "then"
                | "else"
                | "not"
                | "propertyNames"
                | "unevaluatedItems"
                | "unevaluatedProperties"
                | "contentSchema" => marcar(value),
                _ => {}
            }
        }
        map.insert(PASO.to_string(), Value::Bool(true));
    }
    let mut copy = schema.clone();
    marcar(&mut copy);
    copy
}

fn paso<'a>(
    _: &'a Map<String, Value>,
    _: &'a Value,
    _: jsonschema::paths::Location,
) -> Result<Box<dyn for<'i> Keyword<'i>>, ValidationError<'a>> {
    Ok(Box::new(Paso))
}

/// One way a document fails its schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violacion {
    /// JSON Pointer of the failing value ("" is the document itself).
    pub ruta: String,
    /// The schema keyword that failed (`maximum`, `required`, `format`...).
    pub regla: String,
    /// What is wrong, without the value.
    pub mensaje: String,
}

impl Violacion {
    /// The path as shown to people: `/` for the document itself.
    pub fn ruta_visible(&self) -> &str {
        if self.ruta.is_empty() {
            "/"
        } else {
            &self.ruta
        }
    }
}

impl std::fmt::Display for Violacion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} ({})",
            self.ruta_visible(),
            self.mensaje,
            self.regla
        )
    }
}

/// Why a schema is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EsquemaInvalido {
    #[error("it must be a JSON object, not {0}")]
    NoEsObjeto(&'static str),
    /// The schema breaks its draft's meta-schema (`{"type": 12}`).
    #[error("{0}")]
    NoCumpleMetaesquema(Violacion),
    /// Well-formed, but unusable: a `$ref` that cannot be resolved, a
    /// pattern the regex engine does not accept.
    #[error("{0}")]
    NoCompila(String),
}

/// A compiled schema.
pub struct Esquema(Validator);

impl Esquema {
    /// Checks `schema` against its meta-schema and compiles it.
    pub fn compilar(schema: &Value) -> Result<Esquema, EsquemaInvalido> {
        if !schema.is_object() {
            return Err(EsquemaInvalido::NoEsObjeto(crate::json_kind(schema)));
        }
        if let Err(e) = jsonschema::meta::validate(schema) {
            // The schema is the administrator's own definition, not a
            // secret: its values may be shown.
            return Err(EsquemaInvalido::NoCumpleMetaesquema(Violacion {
                ruta: e.instance_path().as_str().to_string(),
                regla: e.kind().keyword().to_string(),
                mensaje: e.to_string(),
            }));
        }
        jsonschema::options()
            .should_validate_formats(true)
            .with_pattern_options(PatternOptions::regex())
            .with_keyword(PASO, paso)
            .build(&con_pasos(schema))
            .map(Esquema)
            .map_err(|e| EsquemaInvalido::NoCompila(e.to_string()))
    }

    /// Every way `doc` fails the schema, in the validator's order (empty
    /// when it is valid).
    pub fn violaciones(&self, doc: &Value) -> Vec<Violacion> {
        self.0
            .iter_errors(doc)
            .map(|e| Violacion {
                ruta: e.instance_path().as_str().to_string(),
                regla: e.kind().keyword().to_string(),
                mensaje: e.masked().to_string(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn smtp() -> Esquema {
        Esquema::compilar(&json!({
            "type": "object",
            "required": ["host", "puerto"],
            "additionalProperties": false,
            "properties": {
                "host": {"type": "string", "minLength": 1},
                "puerto": {"type": "integer", "minimum": 1, "maximum": 65535},
                "password": {"type": "string", "maxLength": 8},
                "remitente": {"type": "string", "format": "email"},
                "codigo": {"type": "string", "pattern": "^[A-Z]{3}$"}
            }
        }))
        .expect("a valid schema")
    }

    /// A menu item has a URL or children, each an item: every level of a
    /// document whose items have both makes both branches recurse.
    fn menu() -> Esquema {
        Esquema::compilar(&json!({
            "type": "object",
            "properties": {"menu": {"$ref": "#/$defs/item"}},
            "$defs": {"item": {"oneOf": [
                {"type": "object", "required": ["url"],
                 "properties": {"url": {"type": "string"}, "hijos": {"type": "array", "items": {"$ref": "#/$defs/item"}}}},
                {"type": "object", "required": ["hijos"],
                 "properties": {"hijos": {"type": "array", "items": {"$ref": "#/$defs/item"}}}}
            ]}}
        }))
        .expect("a valid schema")
    }

    fn nested(levels: usize) -> Value {
        let text = format!(
            "{{\"menu\": {}{{\"url\": \"u\"}}{}}}",
            "{\"url\": \"u\", \"hijos\": [".repeat(levels),
            "]}".repeat(levels)
        );
        serde_json::from_str(&text).expect("valid JSON")
    }

    #[test]
    fn checking_a_document_can_be_stopped_at_any_subschema() {
        use crate::interrupcion::prueba::con_limite;
        let menu = menu();
        // Shallow: checked as before (each level both branches match, which
        // oneOf refuses), in steps that grow with each level.
        let (v, pasos_4) =
            con_limite(u64::MAX, || menu.violaciones(&nested(4))).expect("not stopped");
        assert!(v.iter().any(|v| v.regla == "oneOf"), "{v:?}");
        let (_, pasos_8) =
            con_limite(u64::MAX, || menu.violaciones(&nested(8))).expect("not stopped");
        assert!(pasos_8 > 8 * pasos_4, "{pasos_4} then {pasos_8} steps");
        // Deep: years of work, stopped at the first step past the limit.
        assert!(con_limite(100_000, || menu.violaciones(&nested(60))).is_none());
    }

    #[test]
    fn a_valid_document_has_no_violations() {
        let doc = json!({"host": "h", "puerto": 25, "remitente": "a@b.com", "codigo": "ABC"});
        assert_eq!(smtp().violaciones(&doc), vec![]);
    }

    #[test]
    fn violations_name_path_and_rule() {
        let doc = json!({"host": "h", "puerto": 70000, "remitente": "nope", "codigo": "abc"});
        let v = smtp().violaciones(&doc);
        let found: Vec<(&str, &str)> = v
            .iter()
            .map(|v| (v.ruta.as_str(), v.regla.as_str()))
            .collect();
        assert!(found.contains(&("/puerto", "maximum")), "{v:?}");
        assert!(found.contains(&("/remitente", "format")), "{v:?}");
        assert!(found.contains(&("/codigo", "pattern")), "{v:?}");
        let maximum = v.iter().find(|v| v.regla == "maximum").unwrap();
        assert_eq!(
            maximum.to_string(),
            format!("/puerto: {} (maximum)", maximum.mensaje)
        );
        assert!(maximum.mensaje.contains("65535"), "{maximum:?}");
    }

    #[test]
    fn the_document_itself_is_shown_as_slash() {
        let v = smtp().violaciones(&json!({"puerto": 25}));
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(
            (v[0].ruta_visible(), v[0].regla.as_str()),
            ("/", "required")
        );
    }

    #[test]
    fn messages_never_repeat_the_values() {
        let doc = json!({"host": "h", "puerto": 25, "password": "hunter2-longer-than-8"});
        let v = smtp().violaciones(&doc);
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(v[0].regla, "maxLength");
        assert!(!v[0].mensaje.contains("hunter2"), "{v:?}");
        // Not even when the failing value is the whole document.
        let v = smtp().violaciones(&json!({"host": "h", "puerto": 25, "secreto": "hunter2"}));
        assert!(v.iter().all(|v| !v.mensaje.contains("hunter2")), "{v:?}");
    }

    #[test]
    fn schemas_that_are_not_objects_or_break_the_meta_schema_are_refused() {
        assert_eq!(
            Esquema::compilar(&json!([1])).err(),
            Some(EsquemaInvalido::NoEsObjeto("an array"))
        );
        match Esquema::compilar(&json!({"type": "object", "properties": {"a": {"type": 12}}})) {
            Err(EsquemaInvalido::NoCumpleMetaesquema(v)) => {
                assert_eq!(v.ruta, "/properties/a/type")
            }
            other => panic!("{:?}", other.err()),
        }
        match Esquema::compilar(&json!({"type": "object", "minProperties": -1})) {
            Err(EsquemaInvalido::NoCumpleMetaesquema(v)) => assert_eq!(v.ruta, "/minProperties"),
            other => panic!("{:?}", other.err()),
        }
    }

    #[test]
    fn external_references_and_bad_patterns_do_not_compile() {
        for schema in [
            json!({"$ref": "https://example.com/schema.json"}),
            json!({"$ref": "file:///etc/passwd"}),
            json!({"properties": {"a": {"pattern": "(("}}}),
            // Look-around needs backtracking, which the linear engine refuses.
            json!({"properties": {"a": {"pattern": "^(?!x)"}}}),
        ] {
            assert!(
                matches!(
                    Esquema::compilar(&schema),
                    Err(EsquemaInvalido::NoCompila(_) | EsquemaInvalido::NoCumpleMetaesquema(_))
                ),
                "{schema} compiled"
            );
        }
    }

    #[test]
    fn exact_numbers_are_compared_exactly() {
        // arbitrary_precision: 25.0 is an integer to JSON Schema, 1e400 is a
        // number above the maximum, not an infinity or a parse error.
        let s = smtp();
        assert_eq!(
            s.violaciones(&serde_json::from_str(r#"{"host":"h","puerto":25.0}"#).unwrap()),
            vec![]
        );
        let v = s.violaciones(&serde_json::from_str(r#"{"host":"h","puerto":1e400}"#).unwrap());
        assert_eq!(
            v.iter().map(|v| v.regla.as_str()).collect::<Vec<_>>(),
            ["maximum"]
        );
    }
}
