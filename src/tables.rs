//! Which tables are audited: `audit.auditar`, `audit.dejar_de_auditar`, and
//! the checks shared with capture triggers attached by hand (see `ddl.rs`).

use crate::catalog::{self, qualified_name};
use crate::ddl_guard;
use crate::elevation::as_log_owner;
use crate::error::{fail, required, AuditError};
use crate::events::record_ddl_event;
use crate::spi;
use crate::sql_types::{Jsonb, Regclass};
use audit_model::options::{Captura, TableOptions, TenantColumn};
use pgrx::pg_sys;
use pgrx::prelude::*;

/// Name of the row-level trigger `auditar` attaches.
pub const ROW_TRIGGER: &str = "audit_registrar_cambio";
/// Name of the TRUNCATE trigger `auditar` attaches (to each leaf table).
pub const TRUNCATE_TRIGGER: &str = "audit_registrar_truncate";
/// Name of the context trigger of a table captured from the WAL.
pub const CONTEXT_TRIGGER: &str = "audit_contexto_wal";

/// The statement-level triggers `auditar` attaches with `"captura":
/// "sentencia"`: one per kind of change, as PostgreSQL allows transition
/// tables only on single-event triggers. (Name, `tgtype` event bit, the
/// trigger's definition after its name.)
const STATEMENT_TRIGGERS: [(&str, i32, &str); 3] = [
    (
        "audit_registrar_insert",
        TRIGGER_TYPE_INSERT,
        "AFTER INSERT ON {} REFERENCING NEW TABLE AS audit_nuevas",
    ),
    (
        "audit_registrar_update",
        TRIGGER_TYPE_UPDATE,
        "AFTER UPDATE ON {} REFERENCING OLD TABLE AS audit_anteriores NEW TABLE AS audit_nuevas",
    ),
    (
        "audit_registrar_delete",
        TRIGGER_TYPE_DELETE,
        "AFTER DELETE ON {} REFERENCING OLD TABLE AS audit_anteriores",
    ),
];

// pg_trigger.tgtype bits (catalog/pg_trigger.h).
pub const TRIGGER_TYPE_ROW: i32 = 1 << 0;
pub const TRIGGER_TYPE_INSERT: i32 = 1 << 2;
pub const TRIGGER_TYPE_DELETE: i32 = 1 << 3;
pub const TRIGGER_TYPE_UPDATE: i32 = 1 << 4;

/// A relation as far as auditing is concerned.
pub struct Relation {
    pub relid: pg_sys::Oid,
    pub schema: String,
    pub name: String,
    kind: u8,
    persistence: u8,
    is_partition: bool,
    /// The partitioned table at the top, when this is a partition.
    root: Option<(String, String)>,
}

const RELATION_INFO: &str = "\
SELECT n.nspname::pg_catalog.text AS esquema, c.relname::pg_catalog.text AS nombre,
       c.relkind::pg_catalog.text AS tipo, c.relpersistence::pg_catalog.text AS persistencia,
       c.relispartition AS es_particion,
       rn.nspname::pg_catalog.text AS esquema_raiz, r.relname::pg_catalog.text AS nombre_raiz
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_catalog.pg_class r ON c.relispartition AND r.oid = pg_catalog.pg_partition_root(c.oid)
  LEFT JOIN pg_catalog.pg_namespace rn ON rn.oid = r.relnamespace
 WHERE c.oid = $1";

impl Relation {
    pub fn load(relid: pg_sys::Oid) -> Option<Relation> {
        let first_byte = |s: Option<String>| s.and_then(|s| s.bytes().next()).unwrap_or(b'?');
        spi::first(RELATION_INFO, &[Regclass(relid).into()], |row| {
            let text = |name: &str| row.get_by_name::<String, _>(name);
            Ok(Relation {
                relid,
                schema: text("esquema")?.unwrap_or_default(),
                name: text("nombre")?.unwrap_or_default(),
                kind: first_byte(text("tipo")?),
                persistence: first_byte(text("persistencia")?),
                is_partition: row.get_by_name::<bool, _>("es_particion")?.unwrap_or(false),
                root: text("esquema_raiz")?.zip(text("nombre_raiz")?),
            })
        })
    }

