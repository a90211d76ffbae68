//! `spawn_app()`: the real server on a random loopback port, a fresh database (SQLite file
//! or a new PostgreSQL database), a manual clock, and a real SMTP server (postfix's
//! `smtp-sink`) on loopback that stores every message it accepts.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use aftercare::config::Config;
use aftercare_domain::ManualClock;
use aftercare_engine::Engine;
use aftercare_store::{Store, Table};
use aftercare_web::WebOptions;
use jiff::Timestamp;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs one test body on SQLite and on PostgreSQL, as two tests.
#[macro_export]
macro_rules! both_backends {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                ($body)($crate::helpers::Backend::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                ($body)($crate::helpers::Backend::Postgres).await;
            }
        }
    };
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A fresh database URL for `backend`; the guard keeps a SQLite file's folder alive.
pub async fn fresh_database(backend: Backend) -> (String, Option<tempfile::TempDir>) {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("temp dir");
            let url = format!("sqlite://{}", dir.path().join("test.db").display());
            (url, Some(dir))
        }
        Backend::Postgres => {
            let admin = std::env::var("AFTERCARE_TEST_POSTGRES_URL").expect(
                "AFTERCARE_TEST_POSTGRES_URL is not set: run the tests with ./scripts/test.sh, which starts PostgreSQL",
            );
            let name = format!("t_{}", uuid_like());
            let pool = sqlx::PgPool::connect(&admin)
                .await
                .expect("connecting to the test PostgreSQL");
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&pool)
                .await
                .expect("creating a test database");
            pool.close().await;
            let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
            (format!("{base}/{name}"), None)
        }
    }
}

