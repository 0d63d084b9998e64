//! JSON documents as the diff and patch functions handle them: parsed with
//! a depth limit, measured without recursion, and compared as RFC 6902's
//! `test` compares them.
//!
//! Numbers keep their exact text (serde_json's `arbitrary_precision`), so a
//! document read from jsonb is written back byte for byte, and `1.0` and
//! `1.00` are different values to the diff (a restore must give back the
//! number as it was shown). Only `test` compares numbers by value, as the RFC
//! says.

use serde_json::Value;

/// Deepest nesting of arrays and objects accepted. serde_json refuses deeper
/// input when parsing; everything that walks a document recursively (the
/// diff, serializing, dropping) is therefore bounded by it, and a patch may
/// not build anything deeper.
pub const MAX_DEPTH: usize = 127;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonDocError {
    #[error("{name} nests arrays and objects more than {MAX_DEPTH} levels deep")]
    TooDeep { name: &'static str },
    #[error("{name} is not valid JSON: {message}")]
    Invalid { name: &'static str, message: String },
}

/// Parses a document; `name` says which argument it is in errors.
pub fn parse(text: &[u8], name: &'static str) -> Result<Value, JsonDocError> {
    serde_json::from_slice(text).map_err(|e| {
        // serde_json has no error category for this; its message is pinned
        // by the tests below.
        if e.to_string().starts_with("recursion limit exceeded") {
            JsonDocError::TooDeep { name }
        } else {
            JsonDocError::Invalid {
                name,
                message: e.to_string(),
            }
        }
    })
}

/// Nesting depth: 0 for a scalar, 1 for `[]` or `{"a": 1}`, and so on.
/// Iterative, so any document can be measured.
pub fn depth(root: &Value) -> usize {
    let mut deepest = 0;
    let mut pending = vec![(root, 0usize)];
    while let Some((v, level)) = pending.pop() {
        match v {
            Value::Array(items) => {
                deepest = deepest.max(level + 1);
                pending.extend(items.iter().map(|i| (i, level + 1)));
            }
            Value::Object(map) => {
                deepest = deepest.max(level + 1);
                pending.extend(map.values().map(|i| (i, level + 1)));
            }
            _ => {}
        }
    }
    deepest
}

/// Number of values in a document (every scalar, array and object).
pub fn size(root: &Value) -> usize {
    let mut count = 0;
    let mut pending = vec![root];
    while let Some(v) = pending.pop() {
        count += 1;
        match v {
            Value::Array(items) => pending.extend(items),
            Value::Object(map) => pending.extend(map.values()),
            _ => {}
        }
    }
    count
}

/// Equality as RFC 6902 §4.6 defines it for `test`: numbers by value
/// (`1`, `1.0` and `10e-1` are equal), strings by their characters, arrays
/// element by element, objects by their members regardless of order.
pub fn rfc_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            DecimalValue::parse(x.as_str()) == DecimalValue::parse(y.as_str())
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(i, j)| rfc_equal(i, j))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| rfc_equal(v, w)))
        }
        _ => a == b,
    }
}

/// A JSON number reduced to sign, significant digits and a power of ten, so
/// that two spellings of the same value compare equal.
#[derive(Debug, PartialEq, Eq)]
struct DecimalValue {
    negative: bool,
    digits: String,
    exponent: i128,
}

impl DecimalValue {
    /// `text` is a JSON number as serde_json validated it:
    /// `-?int(.frac)?([eE][+-]?exp)?`.
    fn parse(text: &str) -> DecimalValue {
        let (negative, unsigned) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
            Some(at) => (&unsigned[..at], parse_exponent(&unsigned[at + 1..])),
            None => (unsigned, 0),
        };
        let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let mut digits: String = int_part.chars().chain(frac_part.chars()).collect();
        let mut exponent = exponent - frac_part.len() as i128;
        while digits.ends_with('0') {
            digits.pop();
            exponent += 1;
        }
        let digits = digits.trim_start_matches('0').to_string();
        if digits.is_empty() {
            // Zero, however written (and -0 equals 0).
            return DecimalValue {
                negative: false,
                digits,
                exponent: 0,
            };
        }
        DecimalValue {
            negative,
            digits,
            exponent,
        }
    }
}

