//! Saving a version: `audit.guardar_config`, and the restore's own save
//! (`audit._restaurar_config`, wrapped with its fallback by
//! `audit.restaurar_config` in sql/configuracion.sql).
//!
//! Order of a save: check the document (object, size, schema), take the
//! (tipo, tenant) lock, read the active version, compare, insert, record
//! the event. The lock makes concurrent saves of the same configuration
//! take turns; each reads the active version after the previous one
//! committed (READ COMMITTED), so both succeed, in lock order, each
//! recording the other as its `version_anterior`. Under REPEATABLE READ or
//! SERIALIZABLE the snapshot may predate the other save: the insert then
//! collides with it on the succession index and PostgreSQL raises a
//! serialization failure (40001), to be retried like any other.

use super::{acceso, activa, diferencias, leer_documento, tipo, version, Tipo};
use crate::capture::session;
use crate::capture::writer::{self, Change, Event};
use crate::elevation::as_log_owner;
use crate::error::{fail, required, AuditError};
use crate::spi;
use crate::sql_types::Jsonb;
use audit_model::configuracion::esquema::Esquema;
use audit_model::configuracion::secretos::enmascarar;
use pgrx::prelude::*;
use serde_json::{json, Value};

/// What is being saved, and why.
struct Guardar<'a> {
    tipo: &'a Tipo,
    empresa: Option<pgrx::Uuid>,
    /// The document's jsonb: stored as given, never rebuilt from `doc`.
    jsonb: Jsonb,
    texto: Vec<u8>,
    doc: Value,
    /// For messages: "the document", "version 12".
    what: String,
    comentario: Option<&'a str>,
    restaurada_desde: Option<i64>,
    version_base: Option<i64>,
    simular: bool,
}

/// What the save did (or would do, when simulated).
struct Resultado {
    /// The new version; the active one when the document was identical to
    /// it; None when simulated.
    id_version: Option<i64>,
    version_activa: Option<i64>,
    nueva: bool,
    cambios: Value,
}

fn guardar(g: Guardar<'_>) -> Resultado {
    if !g.doc.is_object() {
        fail::<()>(AuditError::InvalidArgument {
            name: "config",
            message: format!(
                "it must be a JSON object, not {}",
                audit_model::json_kind(&g.doc)
            ),
        });
    }
    if let Some(esquema) = &g.tipo.esquema {
        let violaciones = Esquema::compilar(esquema)
            .unwrap_or_else(|e| {
                panic!(
                    "the stored schema of \"{}\" no longer compiles: {e}",
                    g.tipo.nombre
                )
            })
            .violaciones(&g.doc);
        if !violaciones.is_empty() {
            fail::<()>(AuditError::InvalidConfig {
                what: g.what.clone(),
                tipo: g.tipo.nombre.clone(),
                violaciones,
            });
        }
    }

    spi::run(
        "SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('audit.config_versiones'),
                pg_catalog.hashtext($1 || '/' || COALESCE($2::pg_catalog.text, '')))",
        &[g.tipo.nombre.as_str().into(), g.empresa.into()],
    );
    let actual = activa(&g.tipo.nombre, g.empresa);
    let version_activa = actual.as_ref().map(|v| v.id);
    if let Some(base) = g.version_base {
        if version_activa != Some(base) {
            // A base that is no version of this type the caller can see is
            // a wrong id, not a race: retrying would never help. (One it
            // cannot see is P0002 in `version`.)
            let otro = super::version(base, g.empresa).tipo;
            if otro != g.tipo.nombre {
                fail::<()>(AuditError::InvalidArgument {
                    name: "version_base",
                    message: format!(
                        "version {base} is a version of configuration \"{otro}\", not of \"{}\"",
                        g.tipo.nombre
                    ),
                });
            }
            fail::<()>(AuditError::StaleConfig {
                tipo: g.tipo.nombre.clone(),
                base,
                activa: version_activa.map_or("none".into(), |v| v.to_string()),
            });
        }
    }
    let cambios = diferencias(actual.as_ref().map(|v| &v.doc), &g.doc, &g.tipo.secretos);
    if actual.as_ref().is_some_and(|v| v.texto == g.texto) {
        return Resultado {
            id_version: version_activa,
            version_activa,
            nueva: false,
            cambios,
        };
    }
    if g.simular {
        return Resultado {
            id_version: None,
            version_activa,
            nueva: true,
            cambios,
        };
    }

    let identity = session::identity();
    let (id_version, fila) = as_log_owner(|| {
        spi::first(
            "INSERT INTO audit.config_versiones AS v
                    (tipo, json_config, guardado_por, empresa_id, comentario, restaurada_desde,
                     version_anterior, usuario_nombre, rol_bd, transaccion)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT DO NOTHING
             RETURNING v.id_version, pg_catalog.to_jsonb(v)",
            &[
                g.tipo.nombre.as_str().into(),
                g.jsonb.into(),
                identity
                    .usuario_id
                    .as_ref()
                    .map(crate::identity::to_pg)
                    .into(),
                g.empresa.into(),
                g.comentario.into(),
                g.restaurada_desde.into(),
                version_activa.into(),
                identity.usuario_nombre.as_deref().into(),
                session::database_role().to_string().into(),
                session::transaction_id().into(),
            ],
            |row| {
                Ok((
                    row.get::<i64>(1)?.expect("id"),
                    row.get::<Jsonb>(2)?.expect("row"),
                ))
            },
        )
    })
    // Only reachable if the lock was bypassed: a successor of the same
    // version already exists.
    .unwrap_or_else(|| {
        fail(AuditError::StaleConfig {
            tipo: g.tipo.nombre.clone(),
            base: version_activa.unwrap_or(0),
            activa: "a newer one".into(),
        })
    });
    registrar(&g, id_version, version_activa, fila, &cambios);
    Resultado {
        id_version: Some(id_version),
        version_activa,
        nueva: true,
        cambios,
    }
}

