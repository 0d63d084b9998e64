//! Versioned configuration documents (docs/configuration.md).
//!
//! * `tipos`: the types of document and their JSON Schemas
//!   (`audit.definir_tipo_config`).
//! * `guardar`: saving a version, directly (`audit.guardar_config`) or as a
//!   restore (`audit._restaurar_config`, under `audit.restaurar_config`,
//!   sql/configuracion.sql, which adds the fallback).
//! * `lectura`: `audit.config_actual`, `audit.historial_config`,
//!   `audit.comparar_config`.
//!
//! The versions table holds secrets as saved, so no role is granted
//! anything on it: these functions read and write it as the log's owner,
//! only for the caller's tenant, and only after [`acceso`] has let the
//! caller in. Everything they show, except `config_actual` (the
//! application's own read of its settings), has secret fields masked.

pub mod guardar;
pub mod lectura;
pub mod tipos;

use crate::capture::session;
use crate::elevation::as_log_owner;
use crate::error::{fail, AuditError};
use crate::spi;
use crate::sql_types::Jsonb;
use audit_model::configuracion::LIMITE_BYTES;
use serde_json::Value;

/// The tenant key of a version: its empresa_id, with "no tenant" (a
/// single-tenant installation) as the nil uuid, so that it can be compared
/// and indexed (bootstrap.sql, `config_versiones_sucesion`).
const EMPRESA_SQL: &str =
    "COALESCE(empresa_id, '00000000-0000-0000-0000-000000000000'::pg_catalog.uuid)";
const EMPRESA_PARAM_SQL: &str =
    "COALESCE($2::pg_catalog.uuid, '00000000-0000-0000-0000-000000000000'::pg_catalog.uuid)";

/// A type of configuration document as it is in force now.
pub struct Tipo {
    pub nombre: String,
    pub esquema: Option<Value>,
    pub secretos: Vec<String>,
}

/// The type named `nombre`, or the error 42704. The view is readable by
/// everyone (it holds no secrets: secret fields are names).
pub fn tipo(nombre: &str) -> Tipo {
    spi::first(
        "SELECT esquema_json, campos_secretos FROM audit.tipos_config WHERE tipo = $1",
        &[nombre.into()],
        |row| {
            let esquema = row.get::<Jsonb>(1)?.map(|j| {
                j.to_value("esquema_json")
                    .expect("schemas are checked when a type is defined")
            });
            Ok(Tipo {
                nombre: nombre.to_string(),
                esquema,
                secretos: row.get::<Vec<String>>(2)?.unwrap_or_default(),
            })
        },
    )
    .unwrap_or_else(|| fail(AuditError::ConfigTypeNotFound(nombre.to_string())))
}

/// Lets the caller use configuration documents, or raises 42501; returns
/// its tenant. The rule is the log's row-level security: an application
/// role in `audit.roles_lectores`, within a tenant. Roles that row-level
/// security does not apply to (superusers, BYPASSRLS) pass, with their
/// tenant if they have one (none: the installation-wide configuration).
pub fn acceso() -> Option<pgrx::Uuid> {
    let identity = session::identity();
    let sujeto_a_rls = spi::value::<bool>(
        "SELECT pg_catalog.row_security_active('audit.config_versiones'::pg_catalog.regclass)",
        &[],
    )
    .unwrap_or(true);
    if sujeto_a_rls {
        if !crate::identity::lector(&identity) {
            fail::<()>(AuditError::ConfigAccess {
                detail: format!(
                    "Your application role ({}) is not one of audit.roles_lectores.",
                    identity.rol.as_deref().unwrap_or("none")
                ),
            });
        }
        if identity.empresa_id.is_none() {
            fail::<()>(AuditError::ConfigAccess {
                detail: "You have no tenant: configuration documents belong to one.".into(),
            });
        }
    }
    identity.empresa_id.as_ref().map(crate::identity::to_pg)
}

