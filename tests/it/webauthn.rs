//! The `webauthn` method over HTTP with the software authenticator: security keys added and
//! removed in settings (native and browser flows), signing in with one at aal2, passwordless
//! sign-up and two-step sign-in at aal1, an imported Kratos credential signing in, and what is
//! refused (wrong origin, a replayed answer, a counter set back, an old session, an unknown
//! account, removing the last way to sign in). Also the start-up check of the relying party.

use serde_json::{Value, json};

use crate::common::flow::{
    api_flow, api_login, browser, csrf, flow_id_from, message_ids, node, node_message_ids, submit,
    submit_with_token,
};
use crate::common::webauthn::{Attestation, SoftAuthenticator};
use crate::common::{
    FIXTURES, Setup, TEST_CONFIG, TestApp, TestDb, expect_error, schemas_yaml, ui_server,
};

const PASSWORD: &str = "a-long-and-good-passphrase-42";
const ORIGIN: &str = "https://login.example.com";

fn yaml(ui: u16, passwordless: bool, privileged: &str) -> String {
    format!(
        "identity:
  default_schema_id: person
  schemas:
    - id: person
      url: file://{FIXTURES}/profiles/identity.schema.json
selfservice:
  default_browser_return_url: http://127.0.0.1:{ui}/welcome
  allowed_return_urls:
    - http://127.0.0.1:{ui}/
  flows:
    login:
      ui_url: http://127.0.0.1:{ui}/login
    registration:
      ui_url: http://127.0.0.1:{ui}/registration
      style: unified
      after:
        webauthn:
          hooks:
            - hook: session
    settings:
      ui_url: http://127.0.0.1:{ui}/settings
      privileged_session_max_age: {privileged}
    error:
      ui_url: http://127.0.0.1:{ui}/error
  methods:
    password:
      config:
        haveibeenpwned_enabled: false
    webauthn:
      enabled: true
      config:
        passwordless: {passwordless}
        rp:
          id: example.com
          display_name: Example
          origins:
            - {ORIGIN}
"
    )
}

async fn start(passwordless: bool, privileged: &str) -> (TestApp, u16) {
    let ui = ui_server().await;
    let app = TestApp::start_with(Setup {
        yaml: yaml(ui, passwordless, privileged),
        ..Default::default()
    })
    .await;
    (app, ui)
}

