//! The options of `audit.auditar(tabla, opciones)`: parsing and validation of
//! everything that can be checked without the catalog (the extension then
//! checks that the named columns exist and have the right types).

use serde_json::{Map, Value};

/// Every option `auditar` understands, in the order the docs list them.
pub const KNOWN_OPTIONS: [&str; 5] = [
    "excluir_columnas",
    "columna_empresa",
    "capturar_truncate",
    "columnas_clave",
    "captura",
];

/// How INSERT, UPDATE and DELETE (and TRUNCATE) are captured. All record the
/// same events (same rows, columns and values); they differ in cost and in
/// when the events reach the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Captura {
    /// One AFTER ... FOR EACH ROW trigger: PostgreSQL queues every changed
    /// row until the statement ends (about 16 bytes per row).
    #[default]
    Fila,
    /// Three AFTER ... FOR EACH STATEMENT triggers with transition tables:
    /// the changed rows wait in a tuplestore that spills to disk past
    /// `work_mem`, so a statement of millions of rows runs in bounded memory.
    /// Plain tables only (not partitioned tables or inheritance trees).
    Sentencia,
    /// From the WAL: the writer pays for a full replica identity and a
    /// logical message with its context; the extension's output plugin and
    /// background worker write the events after commit, in commit order.
    /// Needs `wal_level = logical` and the library preloaded. Plain tables
    /// only, as `Sentencia`.
    Wal,
}

impl Captura {
    pub fn as_str(self) -> &'static str {
        match self {
            Captura::Fila => "fila",
            Captura::Sentencia => "sentencia",
            Captura::Wal => "wal",
        }
    }
}

/// The column that holds a row's tenant.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum TenantColumn {
    /// Not configured: use `empresa_id` when the table has such a uuid column.
    #[default]
    Default,
    /// Configured by name: the column must exist and be a uuid.
    Named(String),
    /// Configured as `null`: never read the tenant from the row.
    Disabled,
}

/// Validated options of one audited table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableOptions {
    /// Columns never stored in snapshots; an UPDATE that changes only these is
    /// not recorded.
    pub excluir_columnas: Vec<String>,
    pub columna_empresa: TenantColumn,
    /// Record TRUNCATE statements (default true).
    pub capturar_truncate: bool,
    /// Key columns for a table without a primary key.
    pub columnas_clave: Option<Vec<String>>,
    pub captura: Captura,
}