/// The save in the change log: an INSERT into audit.config_versiones, the
/// row with secrets masked, carrying the transaction context and
/// `{"tipo_operacion": "CONFIG_GUARDADA" | "RESTAURACION", "config": ...}`.
fn registrar(
    g: &Guardar<'_>,
    id_version: i64,
    anterior: Option<i64>,
    fila: Jsonb,
    cambios: &Value,
) {
    let mut fila = fila.to_value("config_versiones").expect("a row reads back");
    fila["json_config"] = enmascarar(&fila["json_config"], &g.tipo.secretos);
    let campos: Vec<&String> = cambios
        .as_object()
        .map(|c| c.keys().collect())
        .unwrap_or_default();
    let mut detalle = json!({
        "tipo_operacion": "CONFIG_GUARDADA",
        "config": {"tipo": g.tipo.nombre, "id_version": id_version, "version_anterior": anterior, "campos_modificados": campos},
    });
    if let Some(origen) = g.restaurada_desde {
        detalle["tipo_operacion"] = json!("RESTAURACION");
        detalle["restauracion"] = json!({"funcion": "restaurar_config", "id_version": origen});
    }
    let pk = json!({ "id_version": id_version });
    let pk_jsonb = Jsonb::from_value(&pk);
    let registro_id =
        audit_model::record_id::registro_id("audit", "config_versiones", &pk_jsonb.to_text_bytes());
    let metadata = crate::events::context_with(&detalle);
    writer::write(&Event {
        change: Change::Insert {
            new_row: Jsonb::from_value(&fila).datum(),
        },
        esquema: Some("audit"),
        tabla: Some("config_versiones"),
        registro_id: Some(registro_id),
        registro_pk: Some(pk_jsonb.datum()),
        empresa_id: g.empresa.map(|u| *u.as_bytes()),
        metadata: Some(metadata.datum()),
        ..Default::default()
    });
}

/// The type of configuration version `id_version` and that type's active
/// version, for the report of a restore that failed
/// (`audit.restaurar_config`'s fallback, which cannot read them itself).
/// The caller's own tenant only, as every configuration function.
#[pg_extern(stable)]
#[search_path(pg_catalog, pg_temp)]
fn _config_de_version(id_version: i64) -> Jsonb {
    let empresa = acceso();
    let origen = version(id_version, empresa);
    let activa = super::activa(&origen.tipo, empresa).map(|v| v.id);
    Jsonb::from_value(&json!({"tipo": origen.tipo, "version_activa": activa}))
}

/// Validates `config` against the type's schema and saves it as the new
/// active version; returns its id. A document identical to the active one
/// saves nothing and returns the active id. With `version_base`, the save
/// happens only if that version is still the active one (40001 otherwise):
/// an edit form sends the version it was loaded from, and a concurrent
/// change is not silently overwritten.
#[pg_extern(volatile)]
#[search_path(pg_catalog, pg_temp)]
fn guardar_config(
    tipo: Option<&str>,
    config: Option<Jsonb>,
    comentario: default!(Option<&str>, "NULL"),
    version_base: default!(Option<i64>, "NULL"),
) -> i64 {
    let nombre = required(tipo, "tipo");
    let config = required(config, "config");
    let empresa = acceso();
    let tipo = super::tipo(nombre);
    let (texto, doc) = leer_documento(config, "config");
    guardar(Guardar {
        tipo: &tipo,
        empresa,
        jsonb: config,
        texto,
        doc,
        what: "the document".into(),
        comentario,
        restaurada_desde: None,
        version_base,
        simular: false,
    })
    .id_version
    .expect("a save that is not simulated has an id")
}

/// The save of `audit.restaurar_config`: version `id_version`'s document
/// as a new version, checked against the type's current schema. Returns
/// the report (shaped as in docs/restore.md). Callable only by roles that may call
/// `audit.restaurar_config` (its errors are turned into the fallback there).
#[pg_extern(volatile)]
#[search_path(pg_catalog, pg_temp)]
fn _restaurar_config(
    id_version: Option<i64>,
    simular: Option<bool>,
    comentario: Option<&str>,
) -> Jsonb {
    let id = required(id_version, "id_version");
    let simular = required(simular, "simular");
    let permitido = spi::value::<bool>(
        "SELECT pg_catalog.has_function_privilege('audit.restaurar_config(bigint, boolean, boolean, text)'::pg_catalog.regprocedure, 'EXECUTE')",
        &[],
    )
    .unwrap_or(false);
    if !permitido {
        fail::<()>(AuditError::ConfigAccess {
            detail: "Restoring a configuration version needs EXECUTE on audit.restaurar_config."
                .into(),
        });
    }
    let empresa = acceso();
    let origen = version(id, empresa);
    let tipo = tipo(&origen.tipo);
    let jsonb = origen.jsonb();
    let r = guardar(Guardar {
        tipo: &tipo,
        empresa,
        jsonb,
        texto: origen.texto,
        doc: origen.doc,
        what: format!("version {id}"),
        comentario,
        restaurada_desde: Some(id),
        version_base: None,
        simular,
    });
    let advertencias: Vec<String> = if r.nueva {
        vec![]
    } else {
        vec![format!(
            "version {id} has the active document: nothing to restore"
        )]
    };
    Jsonb::from_value(&json!({
        "aplicado": !simular,
        "simulado": simular,
        "tipo": tipo.nombre,
        "id_version_restaurada": id,
        "version_activa": r.version_activa,
        "id_version": r.id_version,
        "cambios": r.cambios,
        "advertencias": advertencias,
        "error": null,
    }))
}
