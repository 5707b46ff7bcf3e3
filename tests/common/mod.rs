//! The test harness: a real server stack on 127.0.0.1 ephemeral ports, talking real HTTP, on a
//! fresh database per test. `GATEHOUSE_TEST_DB=postgres` (with `TEST_DATABASE_POSTGRESQL`) and
//! `GATEHOUSE_TEST_DB=mysql` (with `TEST_DATABASE_MYSQL`) run the same tests on PostgreSQL and
//! MySQL/MariaDB; the default is a SQLite file in a temp dir.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use gatehouse::app::{self, Running};
use serde_json::Value;

pub mod browser;
pub mod flow;
pub mod github;
pub mod kratos_cookie;
pub mod oidc;
pub mod process;
pub mod python_sdk;
pub mod receiver;
pub mod smtp;
pub mod webauthn;

pub const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
pub const TEST_CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/config/test.yml");

pub fn backend() -> String {
    std::env::var("GATEHOUSE_TEST_DB").unwrap_or_else(|_| "sqlite".into())
}

/// A database no other test touches.
pub struct TestDb {
    pub dsn: String,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    /// A database made elsewhere (e.g. reached as another user).
    pub fn at(dsn: String) -> TestDb {
        TestDb { dsn, _dir: None }
    }

    pub async fn new() -> TestDb {
        if backend() == "postgres" {
            let base = std::env::var("TEST_DATABASE_POSTGRESQL")
                .expect("GATEHOUSE_TEST_DB=postgres needs TEST_DATABASE_POSTGRESQL");
            let name = format!("gh_{}", uuid::Uuid::new_v4().simple());
            create_pg_database(&base, &name).await;
            let (head, tail) = base.rsplit_once('/').expect("database URL has a path");
            let query = tail
                .split_once('?')
                .map(|(_, q)| format!("?{q}"))
                .unwrap_or_default();
            TestDb {
                dsn: format!("{head}/{name}{query}"),
                _dir: None,
            }
        } else if backend() == "mysql" {
            let base = std::env::var("TEST_DATABASE_MYSQL")
                .expect("GATEHOUSE_TEST_DB=mysql needs TEST_DATABASE_MYSQL");
            let name = format!("gh_{}", uuid::Uuid::new_v4().simple());
            let (head, tail) = base.rsplit_once('/').expect("database URL has a path");
            create_mysql_database(&format!("{head}/"), &name).await;
            let query = tail
                .split_once('?')
                .map(|(_, q)| format!("?{q}"))
                .unwrap_or_default();
            TestDb {
                dsn: format!("{head}/{name}{query}"),
                _dir: None,
            }
        } else {
            let dir = tempfile::tempdir().expect("tempdir");
            let dsn = format!(
                "sqlite://{}/db.sqlite?_fk=true&mode=rwc",
                dir.path().display()
            );
            TestDb {
                dsn,
                _dir: Some(dir),
            }
        }
    }
}

async fn create_pg_database(base: &str, name: &str) {
    use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
    let url = base.replace("postgresql://", "postgres://");
    let mut c = AsyncPgConnection::establish(&url)
        .await
        .expect("connect to the test PostgreSQL");
    diesel::sql_query(format!("CREATE DATABASE {name}"))
        .execute(&mut c)
        .await
        .expect("create test database");
}

/// `server` is the URL without a database (`mysql://user@host:port/`).
async fn create_mysql_database(server: &str, name: &str) {
    use diesel_async::{AsyncConnection, AsyncMysqlConnection, RunQueryDsl};
    let mut c = AsyncMysqlConnection::establish(server)
        .await
        .expect("connect to the test MySQL");
    diesel::sql_query(format!("CREATE DATABASE {name}"))
        .execute(&mut c)
        .await
        .expect("create test database");
}

/// How to start a test server.
pub struct Setup {
    pub yaml: String,
    pub env: Vec<(String, String)>,
    pub dev: bool,
    /// The listeners' timeouts, connection caps and grace; `dev` and `migrate` are set from the
    /// fields above.
    pub listen: app::Options,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            yaml: String::new(),
            env: Vec::new(),
            dev: true,
            listen: app::Options::default(),
        }
    }
}

/// A server started in this process; stops when dropped.
pub struct TestApp {
    pub public: String,
    pub admin: String,
    pub running: Option<Running>,
    pub http: reqwest::Client,
    pub db: TestDb,
    pub dir: tempfile::TempDir,
}

