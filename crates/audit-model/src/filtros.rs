//! The filters of `audit.get_historial_cambios(filtros)` and
//! `audit.historial_plano(filtros)`: which keys exist, what each accepts,
//! and the query they make.
//!
//! The query text is built only from the fixed fragments below; every value
//! travels as a typed parameter (`$1`..`$16`, see [`PARAMETROS`]), so no
//! filter value is ever spliced into SQL. Each filter is one indexable
//! condition, and the order is always `id DESC`, so a page is read from an
//! index newest first and stops after `limite` rows (docs/reading.md).

use crate::json_kind;
use crate::qualified_name::{parse_qualified_name, QualifiedName};
use serde_json::{Map, Value};
use uuid::Uuid;

/// Page size when `limite` is not given, and its bounds.
pub const LIMITE_POR_DEFECTO: i32 = 50;
pub const LIMITE_MAXIMO: i32 = 1000;

/// Every filter key, as the contract names them.
pub const CLAVES: [&str; 14] = [
    "desde",
    "hasta",
    "usuario_id",
    "tabla",
    "accion",
    "registro_id",
    "registro_pk",
    "empresa_id",
    "tipo_operacion",
    "metadata",
    "campo",
    "limite",
    "antes_de",
    "notas",
];

/// The query's parameters, in order: `$1` is the first. The SQL function
/// that runs the query passes them in this order.
pub const PARAMETROS: [&str; 16] = [
    "empresa_id",
    "usuario_id",
    "registro_id",
    "desde",
    "hasta",
    "esquema",
    "tabla",
    "acciones",
    "tipo_operacion",
    "metadata",
    "campo",
    "antes_de",
    "limite",
    "id_mayor_que",
    "id_como_maximo",
    "notas",
];

/// The values `accion` accepts (any letter case).
pub const ACCIONES: [&str; 6] = ["INSERT", "UPDATE", "DELETE", "TRUNCATE", "EVENTO", "DDL"];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FiltroError {
    #[error("filtros must be a JSON object, not {0}")]
    NotAnObject(&'static str),
    #[error("unknown filter \"{0}\"")]
    UnknownKey(String),
    #[error("invalid value for filter \"{key}\": {message}")]
    Invalid { key: &'static str, message: String },
}

impl FiltroError {
    pub fn hint(&self) -> Option<String> {
        match self {
            FiltroError::UnknownKey(_) | FiltroError::NotAnObject(_) => {
                Some(format!("The filters are: {}.", CLAVES.join(", ")))
            }
            FiltroError::Invalid { .. } => None,
        }
    }
}

/// Whether a call returns one page (`get_historial_cambios`: `limite`
/// defaults to 50) or everything that matches unless `limite` is given
/// (`historial_plano`, an export).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paginacion {
    Pagina,
    Todo,
}

/// Validated filters. `desde` and `hasta` are still text: PostgreSQL reads
/// them (as timestamptz input, in the session's time zone) before the query
/// runs, so they accept exactly what a timestamptz literal accepts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filtros {
    pub empresa_id: Option<Uuid>,
    pub usuario_id: Option<Uuid>,
    pub registro_id: Option<Uuid>,
    /// A row's key (an object of its key columns), for the row of `tabla`
    /// it names: the caller turns it into `registro_id` (the id depends on
    /// the key columns' types, which only the database knows).
    pub registro_pk: Option<Map<String, Value>>,
    pub desde: Option<String>,
    pub hasta: Option<String>,
    pub tabla: Option<QualifiedName>,
    pub acciones: Option<Vec<&'static str>>,
    pub tipo_operacion: Option<String>,
    pub metadata: Option<Map<String, Value>>,
    /// Contained in the event's `notas` (what the capture noted about it).
    pub notas: Option<Map<String, Value>>,
    pub campo: Option<String>,
    pub antes_de: Option<i64>,
    /// None: no limit.
    pub limite: Option<i32>,
    /// Id bounds implied by `desde` and `hasta` (from the time marks; see
    /// `audit.marcas_tiempo`). They never change the result, only where the
    /// index scan starts and stops.
    pub id_mayor_que: Option<i64>,
    pub id_como_maximo: Option<i64>,
    /// The query reads one tenant's events (an `empresa_id` filter, or the
    /// caller's row-level security): set by the caller. With a metadata
    /// containment, the page is then read along the partitions' index of
    /// a tenant's events with metadata (see [`CONTAINMENT`]).
    pub una_empresa: bool,
}

