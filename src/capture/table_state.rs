//! What the capture path needs to know about one audited table, computed once
//! per backend from the catalog and the table's options (see `cache.rs`).

use crate::capture::exact_values::{exact_columns, ExactColumn};
use crate::capture::row::{Deformed, Projection};
use audit_model::options::{Captura, TableOptions, TenantColumn};
use pgrx::pg_sys;
use pgrx::prelude::*;

/// A column that counts for "did this UPDATE change anything".
#[derive(Debug)]
pub struct Column {
    pub index: usize,
    pub name: String,
    pub byval: bool,
    pub len: i16,
}

/// How a row is identified in `registro_id` / `registro_pk`.
pub enum Key {
    /// A single uuid key column: the key is the id.
    Uuid { index: usize, pk: Projection },
    /// Any other key: the id is derived from the key's JSON.
    Columns(Projection),
    /// No key at all: the id is derived from the whole row.
    WholeRow,
}

pub struct TableState {
    /// The audited table: a partition reports its partitioned root.
    pub root: pg_sys::Oid,
    pub schema: String,
    pub table: String,
    /// The partition the row is in, when the table is partitioned.
    pub partition: Option<String>,
    pub capture_truncate: bool,
    /// How the table's changes are captured (`"captura"`).
    pub captura: Captura,
    /// Non-dropped, non-excluded columns, in column order.
    pub compared: Vec<Column>,
    /// Present when columns are excluded: the snapshot is built from these
    /// columns only (excluded values are never even detoasted).
    pub snapshot: Option<Projection>,
    pub key: Key,
    /// Column holding the row's tenant (a uuid), if any.
    pub tenant: Option<usize>,
    /// Recorded columns whose values `to_jsonb` may not render exactly
    /// (arrays, and types that can hold one): see `exact_values.rs`.
    pub exact: Vec<ExactColumn>,
    /// Captured from the WAL, and `to_jsonb` of a row may call a cast to
    /// json written in SQL or a procedural language (see [`runs_sql`]).
    pub runs_sql: bool,
}

/// Whether `to_jsonb` of a row of `relid` may run SQL written by a user: it
/// renders a value of a type created in the database (also inside a domain,
/// an array or a composite) through that type's cast to json, if there is
/// one, and a cast function may be written in SQL or PL/pgSQL by the
/// type's owner. In a row trigger that is the writer's business; while the
/// WAL is decoded such a function may fail (reading a table, for one, is
/// not allowed then), and the output plugin must not stop at it
/// (src/wal/plugin.rs). C and internal functions are the server's own or
/// a superuser's.
const RUNS_SQL: &str = "\
WITH RECURSIVE tipos(t) AS (
    SELECT a.atttypid FROM pg_catalog.pg_attribute a
     WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
  UNION
    SELECT s.x
      FROM tipos JOIN pg_catalog.pg_type ty ON ty.oid = tipos.t
     CROSS JOIN LATERAL (
         SELECT ty.typbasetype WHERE ty.typtype = 'd'
         UNION ALL
         SELECT ty.typelem
          WHERE ty.typelem <> 0 AND ty.typsubscript = 'pg_catalog.array_subscript_handler'::pg_catalog.regproc
         UNION ALL
         SELECT a.atttypid FROM pg_catalog.pg_attribute a
          WHERE ty.typrelid <> 0 AND a.attrelid = ty.typrelid AND a.attnum > 0 AND NOT a.attisdropped) s(x)
)
SELECT EXISTS (
    SELECT FROM tipos
      JOIN pg_catalog.pg_cast c ON c.castsource = tipos.t
      JOIN pg_catalog.pg_proc p ON p.oid = c.castfunc
      JOIN pg_catalog.pg_language l ON l.oid = p.prolang
     WHERE c.casttarget = 'pg_catalog.json'::pg_catalog.regtype
       AND tipos.t >= 16384 -- FirstNormalObjectId: made after initdb
       AND l.lanname NOT IN ('c', 'internal'))";

