//! `POST /rpc/<function>` as PostgREST runs it: the body's keys name the
//! function's arguments (the overload is the one whose arguments they name,
//! with every argument without a default among them), values are converted
//! by PostgreSQL itself (`json_to_record` with the arguments' types), and
//! the result is JSON: an array of objects for a set of rows, the value for
//! a scalar, nothing (204) for `void`. `?select=` picks columns of a row
//! result and computed columns (functions of the row type, such as
//! `audit.resumen_evento`).

use crate::errores::Respuesta;

/// An argument of a candidate function.
#[derive(Debug, Clone, PartialEq)]
pub struct Argumento {
    pub nombre: String,
    /// As `format_type` writes it (qualified where needed).
    pub tipo: String,
    pub con_defecto: bool,
}

/// What a function returns, as the response shapes it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Devuelve {
    /// SETOF a row type, or TABLE (...): an array of objects.
    Filas,
    /// SETOF a scalar: an array of values.
    Valores,
    /// One row of a row type: an object.
    Fila,
    /// A scalar: the value.
    Escalar,
    /// void: 204, no body.
    Nada,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Funcion {
    pub esquema: String,
    pub nombre: String,
    pub argumentos: Vec<Argumento>,
    pub devuelve: Devuelve,
}

/// A column asked for in `select`.
#[derive(Debug, Clone, PartialEq)]
pub enum Columna {
    Todas,
    De(String),
    /// `esquema.funcion(fila)`.
    Calculada(String),
}

/// The candidate functions' rows, as `CANDIDATAS` reads them.
pub const CANDIDATAS: &str = "
SELECT p.proretset, p.prorettype = 'pg_catalog.void'::pg_catalog.regtype,
       t.typtype = 'c' OR p.prorettype = 'pg_catalog.record'::pg_catalog.regtype,
       p.pronargdefaults::int4,
       coalesce(p.proargnames, '{}'),
       coalesce(p.proargmodes::text[], '{}'),
       array(SELECT pg_catalog.format_type(u.x, NULL)
               FROM unnest(coalesce(p.proallargtypes, p.proargtypes::pg_catalog.oid[])) WITH ORDINALITY AS u(x, i)
              ORDER BY u.i)
  FROM pg_catalog.pg_proc p
  JOIN pg_catalog.pg_type t ON t.oid = p.prorettype
 WHERE p.pronamespace = (SELECT n.oid FROM pg_catalog.pg_namespace n WHERE n.nspname = $1)
   AND p.proname = $2 AND p.prokind = 'f'";

/// A candidate's row of [`CANDIDATAS`].
#[derive(Debug, Clone, Default)]
pub struct Catalogo {
    pub conjunto: bool,
    pub void: bool,
    /// Returns rows of a row type (or TABLE).
    pub filas: bool,
    pub n_defectos: i32,
    pub nombres: Vec<String>,
    pub modos: Vec<String>,
    pub tipos: Vec<String>,
}

/// A function from its catalog row; `None` when an input argument has no
/// name (PostgREST cannot call it by name either).
pub fn funcion(esquema: &str, nombre: &str, c: &Catalogo) -> Option<Funcion> {
    let Catalogo {
        conjunto,
        void,
        filas,
        n_defectos,
        nombres,
        modos,
        tipos,
    } = c;
    let (conjunto, void, filas, n_defectos) = (*conjunto, *void, *filas, *n_defectos);
    let mut entradas = Vec::new();
    for (i, tipo) in tipos.iter().enumerate() {
        let modo = modos.get(i).map(String::as_str).unwrap_or("i");
        if matches!(modo, "i" | "b" | "v") {
            let n = nombres.get(i).filter(|n| !n.is_empty())?;
            entradas.push((n.clone(), tipo.clone()));
        }
    }
    let primera_con_defecto = entradas.len().saturating_sub(n_defectos.max(0) as usize);
    let argumentos = entradas
        .into_iter()
        .enumerate()
        .map(|(i, (nombre, tipo))| Argumento {
            nombre,
            tipo,
            con_defecto: i >= primera_con_defecto,
        })
        .collect();
    let devuelve = match (void, conjunto, filas) {
        (true, _, _) => Devuelve::Nada,
        (_, true, true) => Devuelve::Filas,
        (_, true, false) => Devuelve::Valores,
        (_, false, true) => Devuelve::Fila,
        (_, false, false) => Devuelve::Escalar,
    };
    Some(Funcion {
        esquema: esquema.to_string(),
        nombre: nombre.to_string(),
        argumentos,
        devuelve,
    })
}

