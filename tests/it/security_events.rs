//! Security events as an operator reads them: the binary run as a process with
//! `log.format: json`, real flows over HTTP, and the `gatehouse::security` lines of its log —
//! names and fields, the counter on the metrics endpoint, and neither the identifier typed for
//! an unknown account nor any password anywhere in the output.

use std::process::Command;

use serde_json::{Value, json};

use crate::common::flow::{api_flow, api_login, browser, submit, submit_with_token};
use crate::common::process::{Process, free_port};
use crate::common::{TEST_CONFIG, TestApp, TestDb, binary, schemas_yaml};

/// Typed for an account that does not exist: must never reach the log.
const TYPED: &str = "ghost.typed@events.example";
const WRONG: &str = "Wr0ng-typed-secret-77";
const PASSWORD: &str = "events-test-password-42";
const NEW_PASSWORD: &str = "events-new-password-43";
/// In the query of a refused `return_to`: only its host may be logged.
const RETURN_TOKEN: &str = "leakedreturntoken";
const USER_AGENT: &str = "events-test/1.0";

/// JSON logs at info; a lockout on the second failure of an identifier, the address counter
/// out of the way.
const CONFIG: &str = "log:\n  level: info\n  format: json\nsecurity:\n  brute_force:\n    per_identifier:\n      free_failures: 1\n      wait_increment: 1h\n      max_wait: 1h\n      quick_login_check: 0s\n      lockout_after: 2\n      lockout: 1h\n    per_address:\n      free_failures: 100000\n      lockout_after: 0\n      quick_login_check: 0s\n";

/// `gatehouse serve` as a process, and a `TestApp` pointing at it (for the shared helpers).
async fn start() -> (Process, TestApp) {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let (public, admin) = (free_port(), free_port());
    let schemas = dir.path().join("schemas.yml");
    std::fs::write(&schemas, schemas_yaml()).unwrap();
    let events = dir.path().join("events.yml");
    std::fs::write(&events, CONFIG).unwrap();
    let mut cmd = Command::new(binary());
    cmd.current_dir(dir.path())
        .args(["serve", "--dev", "--migrate", "-c", TEST_CONFIG, "-c"])
        .arg(&schemas)
        .arg("-c")
        .arg(&events)
        .env_remove("GATEHOUSE_LOG")
        .env("DSN", &db.dsn)
        .env("SECRETS_DEFAULT", "security-events-secret-0123456789")
        .env("SERVE_PUBLIC_PORT", public.to_string())
        .env("SERVE_ADMIN_PORT", admin.to_string());
    let log = dir.path().join("gatehouse.log");
    let mut p = Process::spawn("gatehouse", cmd, Some(log));
    let admin = format!("http://127.0.0.1:{admin}");
    p.wait_answering(&format!("{admin}/health/ready")).await;
    let app = TestApp {
        public: format!("http://127.0.0.1:{public}"),
        admin,
        running: None,
        http: reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .build()
            .unwrap(),
        db,
        dir,
    };
    (p, app)
}

/// The `fields` of every security event in the log, in order.
fn security_events(log: &str) -> Vec<Value> {
    log.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["target"] == "gatehouse::security")
        .map(|l| l["fields"].clone())
        .collect()
}

/// The events named `name` that carry every field of `expected` with its value.
fn matching<'a>(events: &'a [Value], name: &str, expected: Value) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["event"] == name)
        .filter(|e| {
            expected
                .as_object()
                .unwrap()
                .iter()
                .all(|(k, v)| &e[k] == v)
        })
        .collect()
}

fn one<'a>(events: &'a [Value], name: &str, expected: Value) -> &'a Value {
    let found = matching(events, name, expected.clone());
    assert!(
        !found.is_empty(),
        "no {name} event with {expected} among {events:#?}"
    );
    found[0]
}

