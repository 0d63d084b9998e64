//! Modules (groups of tables rolled back together) and their marks.
//!
//! Both tables are the extension's: only these functions write them, as the
//! log's owner, after checking the caller's arguments and, for a mark,
//! taking the caller's locks on the module's tables (which PostgreSQL allows
//! only to roles that may write them).

use crate::capture::session;
use crate::elevation::as_log_owner;
use crate::error::{fail, required, AuditError};
use crate::spi;
use crate::sql_types::Regclass;
use audit_model::restauracion::orden::padres_primero;
use pgrx::prelude::*;

fn nombre_valido(valor: Option<&str>, name: &'static str) -> String {
    let valor = required(valor, name);
    if valor.trim().is_empty() {
        fail::<()>(AuditError::InvalidArgument {
            name,
            message: "it must not be empty".into(),
        });
    }
    valor.to_string()
}

/// Creates a module: a named group of audited tables, each with a key.
#[pg_extern(volatile)]
#[search_path(pg_catalog, pg_temp)]
fn crear_modulo(nombre: Option<&str>, tablas: Option<Vec<Option<Regclass>>>) {
    let nombre = nombre_valido(nombre, "nombre");
    let tablas = required(tablas, "tablas");
    if tablas.is_empty() {
        fail::<()>(AuditError::InvalidArgument {
            name: "tablas",
            message: "a module needs at least one table".into(),
        });
    }
    let mut vistas: Vec<pg_sys::Oid> = Vec::with_capacity(tablas.len());
    for tabla in tablas {
        let Regclass(tabla) = required(tabla, "tablas[]");
        let nombre_tabla = crate::catalog::relation_name(tabla)
            .map(|(s, t)| crate::catalog::qualified_name(&s, &t))
            .unwrap_or_else(|| fail(AuditError::UndefinedTable(tabla.to_u32())));
        if vistas.contains(&tabla) {
            fail::<()>(AuditError::InvalidArgument {
                name: "tablas",
                message: format!("table {nombre_tabla} is listed more than once"),
            });
        }
        // The same checks as every restore of the table (audited, with a
        // key), raising the same errors (55000).
        spi::run(
            "SELECT audit._info_restauracion($1)",
            &[Regclass(tabla).into()],
        );
        vistas.push(tabla);
    }
    let existe = as_log_owner(|| {
        spi::value::<bool>(
            "SELECT EXISTS (SELECT FROM audit.modulos WHERE nombre = $1)",
            &[nombre.as_str().into()],
        )
    });
    if existe == Some(true) {
        fail::<()>(AuditError::Duplicate {
            what: "module",
            name: nombre.clone(),
        });
    }
    let creador = session::database_role().to_string();
    let oids: Vec<pg_sys::Oid> = vistas;
    as_log_owner(|| {
        spi::run(
            "INSERT INTO audit.modulos (nombre, tablas, creado_por) VALUES ($1, $2::pg_catalog.oid[]::pg_catalog.regclass[], $3)",
            &[nombre.as_str().into(), oids.into(), creador.into()],
        )
    });
}

/// The tables of `modulo` in the fixed order every lock on them is taken
/// in (by qualified name), so that marks and rollbacks never deadlock each
/// other. Raises when the module does not exist or a table is gone.
pub fn tablas_del_modulo(modulo: &str) -> Vec<pg_sys::Oid> {
    let tablas = as_log_owner(|| {
        spi::first(
            "SELECT tablas::pg_catalog.oid[] FROM audit.modulos WHERE nombre = $1",
            &[modulo.into()],
            |row| row.get::<Vec<pg_sys::Oid>>(1),
        )
    })
    .flatten()
    .unwrap_or_else(|| fail(AuditError::ModuleNotFound(modulo.to_string())));
    let mut con_nombre: Vec<(String, pg_sys::Oid)> = tablas
        .into_iter()
        .map(|t| {
            let nombre = crate::catalog::relation_name(t)
                .map(|(s, n)| crate::catalog::qualified_name(&s, &n))
                .unwrap_or_else(|| fail(AuditError::UndefinedTable(t.to_u32())));
            (nombre, t)
        })
        .collect();
    con_nombre.sort_by(|a, b| a.0.cmp(&b.0));
    con_nombre.into_iter().map(|(_, t)| t).collect()
}