/// The overload the body's keys call: every key is one of its arguments and
/// every argument without a default is given.
pub fn elegir<'a>(
    candidatas: &'a [Funcion],
    claves: &[String],
    esquema: &str,
    nombre: &str,
) -> Result<&'a Funcion, Respuesta> {
    let validas: Vec<&Funcion> = candidatas
        .iter()
        .filter(|f| {
            claves
                .iter()
                .all(|k| f.argumentos.iter().any(|a| &a.nombre == k))
                && f.argumentos
                    .iter()
                    .all(|a| a.con_defecto || claves.contains(&a.nombre))
        })
        .collect();
    match validas.as_slice() {
        [una] => Ok(una),
        [] => Err(Respuesta::propia(
            404,
            "PGRST202",
            format!(
                "Could not find the function {esquema}.{nombre}({}) in the schema cache",
                claves.join(", ")
            ),
            Some("No function of that name takes exactly those named arguments."),
        )),
        _ => Err(Respuesta::propia(
            300,
            "PGRST203",
            format!(
                "Could not choose the best candidate function between several {esquema}.{nombre}"
            ),
            Some("Name the arguments so that only one overload matches."),
        )),
    }
}

/// `select=*,resumen_evento`: the names asked for (`*` is every column).
pub fn nombres_de_select(select: Option<&str>) -> Vec<String> {
    match select {
        None => vec!["*".to_string()],
        Some(s) => s
            .split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_string)
            .collect(),
    }
}

