//! Reading versions: the active document, the history, a comparison.
//! Each reads only the caller's tenant (see `acceso`).

use super::{acceso, activa, diferencias, tipo, version, EMPRESA_PARAM_SQL, EMPRESA_SQL};
use crate::elevation::as_log_owner;
use crate::error::{fail, required, AuditError};
use crate::spi;
use crate::sql_types::Jsonb;
use audit_model::configuracion::secretos::enmascarar;
use pgrx::heap_tuple::PgHeapTuple;
use pgrx::prelude::*;
use pgrx::{composite_type, AllocatedByRust, IntoDatum};

/// The active document of `tipo` as it was saved, secrets included (this
/// is the application's own read of its settings); NULL when none was
/// saved yet.
#[pg_extern(stable)]
#[search_path(pg_catalog, pg_temp)]
fn config_actual(tipo: Option<&str>) -> Option<Jsonb> {
    let nombre = required(tipo, "tipo");
    let empresa = acceso();
    let tipo = super::tipo(nombre);
    activa(&tipo.nombre, empresa).map(|v| v.jsonb())
}

/// A row of audit.config_versiones, read out of SPI's memory (the
/// composite rows are built after the SPI connection has ended).
struct Guardada {
    id_version: i64,
    tipo: String,
    json_config: serde_json::Value,
    fecha_guardado: pgrx::datum::TimestampWithTimeZone,
    guardado_por: Option<pgrx::Uuid>,
    empresa_id: Option<pgrx::Uuid>,
    comentario: Option<String>,
    restaurada_desde: Option<i64>,
    version_anterior: Option<i64>,
    usuario_nombre: Option<String>,
    rol_bd: String,
    transaccion: i64,
}

type Fila = PgHeapTuple<'static, AllocatedByRust>;

fn poner<T: IntoDatum>(fila: &mut Fila, columna: &str, valor: T) {
    fila.set_by_name(columna, valor)
        .unwrap_or_else(|e| panic!("audit.config_versiones.{columna}: {e}"));
}

/// Every version of `tipo` of the caller's tenant, newest first (the first
/// row is the active one), secret fields shown as "***".
#[pg_extern(stable, requires = ["bootstrap"])]
#[search_path(pg_catalog, pg_temp)]
fn historial_config(
    tipo: Option<&str>,
) -> SetOfIterator<'static, composite_type!('static, "audit.config_versiones")> {
    let nombre = required(tipo, "tipo");
    let empresa = acceso();
    let tipo = super::tipo(nombre);
    let guardadas: Vec<Guardada> = as_log_owner(|| {
        spi::rows(
            &format!(
                "SELECT id_version, tipo, json_config, fecha_guardado, guardado_por, empresa_id, comentario,
                        restaurada_desde, version_anterior, usuario_nombre, rol_bd, transaccion
                   FROM audit.config_versiones
                  WHERE tipo = $1 AND {EMPRESA_SQL} = {EMPRESA_PARAM_SQL}
                  ORDER BY id_version DESC"
            ),
            &[tipo.nombre.as_str().into(), empresa.into()],
            |r| {
                Ok(Guardada {
                    id_version: r.get(1)?.expect("NOT NULL"),
                    tipo: r.get(2)?.expect("NOT NULL"),
                    json_config: r
                        .get::<Jsonb>(3)?
                        .expect("NOT NULL")
                        .to_value("json_config")
                        .expect("stored documents were read when they were saved"),
                    fecha_guardado: r.get(4)?.expect("NOT NULL"),
                    guardado_por: r.get(5)?,
                    empresa_id: r.get(6)?,
                    comentario: r.get(7)?,
                    restaurada_desde: r.get(8)?,
                    version_anterior: r.get(9)?,
                    usuario_nombre: r.get(10)?,
                    rol_bd: r.get(11)?.expect("NOT NULL"),
                    transaccion: r.get(12)?.expect("NOT NULL"),
                })
            },
        )
    });
    let filas: Vec<Fila> = guardadas
        .into_iter()
        .map(|g| {
            let mut fila = PgHeapTuple::new_composite_type("audit.config_versiones")
                .expect("the row type of audit.config_versiones exists");
            poner(&mut fila, "id_version", g.id_version);
            poner(&mut fila, "tipo", g.tipo);
            poner(
                &mut fila,
                "json_config",
                Jsonb::from_value(&enmascarar(&g.json_config, &tipo.secretos)),
            );
            poner(&mut fila, "fecha_guardado", g.fecha_guardado);
            poner(&mut fila, "guardado_por", g.guardado_por);
            poner(&mut fila, "empresa_id", g.empresa_id);
            poner(&mut fila, "comentario", g.comentario);
            poner(&mut fila, "restaurada_desde", g.restaurada_desde);
            poner(&mut fila, "version_anterior", g.version_anterior);
            poner(&mut fila, "usuario_nombre", g.usuario_nombre);
            poner(&mut fila, "rol_bd", g.rol_bd);
            poner(&mut fila, "transaccion", g.transaccion);
            fila
        })
        .collect();
    SetOfIterator::new(filas)
}

/// `jsonb_diff` from version `version_a` to `version_b` (default: the
/// active version of the same type), secret fields shown as "***" (a
/// changed secret still shows as changed).
#[pg_extern(stable)]
#[search_path(pg_catalog, pg_temp)]
fn comparar_config(version_a: Option<i64>, version_b: default!(Option<i64>, "NULL")) -> Jsonb {
    let a = required(version_a, "version_a");
    let empresa = acceso();
    let a = version(a, empresa);
    let b = match version_b {
        Some(b) => version(b, empresa),
        None => activa(&a.tipo, empresa).expect("a type with a version has an active one"),
    };
    if a.tipo != b.tipo {
        fail::<()>(AuditError::InvalidArgument {
            name: "version_b",
            message: format!(
                "versions {} and {} are of different types ({} and {})",
                a.id, b.id, a.tipo, b.tipo
            ),
        });
    }
    let tipo = tipo(&a.tipo);
    Jsonb::from_value(&diferencias(Some(&a.doc), &b.doc, &tipo.secretos))
}
