//! Hooks end to end: web hooks call real HTTP receivers on loopback with Jsonnet bodies from real
//! files (or base64); interrupting, parsing, failing and fire-and-forget hooks; the password
//! migration hook. Runs on SQLite and PostgreSQL.

use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

use crate::common::flow::node;
use crate::common::receiver::Receiver;
use crate::common::{Setup, TestApp, TestDb, expect_error, ui_server};

const WAIT: Duration = Duration::from_secs(20);
const HOOK_PATH: &str = "selfservice.flows.registration.after.password.hooks[0]";

/// The Jsonnet body most tests use: traits and ids from `ctx`.
const BODY: &str = r#"function(ctx) {
  email: ctx.identity.traits.email,
  identity_id: ctx.identity.id,
  flow_id: ctx.flow.id,
  method: ctx.request_method,
  agent: ctx.request_headers['User-Agent'][0],
  has_cookie_header: std.objectHas(ctx.request_headers, 'Cookie'),
  transient: if std.objectHas(ctx, 'transient_payload') then ctx.transient_payload else null,
}
"#;

fn body_file(dir: &std::path::Path, src: &str) -> String {
    let p = dir.join(format!("{}.jsonnet", uuid::Uuid::new_v4().simple()));
    std::fs::write(&p, src).unwrap();
    format!("file://{}", p.display())
}

/// Flows config with `hooks` (YAML list items, indented for `after.password.hooks`).
fn yaml(ui: u16, registration_hooks: &str, extra: &str) -> String {
    format!(
        "selfservice:\n  default_browser_return_url: http://127.0.0.1:{ui}/welcome\n  allowed_return_urls:\n    - http://127.0.0.1:{ui}/\n  flows:\n    login:\n      ui_url: http://127.0.0.1:{ui}/login\n    registration:\n      ui_url: http://127.0.0.1:{ui}/registration\n      after:\n        password:\n          hooks:\n{registration_hooks}    error:\n      ui_url: http://127.0.0.1:{ui}/error\n  methods:\n    password:\n      config:\n        haveibeenpwned_enabled: false\n{extra}"
    )
}

fn web_hook(url: &str, body: &str, options: &str) -> String {
    format!(
        "            - hook: web_hook\n              config:\n                url: {url}\n                method: POST\n                body: {body}\n{options}"
    )
}

const SESSION: &str = "            - hook: session\n";

async fn start(yaml: String) -> TestApp {
    TestApp::start_with(Setup {
        yaml,
        ..Default::default()
    })
    .await
}

fn api() -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent("hooks-test/1.0")
        .build()
        .unwrap()
}