fn runs_sql(relid: pg_sys::Oid) -> bool {
    // Read-only: while the WAL is decoded, nothing may take a transaction id.
    crate::spi::read_value::<bool>(RUNS_SQL, &[crate::sql_types::Regclass(relid).into()])
        .unwrap_or(false)
}

const TABLE_INFO: &str = "\
SELECT n.nspname::pg_catalog.text AS esquema,
       c.relname::pg_catalog.text AS tabla,
       (SELECT cfg.opciones::pg_catalog.text
          FROM audit.tablas_config cfg
         WHERE cfg.tabla = ANY (ARRAY[r.root, $1])
         ORDER BY cfg.tabla = r.root DESC
         LIMIT 1) AS opciones,
       ARRAY(SELECT a.attname::pg_catalog.text
               FROM pg_catalog.pg_index i
              CROSS JOIN LATERAL pg_catalog.unnest(i.indkey::pg_catalog.int2[]) WITH ORDINALITY AS k(attnum, ord)
               JOIN pg_catalog.pg_attribute a
                 ON a.attrelid = i.indrelid AND a.attnum = k.attnum
              WHERE i.indrelid = r.root AND i.indisprimary
              ORDER BY k.ord) AS clave_primaria,
       r.root::pg_catalog.oid AS root
  FROM (SELECT COALESCE(pg_catalog.pg_partition_root($1), $1) AS root) r
  JOIN pg_catalog.pg_class c ON c.oid = r.root
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace";

struct CatalogFacts {
    schema: String,
    table: String,
    options: Option<String>,
    primary_key: Vec<String>,
    root: pg_sys::Oid,
}

/// Reads the table's names, options and key. Runs as the log's owner: the
/// options table is not readable by the roles whose writes are captured.
fn catalog_facts(relid: pg_sys::Oid) -> CatalogFacts {
    crate::elevation::as_log_owner(|| {
        crate::spi::first(
            TABLE_INFO,
            &[crate::sql_types::Regclass(relid).into()],
            |row| {
                Ok(CatalogFacts {
                    schema: row.get_by_name::<String, _>("esquema")?.unwrap_or_default(),
                    table: row.get_by_name::<String, _>("tabla")?.unwrap_or_default(),
                    options: row.get_by_name::<String, _>("opciones")?,
                    primary_key: row
                        .get_by_name::<Vec<String>, _>("clave_primaria")?
                        .unwrap_or_default(),
                    root: row.get_by_name::<pg_sys::Oid, _>("root")?.unwrap_or(relid),
                })
            },
        )
    })
    .expect("the audited relation exists while its trigger fires")
}

/// One attribute of a tuple descriptor.
///
/// # Safety
/// `desc` is a valid descriptor that outlives the result, and
/// `index < natts`.
unsafe fn attr<'a>(desc: pg_sys::TupleDesc, index: usize) -> &'a pg_sys::FormData_pg_attribute {
    // SAFETY: the caller's guarantees; attrs is a flexible array of natts.
    unsafe { &*(*desc).attrs.as_ptr().add(index) }
}

fn attr_name(a: &pg_sys::FormData_pg_attribute) -> String {
    // SAFETY: NameData is NUL-terminated.
    unsafe { crate::catalog::cstr_to_string(a.attname.data.as_ptr()) }
}

fn base_type_is_uuid(typid: pg_sys::Oid) -> bool {
    // SAFETY: syscache lookup; returns typid itself for non-domains.
    unsafe { pg_sys::getBaseType(typid) == pg_sys::UUIDOID }
}

