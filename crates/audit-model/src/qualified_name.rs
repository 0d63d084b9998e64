//! Table names as users write them in filters: `name` or `schema.name`,
//! with PostgreSQL's identifier rules (as `parse_ident` and `regclass`
//! read them): unquoted names are folded to lower case, double-quoted ones
//! are kept as written, `""` inside quotes is one `"`.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QualifiedName {
    pub schema: Option<String>,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("it is empty")]
    Empty,
    #[error("it has an unterminated quoted identifier")]
    UnterminatedQuote,
    #[error("it has an empty name between dots")]
    EmptyPart,
    #[error("it has unexpected text after a name (names with spaces or capital letters go in double quotes: \"\\\"Mi Tabla\\\"\")")]
    UnexpectedText,
    #[error("it must be \"name\" or \"schema.name\", not a name of {0} parts")]
    TooManyParts(usize),
}

/// Parses `name` or `schema.name`.
pub fn parse_qualified_name(text: &str) -> Result<QualifiedName, NameError> {
    if text.trim().is_empty() {
        return Err(NameError::Empty);
    }
    let mut parts = Vec::new();
    let mut rest = text.trim_start();
    loop {
        let (part, after) = identifier(rest)?;
        parts.push(part);
        let after = after.trim_start();
        match after.strip_prefix('.') {
            Some(next) => rest = next.trim_start(),
            None if after.is_empty() => break,
            None => return Err(NameError::UnexpectedText),
        }
    }
    match parts.len() {
        1 => Ok(QualifiedName {
            schema: None,
            name: parts.remove(0),
        }),
        2 => {
            let name = parts.pop().expect("two parts");
            Ok(QualifiedName {
                schema: parts.pop(),
                name,
            })
        }
        n => Err(NameError::TooManyParts(n)),
    }
}

/// One identifier at the start of `text`, and what follows it.
fn identifier(text: &str) -> Result<(String, &str), NameError> {
    if let Some(quoted) = text.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = quoted.char_indices();
        while let Some((i, c)) = chars.next() {
            if c != '"' {
                out.push(c);
                continue;
            }
            if quoted[i + 1..].starts_with('"') {
                out.push('"');
                chars.next();
                continue;
            }
            if out.is_empty() {
                return Err(NameError::EmptyPart);
            }
            return Ok((out, &quoted[i + 1..]));
        }
        return Err(NameError::UnterminatedQuote);
    }
    let end = text
        .find(|c: char| c == '.' || c == '"' || c.is_whitespace())
        .unwrap_or(text.len());
    if end == 0 {
        return Err(NameError::EmptyPart);
    }
    // PostgreSQL folds only ASCII letters of unquoted identifiers (in UTF8).
    Ok((text[..end].to_ascii_lowercase(), &text[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> QualifiedName {
        parse_qualified_name(text).unwrap()
    }

    fn qn(schema: Option<&str>, name: &str) -> QualifiedName {
        QualifiedName {
            schema: schema.map(str::to_string),
            name: name.to_string(),
        }
    }

    #[test]
    fn plain_and_qualified_names() {
        assert_eq!(ok("productos"), qn(None, "productos"));
        assert_eq!(ok("ventas.facturas"), qn(Some("ventas"), "facturas"));
        assert_eq!(ok("  ventas . facturas  "), qn(Some("ventas"), "facturas"));
    }

    #[test]
    fn unquoted_names_fold_to_lower_case_and_quoted_ones_do_not() {
        assert_eq!(ok("Productos"), qn(None, "productos"));
        assert_eq!(ok("\"Productos\""), qn(None, "Productos"));
        assert_eq!(ok("Ventas.\"Mi Tabla\""), qn(Some("ventas"), "Mi Tabla"));
        assert_eq!(ok("\"a.b\".\"c\"\"d\""), qn(Some("a.b"), "c\"d"));
        assert_eq!(ok("Año"), qn(None, "año"), "only ASCII letters fold");
    }

    #[test]
    fn malformed_names_are_refused() {
        assert_eq!(parse_qualified_name(""), Err(NameError::Empty));
        assert_eq!(parse_qualified_name("   "), Err(NameError::Empty));
        assert_eq!(parse_qualified_name("a..b"), Err(NameError::EmptyPart));
        assert_eq!(parse_qualified_name(".a"), Err(NameError::EmptyPart));
        assert_eq!(parse_qualified_name("a."), Err(NameError::EmptyPart));
        assert_eq!(parse_qualified_name("\"\""), Err(NameError::EmptyPart));
        assert_eq!(
            parse_qualified_name("\"abc"),
            Err(NameError::UnterminatedQuote)
        );
        assert_eq!(
            parse_qualified_name("\"a\"b"),
            Err(NameError::UnexpectedText)
        );
        assert_eq!(parse_qualified_name("a b"), Err(NameError::UnexpectedText));
        assert_eq!(
            parse_qualified_name("db.s.t"),
            Err(NameError::TooManyParts(3))
        );
    }
}
