//! Several `gatehouse serve` processes on one PostgreSQL database with the same secrets, as a
//! horizontally scaled deployment runs: flows and sessions move freely between nodes, and a
//! session revoked on one node is refused by the others within a second even though each node
//! caches whoami answers. PostgreSQL only (SQLite is one node by design).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::process::{Process, free_port};
use crate::common::{TEST_CONFIG, TestDb, backend, binary, schemas_yaml};

/// The correctness bound on cross-node revocation.
const REVOCATION_BOUND: Duration = Duration::from_secs(1);

/// One `gatehouse serve` process; killed when dropped.
struct Node {
    name: &'static str,
    process: Process,
    public: String,
    admin: String,
}

impl Node {
    fn start(name: &'static str, dir: &Path, dsn: &str, migrate: bool) -> Node {
        let (public_port, admin_port) = (free_port(), free_port());
        let schemas = dir.join("schemas.yml");
        std::fs::write(&schemas, schemas_yaml()).unwrap();
        let mut args = vec![
            "serve".to_owned(),
            "--dev".into(),
            "-c".into(),
            TEST_CONFIG.into(),
            "-c".into(),
            schemas.display().to_string(),
        ];
        if migrate {
            args.push("--migrate".into());
        }
        let mut cmd = Command::new(binary());
        cmd.current_dir(dir)
            .args(&args)
            .env("DSN", dsn)
            .env("SECRETS_DEFAULT", "multinode-shared-secret-0123456789")
            .env("SERVE_PUBLIC_PORT", public_port.to_string())
            .env("SERVE_ADMIN_PORT", admin_port.to_string());
        let log = dir.join(format!("{name}.log"));
        Node {
            name,
            process: Process::spawn(&format!("node {name}"), cmd, Some(log)),
            public: format!("http://127.0.0.1:{public_port}"),
            admin: format!("http://127.0.0.1:{admin_port}"),
        }
    }

    async fn wait_ready(&mut self) {
        let url = format!("{}/health/ready", self.admin);
        self.process.wait_answering(&url).await;
    }

    async fn whoami(&self, http: &reqwest::Client, token: &str) -> u16 {
        http.get(format!("{}/sessions/whoami", self.public))
            .header("X-Session-Token", token)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// Cached whoami answers this node has served so far.
    async fn cache_hits(&self, http: &reqwest::Client) -> f64 {
        let hits = "session_cache_lookups_total{result=\"hit\"}";
        crate::common::metric_at(http, &self.admin, hits)
            .await
            .unwrap_or(0.0)
    }
}

/// Starts a native login flow on `start`, completes it on `finish`; returns token and session.
async fn login(
    http: &reqwest::Client,
    start: &Node,
    finish: &Node,
    email: &str,
) -> (String, Value) {
    let flow: Value = http
        .get(format!("{}/self-service/login/api", start.public))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = flow["id"].as_str().expect("flow id");
    let r = http
        .post(format!("{}/self-service/login?flow={id}", finish.public))
        .json(&json!({"method": "password", "identifier": email, "password": "multinode-pass-123456"}))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let v: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "login on {} failed: {v}", finish.name);
    (
        v["session_token"].as_str().expect("token").to_owned(),
        v["session"].clone(),
    )
}

/// Makes sure `node` answers `token` from its cache (so the revocation test is not vacuous).
async fn warm(http: &reqwest::Client, node: &Node, token: &str) {
    let before = node.cache_hits(http).await;
    for _ in 0..3 {
        assert_eq!(node.whoami(http, token).await, 200, "on {}", node.name);
    }
    let after = node.cache_hits(http).await;
    assert!(
        after >= before + 2.0,
        "{} should serve repeated whoami from its cache ({before} -> {after} hits)",
        node.name
    );
}

/// Polls `node` until it refuses `token`; asserts that happened within the bound after
/// `revoked_at` (taken before the revoking request was sent).
async fn assert_refused_within_bound(
    http: &reqwest::Client,
    node: &Node,
    token: &str,
    revoked_at: Instant,
    what: &str,
) {
    loop {
        let status = node.whoami(http, token).await;
        let elapsed = revoked_at.elapsed();
        if status == 401 {
            assert!(
                elapsed <= REVOCATION_BOUND,
                "{what}: {} refused the session only after {elapsed:?}",
                node.name
            );
            return;
        }
        assert_eq!(status, 200, "{what}: unexpected status on {}", node.name);
        assert!(
            elapsed <= REVOCATION_BOUND,
            "{what}: {} still accepts the revoked session after {elapsed:?}",
            node.name
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_share_flows_sessions_and_revocations() {
    if backend() == "sqlite" {
        println!("skipped: the multi-node test needs GATEHOUSE_TEST_DB=postgres or mysql");
        return;
    }
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    // A migrates the shared database; B and C start on the migrated schema.
    let mut a = Node::start("A", dir.path(), &db.dsn, true);
    a.wait_ready().await;
    let mut b = Node::start("B", dir.path(), &db.dsn, false);
    let mut c = Node::start("C", dir.path(), &db.dsn, false);
    b.wait_ready().await;
    c.wait_ready().await;

    let email = "multi@example.com";
    let r = http
        .post(format!("{}/admin/identities", a.admin))
        .json(&json!({
            "traits": {"email": email},
            "credentials": {"password": {"config": {"password": "multinode-pass-123456"}}}
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let identity: Value = r.json().await.unwrap();
    let identity_id = identity["id"].as_str().unwrap().to_owned();

    // A login flow started on A completes on B; the session works on every node.
    let (t1, s1) = login(&http, &a, &b, email).await;
    for n in [&a, &b, &c] {
        assert_eq!(
            n.whoami(&http, &t1).await,
            200,
            "session from B on {}",
            n.name
        );
    }

    // Logout on A is refused on B (and C) within the bound.
    warm(&http, &b, &t1).await;
    warm(&http, &c, &t1).await;
    let at = Instant::now();
    let r = http
        .delete(format!("{}/self-service/logout/api", a.public))
        .json(&json!({"session_token": t1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_refused_within_bound(&http, &b, &t1, at, "logout").await;
    assert_refused_within_bound(&http, &c, &t1, at, "logout").await;
    assert!(s1["id"].is_string());

    // Admin disable on A.
    let (t2, s2) = login(&http, &c, &a, email).await;
    warm(&http, &b, &t2).await;
    let at = Instant::now();
    let r = http
        .delete(format!(
            "{}/admin/sessions/{}",
            a.admin,
            s2["id"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_refused_within_bound(&http, &b, &t2, at, "admin disable").await;

    // Admin delete of the identity's sessions on A.
    let (t3, _) = login(&http, &b, &a, email).await;
    warm(&http, &b, &t3).await;
    let at = Instant::now();
    let r = http
        .delete(format!(
            "{}/admin/identities/{identity_id}/sessions",
            a.admin
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_refused_within_bound(&http, &b, &t3, at, "admin delete sessions").await;

    // Disabling the identity on A ends its sessions on B.
    let (t4, _) = login(&http, &a, &c, email).await;
    warm(&http, &b, &t4).await;
    let at = Instant::now();
    let r = http
        .patch(format!("{}/admin/identities/{identity_id}", a.admin))
        .json(&json!([{"op": "replace", "path": "/state", "value": "inactive"}]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_refused_within_bound(&http, &b, &t4, at, "identity disabled").await;

    drop((a, b, c));
}
