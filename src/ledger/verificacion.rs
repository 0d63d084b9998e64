//! `audit.verificar()` and `audit.digest()`.
//!
//! Verification recomputes everything: every event's hash from its columns,
//! every block's list of events, root and header hash, and the chain from
//! the first block; it compares each block's sealed events with the events
//! now in its range of transactions, so a changed, deleted or inserted event
//! is named, and it checks events not sealed yet against their own hashes.
//! Digests kept outside the database are checked against the chain: only
//! they reveal a chain rewritten from some block on. Sealed events that
//! retention removed (the id ranges in `audit.retenciones`) are counted as
//! purged, not as deleted.

use super::eventos::{self, Leido, EVENTOS_SQL};
use super::sellado::ultimo_bloque;
use crate::elevation::as_log_owner;
use crate::error::{fail, AuditError};
use crate::spi;
use crate::sql_types::Jsonb;
use audit_model::huella::{
    decodificar_hojas, hash_bloque, primera_discrepancia, raiz, Bloque, Hash, Hoja,
};
use audit_model::retencion::Purgados;
use pgrx::datum::TimestampWithTimeZone;
use pgrx::prelude::*;
use pgrx::Spi;
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};

struct BloqueLeido {
    cabecera: Bloque,
    hojas: Vec<u8>,
    hash: Vec<u8>,
}

/// Verifies the whole log and its blocks; with `digests` (one object of
/// audit.digest(), or an array of them), checks that the chain still ends in
/// those blocks with those hashes.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn verificar(digests: default!(Option<Jsonb>, "NULL")) -> Jsonb {
    let digests = digests.map(|d| {
        d.to_value("digests")
            .unwrap_or_else(|e| fail(AuditError::JsonDoc(e)))
    });
    let esperados = digests.as_ref().map(digests_esperados);
    Jsonb::from_value(&as_log_owner(|| verify(esperados.unwrap_or_default())))
}

/// (block id, hash) pairs of the digests given.
fn digests_esperados(v: &Value) -> Vec<(i64, String)> {
    let items = match v {
        Value::Array(items) => items.clone(),
        other => vec![other.clone()],
    };
    items
        .iter()
        .map(|d| {
            let bloque = d.get("bloque").and_then(Value::as_i64);
            let hash = d.get("hash").and_then(Value::as_str);
            match (bloque, hash) {
                (Some(b), Some(h)) => (b, h.to_ascii_lowercase()),
                _ => fail(AuditError::InvalidArgument {
                    name: "digests",
                    message: "each digest must be an object with \"bloque\" (a number) and \"hash\" (hex), as audit.digest() returns".into(),
                }),
            }
        })
        .collect()
}

