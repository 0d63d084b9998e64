//! One readable Spanish line per event, for a timeline
//! (`audit.resumen(evento_id)`):
//! `Juan Pérez actualizó productos 'Laptop Gamer' (precio, stock)`.

use serde_json::{Map, Value};

/// What the sentence is made of: the event's columns, as stored.
#[derive(Debug, Default, Clone)]
pub struct Evento<'a> {
    pub accion: &'a str,
    pub usuario_nombre: Option<&'a str>,
    pub usuario_id: Option<&'a str>,
    pub usuario_externo: Option<&'a str>,
    pub rol_bd: &'a str,
    pub esquema: Option<&'a str>,
    pub tabla: Option<&'a str>,
    /// The row as it is after the change (before it, for a DELETE).
    pub fila: Option<&'a Map<String, Value>>,
    pub registro_pk: Option<&'a Map<String, Value>>,
    pub campos_modificados: &'a [String],
    pub tipo_operacion: Option<&'a str>,
}

/// Columns that usually name a row, in order of preference.
pub const COLUMNAS_ETIQUETA: [&str; 12] = [
    "nombre",
    "titulo",
    "título",
    "name",
    "title",
    "razon_social",
    "sku",
    "codigo",
    "código",
    "email",
    "descripcion",
    "descripción",
];

/// Longest label shown, in characters; longer ones end in "…".
const LARGO_ETIQUETA: usize = 60;
/// Changed columns listed by name; the rest are counted.
const CAMPOS_LISTADOS: usize = 5;

pub fn resumen(e: &Evento) -> String {
    let mut line = format!("{} {}", quien(e), verbo(e));
    if let Some(tabla) = e.tabla {
        let accion_sobre_tabla = !matches!(e.accion, "EVENTO");
        line.push_str(if accion_sobre_tabla { " " } else { " en " });
        match e.esquema {
            Some(esquema) if esquema != "public" => line.push_str(&format!("{esquema}.{tabla}")),
            _ => line.push_str(tabla),
        }
    }
    if let Some(etiqueta) = etiqueta(e) {
        line.push(' ');
        line.push_str(&etiqueta);
    }
    if e.accion == "UPDATE" && !e.campos_modificados.is_empty() {
        line.push_str(&format!(" ({})", campos(e.campos_modificados)));
    }
    line
}

/// The application user's name, else their id, else the database role.
fn quien<'a>(e: &Evento<'a>) -> &'a str {
    [e.usuario_nombre, e.usuario_id, e.usuario_externo]
        .into_iter()
        .flatten()
        .find(|s| !s.trim().is_empty())
        .unwrap_or(e.rol_bd)
}

fn verbo(e: &Evento) -> String {
    match e.accion {
        "INSERT" => "creó".into(),
        "UPDATE" => "actualizó".into(),
        "DELETE" => "eliminó".into(),
        "TRUNCATE" => "vació".into(),
        "DDL" => "cambió la estructura de".into(),
        "EVENTO" => format!("registró {}", e.tipo_operacion.unwrap_or("un evento")),
        other => format!("registró {other}"),
    }
}

/// `'Laptop Gamer'` from a naming column, else `#42` from a one-column key.
fn etiqueta(e: &Evento) -> Option<String> {
    let from_row = e.fila.and_then(|fila| {
        COLUMNAS_ETIQUETA
            .iter()
            .filter_map(|c| fila.get(*c))
            .find_map(escalar)
            .map(|s| format!("'{}'", recortar(&s)))
    });
    from_row.or_else(|| {
        let pk = e.registro_pk?;
        if pk.len() != 1 {
            return None;
        }
        pk.values()
            .next()
            .and_then(escalar)
            .map(|s| format!("#{}", recortar(&s)))
    })
}

/// A string or number as text; nothing for empty strings and other kinds.
fn escalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn recortar(s: &str) -> String {
    // One line: a label with line breaks would break the timeline's layout.
    let s: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.chars().count() <= LARGO_ETIQUETA {
        return s;
    }
    let mut short: String = s.chars().take(LARGO_ETIQUETA - 1).collect();
    short.push('…');
    short
}

