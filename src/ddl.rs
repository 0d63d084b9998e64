//! Keeping auditing consistent when the schema changes.
//!
//! Event triggers (created in finalize.sql):
//! * `ddl_command_end` on CREATE TRIGGER: a capture trigger, however it was
//!   created (by `auditar`, by hand in a migration, by pg_restore), is checked,
//!   tied to the extension so `DROP EXTENSION audit` removes it, and its table
//!   gets its options row and log partitions.
//! * `ddl_command_end` on CREATE/ALTER TABLE: a new partition of an audited
//!   partitioned table gets its TRUNCATE trigger (PostgreSQL clones row
//!   triggers to partitions, but not statement triggers).
//! * `ddl_command_end` on ALTER TABLE ... RENAME COLUMN: the column is
//!   renamed in the table's options too, so an excluded column stays
//!   excluded. (Handled at the end of the command, where PostgreSQL has
//!   already resolved the table: this function's pinned search_path could
//!   not resolve the user's unqualified table name.)
//! * `sql_drop`: a dropped audited table loses its options and the drop is
//!   recorded.
//!
//! A row trigger on `audit.tablas_config` sends a relcache invalidation for
//! the table whose options changed, so every backend rebuilds its cached
//! state at its next capture.

use crate::catalog;
use crate::ddl_guard;
use crate::elevation::as_log_owner;
use crate::error::AuditError;
use crate::events::record_ddl_event;
use crate::restauracion;
use crate::spi;
use crate::sql_types::Regclass;
use crate::tables::{
    ensure_log_partitions, sync_truncate_triggers, Relation, TRIGGER_TYPE_DELETE,
    TRIGGER_TYPE_INSERT, TRIGGER_TYPE_ROW, TRIGGER_TYPE_UPDATE,
};
use audit_model::options::TableOptions;
use pgrx::pg_sys;
use pgrx::prelude::*;

/// `pg_catalog.pg_policy` (catalog OID fixed by PostgreSQL, pg_policy.h;
/// pgrx has no binding for it).
const POLICY_RELATION_ID: pg_sys::Oid = pg_sys::Oid::from_u32(3256);

const TRIGGER_TYPE_BEFORE: i32 = 1 << 1;
const TRIGGER_TYPE_INSTEAD: i32 = 1 << 6;

// Declared in SQL (`sql =`): pgrx has no `event_trigger` return type.
#[pg_extern(sql = r#"
CREATE FUNCTION audit._al_terminar_ddl() RETURNS event_trigger
    LANGUAGE c
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', '@FUNCTION_NAME@';
"#)]
fn _al_terminar_ddl(_fcinfo: pg_sys::FunctionCallInfo) {
    let commands = spi::rows(
        "SELECT classid, objid, objsubid, command FROM pg_catalog.pg_event_trigger_ddl_commands()",
        &[],
        |row| {
            let classid = row.get::<pg_sys::Oid>(1)?.unwrap_or_default();
            let objid = row.get::<pg_sys::Oid>(2)?.unwrap_or_default();
            let column = row.get::<i32>(3)?.unwrap_or(0) != 0;
            // pg_ddl_command is the collected command itself, passed by value
            // as a pointer; it lives as long as the event trigger.
            let command = row.get::<DdlCommand>(4)?;
            let renamed = if column {
                command.as_ref().and_then(|c| renamed_column(c.0))
            } else {
                None
            };
            let cmd = command.map_or(std::ptr::null_mut(), |c| {
                c.0.cast_mut_ptr::<pg_sys::CollectedCommand>()
            });
            Ok(match (classid, column) {
                (pg_sys::TriggerRelationId, _) => Command::Trigger(objid, cmd),
                (pg_sys::ProcedureRelationId, _) => Command::Function(objid, cmd),
                (pg_sys::RelationRelationId, false) => Command::Table(objid, cmd),
                (pg_sys::RelationRelationId, true) => Command::Column(objid, renamed, cmd),
                (c, _) if c == POLICY_RELATION_ID => Command::Policy(objid, cmd),
                _ => Command::Other(cmd),
            })
        },
    );
    for command in commands {
        match command {
            Command::Trigger(trigger, cmd) => {
                // SAFETY: the collected command of this event trigger.
                if unsafe { is_rename(cmd) } {
                    // ALTER TRIGGER ... RENAME
                    ddl_guard::after_trigger_renamed(trigger);
                    continue;
                }
                // SAFETY: as above.
                let replaced = unsafe { replaces_trigger(cmd) };
                on_trigger_created(trigger, replaced)
            }
            Command::Function(function, cmd) => {
                // SAFETY: as above.
                unsafe { ddl_guard::after_function_altered(function, cmd) };
            }
            Command::Table(relid, cmd) => {
                // SAFETY: the collected command of this event trigger.
                unsafe { ddl_guard::after_relation_command(relid, cmd) };
                on_table_changed(relid);
                restauracion::estructuras::registrar(relid);
            }
            Command::Column(relid, renamed, cmd) => {
                // SAFETY: as above.
                unsafe { ddl_guard::after_relation_command(relid, cmd) };
                if let Some((old, new)) = renamed {
                    rename_in_options(relid, &old, &new);
                }
                restauracion::estructuras::registrar(relid);
            }
            Command::Policy(policy, cmd) => {
                // SAFETY: as above.
                let is_alter = unsafe {
                    !cmd.is_null()
                        && pgrx::is_a((*cmd).parsetree, pg_sys::NodeTag::T_AlterPolicyStmt)
                };
                ddl_guard::after_policy_change(policy, is_alter);
            }
            Command::Other(cmd) => {
                // SAFETY: as above.
                unsafe {
                    ddl_guard::after_grant(cmd);
                    ddl_guard::after_alter_extension(cmd);
                }
            }
        }
    }
}

