//! `audit.sellar()`: chains the events of finished transactions into blocks.
//!
//! The horizon is the oldest transaction of this database still running
//! (see [`horizon`]): every transaction below it has committed or aborted, so its events
//! are final and none can appear later. Everything from the previous block's
//! end up to the horizon is sealed, in blocks of about [`EVENTOS_POR_BLOQUE`]
//! events split between transactions. Writers are never waited for or
//! locked; a long (or prepared) transaction holds the horizon back, and the
//! report says which one. Sealers serialize among themselves only.

use super::eventos::{self, Leido, EVENTOS_SQL};
use crate::elevation::as_log_owner;
use crate::error::AuditError;
use crate::spi;
use crate::sql_types::Jsonb;
use audit_model::huella::{hash_bloque, raiz, Bloque, Hash, Hoja};
use pgrx::datum::TimestampWithTimeZone;
use pgrx::prelude::*;
use pgrx::Spi;
use serde_json::{json, Value};

/// Events per block, about (a block ends between two transactions).
const EVENTOS_POR_BLOQUE: usize = 100_000;

/// How long sealing waits for the capture from the WAL to catch up before it
/// leaves everything for its next run (microseconds).
const SELLAR_ESPERA_CAPTURA: i64 = 10_000_000;

/// Seals what can be sealed and reports it.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn sellar() -> Jsonb {
    Jsonb::from_value(&as_log_owner(seal))
}

/// The last block: id, end of its range, hash.
pub fn ultimo_bloque() -> Option<(i64, i64, Vec<u8>)> {
    spi::first(
        "SELECT id, xid_hasta, hash FROM audit.bloques ORDER BY id DESC LIMIT 1",
        &[],
        |r| {
            Ok((
                r.get(1)?.unwrap_or_default(),
                r.get(2)?.unwrap_or_default(),
                r.get(3)?.unwrap_or_default(),
            ))
        },
    )
}

pub fn seal() -> Value {
    // Under REPEATABLE READ or SERIALIZABLE the events would be read with a
    // snapshot older than the horizon, computed from the sessions now: a
    // transaction committed in between would be below the horizon yet
    // unseen, left out of its block for good (and named as inserted by
    // verificar).
    let isolation = spi::read_value::<String>(
        "SELECT pg_catalog.current_setting('transaction_isolation')",
        &[],
    )
    .unwrap_or_default();
    if isolation != "read committed" {
        AuditError::NotInReadCommitted {
            what: "audit.sellar",
            isolation: isolation.to_uppercase(),
        }
        .report();
    }
    // Two sealers at once would chain two blocks to the same predecessor.
    spi::run(
        "SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('audit.sellar'))",
        &[],
    );
    let (mut id, desde, anterior) =
        ultimo_bloque().map_or((0, 0, None), |(id, hasta, hash)| (id, hasta, Some(hash)));
    let horizonte = horizon();
    let retenido_por = oldest_transaction();
    // Every transaction below the horizon has finished, but the events of
    // those captured from the WAL are written by the capture worker after
    // their commit: seal only once they are all in the log.
    if let Err(falta) = crate::wal::estado::caught_up_within(SELLAR_ESPERA_CAPTURA) {
        return json!({ "bloques_nuevos": 0, "eventos_sellados": 0, "retenido_por": retenido_por,
                       "captura_pendiente": falta });
    }
    if horizonte <= desde {
        return json!({ "bloques_nuevos": 0, "eventos_sellados": 0, "retenido_por": retenido_por });
    }

    // Read every event of the range, check it, and cut it into blocks.
    let mut bloques: Vec<(i64, i64, Vec<Hoja>)> = Vec::new();
    let mut actual: Vec<Hoja> = Vec::new();
    let mut inicio = desde;
    let mut ultima_tx: Option<i64> = None;
    let mut alterado: Option<i64> = None;
    Spi::connect(|client| {
        let mut cursor = client.open_cursor(EVENTOS_SQL, &[desde.into(), horizonte.into()]);
        'lectura: loop {
            let lote: Vec<Leido> = eventos::siguientes(&mut cursor);
            if lote.is_empty() {
                break;
            }
            for e in lote {
                if !e.intacto() {
                    alterado = Some(e.id);
                    break 'lectura;
                }
                if actual.len() >= EVENTOS_POR_BLOQUE && ultima_tx != Some(e.transaccion) {
                    bloques.push((inicio, e.transaccion, std::mem::take(&mut actual)));
                    inicio = e.transaccion;
                }
                ultima_tx = Some(e.transaccion);
                actual.push(Hoja {
                    id: e.id,
                    huella: e.calculada,
                });
            }
        }
    });
    if let Some(evento) = alterado {
        // Sealing it would vouch for a change made behind the log's back.
        pgrx::warning!("audit.sellar: event {evento} does not match its hash; nothing was sealed");
        return json!({
            "bloques_nuevos": 0,
            "eventos_sellados": 0,
            "error": { "evento": evento, "problema": "modificado",
                       "mensaje": format!("event {evento} was changed after it was recorded; nothing was sealed (run audit.verificar())") },
            "retenido_por": retenido_por,
        });
    }
    bloques.push((inicio, horizonte, actual));

    let sellado_en: TimestampWithTimeZone =
        spi::value("SELECT pg_catalog.now()", &[]).expect("now() is not null");
    let mut anterior: Option<Hash> =
        anterior.map(|h| h.try_into().expect("a block hash is 32 bytes"));
    let mut sellados = 0usize;
    let antes = id;
    for (xid_desde, xid_hasta, mut hojas) in bloques {
        id += 1;
        hojas.sort_unstable_by_key(|h| h.id);
        let bloque = Bloque {
            id,
            xid_desde,
            xid_hasta,
            eventos: hojas.len() as i64,
            raiz: raiz(&hojas),
            hash_anterior: anterior,
            sellado_en: i64::from(sellado_en),
        };
        let hash = hash_bloque(&bloque);
        spi::run(
            "INSERT INTO audit.bloques (id, xid_desde, xid_hasta, eventos, hojas, raiz, hash_anterior, hash, sellado_en)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[
                id.into(),
                xid_desde.into(),
                xid_hasta.into(),
                bloque.eventos.into(),
                audit_model::huella::codificar_hojas(&hojas).into(),
                bloque.raiz.to_vec().into(),
                anterior.map(|h| h.to_vec()).into(),
                hash.to_vec().into(),
                sellado_en.into(),
            ],
        );
        sellados += hojas.len();
        anterior = Some(hash);
    }
    json!({
        "bloques_nuevos": id - antes,
        "eventos_sellados": sellados,
        "ultimo_bloque": id,
        "hash": anterior.map(hex::encode),
        "xid_hasta": horizonte,
        "retenido_por": retenido_por,
    })
}