    pub fn qualified(&self) -> String {
        // A session's temporary schema is pg_temp_<n>; pg_temp is how the
        // user names it.
        let schema = if self.persistence == b't' {
            "pg_temp"
        } else {
            &self.schema
        };
        qualified_name(schema, &self.name)
    }

    /// Refuses what cannot be audited faithfully, with the reason. Partitions
    /// are accepted only when `allow_partition` (for TRUNCATE triggers, which
    /// every partition needs).
    pub fn check_auditable(&self, allow_partition: bool) {
        let refuse = |what: &'static str, detail: &str, hint: Option<String>| -> ! {
            AuditError::NotAuditable {
                table: self.qualified(),
                what,
                detail: detail.to_owned(),
                hint,
            }
            .report()
        };
        match self.kind {
            b'r' | b'p' => {}
            b'v' => refuse(
                "view",
                "A view holds no rows of its own; changes made through it land in its base tables.",
                Some("Audit the tables beneath the view.".into()),
            ),
            b'm' => refuse(
                "materialized view",
                "A materialized view is rebuilt by REFRESH, not changed row by row.",
                Some("Audit the tables it is computed from.".into()),
            ),
            b'f' => refuse(
                "foreign table",
                "Its rows live on another server, where changes made directly would not be recorded here.",
                Some("Audit the table on the server that holds it.".into()),
            ),
            _ => refuse("relation", "Only tables and partitioned tables can be audited.", None),
        }
        if self.persistence == b't' {
            refuse("temporary table", "A temporary table disappears with its session; its history would point at nothing.", None);
        }
        if self.schema == "audit" {
            refuse(
                "table",
                "Tables in schema audit belong to the audit extension itself.",
                None,
            );
        }
        if matches!(
            self.schema.as_str(),
            "pg_catalog" | "information_schema" | "pg_toast"
        ) {
            refuse(
                "table",
                &format!("Tables in schema {} belong to PostgreSQL.", self.schema),
                None,
            );
        }
        if self.is_partition && !allow_partition {
            let (rs, rn) = self.root.clone().unwrap_or_default();
            let root = qualified_name(&rs, &rn);
            refuse(
                "partition",
                &format!("The rows of {} are audited through its partitioned table {root}, which covers every partition.", self.qualified()),
                Some(format!("Call audit.auditar('{root}') instead.")),
            );
        }
    }

    /// Refuses capture from the WAL where it cannot see every change: an
    /// unlogged table writes none to the WAL, and only plain tables are
    /// offered (see `check_plain_table`).
    pub fn check_wal_capture(&self) {
        if self.persistence == b'u' {
            AuditError::UnloggedNotWal {
                table: self.qualified(),
                already_captured: false,
            }
            .report();
        }
        self.check_plain_table("wal");
    }

    /// Refuses capture mode `mode` (`"sentencia"`, `"wal"`) on tables it
    /// does not support: on a partitioned table or in an inheritance tree a
    /// change made to a child directly fires no statement trigger of the
    /// parent, PostgreSQL keeps no transition tables per partition, and
    /// capture from the WAL is offered for plain tables only.
    pub fn check_plain_table(&self, mode: &'static str) {
        let inherits = spi::read_value::<bool>(
            "SELECT EXISTS (SELECT FROM pg_catalog.pg_inherits
                             WHERE inhrelid = $1 OR inhparent = $1)",
            &[Regclass(self.relid).into()],
        )
        .unwrap_or(false);
        if self.kind == b'p' || inherits {
            AuditError::CaptureModeUnsupported {
                mode,
                table: self.qualified(),
            }
            .report();
        }
    }
}

