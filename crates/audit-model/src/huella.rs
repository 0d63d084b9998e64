//! Tamper evidence: the canonical, versioned encoding of an event and of a
//! sealed block, and their SHA-256 hashes.
//!
//! Every event's hash (`huella`) is computed by the capture path from the
//! values it stores, with no shared state; `audit.sellar()` later chains
//! committed events into blocks (SQL Server ledger style) and
//! `audit.verificar()` recomputes everything. Both sides build an [`Evento`]
//! from the stored values and call [`huella_evento`], so they cannot drift.
//!
//! The encoding never depends on session settings: integers are fixed-width
//! big-endian, times are PostgreSQL's microseconds, jsonb is PostgreSQL's
//! own text of the value (deterministic: keys sorted, numbers as stored),
//! every field carries a presence tag and every byte string its length, so
//! no two different events encode the same way. Changing anything here
//! changes every hash: a new encoding gets a new version tag.

use sha2::{Digest, Sha256};

/// Domain and version of an event's encoding.
const EVENTO_V1: &[u8] = b"audit.historial_cambios/v1\0";
/// Domain and version of a block's list of events.
const HOJAS_V1: &[u8] = b"audit.bloques.hojas/v1\0";
/// Domain and version of a block header.
const BLOQUE_V1: &[u8] = b"audit.bloques/v1\0";

pub type Hash = [u8; 32];

/// An event's stored values, in the log's column order. jsonb values are
/// their PostgreSQL text (`jsonb_out`), `ip_cliente` its `inet` text.
#[derive(Debug, Clone, Default)]
pub struct Evento<'a> {
    pub id: i64,
    /// Microseconds since 2000-01-01 UTC, as PostgreSQL stores timestamptz.
    pub timestamp: i64,
    pub usuario_id: Option<[u8; 16]>,
    pub usuario_nombre: Option<&'a str>,
    pub accion: &'a str,
    pub esquema: Option<&'a str>,
    pub tabla_afectada: Option<&'a str>,
    pub registro_id: Option<[u8; 16]>,
    pub registro_pk: Option<&'a [u8]>,
    pub datos_anteriores: Option<&'a [u8]>,
    pub datos_nuevos: Option<&'a [u8]>,
    pub campos_modificados: Option<Vec<Option<&'a str>>>,
    pub empresa_id: Option<[u8; 16]>,
    pub metadata: Option<&'a [u8]>,
    pub transaccion: i64,
    pub rol_bd: &'a str,
    pub aplicacion: Option<&'a str>,
    pub ip_cliente: Option<&'a str>,
    pub registro_id_anterior: Option<[u8; 16]>,
    pub rol_sesion: Option<&'a str>,
    pub usuario_externo: Option<&'a str>,
    /// Added after v1: encoded only when present, so that every event
    /// written before the column existed keeps its hash.
    pub notas: Option<&'a [u8]>,
}

/// Writes tagged, length-prefixed fields into a hash.
struct Encoder(Sha256);

impl Encoder {
    fn new(domain: &[u8]) -> Encoder {
        let mut h = Sha256::new();
        h.update(domain);
        Encoder(h)
    }

    fn int(&mut self, v: i64) {
        self.0.update(v.to_be_bytes());
    }

    fn bytes(&mut self, v: Option<&[u8]>) {
        match v {
            None => self.0.update([0u8]),
            Some(b) => {
                self.0.update([1u8]);
                // A value PostgreSQL stores is at most 1 GB.
                self.0.update((b.len() as u64).to_be_bytes());
                self.0.update(b);
            }
        }
    }

    fn text(&mut self, v: Option<&str>) {
        self.bytes(v.map(str::as_bytes));
    }

    fn uuid(&mut self, v: Option<[u8; 16]>) {
        self.bytes(v.as_ref().map(|u| &u[..]));
    }

    fn text_array(&mut self, v: Option<&[Option<&str>]>) {
        match v {
            None => self.0.update([0u8]),
            Some(items) => {
                self.0.update([1u8]);
                self.0.update((items.len() as u64).to_be_bytes());
                for item in items {
                    self.text(*item);
                }
            }
        }
    }

    fn finish(self) -> Hash {
        self.0.finalize().into()
    }
}

