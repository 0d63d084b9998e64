//! What schema changes may do to the audit log and to audited tables
//! (docs/security.md). Checked by the extension's event triggers after each
//! command (src/ddl.rs); a refusal rolls the command back.
//!
//! * The extension's own relations (everything in schema `audit`): no
//!   command may weaken them: disable their guard triggers or row-level
//!   security, make them unlogged, rename, move, alter or drop their columns,
//!   detach or drop partitions, attach a partition that already holds rows,
//!   hand them to another owner, drop or alter their policies, grant anything
//!   but SELECT on them (the alert rules, `audit.alertas`, excepted: people
//!   manage them), alter its sequences, or drop them from the extension. Only the owner (a
//!   superuser) could try; this makes such a change a deliberate act (drop
//!   the event trigger first) rather than a mistake, and tamper evidence
//!   shows what was done to the data. Exempt: the extension's own scripts,
//!   its maintenance (flagged by `audit.operacion_interna`), and
//!   `DROP EXTENSION audit`.
//! * Audited tables: a command that leaves one without its capture
//!   (disabling or dropping the capture trigger, replacing it, making it
//!   replica-only) is refused unless the role may stop auditing
//!   (`audit.dejar_de_auditar`); when such a role does it, it is recorded as
//!   a DDL event, as is any change of the capture trigger's state.

use crate::catalog;
use crate::elevation::as_log_owner;
use crate::error::AuditError;
use crate::events::record_ddl_event;
use crate::spi;
use crate::sql_types::Regclass;
use pgrx::pg_sys;
use pgrx::pg_sys::AlterTableType as At;

