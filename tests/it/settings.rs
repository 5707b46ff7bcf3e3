//! The settings flow: profile and password changes for browsers (cookies, CSRF, form posts,
//! redirects) and native apps (session tokens), privileged sessions with the refresh login,
//! verification mail for changed addresses over real SMTP, and recovery continuing into it.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::flow::{
    api_login, browser, csrf, find_six_digits, flow_id_from, message_ids, no_redirects, node,
    node_message_ids, submit_with_token,
};
use crate::common::smtp::{SmtpServer, plaintext};
use crate::common::{Setup, TestApp, expect_error, ui_server};

const WAIT: Duration = Duration::from_secs(20);
const EMAIL: &str = "settler@example.com";
const PASSWORD: &str = "a-long-and-good-passphrase-42";

fn yaml(ui: u16, smtp: &SmtpServer, settings: &str) -> String {
    format!(
        "watch-courier: true
courier:
  worker:
    pull_wait: 50ms
  smtp:
    connection_uri: \"{uri}\"
    from_address: noreply@gatehouse.test
selfservice:
  default_browser_return_url: http://127.0.0.1:{ui}/welcome
  allowed_return_urls:
    - http://127.0.0.1:{ui}/
  flows:
    login:
      ui_url: http://127.0.0.1:{ui}/login
    registration:
      ui_url: http://127.0.0.1:{ui}/registration
    settings:
      ui_url: http://127.0.0.1:{ui}/settings
{settings}    recovery:
      enabled: true
      use: code
      ui_url: http://127.0.0.1:{ui}/recovery
    verification:
      enabled: true
      use: code
      ui_url: http://127.0.0.1:{ui}/verification
    error:
      ui_url: http://127.0.0.1:{ui}/error
  methods:
    password:
      config:
        haveibeenpwned_enabled: false
",
        uri = smtp.uri()
    )
}

struct Env {
    app: TestApp,
    ui: u16,
    mail: SmtpServer,
}

async fn start(settings: &str) -> Env {
    let mail = SmtpServer::start(0).await;
    let ui = ui_server().await;
    let app = TestApp::start_with(Setup {
        yaml: yaml(ui, &mail, settings),
        ..Default::default()
    })
    .await;
    Env { app, ui, mail }
}

async fn create(app: &TestApp, email: &str, username: &str) -> Value {
    app.create_identity(json!({
        "schema_id": "customer",
        "traits": {"email": email, "username": username},
        "credentials": {"password": {"config": {"password": PASSWORD}}}
    }))
    .await
}

async fn token_for(app: &TestApp, identifier: &str, password: &str) -> String {
    let (status, v) = api_login(app, identifier, password).await;
    assert_eq!(status, 200, "{v}");
    v["session_token"].as_str().unwrap().to_owned()
}

