//! End to end in a real browser: Debian's Chromium with a virtual platform authenticator signs
//! up with a passkey and signs back in with it alone — by the passkey button, then by the
//! identifier field's autofill — through pages rendered from the flows' JSON as a
//! self-service UI renders them (`tests/browser/passkey.cjs`), loading Gatehouse's own
//! WebAuthn script across origins.

use std::time::Duration;

use serde_json::Value;

use crate::common::flow::six_digits;
use crate::common::process::free_port;
use crate::common::smtp::{SmtpServer, plaintext};
use crate::common::{FIXTURES, Setup, TestApp, browser};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passkey_signs_up_and_back_in_in_chromium() {
    // WebAuthn needs a domain for the relying party (no IP addresses) and a secure context
    // (http://localhost is one); the UI and Gatehouse are two origins of one site, as in
    // Kratos's quickstart. The script serves the UI on its port.
    let port = free_port();
    let public = format!("http://localhost:{port}");
    let ui = format!("http://localhost:{}", free_port());
    let yaml = format!(
        r#"
serve:
  public:
    port: {port}
    base_url: {public}/
identity:
  default_schema_id: passkey
  schemas:
    - id: passkey
      url: file://{FIXTURES}/passkey.schema.json
selfservice:
  default_browser_return_url: {ui}/welcome
  allowed_return_urls: ["{ui}"]
  methods:
    password:
      enabled: false
    passkey:
      enabled: true
      config:
        rp:
          id: localhost
          display_name: Gatehouse tests
          origins: ["{ui}"]
  flows:
    error:
      ui_url: {ui}/error
    login:
      ui_url: {ui}/login
    settings:
      ui_url: {ui}/settings
    registration:
      ui_url: {ui}/registration
      after:
        passkey:
          hooks:
            - hook: session
"#
    );
    let app = TestApp::start_with(Setup {
        yaml,
        ..Setup::default()
    })
    .await;
    assert_eq!(app.public_addr().port(), port);
    let email = "ada@example.com";
    let out = browser::run(
        "passkey.cjs",
        &[
            ("GATEHOUSE_PUBLIC", &public),
            ("GATEHOUSE_UI", &ui),
            ("EMAIL", email),
        ],
    )
    .await;

    // Signed up: a session by passkey for the new identity.
    let registered = &out["registered"];
    assert_eq!(registered["status"], 200, "{out}");
    let session = &registered["body"];
    let identity = &session["identity"];
    assert_eq!(identity["traits"]["email"], email);
    assert_eq!(session["authenticator_assurance_level"], "aal1");
    assert_eq!(
        session["authentication_methods"][0]["method"], "passkey",
        "{session}"
    );

    // Signed back in with the passkey alone: the same identity, a new session.
    let signed_in = &out["signed_in"];
    assert_eq!(signed_in["status"], 200, "{out}");
    assert_eq!(signed_in["body"]["identity"]["id"], identity["id"]);
    assert_ne!(signed_in["body"]["id"], session["id"]);
    assert_eq!(
        signed_in["body"]["authentication_methods"][0]["method"],
        "passkey"
    );

    // And once more through the identifier field's autofill (conditional mediation).
    let autofill = &out["autofill"];
    assert_eq!(autofill["status"], 200, "{out}");
    assert_eq!(autofill["body"]["identity"]["id"], identity["id"]);

    // The authenticator holds one discoverable credential for the site, whose user handle and
    // sign counter are what Gatehouse stored.
    let creds = out["credentials"].as_array().unwrap();
    assert_eq!(creds.len(), 1, "{out}");
    let cred = &creds[0];
    assert_eq!(cred["resident"], true);
    assert_eq!(cred["rp_id"], "localhost");
    let stored: Value = app
        .http
        .get(app.admin_url(&format!(
            "/admin/identities/{}?include_credential=passkey",
            identity["id"].as_str().unwrap()
        )))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let config = &stored["credentials"]["passkey"]["config"];
    assert_eq!(config["user_handle"], cred["user_handle"], "{stored}");
    assert_eq!(config["credentials"].as_array().unwrap().len(), 1);
    assert_eq!(
        config["credentials"][0]["authenticator"]["sign_count"], cred["sign_count"],
        "{stored} {cred}"
    );
    assert_eq!(config["credentials"][0]["display_name"], email);
    app.stop().await;
}

/// The first run of a newcomer: no UI configured, so the flows point at the built-in pages,
/// where Chromium signs up, visits settings, signs out, fails a password and signs back in;
/// axe-core checks every page on the way; a German browser gets German pages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_built_in_pages_sign_up_and_in_with_no_ui_configured() {
    let port = free_port();
    let public = format!("http://127.0.0.1:{port}");
    let yaml = format!(
        r#"
serve:
  public:
    port: {port}
selfservice:
  flows:
    registration:
      after:
        password:
          hooks:
            - hook: session
  methods:
    password:
      config:
        haveibeenpwned_enabled: false
"#
    );
    let app = TestApp::start_with(Setup {
        yaml,
        ..Setup::default()
    })
    .await;
    let (email, password) = ("grace@example.com", "a-long-and-good-passphrase-42");
    let out = browser::run(
        "ui.cjs",
        &[
            ("GATEHOUSE_PUBLIC", &public),
            ("EMAIL", email),
            ("PASSWORD", password),
        ],
    )
    .await;
    assert_eq!(out["login_title"], "Sign in · Gatehouse", "{out}");
    // axe-core finds nothing serious or critical on any page the newcomer saw.
    let audited = out["accessibility"].as_object().unwrap();
    assert_eq!(audited.len(), 7, "{out}");
    for (page, violations) in audited {
        assert_eq!(violations, &serde_json::json!([]), "{page}: {violations}");
    }
    let home = out["home"].as_str().unwrap();
    assert!(home.contains(&format!("Signed in as {email}")), "{home}");
    let wrong = out["wrong_password"].as_array().unwrap();
    assert!(
        wrong
            .iter()
            .any(|m| m.as_str().unwrap().contains("credentials are not valid")),
        "{out}"
    );
    assert!(out["signed_in"].as_str().unwrap().contains(email));
    assert!(
        out["profile_saved"][0].as_str().unwrap().contains("saved"),
        "{out}"
    );
    // In German for a German browser, the API unchanged.
    let de = &out["german"];
    assert_eq!(de["lang"], "de", "{out}");
    assert_eq!(de["title"], "Anmelden · Gatehouse");
    assert_eq!(de["button"], "Mit Passwort anmelden");
    assert!(
        de["messages"][0]
            .as_str()
            .unwrap()
            .starts_with("Die Zugangsdaten sind ungültig"),
        "{de}"
    );
    assert!(
        de["api_message"]
            .as_str()
            .unwrap()
            .starts_with("The credentials are not valid"),
        "{de}"
    );
    assert_eq!(out["whoami"]["status"], 200);
    assert_eq!(out["whoami"]["body"]["identity"]["traits"]["email"], email);
    app.stop().await;
}

