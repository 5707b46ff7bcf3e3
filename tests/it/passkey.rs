//! The `passkey` method over HTTP with a software authenticator: signing up with a passkey
//! (browser form in one step, single-page app in two steps, native app), signing in without an
//! identifier (the counter stored), adding and removing passkeys in settings (never the last
//! way in, only with a privileged session), an imported Kratos passkey signing in, and the
//! answers refused: wrong origin, replayed, cloned authenticator, unknown passkey.

use serde_json::{Value, json};

use gatehouse::config::PasskeyMethod;
use gatehouse::selfservice::strategy::webauthn_ceremony::{
    Ceremony, RelyingParty, StoredCredentials, User, new_passkey_user_handle,
};

use crate::common::flow::{
    api_flow, browser, csrf, flow_id_from, message_ids, no_redirects, node, submit,
    submit_with_token,
};
use crate::common::webauthn::{Attestation, SoftAuthenticator};
use crate::common::{FIXTURES, Setup, TestApp, expect_error, ui_server};

/// The origin the browser runs the ceremonies at (the relying party's, not the test server's:
/// the authenticator signs whatever origin its browser reports).
const ORIGIN: &str = "http://localhost:4455";
const PASSWORD: &str = "a-long-and-good-passphrase-42";
/// A registration form's passkey nodes in the order registration flows sort them (the
/// webauthn group's script first).
const REGISTRATION_NODES: [&str; 4] = [
    "webauthn_script",
    "passkey_register_trigger",
    "passkey_register",
    "passkey_create_data",
];

fn yaml(ui: u16, registration: &str, settings: &str) -> String {
    format!(
        "identity:
  default_schema_id: passkey
  schemas:
    - id: passkey
      url: file://{FIXTURES}/passkey.schema.json
selfservice:
  default_browser_return_url: http://127.0.0.1:{ui}/welcome
  flows:
    login:
      ui_url: http://127.0.0.1:{ui}/login
    registration:
      ui_url: http://127.0.0.1:{ui}/registration
{registration}      after:
        passkey:
          hooks:
            - hook: session
    settings:
      ui_url: http://127.0.0.1:{ui}/settings
      required_aal: aal1
{settings}    error:
      ui_url: http://127.0.0.1:{ui}/error
  methods:
    password:
      config:
        haveibeenpwned_enabled: false
    passkey:
      enabled: true
      config:
        rp:
          id: localhost
          display_name: Gatehouse
          origins:
            - {ORIGIN}
"
    )
}

/// Two-step registration (Kratos's default).
async fn start() -> (TestApp, u16) {
    start_with("", "").await
}

async fn start_with(registration: &str, settings: &str) -> (TestApp, u16) {
    let ui = ui_server().await;
    let app = TestApp::start_with(Setup {
        yaml: yaml(ui, registration, settings),
        ..Default::default()
    })
    .await;
    (app, ui)
}

/// A hidden node's value: the JSON text the browser script parses, parsed.
fn parsed(flow: &Value, name: &str) -> Value {
    serde_json::from_str(
        node(flow, name)["attributes"]["value"]
            .as_str()
            .unwrap_or_else(|| panic!("{name} has no value in {flow}")),
    )
    .unwrap()
}

/// The passkey group's nodes (and the script), by name or id, in order.
fn passkey_nodes(flow: &Value) -> Vec<String> {
    flow["ui"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["group"] == "passkey" || n["attributes"]["id"] == "webauthn_script")
        .map(|n| {
            n["attributes"]["name"]
                .as_str()
                .or(n["attributes"]["id"].as_str())
                .unwrap()
                .to_owned()
        })
        .collect()
}

