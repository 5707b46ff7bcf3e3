//! Kratos's end-to-end profiles (`test/e2e/profiles/*/.kratos.yml` over its base file), as our
//! own fixtures with the same keys and shapes: each starts, answers ready on both ports and
//! creates a login flow. Features not built yet are reported as unsupported, never fatal.

use std::path::PathBuf;

use gatehouse::app;
use serde_json::Value;

use crate::common::{FIXTURES, TestApp, TestDb};

/// Serves the profiles' identity schema over HTTP, for the profile that loads one from a URL.
async fn schema_server() -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let body = std::fs::read_to_string(format!("{FIXTURES}/profiles/identity.schema.json"))
        .expect("profile identity schema");
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let _ = s.read(&mut buf).await;
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(resp.as_bytes()).await;
            });
        }
    });
    format!("http://127.0.0.1:{port}")
}

/// Starts the server on the profile's file alone, as `kratos serve --dev -c <profile>` would,
/// with the listeners moved to ephemeral loopback ports and the database given by the harness.
/// Returns the server and the keys reported as unsupported.
async fn start_profile(name: &str) -> (TestApp, Vec<String>) {
    let text = std::fs::read_to_string(format!("{FIXTURES}/profiles/{name}.yml"))
        .unwrap_or_else(|e| panic!("profile {name}: {e}"))
        .replace("@FIXTURES@", FIXTURES)
        .replace("@SCHEMA_SERVER@", &schema_server().await);
    let dir = tempfile::tempdir().expect("tempdir");
    let file: PathBuf = dir.path().join(format!("{name}.yml"));
    std::fs::write(&file, text).unwrap();

    let db = TestDb::new().await;
    let env: Vec<(String, String)> = [
        ("DSN", db.dsn.as_str()),
        ("SERVE_PUBLIC_HOST", "127.0.0.1"),
        ("SERVE_PUBLIC_PORT", "0"),
        ("SERVE_ADMIN_HOST", "127.0.0.1"),
        ("SERVE_ADMIN_PORT", "0"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let loaded = gatehouse::config::load(&[file], &env)
        .unwrap_or_else(|e| panic!("profile {name} does not load: {e}"));
    let unsupported = loaded.unsupported.clone();
    let running = app::start(
        loaded,
        app::Options {
            dev: true,
            migrate: true,
            ..app::Options::default()
        },
    )
    .await
    .unwrap_or_else(|e| panic!("profile {name} does not start: {e:#}"));
    let app = TestApp {
        public: format!("http://{}", running.public_addr),
        admin: format!("http://{}", running.admin_addr),
        running: Some(running),
        http: reqwest::Client::new(),
        db,
        dir,
    };
    (app, unsupported)
}

/// Starts the profile, checks the reported keys, readiness and that a `flow` flow can be
/// created; hands the server back for more checks.
async fn starts_and_serves(name: &str, flow: &str, reported: &[&str]) -> TestApp {
    let (app, unsupported) = start_profile(name).await;
    for key in reported {
        assert!(
            unsupported.iter().any(|k| k == key),
            "profile {name}: {key} is not reported as unsupported: {unsupported:?}"
        );
    }
    for url in [
        app.public_url("/health/ready"),
        app.admin_url("/health/ready"),
    ] {
        let r = app.http.get(&url).send().await.unwrap();
        assert_eq!(r.status(), 200, "profile {name}: {url}");
    }
    let r = app
        .http
        .get(app.public_url(&format!("/self-service/{flow}/api")))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "profile {name}: {flow} flow: {body}");
    assert!(body["id"].is_string(), "profile {name}: {body}");
    assert!(
        body["ui"]["nodes"]
            .as_array()
            .is_some_and(|n| !n.is_empty()),
        "profile {name}: {body}"
    );
    app
}

macro_rules! profiles {
    ($($test:ident: $name:literal reports [$($key:literal),* $(,)?];)*) => {$(
        #[tokio::test(flavor = "multi_thread")]
        async fn $test() {
            starts_and_serves($name, "login", &[$($key),*]).await.stop().await;
        }
    )*};
}

profiles! {
    code: "code" reports ["selfservice.methods.code.login_enabled", "selfservice.methods.code.registration_enabled"];
    email: "email" reports [];
    mfa: "mfa" reports [];
    mfa_optional: "mfa-optional" reports [];
    mobile: "mobile" reports [];
    oidc: "oidc" reports [];
    oidc_provider: "oidc-provider" reports ["oauth2_provider"];
    oidc_provider_mfa: "oidc-provider-mfa" reports ["oauth2_provider"];
    passkey: "passkey" reports [];
    passwordless: "passwordless" reports [];
    recovery: "recovery" reports [];
    recovery_mfa: "recovery-mfa" reports [];
    spa: "spa" reports [];
    two_steps: "two-steps" reports [];
    verification: "verification" reports [];
    webhooks: "webhooks" reports [];
}

/// Kratos's network profile gives its `login.before` web hook a body file that does not exist:
/// that stops no start-up (Kratos reads bodies when a hook runs), only the flows running it.
#[tokio::test(flavor = "multi_thread")]
async fn network() {
    let app = starts_and_serves("network", "registration", &[]).await;
    let r = app
        .http
        .get(app.public_url("/self-service/login/api"))
        .send()
        .await
        .unwrap();
    let e = crate::common::expect_error(r, 500).await;
    assert_eq!(
        e["details"]["hook"], "selfservice.flows.login.before.hooks[0]",
        "{e}"
    );
    app.stop().await;
}
