//! The identity as the extension resolves it now, for applications, policies
//! and for checking a deployment's claim settings.

use crate::capture::session;
use crate::sql_types::Jsonb;
use pgrx::prelude::*;

/// The SQL uuid of a Rust one.
pub fn to_pg(u: &uuid::Uuid) -> pgrx::Uuid {
    pgrx::Uuid::from_bytes(*u.as_bytes())
}

/// The acting application user: `audit.usuario_id`, else the user claim.
#[pg_extern(stable, parallel_safe)]
#[search_path(pg_catalog, pg_temp)]
fn usuario_actual() -> Option<pgrx::Uuid> {
    session::identity().usuario_id.as_ref().map(to_pg)
}

/// The acting tenant: `audit.empresa_id`, else the tenant claim.
#[pg_extern(stable, parallel_safe)]
#[search_path(pg_catalog, pg_temp)]
fn empresa_actual() -> Option<pgrx::Uuid> {
    session::identity().empresa_id.as_ref().map(to_pg)
}

/// Whether the acting user may read the history: their application role
/// (`audit.rol`, else the role claim) is one of `audit.roles_lectores`. The
/// log's row-level security asks this once per query.
#[pg_extern(stable, parallel_safe)]
#[search_path(pg_catalog, pg_temp)]
fn es_lector() -> bool {
    lector(&session::identity())
}

pub fn lector(id: &audit_model::identity::Identity) -> bool {
    // SAFETY: copied at once.
    let lectores = unsafe { crate::guc::raw(&crate::guc::ROLES_LECTORES) }
        .map(|c| c.to_string_lossy().into_owned())
        .unwrap_or_default();
    audit_model::identity::es_lector(id.rol.as_deref(), &lectores)
}

/// Everything the extension would record about the actor now, with the
/// problems it found in the settings and claims (`avisos`). Meant for
/// checking a deployment's claim settings.
#[pg_extern(stable, parallel_safe)]
#[search_path(pg_catalog, pg_temp)]
fn identidad_actual() -> Jsonb {
    let id = session::identity();
    let value = serde_json::json!({
        "usuario_id": id.usuario_id.map(|u| u.to_string()),
        "usuario_nombre": id.usuario_nombre,
        "empresa_id": id.empresa_id.map(|u| u.to_string()),
        "rol": id.rol,
        "lector": lector(&id),
        "usuario_externo": id.usuario_externo,
        "rol_bd": &*session::database_role(),
        "rol_sesion": session::session_role(),
        "avisos": id.avisos.iter().map(ToString::to_string).collect::<Vec<_>>(),
    });
    let text = std::ffi::CString::new(value.to_string()).expect("serialized JSON has no NUL byte");
    Jsonb::from_text(&text)
}
