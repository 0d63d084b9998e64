//! Differences between two JSON documents: the field-by-field view of
//! `audit.jsonb_diff` and the RFC 6902 patch of `audit.jsonb_patch`.
//!
//! Values are compared exactly as stored (numbers by their text), so a
//! patch turns `antes` into exactly `despues`: applying `patch(a, b)` to `a`
//! gives `b` byte for byte once written back as jsonb.

use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, PatchOperation, RemoveOperation, ReplaceOperation};
use serde_json::{json, Map, Value};

/// The top-level members whose value differs, as
/// `{"member": {"antes": old, "despues": new}}`; a member missing on one
/// side shows JSON `null` there. Equal documents give an empty object.
pub fn top_level_changes(
    antes: &Map<String, Value>,
    despues: &Map<String, Value>,
) -> Map<String, Value> {
    let mut changes = Map::new();
    for (key, old) in antes {
        let new = despues.get(key);
        if new != Some(old) {
            changes.insert(key.clone(), json!({ "antes": old, "despues": new }));
        }
    }
    for (key, new) in despues {
        if !antes.contains_key(key) {
            changes.insert(key.clone(), json!({ "antes": null, "despues": new }));
        }
    }
    changes
}

/// A JSON Patch turning `antes` into `despues`, descending into objects and
/// arrays. Arrays are compared position by position; elements past the
/// shorter length are removed from the end backwards (or appended), so
/// applying the patch stays linear in the size of the documents.
pub fn patch(antes: &Value, despues: &Value) -> Vec<PatchOperation> {
    let mut ops = Vec::new();
    diff_value(antes, despues, &mut PointerBuf::new(), &mut ops);
    ops
}

fn diff_value(antes: &Value, despues: &Value, at: &mut PointerBuf, ops: &mut Vec<PatchOperation>) {
    match (antes, despues) {
        (Value::Object(a), Value::Object(b)) => diff_object(a, b, at, ops),
        (Value::Array(a), Value::Array(b)) => diff_array(a, b, at, ops),
        _ if antes == despues => {}
        _ => ops.push(PatchOperation::Replace(ReplaceOperation {
            path: at.clone(),
            value: despues.clone(),
        })),
    }
}

fn diff_object(
    antes: &Map<String, Value>,
    despues: &Map<String, Value>,
    at: &mut PointerBuf,
    ops: &mut Vec<PatchOperation>,
) {
    for key in antes.keys().filter(|k| !despues.contains_key(*k)) {
        at.push_back(key);
        ops.push(PatchOperation::Remove(RemoveOperation { path: at.clone() }));
        at.pop_back();
    }
    for (key, new) in despues {
        at.push_back(key);
        match antes.get(key) {
            Some(old) => diff_value(old, new, at, ops),
            None => ops.push(PatchOperation::Add(AddOperation {
                path: at.clone(),
                value: new.clone(),
            })),
        }
        at.pop_back();
    }
}

fn diff_array(
    antes: &[Value],
    despues: &[Value],
    at: &mut PointerBuf,
    ops: &mut Vec<PatchOperation>,
) {
    let common = antes.len().min(despues.len());
    for (index, (old, new)) in antes.iter().zip(despues).enumerate() {
        at.push_back(index);
        diff_value(old, new, at, ops);
        at.pop_back();
    }
    // Removing the last element first: nothing after it has to shift.
    for index in (common..antes.len()).rev() {
        at.push_back(index);
        ops.push(PatchOperation::Remove(RemoveOperation { path: at.clone() }));
        at.pop_back();
    }
    for (index, new) in despues.iter().enumerate().skip(common) {
        at.push_back(index);
        ops.push(PatchOperation::Add(AddOperation {
            path: at.clone(),
            value: new.clone(),
        }));
        at.pop_back();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json_doc::parse;

    fn doc(text: &str) -> Value {
        parse(text.as_bytes(), "test").unwrap()
    }

    fn object(text: &str) -> Map<String, Value> {
        match doc(text) {
            Value::Object(m) => m,
            other => panic!("not an object: {other}"),
        }
    }

    fn patch_text(a: &str, b: &str) -> String {
        serde_json::to_string(&patch(&doc(a), &doc(b))).unwrap()
    }

    #[test]
    fn top_level_changes_list_changed_added_and_removed_members() {
        let changes = top_level_changes(
            &object(r#"{"precio": 10, "stock": 5, "nombre": "A", "viejo": true}"#),
            &object(r#"{"precio": 12, "stock": 5, "nombre": "A", "nuevo": [1]}"#),
        );
        assert_eq!(
            Value::Object(changes),
            doc(r#"{"precio": {"antes": 10, "despues": 12},
                    "viejo": {"antes": true, "despues": null},
                    "nuevo": {"antes": null, "despues": [1]}}"#)
        );
    }

    #[test]
    fn equal_documents_have_no_changes() {
        let a = object(r#"{"a": {"b": [1, 2.50]}, "c": null}"#);
        assert!(top_level_changes(&a, &a.clone()).is_empty());
        assert!(patch(&Value::Object(a.clone()), &Value::Object(a)).is_empty());
    }

    #[test]
    fn a_number_written_differently_is_a_change() {
        // 2.5 and 2.50 are equal numbers but different stored values: the
        // restore of a numeric(10,2) column must give back 2.50.
        let changes = top_level_changes(&object(r#"{"p": 2.5}"#), &object(r#"{"p": 2.50}"#));
        assert_eq!(
            Value::Object(changes).to_string(),
            r#"{"p":{"antes":2.5,"despues":2.50}}"#
        );
    }

    #[test]
    fn a_json_null_member_differs_from_a_missing_one() {
        let changes = top_level_changes(&object(r#"{"a": null}"#), &object("{}"));
        assert_eq!(
            Value::Object(changes),
            doc(r#"{"a": {"antes": null, "despues": null}}"#)
        );
    }

    #[test]
    fn patch_descends_into_nested_objects() {
        assert_eq!(
            patch_text(
                r#"{"a": {"b": 1, "c": 2}}"#,
                r#"{"a": {"b": 1, "c": 3, "d": 4}}"#
            ),
            r#"[{"op":"replace","path":"/a/c","value":3},{"op":"add","path":"/a/d","value":4}]"#
        );
    }

    #[test]
    fn patch_escapes_member_names_as_json_pointer_requires() {
        assert_eq!(
            patch_text(
                r#"{"a/b": 1, "m~n": 1, "": 1}"#,
                r#"{"a/b": 2, "m~n": 2, "": 2}"#
            ),
            r#"[{"op":"replace","path":"/","value":2},{"op":"replace","path":"/a~1b","value":2},{"op":"replace","path":"/m~0n","value":2}]"#
        );
    }

    #[test]
    fn shrinking_arrays_remove_from_the_end_backwards() {
        assert_eq!(
            patch_text("[1, 2, 3, 4]", "[1, 9]"),
            r#"[{"op":"replace","path":"/1","value":9},{"op":"remove","path":"/3"},{"op":"remove","path":"/2"}]"#
        );
        assert_eq!(
            patch_text("[1]", "[1, 2, 3]"),
            r#"[{"op":"add","path":"/1","value":2},{"op":"add","path":"/2","value":3}]"#
        );
    }

    #[test]
    fn a_change_of_kind_replaces_the_whole_value() {
        assert_eq!(
            patch_text(r#"{"a": [1]}"#, r#"{"a": {"0": 1}}"#),
            r#"[{"op":"replace","path":"/a","value":{"0":1}}]"#
        );
        assert_eq!(
            patch_text("[1]", "7"),
            r#"[{"op":"replace","path":"","value":7}]"#
        );
    }
}
