//! Passwordless registration and login by one-time code, end to end over real SMTP: the
//! courier runs in the server and the tests read the codes from a loopback SMTP server.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::flow::{
    api_flow, csrf_input, input, message_ids, node, screen, six_digits, submit,
};
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
    // Two steps: a way back to the choice of credentials, as Kratos offers.
    let back = crate::common::flow::node(&sent, "screen");
    assert_eq!(
        back["attributes"]["value"], "credential-selection",
        "{sent}"
    );
    assert_eq!(back["group"], "profile");
    assert_eq!(back["meta"]["label"]["id"], 1040008);
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

/// Recovery and verification by code over SMTP, with `flags` under `feature_flags` and the
/// code lifespan `code_lifespan`.
fn recovery_yaml(smtp: &SmtpServer, flags: &str, code_lifespan: &str) -> String {
    format!(
        "watch-courier: true
courier:
  worker:
    pull_wait: 50ms
  smtp:
    connection_uri: \"{uri}\"
    from_address: noreply@gatehouse.test
identity:
  default_schema_id: two
  schemas:
    - id: two
      url: file://{f}/two_addresses.schema.json
feature_flags:
  {flags}
selfservice:
  default_browser_return_url: http://127.0.0.1:1/welcome
  flows:
    recovery:
      enabled: true
      use: code
    verification:
      enabled: true
      use: code
  methods:
    code:
      enabled: true
      config:
        lifespan: {code_lifespan}
    password:
      config:
        haveibeenpwned_enabled: false
",
        uri = smtp.uri(),
        f = FIXTURES
    )
}

/// The screen of a flow waiting for a login or registration code, as Kratos draws it
/// (`populateEmailSentFlow`): what was filled in (hidden), the code input, "continue",
/// "resend"; an API flow has no CSRF token to keep on login.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_screens_match_kratos() {
    let mail = SmtpServer::start(0).await;
    let app = TestApp::start_with(Setup {
        yaml: yaml(&mail),
        ..Default::default()
    })
    .await;
    let tail = |label: u64| {
        vec![
            input("code", "method", "hidden", json!({"value": "code"}), None),
            input(
                "code",
                "code",
                "text",
                json!({"required": true}),
                Some(label),
            ),
            input(
                "code",
                "method",
                "submit",
                json!({"value": "code"}),
                Some(1070009),
            ),
            input(
                "code",
                "resend",
                "submit",
                json!({"value": "code"}),
                Some(1070008),
            ),
        ]
    };

    let traits = json!({"email": "screen@example.com", "name": "Sam"});
    let flow = api_flow(&app, "registration").await;
    let (_, sent) = submit(&app, &flow, json!({"method": "code", "traits": traits})).await;
    let mut want = vec![csrf_input()];
    for (name, value) in [
        ("traits.email", "screen@example.com"),
        ("traits.name", "Sam"),
    ] {
        let mut n = node(&flow, name)["attributes"].clone();
        n["type"] = json!("hidden");
        n["value"] = json!(value);
        want.push(json!({"group": "default", "attributes": n, "label": node(&flow, name)["meta"]["label"]["id"]}));
    }
    want.extend(tail(1070012));
    // Two-step registration (Kratos's default) adds the way back to the credentials.
    want.push(input(
        "profile",
        "screen",
        "submit",
        json!({"value": "credential-selection"}),
        Some(1040008),
    ));
    assert_eq!(screen(&sent), want, "{sent}");

    let flow = api_flow(&app, "login").await;
    let (_, sent) = submit(
        &app,
        &flow,
        json!({"method": "code", "identifier": "screen@example.com"}),
    )
    .await;
    let mut identifier = node(&flow, "identifier")["attributes"].clone();
    identifier["type"] = json!("hidden");
    identifier["value"] = json!("screen@example.com");
    let mut want = vec![
        json!({"group": "default", "attributes": identifier, "label": node(&flow, "identifier")["meta"]["label"]["id"]}),
    ];
    want.extend(tail(1070013));
    assert_eq!(screen(&sent), want, "{sent}");
}

