//! The capture worker's decoding session: the database's slot, held by the
//! worker, read with one logical decoding context that lives from batch to
//! batch, as a walsender's does.
//!
//! Why not the SQL functions (`pg_logical_slot_peek_binary_changes`, then
//! `pg_replication_slot_advance`)? Each call decodes again from the slot's
//! restart point, which cannot pass the start of a transaction still
//! running: while a long transaction writes, every batch decoded it again
//! from its start (quadratic, and competing with the writer for the CPU);
//! and moving the slot after each batch decoded everything a second time.
//! Here each WAL record is read once; a transaction still running stays in
//! the decoder's reorder buffer (spilled to disk past
//! `logical_decoding_work_mem`) until it commits.
//!
//! Decoding runs in a transaction of the worker that takes no snapshot: the
//! reorder buffer replays each committed transaction in a subtransaction,
//! with the catalog as of that transaction, and rolls it back. What the output plugin
//! writes is kept here ([`Pending`]) for the worker's next batch: in memory up
//! to `logical_decoding_work_mem`, in a temporary file beyond (a single
//! writer's transaction can be any size).

use pgrx::pg_sys;
use std::ffi::{c_void, CString};

extern "C-unwind" {
    // replication/decode.h, absent from pgrx's bindings.
    fn LogicalDecodingProcessRecord(
        ctx: *mut pg_sys::LogicalDecodingContext,
        record: *mut pg_sys::XLogReaderState,
    );
    // The WAL reader's routines for reading this server's own WAL
    // (access/xlogutils.h), as PostgreSQL's own SQL decoding functions use
    // them: the C symbols themselves, to be called by PostgreSQL (pgrx
    // binds them as Rust functions, which cannot be passed as callbacks).
    #[link_name = "read_local_xlog_page"]
    fn c_read_local_xlog_page(
        state: *mut pg_sys::XLogReaderState,
        target_page: pg_sys::XLogRecPtr,
        req_len: std::ffi::c_int,
        target_rec: pg_sys::XLogRecPtr,
        read_buf: *mut std::ffi::c_char,
    ) -> std::ffi::c_int;
    #[link_name = "wal_segment_open"]
    fn c_wal_segment_open(
        state: *mut pg_sys::XLogReaderState,
        next_seg: pg_sys::XLogSegNo,
        tli: *mut pg_sys::TimeLineID,
    );
    #[link_name = "wal_segment_close"]
    fn c_wal_segment_close(state: *mut pg_sys::XLogReaderState);
}

/// What a call of [`Decoder::decode`] did.
pub struct Pass {
    /// It read at least one record.
    pub read: bool,
    /// It read every record wholly flushed when it started (it did not stop
    /// early).
    pub caught_up: bool,
}

/// One decoding session; [`Decoder::close`] releases the slot.
pub struct Decoder {
    ctx: *mut pg_sys::LogicalDecodingContext,
    /// Where decoding allocates, for the session's life: the WAL reader
    /// allocates a record larger than its buffer in the current memory
    /// context and frees it when it reads the next one, which may be in the
    /// worker's next transaction.
    memoria: pg_sys::MemoryContext,
    salida: *mut Pending,
    /// The slot's confirmed position when the session started: transactions
    /// that committed before it are not decoded again.
    inicio: u64,

    /// Transactions ran in this process since the caches were last reset.
    caches_sucias: bool,
}

