//! Reading the history (docs/reading.md): the query behind
//! `audit.get_historial_cambios` / `audit.historial_plano`, and
//! `audit.resumen`. The SQL functions around them are in
//! src/sql/lectura.sql. Everything here runs as the caller (SECURITY
//! INVOKER), so it sees the log through the caller's privileges and
//! row-level security, never around them.

use crate::elevation::as_log_owner;
use crate::error::{fail, AuditError};
use crate::sql_types::Jsonb;
use audit_model::filtros::{self, FiltroError, Paginacion};
use audit_model::resumen::{resumen as sentence, Evento};
use pgrx::datum::TimestampWithTimeZone;
use pgrx::pg_sys::panic::CaughtError;
use pgrx::prelude::*;
use pgrx::PgTryBuilder;
use serde_json::{Map, Value};
use std::ffi::CString;

fn to_pg_uuid(u: Option<uuid::Uuid>) -> Option<pgrx::Uuid> {
    u.as_ref().map(crate::identity::to_pg)
}

/// Why timestamptz input refused a text, as its error message says.
fn refused(e: CaughtError) -> Result<TimestampWithTimeZone, String> {
    let report = match e {
        CaughtError::PostgresError(r) | CaughtError::ErrorReport(r) => r,
        CaughtError::RustPanic { ereport, .. } => ereport,
    };
    Err(report.message().to_string())
}

/// A filter's date, read as a timestamptz literal is (session time zone,
/// every input format PostgreSQL accepts); a bad one is the filter's error.
fn timestamptz(key: &'static str, text: &str) -> TimestampWithTimeZone {
    let invalid = |message: String| -> ! {
        AuditError::Filtro(FiltroError::Invalid {
            key,
            message: format!("\"{text}\" is not a timestamp with time zone ({message})"),
        })
        .report()
    };
    // jsonb cannot hold a NUL character, so this is for completeness.
    let cstr = CString::new(text).unwrap_or_else(|_| invalid("it contains a NUL character".into()));
    use PgSqlErrorCode::*;
    PgTryBuilder::new(|| {
        // SAFETY: timestamptz_in takes a C string, a type OID and a typmod.
        Ok(unsafe {
            pgrx::direct_function_call::<TimestampWithTimeZone>(
                pg_sys::timestamptz_in,
                &[
                    Some(pg_sys::Datum::from(cstr.as_ptr())),
                    Some(pg_sys::Datum::from(pg_sys::InvalidOid)),
                    Some(pg_sys::Datum::from(-1i32)),
                ],
            )
        }
        .expect("timestamptz_in does not return NULL"))
    })
    // The errors timestamptz input raises for bad text (as pgrx's own
    // FromStr for dates catches them); anything else (a cancel, out of
    // memory) propagates as itself.
    .catch_when(ERRCODE_INVALID_DATETIME_FORMAT, refused)
    .catch_when(ERRCODE_DATETIME_FIELD_OVERFLOW, refused)
    .catch_when(ERRCODE_INVALID_TIME_ZONE_DISPLACEMENT_VALUE, refused)
    .catch_when(ERRCODE_INVALID_PARAMETER_VALUE, refused)
    .catch_when(ERRCODE_FEATURE_NOT_SUPPORTED, refused)
    .execute()
    .unwrap_or_else(|message| invalid(message))
}

/// Exact id bounds for a date range, from the time marks (bootstrap.sql,
/// `audit.marcas_tiempo`): events after `desde` have ids above the first,
/// events before `hasta` ids up to the second. Read as the log's owner: the
/// marks are not granted to anyone (they hold no tenant data, but there is
/// no reason to expose them).
fn id_bounds(
    desde: Option<TimestampWithTimeZone>,
    hasta: Option<TimestampWithTimeZone>,
) -> (Option<i64>, Option<i64>) {
    if desde.is_none() && hasta.is_none() {
        return (None, None);
    }
    // Only for who may read the log (the bounds only speed its reading up):
    // anyone else would learn, mark by mark, how many events it held when.
    let reader = crate::spi::read_value::<bool>(
        "SELECT pg_catalog.has_table_privilege('audit.historial_cambios', 'SELECT')",
        &[],
    );
    if reader != Some(true) {
        return (None, None);
    }
    as_log_owner(|| {
        crate::spi::first(
            "SELECT (SELECT m.ultimo_id FROM audit.marcas_tiempo m
                      WHERE m.instante < $1 ORDER BY m.instante DESC LIMIT 1),
                    (SELECT m.ultimo_id FROM audit.marcas_tiempo m
                      WHERE m.cerrado_hasta >= $2 ORDER BY m.cerrado_hasta LIMIT 1)",
            &[desde.into(), hasta.into()],
            |r| Ok((r.get::<i64>(1)?, r.get::<i64>(2)?)),
        )
        .expect("one row")
    })
}