/// The hash of one event (encoding v1).
pub fn huella_evento(e: &Evento) -> Hash {
    let mut enc = Encoder::new(EVENTO_V1);
    enc.int(e.id);
    enc.int(e.timestamp);
    enc.uuid(e.usuario_id);
    enc.text(e.usuario_nombre);
    enc.text(Some(e.accion));
    enc.text(e.esquema);
    enc.text(e.tabla_afectada);
    enc.uuid(e.registro_id);
    enc.bytes(e.registro_pk);
    enc.bytes(e.datos_anteriores);
    enc.bytes(e.datos_nuevos);
    enc.text_array(e.campos_modificados.as_deref());
    enc.uuid(e.empresa_id);
    enc.bytes(e.metadata);
    enc.int(e.transaccion);
    enc.text(Some(e.rol_bd));
    enc.text(e.aplicacion);
    enc.text(e.ip_cliente);
    enc.uuid(e.registro_id_anterior);
    enc.text(e.rol_sesion);
    enc.text(e.usuario_externo);
    // Fields added after v1 follow, each only when not NULL: a NULL one adds
    // nothing (the encoding of an event without it is v1's), a present one
    // its presence tag, length and bytes.
    if let Some(notas) = e.notas {
        enc.bytes(Some(notas));
    }
    enc.finish()
}

/// One sealed event: its id and its hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hoja {
    pub id: i64,
    pub huella: Hash,
}

const HOJA_BYTES: usize = 8 + 32;

/// The events of a block as stored (`audit.bloques.hojas`): id and hash of
/// each, in id order.
pub fn codificar_hojas(hojas: &[Hoja]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hojas.len() * HOJA_BYTES);
    for h in hojas {
        out.extend_from_slice(&h.id.to_be_bytes());
        out.extend_from_slice(&h.huella);
    }
    out
}

/// Reads [`codificar_hojas`]' bytes back; None when they are not a whole
/// number of entries (the stored list was tampered with).
pub fn decodificar_hojas(bytes: &[u8]) -> Option<Vec<Hoja>> {
    if bytes.len() % HOJA_BYTES != 0 {
        return None;
    }
    Some(
        bytes
            .chunks_exact(HOJA_BYTES)
            .map(|c| Hoja {
                id: i64::from_be_bytes(c[..8].try_into().expect("8 bytes")),
                huella: c[8..].try_into().expect("32 bytes"),
            })
            .collect(),
    )
}

/// The hash of a block's list of events.
pub fn raiz(hojas: &[Hoja]) -> Hash {
    let mut enc = Encoder::new(HOJAS_V1);
    enc.int(hojas.len() as i64);
    for h in hojas {
        enc.int(h.id);
        enc.0.update(h.huella);
    }
    enc.finish()
}

/// A block's header: what its hash covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bloque {
    pub id: i64,
    /// The block holds the events of transactions with ids in
    /// `[xid_desde, xid_hasta)`.
    pub xid_desde: i64,
    pub xid_hasta: i64,
    pub eventos: i64,
    pub raiz: Hash,
    /// The previous block's hash; None for the first block.
    pub hash_anterior: Option<Hash>,
    /// Microseconds since 2000-01-01 UTC.
    pub sellado_en: i64,
}

pub fn hash_bloque(b: &Bloque) -> Hash {
    let mut enc = Encoder::new(BLOQUE_V1);
    enc.int(b.id);
    enc.int(b.xid_desde);
    enc.int(b.xid_hasta);
    enc.int(b.eventos);
    enc.bytes(Some(&b.raiz));
    enc.bytes(b.hash_anterior.as_ref().map(|h| &h[..]));
    enc.int(b.sellado_en);
    enc.finish()
}

/// What differs between the events a block sealed and the events there are
/// now, at the smallest id where they differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discrepancia {
    /// Sealed, and no longer in the log.
    Eliminado(i64),
    /// In the log, in the block's range of transactions, and not sealed.
    Insertado(i64),
    /// In both, with a different hash.
    Modificado(i64),
}

impl Discrepancia {
    pub fn evento(self) -> i64 {
        match self {
            Discrepancia::Eliminado(id)
            | Discrepancia::Insertado(id)
            | Discrepancia::Modificado(id) => id,
        }
    }

    pub fn problema(self) -> &'static str {
        match self {
            Discrepancia::Eliminado(_) => "eliminado",
            Discrepancia::Insertado(_) => "insertado",
            Discrepancia::Modificado(_) => "modificado",
        }
    }
}