/// Reads the filters object. A key set to JSON `null` is the same as a key
/// left out (what a client sends for an empty filter field).
pub fn parse(filtros: &Value, paginacion: Paginacion) -> Result<Filtros, FiltroError> {
    let Value::Object(members) = filtros else {
        return Err(FiltroError::NotAnObject(json_kind(filtros)));
    };
    let mut out = Filtros {
        limite: match paginacion {
            Paginacion::Pagina => Some(LIMITE_POR_DEFECTO),
            Paginacion::Todo => None,
        },
        ..Filtros::default()
    };
    for (key, value) in members {
        let Some(&key) = CLAVES.iter().find(|k| **k == key) else {
            return Err(FiltroError::UnknownKey(key.clone()));
        };
        if value.is_null() {
            continue;
        }
        match key {
            "desde" => out.desde = Some(text(key, value)?),
            "hasta" => out.hasta = Some(text(key, value)?),
            "usuario_id" => out.usuario_id = Some(uuid(key, value)?),
            "registro_id" => out.registro_id = Some(uuid(key, value)?),
            "registro_pk" => out.registro_pk = Some(object(key, value)?),
            "empresa_id" => out.empresa_id = Some(uuid(key, value)?),
            "tabla" => {
                out.tabla = Some(
                    parse_qualified_name(&text(key, value)?)
                        .map_err(|e| invalid(key, e.to_string()))?,
                )
            }
            "accion" => out.acciones = Some(acciones(value)?),
            "tipo_operacion" => out.tipo_operacion = Some(text(key, value)?),
            "metadata" => out.metadata = Some(object(key, value)?),
            "notas" => out.notas = Some(object(key, value)?),
            "campo" => out.campo = Some(text(key, value)?),
            "limite" => out.limite = Some(limite(value)?),
            _ => out.antes_de = Some(antes_de(value)?),
        }
    }
    if out.registro_pk.is_some() {
        if out.tabla.is_none() {
            return Err(invalid(
                "registro_pk",
                "a key names a row of one table: give tabla too".into(),
            ));
        }
        if out.registro_id.is_some() {
            return Err(invalid(
                "registro_pk",
                "give registro_id or registro_pk, not both".into(),
            ));
        }
    }
    Ok(out)
}

fn invalid(key: &'static str, message: String) -> FiltroError {
    FiltroError::Invalid { key, message }
}

/// A non-empty string.
fn text(key: &'static str, value: &Value) -> Result<String, FiltroError> {
    match value {
        Value::String(s) if !s.trim().is_empty() => Ok(s.clone()),
        Value::String(_) => Err(invalid(key, "it must not be empty".into())),
        other => Err(invalid(
            key,
            format!("it must be a string, not {}", json_kind(other)),
        )),
    }
}

fn uuid(key: &'static str, value: &Value) -> Result<Uuid, FiltroError> {
    let s = text(key, value)?;
    Uuid::try_parse(&s).map_err(|_| invalid(key, format!("\"{s}\" is not a uuid")))
}

fn acciones(value: &Value) -> Result<Vec<&'static str>, FiltroError> {
    let key = "accion";
    let one = |v: &Value| -> Result<&'static str, FiltroError> {
        let s = text(key, v)?;
        ACCIONES
            .iter()
            .find(|a| a.eq_ignore_ascii_case(s.trim()))
            .copied()
            .ok_or_else(|| {
                invalid(
                    key,
                    format!("\"{s}\" is not one of {}", ACCIONES.join(", ")),
                )
            })
    };
    let mut out = match value {
        Value::Array(items) if items.is_empty() => {
            return Err(invalid(key, "the list must not be empty".into()))
        }
        Value::Array(items) => items.iter().map(one).collect::<Result<Vec<_>, _>>()?,
        single => vec![one(single)?],
    };
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

fn limite(value: &Value) -> Result<i32, FiltroError> {
    value
        .as_i64()
        .filter(|n| (1..=i64::from(LIMITE_MAXIMO)).contains(n))
        .map(|n| n as i32)
        .ok_or_else(|| {
            invalid(
                "limite",
                format!("it must be an integer from 1 to {LIMITE_MAXIMO}, not {value}"),
            )
        })
}

fn object(key: &'static str, value: &Value) -> Result<Map<String, Value>, FiltroError> {
    match value {
        Value::Object(m) => Ok(m.clone()),
        other => Err(invalid(
            key,
            format!("it must be a JSON object, not {}", json_kind(other)),
        )),
    }
}