/// The flows that mail codes, through the built-in pages: sign-up with verification by a code
/// read from the test SMTP server, a password change in settings, recovery by code into
/// settings, sign-in with the new password, and a duplicate sign-up's message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_flows_through_the_built_in_pages() {
    let smtp = SmtpServer::start(0).await;
    let port = free_port();
    let public = format!("http://127.0.0.1:{port}");
    let yaml = format!(
        r#"
serve:
  public:
    port: {port}
watch-courier: true
courier:
  worker:
    pull_wait: 50ms
  smtp:
    connection_uri: "{uri}"
    from_address: noreply@gatehouse.test
selfservice:
  flows:
    registration:
      after:
        password:
          hooks:
            - hook: session
            - hook: show_verification_ui
    recovery:
      enabled: true
      use: code
    verification:
      enabled: true
      use: code
  methods:
    password:
      config:
        haveibeenpwned_enabled: false
"#,
        uri = smtp.uri()
    );
    let app = TestApp::start_with(Setup {
        yaml,
        ..Setup::default()
    })
    .await;
    let email = "hedy@example.com";
    let new_password = "a-brand-new-passphrase-31";
    let mut mails = 0;
    let out = browser::converse(
        "mail.cjs",
        &[
            ("GATEHOUSE_PUBLIC", &public),
            ("EMAIL", email),
            ("PASSWORD", "a-long-and-good-passphrase-42"),
            ("NEW_PASSWORD", new_password),
        ],
        |question| {
            assert_eq!(question, format!("code {email}"));
            mails += 1;
            let wanted = mails;
            let smtp = &smtp;
            async move {
                let got = smtp.wait_for(wanted, Duration::from_secs(20)).await;
                let mail = got.last().unwrap();
                assert_eq!(mail.to, [email]);
                six_digits(&plaintext(mail))
            }
        },
    )
    .await;
    let first = |key: &str| out[key][0].as_str().unwrap_or_default().to_owned();
    assert!(
        first("verification_sent").contains("verification code"),
        "{out}"
    );
    assert!(first("verified").contains("verified"), "{out}");
    assert!(first("settings_saved").contains("saved"), "{out}");
    assert!(first("recovery_sent").contains("code"), "{out}");
    assert!(
        first("recovered").contains("recovered your account"),
        "{out}"
    );
    assert!(first("new_password_saved").contains("saved"), "{out}");
    assert!(out["home"].as_str().unwrap().contains(email), "{out}");
    assert!(
        first("duplicate").contains("already uses this identifier"),
        "{out}"
    );
    // axe-core finds nothing serious or critical on the mail-borne flows' pages either.
    let audited = out["accessibility"].as_object().unwrap();
    assert_eq!(audited.len(), 4, "{out}");
    for (page, violations) in audited {
        assert_eq!(violations, &serde_json::json!([]), "{page}: {violations}");
    }
    // The address was verified by the code from the mail.
    let list: Value = app
        .http
        .get(app.admin_url(&format!("/admin/identities?credentials_identifier={email}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list[0]["verifiable_addresses"][0]["verified"], true);
    app.stop().await;
}

/// Identifier-first login through the built-in pages: who first, then that account's
/// password; axe-core checks both screens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identifier_first_sign_in_through_the_built_in_pages() {
    let port = free_port();
    let public = format!("http://127.0.0.1:{port}");
    let yaml = format!(
        "serve:\n  public:\n    port: {port}\nselfservice:\n  flows:\n    login:\n      style: identifier_first\n"
    );
    let app = TestApp::start_with(Setup {
        yaml,
        ..Setup::default()
    })
    .await;
    let (email, password) = ("ida@example.com", "a-long-and-good-passphrase-42");
    app.create_identity(serde_json::json!({
        "schema_id": "customer",
        "traits": {"email": email},
        "credentials": {"password": {"config": {"password": password}}},
    }))
    .await;
    let out = browser::run(
        "idfirst.cjs",
        &[
            ("GATEHOUSE_PUBLIC", &public),
            ("EMAIL", email),
            ("PASSWORD", password),
        ],
    )
    .await;
    assert_eq!(out["first"], serde_json::json!(["identifier"]), "{out}");
    assert_eq!(out["second"], serde_json::json!(["password"]), "{out}");
    assert!(out["home"].as_str().unwrap().contains(email), "{out}");
    for (screen, violations) in out["accessibility"].as_object().unwrap() {
        assert_eq!(violations, &serde_json::json!([]), "{screen}: {violations}");
    }
    app.stop().await;
}