/// A live column of a table.
struct ColumnInfo {
    name: String,
    /// The type as PostgreSQL prints it (for messages).
    type_name: String,
    /// The type is uuid, or a domain over uuid.
    is_uuid: bool,
}

fn columns(relid: pg_sys::Oid) -> Vec<ColumnInfo> {
    spi::rows(
        "SELECT a.attname::pg_catalog.text, a.atttypid, pg_catalog.format_type(a.atttypid, a.atttypmod)
           FROM pg_catalog.pg_attribute a
          WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
          ORDER BY a.attnum",
        &[Regclass(relid).into()],
        |row| {
            let typid = row.get::<pg_sys::Oid>(2)?.unwrap_or(pg_sys::InvalidOid);
            Ok(ColumnInfo {
                name: row.get::<String>(1)?.unwrap_or_default(),
                type_name: row.get::<String>(3)?.unwrap_or_default(),
                // SAFETY: syscache lookup of an existing type.
                is_uuid: unsafe { pg_sys::getBaseType(typid) } == pg_sys::UUIDOID,
            })
        },
    )
}

fn has_primary_key(relid: pg_sys::Oid) -> bool {
    spi::read_value::<bool>(
        "SELECT EXISTS (SELECT FROM pg_catalog.pg_index WHERE indrelid = $1 AND indisprimary)",
        &[Regclass(relid).into()],
    )
    .unwrap_or(false)
}

/// Checks the options against the table's columns.
fn validate_options(rel: &Relation, options: &TableOptions) {
    let cols = columns(rel.relid);
    let exists = |c: &str| cols.iter().any(|col| col.name == c);
    let missing = |column: &str, option: &'static str| -> ! {
        AuditError::UndefinedColumn {
            table: rel.qualified(),
            column: column.to_owned(),
            option,
        }
        .report()
    };
    for c in &options.excluir_columnas {
        if !exists(c) {
            missing(c, "excluir_columnas");
        }
    }
    if let TenantColumn::Named(c) = &options.columna_empresa {
        match cols.iter().find(|col| col.name == *c) {
            None => missing(c, "columna_empresa"),
            Some(col) if !col.is_uuid => AuditError::TenantColumnNotUuid {
                table: rel.qualified(),
                column: c.clone(),
                found: col.type_name.clone(),
                option: "columna_empresa",
            }
            .report(),
            Some(_) => {}
        }
    }
    // The tenant column (named, or the table's uuid empresa_id) cannot be
    // excluded: a change of it moves the row to another tenant, which is
    // recorded as two events only when the column is read.
    let tenant = match &options.columna_empresa {
        TenantColumn::Named(c) => Some(c.as_str()),
        TenantColumn::Default => cols
            .iter()
            .find(|col| col.name == "empresa_id" && col.is_uuid)
            .map(|col| col.name.as_str()),
        TenantColumn::Disabled => None,
    };
    if let Some(c) = tenant.filter(|c| options.excluir_columnas.iter().any(|e| e == c)) {
        AuditError::InvalidArgument {
            name: "opciones",
            message: format!(
                "column \"{c}\" of {} cannot be both the tenant column and an excluded column: a row moved to another tenant would go unrecorded",
                rel.qualified()
            ),
        }
        .report();
    }
    if let Some(keys) = &options.columnas_clave {
        if has_primary_key(rel.relid) {
            AuditError::KeyColumnsWithPrimaryKey(rel.qualified()).report();
        }
        for c in keys {
            if !exists(c) {
                missing(c, "columnas_clave");
            }
        }
    }
}

/// A capture trigger on one of the table's relations.
struct CaptureTrigger {
    table: pg_sys::Oid,
    name: String,
    tgtype: i32,
    /// It has transition tables (a `"captura": "sentencia"` trigger).
    transition: bool,
}