/// The value of one Prometheus series (`name{labels}`) on the admin API at `admin` (a base URL),
/// if exported.
pub async fn metric_at(http: &reqwest::Client, admin: &str, name_and_labels: &str) -> Option<f64> {
    let text = http
        .get(format!("{admin}/admin/metrics/prometheus"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find(|l| l.starts_with(name_and_labels))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// The default identity schemas used by tests: `customer` (default) and `employee`.
pub fn schemas_yaml() -> String {
    format!(
        "identity:\n  default_schema_id: customer\n  schemas:\n    - id: customer\n      url: file://{f}/identity.schema.json\n    - id: employee\n      url: file://{f}/employee.schema.json\n",
        f = FIXTURES
    )
}

impl TestApp {
    pub async fn start() -> TestApp {
        Self::start_with(Setup::default()).await
    }

    pub async fn start_with(setup: Setup) -> TestApp {
        let db = TestDb::new().await;
        Self::start_on(db, setup).await
    }

    pub async fn start_on(db: TestDb, setup: Setup) -> TestApp {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut files = vec![PathBuf::from(TEST_CONFIG)];
        let schemas = dir.path().join("schemas.yml");
        std::fs::write(&schemas, schemas_yaml()).unwrap();
        files.push(schemas);
        if !setup.yaml.is_empty() {
            let extra = dir.path().join("extra.yml");
            std::fs::write(&extra, &setup.yaml).unwrap();
            files.push(extra);
        }
        let mut env = vec![("DSN".to_owned(), db.dsn.clone())];
        env.extend(setup.env.iter().cloned());
        let loaded = gatehouse::config::load(&files, &env).expect("test config loads");
        let running = app::start(
            loaded,
            app::Options {
                dev: setup.dev,
                migrate: true,
                ..setup.listen
            },
        )
        .await
        .expect("server starts");
        TestApp {
            public: format!("http://{}", running.public_addr),
            admin: format!("http://{}", running.admin_addr),
            running: Some(running),
            http: reqwest::Client::new(),
            db,
            dir,
        }
    }

    pub fn public_addr(&self) -> SocketAddr {
        self.running.as_ref().unwrap().public_addr
    }

    pub fn admin_addr(&self) -> SocketAddr {
        self.running.as_ref().unwrap().admin_addr
    }

    pub fn admin_url(&self, path: &str) -> String {
        format!("{}{}", self.admin, path)
    }

    pub fn public_url(&self, path: &str) -> String {
        format!("{}{}", self.public, path)
    }

    /// Creates an identity through the admin API and returns its JSON.
    pub async fn create_identity(&self, body: Value) -> Value {
        let r = self
            .http
            .post(self.admin_url("/admin/identities"))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let v: Value = r.json().await.unwrap();
        assert_eq!(status, 201, "create failed: {v}");
        v
    }

    /// `GET /sessions/whoami` with a session token; the JSON body, whatever the status.
    pub async fn whoami(&self, token: &str) -> Value {
        self.http
            .get(self.public_url("/sessions/whoami"))
            .header("X-Session-Token", token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// The value of one Prometheus series (`name{labels}`) on the admin port, if exported.
    pub async fn metric(&self, name_and_labels: &str) -> Option<f64> {
        metric_at(&self.http, &self.admin, name_and_labels).await
    }

    /// Runs SQL against the test database from outside the server.
    pub async fn exec_sql(&self, sql: &str) {
        use diesel_async::{AsyncConnection, RunQueryDsl};
        if backend() == "postgres" {
            let mut c = diesel_async::AsyncPgConnection::establish(&self.db.dsn)
                .await
                .unwrap();
            diesel::sql_query(sql).execute(&mut c).await.unwrap();
        } else if backend() == "mysql" {
            let mut c = diesel_async::AsyncMysqlConnection::establish(&self.db.dsn)
                .await
                .unwrap();
            diesel::sql_query(sql).execute(&mut c).await.unwrap();
        } else {
            use diesel::Connection;
            let path = self
                .db
                .dsn
                .trim_start_matches("sqlite://")
                .split('?')
                .next()
                .unwrap()
                .to_owned();
            let sql = sql.to_owned();
            tokio::task::spawn_blocking(move || {
                let mut c = diesel::SqliteConnection::establish(&path).unwrap();
                // The server writes beside the test: wait for its lock instead of failing.
                diesel::RunQueryDsl::execute(
                    diesel::sql_query("PRAGMA busy_timeout = 10000"),
                    &mut c,
                )
                .unwrap();
                diesel::RunQueryDsl::execute(diesel::sql_query(sql), &mut c).unwrap();
            })
            .await
            .unwrap();
        }
    }

    /// Runs a query whose one text column is named `v`, from outside the server; its values.
    pub async fn query_texts(&self, sql: &str) -> Vec<String> {
        use diesel_async::{AsyncConnection, RunQueryDsl};
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = diesel::sql_types::Text)]
            v: String,
        }
        let rows: Vec<Row> = if backend() == "postgres" {
            let mut c = diesel_async::AsyncPgConnection::establish(&self.db.dsn)
                .await
                .unwrap();
            diesel::sql_query(sql).load(&mut c).await.unwrap()
        } else if backend() == "mysql" {
            let mut c = diesel_async::AsyncMysqlConnection::establish(&self.db.dsn)
                .await
                .unwrap();
            diesel::sql_query(sql).load(&mut c).await.unwrap()
        } else {
            use diesel::Connection;
            let path = self
                .db
                .dsn
                .trim_start_matches("sqlite://")
                .split('?')
                .next()
                .unwrap()
                .to_owned();
            let sql = sql.to_owned();
            tokio::task::spawn_blocking(move || {
                let mut c = diesel::SqliteConnection::establish(&path).unwrap();
                diesel::RunQueryDsl::load(diesel::sql_query(sql), &mut c).unwrap()
            })
            .await
            .unwrap()
        };
        rows.into_iter().map(|r| r.v).collect()
    }

    pub fn ory_config(&self) -> ory_kratos_client::apis::configuration::Configuration {
        let mut c = ory_kratos_client::apis::configuration::Configuration::new();
        c.base_path = self.admin.clone();
        c
    }

    /// Stops the server and waits until it has: listeners drained, pools stopped.
    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.runtime.shutdown().await;
        }
    }

    /// Stops the server and hands back its database, to start another server on it.
    pub async fn stop_keep_db(mut self) -> TestDb {
        if let Some(r) = self.running.take() {
            r.runtime.shutdown().await;
        }
        TestDb {
            dsn: self.db.dsn.clone(),
            _dir: self.db._dir.take(),
        }
    }
}