/// A single-page app's view of a new browser flow of `kind`.
async fn spa_flow(c: &reqwest::Client, app: &TestApp, kind: &str) -> Value {
    let r = c
        .get(app.public_url(&format!("/self-service/{kind}/browser")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

async fn post(c: &reqwest::Client, flow: &Value, body: Value) -> (u16, Value) {
    let r = c
        .post(flow["ui"]["action"].as_str().unwrap())
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// The identity's `passkey` credential as the admin API shows it, with its config.
async fn passkey_credential(app: &TestApp, id: &str) -> Value {
    let v: Value = app
        .http
        .get(app.admin_url(&format!(
            "/admin/identities/{id}?include_credential=passkey"
        )))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["credentials"]["passkey"].clone()
}

/// Signs up through a native registration flow with a new passkey on `auth`; the answer.
async fn api_register(app: &TestApp, auth: &mut SoftAuthenticator, email: &str) -> Value {
    let flow = api_flow(app, "registration").await;
    let data = parsed(&flow, "passkey_create_data");
    let answer = auth.register(ORIGIN, &data["credentialOptions"]);
    let (status, v) = submit(
        app,
        &flow,
        json!({"method": "passkey", "traits": {"email": email}, "passkey_register": answer}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    v
}

/// Signs in through a native login flow with `auth`'s passkey: the status and answer.
async fn api_login(app: &TestApp, auth: &mut SoftAuthenticator) -> (u16, Value) {
    let flow = api_flow(app, "login").await;
    let answer = auth.login(ORIGIN, &parsed(&flow, "passkey_challenge"));
    submit(
        app,
        &flow,
        json!({"method": "passkey", "passkey_login": answer}),
    )
    .await
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

async fn password_token(app: &TestApp, email: &str) -> String {
    let (status, v) = crate::common::flow::api_login(app, email, PASSWORD).await;
    assert_eq!(status, 200, "{v}");
    v["session_token"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_step_browser_sign_up_then_discoverable_sign_in() {
    let (app, ui) = start_with("      style: unified\n", "").await;
    let b = browser();
    let landing = b
        .get(app.public_url("/self-service/registration/browser"))
        .send()
        .await
        .unwrap();
    let id = flow_id_from(&landing.text().await.unwrap());
    let flow: Value = b
        .get(app.public_url(&format!("/self-service/registration/flows?id={id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // Kratos's nodes: the options with the trait the passkey is named after, the script, the
    // answer's field and the button the UI renders.
    assert_eq!(passkey_nodes(&flow), REGISTRATION_NODES);
    let trigger = &node(&flow, "passkey_register_trigger")["attributes"];
    assert_eq!(trigger["type"], "button");
    assert_eq!(trigger["onclickTrigger"], "oryPasskeyRegistration");
    assert_eq!(trigger["onclick"], "window.oryPasskeyRegistration()");
    assert_eq!(
        node(&flow, "passkey_register_trigger")["meta"]["label"]["id"],
        1040007
    );
    assert_eq!(
        node(&flow, "passkey_register")["attributes"]["type"],
        "hidden"
    );
    let data = parsed(&flow, "passkey_create_data");
    assert_eq!(data["displayNameFieldName"], "traits.email");
    let options = &data["credentialOptions"]["publicKey"];
    assert_eq!(options["rp"]["id"], "localhost");
    assert_eq!(options["authenticatorSelection"]["residentKey"], "required");
    // The script submits the form as it is (every input, no button): the answer without a
    // `method`.
    let mut auth = SoftAuthenticator::new(Attestation::PackedSelf);
    let answer = auth.register(ORIGIN, &data["credentialOptions"]);
    let create_data = node(&flow, "passkey_create_data")["attributes"]["value"]
        .as_str()
        .unwrap()
        .to_owned();
    let done = b
        .post(flow["ui"]["action"].as_str().unwrap())
        .form(&[
            ("csrf_token", csrf(&flow).as_str()),
            ("traits.email", "Pia@Example.com"),
            ("password", ""),
            ("passkey_create_data", create_data.as_str()),
            ("passkey_register", answer.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(done.url().port(), Some(ui));
    assert_eq!(done.url().path(), "/welcome");
    let whoami: Value = b
        .get(app.public_url("/sessions/whoami"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(whoami["authenticator_assurance_level"], "aal1");
    assert_eq!(whoami["authentication_methods"][0]["method"], "passkey");
    let identity_id = whoami["identity"]["id"].as_str().unwrap().to_owned();
    // Stored as Kratos does: the user handle is the identifier, the passkey named after the
    // display-name trait.
    let cred = passkey_credential(&app, &identity_id).await;
    let stored: StoredCredentials = serde_json::from_value(cred["config"].clone()).unwrap();
    let handle = String::from_utf8(stored.user_handle.clone().unwrap()).unwrap();
    assert_eq!(handle.len(), 64);
    assert_eq!(cred["identifiers"], json!([handle]));
    assert_eq!(stored.credentials.len(), 1);
    assert_eq!(stored.credentials[0].display_name, "Pia@Example.com");
    assert_eq!(stored.credentials[0].attestation_type, "packed");
    assert!(stored.credentials[0].is_passwordless);

    // Sign-in by a single-page app: no identifier, the passkey names the account.
    let c = no_redirects(true);
    let login = spa_flow(&c, &app, "login").await;
    assert_eq!(
        passkey_nodes(&login),
        [
            "webauthn_script",
            "passkey_login_trigger",
            "passkey_login",
            "passkey_challenge"
        ]
    );
    let identifier = &node(&login, "identifier")["attributes"];
    assert_eq!(identifier["autocomplete"], "username webauthn");
    let hidden = &node(&login, "passkey_login")["attributes"];
    assert_eq!(hidden["onloadTrigger"], "oryPasskeyLoginAutocompleteInit");
    assert_eq!(hidden["onload"], "window.oryPasskeyLoginAutocompleteInit()");
    let trigger = &node(&login, "passkey_login_trigger");
    assert_eq!(trigger["attributes"]["onclickTrigger"], "oryPasskeyLogin");
    assert_eq!(trigger["attributes"]["value"], "");
    assert_eq!(trigger["meta"]["label"]["id"], 1010021);
    let challenge = parsed(&login, "passkey_challenge");
    // Discoverable: no credentials named.
    assert!(
        challenge["publicKey"]["allowCredentials"]
            .as_array()
            .is_none_or(Vec::is_empty)
    );
    let answer = auth.login(ORIGIN, &challenge);
    let (status, v) = post(
        &c,
        &login,
        json!({
            "csrf_token": csrf(&login),
            "identifier": "",
            "passkey_challenge": challenge.to_string(),
            "passkey_login": answer,
        }),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["session"]["identity"]["id"], identity_id.as_str());
    assert_eq!(v["session"]["authenticator_assurance_level"], "aal1");
    assert_eq!(
        v["session"]["authentication_methods"][0]["method"],
        "passkey"
    );
    // The advanced counter is stored.
    let cred = passkey_credential(&app, &identity_id).await;
    assert_eq!(
        cred["config"]["credentials"][0]["authenticator"]["sign_count"],
        auth.counter
    );

    // The same answer once more, on a new flow: its challenge is another, so it is refused,
    // and that flow still works with the fresh challenge it shows.
    let c = no_redirects(true);
    let login = spa_flow(&c, &app, "login").await;
    let (status, refused) = post(
        &c,
        &login,
        json!({"csrf_token": csrf(&login), "passkey_login": answer}),
    )
    .await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(message_ids(&refused), [4000043]);
    let fresh = parsed(&refused, "passkey_challenge");
    assert_ne!(fresh, parsed(&login, "passkey_challenge"));
    let (status, v) = post(
        &c,
        &refused,
        json!({"csrf_token": csrf(&refused), "passkey_login": auth.login(ORIGIN, &fresh)}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_step_sign_up_offers_the_passkey_on_the_credentials_screen() {
    let (app, _) = start().await;
    let c = no_redirects(true);
    let flow = spa_flow(&c, &app, "registration").await;
    assert!(passkey_nodes(&flow).is_empty(), "{flow}");
    let (status, screen) = post(
        &c,
        &flow,
        json!({"method": "profile", "csrf_token": csrf(&flow), "traits": {"email": "two@example.com"}}),
    )
    .await;
    assert_eq!(status, 400, "{screen}");
    assert_eq!(passkey_nodes(&screen), REGISTRATION_NODES);
    let mut auth = SoftAuthenticator::new(Attestation::None);
    let data = parsed(&screen, "passkey_create_data");
    let (status, done) = post(
        &c,
        &screen,
        json!({
            "csrf_token": csrf(&screen),
            "traits": {"email": "two@example.com"},
            "passkey_register": auth.register(ORIGIN, &data["credentialOptions"]),
        }),
    )
    .await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["identity"]["traits"]["email"], "two@example.com");
    assert_eq!(
        done["session"]["authentication_methods"][0]["method"],
        "passkey"
    );
    // Signed in with it afterwards.
    let (status, v) = api_login(&app, &mut auth).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["session"]["identity"]["id"], done["identity"]["id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_apps_sign_up_and_in_with_passkeys() {
    let (app, _) = start_with("      style: unified\n", "").await;
    let mut auth = SoftAuthenticator::new(Attestation::None);
    let done = api_register(&app, &mut auth, "native@example.com").await;
    let token = done["session_token"].as_str().unwrap();
    assert_eq!(
        app.whoami(token).await["authentication_methods"][0]["method"],
        "passkey"
    );
    let (status, v) = api_login(&app, &mut auth).await;
    assert_eq!(status, 200, "{v}");
    let token = v["session_token"].as_str().unwrap();
    let whoami = app.whoami(token).await;
    assert_eq!(whoami["identity"]["id"], done["identity"]["id"]);
    assert_eq!(whoami["authenticator_assurance_level"], "aal1");
    // A second sign-up is another identity: another user handle.
    let mut other = SoftAuthenticator::new(Attestation::None);
    let second = api_register(&app, &mut other, "second@example.com").await;
    let (_, v) = api_login(&app, &mut other).await;
    assert_eq!(v["session"]["identity"]["id"], second["identity"]["id"]);
    // An address that has an account already: refused after the passkey was verified, the
    // form offers a fresh challenge to try again with another address.
    let flow = api_flow(&app, "registration").await;
    let mut third = SoftAuthenticator::new(Attestation::None);
    let data = parsed(&flow, "passkey_create_data");
    let (status, refused) = submit(
        &app,
        &flow,
        json!({
            "method": "passkey",
            "traits": {"email": "native@example.com"},
            "passkey_register": third.register(ORIGIN, &data["credentialOptions"]),
        }),
    )
    .await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(message_ids(&refused), [4000007]);
    let fresh = parsed(&refused, "passkey_create_data");
    let mut third = SoftAuthenticator::new(Attestation::None);
    let (status, done) = submit(
        &app,
        &flow,
        json!({
            "method": "passkey",
            "traits": {"email": "third@example.com"},
            "passkey_register": third.register(ORIGIN, &fresh["credentialOptions"]),
        }),
    )
    .await;
    assert_eq!(status, 200, "{done}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_answers_leave_the_flow_usable() {
    let (app, _) = start_with("      style: unified\n", "").await;
    // A registration answered at another origin.
    let flow = api_flow(&app, "registration").await;
    let mut auth = SoftAuthenticator::new(Attestation::None);
    let data = parsed(&flow, "passkey_create_data");
    let wrong = auth.register("http://localhost:9999", &data["credentialOptions"]);
    let body = |answer: &str| json!({"method": "passkey", "traits": {"email": "o@example.com"}, "passkey_register": answer});
    let (status, refused) = submit(&app, &flow, body(&wrong)).await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(message_ids(&refused), [4000043]);
    assert_eq!(
        node(&refused, "traits.email")["attributes"]["value"],
        "o@example.com"
    );
    // The answer to the spent challenge is refused too; the fresh one works.
    let (status, again) = submit(&app, &flow, body(&wrong)).await;
    assert_eq!(status, 400, "{again}");
    let fresh = parsed(&refused, "passkey_create_data");
    assert_ne!(fresh, data);
    let mut auth = SoftAuthenticator::new(Attestation::None);
    let answer = auth.register(ORIGIN, &fresh["credentialOptions"]);
    let (status, done) = submit(&app, &flow, body(&answer)).await;
    assert_eq!(status, 400, "a spent challenge: {done}");
    let latest = parsed(&done, "passkey_create_data");
    let mut auth = SoftAuthenticator::new(Attestation::None);
    let answer = auth.register(ORIGIN, &latest["credentialOptions"]);
    let (status, done) = submit(&app, &flow, body(&answer)).await;
    assert_eq!(status, 200, "{done}");

    // A sign-in answered at another origin.
    let login = api_flow(&app, "login").await;
    let wrong = auth.login(
        "http://evil.localhost:4455",
        &parsed(&login, "passkey_challenge"),
    );
    let (status, refused) = submit(
        &app,
        &login,
        json!({"method": "passkey", "passkey_login": wrong}),
    )
    .await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(message_ids(&refused), [4000043]);
    let answer = auth.login(ORIGIN, &parsed(&refused, "passkey_challenge"));
    let (status, v) = submit(
        &app,
        &login,
        json!({"method": "passkey", "passkey_login": answer}),
    )
    .await;
    assert_eq!(status, 200, "{v}");

    // A cloned authenticator: its counter does not advance past the stored one.
    auth.counter = 0;
    let (status, v) = api_login(&app, &mut auth).await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(message_ids(&v), [4000043]);
    auth.counter = 100;
    let (status, v) = api_login(&app, &mut auth).await;
    assert_eq!(status, 200, "{v}");

    // A passkey this server never registered (the sign-up was not finished).
    let mut stranger = SoftAuthenticator::new(Attestation::None);
    let flow = api_flow(&app, "registration").await;
    stranger.register(
        ORIGIN,
        &parsed(&flow, "passkey_create_data")["credentialOptions"],
    );
    let (status, v) = api_login(&app, &mut stranger).await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(message_ids(&v), [4000015]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_add_and_remove_passkeys() {
    let (app, _) = start().await;
    let email = "set@example.com";
    let created = app
        .create_identity(json!({
            "traits": {"email": email},
            "credentials": {"password": {"config": {"password": PASSWORD}}}
        }))
        .await;
    let id = created["id"].as_str().unwrap();
    let token = password_token(&app, email).await;
    let flow = api_settings(&app, &token).await;
    assert_eq!(
        passkey_nodes(&flow),
        [
            "webauthn_script",
            "passkey_register_trigger",
            "passkey_settings_register",
            "passkey_create_data"
        ]
    );
    let trigger = &node(&flow, "passkey_register_trigger");
    assert_eq!(
        trigger["attributes"]["onclickTrigger"],
        "oryPasskeySettingsRegistration"
    );
    assert_eq!(trigger["meta"]["label"]["id"], 1050019);
    // The options as they are (the script adds no name): the user is the display-name trait.
    let options = parsed(&flow, "passkey_create_data");
    assert_eq!(options["publicKey"]["user"]["name"], email);

    let mut first = SoftAuthenticator::new(Attestation::None);
    let (status, saved) = submit_with_token(
        &app,
        &token,
        &flow,
        json!({"method": "passkey", "passkey_settings_register": first.register(ORIGIN, &options)}),
    )
    .await;
    assert_eq!(status, 200, "{saved}");
    let cred = passkey_credential(&app, id).await;
    let stored: StoredCredentials = serde_json::from_value(cred["config"].clone()).unwrap();
    let handle = String::from_utf8(stored.user_handle.clone().unwrap()).unwrap();
    assert_eq!(cred["identifiers"], json!([handle]));
    let first_id = gatehouse::hash::lower_hex(&stored.credentials[0].id);
    // The saved flow offers removing it, and adding another with a fresh challenge that
    // excludes it.
    let remove = node(&saved, "passkey_remove");
    assert_eq!(remove["attributes"]["value"], first_id.as_str());
    assert_eq!(remove["attributes"]["disabled"], false);
    assert_eq!(remove["meta"]["label"]["id"], 1050020);
    assert_eq!(remove["meta"]["label"]["context"]["display_name"], email);
    let options = parsed(&saved, "passkey_create_data");
    assert_eq!(
        options["publicKey"]["excludeCredentials"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let (status, v) = api_login(&app, &mut first).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["session"]["identity"]["id"], id);

    // A second passkey, on the same flow: the identity keeps its one user handle.
    let mut second = SoftAuthenticator::new(Attestation::None);
    let (status, saved) = submit_with_token(
        &app,
        &token,
        &saved,
        json!({"method": "passkey", "passkey_settings_register": second.register(ORIGIN, &options)}),
    )
    .await;
    assert_eq!(status, 200, "{saved}");
    let cred = passkey_credential(&app, id).await;
    assert_eq!(cred["identifiers"], json!([handle]));
    assert_eq!(cred["config"]["credentials"].as_array().unwrap().len(), 2);

    // Removing the first: the button carries no method.
    let (status, saved) =
        submit_with_token(&app, &token, &saved, json!({"passkey_remove": first_id})).await;
    assert_eq!(status, 200, "{saved}");
    let cred = passkey_credential(&app, id).await;
    assert_eq!(cred["config"]["credentials"].as_array().unwrap().len(), 1);
    // Its authenticator still answers for the account, but with a passkey it no longer has.
    let (status, v) = api_login(&app, &mut first).await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(message_ids(&v), [4000013]);
    let (status, _) = api_login(&app, &mut second).await;
    assert_eq!(status, 200);
    // A passkey that does not exist.
    let (status, v) = submit_with_token(
        &app,
        &token,
        &saved,
        json!({"method": "passkey", "passkey_remove": "00ff"}),
    )
    .await;
    assert_eq!(status, 400, "{v}");
}

/// A passkey registered elsewhere, in Kratos's stored format, as an operator imports it.
fn kratos_passkey(auth: &mut SoftAuthenticator) -> Value {
    let method: PasskeyMethod = serde_json::from_value(json!({
        "enabled": true,
        "config": {"rp": {"id": "localhost", "display_name": "Old", "origins": [ORIGIN]}},
    }))
    .unwrap();
    let rp = RelyingParty::for_passkey(&method).unwrap();
    let handle = new_passkey_user_handle();
    let user = User {
        handle: &handle,
        name: "imp@example.com",
        display_name: "imp@example.com",
    };
    let (options, state) = rp
        .start_registration(Ceremony::Passkey, &user, &[])
        .unwrap();
    let answer = auth.register(ORIGIN, &options);
    let registered = rp
        .finish_registration(state, &answer, "imp@example.com", chrono::Utc::now())
        .unwrap();
    serde_json::to_value(StoredCredentials {
        credentials: vec![registered.credential],
        user_handle: Some(registered.user_handle),
    })
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_imported_passkey_signs_in_and_the_last_one_stays() {
    let (app, _) = start().await;
    let mut auth = SoftAuthenticator::new(Attestation::None);
    let config = kratos_passkey(&mut auth);
    let created = app
        .create_identity(json!({
            "traits": {"email": "imp@example.com"},
            "credentials": {"passkey": {"config": config}}
        }))
        .await;
    let id = created["id"].as_str().unwrap();
    let (status, v) = api_login(&app, &mut auth).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["session"]["identity"]["id"], id);
    let token = v["session_token"].as_str().unwrap().to_owned();
    // Its only way in: the remove button is disabled, and a removal is refused.
    let flow = api_settings(&app, &token).await;
    let remove = node(&flow, "passkey_remove");
    assert_eq!(remove["attributes"]["disabled"], true);
    let value = remove["attributes"]["value"].as_str().unwrap().to_owned();
    let (status, refused) = submit_with_token(
        &app,
        &token,
        &flow,
        json!({"method": "passkey", "passkey_remove": value}),
    )
    .await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(message_ids(&refused), [4000001]);
    let cred = passkey_credential(&app, id).await;
    assert_eq!(cred["config"]["credentials"].as_array().unwrap().len(), 1);
    // Kratos's admin API does not delete passkeys either.
    let r = app
        .http
        .delete(app.admin_url(&format!("/admin/identities/{id}/credentials/passkey")))
        .send()
        .await
        .unwrap();
    expect_error(r, 400).await;
    // An import without the user handle could never be found by a sign-in.
    let r = app
        .http
        .post(app.admin_url("/admin/identities"))
        .json(&json!({
            "traits": {"email": "nohandle@example.com"},
            "credentials": {"passkey": {"config": {"credentials": config["credentials"]}}}
        }))
        .send()
        .await
        .unwrap();
    expect_error(r, 400).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_changes_need_a_privileged_session() {
    let (app, _) = start_with("", "      privileged_session_max_age: 1s\n").await;
    let email = "old@example.com";
    app.create_identity(json!({
        "traits": {"email": email},
        "credentials": {"password": {"config": {"password": PASSWORD}}}
    }))
    .await;
    let token = password_token(&app, email).await;
    let flow = api_settings(&app, &token).await;
    let options = parsed(&flow, "passkey_create_data");
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let mut auth = SoftAuthenticator::new(Attestation::None);
    let (status, v) = submit_with_token(
        &app,
        &token,
        &flow,
        json!({"method": "passkey", "passkey_settings_register": auth.register(ORIGIN, &options)}),
    )
    .await;
    assert_eq!(status, 403, "{v}");
    assert_eq!(v["error"]["id"], "session_refresh_required");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_challenge_answers_once_even_at_the_same_time() {
    let (app, _) = start_with("      style: unified\n", "").await;
    let mut auth = SoftAuthenticator::new(Attestation::None);
    api_register(&app, &mut auth, "race@example.com").await;
    let login = api_flow(&app, "login").await;
    let answer = auth.login(ORIGIN, &parsed(&login, "passkey_challenge"));
    let body = json!({"method": "passkey", "passkey_login": answer});
    let (a, b) = tokio::join!(
        submit(&app, &login, body.clone()),
        submit(&app, &login, body.clone())
    );
    let signed_in = [a.0, b.0].iter().filter(|s| **s == 200).count();
    assert_eq!(signed_in, 1, "{} {}", a.1, b.1);
    // And never again afterwards.
    let (status, _) = submit(&app, &login, body).await;
    assert_ne!(status, 200);
}
