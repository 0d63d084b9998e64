//! Schema drift: does a snapshot still fit its table?
//!
//! A snapshot is `to_jsonb` of a row: column names and values, nothing about
//! the columns themselves. To tell what happened to a column since, the
//! extension records the table's columns (attribute number, name, type)
//! each time they change (`audit.estructuras_tabla`). Following one column
//! name through those versions gives its fate: still there with the same
//! type, renamed (another name at the same attribute number, same type),
//! retyped (same name, another type) or dropped.
//!
//! Attribute numbers are compared only between two consecutive versions, so
//! the renumbering of a dump and restore (dropped columns disappear) is not
//! mistaken for a rename: the name is looked up first.

use serde::{Deserialize, Serialize};

/// One column of one version of a table's structure.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub struct Columna {
    /// Attribute number (`pg_attribute.attnum`).
    pub n: i32,
    /// Column name.
    pub c: String,
    /// Type, without modifier (`format_type(atttypid, NULL)`): widening a
    /// `varchar(n)` is not a change of type; narrowing fails on write.
    pub t: String,
}

/// The columns of one version of a table.
pub type Estructura = Vec<Columna>;

/// What became of a column of a snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destino {
    /// Still there, same name, same type.
    Igual,
    /// Same name, another type.
    Retipada { antes: String, ahora: String },
    /// Same attribute number and type, another name.
    Renombrada { a: String },
    /// Gone.
    Eliminada,
}

/// Follows column `nombre` from the first version that has it to the last
/// version (the table as it is now), stopping at its first change.
///
/// A name no version has is judged against the last version only: present
/// there means unchanged (structures were not recorded before it), absent
/// means dropped.
pub fn seguir(versiones: &[Estructura], nombre: &str) -> Destino {
    let Some(actual) = versiones.last() else {
        return Destino::Eliminada;
    };
    let Some(inicio) = versiones
        .iter()
        .position(|v| v.iter().any(|c| c.c == nombre))
    else {
        return if actual.iter().any(|c| c.c == nombre) {
            Destino::Igual
        } else {
            Destino::Eliminada
        };
    };
    let mut col = versiones[inicio]
        .iter()
        .find(|c| c.c == nombre)
        .expect("found above")
        .clone();
    for siguiente in &versiones[inicio + 1..] {
        if let Some(misma) = siguiente.iter().find(|c| c.c == col.c) {
            if misma.t != col.t {
                return Destino::Retipada {
                    antes: col.t.clone(),
                    ahora: misma.t.clone(),
                };
            }
            col = misma.clone();
            continue;
        }
        return match siguiente.iter().find(|c| c.n == col.n && c.t == col.t) {
            Some(otra) => Destino::Renombrada { a: otra.c.clone() },
            None => Destino::Eliminada,
        };
    }
    Destino::Igual
}

/// A column of the snapshots that cannot be written back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "problema", rename_all = "lowercase")]
pub enum Problema {
    /// Dropped since, and some snapshot has a value for it.
    Eliminada {
        columna: String,
    },
    Renombrada {
        columna: String,
        ahora: String,
    },
    Retipada {
        columna: String,
        antes: String,
        ahora: String,
    },
}

impl Problema {
    /// One sentence for the report and the error detail.
    pub fn mensaje(&self) -> String {
        match self {
            Problema::Eliminada { columna } => format!(
                "column \"{columna}\" was dropped since, and the snapshot has a value for it"
            ),
            Problema::Renombrada { columna, ahora } => {
                format!("column \"{columna}\" was renamed to \"{ahora}\" since")
            }
            Problema::Retipada {
                columna,
                antes,
                ahora,
            } => format!("column \"{columna}\" changed type from {antes} to {ahora} since"),
        }
    }
}

/// How the snapshots map onto the table as it is now.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Mapeo {
    /// Columns written back from the snapshots.
    pub columnas: Vec<String>,
    /// Columns of the table the snapshots do not have (added since, or
    /// excluded from capture): an update keeps their value, an insert gives
    /// them their default.
    pub sin_dato: Vec<String>,
    /// Columns dropped since whose value was NULL in every snapshot: nothing
    /// is lost by leaving them out.
    pub eliminadas_nulas: Vec<String>,
    /// What stops the restore; empty when it can go ahead.
    pub problemas: Vec<Problema>,
}