fn campos(list: &[String]) -> String {
    if list.len() <= CAMPOS_LISTADOS {
        return list.join(", ");
    }
    format!(
        "{} y {} más",
        list[..CAMPOS_LISTADOS].join(", "),
        list.len() - CAMPOS_LISTADOS
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_contract_example() {
        let fila = map(json!({"id": 1, "nombre": "Laptop Gamer", "precio": 1500}));
        let campos = strings(&["precio", "stock"]);
        let e = Evento {
            accion: "UPDATE",
            usuario_nombre: Some("Juan Pérez"),
            rol_bd: "authenticated",
            esquema: Some("public"),
            tabla: Some("productos"),
            fila: Some(&fila),
            campos_modificados: &campos,
            ..Evento::default()
        };
        assert_eq!(
            resumen(&e),
            "Juan Pérez actualizó productos 'Laptop Gamer' (precio, stock)"
        );
    }

    #[test]
    fn verbs_by_action() {
        let fila = map(json!({"titulo": "Contrato"}));
        let base = Evento {
            usuario_nombre: Some("Ana"),
            rol_bd: "app",
            esquema: Some("public"),
            tabla: Some("documentos"),
            fila: Some(&fila),
            ..Evento::default()
        };
        assert_eq!(
            resumen(&Evento {
                accion: "INSERT",
                ..base.clone()
            }),
            "Ana creó documentos 'Contrato'"
        );
        assert_eq!(
            resumen(&Evento {
                accion: "DELETE",
                ..base.clone()
            }),
            "Ana eliminó documentos 'Contrato'"
        );
        assert_eq!(
            resumen(&Evento {
                accion: "TRUNCATE",
                fila: None,
                ..base.clone()
            }),
            "Ana vació documentos"
        );
        assert_eq!(
            resumen(&Evento {
                accion: "DDL",
                fila: None,
                ..base.clone()
            }),
            "Ana cambió la estructura de documentos"
        );
        assert_eq!(
            resumen(&Evento {
                accion: "EVENTO",
                fila: None,
                tipo_operacion: Some("REEMPLAZO_ARCHIVO"),
                ..base.clone()
            }),
            "Ana registró REEMPLAZO_ARCHIVO en documentos"
        );
        assert_eq!(
            resumen(&Evento {
                accion: "EVENTO",
                fila: None,
                tabla: None,
                esquema: None,
                tipo_operacion: Some("CIERRE_DE_CAJA"),
                ..base
            }),
            "Ana registró CIERRE_DE_CAJA"
        );
    }

    #[test]
    fn who_falls_back_from_name_to_id_to_role() {
        let e = Evento {
            accion: "TRUNCATE",
            rol_bd: "postgres",
            tabla: Some("t"),
            ..Evento::default()
        };
        assert_eq!(resumen(&e), "postgres vació t");
        let e = Evento {
            usuario_externo: Some("auth0|123"),
            ..e
        };
        assert_eq!(resumen(&e), "auth0|123 vació t");
        let e = Evento {
            usuario_id: Some("7c9e6679-7425-40de-944b-e07fc1f90ae7"),
            ..e
        };
        assert_eq!(resumen(&e), "7c9e6679-7425-40de-944b-e07fc1f90ae7 vació t");
        let e = Evento {
            usuario_nombre: Some("  "),
            ..e
        };
        assert!(
            resumen(&e).starts_with("7c9e6679"),
            "a blank name is no name"
        );
    }

    #[test]
    fn label_prefers_naming_columns_then_the_key() {
        let pk = map(json!({"id": 42}));
        let sin_nombre = map(json!({"id": 42, "precio": 10}));
        let e = Evento {
            accion: "INSERT",
            rol_bd: "r",
            tabla: Some("precios"),
            fila: Some(&sin_nombre),
            registro_pk: Some(&pk),
            ..Evento::default()
        };
        assert_eq!(resumen(&e), "r creó precios #42");
        let sku = map(json!({"id": 42, "sku": "LAP-001", "descripcion": "x"}));
        assert_eq!(
            resumen(&Evento {
                fila: Some(&sku),
                ..e.clone()
            }),
            "r creó precios 'LAP-001'"
        );
        let compuesta = map(json!({"a": 1, "b": 2}));
        assert_eq!(
            resumen(&Evento {
                fila: Some(&sin_nombre),
                registro_pk: Some(&compuesta),
                ..e
            }),
            "r creó precios"
        );
    }

    #[test]
    fn long_or_multiline_labels_are_shortened_to_one_line() {
        let fila = map(json!({"nombre": format!("línea uno\nlínea dos {}", "x".repeat(100))}));
        let e = Evento {
            accion: "INSERT",
            rol_bd: "r",
            tabla: Some("t"),
            fila: Some(&fila),
            ..Evento::default()
        };
        let line = resumen(&e);
        assert!(
            line.starts_with("r creó t 'línea uno línea dos xxx"),
            "{line}"
        );
        assert!(line.ends_with("…'"), "{line}");
        assert_eq!(
            line.chars().count(),
            "r creó t ''".chars().count() + LARGO_ETIQUETA
        );
    }

    #[test]
    fn other_schemas_are_named_and_many_fields_are_counted() {
        let campos = strings(&["a", "b", "c", "d", "e", "f", "g"]);
        let e = Evento {
            accion: "UPDATE",
            rol_bd: "r",
            esquema: Some("ventas"),
            tabla: Some("facturas"),
            campos_modificados: &campos,
            ..Evento::default()
        };
        assert_eq!(
            resumen(&e),
            "r actualizó ventas.facturas (a, b, c, d, e y 2 más)"
        );
    }
}
