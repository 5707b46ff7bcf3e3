//! Session hygiene beyond Kratos (`session.hygiene`): a re-authentication or a higher level
//! issues a new session (new id, token and cookie) and revokes the old one; a password change
//! or a recovery revokes the identity's other sessions; an optional inactivity timeout ends
//! sessions left unused. `kratos_compatible: true` (or the switches off) keeps Kratos's
//! behaviour.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::flow::{api_login, no_redirects, submit_with_token};
use crate::common::{Setup, TestApp, ui_server};
use crate::mfa::{code, offered_secret};

const EMAIL: &str = "hygiene@example.com";
const PASSWORD: &str = "a-long-and-good-passphrase-42";
const COOKIE: &str = "ory_kratos_session";

async fn start(hygiene: &str) -> TestApp {
    let ui = ui_server().await;
    let app = TestApp::start_with(Setup {
        yaml: format!(
            "selfservice:
  default_browser_return_url: http://127.0.0.1:{ui}/welcome
  allowed_return_urls:
    - http://127.0.0.1:{ui}/
  flows:
    login:
      ui_url: http://127.0.0.1:{ui}/login
    settings:
      ui_url: http://127.0.0.1:{ui}/settings
    recovery:
      enabled: true
      use: code
      ui_url: http://127.0.0.1:{ui}/recovery
    error:
      ui_url: http://127.0.0.1:{ui}/error
  methods:
    password:
      config:
        haveibeenpwned_enabled: false
    totp:
      enabled: true
      config:
        issuer: Gatehouse Test
session:
  hygiene:
{hygiene}"
        ),
        ..Default::default()
    })
    .await;
    app.create_identity(json!({
        "traits": {"email": EMAIL},
        "credentials": {"password": {"config": {"password": PASSWORD}}}
    }))
    .await;
    app
}

async fn token(app: &TestApp) -> String {
    let (status, v) = api_login(app, EMAIL, PASSWORD).await;
    assert_eq!(status, 200, "{v}");
    v["session_token"].as_str().unwrap().to_owned()
}

async fn whoami(app: &TestApp, token: &str) -> u16 {
    app.http
        .get(app.public_url("/sessions/whoami"))
        .header("X-Session-Token", token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn whoami_cookie(app: &TestApp, cookie: &str) -> reqwest::Response {
    app.http
        .get(app.public_url("/sessions/whoami"))
        .header("cookie", format!("{COOKIE}={cookie}"))
        .send()
        .await
        .unwrap()
}

/// The value of the session cookie a response sets, if any.
fn session_cookie(r: &reqwest::Response) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix(&format!("{COOKIE}=")))
        .map(|c| c.split(';').next().unwrap().to_owned())
}