// Declared in SQL (`sql =`): pgrx has no `event_trigger` return type.
#[pg_extern(sql = r#"
CREATE FUNCTION audit._al_empezar_ddl() RETURNS event_trigger
    LANGUAGE c
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', '@FUNCTION_NAME@';
"#)]
fn _al_empezar_ddl(fcinfo: pg_sys::FunctionCallInfo) {
    // ddl_command_start, for what cannot be undone at the command's end:
    // `DETACH PARTITION ... CONCURRENTLY` commits its first step (the
    // partition is marked "detach pending", its rows leave the parent's
    // queries) before ddl_command_end fires, and ALTER SEQUENCE ... RESTART
    // is not rolled back.
    // SAFETY: called by the event trigger manager, whose context is an
    // EventTriggerData with the statement's parse tree.
    unsafe {
        let data = (*fcinfo).context.cast::<pg_sys::EventTriggerData>();
        if data.is_null() {
            return;
        }
        // ALTER SEQUENCE in every form: its options, and RENAME and SET
        // SCHEMA (which the command's end does not see for sequences: its
        // event trigger is for tables).
        let tree = (*data).parsetree;
        let sequence = if pgrx::is_a(tree, pg_sys::NodeTag::T_AlterSeqStmt) {
            Some((*tree.cast::<pg_sys::AlterSeqStmt>()).sequence)
        } else if pgrx::is_a(tree, pg_sys::NodeTag::T_RenameStmt)
            && (*tree.cast::<pg_sys::RenameStmt>()).renameType
                == pg_sys::ObjectType::OBJECT_SEQUENCE
        {
            Some((*tree.cast::<pg_sys::RenameStmt>()).relation)
        } else if pgrx::is_a(tree, pg_sys::NodeTag::T_AlterObjectSchemaStmt)
            && (*tree.cast::<pg_sys::AlterObjectSchemaStmt>()).objectType
                == pg_sys::ObjectType::OBJECT_SEQUENCE
        {
            Some((*tree.cast::<pg_sys::AlterObjectSchemaStmt>()).relation)
        } else {
            None
        };
        if let Some(rv) = sequence {
            if !rv.is_null() {
                let mut relid = pg_sys::RangeVarGetRelidExtended(
                    rv,
                    pg_sys::NoLock as pg_sys::LOCKMODE,
                    pg_sys::RVROption::RVR_MISSING_OK,
                    None,
                    std::ptr::null_mut(),
                );
                if relid == pg_sys::InvalidOid && (*rv).schemaname.is_null() {
                    // This function's pinned path does not reach schema
                    // audit; the caller's may (`SET search_path = audit`).
                    relid = ddl_guard::audit_relation_named((*rv).relname);
                }
                ddl_guard::before_alter_sequence(relid);
            }
            return;
        }
        if !pgrx::is_a((*data).parsetree, pg_sys::NodeTag::T_AlterTableStmt) {
            return;
        }
        let stmt = (*data).parsetree.cast::<pg_sys::AlterTableStmt>();
        let cmds = (*stmt).cmds;
        if cmds.is_null() || (*stmt).relation.is_null() {
            return;
        }
        for i in 0..(*cmds).length as usize {
            let cmd = (*(*cmds).elements.add(i))
                .ptr_value
                .cast::<pg_sys::AlterTableCmd>();
            let def = (*cmd).def;
            if (*cmd).subtype == pg_sys::AlterTableType::AT_DetachPartition
                && pgrx::is_a(def, pg_sys::NodeTag::T_PartitionCmd)
                && (*def.cast::<pg_sys::PartitionCmd>()).concurrent
            {
                let rv = (*stmt).relation;
                let schema = (!(*rv).schemaname.is_null())
                    .then(|| catalog::cstr_to_string((*rv).schemaname));
                ddl_guard::before_concurrent_detach(
                    schema.as_deref(),
                    &catalog::cstr_to_string((*rv).relname),
                );
            }
        }
    }
}

