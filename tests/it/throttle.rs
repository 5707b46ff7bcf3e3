//! Throttling of failed sign-in attempts (`security.brute_force`): backoff, lockout, the same
//! answer for unknown identifiers, counting per client address and per identity, the admin
//! API that reads and clears counters, and counts shared by two nodes on one database.
//! Durations are scaled down to milliseconds; waits are polled, never slept through blindly.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::flow::{
    all_message_ids, api_flow, api_login, csrf, flow_id_from, message_ids, no_redirects,
};
use crate::common::process::{Process, free_port};
use crate::common::{Setup, TEST_CONFIG, TestApp, backend, binary, schemas_yaml};

const PASSWORD: &str = "throttle-test-password-42";
const TOO_MANY: u64 = 4000060;

/// A policy of `free` free failures, then 200ms waits (400ms at most), a lockout of
/// `lockout` after `lockout_after` failures; the address counter is out of the way unless
/// `address` overrides it.
fn yaml(free: u32, lockout_after: u32, lockout: &str, address: Option<&str>) -> String {
    let address = address
        .unwrap_or("free_failures: 100000\n      lockout_after: 0\n      quick_login_check: 0s");
    format!(
        "security:\n  brute_force:\n    per_identifier:\n      free_failures: {free}\n      wait_increment: 200ms\n      max_wait: 400ms\n      quick_login_check: 0s\n      lockout_after: {lockout_after}\n      lockout: {lockout}\n      reset_after: 1h\n    per_address:\n      {address}\n"
    )
}

async fn start(yaml: String) -> TestApp {
    TestApp::start_with(Setup {
        yaml,
        ..Default::default()
    })
    .await
}

async fn create(app: &TestApp, email: &str) -> String {
    let v = app
        .create_identity(json!({"traits": {"email": email}, "credentials": {"password": {"config": {"password": PASSWORD}}}}))
        .await;
    v["id"].as_str().unwrap().to_owned()
}

/// One native password sign-in: status, `Retry-After`, body.
async fn attempt(
    app: &TestApp,
    from: Option<&str>,
    identifier: &str,
    password: &str,
) -> (u16, Option<u64>, Value) {
    let flow = api_flow(app, "login").await;
    let mut r = app.http.post(flow["ui"]["action"].as_str().unwrap());
    if let Some(ip) = from {
        r = r.header("X-Forwarded-For", ip);
    }
    let r = r
        .json(&json!({"method": "password", "identifier": identifier, "password": password}))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let retry = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    (status, retry, r.json().await.unwrap())
}