/// Maps the columns of a set of snapshots onto the table now.
///
/// `claves` are the snapshot keys, each with whether any snapshot has a
/// non-NULL value for it; `versiones` are the recorded structures from the
/// one in force at the oldest snapshot, the last being the table now;
/// `no_escribibles` are columns of the table that are never written
/// (generated columns).
pub fn mapear(
    versiones: &[Estructura],
    claves: &[(String, bool)],
    no_escribibles: &[String],
) -> Mapeo {
    let actual: &[Columna] = versiones.last().map_or(&[], Vec::as_slice);
    let mut mapeo = Mapeo::default();
    for (clave, con_valor) in claves {
        match seguir(versiones, clave) {
            Destino::Igual => {
                if !no_escribibles.contains(clave) {
                    mapeo.columnas.push(clave.clone());
                }
            }
            Destino::Eliminada if !con_valor => mapeo.eliminadas_nulas.push(clave.clone()),
            Destino::Eliminada => mapeo.problemas.push(Problema::Eliminada {
                columna: clave.clone(),
            }),
            Destino::Renombrada { a } => mapeo.problemas.push(Problema::Renombrada {
                columna: clave.clone(),
                ahora: a,
            }),
            Destino::Retipada { antes, ahora } => mapeo.problemas.push(Problema::Retipada {
                columna: clave.clone(),
                antes,
                ahora,
            }),
        }
    }
    mapeo.sin_dato = actual
        .iter()
        .filter(|c| !claves.iter().any(|(k, _)| *k == c.c) && !no_escribibles.contains(&c.c))
        .map(|c| c.c.clone())
        .collect();
    mapeo
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(n: i32, c: &str, t: &str) -> Columna {
        Columna {
            n,
            c: c.into(),
            t: t.into(),
        }
    }

    fn base() -> Estructura {
        vec![
            col(1, "id", "integer"),
            col(2, "nombre", "text"),
            col(3, "precio", "numeric"),
        ]
    }

    #[test]
    fn unchanged_columns_stay() {
        assert_eq!(seguir(&[base()], "nombre"), Destino::Igual);
        assert_eq!(seguir(&[base(), base()], "precio"), Destino::Igual);
    }

    #[test]
    fn rename_is_same_attnum_and_type_under_another_name() {
        let after = vec![
            col(1, "id", "integer"),
            col(2, "titulo", "text"),
            col(3, "precio", "numeric"),
        ];
        assert_eq!(
            seguir(&[base(), after], "nombre"),
            Destino::Renombrada { a: "titulo".into() }
        );
    }

    #[test]
    fn retype_is_same_name_another_type() {
        let after = vec![
            col(1, "id", "integer"),
            col(2, "nombre", "text"),
            col(3, "precio", "text"),
        ];
        assert_eq!(
            seguir(&[base(), after], "precio"),
            Destino::Retipada {
                antes: "numeric".into(),
                ahora: "text".into()
            }
        );
    }

    #[test]
    fn drop_then_add_under_the_same_name_is_a_drop() {
        let dropped = vec![col(1, "id", "integer"), col(2, "nombre", "text")];
        let readded = vec![
            col(1, "id", "integer"),
            col(2, "nombre", "text"),
            col(4, "precio", "numeric"),
        ];
        // The new "precio" is another column: the old values do not belong in it.
        assert_eq!(
            seguir(&[base(), dropped, readded], "precio"),
            Destino::Eliminada
        );
    }

    #[test]
    fn renumbering_by_dump_and_restore_is_not_a_rename() {
        // Column 2 was dropped before the dump; the restored table numbers
        // "precio" 2. The name is still there, so nothing changed.
        let before = vec![col(1, "id", "integer"), col(3, "precio", "numeric")];
        let restored = vec![col(1, "id", "integer"), col(2, "precio", "numeric")];
        assert_eq!(seguir(&[before, restored], "precio"), Destino::Igual);
    }

    #[test]
    fn a_rename_with_a_type_change_is_a_drop() {
        let after = vec![
            col(1, "id", "integer"),
            col(2, "titulo", "varchar"),
            col(3, "precio", "numeric"),
        ];
        assert_eq!(seguir(&[base(), after], "nombre"), Destino::Eliminada);
    }

    #[test]
    fn a_change_after_an_intermediate_version_is_found() {
        let added = vec![
            col(1, "id", "integer"),
            col(2, "nombre", "text"),
            col(3, "precio", "numeric"),
            col(4, "stock", "integer"),
        ];
        let renamed = vec![
            col(1, "id", "integer"),
            col(2, "nombre", "text"),
            col(3, "importe", "numeric"),
            col(4, "stock", "integer"),
        ];
        assert_eq!(
            seguir(&[base(), added, renamed], "precio"),
            Destino::Renombrada {
                a: "importe".into()
            }
        );
        // A column that appears only in a later version is followed from there.
        assert_eq!(
            seguir(&[base(), vec![col(1, "id", "integer")], base()], "nombre"),
            Destino::Eliminada
        );
    }

    #[test]
    fn without_recorded_versions_names_are_matched_against_the_table() {
        assert_eq!(seguir(&[base()], "otra"), Destino::Eliminada);
        assert_eq!(seguir(&[], "id"), Destino::Eliminada);
    }

    #[test]
    fn mapping_sorts_columns_into_written_missing_and_problems() {
        let now = vec![
            col(1, "id", "integer"),
            col(3, "precio", "text"),
            col(4, "stock", "integer"),
            col(5, "total", "numeric"),
            col(6, "titulo", "text"),
        ];
        let before = vec![
            col(1, "id", "integer"),
            col(2, "nombre", "text"),
            col(3, "precio", "numeric"),
            col(7, "nota", "text"),
        ];
        // "nombre" was dropped (no column 2 now), "titulo" is unrelated.
        let claves = vec![
            ("id".to_string(), true),
            ("nombre".to_string(), true),
            ("precio".to_string(), true),
            ("nota".to_string(), false),
        ];
        let m = mapear(&[before, now], &claves, &["total".to_string()]);
        assert_eq!(m.columnas, vec!["id"]);
        assert_eq!(m.sin_dato, vec!["stock", "titulo"]);
        assert_eq!(m.eliminadas_nulas, vec!["nota"]);
        assert_eq!(
            m.problemas,
            vec![
                Problema::Eliminada {
                    columna: "nombre".into()
                },
                Problema::Retipada {
                    columna: "precio".into(),
                    antes: "numeric".into(),
                    ahora: "text".into()
                },
            ]
        );
        assert_eq!(
            m.problemas[1].mensaje(),
            "column \"precio\" changed type from numeric to text since"
        );
    }

    #[test]
    fn generated_columns_are_neither_written_nor_missing() {
        let now = vec![col(1, "id", "integer"), col(2, "total", "numeric")];
        let m = mapear(
            &[now],
            &[("id".into(), true), ("total".into(), true)],
            &["total".into()],
        );
        assert_eq!(m.columnas, vec!["id"]);
        assert!(m.sin_dato.is_empty() && m.problemas.is_empty());
    }
}
