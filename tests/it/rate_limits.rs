//! `security.rate_limits`: flows started and codes sent per client address, token buckets
//! kept in the database. Clients are told apart by `X-Forwarded-For`, which the server takes
//! from loopback (a trusted proxy by default).

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::flow::{all_message_ids, api_flow, browser, csrf, no_redirects, submit};
use crate::common::process::{Process, free_port};
use crate::common::{
    FIXTURES, Setup, TEST_CONFIG, TestApp, TestDb, binary, schemas_yaml, ui_server,
};

/// The id of Gatehouse's "too many codes" message (Kratos has none).
const CODES_RATE_LIMITED: u64 = 4000090;

fn yaml(ui: u16, limits: &str) -> String {
    format!(
        "selfservice:
  default_browser_return_url: http://127.0.0.1:{ui}/welcome
  flows:
    login:
      ui_url: http://127.0.0.1:{ui}/login
    recovery:
      enabled: true
      use: code
      ui_url: http://127.0.0.1:{ui}/recovery
    error:
      ui_url: http://127.0.0.1:{ui}/error
security:
  rate_limits:
{limits}"
    )
}

async fn start(limits: &str) -> (TestApp, u16) {
    let ui = ui_server().await;
    let app = TestApp::start_with(Setup {
        yaml: yaml(ui, limits),
        ..Default::default()
    })
    .await;
    (app, ui)
}

/// Starts an API login flow as the client at `from`.
async fn api_start(http: &reqwest::Client, public: &str, from: &str) -> reqwest::Response {
    http.get(format!("{public}/self-service/login/api"))
        .header("X-Forwarded-For", from)
        .send()
        .await
        .unwrap()
}