pub fn identificador(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// The statement: `$1` is the body (json). One row, one text column: the
/// response's JSON (NULL for void).
pub fn sql(f: &Funcion, claves: &[String], columnas: &[Columna]) -> String {
    let tipo_de = |k: &String| {
        f.argumentos
            .iter()
            .find(|a| &a.nombre == k)
            .map(|a| a.tipo.clone())
            .expect("keys were checked against the arguments")
    };
    let definiciones: Vec<String> = if claves.is_empty() {
        vec!["_sin_argumentos text".to_string()]
    } else {
        claves
            .iter()
            .map(|k| format!("{} {}", identificador(k), tipo_de(k)))
            .collect()
    };
    let argumentos: Vec<String> = claves
        .iter()
        .map(|k| format!("{0} => _a.{0}", identificador(k)))
        .collect();
    let llamada = format!(
        "{}.{}({})",
        identificador(&f.esquema),
        identificador(&f.nombre),
        argumentos.join(", ")
    );
    let desde = format!(
        "pg_catalog.json_to_record($1::pg_catalog.text::pg_catalog.json) AS _a({})",
        definiciones.join(", ")
    );
    match f.devuelve {
        Devuelve::Nada => format!("SELECT NULL::text FROM {desde}, LATERAL {llamada} AS _r"),
        Devuelve::Escalar => format!("SELECT pg_catalog.to_json({llamada})::text FROM {desde}"),
        Devuelve::Valores => format!(
            "SELECT coalesce(pg_catalog.json_agg(_r.v), '[]')::text FROM {desde}, LATERAL {llamada} AS _r(v)"
        ),
        Devuelve::Filas | Devuelve::Fila => {
            let lista: Vec<String> = columnas
                .iter()
                .map(|c| match c {
                    Columna::Todas => "_r.*".to_string(),
                    Columna::De(n) => format!("_r.{}", identificador(n)),
                    Columna::Calculada(n) => format!(
                        "{}.{}(_r) AS {}",
                        identificador(&f.esquema),
                        identificador(n),
                        identificador(n)
                    ),
                })
                .collect();
            let filas = format!("SELECT {} FROM {desde}, LATERAL {llamada} AS _r", lista.join(", "));
            if f.devuelve == Devuelve::Filas {
                format!("SELECT coalesce(pg_catalog.json_agg(_s), '[]')::text FROM ({filas}) AS _s")
            } else {
                format!("SELECT pg_catalog.to_json(_s)::text FROM ({filas}) AS _s")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    fn deshacer() -> Funcion {
        funcion(
            "audit",
            "deshacer",
            &Catalogo {
                n_defectos: 3,
                nombres: s(&["evento_id", "simular", "forzar", "estricto"]),
                tipos: s(&["bigint", "boolean", "boolean", "boolean"]),
                ..Catalogo::default()
            },
        )
        .unwrap()
    }

    #[test]
    fn arguments_with_defaults_may_be_left_out() {
        let f = deshacer();
        assert_eq!(f.devuelve, Devuelve::Escalar);
        assert_eq!(
            f.argumentos
                .iter()
                .map(|a| a.con_defecto)
                .collect::<Vec<_>>(),
            [false, true, true, true]
        );
        let candidatas = [f];
        assert!(elegir(&candidatas, &s(&["evento_id"]), "audit", "deshacer").is_ok());
        assert!(elegir(
            &candidatas,
            &s(&["evento_id", "simular"]),
            "audit",
            "deshacer"
        )
        .is_ok());
        // A missing required argument, or an unknown one: not found.
        for claves in [s(&["simular"]), s(&["evento_id", "otro"])] {
            let e = elegir(&candidatas, &claves, "audit", "deshacer").unwrap_err();
            assert_eq!(
                (e.estado, e.cuerpo["code"].as_str()),
                (404, Some("PGRST202"))
            );
        }
    }

    #[test]
    fn table_functions_list_only_their_input_arguments() {
        // diferencias(evento_id bigint) RETURNS TABLE(campo text, ...)
        let f = funcion(
            "audit",
            "diferencias",
            &Catalogo {
                conjunto: true,
                filas: true,
                nombres: s(&["evento_id", "campo", "valor_anterior", "valor_nuevo"]),
                modos: s(&["i", "t", "t", "t"]),
                tipos: s(&["bigint", "text", "jsonb", "jsonb"]),
                ..Catalogo::default()
            },
        )
        .unwrap();
        assert_eq!(f.argumentos.len(), 1);
        assert_eq!(f.devuelve, Devuelve::Filas);
        // An unnamed input argument cannot be called by name.
        let sin_nombre = Catalogo {
            tipos: s(&["text"]),
            ..Catalogo::default()
        };
        assert!(funcion("audit", "x", &sin_nombre).is_none());
    }

    #[test]
    fn the_statement_converts_the_body_with_the_argument_types() {
        let f = deshacer();
        assert_eq!(
            sql(&f, &s(&["evento_id", "simular"]), &[]),
            "SELECT pg_catalog.to_json(\"audit\".\"deshacer\"(\"evento_id\" => _a.\"evento_id\", \"simular\" => _a.\"simular\"))::text \
             FROM pg_catalog.json_to_record($1::pg_catalog.text::pg_catalog.json) AS _a(\"evento_id\" bigint, \"simular\" boolean)"
        );
        let pagina = Funcion {
            esquema: "audit".into(),
            nombre: "get_historial_cambios".into(),
            argumentos: vec![Argumento {
                nombre: "filtros".into(),
                tipo: "jsonb".into(),
                con_defecto: true,
            }],
            devuelve: Devuelve::Filas,
        };
        let q = sql(
            &pagina,
            &[],
            &[Columna::Todas, Columna::Calculada("resumen_evento".into())],
        );
        assert!(
            q.contains("SELECT _r.*, \"audit\".\"resumen_evento\"(_r) AS \"resumen_evento\""),
            "{q}"
        );
        assert!(q.contains("AS _a(_sin_argumentos text)"), "{q}");
        assert!(
            q.starts_with("SELECT coalesce(pg_catalog.json_agg(_s), '[]')::text"),
            "{q}"
        );
    }

    #[test]
    fn select_lists_names() {
        assert_eq!(nombres_de_select(None), ["*"]);
        assert_eq!(
            nombres_de_select(Some("*, resumen_evento,")),
            ["*", "resumen_evento"]
        );
        assert_eq!(identificador("a\"b"), "\"a\"\"b\"");
    }
}
