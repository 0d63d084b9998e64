//! Who is acting: the application user and tenant, resolved in the order the
//! contract fixes.
//!
//! Each of `usuario_id`, `usuario_nombre` and `empresa_id` comes from its
//! `audit.*` setting when that is set, otherwise from the JWT claims at the
//! configured path. A bad value never stops the caller's write: it is left
//! out, and a warning ([`Aviso`]) says why.

use crate::claims::{parse_claims, ClaimPaths};
use std::fmt;
use uuid::Uuid;

/// Where to look in the claims for each part of the identity.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClaimMapping {
    pub usuario: ClaimPaths,
    pub nombre: ClaimPaths,
    pub empresa: ClaimPaths,
    pub rol: ClaimPaths,
}

/// The raw inputs, exactly as read from the session's settings.
#[derive(Debug, Clone, Copy, Default)]
pub struct IdentityInputs<'a> {
    pub usuario_id: Option<&'a str>,
    pub usuario_nombre: Option<&'a str>,
    pub empresa_id: Option<&'a str>,
    /// `audit.rol`: the application role, taking precedence over the claim.
    pub rol: Option<&'a str>,
    /// Name of the setting that holds the claims (for messages).
    pub claims_setting: &'a str,
    pub claims: Option<&'a str>,
}

/// The identity the extension records and filters by.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Identity {
    pub usuario_id: Option<Uuid>,
    pub usuario_nombre: Option<String>,
    pub empresa_id: Option<Uuid>,
    /// The application role from the claims (used by read policies).
    pub rol: Option<String>,
    /// The user's id from the claims when it is not a uuid (an Auth0 or
    /// Firebase subject, say), kept so the event still says who acted.
    pub usuario_externo: Option<String>,
    pub avisos: Vec<Aviso>,
}

/// Something in the inputs that could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Aviso {
    SettingNotUuid {
        setting: &'static str,
        value: String,
    },
    MalformedClaims {
        setting: String,
        reason: String,
    },
    ClaimNotUuid {
        path: String,
        value: String,
    },
}

impl fmt::Display for Aviso {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Aviso::SettingNotUuid { setting, value } => {
                write!(
                    f,
                    "setting {setting} is not a valid uuid and is ignored: \"{}\"",
                    shorten(value)
                )
            }
            Aviso::MalformedClaims { setting, reason } => {
                write!(f, "claims in setting {setting} are ignored: {reason}")
            }
            Aviso::ClaimNotUuid { path, value } => {
                write!(
                    f,
                    "claim {path} is not a valid uuid: \"{}\"",
                    shorten(value)
                )
            }
        }
    }
}

/// Keeps messages readable when a value is huge.
fn shorten(s: &str) -> String {
    const MAX: usize = 80;
    if s.chars().count() <= MAX {
        s.to_owned()
    } else {
        let cut: String = s.chars().take(MAX).collect();
        format!("{cut}...")
    }
}

/// Parses a uuid the way an application would send it (hyphenated, simple,
/// braced or urn form; surrounding whitespace ignored).
pub fn parse_uuid(text: &str) -> Option<Uuid> {
    Uuid::parse_str(text.trim()).ok()
}

fn non_empty(s: Option<&str>) -> Option<&str> {
    s.filter(|s| !s.trim().is_empty())
}

/// Resolves the identity from the settings and claims.
pub fn resolve(inputs: &IdentityInputs<'_>, mapping: &ClaimMapping) -> Identity {
    let mut id = Identity::default();

    let claims = match parse_claims(inputs.claims) {
        Ok(c) => c,
        Err(e) => {
            id.avisos.push(Aviso::MalformedClaims {
                setting: inputs.claims_setting.to_owned(),
                reason: e.to_string(),
            });
            None
        }
    };
    let claim = |paths: &ClaimPaths| claims.as_ref().and_then(|c| paths.lookup(c));

    // usuario_id: setting, else the claim; a claim that is not a uuid is kept
    // as the external user id.
    id.usuario_id = setting_uuid(inputs.usuario_id, "audit.usuario_id", &mut id.avisos);
    if id.usuario_id.is_none() && non_empty(inputs.usuario_id).is_none() {
        if let Some(v) = claim(&mapping.usuario) {
            match parse_uuid(&v.text) {
                Some(u) => id.usuario_id = Some(u),
                None => {
                    id.avisos.push(Aviso::ClaimNotUuid {
                        path: v.path,
                        value: v.text.clone(),
                    });
                    id.usuario_externo = Some(v.text);
                }
            }
        }
    }

    id.usuario_nombre = match non_empty(inputs.usuario_nombre) {
        Some(name) => Some(name.to_owned()),
        None => claim(&mapping.nombre).map(|v| v.text),
    };

    id.empresa_id = setting_uuid(inputs.empresa_id, "audit.empresa_id", &mut id.avisos);
    if id.empresa_id.is_none() && non_empty(inputs.empresa_id).is_none() {
        if let Some(v) = claim(&mapping.empresa) {
            match parse_uuid(&v.text) {
                Some(u) => id.empresa_id = Some(u),
                None => id.avisos.push(Aviso::ClaimNotUuid {
                    path: v.path,
                    value: v.text,
                }),
            }
        }
    }

    id.rol = match non_empty(inputs.rol) {
        Some(rol) => Some(rol.trim().to_owned()),
        None => claim(&mapping.rol).map(|v| v.text),
    };
    id
}

