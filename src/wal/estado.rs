//! How the capture from the WAL is doing, and waiting for it:
//! `audit.estado_captura()` and `audit.esperar_captura(tiempo_maximo)`.

use super::shmem;
use crate::error::AuditError;
use crate::spi;
use crate::sql_types::Jsonb;
use audit_model::wal_posicion::lsn_text;
use pgrx::datum::Interval;
use pgrx::pg_sys;
use pgrx::prelude::*;
use serde_json::json;

/// The WAL position up to which everything is flushed.
fn flushed() -> u64 {
    // SAFETY: plain accessor.
    unsafe { pg_sys::GetFlushRecPtr(std::ptr::null_mut()) }
}

/// Seconds the capture of `db` is behind: 0 when it has applied everything
/// flushed, else the time since it last had. None when no worker ever ran.
pub fn lag_seconds(db: pg_sys::Oid) -> Option<f64> {
    if !super::preloaded() {
        return None;
    }
    let e = shmem::get(db)?;
    if e.aplicado >= flushed() {
        return Some(0.0);
    }
    Some((shmem::timestamp_now() - e.al_dia).max(0) as f64 / 1_000_000.0)
}

fn timestamp_text(ts: i64) -> Option<String> {
    (ts != 0).then(|| {
        spi::value::<String>(
            "SELECT pg_catalog.to_char(pg_catalog.to_timestamp($1) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')",
            &[(ts as f64 / 1_000_000.0 + 946_684_800.0).into()],
        )
        .unwrap_or_default()
    })
}

/// The capture from the WAL of this database: its slot, its worker, how far
/// behind it is.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn estado_captura() -> Jsonb {
    // SAFETY: plain globals.
    let (db, level) = unsafe { (pg_sys::MyDatabaseId, pg_sys::wal_level) };
    let slot_name = super::slot_name();
    let slot = spi::first(
        "SELECT active, (pg_catalog.pg_current_wal_lsn() - restart_lsn)::pg_catalog.int8,
                confirmed_flush_lsn::pg_catalog.text, wal_status
           FROM pg_catalog.pg_replication_slots WHERE slot_name = $1",
        &[slot_name.as_str().into()],
        |r| {
            Ok(json!({
                "activo": r.get::<bool>(1)?,
                "wal_retenido_bytes": r.get::<i64>(2)?,
                "confirmado_hasta": r.get::<String>(3)?,
                "estado_wal": r.get::<String>(4)?,
            }))
        },
    );
    let tablas = spi::value::<i64>(
        "SELECT pg_catalog.count(*) FROM audit.tablas_auditadas
          WHERE opciones ->> 'captura' = 'wal'",
        &[],
    )
    .unwrap_or(0);
    let entry = if super::preloaded() {
        shmem::get(db)
    } else {
        None
    };
    let (aplicado, pid, ultimo, compresion) = entry.map_or((0, 0, 0, 0), |e| {
        (e.aplicado, e.pid, e.ultimo_commit, e.compresion_wal)
    });
    let worker_running = super::preloaded() && shmem::served(db);
    let actual = flushed();
    Jsonb::from_value(&json!({
        "slot": slot_name,
        "slot_existe": slot.is_some(),
        "slot_estado": slot,
        "worker": {
            "en_marcha": worker_running,
            "pid": (worker_running && pid != 0).then_some(pid),
            "compresion_wal": worker_running.then(|| super::compresion::name(compresion)),
        },
        "tablas": tablas,
        "lsn_aplicado": (aplicado != 0).then(|| lsn_text(aplicado)),
        "lsn_actual": lsn_text(actual),
        "lag_bytes": (aplicado != 0).then(|| actual.saturating_sub(aplicado)),
        "lag_segundos": lag_seconds(db),
        "ultimo_commit_aplicado": timestamp_text(ultimo),
        "precargada": super::preloaded(),
        "wal_level_logical": level >= pg_sys::WalLevel::WAL_LEVEL_LOGICAL as i32,
    }))
}

/// Returns once every transaction committed before the call is in the log
/// (at once when this database captures nothing from the WAL); raises 57014
/// after `tiempo_maximo`.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn esperar_captura(tiempo_maximo: default!(Option<Interval>, "'30 seconds'")) {
    let tiempo = crate::error::required(tiempo_maximo, "tiempo_maximo");
    let micros = interval_micros(&tiempo);
    if micros < 0 {
        AuditError::InvalidArgument {
            name: "tiempo_maximo",
            message: "it must not be negative".into(),
        }
        .report();
    }
    wait(micros, &tiempo.to_string());
}

fn interval_micros(i: &Interval) -> i64 {
    i.micros()
        .saturating_add(i64::from(i.days()).saturating_mul(86_400_000_000))
        .saturating_add(i64::from(i.months()).saturating_mul(30 * 86_400_000_000))
}

/// Waits up to `micros` for the capture from the WAL to apply every
/// transaction committed before the call; raises 57014 when it does not.
pub fn wait(micros: i64, shown: &str) {
    if let Err(falta) = caught_up_within(micros) {
        AuditError::CaptureTimeout {
            tiempo: shown.to_string(),
            esperado: falta["esperado"].as_str().unwrap_or_default().to_string(),
            aplicado: falta["aplicado"].as_str().unwrap_or_default().to_string(),
        }
        .report();
    }
}

/// Waits up to `micros` for the capture from the WAL to apply every
/// transaction committed before the call. Ok at once when this database
/// captures nothing from the WAL; Err with the positions when time runs out.
pub fn caught_up_within(micros: i64) -> Result<(), serde_json::Value> {
    if !super::slot_exists() {
        return Ok(());
    }
    super::check_prerequisites();
    // The WAL written so far, flushed as a commit does (the worker decodes
    // only what is flushed, and the last record written can stay partly
    // unflushed while nobody commits).
    let target = super::flush_written();
    // SAFETY: plain accessor.
    let db = unsafe { pg_sys::MyDatabaseId };
    let deadline = shmem::timestamp_now().saturating_add(micros);
    let mut woken = false;
    loop {
        let entry = shmem::get(db);
        let aplicado = entry.map_or(0, |e| e.aplicado);
        if aplicado >= target {
            return Ok(());
        }
        if !woken {
            // The worker gathers work for a moment between batches: someone
            // waiting is worth a batch now.
            woken = true;
            if let Some(e) = entry.filter(|e| e.pid != 0) {
                // SAFETY: the process array is searched under its lock; a
                // latch lives as long as its PGPROC slot.
                unsafe {
                    let proc_ = pg_sys::BackendPidGetProc(e.pid);
                    if !proc_.is_null() {
                        pg_sys::SetLatch(&raw mut (*proc_).procLatch);
                    }
                }
            }
        }
        if shmem::timestamp_now() >= deadline {
            return Err(json!({ "esperado": lsn_text(target), "aplicado": lsn_text(aplicado) }));
        }
        // SAFETY: waiting on this backend's latch, as any backend may.
        unsafe {
            pg_sys::WaitLatch(
                pg_sys::MyLatch,
                (pg_sys::WL_LATCH_SET | pg_sys::WL_TIMEOUT | pg_sys::WL_EXIT_ON_PM_DEATH) as i32,
                10,
                pg_sys::PG_WAIT_EXTENSION,
            );
            pg_sys::ResetLatch(pg_sys::MyLatch);
        }
        pgrx::check_for_interrupts!();
    }
}