/// An exponent's digits, saturating: no JSON number a database holds has an
/// exponent anywhere near i128's range, and saturation keeps huge ones
/// distinct from ordinary ones.
fn parse_exponent(text: &str) -> i128 {
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let magnitude = digits.bytes().fold(0i128, |acc, d| {
        acc.saturating_mul(10).saturating_add(i128::from(d - b'0'))
    });
    if negative {
        -magnitude
    } else {
        magnitude
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn nested(levels: usize) -> String {
        format!("{}{}", "[".repeat(levels), "]".repeat(levels))
    }

    #[test]
    fn parses_up_to_the_depth_limit_and_names_the_argument_beyond_it() {
        let at_limit = parse(nested(MAX_DEPTH).as_bytes(), "antes").unwrap();
        assert_eq!(depth(&at_limit), MAX_DEPTH);
        assert_eq!(
            parse(nested(MAX_DEPTH + 1).as_bytes(), "antes"),
            Err(JsonDocError::TooDeep { name: "antes" })
        );
        // Far deeper input is refused the same way, without exhausting the stack.
        assert_eq!(
            parse(nested(1_000_000).as_bytes(), "patch"),
            Err(JsonDocError::TooDeep { name: "patch" })
        );
    }

    #[test]
    fn invalid_json_is_reported_with_the_parser_message() {
        let err = parse(b"{\"a\":", "documento").unwrap_err();
        assert!(matches!(
            err,
            JsonDocError::Invalid {
                name: "documento",
                ..
            }
        ));
    }

    #[test]
    fn numbers_keep_their_text() {
        // As PostgreSQL writes jsonb numbers: never with an exponent, with
        // every digit of the numeric.
        let v = parse(
            br#"{"a": 1.0, "b": 0.000000000000000000001, "c": -0, "d": 12345678901234567890123}"#,
            "x",
        )
        .unwrap();
        assert_eq!(
            v.to_string(),
            r#"{"a":1.0,"b":0.000000000000000000001,"c":-0,"d":12345678901234567890123}"#
        );
        assert_ne!(v["a"], json!(1), "1.0 and 1 are different documents");
    }

    #[test]
    fn depth_and_size_count_every_level_and_value() {
        assert_eq!(depth(&json!(1)), 0);
        assert_eq!(depth(&json!([])), 1);
        assert_eq!(depth(&json!({"a": [1, {"b": null}]})), 3);
        assert_eq!(size(&json!({"a": [1, {"b": null}]})), 5);
    }

    #[test]
    fn rfc_equality_compares_numbers_by_value() {
        let n = |s: &str| parse(s.as_bytes(), "x").unwrap();
        assert!(rfc_equal(&n("1"), &n("1.0")));
        assert!(rfc_equal(&n("1"), &n("10e-1")));
        assert!(rfc_equal(&n("100"), &n("1E2")));
        assert!(rfc_equal(&n("0"), &n("-0.000")));
        assert!(rfc_equal(&n("0.5"), &n("5e-1")));
        assert!(!rfc_equal(&n("1"), &n("-1")));
        assert!(!rfc_equal(&n("1"), &n("1.0000000000000000000001")));
        assert!(!rfc_equal(&n("1e400"), &n("1e401")));
        assert!(rfc_equal(
            &n(r#"{"a": [1, 2.0], "b": "x"}"#),
            &n(r#"{"b": "x", "a": [1.00, 2]}"#)
        ));
        assert!(!rfc_equal(&n("[1, 2]"), &n("[2, 1]")));
        assert!(!rfc_equal(&n(r#"{"a": 1}"#), &n(r#"{"a": 1, "b": 2}"#)));
        assert!(!rfc_equal(&n("1"), &n(r#""1""#)));
    }
}
