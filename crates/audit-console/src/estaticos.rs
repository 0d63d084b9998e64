//! The console's files (console/): only files directly in that directory,
//! with a name of letters, digits, dots, dashes and underscores and a known
//! type; `/` is `index.html`.

use std::path::{Path, PathBuf};

/// The file for a GET path, and its content type; `None` for anything else.
pub fn archivo(raiz: &Path, ruta: &str) -> Option<(PathBuf, &'static str)> {
    let nombre = match ruta.split('?').next().unwrap_or("") {
        "/" | "" => "index.html",
        r => r.strip_prefix('/')?,
    };
    if nombre.starts_with('.')
        || !nombre
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    {
        return None;
    }
    let tipo = match nombre.rsplit_once('.')?.1 {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        _ => return None,
    };
    Some((raiz.join(nombre), tipo))
}

#[cfg(test)]
mod tests {
    use super::archivo;
    use std::path::Path;

    #[test]
    fn only_known_files_of_the_directory() {
        let raiz = Path::new("/c");
        assert_eq!(archivo(raiz, "/").unwrap().0, Path::new("/c/index.html"));
        assert_eq!(
            archivo(raiz, "/app.js?v=1").unwrap().1,
            "text/javascript; charset=utf-8"
        );
        for fuera in [
            "/../secreto.html",
            "/a/b.js",
            "/.oculto.js",
            "/README.md",
            "/app",
            "/%2e%2e/x.js",
        ] {
            assert_eq!(archivo(raiz, fuera), None, "{fuera}");
        }
    }
}
