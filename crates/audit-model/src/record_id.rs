//! `registro_id`: a stable uuid for a row of an audited table.
//!
//! When the primary key is a single uuid column, the key itself is the id (the
//! extension does that without calling here). Otherwise the id is a name-based
//! uuid (RFC 4122 version 5) of the schema, the table and the key as JSON text.
//! It depends on nothing that changes across `pg_dump`/restore or `pg_upgrade`
//! (no OIDs), so the history of a row can still be found after either.

use uuid::Uuid;

/// The namespace of every `registro_id`: the v5 uuid of the name
/// `audit.registro_id` in the RFC 4122 OID namespace. Fixed forever: changing
/// it would orphan every recorded history.
pub const NAMESPACE: Uuid = uuid::uuid!("870a0f40-864e-58d1-ad9a-62b14aeb8cf7");

/// The id of a row, from its schema, table and key.
///
/// `key_json` is PostgreSQL's text of the key as jsonb (for example
/// `{"id": 42}` or, for a table without a primary key, the whole row). jsonb
/// prints keys in a fixed order with fixed spacing, so equal keys always give
/// equal text. The parts are separated by a NUL byte, which can appear in none
/// of them, so different (schema, table, key) triples never share a name.
pub fn registro_id(schema: &str, table: &str, key_json: &[u8]) -> Uuid {
    let mut name = Vec::with_capacity(schema.len() + table.len() + key_json.len() + 2);
    name.extend_from_slice(schema.as_bytes());
    name.push(0);
    name.extend_from_slice(table.as_bytes());
    name.push(0);
    name.extend_from_slice(key_json);
    Uuid::new_v5(&NAMESPACE, &name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn namespace_is_derived_as_documented() {
        assert_eq!(
            NAMESPACE,
            Uuid::new_v5(&Uuid::NAMESPACE_OID, b"audit.registro_id")
        );
    }

    #[test]
    fn known_value_never_changes() {
        // Pinned: a change here means every stored registro_id would change.
        assert_eq!(
            registro_id("public", "productos", br#"{"id": 1}"#).to_string(),
            "dc26f7c9-c949-514a-8759-9b426b4951b5"
        );
        assert_eq!(
            registro_id("public", "productos", br#"{"id": 1}"#),
            Uuid::new_v5(&NAMESPACE, b"public\0productos\0{\"id\": 1}")
        );
        assert_eq!(
            registro_id("public", "productos", br#"{"id": 1}"#).get_version_num(),
            5
        );
    }

    #[test]
    fn schema_table_and_key_all_matter() {
        let base = registro_id("public", "t", br#"{"id": 1}"#);
        assert_ne!(base, registro_id("otro", "t", br#"{"id": 1}"#));
        assert_ne!(base, registro_id("public", "u", br#"{"id": 1}"#));
        assert_ne!(base, registro_id("public", "t", br#"{"id": 2}"#));
    }

    proptest! {
        #[test]
        fn separator_prevents_ambiguous_names(a in "[a-z]{0,6}", b in "[a-z]{0,6}", c in "[a-z]{0,6}") {
            // "ab" + "c" and "a" + "bc" must not collide
            let moved = format!("{b}{c}");
            prop_assume!(!b.is_empty() && !c.is_empty());
            prop_assert_ne!(registro_id(&a, &moved, b"{}"), registro_id(&format!("{a}{b}"), &c, b"{}"));
        }

        #[test]
        fn deterministic(s in ".*", t in ".*", k in proptest::collection::vec(any::<u8>(), 0..64)) {
            prop_assert_eq!(registro_id(&s, &t, &k), registro_id(&s, &t, &k));
        }
    }
}
