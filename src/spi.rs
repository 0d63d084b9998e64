//! Running the extension's own SQL.
//!
//! A PostgreSQL error raised by a statement (permission denied, a duplicate
//! trigger...) propagates as itself, with its SQLSTATE. What these helpers
//! turn into a panic is an SPI-level failure, which only happens when the
//! extension's own objects are not what this code expects: a broken
//! invariant, reported as an internal error with the statement that failed.

use pgrx::datum::DatumWithOid;
use pgrx::spi::{self, SpiHeapTupleData};
use pgrx::{FromDatum, IntoDatum, Spi};

fn failed<T>(sql: &str, e: spi::Error) -> T {
    let first_line = sql
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or_default();
    panic!("internal query failed ({first_line} ...): {e}")
}

/// Every row of a query, each turned into a value by `each`.
pub fn rows<T>(
    sql: &str,
    args: &[DatumWithOid],
    mut each: impl FnMut(&SpiHeapTupleData) -> Result<T, spi::Error>,
) -> Vec<T> {
    Spi::connect(|client| {
        client
            .select(sql, None, args)?
            .map(|row| each(&row))
            .collect::<Result<Vec<T>, _>>()
    })
    .unwrap_or_else(|e| failed(sql, e))
}

/// The first row of a query, if any, turned into a value by `each`.
pub fn first<T>(
    sql: &str,
    args: &[DatumWithOid],
    each: impl FnOnce(&SpiHeapTupleData) -> Result<T, spi::Error>,
) -> Option<T> {
    Spi::connect(|client| {
        client
            .select(sql, Some(1), args)?
            .next()
            .map(|row| each(&row))
            .transpose()
    })
    .unwrap_or_else(|e| failed(sql, e))
}

/// The first column of the first row (None when there is no row or it is NULL).
pub fn value<T: FromDatum + IntoDatum>(sql: &str, args: &[DatumWithOid]) -> Option<T> {
    Spi::get_one_with_args::<T>(sql, args).unwrap_or_else(|e| match e {
        spi::Error::InvalidPosition => None,
        e => failed(sql, e),
    })
}

/// [`value`] for a query that only reads: it runs read-only, so it never
/// gives the transaction an id (pgrx's `Spi::get_one*` do, as if every query
/// wrote). Needed where a transaction must stay without one (creating a
/// replication slot), and cheaper on reading paths.
pub fn read_value<T: FromDatum + IntoDatum>(sql: &str, args: &[DatumWithOid]) -> Option<T> {
    Spi::connect(|client| client.select(sql, Some(1), args)?.first().get_one::<T>()).unwrap_or_else(
        |e| match e {
            spi::Error::InvalidPosition => None,
            e => failed(sql, e),
        },
    )
}

/// Runs a statement for its effect.
pub fn run(sql: &str, args: &[DatumWithOid]) {
    Spi::run_with_args(sql, args).unwrap_or_else(|e| failed(sql, e))
}

/// Fetches up to `count` rows from `cursor`, turns each into a value with
/// `each`, and frees the fetched rows at once (SPI keeps every fetched batch
/// until the connection ends otherwise: a scan of a large table would hold
/// all of it in memory). An empty result means the cursor is exhausted.
pub fn fetch_batch<T>(
    cursor: &mut pgrx::spi::SpiCursor<'_>,
    count: i64,
    mut each: impl FnMut(&SpiHeapTupleData) -> Result<T, spi::Error>,
) -> Vec<T> {
    let out = {
        let table = cursor
            .fetch(count as _)
            .unwrap_or_else(|e| failed("FETCH", e));
        table.map(|row| each(&row)).collect::<Result<Vec<T>, _>>()
    }
    .unwrap_or_else(|e| failed("FETCH", e));
    // SAFETY: SPI_tuptable is the table fetched above; nothing refers to it
    // any more (the values were copied out).
    unsafe { pgrx::pg_sys::SPI_freetuptable(pgrx::pg_sys::SPI_tuptable) };
    out
}