async fn create(app: &TestApp, email: &str) -> String {
    let v = app
        .create_identity(json!({"traits": {"email": email}, "credentials": {"password": {"config": {"password": PASSWORD}}}}))
        .await;
    v["id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_decision_and_change_is_one_event_without_secrets() {
    let (process, app) = start().await;
    let alice = create(&app, "alice@events.example").await;
    let bob = create(&app, "bob@events.example").await;

    // Sign-in failures (an unknown account, a wrong password) and a success.
    assert_eq!(api_login(&app, TYPED, WRONG).await.0, 400);
    assert_eq!(api_login(&app, "alice@events.example", WRONG).await.0, 400);
    let (status, v) = api_login(&app, "alice@events.example", PASSWORD).await;
    assert_eq!(status, 200, "{v}");
    let first_session = v["session"]["id"].as_str().unwrap().to_owned();
    let r = app
        .http
        .delete(app.public_url("/self-service/logout/api"))
        .json(&json!({"session_token": v["session_token"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);

    // A new password through settings.
    let (status, v) = api_login(&app, "alice@events.example", PASSWORD).await;
    assert_eq!(status, 200, "{v}");
    let token = v["session_token"].as_str().unwrap().to_owned();
    let second_session = v["session"]["id"].as_str().unwrap().to_owned();
    let flow: Value = app
        .http
        .get(app.public_url("/self-service/settings/api"))
        .header("X-Session-Token", &token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (status, v) = submit_with_token(
        &app,
        &token,
        &flow,
        json!({"method": "password", "password": NEW_PASSWORD}),
    )
    .await;
    assert_eq!(status, 200, "{v}");

    // A re-authentication of that session, rotated into a new one.
    let flow: Value = app
        .http
        .get(app.public_url("/self-service/login/api?refresh=true"))
        .header("X-Session-Token", &token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (status, v) = submit_with_token(
        &app,
        &token,
        &flow,
        json!({"method": "password", "identifier": "alice@events.example", "password": NEW_PASSWORD}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let token = v["session_token"].as_str().unwrap().to_owned();

    // A sign-up.
    let flow = api_flow(&app, "registration").await;
    let (status, v) = submit(
        &app,
        &flow,
        json!({"method": "password", "traits": {"email": "carol@events.example"}, "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let carol = v["identity"]["id"].as_str().unwrap().to_owned();

    // Admin writes: a new address, a deletion.
    let r = app
        .http
        .patch(app.admin_url(&format!("/admin/identities/{alice}")))
        .json(
            &json!([{"op": "replace", "path": "/traits/email", "value": "alice2@events.example"}]),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // A browser submission whose CSRF token is not the cookie's.
    let b = browser();
    let flow: Value = b
        .get(app.public_url("/self-service/login/browser"))
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let r = b
        .post(flow["ui"]["action"].as_str().unwrap())
        .header("Accept", "application/json")
        .json(&json!({"method": "password", "csrf_token": "not-the-token", "identifier": TYPED, "password": WRONG}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // A return_to outside the allow list.
    let r = app
        .http
        .get(app.public_url("/self-service/login/api"))
        .query(&[(
            "return_to",
            format!("https://evil.example/steal?token={RETURN_TOKEN}&email={TYPED}"),
        )])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // Bob's second failure locks his identifier out; even his password is refused then.
    assert_eq!(api_login(&app, "bob@events.example", WRONG).await.0, 400);
    assert_eq!(api_login(&app, "bob@events.example", WRONG).await.0, 400);
    assert_eq!(api_login(&app, "bob@events.example", PASSWORD).await.0, 429);
    let r = app
        .http
        .delete(app.admin_url(&format!("/admin/identities/{bob}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    // whoami writes no event (it must stay cheap).
    let before = security_events(&process.log()).len();
    assert_eq!(app.whoami(&token).await["active"], true);
    assert_eq!(security_events(&process.log()).len(), before);

    let failed_count = app
        .metric("security_events_total{event=\"login.failed\"}")
        .await
        .expect("the counter is exported");
    let log = process.log();
    let events = security_events(&log);
    // Every event names the network (tenant) it happened in: here, the default one.
    let nid = app.query_texts("SELECT id AS v FROM networks").await;
    assert!(
        events.iter().all(|e| e["nid"] == nid[0].as_str()),
        "an event without the network {nid:?}"
    );

    let client = json!({"client_address": "127.0.0.1", "user_agent": USER_AGENT});
    for e in matching(&events, "login.failed", json!({})) {
        assert_eq!(e["client_address"], client["client_address"], "{e}");
        assert_eq!(e["user_agent"], client["user_agent"], "{e}");
        assert_eq!(e["method"], "password", "{e}");
        assert_eq!(e["reason"], "4000006", "{e}");
        assert!(e["flow_id"].is_string(), "{e}");
        // Neither the unknown account nor (for a password guess) the known one is named.
        assert!(e.get("identity_id").is_none(), "{e}");
    }
    assert_eq!(
        matching(&events, "login.failed", json!({})).len() as f64,
        failed_count
    );
    assert_eq!(failed_count, 4.0, "{events:#?}");
    one(
        &events,
        "login.succeeded",
        json!({"identity_id": alice, "session_id": first_session, "method": "password", "aal": "aal1", "user_agent": USER_AGENT}),
    );
    one(
        &events,
        "session.issued",
        json!({"identity_id": alice, "session_id": first_session, "method": "password"}),
    );
    one(
        &events,
        "session.revoked",
        json!({"identity_id": alice, "cause": "logout"}),
    );
    one(
        &events,
        "session.refreshed",
        json!({"identity_id": alice, "previous_session_id": second_session, "cause": "reauthenticated", "method": "password"}),
    );
    one(
        &events,
        "registration.succeeded",
        json!({"identity_id": carol, "method": "password", "flow_kind": "registration", "user_agent": USER_AGENT}),
    );
    one(
        &events,
        "password.changed",
        json!({"identity_id": alice, "actor": "self_service", "flow_kind": "settings", "client_address": "127.0.0.1"}),
    );
    one(
        &events,
        "address.changed",
        json!({"identity_id": alice, "actor": "admin"}),
    );
    one(
        &events,
        "admin.write",
        json!({"http_method": "PATCH", "route": "/identities/{id}", "identity_id": alice, "user_agent": USER_AGENT}),
    );
    one(
        &events,
        "admin.write",
        json!({"http_method": "DELETE", "route": "/identities/{id}", "identity_id": bob}),
    );
    one(
        &events,
        "csrf.failed",
        json!({"reason": "token_mismatch", "flow_kind": "login", "client_address": "127.0.0.1"}),
    );
    one(
        &events,
        "return_to.refused",
        json!({"host": "evil.example", "flow_kind": "login"}),
    );
    one(
        &events,
        "lockout.started",
        json!({"key_kind": "identifier", "failures": 2}),
    );
    one(
        &events,
        "throttle.refused",
        json!({"key_kind": "identifier", "client_address": "127.0.0.1"}),
    );
    // Admin reads (the metrics scrape, whoami) write none.
    assert!(matching(&events, "admin.write", json!({"http_method": "GET"})).is_empty());
    for e in &events {
        assert!(e["event"].is_string() && e["message"] == e["event"], "{e}");
    }
    for secret in [
        TYPED,
        WRONG,
        PASSWORD,
        NEW_PASSWORD,
        RETURN_TOKEN,
        token.as_str(),
    ] {
        assert!(!log.contains(secret), "{secret} is in the log:\n{log}");
    }
    process.kill();
}