fn retry_after(r: &reqwest::Response) -> u64 {
    r.headers()
        .get("retry-after")
        .expect("a 429 carries Retry-After")
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// Asserts the 429 envelope and its `Retry-After`; returns the seconds.
async fn expect_429(r: reqwest::Response) -> u64 {
    assert_eq!(r.status(), 429);
    let secs = retry_after(&r);
    let body: Value = r.json().await.unwrap();
    let e = &body["error"];
    assert_eq!(e["code"], 429, "{body}");
    assert_eq!(e["status"], "Too Many Requests", "{body}");
    assert_eq!(e["id"], "too_many_requests", "{body}");
    assert!(e["reason"].as_str().unwrap().contains("seconds"), "{body}");
    assert!(e["message"].is_string(), "{body}");
    secs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flow_starts_beyond_the_burst_are_refused_per_address_until_a_token_returns() {
    let (app, _) = start("    flows: { burst: 3, interval: 1s }").await;
    let a = "198.51.100.1";
    for _ in 0..3 {
        assert_eq!(api_start(&app.http, &app.public, a).await.status(), 200);
    }
    let started = Instant::now();
    assert_eq!(
        expect_429(api_start(&app.http, &app.public, a).await).await,
        1
    );
    assert_eq!(
        app.metric("rate_limit_refusals_total{bucket=\"flows\"}")
            .await,
        Some(1.0)
    );
    // The refusal is a security event.
    assert_eq!(
        app.metric("security_events_total{event=\"rate_limit.refused\"}")
            .await,
        Some(1.0)
    );
    // Another address has its own bucket.
    let other = api_start(&app.http, &app.public, "198.51.100.2").await;
    assert_eq!(other.status(), 200);
    // One interval later the address has a token again (and only one).
    loop {
        let r = api_start(&app.http, &app.public, a).await;
        if r.status() == 200 {
            break;
        }
        assert_eq!(r.status(), 429);
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "no token came back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(started.elapsed() >= Duration::from_millis(900));
    expect_429(api_start(&app.http, &app.public, a).await).await;
    // Every kind of flow draws on the same bucket.
    let r = app
        .http
        .get(app.public_url("/self-service/recovery/api"))
        .header("X-Forwarded-For", a)
        .send()
        .await
        .unwrap();
    expect_429(r).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_browser_start_goes_to_the_error_page_with_the_429() {
    let (app, ui) = start("    flows: { burst: 1, interval: 1h }").await;
    let b = no_redirects(false);
    let start = || {
        b.get(app.public_url("/self-service/login/browser"))
            .header("X-Forwarded-For", "198.51.100.3")
            .send()
    };
    let first = start().await.unwrap();
    assert_eq!(first.status(), 303);
    let to = first.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        to.starts_with(&format!("http://127.0.0.1:{ui}/login?flow=")),
        "{to}"
    );

    let refused = start().await.unwrap();
    assert_eq!(refused.status(), 303);
    let to = refused.headers()["location"].to_str().unwrap().to_owned();
    let prefix = format!("http://127.0.0.1:{ui}/error?id=");
    let id = to.strip_prefix(&prefix).expect("the error UI").to_owned();
    let stored: Value = app
        .http
        .get(app.public_url(&format!("/self-service/errors?id={id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stored["error"]["code"], 429, "{stored}");
    assert_eq!(stored["error"]["id"], "too_many_requests", "{stored}");
    app.stop().await;
}

/// Courier messages queued for `to`.
async fn queued_for(app: &TestApp, to: &str) -> usize {
    let list: Value = app
        .http
        .get(app.admin_url(&format!("/admin/courier/messages?recipient={to}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    list.as_array().unwrap().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codes_beyond_the_burst_are_not_sent() {
    let (app, ui) = start("    codes: { burst: 2, interval: 1h }").await;
    let to = "limited@example.org";
    app.create_identity(json!({
        "schema_id": "customer",
        "traits": {"email": to},
    }))
    .await;
    let a = "198.51.100.4";

    // A native app: two codes, then a 429 and no third message.
    let flow: Value = app
        .http
        .get(app.public_url("/self-service/recovery/api"))
        .header("X-Forwarded-For", a)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let action = flow["ui"]["action"].as_str().unwrap().to_owned();
    let send = || {
        app.http
            .post(&action)
            .header("X-Forwarded-For", a)
            .json(&json!({"method": "code", "email": to}))
            .send()
    };
    for _ in 0..2 {
        let r = send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    let secs = expect_429(send().await.unwrap()).await;
    assert!((3590..=3600).contains(&secs), "{secs}");
    // The flow's worker delivers each code before it takes the next request of the flow.
    assert_eq!(queued_for(&app, to).await, 2);
    assert_eq!(
        app.metric("rate_limit_refusals_total{bucket=\"codes\"}")
            .await,
        Some(1.0)
    );

    // A browser: the form again with the message, and no message queued.
    let b = browser();
    let landing = b
        .get(app.public_url("/self-service/recovery/browser"))
        .header("X-Forwarded-For", a)
        .send()
        .await
        .unwrap();
    assert_eq!(landing.url().port(), Some(ui));
    let id = landing
        .url()
        .query()
        .unwrap()
        .trim_start_matches("flow=")
        .to_owned();
    let flow: Value = b
        .get(app.public_url(&format!("/self-service/recovery/flows?id={id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let shown = b
        .post(app.public_url(&format!("/self-service/recovery?flow={id}")))
        .header("X-Forwarded-For", a)
        .form(&[
            ("csrf_token", csrf(&flow).as_str()),
            ("method", "code"),
            ("email", to),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(shown.url().path(), "/recovery", "{}", shown.url());
    let again: Value = b
        .get(app.public_url(&format!("/self-service/recovery/flows?id={id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again["state"], "choose_method", "{again}");
    assert_eq!(all_message_ids(&again), [CODES_RATE_LIMITED], "{again}");
    assert_eq!(queued_for(&app, to).await, 2);

    // Another address may still have codes sent.
    let flow: Value = app
        .http
        .get(app.public_url("/self-service/recovery/api"))
        .header("X-Forwarded-For", "198.51.100.5")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let r = app
        .http
        .post(flow["ui"]["action"].as_str().unwrap())
        .header("X-Forwarded-For", "198.51.100.5")
        .json(&json!({"method": "code", "email": to}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_limits_nothing() {
    let (app, _) = start("    enabled: false\n    flows: { burst: 1, interval: 1h }").await;
    for _ in 0..5 {
        let r = api_start(&app.http, &app.public, "198.51.100.6").await;
        assert_eq!(r.status(), 200);
    }
    app.stop().await;
}

/// One `gatehouse serve` process; killed when dropped.
struct Node {
    process: Process,
    public: String,
    admin: String,
}

impl Node {
    fn start(name: &str, dir: &std::path::Path, dsn: &str, migrate: bool) -> Node {
        let (public_port, admin_port) = (free_port(), free_port());
        let schemas = dir.join("schemas.yml");
        std::fs::write(&schemas, schemas_yaml()).unwrap();
        let limits = dir.join("limits.yml");
        std::fs::write(
            &limits,
            "security:\n  rate_limits:\n    flows: { burst: 2, interval: 1h }\n",
        )
        .unwrap();
        let mut cmd = Command::new(binary());
        cmd.current_dir(dir)
            .args(["serve", "--dev", "-c", TEST_CONFIG, "-c"])
            .arg(&schemas)
            .arg("-c")
            .arg(&limits)
            .env("DSN", dsn)
            .env("SECRETS_DEFAULT", "rate-limit-shared-secret-0123456789")
            .env("SERVE_PUBLIC_PORT", public_port.to_string())
            .env("SERVE_ADMIN_PORT", admin_port.to_string());
        if migrate {
            cmd.arg("--migrate");
        }
        let log = dir.join(format!("{name}.log"));
        Node {
            process: Process::spawn(&format!("node {name}"), cmd, Some(log)),
            public: format!("http://127.0.0.1:{public_port}"),
            admin: format!("http://127.0.0.1:{admin_port}"),
        }
    }

    async fn wait_ready(&mut self) {
        let url = format!("{}/health/ready", self.admin);
        self.process.wait_answering(&url).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_server_processes_on_one_database_share_the_bucket() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let mut a = Node::start("a", dir.path(), &db.dsn, true);
    a.wait_ready().await;
    let mut b = Node::start("b", dir.path(), &db.dsn, false);
    b.wait_ready().await;
    let http = reqwest::Client::new();
    let client = "198.51.100.7";
    assert_eq!(api_start(&http, &a.public, client).await.status(), 200);
    assert_eq!(api_start(&http, &b.public, client).await.status(), 200);
    // The burst is spent across both nodes.
    expect_429(api_start(&http, &a.public, client).await).await;
    expect_429(api_start(&http, &b.public, client).await).await;
    assert_eq!(
        api_start(&http, &b.public, "198.51.100.8").await.status(),
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_codes_count_whether_or_not_the_account_exists() {
    let app = TestApp::start_with(Setup {
        yaml: format!(
            "identity:
  default_schema_id: code
  schemas:
    - id: code
      url: file://{FIXTURES}/code.schema.json
selfservice:
  methods:
    code:
      enabled: true
      passwordless_enabled: true
security:
  rate_limits:
    codes: {{ burst: 1, interval: 1h }}
"
        ),
        ..Default::default()
    })
    .await;
    let flow = api_flow(&app, "login").await;
    let ask = json!({"method": "code", "identifier": "nobody@example.org"});
    let (status, sent) = submit(&app, &flow, ask.clone()).await;
    assert_eq!(status, 400, "{sent}");
    assert_eq!(sent["state"], "sent_email", "{sent}");
    // A resend is one more code.
    let (status, refused) = submit(&app, &sent, ask).await;
    assert_eq!(status, 429, "{refused}");
    assert_eq!(refused["error"]["id"], "too_many_requests", "{refused}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweeper_drops_buckets_that_are_full_again() {
    let (app, _) = start(
        "    flows: { burst: 5, interval: 100ms }\ndatabase:\n  cleanup:\n    sleep:\n      tables: 1s\n",
    )
    .await;
    assert_eq!(
        api_start(&app.http, &app.public, "198.51.100.9")
            .await
            .status(),
        200
    );
    let buckets = "SELECT client_key AS v FROM rate_limits";
    assert_eq!(app.query_texts(buckets).await, ["flows:198.51.100.9"]);
    let started = Instant::now();
    while !app.query_texts(buckets).await.is_empty() {
        assert!(started.elapsed() < Duration::from_secs(5), "never swept");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.stop().await;
}
