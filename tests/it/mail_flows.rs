//! Recovery and verification end to end over real SMTP: the courier runs in the server and
//! mails go to a loopback SMTP server, from which the tests read the code or the link.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::flow::{api_flow, six_digits, submit};
use crate::common::smtp::{SmtpServer, plaintext};
use crate::common::{Setup, TestApp};

const WAIT: Duration = Duration::from_secs(20);

fn yaml(smtp: &SmtpServer, recovery_use: &str, verification_use: &str) -> String {
    format!(
        "watch-courier: true
courier:
  worker:
    pull_wait: 50ms
  smtp:
    connection_uri: \"{uri}\"
    from_address: noreply@gatehouse.test
selfservice:
  default_browser_return_url: http://127.0.0.1:1/welcome
  flows:
    registration:
      after:
        password:
          hooks:
            - hook: session
    recovery:
      enabled: true
      use: {recovery_use}
    verification:
      enabled: true
      use: {verification_use}
  methods:
    link:
      enabled: true
    password:
      config:
        haveibeenpwned_enabled: false
",
        uri = smtp.uri()
    )
}

fn link(text: &str, path: &str) -> String {
    let start = text
        .find("http")
        .unwrap_or_else(|| panic!("no link in {text}"));
    let url: String = text[start..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    assert!(url.contains(path), "{url}");
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forgotten_password_code_by_mail_new_password_login() {
    let mut mail = SmtpServer::start(0).await;
    let app = TestApp::start_with(Setup {
        yaml: yaml(&mail, "code", "code"),
        ..Default::default()
    })
    .await;
    let created = app
        .create_identity(json!({"traits": {"email": "forgetful@example.com"}, "credentials": {"password": {"config": {"password": "the old password"}}}}))
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let flow = api_flow(&app, "recovery").await;
    let (status, sent) = submit(
        &app,
        &flow,
        json!({"method": "code", "email": "forgetful@example.com"}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(sent["state"], "sent_email");
    let received = mail.wait_for(1, WAIT).await;
    assert_eq!(received[0].to, ["forgetful@example.com"]);
    let code = six_digits(&plaintext(&received[0]));
    // A wrong code first: Kratos's 4060006, the flow stays usable.
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let (status, bad) = submit(&app, &sent, json!({"method": "code", "code": wrong})).await;
    assert_eq!(status, 200);
    assert!(
        bad["ui"]["messages"].to_string().contains("4060006"),
        "{bad}"
    );
    let (status, done) = submit(&app, &sent, json!({"method": "code", "code": code})).await;
    assert_eq!(status, 200, "{done}");
    let token = done["continue_with"][0]["ory_session_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let me = app.whoami(&token).await;
    assert_eq!(me["identity"]["id"], id.as_str());
    // The reused code is refused.
    let (status, _) = submit(&app, &sent, json!({"method": "code", "code": code})).await;
    assert!(status == 410 || status == 400, "reused code: {status}");
    // The recovered session continues into a settings flow and sets a new password there.
    assert_eq!(done["continue_with"][1]["action"], "show_settings_ui");
    let settings_id = done["continue_with"][1]["flow"]["id"].as_str().unwrap();
    let r = app
        .http
        .post(app.public_url(&format!("/self-service/settings?flow={settings_id}")))
        .header("X-Session-Token", &token)
        .json(&json!({"method": "password", "password": "the new password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let login = api_flow(&app, "login").await;
    let (status, _) = submit(&app, &login, json!({"method": "password", "identifier": "forgetful@example.com", "password": "the new password"})).await;
    assert_eq!(status, 200);
    // Unknown addresses get the same answer and, without notify_unknown_recipients, no mail.
    let flow = api_flow(&app, "recovery").await;
    let (status, v) = submit(
        &app,
        &flow,
        json!({"method": "code", "email": "stranger@example.com"}),
    )
    .await;
    assert_eq!((status, v["state"].as_str()), (200, Some("sent_email")));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(mail.received().len(), 1);
    mail.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_up_then_verification_link_by_mail_verifies_the_address() {
    let mut mail = SmtpServer::start(0).await;
    let app = TestApp::start_with(Setup {
        yaml: yaml(&mail, "code", "link"),
        ..Default::default()
    })
    .await;
    let flow = api_flow(&app, "registration").await;
    let (status, done) = submit(
        &app,
        &flow,
        json!({"method": "password", "traits": {"email": "verify-me@example.com"}, "password": "a fine long passphrase"}),
    )
    .await;
    assert_eq!(status, 200, "{done}");
    let id = done["identity"]["id"].as_str().unwrap().to_owned();
    let received = mail.wait_for(1, WAIT).await;
    assert_eq!(received[0].to, ["verify-me@example.com"]);
    let url = link(&plaintext(&received[0]), "/self-service/verification");
    let status_of = || async {
        let v: Value = app
            .http
            .get(app.admin_url(&format!("/admin/identities/{id}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["verifiable_addresses"][0].clone()
    };
    let before = status_of().await;
    assert_eq!(
        (before["verified"].as_bool(), before["status"].as_str()),
        (Some(false), Some("sent"))
    );
    // The mailed link is opened in a browser.
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = browser.get(&url).send().await.unwrap();
    assert!(
        r.status().is_redirection() || r.status().is_success(),
        "{}",
        r.status()
    );
    let after = status_of().await;
    assert_eq!(after["verified"], true, "{after}");
    assert_eq!(after["status"], "completed");
    assert!(after["verified_at"].is_string());
    // The link works once.
    browser.get(&url).send().await.unwrap();
    assert_eq!(status_of().await["verified_at"], after["verified_at"]);
    let list: Value = app
        .http
        .get(app.admin_url("/admin/courier/messages?recipient=verify-me@example.com"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list[0]["status"], "sent");
    assert_eq!(list[0]["template_type"], "verification_valid");
    mail.stop().await;
}
