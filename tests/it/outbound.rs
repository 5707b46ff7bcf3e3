//! `clients.http.disallow_private_ip_ranges` end to end: with the key on, web hooks, the courier's
//! HTTP channel and identity schema URLs refuse loopback destinations (IP literals, names that
//! resolve to loopback, and redirect hops) with a message naming the key; exception URLs still
//! work; with the key off everything reaches loopback as before. All traffic stays on loopback.
//! Runs on SQLite and PostgreSQL.

use std::time::Duration;

use gatehouse::courier::{self, Channel, NewMessage, TemplateType};
use serde_json::{Value, json};

use crate::common::receiver::Receiver;
use crate::common::{Setup, TestApp, expect_error, schemas_yaml, ui_server};

const WAIT: Duration = Duration::from_secs(20);
const KEY: &str = "clients.http.disallow_private_ip_ranges is set";

/// Registration with one after-password web hook to `hook_url`, and `clients.http` as given.
fn hook_yaml(ui: u16, hook_url: &str, clients: &str) -> String {
    format!(
        "selfservice:\n  default_browser_return_url: http://127.0.0.1:{ui}/welcome\n  allowed_return_urls:\n    - http://127.0.0.1:{ui}/\n  flows:\n    registration:\n      ui_url: http://127.0.0.1:{ui}/registration\n      after:\n        password:\n          hooks:\n            - hook: web_hook\n              config:\n                url: {hook_url}\n                method: POST\n    error:\n      ui_url: http://127.0.0.1:{ui}/error\n  methods:\n    password:\n      config:\n        haveibeenpwned_enabled: false\n{clients}"
    )
}

fn guarded(exceptions: &[String]) -> String {
    let mut s = "clients:\n  http:\n    disallow_private_ip_ranges: true\n".to_owned();
    if !exceptions.is_empty() {
        s.push_str("    private_ip_exception_urls:\n");
        for e in exceptions {
            s.push_str(&format!("      - {e}\n"));
        }
    }
    s
}

async fn start(yaml: String) -> TestApp {
    TestApp::start_with(Setup {
        yaml,
        ..Default::default()
    })
    .await
}

/// Registers a new account through the API flow; the raw answer.
async fn register(app: &TestApp, email: &str) -> reqwest::Response {
    let flow: Value = app
        .http
        .get(app.public_url("/self-service/registration/api"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    app.http
        .post(flow["ui"]["action"].as_str().unwrap())
        .json(&json!({
            "method": "password",
            "traits": {"email": email},
            "password": "correct horse battery staple",
        }))
        .send()
        .await
        .unwrap()
}

/// Answers every request with `307` to `location`.
async fn redirector(location: String) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let location = location.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let _ = s.read(&mut buf).await;
                let resp = format!(
                    "HTTP/1.1 307 Temporary Redirect\r\nlocation: {location}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                );
                let _ = s.write_all(resp.as_bytes()).await;
            });
        }
    });
    port
}

#[tokio::test]
async fn web_hooks_to_loopback_are_refused_naming_the_key() {
    let rx = Receiver::start().await;
    let ui = ui_server().await;

    // An IP literal: refused before any connection.
    let app = start(hook_yaml(ui, &rx.url("/hook"), &guarded(&[]))).await;
    let e = expect_error(register(&app, "literal@example.org").await, 500).await;
    let msg = e["message"].as_str().unwrap();
    assert!(
        msg.contains(&format!(
            "refused: 127.0.0.1 is a loopback address and {KEY}"
        )),
        "{e}"
    );
    drop(app);

    // A name resolving to loopback: refused after resolution, before connecting.
    let url = format!("http://localhost:{}/hook", rx.port);
    let app = start(hook_yaml(ui, &url, &guarded(&[]))).await;
    let e = expect_error(register(&app, "name@example.org").await, 502).await;
    let msg = e["message"].as_str().unwrap();
    assert!(msg.contains("refused: localhost resolves to"), "{e}");
    assert!(
        msg.contains(&format!("a loopback address and {KEY}")),
        "{e}"
    );
    assert!(rx.requests().is_empty(), "nothing may reach the receiver");
}

