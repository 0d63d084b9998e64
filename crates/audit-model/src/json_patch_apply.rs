//! Applying an RFC 6902 JSON Patch (`audit.jsonb_aplicar_patch`).
//!
//! The operations are read and checked here, with an error that names the
//! failing operation; `add`, `remove`, `replace`, `move` and `copy` are
//! applied by the `json-patch` crate and `test` by `json_doc::rfc_equal`
//! (numbers compared by value, as the RFC requires). The document is owned
//! by the caller's copy, so a failure leaves nothing half applied.
//!
//! Limits keep a hostile patch from exhausting the backend: the result may
//! not nest deeper than `json_doc::MAX_DEPTH`, and `copy` operations (the
//! only ones that can grow a document beyond the size of the patch itself)
//! may add at most `MAX_COPIED_VALUES` values.

use crate::json_doc::{self, MAX_DEPTH};
use crate::json_kind;
use json_patch::jsonptr::{Pointer, PointerBuf};
use json_patch::{
    AddOperation, CopyOperation, MoveOperation, PatchErrorKind, PatchOperation, RemoveOperation,
    ReplaceOperation, TestOperation,
};
use serde_json::Value;
use std::fmt;

/// Most values all the `copy` operations of one patch may add together.
pub const MAX_COPIED_VALUES: usize = 1_000_000;

/// Why a patch cannot be applied, and which operation is at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchFailure {
    /// Position of the operation in the patch (from 0, as a JSON Pointer
    /// into the patch would count); None when the patch itself is not an
    /// array.
    pub index: Option<usize>,
    /// The operation's `op` and `path`, when it has them.
    pub op: Option<String>,
    pub path: Option<String>,
    pub reason: String,
}

impl fmt::Display for PatchFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.index, &self.op, &self.path) {
            (None, _, _) => write!(f, "{}", self.reason),
            (Some(i), Some(op), Some(path)) => {
                write!(
                    f,
                    "patch operation {i} ({op} at \"{path}\") failed: {}",
                    self.reason
                )
            }
            (Some(i), Some(op), None) => {
                write!(f, "patch operation {i} ({op}) is invalid: {}", self.reason)
            }
            (Some(i), None, _) => write!(f, "patch operation {i} is invalid: {}", self.reason),
        }
    }
}

impl std::error::Error for PatchFailure {}

/// Reads a patch: an array of operation objects.
pub fn parse_patch(patch: &Value) -> Result<Vec<PatchOperation>, PatchFailure> {
    let Value::Array(items) = patch else {
        return Err(PatchFailure {
            index: None,
            op: None,
            path: None,
            reason: format!(
                "a JSON Patch must be an array of operations, not {}",
                json_kind(patch)
            ),
        });
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| parse_operation(i, item))
        .collect()
}

fn parse_operation(index: usize, item: &Value) -> Result<PatchOperation, PatchFailure> {
    let invalid = |op: Option<&str>, reason: String| PatchFailure {
        index: Some(index),
        op: op.map(str::to_string),
        path: None,
        reason,
    };
    let Value::Object(members) = item else {
        return Err(invalid(
            None,
            format!("it must be an object, not {}", json_kind(item)),
        ));
    };
    let op = match members.get("op") {
        Some(Value::String(op)) => op.as_str(),
        Some(other) => {
            return Err(invalid(
                None,
                format!("\"op\" must be a string, not {}", json_kind(other)),
            ))
        }
        None => return Err(invalid(None, "it has no \"op\"".into())),
    };
    if !matches!(op, "add" | "remove" | "replace" | "move" | "copy" | "test") {
        return Err(invalid(
            None,
            format!("unknown op \"{op}\" (expected add, remove, replace, move, copy or test)"),
        ));
    }
    let pointer = |member: &str| -> Result<PointerBuf, PatchFailure> {
        match members.get(member) {
            Some(Value::String(text)) => PointerBuf::parse(text.as_str()).map_err(|_| {
                invalid(
                    Some(op),
                    format!("\"{member}\" is not a JSON Pointer: \"{text}\" (it must be empty or start with \"/\", and \"~\" must be followed by 0 or 1)"),
                )
            }),
            Some(other) => Err(invalid(Some(op), format!("\"{member}\" must be a string, not {}", json_kind(other)))),
            None => Err(invalid(Some(op), format!("it has no \"{member}\""))),
        }
    };
    let value = || -> Result<Value, PatchFailure> {
        members
            .get("value")
            .cloned()
            .ok_or_else(|| invalid(Some(op), "it has no \"value\"".into()))
    };
    let path = pointer("path")?;
    Ok(match op {
        "add" => PatchOperation::Add(AddOperation {
            path,
            value: value()?,
        }),
        "remove" => PatchOperation::Remove(RemoveOperation { path }),
        "replace" => PatchOperation::Replace(ReplaceOperation {
            path,
            value: value()?,
        }),
        "move" => PatchOperation::Move(MoveOperation {
            from: pointer("from")?,
            path,
        }),
        "copy" => PatchOperation::Copy(CopyOperation {
            from: pointer("from")?,
            path,
        }),
        _ => PatchOperation::Test(TestOperation {
            path,
            value: value()?,
        }),
    })
}

