//! The console in a real browser: Debian's chromium, headless, driven
//! through chromedriver (WebDriver), against the demo's two-tenant database
//! (demo/esquema.sql, demo/escenario.sql) served by `audit-console`. Each
//! screen loads; filters change the rows and stay in the address; the
//! detail shows the diff and an undo through the page is recorded as a
//! RESTAURACION; a configuration restore is previewed, then applied, and a
//! version that no longer satisfies its schema shows the error next to its
//! field; a module is rolled back to a mark; a tenant never sees the other's
//! events; a seller sees an empty, explained page. A screenshot of each
//! screen is saved under target/consola/ for review.
//!
//! Needs the test cluster of `make test` (PGHOST, PGPORT, PGUSER, PG_BIN),
//! `chromium` and `chromedriver` (scripts/bootstrap.sh installs them).

use audit_integration_tests::{count, free_port, texts, TestDb};
use fantoccini::{Client, ClientBuilder, Locator};
use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SECRETO: &str = "secreto de las pruebas de la consola, 32+ bytes";
const EMPRESA_A: &str = "e0000000-0000-4000-8000-00000000000a";
const EMPRESA_B: &str = "e0000000-0000-4000-8000-00000000000b";

fn raiz() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A token as the application's auth would sign it: the API role, the
/// user, and in app_metadata the tenant and the application role.
fn token(usuario: &str, nombre: &str, empresa: &str, rol: &str) -> String {
    let claims = json!({
        "role": "authenticated",
        "sub": usuario,
        "user_metadata": {"full_name": nombre},
        "app_metadata": {"empresa_id": empresa, "rol": rol},
    });
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(SECRETO.as_bytes()),
    )
    .unwrap()
}

fn admin_a() -> String {
    token(
        "a1111111-1111-4111-8111-111111111111",
        "Juan Pérez",
        EMPRESA_A,
        "administrador",
    )
}

fn admin_b() -> String {
    token(
        "a2222222-2222-4222-8222-222222222222",
        "María Gómez",
        EMPRESA_B,
        "administrador",
    )
}

/// A child process killed when the value is dropped.
struct Proceso(Child);

