//! Every user-facing failure of the extension, each with its SQLSTATE.
//!
//! Functions raise these through [`AuditError::report`], never by returning
//! `Err` to pgrx (which would flatten every error to SQLSTATE 22000).
//! Messages follow PostgreSQL's style guide: a lower-case primary message
//! without a final period; detail and hint as full sentences.

use audit_model::configuracion::esquema::{EsquemaInvalido, Violacion};
use audit_model::filtros::FiltroError;
use audit_model::json_doc::JsonDocError;
use audit_model::json_patch_apply::PatchFailure;
use audit_model::options::OptionsError;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::{function_name, PgLogLevel, PgSqlErrorCode};

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("invalid options for audit.auditar: {0}")]
    InvalidOptions(OptionsError),

    #[error("column \"{column}\" of relation {table} does not exist")]
    UndefinedColumn {
        table: String,
        column: String,
        option: &'static str,
    },

    #[error("column \"{column}\" of relation {table} has type {found}, but {option} needs a uuid column")]
    TenantColumnNotUuid {
        table: String,
        column: String,
        found: String,
        option: &'static str,
    },

    #[error("cannot audit {what} {table}")]
    NotAuditable {
        table: String,
        what: &'static str,
        detail: String,
        hint: Option<String>,
    },

    #[error("table {0} has a primary key; columnas_clave is only for tables without one")]
    KeyColumnsWithPrimaryKey(String),

    #[error("\"captura\": \"{mode}\" is not available for table {table}")]
    CaptureModeUnsupported { mode: &'static str, table: String },

    /// Capture from the WAL lacks a server prerequisite.
    #[error("capture from the WAL needs {what}")]
    WalCaptureUnavailable { what: String, hint: String },

    #[error("cannot create the capture slot {0} in a transaction that has already written")]
    WalSlotInWritingTransaction(String),

    /// A table captured from the WAL is written in a database without its
    /// capture slot, in a transaction that cannot create it.
    #[error("this database has no capture slot ({0}) for its tables captured from the WAL")]
    WalSlotMissing(String),

    #[error("the capture slot {0} was not ready within 1 minute")]
    SlotCreationTimeout(String),

    /// `already_captured`: the table is captured from the WAL and a command
    /// would make it unlogged (rather than `auditar` finding it unlogged).
    #[error("cannot capture unlogged table {table} from the WAL")]
    UnloggedNotWal {
        table: String,
        already_captured: bool,
    },

    /// The key that signs context messages (src/wal/clave.rs) cannot be
    /// read or written; `damaged`: the file is there but is not a key.
    #[error("the key of capture from the WAL, {file}, {problem}")]
    WalKeyFile {
        file: String,
        problem: String,
        damaged: bool,
    },

    #[error("capture from the WAL did not catch up within {tiempo}")]
    CaptureTimeout {
        tiempo: String,
        esperado: String,
        aplicado: String,
    },

    /// The capture trigger fired in a way it cannot record (at run time).
    #[error("{0}")]
    TriggerMisuse(String),

    /// A capture trigger was created in a way it cannot record (at CREATE TRIGGER).
    #[error("{0}")]
    InvalidTriggerDefinition(String),

    /// A second capture of the same changes (at CREATE TRIGGER): `by` is
    /// the trigger that captures them already.
    #[error("table {table} is already captured by trigger \"{by}\"")]
    CapturedTwice { table: String, by: String },

    /// A regclass given as a bare OID that names no relation.
    #[error("relation with OID {0} does not exist")]
    UndefinedTable(u32),

    #[error("permission denied to audit table {0}")]
    NotAllowedToAudit(String),

    #[error("{name} must not be null")]
    NullArgument { name: &'static str },

    #[error("invalid value for {name}: {message}")]
    InvalidArgument { name: &'static str, message: String },

    /// A filter of get_historial_cambios / historial_plano.
    #[error("{0}")]
    Filtro(FiltroError),

    /// A jsonb argument too deep (or, impossibly, not JSON) for the diff functions.
    #[error("{0}")]
    JsonDoc(JsonDocError),

    #[error("{0}")]
    Patch(PatchFailure),

    /// DDL that would weaken the extension's own objects.
    #[error("{what}")]
    ProtectedObject { what: String, hint: String },

    /// DDL that would leave an audited table without its capture.
    #[error("cannot stop capturing changes of table {table}")]
    CaptureWouldStop { table: String, missing: String },

    /// `ALTER COLUMN ... TYPE ... USING` on an audited table, by a role that
    /// may not stop auditing: it rewrites the rows' values unrecorded.
    #[error("cannot change the type of column {column} of audited table {table} with USING, or through types or casts that are not built in")]
    RetypeUsing { table: String, column: String },

    /// Work that must read what committed up to now, called in a
    /// transaction whose snapshot is older.
    #[error("{what} cannot run in a {isolation} transaction")]
    NotInReadCommitted {
        what: &'static str,
        isolation: String,
    },

    /// An event id that names no event the caller can see.
    #[error("event {0} does not exist")]
    EventNotFound(i64),

    #[error("module \"{0}\" does not exist")]
    ModuleNotFound(String),

    #[error("{what} \"{name}\" already exists")]
    Duplicate { what: &'static str, name: String },

    #[error("mark \"{nombre}\" already exists in module \"{modulo}\"")]
    DuplicateMark { modulo: String, nombre: String },

    #[error("configuration type \"{0}\" does not exist")]
    ConfigTypeNotFound(String),

    /// A version id that names no version the caller can see.
    #[error("configuration version {0} does not exist")]
    ConfigVersionNotFound(i64),

    /// The caller's identity may not use configuration documents.
    #[error("permission denied for configuration documents")]
    ConfigAccess { detail: String },

    #[error("invalid JSON Schema for configuration type \"{tipo}\": {error}")]
    InvalidSchema {
        tipo: String,
        error: EsquemaInvalido,
    },

    /// A document that fails its type's schema; `violaciones` is never empty.
    #[error("{what} does not satisfy the schema of configuration type \"{tipo}\": {}", violaciones[0])]
    InvalidConfig {
        what: String,
        tipo: String,
        violaciones: Vec<Violacion>,
    },

    /// The log lacks a column this library writes: its SQL objects are of
    /// an older version than the library.
    #[error("audit.historial_cambios has no column \"{0}\"")]
    LogColumnMissing(&'static str),

    #[error("{what} is too large: {size} bytes (the limit is {limit})")]
    TooLarge {
        what: &'static str,
        size: usize,
        limit: usize,
    },

    /// The active version is not the one the caller built on.
    #[error("configuration \"{tipo}\" changed: version {activa} is active, not version {base}")]
    StaleConfig {
        tipo: String,
        base: i64,
        activa: String,
    },
}

impl AuditError {
    pub fn sqlstate(&self) -> PgSqlErrorCode {
        use PgSqlErrorCode::*;
        match self {
            AuditError::InvalidOptions(_) => ERRCODE_INVALID_PARAMETER_VALUE,
            AuditError::UndefinedColumn { .. } => ERRCODE_UNDEFINED_COLUMN,
            AuditError::TenantColumnNotUuid { .. } => ERRCODE_DATATYPE_MISMATCH,
            AuditError::NotAuditable { .. } => ERRCODE_FEATURE_NOT_SUPPORTED,
            AuditError::KeyColumnsWithPrimaryKey(_) => ERRCODE_INVALID_PARAMETER_VALUE,
            AuditError::CaptureModeUnsupported { .. } => ERRCODE_FEATURE_NOT_SUPPORTED,
            AuditError::WalCaptureUnavailable { .. } => ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            AuditError::WalSlotInWritingTransaction(_) => ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            AuditError::WalSlotMissing(_) => ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            AuditError::SlotCreationTimeout(_) => ERRCODE_QUERY_CANCELED,
            AuditError::UnloggedNotWal { .. } => ERRCODE_FEATURE_NOT_SUPPORTED,
            AuditError::WalKeyFile { damaged: true, .. } => ERRCODE_DATA_CORRUPTED,
            AuditError::WalKeyFile { .. } => ERRCODE_IO_ERROR,
            AuditError::CaptureTimeout { .. } => ERRCODE_QUERY_CANCELED,
            AuditError::TriggerMisuse(_) => ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED,
            AuditError::InvalidTriggerDefinition(_) => ERRCODE_INVALID_OBJECT_DEFINITION,
            AuditError::CapturedTwice { .. } => ERRCODE_DUPLICATE_OBJECT,
            AuditError::NotAllowedToAudit(_) => ERRCODE_INSUFFICIENT_PRIVILEGE,
            AuditError::UndefinedTable(_) => ERRCODE_UNDEFINED_TABLE,
            AuditError::NullArgument { .. } => ERRCODE_NULL_VALUE_NOT_ALLOWED,
            AuditError::InvalidArgument { .. } => ERRCODE_INVALID_PARAMETER_VALUE,
            AuditError::Filtro(_) => ERRCODE_INVALID_PARAMETER_VALUE,
            AuditError::JsonDoc(JsonDocError::TooDeep { .. }) => ERRCODE_PROGRAM_LIMIT_EXCEEDED,
            AuditError::JsonDoc(JsonDocError::Invalid { .. }) => {
                ERRCODE_INVALID_TEXT_REPRESENTATION
            }
            AuditError::Patch(_) => ERRCODE_INVALID_PARAMETER_VALUE,
            AuditError::EventNotFound(_) => ERRCODE_NO_DATA_FOUND,
            AuditError::ProtectedObject { .. } => ERRCODE_INSUFFICIENT_PRIVILEGE,
            AuditError::CaptureWouldStop { .. } => ERRCODE_INSUFFICIENT_PRIVILEGE,
            AuditError::RetypeUsing { .. } => ERRCODE_INSUFFICIENT_PRIVILEGE,
            AuditError::NotInReadCommitted { .. } => ERRCODE_FEATURE_NOT_SUPPORTED,
            AuditError::ModuleNotFound(_) => ERRCODE_UNDEFINED_OBJECT,
            AuditError::Duplicate { .. } | AuditError::DuplicateMark { .. } => {
                ERRCODE_DUPLICATE_OBJECT
            }
            AuditError::ConfigTypeNotFound(_) => ERRCODE_UNDEFINED_OBJECT,
            AuditError::ConfigVersionNotFound(_) => ERRCODE_NO_DATA_FOUND,
            AuditError::ConfigAccess { .. } => ERRCODE_INSUFFICIENT_PRIVILEGE,
            AuditError::InvalidSchema { .. } | AuditError::InvalidConfig { .. } => {
                ERRCODE_INVALID_PARAMETER_VALUE
            }
            AuditError::TooLarge { .. } => ERRCODE_PROGRAM_LIMIT_EXCEEDED,
            AuditError::LogColumnMissing(_) => ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            AuditError::StaleConfig { .. } => ERRCODE_T_R_SERIALIZATION_FAILURE,
        }
    }

    fn detail(&self) -> Option<String> {
        match self {
            AuditError::UndefinedColumn { option, .. } => Some(format!("The column is named in option {option}.")),
            AuditError::NotAuditable { detail, .. } => Some(detail.clone()),
            AuditError::NotAllowedToAudit(_) => Some(
                "Attaching audit.registrar_cambio() starts auditing the table, which needs the permission to call audit.auditar.".into(),
            ),
            AuditError::CaptureWouldStop { missing, .. } => Some(format!("The command would leave it without: {missing}.")),
            AuditError::RetypeUsing { .. } => Some(
                "The USING expression rewrites every row's value, and a rewrite fires no capture: the new values would enter the table without an event.".into(),
            ),
            AuditError::KeyColumnsWithPrimaryKey(_) => {
                Some("The primary key identifies each row; a second key would make registro_id ambiguous.".into())
            }
            AuditError::ConfigAccess { detail } => Some(detail.clone()),
            AuditError::CaptureModeUnsupported { mode: "sentencia", .. } => Some(
                "It is partitioned or part of an inheritance tree: a change made to a partition or child table directly fires no statement trigger of its parent, and PostgreSQL keeps no transition tables per partition.".into(),
            ),
            AuditError::CaptureModeUnsupported { .. } => Some(
                "It is partitioned or part of an inheritance tree: capture from the WAL is offered for plain tables only.".into(),
            ),
            AuditError::WalSlotInWritingTransaction(_) => Some(
                "PostgreSQL creates a logical replication slot only in a transaction that has not written anything yet, and the slot must exist before the first change it captures commits.".into(),
            ),
            AuditError::CapturedTwice { .. } => Some(
                "A second capture trigger for the same changes would record each of them twice.".into(),
            ),
            AuditError::WalSlotMissing(_) => Some(
                "The slot is not there after a failover (PostgreSQL 15 keeps it on the old primary), a restore or a copy of the database. The change cannot be recorded without it, and PostgreSQL creates a slot only in a transaction that has not written yet.".into(),
            ),
            AuditError::SlotCreationTimeout(_) => Some(
                "Creating a logical replication slot waits for every transaction running at that moment to end.".into(),
            ),
            AuditError::UnloggedNotWal { .. } => Some(
                "Changes of an unlogged table are not written to the WAL.".into(),
            ),
            AuditError::CaptureTimeout {
                esperado, aplicado, ..
            } => Some(format!(
                "Every transaction committed before WAL position {esperado} was awaited; the log holds those committed before {aplicado}."
            )),
            AuditError::InvalidConfig { violaciones, .. } => Some(violations_detail(violaciones)),
            _ => None,
        }
    }

    fn hint(&self) -> Option<String> {
        match self {
            AuditError::InvalidOptions(e) => e.hint(),
            AuditError::NotAuditable { hint, .. } => hint.clone(),
            AuditError::NotAllowedToAudit(_) => {
                Some("A superuser can GRANT EXECUTE ON FUNCTION audit.auditar(regclass, jsonb) TO the role that runs migrations.".into())
            }
            AuditError::Filtro(e) => e.hint(),
            AuditError::CaptureModeUnsupported { .. } => {
                Some("Audit it with \"captura\": \"fila\" (the default).".into())
            }
            AuditError::WalCaptureUnavailable { hint, .. } => Some(hint.clone()),
            AuditError::WalSlotInWritingTransaction(_) => Some(
                "Call audit.auditar(table, '{\"captura\": \"wal\"}') at the start of a transaction of its own: the slot is created once per database.".into(),
            ),
            AuditError::CapturedTwice { .. } => Some(
                "To change how the table is captured, call audit.auditar(table, options); to attach this trigger instead, drop the other one first.".into(),
            ),
            AuditError::WalSlotMissing(_) => Some(
                "Run the transaction again: its first change to a table captured from the WAL creates the slot (or call audit.auditar on one such table, in a transaction of its own).".into(),
            ),
            AuditError::SlotCreationTimeout(_) => Some(
                "A long transaction delays it (pg_stat_activity shows them); run the statement again once it has ended.".into(),
            ),
            AuditError::UnloggedNotWal {
                already_captured: false,
                ..
            } => Some(
                "Make it logged (ALTER TABLE ... SET LOGGED), or audit it with \"captura\": \"fila\".".into(),
            ),
            AuditError::UnloggedNotWal { table, .. } => Some(format!(
                "Switch its capture first: SELECT audit.auditar('{table}', '{{\"captura\": \"fila\"}}'); then make it unlogged."
            )),
            AuditError::WalKeyFile { damaged: true, .. } => Some(
                "Move the file away and run the statement again: a new key is created. Context messages signed with the old key and not yet recorded are then ignored (their events say the writer is unknown).".into(),
            ),
            AuditError::WalKeyFile { .. } => Some(
                "The server's operating-system user must be able to create, read and write files in the data directory.".into(),
            ),
            AuditError::CaptureTimeout { .. } => Some(
                "audit.estado_captura() shows the worker and its lag. Wait longer with audit.esperar_captura(tiempo_maximo).".into(),
            ),
            AuditError::ProtectedObject { hint, .. } => Some(hint.clone()),
            AuditError::CaptureWouldStop { .. } => Some(
                "To stop auditing a table, a role with the permission to do so calls audit.dejar_de_auditar(table).".into(),
            ),
            AuditError::RetypeUsing { .. } => Some(
                "Change the values with UPDATE (recorded), then the type without USING; or have a role that may stop auditing run it (recorded as a DDL event).".into(),
            ),
            AuditError::NotInReadCommitted { .. } => Some(
                "Call it in a READ COMMITTED transaction (the default), or on its own.".into(),
            ),
            AuditError::ModuleNotFound(_) => Some("Modules are created with audit.crear_modulo(nombre, tablas); they are listed in audit.modulos.".into()),
            AuditError::EventNotFound(_) => Some(
                "Event ids come from audit.get_historial_cambios. An event hidden from you by row-level security is reported the same way.".into(),
            ),
            AuditError::InvalidSchema { .. } => Some(
                "Schemas follow JSON Schema draft 2020-12 (or the draft their $schema names). A $ref must point inside the schema: nothing is fetched from URLs or files. A pattern may not use look-around or backreferences.".into(),
            ),
            AuditError::ConfigTypeNotFound(_) => Some(
                "The types are listed in audit.tipos_config; audit.definir_tipo_config adds one.".into(),
            ),
            AuditError::ConfigVersionNotFound(_) => Some(
                "Version ids come from audit.historial_config. A version of another tenant is reported the same way.".into(),
            ),
            AuditError::ConfigAccess { .. } => Some(
                "Configuration documents are for the application roles in audit.roles_lectores (audit.rol or the role claim), within a tenant (audit.empresa_id or the tenant claim).".into(),
            ),
            AuditError::StaleConfig { .. } => Some(
                "Another session saved a version since yours was read: read the active version again (audit.config_actual) and save on top of it.".into(),
            ),
            AuditError::LogColumnMissing(_) => Some(
                "The extension's library is newer than its SQL objects: run ALTER EXTENSION audit UPDATE.".into(),
            ),
            AuditError::TriggerMisuse(_) | AuditError::InvalidTriggerDefinition(_) => Some(
                "Attach it as: CREATE TRIGGER ... AFTER INSERT OR UPDATE OR DELETE ON t FOR EACH ROW EXECUTE FUNCTION audit.registrar_cambio(), or call audit.auditar('t').".into(),
            ),
            _ => None,
        }
    }

    /// Raises this error in PostgreSQL. Does not return.
    pub fn report(self) -> ! {
        let mut report = ErrorReport::new(self.sqlstate(), self.to_string(), function_name!());
        if let Some(d) = self.detail() {
            report = report.set_detail(d);
        }
        if let Some(h) = self.hint() {
            report = report.set_hint(h);
        }
        report.report(PgLogLevel::ERROR);
        unreachable!("ERROR does not return")
    }
}

/// Every violation on its own line, at most 20 (a document failing in a
/// thousand places needs the first few to be fixed, not a page of text).
fn violations_detail(violaciones: &[Violacion]) -> String {
    const SHOWN: usize = 20;
    let mut lines: Vec<String> = violaciones
        .iter()
        .take(SHOWN)
        .map(|v| v.to_string())
        .collect();
    if violaciones.len() > SHOWN {
        lines.push(format!("... and {} more.", violaciones.len() - SHOWN));
    }
    format!("Violations (path: problem (rule)):\n{}", lines.join("\n"))
}

/// The value of an argument that must not be NULL, or the error 22004
/// naming it.
pub fn required<T>(value: Option<T>, name: &'static str) -> T {
    value.unwrap_or_else(|| AuditError::NullArgument { name }.report())
}

/// Shorthand: `Err(e)?`-style helpers read better as `fail(e)` at call sites.
pub fn fail<T>(e: AuditError) -> T {
    e.report()
}