enum Command {
    Trigger(pg_sys::Oid, *mut pg_sys::CollectedCommand),
    Table(pg_sys::Oid, *mut pg_sys::CollectedCommand),
    /// A column changed; with its old and new names when it was renamed.
    Column(
        pg_sys::Oid,
        Option<(String, String)>,
        *mut pg_sys::CollectedCommand,
    ),
    Policy(pg_sys::Oid, *mut pg_sys::CollectedCommand),
    /// ALTER FUNCTION / PROCEDURE / ROUTINE (owner, name, schema, settings).
    Function(pg_sys::Oid, *mut pg_sys::CollectedCommand),
    /// GRANT, ALTER EXTENSION, ...
    Other(*mut pg_sys::CollectedCommand),
}

/// A `pg_ddl_command` value: a pointer to PostgreSQL's record of a command,
/// valid while the event trigger runs.
struct DdlCommand(pg_sys::Datum);

impl FromDatum for DdlCommand {
    unsafe fn from_polymorphic_datum(
        datum: pg_sys::Datum,
        is_null: bool,
        _: pg_sys::Oid,
    ) -> Option<Self> {
        (!is_null).then_some(DdlCommand(datum))
    }
}

impl IntoDatum for DdlCommand {
    fn into_datum(self) -> Option<pg_sys::Datum> {
        Some(self.0)
    }
    fn type_oid() -> pg_sys::Oid {
        pg_sys::PG_DDL_COMMANDOID
    }
}

/// The old and new names of `ALTER TABLE ... RENAME COLUMN old TO new`.
fn renamed_column(command: pg_sys::Datum) -> Option<(String, String)> {
    // SAFETY: a pg_ddl_command datum is a pointer to the CollectedCommand,
    // valid for the duration of the event trigger; its parse tree is the
    // statement that ran.
    unsafe {
        let cmd = command.cast_mut_ptr::<pg_sys::CollectedCommand>();
        if cmd.is_null() || !pgrx::is_a((*cmd).parsetree, pg_sys::NodeTag::T_RenameStmt) {
            return None;
        }
        let stmt = (*cmd).parsetree.cast::<pg_sys::RenameStmt>();
        if (*stmt).renameType != pg_sys::ObjectType::OBJECT_COLUMN
            || (*stmt).subname.is_null()
            || (*stmt).newname.is_null()
        {
            return None;
        }
        Some((
            catalog::cstr_to_string((*stmt).subname),
            catalog::cstr_to_string((*stmt).newname),
        ))
    }
}

/// Whether a collected command is a RENAME (ALTER TRIGGER ... RENAME).
///
/// # Safety
/// `cmd` is null or the collected command of the running event trigger.
unsafe fn is_rename(cmd: *mut pg_sys::CollectedCommand) -> bool {
    // SAFETY: the caller's guarantee.
    unsafe { !cmd.is_null() && pgrx::is_a((*cmd).parsetree, pg_sys::NodeTag::T_RenameStmt) }
}

/// Whether the command is `CREATE OR REPLACE TRIGGER`: only a replacement
/// can take capture away from a table (a new trigger only adds one).
///
/// # Safety
/// `cmd` must be null or the collected command of the running event trigger.
unsafe fn replaces_trigger(cmd: *mut pg_sys::CollectedCommand) -> bool {
    // SAFETY: the caller's guarantee: null or the running event trigger's command.
    unsafe {
        !cmd.is_null()
            && pgrx::is_a((*cmd).parsetree, pg_sys::NodeTag::T_CreateTrigStmt)
            && (*(*cmd).parsetree.cast::<pg_sys::CreateTrigStmt>()).replace
    }
}

