//! What the output plugin hands the capture worker (capture from the WAL,
//! src/wal/): one record per decoded item, in commit order. Both ends are
//! the same library, so the format only has to be unambiguous and cheap:
//! a kind byte, then fixed-width integers (little-endian) and
//! length-prefixed byte strings, each optional field behind a presence byte.
//! jsonb values travel as PostgreSQL's own binary image (the varlena bytes),
//! so the worker never parses them again.
//!
//! The context message a writer's transaction puts into the WAL (once, and
//! again whenever its identity or context changes) is [`WalContext`], as
//! JSON: written once per transaction, read once per transaction. Its keys
//! are one or two letters and what is empty is left out: it is in the WAL
//! of every transaction that writes a captured table, and with full names
//! and every field it was 324 bytes, more than a single-row UPDATE's own
//! record. (The full names are still read.)

use crate::notas::Traslado;
use serde::{Deserialize, Serialize};

/// One record of the plugin's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record<'a> {
    /// A transaction starts: its top-level xid, the end of its commit
    /// record (the position stored once it is applied) and commit time.
    Begin { xid: u32, lsn_fin: u64, commit: i64 },
    /// The writer's context message (a [`WalContext`] as JSON), for the
    /// changes that follow it in the transaction.
    Context(&'a [u8]),
    /// One change of a table captured from the WAL.
    Change(WalChange<'a>),
    /// A change that gets no event (its snapshot failed, or it came without
    /// its old row): what the technical log says of it, as JSON.
    Omission(&'a [u8]),
    /// The transaction ends.
    Commit { lsn_fin: u64, commit: i64 },
}

/// Which kind of event a change is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accion {
    Insert,
    Update,
    Delete,
    Truncate,
}

/// One event as the row path would build it, without the writer's facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalChange<'a> {
    pub accion: Accion,
    pub esquema: &'a str,
    pub tabla: &'a str,
    pub registro_id: Option<[u8; 16]>,
    /// jsonb varlena images.
    pub registro_pk: Option<&'a [u8]>,
    pub anteriores: Option<&'a [u8]>,
    pub nuevos: Option<&'a [u8]>,
    pub campos: Option<Vec<&'a str>>,
    /// The row's own tenant.
    pub empresa_id: Option<[u8; 16]>,
    pub registro_id_anterior: Option<[u8; 16]>,
    pub traslado: Option<Traslado>,
    /// JSON objects: the exact text of values, by column.
    pub exactos_anteriores: Option<&'a str>,
    pub exactos_nuevos: Option<&'a str>,
}

/// The writer's facts, as its context message carries them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct WalContext {
    /// Top-level transaction id with epoch (`pg_current_xact_id()`).
    #[serde(rename = "t", alias = "transaccion")]
    pub transaccion: i64,
    /// Transaction start, microseconds since 2000-01-01 UTC (`now()`).
    #[serde(rename = "i", alias = "inicio")]
    pub inicio: i64,
    #[serde(
        rename = "u",
        alias = "usuario_id",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub usuario_id: Option<String>,
    #[serde(
        rename = "n",
        alias = "usuario_nombre",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub usuario_nombre: Option<String>,
    /// The session's tenant (events of rows without one are filed there).
    #[serde(
        rename = "e",
        alias = "empresa_id",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub empresa_id: Option<String>,
    #[serde(
        rename = "x",
        alias = "usuario_externo",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub usuario_externo: Option<String>,
    /// Why the identity could not be read, as the WARNING said it.
    #[serde(
        rename = "w",
        alias = "avisos",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub avisos: Vec<String>,
    /// The transaction context (`audit.establecer_contexto`): an object,
    /// `{}` when none was set.
    #[serde(
        rename = "m",
        alias = "metadata",
        default = "empty_object",
        skip_serializing_if = "is_empty_object"
    )]
    pub metadata: serde_json::Value,
    #[serde(rename = "r", alias = "rol_bd")]
    pub rol_bd: String,
    #[serde(
        rename = "s",
        alias = "rol_sesion",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub rol_sesion: Option<String>,
    #[serde(
        rename = "a",
        alias = "aplicacion",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub aplicacion: Option<String>,
    #[serde(
        rename = "ip",
        alias = "ip_cliente",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub ip_cliente: Option<String>,
    /// The audited table (schema, name) whose statement wrote the message:
    /// its changes follow it until the next message for the same table,
    /// whatever other tables' statements (a SECURITY DEFINER function
    /// writing elsewhere) write in between. Absent in messages of 0.2.0,
    /// which apply to every change after them.
    #[serde(rename = "q", default, skip_serializing_if = "Option::is_none")]
    pub tabla: Option<(String, String)>,
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

