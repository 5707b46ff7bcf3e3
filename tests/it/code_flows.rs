//! Passwordless registration and login by one-time code, end to end over real SMTP: the
//! courier runs in the server and the tests read the codes from a loopback SMTP server.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::flow::{api_flow, message_ids, six_digits, submit};
use crate::common::receiver::Receiver;
use crate::common::smtp::{SmtpServer, plaintext};
use crate::common::{FIXTURES, Setup, TestApp};

const WAIT: Duration = Duration::from_secs(20);

fn yaml(smtp: &SmtpServer) -> String {
    format!(
        "watch-courier: true
courier:
  worker:
    pull_wait: 50ms
  smtp:
    connection_uri: \"{uri}\"
    from_address: noreply@gatehouse.test
identity:
  default_schema_id: code
  schemas:
    - id: code
      url: file://{f}/code.schema.json
selfservice:
  default_browser_return_url: http://127.0.0.1:1/welcome
  flows:
    registration:
      after:
        code:
          hooks:
            - hook: session
  methods:
    code:
      enabled: true
      passwordless_enabled: true
    password:
      config:
        haveibeenpwned_enabled: false
",
        uri = smtp.uri(),
        f = FIXTURES
    )
}

fn has_node(flow: &Value, name: &str, value: Option<&str>) -> bool {
    flow["ui"]["nodes"].as_array().unwrap().iter().any(|n| {
        n["attributes"]["name"] == name && value.is_none_or(|v| n["attributes"]["value"] == v)
    })
}

