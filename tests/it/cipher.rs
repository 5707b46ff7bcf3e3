//! OIDC provider tokens at rest: stored encrypted with `ciphers.algorithm` under
//! `secrets.cipher`, shown decrypted by the admin API only with `include_credential=oidc`.

use gatehouse::cipher::Cipher;
use gatehouse::config::{CipherAlgorithm, Config};
use serde_json::{Value, json};

use crate::common::{Setup, TestApp};

const OLD_KEY: &str = "old-cipher-key-00000000000000032";
const NEW_KEY: &str = "new-cipher-key-00000000000000032";
const GONE_KEY: &str = "rotated-away-cipher-key-00000032";

fn cipher(algorithm: CipherAlgorithm, keys: &[&str]) -> Cipher {
    let mut cfg = Config::default();
    cfg.ciphers.algorithm = algorithm;
    cfg.secrets.cipher = keys.iter().map(|k| (*k).to_owned()).collect();
    Cipher::from_config(&cfg)
}

async fn get(app: &TestApp, path: &str) -> Value {
    let r = app.http.get(app.admin_url(path)).send().await.unwrap();
    let status = r.status();
    let v: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "GET {path}: {v}");
    v
}

/// Imports an identity with two OIDC providers, writes encrypted tokens into its credential row
/// as the OIDC strategy stores them (one under the old key, one under the new, one under a key
/// no longer configured), and reads them back through the admin API.
async fn tokens_are_declassified(algorithm: CipherAlgorithm, name: &str) {
    let app = TestApp::start_with(Setup {
        yaml: format!(
            "secrets:\n  cipher: [{NEW_KEY}, {OLD_KEY}]\nciphers:\n  algorithm: {name}\n"
        ),
        ..Setup::default()
    })
    .await;
    let created = app
        .create_identity(json!({
            "traits": { "email": format!("tokens-{name}@example.com") },
            "credentials": { "oidc": { "config": { "providers": [
                { "provider": "google", "subject": "g-1" },
                { "provider": "github", "subject": "42", "use_auto_link": true },
            ] } } },
        }))
        .await;
    let id = created["id"].as_str().unwrap();

    let old = cipher(algorithm, &[OLD_KEY]);
    let new = cipher(algorithm, &[NEW_KEY]);
    let gone = cipher(algorithm, &[GONE_KEY]);
    let config = json!({ "providers": [
        {
            "subject": "g-1",
            "provider": "google",
            "initial_id_token": old.encrypt_str("id-token-google").unwrap(),
            "initial_access_token": new.encrypt_str("access-token-google").unwrap(),
            "initial_refresh_token": gone.encrypt_str("refresh-token-google").unwrap(),
        },
        {
            "subject": "42",
            "provider": "github",
            "use_auto_link": true,
            "initial_id_token": "",
            "initial_access_token": new.encrypt_str("access-token-github").unwrap(),
            "initial_refresh_token": "",
        },
    ] });
    let stored = config.to_string();
    assert!(!stored.contains("token-google") && !stored.contains("token-github"));
    app.exec_sql(&format!(
        "UPDATE identity_credentials SET config = '{stored}' \
         WHERE identity_id = '{id}' AND credential_type = 'oidc'"
    ))
    .await;

    let expected = json!({ "providers": [
        {
            "subject": "g-1",
            "provider": "google",
            "initial_id_token": "id-token-google",
            "initial_access_token": "access-token-google",
            // Its key was rotated away: empty, as Kratos shows it, not an error.
            "initial_refresh_token": "",
        },
        {
            "subject": "42",
            "provider": "github",
            "use_auto_link": true,
            "initial_id_token": "",
            "initial_access_token": "access-token-github",
            "initial_refresh_token": "",
        },
    ] });
    let one = get(
        &app,
        &format!("/admin/identities/{id}?include_credential=oidc"),
    )
    .await;
    assert_eq!(one["credentials"]["oidc"]["config"], expected, "{one}");
    let page = get(&app, "/admin/identities?include_credential=oidc").await;
    assert_eq!(page[0]["credentials"]["oidc"]["config"], expected, "{page}");

    // Without include_credential no token leaves the server, encrypted or not.
    for (path, body) in [
        (
            format!("/admin/identities/{id}"),
            get(&app, &format!("/admin/identities/{id}")).await,
        ),
        (
            format!("/admin/identities/{id}?include_credential=password"),
            get(
                &app,
                &format!("/admin/identities/{id}?include_credential=password"),
            )
            .await,
        ),
        (
            "/admin/identities".to_owned(),
            get(&app, "/admin/identities").await,
        ),
    ] {
        let text = body.to_string();
        assert!(!text.contains("initial_"), "{path}: {text}");
        assert!(!text.contains("token-google"), "{path}: {text}");
    }
    assert_eq!(
        get(&app, &format!("/admin/identities/{id}")).await["credentials"]["oidc"]["config"],
        json!({})
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aes_tokens_are_shown_decrypted_only_when_included() {
    tokens_are_declassified(CipherAlgorithm::Aes, "aes").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xchacha_tokens_are_shown_decrypted_only_when_included() {
    tokens_are_declassified(CipherAlgorithm::Xchacha20Poly1305, "xchacha20-poly1305").await;
}