impl Decoder {
    /// Takes the slot (it must not be in use) and starts decoding where it
    /// left off.
    pub fn open(slot: &str) -> Decoder {
        let name = CString::new(slot).expect("a slot name has no NUL");
        // SAFETY: as a walsender starts decoding; the context lives in the
        // session's memory until `drop` frees it, and the reader routine is
        // copied by CreateDecodingContext.
        unsafe {
            pg_sys::ReplicationSlotAcquire(name.as_ptr(), true);
            let memoria = pg_sys::AllocSetContextCreateInternal(
                pg_sys::TopMemoryContext,
                c"audit capture decoding".as_ptr(),
                pg_sys::ALLOCSET_DEFAULT_MINSIZE as usize,
                pg_sys::ALLOCSET_DEFAULT_INITSIZE as usize,
                pg_sys::ALLOCSET_DEFAULT_MAXSIZE as usize,
            );
            let old = pg_sys::MemoryContextSwitchTo(memoria);
            let mut routine = pg_sys::XLogReaderRoutine {
                page_read: Some(read_flushed_page),
                segment_open: Some(c_wal_segment_open),
                segment_close: Some(c_wal_segment_close),
            };
            let ctx = pg_sys::CreateDecodingContext(
                0, // (InvalidXLogRecPtr: from the slot's confirmed position)
                std::ptr::null_mut(),
                false,
                &mut routine,
                Some(prepare_write),
                Some(write),
                None,
            );
            let salida = Box::into_raw(Box::new(Pending::new(memoria)));
            pg_sys::MemoryContextSwitchTo(old);
            (*ctx).output_writer_private = salida.cast();
            let slot = pg_sys::MyReplicationSlot;
            // Every transaction that commits after the confirmed position
            // is decoded whole, from the restart point on.
            pg_sys::XLogBeginRead((*ctx).reader, (*slot).data.restart_lsn);
            Decoder {
                ctx,
                memoria,
                salida,
                inicio: (*slot).data.confirmed_flush,
                caches_sucias: true,
            }
        }
    }

    /// Every transaction that committed before this position has been
    /// decoded (its records are in the output, or were applied before).
    pub fn position(&self) -> u64 {
        // SAFETY: the reader lives as long as the context.
        unsafe { (*(*self.ctx).reader).EndRecPtr.max(self.inicio) }
    }

    /// A transaction of the worker ran: the catalog caches hold entries of
    /// the present, which decoding (the catalog as of each change) must not
    /// use.
    pub fn after_transaction(&mut self) {
        self.caches_sucias = true;
    }

    /// Decodes the WAL up to `hasta` (a flushed position), stopping early
    /// once the output holds `max` records (whole transactions: it stops
    /// between WAL records) or when `stop` says so (asked between records).
    /// Everything up to `hasta` must be flushed.
    pub fn decode(&mut self, hasta: u64, max: u64, stop: impl Fn() -> bool) -> Pass {
        // SAFETY: within a transaction (see the module docs); errors are
        // raised as PostgreSQL errors and end the worker.
        unsafe {
            if self.caches_sucias {
                pg_sys::InvalidateSystemCaches();
                self.caches_sucias = false;
            }
            let reader = (*self.ctx).reader;
            let old = pg_sys::CurrentMemoryContext;
            let mut pass = Pass {
                read: false,
                caught_up: true,
            };
            let mut replayed = false;
            // (The reader moves on through FFI: `loop`, not `while`.)
            loop {
                if (*reader).EndRecPtr >= hasta {
                    break;
                }
                if (*self.salida).registros >= max || stop() {
                    pass.caught_up = false;
                    break;
                }
                let mut error: *mut std::ffi::c_char = std::ptr::null_mut();
                // Again before each record: replaying a transaction ends in
                // the worker's transaction context (the end of the replay's
                // subtransaction switches there).
                pg_sys::MemoryContextSwitchTo(self.memoria);
                let record = pg_sys::XLogReadRecord(reader, &mut error);
                if !error.is_null() {
                    let message = std::ffi::CStr::from_ptr(error).to_string_lossy();
                    panic!("audit: the WAL cannot be read for capture: {message}");
                }
                if record.is_null() {
                    // A record not wholly flushed (see `read_flushed_page`;
                    // the worker reads only what it flushed itself). A WAL
                    // reader that failed part-way is not meant to go on:
                    // the worker ends and its successor decodes again from
                    // the slot.
                    panic!(
                        "audit: the WAL record at {:X}/{:X} is not complete; the capture worker starts again",
                        (*reader).EndRecPtr >> 32,
                        (*reader).EndRecPtr & 0xffff_ffff
                    );
                }
                pass.read = true;
                // A commit record replays its transaction.
                replayed |= (*record).xl_rmid == pg_sys::RmgrIds::RM_XACT_ID as u8;
                LogicalDecodingProcessRecord(self.ctx, reader);
            }
            pg_sys::MemoryContextSwitchTo(old);
            // Replaying loaded catalog entries of the past: the worker's
            // own transactions must not use them.
            if replayed {
                pg_sys::InvalidateSystemCaches();
            }
            pass
        }
    }

