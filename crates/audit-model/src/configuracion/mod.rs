//! Versioned configuration documents (docs/configuration.md): the parts that are
//! pure decisions, kept apart from the PostgreSQL code that stores the
//! versions (src/configuracion).
//!
//! * [`esquema`]: compiling a type's JSON Schema and checking documents
//!   against it, with messages that never repeat a document's values.
//! * [`secretos`]: hiding the values of secret fields (passwords, keys)
//!   everywhere a document is shown.
//! * [`nombre_tipo`]: what a configuration type may be called.

pub mod esquema;
pub mod secretos;

/// The largest document (and schema) accepted, as jsonb text: 1 MiB.
/// Configuration blocks are a few kilobytes; anything near this is a
/// mistake (a file pasted into a field), and every version is kept forever.
pub const LIMITE_BYTES: usize = 1024 * 1024;

/// Why a type name is refused, or nothing when it is acceptable: a
/// lower-case identifier (`smtp`, `copias_seguridad`) of at most 63 bytes,
/// so it reads the same in SQL, URLs and the admin panel.
pub fn nombre_tipo(tipo: &str) -> Result<(), String> {
    let mut chars = tipo.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !first_ok || !rest_ok {
        return Err(format!(
            "\"{tipo}\" is not a type name: use lower-case letters, digits and underscores, starting with a letter"
        ));
    }
    if tipo.len() > 63 {
        return Err(format!("\"{tipo}\" is longer than 63 bytes"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::nombre_tipo;

    #[test]
    fn type_names_are_lower_case_identifiers() {
        for ok in ["smtp", "copias_seguridad", "ftp2", "a"] {
            assert_eq!(nombre_tipo(ok), Ok(()), "{ok}");
        }
        for bad in ["", "SMTP", "2ftp", "_x", "smtp-1", "smtp ", "ñu", "a.b"] {
            assert!(nombre_tipo(bad).is_err(), "{bad:?} accepted");
        }
        assert!(nombre_tipo(&"a".repeat(63)).is_ok());
        assert!(nombre_tipo(&"a".repeat(64))
            .unwrap_err()
            .contains("63 bytes"));
    }
}