fn uuid_like() -> String {
    use rand::RngCore;
    let mut b = [0u8; 8];
    rand::rng().fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// postfix's smtp-sink on a free loopback port, dumping each message to a file.
pub struct SmtpSink {
    pub url: String,
    dir: tempfile::TempDir,
    child: Child,
}

impl SmtpSink {
    /// Starts a sink; `delay_data` makes it wait that many seconds before answering DATA.
    pub fn start(delay_data: Option<u32>) -> Self {
        let sink = Path::new("/usr/sbin/smtp-sink");
        assert!(
            sink.exists(),
            "postfix's smtp-sink is missing: run the tests with ./scripts/test.sh, which installs it"
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let postfix_uid = Command::new("id")
            .args(["-u", "postfix"])
            .output()
            .expect("id");
        let uid: u32 = String::from_utf8_lossy(&postfix_uid.stdout)
            .trim()
            .parse()
            .expect("postfix user");
        std::os::unix::fs::chown(dir.path(), Some(uid), None)
            .expect("chown the mail folder to postfix");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut cmd = Command::new(sink);
        cmd.arg("-u")
            .arg("postfix")
            .arg("-d")
            .arg(dir.path().join("%Y%m%d%H%M%S."));
        if let Some(d) = delay_data {
            cmd.arg("-w").arg(d.to_string());
        }
        let child = cmd
            .arg(format!("127.0.0.1:{port}"))
            .arg("64")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting smtp-sink");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Self {
            url: format!("smtp://127.0.0.1:{port}"),
            dir,
            child,
        }
    }

    /// Every message received so far, as raw text.
    pub fn messages(&self) -> Vec<String> {
        self.raw_messages()
            .into_iter()
            .map(|b| {
                // Bodies are quoted-printable; decode so tests read what the customer reads.
                let decoded =
                    quoted_printable::decode(&b, quoted_printable::ParseMode::Robust).unwrap_or(b);
                String::from_utf8_lossy(&decoded).replace("\r\n", "\n")
            })
            .collect()
    }

    /// How many messages have arrived so far.
    pub fn count(&self) -> usize {
        std::fs::read_dir(self.dir.path()).map_or(0, |d| d.count())
    }

    /// Every message received so far, byte for byte as the sink stored it.
    pub fn raw_messages(&self) -> Vec<Vec<u8>> {
        let mut files: Vec<_> = std::fs::read_dir(self.dir.path())
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        files.sort();
        files
            .into_iter()
            .filter_map(|f| std::fs::read(f).ok())
            .collect()
    }

    /// Waits until at least `n` messages arrived (or 10 s passed).
    pub async fn wait_for(&self, n: usize) -> Vec<String> {
        // The sink makes a message's file when the conversation starts and fills it at the
        // end: only the written ones count.
        let written = || -> Vec<String> {
            self.messages()
                .into_iter()
                .filter(|m| !m.is_empty())
                .collect()
        };
        for _ in 0..200 {
            let m = written();
            if m.len() >= n {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        written()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The header value of `name` in a raw message.
pub fn header<'a>(raw: &'a str, name: &str) -> Option<&'a str> {
    raw.lines()
        .find(|l| {
            l.len() > name.len()
                && l[..name.len()].eq_ignore_ascii_case(name)
                && l.as_bytes()[name.len()] == b':'
        })
        .map(|l| l[name.len() + 1..].trim())
}

pub struct TestApp {
    pub base_url: String,
    pub store: Store,
    pub clock: Arc<ManualClock>,
    pub engine: Engine,
    pub smtp: SmtpSink,
    pub token: String,
    pub http: reqwest::Client,
    /// The configuration it runs with (another worker on the same store is built from it).
    pub config: Config,
    _db_dir: Option<tempfile::TempDir>,
}

pub fn start_time() -> Timestamp {
    "2026-03-02T09:00:00Z".parse().unwrap()
}

pub fn test_config(database_url: &str, smtp_url: Option<&str>) -> Config {
    test_config_with(database_url, smtp_url, &repo_root().join("programmes"))
}

/// A configuration with its own programme folder and the repository's templates.
pub fn test_config_with(database_url: &str, smtp_url: Option<&str>, programmes: &Path) -> Config {
    let root = repo_root();
    let mut table = toml::Table::new();
    table.insert(
        "templates_dir".into(),
        root.join("programmes/templates")
            .display()
            .to_string()
            .into(),
    );
    table.insert("database_url".into(), database_url.into());
    table.insert("listen".into(), "127.0.0.1:0".into());
    if let Some(s) = smtp_url {
        table.insert("smtp_url".into(), s.into());
    }
    table.insert(
        "programmes_dir".into(),
        programmes.display().to_string().into(),
    );
    let path = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(path.path(), toml::to_string(&table).unwrap()).unwrap();
    Config::load(Some(path.path())).expect("test config")
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

/// [`spawn_app`] with a change to the configuration (e.g. a coupon pool's validity).
pub async fn spawn_app_with(backend: Backend, change: impl FnOnce(&mut Config)) -> TestApp {
    spawn(backend, change, true).await
}

/// [`spawn_app`] with no worker for the side jobs (simulations, contact calendars): what
/// the pages ask for waits.
pub async fn spawn_app_without_side_jobs(backend: Backend) -> TestApp {
    spawn(backend, |_| {}, false).await
}

async fn spawn(backend: Backend, change: impl FnOnce(&mut Config), side_jobs: bool) -> TestApp {
    let (database_url, db_dir) = fresh_database(backend).await;
    let smtp = SmtpSink::start(None);
    let mut config = test_config(&database_url, Some(&smtp.url));
    // Every test client is 127.0.0.1, and some send a hundred requests at once.
    config.server.max_connections_per_client = 256;
    change(&mut config);
    let clock = Arc::new(ManualClock::new(start_time()));
    let engine = aftercare::app::build_engine(&config, clock.clone())
        .await
        .expect("engine");
    let store = engine.store().clone();
    let token = aftercare::cli::token::create(&store, "test", clock.as_ref())
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    // The worker is stepped by the tests (run_until_idle), so time is fully theirs; the
    // admin UI's simulations and calendars run beside it, as on a worker.
    if side_jobs {
        tokio::spawn(aftercare_lab::trial::run_side_jobs(
            engine.clone(),
            std::future::pending(),
        ));
    }
    let server_engine = engine.clone();
    let server_config = config.clone();
    tokio::spawn(async move {
        aftercare::app::run_server(
            server_engine,
            listener,
            WebOptions {
                outbox_page: true,
                stand_in_carrier: true,
                limits: server_config.server.clone(),
                connectors: server_config.connectors.clone(),
                ..WebOptions::default()
            },
            false,
            std::future::pending(),
        )
        .await
        .unwrap();
    });
    TestApp {
        base_url,
        store,
        clock,
        engine,
        smtp,
        token,
        http: reqwest::Client::new(),
        config,
        _db_dir: db_dir,
    }
}

impl TestApp {
    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}{path}", self.base_url))
            .bearer_auth(&self.token)
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .get(format!("{}{path}", self.base_url))
            .bearer_auth(&self.token)
    }

    /// POSTs a form (as a browser does, following the redirect) to a full URL; the final
    /// status and page.
    pub async fn post_form(&self, url: &str, body: String) -> (u16, String) {
        let r = self
            .http
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    /// POSTs `body` to `path`, signed with `secret` the way providers sign (the
    /// `Aftercare-Signature` scheme) when one is given; the status and the answer's text.
    pub async fn post_signed(
        &self,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
        secret: Option<&str>,
    ) -> (u16, String) {
        let now = aftercare_domain::Clock::now(self.clock.as_ref());
        let mut r = self
            .http
            .post(format!("{}{path}", self.base_url))
            .header("content-type", content_type);
        if let Some(secret) = secret {
            r = r.header(
                aftercare_channels::webhook::SIGNATURE_HEADER,
                aftercare_channels::webhook::signature(secret.as_bytes(), now, &body),
            );
        }
        let r = r.body(body).send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    /// A link from a message, pointed at this test server (links carry the configured
    /// public URL, which in tests is the unbound `127.0.0.1:0`).
    pub fn on_test_server(&self, link: &str) -> String {
        let path = link.splitn(4, '/').nth(3).unwrap_or_default();
        format!("{}/{path}", self.base_url)
    }

    /// A signed link to `page` for `subject`, valid for a day, on this test server.
    pub fn page_link(
        &self,
        page: aftercare_engine::links::Page,
        subject: impl Into<i64>,
    ) -> String {
        let now = aftercare_domain::Clock::now(self.clock.as_ref());
        let until = now + jiff::SignedDuration::from_hours(24);
        self.on_test_server(&self.engine.links().url(page, subject, until))
    }

    /// GET a full URL (a page) and its text.
    pub async fn get_text(&self, url: &str) -> String {
        self.http
            .get(url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// GET `path` and its JSON body, whatever the status.
    pub async fn get_json(&self, path: &str) -> Value {
        let r = self.get(path).send().await.unwrap();
        r.json().await.unwrap_or(Value::Null)
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> (u16, Value) {
        let r = self.post(path).json(body).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// The customer's message with this template, through `GET /v1/messages` (`query` adds
    /// filters such as `&state=sent`) and, for its bodies, `GET /v1/messages/{id}`; panics
    /// with the list when there is none.
    pub async fn message_with_template(
        &self,
        customer: &str,
        query: &str,
        template: &str,
    ) -> Value {
        let listed = self
            .get_json(&format!("/v1/messages?customer={customer}{query}"))
            .await;
        let id = listed["messages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["template"] == template)
            .map(|m| m["id"].clone())
            .unwrap_or_else(|| panic!("{customer} has no '{template}' message: {listed}"));
        self.get_json(&format!("/v1/messages/{id}")).await["message"].clone()
    }

    /// A signed link to `customer`'s loyalty page, valid for a day.
    pub async fn loyalty_page_url(&self, customer: &str) -> String {
        let mut tx = self.store.begin_read().await.unwrap();
        let id = tx
            .customer_by_external_id(customer)
            .await
            .unwrap()
            .unwrap()
            .id;
        drop(tx);
        let expires = aftercare_domain::Clock::now(self.clock.as_ref())
            + jiff::SignedDuration::from_hours(24);
        let token = self
            .engine
            .links()
            .token(aftercare_engine::links::Page::Loyalty, id, expires);
        format!("{}/p/loyalty/{token}", self.base_url)
    }

    /// Counts of every table a write could touch.
    pub async fn counts(&self) -> Vec<i64> {
        let mut out = Vec::new();
        for t in [
            Table::Customers,
            Table::Products,
            Table::Orders,
            Table::Shipments,
            Table::Events,
            Table::Jobs,
            Table::Messages,
            Table::IdempotencyKeys,
            Table::LoyaltyEntries,
            Table::Coupons,
            Table::CouponRedemptions,
            Table::Referrals,
        ] {
            out.push(self.store.count(t).await.unwrap());
        }
        out
    }

    /// Advances the virtual clock by `hours` in steps of an hour, running the engine.
    pub async fn advance_hours(&self, hours: i64) {
        for _ in 0..hours {
            self.clock.advance(jiff::SignedDuration::from_hours(1));
            self.engine.run_until_idle().await.unwrap();
        }
    }

    /// A catalogue product and a customer, through the API.
    pub async fn seed_shop(&self, customer: &Value) {
        let product = serde_json::json!({
            "sku": "LW-STRIDE-4", "name": "Stride 4 hardloopschoen", "category": "running-shoes",
            "price_cents": 12995, "lifespan_days": 365,
            "tips": ["Loop de eerste week korte rondjes.", "Laat ze drogen met krantenpapier."]
        });
        assert_eq!(self.post_json("/v1/products", &product).await.0, 200);
        let (status, body) = self.post_json("/v1/customers", customer).await;
        assert_eq!(status, 201, "{body}");
    }
}

pub fn jan_de_vries() -> Value {
    serde_json::json!({
        "external_id": "C1",
        "email": "jan.devries@example.nl",
        "first_name": "jan",
        "name_prefix": "de",
        "last_name": "VRIES",
        "gender": "male",
        "address_form": "formal",
        "locale": "nl-NL",
        "time_zone": "Europe/Amsterdam",
        "consents": [{"purpose": "service", "channel": "email", "granted": true, "source": "checkout", "at": "2026-01-01T10:00:00Z"}]
    })
}

pub fn order(external_id: &str) -> Value {
    serde_json::json!({
        "external_id": external_id,
        "customer_external_id": "C1",
        "placed_at": "2026-03-02T08:55:00Z",
        "lines": [{"sku": "LW-STRIDE-4", "quantity": 1, "unit_price_cents": 12995}]
    })
}

/// The value of a hidden form field in a page.
pub fn form_field(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} field in {html}"))
        + marker.len();
    html[start..].split('"').next().unwrap().to_string()
}

/// Whether a webhook's `Aftercare-Signature` header signs `body` with `secret`. Checked at
/// the signature's own timestamp with no tolerance: the tests' clock is virtual.
pub fn signed_by(headers: &axum::http::HeaderMap, body: &[u8], secret: &str) -> bool {
    let signature = headers
        .get(aftercare_channels::webhook::SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let t: i64 = signature
        .split(',')
        .find_map(|p| p.strip_prefix("t="))
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let Ok(at) = jiff::Timestamp::from_second(t) else {
        return false;
    };
    aftercare_channels::webhook::verify(
        secret.as_bytes(),
        signature,
        body,
        at,
        std::time::Duration::from_secs(0),
    )
}

pub struct Served {
    pub child: std::process::Child,
    pub addr: std::net::SocketAddr,
    /// A bearer token for the API.
    pub token: String,
    /// The server's folder (its database).
    pub dir: tempfile::TempDir,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Served {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Resident set size of the server process, in KiB.
    pub fn rss_kb(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("reading the server's /proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
    }
}

/// The real `aftercare serve` on SQLite, with a team account `victim` (password
/// [`crate::admin::PASSWORD`]) and `[server]` limits from `limits` (as `AFTERCARE_SERVER_*`).
pub async fn serve_binary(limits: &[(&str, &str)]) -> Served {
    // Installs the TLS provider the test's own HTTP clients need.
    let _ = aftercare_channels::webhook::WebhookClient::new(true);
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}", dir.path().join("hard.db").display());
    let store = aftercare_store::Store::open(&database_url).await.unwrap();
    aftercare::cli::user::create(
        &store,
        "victim",
        "admin",
        "en",
        crate::admin::PASSWORD,
        &aftercare_domain::SystemClock,
    )
    .await
    .unwrap();
    let token = aftercare::cli::token::create(&store, "outside", &aftercare_domain::SystemClock)
        .await
        .unwrap();
    drop(store);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_aftercare"));
    command
        .arg("serve")
        .env("AFTERCARE_DATABASE_URL", &database_url)
        .env("AFTERCARE_LISTEN", addr.to_string())
        .env("AFTERCARE_PROGRAMMES_DIR", repo_root().join("programmes"))
        .env(
            "AFTERCARE_TEMPLATES_DIR",
            repo_root().join("programmes/templates"),
        )
        .env("AFTERCARE_LOG", "error")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit());
    for (key, value) in limits {
        command.env(format!("AFTERCARE_SERVER_{}", key.to_uppercase()), value);
    }
    let child = command.spawn().expect("starting aftercare serve");
    let served = Served {
        child,
        addr,
        token,
        dir,
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while reqwest::get(served.url("/health")).await.is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "the server did not start"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    served
}
