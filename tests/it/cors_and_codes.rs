//! CORS that cannot be opened by accident (credentials never go with an origin anyone can
//! obtain) and one-time codes and links that live ten minutes unless configured otherwise, with
//! the validity stated in the mail.

use std::time::Duration;

use serde_json::json;

use crate::common::flow::{api_flow, submit};
use crate::common::process::free_port;
use crate::common::smtp::{SmtpServer, plaintext};
use crate::common::{Setup, TestApp, binary};

const WAIT: Duration = Duration::from_secs(20);

const LISTED: &str = "serve:\n  public:\n    cors:\n      enabled: true\n      allowed_origins: [\"https://app.example.com\"]\n";
const OPEN: &str = "serve:\n  public:\n    cors:\n      enabled: true\n      allowed_origins: [\"https://app.example.com\", \"*\"]\n";

#[test]
fn serve_refuses_any_origin_with_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    for yaml in [
        // Kratos's defaults: `*` and credentials.
        "serve:\n  public:\n    cors:\n      enabled: true\n",
        OPEN,
        "serve:\n  public:\n    cors:\n      enabled: true\n      allow_credentials: true\n      allowed_origins: [\"https://*\"]\n",
    ] {
        let f = dir.path().join("cors.yml");
        std::fs::write(&f, yaml).unwrap();
        let o = std::process::Command::new(binary())
            .current_dir(dir.path())
            .args(["serve", "-c", f.to_str().unwrap()])
            .env("DSN", "memory")
            .env("SERVE_PUBLIC_PORT", port.to_string())
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(!o.status.success(), "{yaml} should be refused");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("serve.public.cors.allowed_origins[")
                && err.contains("serve.public.cors.allow_credentials"),
            "{yaml}: {err}"
        );
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
            "nothing may listen"
        );
    }
}

async fn preflight(app: &TestApp, origin: &str) -> reqwest::Response {
    app.http
        .request(reqwest::Method::OPTIONS, app.public_url("/schemas"))
        .header("Origin", origin)
        .header("Access-Control-Request-Method", "GET")
        .send()
        .await
        .unwrap()
}

/// Rewrites the test's own configuration file in one step, as reload.rs does.
fn rewrite(app: &TestApp, yaml: &str) {
    let dir = app.dir.path();
    let tmp = dir.join("extra.yml.tmp");
    std::fs::write(&tmp, yaml).unwrap();
    std::fs::rename(&tmp, dir.join("extra.yml")).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listed_origin_keeps_credentials_and_a_reload_to_any_origin_is_refused() {
    let mut setup = Setup {
        yaml: LISTED.into(),
        ..Setup::default()
    };
    setup.listen.config_poll = Duration::from_millis(20);
    let app = TestApp::start_with(setup).await;
    let r = preflight(&app, "https://app.example.com").await;
    assert_eq!(r.status(), 204);
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert_eq!(r.headers()["access-control-allow-credentials"], "true");
    let r = preflight(&app, "https://evil.test").await;
    assert!(r.headers().get("access-control-allow-origin").is_none());

    rewrite(&app, OPEN);
    let series = "config_reloads_total{outcome=\"refused\"} ";
    let deadline = tokio::time::Instant::now() + WAIT;
    while app.metric(series).await.unwrap_or(0.0) < 1.0 {
        assert!(tokio::time::Instant::now() < deadline, "no refused reload");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Still the listed origin only.
    let r = preflight(&app, "https://evil.test").await;
    assert!(r.headers().get("access-control-allow-origin").is_none());
    let r = preflight(&app, "https://app.example.com").await;
    assert_eq!(r.headers()["access-control-allow-credentials"], "true");
}

fn mail_yaml(smtp: &SmtpServer, lifespans: &str) -> String {
    format!(
        "watch-courier: true
courier:
  worker:
    pull_wait: 50ms
  smtp:
    connection_uri: \"{uri}\"
    from_address: noreply@gatehouse.test
selfservice:
  flows:
    recovery:
      enabled: true
      use: code
    verification:
      enabled: true
      use: link
  methods:
    link:
      enabled: true
{lifespans}",
        uri = smtp.uri()
    )
}

/// Sends a recovery code and a verification link to a known address and returns both mails'
/// plain text.
async fn code_and_link_mails(lifespans: &str) -> (String, String) {
    let mut mail = SmtpServer::start(0).await;
    let app = TestApp::start_with(Setup {
        yaml: mail_yaml(&mail, lifespans),
        ..Default::default()
    })
    .await;
    app.create_identity(json!({"traits": {"email": "clock@example.com"}}))
        .await;
    for (n, kind, method) in [(1, "recovery", "code"), (2, "verification", "link")] {
        let flow = api_flow(&app, kind).await;
        let (status, sent) = submit(
            &app,
            &flow,
            json!({"method": method, "email": "clock@example.com"}),
        )
        .await;
        assert_eq!(status, 200, "{sent}");
        mail.wait_for(n, WAIT).await;
    }
    let got = mail.received();
    let texts = (plaintext(&got[0]), plaintext(&got[1]));
    mail.stop().await;
    texts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codes_and_links_live_ten_minutes_by_default_and_the_mail_says_so() {
    let (code, link) = code_and_link_mails("").await;
    assert!(code.contains("It stays valid for 10 minutes."), "{code}");
    assert!(link.contains("This link expires in 10 minutes."), "{link}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_explicit_lifespan_is_honoured_and_stated() {
    let (code, link) = code_and_link_mails(
        "      config:\n        lifespan: 1h\n    code:\n      config:\n        lifespan: 1h\n",
    )
    .await;
    assert!(code.contains("It stays valid for 60 minutes."), "{code}");
    assert!(link.contains("This link expires in 60 minutes."), "{link}");
}