fn is_empty_object(v: &serde_json::Value) -> bool {
    v.as_object().is_some_and(serde_json::Map::is_empty)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("capture record truncated")]
    Truncated,
    #[error("unknown capture record kind {0}")]
    UnknownKind(u8),
    #[error("invalid capture record: {0}")]
    Invalid(&'static str),
}

const BEGIN: u8 = b'B';
const CONTEXT: u8 = b'M';
const CHANGE: u8 = b'E';
const COMMIT: u8 = b'C';
const OMISSION: u8 = b'O';

impl Record<'_> {
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Record::Begin {
                xid,
                lsn_fin,
                commit,
            } => {
                out.push(BEGIN);
                out.extend_from_slice(&xid.to_le_bytes());
                out.extend_from_slice(&lsn_fin.to_le_bytes());
                out.extend_from_slice(&commit.to_le_bytes());
            }
            Record::Context(bytes) => {
                out.push(CONTEXT);
                out.extend_from_slice(bytes);
            }
            Record::Change(c) => {
                out.push(CHANGE);
                c.encode(out);
            }
            Record::Omission(bytes) => {
                out.push(OMISSION);
                out.extend_from_slice(bytes);
            }
            Record::Commit { lsn_fin, commit } => {
                out.push(COMMIT);
                out.extend_from_slice(&lsn_fin.to_le_bytes());
                out.extend_from_slice(&commit.to_le_bytes());
            }
        }
    }

    pub fn decode(bytes: &[u8]) -> Result<Record<'_>, WireError> {
        let (&kind, rest) = bytes.split_first().ok_or(WireError::Truncated)?;
        let mut r = Reader(rest);
        let registro = match kind {
            BEGIN => Record::Begin {
                xid: r.u32()?,
                lsn_fin: r.u64()?,
                commit: r.i64()?,
            },
            CONTEXT => return Ok(Record::Context(rest)),
            OMISSION => return Ok(Record::Omission(rest)),
            CHANGE => Record::Change(WalChange::decode(&mut r)?),
            COMMIT => Record::Commit {
                lsn_fin: r.u64()?,
                commit: r.i64()?,
            },
            other => return Err(WireError::UnknownKind(other)),
        };
        if !r.0.is_empty() {
            return Err(WireError::Invalid("trailing bytes"));
        }
        Ok(registro)
    }
}

