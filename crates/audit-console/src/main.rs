//! `audit-console`: serves the reference console (console/) and the part of
//! PostgREST's API it uses, so that `make demo` and the browser tests need
//! nothing that cannot be installed here. A stand-in for PostgREST, not an
//! API of its own: in production, serve console/ from anywhere and point it
//! at PostgREST or Supabase (console/README.md).
//!
//! What it does, as PostgREST does it: `POST /rpc/<function>` in one schema,
//! with a JSON object of named arguments; the HS256 JWT of
//! `Authorization: Bearer` chooses the role (`role` claim, else the
//! anonymous role) and is set as `request.jwt.claims` for the transaction;
//! each request is one transaction; errors keep PostgreSQL's code, message,
//! details and hint, with PostgREST's HTTP status.
//!
//! ```text
//! audit-console --escuchar 127.0.0.1:3000 --base 'host=... user=authenticator dbname=app' \
//!               --secreto-jwt "$JWT_SECRET" [--rol-anonimo anon] [--esquema audit] [--estaticos console]
//! ```
//! The `--base` role must be allowed to SET ROLE to the roles tokens name,
//! as PostgREST's authenticator role is.

mod errores;
mod estaticos;
mod jwt;
mod rpc;

use errores::Respuesta;
use postgres::{Client, NoTls};
use rpc::{Columna, Funcion};
use serde_json::Value;
use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;
use tiny_http::{Header, Method, Request, Response, Server};

/// Largest request body read (the console sends filters and small documents).
const CUERPO_MAXIMO: u64 = 1 << 20;
const HILOS: usize = 4;

struct Ajustes {
    base: String,
    secreto: Vec<u8>,
    rol_anonimo: Option<String>,
    esquema: String,
    estaticos: PathBuf,
}

fn main() {
    let mut escuchar = "127.0.0.1:3000".to_string();
    let mut ajustes = Ajustes {
        base: String::new(),
        secreto: Vec::new(),
        rol_anonimo: None,
        esquema: "audit".to_string(),
        estaticos: PathBuf::from("console"),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut valor = || {
            args.next()
                .unwrap_or_else(|| uso(&format!("{a} needs a value")))
        };
        match a.as_str() {
            "--escuchar" => escuchar = valor(),
            "--base" => ajustes.base = valor(),
            "--secreto-jwt" => ajustes.secreto = valor().into_bytes(),
            "--rol-anonimo" => ajustes.rol_anonimo = Some(valor()),
            "--esquema" => ajustes.esquema = valor(),
            "--estaticos" => ajustes.estaticos = PathBuf::from(valor()),
            otro => uso(&format!("unknown argument {otro}")),
        }
    }
    if ajustes.base.is_empty() || ajustes.secreto.len() < 32 {
        uso("--base is required, and --secreto-jwt must have at least 32 bytes (as PostgREST's jwt-secret)");
    }
    let servidor = Arc::new(Server::http(&escuchar).unwrap_or_else(|e| {
        eprintln!("audit-console: cannot listen on {escuchar}: {e}");
        std::process::exit(1)
    }));
    // The address bound (a port 0 asks the system for a free one).
    let direccion = servidor
        .server_addr()
        .to_ip()
        .map(|a| a.to_string())
        .unwrap_or(escuchar);
    eprintln!("audit-console: listening on http://{direccion}/");
    let ajustes = Arc::new(ajustes);
    let hilos: Vec<_> = (0..HILOS)
        .map(|_| {
            let servidor = Arc::clone(&servidor);
            let ajustes = Arc::clone(&ajustes);
            std::thread::spawn(move || {
                let mut conexion: Option<Client> = None;
                while let Ok(peticion) = servidor.recv() {
                    atender(peticion, &ajustes, &mut conexion);
                }
            })
        })
        .collect();
    for h in hilos {
        let _ = h.join();
    }
}