/// Signs a browser in through the login UI; ends where the login sends it.
async fn browser_login(app: &TestApp, b: &reqwest::Client, start: &str) -> reqwest::Response {
    let landing = b.get(start).send().await.unwrap();
    let id = flow_id_from(&landing.text().await.unwrap());
    let flow: Value = b
        .get(app.public_url(&format!("/self-service/login/flows?id={id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    b.post(flow["ui"]["action"].as_str().unwrap())
        .form(&[
            ("csrf_token", csrf(&flow).as_str()),
            ("method", "password"),
            ("identifier", EMAIL),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap()
}

async fn api_settings(app: &TestApp, token: &str) -> Value {
    let r = app
        .http
        .get(app.public_url("/self-service/settings/api"))
        .header("X-Session-Token", token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

async fn get_flow(b: &reqwest::Client, app: &TestApp, id: &str) -> Value {
    let r = b
        .get(app.public_url(&format!("/self-service/settings/flows?id={id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_changes_profile_and_password() {
    let Env { app, ui, mail } = start("").await;
    let created = create(&app, EMAIL, "settler").await;
    let b = browser();
    let r = browser_login(&app, &b, &app.public_url("/self-service/login/browser")).await;
    assert_eq!(r.url().path(), "/welcome");

    // Start: the browser lands on the settings UI, which reads the flow with its cookies.
    let landing = b
        .get(app.public_url("/self-service/settings/browser"))
        .send()
        .await
        .unwrap();
    assert_eq!(landing.url().port(), Some(ui));
    assert_eq!(landing.url().path(), "/settings");
    let id = flow_id_from(&landing.text().await.unwrap());
    let flow = get_flow(&b, &app, &id).await;
    assert_eq!(flow["type"], "browser");
    assert_eq!(flow["state"], "show_form");
    assert_eq!(flow["identity"]["id"], created["id"]);
    assert!(flow["issued_at"].is_string() && flow["expires_at"].is_string());
    let email = node(&flow, "traits.email");
    assert_eq!(email["group"], "profile");
    assert_eq!(email["attributes"]["value"], EMAIL);
    assert_eq!(email["attributes"]["type"], "email");
    let pw = node(&flow, "password");
    assert_eq!(pw["group"], "password");
    assert_eq!(pw["attributes"]["autocomplete"], "new-password");
    let methods: Vec<&Value> = flow["ui"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["attributes"]["name"] == "method")
        .collect();
    assert_eq!(methods.len(), 2);
    assert_eq!(methods[0]["attributes"]["value"], "profile");
    assert_eq!(methods[0]["group"], "profile");
    assert_eq!(methods[1]["attributes"]["value"], "password");
    assert_eq!(methods[1]["meta"]["label"]["id"], 1070003);
    assert_eq!(flow["ui"]["nodes"][0]["attributes"]["name"], "csrf_token");
    let action = flow["ui"]["action"].as_str().unwrap().to_owned();
    assert!(action.ends_with(&format!("/self-service/settings?flow={id}")));

    // Invalid traits: back to the form, the reasons on their nodes, nothing saved.
    let r = b
        .post(&action)
        .form(&[
            ("csrf_token", csrf(&flow).as_str()),
            ("method", "profile"),
            ("traits.email", "a@"),
            ("traits.username", "settler"),
            ("traits.age", "-3"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.url().path(), "/settings");
    let bad = get_flow(&b, &app, &id).await;
    assert_eq!(bad["state"], "show_form");
    assert!(
        node_message_ids(&bad, "traits.email").contains(&4000003),
        "{bad}"
    );
    assert!(
        node_message_ids(&bad, "traits.age").contains(&4000018),
        "{bad}"
    );
    assert_eq!(bad["identity"]["traits"]["email"], EMAIL);

    // Without the CSRF token: refused.
    let r = b
        .post(&action)
        .header("accept", "application/json")
        .form(&[("method", "profile"), ("traits.email", EMAIL)])
        .send()
        .await
        .unwrap();
    assert_eq!(expect_error(r, 403).await["id"], "security_csrf_violation");

    // A new username and a new email: saved, the new address unverified and mailed.
    let r = b
        .post(&action)
        .form(&[
            ("csrf_token", csrf(&bad).as_str()),
            ("method", "profile"),
            ("traits.email", "moved@example.com"),
            ("traits.username", "renamed"),
            ("traits.age", "40"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.url().path(), "/settings");
    assert_eq!(flow_id_from(r.url().as_str()), id);
    let saved = get_flow(&b, &app, &id).await;
    assert_eq!(saved["state"], "success", "{saved}");
    assert_eq!(message_ids(&saved), [1050001]);
    assert_eq!(saved["ui"]["messages"][0]["type"], "success");
    assert_eq!(saved["identity"]["traits"]["username"], "renamed");
    assert_eq!(saved["identity"]["traits"]["age"], 40);
    assert_eq!(saved["identity"]["traits"]["email"], "moved@example.com");
    let addr = &saved["identity"]["verifiable_addresses"][0];
    assert_eq!(addr["value"], "moved@example.com");
    assert_eq!(addr["verified"], false);
    let received = mail.wait_for(1, WAIT).await;
    assert_eq!(received[0].to, ["moved@example.com"]);
    assert!(find_six_digits(&plaintext(&received[0])).is_some());
    // The new email signs in; the old one no longer does.
    assert_eq!(api_login(&app, "moved@example.com", PASSWORD).await.0, 200);
    assert_eq!(api_login(&app, EMAIL, PASSWORD).await.0, 400);

    // A password equal to the identifier: Kratos's policy message on the password node.
    let r = b
        .post(&action)
        .form(&[
            ("csrf_token", csrf(&saved).as_str()),
            ("method", "password"),
            ("password", "moved@example.com"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.url().path(), "/settings");
    let bad = get_flow(&b, &app, &id).await;
    assert_eq!(bad["state"], "show_form");
    assert!(
        node_message_ids(&bad, "password").contains(&4000031),
        "{bad}"
    );
    assert!(
        node(&bad, "password")["attributes"]
            .get("value")
            .is_none_or(|v| v.is_null() || v == ""),
        "passwords are never echoed"
    );

    // A good new password: the old one stops working, the new one signs in.
    let r = b
        .post(&action)
        .form(&[
            ("csrf_token", csrf(&bad).as_str()),
            ("method", "password"),
            ("password", "an-entirely-new-passphrase-7"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.url().path(), "/settings");
    let done = get_flow(&b, &app, &id).await;
    assert_eq!(done["state"], "success");
    assert_eq!(message_ids(&done), [1050001]);
    assert_eq!(api_login(&app, "moved@example.com", PASSWORD).await.0, 400);
    assert_eq!(
        api_login(&app, "moved@example.com", "an-entirely-new-passphrase-7")
            .await
            .0,
        200
    );
    // The browser's own session survives the change.
    assert_eq!(
        b.get(app.public_url("/sessions/whoami"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_app_settings_and_access_rules() {
    let Env { app, .. } = start("").await;
    create(&app, EMAIL, "settler").await;
    create(&app, "other@example.com", "other").await;
    let token = token_for(&app, EMAIL, PASSWORD).await;
    let other = token_for(&app, "other@example.com", PASSWORD).await;

    // No session: 401 for native and JSON clients, a login redirect for browsers.
    let r = app
        .http
        .get(app.public_url("/self-service/settings/api"))
        .send()
        .await
        .unwrap();
    assert_eq!(expect_error(r, 401).await["id"], "session_inactive");
    let r = no_redirects(false)
        .get(app.public_url("/self-service/settings/browser"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let loc = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        loc.starts_with(&app.public_url("/self-service/login/browser?return_to=")),
        "{loc}"
    );
    assert!(loc.contains("settings%2Fbrowser"), "{loc}");
    let r = no_redirects(true)
        .get(app.public_url("/self-service/settings/browser"))
        .send()
        .await
        .unwrap();
    assert_eq!(expect_error(r, 401).await["id"], "session_inactive");

    let flow = api_settings(&app, &token).await;
    assert_eq!(flow["type"], "api");
    assert_eq!(flow["state"], "show_form");
    assert_eq!(csrf(&flow), "");
    let id = flow["id"].as_str().unwrap().to_owned();
    // Reading and submitting need the session, and the flow's own identity.
    let r = app
        .http
        .get(app.public_url(&format!("/self-service/settings/flows?id={id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(expect_error(r, 401).await["id"], "session_inactive");
    let r = app
        .http
        .get(app.public_url(&format!("/self-service/settings/flows?id={id}")))
        .header("X-Session-Token", &other)
        .send()
        .await
        .unwrap();
    assert_eq!(
        expect_error(r, 403).await["id"],
        "security_identity_mismatch"
    );
    let r = app
        .http
        .post(flow["ui"]["action"].as_str().unwrap())
        .header("X-Session-Token", &other)
        .json(&json!({"method": "password", "password": "hijacked-passphrase-123"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        expect_error(r, 403).await["id"],
        "security_identity_mismatch"
    );
    let r = app
        .http
        .post(flow["ui"]["action"].as_str().unwrap())
        .json(&json!({"method": "password", "password": "hijacked-passphrase-123"}))
        .send()
        .await
        .unwrap();
    assert_eq!(expect_error(r, 401).await["id"], "session_inactive");
    assert_eq!(api_login(&app, EMAIL, PASSWORD).await.0, 200);

    // Invalid traits: 400 with the flow, the message on the node.
    let (status, bad) = submit_with_token(
        &app,
        &token,
        &flow,
        json!({"method": "profile", "traits": {"email": EMAIL, "age": "old"}}),
    )
    .await;
    assert_eq!(status, 400, "{bad}");
    assert!(
        node_message_ids(&bad, "traits.age").contains(&4000026),
        "{bad}"
    );
    // An unknown method.
    let (status, bad) =
        submit_with_token(&app, &token, &flow, json!({"method": "carrier-pigeon"})).await;
    assert_eq!(status, 400);
    assert_eq!(message_ids(&bad), [4010004]);
    // A valid change.
    let (status, saved) = submit_with_token(
        &app,
        &token,
        &flow,
        json!({"method": "profile", "traits": {"email": EMAIL, "username": "native"}}),
    )
    .await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(saved["state"], "success");
    assert_eq!(message_ids(&saved), [1050001]);
    assert_eq!(saved["identity"]["traits"]["username"], "native");
    // As in Kratos, an address never mailed yet (created by the admin API) is mailed now …
    assert_eq!(saved["continue_with"][0]["action"], "show_verification_ui");
    assert_eq!(
        saved["continue_with"][0]["flow"]["verifiable_address"],
        EMAIL
    );
    // … and only once.
    let (status, again) = submit_with_token(
        &app,
        &token,
        &flow,
        json!({"method": "profile", "traits": {"email": EMAIL, "username": "native", "age": 7}}),
    )
    .await;
    assert_eq!(status, 200, "{again}");
    assert!(again.get("continue_with").is_none(), "{again}");
    // Too short a password.
    let (status, bad) = submit_with_token(
        &app,
        &token,
        &flow,
        json!({"method": "password", "password": "short"}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        node_message_ids(&bad, "password").contains(&4000032),
        "{bad}"
    );
    let (status, saved) = submit_with_token(
        &app,
        &token,
        &flow,
        json!({"method": "password", "password": "native-new-passphrase-99"}),
    )
    .await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(
        api_login(&app, EMAIL, "native-new-passphrase-99").await.0,
        200
    );
    assert_eq!(api_login(&app, EMAIL, PASSWORD).await.0, 400);
    // A browser-looking request on an API flow is refused.
    let r = app
        .http
        .post(flow["ui"]["action"].as_str().unwrap())
        .header("X-Session-Token", &token)
        .header("Origin", "http://evil.example")
        .json(&json!({"method": "password", "password": "yet-another-passphrase-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_flows_answer_410() {
    let Env { app, .. } = start("      lifespan: 1s\n").await;
    create(&app, EMAIL, "settler").await;
    let token = token_for(&app, EMAIL, PASSWORD).await;
    let flow = api_settings(&app, &token).await;
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let r = app
        .http
        .post(flow["ui"]["action"].as_str().unwrap())
        .header("X-Session-Token", &token)
        .json(&json!({"method": "password", "password": "never-saved-passphrase-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 410);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["id"], "self_service_flow_expired");
    let new_id = v["use_flow_id"].as_str().unwrap();
    assert_ne!(new_id, flow["id"].as_str().unwrap());
    let r = app
        .http
        .get(app.public_url(&format!("/self-service/settings/flows?id={new_id}")))
        .header("X-Session-Token", &token)
        .send()
        .await
        .unwrap();
    let fresh: Value = r.json().await.unwrap();
    assert_eq!(message_ids(&fresh), [4050001]);
    let r = app
        .http
        .get(app.public_url(&format!(
            "/self-service/settings/flows?id={}",
            flow["id"].as_str().unwrap()
        )))
        .header("X-Session-Token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        expect_error(r, 410).await["id"],
        "self_service_flow_expired"
    );
    // Nothing was saved.
    assert_eq!(api_login(&app, EMAIL, PASSWORD).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_sessions_must_sign_in_again_for_privileged_changes() {
    let Env { app, ui, .. } = start("      privileged_session_max_age: 2s\n").await;
    create(&app, EMAIL, "settler").await;
    // One cookie jar, two clients: one follows redirects, one shows them.
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let b = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .build()
        .unwrap();
    let raw = reqwest::Client::builder()
        .cookie_provider(jar)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    browser_login(&app, &b, &app.public_url("/self-service/login/browser")).await;
    let landing = b
        .get(app.public_url("/self-service/settings/browser"))
        .send()
        .await
        .unwrap();
    let id = flow_id_from(&landing.text().await.unwrap());
    let flow = get_flow(&b, &app, &id).await;
    let action = flow["ui"]["action"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(2300)).await;

    // An old session may still change traits that are no identifiers or addresses …
    let r = b
        .post(&action)
        .header("accept", "application/json")
        .form(&[
            ("csrf_token", csrf(&flow).as_str()),
            ("method", "profile"),
            ("traits.email", EMAIL),
            ("traits.username", "settler"),
            ("traits.age", "33"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // … but not an identifier (the username signs in too), nor the password.
    let r = b
        .post(&action)
        .header("accept", "application/json")
        .form(&[
            ("csrf_token", csrf(&flow).as_str()),
            ("method", "profile"),
            ("traits.email", EMAIL),
            ("traits.username", "someone-else"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["id"], "session_refresh_required");
    let r = b
        .post(&action)
        .header("accept", "application/json")
        .form(&[
            ("csrf_token", csrf(&flow).as_str()),
            ("method", "password"),
            ("password", "refreshed-passphrase-31"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["id"], "session_refresh_required");
    let to = v["redirect_browser_to"].as_str().unwrap().to_owned();
    assert!(
        to.starts_with(&app.public_url("/self-service/login/browser?refresh=true&return_to=")),
        "{to}"
    );
    assert!(to.contains(&id), "returns to this flow: {to}");
    // A plain form post is redirected there.
    let r = raw
        .post(&action)
        .form(&[
            ("csrf_token", csrf(&flow).as_str()),
            ("method", "password"),
            ("password", "refreshed-passphrase-31"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"].to_str().unwrap(), to);
    assert_eq!(
        api_login(&app, EMAIL, PASSWORD).await.0,
        200,
        "nothing changed"
    );

    // The refresh login: same session, then back to this settings flow in the UI.
    let r = browser_login(&app, &b, &to).await;
    assert_eq!(r.url().port(), Some(ui), "{}", r.url());
    assert_eq!(r.url().path(), "/settings");
    assert_eq!(flow_id_from(r.url().as_str()), id);
    let r = b
        .post(&action)
        .header("accept", "application/json")
        .form(&[
            ("csrf_token", csrf(&flow).as_str()),
            ("method", "password"),
            ("password", "refreshed-passphrase-31"),
        ])
        .send()
        .await
        .unwrap();
    let status = r.status();
    let v: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["state"], "success");
    assert_eq!(
        api_login(&app, EMAIL, "refreshed-passphrase-31").await.0,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_continues_into_settings() {
    let Env { app, ui, .. } = start("").await;
    let created = create(&app, EMAIL, "settler").await;
    let iid = created["id"].as_str().unwrap();

    // Native: the session token and the settings flow come in continue_with.
    let r = app
        .http
        .post(app.admin_url("/admin/recovery/code"))
        .json(&json!({"identity_id": iid, "flow_type": "api"}))
        .send()
        .await
        .unwrap();
    let code: Value = r.json().await.unwrap();
    let fid = flow_id_from(code["recovery_link"].as_str().unwrap());
    let r = app
        .http
        .post(app.public_url(&format!("/self-service/recovery?flow={fid}")))
        .json(&json!({"method": "code", "code": code["recovery_code"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let done: Value = r.json().await.unwrap();
    let cw = done["continue_with"].as_array().unwrap();
    assert_eq!(cw[0]["action"], "set_ory_session_token");
    assert_eq!(cw[1]["action"], "show_settings_ui");
    let token = cw[0]["ory_session_token"].as_str().unwrap().to_owned();
    let sid = cw[1]["flow"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        cw[1]["flow"]["url"],
        format!("http://127.0.0.1:{ui}/settings?flow={sid}")
    );
    let r = app
        .http
        .get(app.public_url(&format!("/self-service/settings/flows?id={sid}")))
        .header("X-Session-Token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let flow: Value = r.json().await.unwrap();
    assert_eq!(flow["type"], "api");
    assert_eq!(flow["identity"]["id"], iid);
    assert_eq!(message_ids(&flow), [1060001]);
    let (status, saved) = submit_with_token(
        &app,
        &token,
        &flow,
        json!({"method": "password", "password": "recovered-passphrase-5"}),
    )
    .await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(message_ids(&saved), [1050001]);
    assert_eq!(
        api_login(&app, EMAIL, "recovered-passphrase-5").await.0,
        200
    );

    // Browser, from the mailed link opened in a fresh browser: it lands on the settings flow.
    let r = app
        .http
        .post(app.admin_url("/admin/recovery/code"))
        .json(&json!({"identity_id": iid}))
        .send()
        .await
        .unwrap();
    let code: Value = r.json().await.unwrap();
    let fid = flow_id_from(code["recovery_link"].as_str().unwrap());
    let b = browser();
    let r = b
        .post(app.public_url(&format!("/self-service/recovery?flow={fid}")))
        .form(&[
            ("method", "code"),
            ("code", code["recovery_code"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.url().port(), Some(ui));
    assert_eq!(r.url().path(), "/settings");
    let sid = flow_id_from(r.url().as_str());
    let flow = get_flow(&b, &app, &sid).await;
    assert_eq!(flow["type"], "browser");
    assert_eq!(message_ids(&flow), [1060001]);
    let r = b
        .post(flow["ui"]["action"].as_str().unwrap())
        .form(&[
            ("csrf_token", csrf(&flow).as_str()),
            ("method", "password"),
            ("password", "browser-recovered-pass-8"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.url().path(), "/settings");
    assert_eq!(get_flow(&b, &app, &sid).await["state"], "success");
    assert_eq!(
        api_login(&app, EMAIL, "browser-recovered-pass-8").await.0,
        200
    );
    assert_eq!(
        api_login(&app, EMAIL, "recovered-passphrase-5").await.0,
        400
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_change_revokes_other_sessions_when_configured() {
    let Env { app, .. } = start(
        "      after:\n        password:\n          hooks:\n            - hook: revoke_active_sessions\n",
    )
    .await;
    create(&app, EMAIL, "settler").await;
    let mine = token_for(&app, EMAIL, PASSWORD).await;
    let elsewhere = token_for(&app, EMAIL, PASSWORD).await;
    let whoami = |t: String| {
        let http = app.http.clone();
        let url = app.public_url("/sessions/whoami");
        async move {
            http.get(url)
                .header("X-Session-Token", t)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    // A profile change does not revoke anything.
    let flow = api_settings(&app, &mine).await;
    let (status, _) = submit_with_token(
        &app,
        &mine,
        &flow,
        json!({"method": "profile", "traits": {"email": EMAIL, "username": "x1"}}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(whoami(elsewhere.clone()).await, 200);
    let (status, _) = submit_with_token(
        &app,
        &mine,
        &flow,
        json!({"method": "password", "password": "revoking-passphrase-77"}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(whoami(mine).await, 200);
    assert_eq!(whoami(elsewhere).await, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_web_hooks_interrupt_and_observe_changes() {
    let rx = crate::common::receiver::Receiver::start().await;
    // base64 of: function(ctx) { username: ctx.identity.traits.username, flow: ctx.flow.id }
    let body = format!(
        "base64://{}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            "function(ctx) { username: ctx.identity.traits.username, flow: ctx.flow.id }"
        )
    );
    let Env { app, .. } = start(&format!(
        "      after:\n        profile:\n          hooks:\n            - hook: web_hook\n              config:\n                \
         url: {url}\n                method: POST\n                body: {body}\n                can_interrupt: true\n",
        url = rx.url("/profile")
    ))
    .await;
    create(&app, EMAIL, "settler").await;
    let token = token_for(&app, EMAIL, PASSWORD).await;

    // The hook refuses: its message lands on the username node and nothing is saved.
    rx.answer(
        422,
        r##"{"messages":[{"instance_ptr":"#/traits/username","messages":[{"id":1234,"text":"That name is reserved.","type":"error"}]}]}"##,
    );
    let flow = api_settings(&app, &token).await;
    let (status, refused) = submit_with_token(
        &app,
        &token,
        &flow,
        json!({"method": "profile", "traits": {"email": EMAIL, "username": "admin"}}),
    )
    .await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(node_message_ids(&refused, "traits.username"), [1234]);
    let got = rx.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(
        got[0].json(),
        json!({"username": "admin", "flow": flow["id"]})
    );
    let me = app.whoami(&token).await;
    assert_eq!(me["identity"]["traits"]["username"], "settler");

    // The hook agrees: the change is saved.
    rx.answer(200, "{}");
    let (status, saved) = submit_with_token(
        &app,
        &token,
        &refused,
        json!({"method": "profile", "traits": {"email": EMAIL, "username": "settled"}}),
    )
    .await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(saved["identity"]["traits"]["username"], "settled");
    assert_eq!(rx.requests().len(), 2);
    // Whoami (answered from the cache before) shows the change at once.
    let me = app.whoami(&token).await;
    assert_eq!(me["identity"]["traits"]["username"], "settled");
}
