//! An event's hash from its stored values (the encoding is
//! `audit_model::huella`). The capture path hashes the datums it is about to
//! store; the verifier hashes the datums it reads back. Both go through
//! [`huella`] with the values in the log's column order, so the two cannot
//! disagree on how a value is read.

use crate::capture::log_columns::LogColumn as C;
use crate::sql_types::Jsonb;
use audit_model::huella::{huella_evento, Evento, Hash};
use pgrx::pg_sys;
use pgrx::FromDatum;
use std::ffi::CStr;

/// Columns covered by the hash: all of them but the hash itself (the last).
pub const HASHED: usize = C::Huella as usize;

const CAMPOS_MODIFICADOS: usize = C::CamposModificados as usize;
const ID: usize = C::Id as usize;
const TIMESTAMP: usize = C::Timestamp as usize;
const USUARIO_ID: usize = C::UsuarioId as usize;
const USUARIO_NOMBRE: usize = C::UsuarioNombre as usize;
const ACCION: usize = C::Accion as usize;
const ESQUEMA: usize = C::Esquema as usize;
const TABLA_AFECTADA: usize = C::TablaAfectada as usize;
const REGISTRO_ID: usize = C::RegistroId as usize;
const REGISTRO_PK: usize = C::RegistroPk as usize;
const DATOS_ANTERIORES: usize = C::DatosAnteriores as usize;
const DATOS_NUEVOS: usize = C::DatosNuevos as usize;
const EMPRESA_ID: usize = C::EmpresaId as usize;
const METADATA: usize = C::Metadata as usize;
const TRANSACCION: usize = C::Transaccion as usize;
const ROL_BD: usize = C::RolBd as usize;
const APLICACION: usize = C::Aplicacion as usize;
const IP_CLIENTE: usize = C::IpCliente as usize;
const REGISTRO_ID_ANTERIOR: usize = C::RegistroIdAnterior as usize;
const ROL_SESION: usize = C::RolSesion as usize;
const USUARIO_EXTERNO: usize = C::UsuarioExterno as usize;
const NOTAS: usize = C::Notas as usize;

/// The hash of an event from its values in [`C::ALL`] order (the first
/// [`HASHED`] of them). `nulls[i]` says `values[i]` is NULL.
pub fn huella(values: &[pg_sys::Datum], nulls: &[bool]) -> Hash {
    assert!(values.len() >= HASHED && nulls.len() >= HASHED);
    let v = |i: usize| (!nulls[i]).then_some(values[i]);
    // SAFETY: each datum is of the type its column has (see log_columns.rs and
    // bootstrap.sql): the readers below are chosen by position.
    unsafe {
        // Only the columns whose encoding is their text are rendered, by
        // their known positions (this runs for every captured row).
        let text_of = |i: usize| v(i).map(|d| text_bytes(d));
        let json_of = |i: usize| v(i).map(|d| Jsonb::from_datum_unchecked(d).to_text_bytes());
        let usuario_nombre = text_of(USUARIO_NOMBRE);
        let accion = text_of(ACCION);
        let esquema = text_of(ESQUEMA);
        let tabla_afectada = text_of(TABLA_AFECTADA);
        let rol_bd = text_of(ROL_BD);
        let aplicacion = text_of(APLICACION);
        let rol_sesion = text_of(ROL_SESION);
        let usuario_externo = text_of(USUARIO_EXTERNO);
        let ip_cliente = v(IP_CLIENTE).map(|d| inet_text(d));
        let registro_pk = json_of(REGISTRO_PK);
        let datos_anteriores = json_of(DATOS_ANTERIORES);
        let datos_nuevos = json_of(DATOS_NUEVOS);
        let metadata = json_of(METADATA);
        let notas = json_of(NOTAS);
        let campos: Option<Vec<Option<String>>> =
            v(CAMPOS_MODIFICADOS).and_then(|d| Vec::<Option<String>>::from_datum(d, false));
        let uuid = |i: usize| v(i).map(|d| crate::datums::uuid_of(d));
        let int = |i: usize| v(i).map(|d| d.value() as i64).unwrap_or_default();
        huella_evento(&Evento {
            id: int(ID),
            timestamp: int(TIMESTAMP),
            usuario_id: uuid(USUARIO_ID),
            usuario_nombre: utf8(&usuario_nombre),
            accion: utf8(&accion).unwrap_or_default(),
            esquema: utf8(&esquema),
            tabla_afectada: utf8(&tabla_afectada),
            registro_id: uuid(REGISTRO_ID),
            registro_pk: registro_pk.as_deref(),
            datos_anteriores: datos_anteriores.as_deref(),
            datos_nuevos: datos_nuevos.as_deref(),
            campos_modificados: campos
                .as_ref()
                .map(|c| c.iter().map(|s| s.as_deref()).collect()),
            empresa_id: uuid(EMPRESA_ID),
            metadata: metadata.as_deref(),
            transaccion: int(TRANSACCION),
            rol_bd: utf8(&rol_bd).unwrap_or_default(),
            aplicacion: utf8(&aplicacion),
            ip_cliente: utf8(&ip_cliente),
            registro_id_anterior: uuid(REGISTRO_ID_ANTERIOR),
            rol_sesion: utf8(&rol_sesion),
            usuario_externo: utf8(&usuario_externo),
            notas: notas.as_deref(),
        })
    }
}

/// Rendered text as `str` (the database encoding is UTF8, checked at install).
fn utf8(b: &Option<Vec<u8>>) -> Option<&str> {
    b.as_deref()
        .map(|b| std::str::from_utf8(b).expect("the database encoding is UTF8"))
}

/// The bytes of a text datum (detoasted).
unsafe fn text_bytes(d: pg_sys::Datum) -> Vec<u8> {
    // SAFETY: the caller's guarantee: a text datum.
    unsafe {
        let t = pg_sys::pg_detoast_datum_packed(d.cast_mut_ptr());
        pgrx::varlena::varlena_to_byte_slice(t).to_vec()
    }
}

/// The text of an inet datum, as inet_out writes it.
unsafe fn inet_text(d: pg_sys::Datum) -> Vec<u8> {
    // SAFETY: the caller's guarantee: an inet datum; inet_out returns a palloc'd C string.
    unsafe {
        let out = pgrx::direct_function_call_as_datum(pg_sys::inet_out, &[Some(d)])
            .expect("inet_out returns a value");
        let s = CStr::from_ptr(out.cast_mut_ptr::<std::ffi::c_char>())
            .to_bytes()
            .to_vec();
        pg_sys::pfree(out.cast_mut_ptr());
        s
    }
}

/// A `bytea` datum holding `bytes`.
pub fn bytea(bytes: &[u8]) -> pg_sys::Datum {
    // SAFETY: a palloc'd varlena of the right size, filled completely.
    unsafe {
        let len = bytes.len() + pg_sys::VARHDRSZ;
        let p = pg_sys::palloc(len).cast::<u8>();
        pgrx::varlena::set_varsize_4b(p.cast(), len as i32);
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), p.add(pg_sys::VARHDRSZ), bytes.len());
        pg_sys::Datum::from(p)
    }
}
