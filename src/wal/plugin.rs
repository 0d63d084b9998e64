//! The output plugin `audit` (this library, as `pg_create_logical_replication_slot(..., 'audit')`
//! names it): turns the decoded WAL into capture records
//! (`audit_model::wal_wire`) for the capture worker.
//!
//! For each change of a table whose options (as of that change: the
//! decoder's historic catalog) say `"captura": "wal"`, it builds the events
//! with the row triggers' own function (`capture::build_events`): same
//! snapshots, ids, tenants, changed columns, key changes, tenant moves,
//! exact values. The writer's facts travel apart, in the transaction's
//! context messages, passed through as they are. Transactions with nothing
//! captured produce no output at all (the worker's own inserts into the log,
//! for one). Changes applied by logical replication (an origin) are left
//! out, as the row triggers leave them out on a subscriber.

use crate::capture::statement::RowMemory;
use crate::capture::writer::{Change, Event};
use crate::capture::{build_events, cache, RowChange};
use crate::datums::varlena_image;
use audit_model::options::Captura;
use audit_model::wal_posicion::lsn_text;
use audit_model::wal_wire::{Accion, Record, WalChange};
use pgrx::pg_sys;
use std::ffi::CStr;

/// Per decoding session.
struct PluginState {
    /// The current transaction's start record is out.
    iniciada: bool,
    /// Memory for one change's work, emptied after each.
    memoria: RowMemory,
    /// The record being written.
    buffer: Vec<u8>,
}

/// # Safety
/// Called by PostgreSQL when it loads the plugin, with its callback table.
#[pgrx::pg_guard]
#[no_mangle]
pub unsafe extern "C-unwind" fn _PG_output_plugin_init(cb: *mut pg_sys::OutputPluginCallbacks) {
    // SAFETY: PostgreSQL passes the callbacks struct to fill.
    unsafe {
        (*cb).startup_cb = Some(startup);
        (*cb).begin_cb = Some(begin);
        (*cb).change_cb = Some(change);
        (*cb).truncate_cb = Some(truncate);
        (*cb).commit_cb = Some(commit);
        (*cb).message_cb = Some(message);
        (*cb).filter_by_origin_cb = Some(filter_by_origin);
        (*cb).shutdown_cb = Some(shutdown);
    }
}

