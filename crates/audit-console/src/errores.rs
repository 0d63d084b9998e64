//! Errors as PostgREST answers them: the HTTP status of a SQLSTATE, and the
//! JSON body (`code`, `message`, `details`, `hint`).
//! <https://docs.postgrest.org/en/latest/references/errors.html>

use serde_json::{json, Value};

/// The HTTP status PostgREST gives a PostgreSQL error. `anonimo`: the
/// request carried no token (42501 is then 401, else 403).
pub fn estado_http(sqlstate: &str, anonimo: bool) -> u16 {
    let clase = sqlstate.get(..2).unwrap_or("");
    match sqlstate {
        "23503" | "23505" => return 409,
        "25006" => return 405,
        "53400" => return 500,
        "P0001" => return 400,
        "42883" | "42P01" => return 404,
        "42P17" => return 500,
        "42501" => return if anonimo { 401 } else { 403 },
        _ => {}
    }
    match clase {
        "08" | "53" => 503,
        "0L" | "0P" | "28" => 403,
        "09" | "25" | "2D" | "38" | "39" | "3B" | "40" | "54" | "55" | "57" | "58" | "F0"
        | "HV" | "P0" | "XX" => 500,
        _ => 400,
    }
}

/// An error answer: its status and JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Respuesta {
    pub estado: u16,
    pub cuerpo: Value,
}

impl Respuesta {
    /// An error of PostgREST itself (`PGRST...` codes).
    pub fn propia(
        estado: u16,
        codigo: &str,
        mensaje: impl Into<String>,
        pista: Option<&str>,
    ) -> Self {
        Respuesta {
            estado,
            cuerpo: json!({"code": codigo, "message": mensaje.into(), "details": null, "hint": pista}),
        }
    }

    /// An error raised by PostgreSQL.
    pub fn de_postgres(e: &postgres::error::DbError, anonimo: bool) -> Self {
        let codigo = e.code().code();
        Respuesta {
            estado: estado_http(codigo, anonimo),
            cuerpo: json!({"code": codigo, "message": e.message(), "details": e.detail(), "hint": e.hint()}),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::estado_http;

    #[test]
    fn sqlstates_map_to_postgrest_statuses() {
        for (sqlstate, estado) in [
            ("22023", 400),
            ("22004", 400),
            ("23505", 409),
            ("23503", 409),
            ("40001", 500),
            ("P0001", 400),
            ("P0002", 500),
            ("42883", 404),
            ("42P01", 404),
            ("42P17", 500),
            ("42703", 400),
            ("08006", 503),
            ("53400", 500),
            ("53200", 503),
            ("55000", 500),
            ("XX000", 500),
            ("28000", 403),
            ("25006", 405),
        ] {
            assert_eq!(estado_http(sqlstate, false), estado, "{sqlstate}");
        }
        assert_eq!(estado_http("42501", true), 401);
        assert_eq!(estado_http("42501", false), 403);
    }
}
