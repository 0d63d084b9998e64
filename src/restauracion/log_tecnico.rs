//! `audit.log_tecnico`: the technical log of failed restores.
//!
//! Nobody but the extension may write the table (only SELECT can be
//! granted on it), so rows go in through this function, as the log's
//! owner. What the caller passes is the message; who, when and in which
//! transaction are stamped here, from the session, and cannot be forged.

use crate::capture::session;
use crate::elevation::as_log_owner;
use crate::error::{fail, required, AuditError};
use crate::spi;
use crate::sql_types::Jsonb;
use pgrx::prelude::*;

const NIVELES: [&str; 3] = ["ERROR", "ADVERTENCIA", "INFO"];

/// Writes one row to `audit.log_tecnico` and returns its id.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn _escribir_log_tecnico(
    nivel: Option<&str>,
    categoria: Option<&str>,
    mensaje: Option<&str>,
    detalle: Option<Jsonb>,
) -> i64 {
    let nivel = required(nivel, "nivel");
    if !NIVELES.contains(&nivel) {
        fail::<()>(AuditError::InvalidArgument {
            name: "nivel",
            message: format!("it must be one of {}", NIVELES.join(", ")),
        });
    }
    let categoria = required(categoria.filter(|c| !c.trim().is_empty()), "categoria");
    let mensaje = required(mensaje, "mensaje");
    let detalle = detalle.unwrap_or_else(Jsonb::empty_object);
    let identity = session::identity();
    let rol = session::database_role().to_string();
    let usuario = identity.usuario_id.as_ref().map(crate::identity::to_pg);
    let empresa = identity.empresa_id.as_ref().map(crate::identity::to_pg);
    as_log_owner(|| {
        spi::value::<i64>(
            "INSERT INTO audit.log_tecnico (nivel, categoria, mensaje, detalle, usuario_id, empresa_id, rol_bd, transaccion)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            &[
                nivel.into(),
                categoria.into(),
                mensaje.into(),
                detalle.into(),
                usuario.into(),
                empresa.into(),
                rol.into(),
                session::transaction_id().into(),
            ],
        )
    })
    .expect("INSERT ... RETURNING returns the row")
}
