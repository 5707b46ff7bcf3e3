//! Tenants on several `gatehouse serve` processes sharing one database (a SQLite file, or
//! PostgreSQL or MySQL), each process declaring the same tenants in its configuration file: a
//! session lives in its tenant on every process, and a revocation on one process reaches the
//! other's whoami cache for that tenant only.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::process::{Process, free_port};
use crate::common::smtp::{self, SmtpServer};
use crate::common::{TEST_CONFIG, TestDb, binary, schemas_yaml};
use crate::tenants::{ACME, GLOBEX, Host, NONESUCH, PASSWORD, answer};

/// How long a revocation may take to reach the other process (SQLite and MySQL poll the
/// change feed every 250 ms; a loaded 2-core machine is slow).
const PROPAGATION: Duration = Duration::from_secs(5);

/// One `gatehouse serve` process with the tenants acme and globex; killed when dropped.
struct Node {
    process: Process,
    public: SocketAddr,
    admin: String,
}

/// Writes `<name>.yml`: `extra` (an object) with the listeners' ports and the tenants acme
/// and globex (overlays from `extra["overlays"]`, if any) on `public_port`.
fn config_file(
    dir: &Path,
    name: &str,
    public_port: u16,
    admin_port: u16,
    extra: &Value,
) -> PathBuf {
    let mut config = extra.clone();
    let overlays = config
        .as_object_mut()
        .unwrap()
        .remove("overlays")
        .unwrap_or_else(|| json!({}));
    config["serve"] = json!({
        "public": {"port": public_port, "base_url": format!("http://127.0.0.1:{public_port}/")},
        "admin": {"port": admin_port},
    });
    config["selfservice"]["methods"]["password"]["config"]["haveibeenpwned_enabled"] = json!(false);
    // Each process has its own port, so its tenants' base URLs carry it.
    config["tenants"] = json!([
        {"id": ACME, "name": "acme", "base_url": format!("http://acme.test:{public_port}/"),
         "config": overlays.get("acme").cloned().unwrap_or_else(|| json!({}))},
        {"id": GLOBEX, "name": "globex", "base_url": format!("http://globex.test:{public_port}/"),
         "config": overlays.get("globex").cloned().unwrap_or_else(|| json!({}))},
    ]);
    let path = dir.join(format!("{name}.yml"));
    // JSON is YAML.
    std::fs::write(&path, config.to_string()).unwrap();
    path
}

/// `gatehouse <args> -c test.yml -c schemas.yml -c <config>` on the shared database.
fn command(dir: &Path, dsn: &str, args: &[&str], config: &Path) -> Command {
    let schemas = dir.join("schemas.yml");
    std::fs::write(&schemas, schemas_yaml()).unwrap();
    let mut cmd = Command::new(binary());
    cmd.current_dir(dir)
        .args(args)
        .args(["-c", TEST_CONFIG, "-c"])
        .arg(&schemas)
        .arg("-c")
        .arg(config)
        .env("DSN", dsn)
        .env("SECRETS_DEFAULT", "tenant-processes-shared-secret-0123");
    cmd
}

impl Node {
    fn start(name: &str, dir: &Path, dsn: &str, migrate: bool, extra: &Value) -> Node {
        let (public_port, admin_port) = (free_port(), free_port());
        let config = config_file(dir, name, public_port, admin_port, extra);
        let mut cmd = command(dir, dsn, &["serve", "--dev"], &config);
        if migrate {
            cmd.arg("--migrate");
        }
        let log = dir.join(format!("{name}.log"));
        Node {
            process: Process::spawn(&format!("process {name}"), cmd, Some(log)),
            public: SocketAddr::from(([127, 0, 0, 1], public_port)),
            admin: format!("http://127.0.0.1:{admin_port}"),
        }
    }

    async fn wait_ready(&mut self) {
        let url = format!("{}/health/ready", self.admin);
        self.process.wait_answering(&url).await;
    }