    /// Whether the output holds records.
    pub fn has_output(&self) -> bool {
        // SAFETY: owned by this session.
        unsafe { (*self.salida).registros > 0 }
    }

    /// Calls `f` with each output record, in order.
    pub fn for_each(&mut self, f: impl FnMut(&[u8])) {
        // SAFETY: owned by this session.
        unsafe { (*self.salida).for_each(f) }
    }

    /// Forgets the output (applied).
    pub fn clear(&mut self) {
        // SAFETY: owned by this session.
        unsafe { (*self.salida).clear() }
    }

    /// Tells the slot that everything committed before `lsn` is applied:
    /// the server may recycle the WAL no longer needed, and a new session
    /// starts there.
    pub fn confirm(&mut self, lsn: u64) {
        // SAFETY: the slot is this process's.
        unsafe {
            pg_sys::LogicalConfirmReceivedLocation(lsn);
            // Written at the next checkpoint even when only the confirmed
            // position moved (as the SQL functions do).
            pg_sys::ReplicationSlotMarkDirty();
        }
    }
}

impl Decoder {
    /// Ends the session and releases the slot. (Not a Drop: when an error
    /// ends the worker, its exit releases the slot, closes the file and
    /// frees the memory; calling PostgreSQL while unwinding could raise a
    /// second error.)
    pub fn close(self) {
        // SAFETY: frees what `open` made.
        unsafe {
            pg_sys::FreeDecodingContext(self.ctx);
            let mut salida = Box::from_raw(self.salida);
            salida.clear();
            drop(salida);
            pg_sys::MemoryContextDelete(self.memoria);
            pg_sys::ReplicationSlotRelease();
        }
    }
}