impl Drop for Proceso {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Everything one test needs: the demo database, the console server, a
/// browser session.
struct Consola {
    db: TestDb,
    url: String,
    navegador: Client,
    /// The browser session is async (fantoccini); the database client is
    /// not (postgres, which runs its own runtime): each browser step blocks
    /// on this runtime, outside of which the database is used.
    rt: tokio::runtime::Runtime,
    _servidor: Proceso,
    _driver: Proceso,
}

impl Consola {
    fn nueva(prueba: &str) -> Consola {
        let db = TestDb::new(prueba);
        // The demo's schema and scenario, as `make demo` loads them (the
        // schema creates the extension itself).
        db.connect().batch_execute("DROP EXTENSION audit").unwrap();
        for archivo in ["demo/esquema.sql", "demo/escenario.sql", "demo/consola.sql"] {
            let (host, port, user) = audit_integration_tests::server();
            let salida = Command::new(format!("{}/psql", std::env::var("PG_BIN").expect("PG_BIN")))
                .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-o", "/dev/null"])
                .args(["-h", &host, "-p", &port, "-U", &user, "-d", &db.name, "-f"])
                .arg(raiz().join(archivo))
                .output()
                .expect("run psql");
            assert!(
                salida.status.success(),
                "{archivo}: {}",
                String::from_utf8_lossy(&salida.stderr)
            );
        }
        let servidor = Command::new(env!("CARGO_BIN_EXE_audit-console"))
            .args([
                "--escuchar",
                "127.0.0.1:0",
                "--secreto-jwt",
                SECRETO,
                "--estaticos",
            ])
            .arg(raiz().join("console"))
            .args(["--base", &audit_integration_tests::conninfo(&db.name, None)])
            .stderr(Stdio::piped())
            .spawn()
            .expect("start audit-console");
        let mut servidor = Proceso(servidor);
        let mut linea = String::new();
        BufReader::new(servidor.0.stderr.take().unwrap())
            .read_line(&mut linea)
            .unwrap();
        let url = linea
            .trim()
            .strip_prefix("audit-console: listening on ")
            .unwrap_or_else(|| panic!("audit-console did not start: {linea}"))
            .trim_end_matches('/')
            .to_string();
        let puerto = free_port();
        let driver = Proceso(
            Command::new("chromedriver")
                .arg(format!("--port={puerto}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start chromedriver (scripts/bootstrap.sh installs chromium-driver)"),
        );
        let mut capacidades = serde_json::Map::new();
        capacidades.insert(
            "goog:chromeOptions".into(),
            json!({"args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                            "--window-size=1280,1000", "--lang=es"]}),
        );
        let rt = tokio::runtime::Runtime::new().unwrap();
        let inicio = Instant::now();
        let navegador = rt.block_on(async {
            loop {
                match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                    .capabilities(capacidades.clone())
                    .connect(&format!("http://127.0.0.1:{puerto}"))
                    .await
                {
                    Ok(c) => break c,
                    Err(e) if inicio.elapsed() < Duration::from_secs(20) => {
                        let _ = e;
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                    Err(e) => panic!("cannot start a browser session: {e}"),
                }
            }
        });
        Consola {
            db,
            url,
            navegador,
            rt,
            _servidor: servidor,
            _driver: driver,
        }
    }

    /// Opens the page with a token and a screen (`linea`, `actividad`...),
    /// and waits until the screen says it is ready (`data-listo`).
    async fn abrir_(&self, token: &str, pantalla: &str, listo: &str) {
        self.navegador
            .goto(&format!("{}/#token={token}&{pantalla}", self.url))
            .await
            .unwrap();
        self.esperar_listo_(listo).await;
    }

    /// Goes to another screen of the open page.
    async fn ir_(&self, hash: &str, listo: &str) {
        self.navegador
            .execute(
                "document.body.removeAttribute('data-listo'); location.hash = arguments[0];",
                vec![Value::from(hash)],
            )
            .await
            .unwrap();
        self.esperar_listo_(listo).await;
    }

    async fn esperar_listo_(&self, listo: &str) {
        self.esperar_(&format!("body[data-listo='{listo}']")).await;
    }

    async fn esperar_(&self, css: &str) {
        if let Err(e) = self
            .navegador
            .wait()
            .at_most(Duration::from_secs(15))
            .for_element(Locator::Css(css))
            .await
        {
            let texto = self
                .navegador
                .find(Locator::Css("body"))
                .await
                .unwrap()
                .text()
                .await
                .unwrap_or_default();
            panic!("waiting for {css}: {e}\npage: {texto}");
        }
    }

    async fn clic_(&self, css: &str) {
        self.esperar_(css).await;
        self.navegador
            .find(Locator::Css(css))
            .await
            .unwrap()
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// An attribute of every element that matches.
    async fn atributos_(&self, css: &str, atributo: &str) -> Vec<String> {
        let mut r = Vec::new();
        for e in self.navegador.find_all(Locator::Css(css)).await.unwrap() {
            r.push(e.attr(atributo).await.unwrap().unwrap_or_default());
        }
        r
    }

    async fn texto_(&self, css: &str) -> String {
        self.esperar_(css).await;
        self.navegador
            .find(Locator::Css(css))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    async fn foto_(&self, nombre: &str) {
        let png = self.navegador.screenshot().await.unwrap();
        let dir = raiz().join("target/consola");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{nombre}.png")), png).unwrap();
    }
}

/// The browser steps, each blocking until done.
impl Consola {
    fn abrir(&self, token: &str, pantalla: &str, listo: &str) {
        self.rt.block_on(self.abrir_(token, pantalla, listo))
    }
    fn ir(&self, hash: &str, listo: &str) {
        self.rt.block_on(self.ir_(hash, listo))
    }
    fn esperar_listo(&self, listo: &str) {
        self.rt.block_on(self.esperar_listo_(listo))
    }
    fn esperar(&self, css: &str) {
        self.rt.block_on(self.esperar_(css))
    }
    fn clic(&self, css: &str) {
        self.rt.block_on(self.clic_(css))
    }
    fn atributos(&self, css: &str, atributo: &str) -> Vec<String> {
        self.rt.block_on(self.atributos_(css, atributo))
    }
    fn texto(&self, css: &str) -> String {
        self.rt.block_on(self.texto_(css))
    }
    fn foto(&self, nombre: &str) {
        self.rt.block_on(self.foto_(nombre))
    }
    fn js(&self, script: &str, args: Vec<Value>) {
        self.rt
            .block_on(self.navegador.execute(script, args))
            .unwrap();
    }
    /// A property (`value`, `textContent`...) of the first element that matches.
    fn propiedad(&self, css: &str, nombre: &str) -> String {
        self.rt.block_on(async {
            self.navegador
                .find(Locator::Css(css))
                .await
                .unwrap()
                .prop(nombre)
                .await
                .unwrap()
                .unwrap_or_default()
        })
    }
    fn existe(&self, css: &str) -> bool {
        self.rt
            .block_on(self.navegador.find(Locator::Css(css)))
            .is_ok()
    }
    fn elegir(&self, css: &str, valor: &str) {
        self.rt.block_on(async {
            self.navegador
                .find(Locator::Css(css))
                .await
                .unwrap()
                .select_by_value(valor)
                .await
                .unwrap()
        })
    }
    fn direccion(&self) -> String {
        self.rt
            .block_on(self.navegador.current_url())
            .unwrap()
            .to_string()
    }
    fn cerrar(self) {
        let _ = self.rt.block_on(self.navegador.clone().close());
    }
}

#[test]
fn every_screen_loads_filters_change_the_rows_and_tenants_stay_apart() {
    let c = Consola::nueva("consola_pantallas");
    let mut sql = c.db.connect();

    // The timeline of tenant A: its events only, newest first, each with
    // its one-line summary.
    c.abrir(&admin_a(), "linea", "linea");
    let ids: Vec<i64> = c
        .atributos("#linea li.evento", "data-id")
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    assert!(!ids.is_empty(), "tenant A has events");
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
    let lista = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    assert_eq!(
        count(
            &mut sql,
            &format!("SELECT count(*) FROM audit.historial_cambios WHERE id IN ({lista}) AND empresa_id IS DISTINCT FROM '{EMPRESA_A}'")
        ),
        0,
        "tenant A sees only its own events"
    );
    assert!(c.texto("#linea li.evento .resumen").len() > 5);
    assert_eq!(c.texto("#quien"), "Juan Pérez");
    c.foto("linea");

    // A filter from the address, then from the form: the rows change and
    // the address keeps the filters.
    c.ir("#/linea?tabla=productos&accion=UPDATE", "linea");
    let acciones = c.atributos("#linea li.evento", "data-accion");
    assert!(!acciones.is_empty());
    assert!(acciones.iter().all(|a| a == "UPDATE"), "{acciones:?}");
    let tablas = c.atributos("#linea li.evento", "data-tabla");
    assert!(tablas.iter().all(|t| t == "productos"), "{tablas:?}");
    assert_eq!(c.propiedad("#filtro-tabla", "value"), "productos");
    c.js("document.body.removeAttribute('data-listo')", vec![]);
    c.elegir("#filtro-accion", "INSERT");
    c.clic("#aplicar-filtros");
    c.esperar_listo("linea");
    let acciones = c.atributos("#linea li.evento", "data-accion");
    assert!(!acciones.is_empty());
    assert!(acciones.iter().all(|a| a == "INSERT"), "{acciones:?}");
    let direccion = c.direccion();
    assert!(
        direccion.contains("tabla=productos") && direccion.contains("accion=INSERT"),
        "{direccion}"
    );
    c.foto("linea-filtrada");

    // Activity: a chart per grouping, with groups.
    c.ir("#/actividad", "actividad");
    for g in ["dia", "usuario", "tabla", "tipo_operacion"] {
        let grupos = c.atributos(&format!("#grafico-{g}"), "data-grupos");
        assert!(grupos[0].parse::<u32>().unwrap() > 0, "chart {g}");
    }
    c.foto("actividad");
    // The export of the view holds every row of it: one per changed field
    // of tenant A's events. A value any user can write that a spreadsheet
    // would run as a formula (=, +, -, @) is exported as text.
    sql.batch_execute(&format!(
        "UPDATE productos SET nombre = '=HYPERLINK(\"http://x\")'
          WHERE id = (SELECT id FROM productos WHERE empresa_id = '{EMPRESA_A}' ORDER BY sku LIMIT 1)"
    ))
    .unwrap();
    c.js(
        "descargar = (nombre, tipo, contenido) => { document.body.dataset.descarga = contenido; };",
        vec![],
    );
    c.clic("#exportar-xlsx");
    c.esperar("body[data-exportado^='xlsx:']");
    c.clic("#exportar-csv");
    c.esperar("body[data-exportado^='csv:']");
    let csv = c.atributos("body", "data-descarga")[0].clone();
    assert!(csv.contains("'=HYPERLINK"), "the formula is neutralized");
    assert!(
        !csv.lines()
            .any(|l| l.split(',').any(|celda| celda.starts_with('=')
                || celda.starts_with("\"=")
                || celda.starts_with('+')
                || celda.starts_with('@'))),
        "no cell starts a formula"
    );
    let exportadas: i64 = c.atributos("body", "data-exportado")[0]
        .trim_start_matches("csv:")
        .parse()
        .unwrap();
    let plano = count(
        &mut sql,
        &format!(
            "SELECT count(*) FROM audit.historial_plano('{{\"empresa_id\": \"{EMPRESA_A}\"}}')"
        ),
    );
    assert_eq!(exportadas, plano);

    c.ir("#/configuracion", "configuracion");
    assert!(!c
        .atributos("#tabla-versiones tr[data-version]", "data-version")
        .is_empty());
    c.foto("configuracion");
    c.ir("#/modulos", "modulos");
    assert_eq!(
        c.atributos("#modulos section.modulo", "data-modulo"),
        ["catalogo"]
    );
    c.foto("modulos");

    // Tenant B's administrator: B's events only, never A's.
    c.abrir(&admin_b(), "linea", "linea");
    let tablas = c.atributos("#linea li.evento", "data-tabla");
    assert!(!tablas.is_empty());
    assert!(
        !tablas.iter().any(|t| t == "productos"),
        "B has no products: {tablas:?}"
    );
    let ids_b = c.atributos("#linea li.evento", "data-id").join(",");
    assert_eq!(
        count(
            &mut sql,
            &format!("SELECT count(*) FROM audit.historial_cambios WHERE id IN ({ids_b}) AND empresa_id IS DISTINCT FROM '{EMPRESA_B}'")
        ),
        0
    );
    c.foto("linea-empresa-b");

    // A seller: an empty page that says why, and no events.
    let vendedor = token(
        "a3333333-3333-4333-8333-333333333333",
        "Pedro",
        EMPRESA_A,
        "vendedor",
    );
    c.abrir(&vendedor, "linea", "sin-acceso");
    assert!(c.texto("#sin-acceso").contains("vendedor"));
    assert!(!c.existe("#linea li.evento"));
    c.foto("sin-acceso");

    // As PostgREST, the role's own settings apply to its calls: a
    // statement_timeout set for it stops a long patch (any role may call
    // jsonb_aplicar_patch) instead of tying up a worker of the server.
    sql.batch_execute(&format!(
        "ALTER ROLE authenticated IN DATABASE {} SET statement_timeout = '300ms'",
        c.db.name
    ))
    .unwrap();
    c.js(
        "const doc = Array.from({length: 100000}, (_, i) => i);
         const ops = Array.from({length: 10000}, () => ({op: 'remove', path: '/0'}));
         rpc('jsonb_aplicar_patch', {documento: doc, patch: ops}).then(
             () => { document.body.dataset.parche = 'hecho'; },
             (e) => { document.body.dataset.parche = e.codigo || String(e.estado); });",
        vec![],
    );
    c.esperar("body[data-parche]");
    assert_eq!(c.atributos("body", "data-parche"), ["57014"]);
    c.cerrar();
}

#[test]
fn the_detail_shows_the_diff_and_an_undo_through_the_page_is_recorded() {
    let c = Consola::nueva("consola_detalle");
    let mut sql = c.db.connect();
    let restauraciones = "SELECT coalesce(usuario_nombre, '') FROM audit.historial_cambios WHERE metadata ->> 'tipo_operacion' = 'RESTAURACION' ORDER BY id";
    let antes = texts(&mut sql, restauraciones).len();
    c.abrir(&admin_a(), "linea?tabla=productos&accion=UPDATE", "linea");
    let evento: i64 = c.atributos("#linea li.evento", "data-id")[0]
        .parse()
        .unwrap();
    c.clic(&format!(
        "#linea li.evento[data-id='{evento}'] .ver-detalles"
    ));
    c.esperar_listo("detalle");
    let mut cambiados = c.atributos("#diff tr.cambiado", "data-campo");
    let mut esperados = texts(
        &mut sql,
        &format!(
            "SELECT unnest(campos_modificados) FROM audit.historial_cambios WHERE id = {evento}"
        ),
    );
    cambiados.sort();
    esperados.sort();
    assert_eq!(cambiados, esperados, "the changed fields are highlighted");
    let parche = c.propiedad("#parche", "textContent");
    assert!(
        parche.contains("\"replace\""),
        "the JSON Patch of the change: {parche}"
    );
    assert!(c.existe("#historia-registro li"), "the record's history");
    c.foto("detalle");

    c.clic("#deshacer");
    c.esperar("#informe-previo");
    assert_eq!(c.atributos("#informe-previo", "data-aplicado"), ["false"]);
    c.foto("deshacer-vista-previa");
    assert_eq!(
        texts(&mut sql, restauraciones).len(),
        antes,
        "the preview writes nothing"
    );
    c.clic("#confirmar");
    c.esperar("#informe-final[data-aplicado='true']");
    c.foto("deshacer-aplicado");
    let despues = texts(&mut sql, restauraciones);
    assert_eq!(despues.len(), antes + 1, "recorded as a RESTAURACION");
    assert_eq!(despues.last().unwrap(), "Juan Pérez", "by the page's user");
    c.cerrar();
}

#[test]
fn a_configuration_restore_is_previewed_then_applied_and_schema_errors_show_by_their_field() {
    let c = Consola::nueva("consola_config");
    let mut sql = c.db.connect();
    c.abrir(&admin_a(), "configuracion?tipo=smtp", "configuracion");
    let versiones = c.atributos("#tabla-versiones tr[data-version]", "data-version");
    assert!(versiones.len() >= 2, "{versiones:?}");
    // The version before the active one (the oldest has the active one's
    // document again: the demo restored it).
    let anterior = versiones[1].clone();
    c.clic(&format!(
        "#tabla-versiones tr[data-version='{anterior}'] button.restaurar"
    ));
    c.esperar_listo("restaurar-config");
    assert!(c.existe("#comparacion tr.cambiado"), "the preview compares");
    c.foto("config-vista-previa");
    c.clic("#confirmar");
    c.esperar("#informe-final[data-aplicado='true']");
    assert_eq!(
        count(
            &mut sql,
            &format!("SELECT count(*) FROM audit.config_versiones WHERE restaurada_desde = {anterior} AND comentario = 'restaurada desde la consola'")
        ),
        1
    );

    // A version that no longer satisfies its type's schema: the preview
    // says so, next to the field, and offers nothing to confirm.
    c.ir("#/configuracion?tipo=avisos", "configuracion");
    let versiones = c.atributos("#tabla-versiones tr[data-version]", "data-version");
    let vieja = versiones.last().unwrap();
    c.clic(&format!(
        "#tabla-versiones tr[data-version='{vieja}'] button.restaurar"
    ));
    c.esperar_listo("restaurar-config");
    // Beside the field, in the comparison of that version with the active one.
    assert!(c.existe("#comparacion tr[data-campo='dias'] .error-campo"));
    assert_eq!(c.atributos(".error-campo", "data-campo"), ["dias"]);
    assert!(c.texto(".error-campo").contains("14"), "the rule's limit");
    assert!(!c.existe("#confirmar"));
    c.foto("config-error-de-esquema");
    c.cerrar();
}

#[test]
fn a_module_is_rolled_back_to_a_mark_after_its_preview() {
    let c = Consola::nueva("consola_modulos");
    let mut sql = c.db.connect();
    // A change after the demo's mark, to roll back.
    let stock = "SELECT stock::text FROM productos WHERE sku = 'MOU-001'";
    let en_la_marca = texts(&mut sql, stock);
    sql.batch_execute("UPDATE productos SET stock = stock + 5 WHERE sku = 'MOU-001'")
        .unwrap();
    c.abrir(&admin_a(), "modulos", "modulos");
    c.clic("#modulos section[data-modulo='catalogo'] li[data-marca='antes_de_importar'] button.revertir");
    c.esperar("#informe-previo tr.cambio");
    c.foto("modulo-vista-previa");
    c.clic("#confirmar");
    c.esperar("#informe-final[data-aplicado='true']");
    assert_eq!(
        texts(&mut sql, stock),
        en_la_marca,
        "the row is as it was at the mark"
    );
    c.cerrar();
}