/// Every transaction of this database below the horizon has finished.
///
/// The snapshot's xmin would do, but it is cluster-wide: a long transaction
/// in another database, which never writes this log, would hold sealing
/// back. So: the snapshot's running transactions that belong to this
/// database (sessions here, transactions prepared here), else the next
/// transaction id. A transaction that gets its id after the snapshot gets
/// one above its xmax. This session's own transaction counts too: sealing
/// must not vouch for its events before it commits.
fn horizon() -> i64 {
    // pg_stat_activity is read once per transaction and then kept: read it
    // afresh.
    spi::run("SELECT pg_catalog.pg_stat_clear_snapshot()", &[]);
    spi::value(
        "WITH s AS (SELECT pg_catalog.pg_current_snapshot() AS snap),
              aqui AS (
                SELECT a.backend_xid::pg_catalog.text::pg_catalog.int8 AS xid32
                  FROM pg_catalog.pg_stat_activity a
                 WHERE a.datname = pg_catalog.current_database()
                   AND a.backend_xid IS NOT NULL AND a.pid <> pg_catalog.pg_backend_pid()
                UNION ALL
                SELECT p.transaction::pg_catalog.text::pg_catalog.int8
                  FROM pg_catalog.pg_prepared_xacts p
                 WHERE p.database = pg_catalog.current_database())
         SELECT LEAST(
                  (SELECT pg_catalog.pg_snapshot_xmax(snap)::pg_catalog.text::pg_catalog.int8 FROM s),
                  (SELECT pg_catalog.min(x::pg_catalog.text::pg_catalog.int8)
                     FROM s, pg_catalog.pg_snapshot_xip(s.snap) x
                    WHERE (x::pg_catalog.text::pg_catalog.int8 % 4294967296) IN (SELECT xid32 FROM aqui)),
                  pg_catalog.pg_current_xact_id_if_assigned()::pg_catalog.text::pg_catalog.int8)",
        &[],
    )
    .expect("a snapshot has an xmax")
}

/// The oldest transaction open in this database (what holds the horizon
/// back), or null.
fn oldest_transaction() -> Value {
    let running = spi::first(
        "SELECT a.pid, a.backend_xid::pg_catalog.text, a.xact_start::pg_catalog.text, a.state, a.usename::pg_catalog.text
           FROM pg_catalog.pg_stat_activity a
          WHERE a.datname = pg_catalog.current_database() AND a.backend_xid IS NOT NULL
            AND a.pid <> pg_catalog.pg_backend_pid()
          ORDER BY pg_catalog.age(a.backend_xid) DESC LIMIT 1",
        &[],
        |r| {
            Ok(json!({
                "pid": r.get::<i32>(1)?,
                "xid": r.get::<String>(2)?,
                "desde": r.get::<String>(3)?,
                "estado": r.get::<String>(4)?,
                "rol": r.get::<String>(5)?,
            }))
        },
    );
    let prepared = spi::first(
        "SELECT p.gid, p.transaction::pg_catalog.text, p.prepared::pg_catalog.text
           FROM pg_catalog.pg_prepared_xacts p
          WHERE p.database = pg_catalog.current_database()
          ORDER BY pg_catalog.age(p.transaction) DESC LIMIT 1",
        &[],
        |r| {
            Ok(json!({
                "transaccion_preparada": r.get::<String>(1)?,
                "xid": r.get::<String>(2)?,
                "desde": r.get::<String>(3)?,
            }))
        },
    );
    json!({ "transaccion": running, "preparada": prepared })
}