fn antes_de(value: &Value) -> Result<i64, FiltroError> {
    value.as_i64().filter(|n| *n > 0).ok_or_else(|| {
        invalid(
            "antes_de",
            format!("it must be a positive integer (an event id), not {value}"),
        )
    })
}

/// A metadata containment. A non-empty object is contained only in
/// non-empty metadata: saying so lets PostgreSQL use the partitions' index
/// of a tenant's events that have metadata, `(empresa_id, (- id))` where
/// `metadata <> '{}'` (most captured rows have none). The containment is
/// the function behind `@>`, which PostgreSQL does not estimate (it assumes
/// a third of the rows, enough for a page).
const CONTAINMENT: &str =
    "h.metadata <> '{}'::jsonb AND pg_catalog.jsonb_contains(h.metadata, $10)";

/// The order of a page, and its id bounds, in two forms. PostgreSQL cannot
/// know how many events contain a document, and reading a tenant's page
/// along the id index (or the tenant's) instead of the index of its events
/// with metadata costs it about the same in its model, while in practice it
/// reads every event of the tenant until a page of matches is found
/// (bench/historial_plans.sh: 60,000 rows, 30 ms at 10M events). So a
/// tenant's page with a containment is ordered by `(- id)`, which only that
/// index provides, and its bounds are said on `(- id)` too, so that the
/// scan starts and stops at them.
struct Orden {
    order_by: &'static str,
    antes_de: &'static str,
    id_mayor_que: &'static str,
    id_como_maximo: &'static str,
}

const POR_ID: Orden = Orden {
    order_by: "h.id DESC",
    antes_de: "h.id < $12",
    id_mayor_que: "h.id > $14",
    id_como_maximo: "h.id <= $15",
};

const POR_ID_NEGADO: Orden = Orden {
    order_by: "(- h.id)",
    antes_de: "(- h.id) > (- $12)",
    id_mayor_que: "(- h.id) < (- $14)",
    id_como_maximo: "(- h.id) >= (- $15)",
};

impl Filtros {
    /// A metadata containment with something in it (an empty object is
    /// contained in every metadata: no condition).
    pub fn con_contencion(&self) -> bool {
        self.metadata.as_ref().is_some_and(|m| !m.is_empty())
    }

