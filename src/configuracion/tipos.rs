//! `audit.definir_tipo_config`: adding a configuration type, or changing
//! one (shipped types included: the installation's definition then takes
//! precedence, see `audit.tipos_config`).

use super::leer_documento;
use crate::capture::session;
use crate::capture::writer::{self, Change, Event};
use crate::elevation::as_log_owner;
use crate::error::{fail, required, AuditError};
use crate::spi;
use crate::sql_types::Jsonb;
use audit_model::configuracion::esquema::Esquema;
use audit_model::configuracion::{nombre_tipo, secretos};
use pgrx::prelude::*;
use serde_json::json;

/// Defines `tipo` with a JSON Schema (NULL: any JSON object) and its
/// secret fields. A field that was secret stays secret (the versions
/// already saved hold its values); the call says so in a NOTICE.
/// Recorded in the log as an application event (`TIPO_CONFIG_DEFINIDO`).
#[pg_extern(volatile)]
#[search_path(pg_catalog, pg_temp)]
fn definir_tipo_config(
    tipo: Option<&str>,
    esquema_json: default!(Option<Jsonb>, "NULL"),
    campos_secretos: default!(Option<Vec<Option<String>>>, "'{}'"),
    descripcion: default!(Option<&str>, "NULL"),
) {
    let nombre = required(tipo, "tipo");
    if let Err(message) = nombre_tipo(nombre) {
        fail::<()>(AuditError::InvalidArgument {
            name: "tipo",
            message,
        });
    }
    let esquema = esquema_json.map(|j| {
        let (_, value) = leer_documento(j, "esquema_json");
        if let Err(error) = Esquema::compilar(&value) {
            fail::<()>(AuditError::InvalidSchema {
                tipo: nombre.to_string(),
                error,
            });
        }
        (j, value)
    });
    let dados: Vec<String> = required(campos_secretos, "campos_secretos")
        .into_iter()
        .map(|s| required(s, "campos_secretos[]"))
        .collect();
    let mut nuevos = secretos::normalizar(&dados).unwrap_or_else(|message| {
        fail(AuditError::InvalidArgument {
            name: "campos_secretos",
            message,
        })
    });

    // One definition at a time per type, so the event's "before" is exact.
    spi::run(
        "SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('audit.tipos_config'), pg_catalog.hashtext($1))",
        &[nombre.into()],
    );
    let antes = spi::value::<Jsonb>(
        "SELECT pg_catalog.to_jsonb(t) FROM audit.tipos_config t WHERE t.tipo = $1",
        &[nombre.into()],
    )
    .map(|j| {
        j.to_value("tipos_config")
            .expect("a stored definition reads back")
    });
    if let Some(antes) = &antes {
        let vigentes: Vec<String> = serde_json::from_value(antes["campos_secretos"].clone())
            .expect("campos_secretos is a text[] NOT NULL");
        let retenidos = secretos::retirados(&vigentes, &nuevos);
        if !retenidos.is_empty() {
            pgrx::notice!(
                "configuration type \"{nombre}\" keeps its secret fields {}: a field once secret stays secret, because saved versions hold its values",
                retenidos.join(", ")
            );
            nuevos.extend(retenidos);
        }
    }

    let definido_por = session::database_role().to_string();
    as_log_owner(|| {
        spi::run(
            "INSERT INTO audit.tipos_config_propios AS t (tipo, esquema_json, campos_secretos, descripcion, definido_por)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (tipo) DO UPDATE
                SET esquema_json = excluded.esquema_json, campos_secretos = excluded.campos_secretos,
                    descripcion = excluded.descripcion, definido_en = pg_catalog.now(), definido_por = excluded.definido_por",
            &[
                nombre.into(),
                esquema.as_ref().map(|(j, _)| *j).into(),
                nuevos.clone().into(),
                descripcion.into(),
                definido_por.as_str().into(),
            ],
        )
    });

    let despues = json!({
        "esquema_json": esquema.map(|(_, v)| v),
        "campos_secretos": nuevos,
        "descripcion": descripcion,
    });
    let detalle = json!({
        "tipo_operacion": "TIPO_CONFIG_DEFINIDO",
        "tipo_config": {"tipo": nombre, "antes": antes, "despues": despues},
    });
    let metadata = crate::events::context_with(&detalle);
    writer::write(&Event {
        change: Change::Evento,
        esquema: Some("audit"),
        tabla: Some("tipos_config"),
        metadata: Some(metadata.datum()),
        ..Default::default()
    });
}