/// Registration by code proves the address: it is created verified (`completed`), and the
/// verification hook mails nothing more than the code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_by_code_verifies_the_address() {
    let mail = SmtpServer::start(0).await;
    let yaml = yaml(&mail).replace(
        "  flows:\n    registration:\n      after:\n        code:\n          hooks:\n            - hook: session\n",
        "  flows:\n    verification:\n      enabled: true\n      use: code\n    registration:\n      after:\n        code:\n          hooks:\n            - hook: session\n",
    );
    // Verification after registration needs no hook in Kratos: it follows from
    // `verification.enabled`.
    assert!(
        yaml.contains("verification:\n      enabled: true"),
        "{yaml}"
    );
    let app = TestApp::start_with(Setup {
        yaml,
        ..Default::default()
    })
    .await;
    let traits = json!({"email": "proven@example.com"});
    let flow = api_flow(&app, "registration").await;
    let (_, sent) = submit(&app, &flow, json!({"method": "code", "traits": traits})).await;
    let code = code_from_mail(&mail, 1, "proven@example.com").await;
    let (status, done) = submit(
        &app,
        &sent,
        json!({"method": "code", "traits": traits, "code": code}),
    )
    .await;
    assert_eq!(status, 200, "{done}");
    let address = &done["identity"]["verifiable_addresses"][0];
    assert_eq!(address["value"], "proven@example.com", "{done}");
    assert_eq!(address["verified"], true, "{done}");
    assert_eq!(address["status"], "completed", "{done}");
    assert!(address["verified_at"].is_string(), "{done}");
    // No verification flow was started for it.
    assert!(
        done["continue_with"]
            .as_array()
            .is_none_or(|c| c.iter().all(|i| i["action"] != "show_verification_ui"))
    );
    // Every message is queued before the answer: the queue holds only the code's.
    let queued: Value = app
        .http
        .get(app.admin_url("/admin/courier/messages?recipient=proven@example.com"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        queued.as_array().unwrap().len(),
        1,
        "only the code: {queued}"
    );
    let id = done["identity"]["id"].as_str().unwrap();
    let admin: Value = app
        .http
        .get(app.admin_url(&format!("/admin/identities/{id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        admin["verifiable_addresses"][0]["verified"], true,
        "{admin}"
    );
    assert_eq!(admin["verifiable_addresses"][0]["status"], "completed");
}

/// Signing in by code proves the address too: an unverified one is verified (Kratos's
/// `verifyAddress` in its code login).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_by_code_verifies_the_address() {
    let mail = SmtpServer::start(0).await;
    let app = TestApp::start_with(Setup {
        yaml: yaml(&mail),
        ..Default::default()
    })
    .await;
    let created = app
        .create_identity(json!({"schema_id": "code", "traits": {"email": "unproven@example.com"}}))
        .await;
    assert_eq!(
        created["verifiable_addresses"][0]["verified"], false,
        "{created}"
    );
    let flow = api_flow(&app, "login").await;
    let (_, sent) = submit(
        &app,
        &flow,
        json!({"method": "code", "identifier": "unproven@example.com"}),
    )
    .await;
    let code = code_from_mail(&mail, 1, "unproven@example.com").await;
    let (status, done) = submit(
        &app,
        &sent,
        json!({"method": "code", "identifier": "unproven@example.com", "code": code}),
    )
    .await;
    assert_eq!(status, 200, "{done}");
    let address = &done["session"]["identity"]["verifiable_addresses"][0];
    assert_eq!(address["verified"], true, "{done}");
    assert_eq!(address["status"], "completed", "{done}");
    assert!(address["verified_at"].is_string(), "{done}");
}

/// The body of a submission to a recovery or verification flow, with the flow JSON back.
async fn post_flow(app: &TestApp, kind: &str, id: &str, body: Value) -> (u16, Value) {
    let r = app
        .http
        .post(app.public_url(&format!("/self-service/{kind}?flow={id}")))
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn get_flow(app: &TestApp, kind: &str, id: &str) -> Value {
    app.http
        .get(app.public_url(&format!("/self-service/{kind}/flows?id={id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// A right code that expired while its flow did not: Kratos restarts the flow as expired
/// (4060005 / 4070005), at the code's expiry rather than the flow's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_code_in_a_live_flow_expires_at_the_codes_time() {
    let mail = SmtpServer::start(0).await;
    let app = TestApp::start_with(Setup {
        // A code that has expired by the time it arrives: no waiting for the clock.
        yaml: recovery_yaml(&mail, "{}", "1ms"),
        ..Default::default()
    })
    .await;
    app.create_identity(json!({"schema_id": "two", "traits": {"email": "late@example.org"}}))
        .await;

    for (n, kind, expired_id) in [(1, "recovery", 4060005), (2, "verification", 4070005)] {
        let flow = api_flow(&app, kind).await;
        let id = flow["id"].as_str().unwrap().to_owned();
        let flow_expires: chrono::DateTime<chrono::Utc> =
            flow["expires_at"].as_str().unwrap().parse().unwrap();
        let (status, sent) = post_flow(
            &app,
            kind,
            &id,
            json!({"method": "code", "email": "late@example.org"}),
        )
        .await;
        assert_eq!(status, 200, "{sent}");
        let code = code_from_mail(&mail, n, "late@example.org").await;
        let (status, e) = post_flow(&app, kind, &id, json!({"method": "code", "code": code})).await;
        assert_eq!(status, 410, "{e}");
        assert_eq!(e["error"]["id"], "self_service_flow_expired", "{e}");
        let fresh = get_flow(&app, kind, e["use_flow_id"].as_str().unwrap()).await;
        assert_eq!(message_ids(&fresh), [expired_id], "{fresh}");
        let ctx = &fresh["ui"]["messages"][0]["context"];
        let at: chrono::DateTime<chrono::Utc> =
            ctx["expired_at"].as_str().unwrap().parse().unwrap();
        // The code's expiry (as it was sent), not the flow's (an hour away).
        assert!(at < chrono::Utc::now(), "{ctx}");
        assert!(at < flow_expires - chrono::Duration::minutes(30), "{ctx}");
    }
}

/// Login and registration codes that expired while their flow did not: as Kratos's code
/// persister says, the flow expired then (410 with a fresh flow saying so, 4010001 / 4040001).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_login_and_registration_codes_expire_their_flow() {
    let mail = SmtpServer::start(0).await;
    let app = TestApp::start_with(Setup {
        // A code that has expired by the time it arrives: no waiting for the clock.
        yaml: yaml(&mail).replace(
            "      passwordless_enabled: true\n",
            "      passwordless_enabled: true\n      config:\n        lifespan: 1ms\n",
        ),
        ..Default::default()
    })
    .await;
    app.create_identity(json!({"schema_id": "code", "traits": {"email": "late@example.com"}}))
        .await;
    let expect_expired = |status: u16, e: &Value, kind: &str| {
        assert_eq!(status, 410, "{kind}: {e}");
        assert_eq!(e["error"]["id"], "self_service_flow_expired", "{kind}: {e}");
        e["use_flow_id"].as_str().unwrap().to_owned()
    };

    let flow = api_flow(&app, "login").await;
    let id = flow["id"].as_str().unwrap().to_owned();
    submit(
        &app,
        &flow,
        json!({"method": "code", "identifier": "late@example.com"}),
    )
    .await;
    let code = code_from_mail(&mail, 1, "late@example.com").await;
    let (status, e) = post_flow(
        &app,
        "login",
        &id,
        json!({"method": "code", "identifier": "late@example.com", "code": code}),
    )
    .await;
    let fresh = get_flow(&app, "login", &expect_expired(status, &e, "login")).await;
    assert_eq!(message_ids(&fresh), [4010001], "{fresh}");

    let traits = json!({"email": "new@example.com", "name": "New"});
    let flow = api_flow(&app, "registration").await;
    let (_, flow) = submit(&app, &flow, json!({"method": "profile", "traits": traits})).await;
    let id = flow["id"].as_str().unwrap().to_owned();
    submit(&app, &flow, json!({"method": "code", "traits": traits})).await;
    let code = code_from_mail(&mail, 2, "new@example.com").await;
    let (status, e) = post_flow(
        &app,
        "registration",
        &id,
        json!({"method": "code", "traits": traits, "code": code}),
    )
    .await;
    let fresh = get_flow(
        &app,
        "registration",
        &expect_expired(status, &e, "registration"),
    )
    .await;
    assert_eq!(message_ids(&fresh), [4040001], "{fresh}");
}

/// `feature_flags.choose_recovery_address`: recovery asks for any address of the account,
/// offers its addresses masked, asks for the picked one in full, and sends the code there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_lets_the_user_choose_the_address() {
    let mail = SmtpServer::start(0).await;
    let app = TestApp::start_with(Setup {
        yaml: recovery_yaml(&mail, "choose_recovery_address: true", "15m"),
        ..Default::default()
    })
    .await;
    app.create_identity(json!({"schema_id": "two", "traits": {
        "email": "main@example.org", "backup_email": "backup@example.org"}}))
        .await;

    let flow = api_flow(&app, "recovery").await;
    assert_eq!(flow["state"], "recovery_awaiting_address", "{flow}");
    assert_eq!(
        screen(&flow),
        [
            csrf_input(),
            input(
                "code",
                "recovery_address",
                "text",
                json!({"required": true}),
                Some(1070016)
            ),
            input(
                "code",
                "method",
                "submit",
                json!({"value": "code"}),
                Some(1070009)
            ),
        ]
    );
    let id = flow["id"].as_str().unwrap().to_owned();

    // Any address of the account: its addresses, masked, sorted, identified by a hash.
    let (status, choice) = post_flow(
        &app,
        "recovery",
        &id,
        json!({"recovery_address": "Main@Example.org"}),
    )
    .await;
    assert_eq!(status, 200, "{choice}");
    assert_eq!(choice["state"], "recovery_awaiting_address_choice");
    assert_eq!(message_ids(&choice), [1060006]);
    let options: Vec<&Value> = choice["ui"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["attributes"]["name"] == "recovery_select_address")
        .collect();
    let labels: Vec<&Value> = options
        .iter()
        .map(|n| &n["meta"]["label"]["text"])
        .collect();
    assert_eq!(labels, ["ba****@example.org", "ma****@example.org"]);
    assert!(
        !choice.to_string().contains("backup@example.org"),
        "{choice}"
    );
    let backup_hash = options[0]["attributes"]["value"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        screen(&choice)[1..],
        [
            input(
                "code",
                "recovery_select_address",
                "submit",
                json!({"value": backup_hash}),
                Some(1070000)
            ),
            input(
                "code",
                "recovery_select_address",
                "submit",
                json!({"value": options[1]["attributes"]["value"]}),
                Some(1070000)
            ),
            input("code", "method", "hidden", json!({"value": "code"}), None),
            input(
                "code",
                "recovery_address",
                "hidden",
                json!({"value": "main@example.org"}),
                None
            ),
        ]
    );

    // Another address than the one named: it must be typed in full.
    let (status, confirm) = post_flow(
        &app,
        "recovery",
        &id,
        json!({"recovery_select_address": backup_hash, "recovery_address": "main@example.org"}),
    )
    .await;
    assert_eq!(status, 200, "{confirm}");
    assert_eq!(confirm["state"], "recovery_awaiting_address_confirm");
    assert_eq!(message_ids(&confirm), [1060005]);
    let back = input(
        "code",
        "screen",
        "submit",
        json!({"value": "previous"}),
        Some(1060007),
    );
    assert_eq!(
        screen(&confirm),
        [
            csrf_input(),
            input(
                "code",
                "recovery_confirm_address",
                "email",
                json!({"value": "", "required": true}),
                Some(1070007)
            ),
            input(
                "code",
                "recovery_address",
                "hidden",
                json!({"value": "main@example.org"}),
                None
            ),
            input(
                "code",
                "method",
                "submit",
                json!({"value": "code"}),
                Some(1070009)
            ),
            input("code", "method", "hidden", json!({"value": "code"}), None),
            back.clone(),
        ]
    );

    let (status, sent) = post_flow(
        &app,
        "recovery",
        &id,
        json!({"recovery_confirm_address": "backup@example.org", "recovery_address": "main@example.org"}),
    )
    .await;
    assert_eq!(status, 200, "{sent}");
    assert_eq!(sent["state"], "recovery_awaiting_code");
    assert_eq!(message_ids(&sent), [1060004]);
    assert_eq!(
        sent["ui"]["messages"][0]["context"]["masked_address"],
        "ba****@example.org"
    );
    assert_eq!(
        screen(&sent),
        [
            csrf_input(),
            input(
                "code",
                "code",
                "text",
                json!({"required": true, "autocomplete": "one-time-code", "maxlength": 6, "pattern": "[0-9]+"}),
                Some(1070010)
            ),
            input(
                "code",
                "method",
                "submit",
                json!({"value": "code"}),
                Some(1070009)
            ),
            input("code", "method", "hidden", json!({"value": "code"}), None),
            input(
                "code",
                "recovery_confirm_address",
                "submit",
                json!({"value": "backup@example.org"}),
                Some(1070008)
            ),
            input(
                "code",
                "recovery_address",
                "hidden",
                json!({"value": "main@example.org"}),
                None
            ),
            back,
        ]
    );
    let code = code_from_mail(&mail, 1, "backup@example.org").await;

    // "Back" from the code screen returns to the choice.
    let (status, again) = post_flow(
        &app,
        "recovery",
        &id,
        json!({"screen": "previous", "recovery_address": "main@example.org"}),
    )
    .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["state"], "recovery_awaiting_address_choice");

    // Picking the address named at first skips confirming it.
    let main_hash = options[1]["attributes"]["value"].clone();
    let (status, sent) = post_flow(
        &app,
        "recovery",
        &id,
        json!({"recovery_select_address": main_hash, "recovery_address": "main@example.org"}),
    )
    .await;
    assert_eq!(status, 200, "{sent}");
    assert_eq!(sent["state"], "recovery_awaiting_code");
    let fresh = code_from_mail(&mail, 2, "main@example.org").await;
    // The new code replaced the one sent to the backup address.
    let (status, bad) = post_flow(&app, "recovery", &id, json!({"code": code})).await;
    if code != fresh {
        assert_eq!(status, 200, "{bad}");
        assert_eq!(message_ids(&bad), [4060006]);
    }
    let (status, done) = post_flow(&app, "recovery", &id, json!({"code": fresh})).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["state"], "passed_challenge");
    assert_eq!(done["continue_with"][0]["action"], "set_ory_session_token");
}

/// With address choice, an unknown address gets the screens of an account with that one
/// address, and no mail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn address_choice_does_not_reveal_unknown_addresses() {
    let mail = SmtpServer::start(0).await;
    let app = TestApp::start_with(Setup {
        yaml: recovery_yaml(&mail, "choose_recovery_address: true", "15m"),
        ..Default::default()
    })
    .await;
    app.create_identity(json!({"schema_id": "two", "traits": {"email": "only@example.org"}}))
        .await;
    let mut answers = Vec::new();
    for who in ["only@example.org", "nobody@example.org"] {
        let flow = api_flow(&app, "recovery").await;
        let id = flow["id"].as_str().unwrap().to_owned();
        let (status, sent) =
            post_flow(&app, "recovery", &id, json!({"recovery_address": who})).await;
        let shape: Vec<Value> = screen(&sent)
            .into_iter()
            .map(|mut n| {
                n["attributes"].as_object_mut().unwrap().remove("value");
                n
            })
            .collect();
        answers.push((status, sent["state"].clone(), message_ids(&sent), shape));
        // Back leads to the first screen for both.
        let (_, back) = post_flow(
            &app,
            "recovery",
            &id,
            json!({"screen": "previous", "recovery_address": who}),
        )
        .await;
        assert_eq!(back["state"], "recovery_awaiting_address", "{back}");
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[0].1, "recovery_awaiting_code");
    let got = mail.wait_for(1, WAIT).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(mail.received().len(), 1);
    assert!(got[0].to.iter().any(|r| r.contains("only@example.org")));
}