fn uso(por_que: &str) -> ! {
    eprintln!("audit-console: {por_que}");
    eprintln!("usage: audit-console --base CONNINFO --secreto-jwt SECRET [--escuchar HOST:PORT] [--rol-anonimo ROLE] [--esquema SCHEMA] [--estaticos DIR]");
    std::process::exit(2)
}

fn cabecera(nombre: &str, valor: &str) -> Header {
    Header::from_bytes(nombre.as_bytes(), valor.as_bytes()).expect("a valid header")
}

fn json(estado: u16, cuerpo: &str) -> Response<std::io::Cursor<Vec<u8>>> {
    Response::from_string(cuerpo)
        .with_status_code(estado)
        .with_header(cabecera("Content-Type", "application/json; charset=utf-8"))
}

fn atender(mut peticion: Request, ajustes: &Ajustes, conexion: &mut Option<Client>) {
    let url = peticion.url().to_string();
    let respuesta = match (peticion.method(), url.strip_prefix("/rpc/")) {
        (Method::Post, Some(resto)) => {
            let (nombre, consulta) = resto.split_once('?').unwrap_or((resto, ""));
            let autorizacion = peticion
                .headers()
                .iter()
                .find(|h| h.field.equiv("Authorization"))
                .map(|h| h.value.as_str().to_string());
            let mut cuerpo = String::new();
            let leido = peticion
                .as_reader()
                .take(CUERPO_MAXIMO)
                .read_to_string(&mut cuerpo);
            match leido {
                Err(_) => Err(Respuesta::propia(400, "PGRST102", "Invalid body", None)),
                Ok(_) => llamar(
                    ajustes,
                    conexion,
                    nombre,
                    consulta,
                    autorizacion.as_deref(),
                    &cuerpo,
                ),
            }
            .map(|(estado, texto)| match texto {
                Some(t) => json(estado, &t),
                None => Response::from_string("").with_status_code(estado),
            })
            .unwrap_or_else(|e| json(e.estado, &e.cuerpo.to_string()))
        }
        (Method::Get, None) => match estaticos::archivo(&ajustes.estaticos, &url)
            .and_then(|(ruta, tipo)| std::fs::read(ruta).ok().map(|d| (d, tipo)))
        {
            Some((datos, tipo)) => Response::from_data(datos)
                .with_header(cabecera("Content-Type", tipo))
                .with_header(cabecera("Cache-Control", "no-store")),
            None => json(
                404,
                r#"{"code":"PGRST125","message":"Invalid path specified in request URL","details":null,"hint":null}"#,
            ),
        },
        _ => json(
            405,
            r#"{"code":"PGRST117","message":"Unsupported HTTP method","details":null,"hint":null}"#,
        ),
    };
    let _ = peticion.respond(respuesta);
}