/// A saved version, as the functions need it.
pub struct Version {
    pub id: i64,
    pub tipo: String,
    pub doc: Value,
    /// jsonb text, to tell identical documents apart exactly (jsonb `=`
    /// holds 1.0 and 1.00 equal; their text differs).
    pub texto: Vec<u8>,
}

impl Version {
    /// The stored document as jsonb: jsonb_in of jsonb_out's text is the
    /// same jsonb, so nothing is rebuilt from the parsed value.
    pub fn jsonb(&self) -> Jsonb {
        Jsonb::from_text(
            &std::ffi::CString::new(self.texto.clone()).expect("jsonb text has no NUL byte"),
        )
    }
}

const VERSION_COLUMNS: &str = "id_version, tipo, json_config";

fn version_from_row(row: &pgrx::spi::SpiHeapTupleData) -> Result<Version, pgrx::spi::Error> {
    let doc = row.get::<Jsonb>(3)?.expect("json_config is NOT NULL");
    let texto = doc.to_text_bytes();
    Ok(Version {
        id: row.get::<i64>(1)?.expect("id_version is NOT NULL"),
        tipo: row.get::<String>(2)?.expect("tipo is NOT NULL"),
        doc: audit_model::json_doc::parse(&texto, "json_config")
            .expect("stored documents were read when they were saved"),
        texto,
    })
}

/// Version `id` of the caller's tenant, or the error P0002 (also when it
/// belongs to another tenant: its existence is not revealed).
pub fn version(id: i64, empresa: Option<pgrx::Uuid>) -> Version {
    as_log_owner(|| {
        spi::first(
            &format!(
                "SELECT {VERSION_COLUMNS} FROM audit.config_versiones
                  WHERE id_version = $1 AND {EMPRESA_SQL} = {EMPRESA_PARAM_SQL}"
            ),
            &[id.into(), empresa.into()],
            version_from_row,
        )
    })
    .unwrap_or_else(|| fail(AuditError::ConfigVersionNotFound(id)))
}

/// The active version of `tipo` for the tenant: the newest.
pub fn activa(tipo: &str, empresa: Option<pgrx::Uuid>) -> Option<Version> {
    as_log_owner(|| {
        spi::first(
            &format!(
                "SELECT {VERSION_COLUMNS} FROM audit.config_versiones
                  WHERE tipo = $1 AND {EMPRESA_SQL} = {EMPRESA_PARAM_SQL}
                  ORDER BY id_version DESC LIMIT 1"
            ),
            &[tipo.into(), empresa.into()],
            version_from_row,
        )
    })
}

/// A jsonb argument as text and JSON value, refused when it is larger than
/// the limit (54000) or deeper than the extension reads (54000).
pub fn leer_documento(doc: Jsonb, what: &'static str) -> (Vec<u8>, Value) {
    let texto = doc.to_text_bytes();
    if texto.len() > LIMITE_BYTES {
        fail::<()>(AuditError::TooLarge {
            what,
            size: texto.len(),
            limit: LIMITE_BYTES,
        });
    }
    let value =
        audit_model::json_doc::parse(&texto, what).unwrap_or_else(|e| fail(AuditError::JsonDoc(e)));
    (texto, value)
}

/// The top-level differences from `antes` to `despues` (`jsonb_diff`'s
/// shape), secrets masked. Documents are objects (checked when saved);
/// `None` is "no version yet".
pub fn diferencias(antes: Option<&Value>, despues: &Value, secretos: &[String]) -> Value {
    let vacio = serde_json::Map::new();
    let antes = antes.and_then(Value::as_object).unwrap_or(&vacio);
    let despues = despues.as_object().unwrap_or(&vacio);
    let cambios = audit_model::json_diff::top_level_changes(antes, despues);
    Value::Object(audit_model::configuracion::secretos::enmascarar_diferencias(&cambios, secretos))
}