/// Retries the right password until it is let through; how long that took.
async fn wait_until_accepted(app: &TestApp, identifier: &str, within: Duration) -> Duration {
    let t = Instant::now();
    loop {
        let (status, _, v) = attempt(app, None, identifier, PASSWORD).await;
        if status == 200 {
            return t.elapsed();
        }
        assert_eq!(status, 429, "{v}");
        assert!(
            t.elapsed() < within,
            "still refused after {:?}",
            t.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn assert_refused(status: u16, retry: Option<u64>, v: &Value) {
    assert_eq!(status, 429, "{v}");
    assert_eq!(v["error"]["code"], 429, "{v}");
    assert_eq!(v["error"]["status"], "Too Many Requests", "{v}");
    assert_eq!(v["error"]["id"], "too_many_attempts", "{v}");
    let secs = retry.expect("Retry-After");
    assert!(secs >= 1, "{secs}");
    assert_eq!(
        v["error"]["reason"],
        format!("Too many failed attempts. Please try again in {secs} seconds.")
    );
}

async fn lockouts(app: &TestApp, query: &str) -> Value {
    app.http
        .get(app.admin_url(&format!("/admin/lockouts?{query}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_free_failures_even_the_right_password_waits_then_works() {
    let app = start(yaml(2, 0, "1h", None)).await;
    create(&app, "waits@example.com").await;
    for _ in 0..3 {
        let (status, _, v) = attempt(&app, None, "waits@example.com", "wrong").await;
        assert_eq!(status, 400, "{v}");
        assert_eq!(message_ids(&v), vec![4000006], "{v}");
    }
    // The third failure earned a 200ms wait: the right password is refused within it, before
    // anything is checked.
    let (status, retry, v) = attempt(&app, None, "waits@example.com", PASSWORD).await;
    assert_refused(status, retry, &v);
    let waited = wait_until_accepted(&app, "waits@example.com", Duration::from_secs(3)).await;
    assert!(waited < Duration::from_secs(2), "{waited:?}");
    // The success cleared the counter: two more failures are free again.
    for _ in 0..2 {
        assert_eq!(
            attempt(&app, None, "WAITS@example.com ", "wrong").await.0,
            400
        );
    }
    assert_eq!(
        attempt(&app, None, "waits@example.com", PASSWORD).await.0,
        200
    );
    assert!(
        app.metric("throttle_refusals_total{kind=\"identifier\"}")
            .await
            .unwrap_or(0.0)
            >= 1.0
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_sees_the_form_again_with_the_message() {
    let ui = crate::common::ui_server().await;
    let app = start(format!(
        "selfservice:\n  flows:\n    login:\n      ui_url: http://127.0.0.1:{ui}/login\n{}",
        yaml(0, 1, "1h", None)
    ))
    .await;
    create(&app, "browser@example.com").await;
    let b = no_redirects(false);
    let r = b
        .get(app.public_url("/self-service/login/browser"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let id = flow_id_from(r.headers()["location"].to_str().unwrap());
    let get_flow = || async {
        b.get(app.public_url(&format!("/self-service/login/flows?id={id}")))
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    };
    let flow = get_flow().await;
    let post = |password: &'static str, flow: Value| {
        let b = b.clone();
        async move {
            b.post(flow["ui"]["action"].as_str().unwrap())
                .form(&[
                    ("method", "password"),
                    ("csrf_token", csrf(&flow).as_str()),
                    ("identifier", "browser@example.com"),
                    ("password", password),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    // No free failures, and the first one locks.
    let r = post("wrong", flow.clone()).await;
    assert_eq!(r.status(), 303);
    let r = post(PASSWORD, get_flow().await).await;
    assert_eq!(r.status(), 303, "the form again");
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with(&format!("http://127.0.0.1:{ui}/login?flow={id}"))
    );
    let flow = get_flow().await;
    assert_eq!(message_ids(&flow), vec![TOO_MANY], "{flow}");
    let m = &flow["ui"]["messages"][0];
    assert_eq!(m["type"], "error");
    let secs = m["context"]["retry_after"].as_u64().unwrap();
    assert_eq!(
        m["text"],
        format!("Too many failed attempts. Please try again in {secs} seconds.")
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lockout_after_many_failures_then_the_owner_gets_in() {
    let app = start(yaml(1, 3, "700ms", None)).await;
    create(&app, "locked@example.com").await;
    let mut failures = 0;
    while failures < 3 {
        let (status, _, v) = attempt(&app, None, "locked@example.com", "wrong").await;
        match status {
            400 => failures += 1,
            429 => tokio::time::sleep(Duration::from_millis(25)).await,
            _ => panic!("{status}: {v}"),
        }
    }
    let state = lockouts(&app, "identifier=Locked@example.com").await;
    let c = &state["counters"][0];
    assert_eq!(c["kind"], "identifier", "{state}");
    assert_eq!(c["failures"], 3, "{state}");
    assert!(c["locked_until"].is_string(), "{state}");
    assert_eq!(c["locked_until"], c["next_attempt_at"], "{state}");
    let (status, retry, v) = attempt(&app, None, "locked@example.com", PASSWORD).await;
    assert_refused(status, retry, &v);
    let waited = wait_until_accepted(&app, "locked@example.com", Duration::from_secs(3)).await;
    assert!(waited >= Duration::from_millis(200), "{waited:?}");
    let state = lockouts(&app, "identifier=locked@example.com").await;
    assert_eq!(state["counters"][0]["failures"], 0, "{state}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_reads_and_lifts_a_lockout() {
    let app = start(yaml(0, 1, "1h", None)).await;
    let id = create(&app, "admin-lift@example.com").await;
    assert_eq!(
        attempt(&app, None, "admin-lift@example.com", "wrong")
            .await
            .0,
        400
    );
    let (status, retry, v) = attempt(&app, None, "admin-lift@example.com", PASSWORD).await;
    assert_refused(status, retry, &v);
    assert!(retry.unwrap() > 3000, "locked for the hour");
    // By identity: the identity's own counter and those of its identifiers.
    let state = lockouts(&app, &format!("identity_id={id}")).await;
    let kinds: Vec<&str> = state["counters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["identity", "identifier"], "{state}");
    assert_eq!(state["counters"][1]["failures"], 1, "{state}");
    let r = app
        .http
        .delete(app.admin_url(&format!("/admin/lockouts?identity_id={id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(
        attempt(&app, None, "admin-lift@example.com", PASSWORD)
            .await
            .0,
        200
    );
    // No parameter: 400 naming them.
    for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
        let r = app
            .http
            .request(method, app.admin_url("/admin/lockouts"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        let v: Value = r.json().await.unwrap();
        let reason = v["error"]["reason"].as_str().unwrap();
        assert!(reason.contains("identifier, identity_id or address"), "{v}");
    }
    // Not on the public port.
    let r = app
        .http
        .get(app.public_url("/admin/lockouts?address=127.0.0.1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    app.stop().await;
}

/// Strips what differs between two flows (ids, tokens, the typed identifier).
fn comparable(v: &Value) -> Value {
    json!({
        "messages": v["ui"]["messages"],
        "ids": all_message_ids(v),
        "error": v["error"],
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_identifier_is_answered_exactly_as_a_known_one() {
    let app = start(yaml(2, 0, "1h", None)).await;
    create(&app, "known@example.com").await;
    let mut answers: Vec<Vec<(u16, Option<u64>, Value)>> = Vec::new();
    for who in ["known@example.com", "nobody@example.com"] {
        let mut seen = Vec::new();
        for _ in 0..4 {
            let (status, retry, v) = attempt(&app, None, who, "wrong").await;
            seen.push((status, retry, comparable(&v)));
        }
        answers.push(seen);
    }
    assert_eq!(answers[0], answers[1]);
    let statuses: Vec<u16> = answers[0].iter().map(|a| a.0).collect();
    assert_eq!(statuses, vec![400, 400, 400, 429]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_is_counted_across_identifiers() {
    let address = "free_failures: 3\n      wait_increment: 1h\n      max_wait: 1h\n      quick_login_check: 0s\n      lockout_after: 0";
    let app = start(yaml(100, 0, "1h", Some(address))).await;
    create(&app, "sprayed@example.com").await;
    let sprayer = Some("198.51.100.7");
    for i in 0..4 {
        let (status, _, v) = attempt(
            &app,
            sprayer,
            &format!("user{i}@example.com"),
            "Summer2026!",
        )
        .await;
        assert_eq!(status, 400, "{v}");
    }
    let (status, retry, v) = attempt(&app, sprayer, "sprayed@example.com", PASSWORD).await;
    assert_refused(status, retry, &v);
    // Another client signs in to the same account.
    let (status, _, v) = attempt(&app, Some("198.51.100.8"), "sprayed@example.com", PASSWORD).await;
    assert_eq!(status, 200, "{v}");
    let state = lockouts(&app, "address=198.51.100.7").await;
    assert_eq!(state["counters"][0]["kind"], "address", "{state}");
    assert_eq!(state["counters"][0]["failures"], 4, "{state}");
    // The other client's success leaves this address waiting.
    assert!(
        state["counters"][0]["next_attempt_at"].is_string(),
        "{state}"
    );
    assert!(
        app.metric("throttle_refusals_total{kind=\"address\"}")
            .await
            .unwrap_or(0.0)
            >= 1.0
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_fields_do_not_count() {
    let app = start(yaml(0, 1, "1h", None)).await;
    create(&app, "careless@example.com").await;
    for _ in 0..5 {
        let (status, _, v) = attempt(&app, None, "careless@example.com", "").await;
        assert_eq!(status, 400, "{v}");
        assert!(all_message_ids(&v).contains(&4000002), "{v}");
    }
    let (status, v) = api_login(&app, "careless@example.com", PASSWORD).await;
    assert_eq!(status, 200, "{v}");
    app.stop().await;
}

/// One `gatehouse serve` process with the policy, on `dsn`.
fn node(dir: &Path, name: &str, dsn: &str, migrate: bool) -> (Process, String, String) {
    let public = free_port();
    let admin = free_port();
    let schemas = dir.join("schemas.yml");
    std::fs::write(&schemas, schemas_yaml()).unwrap();
    let policy = dir.join("policy.yml");
    std::fs::write(&policy, yaml(1, 0, "1h", None)).unwrap();
    let mut cmd = Command::new(binary());
    cmd.current_dir(dir)
        .args(["serve", "--dev", "-c", TEST_CONFIG, "-c"])
        .arg(&schemas)
        .arg("-c")
        .arg(&policy)
        .args(if migrate { &["--migrate"][..] } else { &[][..] })
        .env("DSN", dsn)
        .env("SECRETS_DEFAULT", "throttle-shared-secret-0123456789")
        .env("SERVE_PUBLIC_PORT", public.to_string())
        .env("SERVE_ADMIN_PORT", admin.to_string());
    let p = Process::spawn(name, cmd, Some(dir.join(format!("{name}.log"))));
    (
        p,
        format!("http://127.0.0.1:{public}"),
        format!("http://127.0.0.1:{admin}"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_one_database_share_the_counts() {
    if backend() == "sqlite" {
        println!("skipped: the multi-node test needs GATEHOUSE_TEST_DB=postgres or mysql");
        return;
    }
    let db = crate::common::TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let (mut a, a_public, a_admin) = node(dir.path(), "node-a", &db.dsn, true);
    a.wait_answering(&format!("{a_admin}/health/ready")).await;
    let (mut b, b_public, b_admin) = node(dir.path(), "node-b", &db.dsn, false);
    b.wait_answering(&format!("{b_admin}/health/ready")).await;
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{a_admin}/admin/identities"))
        .json(&json!({"traits": {"email": "shared@example.com"}, "credentials": {"password": {"config": {"password": PASSWORD}}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let login = |public: String, password: &'static str| {
        let http = http.clone();
        async move {
            let flow: Value = http
                .get(format!("{public}/self-service/login/api"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            http.post(flow["ui"]["action"].as_str().unwrap())
                .json(&json!({"method": "password", "identifier": "shared@example.com", "password": password}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    // One free failure on each node: the second earns a wait on both.
    assert_eq!(login(a_public.clone(), "wrong").await, 400);
    assert_eq!(login(b_public.clone(), "wrong").await, 400);
    assert_eq!(login(a_public.clone(), PASSWORD).await, 429);
    assert_eq!(login(b_public.clone(), PASSWORD).await, 429);
    let t = Instant::now();
    while login(b_public.clone(), PASSWORD).await != 200 {
        assert!(
            t.elapsed() < Duration::from_secs(3),
            "node b never let the owner in"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    a.kill();
    b.kill();
}
