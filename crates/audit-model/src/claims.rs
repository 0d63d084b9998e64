//! JWT claims as PostgREST and Supabase leave them in a setting, and the
//! dotted paths used to pick values out of them.
//!
//! Claims are input, not proof: any SQL session can set them. This module only
//! reads them; it never decides what they are allowed to do.

use serde_json::{Map, Value};

/// Why a claims value could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimsError {
    #[error("claims are not valid JSON: {0}")]
    InvalidJson(String),
    #[error("claims are not a JSON object but {0}")]
    NotAnObject(&'static str),
}

/// Parses the raw text of the claims setting.
///
/// An unset setting, an empty string (what `SET LOCAL` leaves behind for the
/// rest of the session once its transaction ends) and JSON `null` all mean
/// "no claims" and are not errors. Anything else must be a JSON object.
pub fn parse_claims(raw: Option<&str>) -> Result<Option<Map<String, Value>>, ClaimsError> {
    let text = match raw.map(str::trim) {
        None | Some("") => return Ok(None),
        Some(text) => text,
    };
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(Some(map)),
        Ok(Value::Null) => Ok(None),
        Ok(other) => Err(ClaimsError::NotAnObject(crate::json_kind(&other))),
        Err(e) => Err(ClaimsError::InvalidJson(e.to_string())),
    }
}

/// One or more dotted paths into the claims, tried in order.
///
/// `"app_metadata.empresa_id, empresa_id"` means: use
/// `claims.app_metadata.empresa_id` when present, else `claims.empresa_id`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClaimPaths(Vec<Vec<String>>);

impl ClaimPaths {
    /// Parses a comma-separated list of dotted paths. Blank entries are
    /// ignored, so an empty string means "never look in the claims".
    pub fn parse(spec: &str) -> Self {
        ClaimPaths(
            spec.split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(|p| p.split('.').map(|s| s.trim().to_owned()).collect())
                .collect(),
        )
    }

    /// The first path that leads to a usable scalar, with that value as text.
    ///
    /// Strings are returned as they are; numbers and booleans in their JSON
    /// spelling. `null`, objects and arrays are not usable values, and the
    /// next path is tried.
    pub fn lookup(&self, claims: &Map<String, Value>) -> Option<ClaimValue> {
        self.0.iter().find_map(|path| {
            let (first, rest) = path.split_first()?;
            let mut value = claims.get(first)?;
            for segment in rest {
                value = value.as_object()?.get(segment)?;
            }
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                Value::Null | Value::Array(_) | Value::Object(_) => return None,
            };
            Some(ClaimValue {
                path: path.join("."),
                text,
            })
        })
    }
}

/// A value found in the claims and the path it was found at (for messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimValue {
    pub path: String,
    pub text: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn absent_empty_and_null_claims_are_not_errors() {
        assert_eq!(parse_claims(None), Ok(None));
        assert_eq!(parse_claims(Some("")), Ok(None));
        assert_eq!(parse_claims(Some("   ")), Ok(None));
        assert_eq!(parse_claims(Some("null")), Ok(None));
    }

    #[test]
    fn malformed_claims_are_reported() {
        assert!(matches!(
            parse_claims(Some("{not json")),
            Err(ClaimsError::InvalidJson(_))
        ));
        assert_eq!(
            parse_claims(Some("[1,2]")),
            Err(ClaimsError::NotAnObject("an array"))
        );
        assert_eq!(
            parse_claims(Some("\"sub\"")),
            Err(ClaimsError::NotAnObject("a string"))
        );
        assert_eq!(
            parse_claims(Some("42")),
            Err(ClaimsError::NotAnObject("a number"))
        );
    }

    #[test]
    fn deeply_nested_claims_are_an_error_not_a_crash() {
        let deep = "[".repeat(100_000);
        assert!(matches!(
            parse_claims(Some(&deep)),
            Err(ClaimsError::InvalidJson(_))
        ));
    }

    #[test]
    fn paths_are_tried_in_order_and_skip_unusable_values() {
        let claims = obj(json!({
            "app_metadata": {"empresa_id": null, "rol": "administrador"},
            "empresa_id": "e1",
            "n": 7,
            "flag": true,
            "list": ["x"]
        }));
        let paths = ClaimPaths::parse("app_metadata.empresa_id, empresa_id");
        assert_eq!(
            paths.lookup(&claims),
            Some(ClaimValue {
                path: "empresa_id".into(),
                text: "e1".into()
            })
        );
        assert_eq!(
            ClaimPaths::parse("app_metadata.rol")
                .lookup(&claims)
                .unwrap()
                .text,
            "administrador"
        );
        assert_eq!(ClaimPaths::parse("n").lookup(&claims).unwrap().text, "7");
        assert_eq!(
            ClaimPaths::parse("flag").lookup(&claims).unwrap().text,
            "true"
        );
        assert_eq!(ClaimPaths::parse("list").lookup(&claims), None);
        assert_eq!(ClaimPaths::parse("missing.deeper").lookup(&claims), None);
        assert_eq!(ClaimPaths::parse("n.deeper").lookup(&claims), None);
    }

    #[test]
    fn empty_path_list_never_matches() {
        let claims = obj(json!({"sub": "x"}));
        assert_eq!(ClaimPaths::parse("").lookup(&claims), None);
        assert_eq!(ClaimPaths::parse(" , ").lookup(&claims), None);
    }
}