    fn orden(&self) -> &'static Orden {
        if self.una_empresa && self.con_contencion() {
            &POR_ID_NEGADO
        } else {
            &POR_ID
        }
    }

    /// The conditions of the query, each naming its parameter.
    fn conditions(&self) -> Vec<&'static str> {
        let orden = self.orden();
        let mut c = Vec::new();
        let mut when = |present: bool, sql: &'static str| {
            if present {
                c.push(sql);
            }
        };
        when(self.empresa_id.is_some(), "h.empresa_id = $1");
        when(self.usuario_id.is_some(), "h.usuario_id = $2");
        when(self.registro_id.is_some(), "h.registro_id = $3");
        when(self.desde.is_some(), "h.\"timestamp\" >= $4");
        when(self.hasta.is_some(), "h.\"timestamp\" < $5");
        when(
            self.tabla.as_ref().is_some_and(|t| t.schema.is_some()),
            "h.esquema = $6",
        );
        when(self.tabla.is_some(), "h.tabla_afectada = $7");
        when(self.acciones.is_some(), "h.accion = ANY ($8)");
        // The same expression as the partitions' index on it.
        when(
            self.tipo_operacion.is_some(),
            "(h.metadata ->> 'tipo_operacion') = $9",
        );
        // An empty object is contained in every metadata: no condition.
        when(self.con_contencion(), CONTAINMENT);
        when(self.campo.is_some(), "h.campos_modificados @> ARRAY[$11]");
        when(self.antes_de.is_some(), orden.antes_de);
        when(self.id_mayor_que.is_some(), orden.id_mayor_que);
        when(self.id_como_maximo.is_some(), orden.id_como_maximo);
        // An empty object asks for the events that have notes.
        when(self.notas.is_some(), "h.notas @> $16");
        c
    }

    /// The events that match, newest first, at most `limite` of them
    /// (`LIMIT NULL` is no limit).
    pub fn sql(&self) -> String {
        let conditions = self.conditions();
        let filter = if conditions.is_empty() {
            String::new()
        } else {
            format!("\n WHERE {}", conditions.join("\n   AND "))
        };
        format!(
            "SELECT h.*\n  FROM audit.historial_cambios AS h{filter}\n ORDER BY {}\n LIMIT $13",
            self.orden().order_by
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn page(v: Value) -> Result<Filtros, FiltroError> {
        parse(&v, Paginacion::Pagina)
    }

    #[test]
    fn registro_pk_names_a_row_of_the_table_given() {
        let f = page(json!({"tabla": "public.t", "registro_pk": {"id": 7}})).unwrap();
        assert_eq!(f.registro_pk.unwrap()["id"], json!(7));
        // Adds no condition of its own: the caller turns it into registro_id.
        assert!(!page(json!({"tabla": "t", "registro_pk": {"id": 7}}))
            .unwrap()
            .sql()
            .contains("registro_pk"));
        for (bad, says) in [
            (json!({"registro_pk": {"id": 7}}), "give tabla too"),
            (
                json!({"tabla": "t", "registro_pk": {"id": 7}, "registro_id": "0b7e4c2a-0000-4000-8000-000000000001"}),
                "not both",
            ),
            (json!({"tabla": "t", "registro_pk": [7]}), "JSON object"),
        ] {
            let e = page(bad).unwrap_err();
            assert!(e.to_string().contains(says), "{e}");
        }
        // null is a key left out.
        assert_eq!(
            page(json!({"registro_pk": null})).unwrap().registro_pk,
            None
        );
    }

    /// The `$n` the query refers to, in order of appearance.
    fn parameters(sql: &str) -> Vec<usize> {
        sql.split('$')
            .skip(1)
            .map(|rest| {
                rest.chars()
                    .take_while(char::is_ascii_digit)
                    .collect::<String>()
                    .parse()
                    .unwrap()
            })
            .collect()
    }

    fn message(v: Value) -> String {
        page(v).unwrap_err().to_string()
    }

    #[test]
    fn no_filters_is_the_first_page_of_everything() {
        let f = page(json!({})).unwrap();
        assert_eq!(f.limite, Some(LIMITE_POR_DEFECTO));
        assert_eq!(
            f.sql(),
            "SELECT h.*\n  FROM audit.historial_cambios AS h\n ORDER BY h.id DESC\n LIMIT $13"
        );
        assert_eq!(parse(&json!({}), Paginacion::Todo).unwrap().limite, None);
    }

    #[test]
    fn every_filter_becomes_one_condition_on_its_own_parameter() {
        let f = page(json!({
            "desde": "2026-11-01", "hasta": "2026-12-01 00:00+00",
            "usuario_id": "7c9e6679-7425-40de-944b-e07fc1f90ae7",
            "tabla": "Ventas.\"Facturas\"", "accion": ["update", "DELETE", "UPDATE"],
            "registro_id": "{7c9e6679-7425-40de-944b-e07fc1f90ae8}",
            "empresa_id": "7c9e6679742540de944be07fc1f90ae9",
            "tipo_operacion": "REEMPLAZO_ARCHIVO", "metadata": {"documento": {"id": 7}},
            "campo": "precio", "limite": 1000, "antes_de": 123,
            "notas": {"traslado": "salida"}
        }))
        .map(|f| Filtros {
            id_mayor_que: Some(7),
            id_como_maximo: Some(99),
            ..f
        })
        .unwrap();
        assert_eq!(
            f.tabla,
            Some(QualifiedName {
                schema: Some("ventas".into()),
                name: "Facturas".into()
            })
        );
        assert_eq!(f.acciones, Some(vec!["DELETE", "UPDATE"]));
        assert_eq!(
            f.registro_id.unwrap().to_string(),
            "7c9e6679-7425-40de-944b-e07fc1f90ae8"
        );
        assert_eq!(
            f.empresa_id.unwrap().to_string(),
            "7c9e6679-7425-40de-944b-e07fc1f90ae9"
        );
        assert_eq!((f.limite, f.antes_de), (Some(1000), Some(123)));
        let sql = f.sql();
        // $13 (limite) is in the LIMIT clause, after the conditions.
        let mut expected: Vec<usize> = (1..=PARAMETROS.len()).filter(|n| *n != 13).collect();
        expected.push(13);
        assert_eq!(parameters(&sql), expected, "{sql}");
        // 15 conditions, the metadata one in two parts.
        assert_eq!(sql.matches("AND").count(), 15);
        assert!(sql.contains(CONTAINMENT));
    }

    #[test]
    fn a_tenants_metadata_page_is_ordered_by_the_negated_id() {
        let mut f = page(json!({"metadata": {"doc": 5}, "antes_de": 9})).unwrap();
        (f.id_mayor_que, f.id_como_maximo) = (Some(1), Some(8));
        // Without a known tenant, or without a containment: by id.
        assert!(f.sql().contains("ORDER BY h.id DESC"));
        assert!(f.sql().contains("h.id < $12"));
        f.una_empresa = true;
        let sql = f.sql();
        assert!(sql.contains("ORDER BY (- h.id)\n"), "{sql}");
        for bound in [
            "(- h.id) > (- $12)",
            "(- h.id) < (- $14)",
            "(- h.id) >= (- $15)",
        ] {
            assert!(sql.contains(bound), "{sql}");
        }
        assert!(!sql.contains("h.id <") && !sql.contains("h.id >"), "{sql}");
        let mut sin = page(json!({"metadata": {}, "antes_de": 9})).unwrap();
        sin.una_empresa = true;
        assert!(sin.sql().contains("ORDER BY h.id DESC"));
    }

    #[test]
    fn a_table_without_schema_matches_any_schema() {
        let sql = page(json!({"tabla": "productos"})).unwrap().sql();
        assert!(sql.contains("h.tabla_afectada = $7"));
        assert!(!sql.contains("$6"));
    }

    #[test]
    fn null_means_not_filtered() {
        let f = page(json!({"usuario_id": null, "accion": null, "limite": null})).unwrap();
        assert_eq!(
            f,
            Filtros {
                limite: Some(LIMITE_POR_DEFECTO),
                ..Filtros::default()
            }
        );
    }

    #[test]
    fn unknown_keys_and_non_objects_are_refused() {
        assert_eq!(
            message(json!({"usuario": "x"})),
            "unknown filter \"usuario\""
        );
        assert!(FiltroError::UnknownKey("x".into())
            .hint()
            .unwrap()
            .contains("desde, hasta, usuario_id"));
        assert_eq!(
            message(json!([1])),
            "filtros must be a JSON object, not an array"
        );
    }

    #[test]
    fn badly_typed_values_name_their_key() {
        let cases = [
            (json!({"limite": 0}), "invalid value for filter \"limite\": it must be an integer from 1 to 1000, not 0"),
            (json!({"limite": 5000}), "invalid value for filter \"limite\": it must be an integer from 1 to 1000, not 5000"),
            (json!({"limite": 10.5}), "invalid value for filter \"limite\": it must be an integer from 1 to 1000, not 10.5"),
            (json!({"limite": "50"}), "invalid value for filter \"limite\": it must be an integer from 1 to 1000, not \"50\""),
            (json!({"usuario_id": "juan"}), "invalid value for filter \"usuario_id\": \"juan\" is not a uuid"),
            (json!({"empresa_id": 42}), "invalid value for filter \"empresa_id\": it must be a string, not a number"),
            (json!({"registro_id": ""}), "invalid value for filter \"registro_id\": it must not be empty"),
            (json!({"desde": 20261101}), "invalid value for filter \"desde\": it must be a string, not a number"),
            (json!({"tabla": "a.b.c"}), "invalid value for filter \"tabla\": it must be \"name\" or \"schema.name\", not a name of 3 parts"),
            (json!({"accion": "BORRAR"}), "invalid value for filter \"accion\": \"BORRAR\" is not one of INSERT, UPDATE, DELETE, TRUNCATE, EVENTO, DDL"),
            (json!({"accion": []}), "invalid value for filter \"accion\": the list must not be empty"),
            (json!({"accion": ["INSERT", 1]}), "invalid value for filter \"accion\": it must be a string, not a number"),
            (json!({"metadata": "x"}), "invalid value for filter \"metadata\": it must be a JSON object, not a string"),
            (json!({"campo": true}), "invalid value for filter \"campo\": it must be a string, not a boolean"),
            (json!({"tipo_operacion": " "}), "invalid value for filter \"tipo_operacion\": it must not be empty"),
            (json!({"antes_de": 0}), "invalid value for filter \"antes_de\": it must be a positive integer (an event id), not 0"),
            (json!({"antes_de": "9"}), "invalid value for filter \"antes_de\": it must be a positive integer (an event id), not \"9\""),
        ];
        for (input, expected) in cases {
            assert_eq!(message(input.clone()), expected, "{input}");
        }
    }
}
