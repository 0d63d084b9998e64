//! `audit.registro_id(tabla, pk)`: the id the capture gives a row, from its
//! key, so that an application can find a row's events (filter
//! `registro_id`) without reading one of them first.
//!
//! The key is read the way the capture reads it: the table's key columns
//! (`columnas_clave` of its options, else its primary key), a single uuid
//! key being the id itself; the values are cast to the columns' types
//! (`jsonb_populate_record`) and rendered by `to_jsonb`, as the capture
//! renders them, so `{"id": "7"}` and `{"id": 7}` name the same row of an
//! integer key.

use crate::capture::row::Deformed;
use crate::capture::table_state::{Key, TableState};
use crate::error::AuditError;
use crate::sql_types::{Jsonb, Regclass};
use audit_model::record_id;
use pgrx::prelude::*;

#[pg_extern(stable, parallel_safe)]
#[search_path(pg_catalog, pg_temp)]
fn registro_id(tabla: Regclass, pk: Jsonb) -> pgrx::Uuid {
    id_of(tabla.0, pk, "pk")
}

/// The id the capture gives the row of table `relid` whose key is `pk`
/// (also the `registro_pk` filter of the reading functions); `argument`
/// names `pk` in errors.
pub fn id_of(relid: pg_sys::Oid, pk: Jsonb, argument: &'static str) -> pgrx::Uuid {
    let root = root_table(relid);
    // SAFETY: an existing table (checked above), opened and closed here
    // under AccessShareLock, as any reader of its definition would.
    let (state, names) = unsafe {
        let rel = pg_sys::relation_open(root, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
        let state = TableState::build(rel);
        let desc = (*rel).rd_att;
        let names: Vec<(String, bool)> = match &state.key {
            Key::Uuid { pk, .. } | Key::Columns(pk) => pk
                .columns()
                .iter()
                .map(|&i| {
                    let attr = &*(*desc).attrs.as_ptr().add(i);
                    (
                        crate::catalog::cstr_to_string(attr.attname.data.as_ptr()),
                        attr.attnotnull,
                    )
                })
                .collect(),
            Key::WholeRow => Vec::new(),
        };
        pg_sys::relation_close(rel, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
        (state, names)
    };
    let qualified = crate::catalog::qualified_name(&state.schema, &state.table);
    if names.is_empty() {
        AuditError::InvalidArgument {
            name: "tabla",
            message: format!(
                "table {qualified} has no key (no primary key, no columnas_clave): its rows are identified by their whole recorded content"
            ),
        }
        .report();
    }
    check_keys(&pk, &names, &qualified, argument);
    // The values are read into a row of the table (each cast to its
    // column's type, in this session's settings, as the caller wrote them)
    // and the key taken from that row by the capture's own projection,
    // which renders it with the capture's fixed output settings.
    let sql = format!("SELECT pg_catalog.jsonb_populate_record(NULL::{qualified}, $1)");
    let id = Spi::connect(|client| -> Result<Option<pgrx::Uuid>, pgrx::spi::Error> {
        let found = client.select(&sql, Some(1), &[pk.into()])?.first();
        let Some(datum) = found.get_datum_by_ordinal(1)? else {
            return Ok(None);
        };
        // SAFETY: `datum` is a row of the table's own type, alive until
        // SPI finishes (after this closure); the table is open under
        // AccessShareLock while its descriptor deforms the row.
        Ok(unsafe { key_id(&state, root, datum) })
    })
    .unwrap_or_else(|e| panic!("internal query failed ({sql}): {e}"));
    // Only a single uuid key can come back NULL, and it is NOT NULL
    // (a primary key) or was refused above when it could not be null.
    id.unwrap_or_else(|| {
        AuditError::InvalidArgument {
            name: argument,
            message: format!("the key of table {qualified} must not be null"),
        }
        .report()
    })
}

/// The id the capture gives the row `datum` (of the table's row type).
///
/// # Safety
/// `datum` must be a non-null composite datum of table `root`'s row type.
unsafe fn key_id(
    state: &TableState,
    root: pg_sys::Oid,
    datum: pg_sys::Datum,
) -> Option<pgrx::Uuid> {
    // SAFETY: the caller's guarantee; the header is the datum's detoasted
    // body, and its length the varlena's.
    unsafe {
        let rel = pg_sys::relation_open(root, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
        let header =
            pg_sys::pg_detoast_datum(datum.cast_mut_ptr()).cast::<pg_sys::HeapTupleHeaderData>();
        let mut tuple = pg_sys::HeapTupleData {
            t_len: pgrx::varlena::varsize_any(header.cast()) as u32,
            t_self: pg_sys::ItemPointerData::default(),
            t_tableOid: root,
            t_data: header,
        };
        let row = Deformed::new(&mut tuple, (*rel).rd_att);
        let id = match &state.key {
            Key::Uuid { index, .. } => (!row.nulls[*index])
                .then(|| pgrx::Uuid::from_bytes(crate::datums::uuid_of(row.values[*index]))),
            Key::Columns(pk) => {
                let text = Jsonb::from_datum_unchecked(pk.to_jsonb(&row)).to_text_bytes();
                let id = record_id::registro_id(&state.schema, &state.table, &text);
                Some(pgrx::Uuid::from_bytes(*id.as_bytes()))
            }
            // Refused by the caller: a table without a key.
            Key::WholeRow => None,
        };
        pg_sys::relation_close(rel, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
        id
    }
}

/// The table whose events a table's rows are filed under: a partition's
/// are its partitioned root's. Refuses what is not a table.
fn root_table(relid: pg_sys::Oid) -> pg_sys::Oid {
    let found = crate::spi::first(
        "SELECT c.relkind::text AS relkind,
                COALESCE(pg_catalog.pg_partition_root(c.oid), c.oid) AS root
           FROM pg_catalog.pg_class c WHERE c.oid = $1",
        &[relid.into()],
        |row| {
            Ok((
                row.get_by_name::<String, _>("relkind")?.unwrap_or_default(),
                row.get_by_name::<pg_sys::Oid, _>("root")?,
            ))
        },
    );
    match found {
        Some((kind, Some(root))) if kind == "r" || kind == "p" => root,
        Some(_) => AuditError::InvalidArgument {
            name: "tabla",
            message: "only tables have audited rows".into(),
        }
        .report(),
        None => AuditError::UndefinedTable(relid.into()).report(),
    }
}

/// `pk` must be an object naming exactly the key columns, with a value for
/// each column that cannot be NULL (a key column that can, named in
/// `columnas_clave`, may be null: the capture identifies such rows too).
fn check_keys(pk: &Jsonb, key: &[(String, bool)], qualified: &str, argument: &'static str) {
    let names: Vec<String> = key.iter().map(|(n, _)| n.clone()).collect();
    let value = pk
        .to_value(argument)
        .unwrap_or_else(|e| AuditError::JsonDoc(e).report());
    let Some(object) = value.as_object() else {
        AuditError::InvalidArgument {
            name: argument,
            message: format!(
                "it must be an object with the key columns of {qualified} ({}), not {}",
                names.join(", "),
                audit_model::json_kind(&value)
            ),
        }
        .report()
    };
    let missing: Vec<&str> = names
        .iter()
        .filter(|n| !object.contains_key(n.as_str()))
        .map(String::as_str)
        .collect();
    let unknown: Vec<&str> = object
        .keys()
        .filter(|k| !names.contains(k))
        .map(String::as_str)
        .collect();
    let null: Vec<&str> = key
        .iter()
        .filter(|(n, not_null)| *not_null && object.get(n.as_str()).is_some_and(|v| v.is_null()))
        .map(|(n, _)| n.as_str())
        .collect();
    if !null.is_empty() {
        problems_report(
            argument,
            &names,
            qualified,
            &format!("{} cannot be null", null.join(", ")),
        );
    }
    if !missing.is_empty() || !unknown.is_empty() {
        let mut problems = Vec::new();
        if !missing.is_empty() {
            problems.push(format!("missing {}", missing.join(", ")));
        }
        if !unknown.is_empty() {
            problems.push(format!("not key columns: {}", unknown.join(", ")));
        }
        problems_report(argument, &names, qualified, &problems.join("; "));
    }
}

fn problems_report(argument: &'static str, names: &[String], qualified: &str, problems: &str) -> ! {
    AuditError::InvalidArgument {
        name: argument,
        message: format!(
            "the key of {qualified} is ({}): {problems}",
            names.join(", ")
        ),
    }
    .report()
}