/// Whether a dump is being loaded: pg_dump's output (plain, or through
/// pg_restore) turns `check_function_bodies` off, as PostgreSQL's docs say
/// it should be while loading objects on behalf of others. A dump carries
/// every trigger it needs, so the extension must not add any of its own
/// (they would collide with the dump's when it creates them next).
fn loading_dump() -> bool {
    // SAFETY: reading a boolean GUC variable of this backend.
    unsafe { !pg_sys::check_function_bodies }
}

fn on_trigger_created(trigger: pg_sys::Oid, replaced: bool) {
    if replaced {
        ddl_guard::after_trigger_replaced(trigger);
    }
    // The context trigger of capture from the WAL goes with the extension,
    // as capture triggers do (else DROP EXTENSION would refuse: it depends
    // on the extension's function).
    let context = spi::read_value::<bool>(
        "SELECT tgfoid = $2 FROM pg_catalog.pg_trigger WHERE oid = $1",
        &[trigger.into(), catalog::ids().context_fn.into()],
    );
    if context == Some(true) {
        tie_to_extension(trigger);
        // Replacing it can take capture away (CREATE OR REPLACE resets
        // ENABLE ALWAYS, for one).
        let table = spi::read_value::<pg_sys::Oid>(
            "SELECT tgrelid FROM pg_catalog.pg_trigger WHERE oid = $1",
            &[trigger.into()],
        );
        if let Some(root) = table.filter(|_| replaced).and_then(ddl_guard::audited_root) {
            ddl_guard::after_audited_change(root, "CREATE OR REPLACE TRIGGER", None);
        }
        return;
    }
    let info = spi::first(
        "SELECT tgrelid, tgtype::pg_catalog.int4, tgparentid <> 0,
                tgoldtable IS NOT NULL, tgnewtable IS NOT NULL
           FROM pg_catalog.pg_trigger WHERE oid = $1 AND tgfoid = $2",
        &[trigger.into(), catalog::ids().capture_fn.into()],
        |row| {
            Ok((
                row.get::<pg_sys::Oid>(1)?.unwrap_or_default(),
                row.get::<i32>(2)?.unwrap_or(0),
                row.get::<bool>(3)?.unwrap_or(false),
                row.get::<bool>(4)?.unwrap_or(false),
                row.get::<bool>(5)?.unwrap_or(false),
            ))
        },
    );
    // Not a capture trigger: it may have replaced one (CREATE OR REPLACE
    // TRIGGER) on an audited table.
    let Some((table, tgtype, is_clone, old_table, new_table)) = info else {
        let table = spi::value::<pg_sys::Oid>(
            "SELECT tgrelid FROM pg_catalog.pg_trigger WHERE oid = $1",
            &[trigger.into()],
        );
        if let Some(root) = table.filter(|_| replaced).and_then(ddl_guard::audited_root) {
            ddl_guard::after_audited_change(root, "CREATE OR REPLACE TRIGGER", None);
        }
        return;
    };
    if is_clone {
        return;
    }
    let invalid = |m: &str| AuditError::InvalidTriggerDefinition(m.to_owned()).report();
    if tgtype & (TRIGGER_TYPE_BEFORE | TRIGGER_TYPE_INSTEAD) != 0 {
        invalid(
            "audit.registrar_cambio() must be fired AFTER the change, not BEFORE or INSTEAD OF it",
        );
    }
    let row_events =
        tgtype & (TRIGGER_TYPE_INSERT | TRIGGER_TYPE_UPDATE | TRIGGER_TYPE_DELETE) != 0;
    let row_level = tgtype & TRIGGER_TYPE_ROW != 0;
    let transition_tables = old_table || new_table;
    if transition_tables && row_level {
        invalid("audit.registrar_cambio() reads transition tables (REFERENCING) only FOR EACH STATEMENT");
    }
    // FOR EACH STATEMENT it records from the transition tables, so it needs
    // every one its single event has (PostgreSQL allows them only on
    // single-event triggers).
    let complete = match tgtype & (TRIGGER_TYPE_INSERT | TRIGGER_TYPE_UPDATE | TRIGGER_TYPE_DELETE)
    {
        TRIGGER_TYPE_INSERT => new_table,
        TRIGGER_TYPE_UPDATE => old_table && new_table,
        TRIGGER_TYPE_DELETE => old_table,
        _ => false,
    };
    if row_events && !row_level && !complete {
        invalid(
            "audit.registrar_cambio() must be fired FOR EACH ROW for INSERT, UPDATE and DELETE, \
             or FOR EACH STATEMENT with its transition tables (REFERENCING OLD TABLE for DELETE, \
             NEW TABLE for INSERT, both for UPDATE)",
        );
    }
    let captures_rows = row_level || transition_tables;
    // A condition or a column list would silently leave changes unrecorded.
    let (has_condition, has_columns) = spi::first(
        "SELECT tgqual IS NOT NULL, pg_catalog.cardinality(tgattr::pg_catalog.int2[]) > 0
           FROM pg_catalog.pg_trigger WHERE oid = $1",
        &[trigger.into()],
        |row| {
            Ok((
                row.get::<bool>(1)?.unwrap_or(false),
                row.get::<bool>(2)?.unwrap_or(false),
            ))
        },
    )
    .unwrap_or((false, false));
    if has_condition {
        invalid("audit.registrar_cambio() records every change: it cannot have a WHEN condition");
    }
    if has_columns {
        invalid("audit.registrar_cambio() records every change: it cannot be limited to UPDATE OF some columns");
    }
    let rel = Relation::load(table).expect("the trigger's table exists");
    rel.check_auditable(!captures_rows);
    if transition_tables {
        rel.check_plain_table("sentencia");
    }
    // Attaching capture is starting to audit: it needs the same permission as
    // audit.auditar. (EXECUTE on the trigger function itself stays with
    // PUBLIC: PostgreSQL checks it whenever a partition of an audited table
    // is created, and clones its row trigger.) Without this, any table owner
    // could attach the trigger to a table of their own and write events of
    // their choosing, under any tenant, into the log.
    let may_audit = spi::value::<bool>(
        "SELECT pg_catalog.has_function_privilege('audit.auditar(pg_catalog.regclass, pg_catalog.jsonb)'::pg_catalog.regprocedure, 'EXECUTE')",
        &[],
    )
    .unwrap_or(false);
    if !may_audit {
        AuditError::NotAllowedToAudit(rel.qualified()).report();
    }
    if captures_rows && !replaced && !ddl_guard::internal_for_audited_tables() && !loading_dump() {
        refuse_second_capture(table, trigger, tgtype, &rel.qualified());
    }

    // DROP EXTENSION audit removes triggers tied to it like this; without the
    // tie it would refuse, because the trigger depends on its function.
    tie_to_extension(trigger);
    if captures_rows {
        as_log_owner(|| {
            spi::run(
                // (Not ON CONFLICT: tablas_config is a user catalog table,
                // for the WAL's output plugin, and those refuse it.)
                "INSERT INTO audit.tablas_config (tabla) SELECT $1
                  WHERE NOT EXISTS (SELECT FROM audit.tablas_config WHERE tabla = $1)",
                &[Regclass(table).into()],
            )
        });
        restauracion::estructuras::registrar(table);
        // A row trigger attached by hand (as a migration does) gets its
        // TRUNCATE capture too, as audit.auditar gives it, unless the
        // table's options say not to capture TRUNCATE. The extension's own
        // doing, so as the log's owner.
        let capture_truncate = as_log_owner(|| {
            spi::value::<bool>(
                "SELECT COALESCE((opciones ->> 'capturar_truncate')::pg_catalog.bool, true)
                   FROM audit.tablas_config WHERE tabla = $1",
                &[Regclass(table).into()],
            )
        })
        .unwrap_or(true);
        if capture_truncate && !loading_dump() {
            as_log_owner(|| ddl_guard::own_ddl(|| sync_truncate_triggers(table, true)));
        }
        ensure_log_partitions();
    }
    // Replacing a capture trigger (CREATE OR REPLACE) can still leave a table
    // without part of its capture.
    if let Some(root) = ddl_guard::audited_root(table).filter(|_| replaced) {
        ddl_guard::after_audited_change(root, "CREATE OR REPLACE TRIGGER", None);
    }
}

