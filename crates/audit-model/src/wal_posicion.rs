//! WAL positions: as PostgreSQL prints them, and which can be flushed.
//!
//! PostgreSQL's insert position (`GetXLogInsertRecPtr`) on a page that no
//! record has started yet points past the page's header: right after a
//! segment switch, for instance, it is the segment's start plus the long
//! header. Nothing is written there yet, and `XLogFlush` of that position
//! fails ("xlog flush request ... is not satisfied"). The last byte written
//! is then the page's start: what a record ending at the boundary reports
//! as its end.

/// A WAL position as PostgreSQL prints a `pg_lsn` (`1/F557F530`).
pub fn lsn_text(lsn: u64) -> String {
    format!("{:X}/{:X}", lsn >> 32, lsn & 0xffff_ffff)
}

/// The position to flush for insert position `insert`, with `block` the WAL
/// page size, `segment` the segment size and the two page header sizes.
pub fn flushable(
    insert: u64,
    block: u64,
    segment: u64,
    short_header: u64,
    long_header: u64,
) -> u64 {
    let on_page = insert % block;
    let header = if insert % segment == on_page {
        long_header
    } else {
        short_header
    };
    if on_page == header {
        insert - header
    } else {
        insert
    }
}

#[cfg(test)]
mod tests {
    use super::{flushable, lsn_text};

    #[test]
    fn positions_print_as_pg_lsn_does() {
        assert_eq!(lsn_text(0), "0/0");
        assert_eq!(lsn_text(0x1_F557_F530), "1/F557F530");
        assert_eq!(lsn_text(0x0000_0010_0000_00AB), "10/AB");
    }

    const BLOCK: u64 = 8192;
    const SEGMENT: u64 = 16 << 20;

    fn f(insert: u64) -> u64 {
        flushable(insert, BLOCK, SEGMENT, 24, 40)
    }

    #[test]
    fn past_an_empty_page_header_is_the_page_start() {
        // After a segment switch: the segment's start plus the long header.
        assert_eq!(f(5 * SEGMENT + 40), 5 * SEGMENT);
        // A page inside a segment: the short header.
        assert_eq!(f(5 * SEGMENT + 3 * BLOCK + 24), 5 * SEGMENT + 3 * BLOCK);
        // Anywhere else, the position itself.
        for p in [
            5 * SEGMENT + 41,
            5 * SEGMENT + 24,
            5 * SEGMENT + 3 * BLOCK + 25,
            5 * SEGMENT + 3 * BLOCK,
        ] {
            assert_eq!(f(p), p, "{p}");
        }
    }
}