/// Applies `ops` in order and returns the patched document.
pub fn apply(mut doc: Value, ops: &[PatchOperation]) -> Result<Value, PatchFailure> {
    let mut copied = 0usize;
    for (index, op) in ops.iter().enumerate() {
        // Each operation may move a whole array: a patch's cost is its
        // length times the document's, both the caller's to choose.
        crate::interrupcion::comprobar();
        let failed = |reason: String| PatchFailure {
            index: Some(index),
            op: Some(op_name(op).to_string()),
            path: Some(op.path().as_str().to_string()),
            reason,
        };
        // What the operation will place at its path, to check the limits
        // before anything is changed.
        let placed = match op {
            PatchOperation::Add(o) => Some(&o.value),
            PatchOperation::Replace(o) => Some(&o.value),
            PatchOperation::Move(o) => doc.pointer(o.from.as_str()),
            PatchOperation::Copy(o) => doc.pointer(o.from.as_str()),
            PatchOperation::Remove(_) | PatchOperation::Test(_) => None,
        };
        if let Some(value) = placed {
            if op.path().count() + json_doc::depth(value) > MAX_DEPTH {
                return Err(failed(format!(
                    "the result would nest more than {MAX_DEPTH} levels deep"
                )));
            }
            if let PatchOperation::Copy(_) = op {
                copied += json_doc::size(value);
                if copied > MAX_COPIED_VALUES {
                    return Err(failed(format!(
                        "the copies of this patch would add more than {MAX_COPIED_VALUES} values to the document"
                    )));
                }
            }
        }
        match op {
            PatchOperation::Test(t) => test(&doc, &t.path, &t.value).map_err(failed)?,
            _ => json_patch::patch_unsafe(&mut doc, std::slice::from_ref(op))
                .map_err(|e| failed(reason(op, &e.kind)))?,
        }
    }
    Ok(doc)
}

fn test(doc: &Value, path: &Pointer, expected: &Value) -> Result<(), String> {
    match doc.pointer(path.as_str()) {
        None => Err("there is no value at that path".into()),
        Some(found) if json_doc::rfc_equal(found, expected) => Ok(()),
        Some(_) => Err("the value at that path is not the expected one".into()),
    }
}

fn op_name(op: &PatchOperation) -> &'static str {
    match op {
        PatchOperation::Add(_) => "add",
        PatchOperation::Remove(_) => "remove",
        PatchOperation::Replace(_) => "replace",
        PatchOperation::Move(_) => "move",
        PatchOperation::Copy(_) => "copy",
        PatchOperation::Test(_) => "test",
    }
}

