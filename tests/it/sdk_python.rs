//! Ory's published Python SDK decodes every answer: its pydantic models refuse any field, node
//! or enum value their release does not know (the latest, 25.4.0, lacks `autocomplete:
//! username`, which current Kratos sends). `tests/sdk/decode.py` walks login (wrong and right
//! password), registration (refused traits), settings (every method's nodes, a refused
//! password), recovery, verification, logout and the admin API as a native app and an
//! operator do, with every method Gatehouse has switched on.

use serde_json::json;

use crate::common::{Setup, TestApp, python_sdk};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_published_python_sdk_decodes_every_flow_and_the_admin_api() {
    let yaml = r#"
secrets:
  cipher:
    - this-cipher-secret-is-32-chars!!
ciphers:
  algorithm: xchacha20-poly1305
session:
  whoami:
    required_aal: aal1
selfservice:
  flows:
    recovery:
      enabled: true
      use: code
    verification:
      enabled: true
      use: code
    settings:
      required_aal: aal1
  methods:
    password:
      config:
        haveibeenpwned_enabled: false
    code:
      passwordless_enabled: true
    link:
      enabled: true
    totp:
      enabled: true
    lookup_secret:
      enabled: true
    webauthn:
      enabled: true
      config:
        rp: {id: localhost, display_name: Gatehouse tests, origins: ["http://localhost:4455"]}
    passkey:
      enabled: true
      config:
        rp: {id: localhost, display_name: Gatehouse tests, origins: ["http://localhost:4455"]}
    oidc:
      enabled: true
      config:
        providers:
          - id: the-idp
            provider: generic
            client_id: c
            client_secret: s
            issuer_url: http://127.0.0.1:9/
            mapper_url: file:///dev/null
"#;
    let app = TestApp::start_with(Setup {
        yaml: yaml.into(),
        ..Setup::default()
    })
    .await;
    let (email, password) = ("sdk@example.com", "a-long-and-good-passphrase-42");
    app.create_identity(json!({
        "schema_id": "customer",
        "traits": {"email": email},
        "credentials": {"password": {"config": {"password": password}}},
    }))
    .await;
    let out = python_sdk::run("decode.py", &[&app.public, &app.admin, email, password]).await;
    assert_eq!(out["sdk"], "v25.4.0");
    assert_eq!(out["failed"], json!({}), "{out:#}");
    // Every step ran (none was skipped for want of an earlier one).
    assert_eq!(out["decoded"].as_array().unwrap().len(), 26, "{out:#}");
    app.stop().await;
}