/// The module's tables in lock order (see [`tablas_del_modulo`]).
#[pg_extern(stable, strict)]
#[search_path(pg_catalog, pg_temp)]
fn _tablas_modulo(modulo: &str) -> Vec<Regclass> {
    tablas_del_modulo(modulo)
        .into_iter()
        .map(Regclass)
        .collect()
}

/// Sets a mark on a module and returns its id.
///
/// The module's tables are locked in SHARE mode (in the fixed order) for the
/// rest of the transaction: the lock waits for every transaction writing to
/// them and holds new writers back, so every event of those tables is
/// either below the mark's id and committed, or written after this
/// transaction ends with a higher id. Locking needs UPDATE, DELETE or
/// TRUNCATE privilege on each table: a role that cannot change the tables
/// cannot set marks on them.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn crear_marca(modulo: Option<&str>, nombre: Option<&str>) -> i64 {
    let modulo = nombre_valido(modulo, "modulo");
    let nombre = nombre_valido(nombre, "nombre");
    let tablas = tablas_del_modulo(&modulo);
    let existe = as_log_owner(|| {
        spi::value::<bool>(
            "SELECT EXISTS (SELECT FROM audit.marcas WHERE modulo = $1 AND nombre = $2)",
            &[modulo.as_str().into(), nombre.as_str().into()],
        )
    });
    if existe == Some(true) {
        fail::<()>(AuditError::DuplicateMark {
            modulo: modulo.clone(),
            nombre: nombre.clone(),
        });
    }
    for tabla in &tablas {
        spi::run(
            &format!(
                "LOCK TABLE {} IN SHARE MODE",
                crate::catalog::regclass_text(*tabla)
            ),
            &[],
        );
    }
    // With the tables locked no change to them can commit; the ones
    // captured from the WAL that already did must be in the log before the
    // mark is read from it.
    crate::wal::estado::wait(30_000_000, "30 seconds");
    let ultimo = super::ultimo_evento();
    let creador = session::database_role().to_string();
    as_log_owner(|| {
        spi::value::<i64>(
            "INSERT INTO audit.marcas (modulo, nombre, ultimo_id, creada_por) VALUES ($1, $2, $3, $4) RETURNING id",
            &[modulo.as_str().into(), nombre.as_str().into(), ultimo.into(), creador.into()],
        )
    })
    .expect("INSERT ... RETURNING returns the row")
}

/// The tables in the order rows are inserted and updated (parents first;
/// deletes go in reverse), each with whether it is in a cycle of foreign
/// keys that no order satisfies.
#[pg_extern(stable, strict)]
#[search_path(pg_catalog, pg_temp)]
fn _orden_padres_primero(
    tablas: Vec<Regclass>,
) -> TableIterator<'static, (name!(tabla, Regclass), name!(en_ciclo, bool))> {
    let tablas: Vec<pg_sys::Oid> = tablas.into_iter().map(|Regclass(t)| t).collect();
    let referencias = spi::rows(
        "SELECT conrelid, confrelid FROM pg_catalog.pg_constraint
          WHERE contype = 'f'
            AND conrelid = ANY ($1) AND confrelid = ANY ($1)",
        &[tablas.clone().into()],
        |row| {
            Ok((
                row.get::<pg_sys::Oid>(1)?.unwrap_or_default(),
                row.get::<pg_sys::Oid>(2)?.unwrap_or_default(),
            ))
        },
    );
    let (orden, ciclo) = padres_primero(&tablas, &referencias);
    TableIterator::new(
        orden
            .into_iter()
            .map(move |t| (Regclass(t), ciclo.contains(&t)))
            .collect::<Vec<_>>(),
    )
}
