//! The key that signs the writers' context messages
//! (`audit_model::wal_signing`): the file `audit_captura_wal.clave` in the
//! data directory, which only the server's operating-system user can read,
//! as the rest of the data directory. SQL cannot read it: reading server
//! files needs `pg_read_server_files`, which is as good as superuser.
//!
//! Created the first time a process needs it (a writer about to sign, or the
//! output plugin about to verify), with a random secret and the WAL position
//! it was created at: a message without a signature is believed only before
//! that position (written by a version that did not sign). Two processes
//! may race to create it: each writes a file of its own and links it to the
//! name, which only one link can take; the other reads the winner's. Read
//! once per process.

use crate::error::AuditError;
use audit_model::wal_signing::{Key, SECRET_LEN};
use pgrx::pg_sys;
use std::ffi::CStr;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::OnceLock;

const FILE_NAME: &str = "audit_captura_wal.clave";

static KEY: OnceLock<Key> = OnceLock::new();

/// This server's key, created if it does not exist yet.
pub fn key() -> &'static Key {
    if let Some(key) = KEY.get() {
        return key;
    }
    let key = load_or_create().unwrap_or_else(|e| e.report());
    KEY.get_or_init(|| key)
}

fn data_directory() -> PathBuf {
    // SAFETY: DataDir is set (absolute) before any backend runs SQL or
    // decodes.
    let dir = unsafe { CStr::from_ptr(pg_sys::DataDir) };
    PathBuf::from(dir.to_string_lossy().into_owned())
}

fn load_or_create() -> Result<Key, AuditError> {
    let directory = data_directory();
    let path = directory.join(FILE_NAME);
    let failed = |problem: String, damaged: bool| AuditError::WalKeyFile {
        file: path.display().to_string(),
        problem,
        damaged,
    };
    // The key in the file, or None when there is no file yet.
    let read = || match std::fs::read(&path) {
        Ok(bytes) => Key::from_bytes(&bytes)
            .map(Some)
            .map_err(|e| failed(format!("is damaged: {e}"), true)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(failed(format!("cannot be read: {e}"), false)),
    };
    if let Some(key) = read()? {
        return Ok(key);
    }
    let mut secret = [0u8; SECRET_LEN];
    // SAFETY: fills the buffer we pass, of the length we pass.
    if !unsafe { pg_sys::pg_strong_random(secret.as_mut_ptr().cast(), secret.len()) } {
        return Err(failed(
            "cannot be created: no strong random numbers".into(),
            false,
        ));
    }
    // SAFETY: plain accessor (during recovery nothing writes messages).
    let since = unsafe { pg_sys::GetXLogInsertRecPtr() };
    let created = Key::new(secret, since);
    // SAFETY: plain accessor.
    let pid = unsafe { pg_sys::MyProcPid };
    let own = directory.join(format!("{FILE_NAME}.{pid}"));
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&own)?;
        file.write_all(&created.to_bytes())?;
        file.sync_all()?;
        match std::fs::hard_link(&own, &path) {
            Ok(()) => {}
            // Another process created it first: its key is the key.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        std::fs::File::open(&directory)?.sync_all()
    };
    let result = write();
    let _ = std::fs::remove_file(&own);
    result.map_err(|e| failed(format!("cannot be created: {e}"), false))?;
    read()?.ok_or_else(|| failed("cannot be read: it is gone".into(), false))
}