/// A capture trigger attached by hand to a table whose changes another one
/// already captures (one for the same INSERT, UPDATE or DELETE events, or
/// the table's capture from the WAL) would record every change twice:
/// refused (42710). Single-event triggers for different events, as
/// `"sentencia"` uses, do not overlap.
fn refuse_second_capture(table: pg_sys::Oid, trigger: pg_sys::Oid, tgtype: i32, qualified: &str) {
    let ids = catalog::ids();
    let events = tgtype & (TRIGGER_TYPE_INSERT | TRIGGER_TYPE_UPDATE | TRIGGER_TYPE_DELETE);
    let other = spi::read_value::<String>(
        "SELECT g.tgname::pg_catalog.text FROM pg_catalog.pg_trigger g
          WHERE g.tgrelid = $1 AND g.oid <> $2
            AND ((g.tgfoid = $3
                  AND ((g.tgtype::pg_catalog.int4 & 1) <> 0 OR g.tgoldtable IS NOT NULL OR g.tgnewtable IS NOT NULL)
                  AND (g.tgtype::pg_catalog.int4 & $4) <> 0)
                 OR g.tgfoid = $5)
          ORDER BY g.tgname LIMIT 1",
        &[
            table.into(),
            trigger.into(),
            ids.capture_fn.into(),
            events.into(),
            ids.context_fn.into(),
        ],
    );
    if let Some(by) = other {
        AuditError::CapturedTwice {
            table: qualified.to_owned(),
            by,
        }
        .report();
    }
}