impl Drop for TestApp {
    /// A test that ends or fails without `stop` takes its server down all the same: the
    /// supervision tree is told to stop (Drop cannot wait for it), and whatever still runs
    /// ends with the test's runtime.
    fn drop(&mut self) {
        if let Some(r) = self.running.take() {
            r.runtime.root.stop(Some("the test app was dropped".into()));
        }
    }
}

/// Asserts a Kratos error envelope and returns its `error` object.
pub async fn expect_error(resp: reqwest::Response, status: u16) -> Value {
    let got = resp.status().as_u16();
    let body: Value = resp.json().await.expect("error body is JSON");
    assert_eq!(got, status, "unexpected status; body: {body}");
    let e = body
        .get("error")
        .cloned()
        .unwrap_or_else(|| panic!("no error envelope in {body}"));
    assert_eq!(e["code"], status, "envelope code: {body}");
    assert!(
        e["status"].is_string() && e["message"].is_string(),
        "envelope fields: {body}"
    );
    e
}

/// Path of the built `gatehouse` binary (for process-level tests).
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_gatehouse"))
}

/// A stand-in for the operator's UI: answers every GET with its own path and query, so a
/// browser following Gatehouse's redirects lands somewhere real and the test can read where.
pub async fn ui_server() -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]);
                let target = req.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{target}",
                    target.len()
                );
                let _ = s.write_all(resp.as_bytes()).await;
            });
        }
    });
    port
}

/// Installs the npm package in `package` (its `package.json` and `package-lock.json`, with
/// `npm ci`) into `dir` once — a lock file keeps concurrent test processes from installing
/// over each other, and a copy of the lock file marks a finished install of exactly those
/// versions — and answers its `node_modules` folder.
pub fn npm_install(package: &Path, dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    let lock = std::fs::File::create(dir.join(".install-lock")).expect("install lock file");
    lock.lock().expect("take the install lock");
    let wanted = std::fs::read(package.join("package-lock.json"))
        .unwrap_or_else(|e| panic!("{}/package-lock.json: {e}", package.display()));
    let marker = dir.join("installed-package-lock.json");
    if std::fs::read(&marker).ok().as_deref() != Some(&wanted[..]) {
        for f in ["package.json", "package-lock.json"] {
            std::fs::copy(package.join(f), dir.join(f)).expect("copy package files");
        }
        let out = std::process::Command::new("npm")
            .args(["ci", "--prefer-offline", "--no-audit", "--no-fund"])
            .current_dir(dir)
            .output()
            .unwrap_or_else(|e| panic!("npm does not start (is Node.js 20+ installed?): {e}"));
        assert!(
            out.status.success(),
            "npm ci in {} failed:\n{}{}",
            dir.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::write(&marker, &wanted).expect("write the install marker");
    }
    dir.join("node_modules")
}