#[tokio::test]
async fn exception_urls_reach_loopback_but_their_redirects_are_checked() {
    let rx = Receiver::start().await;
    let ui = ui_server().await;

    // An exception URL on loopback works.
    let app = start(hook_yaml(
        ui,
        &rx.url("/hook"),
        &guarded(&[rx.url("/hook")]),
    ))
    .await;
    let r = register(&app, "allowed@example.org").await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(rx.wait_for(1, WAIT).await[0].path, "/hook");
    drop(app);

    // An exception URL redirecting to a loopback URL that is not an exception: the hop is refused.
    let hop = redirector(rx.url("/elsewhere")).await;
    let start_url = format!("http://127.0.0.1:{hop}/start");
    let app = start(hook_yaml(
        ui,
        &start_url,
        &guarded(std::slice::from_ref(&start_url)),
    ))
    .await;
    let e = expect_error(register(&app, "hop@example.org").await, 502).await;
    assert!(
        e["message"].as_str().unwrap().contains(&format!(
            "refused: 127.0.0.1 is a loopback address and {KEY}"
        )),
        "{e}"
    );
    assert_eq!(
        rx.requests().len(),
        1,
        "the hop must not reach the receiver"
    );
}

#[tokio::test]
async fn the_courier_http_channel_is_refused_and_retried() {
    let rx = Receiver::start().await;
    let yaml = format!(
        "watch-courier: true\ncourier:\n  message_retries: 0\n  worker:\n    pull_wait: 50ms\n  channels:\n    - id: sms\n      type: http\n      request_config:\n        url: {}\n        method: POST\n{}",
        rx.url("/sms"),
        guarded(&[])
    );
    let app = start(yaml).await;
    let deps = app.running.as_ref().unwrap().handles().deps();
    let id = courier::enqueue(
        &deps,
        NewMessage {
            channel: Channel::Sms,
            recipient: "+15550100".into(),
            template: TemplateType::VerificationCodeValid,
            data: json!({ "To": "+15550100", "VerificationCode": "987654" }),
        },
    )
    .await
    .unwrap()
    .to_string();
    let deadline = tokio::time::Instant::now() + WAIT;
    let m = loop {
        let m: Value = app
            .http
            .get(app.admin_url(&format!("/admin/courier/messages/{id}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if m["status"] == "abandoned" {
            break m;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out; last: {m}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    let err = m["dispatches"][0]["error"]["message"].as_str().unwrap();
    assert!(
        err.contains(&format!(
            "refused: 127.0.0.1 is a loopback address and {KEY}"
        )),
        "{m}"
    );
    assert!(rx.requests().is_empty());
}

#[tokio::test]
async fn identity_schema_urls_on_loopback_are_refused() {
    let rx = Receiver::start().await;
    rx.answer(
        200,
        r#"{"$id":"remote","type":"object","properties":{"traits":{"type":"object","properties":{"name":{"type":"string"}}}}}"#,
    );
    let schemas = format!(
        "{}    - id: remote\n      url: {}\n",
        schemas_yaml(),
        rx.url("/remote.schema.json")
    );

    let app = start(format!("{schemas}{}", guarded(&[]))).await;
    let r = app
        .http
        .get(app.admin_url("/health/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("refused: 127.0.0.1 is a loopback address and clients.http.disallow_private_ip_ranges is set"),
        "{body}"
    );
    assert!(rx.requests().is_empty());
    drop(app);

    // Key off (the default): the same schema loads.
    let app = start(schemas).await;
    let r = app
        .http
        .get(app.admin_url("/health/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

#[tokio::test]
async fn with_the_key_off_loopback_and_redirects_work_as_before() {
    let rx = Receiver::start().await;
    let ui = ui_server().await;
    let hop = redirector(rx.url("/after-redirect")).await;
    let app = start(hook_yaml(ui, &format!("http://localhost:{hop}/start"), "")).await;
    let r = register(&app, "off@example.org").await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(rx.wait_for(1, WAIT).await[0].path, "/after-redirect");
}
