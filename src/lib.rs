//! `audit`: a trustworthy change history ("caja negra") for PostgreSQL.
//!
//! How the code is organised (module map, naming, SQL and unsafe rules,
//! per-backend state): docs/development.md.
//!
//! The pure algorithms live in the `audit-model` crate (no PostgreSQL).

use pgrx::pg_sys;
use pgrx::prelude::*;

::pgrx::pg_module_magic!(name, version);

// The write path uses PostgreSQL 15's executor API (src/capture/log_insert.rs);
// the other versions' features exist for the port, which is not done yet.
#[cfg(not(feature = "pg15"))]
compile_error!("audit is built and tested for PostgreSQL 15 only; build with --features pg15");

mod alertas;
mod backend;
mod capture;
mod catalog;
mod configuracion;
mod datums;
mod ddl;
mod ddl_guard;
mod elevation;
mod error;
mod events;
mod guc;
mod historial;
mod identity;
mod json_functions;
mod lectura_sin_empresa;
mod ledger;
mod registro;
mod restauracion;
mod seguimiento;
mod spi;
mod sql_types;
mod tables;
mod wal;

#[cfg(any(test, feature = "pg_test"))]
mod test_support;

extension_sql_file!("sql/bootstrap.sql", name = "bootstrap", bootstrap);
extension_sql_file!(
    "sql/mantenimiento.sql",
    name = "mantenimiento",
    requires = [ledger::sellado::sellar, guc::_retencion_meses]
);
extension_sql_file!(
    "sql/lectura.sql",
    name = "lectura",
    requires = [historial::consulta_historial, historial::resumen]
);
extension_sql_file!(
    "sql/restauracion_comun.sql",
    name = "restauracion_comun",
    requires = [
        restauracion::estructuras::_mapear_columnas,
        restauracion::estructuras::_estructura_actual,
        restauracion::log_tecnico::_escribir_log_tecnico,
        events::establecer_contexto,
        "bootstrap"
    ]
);
extension_sql_file!(
    "sql/restauracion.sql",
    name = "restauracion",
    requires = ["restauracion_comun"]
);
extension_sql_file!(
    "sql/modulos.sql",
    name = "modulos",
    requires = [
        "restauracion_comun",
        restauracion::modulos::_tablas_modulo,
        restauracion::modulos::_orden_padres_primero
    ]
);
extension_sql_file!(
    "sql/configuracion.sql",
    name = "configuracion",
    requires = [
        "restauracion_comun",
        configuracion::guardar::_restaurar_config,
        configuracion::guardar::_config_de_version
    ]
);
extension_sql_file!("sql/finalize.sql", name = "finalize", finalize);

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    // Long computations on callers' input (audit_model::interrupcion) stop
    // when the backend must: statement_timeout, a cancel, a shutdown.
    audit_model::interrupcion::instalar(|| {
        pgrx::check_for_interrupts!();
    });
    guc::init();
    backend::init();
    // SAFETY: a flag PostgreSQL sets while it loads shared_preload_libraries.
    if unsafe { pg_sys::process_shared_preload_libraries_in_progress } {
        wal::init_preloaded();
    }
}

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    /// As production runs it: preloaded (capture from the WAL's workers and
    /// shared memory exist), with logical decoding available.
    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec!["shared_preload_libraries = 'audit'", "wal_level = logical"]
    }
}