impl Default for TableOptions {
    fn default() -> Self {
        TableOptions {
            excluir_columnas: Vec::new(),
            columna_empresa: TenantColumn::Default,
            capturar_truncate: true,
            columnas_clave: None,
            captura: Captura::Fila,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OptionsError {
    #[error("options must be a JSON object, not {0}")]
    NotAnObject(&'static str),
    #[error("unknown option \"{0}\"")]
    UnknownKey(String),
    #[error("option \"{key}\" must be {expected}")]
    WrongType {
        key: &'static str,
        expected: &'static str,
    },
    #[error("option \"{key}\" lists column \"{column}\" more than once")]
    Duplicate { key: &'static str, column: String },
    #[error("option \"{key}\" must not be empty")]
    Empty { key: &'static str },
    #[error("column \"{0}\" cannot be both a key column and an excluded column")]
    KeyExcluded(String),
}

impl OptionsError {
    /// A hint for the user, where one helps.
    pub fn hint(&self) -> Option<String> {
        match self {
            OptionsError::UnknownKey(_) => {
                Some(format!("Known options: {}.", KNOWN_OPTIONS.join(", ")))
            }
            _ => None,
        }
    }
}

impl TableOptions {
    /// Parses and validates options given as JSON. A missing key takes its
    /// default: calling `auditar` again replaces the options, it does not
    /// merge them.
    pub fn parse(value: &Value) -> Result<TableOptions, OptionsError> {
        let map = match value {
            Value::Object(map) => map,
            Value::Null => return Ok(TableOptions::default()),
            other => return Err(OptionsError::NotAnObject(crate::json_kind(other))),
        };
        if let Some(unknown) = map.keys().find(|k| !KNOWN_OPTIONS.contains(&k.as_str())) {
            return Err(OptionsError::UnknownKey(unknown.clone()));
        }
        let mut opts = TableOptions::default();
        if let Some(v) = map.get("excluir_columnas") {
            opts.excluir_columnas = column_list(v, "excluir_columnas", true)?;
        }
        if let Some(v) = map.get("columna_empresa") {
            opts.columna_empresa = match v {
                Value::Null => TenantColumn::Disabled,
                Value::String(s) if !s.is_empty() => TenantColumn::Named(s.clone()),
                Value::String(_) => {
                    return Err(OptionsError::Empty {
                        key: "columna_empresa",
                    })
                }
                _ => {
                    return Err(OptionsError::WrongType {
                        key: "columna_empresa",
                        expected: "a column name or null",
                    })
                }
            };
        }
        if let Some(v) = map.get("capturar_truncate") {
            opts.capturar_truncate = v.as_bool().ok_or(OptionsError::WrongType {
                key: "capturar_truncate",
                expected: "true or false",
            })?;
        }
        if let Some(v) = map.get("columnas_clave") {
            let cols = column_list(v, "columnas_clave", false)?;
            if let Some(c) = cols.iter().find(|c| opts.excluir_columnas.contains(c)) {
                return Err(OptionsError::KeyExcluded(c.clone()));
            }
            opts.columnas_clave = Some(cols);
        }
        if let Some(v) = map.get("captura") {
            opts.captura = match v.as_str() {
                Some("fila") => Captura::Fila,
                Some("sentencia") => Captura::Sentencia,
                Some("wal") => Captura::Wal,
                _ => {
                    return Err(OptionsError::WrongType {
                        key: "captura",
                        expected: "\"fila\", \"sentencia\" or \"wal\"",
                    })
                }
            };
        }
        Ok(opts)
    }

    /// Follows `ALTER TABLE ... RENAME COLUMN old TO new`: every option that
    /// names `old` names `new` instead. Returns whether anything changed.
    /// (Without this, renaming an excluded column would start recording it.)
    pub fn rename_column(&mut self, old: &str, new: &str) -> bool {
        let mut changed = false;
        for c in self
            .excluir_columnas
            .iter_mut()
            .chain(self.columnas_clave.iter_mut().flatten())
        {
            if c == old {
                *c = new.to_owned();
                changed = true;
            }
        }
        if let TenantColumn::Named(c) = &mut self.columna_empresa {
            if c == old {
                *c = new.to_owned();
                changed = true;
            }
        }
        changed
    }

    /// The canonical JSON form, as stored in `audit.tablas_config`. Options
    /// left at their default are omitted, so that parsing it again gives back
    /// exactly these options (an explicit `"columna_empresa": "empresa_id"`
    /// is stricter than the default: the column must then exist).
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert(
            "excluir_columnas".into(),
            self.excluir_columnas.clone().into(),
        );
        match &self.columna_empresa {
            TenantColumn::Default => {}
            TenantColumn::Named(c) => {
                m.insert("columna_empresa".into(), Value::String(c.clone()));
            }
            TenantColumn::Disabled => {
                m.insert("columna_empresa".into(), Value::Null);
            }
        }
        m.insert("capturar_truncate".into(), self.capturar_truncate.into());
        if let Some(cols) = &self.columnas_clave {
            m.insert("columnas_clave".into(), cols.clone().into());
        }
        if self.captura != Captura::Fila {
            m.insert("captura".into(), self.captura.as_str().into());
        }
        Value::Object(m)
    }
}

fn column_list(
    v: &Value,
    key: &'static str,
    may_be_empty: bool,
) -> Result<Vec<String>, OptionsError> {
    const EXPECTED: &str = "an array of column names";
    let items = v.as_array().ok_or(OptionsError::WrongType {
        key,
        expected: EXPECTED,
    })?;
    if items.is_empty() && !may_be_empty {
        return Err(OptionsError::Empty { key });
    }
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        let name = match item {
            Value::String(s) if !s.is_empty() => s.clone(),
            _ => {
                return Err(OptionsError::WrongType {
                    key,
                    expected: EXPECTED,
                })
            }
        };
        if out.contains(&name) {
            return Err(OptionsError::Duplicate { key, column: name });
        }
        out.push(name);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn empty_and_null_mean_defaults() {
        assert_eq!(
            TableOptions::parse(&json!({})).unwrap(),
            TableOptions::default()
        );
        assert_eq!(
            TableOptions::parse(&Value::Null).unwrap(),
            TableOptions::default()
        );
    }

    #[test]
    fn all_options() {
        let o = TableOptions::parse(&json!({
            "excluir_columnas": ["password_hash", "updated_at"],
            "columna_empresa": "tenant",
            "capturar_truncate": false,
            "columnas_clave": ["codigo", "anio"],
            "captura": "sentencia"
        }))
        .unwrap();
        assert_eq!(o.excluir_columnas, vec!["password_hash", "updated_at"]);
        assert_eq!(o.columna_empresa, TenantColumn::Named("tenant".into()));
        assert!(!o.capturar_truncate);
        assert_eq!(o.columnas_clave, Some(vec!["codigo".into(), "anio".into()]));
        assert_eq!(o.captura, Captura::Sentencia);
    }

    #[test]
    fn null_tenant_column_disables_it() {
        let o = TableOptions::parse(&json!({"columna_empresa": null})).unwrap();
        assert_eq!(o.columna_empresa, TenantColumn::Disabled);
    }

    #[test]
    fn errors_name_the_key() {
        let cases = [
            (json!([1]), "options must be a JSON object, not an array"),
            (json!({"excluir": []}), "unknown option \"excluir\""),
            (
                json!({"excluir_columnas": "a"}),
                "option \"excluir_columnas\" must be an array of column names",
            ),
            (
                json!({"excluir_columnas": [1]}),
                "option \"excluir_columnas\" must be an array of column names",
            ),
            (
                json!({"excluir_columnas": [""]}),
                "option \"excluir_columnas\" must be an array of column names",
            ),
            (
                json!({"excluir_columnas": ["a", "a"]}),
                "option \"excluir_columnas\" lists column \"a\" more than once",
            ),
            (
                json!({"columna_empresa": 3}),
                "option \"columna_empresa\" must be a column name or null",
            ),
            (
                json!({"columna_empresa": ""}),
                "option \"columna_empresa\" must not be empty",
            ),
            (
                json!({"capturar_truncate": "yes"}),
                "option \"capturar_truncate\" must be true or false",
            ),
            (
                json!({"columnas_clave": []}),
                "option \"columnas_clave\" must not be empty",
            ),
            (
                json!({"excluir_columnas": ["k"], "columnas_clave": ["k"]}),
                "column \"k\" cannot be both a key column and an excluded column",
            ),
            (
                json!({"captura": "statement"}),
                "option \"captura\" must be \"fila\", \"sentencia\" or \"wal\"",
            ),
            (
                json!({"captura": true}),
                "option \"captura\" must be \"fila\", \"sentencia\" or \"wal\"",
            ),
        ];
        for (input, message) in cases {
            let err = TableOptions::parse(&input).unwrap_err();
            assert_eq!(err.to_string(), message, "for {input}");
        }
    }

    #[test]
    fn unknown_key_hint_lists_known_options() {
        let err = TableOptions::parse(&json!({"x": 1})).unwrap_err();
        assert_eq!(
            err.hint().unwrap(),
            "Known options: excluir_columnas, columna_empresa, capturar_truncate, columnas_clave, captura."
        );
    }

    #[test]
    fn renaming_a_column_follows_it_in_every_option() {
        let mut o = TableOptions::parse(&json!({
            "excluir_columnas": ["clave", "otra"],
            "columna_empresa": "tenant",
            "columnas_clave": ["codigo"]
        }))
        .unwrap();
        assert!(o.rename_column("clave", "clave_hash"));
        assert!(o.rename_column("tenant", "empresa"));
        assert!(o.rename_column("codigo", "sku"));
        assert!(!o.rename_column("nada", "x"));
        assert_eq!(o.excluir_columnas, vec!["clave_hash", "otra"]);
        assert_eq!(o.columna_empresa, TenantColumn::Named("empresa".into()));
        assert_eq!(o.columnas_clave, Some(vec!["sku".into()]));
        // the default tenant column is a name lookup, not a stored name
        let mut d = TableOptions::default();
        assert!(!d.rename_column("empresa_id", "tenant"));
    }

    #[test]
    fn canonical_json_round_trips_exactly() {
        for input in [
            json!({}),
            json!({"excluir_columnas": ["a"], "columna_empresa": null, "capturar_truncate": false}),
            json!({"columna_empresa": "t", "columnas_clave": ["k"]}),
            json!({"columna_empresa": "empresa_id"}),
            json!({"captura": "sentencia"}),
            json!({"captura": "fila"}),
        ] {
            let o = TableOptions::parse(&input).unwrap();
            assert_eq!(TableOptions::parse(&o.to_json()).unwrap(), o, "for {input}");
        }
        assert_eq!(
            TableOptions::default().to_json(),
            json!({"excluir_columnas": [], "capturar_truncate": true})
        );
    }
}