thread_local! {
    /// Set while audit.auditar / audit.dejar_de_auditar run their own DDL.
    /// A Rust flag, not a setting: SQL cannot set it.
    static OWN_DDL: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` (the extension's own changes to an audited table's triggers)
/// without the checks meant for other commands.
pub fn own_ddl<R>(f: impl FnOnce() -> R) -> R {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            OWN_DDL.with(|o| o.set(self.0));
        }
    }
    let _reset = Reset(OWN_DDL.with(|o| o.replace(true)));
    f()
}

/// An extension script (CREATE/ALTER EXTENSION) is running.
fn in_extension_script() -> bool {
    // SAFETY: a backend-global flag PostgreSQL sets while an extension
    // script runs.
    unsafe { pg_sys::creating_extension }
}

/// The extension's own work is running: its scripts, its Rust functions'
/// DDL, or its maintenance (`audit.operacion_interna`, a setting: it only
/// unlocks changes to the extension's own objects, which only their owner
/// could make anyway).
pub fn internal() -> bool {
    in_extension_script()
        || OWN_DDL.with(std::cell::Cell::get)
        // SAFETY: read at once, nothing runs in between.
        || unsafe { crate::guc::raw(&crate::guc::OPERACION_INTERNA) }
            .is_some_and(|v| !v.to_bytes().is_empty())
}

/// Checks on audited tables are skipped only for the extension's scripts
/// and its own Rust functions: a table's owner could set the setting.
pub fn internal_for_audited_tables() -> bool {
    in_extension_script() || OWN_DDL.with(std::cell::Cell::get)
}

fn in_audit_schema(relid: pg_sys::Oid) -> bool {
    // SAFETY: syscache lookups; a missing relation or schema gives InvalidOid.
    unsafe {
        let schema = pg_sys::get_namespace_oid(c"audit".as_ptr(), true);
        schema != pg_sys::InvalidOid && pg_sys::get_rel_namespace(relid) == schema
    }
}

/// The relation of schema audit named `name` (InvalidOid if none): what an
/// unqualified name may mean to a caller whose path reaches schema audit.
///
/// # Safety
/// `name` is a NUL-terminated string.
pub unsafe fn audit_relation_named(name: *const std::ffi::c_char) -> pg_sys::Oid {
    // SAFETY: syscache lookups; the caller's guarantee for `name`.
    unsafe {
        let schema = pg_sys::get_namespace_oid(c"audit".as_ptr(), true);
        if schema == pg_sys::InvalidOid || name.is_null() {
            return pg_sys::InvalidOid;
        }
        pg_sys::get_relname_relid(name, schema)
    }
}

fn refuse(what: String, hint: &str) -> ! {
    AuditError::ProtectedObject {
        what,
        hint: hint.to_string(),
    }
    .report()
}

const PROTECTED_HINT: &str = "The audit log and its tables cannot be weakened by DDL. Their maintenance is audit.mantenimiento(); DROP EXTENSION audit removes them.";

/// ALTER TABLE subcommands allowed on the extension's relations: tuning and
/// what pg_restore issues for the log's monthly partitions.
fn allowed_on_protected(subtype: pg_sys::AlterTableType::Type) -> bool {
    matches!(
        subtype,
        At::AT_SetRelOptions
            | At::AT_ResetRelOptions
            | At::AT_ReplaceRelOptions
            | At::AT_SetStatistics
            | At::AT_SetOptions
            | At::AT_ResetOptions
            | At::AT_SetStorage
            | At::AT_SetCompression
            | At::AT_ClusterOn
            | At::AT_DropCluster
            | At::AT_SetTableSpace
            | At::AT_EnableAlwaysTrig
            | At::AT_EnableRowSecurity
            | At::AT_ForceRowSecurity
            | At::AT_ChangeOwner
            | At::AT_AttachPartition
    )
}

/// One ALTER TABLE subcommand: its type and the trigger (or other object)
/// name it names.
struct Subcommand {
    subtype: pg_sys::AlterTableType::Type,
    name: Option<String>,
    /// The table an ATTACH or DETACH PARTITION names: schema (if given) and name.
    partition: Option<(Option<String>, String)>,
    /// An ALTER COLUMN ... TYPE with a USING expression.
    using: bool,
}

/// The subcommands of a collected ALTER TABLE (empty for other commands).
///
/// # Safety
/// `cmd` must be the collected command of the running event trigger.
unsafe fn subcommands(cmd: *mut pg_sys::CollectedCommand) -> Vec<Subcommand> {
    // SAFETY: the caller's guarantee: the running event trigger's command.
    unsafe {
        if cmd.is_null() || (*cmd).type_ != pg_sys::CollectedCommandType::SCT_AlterTable {
            return Vec::new();
        }
        let list = (*cmd).d.alterTable.subcmds;
        if list.is_null() {
            return Vec::new();
        }
        (0..(*list).length as usize)
            .filter_map(|i| {
                let sub = (*(*list).elements.add(i))
                    .ptr_value
                    .cast::<pg_sys::CollectedATSubcmd>();
                let node = (*sub).parsetree;
                if !pgrx::is_a(node, pg_sys::NodeTag::T_AlterTableCmd) {
                    return None;
                }
                let at = node.cast::<pg_sys::AlterTableCmd>();
                let name = (!(*at).name.is_null()).then(|| catalog::cstr_to_string((*at).name));
                let def = (*at).def;
                let partition = (pgrx::is_a(def, pg_sys::NodeTag::T_PartitionCmd)
                    && !(*def.cast::<pg_sys::PartitionCmd>()).name.is_null())
                .then(|| {
                    let rv = (*def.cast::<pg_sys::PartitionCmd>()).name;
                    (
                        (!(*rv).schemaname.is_null())
                            .then(|| catalog::cstr_to_string((*rv).schemaname)),
                        catalog::cstr_to_string((*rv).relname),
                    )
                });
                let using = (*at).subtype == At::AT_AlterColumnType
                    && pgrx::is_a(def, pg_sys::NodeTag::T_ColumnDef)
                    && !(*def.cast::<pg_sys::ColumnDef>()).raw_default.is_null();
                Some(Subcommand {
                    subtype: (*at).subtype,
                    name,
                    partition,
                    using,
                })
            })
            .collect()
    }
}

/// The statement of a collected command that is not an ALTER TABLE.
///
/// # Safety
/// As for [`subcommands`].
unsafe fn statement_tag(cmd: *mut pg_sys::CollectedCommand) -> Option<pg_sys::NodeTag> {
    // SAFETY: the caller's guarantee: the running event trigger's command.
    unsafe { (!cmd.is_null() && !(*cmd).parsetree.is_null()).then(|| (*(*cmd).parsetree).type_) }
}

/// After a command on relation `relid` (ddl_command_end).
///
/// # Safety
/// `cmd` must be the collected command of the running event trigger.
pub unsafe fn after_relation_command(relid: pg_sys::Oid, cmd: *mut pg_sys::CollectedCommand) {
    // SAFETY: forwarded from the caller.
    let (subs, tag, in_extension) = unsafe {
        (
            subcommands(cmd),
            statement_tag(cmd),
            !cmd.is_null() && (*cmd).in_extension,
        )
    };
    if in_extension {
        return;
    }
    if in_audit_schema(relid) {
        if !internal() {
            check_protected(relid, &subs, tag);
        } else if tag == Some(pg_sys::NodeTag::T_CreateStmt) {
            // A partition of the log the maintenance creates: the
            // installing role's default privileges are not for it (see
            // audit._privilegios_de_fabrica in src/sql/finalize.sql; a
            // database still at 0.2.0 has no such function).
            let reset = spi::read_value::<bool>(
                "SELECT pg_catalog.to_regprocedure('audit._privilegios_de_fabrica(regclass)') IS NOT NULL",
                &[],
            );
            if reset == Some(true) {
                spi::run(
                    "SELECT audit._privilegios_de_fabrica($1::pg_catalog.regclass)",
                    &[relid.into()],
                );
            }
        }
        if subs.iter().any(|s| s.subtype == At::AT_AttachPartition) {
            refuse_log_partitions_elsewhere(relid);
        }
    } else if tag == Some(pg_sys::NodeTag::T_CreateStmt) && partition_of_the_extension(relid) {
        refuse(
            format!(
                "cannot create {} as a partition of a table of the extension outside schema audit",
                catalog::regclass_text(relid)
            ),
            "The log's partitions are created by the extension, in schema audit (audit.mantenimiento()).",
        );
    } else if let Some(root) = audited_root(relid) {
        // What can take capture away: a change to when capture triggers
        // fire, a partition detached (its rows leave the audited table), a
        // table joining the tree by inheritance (PostgreSQL gives it no
        // trigger). A partition created or attached gets its triggers as it
        // joins, and the rows an attached table brings are recorded. Any
        // other ALTER TABLE is left alone: pg_restore, for one, alters tables
        // before it creates their triggers.
        if subs.iter().any(|s| touches_capture(relid, s)) {
            after_audited_change(root, "ALTER TABLE", Some(describe_trigger_change(&subs)));
        }
        after_retype(root, &subs);
        for s in &subs {
            match s.subtype {
                At::AT_DetachPartition | At::AT_DetachPartitionFinalize => {
                    after_detach(root, relid, detached_in_this_transaction(s))
                }
                At::AT_AttachPartition => after_attach(root, relid),
                _ => {}
            }
        }
        let joined = match tag {
            Some(pg_sys::NodeTag::T_CreateStmt) => Some("CREATE TABLE ... INHERITS"),
            _ if subs.iter().any(|s| s.subtype == At::AT_AddInherit) => {
                Some("ALTER TABLE ... INHERIT")
            }
            _ => None,
        };
        // SAFETY: syscache lookup; a partition joins with its triggers.
        if let Some(command) = joined.filter(|_| !unsafe { pg_sys::get_rel_relispartition(relid) })
        {
            after_audited_change(root, command, None);
        }
    }
}

/// After ALTER COLUMN ... TYPE on an audited table: the table is rewritten,
/// each row's value converted, and a rewrite fires no capture. With USING,
/// the conversion is any expression (it can set one row's amount to 1), so
/// only a role that may stop auditing may run it; every type change is
/// recorded as a DDL event naming the columns, so that the history says
/// where values may have changed without an event of their own.
fn after_retype(root: pg_sys::Oid, subs: &[Subcommand]) {
    let retyped: Vec<&Subcommand> = subs
        .iter()
        .filter(|s| s.subtype == At::AT_AlterColumnType)
        .collect();
    if retyped.is_empty() || internal_for_audited_tables() {
        return;
    }
    // Without USING the conversion is the types' cast, which can be code of
    // the table owner's too: a cast to a type of its own (and back) can set
    // any value. Only built-in types and casts are left to it.
    let own_code = |s: &&&Subcommand| {
        s.using
            || s.name
                .as_deref()
                .is_some_and(|column| converts_with_own_code(root, column))
    };
    if let Some(s) = retyped.iter().find(own_code) {
        if !may_stop_auditing() {
            AuditError::RetypeUsing {
                table: catalog::regclass_text(root),
                column: s.name.clone().unwrap_or_default(),
            }
            .report();
        }
    }
    record_ddl_of(
        root,
        serde_json::json!({
            "comando": "ALTER TABLE",
            "cambios": {
                "tipo_de_columna": retyped.iter().map(|s| s.name.clone()).collect::<Vec<_>>(),
                "using": retyped.iter().any(|s| s.using),
            },
        }),
    );
}

/// Whether changing `column` of audited table `root` from the type its last
/// recorded structure has (audit.estructuras_tabla, recorded before this
/// command) to the type it has now could run code other than PostgreSQL's
/// own: either type, or the cast between them, is not built in. (A type
/// renamed since, whose recorded name no longer resolves, is not judged:
/// the command is not refused on a guess.)
fn converts_with_own_code(root: pg_sys::Oid, column: &str) -> bool {
    spi::read_value::<bool>(
        "SELECT (antes.t::pg_catalog.oid >= 16384 OR a.atttypid >= 16384
                 OR EXISTS (SELECT FROM pg_catalog.pg_cast k
                             WHERE k.castsource = antes.t AND k.casttarget = a.atttypid
                               AND k.castfunc >= 16384))
           FROM pg_catalog.pg_attribute a,
                (SELECT pg_catalog.to_regtype(c.value ->> 't') AS t
                   FROM (SELECT e.columnas FROM audit.estructuras_tabla e WHERE e.tabla = $1
                          ORDER BY e.desde_id DESC, (pg_catalog.to_jsonb(e.*) ->> 'version')::pg_catalog.int4 DESC NULLS LAST
                          LIMIT 1) v,
                        pg_catalog.jsonb_array_elements(v.columnas) c
                  WHERE c.value ->> 'c' = $2) antes
          WHERE a.attrelid = $1 AND a.attname = $2",
        &[root.into(), column.into()],
    )
    .unwrap_or(false)
}

/// Records a DDL event of audited table `root` with `detail` as metadata.
fn record_ddl_of(root: pg_sys::Oid, detail: serde_json::Value) {
    let (schema, name) = catalog::relation_name(root).unwrap_or_default();
    record_ddl_event(&schema, &name, detail);
}

/// Whether `relid` is a partition (at any depth) of a table in schema audit.
fn partition_of_the_extension(relid: pg_sys::Oid) -> bool {
    spi::read_value::<bool>(
        "SELECT c.relispartition AND pg_catalog.pg_partition_root(c.oid) IN (
                SELECT r.oid FROM pg_catalog.pg_class r WHERE r.relnamespace = 'audit'::pg_catalog.regnamespace)
           FROM pg_catalog.pg_class c WHERE c.oid = $1",
        &[relid.into()],
    )
    .unwrap_or(false)
}

/// A table of the extension gets partitions from schema audit only: one
/// elsewhere would be outside every check of its objects (their owner,
/// their privileges, their triggers).
fn refuse_log_partitions_elsewhere(parent: pg_sys::Oid) {
    for partition in attached_in_this_transaction(parent) {
        if !in_audit_schema(partition) {
            refuse(
                format!(
                    "cannot attach {} to {}: it is outside schema audit",
                    catalog::regclass_text(partition),
                    catalog::regclass_text(parent)
                ),
                "The log's partitions are created by the extension, in schema audit (audit.mantenimiento()).",
            );
        }
    }
}

/// The table a DETACH PARTITION subcommand detached: the table of the name it
/// gives whose catalog row this transaction changed (to say it is no
/// longer a partition). PostgreSQL does not collect its address, and an
/// unqualified name cannot be resolved under this function's search_path.
fn detached_in_this_transaction(s: &Subcommand) -> pg_sys::Oid {
    let Some((schema, name)) = &s.partition else {
        return pg_sys::InvalidOid;
    };
    spi::value::<pg_sys::Oid>(
        "SELECT c.oid FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
          WHERE c.relname = $1 AND ($2::pg_catalog.text IS NULL OR n.nspname = $2)
            AND NOT c.relispartition
            AND c.xmin::pg_catalog.text =
                (pg_catalog.pg_current_xact_id()::pg_catalog.text::pg_catalog.int8 % 4294967296)::pg_catalog.text
          ORDER BY 1 LIMIT 1",
        &[name.as_str().into(), schema.as_deref().into()],
    )
    .unwrap_or(pg_sys::InvalidOid)
}

/// After `ALTER TABLE parent DETACH PARTITION p`: the rows of `p` leave the
/// audited table `root`, and `p` keeps no capture (PostgreSQL drops the
/// cloned triggers). That is stopping the audit of those rows: refused for a
/// role that may not stop auditing, recorded as a DDL event otherwise.
fn after_detach(root: pg_sys::Oid, parent: pg_sys::Oid, partition: pg_sys::Oid) {
    if internal_for_audited_tables() {
        return;
    }
    let name = if partition == pg_sys::InvalidOid {
        "a partition".to_string()
    } else {
        catalog::regclass_text(partition)
    };
    if !may_stop_auditing() {
        AuditError::CaptureWouldStop {
            table: catalog::regclass_text(root),
            missing: format!("the rows of {name}, which DETACH PARTITION takes out of it"),
        }
        .report();
    }
    let rows = (partition != pg_sys::InvalidOid).then(|| row_count(partition));
    record_ddl_of(
        root,
        serde_json::json!({
            "comando": "ALTER TABLE ... DETACH PARTITION",
            "tabla": catalog::regclass_text(parent),
            "particion": name,
            "filas": rows,
        }),
    );
}

/// Before `ALTER TABLE parent DETACH PARTITION p CONCURRENTLY` (at
/// ddl_command_start: its first step commits before the command ends). The
/// parent is known only by the name the statement gives, and this function's
/// search_path is not the caller's: an unqualified name is looked up in every
/// schema, and the command is refused if any table of that name is (part of)
/// an audited table, for a role that may not stop auditing.
pub fn before_concurrent_detach(schema: Option<&str>, table: &str) {
    if internal_for_audited_tables() || may_stop_auditing() {
        return;
    }
    let candidates = spi::rows(
        "SELECT c.oid FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
          WHERE c.relname = $1 AND c.relkind = 'p'
            AND ($2::pg_catalog.text IS NULL OR n.nspname = $2)",
        &[table.into(), schema.into()],
        |r| Ok(r.get::<pg_sys::Oid>(1)?.unwrap_or_default()),
    );
    if let Some(root) = candidates.into_iter().find_map(audited_root) {
        AuditError::CaptureWouldStop {
            table: catalog::regclass_text(root),
            missing: "the rows of the partition that DETACH PARTITION takes out of it".into(),
        }
        .report();
    }
}

/// Before ALTER SEQUENCE (ddl_command_start: a RESTART is not undone by a
/// refusal at the command's end): the extension's sequences are its own. The
/// log's ids come from its sequence one at a time and in order; followers
/// (audit.seguir) rely on it, and a restart would give two events one id.
pub fn before_alter_sequence(relid: pg_sys::Oid) {
    if relid != pg_sys::InvalidOid && in_audit_schema(relid) && !internal() {
        refuse(
            format!("cannot alter sequence {}", catalog::regclass_text(relid)),
            PROTECTED_HINT,
        );
    }
}

/// After `ALTER TABLE parent ATTACH PARTITION p`: the rows `p` (and its own
/// partitions) already held enter the audited table `root` without being
/// written, so each is recorded as an INSERT event (metadata
/// `tipo_operacion` `ANEXION_PARTICION`), and the attach as a DDL event.
fn after_attach(root: pg_sys::Oid, parent: pg_sys::Oid) {
    if internal_for_audited_tables() {
        return;
    }
    let (schema, table) = catalog::relation_name(root).unwrap_or_default();
    for partition in attached_in_this_transaction(parent) {
        let name = catalog::regclass_text(partition);
        // As TRUNCATE events name the partition: by its name alone.
        let relname = catalog::relation_name(partition).unwrap_or_default().1;
        let metadata = crate::events::context_with(&serde_json::json!({
            "tipo_operacion": "ANEXION_PARTICION",
            "particion": relname,
        }));
        let rows: i64 = crate::tables::leaf_tables(partition)
            .into_iter()
            .map(|leaf| crate::capture::existing_rows::record_as_inserted(leaf, metadata.datum()))
            .sum();
        record_ddl_event(
            &schema,
            &table,
            serde_json::json!({
                "comando": "ALTER TABLE ... ATTACH PARTITION",
                "tabla": catalog::regclass_text(parent),
                "particion": name,
                "filas": rows,
            }),
        );
    }
}

/// How many rows a table holds, counted as the log's owner (the role running
/// the DDL may not be able to read it).
fn row_count(relid: pg_sys::Oid) -> i64 {
    as_log_owner(|| {
        spi::value::<i64>(
            &format!(
                "SELECT pg_catalog.count(*) FROM {}",
                catalog::regclass_text(relid)
            ),
            &[],
        )
    })
    .unwrap_or_default()
}

fn check_protected(relid: pg_sys::Oid, subs: &[Subcommand], tag: Option<pg_sys::NodeTag>) {
    let name = catalog::relation_name(relid)
        .map(|(s, n)| format!("{s}.{n}"))
        .unwrap_or_default();
    match tag {
        // (The relation may already carry its new name here.)
        Some(pg_sys::NodeTag::T_RenameStmt) => refuse(
            "cannot rename the audit log's tables or columns".into(),
            PROTECTED_HINT,
        ),
        Some(pg_sys::NodeTag::T_AlterObjectSchemaStmt) => refuse(
            format!("cannot move {name} to another schema"),
            PROTECTED_HINT,
        ),
        _ => {}
    }
    // The extension's owner, not the log's (which this very command may
    // have just changed).
    let extension_owner = spi::value::<pg_sys::Oid>(
        "SELECT extowner FROM pg_catalog.pg_extension WHERE extname = 'audit'",
        &[],
    )
    .unwrap_or_default();
    for s in subs {
        if !allowed_on_protected(s.subtype) {
            refuse(
                format!("cannot {} on {name}", describe(s.subtype)),
                PROTECTED_HINT,
            );
        }
        if s.subtype == At::AT_ChangeOwner && owner_of(relid) != extension_owner {
            refuse(
                format!("cannot give {name} to a role other than the owner of extension audit"),
                PROTECTED_HINT,
            );
        }
        if s.subtype == At::AT_AttachPartition {
            // pg_restore attaches the log's monthly partitions while they are
            // still empty; a table with rows would be events no one recorded.
            let with_rows = attached_in_this_transaction(relid)
                .into_iter()
                .filter(|p| {
                    spi::value::<bool>(
                        &format!("SELECT EXISTS (SELECT FROM {})", catalog::regclass_text(*p)),
                        &[],
                    )
                    .unwrap_or(true)
                })
                .count();
            if with_rows > 0 {
                refuse(
                    format!("cannot attach a table that already holds rows to {name}"),
                    "Events enter the log only through the capture path; attach an empty table.",
                );
            }
        }
    }
}

/// The partitions attached to `parent` by this transaction: those whose
/// pg_inherits row it wrote. (PostgreSQL does not collect the attached
/// table's address, and its name cannot be resolved under this function's
/// search_path.)
fn attached_in_this_transaction(parent: pg_sys::Oid) -> Vec<pg_sys::Oid> {
    spi::rows(
        "SELECT i.inhrelid FROM pg_catalog.pg_inherits i
          WHERE i.inhparent = $1
            AND i.xmin::pg_catalog.text =
                (pg_catalog.pg_current_xact_id()::pg_catalog.text::pg_catalog.int8 % 4294967296)::pg_catalog.text",
        &[parent.into()],
        |r| Ok(r.get::<pg_sys::Oid>(1)?.unwrap_or_default()),
    )
}

fn owner_of(relid: pg_sys::Oid) -> pg_sys::Oid {
    spi::value::<pg_sys::Oid>(
        "SELECT relowner FROM pg_catalog.pg_class WHERE oid = $1",
        &[relid.into()],
    )
    .unwrap_or_default()
}

fn describe(subtype: pg_sys::AlterTableType::Type) -> &'static str {
    match subtype {
        At::AT_DisableTrig | At::AT_DisableTrigAll | At::AT_DisableTrigUser => "disable triggers",
        At::AT_EnableTrig
        | At::AT_EnableTrigAll
        | At::AT_EnableTrigUser
        | At::AT_EnableReplicaTrig => "change when triggers fire",
        At::AT_DisableRowSecurity | At::AT_NoForceRowSecurity => "weaken row-level security",
        At::AT_SetUnLogged => "make it unlogged",
        At::AT_DetachPartition | At::AT_DetachPartitionFinalize => "detach a partition",
        At::AT_DropColumn | At::AT_DropColumnRecurse => "drop a column",
        At::AT_AlterColumnType => "change a column's type",
        At::AT_AddColumn | At::AT_AddColumnRecurse => "add a column",
        _ => "alter the table this way",
    }
}

/// Whether an ALTER TABLE subcommand changes when the capture triggers of
/// `relid` fire.
fn touches_capture(relid: pg_sys::Oid, s: &Subcommand) -> bool {
    match s.subtype {
        At::AT_EnableTrigAll
        | At::AT_DisableTrigAll
        | At::AT_EnableTrigUser
        | At::AT_DisableTrigUser => true,
        At::AT_EnableTrig
        | At::AT_EnableAlwaysTrig
        | At::AT_EnableReplicaTrig
        | At::AT_DisableTrig => s
            .name
            .as_deref()
            .is_some_and(|n| is_capture_trigger(relid, n)),
        // Capture from the WAL needs whole old rows in the WAL.
        At::AT_ReplicaIdentity => {
            audited_root(relid).is_some_and(|root| capture_options(root).1 == "wal")
        }
        _ => false,
    }
}

fn describe_trigger_change(subs: &[Subcommand]) -> serde_json::Value {
    let changes: Vec<serde_json::Value> = subs
        .iter()
        .filter_map(|s| {
            let what = match s.subtype {
                At::AT_EnableTrig | At::AT_EnableTrigAll | At::AT_EnableTrigUser => {
                    "ENABLE TRIGGER"
                }
                At::AT_EnableAlwaysTrig => "ENABLE ALWAYS TRIGGER",
                At::AT_EnableReplicaTrig => "ENABLE REPLICA TRIGGER",
                At::AT_DisableTrig | At::AT_DisableTrigAll | At::AT_DisableTrigUser => {
                    "DISABLE TRIGGER"
                }
                At::AT_ReplicaIdentity => return Some(serde_json::json!("REPLICA IDENTITY")),
                _ => return None,
            };
            let target = match s.subtype {
                At::AT_EnableTrigAll | At::AT_DisableTrigAll => "ALL".to_string(),
                At::AT_EnableTrigUser | At::AT_DisableTrigUser => "USER".to_string(),
                _ => s.name.clone().unwrap_or_default(),
            };
            Some(serde_json::json!(format!("{what} {target}")))
        })
        .collect();
    serde_json::Value::Array(changes)
}

/// Whether trigger `name` of `relid` is one of the capture's: a capture
/// trigger, or the context trigger of capture from the WAL.
fn is_capture_trigger(relid: pg_sys::Oid, name: &str) -> bool {
    let ids = catalog::ids();
    spi::value::<bool>(
        "SELECT EXISTS (SELECT FROM pg_catalog.pg_trigger
                         WHERE tgrelid = $1 AND tgname = $2
                           AND tgfoid = ANY (ARRAY[$3, $4]))",
        &[
            relid.into(),
            name.into(),
            ids.capture_fn.into(),
            ids.context_fn.into(),
        ],
    )
    .unwrap_or(false)
}

/// The audited table `relid` belongs to: itself, or the topmost audited
/// table above it in its partition or inheritance tree (whose data the rows
/// of `relid` are, as a query of that table shows them), if any. Read as the
/// log's owner: whoever runs the DDL need not be able to read the options.
pub fn audited_root(relid: pg_sys::Oid) -> Option<pg_sys::Oid> {
    as_log_owner(|| {
        spi::value::<pg_sys::Oid>(
            "WITH RECURSIVE arriba(rel, nivel) AS (
                 SELECT $1::pg_catalog.oid, 0
                 UNION ALL
                 SELECT i.inhparent, a.nivel + 1
                   FROM pg_catalog.pg_inherits i JOIN arriba a ON i.inhrelid = a.rel)
             SELECT a.rel FROM arriba a
              WHERE EXISTS (SELECT FROM audit.tablas_config c WHERE c.tabla::pg_catalog.oid = a.rel)
              ORDER BY a.nivel DESC LIMIT 1",
            &[Regclass(relid).into()],
        )
    })
}

/// What an audited table lacks to be captured (`audit._faltas_captura`,
/// finalize.sql: the same definition `audit.tablas_auditadas` shows): each
/// table holding its rows (partitions and inheritance children included)
/// needs an enabled capture of INSERT, UPDATE and DELETE, and of TRUNCATE
/// when TRUNCATE is captured. Each gap as "`what` of table".
fn coverage_gaps(root: pg_sys::Oid) -> Vec<String> {
    let (truncate, captura) = capture_options(root);
    spi::value::<Vec<String>>(
        "SELECT audit._faltas_captura($1, $2, $3)",
        &[
            Regclass(root).into(),
            truncate.into(),
            captura.as_str().into(),
        ],
    )
    .unwrap_or_default()
}

/// The table's `capturar_truncate` (true unless set to false) and
/// `captura` ("fila" unless set) options.
fn capture_options(root: pg_sys::Oid) -> (bool, String) {
    as_log_owner(|| {
        spi::first(
            "SELECT COALESCE((opciones ->> 'capturar_truncate')::pg_catalog.bool, true),
                    COALESCE(opciones ->> 'captura', 'fila')
               FROM audit.tablas_config WHERE tabla = $1",
            &[Regclass(root).into()],
            |r| {
                Ok((
                    r.get::<bool>(1)?.unwrap_or(true),
                    r.get::<String>(2)?.unwrap_or_default(),
                ))
            },
        )
    })
    .unwrap_or((true, "fila".into()))
}

/// Whether the current role may stop auditing (the permission of
/// audit.dejar_de_auditar).
fn may_stop_auditing() -> bool {
    spi::value::<bool>(
        "SELECT pg_catalog.has_function_privilege('audit.dejar_de_auditar(pg_catalog.regclass)'::pg_catalog.regprocedure, 'EXECUTE')",
        &[],
    )
    .unwrap_or(false)
}

/// After a command that changed audited table `root` (or one of its
/// partitions): refuses a loss of capture by a role that may not stop
/// auditing, and records capture changes made by one that may.
/// `change` describes what the command did to capture triggers, if known.
pub fn after_audited_change(root: pg_sys::Oid, command: &str, change: Option<serde_json::Value>) {
    if internal_for_audited_tables() {
        return;
    }
    let gaps = coverage_gaps(root);
    if gaps.is_empty() && change.is_none() {
        return;
    }
    let table = catalog::regclass_text(root);
    if !gaps.is_empty() && !may_stop_auditing() {
        AuditError::CaptureWouldStop {
            table,
            missing: gaps.join(", "),
        }
        .report();
    }
    record_ddl_of(
        root,
        serde_json::json!({
            "comando": command,
            "captura_activa": gaps.is_empty(),
            "falta": gaps,
            "cambios": change.unwrap_or(serde_json::Value::Null),
        }),
    );
}

/// After `CREATE OR REPLACE TRIGGER`: the triggers of the extension's own
/// relations are its guards, and a replacement (say, with `WHEN (false)`, or
/// one that fires only in origin mode) would switch a guard off without
/// disabling it. Refused, as disabling them is.
pub fn after_trigger_replaced(trigger: pg_sys::Oid) {
    let on = spi::first(
        "SELECT tgrelid, tgname::pg_catalog.text FROM pg_catalog.pg_trigger WHERE oid = $1",
        &[trigger.into()],
        |r| {
            Ok((
                r.get::<pg_sys::Oid>(1)?.unwrap_or_default(),
                r.get::<String>(2)?.unwrap_or_default(),
            ))
        },
    );
    if let Some((table, name)) = on.filter(|(t, _)| in_audit_schema(*t)) {
        if !internal() {
            refuse(
                format!(
                    "cannot replace trigger {name} on {}",
                    catalog::regclass_text(table)
                ),
                PROTECTED_HINT,
            );
        }
    }
}

/// After a GRANT: on the extension's relations, only SELECT may be granted
/// (reading is what row-level security governs; writing is the capture
/// path's alone), but for the alert rules (audit.alertas), and nothing on
/// the log's partitions.
///
/// # Safety
/// `cmd` must be the collected command of the running event trigger.
pub unsafe fn after_grant(cmd: *mut pg_sys::CollectedCommand) {
    // SAFETY: the caller's guarantee: the running event trigger's command.
    unsafe {
        if cmd.is_null()
            || (*cmd).type_ != pg_sys::CollectedCommandType::SCT_Grant
            || (*cmd).in_extension
            || internal()
        {
            return;
        }
        let g = (*cmd).d.grant.istmt;
        if g.is_null()
            || !(*g).is_grant
            || !matches!(
                (*g).objtype,
                pg_sys::ObjectType::OBJECT_TABLE | pg_sys::ObjectType::OBJECT_SEQUENCE
            )
        {
            return;
        }
        // Column privileges (`GRANT UPDATE (col) ON ...`) are not in
        // `privileges` but in `col_privs`, one node per privilege (no name:
        // ALL).
        let only_select = !(*g).all_privs
            && (*g).privileges & !(pg_sys::ACL_SELECT as pg_sys::AclMode) == 0
            && column_privileges((*g).col_privs)
                .iter()
                .all(|p| p.as_deref() == Some("select"));
        if (*g).objects.is_null() {
            return;
        }
        let list = (*g).objects;
        for i in 0..(*list).length as usize {
            let oid = (*(*list).elements.add(i)).oid_value;
            // A partition read directly is not subject to the log's
            // row-level security (only the partitioned table has policies).
            if in_audit_schema(oid) && pg_sys::get_rel_relispartition(oid) {
                refuse(
                    format!("cannot grant privileges on {}, a partition of the log", catalog::regclass_text(oid)),
                    "Grant SELECT on audit.historial_cambios: reading through it applies row-level security.",
                );
            }
            // The alert rules are the one table of the extension that
            // people write: a DBA grants that to the roles that manage them.
            let rules = catalog::relation_name(oid)
                .is_some_and(|(schema, name)| schema == "audit" && name == "alertas");
            if in_audit_schema(oid) && !only_select && !rules {
                refuse(
                    format!("cannot grant privileges other than SELECT on {}", catalog::regclass_text(oid)),
                    "Events enter the log only through the capture path, and are never changed or removed.",
                );
            }
        }
    }
}

/// The privileges named by a GRANT's column privileges (`AccessPriv`
/// nodes), lower case; None for ALL.
///
/// # Safety
/// `list` is null or a list of `AccessPriv` nodes.
unsafe fn column_privileges(list: *mut pg_sys::List) -> Vec<Option<String>> {
    if list.is_null() {
        return Vec::new();
    }
    // SAFETY: the caller's guarantee.
    unsafe {
        (0..(*list).length as usize)
            .map(|i| {
                let privilege = (*(*list).elements.add(i))
                    .ptr_value
                    .cast::<pg_sys::AccessPriv>();
                let name = (*privilege).priv_name;
                (!name.is_null()).then(|| catalog::cstr_to_string(name).to_lowercase())
            })
            .collect()
    }
}

/// After ALTER FUNCTION / PROCEDURE / ROUTINE: the extension's functions
/// are its own. A new owner could replace one (`audit.es_lector()` is
/// what row-level security asks), a new name or schema breaks every caller,
/// and SECURITY DEFINER or a setting changes what it does.
///
/// # Safety
/// `cmd` is null or the collected command of the running event trigger.
pub unsafe fn after_function_altered(function: pg_sys::Oid, cmd: *mut pg_sys::CollectedCommand) {
    // SAFETY: the caller's guarantee; a syscache lookup.
    let (in_extension, schema) = unsafe {
        (
            !cmd.is_null() && (*cmd).in_extension,
            pg_sys::get_func_namespace(function),
        )
    };
    // SAFETY: syscache lookup.
    let audit = unsafe { pg_sys::get_namespace_oid(c"audit".as_ptr(), true) };
    if in_extension || internal() || audit == pg_sys::InvalidOid || schema != audit {
        return;
    }
    refuse(
        format!(
            "cannot alter function {} of the extension",
            spi::read_value::<String>(
                "SELECT $1::pg_catalog.regprocedure::pg_catalog.text",
                &[function.into()]
            )
            .unwrap_or_default()
        ),
        PROTECTED_HINT,
    );
}

/// After ALTER TRIGGER ... RENAME: the guards of the extension's relations
/// keep their names (the DDL guard and its tests know them by name).
pub fn after_trigger_renamed(trigger: pg_sys::Oid) {
    if internal() {
        return;
    }
    refuse_on_audit_table(
        "SELECT tgrelid FROM pg_catalog.pg_trigger WHERE oid = $1",
        trigger,
        "cannot rename a trigger of",
    );
}

/// Refuses (`what` and the table) when `object` belongs to a relation of
/// schema audit; `sql` finds the object's table from its OID ($1).
fn refuse_on_audit_table(sql: &str, object: pg_sys::Oid, what: &str) {
    let table = spi::read_value::<pg_sys::Oid>(sql, &[object.into()]);
    if let Some(table) = table.filter(|t| in_audit_schema(*t)) {
        refuse(
            format!("{what} {}", catalog::regclass_text(table)),
            PROTECTED_HINT,
        );
    }
}

/// After ALTER POLICY: the policies of the extension's relations are its own.
pub fn after_policy_change(policy: pg_sys::Oid, is_alter: bool) {
    if !is_alter || internal() {
        return;
    }
    refuse_on_audit_table(
        "SELECT polrelid FROM pg_catalog.pg_policy WHERE oid = $1",
        policy,
        "cannot alter the row-level security policies of",
    );
}

/// After ALTER EXTENSION: its members cannot be taken out of it.
///
/// # Safety
/// `cmd` must be the collected command of the running event trigger.
pub unsafe fn after_alter_extension(cmd: *mut pg_sys::CollectedCommand) {
    // SAFETY: the caller's guarantee: the running event trigger's command.
    unsafe {
        if cmd.is_null() || (*cmd).in_extension || internal() {
            return;
        }
        let tree = (*cmd).parsetree;
        if tree.is_null() || !pgrx::is_a(tree, pg_sys::NodeTag::T_AlterExtensionContentsStmt) {
            return;
        }
        let stmt = tree.cast::<pg_sys::AlterExtensionContentsStmt>();
        if (*stmt).action < 0 && catalog::cstr_to_string((*stmt).extname) == "audit" {
            refuse(
                "cannot remove objects from extension audit".into(),
                PROTECTED_HINT,
            );
        }
    }
}

/// At sql_drop: the extension's objects cannot be dropped but by
/// DROP EXTENSION or its own maintenance. (Row-level security policies a
/// DBA added to its tables are the DBA's, and are not in the list.)
pub fn check_drops(dropped_in_audit_schema: &[String]) {
    if let Some(first) = dropped_in_audit_schema.first() {
        if !internal() {
            refuse(
                format!("cannot drop {first}: it belongs to the audit log"),
                PROTECTED_HINT,
            );
        }
    }
}