fn tie_to_extension(trigger: pg_sys::Oid) {
    let extension = catalog::ids().extension;
    let tied = spi::value::<bool>(
        "SELECT EXISTS (SELECT FROM pg_catalog.pg_depend
                         WHERE classid = 'pg_catalog.pg_trigger'::pg_catalog.regclass
                           AND objid = $1
                           AND refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
                           AND refobjid = $2)",
        &[trigger.into(), extension.into()],
    )
    .unwrap_or(false);
    if tied {
        return;
    }
    let depender = pg_sys::ObjectAddress {
        classId: pg_sys::TriggerRelationId,
        objectId: trigger,
        objectSubId: 0,
    };
    let referenced = pg_sys::ObjectAddress {
        classId: pg_sys::ExtensionRelationId,
        objectId: extension,
        objectSubId: 0,
    };
    // SAFETY: both objects exist; an automatic dependency means "drop the
    // trigger when the extension is dropped", silently.
    unsafe {
        pg_sys::recordDependencyOn(
            &depender,
            &referenced,
            pg_sys::DependencyType::DEPENDENCY_AUTO,
        )
    };
}

fn on_table_changed(relid: pg_sys::Oid) {
    refuse_statement_capture_in_inheritance(relid);
    refuse_unlogged_wal_capture(relid);
    // Cheap exit for the common case: tables that are not partitioned.
    // SAFETY: syscache lookups; a missing relation yields 0 / false.
    let (kind, is_partition) = unsafe {
        (
            pg_sys::get_rel_relkind(relid) as u8,
            pg_sys::get_rel_relispartition(relid),
        )
    };
    if kind != b'p' && !is_partition {
        return;
    }
    // The options are read as the log's owner: event triggers run as whoever
    // runs the DDL, who need not be able to read them.
    let audited_root = as_log_owner(|| {
        spi::first(
            "SELECT r.root::pg_catalog.oid, COALESCE((c.opciones ->> 'capturar_truncate')::boolean, true)
               FROM (SELECT COALESCE(pg_catalog.pg_partition_root($1), $1) AS root) r
               JOIN audit.tablas_config c ON c.tabla = r.root",
            &[Regclass(relid).into()],
            |row| Ok((row.get::<pg_sys::Oid>(1)?.unwrap_or_default(), row.get::<bool>(2)?.unwrap_or(true))),
        )
    });
    if let Some((root, capture_truncate)) = audited_root {
        if capture_truncate && !loading_dump() {
            // The extension's own doing, so as the log's owner: whoever adds
            // a partition need not be allowed to attach capture triggers.
            as_log_owner(|| sync_truncate_triggers(root, true));
        }
    }
}