/// A native login on the session `token` (`path` asks for `refresh` or `aal`) with `body`.
async fn api_relogin(app: &TestApp, token: &str, path: &str, body: Value) -> (u16, Value) {
    let flow: Value = app
        .http
        .get(app.public_url(path))
        .header("X-Session-Token", token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    submit_with_token(app, token, &flow, body).await
}

fn password_body() -> Value {
    json!({"method": "password", "identifier": EMAIL, "password": PASSWORD})
}

/// A browser (a single-page app asking for JSON) signing in, with `query` on the login URL;
/// the answer, whose session cookie the browser keeps.
async fn browser_login(app: &TestApp, b: &reqwest::Client, query: &str) -> reqwest::Response {
    let flow: Value = b
        .get(app.public_url(&format!("/self-service/login/browser{query}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    b.post(flow["ui"]["action"].as_str().unwrap())
        .form(&[
            ("csrf_token", crate::common::flow::csrf(&flow).as_str()),
            ("method", "password"),
            ("identifier", EMAIL),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_login_issues_a_new_session_and_revokes_the_old() {
    let app = start("    {}\n").await;
    // Native: the new token comes in the login answer, as at a first login.
    let (status, first) = api_login(&app, EMAIL, PASSWORD).await;
    assert_eq!(status, 200, "{first}");
    let old = first["session_token"].as_str().unwrap().to_owned();
    assert_eq!(whoami(&app, &old).await, 200, "cached before the refresh");
    let (status, again) = api_relogin(
        &app,
        &old,
        "/self-service/login/api?refresh=true",
        password_body(),
    )
    .await;
    assert_eq!(status, 200, "{again}");
    let new = again["session_token"].as_str().unwrap();
    assert_ne!(new, old);
    assert_ne!(again["session"]["id"], first["session"]["id"]);
    assert_eq!(
        again["session"]["identity"]["id"],
        first["session"]["identity"]["id"]
    );
    let methods = again["session"]["authentication_methods"]
        .as_array()
        .unwrap();
    assert_eq!(methods.len(), 2, "the old session's method and the new one");
    assert_eq!(again["session"]["devices"].as_array().unwrap().len(), 1);
    let sdk: ory_kratos_client::models::SuccessfulNativeLogin =
        serde_json::from_value(again.clone()).expect("Kratos's successful native login");
    assert_eq!(sdk.session_token.as_deref(), Some(new));
    assert_eq!(whoami(&app, &old).await, 401, "the old token is revoked");
    assert_eq!(whoami(&app, new).await, 200);

    // Browser: a new cookie; the old one no longer answers.
    let b = no_redirects(true);
    let r = browser_login(&app, &b, "").await;
    assert_eq!(r.status(), 200);
    let old_cookie = session_cookie(&r).expect("a session cookie");
    assert_eq!(whoami_cookie(&app, &old_cookie).await.status(), 200);
    let r = browser_login(&app, &b, "?refresh=true").await;
    assert_eq!(r.status(), 200);
    let new_cookie = session_cookie(&r).expect("a new session cookie");
    assert_ne!(new_cookie, old_cookie);
    assert_eq!(whoami_cookie(&app, &old_cookie).await.status(), 401);
    assert_eq!(whoami_cookie(&app, &new_cookie).await.status(), 200);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aal2_step_up_issues_a_new_session() {
    let app = start("    {}\n").await;
    let linking = token(&app).await;
    // A native app links TOTP in settings: Kratos's settings answer has no place for a new
    // token, so that session is raised to aal2 in place.
    let flow: Value = app
        .http
        .get(app.public_url("/self-service/settings/api"))
        .header("X-Session-Token", &linking)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = offered_secret(&flow);
    let (status, v) = submit_with_token(
        &app,
        &linking,
        &flow,
        json!({"method": "totp", "totp_code": code(&secret, 0)}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(whoami(&app, &linking).await, 200);

    // A new password sign-in steps up with the second factor: a new session at aal2.
    let aal1 = token(&app).await;
    let (status, v) = api_relogin(
        &app,
        &aal1,
        "/self-service/login/api?aal=aal2",
        json!({"method": "totp", "totp_code": code(&secret, 1)}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let aal2 = v["session_token"].as_str().unwrap();
    assert_ne!(aal2, aal1);
    assert_eq!(v["session"]["authenticator_assurance_level"], "aal2");
    let methods: Vec<(&str, &str)> = v["session"]["authentication_methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["method"].as_str().unwrap(), m["aal"].as_str().unwrap()))
        .collect();
    assert_eq!(methods, vec![("password", "aal1"), ("totp", "aal2")]);
    assert_eq!(whoami(&app, &aal1).await, 401);
    assert_eq!(whoami(&app, aal2).await, 200);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kratos_compatible_keeps_the_session_and_the_others() {
    let app = start("    kratos_compatible: true\n").await;
    let other = token(&app).await;
    let (status, first) = api_login(&app, EMAIL, PASSWORD).await;
    assert_eq!(status, 200);
    let tok = first["session_token"].as_str().unwrap().to_owned();
    let (status, again) = api_relogin(
        &app,
        &tok,
        "/self-service/login/api?refresh=true",
        password_body(),
    )
    .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["session_token"], tok.as_str(), "the same token");
    assert_eq!(again["session"]["id"], first["session"]["id"]);
    assert_eq!(whoami(&app, &tok).await, 200);
    // A password change leaves the other session alone, as Kratos without the hook does.
    change_password(&app, &tok).await;
    assert_eq!(whoami(&app, &other).await, 200);
    assert_eq!(whoami(&app, &tok).await, 200);
    // So does a recovery.
    let recovered = recover(&app).await;
    assert_eq!(whoami(&app, &other).await, 200);
    assert_eq!(whoami(&app, &tok).await, 200);
    assert_eq!(whoami(&app, &recovered).await, 200);
    app.stop().await;
}

/// A password change in a native settings flow of the session `token`.
async fn change_password(app: &TestApp, token: &str) {
    let flow: Value = app
        .http
        .get(app.public_url("/self-service/settings/api"))
        .header("X-Session-Token", token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (status, v) = submit_with_token(
        app,
        token,
        &flow,
        json!({"method": "password", "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
}

/// A native recovery by an admin-made code; the session token it issues.
async fn recover(app: &TestApp) -> String {
    let ids: Value = app
        .http
        .get(app.admin_url(&format!("/admin/identities?credentials_identifier={EMAIL}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let iid = ids[0]["id"].as_str().unwrap();
    let code: Value = app
        .http
        .post(app.admin_url("/admin/recovery/code"))
        .json(&json!({"identity_id": iid, "flow_type": "api"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let fid = crate::common::flow::flow_id_from(code["recovery_link"].as_str().unwrap());
    let r = app
        .http
        .post(app.public_url(&format!("/self-service/recovery?flow={fid}")))
        .json(&json!({"method": "code", "code": code["recovery_code"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let done: Value = r.json().await.unwrap();
    done["continue_with"][0]["ory_session_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no session token in {done}"))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_change_or_a_recovery_revokes_the_other_sessions() {
    let app = start("    {}\n").await;
    let other = token(&app).await;
    let current = token(&app).await;
    assert_eq!(whoami(&app, &other).await, 200, "cached before the change");
    change_password(&app, &current).await;
    assert_eq!(
        whoami(&app, &other).await,
        401,
        "the other session is revoked"
    );
    assert_eq!(whoami(&app, &current).await, 200, "the current one stays");

    let recovered = recover(&app).await;
    assert_eq!(
        whoami(&app, &current).await,
        401,
        "older sessions are revoked"
    );
    assert_eq!(whoami(&app, &recovered).await, 200);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_switch_off_other_sessions_survive() {
    let app = start("    revoke_others_on_password_change: false\n").await;
    let other = token(&app).await;
    let current = token(&app).await;
    change_password(&app, &current).await;
    assert_eq!(whoami(&app, &other).await, 200);
    let recovered = recover(&app).await;
    assert_eq!(whoami(&app, &other).await, 200);
    assert_eq!(whoami(&app, &current).await, 200);
    assert_eq!(whoami(&app, &recovered).await, 200);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_session_ends_and_a_used_one_lives_on() {
    let app = start("    inactivity_timeout: 2s\n").await;
    let idle = token(&app).await;
    let used = token(&app).await;
    let b = no_redirects(true);
    let r = browser_login(&app, &b, "").await;
    let cookie = session_cookie(&r).expect("a session cookie");
    // Cached answers too must not outlive the timeout.
    assert_eq!(whoami(&app, &idle).await, 200);
    assert_eq!(whoami_cookie(&app, &cookie).await.status(), 200);
    let began = Instant::now();
    // The used session stays alive well past the timeout; the idle one ends.
    while began.elapsed() < Duration::from_millis(3500) {
        assert_eq!(whoami(&app, &used).await, 200, "used regularly");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(
        whoami(&app, &idle).await,
        401,
        "idle for longer than the timeout"
    );
    let r = whoami_cookie(&app, &cookie).await;
    assert_eq!(r.status(), 401);
    let cleared = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|c| c.starts_with(&format!("{COOKIE}=")) && c.contains("Max-Age=0"));
    assert!(cleared, "the idle browser's cookie is cleared");
    // An inactive session is no session for the flows either: the app signs in anew.
    let (status, v) = api_relogin(&app, &idle, "/self-service/login/api", password_body()).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(whoami(&app, &used).await, 200);
    app.stop().await;
}