impl CaptureTrigger {
    /// It records INSERT, UPDATE or DELETE (not only TRUNCATE).
    fn captures_rows(&self) -> bool {
        self.tgtype & TRIGGER_TYPE_ROW != 0 || self.transition
    }
}

/// Capture triggers (not partition clones) on `relid` and on every table of
/// its partition tree.
fn capture_triggers(relid: pg_sys::Oid) -> Vec<CaptureTrigger> {
    spi::rows(
        "SELECT t.tgrelid, t.tgname::pg_catalog.text, t.tgtype::pg_catalog.int4,
                t.tgoldtable IS NOT NULL OR t.tgnewtable IS NOT NULL
           FROM pg_catalog.pg_trigger t
          WHERE t.tgfoid = $2 AND t.tgparentid = 0
            AND t.tgrelid = ANY (SELECT relid FROM pg_catalog.pg_partition_tree($1) UNION SELECT $1)
          ORDER BY 1, 2",
        &[Regclass(relid).into(), catalog::ids().capture_fn.into()],
        |row| {
            Ok(CaptureTrigger {
                table: row.get::<pg_sys::Oid>(1)?.unwrap_or(pg_sys::InvalidOid),
                name: row.get::<String>(2)?.unwrap_or_default(),
                tgtype: row.get::<i32>(3)?.unwrap_or(0),
                transition: row.get::<bool>(4)?.unwrap_or(false),
            })
        },
    )
}

/// Leaf tables of a partition tree (the table itself when not partitioned).
pub fn leaf_tables(relid: pg_sys::Oid) -> Vec<pg_sys::Oid> {
    spi::rows(
        "SELECT relid::pg_catalog.oid FROM pg_catalog.pg_partition_tree($1) WHERE isleaf
         UNION SELECT $1::pg_catalog.oid WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_partition_tree($1) WHERE NOT isleaf)
         ORDER BY 1",
        &[Regclass(relid).into()],
        |row| Ok(row.get::<pg_sys::Oid>(1)?.unwrap_or(pg_sys::InvalidOid)),
    )
}

fn table_name(relid: pg_sys::Oid) -> String {
    let (s, n) = catalog::relation_name(relid).unwrap_or_default();
    qualified_name(&s, &n)
}

/// Makes every leaf table of `root`'s tree carry a TRUNCATE capture trigger
/// when `capture` (TRUNCATE triggers are not inherited by partitions), or
/// removes the ones `auditar` created when not. Runs as the caller.
pub fn sync_truncate_triggers(root: pg_sys::Oid, capture: bool) {
    let existing = capture_triggers(root);
    for leaf in leaf_tables(root) {
        let has_truncate = existing
            .iter()
            .any(|t| t.table == leaf && !t.captures_rows());
        let ours = existing
            .iter()
            .any(|t| t.table == leaf && t.name == TRUNCATE_TRIGGER);
        if capture && !has_truncate {
            spi::run(
                &format!(
                    "CREATE TRIGGER {TRUNCATE_TRIGGER} AFTER TRUNCATE ON {} FOR EACH STATEMENT EXECUTE FUNCTION audit.registrar_cambio()",
                    table_name(leaf)
                ),
                &[],
            );
        } else if !capture && ours {
            spi::run(
                &format!("DROP TRIGGER {TRUNCATE_TRIGGER} ON {}", table_name(leaf)),
                &[],
            );
        }
    }
}

/// Creates this and the coming months' partitions of the log.
pub fn ensure_log_partitions() {
    as_log_owner(|| spi::run("SELECT audit._asegurar_particiones()", &[]));
}

fn parse_options(opciones: Option<Jsonb>) -> TableOptions {
    let Some(json) = opciones else {
        return TableOptions::default();
    };
    let value: serde_json::Value = serde_json::from_slice(&json.to_text_bytes())
        .unwrap_or_else(|e| panic!("jsonb text is always valid JSON: {e}"));
    TableOptions::parse(&value).unwrap_or_else(|e| fail(AuditError::InvalidOptions(e)))
}