/// One RPC call in a transaction of its own: `(status, body)`.
fn llamar(
    ajustes: &Ajustes,
    conexion: &mut Option<Client>,
    nombre: &str,
    consulta: &str,
    autorizacion: Option<&str>,
    cuerpo: &str,
) -> Result<(u16, Option<String>), Respuesta> {
    let identidad = jwt::identidad(
        autorizacion,
        &ajustes.secreto,
        ajustes.rol_anonimo.as_deref(),
    )?;
    let argumentos: Value = if cuerpo.trim().is_empty() {
        Value::Object(Default::default())
    } else {
        serde_json::from_str(cuerpo)
            .map_err(|e| Respuesta::propia(400, "PGRST102", format!("Invalid body: {e}"), None))?
    };
    let Value::Object(mapa) = &argumentos else {
        return Err(Respuesta::propia(
            400,
            "PGRST102",
            "The body must be a JSON object of named arguments",
            None,
        ));
    };
    let claves: Vec<String> = mapa.keys().cloned().collect();
    let select = form_urlencoded::parse(consulta.as_bytes())
        .find(|(k, _)| k == "select")
        .map(|(_, v)| v.into_owned());

    if conexion.as_ref().is_none_or(Client::is_closed) {
        *conexion = Some(Client::connect(&ajustes.base, NoTls).map_err(|e| {
            Respuesta::propia(
                503,
                "PGRST000",
                format!("Database connection error: {e}"),
                None,
            )
        })?);
    }
    let client = conexion.as_mut().expect("connected above");
    let de_pg = |e: postgres::Error| match e.as_db_error() {
        Some(db) => Respuesta::de_postgres(db, identidad.anonimo),
        None if e.is_closed() => Respuesta::propia(
            503,
            "PGRST000",
            format!("Database connection error: {e}"),
            None,
        ),
        None => Respuesta::propia(500, "PGRST000", format!("Database client error: {e}"), None),
    };
    let mut tx = client.transaction().map_err(de_pg)?;
    let candidatas: Vec<Funcion> = tx
        .query(rpc::CANDIDATAS, &[&ajustes.esquema, &nombre])
        .map_err(de_pg)?
        .iter()
        .filter_map(|r| {
            let catalogo = rpc::Catalogo {
                conjunto: r.get(0),
                void: r.get(1),
                filas: r.get(2),
                n_defectos: r.get(3),
                nombres: r.get(4),
                modos: r.get(5),
                tipos: r.get(6),
            };
            rpc::funcion(&ajustes.esquema, nombre, &catalogo)
        })
        .collect();
    let funcion = rpc::elegir(&candidatas, &claves, &ajustes.esquema, nombre)?.clone();
    // Computed columns are functions of the schema taking the row.
    let mut columnas = Vec::new();
    for n in rpc::nombres_de_select(select.as_deref()) {
        if n == "*" {
            columnas.push(Columna::Todas);
            continue;
        }
        let calculada: bool = tx
            .query_one(
                "SELECT EXISTS (SELECT FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
                                 WHERE n.nspname = $1 AND p.proname = $2 AND p.pronargs = 1)",
                &[&ajustes.esquema, &n],
            )
            .map_err(de_pg)?
            .get(0);
        columnas.push(if calculada {
            Columna::Calculada(n)
        } else {
            Columna::De(n)
        });
    }
    tx.batch_execute(&format!(
        "SET LOCAL ROLE {}",
        rpc::identificador(&identidad.rol)
    ))
    .map_err(de_pg)?;
    // As PostgREST (11.1 and later): the role's own settings
    // (`ALTER ROLE ... SET`, for every database or this one), those a
    // session may set, for this transaction: a `statement_timeout` set for
    // the role must bound its calls here too.
    tx.execute(
        "SELECT pg_catalog.set_config(a.nombre, a.valor, true)
           FROM (SELECT pg_catalog.split_part(s, '=', 1) AS nombre,
                        pg_catalog.substr(s, pg_catalog.strpos(s, '=') + 1) AS valor,
                        d.setdatabase
                   FROM pg_catalog.pg_db_role_setting d, pg_catalog.unnest(d.setconfig) s
                  WHERE d.setrole = (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = current_user)
                    AND d.setdatabase IN (0, (SELECT b.oid FROM pg_catalog.pg_database b
                                               WHERE b.datname = pg_catalog.current_database()))) a
          WHERE EXISTS (SELECT FROM pg_catalog.pg_settings g WHERE g.name = a.nombre AND g.context = 'user')
          ORDER BY a.setdatabase",
        &[],
    )
    .map_err(de_pg)?;
    tx.execute(
        "SELECT pg_catalog.set_config('request.jwt.claims', $1, true),
                pg_catalog.set_config('request.method', 'POST', true),
                pg_catalog.set_config('request.path', $2, true)",
        &[&identidad.claims.to_string(), &format!("/rpc/{nombre}")],
    )
    .map_err(de_pg)?;
    let sql = rpc::sql(&funcion, &claves, &columnas);
    let fila = tx
        .query_one(&sql, &[&argumentos.to_string()])
        .map_err(de_pg)?;
    let resultado: Option<String> = fila.get(0);
    tx.commit().map_err(de_pg)?;
    Ok(match funcion.devuelve {
        rpc::Devuelve::Nada => (204, None),
        _ => (200, Some(resultado.unwrap_or_else(|| "null".to_string()))),
    })
}
