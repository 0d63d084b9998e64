//! `audit.leer_eventos_sin_empresa(permitir)`: whether reader roles also
//! read the events that carry no tenant (docs/security.md, "Single-tenant
//! deployments").
//!
//! The switch is the row-level security policy itself, not a setting read
//! by the policy: PostgreSQL plans a query with its policies' expressions,
//! and a policy that always said "or the event has no tenant, when the
//! setting is on" would cost every tenant's page its ordered index scan on
//! `(empresa_id, id)` (an `OR` is no index condition), whether the setting
//! is on or not. So the restrictive policy `misma_empresa` of the log and of
//! the technical log is rewritten: with `permitir` it also passes events
//! without a tenant; without, it is again exactly the install script's.

use crate::ddl_guard::own_ddl;
use crate::elevation::as_log_owner;
use crate::error::required;
use crate::spi;
use pgrx::prelude::*;

/// The tables whose `misma_empresa` policy the switch rewrites.
const TABLES: [&str; 2] = ["audit.historial_cambios", "audit.log_tecnico"];

/// The policy as the install script creates it (src/sql/finalize.sql).
const SAME_TENANT: &str = "empresa_id OPERATOR(pg_catalog.=) (SELECT audit.empresa_actual())";
/// The policy while events without a tenant are readable.
const SAME_TENANT_OR_NONE: &str =
    "empresa_id IS NULL OR empresa_id OPERATOR(pg_catalog.=) (SELECT audit.empresa_actual())";

/// Lets reader roles read the events without a tenant (`permitir` true), or
/// not (false, as installed). Recorded in the log as an application event
/// (`LECTURA_SIN_EMPRESA`) when it changes something. EXECUTE is for the
/// roles a DBA grants it to.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn leer_eventos_sin_empresa(permitir: Option<bool>) {
    let permitir = required(permitir, "permitir");
    if is_allowed() == permitir {
        return;
    }
    let qual = if permitir {
        SAME_TENANT_OR_NONE
    } else {
        SAME_TENANT
    };
    // The policies are the log owner's objects; the DDL guard refuses
    // changes to them from anyone but the extension itself.
    as_log_owner(|| {
        own_ddl(|| {
            for table in TABLES {
                spi::run(
                    &format!("ALTER POLICY misma_empresa ON {table} USING ({qual})"),
                    &[],
                );
            }
        })
    });
    spi::run(
        "SELECT audit.registrar_evento('LECTURA_SIN_EMPRESA', pg_catalog.jsonb_build_object('permitir', $1))",
        &[permitir.into()],
    );
}

/// Whether the log's policy passes events without a tenant now.
pub fn is_allowed() -> bool {
    spi::value::<bool>(
        "SELECT pg_catalog.pg_get_expr(polqual, polrelid) LIKE '%empresa_id IS NULL%'
           FROM pg_catalog.pg_policy
          WHERE polrelid = 'audit.historial_cambios'::pg_catalog.regclass
            AND polname = 'misma_empresa'",
        &[],
    )
    .unwrap_or(false)
}