/// The mail to `to` that arrived as number `n`.
async fn code_from_mail(mail: &SmtpServer, n: usize, to: &str) -> String {
    let got = mail.wait_for(n, WAIT).await;
    let m = &got[n - 1];
    assert!(m.to.iter().any(|r| r.contains(to)), "{:?}", m.to);
    six_digits(&plaintext(m))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwordless_registration_then_login_by_code() {
    let mail = SmtpServer::start(0).await;
    let app = TestApp::start_with(Setup {
        yaml: yaml(&mail),
        ..Default::default()
    })
    .await;
    let traits = json!({"email": "Pat@Example.com", "name": "Pat"});

    // Registration: once the traits are in (Kratos's default two steps), the form offers the
    // code method.
    let flow = api_flow(&app, "registration").await;
    let (_, flow) = submit(&app, &flow, json!({"method": "profile", "traits": traits})).await;
    assert!(has_node(&flow, "method", Some("code")), "{flow}");
    let (status, sent) = submit(&app, &flow, json!({"method": "code", "traits": traits})).await;
    assert_eq!(status, 400, "{sent}");
    assert_eq!(sent["state"], "sent_email", "{sent}");
    assert_eq!(message_ids(&sent), [1040005]);
    assert!(has_node(&sent, "code", None), "{sent}");
    let code = code_from_mail(&mail, 1, "pat@example.com").await;

    let wrong = if code == "000000" { "111111" } else { "000000" };
    let (status, bad) = submit(
        &app,
        &sent,
        json!({"method": "code", "traits": traits, "code": wrong}),
    )
    .await;
    assert_eq!(status, 400, "{bad}");
    assert_eq!(message_ids(&bad), [4040003]);

    let (status, done) = submit(
        &app,
        &sent,
        json!({"method": "code", "traits": traits, "code": code}),
    )
    .await;
    assert_eq!(status, 200, "{done}");
    assert!(done["session_token"].is_string(), "{done}");
    let id = done["identity"]["id"].as_str().unwrap().to_owned();
    let admin: Value = app
        .http
        .get(app.admin_url(&format!("/admin/identities/{id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let creds = &admin["credentials"];
    assert!(creds.get("password").is_none(), "{creds}");
    assert_eq!(creds["code"]["identifiers"], json!(["pat@example.com"]));

    // The code was single use.
    let (status, _) = submit(
        &app,
        &sent,
        json!({"method": "code", "traits": traits, "code": code}),
    )
    .await;
    assert_ne!(status, 200);

    // Login by code.
    let flow = api_flow(&app, "login").await;
    assert!(has_node(&flow, "method", Some("code")), "{flow}");
    let (status, sent) = submit(
        &app,
        &flow,
        json!({"method": "code", "identifier": "pat@example.com"}),
    )
    .await;
    assert_eq!(status, 400, "{sent}");
    assert_eq!(sent["state"], "sent_email", "{sent}");
    assert_eq!(message_ids(&sent), [1010014]);
    let code = code_from_mail(&mail, 2, "pat@example.com").await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let (status, bad) = submit(
        &app,
        &sent,
        json!({"method": "code", "identifier": "pat@example.com", "code": wrong}),
    )
    .await;
    assert_eq!(status, 400, "{bad}");
    assert_eq!(message_ids(&bad), [4010008]);
    let (status, done) = submit(
        &app,
        &sent,
        json!({"method": "code", "identifier": "pat@example.com", "code": code}),
    )
    .await;
    assert_eq!(status, 200, "{done}");
    assert!(done["session_token"].is_string(), "{done}");
    assert_eq!(done["session"]["identity"]["id"], id.as_str());

    // Signing up again with the same address is a duplicate.
    let flow = api_flow(&app, "registration").await;
    let (_, sent) = submit(&app, &flow, json!({"method": "code", "traits": traits})).await;
    let code = code_from_mail(&mail, 3, "pat@example.com").await;
    let (status, dup) = submit(
        &app,
        &sent,
        json!({"method": "code", "traits": traits, "code": code}),
    )
    .await;
    assert_eq!(status, 400, "{dup}");
    assert_eq!(message_ids(&dup), [4000007]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_identifier_answers_like_a_known_one() {
    let mail = SmtpServer::start(0).await;
    let app = TestApp::start_with(Setup {
        yaml: yaml(&mail),
        ..Default::default()
    })
    .await;
    app.create_identity(json!({"schema_id": "code", "traits": {"email": "known@example.com"}}))
        .await;
    let mut answers = Vec::new();
    for who in ["known@example.com", "nobody@example.com"] {
        let flow = api_flow(&app, "login").await;
        let (status, sent) =
            submit(&app, &flow, json!({"method": "code", "identifier": who})).await;
        let nodes: Vec<Value> = sent["ui"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| json!([n["group"], n["attributes"]["name"], n["attributes"]["type"]]))
            .collect();
        answers.push((status, sent["state"].clone(), message_ids(&sent), nodes));
        if who.starts_with("nobody") {
            // Whatever is tried, the unknown identifier cannot be logged in.
            let (status, bad) = submit(
                &app,
                &sent,
                json!({"method": "code", "identifier": who, "code": "123456"}),
            )
            .await;
            assert_eq!(status, 400);
            assert_eq!(message_ids(&bad), [4010008]);
        }
    }
    assert_eq!(answers[0], answers[1]);
    // Only the known address got a mail.
    let got = mail.wait_for(1, WAIT).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(mail.received().len(), 1, "{:?}", got[0].to);
    assert!(got[0].to.iter().any(|r| r.contains("known@example.com")));
}

/// The six-digit code in the SMS request number `n` the receiver got for `to`.
async fn code_from_sms(sms: &Receiver, n: usize, to: &str) -> String {
    let got = sms.wait_for(n, WAIT).await;
    let body = got[n - 1].json();
    assert_eq!(body["recipient"], to, "{body}");
    six_digits(body["body"].as_str().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phone_numbers_get_their_codes_by_sms() {
    let mail = SmtpServer::start(0).await;
    let sms = Receiver::start().await;
    let yaml = yaml(&mail)
        .replace("default_schema_id: code", "default_schema_id: phone")
        .replace(
            "    - id: code\n      url: file://",
            &format!("    - id: phone\n      url: file://{FIXTURES}/phone.schema.json\n    - id: code\n      url: file://"),
        )
        .replace(
            "courier:\n",
            &format!(
                "courier:\n  channels:\n    - id: sms\n      type: http\n      request_config:\n        url: {}\n        method: POST\n",
                sms.url("/sms")
            ),
        );
    let app = TestApp::start_with(Setup {
        yaml,
        ..Default::default()
    })
    .await;
    let phone = "+4915112345678";
    let traits = json!({ "phone": phone });

    let flow = api_flow(&app, "registration").await;
    let (status, sent) = submit(&app, &flow, json!({"method": "code", "traits": traits})).await;
    assert_eq!(status, 400, "{sent}");
    assert_eq!(sent["state"], "sent_email", "{sent}");
    let code = code_from_sms(&sms, 1, phone).await;
    let (status, done) = submit(
        &app,
        &sent,
        json!({"method": "code", "traits": traits, "code": code}),
    )
    .await;
    assert_eq!(status, 200, "{done}");
    assert!(done["session_token"].is_string(), "{done}");

    let flow = api_flow(&app, "login").await;
    let (status, sent) = submit(&app, &flow, json!({"method": "code", "identifier": phone})).await;
    assert_eq!(status, 400, "{sent}");
    let code = code_from_sms(&sms, 2, phone).await;
    let (status, done) = submit(
        &app,
        &sent,
        json!({"method": "code", "identifier": phone, "code": code}),
    )
    .await;
    assert_eq!(status, 200, "{done}");
    assert!(done["session_token"].is_string(), "{done}");
    // Nothing went by email.
    assert!(mail.received().is_empty());
    // The SMS rows are phone messages on the sms channel.
    let msgs: Value = app
        .http
        .get(app.admin_url("/admin/courier/messages"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let msgs = msgs.as_array().unwrap();
    assert_eq!(msgs.len(), 2, "{msgs:?}");
    assert!(
        msgs.iter()
            .all(|m| m["type"] == "phone" && m["channel"] == "sms"),
        "{msgs:?}"
    );
}

/// `selfservice.methods.password.enabled: false`: the password method is not in the registry,
/// so it neither renders its nodes nor takes submissions; code still signs people in and up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_password_method_neither_renders_nor_accepts_submissions() {
    let smtp = SmtpServer::start(0).await;
    let yaml = yaml(&smtp).replace(
        "    password:\n      config:",
        "    password:\n      enabled: false\n      config:",
    );
    assert!(yaml.contains("enabled: false"), "{yaml}");
    let app = TestApp::start_with(Setup {
        yaml,
        ..Default::default()
    })
    .await;

    let login = api_flow(&app, "login").await;
    assert!(!has_node(&login, "password", None), "{login}");
    assert!(!has_node(&login, "method", Some("password")), "{login}");
    assert!(has_node(&login, "identifier", None), "{login}");
    assert!(has_node(&login, "method", Some("code")), "{login}");
    let (status, body) = submit(
        &app,
        &login,
        json!({"method": "password", "identifier": "nobody@example.org", "password": "x"}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(message_ids(&body), [4010002], "{body}");

    let registration = api_flow(&app, "registration").await;
    let (_, registration) = submit(
        &app,
        &registration,
        json!({"method": "profile", "traits": {"email": "new@example.org"}}),
    )
    .await;
    assert!(!has_node(&registration, "password", None), "{registration}");
    assert!(
        !has_node(&registration, "method", Some("password")),
        "{registration}"
    );
    assert!(
        has_node(&registration, "method", Some("code")),
        "{registration}"
    );
    let (status, body) = submit(
        &app,
        &registration,
        json!({"method": "password", "traits": {"email": "new@example.org"}, "password": "correct horse battery staple"}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(message_ids(&body), [4010003], "{body}");
    assert!(smtp.received().is_empty(), "nothing was mailed");
}