/// Starts auditing a table, or updates its options (the options given
/// replace the previous ones). Attaches the row trigger, and a TRUNCATE
/// trigger to the table (or to each of its partitions).
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn auditar(tabla: Option<Regclass>, opciones: default!(Option<Jsonb>, "'{}'")) {
    let relid = required(tabla, "tabla").0;
    let rel =
        Relation::load(relid).unwrap_or_else(|| fail(AuditError::UndefinedTable(relid.to_u32())));
    rel.check_auditable(false);
    let options = parse_options(opciones);
    validate_options(&rel, &options);
    if options.captura == Captura::Wal {
        crate::wal::check_prerequisites();
        rel.check_wal_capture();
        // Before anything is written: PostgreSQL creates a slot only in a
        // transaction that has not written yet.
        crate::wal::ensure_slot();
    }

    if options.captura != Captura::Wal && context_trigger(relid).is_some() {
        wait_for_pending_wal_changes(&rel);
    }

    // Triggers first: this is where the caller's privileges on the table are
    // checked (CREATE TRIGGER), before anything is written on their behalf.
    // The extension's own trigger changes: not checked as a user's would be
    // (src/ddl_guard.rs).
    let stored = options.to_json().to_string();
    ddl_guard::own_ddl(|| {
        let identity = attach_capture(&rel, options.captura);
        as_log_owner(|| {
            // (Not ON CONFLICT: tablas_config is a user catalog table, for
            // the WAL's output plugin, and those refuse it. Two sessions
            // auditing one table at once: the second's INSERT fails on the
            // primary key; both hold the table's trigger lock until then.)
            spi::run(
                "WITH actualizada AS (
                     UPDATE audit.tablas_config c
                        SET opciones = $2::pg_catalog.jsonb,
                            identidad_replica = CASE WHEN $4 THEN c.identidad_replica ELSE $3 END
                      WHERE c.tabla = $1
                  RETURNING 1)
                 INSERT INTO audit.tablas_config (tabla, opciones, identidad_replica)
                 SELECT $1, $2::pg_catalog.jsonb, $3 WHERE NOT EXISTS (SELECT FROM actualizada)",
                &[
                    Regclass(relid).into(),
                    stored.as_str().into(),
                    identity.previous.as_deref().into(),
                    identity.keep.into(),
                ],
            )
        });
        // From the WAL, TRUNCATE is decoded like any change.
        sync_truncate_triggers(
            relid,
            options.capturar_truncate && options.captura != Captura::Wal,
        );
    });
    ensure_log_partitions();
    record_ddl_event(
        &rel.schema,
        &rel.name,
        serde_json::json!({ "comando": "auditar", "opciones": options.to_json() }),
    );
}

/// What `attach_capture` did to the table's replica identity, for
/// `tablas_config.identidad_replica`.
struct IdentityChange {
    /// The clause that restores the identity it had before capture from
    /// the WAL set it to FULL.
    previous: Option<String>,
    /// Keep what is stored (the table stays in, or was already in, WAL mode).
    keep: bool,
}

/// The table's replica identity as the clause that sets it.
fn replica_identity(relid: pg_sys::Oid) -> String {
    spi::value::<String>(
        "SELECT CASE c.relreplident WHEN 'd' THEN 'DEFAULT' WHEN 'n' THEN 'NOTHING' WHEN 'f' THEN 'FULL'
                    ELSE 'USING INDEX ' || pg_catalog.quote_ident(
                        (SELECT ic.relname FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
                          WHERE i.indrelid = c.oid AND i.indisreplident))
                END
           FROM pg_catalog.pg_class c WHERE c.oid = $1",
        &[Regclass(relid).into()],
    )
    .unwrap_or_else(|| "DEFAULT".into())
}

