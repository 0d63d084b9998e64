//! Properties of the diff and patch functions over generated documents:
//! the law the contract states (`jsonb_aplicar_patch(a, jsonb_patch(a, b)) = b`)
//! and its companions, checked exactly (numbers by their text).

use audit_model::json_diff::{patch, top_level_changes};
use audit_model::json_doc::{self, parse};
use audit_model::json_patch_apply::{apply, parse_patch};
use proptest::prelude::*;
use serde_json::{Map, Value};

/// Numbers as PostgreSQL writes them in jsonb, including spellings that are
/// equal in value but must stay distinct (1 / 1.0 / 1.00, 0 / -0).
fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just("0"),
        Just("-0"),
        Just("1"),
        Just("1.0"),
        Just("1.00"),
        Just("-7"),
        Just("3.14159265358979323846264338327950288"),
        Just("123456789012345678901234567890"),
        Just("0.000000000000000000000001"),
        Just("2.50"),
    ]
    .prop_map(|text| parse(text.as_bytes(), "n").unwrap())
}

/// Member names that overlap often between documents and exercise JSON
/// Pointer escaping.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("a".to_string()),
        Just("b".to_string()),
        Just("".to_string()),
        Just("a/b".to_string()),
        Just("~".to_string()),
        Just("~1".to_string()),
        Just("0".to_string()),
        Just("-".to_string()),
        Just("ñandú".to_string()),
        "[a-c]{1,3}",
    ]
}

fn document() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        prop_oneof![
            Just(""),
            Just("x"),
            Just("\"quoted\" \\ back"),
            Just("línea\nnueva"),
            Just("🙂")
        ]
        .prop_map(|s| Value::String(s.to_string())),
    ];
    leaf.prop_recursive(6, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn object() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map(key(), document(), 0..8).prop_map(|m| m.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// The contract's law, through the patch's JSON text as SQL passes it.
    #[test]
    fn applying_the_patch_from_a_to_b_gives_b(a in document(), b in document()) {
        let text = serde_json::to_string(&patch(&a, &b)).unwrap();
        let ops = parse_patch(&parse(text.as_bytes(), "patch").unwrap()).unwrap();
        let result = apply(a, &ops).unwrap();
        prop_assert_eq!(result.to_string(), b.to_string());
    }

    #[test]
    fn a_document_has_no_patch_to_itself(a in document()) {
        prop_assert!(patch(&a, &a).is_empty());
    }

    /// jsonb_diff lists exactly the members whose stored value differs.
    #[test]
    fn top_level_changes_are_exactly_the_differing_members(a in object(), b in object()) {
        let changes = top_level_changes(&a, &b);
        let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
        keys.sort();
        keys.dedup();
        for k in keys {
            let differs = a.get(k) != b.get(k);
            prop_assert_eq!(changes.contains_key(k), differs, "member {:?}", k);
            if let Some(change) = changes.get(k) {
                prop_assert_eq!(&change["antes"], a.get(k).unwrap_or(&Value::Null));
                prop_assert_eq!(&change["despues"], b.get(k).unwrap_or(&Value::Null));
            }
        }
    }

    /// `test` accepts the value that is there, whatever it is.
    #[test]
    fn testing_a_member_against_its_own_value_passes(a in object()) {
        for (k, v) in &a {
            let pointer = format!("/{}", k.replace('~', "~0").replace('/', "~1"));
            let ops = parse_patch(&serde_json::json!([{"op": "test", "path": pointer, "value": v}])).unwrap();
            prop_assert!(apply(Value::Object(a.clone()), &ops).is_ok());
        }
    }
}

/// 10,000 members, 50 levels deep: diffed and patched without exhausting the
/// stack (speed is measured by bench/json_patch.sh, not here).
#[test]
fn large_and_deep_documents_round_trip() {
    let mut wide = Map::new();
    for i in 0..10_000 {
        wide.insert(format!("k{i}"), Value::from(i));
    }
    let mut deep = Value::String("fondo".into());
    for level in 0..50 {
        deep = serde_json::json!({ "nivel": level, "hijo": deep, "lista": [level, level + 1] });
    }
    let a = serde_json::json!({ "ancho": Value::Object(wide.clone()), "hondo": deep.clone() });
    for i in (1..10_000).step_by(3) {
        wide.insert(format!("k{i}"), Value::from(-i));
    }
    let mut deeper = deep;
    *deeper
        .pointer_mut(&"/hijo".repeat(49))
        .expect("49 levels down") = Value::Bool(true);
    let b = serde_json::json!({ "ancho": Value::Object(wide), "hondo": deeper });
    assert_eq!(json_doc::depth(&b), 51);

    let ops = patch(&a, &b);
    assert_eq!(
        ops.len(),
        3333 + 1,
        "every third member, and the innermost level"
    );
    assert_eq!(apply(a, &ops).unwrap(), b);
}

/// An array shrinking from 200,000 elements to none: the removals come from
/// the end, so each is constant time (from the front this would take minutes).
#[test]
fn long_arrays_shrink_from_the_end() {
    let long = Value::Array((0..200_000).map(Value::from).collect());
    let ops = patch(&long, &Value::Array(vec![]));
    assert_eq!(apply(long, &ops).unwrap(), Value::Array(vec![]));
}
