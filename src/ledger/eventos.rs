//! Reading the log's events for sealing and verification: id, transaction,
//! the hash stored with the event and the hash recomputed from its columns.

use crate::spi;
use audit_model::huella::Hash;
use pgrx::spi::SpiCursor;

/// Rows fetched at a time.
const LOTE: i64 = 5_000;

/// One event as the ledger sees it.
pub struct Leido {
    pub id: i64,
    pub transaccion: i64,
    /// `huella` as stored (None when NULL).
    pub almacenada: Option<Vec<u8>>,
    /// The hash recomputed from the stored columns.
    pub calculada: Hash,
}

impl Leido {
    /// The stored hash is the one its columns give.
    pub fn intacto(&self) -> bool {
        self.almacenada.as_deref() == Some(&self.calculada[..])
    }
}

/// The query for the events of transactions in `[$1, $2)`, in transaction
/// then id order (the BRIN index on transaccion finds them).
pub const EVENTOS_SQL: &str = "
SELECT h.id, h.transaccion, h.huella, audit._huella(h)
  FROM audit.historial_cambios h
 WHERE h.transaccion >= $1 AND h.transaccion < $2
 ORDER BY h.transaccion, h.id";

/// The next batch of events from a cursor over [`EVENTOS_SQL`]; empty at
/// the end.
pub fn siguientes(cursor: &mut SpiCursor<'_>) -> Vec<Leido> {
    spi::fetch_batch(cursor, LOTE, |row| {
        let calculada: Vec<u8> = row.get(4)?.unwrap_or_default();
        Ok(Leido {
            id: row.get(1)?.unwrap_or_default(),
            transaccion: row.get(2)?.unwrap_or_default(),
            almacenada: row.get(3)?,
            calculada: calculada
                .try_into()
                .expect("audit._huella returns 32 bytes"),
        })
    })
}