impl<'a> WalChange<'a> {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(match self.accion {
            Accion::Insert => b'I',
            Accion::Update => b'U',
            Accion::Delete => b'D',
            Accion::Truncate => b'T',
        });
        bytes(out, self.esquema.as_bytes());
        bytes(out, self.tabla.as_bytes());
        option(out, self.registro_id.as_ref(), |o, v| {
            o.extend_from_slice(v)
        });
        option(out, self.registro_pk, bytes);
        option(out, self.anteriores, bytes);
        option(out, self.nuevos, bytes);
        option(out, self.campos.as_ref(), |o, campos| {
            o.extend_from_slice(&(campos.len() as u32).to_le_bytes());
            for c in campos {
                bytes(o, c.as_bytes());
            }
        });
        option(out, self.empresa_id.as_ref(), |o, v| o.extend_from_slice(v));
        option(out, self.registro_id_anterior.as_ref(), |o, v| {
            o.extend_from_slice(v)
        });
        option(out, self.traslado, |o, t| {
            o.push(match t {
                Traslado::Salida => b'S',
                Traslado::Entrada => b'E',
            })
        });
        option(out, self.exactos_anteriores, |o, v| bytes(o, v.as_bytes()));
        option(out, self.exactos_nuevos, |o, v| bytes(o, v.as_bytes()));
    }

    fn decode(r: &mut Reader<'a>) -> Result<WalChange<'a>, WireError> {
        let accion = match r.u8()? {
            b'I' => Accion::Insert,
            b'U' => Accion::Update,
            b'D' => Accion::Delete,
            b'T' => Accion::Truncate,
            _ => return Err(WireError::Invalid("action")),
        };
        Ok(WalChange {
            accion,
            esquema: r.str()?,
            tabla: r.str()?,
            registro_id: r.option(Reader::uuid)?,
            registro_pk: r.option(Reader::bytes)?,
            anteriores: r.option(Reader::bytes)?,
            nuevos: r.option(Reader::bytes)?,
            campos: r.option(|r| {
                let n = r.u32()? as usize;
                (0..n).map(|_| r.str()).collect()
            })?,
            empresa_id: r.option(Reader::uuid)?,
            registro_id_anterior: r.option(Reader::uuid)?,
            traslado: r.option(|r| match r.u8()? {
                b'S' => Ok(Traslado::Salida),
                b'E' => Ok(Traslado::Entrada),
                _ => Err(WireError::Invalid("traslado")),
            })?,
            exactos_anteriores: r.option(Reader::str)?,
            exactos_nuevos: r.option(Reader::str)?,
        })
    }
}

fn bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    out.extend_from_slice(b);
}