/// Whether an application role may read the history: it is one of the
/// comma-separated `lectores` (audit.roles_lectores), compared without
/// regard to letter case or surrounding spaces. No role reads nothing.
pub fn es_lector(rol: Option<&str>, lectores: &str) -> bool {
    let Some(rol) = non_empty(rol) else {
        return false;
    };
    lectores
        .split(',')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .any(|l| l.to_lowercase() == rol.trim().to_lowercase())
}

/// A uuid setting: unset or empty is `None` silently; a set but invalid value
/// is `None` with a warning.
fn setting_uuid(raw: Option<&str>, name: &'static str, avisos: &mut Vec<Aviso>) -> Option<Uuid> {
    let raw = non_empty(raw)?;
    let parsed = parse_uuid(raw);
    if parsed.is_none() {
        avisos.push(Aviso::SettingNotUuid {
            setting: name,
            value: raw.to_owned(),
        });
    }
    parsed
}

#[cfg(test)]
mod tests {
    use super::*;

    const U1: &str = "11111111-1111-1111-1111-111111111111";
    const U2: &str = "22222222-2222-2222-2222-222222222222";
    const E1: &str = "eeeeeeee-0000-0000-0000-000000000001";
    const E2: &str = "eeeeeeee-0000-0000-0000-000000000002";

    fn mapping() -> ClaimMapping {
        ClaimMapping {
            usuario: ClaimPaths::parse("sub"),
            nombre: ClaimPaths::parse("user_metadata.full_name, email"),
            empresa: ClaimPaths::parse("app_metadata.empresa_id, empresa_id"),
            rol: ClaimPaths::parse("app_metadata.rol"),
        }
    }

