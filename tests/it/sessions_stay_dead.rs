//! Sessions stay dead (issue 22, OWASP ASVS 7.4.2): disabling an identity revokes its sessions,
//! so enabling it again brings none back; removing a credential takes its method out of the
//! sessions it vouched for, lowering their level, and ends those left without a first factor.
//! Each whoami is asked once before the change, so the cached answer must be dropped too.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::flow::{api_login, submit_with_token};
use crate::common::{Setup, TestApp, ui_server};
use crate::mfa::{code, offered_secret};

const PASSWORD: &str = "a-long-and-good-passphrase-42";

async fn start() -> TestApp {
    let ui = ui_server().await;
    TestApp::start_with(Setup {
        yaml: format!(
            "selfservice:
  default_browser_return_url: http://127.0.0.1:{ui}/welcome
  flows:
    settings:
      ui_url: http://127.0.0.1:{ui}/settings
  methods:
    password:
      config:
        haveibeenpwned_enabled: false
    totp:
      enabled: true
      config:
        issuer: Gatehouse Test
"
        ),
        ..Default::default()
    })
    .await
}

async fn create(app: &TestApp, email: &str, oidc: bool) -> String {
    let mut credentials = json!({"password": {"config": {"password": PASSWORD}}});
    if oidc {
        credentials["oidc"] =
            json!({"config": {"providers": [{"provider": "github", "subject": "4711"}]}});
    }
    let v = app
        .create_identity(json!({
            "schema_id": "customer",
            "traits": {"email": email},
            "credentials": credentials,
        }))
        .await;
    v["id"].as_str().unwrap().to_owned()
}

async fn login(app: &TestApp, email: &str) -> String {
    let (status, v) = api_login(app, email, PASSWORD).await;
    assert_eq!(status, 200, "{v}");
    v["session_token"].as_str().unwrap().to_owned()
}

fn cookie_for(app: &TestApp, token: &str) -> String {
    let d = app.running.as_ref().unwrap().handles().deps().clone();
    let value = gatehouse::session::cookie::encode(
        &d.cookie_secrets,
        token,
        chrono::Utc::now() + chrono::Duration::hours(1),
    )
    .unwrap();
    format!("ory_kratos_session={value}")
}

