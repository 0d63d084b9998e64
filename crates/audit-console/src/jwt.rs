//! The request's identity as PostgREST reads it: an HS256 JWT in
//! `Authorization: Bearer ...`, whose `role` claim names the database role
//! the request runs as; without a token, the anonymous role (if any).

use crate::errores::Respuesta;
use jsonwebtoken::{decode, Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

/// Who a request runs as.
#[derive(Debug, Clone, PartialEq)]
pub struct Identidad {
    pub rol: String,
    /// The claims, for `request.jwt.claims` (`{}` without a token).
    pub claims: Value,
    pub anonimo: bool,
}

/// Reads the `Authorization` header (`None`: absent). `secreto` is the HS256
/// key; `rol_anonimo` the role of requests without a token.
pub fn identidad(
    autorizacion: Option<&str>,
    secreto: &[u8],
    rol_anonimo: Option<&str>,
) -> Result<Identidad, Respuesta> {
    let Some(valor) = autorizacion else {
        return match rol_anonimo {
            Some(rol) => Ok(Identidad {
                rol: rol.to_string(),
                claims: Value::Object(Map::new()),
                anonimo: true,
            }),
            None => Err(Respuesta::propia(
                401,
                "PGRST302",
                "Anonymous access is disabled",
                None,
            )),
        };
    };
    let token = valor
        .strip_prefix("Bearer ")
        .or_else(|| valor.strip_prefix("bearer "))
        .map(str::trim)
        .ok_or_else(|| invalido("the Authorization header is not \"Bearer <token>\""))?;
    let mut validacion = Validation::new(Algorithm::HS256);
    // As PostgREST: exp and nbf are checked when present, none is required,
    // and an audience is not checked unless one is configured.
    validacion.required_spec_claims.clear();
    validacion.validate_nbf = true;
    validacion.validate_aud = false;
    validacion.leeway = 0;
    let datos = decode::<Value>(token, &DecodingKey::from_secret(secreto), &validacion)
        .map_err(|e| invalido(&e.to_string()))?;
    let claims = datos.claims;
    // The library checks exp and nbf only when they are numbers: one of
    // another type ("1", true, null) would pass as absent.
    for fecha in ["exp", "nbf"] {
        if claims.get(fecha).is_some_and(|v| !v.is_number()) {
            return Err(invalido(&format!("the {fecha} claim is not a number")));
        }
    }
    let rol = match claims.get("role") {
        // "none" is no role: SET ROLE none would keep the base role.
        Some(Value::String(r)) if r.eq_ignore_ascii_case("none") => {
            return Err(invalido("the role claim \"none\" names no role"))
        }
        Some(Value::String(r)) if !r.is_empty() => r.clone(),
        _ => rol_anonimo.map(str::to_string).ok_or_else(|| {
            invalido("the token has no role claim and there is no anonymous role")
        })?,
    };
    Ok(Identidad {
        rol,
        claims,
        anonimo: false,
    })
}

fn invalido(por_que: &str) -> Respuesta {
    Respuesta::propia(401, "PGRST301", format!("JWT invalid: {por_que}"), None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{encode, EncodingKey, Header};
    use serde_json::json;

    const SECRETO: &[u8] = b"un secreto de al menos treinta y dos bytes";

    fn firmar(claims: Value, secreto: &[u8]) -> String {
        encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(secreto),
        )
        .unwrap()
    }

    #[test]
    fn a_signed_token_runs_as_its_role_with_its_claims() {
        let claims =
            json!({"role": "authenticated", "sub": "u1", "app_metadata": {"rol": "admin"}});
        let t = format!("Bearer {}", firmar(claims.clone(), SECRETO));
        let id = identidad(Some(&t), SECRETO, None).unwrap();
        assert_eq!(id.rol, "authenticated");
        assert_eq!(id.claims, claims);
        assert!(!id.anonimo);
    }

    #[test]
    fn bad_tokens_are_401_and_no_token_is_the_anonymous_role() {
        let otra_firma = format!(
            "Bearer {}",
            firmar(json!({"role": "x"}), b"otro secreto, otro secreto, otro")
        );
        for claims in [
            json!({"role": "x", "exp": "1"}),
            json!({"role": "x", "exp": null}),
            json!({"role": "x", "nbf": "99999999999"}),
            json!({"role": "none"}),
        ] {
            let token = format!("Bearer {}", firmar(claims.clone(), SECRETO));
            assert!(identidad(Some(&token), SECRETO, None).is_err(), "{claims}");
        }
        let vencido = format!("Bearer {}", firmar(json!({"role": "x", "exp": 1}), SECRETO));
        for mal in [
            otra_firma.as_str(),
            vencido.as_str(),
            "Basic abc",
            "Bearer no.es.jwt",
        ] {
            let e = identidad(Some(mal), SECRETO, Some("anon")).unwrap_err();
            assert_eq!(
                (e.estado, e.cuerpo["code"].as_str()),
                (401, Some("PGRST301")),
                "{mal}"
            );
        }
        assert_eq!(identidad(None, SECRETO, Some("anon")).unwrap().rol, "anon");
        assert_eq!(
            identidad(None, SECRETO, None).unwrap_err().cuerpo["code"],
            "PGRST302"
        );
        // A token without a role claim is the anonymous role's.
        let sin_rol = format!("Bearer {}", firmar(json!({"sub": "u"}), SECRETO));
        assert_eq!(
            identidad(Some(&sin_rol), SECRETO, Some("anon"))
                .unwrap()
                .rol,
            "anon"
        );
    }
}