fn verify(digests: Vec<(i64, String)>) -> Value {
    let mut primer_error: Option<Value> = None;
    let mut anotar = |e: Value| {
        if primer_error.is_none() {
            primer_error = Some(e);
        }
    };
    let (mut bloques, mut eventos, mut sin_sellar, mut purgados) = (0i64, 0i64, 0i64, 0i64);
    let mut hashes: HashMap<i64, String> = HashMap::new();
    let retencion = purgados_por_retencion();
    Spi::connect(|client| {
        let mut cursor_bloques = client.open_cursor(
            "SELECT id, xid_desde, xid_hasta, eventos, hojas, raiz, hash_anterior, hash, sellado_en
               FROM audit.bloques ORDER BY id",
            &[],
        );
        let mut cursor_eventos = client.open_cursor(EVENTOS_SQL, &[0i64.into(), i64::MAX.into()]);
        let mut pendientes: VecDeque<Leido> = VecDeque::new();
        let mut siguiente_evento = |pendientes: &mut VecDeque<Leido>| {
            if pendientes.is_empty() {
                pendientes.extend(eventos::siguientes(&mut cursor_eventos));
            }
        };
        let (mut id_esperado, mut desde_esperado, mut anterior): (i64, i64, Option<Vec<u8>>) =
            (1, 0, None);
        loop {
            let lote = spi::fetch_batch(&mut cursor_bloques, 16, |r| {
                let raiz: Vec<u8> = r.get(6)?.unwrap_or_default();
                let anterior: Option<Vec<u8>> = r.get(7)?;
                let sellado: TimestampWithTimeZone = r.get(9)?.expect("sellado_en is NOT NULL");
                Ok(BloqueLeido {
                    cabecera: Bloque {
                        id: r.get(1)?.unwrap_or_default(),
                        xid_desde: r.get(2)?.unwrap_or_default(),
                        xid_hasta: r.get(3)?.unwrap_or_default(),
                        eventos: r.get(4)?.unwrap_or_default(),
                        raiz: hash32(&raiz),
                        hash_anterior: anterior.as_deref().map(hash32),
                        sellado_en: i64::from(sellado),
                    },
                    hojas: r.get(5)?.unwrap_or_default(),
                    hash: r.get(8)?.unwrap_or_default(),
                })
            });
            if lote.is_empty() {
                break;
            }
            for b in lote {
                let c = &b.cabecera;
                bloques += 1;
                hashes.insert(c.id, hex::encode(&b.hash));
                if c.id != id_esperado {
                    anotar(
                        json!({ "bloque": id_esperado, "problema": "bloque_eliminado",
                                   "mensaje": format!("block {id_esperado} is missing from the chain") }),
                    );
                }
                if c.xid_desde != desde_esperado {
                    anotar(json!({ "bloque": c.id, "problema": "rango_alterado",
                                   "mensaje": format!("block {} does not start where the previous one ended", c.id) }));
                }
                if c.hash_anterior.map(|h| h.to_vec()) != anterior {
                    anotar(json!({ "bloque": c.id, "problema": "cadena_rota",
                                   "mensaje": format!("block {} does not chain to the previous block's hash", c.id) }));
                }
                if hash_bloque(c).as_slice() != b.hash.as_slice() {
                    anotar(json!({ "bloque": c.id, "problema": "bloque_alterado",
                                   "mensaje": format!("the header of block {} does not match its hash", c.id) }));
                }
                let selladas: Vec<Hoja> = match decodificar_hojas(&b.hojas) {
                    Some(h) if raiz(&h) == c.raiz && h.len() as i64 == c.eventos => h,
                    _ => {
                        anotar(json!({ "bloque": c.id, "problema": "bloque_alterado",
                                       "mensaje": format!("the sealed list of events of block {} does not match its root", c.id) }));
                        decodificar_hojas(&b.hojas).unwrap_or_default()
                    }
                };
                let (selladas, purgadas) = retencion.sin_purgadas(selladas);
                purgados += purgadas;
                // The events now in the block's range of transactions.
                let mut actuales: Vec<Hoja> = Vec::new();
                // Events whose stored hash no longer matches their columns
                // (the columns may be intact and the hash column changed:
                // external verifiers read that column).
                let mut huella_cambiada: Option<i64> = None;
                loop {
                    siguiente_evento(&mut pendientes);
                    match pendientes.front() {
                        Some(e) if e.transaccion < c.xid_hasta => {
                            let e = pendientes.pop_front().expect("front exists");
                            if !e.intacto() {
                                huella_cambiada =
                                    Some(huella_cambiada.map_or(e.id, |m| m.min(e.id)));
                            }
                            actuales.push(Hoja {
                                id: e.id,
                                huella: e.calculada,
                            });
                        }
                        _ => break,
                    }
                }
                actuales.sort_unstable_by_key(|h| h.id);
                eventos += actuales.len() as i64;
                let discrepancia = primera_discrepancia(&selladas, &actuales);
                let antes_que_la_discrepancia =
                    |id: i64| discrepancia.as_ref().is_none_or(|d| id < d.evento());
                if let Some(id) = huella_cambiada.filter(|id| antes_que_la_discrepancia(*id)) {
                    anotar(
                        json!({ "bloque": c.id, "evento": id, "problema": "modificado",
                                   "mensaje": format!("the stored hash of event {id} (block {}) was changed", c.id) }),
                    );
                }
                if let Some(d) = discrepancia {
                    anotar(
                        json!({ "bloque": c.id, "evento": d.evento(), "problema": d.problema(),
                                   "mensaje": mensaje(d.problema(), d.evento(), c.id) }),
                    );
                }
                id_esperado = c.id + 1;
                desde_esperado = c.xid_hasta;
                anterior = Some(b.hash.clone());
            }
        }
        // Events not sealed yet: each must still match its own hash.
        loop {
            siguiente_evento(&mut pendientes);
            let Some(e) = pendientes.pop_front() else {
                break;
            };
            eventos += 1;
            sin_sellar += 1;
            if !e.intacto() {
                anotar(json!({ "evento": e.id, "problema": "modificado",
                               "mensaje": format!("event {} (not sealed yet) does not match its hash", e.id) }));
            }
        }
    });
    for (bloque, hash) in digests {
        match hashes.get(&bloque) {
            Some(h) if *h == hash => {}
            Some(_) => anotar(json!({ "bloque": bloque, "problema": "digest",
                                       "mensaje": format!("block {bloque} no longer has the hash of the digest kept outside: the chain was rewritten") })),
            None => anotar(json!({ "bloque": bloque, "problema": "digest",
                                    "mensaje": format!("block {bloque} of the digest kept outside is not in the chain") })),
        }
    }
    json!({
        "valido": primer_error.is_none(),
        "bloques": bloques,
        "eventos": eventos,
        "eventos_sin_sellar": sin_sellar,
        "eventos_purgados": purgados,
        "primer_error": primer_error,
    })
}

