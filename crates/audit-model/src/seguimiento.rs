//! The advisory-lock keys with which writers announce the lowest event id
//! they may still commit (src/seguimiento.rs in the extension explains the
//! follower's horizon). The two-integer key form: the first integer is
//! [`CLAVE_BASE`] plus the id's bits above 31, the second its low 31 bits,
//! so ids up to 2^47 fit in the 65,536 first integers above the base.

/// First key of the range ("au" in ASCII, shifted).
pub const CLAVE_BASE: i32 = 0x6175_0000;

/// How many first integers the range spans.
pub const CLAVES: i64 = 65_536;

/// The lock key of an id (1 to 2^47).
pub fn clave(id: i64) -> (i32, i32) {
    (CLAVE_BASE + (id >> 31) as i32, (id & 0x7FFF_FFFF) as i32)
}

/// The id a lock key holds (the inverse of [`clave`]).
pub fn id_de(alto: i64, bajo: i64) -> i64 {
    ((alto - i64::from(CLAVE_BASE)) << 31) | bajo
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_holds_its_id() {
        for id in [
            1_i64,
            0x7FFF_FFFF,
            0x8000_0000,
            123_456_789_012,
            (1 << 47) - 1,
        ] {
            let (alto, bajo) = clave(id);
            assert!(alto >= CLAVE_BASE && i64::from(alto - CLAVE_BASE) < CLAVES && bajo >= 0);
            assert_eq!(id_de(i64::from(alto), i64::from(bajo)), id);
        }
    }
}