    fn host(&self, name: &str) -> Host {
        Host::at(name, self.public)
    }

    async fn admin(&self, tenant: &str, method: Method, path: &str) -> (u16, Value) {
        answer(
            reqwest::Client::new()
                .request(method, format!("{}{path}", self.admin))
                .header("X-Gatehouse-Tenant", tenant),
        )
        .await
    }

    /// Cached whoami answers this process has served so far (every tenant's).
    async fn cache_hits(&self) -> f64 {
        let hits = "session_cache_lookups_total{result=\"hit\"}";
        crate::common::metric_at(&reqwest::Client::new(), &self.admin, hits)
            .await
            .unwrap_or(0.0)
    }
}

/// Makes sure `node` answers `token` on `host` from its cache, so a revocation elsewhere has
/// a cached answer to overturn.
async fn warm(node: &Node, host: &Host, token: &str) {
    let before = node.cache_hits().await;
    for _ in 0..3 {
        assert_eq!(host.get("/sessions/whoami", Some(token)).await.0, 200);
    }
    let after = node.cache_hits().await;
    assert!(
        after >= before + 2.0,
        "repeated whoami should come from the cache ({before} -> {after} hits)"
    );
}

/// Polls whoami for `token` on `host` until it is refused; fails after `PROPAGATION`.
async fn refused_soon(host: &Host, token: &str, what: &str) {
    let start = Instant::now();
    loop {
        let (status, body) = host.get("/sessions/whoami", Some(token)).await;
        if status == 401 {
            return;
        }
        assert_eq!(status, 200, "{what}: {body}");
        assert!(
            start.elapsed() < PROPAGATION,
            "{what}: still accepted after {:?}",
            start.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_and_revocations_stay_in_their_tenant_across_processes() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    // One migrates the shared database; two starts on the migrated schema.
    let mut one = Node::start("one", dir.path(), &db.dsn, true, &json!({}));
    one.wait_ready().await;
    let mut two = Node::start("two", dir.path(), &db.dsn, false, &json!({}));
    two.wait_ready().await;
    let (acme1, globex1) = (one.host("acme.test"), one.host("globex.test"));
    let (acme2, globex2) = (two.host("acme.test"), two.host("globex.test"));

    // Sessions made on process one, for the same address in each tenant.
    let a = acme1.sign_up("ada@example.com").await;
    let g = globex1.sign_up("ada@example.com").await;
    let (status, who) = acme2.get("/sessions/whoami", Some(&a)).await;
    assert_eq!(status, 200, "acme's session on process two: {who}");
    // A flow started on process one continues on process two, in its tenant only.
    let (_, flow) = acme1.get("/self-service/login/api", None).await;
    let id = flow["id"].as_str().unwrap();
    let body = json!({"method": "password", "identifier": "ada@example.com", "password": PASSWORD});
    let unknown = globex2.submit_to("login", NONESUCH, &body, None).await;
    assert_eq!(unknown.0, 404, "{unknown:?}");
    assert_eq!(globex2.submit_to("login", id, &body, None).await, unknown);
    let (status, done) = acme2.submit_to("login", id, &body, None).await;
    assert_eq!(status, 200, "{done}");
    let session = who["id"].as_str().unwrap().to_owned();
    assert_eq!(globex2.get("/sessions/whoami", Some(&g)).await.0, 200);
    let unknown = globex2
        .get("/sessions/whoami", Some("ory_st_nonesuch"))
        .await;
    assert_eq!(unknown.0, 401);
    assert_eq!(globex2.get("/sessions/whoami", Some(&a)).await, unknown);
    assert_eq!(acme2.get("/sessions/whoami", Some(&g)).await.0, 401);

    // Process one caches both; globex's scope on process two does not find acme's session.
    warm(&one, &acme1, &a).await;
    warm(&one, &globex1, &g).await;
    let path = |id: &str| format!("/admin/sessions/{id}");
    let theirs = two.admin("globex", Method::DELETE, &path(&session)).await;
    let none = two.admin("globex", Method::DELETE, &path(NONESUCH)).await;
    assert_eq!(theirs, none);
    assert_eq!(theirs.0, 404, "{theirs:?}");
    assert_eq!(acme2.get("/sessions/whoami", Some(&a)).await.0, 200);

    // Revoked on process two under acme's scope: process one's cache lets go of it, and of
    // nothing of globex's.
    let (status, body) = two.admin("acme", Method::DELETE, &path(&session)).await;
    assert_eq!(status, 204, "{body}");
    refused_soon(&acme1, &a, "admin revocation").await;
    assert_eq!(globex1.get("/sessions/whoami", Some(&g)).await.0, 200);

    // A native logout of globex's session on process two reaches process one as well.
    let (status, body) = answer(
        reqwest::Client::builder()
            .resolve("globex.test", two.public)
            .build()
            .unwrap()
            .delete(format!(
                "http://globex.test:{}/self-service/logout/api",
                two.public.port()
            ))
            .json(&json!({ "session_token": g })),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    refused_soon(&globex1, &g, "logout").await;
    // acme's address, signed in again, is unaffected by globex's logout.
    let a2 = acme2.sign_in("ada@example.com").await;
    assert_eq!(acme1.get("/sessions/whoami", Some(&a2)).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_courier_process_sends_each_tenants_mail_from_its_sender() {
    let mail = SmtpServer::start(0).await;
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    // The server queues mail (it runs no courier); a `courier watch` process with the same
    // tenants sends it, under each message's tenant.
    let extra = json!({
        "courier": {"worker": {"pull_wait": "50ms"},
                    "smtp": {"connection_uri": mail.uri(),
                             "from_address": "noreply@gatehouse.test"}},
        "selfservice": {"flows": {"recovery": {"enabled": true, "use": "code"}},
                        "methods": {"code": {"enabled": true}}},
        "overlays": {
            "acme": {"courier": {"smtp": {"from_address": "noreply@acme.test"}}},
            "globex": {"courier": {"smtp": {"from_address": "noreply@globex.test"}}},
        },
    });
    let mut server = Node::start("server", dir.path(), &db.dsn, true, &extra);
    server.wait_ready().await;
    let config = config_file(dir.path(), "courier", free_port(), free_port(), &extra);
    let _courier = Process::spawn(
        "courier watch",
        command(dir.path(), &db.dsn, &["courier", "watch"], &config),
        Some(dir.path().join("courier.log")),
    );
    for tenant in ["acme", "globex"] {
        let (status, body) = answer(
            reqwest::Client::new()
                .post(format!("{}/admin/identities", server.admin))
                .header("X-Gatehouse-Tenant", tenant)
                .json(&json!({"traits": {"email": "ada@example.com"}})),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        let host = server.host(&format!("{tenant}.test"));
        let (_, flow) = host.get("/self-service/recovery/api", None).await;
        let (status, sent) = answer(
            reqwest::Client::builder()
                .resolve(&format!("{tenant}.test"), server.public)
                .build()
                .unwrap()
                .post(flow["ui"]["action"].as_str().unwrap())
                .json(&json!({"method": "code", "email": "ada@example.com"})),
        )
        .await;
        assert_eq!(
            (status, sent["state"].as_str()),
            (200, Some("sent_email")),
            "{sent}"
        );
    }
    let got = mail.wait_for(2, Duration::from_secs(60)).await;
    let mut senders: Vec<(String, String)> = got
        .iter()
        .map(|m| (m.from.clone(), smtp::header(&m.data, "From").unwrap()))
        .collect();
    senders.sort();
    assert_eq!(senders[0].0, "noreply@acme.test", "{senders:?}");
    assert_eq!(senders[1].0, "noreply@globex.test", "{senders:?}");
    for (from, header) in &senders {
        assert!(header.contains(from.as_str()), "{header}");
    }
}
