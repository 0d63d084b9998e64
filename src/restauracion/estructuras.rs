//! The columns of audited tables over time (`audit.estructuras_tabla`), and
//! how snapshots map onto a table as it is now (schema drift).

use super::ULTIMO_EVENTO;
use crate::elevation::as_log_owner;
use crate::error::{fail, AuditError};
use crate::spi;
use crate::sql_types::{Jsonb, Regclass};
use audit_model::restauracion::estructura::{mapear, Estructura};
use pgrx::prelude::*;

/// A table's live columns as `[{"n": attnum, "c": name, "t": type}]`, in
/// column order. The type is without modifier (see `Columna::t`).
const ESTRUCTURA: &str = "
    SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
               'n', a.attnum, 'c', a.attname, 't', pg_catalog.format_type(a.atttypid, NULL))
             ORDER BY a.attnum), '[]'::pg_catalog.jsonb)
      FROM pg_catalog.pg_attribute a
     WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped";

/// The columns of `tabla` now, in the form `audit.estructuras_tabla` keeps.
#[pg_extern(stable, parallel_safe)]
#[search_path(pg_catalog, pg_temp)]
fn _estructura_actual(tabla: Regclass) -> Jsonb {
    spi::value::<Jsonb>(ESTRUCTURA, &[tabla.into()]).expect("jsonb_agg with COALESCE is never NULL")
}

/// Records the name and columns of `relid` when it is an audited table
/// (not a partition: partitions have their root's columns) and they differ
/// from the last recorded version: a new version, after any other of the
/// same desde_id (ALTER TABLEs with no event between them), never in its
/// place. Called when auditing starts and after every
/// ALTER TABLE; runs as the log's owner, whoever ran the DDL.
pub fn registrar(relid: pg_sys::Oid) {
    as_log_owner(|| {
        // A database whose extension is still at 0.2.0 (not updated since
        // this library was installed) has no `version` column: there a new
        // version of the same desde_id replaces the last, as it did then.
        let versioned = spi::read_value::<bool>(
            "SELECT EXISTS (SELECT FROM pg_catalog.pg_attribute
                             WHERE attrelid = pg_catalog.to_regclass('audit.estructuras_tabla')
                               AND attname = 'version' AND NOT attisdropped)",
            &[],
        ) == Some(true);
        let (version_column, version_value, order, conflict) = if versioned {
            (
                ", version",
                ", COALESCE((SELECT pg_catalog.max(e3.version) FROM audit.estructuras_tabla e3
                              WHERE e3.tabla = $1 AND e3.desde_id = (SELECT id FROM desde)), 0) + 1",
                "e2.desde_id DESC, e2.version DESC",
                "",
            )
        } else {
            (
                "",
                "",
                "e2.desde_id DESC",
                "ON CONFLICT (tabla, desde_id) DO UPDATE SET nombre = EXCLUDED.nombre, columnas = EXCLUDED.columnas",
            )
        };
        spi::run(
            &format!(
                "WITH actual AS ({ESTRUCTURA}), desde AS (SELECT {ULTIMO_EVENTO} AS id)
                 INSERT INTO audit.estructuras_tabla AS e (tabla, desde_id, nombre, columnas{version_column})
                 SELECT $1, (SELECT id FROM desde), a.nombre, a.columnas{version_value}
                   FROM (SELECT (SELECT * FROM actual) AS columnas, $2 AS nombre) a
                  WHERE EXISTS (SELECT FROM audit.tablas_config c WHERE c.tabla = $1)
                    AND NOT EXISTS (
                        SELECT FROM (SELECT e2.nombre, e2.columnas FROM audit.estructuras_tabla e2
                                      WHERE e2.tabla = $1 ORDER BY {order} LIMIT 1) ultima
                         WHERE ultima.nombre = a.nombre AND ultima.columnas = a.columnas)
                 {conflict}"
            ),
            &[
                Regclass(relid).into(),
                crate::catalog::regclass_text(relid).into(),
            ],
        )
    });
}

/// How snapshots with the keys `claves` (`{"column": has a non-NULL value}`)
/// map onto a table whose recorded structures since the oldest snapshot are
/// `versiones` (oldest first, the last being the table now). Columns in
/// `no_escribibles` (generated ones) are never written. Returns the mapping
/// (`audit_model::restauracion::estructura::Mapeo`) with a message per
/// problem.
#[pg_extern(immutable, parallel_safe)]
#[search_path(pg_catalog, pg_temp)]
fn _mapear_columnas(versiones: Jsonb, claves: Jsonb, no_escribibles: Vec<String>) -> Jsonb {
    let versiones: Vec<Estructura> = serde_json::from_value(
        versiones
            .to_value("versiones")
            .unwrap_or_else(|e| fail(AuditError::JsonDoc(e))),
    )
    .unwrap_or_else(|e| {
        fail(AuditError::InvalidArgument {
            name: "versiones",
            message: e.to_string(),
        })
    });
    let claves: Vec<(String, bool)> = match claves
        .to_value("claves")
        .unwrap_or_else(|e| fail(AuditError::JsonDoc(e)))
    {
        serde_json::Value::Object(m) => m
            .into_iter()
            .map(|(k, v)| (k, v.as_bool().unwrap_or(true)))
            .collect(),
        _ => fail(AuditError::InvalidArgument {
            name: "claves",
            message: "it must be an object".into(),
        }),
    };
    let mapeo = mapear(&versiones, &claves, &no_escribibles);
    let mut json = serde_json::to_value(&mapeo).expect("plain data serializes");
    if let Some(problemas) = json.get_mut("problemas").and_then(|p| p.as_array_mut()) {
        for (p, problema) in problemas.iter_mut().zip(&mapeo.problemas) {
            p["mensaje"] = problema.mensaje().into();
        }
    }
    Jsonb::from_value(&json)
}