/// The id ranges retention removed (audit.retenciones).
fn purgados_por_retencion() -> Purgados {
    Purgados::new(spi::rows(
        "SELECT pg_catalog.lower(r), pg_catalog.upper(r) - 1
           FROM audit.retenciones, pg_catalog.unnest(rangos_id) AS r",
        &[],
        |row| {
            Ok((
                row.get::<i64>(1)?.unwrap_or_default(),
                row.get::<i64>(2)?.unwrap_or_default(),
            ))
        },
    ))
}

fn mensaje(problema: &str, evento: i64, bloque: i64) -> String {
    match problema {
        "eliminado" => format!("event {evento}, sealed in block {bloque}, is no longer in the log"),
        "insertado" => format!("event {evento} is in the range of block {bloque} but was never sealed: it was inserted behind the log's back"),
        _ => format!("event {evento}, sealed in block {bloque}, was changed"),
    }
}

fn hash32(bytes: &[u8]) -> Hash {
    // A stored hash of the wrong length compares unequal to every real one.
    bytes.try_into().unwrap_or([0; 32])
}

/// The latest block's hash, to keep outside the database (a WORM bucket,
/// another organisation, a signed e-mail): `audit.verificar(digests)` then
/// proves nothing sealed up to it was rewritten since.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn digest() -> Jsonb {
    let value = as_log_owner(|| {
        let Some((bloque, xid_hasta, hash)) = ultimo_bloque() else {
            return json!({ "bloque": null, "hash": null, "eventos_sellados": 0 });
        };
        let (eventos, sellado_en): (i64, String) = spi::first(
            r#"SELECT (SELECT pg_catalog.sum(eventos) FROM audit.bloques)::pg_catalog.int8,
                      pg_catalog.to_char(sellado_en AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
                 FROM audit.bloques WHERE id = $1"#,
            &[bloque.into()],
            |r| Ok((r.get(1)?.unwrap_or_default(), r.get(2)?.unwrap_or_default())),
        )
        .expect("the last block exists");
        json!({
            "version": 1,
            "base_de_datos": spi::value::<String>("SELECT pg_catalog.current_database()::pg_catalog.text", &[]),
            "bloque": bloque,
            "hash": hex::encode(hash),
            "xid_hasta": xid_hasta,
            "eventos_sellados": eventos,
            "sellado_en": sellado_en,
        })
    });
    Jsonb::from_value(&value)
}