/// A table captured by statement triggers (`"captura": "sentencia"`) or from
/// the WAL (`"captura": "wal"`) must stay out of inheritance and partition
/// trees, as `auditar` requires: a statement on the parent would change its
/// rows without firing them, and capture from the WAL is offered for plain
/// tables only. Checked after CREATE TABLE ... INHERITS / PARTITION OF,
/// ALTER TABLE ... INHERIT and ATTACH PARTITION (the command fails, so
/// nothing changes).
fn refuse_statement_capture_in_inheritance(relid: pg_sys::Oid) {
    let ids = catalog::ids();
    let captured = spi::first(
        "WITH familia AS (
             SELECT $1::pg_catalog.oid AS rel
             UNION SELECT inhparent FROM pg_catalog.pg_inherits WHERE inhrelid = $1
             UNION SELECT inhrelid FROM pg_catalog.pg_inherits WHERE inhparent = $1)
         SELECT f.rel, pg_catalog.bool_or(g.tgfoid = $3)
           FROM familia f
           JOIN pg_catalog.pg_trigger g ON g.tgrelid = f.rel
          WHERE EXISTS (SELECT FROM pg_catalog.pg_inherits i
                         WHERE i.inhrelid = f.rel OR i.inhparent = f.rel)
            AND ((g.tgfoid = $2 AND (g.tgoldtable IS NOT NULL OR g.tgnewtable IS NOT NULL))
                 OR g.tgfoid = $3)
          GROUP BY f.rel ORDER BY 1 LIMIT 1",
        &[
            Regclass(relid).into(),
            ids.capture_fn.into(),
            ids.context_fn.into(),
        ],
        |r| {
            Ok((
                r.get::<pg_sys::Oid>(1)?.unwrap_or_default(),
                r.get::<bool>(2)?.unwrap_or(false),
            ))
        },
    );
    if let Some((table, wal)) = captured {
        if let Some(rel) = Relation::load(table) {
            rel.check_plain_table(if wal { "wal" } else { "sentencia" });
        }
    }
}

/// A table captured from the WAL must stay logged, as `auditar` requires:
/// after `ALTER TABLE ... SET UNLOGGED` its changes would no longer reach
/// the WAL, and the capture would lose them without a word. Refused for
/// every role (the command fails, so nothing changes); the way out is to
/// switch the table to another capture mode first.
fn refuse_unlogged_wal_capture(relid: pg_sys::Oid) {
    // Cheap exit for the common case: a logged table.
    // SAFETY: syscache lookup; a missing relation yields 0.
    if unsafe { pg_sys::get_rel_persistence(relid) } as u8 != pg_sys::RELPERSISTENCE_UNLOGGED {
        return;
    }
    let captured = spi::value::<bool>(
        "SELECT EXISTS (SELECT FROM pg_catalog.pg_trigger WHERE tgrelid = $1 AND tgfoid = $2)",
        &[Regclass(relid).into(), catalog::ids().context_fn.into()],
    )
    .unwrap_or(false);
    if captured {
        AuditError::UnloggedNotWal {
            table: catalog::regclass_text(relid),
            already_captured: true,
        }
        .report();
    }
}

fn rename_in_options(relid: pg_sys::Oid, old: &str, new: &str) {
    // As the log's owner: whoever renames the column need not be able to read
    // or write the options.
    as_log_owner(|| {
        let stored = spi::value::<String>(
            "SELECT opciones::pg_catalog.text FROM audit.tablas_config WHERE tabla = $1",
            &[Regclass(relid).into()],
        );
        let Some(mut options) = stored
            .and_then(|s| serde_json::from_str(&s).ok())
            .and_then(|v| TableOptions::parse(&v).ok())
        else {
            return;
        };
        if options.rename_column(old, new) {
            let updated = options.to_json().to_string();
            spi::run(
                "UPDATE audit.tablas_config SET opciones = $2::pg_catalog.jsonb WHERE tabla = $1",
                &[Regclass(relid).into(), updated.as_str().into()],
            );
        }
    });
}