/// Compares two lists of events, both in id order, and returns the first
/// difference.
pub fn primera_discrepancia(selladas: &[Hoja], actuales: &[Hoja]) -> Option<Discrepancia> {
    let (mut s, mut a) = (selladas.iter().peekable(), actuales.iter().peekable());
    loop {
        match (s.peek(), a.peek()) {
            (None, None) => return None,
            (Some(x), None) => return Some(Discrepancia::Eliminado(x.id)),
            (None, Some(y)) => return Some(Discrepancia::Insertado(y.id)),
            (Some(x), Some(y)) if x.id < y.id => return Some(Discrepancia::Eliminado(x.id)),
            (Some(x), Some(y)) if x.id > y.id => return Some(Discrepancia::Insertado(y.id)),
            (Some(x), Some(y)) if x.huella != y.huella => {
                return Some(Discrepancia::Modificado(x.id))
            }
            _ => {
                s.next();
                a.next();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn evento() -> Evento<'static> {
        Evento {
            id: 42,
            timestamp: 817_000_000_000_000,
            usuario_id: Some([7; 16]),
            usuario_nombre: Some("Juan Pérez"),
            accion: "UPDATE",
            esquema: Some("public"),
            tabla_afectada: Some("productos"),
            registro_id: Some([9; 16]),
            registro_pk: Some(br#"{"id": 1}"#),
            datos_anteriores: Some(br#"{"id": 1, "precio": 1500.00}"#),
            datos_nuevos: Some(br#"{"id": 1, "precio": 1399.99}"#),
            campos_modificados: Some(vec![Some("precio")]),
            empresa_id: Some([1; 16]),
            metadata: Some(b"{}"),
            transaccion: 1234,
            rol_bd: "authenticated",
            aplicacion: Some("PostgREST"),
            ip_cliente: Some("10.0.0.1"),
            registro_id_anterior: None,
            rol_sesion: Some("authenticator"),
            usuario_externo: None,
            notas: None,
        }
    }

    /// The v1 encoding is a stored format: this hash must never change.
    /// The value was computed independently, by a Python script following
    /// docs/tamper-evidence.md, which gives the same bytes.
    #[test]
    fn the_v1_hash_of_a_known_event_is_fixed() {
        assert_eq!(
            hex::encode(huella_evento(&evento())),
            "71c6f66f12c64ca09f993b5a6a869455e5dd18a6c1e2eb4047ee1cbbd7d91c87"
        );
    }

    #[test]
    fn every_field_changes_the_hash() {
        let base = huella_evento(&evento());
        let changed: Vec<Evento> = vec![
            Evento { id: 43, ..evento() },
            Evento {
                timestamp: 1,
                ..evento()
            },
            Evento {
                usuario_id: None,
                ..evento()
            },
            Evento {
                usuario_nombre: Some("Juan"),
                ..evento()
            },
            Evento {
                accion: "DELETE",
                ..evento()
            },
            Evento {
                esquema: None,
                ..evento()
            },
            Evento {
                tabla_afectada: Some("clientes"),
                ..evento()
            },
            Evento {
                registro_id: Some([8; 16]),
                ..evento()
            },
            Evento {
                registro_pk: Some(br#"{"id": 2}"#),
                ..evento()
            },
            Evento {
                datos_anteriores: None,
                ..evento()
            },
            Evento {
                datos_nuevos: Some(br#"{"id": 1, "precio": 1399.990}"#),
                ..evento()
            },
            Evento {
                campos_modificados: Some(vec![Some("precio"), Some("stock")]),
                ..evento()
            },
            Evento {
                campos_modificados: Some(vec![]),
                ..evento()
            },
            Evento {
                empresa_id: None,
                ..evento()
            },
            Evento {
                metadata: Some(br#"{"motivo": "x"}"#),
                ..evento()
            },
            Evento {
                transaccion: 1235,
                ..evento()
            },
            Evento {
                rol_bd: "postgres",
                ..evento()
            },
            Evento {
                aplicacion: None,
                ..evento()
            },
            Evento {
                ip_cliente: Some("10.0.0.2"),
                ..evento()
            },
            Evento {
                registro_id_anterior: Some([9; 16]),
                ..evento()
            },
            Evento {
                rol_sesion: None,
                ..evento()
            },
            Evento {
                usuario_externo: Some("auth0|1"),
                ..evento()
            },
            Evento {
                notas: Some(br#"{"traslado": "salida"}"#),
                ..evento()
            },
        ];
        for (i, e) in changed.iter().enumerate() {
            assert_ne!(huella_evento(e), base, "change {i} is invisible");
        }
    }

    /// `notas` came after v1: an event without notes hashes as v1 did
    /// (the fixed hash above), one with notes differently, also from one
    /// whose notes are empty.
    #[test]
    fn notes_extend_v1_without_changing_old_hashes() {
        let with = |n: &'static [u8]| {
            huella_evento(&Evento {
                notas: Some(n),
                ..evento()
            })
        };
        assert_ne!(with(b"{}"), huella_evento(&evento()));
        assert_ne!(with(b"{}"), with(br#"{"traslado": "entrada"}"#));
    }

    #[test]
    fn field_boundaries_cannot_be_moved() {
        // Without lengths and presence tags these would encode alike.
        let a = Evento {
            esquema: Some("ab"),
            tabla_afectada: Some("c"),
            ..evento()
        };
        let b = Evento {
            esquema: Some("a"),
            tabla_afectada: Some("bc"),
            ..evento()
        };
        assert_ne!(huella_evento(&a), huella_evento(&b));
        let a = Evento {
            usuario_nombre: None,
            ..evento()
        };
        let b = Evento {
            usuario_nombre: Some(""),
            ..evento()
        };
        assert_ne!(huella_evento(&a), huella_evento(&b));
        let a = Evento {
            campos_modificados: Some(vec![Some("ab")]),
            ..evento()
        };
        let b = Evento {
            campos_modificados: Some(vec![Some("a"), Some("b")]),
            ..evento()
        };
        assert_ne!(huella_evento(&a), huella_evento(&b));
        let a = Evento {
            campos_modificados: Some(vec![None]),
            ..evento()
        };
        let b = Evento {
            campos_modificados: Some(vec![Some("")]),
            ..evento()
        };
        assert_ne!(huella_evento(&a), huella_evento(&b));
    }

    fn hoja(id: i64, b: u8) -> Hoja {
        Hoja {
            id,
            huella: [b; 32],
        }
    }

    #[test]
    fn leaves_round_trip_and_refuse_truncated_bytes() {
        let hojas = vec![hoja(1, 1), hoja(5, 2), hoja(-3, 3)];
        let bytes = codificar_hojas(&hojas);
        assert_eq!(bytes.len(), 120);
        assert_eq!(decodificar_hojas(&bytes), Some(hojas));
        assert_eq!(decodificar_hojas(&bytes[..119]), None);
        assert_eq!(decodificar_hojas(&[]), Some(vec![]));
    }

    #[test]
    fn the_root_covers_every_leaf_and_their_order() {
        let hojas = vec![hoja(1, 1), hoja(2, 2)];
        let base = raiz(&hojas);
        assert_ne!(raiz(&[hoja(1, 1)]), base);
        assert_ne!(raiz(&[hoja(2, 2), hoja(1, 1)]), base);
        assert_ne!(raiz(&[hoja(1, 1), hoja(3, 2)]), base);
        assert_ne!(raiz(&[hoja(1, 1), hoja(2, 9)]), base);
        assert_ne!(raiz(&[]), base);
    }

    #[test]
    fn a_block_hash_covers_its_header_and_chain() {
        let b = Bloque {
            id: 3,
            xid_desde: 100,
            xid_hasta: 200,
            eventos: 2,
            raiz: [5; 32],
            hash_anterior: Some([6; 32]),
            sellado_en: 1,
        };
        let base = hash_bloque(&b);
        for other in [
            Bloque { id: 4, ..b.clone() },
            Bloque {
                xid_desde: 99,
                ..b.clone()
            },
            Bloque {
                xid_hasta: 201,
                ..b.clone()
            },
            Bloque {
                eventos: 3,
                ..b.clone()
            },
            Bloque {
                raiz: [0; 32],
                ..b.clone()
            },
            Bloque {
                hash_anterior: None,
                ..b.clone()
            },
            Bloque {
                sellado_en: 2,
                ..b.clone()
            },
        ] {
            assert_ne!(hash_bloque(&other), base);
        }
    }

    #[test]
    fn the_first_difference_between_sealed_and_current_events_is_named() {
        let sealed = [hoja(1, 1), hoja(2, 2), hoja(4, 4)];
        assert_eq!(primera_discrepancia(&sealed, &sealed), None);
        assert_eq!(
            primera_discrepancia(&sealed, &[hoja(1, 1), hoja(4, 4)]),
            Some(Discrepancia::Eliminado(2))
        );
        assert_eq!(
            primera_discrepancia(&sealed, &[hoja(1, 1), hoja(2, 2), hoja(3, 3), hoja(4, 4)]),
            Some(Discrepancia::Insertado(3))
        );
        assert_eq!(
            primera_discrepancia(&sealed, &[hoja(1, 1), hoja(2, 7), hoja(4, 4)]),
            Some(Discrepancia::Modificado(2))
        );
        assert_eq!(
            primera_discrepancia(&sealed, &[hoja(1, 1), hoja(2, 2)]),
            Some(Discrepancia::Eliminado(4))
        );
        assert_eq!(
            primera_discrepancia(&sealed, &[hoja(1, 1), hoja(2, 2), hoja(4, 4), hoja(5, 5)]),
            Some(Discrepancia::Insertado(5))
        );
        assert_eq!(
            primera_discrepancia(&[], &[hoja(9, 9)]),
            Some(Discrepancia::Insertado(9))
        );
    }
}