    fn inputs<'a>(claims: Option<&'a str>) -> IdentityInputs<'a> {
        IdentityInputs {
            claims_setting: "request.jwt.claims",
            claims,
            ..Default::default()
        }
    }

    #[test]
    fn claims_alone_give_the_identity() {
        let claims = format!(
            r#"{{"sub":"{U1}","email":"ana@x.com","app_metadata":{{"empresa_id":"{E1}","rol":"administrador"}}}}"#
        );
        let id = resolve(&inputs(Some(&claims)), &mapping());
        assert_eq!(id.usuario_id, parse_uuid(U1));
        assert_eq!(id.usuario_nombre.as_deref(), Some("ana@x.com"));
        assert_eq!(id.empresa_id, parse_uuid(E1));
        assert_eq!(id.rol.as_deref(), Some("administrador"));
        assert!(id.avisos.is_empty());
    }

    #[test]
    fn settings_win_over_claims_field_by_field() {
        let claims = format!(
            r#"{{"sub":"{U1}","user_metadata":{{"full_name":"Ana"}},"empresa_id":"{E1}"}}"#
        );
        let mut i = inputs(Some(&claims));
        i.usuario_id = Some(U2);
        i.empresa_id = Some(E2);
        let id = resolve(&i, &mapping());
        assert_eq!(id.usuario_id, parse_uuid(U2));
        assert_eq!(id.empresa_id, parse_uuid(E2));
        // no name setting: the name still comes from the claims
        assert_eq!(id.usuario_nombre.as_deref(), Some("Ana"));
        i.usuario_nombre = Some("Juan Pérez");
        assert_eq!(
            resolve(&i, &mapping()).usuario_nombre.as_deref(),
            Some("Juan Pérez")
        );
    }

    #[test]
    fn empty_settings_are_unset() {
        let claims = format!(r#"{{"sub":"{U1}","empresa_id":"{E1}"}}"#);
        let mut i = inputs(Some(&claims));
        i.usuario_id = Some("");
        i.empresa_id = Some("  ");
        i.usuario_nombre = Some("");
        let id = resolve(&i, &mapping());
        assert_eq!(id.usuario_id, parse_uuid(U1));
        assert_eq!(id.empresa_id, parse_uuid(E1));
        assert!(id.avisos.is_empty());
    }

    #[test]
    fn an_invalid_setting_warns_and_is_ignored_without_falling_back() {
        let claims = format!(r#"{{"sub":"{U1}"}}"#);
        let mut i = inputs(Some(&claims));
        i.usuario_id = Some("not-a-uuid");
        let id = resolve(&i, &mapping());
        // The application said who it is, wrongly: taking the claims instead
        // would attribute the change to someone else.
        assert_eq!(id.usuario_id, None);
        assert_eq!(
            id.avisos,
            vec![Aviso::SettingNotUuid {
                setting: "audit.usuario_id",
                value: "not-a-uuid".into()
            }]
        );
    }

    #[test]
    fn malformed_claims_warn_and_leave_the_identity_empty() {
        let id = resolve(&inputs(Some("{\"sub\": ")), &mapping());
        assert_eq!(id.usuario_id, None);
        assert_eq!(id.avisos.len(), 1);
        assert!(
            matches!(&id.avisos[0], Aviso::MalformedClaims { setting, .. } if setting == "request.jwt.claims")
        );
        assert!(id.avisos[0]
            .to_string()
            .starts_with("claims in setting request.jwt.claims are ignored"));
    }

    #[test]
    fn malformed_claims_do_not_hide_the_settings() {
        let mut i = inputs(Some("[]"));
        i.usuario_id = Some(U2);
        let id = resolve(&i, &mapping());
        assert_eq!(id.usuario_id, parse_uuid(U2));
        assert_eq!(id.avisos.len(), 1);
    }

    #[test]
    fn a_non_uuid_subject_is_kept_as_external_id() {
        let id = resolve(&inputs(Some(r#"{"sub":"auth0|12345"}"#)), &mapping());
        assert_eq!(id.usuario_id, None);
        assert_eq!(id.usuario_externo.as_deref(), Some("auth0|12345"));
        assert_eq!(
            id.avisos,
            vec![Aviso::ClaimNotUuid {
                path: "sub".into(),
                value: "auth0|12345".into()
            }]
        );
    }

    #[test]
    fn a_non_uuid_tenant_claim_is_dropped_with_a_warning() {
        let id = resolve(&inputs(Some(r#"{"empresa_id": 17}"#)), &mapping());
        assert_eq!(id.empresa_id, None);
        assert_eq!(
            id.avisos,
            vec![Aviso::ClaimNotUuid {
                path: "empresa_id".into(),
                value: "17".into()
            }]
        );
    }

    #[test]
    fn no_inputs_no_identity_no_warnings() {
        let id = resolve(&inputs(None), &mapping());
        assert_eq!(id, Identity::default());
    }

    #[test]
    fn uuid_forms_accepted() {
        let u = parse_uuid(U1).unwrap();
        assert_eq!(parse_uuid("11111111111111111111111111111111"), Some(u));
        assert_eq!(
            parse_uuid("{11111111-1111-1111-1111-111111111111}"),
            Some(u)
        );
        assert_eq!(
            parse_uuid(" 11111111-1111-1111-1111-111111111111 "),
            Some(u)
        );
        assert_eq!(parse_uuid("11111111-1111-1111-1111-11111111111"), None);
    }

    #[test]
    fn long_values_are_shortened_in_messages() {
        let long = "x".repeat(500);
        let msg = Aviso::ClaimNotUuid {
            path: "sub".into(),
            value: long,
        }
        .to_string();
        assert!(msg.len() < 200, "{msg}");
        assert!(msg.ends_with("...\""));
    }

    #[test]
    fn the_role_setting_takes_precedence_over_the_claim() {
        let claims = r#"{"app_metadata": {"rol": "vendedor"}}"#;
        assert_eq!(
            resolve(&inputs(Some(claims)), &mapping()).rol.as_deref(),
            Some("vendedor")
        );
        let with_setting = IdentityInputs {
            rol: Some(" administrador "),
            ..inputs(Some(claims))
        };
        assert_eq!(
            resolve(&with_setting, &mapping()).rol.as_deref(),
            Some("administrador")
        );
        let empty_setting = IdentityInputs {
            rol: Some(""),
            ..inputs(Some(claims))
        };
        assert_eq!(
            resolve(&empty_setting, &mapping()).rol.as_deref(),
            Some("vendedor")
        );
    }

    #[test]
    fn readers_are_the_listed_roles_in_any_letter_case() {
        let lectores = "propietario, administrador, Owner ,admin";
        assert!(es_lector(Some("administrador"), lectores));
        assert!(es_lector(Some("ADMIN"), lectores));
        assert!(es_lector(Some(" owner"), lectores));
        assert!(es_lector(Some("Propietario"), lectores));
        assert!(!es_lector(Some("vendedor"), lectores));
        assert!(!es_lector(Some("admin2"), lectores));
        assert!(
            !es_lector(Some(""), lectores),
            "an empty role reads nothing"
        );
        assert!(!es_lector(None, lectores), "no role reads nothing");
        assert!(
            !es_lector(Some("admin"), ""),
            "no readers configured: nobody reads"
        );
        assert!(!es_lector(Some(""), ", ,"));
    }
}