// Declared in SQL (`sql =`): pgrx has no `event_trigger` return type.
#[pg_extern(sql = r#"
CREATE FUNCTION audit._al_eliminar() RETURNS event_trigger
    LANGUAGE c
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', '@FUNCTION_NAME@';
"#)]
fn _al_eliminar(_fcinfo: pg_sys::FunctionCallInfo) {
    // When the extension itself is being dropped there is nothing to tidy.
    let dropping_extension = spi::value::<bool>(
        "SELECT EXISTS (SELECT FROM pg_catalog.pg_event_trigger_dropped_objects()
                         WHERE object_type = 'extension' AND object_name = 'audit')
             OR pg_catalog.to_regclass('audit.tablas_config') IS NULL",
        &[],
    )
    .unwrap_or(false);
    if dropping_extension {
        return;
    }
    // The extension's own objects go only with the extension.
    let own_objects = spi::rows(
        "SELECT d.object_type || ' ' || d.object_identity
           FROM pg_catalog.pg_event_trigger_dropped_objects() d
          WHERE d.schema_name = 'audit'
            AND NOT (d.object_type = 'policy'
                     AND d.address_names[3] <> ALL (ARRAY['lectores', 'misma_empresa']))",
        &[],
        |row| Ok(row.get::<String>(1)?.unwrap_or_default()),
    );
    ddl_guard::check_drops(&own_objects);
    // Triggers dropped from tables that are still there: an audited one must
    // keep its capture (or the role must be allowed to stop it).
    let trigger_tables = spi::rows(
        "SELECT DISTINCT pg_catalog.to_regclass(pg_catalog.format('%I.%I', d.address_names[1], d.address_names[2]))::pg_catalog.oid
           FROM pg_catalog.pg_event_trigger_dropped_objects() d
          WHERE d.object_type = 'trigger'",
        &[],
        |row| row.get::<pg_sys::Oid>(1),
    );
    for relid in trigger_tables.into_iter().flatten() {
        if let Some(root) = ddl_guard::audited_root(relid) {
            ddl_guard::after_audited_change(root, "DROP TRIGGER", None);
        }
    }
    // As the log's owner: whoever drops a table need not be able to read or
    // write the options.
    let dropped = as_log_owner(|| {
        spi::rows(
            "SELECT d.objid, d.schema_name, d.object_name
               FROM pg_catalog.pg_event_trigger_dropped_objects() d
              WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
                AND d.objsubid = 0
                AND EXISTS (SELECT FROM audit.tablas_config c WHERE c.tabla::pg_catalog.oid = d.objid)",
            &[],
            |row| {
                Ok((
                    row.get::<pg_sys::Oid>(1)?.unwrap_or_default(),
                    row.get::<String>(2)?.unwrap_or_default(),
                    row.get::<String>(3)?.unwrap_or_default(),
                ))
            },
        )
    });
    // Modules go on with their other tables (audited or not any more): a
    // dropped one has nothing left to roll back, and its OID in the list
    // made every rollback and every new mark of the module fail.
    as_log_owner(|| {
        spi::run(
            "WITH caidas AS (
                 SELECT d.objid FROM pg_catalog.pg_event_trigger_dropped_objects() d
                  WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objsubid = 0)
             UPDATE audit.modulos m
                SET tablas = ARRAY(SELECT u.t FROM pg_catalog.unnest(m.tablas) WITH ORDINALITY u(t, i)
                                    WHERE u.t::pg_catalog.oid NOT IN (SELECT objid FROM caidas) ORDER BY u.i)
              WHERE EXISTS (SELECT FROM pg_catalog.unnest(m.tablas) t
                             WHERE t::pg_catalog.oid IN (SELECT objid FROM caidas))",
            &[],
        )
    });
    for (relid, schema, name) in dropped {
        as_log_owner(|| {
            spi::run(
                "DELETE FROM audit.tablas_config WHERE tabla::pg_catalog.oid = $1",
                &[relid.into()],
            );
            // Its recorded structures name an OID that may be reused.
            spi::run(
                "DELETE FROM audit.estructuras_tabla WHERE tabla::pg_catalog.oid = $1",
                &[relid.into()],
            )
        });
        record_ddl_event(
            &schema,
            &name,
            serde_json::json!({ "comando": "DROP TABLE" }),
        );
    }
}

// Declared in SQL (`sql =`): a trigger function, reading its TriggerData
// from the raw fcinfo.
#[pg_extern(sql = r#"
CREATE FUNCTION audit._config_cambiada() RETURNS trigger
    LANGUAGE c
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', '@FUNCTION_NAME@';
"#)]
fn _config_cambiada(fcinfo: pg_sys::FunctionCallInfo) {
    // SAFETY: this call's fcinfo; the trigger data is used within the call.
    let td = unsafe { crate::capture::trigger_data(fcinfo, "audit._config_cambiada()") };
    // SAFETY: a row trigger on audit.tablas_config, whose first column is
    // `tabla regclass` (an OID); tuples are NULL where the event has none.
    unsafe {
        let desc = (*td.tg_relation).rd_att;
        for tuple in [td.tg_trigtuple, td.tg_newtuple] {
            if tuple.is_null() {
                continue;
            }
            let first = std::num::NonZeroUsize::new(1).expect("1 is not zero");
            let Some(datum) = pgrx::htup::heap_getattr_raw(tuple, first, desc) else {
                continue;
            };
            let table = pg_sys::Oid::from_datum(datum, false).unwrap_or_default();
            // Skip tables that no longer exist (their options row is being
            // removed after a DROP TABLE).
            if catalog::relation_name(table).is_some() {
                // Sent to every backend at commit.
                pg_sys::CacheInvalidateRelcacheByRelid(table);
            }
        }
    }
}