fn reason(op: &PatchOperation, kind: &PatchErrorKind) -> String {
    match (kind, op) {
        (PatchErrorKind::InvalidFromPointer, PatchOperation::Move(MoveOperation { from, .. }))
        | (PatchErrorKind::InvalidFromPointer, PatchOperation::Copy(CopyOperation { from, .. })) => {
            format!("there is no value at \"from\" (\"{}\")", from.as_str())
        }
        (PatchErrorKind::CannotMoveInsideItself, _) => "a value cannot be moved into one of its own members".into(),
        (_, PatchOperation::Remove(_) | PatchOperation::Replace(_)) => "there is no value at that path".into(),
        // add, and the second half of move and copy: the new value's place.
        _ => "the path's parent is not an existing object or array, or the array index is out of range".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json_doc::parse;

    fn doc(text: &str) -> Value {
        parse(text.as_bytes(), "test").unwrap()
    }

    fn run(document: &str, patch: &str) -> Result<Value, PatchFailure> {
        apply(doc(document), &parse_patch(&doc(patch))?)
    }

    fn ok(document: &str, patch: &str, expected: &str) {
        assert_eq!(
            run(document, patch).unwrap(),
            doc(expected),
            "{document} + {patch}"
        );
    }

    fn err(document: &str, patch: &str) -> String {
        run(document, patch).unwrap_err().to_string()
    }

    // RFC 6902, Appendix A, one test per example.
    #[test]
    fn rfc_6902_appendix_a_examples() {
        ok(
            r#"{"foo": "bar"}"#,
            r#"[{"op": "add", "path": "/baz", "value": "qux"}]"#,
            r#"{"baz": "qux", "foo": "bar"}"#,
        );
        ok(
            r#"{"foo": ["bar", "baz"]}"#,
            r#"[{"op": "add", "path": "/foo/1", "value": "qux"}]"#,
            r#"{"foo": ["bar", "qux", "baz"]}"#,
        );
        ok(
            r#"{"baz": "qux", "foo": "bar"}"#,
            r#"[{"op": "remove", "path": "/baz"}]"#,
            r#"{"foo": "bar"}"#,
        );
        ok(
            r#"{"foo": ["bar", "qux", "baz"]}"#,
            r#"[{"op": "remove", "path": "/foo/1"}]"#,
            r#"{"foo": ["bar", "baz"]}"#,
        );
        ok(
            r#"{"baz": "qux", "foo": "bar"}"#,
            r#"[{"op": "replace", "path": "/baz", "value": "boo"}]"#,
            r#"{"baz": "boo", "foo": "bar"}"#,
        );
        ok(
            r#"{"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}}"#,
            r#"[{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}]"#,
            r#"{"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}}"#,
        );
        ok(
            r#"{"foo": ["all", "grass", "cows", "eat"]}"#,
            r#"[{"op": "move", "from": "/foo/1", "path": "/foo/3"}]"#,
            r#"{"foo": ["all", "cows", "eat", "grass"]}"#,
        );
        ok(
            r#"{"baz": "qux", "foo": ["a", 2, "c"]}"#,
            r#"[{"op": "test", "path": "/baz", "value": "qux"}, {"op": "test", "path": "/foo/1", "value": 2}]"#,
            r#"{"baz": "qux", "foo": ["a", 2, "c"]}"#,
        );
        assert_eq!(
            err(
                r#"{"baz": "qux"}"#,
                r#"[{"op": "test", "path": "/baz", "value": "bar"}]"#
            ),
            r#"patch operation 0 (test at "/baz") failed: the value at that path is not the expected one"#
        );
        ok(
            r#"{"foo": "bar"}"#,
            r#"[{"op": "add", "path": "/child", "value": {"grandchild": {}}}]"#,
            r#"{"foo": "bar", "child": {"grandchild": {}}}"#,
        );
        ok(
            r#"{"foo": "bar"}"#,
            r#"[{"op": "add", "path": "/baz", "value": "qux", "xyz": 123}]"#,
            r#"{"foo": "bar", "baz": "qux"}"#,
        );
        assert_eq!(
            err(
                r#"{"foo": "bar"}"#,
                r#"[{"op": "add", "path": "/baz/bat", "value": "qux"}]"#
            ),
            r#"patch operation 0 (add at "/baz/bat") failed: the path's parent is not an existing object or array, or the array index is out of range"#
        );
        ok(
            r#"{"/": 9, "~1": 10}"#,
            r#"[{"op": "test", "path": "/~01", "value": 10}]"#,
            r#"{"/": 9, "~1": 10}"#,
        );
        assert!(err(
            r#"{"/": 9, "~1": 10}"#,
            r#"[{"op": "test", "path": "/~01", "value": "10"}]"#
        )
        .contains("not the expected one"));
        ok(
            r#"{"foo": ["bar"]}"#,
            r#"[{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}]"#,
            r#"{"foo": ["bar", ["abc", "def"]]}"#,
        );
    }

    #[test]
    fn copy_and_whole_document_operations() {
        ok(
            r#"{"a": {"b": 1}}"#,
            r#"[{"op": "copy", "from": "/a", "path": "/c"}]"#,
            r#"{"a": {"b": 1}, "c": {"b": 1}}"#,
        );
        ok(
            r#"{"a": 1}"#,
            r#"[{"op": "replace", "path": "", "value": [1]}]"#,
            "[1]",
        );
        ok(
            r#"{"a": 1}"#,
            r#"[{"op": "add", "path": "", "value": null}]"#,
            "null",
        );
        ok(
            r#"{"a": 1}"#,
            r#"[{"op": "test", "path": "", "value": {"a": 1.0}}]"#,
            r#"{"a": 1}"#,
        );
        ok("[1, 2]", "[]", "[1, 2]");
    }

    #[test]
    fn operations_that_point_nowhere_fail_with_their_position() {
        assert_eq!(
            err(
                r#"{"a": 1}"#,
                r#"[{"op": "test", "path": "/a", "value": 1}, {"op": "remove", "path": "/b"}]"#
            ),
            r#"patch operation 1 (remove at "/b") failed: there is no value at that path"#
        );
        assert!(err(
            r#"{"a": 1}"#,
            r#"[{"op": "replace", "path": "/b", "value": 1}]"#
        )
        .contains("no value at that path"));
        assert!(err("[1]", r#"[{"op": "add", "path": "/2", "value": 1}]"#)
            .contains("index is out of range"));
        assert!(err("[1]", r#"[{"op": "add", "path": "/01", "value": 1}]"#)
            .contains("index is out of range"));
        assert!(err("[1]", r#"[{"op": "remove", "path": "/-"}]"#).contains("no value at that path"));
        assert!(err(
            r#"{"a": 1}"#,
            r#"[{"op": "test", "path": "/b", "value": 1}]"#
        )
        .contains("no value at that path"));
        assert_eq!(
            err(
                r#"{"a": 1}"#,
                r#"[{"op": "copy", "from": "/x", "path": "/b"}]"#
            ),
            r#"patch operation 0 (copy at "/b") failed: there is no value at "from" ("/x")"#
        );
        assert!(err(
            r#"{"a": 1}"#,
            r#"[{"op": "move", "from": "/x", "path": "/b"}]"#
        )
        .contains(r#"no value at "from""#));
        assert!(err(
            r#"{"a": {"b": 1}}"#,
            r#"[{"op": "move", "from": "/a", "path": "/a/b/c"}]"#
        )
        .contains("cannot be moved into one of its own members"));
        assert!(err(r#"{"a": 1}"#, r#"[{"op": "remove", "path": ""}]"#)
            .contains("no value at that path"));
    }

    #[test]
    fn malformed_operations_are_named() {
        assert_eq!(
            err("{}", r#"{"op": "add"}"#),
            "a JSON Patch must be an array of operations, not an object"
        );
        assert_eq!(
            err("{}", r#"[1]"#),
            "patch operation 0 is invalid: it must be an object, not a number"
        );
        assert_eq!(
            err("{}", r#"[{"path": "/a"}]"#),
            r#"patch operation 0 is invalid: it has no "op""#
        );
        assert_eq!(
            err("{}", r#"[{"op": "frobnicate", "path": "/a"}]"#),
            r#"patch operation 0 is invalid: unknown op "frobnicate" (expected add, remove, replace, move, copy or test)"#
        );
        assert_eq!(
            err("{}", r#"[{"op": 1, "path": "/a"}]"#),
            r#"patch operation 0 is invalid: "op" must be a string, not a number"#
        );
        assert_eq!(
            err("{}", r#"[{"op": "add", "value": 1}]"#),
            r#"patch operation 0 (add) is invalid: it has no "path""#
        );
        assert_eq!(
            err("{}", r#"[{"op": "add", "path": "/a"}]"#),
            r#"patch operation 0 (add) is invalid: it has no "value""#
        );
        assert_eq!(
            err("{}", r#"[{"op": "test", "path": "/a"}]"#),
            r#"patch operation 0 (test) is invalid: it has no "value""#
        );
        assert_eq!(
            err("{}", r#"[{"op": "copy", "path": "/a"}]"#),
            r#"patch operation 0 (copy) is invalid: it has no "from""#
        );
        assert!(
            err("{}", r#"[{"op": "add", "path": "a", "value": 1}]"#).starts_with(
                r#"patch operation 0 (add) is invalid: "path" is not a JSON Pointer: "a""#
            )
        );
        assert!(err("{}", r#"[{"op": "add", "path": "/~2", "value": 1}]"#)
            .contains("is not a JSON Pointer"));
        assert!(err("{}", r#"[{"op": "add", "path": 5, "value": 1}]"#)
            .contains(r#""path" must be a string, not a number"#));
        // A bad operation later in the patch is found before anything is applied.
        assert!(err(
            "{}",
            r#"[{"op": "add", "path": "/a", "value": 1}, {"op": "nope"}]"#
        )
        .starts_with("patch operation 1 is invalid"));
    }

    #[test]
    fn a_patch_may_not_build_a_document_deeper_than_the_limit() {
        let nested = |levels: usize| format!("{}{}", "[".repeat(levels), "]".repeat(levels));
        let target = r#"{"a": {"b": {}}}"#;
        // Three levels down the path, plus the value's own depth.
        let patch = format!(
            r#"[{{"op": "add", "path": "/a/b/c", "value": {}}}]"#,
            nested(MAX_DEPTH - 3)
        );
        assert_eq!(
            json_doc::depth(&run(target, &patch).unwrap()),
            MAX_DEPTH,
            "exactly at the limit"
        );
        let patch = format!(
            r#"[{{"op": "add", "path": "/a/b/c", "value": {}}}]"#,
            nested(MAX_DEPTH - 2)
        );
        assert_eq!(
            err(target, &patch),
            format!(
                r#"patch operation 0 (add at "/a/b/c") failed: the result would nest more than {MAX_DEPTH} levels deep"#
            )
        );
        // Copying a document into itself again and again deepens it by one
        // level per operation: stopped at the limit, not at a stack overflow.
        let copies: Vec<String> = (0..200)
            .map(|_| r#"{"op": "copy", "from": "", "path": "/a"}"#.to_string())
            .collect();
        let message = err(r#"{"a": 1}"#, &format!("[{}]", copies.join(",")));
        assert!(message.contains("levels deep"), "{message}");
    }

    #[test]
    fn a_long_patch_can_be_stopped_between_operations() {
        use crate::interrupcion::prueba::con_limite;
        let array = Value::Array((0..10_000).map(Value::from).collect());
        let ops = parse_patch(&Value::Array(
            (0..5_000)
                .map(|_| serde_json::json!({"op": "remove", "path": "/0"}))
                .collect(),
        ))
        .expect("a valid patch");
        let (patched, pasos) =
            con_limite(u64::MAX, || apply(array.clone(), &ops)).expect("not stopped");
        assert_eq!(
            patched.expect("applied").as_array().map(Vec::len),
            Some(5_000)
        );
        assert_eq!(pasos, 5_000);
        assert!(con_limite(100, || apply(array.clone(), &ops)).is_none());
    }

    #[test]
    fn copies_may_not_grow_a_document_without_bound() {
        // Each copy of the whole array into itself doubles it.
        let copies: Vec<String> = (0..40)
            .map(|_| r#"{"op": "copy", "from": "/a", "path": "/a/-"}"#.to_string())
            .collect();
        let message = err(
            r#"{"a": [1, 2, 3, 4, 5, 6, 7, 8]}"#,
            &format!("[{}]", copies.join(",")),
        );
        assert!(
            message.contains(&format!("more than {MAX_COPIED_VALUES} values")),
            "{message}"
        );
    }
}