/// The query for `filtros` and its parameters, in the order of
/// `audit_model::filtros::PARAMETROS`. One row. `exportar` drops the
/// default page size (historial_plano returns everything that matches
/// unless `limite` is given).
#[allow(clippy::type_complexity)]
#[pg_extern(stable, name = "_consulta_historial")]
#[search_path(pg_catalog, pg_temp)]
fn consulta_historial(
    filtros: Option<Jsonb>,
    exportar: bool,
) -> TableIterator<
    'static,
    (
        name!(sql, String),
        name!(empresa_id, Option<pgrx::Uuid>),
        name!(usuario_id, Option<pgrx::Uuid>),
        name!(registro_id, Option<pgrx::Uuid>),
        name!(desde, Option<TimestampWithTimeZone>),
        name!(hasta, Option<TimestampWithTimeZone>),
        name!(esquema, Option<String>),
        name!(tabla, Option<String>),
        name!(acciones, Option<Vec<String>>),
        name!(tipo_operacion, Option<String>),
        name!(metadata, Option<Jsonb>),
        name!(campo, Option<String>),
        name!(antes_de, Option<i64>),
        name!(limite, Option<i32>),
        name!(id_mayor_que, Option<i64>),
        name!(id_como_maximo, Option<i64>),
        name!(notas, Option<Jsonb>),
    ),
> {
    // No filters at all (SQL NULL) is the same as '{}'.
    let filtros_value = match filtros {
        None => Value::Object(Map::new()),
        Some(f) => f
            .to_value("filtros")
            .unwrap_or_else(|e| fail(AuditError::JsonDoc(e))),
    };
    let paginacion = if exportar {
        Paginacion::Todo
    } else {
        Paginacion::Pagina
    };
    let mut f =
        filtros::parse(&filtros_value, paginacion).unwrap_or_else(|e| fail(AuditError::Filtro(e)));
    let desde = f.desde.as_deref().map(|t| timestamptz("desde", t));
    let hasta = f.hasta.as_deref().map(|t| timestamptz("hasta", t));
    if let (Some(d), Some(h)) = (&desde, &hasta) {
        if d > h {
            fail::<()>(AuditError::Filtro(FiltroError::Invalid {
                key: "hasta",
                message: format!(
                    "\"{}\" is earlier than \"desde\" (\"{}\")",
                    f.hasta.as_deref().unwrap_or_default(),
                    f.desde.as_deref().unwrap_or_default()
                ),
            }));
        }
    }
    (f.id_mayor_que, f.id_como_maximo) = id_bounds(desde, hasta);
    // One tenant's events, by an equality an index can use: named by the
    // filter, or all the caller may read (row-level security applies to
    // every caller but superusers, BYPASSRLS roles and the owner), unless
    // events without a tenant are readable too (the policy is then an OR,
    // which no index serves: audit.leer_eventos_sin_empresa). Only a
    // metadata containment's page depends on it: the catalog is read for
    // those alone.
    f.una_empresa = f.empresa_id.is_some()
        || (f.con_contencion()
            && crate::spi::value::<bool>(
                "SELECT pg_catalog.row_security_active('audit.historial_cambios'::pg_catalog.regclass)",
                &[],
            )
            .unwrap_or(false)
            && !crate::lectura_sin_empresa::is_allowed());
    if let (Some(pk), Some(tabla)) = (f.registro_pk.take(), &f.tabla) {
        // A row's key, as the row's id: the same index as registro_id.
        let relid = keyed_table(tabla);
        let id =
            crate::registro::id_of(relid, Jsonb::from_value(&Value::Object(pk)), "registro_pk");
        f.registro_id = Some(uuid::Uuid::from_bytes(*id.as_bytes()));
    }
    let (esquema, tabla) = match &f.tabla {
        Some(t) => (t.schema.clone(), Some(t.name.clone())),
        None => (None, None),
    };
    let row = (
        f.sql(),
        to_pg_uuid(f.empresa_id),
        to_pg_uuid(f.usuario_id),
        to_pg_uuid(f.registro_id),
        desde,
        hasta,
        esquema,
        tabla,
        f.acciones
            .as_ref()
            .map(|a| a.iter().map(|s| s.to_string()).collect()),
        f.tipo_operacion.clone(),
        f.metadata.map(|m| Jsonb::from_value(&Value::Object(m))),
        f.campo.clone(),
        f.antes_de,
        f.limite,
        f.id_mayor_que,
        f.id_como_maximo,
        f.notas.map(|m| Jsonb::from_value(&Value::Object(m))),
    );
    TableIterator::once(row)
}