async fn get(app: &TestApp, path: &str, token: &str) -> (u16, Value) {
    let r = app
        .http
        .get(app.public_url(path))
        .header("X-Session-Token", token)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// The options a trigger button carries.
fn options(flow: &Value, trigger: &str) -> Value {
    let n = node(flow, trigger);
    serde_json::from_str(n["attributes"]["value"].as_str().unwrap())
        .unwrap_or_else(|e| panic!("{trigger} holds no options ({e}): {flow}"))
}

/// The (name, label id) of the webauthn group's nodes, scripts by id.
fn webauthn_nodes(flow: &Value) -> Vec<(String, Option<u64>)> {
    flow["ui"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["group"] == "webauthn")
        .map(|n| {
            let a = &n["attributes"];
            let name = a["name"].as_str().or(a["id"].as_str()).unwrap().to_owned();
            (name, n["meta"]["label"]["id"].as_u64())
        })
        .collect()
}

async fn identity_config(app: &TestApp, id: &str) -> Value {
    let r = app
        .http
        .get(app.admin_url(&format!(
            "/admin/identities/{id}?include_credential=webauthn"
        )))
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    body["credentials"]["webauthn"].clone()
}

#[tokio::test]
async fn security_keys_as_a_second_factor() {
    let (app, ui) = start(false, "1h").await;
    let identity = app
        .create_identity(json!({
            "traits": {"email": "key@example.com"},
            "credentials": {"password": {"config": {"password": PASSWORD}}}
        }))
        .await;
    let id = identity["id"].as_str().unwrap().to_owned();
    let (status, body) = api_login(&app, "key@example.com", PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    let token = body["session_token"].as_str().unwrap().to_owned();

    // A native settings flow offers a new key: its name, the trigger with the options, the
    // answer's input and the script.
    let (_, flow) = get(&app, "/self-service/settings/api", &token).await;
    assert_eq!(
        webauthn_nodes(&flow),
        vec![
            ("webauthn_register_displayname".into(), Some(1050013)),
            ("webauthn_register".into(), None),
            ("webauthn_register_trigger".into(), Some(1050012)),
            ("webauthn_script".into(), None),
        ],
        "{flow}"
    );
    let trigger = node(&flow, "webauthn_register_trigger");
    assert_eq!(
        trigger["attributes"]["onclickTrigger"],
        "oryWebAuthnRegistration"
    );
    let mut key = SoftAuthenticator::new(Attestation::None);
    let answer = key.register(ORIGIN, &options(&flow, "webauthn_register_trigger"));
    let (status, flow) = submit_with_token(
        &app,
        &token,
        &flow,
        json!({"method": "webauthn", "webauthn_register": answer,
               "webauthn_register_displayname": "my key"}),
    )
    .await;
    assert_eq!(status, 200, "{flow}");
    assert_eq!(flow["state"], "success");
    let remove = node(&flow, "webauthn_remove");
    assert_eq!(remove["meta"]["label"]["id"], 1050018);
    assert_eq!(remove["meta"]["label"]["context"]["display_name"], "my key");
    // A fresh challenge for the next key.
    assert!(options(&flow, "webauthn_register_trigger")["publicKey"]["challenge"].is_string());

    // Stored as Kratos stores it: a second factor, the identity's id as user handle, the
    // email (the schema's webauthn identifier) as identifier.
    let cred = identity_config(&app, &id).await;
    assert_eq!(cred["identifiers"], json!(["key@example.com"]), "{cred}");
    let config = &cred["config"];
    assert_eq!(config["credentials"][0]["is_passwordless"], false);
    assert_eq!(config["credentials"][0]["display_name"], "my key");
    use base64::Engine as _;
    let handle = base64::engine::general_purpose::STANDARD
        .encode(uuid::Uuid::parse_str(&id).unwrap().as_bytes());
    assert_eq!(config["user_handle"], handle.as_str());

    // Registering the key used it: that session is aal2 now, as in Kratos.
    let (_, who) = get(&app, "/sessions/whoami", &token).await;
    assert_eq!(who["authenticator_assurance_level"], "aal2", "{who}");
    assert_eq!(who["authentication_methods"][1]["method"], "webauthn");

    // A new password sign-in steps up at aal2: the trigger holds the options of the
    // identity's key.
    let (_, body) = api_login(&app, "key@example.com", PASSWORD).await;
    let token = body["session_token"].as_str().unwrap().to_owned();
    let (_, flow) = get(&app, "/self-service/login/api?aal=aal2", &token).await;
    assert_eq!(flow["requested_aal"], "aal2", "{flow}");
    assert_eq!(
        webauthn_nodes(&flow),
        vec![
            ("webauthn_login".into(), None),
            ("webauthn_script".into(), None),
            ("webauthn_login_trigger".into(), Some(1010008)),
        ],
        "{flow}"
    );
    assert_eq!(
        node(&flow, "webauthn_login_trigger")["attributes"]["onclickTrigger"],
        "oryWebAuthnLogin"
    );
    assert_eq!(node(&flow, "identifier")["attributes"]["type"], "hidden");

    // An answer made for another origin is refused; the flow shows a fresh challenge.
    let first = options(&flow, "webauthn_login_trigger");
    let wrong = key.login("https://evil.example.org", &first);
    let (status, flow) = submit_with_token(
        &app,
        &token,
        &flow,
        json!({"method": "webauthn", "webauthn_login": wrong}),
    )
    .await;
    assert_eq!(status, 400, "{flow}");
    assert_eq!(message_ids(&flow), vec![4000043]);
    let fresh = options(&flow, "webauthn_login_trigger");
    assert_ne!(
        fresh["publicKey"]["challenge"],
        first["publicKey"]["challenge"]
    );

    // The right answer signs in at aal2.
    let good = key.login(ORIGIN, &fresh);
    let (status, body) = submit_with_token(
        &app,
        &token,
        &flow,
        json!({"method": "webauthn", "webauthn_login": good}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // A new session replaces the stepped-up one (`session.hygiene`).
    assert_eq!(app.whoami(&token).await["error"]["code"], 401);
    let token = body["session_token"].as_str().unwrap();
    let who = app.whoami(token).await;
    assert_eq!(who["authenticator_assurance_level"], "aal2", "{who}");
    let methods: Vec<&str> = who["authentication_methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["method"].as_str().unwrap())
        .collect();
    assert_eq!(methods, ["password", "webauthn"]);

    // Another session: the same answer again is refused (its challenge is spent), and so is
    // an authenticator whose counter went back (a clone).
    let (_, body) = api_login(&app, "key@example.com", PASSWORD).await;
    let token2 = body["session_token"].as_str().unwrap().to_owned();
    let (_, flow) = get(&app, "/self-service/login/api?aal=aal2", &token2).await;
    let (status, flow) = submit_with_token(
        &app,
        &token2,
        &flow,
        json!({"method": "webauthn", "webauthn_login": good}),
    )
    .await;
    assert_eq!(status, 400, "{flow}");
    assert_eq!(message_ids(&flow), vec![4000043]);
    key.counter = 0;
    let cloned = key.login(ORIGIN, &options(&flow, "webauthn_login_trigger"));
    let (status, flow) = submit_with_token(
        &app,
        &token2,
        &flow,
        json!({"method": "webauthn", "webauthn_login": cloned}),
    )
    .await;
    assert_eq!(status, 400, "{flow}");
    assert_eq!(message_ids(&flow), vec![4000043]);
    key.counter = 100;
    let (status, body) = submit_with_token(
        &app,
        &token2,
        &flow,
        json!({"method": "webauthn",
               "webauthn_login": key.login(ORIGIN, &options(&flow, "webauthn_login_trigger"))}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let cred = identity_config(&app, &id).await;
    assert_eq!(
        cred["config"]["credentials"][0]["authenticator"]["sign_count"],
        key.counter
    );

    // A browser (form posts, cookies, CSRF) adds a second key and removes the first.
    let b = browser();
    let landing = b
        .get(app.public_url("/self-service/login/browser"))
        .send()
        .await
        .unwrap();
    let lid = flow_id_from(&landing.text().await.unwrap());
    let flow: Value = b
        .get(app.public_url(&format!("/self-service/login/flows?id={lid}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let r = b
        .post(flow["ui"]["action"].as_str().unwrap())
        .form(&[
            ("csrf_token", csrf(&flow).as_str()),
            ("method", "password"),
            ("identifier", "key@example.com"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    // The identity has a second factor: the browser goes on to the aal2 login, which it
    // completes with the first key.
    assert_eq!(r.url().path(), "/login", "{}", r.url());
    let lid = flow_id_from(&r.text().await.unwrap());
    let flow: Value = b
        .get(app.public_url(&format!("/self-service/login/flows?id={lid}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let r = b
        .post(flow["ui"]["action"].as_str().unwrap())
        .form(&[
            ("csrf_token", csrf(&flow).as_str()),
            ("method", "webauthn"),
            (
                "webauthn_login",
                key.login(ORIGIN, &options(&flow, "webauthn_login_trigger"))
                    .as_str(),
            ),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.url().path(), "/welcome", "{}", r.url());
    let landing = b
        .get(app.public_url("/self-service/settings/browser"))
        .send()
        .await
        .unwrap();
    assert_eq!(landing.url().port(), Some(ui));
    let sid = flow_id_from(&landing.text().await.unwrap());
    let flow_url = app.public_url(&format!("/self-service/settings/flows?id={sid}"));
    let flow: Value = b.get(&flow_url).send().await.unwrap().json().await.unwrap();
    let first_id = node(&flow, "webauthn_remove")["attributes"]["value"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut second = SoftAuthenticator::new(Attestation::PackedSelf);
    let answer = second.register(ORIGIN, &options(&flow, "webauthn_register_trigger"));
    b.post(flow["ui"]["action"].as_str().unwrap())
        .form(&[
            ("csrf_token", csrf(&flow).as_str()),
            ("method", "webauthn"),
            ("webauthn_register", answer.as_str()),
            ("webauthn_register_displayname", "second"),
        ])
        .send()
        .await
        .unwrap();
    let flow: Value = b.get(&flow_url).send().await.unwrap().json().await.unwrap();
    assert_eq!(flow["state"], "success", "{flow}");
    let removes = webauthn_nodes(&flow)
        .iter()
        .filter(|(n, _)| n == "webauthn_remove")
        .count();
    assert_eq!(removes, 2, "{flow}");
    b.post(flow["ui"]["action"].as_str().unwrap())
        .form(&[
            ("csrf_token", csrf(&flow).as_str()),
            ("webauthn_remove", first_id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    let flow: Value = b.get(&flow_url).send().await.unwrap().json().await.unwrap();
    assert_eq!(flow["state"], "success", "{flow}");
    let cred = identity_config(&app, &id).await;
    let keys = cred["config"]["credentials"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["display_name"], "second");
    assert_eq!(keys[0]["attestation_type"], "packed");

    // Second-factor keys do not sign in alone: the password stays the last first factor.
    let r = app
        .http
        .delete(app.admin_url(&format!("/admin/identities/{id}/credentials/password")))
        .send()
        .await
        .unwrap();
    let e = expect_error(r, 400).await;
    assert!(
        e["reason"].as_str().unwrap().contains("last first factor"),
        "{e}"
    );
    app.stop().await;
}

#[tokio::test]
async fn changing_keys_needs_a_privileged_session() {
    let (app, _) = start(false, "1s").await;
    app.create_identity(json!({
        "traits": {"email": "old@example.com"},
        "credentials": {"password": {"config": {"password": PASSWORD}}}
    }))
    .await;
    let (_, body) = api_login(&app, "old@example.com", PASSWORD).await;
    let token = body["session_token"].as_str().unwrap().to_owned();
    let (_, flow) = get(&app, "/self-service/settings/api", &token).await;
    let mut key = SoftAuthenticator::new(Attestation::None);
    let answer = key.register(ORIGIN, &options(&flow, "webauthn_register_trigger"));
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let (status, body) = submit_with_token(
        &app,
        &token,
        &flow,
        json!({"method": "webauthn", "webauthn_register": answer}),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["id"], "session_refresh_required");
    app.stop().await;
}

#[tokio::test]
async fn passwordless_sign_up_sign_in_removal_and_import() {
    let (app, _) = start(true, "1h").await;

    // Sign-up: the traits and a key (a native flow; the session hook signs in).
    let flow = api_flow(&app, "registration").await;
    assert_eq!(
        node(&flow, "webauthn_register_trigger")["meta"]["label"]["id"],
        1040004,
        "{flow}"
    );
    let mut key = SoftAuthenticator::new(Attestation::None);
    let answer = key.register(ORIGIN, &options(&flow, "webauthn_register_trigger"));
    let (status, body) = submit(
        &app,
        &flow,
        json!({"method": "webauthn", "traits": {"email": "Free@Example.com"},
               "webauthn_register": answer, "webauthn_register_displayname": "laptop"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let id = body["identity"]["id"].as_str().unwrap().to_owned();
    let cred = identity_config(&app, &id).await;
    assert_eq!(cred["identifiers"], json!(["free@example.com"]), "{cred}");
    assert_eq!(cred["config"]["credentials"][0]["is_passwordless"], true);
    assert!(cred["config"]["user_handle"].is_string());

    // Sign-in, step one: the identifier. An unknown one and one without keys get the same
    // answer.
    app.create_identity(json!({
        "traits": {"email": "pw@example.com"},
        "credentials": {"password": {"config": {"password": PASSWORD}}}
    }))
    .await;
    let flow = api_flow(&app, "login").await;
    assert_eq!(
        node(&flow, "method")["meta"]["label"]["id"],
        json!(1010008),
        "{flow}"
    );
    for nobody in ["nobody@example.com", "pw@example.com"] {
        let (status, body) = submit(
            &app,
            &flow,
            json!({"method": "webauthn", "identifier": nobody}),
        )
        .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(message_ids(&body), vec![4000015], "{body}");
    }
    let (status, flow) = submit(
        &app,
        &flow,
        json!({"method": "webauthn", "identifier": "free@example.com"}),
    )
    .await;
    assert_eq!(status, 400, "{flow}");
    assert_eq!(message_ids(&flow), vec![1010012], "{flow}");
    assert_eq!(
        node(&flow, "webauthn_login_trigger")["meta"]["label"]["id"],
        1010011
    );
    assert_eq!(node(&flow, "identifier")["attributes"]["type"], "hidden");
    // Step two: the key's answer signs in at aal1.
    let answer = key.login(ORIGIN, &options(&flow, "webauthn_login_trigger"));
    let (status, body) = submit(
        &app,
        &flow,
        json!({"method": "webauthn", "identifier": "free@example.com", "webauthn_login": answer}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["session"]["authenticator_assurance_level"], "aal1");
    assert_eq!(
        body["session"]["authentication_methods"][0]["method"],
        "webauthn"
    );
    let token = body["session_token"].as_str().unwrap().to_owned();

    // The only key of an account without a password cannot be removed.
    let (_, flow) = get(&app, "/self-service/settings/api", &token).await;
    let remove = node(&flow, "webauthn_remove").clone();
    assert_eq!(remove["attributes"]["disabled"], true, "{flow}");
    let only = remove["attributes"]["value"].as_str().unwrap().to_owned();
    let (status, flow) = submit_with_token(
        &app,
        &token,
        &flow,
        json!({"method": "webauthn", "webauthn_remove": only}),
    )
    .await;
    assert_eq!(status, 400, "{flow}");
    assert_eq!(node_message_ids(&flow, "webauthn_remove"), vec![4000001]);
    // With a second passwordless key it can.
    let mut phone = SoftAuthenticator::new(Attestation::None);
    let answer = phone.register(ORIGIN, &options(&flow, "webauthn_register_trigger"));
    let (status, flow) = submit_with_token(
        &app,
        &token,
        &flow,
        json!({"method": "webauthn", "webauthn_register": answer,
               "webauthn_register_displayname": "phone"}),
    )
    .await;
    assert_eq!(status, 200, "{flow}");
    let (status, flow) = submit_with_token(
        &app,
        &token,
        &flow,
        json!({"method": "webauthn", "webauthn_remove": only}),
    )
    .await;
    assert_eq!(status, 200, "{flow}");
    let cred = identity_config(&app, &id).await;
    let keys = cred["config"]["credentials"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["display_name"], "phone");
    assert_eq!(keys[0]["is_passwordless"], true);

    // Kratos's stored credential imported through the admin API signs in.
    let config = cred["config"].clone();
    let r = app
        .http
        .delete(app.admin_url(&format!("/admin/identities/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    app.create_identity(json!({
        "traits": {"email": "free@example.com"},
        "credentials": {"webauthn": {"config": config}}
    }))
    .await;
    let flow = api_flow(&app, "login").await;
    let (_, flow) = submit(
        &app,
        &flow,
        json!({"method": "webauthn", "identifier": "free@example.com"}),
    )
    .await;
    let answer = phone.login(ORIGIN, &options(&flow, "webauthn_login_trigger"));
    let (status, body) = submit(
        &app,
        &flow,
        json!({"method": "webauthn", "identifier": "free@example.com", "webauthn_login": answer}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    app.stop().await;
}

/// Two-step registration: the key's nodes come with the credentials screen, whose challenge
/// the flow keeps for the answer.
#[tokio::test]
async fn passwordless_sign_up_in_two_steps() {
    let ui = ui_server().await;
    let app = TestApp::start_with(Setup {
        yaml: yaml(ui, true, "1h").replace("style: unified", "style: profile_first"),
        ..Default::default()
    })
    .await;
    let flow = api_flow(&app, "registration").await;
    let has_trigger = |f: &Value| {
        f["ui"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["attributes"]["name"] == "webauthn_register_trigger")
    };
    assert!(!has_trigger(&flow), "{flow}");
    let (status, creds) = submit(
        &app,
        &flow,
        json!({"method": "profile", "traits": {"email": "two@example.com"}}),
    )
    .await;
    assert_eq!(status, 400, "{creds}");
    assert!(has_trigger(&creds), "{creds}");
    let mut key = SoftAuthenticator::new(Attestation::None);
    let answer = key.register(ORIGIN, &options(&creds, "webauthn_register_trigger"));
    let (status, body) = submit(
        &app,
        &creds,
        json!({"method": "webauthn", "traits": {"email": "two@example.com"},
               "webauthn_register": answer}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["identity"]["traits"]["email"], "two@example.com");

    // A browser signs in with it in two steps: the identifier (back to the login UI with the
    // key's options), then the key's answer.
    let b = browser();
    let landing = b
        .get(app.public_url("/self-service/login/browser"))
        .send()
        .await
        .unwrap();
    let lid = flow_id_from(&landing.text().await.unwrap());
    let flow_url = app.public_url(&format!("/self-service/login/flows?id={lid}"));
    let flow: Value = b.get(&flow_url).send().await.unwrap().json().await.unwrap();
    let r = b
        .post(flow["ui"]["action"].as_str().unwrap())
        .form(&[
            ("csrf_token", csrf(&flow).as_str()),
            ("method", "webauthn"),
            ("identifier", "two@example.com"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.url().path(), "/login", "{}", r.url());
    let flow: Value = b.get(&flow_url).send().await.unwrap().json().await.unwrap();
    assert_eq!(message_ids(&flow), vec![1010012], "{flow}");
    let answer = key.login(ORIGIN, &options(&flow, "webauthn_login_trigger"));
    let r = b
        .post(flow["ui"]["action"].as_str().unwrap())
        .form(&[
            ("csrf_token", csrf(&flow).as_str()),
            ("identifier", "two@example.com"),
            ("webauthn_login", answer.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.url().path(), "/welcome", "{}", r.url());
    let who: Value = b
        .get(app.public_url("/sessions/whoami"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(who["authenticator_assurance_level"], "aal1", "{who}");
    assert_eq!(who["identity"]["traits"]["email"], "two@example.com");
    app.stop().await;
}

/// An enabled method without a usable relying party refuses to start, naming the key.
#[tokio::test]
async fn start_up_refuses_a_missing_relying_party() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let schemas = dir.path().join("schemas.yml");
    std::fs::write(&schemas, schemas_yaml()).unwrap();
    for (extra, key) in [
        (
            "selfservice:\n  methods:\n    webauthn:\n      enabled: true\n",
            "selfservice.methods.webauthn.config.rp.id",
        ),
        (
            "selfservice:\n  methods:\n    webauthn:\n      enabled: true\n      config:\n        rp:\n          id: example.com\n          display_name: Example\n          origins: [\"https://example.org\"]\n",
            "selfservice.methods.webauthn.config.rp.origins",
        ),
        (
            "selfservice:\n  methods:\n    passkey:\n      enabled: true\n",
            "selfservice.methods.passkey.config.rp.id",
        ),
    ] {
        let path = dir.path().join("extra.yml");
        std::fs::write(&path, extra).unwrap();
        let files = vec![std::path::PathBuf::from(TEST_CONFIG), schemas.clone(), path];
        let env = vec![("DSN".to_owned(), db.dsn.clone())];
        let loaded = gatehouse::config::load(&files, &env).expect("the file itself is valid");
        let opts = gatehouse::app::Options {
            dev: true,
            migrate: true,
            ..Default::default()
        };
        let e = match gatehouse::app::start(loaded, opts).await {
            Ok(_) => panic!("started without a relying party: {extra}"),
            Err(e) => format!("{e:#}"),
        };
        assert!(e.contains(key), "{e}");
    }
}

/// A reload that would leave an enabled method without a relying party is refused; the server
/// keeps serving the running configuration.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_without_a_relying_party_is_refused() {
    let valid = format!(
        "selfservice:\n  methods:\n    webauthn:\n      enabled: true\n      config:\n        rp:\n          id: example.com\n          display_name: Example\n          origins: [\"{ORIGIN}\"]\n"
    );
    let mut setup = Setup {
        yaml: valid.clone(),
        ..Setup::default()
    };
    setup.listen.config_poll = std::time::Duration::from_millis(20);
    let app = TestApp::start_with(setup).await;
    let reloads = |outcome: &'static str| {
        let app = &app;
        async move {
            let series = format!("config_reloads_total{{outcome=\"{outcome}\"}} ");
            app.metric(&series).await.map_or(0, |v| v as u64)
        }
    };
    // Replaced in one step, so the watcher never reads half a file.
    let tmp = app.dir.path().join("extra.yml.tmp");
    std::fs::write(
        &tmp,
        valid.replace("          id: example.com\n", "          id: \"\"\n"),
    )
    .unwrap();
    std::fs::rename(&tmp, app.dir.path().join("extra.yml")).unwrap();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while reloads("refused").await < 1 {
        assert!(tokio::time::Instant::now() < deadline, "no refused reload");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(reloads("applied").await, 0);
    app.stop().await;
}