/// The replica identity stored for the table when WAL capture set it.
fn stored_replica_identity(relid: pg_sys::Oid) -> Option<String> {
    as_log_owner(|| {
        spi::value::<String>(
            "SELECT identidad_replica FROM audit.tablas_config WHERE tabla = $1",
            &[Regclass(relid).into()],
        )
    })
}

/// The context trigger of a table captured from the WAL, if it has one.
fn context_trigger(relid: pg_sys::Oid) -> Option<String> {
    // Read-only: it must not give the transaction an id (see
    // wait_for_pending_wal_changes).
    spi::read_value::<String>(
        "SELECT tgname::pg_catalog.text FROM pg_catalog.pg_trigger
          WHERE tgrelid = $1 AND tgfoid = $2 ORDER BY 1 LIMIT 1",
        &[Regclass(relid).into(), catalog::ids().context_fn.into()],
    )
}

/// Before a table leaves capture from the WAL for another mode: changes
/// already committed may still wait for the capture worker, and their
/// events must have their ids before those the new mode records right after
/// this transaction, or a row's history would be out of order. The table is
/// locked against writers (SHARE: nothing more commits to it until this
/// transaction ends), then the worker is awaited, 5 seconds at most: a
/// switch away from the WAL is also how one gets around a worker that is
/// stuck, and must not wait for it. If it is behind, or the transaction has
/// already written (the worker may then be waiting for it), the switch goes
/// on with a WARNING: the pending changes are recorded when the worker
/// catches up, after the new mode's first events.
fn wait_for_pending_wal_changes(rel: &Relation) {
    let behind = || {
        warning!(
            "changes of table {} committed before this switch may be recorded after the next ones (capture from the WAL is behind): switch it from \"wal\" in a transaction of its own, once audit.esperar_captura() returns",
            rel.qualified()
        )
    };
    // SAFETY: plain accessor.
    let wrote = unsafe { pg_sys::GetTopTransactionIdIfAny() } != pg_sys::InvalidTransactionId;
    if wrote {
        behind();
        return;
    }
    spi::run(
        &format!("LOCK TABLE {} IN SHARE MODE", rel.qualified()),
        &[],
    );
    if crate::wal::estado::caught_up_within(5_000_000).is_err() {
        behind();
    }
}

/// Takes the table out of capture from the WAL: drops its context trigger
/// and gives it back the replica identity it had. Within `own_ddl`.
fn detach_wal_capture(rel: &Relation) {
    if let Some(name) = context_trigger(rel.relid) {
        spi::run(
            &format!(
                "DROP TRIGGER {} ON {}",
                catalog::quote_ident(&name),
                rel.qualified()
            ),
            &[],
        );
    }
    if let Some(previous) = stored_replica_identity(rel.relid) {
        spi::run(
            &format!(
                "ALTER TABLE {} REPLICA IDENTITY {previous}",
                rel.qualified()
            ),
            &[],
        );
    }
}