async fn api_flow(app: &TestApp, c: &reqwest::Client, kind: &str) -> Value {
    let r = c
        .get(app.public_url(&format!("/self-service/{kind}/api")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

async fn register(c: &reqwest::Client, flow: &Value, email: &str) -> reqwest::Response {
    c.post(flow["ui"]["action"].as_str().unwrap())
        .json(&json!({
            "method": "password",
            "traits": {"email": email},
            "password": "correct horse battery staple",
            "transient_payload": {"campaign": "spring"},
        }))
        .send()
        .await
        .unwrap()
}

async fn identities(app: &TestApp) -> Vec<Value> {
    app.http
        .get(app.admin_url("/admin/identities"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn registration_web_hook_gets_jsonnet_body_and_api_key() {
    let rx = Receiver::start().await;
    let ui = ui_server().await;
    let dir = tempfile::tempdir().unwrap();
    let hook = web_hook(
        &rx.url("/registered"),
        &body_file(dir.path(), BODY),
        "                auth:\n                  type: api_key\n                  config:\n                    name: X-Api-Key\n                    value: s3cret-key\n                    in: header\n",
    );
    let app = start(yaml(ui, &(hook + SESSION), "")).await;
    let c = api();
    let flow = api_flow(&app, &c, "registration").await;
    let r = register(&c, &flow, "alice@example.org").await;
    assert_eq!(r.status(), 200);
    let done: Value = r.json().await.unwrap();
    assert!(done["session_token"].is_string(), "{done}");
    let got = rx.wait_for(1, WAIT).await;
    assert_eq!(got.len(), 1);
    let req = &got[0];
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/registered");
    assert_eq!(req.header("x-api-key"), Some("s3cret-key"));
    assert_eq!(req.header("content-type"), Some("application/json"));
    let body = req.json();
    assert_eq!(body["email"], "alice@example.org");
    assert_eq!(body["identity_id"], done["identity"]["id"]);
    assert_eq!(body["flow_id"], flow["id"]);
    assert_eq!(body["method"], "POST");
    assert_eq!(body["agent"], "hooks-test/1.0");
    assert_eq!(body["has_cookie_header"], false);
    assert_eq!(body["transient"], json!({"campaign": "spring"}));
}

const INTERRUPT: &str = r##"{"messages":[
  {"instance_ptr":"#/traits/email","messages":[{"id":4000100,"text":"This address is on our block list.","type":"error","context":{"reason":"blocked"}}]},
  {"instance_ptr":"#","messages":[{"id":4000101,"text":"Please contact support.","type":"info"}]}
]}"##;

#[tokio::test(flavor = "multi_thread")]
async fn can_interrupt_hook_stops_registration_with_messages() {
    let rx = Receiver::start().await;
    rx.answer(400, INTERRUPT);
    let ui = ui_server().await;
    let dir = tempfile::tempdir().unwrap();
    let hook = web_hook(
        &rx.url("/check"),
        &body_file(dir.path(), BODY),
        "                can_interrupt: true\n",
    );
    let app = start(yaml(ui, &(hook + SESSION), "")).await;

    // API client: the flow comes back with the messages on the email node and on the flow.
    let c = api();
    let flow = api_flow(&app, &c, "registration").await;
    let r = register(&c, &flow, "blocked@example.org").await;
    assert_eq!(r.status(), 400);
    let shown: Value = r.json().await.unwrap();
    assert_eq!(shown["id"], flow["id"]);
    let email = node(&shown, "traits.email");
    assert_eq!(email["messages"][0]["id"], 4000100, "{shown}");
    assert_eq!(
        email["messages"][0]["text"],
        "This address is on our block list."
    );
    assert_eq!(email["messages"][0]["type"], "error");
    assert_eq!(email["messages"][0]["context"]["reason"], "blocked");
    assert_eq!(email["attributes"]["value"], "blocked@example.org");
    assert_eq!(shown["ui"]["messages"][0]["id"], 4000101, "{shown}");
    // Never echoed; on Kratos's default two-step registration the first screen has no
    // password node at all.
    assert!(
        shown["ui"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["attributes"]["name"] == "password")
            .all(|n| n["attributes"]["value"].is_null())
    );
    // The hook saw the identity before it was saved (no id yet).
    let seen = rx.wait_for(1, WAIT).await;
    assert_eq!(
        seen[0].json()["identity_id"],
        "00000000-0000-0000-0000-000000000000"
    );
    assert!(identities(&app).await.is_empty(), "nothing may be saved");

    // The same flow stays usable: once the hook agrees, registration completes.
    rx.answer(200, "{}");
    let r = register(&c, &flow, "fine@example.org").await;
    assert_eq!(r.status(), 200);
    assert_eq!(identities(&app).await.len(), 1);

    // Browser: back to the registration UI, where the flow shows the messages.
    rx.answer(400, INTERRUPT);
    let b = reqwest::Client::builder()
        .cookie_store(true)
        .user_agent("hooks-browser/1.0")
        .build()
        .unwrap();
    let landing = b
        .get(app.public_url("/self-service/registration/browser"))
        .send()
        .await
        .unwrap();
    let text = landing.text().await.unwrap();
    let id = text.split("flow=").nth(1).unwrap().to_owned();
    let flow: Value = b
        .get(app.public_url(&format!("/self-service/registration/flows?id={id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let csrf = node(&flow, "csrf_token")["attributes"]["value"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = b
        .post(flow["ui"]["action"].as_str().unwrap())
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("method", "password"),
            ("traits.email", "blocked2@example.org"),
            ("password", "correct horse battery staple"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.url().port(), Some(ui));
    assert!(r.url().path().ends_with("/registration"), "{}", r.url());
    let flow: Value = b
        .get(app.public_url(&format!("/self-service/registration/flows?id={id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        node(&flow, "traits.email")["messages"][0]["id"],
        4000100,
        "{flow}"
    );
    assert_eq!(
        identities(&app).await.len(),
        1,
        "the browser registration saved nothing"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn response_parse_rewrites_traits_before_saving() {
    let rx = Receiver::start().await;
    rx.answer(
        200,
        r#"{"identity":{"traits":{"email":"rewritten@example.org","username":"rewritten"},"metadata_public":{"tier":"gold"}}}"#,
    );
    let ui = ui_server().await;
    let body = format!(
        "base64://{}",
        base64::engine::general_purpose::STANDARD
            .encode("function(ctx) { traits: ctx.identity.traits }")
    );
    let hook = web_hook(
        &rx.url("/parse"),
        &body,
        "                response:\n                  parse: true\n",
    );
    let app = start(yaml(ui, &(hook + SESSION), "")).await;
    let c = api();
    let flow = api_flow(&app, &c, "registration").await;
    let r = register(&c, &flow, "original@example.org").await;
    assert_eq!(r.status(), 200);
    let done: Value = r.json().await.unwrap();
    assert_eq!(
        rx.requests()[0].json()["traits"]["email"],
        "original@example.org"
    );
    let id = done["identity"]["id"].as_str().unwrap();
    let saved: Value = app
        .http
        .get(app.admin_url(&format!("/admin/identities/{id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(saved["traits"]["email"], "rewritten@example.org");
    assert_eq!(saved["traits"]["username"], "rewritten");
    assert_eq!(saved["metadata_public"]["tier"], "gold");
}

async fn deliveries(app: &TestApp) -> Vec<gatehouse::store::webhooks::DeliveryRow> {
    let deps = &app.running.as_ref().unwrap().handles().deps();
    gatehouse::store::webhooks::list(&deps.store).await.unwrap()
}

async fn wait_delivered(app: &TestApp, n: usize) {
    let deadline = Instant::now() + WAIT;
    loop {
        let rows = deliveries(app).await;
        if rows
            .iter()
            .filter(|r| r.status.as_str() == "delivered")
            .count()
            >= n
        {
            return;
        }
        assert!(Instant::now() < deadline, "not delivered: {rows:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn fire_and_forget_is_retried_until_delivered_once_across_restarts() {
    let mut rx = Receiver::start().await;
    rx.down().await;
    let ui = ui_server().await;
    let dir = tempfile::tempdir().unwrap();
    let hook = web_hook(
        &rx.url("/async"),
        &body_file(dir.path(), BODY),
        "                response:\n                  ignore: true\n",
    );
    let config = yaml(ui, &(hook + SESSION), "");
    let app = start(config.clone()).await;

    // The receiver is down: registration does not wait for it.
    let c = api();
    let flow = api_flow(&app, &c, "registration").await;
    let t = Instant::now();
    let r = register(&c, &flow, "first@example.org").await;
    assert_eq!(r.status(), 200);
    assert!(t.elapsed() < Duration::from_secs(5));
    // It is retried; once the receiver is back it gets the delivery exactly once. (The attempt
    // counts when the row is claimed; it is back in the queue once the failure is recorded.)
    let deadline = Instant::now() + WAIT;
    let row = loop {
        let rows = deliveries(&app).await;
        match rows.first() {
            Some(d)
                if d.attempts >= 1 && d.last_error.is_some() && d.status.as_str() == "queued" =>
            {
                break d.clone();
            }
            _ => {}
        }
        assert!(
            Instant::now() < deadline,
            "no failed attempt recorded: {rows:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        row.last_error
            .as_deref()
            .unwrap_or("")
            .contains("could not be reached")
    );
    rx.up().await;
    wait_delivered(&app, 1).await;
    let got = rx.wait_for(1, WAIT).await;
    assert_eq!(got[0].json()["email"], "first@example.org");

    // Down again; a second delivery is queued, then the server stops before it goes out.
    rx.down().await;
    let flow = api_flow(&app, &c, "registration").await;
    let r = register(&c, &flow, "second@example.org").await;
    assert_eq!(r.status(), 200);
    let db: TestDb = app.stop_keep_db().await;
    rx.up().await;
    let app = TestApp::start_on(
        db,
        Setup {
            yaml: config,
            ..Default::default()
        },
    )
    .await;
    wait_delivered(&app, 2).await;
    // Give a duplicate every chance to show up.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let got = rx.requests();
    let emails: Vec<Value> = got.iter().map(|r| r.json()["email"].clone()).collect();
    assert_eq!(
        emails,
        vec![json!("first@example.org"), json!("second@example.org")]
    );
    assert!(
        deliveries(&app)
            .await
            .iter()
            .all(|d| d.status.as_str() == "delivered")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn blocking_hook_with_down_or_slow_receiver_fails_fast() {
    let mut rx = Receiver::start().await;
    let ui = ui_server().await;
    let dir = tempfile::tempdir().unwrap();
    let hook = web_hook(&rx.url("/slow"), &body_file(dir.path(), BODY), "");
    // A login `before` hook to the same receiver, placed under the base YAML's login flow.
    let config = yaml(ui, &(hook + SESSION), "").replace(
        "    login:\n      ui_url",
        &format!(
            "    login:\n      before:\n        hooks:\n          - hook: web_hook\n            config:\n              url: {}\n              method: POST\n      ui_url",
            rx.url("/before")
        ),
    );
    let app = start(config).await;
    let c = api();

    // Down: a Kratos error naming the hook, quickly.
    rx.down().await;
    let flow = api_flow(&app, &c, "registration").await;
    let t = Instant::now();
    let r = register(&c, &flow, "down@example.org").await;
    let e = expect_error(r, 502).await;
    assert!(t.elapsed() < Duration::from_secs(5));
    assert_eq!(
        e["reason"],
        "A third-party upstream service could not be reached. Please try again later."
    );
    assert!(e["message"].as_str().unwrap().contains(HOOK_PATH), "{e}");
    assert_eq!(e["details"]["hook"], HOOK_PATH);
    // A login `before` hook that cannot reach its receiver stops the flow from starting.
    let r = c
        .get(app.public_url("/self-service/login/api"))
        .send()
        .await
        .unwrap();
    let e = expect_error(r, 502).await;
    assert_eq!(
        e["details"]["hook"],
        "selfservice.flows.login.before.hooks[0]"
    );

    // Slow: cut off at the hook timeout with 504.
    rx.up().await;
    rx.delay(Duration::from_secs(30));
    let flow = api_flow(&app, &c, "registration").await;
    let t = Instant::now();
    let r = register(&c, &flow, "slow@example.org").await;
    let e = expect_error(r, 504).await;
    let took = t.elapsed();
    assert!(
        took >= Duration::from_secs(9) && took < Duration::from_secs(15),
        "{took:?}"
    );
    assert!(e["message"].as_str().unwrap().contains(HOOK_PATH), "{e}");

    // A 5xx answer is a 502 naming the hook.
    rx.delay(Duration::ZERO);
    rx.answer(500, "oops");
    let flow = api_flow(&app, &c, "registration").await;
    let r = register(&c, &flow, "broken@example.org").await;
    let e = expect_error(r, 502).await;
    assert!(
        e["message"].as_str().unwrap().contains("status code 500"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn broken_jsonnet_is_refused_at_start_up_naming_the_hook() {
    let ui = ui_server().await;
    // A body file that is missing is not a start-up error: Kratos reads bodies when a hook
    // runs (see config_profiles::network).
    let body = format!(
        "base64://{}",
        base64::engine::general_purpose::STANDARD.encode("function(ctx) { email: ")
    );
    let hook = web_hook("http://127.0.0.1:9/x", &body, "");
    let dir = tempfile::tempdir().unwrap();
    let extra = dir.path().join("extra.yml");
    std::fs::write(&extra, yaml(ui, &hook, "")).unwrap();
    let db = TestDb::new().await;
    let loaded = gatehouse::config::load(
        &[std::path::PathBuf::from(crate::common::TEST_CONFIG), extra],
        &[("DSN".to_owned(), db.dsn.clone())],
    )
    .expect("config loads");
    let err = match gatehouse::app::start(
        loaded,
        gatehouse::app::Options {
            dev: true,
            migrate: true,
            ..Default::default()
        },
    )
    .await
    {
        Ok(_) => panic!("a broken web hook body must refuse start-up"),
        Err(e) => format!("{e:#}"),
    };
    assert!(err.contains(HOOK_PATH), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn password_migration_hook_checks_once_then_uses_the_local_hash() {
    let mut rx = Receiver::start().await;
    rx.answer(200, r#"{"status":"password_match"}"#);
    let ui = ui_server().await;
    let extra = format!(
        "        migrate_hook:\n          enabled: true\n          config:\n            url: {}\n            method: POST\n            headers:\n              X-Migration: yes-please\n",
        rx.url("/migrate")
    );
    let app = start(yaml(ui, SESSION, &extra)).await;
    for email in ["legacy@example.org", "other@example.org"] {
        app.create_identity(json!({
            "schema_id": "customer",
            "traits": {"email": email},
            "credentials": {"password": {"config": {"use_password_migration_hook": true}}},
        }))
        .await;
    }
    let c = api();
    let login = async |identifier: &str, password: &str| {
        let flow = api_flow(&app, &c, "login").await;
        c.post(flow["ui"]["action"].as_str().unwrap())
            .json(&json!({"method": "password", "identifier": identifier, "password": password}))
            .send()
            .await
            .unwrap()
    };
    // First login: the endpoint is asked, with Kratos's body.
    let r = login("legacy@example.org", "old-secret-123").await;
    assert_eq!(r.status(), 200);
    let got = rx.requests();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].method, "POST");
    assert_eq!(got[0].header("x-migration"), Some("yes-please"));
    assert_eq!(
        got[0].json(),
        json!({"identifier": "legacy@example.org", "password": "old-secret-123"})
    );
    // The endpoint says no for the other identity: the usual invalid credentials.
    rx.answer(200, r#"{"status":"no_match"}"#);
    let r = login("other@example.org", "whatever-123").await;
    assert_eq!(r.status(), 400);
    let f: Value = r.json().await.unwrap();
    assert_eq!(f["ui"]["messages"][0]["id"], 4000006, "{f}");
    assert_eq!(rx.requests().len(), 2);

    // Endpoint gone: the migrated identity signs in with the local hash; the wrong password fails.
    rx.down().await;
    let r = login("legacy@example.org", "old-secret-123").await;
    assert_eq!(r.status(), 200);
    let r = login("legacy@example.org", "wrong-password").await;
    assert_eq!(r.status(), 400);
    let f: Value = r.json().await.unwrap();
    assert_eq!(f["ui"]["messages"][0]["id"], 4000006, "{f}");
    // Not yet migrated and the endpoint is down: a clear upstream error.
    let r = login("other@example.org", "whatever-123").await;
    let e = expect_error(r, 502).await;
    assert_eq!(
        e["details"]["hook"],
        "selfservice.methods.password.config.migrate_hook"
    );
    assert_eq!(rx.requests().len(), 2);
}