impl TableState {
    /// Builds the state of the table a trigger fired on.
    ///
    /// Settings that no longer match the table (a configured column was
    /// dropped) never make the user's write fail: the capture degrades to the
    /// safe choice and says so with a WARNING.
    pub fn build(rel: pg_sys::Relation) -> TableState {
        // SAFETY: the trigger's relation is open and locked for the statement.
        let (relid, desc, rel_name) = unsafe {
            let r = &*rel;
            (
                r.rd_id,
                r.rd_att,
                crate::catalog::cstr_to_string((*r.rd_rel).relname.data.as_ptr()),
            )
        };
        let facts = catalog_facts(relid);
        let options = match facts
            .options
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
        {
            Ok(Some(v)) => TableOptions::parse(&v).unwrap_or_else(|e| {
                warning!(
                    "ignoring invalid stored options of table {}.{}: {e}",
                    facts.schema,
                    facts.table
                );
                TableOptions::default()
            }),
            _ => TableOptions::default(),
        };
        let qualified = crate::catalog::qualified_name(&facts.schema, &facts.table);

        // SAFETY: desc is the relation's descriptor.
        let natts = unsafe { (*desc).natts } as usize;
        // SAFETY: desc is the open relation's descriptor, which outlives
        // this function; every index used below is < natts.
        let attr = |i: usize| unsafe { attr(desc, i) };
        let live: Vec<usize> = (0..natts).filter(|&i| !attr(i).attisdropped).collect();
        let find = |name: &str| live.iter().copied().find(|&i| attr_name(attr(i)) == name);

        let excluded: Vec<usize> = options
            .excluir_columnas
            .iter()
            .filter_map(|c| find(c))
            .collect();
        let kept: Vec<usize> = live
            .iter()
            .copied()
            .filter(|i| !excluded.contains(i))
            .collect();
        let compared = kept
            .iter()
            .map(|&i| {
                let a = attr(i);
                Column {
                    index: i,
                    name: attr_name(a),
                    byval: a.attbyval,
                    len: a.attlen,
                }
            })
            .collect();
        let snapshot = (!excluded.is_empty()).then(|| Projection::new(desc, kept.clone()));
        let exact = exact_columns(kept.iter().map(|&i| {
            let a = attr(i);
            (i, attr_name(a), a.atttypid)
        }));

        let key_names: Vec<String> = if !facts.primary_key.is_empty() {
            facts.primary_key.clone()
        } else {
            options.columnas_clave.clone().unwrap_or_default()
        };
        let key_indexes: Option<Vec<usize>> = key_names.iter().map(|n| find(n)).collect();
        let key = match key_indexes {
            _ if key_names.is_empty() => Key::WholeRow,
            None => {
                warning!(
                    "key columns {key_names:?} of table {qualified} no longer all exist; rows are identified by their whole content"
                );
                Key::WholeRow
            }
            Some(ix) if ix.len() == 1 && base_type_is_uuid(attr(ix[0]).atttypid) => Key::Uuid {
                index: ix[0],
                pk: Projection::new(desc, ix),
            },
            Some(ix) => Key::Columns(Projection::new(desc, ix)),
        };

        let tenant_uuid_column =
            |name: &str| find(name).filter(|&i| base_type_is_uuid(attr(i).atttypid));
        let tenant = match &options.columna_empresa {
            TenantColumn::Default => tenant_uuid_column("empresa_id"),
            TenantColumn::Disabled => None,
            TenantColumn::Named(c) => {
                let found = tenant_uuid_column(c);
                if found.is_none() {
                    warning!(
                        "tenant column \"{c}\" of table {qualified} no longer exists or is not a uuid; the session's tenant is recorded instead"
                    );
                }
                found
            }
        };

        TableState {
            root: facts.root,
            partition: (facts.root != relid).then_some(rel_name),
            schema: facts.schema,
            table: facts.table,
            capture_truncate: options.capturar_truncate,
            captura: options.captura,
            compared,
            snapshot,
            key,
            tenant,
            exact,
            runs_sql: options.captura == Captura::Wal && runs_sql(relid),
        }
    }

    /// The tenant stored in the row, if the table has a tenant column and the
    /// row's value is not NULL.
    pub fn row_tenant(&self, row: &Deformed) -> Option<[u8; 16]> {
        let i = self.tenant?;
        // SAFETY: the tenant column is a non-null uuid here.
        (!row.nulls[i]).then(|| unsafe { crate::datums::uuid_of(row.values[i]) })
    }
}