async fn whoami(app: &TestApp, token: &str) -> (u16, Value) {
    let r = app
        .http
        .get(app.public_url("/sessions/whoami"))
        .header("X-Session-Token", token)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn whoami_cookie(app: &TestApp, cookie: &str) -> u16 {
    app.http
        .get(app.public_url("/sessions/whoami"))
        .header("Cookie", cookie)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn methods(who: &Value) -> Vec<String> {
    who["authentication_methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["method"].as_str().unwrap().to_owned())
        .collect()
}

async fn set_state_put(app: &TestApp, id: &str, email: &str, state: &str) {
    let r = app
        .http
        .put(app.admin_url(&format!("/admin/identities/{id}")))
        .json(&json!({"schema_id": "customer", "traits": {"email": email}, "state": state}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

async fn set_state_patch(app: &TestApp, id: &str, state: &str) {
    let r = app
        .http
        .patch(app.admin_url(&format!("/admin/identities/{id}")))
        .json(&json!([{"op": "replace", "path": "/state", "value": state}]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

/// Links TOTP in a native settings flow; the session that proves the code is aal2 at once.
async fn link_totp(app: &TestApp, token: &str) {
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
    let secret = offered_secret(&flow);
    let (status, v) = submit_with_token(
        app,
        token,
        &flow,
        json!({"method": "totp", "totp_code": code(&secret, 0)}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let (status, who) = whoami(app, token).await;
    assert_eq!(status, 200, "{who}");
    assert_eq!(who["authenticator_assurance_level"], "aal2");
    assert_eq!(methods(&who), ["password", "totp"]);
}

/// The aal2 session lost its second factor: still valid, at aal1, with the password alone.
async fn assert_lowered(app: &TestApp, token: &str) {
    let (status, who) = whoami(app, token).await;
    assert_eq!(status, 200, "{who}");
    assert_eq!(who["authenticator_assurance_level"], "aal1", "{who}");
    assert_eq!(methods(&who), ["password"]);
    let rows = app
        .query_texts(&format!(
            "SELECT aal AS v FROM sessions WHERE id = '{}'",
            who["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(rows, ["aal1"], "the database holds the new level too");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabling_an_identity_ends_its_sessions_for_good() {
    let app = start().await;
    let email = "dead-disable@example.com";
    let id = create(&app, email, false).await;

    // PUT: the token and the cookie of the same session, both served once (and cached).
    let token = login(&app, email).await;
    let cookie = cookie_for(&app, &token);
    assert_eq!(whoami(&app, &token).await.0, 200);
    assert_eq!(whoami_cookie(&app, &cookie).await, 200);
    set_state_put(&app, &id, email, "inactive").await;
    assert_eq!(whoami(&app, &token).await.0, 401);
    assert_eq!(whoami_cookie(&app, &cookie).await, 401);
    set_state_put(&app, &id, email, "active").await;
    assert_eq!(
        whoami(&app, &token).await.0,
        401,
        "re-enabling revives nothing"
    );
    assert_eq!(whoami_cookie(&app, &cookie).await, 401);
    let active = app
        .query_texts(&format!(
            "SELECT CASE WHEN active THEN 'true' ELSE 'false' END AS v FROM sessions \
             WHERE identity_id = '{id}'"
        ))
        .await;
    assert_eq!(active.len(), 1);
    assert!(
        active[0] == "false" || active[0] == "0",
        "revoked in the database: {active:?}"
    );

    // JSON Patch does the same; a new sign-in after re-enabling works.
    let token = login(&app, email).await;
    assert_eq!(whoami(&app, &token).await.0, 200);
    set_state_patch(&app, &id, "inactive").await;
    assert_eq!(whoami(&app, &token).await.0, 401);
    set_state_patch(&app, &id, "active").await;
    assert_eq!(whoami(&app, &token).await.0, 401);
    let fresh = login(&app, email).await;
    assert_eq!(whoami(&app, &fresh).await.0, 200);
    assert_eq!(whoami(&app, &token).await.0, 401);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_removal_of_the_second_factor_lowers_the_session() {
    let app = start().await;
    let email = "dead-admin-totp@example.com";
    let id = create(&app, email, false).await;
    let token = login(&app, email).await;
    link_totp(&app, &token).await;
    let r = app
        .http
        .delete(app.admin_url(&format!("/admin/identities/{id}/credentials/totp")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_lowered(&app, &token).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_removal_of_the_second_factor_lowers_the_current_session() {
    let app = start().await;
    let email = "dead-settings-totp@example.com";
    create(&app, email, false).await;
    let token = login(&app, email).await;
    link_totp(&app, &token).await;
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
        json!({"method": "totp", "totp_unlink": true}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_lowered(&app, &token).await;
    // Still usable at its new level: settings opens without a step-up.
    let r = app
        .http
        .get(app.public_url("/self-service/settings/api"))
        .header("X-Session-Token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_the_only_first_factor_of_a_session_ends_it() {
    let app = start().await;
    let email = "dead-first-factor@example.com";
    let id = create(&app, email, true).await;
    let by_password = login(&app, email).await;
    // A session proven by the OIDC credential alone, issued as the OIDC login would.
    let d = app.running.as_ref().unwrap().handles().deps().clone();
    let ident = gatehouse::identity::service::get(&d, Uuid::parse_str(&id).unwrap(), false)
        .await
        .unwrap();
    let by_oidc = gatehouse::session::service::issue(
        &d,
        &ident,
        gatehouse::identity::CredentialType::Oidc,
        gatehouse::session::DeviceInfo::default(),
    )
    .await
    .unwrap()
    .token;
    assert_eq!(whoami(&app, &by_password).await.0, 200);
    assert_eq!(whoami(&app, &by_oidc).await.0, 200);
    let r = app
        .http
        .delete(app.admin_url(&format!("/admin/identities/{id}/credentials/password")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(whoami(&app, &by_password).await.0, 401);
    let (status, who) = whoami(&app, &by_oidc).await;
    assert_eq!(status, 200, "{who}");
    assert_eq!(methods(&who), ["oidc"]);
    app.stop().await;
}