unsafe fn estado<'a>(ctx: *mut pg_sys::LogicalDecodingContext) -> &'a mut PluginState {
    // SAFETY: the caller's guarantee: a decoding context whose private data startup() set.
    unsafe { &mut *(*ctx).output_plugin_private.cast::<PluginState>() }
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn startup(
    ctx: *mut pg_sys::LogicalDecodingContext,
    options: *mut pg_sys::OutputPluginOptions,
    _is_init: bool,
) {
    // SAFETY: PostgreSQL's decoding context and options, for this call.
    unsafe {
        (*options).output_type = pg_sys::OutputPluginOutputType::OUTPUT_PLUGIN_BINARY_OUTPUT;
        (*options).receive_rewrites = false;
        let old = pg_sys::MemoryContextSwitchTo((*ctx).context);
        let memoria = RowMemory::new();
        pg_sys::MemoryContextSwitchTo(old);
        (*ctx).output_plugin_private = Box::into_raw(Box::new(PluginState {
            iniciada: false,
            memoria,
            buffer: Vec::with_capacity(1024),
        }))
        .cast();
    }
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn shutdown(ctx: *mut pg_sys::LogicalDecodingContext) {
    // SAFETY: the private data startup() set; freed once, here.
    unsafe {
        let p = (*ctx).output_plugin_private.cast::<PluginState>();
        if !p.is_null() {
            // (Its memory context goes with the decoding context.)
            drop(Box::from_raw(p));
            (*ctx).output_plugin_private = std::ptr::null_mut();
        }
    }
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn begin(
    ctx: *mut pg_sys::LogicalDecodingContext,
    _txn: *mut pg_sys::ReorderBufferTXN,
) {
    // SAFETY: this decoding context's private data (startup()).
    unsafe { estado(ctx).iniciada = false };
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn commit(
    ctx: *mut pg_sys::LogicalDecodingContext,
    txn: *mut pg_sys::ReorderBufferTXN,
    _commit_lsn: pg_sys::XLogRecPtr,
) {
    // SAFETY: this decoding context and transaction, for this call.
    unsafe {
        if estado(ctx).iniciada {
            let fin = Record::Commit {
                lsn_fin: (*txn).end_lsn,
                commit: (*txn).xact_time.commit_time,
            };
            emit(ctx, txn, &fin);
            estado(ctx).iniciada = false;
        }
    }
}

/// Writes one record (after the transaction's start record, the first time).
unsafe fn emit(
    ctx: *mut pg_sys::LogicalDecodingContext,
    txn: *mut pg_sys::ReorderBufferTXN,
    registro: &Record,
) {
    // SAFETY: this decoding context and transaction, for this call.
    unsafe {
        if !matches!(registro, Record::Commit { .. }) {
            start_output(ctx, txn);
        }
        write(ctx, registro);
    }
}

/// Writes one encoded change record, as [`emit`] does.
unsafe fn emit_encoded(
    ctx: *mut pg_sys::LogicalDecodingContext,
    txn: *mut pg_sys::ReorderBufferTXN,
    bytes: &[u8],
) {
    // SAFETY: this decoding context and transaction, for this call.
    unsafe {
        start_output(ctx, txn);
        write_bytes(ctx, bytes);
    }
}

/// Writes the transaction's start record, unless it is out already.
unsafe fn start_output(
    ctx: *mut pg_sys::LogicalDecodingContext,
    txn: *mut pg_sys::ReorderBufferTXN,
) {
    // SAFETY: this decoding context and transaction, for this call.
    unsafe {
        if !estado(ctx).iniciada {
            estado(ctx).iniciada = true;
            let inicio = Record::Begin {
                xid: (*txn).xid.into(),
                lsn_fin: (*txn).end_lsn,
                commit: (*txn).xact_time.commit_time,
            };
            write(ctx, &inicio);
        }
    }
}

unsafe fn write(ctx: *mut pg_sys::LogicalDecodingContext, registro: &Record) {
    // SAFETY: the caller's guarantee: this decoding context, inside a callback.
    unsafe {
        let mut buffer = std::mem::take(&mut estado(ctx).buffer);
        buffer.clear();
        registro.encode(&mut buffer);
        write_bytes(ctx, &buffer);
        estado(ctx).buffer = buffer;
    }
}

/// Writes one encoded record.
unsafe fn write_bytes(ctx: *mut pg_sys::LogicalDecodingContext, bytes: &[u8]) {
    // SAFETY: the caller's guarantee: this decoding context, inside a callback.
    unsafe {
        pg_sys::OutputPluginPrepareWrite(ctx, true);
        pg_sys::appendBinaryStringInfo((*ctx).out, bytes.as_ptr().cast(), bytes.len() as i32);
        pg_sys::OutputPluginWrite(ctx, true);
    }
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn filter_by_origin(
    _ctx: *mut pg_sys::LogicalDecodingContext,
    origin_id: pg_sys::RepOriginId,
) -> bool {
    origin_id != pg_sys::InvalidRepOriginId as pg_sys::RepOriginId
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn message(
    ctx: *mut pg_sys::LogicalDecodingContext,
    txn: *mut pg_sys::ReorderBufferTXN,
    lsn: pg_sys::XLogRecPtr,
    transactional: bool,
    prefix: *const std::ffi::c_char,
    size: pg_sys::Size,
    content: *const std::ffi::c_char,
) {
    // SAFETY: PostgreSQL's message arguments, valid for this call.
    unsafe {
        if !transactional || txn.is_null() || CStr::from_ptr(prefix) != super::PREFIJO {
            return;
        }
        let bytes = std::slice::from_raw_parts(content.cast::<u8>(), size);
        // Any role may write a message with our prefix: only a signed one
        // (or an unsigned one older than the key) says who wrote the
        // changes that follow. Anything else is left out, and the changes
        // keep the transaction's last genuine context, which its context
        // trigger wrote before its first change.
        let xid = u32::from((*txn).xid);
        match super::clave::key().verify(xid, lsn, bytes) {
            Some(json) => emit(ctx, txn, &Record::Context(json)),
            None => pgrx::warning!(
                "audit: transaction {xid} wrote a logical message with prefix \"audit\" that the extension did not write (at {}); it was ignored",
                lsn_text(lsn)
            ),
        }
    }
}

/// Runs `f` with the decoder's historic snapshot (the catalog as of the
/// change being decoded) as the active one. The table's state (options,
/// key, columns) and the extension's own objects are read with read-only SPI
/// queries, which run with the active snapshot: without this there is none
/// (the capture worker decodes in a transaction that takes no snapshot), and
/// with the caller's (a SQL decoding function's) a change made before a mode
/// switch would be judged by the mode after it.
unsafe fn as_of_change<R>(f: impl FnOnce() -> R) -> R {
    // SAFETY: during decoding the catalog snapshot is the historic one.
    unsafe { pg_sys::PushActiveSnapshot(pg_sys::GetCatalogSnapshot(pg_sys::InvalidOid)) };
    let r = f();
    // SAFETY: pops what was pushed above (an error in between aborts the
    // decoding's transaction, which pops it).
    unsafe { pg_sys::PopActiveSnapshot() };
    r
}

/// Whether changes of `rel` are the WAL's to record (with the snapshot of
/// [`as_of_change`]).
unsafe fn captured(
    rel: pg_sys::Relation,
) -> Option<std::rc::Rc<crate::capture::table_state::TableState>> {
    // SAFETY: the relation the decoder passed.
    if unsafe { (*(*rel).rd_rel).relnamespace } == crate::capture::catalog_audit_namespace() {
        return None;
    }
    let state = cache::table_state(rel);
    (state.captura == Captura::Wal).then_some(state)
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn change(
    ctx: *mut pg_sys::LogicalDecodingContext,
    txn: *mut pg_sys::ReorderBufferTXN,
    rel: pg_sys::Relation,
    change: *mut pg_sys::ReorderBufferChange,
) {
    stop_if_asked();
    // SAFETY: PostgreSQL's change arguments, valid for this call.
    unsafe { as_of_change(|| change_as_of(ctx, txn, rel, change)) }
}

/// Ends the replay of a transaction when the capture worker was asked to
/// stop: a transaction of millions of changes (of any table of the
/// database: decoding sees them all) is replayed in one go, and the server
/// would otherwise wait for it to shut down. The worker ends with the error;
/// the next one decodes that transaction again.
fn stop_if_asked() {
    if super::worker::stopping() {
        pgrx::error!(
            "audit: the capture worker stops, as asked, in the middle of a transaction's changes"
        );
    }
}

unsafe fn change_as_of(
    ctx: *mut pg_sys::LogicalDecodingContext,
    txn: *mut pg_sys::ReorderBufferTXN,
    rel: pg_sys::Relation,
    change: *mut pg_sys::ReorderBufferChange,
) {
    // SAFETY: the caller's guarantee: PostgreSQL's change arguments, for this call.
    unsafe {
        let Some(state) = captured(rel) else {
            return;
        };
        let desc = (*rel).rd_att;
        let tp = (*change).data.tp;
        let tuple = |b: *mut pg_sys::ReorderBufferTupleBuf| -> Option<pg_sys::HeapTuple> {
            (!b.is_null()).then(|| &raw mut (*b).tuple)
        };
        let (old, new) = (tuple(tp.oldtuple), tuple(tp.newtuple));
        // Whether building the events may fail on what the row holds (see
        // `in_subtransaction` below).
        let risky =
            state.runs_sql || old.is_some_and(|t| large(t)) || new.is_some_and(|t| large(t));
        let memoria = &estado(ctx).memoria;
        memoria.run(|| {
            let row_change = match ((*change).action, old, new) {
                (pg_sys::ReorderBufferChangeType::REORDER_BUFFER_CHANGE_INSERT, _, Some(n)) => {
                    RowChange::Insert(n)
                }
                (
                    pg_sys::ReorderBufferChangeType::REORDER_BUFFER_CHANGE_UPDATE,
                    Some(o),
                    Some(n),
                ) => RowChange::Update(o, with_unchanged_toast(desc, o, n)),
                (pg_sys::ReorderBufferChangeType::REORDER_BUFFER_CHANGE_DELETE, Some(o), _) => {
                    RowChange::Delete(o)
                }
                _ => {
                    // The table's replica identity is FULL while it is
                    // captured from the WAL (the DDL guard holds it): an
                    // UPDATE or DELETE without its old row means the guards
                    // were switched off. Say so rather than invent a row.
                    omit(
                        ctx,
                        txn,
                        &state,
                        (*change).lsn,
                        "it came without the row it changed (REPLICA IDENTITY is not FULL)",
                    );
                    return;
                }
            };
            let with_record = |event: &Event, f: &mut dyn FnMut(&Record)| {
                let text = |m: &Option<serde_json::Map<String, serde_json::Value>>| {
                    m.as_ref()
                        .map(|m| serde_json::Value::Object(m.clone()).to_string())
                };
                let (anteriores, nuevos) =
                    (text(&event.exactos_anteriores), text(&event.exactos_nuevos));
                f(&Record::Change(WalChange {
                    exactos_anteriores: anteriores.as_deref(),
                    exactos_nuevos: nuevos.as_deref(),
                    ..wire(event)
                }));
            };
            if !risky {
                build_events(&state, desc, row_change, None, &mut |event| {
                    with_record(event, &mut |r| emit(ctx, txn, r));
                });
                return;
            }
            // The snapshot may run a user's SQL (TableState::runs_sql) or
            // exceed what jsonb holds (a value of 300 MB: the writer's
            // change committed, and with row capture it would have failed).
            // Either fails here, and the worker would stop at this change
            // on every start. So: in a subtransaction, the records kept
            // until it is over (the worker writes what it receives at once,
            // and that must not be rolled back with it).
            let mut records: Vec<Vec<u8>> = Vec::new();
            let built = in_subtransaction(|| {
                build_events(&state, desc, row_change, None, &mut |event| {
                    with_record(event, &mut |r| {
                        let mut bytes = Vec::new();
                        r.encode(&mut bytes);
                        records.push(bytes);
                    });
                });
            });
            match built {
                Ok(()) => {
                    for bytes in &records {
                        emit_encoded(ctx, txn, bytes);
                    }
                }
                Err(error) => omit(
                    ctx,
                    txn,
                    &state,
                    (*change).lsn,
                    &format!("its snapshot failed: {error}"),
                ),
            }
        });
    }
}

/// A change that gets no event, and why: not a silent loss, but a WARNING
/// in the server log now and a row in `audit.log_tecnico` with the events
/// of the same batch (the worker writes it).
unsafe fn omit(
    ctx: *mut pg_sys::LogicalDecodingContext,
    txn: *mut pg_sys::ReorderBufferTXN,
    state: &crate::capture::table_state::TableState,
    lsn: pg_sys::XLogRecPtr,
    motivo: &str,
) {
    // SAFETY: this decoding context and transaction, for this call.
    let xid = u32::from(unsafe { (*txn).xid });
    let lsn = lsn_text(lsn);
    pgrx::warning!(
        "audit: a change of table {}.{} in transaction {xid} (at {lsn}) was not recorded: {motivo}",
        state.schema,
        state.table
    );
    let detalle = serde_json::json!({
        "esquema": state.schema,
        "tabla": state.table,
        "transaccion": xid,
        "lsn": lsn,
        "motivo": motivo,
    });
    // SAFETY: as above.
    unsafe { emit(ctx, txn, &Record::Omission(detalle.to_string().as_bytes())) };
}

/// Whether a decoded row may hold a value too large for a jsonb snapshot
/// (256 MB a string; bytea doubles as hex): it has a toasted value, or it
/// is a large tuple of its own (an old row written whole for REPLICA
/// IDENTITY FULL, values compressed inline). A row without either holds at
/// most 128 kB of compressed values, a few tens of MB once expanded. Two
/// header reads: most rows pay nothing more.
unsafe fn large(tuple: pg_sys::HeapTuple) -> bool {
    // SAFETY: the caller's guarantee: a decoded tuple, valid for the call.
    unsafe {
        (*tuple).t_len > 128 * 1024
            || u32::from((*(*tuple).t_data).t_infomask) & pg_sys::HEAP_HASEXTERNAL != 0
    }
}

/// Runs `f` in a subtransaction, as PL/pgSQL runs a block with an
/// EXCEPTION clause: an ERROR rolls back what `f` did and comes back as its
/// message. Anything else (a cancel, a shutdown, out of memory, a bug's
/// panic) goes on as itself, once the subtransaction is rolled back.
unsafe fn in_subtransaction(f: impl FnOnce()) -> Result<(), String> {
    use pgrx::pg_sys::panic::CaughtError;
    use pgrx::PgSqlErrorCode::*;
    // SAFETY: the caller's guarantee: inside a (decoding) transaction.
    unsafe {
        let memoria = pg_sys::CurrentMemoryContext;
        let owner = pg_sys::CurrentResourceOwner;
        pg_sys::BeginInternalSubTransaction(std::ptr::null());
        pg_sys::MemoryContextSwitchTo(memoria);
        // What `f` leaves half done is the subtransaction's to undo.
        let f = std::panic::AssertUnwindSafe(f);
        let result = pgrx::PgTryBuilder::new(move || {
            let f = f;
            (f.0)();
            Ok(())
        })
        .catch_others(|caught| Err(Box::new(caught)))
        .execute();
        pg_sys::MemoryContextSwitchTo(memoria);
        if result.is_ok() {
            pg_sys::ReleaseCurrentSubTransaction();
        } else {
            pg_sys::RollbackAndReleaseCurrentSubTransaction();
        }
        pg_sys::MemoryContextSwitchTo(memoria);
        pg_sys::CurrentResourceOwner = owner;
        result.map_err(|caught| match *caught {
            CaughtError::PostgresError(ref r) | CaughtError::ErrorReport(ref r)
                if !matches!(
                    r.sql_error_code(),
                    ERRCODE_QUERY_CANCELED | ERRCODE_ADMIN_SHUTDOWN | ERRCODE_OUT_OF_MEMORY
                ) =>
            {
                r.message().to_string()
            }
            other => other.rethrow(),
        })
    }
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn truncate(
    ctx: *mut pg_sys::LogicalDecodingContext,
    txn: *mut pg_sys::ReorderBufferTXN,
    nrelations: std::ffi::c_int,
    relations: *mut pg_sys::Relation,
    _change: *mut pg_sys::ReorderBufferChange,
) {
    stop_if_asked();
    // SAFETY: PostgreSQL's truncate arguments, valid for this call.
    unsafe { as_of_change(|| truncate_as_of(ctx, txn, nrelations, relations)) }
}

unsafe fn truncate_as_of(
    ctx: *mut pg_sys::LogicalDecodingContext,
    txn: *mut pg_sys::ReorderBufferTXN,
    nrelations: std::ffi::c_int,
    relations: *mut pg_sys::Relation,
) {
    // SAFETY: the caller's guarantee: `relations` holds `nrelations` relations.
    unsafe {
        for i in 0..nrelations as usize {
            let rel = *relations.add(i);
            let Some(state) = captured(rel).filter(|s| s.capture_truncate) else {
                continue;
            };
            let cambio = WalChange {
                accion: Accion::Truncate,
                esquema: &state.schema,
                tabla: &state.table,
                registro_id: None,
                registro_pk: None,
                anteriores: None,
                nuevos: None,
                campos: None,
                empresa_id: None,
                registro_id_anterior: None,
                traslado: None,
                exactos_anteriores: None,
                exactos_nuevos: None,
            };
            emit(ctx, txn, &Record::Change(cambio));
        }
    }
}

/// The new row of an UPDATE with the values it did not change and that live
/// in the TOAST table taken from the old row: the WAL has only a pointer to
/// them in the new row, and, with REPLICA IDENTITY FULL, the value itself in
/// the old one.
unsafe fn with_unchanged_toast(
    desc: pg_sys::TupleDesc,
    old: pg_sys::HeapTuple,
    new: pg_sys::HeapTuple,
) -> pg_sys::HeapTuple {
    // SAFETY: the caller's guarantee: tuples of `desc`.
    unsafe {
        let natts = (*desc).natts as usize;
        let attrs = (*desc).attrs.as_slice(natts);
        let mut new_row = crate::capture::row::Deformed::new(new, desc);
        let mut old_row: Option<crate::capture::row::Deformed> = None;
        let mut replaced = false;
        for (i, a) in attrs.iter().enumerate() {
            if a.attisdropped || a.attlen != -1 || new_row.nulls[i] {
                continue;
            }
            let p = new_row.values[i].cast_mut_ptr::<pg_sys::varlena>();
            let on_disk = pgrx::varlena::varatt_is_1b_e(p)
                && pgrx::varlena::vartag_external(p)
                    == pg_sys::vartag_external::VARTAG_ONDISK as u8;
            if !on_disk {
                continue;
            }
            let o = old_row.get_or_insert_with(|| crate::capture::row::Deformed::new(old, desc));
            new_row.values[i] = o.values[i];
            new_row.nulls[i] = o.nulls[i];
            replaced = true;
        }
        if !replaced {
            return new;
        }
        pg_sys::heap_form_tuple(
            desc,
            new_row.values.as_mut_ptr(),
            new_row.nulls.as_mut_ptr(),
        )
    }
}

/// An event as the capture record that carries it.
unsafe fn wire<'a>(event: &'a Event<'a>) -> WalChange<'a> {
    // SAFETY: the event's datums are varlena values alive for the event.
    let image = |d: Option<pg_sys::Datum>| d.map(|d| unsafe { varlena_image(d) });
    let accion = match event.change {
        Change::Insert { .. } => Accion::Insert,
        Change::Update { .. } => Accion::Update,
        Change::Delete { .. } => Accion::Delete,
        _ => Accion::Truncate,
    };
    WalChange {
        accion,
        esquema: event.esquema.unwrap_or_default(),
        tabla: event.tabla.unwrap_or_default(),
        registro_id: event.registro_id.map(|u| *u.as_bytes()),
        registro_pk: image(event.registro_pk),
        anteriores: image(event.change.old_row()),
        nuevos: image(event.change.new_row()),
        campos: event.change.changed().map(<[&str]>::to_vec),
        empresa_id: event.empresa_id,
        registro_id_anterior: event.registro_id_anterior.map(|u| *u.as_bytes()),
        traslado: event.traslado,
        exactos_anteriores: None,
        exactos_nuevos: None,
    }
}