/// Reads a WAL page for the decoder, as far as it is flushed; fails (-1)
/// when the bytes asked for are not flushed, where PostgreSQL's own
/// `read_local_xlog_page` would sleep until they are: the last record
/// written can stay partly unflushed for as long as nobody commits (the WAL
/// writer flushes whole pages only), and a worker asleep in there could not
/// even stop with the server. (The worker flushes what it reads first: a
/// failure here is a bug, reported as an error.)
#[pgrx::pg_guard]
unsafe extern "C-unwind" fn read_flushed_page(
    state: *mut pg_sys::XLogReaderState,
    target_page: pg_sys::XLogRecPtr,
    req_len: std::ffi::c_int,
    target_rec: pg_sys::XLogRecPtr,
    read_buf: *mut std::ffi::c_char,
) -> std::ffi::c_int {
    // SAFETY: plain accessor; then the reader's own routine, for bytes
    // that are flushed (it does not wait for them).
    unsafe {
        let flushed = pg_sys::GetFlushRecPtr(std::ptr::null_mut());
        if target_page + req_len.max(0) as u64 > flushed {
            return -1;
        }
        c_read_local_xlog_page(state, target_page, req_len, target_rec, read_buf)
    }
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn prepare_write(
    ctx: *mut pg_sys::LogicalDecodingContext,
    _lsn: pg_sys::XLogRecPtr,
    _xid: pg_sys::TransactionId,
    _last: bool,
) {
    // SAFETY: PostgreSQL passes the context with its output buffer.
    unsafe { pg_sys::resetStringInfo((*ctx).out) };
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn write(
    ctx: *mut pg_sys::LogicalDecodingContext,
    _lsn: pg_sys::XLogRecPtr,
    _xid: pg_sys::TransactionId,
    _last: bool,
) {
    // SAFETY: the output buffer holds the record the plugin wrote; the
    // private pointer is the session's Pending.
    unsafe {
        let out = (*ctx).out;
        let data = std::slice::from_raw_parts((*out).data.cast::<u8>(), (*out).len as usize);
        (*(*ctx).output_writer_private.cast::<Pending>()).push(data);
    }
}

/// The records decoded and not applied yet, each as its length (4 bytes,
/// little-endian) and its bytes.
struct Pending {
    memoria: Vec<u8>,
    /// The temporary file the records went to once memory was full (NULL
    /// before).
    archivo: *mut pg_sys::BufFile,
    registros: u64,
    /// Where the file's bookkeeping is allocated: it must outlive the
    /// transaction that replays a writer's transaction.
    contexto: pg_sys::MemoryContext,
}

impl Pending {
    fn new(contexto: pg_sys::MemoryContext) -> Pending {
        Pending {
            memoria: Vec::new(),
            archivo: std::ptr::null_mut(),
            registros: 0,
            contexto,
        }
    }

    /// Memory the output may take before it goes to a file: what
    /// logical decoding itself may take (`logical_decoding_work_mem`, kB).
    fn limite() -> usize {
        // SAFETY: reading a setting.
        (unsafe { pg_sys::logical_decoding_work_mem }.max(64) as usize) * 1024
    }

    fn push(&mut self, data: &[u8]) {
        self.registros += 1;
        let len = (data.len() as u32).to_le_bytes();
        if self.archivo.is_null() && self.memoria.len() + data.len() + 4 > Self::limite() {
            // SAFETY: a temporary file that survives transactions (it is
            // closed by `clear`, or deleted when the process exits), its
            // bookkeeping in the session's long-lived context.
            unsafe {
                let old = pg_sys::MemoryContextSwitchTo(self.contexto);
                self.archivo = pg_sys::BufFileCreateTemp(true);
                pg_sys::MemoryContextSwitchTo(old);
                let memoria = std::mem::take(&mut self.memoria);
                self.file_write(&memoria);
            }
        }
        if self.archivo.is_null() {
            self.memoria.extend_from_slice(&len);
            self.memoria.extend_from_slice(data);
        } else {
            self.file_write(&len);
            self.file_write(data);
        }
    }

    fn file_write(&self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        // SAFETY: the file is open; BufFileWrite raises an error on failure.
        unsafe { pg_sys::BufFileWrite(self.archivo, bytes.as_ptr() as *mut c_void, bytes.len()) };
    }

    /// Reads exactly `buf.len()` bytes; false at the end of the file.
    fn file_read(&self, buf: &mut [u8]) -> bool {
        // SAFETY: the file is open; reads into the buffer given.
        let n = unsafe { pg_sys::BufFileRead(self.archivo, buf.as_mut_ptr().cast(), buf.len()) };
        if n == 0 {
            return false;
        }
        assert!(
            n == buf.len(),
            "audit: the capture's temporary file ended within a record"
        );
        true
    }

    fn for_each(&mut self, mut f: impl FnMut(&[u8])) {
        if self.archivo.is_null() {
            let mut rest = &self.memoria[..];
            while rest.len() >= 4 {
                let len = u32::from_le_bytes(rest[..4].try_into().expect("4 bytes")) as usize;
                f(&rest[4..4 + len]);
                rest = &rest[4 + len..];
            }
            return;
        }
        // SAFETY: the file is open.
        let rewound = unsafe { pg_sys::BufFileSeek(self.archivo, 0, 0, SEEK_SET) };
        assert!(
            rewound == 0,
            "audit: the capture's temporary file cannot be rewound"
        );
        let mut len = [0u8; 4];
        let mut record = Vec::new();
        while self.file_read(&mut len) {
            record.resize(u32::from_le_bytes(len) as usize, 0);
            if !record.is_empty() {
                assert!(
                    self.file_read(&mut record),
                    "audit: the capture's temporary file ended within a record"
                );
            }
            f(&record);
        }
    }

    fn clear(&mut self) {
        self.registros = 0;
        self.memoria.clear();
        if self.memoria.capacity() > Self::limite() {
            self.memoria = Vec::new();
        }
        if !self.archivo.is_null() {
            // SAFETY: closing (and so deleting) the file this made.
            unsafe { pg_sys::BufFileClose(self.archivo) };
            self.archivo = std::ptr::null_mut();
        }
    }
}

/// `SEEK_SET` (0 on every platform PostgreSQL runs on).
const SEEK_SET: std::ffi::c_int = 0;