/// The table whose row a `registro_pk` filter names: `tabla` as given, with
/// its schema, or else the one audited table of that name.
fn keyed_table(tabla: &audit_model::qualified_name::QualifiedName) -> pg_sys::Oid {
    let refuse = |message: String| -> ! {
        fail(AuditError::Filtro(FiltroError::Invalid {
            key: "registro_pk",
            message,
        }))
    };
    match &tabla.schema {
        Some(schema) => crate::spi::read_value::<pg_sys::Oid>(
            "SELECT pg_catalog.to_regclass(pg_catalog.format('%I.%I', $1, $2))::pg_catalog.oid",
            &[schema.as_str().into(), tabla.name.as_str().into()],
        )
        .unwrap_or_else(|| refuse(format!("table {schema}.{} does not exist", tabla.name))),
        None => {
            let found = crate::spi::rows(
                "SELECT t.tabla::pg_catalog.oid AS oid FROM audit.tablas_auditadas t WHERE t.nombre = $1",
                &[tabla.name.as_str().into()],
                |r| r.get_by_name::<pg_sys::Oid, _>("oid"),
            );
            match found.as_slice() {
                [Some(oid)] => *oid,
                [] => refuse(format!(
                    "no audited table is named {}: name it with its schema",
                    tabla.name
                )),
                _ => refuse(format!(
                    "more than one audited table is named {}: name it with its schema",
                    tabla.name
                )),
            }
        }
    }
}

/// A snapshot as an object; nothing when absent (or, for a label, too deep
/// to read: the line is still written, without it).
fn object(j: Option<Jsonb>, name: &'static str) -> Option<Map<String, Value>> {
    match j.map(|j| j.to_value(name)) {
        Some(Ok(Value::Object(m))) => Some(m),
        _ => None,
    }
}

/// One line for a timeline: who did what to which row.
#[pg_extern(stable, parallel_safe)]
#[search_path(pg_catalog, pg_temp)]
fn resumen(evento_id: i64) -> String {
    let row = crate::spi::first(
        "SELECT accion, usuario_nombre, usuario_id::text, usuario_externo, rol_bd, esquema,
                tabla_afectada, coalesce(datos_nuevos, datos_anteriores), registro_pk,
                campos_modificados, metadata ->> 'tipo_operacion'
           FROM audit.historial_cambios
          WHERE id = $1",
        &[evento_id.into()],
        |r| {
            Ok((
                r.get::<String>(1)?.unwrap_or_default(),
                r.get::<String>(2)?,
                r.get::<String>(3)?,
                r.get::<String>(4)?,
                r.get::<String>(5)?.unwrap_or_default(),
                r.get::<String>(6)?,
                r.get::<String>(7)?,
                // Read here: the datums live only as long as the SPI call.
                object(r.get::<Jsonb>(8)?, "datos"),
                object(r.get::<Jsonb>(9)?, "registro_pk"),
                r.get::<Vec<String>>(10)?.unwrap_or_default(),
                r.get::<String>(11)?,
            ))
        },
    )
    .unwrap_or_else(|| fail(AuditError::EventNotFound(evento_id)));
    sentence(&Evento {
        accion: &row.0,
        usuario_nombre: row.1.as_deref(),
        usuario_id: row.2.as_deref(),
        usuario_externo: row.3.as_deref(),
        rol_bd: &row.4,
        esquema: row.5.as_deref(),
        tabla: row.6.as_deref(),
        fila: row.7.as_ref(),
        registro_pk: row.8.as_ref(),
        campos_modificados: &row.9,
        tipo_operacion: row.10.as_deref(),
    })
}