fn option<T>(out: &mut Vec<u8>, v: Option<T>, write: impl FnOnce(&mut Vec<u8>, T)) {
    match v {
        None => out.push(0),
        Some(v) => {
            out.push(1);
            write(out, v);
        }
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if self.0.len() < n {
            return Err(WireError::Truncated);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, WireError> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn u64(&mut self) -> Result<u64, WireError> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    fn i64(&mut self) -> Result<i64, WireError> {
        Ok(i64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    fn uuid(&mut self) -> Result<[u8; 16], WireError> {
        Ok(self.take(16)?.try_into().expect("16 bytes"))
    }
    fn bytes(&mut self) -> Result<&'a [u8], WireError> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    fn str(&mut self) -> Result<&'a str, WireError> {
        std::str::from_utf8(self.bytes()?).map_err(|_| WireError::Invalid("text is not UTF-8"))
    }
    fn option<T>(
        &mut self,
        read: impl FnOnce(&mut Reader<'a>) -> Result<T, WireError>,
    ) -> Result<Option<T>, WireError> {
        match self.u8()? {
            0 => Ok(None),
            1 => read(self).map(Some),
            _ => Err(WireError::Invalid("presence byte")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(r: Record) {
        let mut out = Vec::new();
        r.encode(&mut out);
        assert_eq!(Record::decode(&out), Ok(r));
    }

    #[test]
    fn every_record_reads_back_as_written() {
        roundtrip(Record::Begin {
            xid: 4_000_000_000,
            lsn_fin: u64::MAX - 1,
            commit: -5,
        });
        roundtrip(Record::Context(br#"{"transaccion": 7}"#));
        roundtrip(Record::Omission(
            br#"{"tabla": "t", "motivo": "its snapshot failed: division by zero"}"#,
        ));
        roundtrip(Record::Commit {
            lsn_fin: 1,
            commit: 817_000_000_000_000,
        });
        roundtrip(Record::Change(WalChange {
            accion: Accion::Update,
            esquema: "ventas",
            tabla: "Facturas ñ",
            registro_id: Some([7; 16]),
            registro_pk: Some(b"\x00\x01pk"),
            anteriores: Some(b""),
            nuevos: Some(b"\xff\xfe"),
            campos: Some(vec!["precio", "", "stock"]),
            empresa_id: None,
            registro_id_anterior: Some([1; 16]),
            traslado: Some(Traslado::Entrada),
            exactos_anteriores: None,
            exactos_nuevos: Some(r#"{"m": "[0:1]={1,2}"}"#),
        }));
        roundtrip(Record::Change(WalChange {
            accion: Accion::Truncate,
            esquema: "public",
            tabla: "t",
            registro_id: None,
            registro_pk: None,
            anteriores: None,
            nuevos: None,
            campos: None,
            empresa_id: None,
            registro_id_anterior: None,
            traslado: None,
            exactos_anteriores: None,
            exactos_nuevos: None,
        }));
    }

    #[test]
    fn damaged_records_are_refused() {
        let mut out = Vec::new();
        Record::Commit {
            lsn_fin: 1,
            commit: 2,
        }
        .encode(&mut out);
        assert_eq!(Record::decode(&out[..5]), Err(WireError::Truncated));
        let mut longer = out.clone();
        longer.push(0);
        assert_eq!(
            Record::decode(&longer),
            Err(WireError::Invalid("trailing bytes"))
        );
        assert_eq!(Record::decode(b"Z"), Err(WireError::UnknownKind(b'Z')));
        assert_eq!(Record::decode(b""), Err(WireError::Truncated));
        // A presence byte that is neither 0 nor 1.
        let mut cambio = vec![CHANGE, b'I'];
        bytes(&mut cambio, b"s");
        bytes(&mut cambio, b"t");
        cambio.push(2);
        assert_eq!(
            Record::decode(&cambio),
            Err(WireError::Invalid("presence byte"))
        );
    }

    #[test]
    fn the_context_message_leaves_out_what_is_empty_and_keeps_every_fact() {
        let full = WalContext {
            transaccion: 5_700_511,
            inicio: 849_940_704_071_001,
            usuario_id: Some("a1111111-1111-4111-8111-111111111111".into()),
            usuario_nombre: Some("bench@example.com".into()),
            empresa_id: Some("e0000000-0000-4000-8000-00000000000a".into()),
            usuario_externo: Some("ext-1".into()),
            avisos: vec!["claims without sub".into()],
            metadata: serde_json::json!({"motivo": "cierre"}),
            rol_bd: "postgres".into(),
            rol_sesion: Some("app".into()),
            aplicacion: Some("pgbench".into()),
            ip_cliente: Some("127.0.0.1".into()),
            tabla: Some(("public".into(), "pedidos".into())),
        };
        let text = serde_json::to_string(&full).unwrap();
        assert_eq!(serde_json::from_str::<WalContext>(&text).unwrap(), full);
        // The benchmark's writers: no external user, no warnings, no
        // context, no SET ROLE.
        let usual = WalContext {
            usuario_externo: None,
            avisos: Vec::new(),
            metadata: empty_object(),
            rol_sesion: None,
            ..full
        };
        let text = serde_json::to_string(&usual).unwrap();
        assert_eq!(
            text,
            r#"{"t":5700511,"i":849940704071001,"u":"a1111111-1111-4111-8111-111111111111","n":"bench@example.com","e":"e0000000-0000-4000-8000-00000000000a","r":"postgres","a":"pgbench","ip":"127.0.0.1","q":["public","pedidos"]}"#
        );
        assert_eq!(serde_json::from_str::<WalContext>(&text).unwrap(), usual);
        // The least a message holds.
        let bare: WalContext = serde_json::from_str(r#"{"t":1,"i":2,"r":"app"}"#).unwrap();
        assert_eq!(bare.metadata, serde_json::json!({}));
        assert_eq!(bare.usuario_nombre, None);
        assert!(bare.avisos.is_empty());
        // A message of 0.2.0 names no table: it applies to every change.
        assert_eq!(bare.tabla, None);
        assert!(serde_json::from_str::<WalContext>(r#"{"t":1,"i":2}"#).is_err());
    }

    #[test]
    fn the_context_message_is_json_with_defaults_for_what_is_missing() {
        // The full names, as the first builds of the WAL mode wrote them.
        let c: WalContext = serde_json::from_str(
            r#"{"transaccion": 5, "inicio": 6, "metadata": {}, "rol_bd": "app",
                "usuario_id": null, "usuario_nombre": "Ana", "empresa_id": null,
                "usuario_externo": null, "rol_sesion": null, "aplicacion": null, "ip_cliente": null}"#,
        )
        .unwrap();
        assert_eq!(c.usuario_nombre.as_deref(), Some("Ana"));
        assert!(c.avisos.is_empty());
        let again: WalContext = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(again, c);
    }
}
