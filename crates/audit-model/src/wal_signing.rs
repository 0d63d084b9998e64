//! Signing the writers' context messages (capture from the WAL).
//!
//! A context message says who wrote a transaction's changes: the database
//! role, the session's identity and tenant, the transaction's start time.
//! It travels as a logical message with prefix `audit`, and PostgreSQL lets
//! any role write one (`pg_logical_emit_message` is executable by PUBLIC),
//! so its prefix alone proves nothing: a role could name another role, or
//! another time, for the changes that follow its message, or write bytes
//! that are no message at all. Each message therefore carries an HMAC-SHA256
//! of its writer's top-level transaction id and its text, keyed with a
//! secret only the server's processes can read (a file in the data
//! directory, src/wal/clave.rs). The output plugin uses a message only if
//! its tag verifies; anything else is ignored.
//!
//! Messages written before the key existed (by 0.2.0, which did not sign
//! them) are plain JSON. They are still read when they precede the position
//! at which the key was created ([`Key::since`]): no process of this
//! version writes one there, and an unsigned message after it cannot be
//! ours.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The first byte of a signed message (a plain JSON message starts with `{`).
const VERSION: u8 = 1;
/// Bytes of the tag kept: 128 bits of HMAC-SHA256.
pub const TAG_LEN: usize = 16;
/// Bytes of the secret.
pub const SECRET_LEN: usize = 32;
/// The key file: magic, the secret, `since` (little-endian).
const MAGIC: &[u8; 8] = b"auditK1\n";
pub const FILE_LEN: usize = MAGIC.len() + SECRET_LEN + 8;

/// The key: its secret and the WAL position from which every context
/// message is signed.
#[derive(Clone, PartialEq, Eq)]
pub struct Key {
    secret: [u8; SECRET_LEN],
    pub since: u64,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret, not even in a test's failure message.
        f.debug_struct("Key").field("since", &self.since).finish()
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the key file has {0} bytes, not {FILE_LEN}, or does not start as one")]
pub struct InvalidKeyFile(pub usize);

impl Key {
    pub fn new(secret: [u8; SECRET_LEN], since: u64) -> Key {
        Key { secret, since }
    }

    /// The key file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(FILE_LEN);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.secret);
        out.extend_from_slice(&self.since.to_le_bytes());
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Key, InvalidKeyFile> {
        if bytes.len() != FILE_LEN || !bytes.starts_with(MAGIC) {
            return Err(InvalidKeyFile(bytes.len()));
        }
        let (secret, since) = bytes[MAGIC.len()..].split_at(SECRET_LEN);
        Ok(Key {
            secret: secret.try_into().expect("split at SECRET_LEN"),
            since: u64::from_le_bytes(since.try_into().expect("8 bytes remain")),
        })
    }

    fn mac(&self, xid: u32, json: &[u8]) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC takes a key of any length");
        mac.update(&xid.to_le_bytes());
        mac.update(json);
        mac
    }

    /// The message transaction `xid` (top-level) writes for context `json`.
    pub fn sign(&self, xid: u32, json: &[u8]) -> Vec<u8> {
        let tag = self.mac(xid, json).finalize().into_bytes();
        let mut out = Vec::with_capacity(1 + TAG_LEN + json.len());
        out.push(VERSION);
        out.extend_from_slice(&tag[..TAG_LEN]);
        out.extend_from_slice(json);
        out
    }

    /// The context text of `message`, found at WAL position `lsn` in
    /// transaction `xid`, if it is to be believed: signed by this key for
    /// this transaction, or unsigned and older than the key.
    pub fn verify<'a>(&self, xid: u32, lsn: u64, message: &'a [u8]) -> Option<&'a [u8]> {
        match message.split_first() {
            Some((&VERSION, rest)) if rest.len() >= TAG_LEN => {
                let (tag, json) = rest.split_at(TAG_LEN);
                // Constant time, as any MAC comparison.
                self.mac(xid, json)
                    .verify_truncated_left(tag)
                    .is_ok()
                    .then_some(json)
            }
            Some((b'{', _)) if lsn < self.since => Some(message),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Key {
        Key::new([7; SECRET_LEN], 1000)
    }

    const JSON: &[u8] = br#"{"t":5,"i":0,"r":"ana"}"#;

    #[test]
    fn a_signed_message_is_read_back_in_its_transaction_only() {
        let signed = key().sign(5, JSON);
        assert_eq!(signed.len(), 1 + TAG_LEN + JSON.len());
        assert_eq!(key().verify(5, 2000, &signed), Some(JSON));
        assert_eq!(key().verify(5, 10, &signed), Some(JSON));
        // Replayed in another transaction.
        assert_eq!(key().verify(6, 2000, &signed), None);
        // Another key.
        assert_eq!(
            Key::new([8; SECRET_LEN], 1000).verify(5, 2000, &signed),
            None
        );
    }

    #[test]
    fn any_change_to_a_signed_message_is_refused() {
        let signed = key().sign(5, JSON);
        for i in 0..signed.len() {
            let mut changed = signed.clone();
            changed[i] ^= 1;
            assert_eq!(key().verify(5, 2000, &changed), None, "byte {i}");
        }
        for n in 0..signed.len() {
            assert_eq!(key().verify(5, 2000, &signed[..n]), None, "{n} bytes");
        }
    }

    #[test]
    fn an_unsigned_message_is_read_only_from_before_the_key() {
        assert_eq!(key().verify(5, 999, JSON), Some(JSON));
        assert_eq!(key().verify(5, 1000, JSON), None);
        assert_eq!(key().verify(5, 5000, JSON), None);
        // Not JSON at all, before or after.
        for bytes in [&b"garbage"[..], b"", b"\x02abc"] {
            assert_eq!(key().verify(5, 10, bytes), None);
            assert_eq!(key().verify(5, 5000, bytes), None);
        }
    }

    #[test]
    fn the_key_file_round_trips_and_a_damaged_one_is_refused() {
        let bytes = key().to_bytes();
        assert_eq!(bytes.len(), FILE_LEN);
        assert_eq!(Key::from_bytes(&bytes), Ok(key()));
        assert_eq!(
            Key::from_bytes(&bytes[1..]),
            Err(InvalidKeyFile(FILE_LEN - 1))
        );
        let mut other_magic = bytes.clone();
        other_magic[0] = b'x';
        assert!(Key::from_bytes(&other_magic).is_err());
        assert!(!format!("{:?}", key()).contains('7'));
    }
}