/// Gives the table the capture triggers of mode `captura`, then removes
/// those of the other modes (a table never has two: each change would be
/// recorded twice). Runs as the caller, within `own_ddl`.
fn attach_capture(rel: &Relation, captura: Captura) -> IdentityChange {
    let create = |name: &str, definition: &str, each: &str| {
        spi::run(
            &format!(
                "CREATE TRIGGER {name} {} FOR EACH {each} EXECUTE FUNCTION audit.registrar_cambio()",
                definition.replace("{}", &rel.qualified())
            ),
            &[],
        )
    };
    let own: Vec<CaptureTrigger> = capture_triggers(rel.relid)
        .into_iter()
        .filter(|t| t.table == rel.relid && t.captures_rows())
        .collect();
    let row_level = |t: &&CaptureTrigger| t.tgtype & TRIGGER_TYPE_ROW != 0;
    let mut identity = IdentityChange {
        previous: None,
        keep: false,
    };
    if captura != Captura::Wal {
        detach_wal_capture(rel);
    }
    let replaced: Vec<&CaptureTrigger> = match captura {
        Captura::Fila => {
            if !own.iter().any(|t| row_level(&t)) {
                create(ROW_TRIGGER, "AFTER INSERT OR UPDATE OR DELETE ON {}", "ROW");
            }
            own.iter().filter(|t| !row_level(t)).collect()
        }
        Captura::Sentencia => {
            rel.check_plain_table("sentencia");
            for (name, event, definition) in STATEMENT_TRIGGERS {
                if !own.iter().any(|t| t.transition && t.tgtype & event != 0) {
                    create(name, definition, "STATEMENT");
                }
            }
            own.iter().filter(row_level).collect()
        }
        Captura::Wal => {
            // No trigger records anything: the WAL does. The writer pays
            // for whole old rows in the WAL and its context message.
            if context_trigger(rel.relid).is_none() {
                spi::run(
                    &format!(
                        "CREATE TRIGGER {CONTEXT_TRIGGER} BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON {}
                         FOR EACH STATEMENT EXECUTE FUNCTION audit._contexto_wal()",
                        rel.qualified()
                    ),
                    &[],
                );
            }
            // Also under session_replication_role = replica.
            let name = context_trigger(rel.relid).unwrap_or_else(|| CONTEXT_TRIGGER.into());
            spi::run(
                &format!(
                    "ALTER TABLE {} ENABLE ALWAYS TRIGGER {}",
                    rel.qualified(),
                    catalog::quote_ident(&name)
                ),
                &[],
            );
            let current = replica_identity(rel.relid);
            if current == "FULL" {
                identity.keep = true;
            } else {
                identity.previous = Some(current);
                spi::run(
                    &format!("ALTER TABLE {} REPLICA IDENTITY FULL", rel.qualified()),
                    &[],
                );
            }
            own.iter().collect()
        }
    };
    for t in replaced {
        spi::run(
            &format!(
                "DROP TRIGGER {} ON {}",
                catalog::quote_ident(&t.name),
                rel.qualified()
            ),
            &[],
        );
    }
    identity
}

/// Stops auditing a table: removes its capture triggers (also ones attached
/// by hand) and its options. The recorded history stays.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn dejar_de_auditar(tabla: Option<Regclass>) {
    let relid = required(tabla, "tabla").0;
    let rel =
        Relation::load(relid).unwrap_or_else(|| fail(AuditError::UndefinedTable(relid.to_u32())));
    let triggers = capture_triggers(relid);
    let wal = context_trigger(relid).is_some();
    // Dropping a trigger needs ownership of its table: checked here, before
    // anything else changes. (The extension's own DDL: see src/ddl_guard.rs.)
    ddl_guard::own_ddl(|| {
        for t in &triggers {
            spi::run(
                &format!(
                    "DROP TRIGGER {} ON {}",
                    catalog::quote_ident(&t.name),
                    table_name(t.table)
                ),
                &[],
            );
        }
        detach_wal_capture(&rel);
    });
    let had_options = as_log_owner(|| {
        spi::value::<bool>(
            "WITH d AS (DELETE FROM audit.tablas_config WHERE tabla = $1 RETURNING 1)
             SELECT EXISTS (SELECT FROM d)",
            &[Regclass(relid).into()],
        )
    })
    .unwrap_or(false);
    if triggers.is_empty() && !wal && !had_options {
        notice!("table {} is not audited", rel.qualified());
        return;
    }
    record_ddl_event(
        &rel.schema,
        &rel.name,
        serde_json::json!({ "comando": "dejar_de_auditar" }),
    );
}

#[cfg(any(test, feature = "pg_test"))]
#[pgrx::pg_schema]
mod tests {
    use crate::test_support::run;
    use pgrx::prelude::*;

    #[pg_test]
    #[should_panic(expected = "cannot audit view public.t_vista")]
    fn test_auditar_refuses_a_view() {
        run("CREATE VIEW t_vista AS SELECT 1 AS x");
        run("SELECT audit.auditar('t_vista')");
    }
}
