//! Account recovery and address verification: codes and links, browsers and native apps, the
//! admin recovery endpoints, the registration mail hook and the login verified-address check.
//!
//! Codes mailed to users are read through the admin endpoints here (they return the code or
//! link); reading them from a recorded SMTP session waits for the courier.

use serde_json::{Value, json};

use crate::common::flow::{
    all_message_ids, api_flow, browser, csrf_input, input, no_redirects, node, screen,
};
use crate::common::{Setup, TestApp, ui_server};

fn yaml(ui: u16, recovery_use: &str, verification_use: &str, extra: &str) -> String {
    format!(
        "selfservice:
  default_browser_return_url: http://127.0.0.1:{ui}/welcome
  allowed_return_urls:
    - http://127.0.0.1:{ui}/
  flows:
    login:
      ui_url: http://127.0.0.1:{ui}/login
    registration:
      ui_url: http://127.0.0.1:{ui}/registration
      after:
        password:
          hooks:
            - hook: session
            - hook: show_verification_ui
    settings:
      ui_url: http://127.0.0.1:{ui}/settings
    recovery:
      enabled: true
      use: {recovery_use}
      ui_url: http://127.0.0.1:{ui}/recovery
    verification:
      enabled: true
      use: {verification_use}
      ui_url: http://127.0.0.1:{ui}/verification
    error:
      ui_url: http://127.0.0.1:{ui}/error
  methods:
    link:
      enabled: true
    password:
      config:
        haveibeenpwned_enabled: false
{extra}"
    )
}

async fn start(recovery_use: &str, verification_use: &str, extra: &str) -> (TestApp, u16) {
    let ui = ui_server().await;
    let app = TestApp::start_with(Setup {
        yaml: yaml(ui, recovery_use, verification_use, extra),
        ..Default::default()
    })
    .await;
    (app, ui)
}

/// The whole error body (`error` envelope plus Kratos's top-level extras like `use_flow_id`).
async fn expect_error(resp: reqwest::Response, status: u16) -> Value {
    let got = resp.status().as_u16();
    let body: Value = resp.json().await.expect("error body is JSON");
    assert_eq!(got, status, "unexpected status; body: {body}");
    assert_eq!(body["error"]["code"], status, "{body}");
    body
}

fn node_names(v: &Value) -> Vec<String> {
    v["ui"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            format!(
                "{}:{}:{}",
                n["group"].as_str().unwrap_or(""),
                n["attributes"]["name"].as_str().unwrap_or(""),
                n["attributes"]["type"].as_str().unwrap_or("")
            )
        })
        .collect()
}

async fn identity(app: &TestApp, email: &str) -> Value {
    app.create_identity(json!({
        "schema_id": "customer",
        "traits": {"email": email},
        "credentials": {"password": {"config": {"password": "a-long-and-good-passphrase-42"}}}
    }))
    .await
}

async fn submit_api(app: &TestApp, kind: &str, id: &str, body: Value) -> reqwest::Response {
    app.http
        .post(app.public_url(&format!("/self-service/{kind}?flow={id}")))
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_flows_answer_400() {
    let ui = ui_server().await;
    let app = TestApp::start_with(Setup {
        yaml: format!(
            "selfservice:\n  flows:\n    error:\n      ui_url: http://127.0.0.1:{ui}/error\n"
        ),
        ..Default::default()
    })
    .await;
    for kind in ["recovery", "verification"] {
        let r = app
            .http
            .get(app.public_url(&format!("/self-service/{kind}/api")))
            .send()
            .await
            .unwrap();
        let e = expect_error(r, 400).await;
        assert_eq!(e["error"]["id"], "self_service_flow_disabled");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_recovery_sends_same_answer_for_unknown_and_limits_attempts() {
    let (app, _ui) = start("code", "code", "").await;
    identity(&app, "known@example.org").await;

    let flow = api_flow(&app, "recovery").await;
    assert_eq!(flow["state"], "choose_method");
    assert_eq!(
        node_names(&flow),
        [
            "default:csrf_token:hidden",
            "code:email:email",
            "code:method:submit"
        ]
    );
    assert_eq!(node(&flow, "method")["meta"]["label"]["id"], 1070009);

    let mut answers = Vec::new();
    for email in ["known@example.org", "nobody@example.org"] {
        let flow = api_flow(&app, "recovery").await;
        let id = flow["id"].as_str().unwrap().to_owned();
        let r = submit_api(
            &app,
            "recovery",
            &id,
            json!({"method": "code", "email": email}),
        )
        .await;
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["state"], "sent_email");
        assert_eq!(all_message_ids(&v), [1060003]);
        // The screen of Kratos's `recoveryHandleFormSubmission` (since v1.3).
        assert_eq!(
            screen(&v),
            [
                csrf_input(),
                input(
                    "code",
                    "code",
                    "text",
                    json!({"required": true, "autocomplete": "one-time-code", "maxlength": 6, "pattern": "[0-9]+"}),
                    Some(1070010)
                ),
                input("code", "method", "hidden", json!({"value": "code"}), None),
                input(
                    "code",
                    "method",
                    "submit",
                    json!({"value": "code"}),
                    Some(1070009)
                ),
                input(
                    "code",
                    "email",
                    "submit",
                    json!({"value": email}),
                    Some(1070008)
                ),
            ]
        );
        answers.push((node_names(&v), id));
    }
    // No enumeration: the answer for an unknown address looks exactly like a known one.
    assert_eq!(answers[0].0, answers[1].0);
    assert_eq!(
        answers[0].0,
        [
            "default:csrf_token:hidden",
            "code:code:text",
            "code:method:hidden",
            "code:method:submit",
            "code:email:submit"
        ]
    );

    // Wrong codes are rejected in place (200, 4060006) up to max_submissions (5) …
    let id = &answers[0].1;
    for _ in 0..5 {
        let r = submit_api(
            &app,
            "recovery",
            id,
            json!({"method": "code", "code": "000000"}),
        )
        .await;
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        assert_eq!(all_message_ids(&v), [4060006]);
        assert_eq!(v["state"], "sent_email");
    }
    // … then the flow is replaced by a fresh one.
    let r = submit_api(
        &app,
        "recovery",
        id,
        json!({"method": "code", "code": "000000"}),
    )
    .await;
    let e = expect_error(r, 410).await;
    assert_eq!(e["error"]["id"], "self_service_flow_replaced");
    let fresh = e["use_flow_id"].as_str().unwrap();
    let v: Value = app
        .http
        .get(app.public_url(&format!("/self-service/recovery/flows?id={fresh}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["state"], "choose_method");
    assert_eq!(all_message_ids(&v), [4000001]);

    // Missing email is a validation error on the node.
    let flow = api_flow(&app, "recovery").await;
    let r = submit_api(
        &app,
        "recovery",
        flow["id"].as_str().unwrap(),
        json!({"method": "code"}),
    )
    .await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(all_message_ids(&v), [4000002]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_recovery_code_browser_and_native() {
    let (app, ui) = start("code", "code", "").await;
    let i = identity(&app, "rec@example.org").await;
    let iid = i["id"].as_str().unwrap();

    // Unknown identity → 404; bad expires_in → 400.
    let r = app
        .http
        .post(app.admin_url("/admin/recovery/code"))
        .json(&json!({"identity_id": uuid::Uuid::new_v4()}))
        .send()
        .await
        .unwrap();
    expect_error(r, 404).await;
    let r = app
        .http
        .post(app.admin_url("/admin/recovery/code"))
        .json(&json!({"identity_id": iid, "expires_in": "soon"}))
        .send()
        .await
        .unwrap();
    expect_error(r, 400).await;

    // Browser (SPA): the admin's link opens the flow; the code completes it.
    let r = app
        .http
        .post(app.admin_url("/admin/recovery/code"))
        .json(&json!({"identity_id": iid, "expires_in": "15m"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    let code = created["recovery_code"].as_str().unwrap().to_owned();
    assert_eq!(code.len(), 6);
    let link = created["recovery_link"].as_str().unwrap();
    assert!(
        link.starts_with(&format!("http://127.0.0.1:{ui}/recovery?flow=")),
        "{link}"
    );
    let fid = link.split("flow=").nth(1).unwrap();
    let spa = no_redirects(true);
    let flow: Value = spa
        .get(app.public_url(&format!("/self-service/recovery/flows?id={fid}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(flow["state"], "sent_email");
    // As Kratos's admin flow: the code input and submit, nothing else.
    assert_eq!(
        screen(&flow),
        [
            input(
                "code",
                "code",
                "text",
                json!({"required": true}),
                Some(1070010)
            ),
            input(
                "code",
                "method",
                "submit",
                json!({"value": "code"}),
                Some(1070005)
            ),
        ]
    );
    let r = spa
        .post(app.public_url(&format!("/self-service/recovery?flow={fid}")))
        .json(&json!({"method": "code", "code": code}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let done: Value = r.json().await.unwrap();
    assert_eq!(done["state"], "passed_challenge");
    assert_eq!(done["continue_with"][0]["action"], "show_settings_ui");
    let settings_id = done["continue_with"][0]["flow"]["id"].as_str().unwrap();
    assert_eq!(
        done["continue_with"][0]["flow"]["url"],
        format!("http://127.0.0.1:{ui}/settings?flow={settings_id}")
    );
    let who: Value = spa
        .get(app.public_url("/sessions/whoami"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(who["identity"]["id"], iid);
    assert_eq!(who["authentication_methods"][0]["method"], "code_recovery");
    // Reusing the code on the finished flow: replaced, with 4060001 on the new flow.
    let r = spa
        .post(app.public_url(&format!("/self-service/recovery?flow={fid}")))
        .json(&json!({"method": "code", "code": code}))
        .send()
        .await
        .unwrap();
    let e = expect_error(r, 410).await;
    assert_eq!(e["error"]["id"], "self_service_flow_replaced");

    // Native app: the session token arrives in continue_with.
    let r = app
        .http
        .post(app.admin_url("/admin/recovery/code"))
        .json(&json!({"identity_id": iid, "flow_type": "api"}))
        .send()
        .await
        .unwrap();
    let created: Value = r.json().await.unwrap();
    let fid = created["recovery_link"]
        .as_str()
        .unwrap()
        .split("flow=")
        .nth(1)
        .unwrap()
        .to_owned();
    let r = submit_api(
        &app,
        "recovery",
        &fid,
        json!({"method": "code", "code": created["recovery_code"]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let done: Value = r.json().await.unwrap();
    assert_eq!(done["continue_with"][0]["action"], "set_ory_session_token");
    let token = done["continue_with"][0]["ory_session_token"]
        .as_str()
        .unwrap();
    let who = app
        .http
        .get(app.public_url("/sessions/whoami"))
        .header("x-session-token", token)
        .send()
        .await
        .unwrap();
    assert_eq!(who.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_recovery_link_opens_a_session_once() {
    let (app, ui) = start("link", "link", "").await;
    let i = identity(&app, "link@example.org").await;
    let r = app
        .http
        .post(app.admin_url("/admin/recovery/link"))
        .json(&json!({"identity_id": i["id"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let created: Value = r.json().await.unwrap();
    let link = created["recovery_link"].as_str().unwrap().to_owned();
    assert!(
        link.contains("/self-service/recovery?flow=") && link.contains("&token="),
        "{link}"
    );
    assert!(created["expires_at"].is_string());

    let b = browser();
    let landing = b.get(&link).send().await.unwrap();
    assert!(
        landing
            .url()
            .as_str()
            .starts_with(&format!("http://127.0.0.1:{ui}/settings?flow=")),
        "{}",
        landing.url()
    );
    let who = b
        .get(app.public_url("/sessions/whoami"))
        .send()
        .await
        .unwrap();
    assert_eq!(who.status(), 200);

    // A used link sends the browser to a fresh recovery flow.
    let again = browser().get(&link).send().await.unwrap();
    assert!(
        again
            .url()
            .as_str()
            .starts_with(&format!("http://127.0.0.1:{ui}/recovery?flow="))
    );

    // Self-service link method: same answer for known and unknown addresses (1060002).
    for email in ["link@example.org", "ghost@example.org"] {
        let flow = api_flow(&app, "recovery").await;
        assert_eq!(flow["ui"]["nodes"][2]["attributes"]["value"], "link");
        let r = submit_api(
            &app,
            "recovery",
            flow["id"].as_str().unwrap(),
            json!({"method": "link", "email": email}),
        )
        .await;
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["state"], "sent_email");
        assert_eq!(all_message_ids(&v), [1060002]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_recovery_flow_is_replaced() {
    let ui = ui_server().await;
    let app = TestApp::start_with(Setup {
        yaml: yaml(ui, "code", "code", "").replace(
            "    recovery:\n      enabled: true\n",
            "    recovery:\n      enabled: true\n      lifespan: 1s\n",
        ),
        ..Default::default()
    })
    .await;
    let flow = api_flow(&app, "recovery").await;
    let id = flow["id"].as_str().unwrap().to_owned();
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let r = submit_api(
        &app,
        "recovery",
        &id,
        json!({"method": "code", "email": "a@example.org"}),
    )
    .await;
    let e = expect_error(r, 410).await;
    assert_eq!(e["error"]["id"], "self_service_flow_expired");
    assert!(e["use_flow_id"].is_string());
    let r = app
        .http
        .get(app.public_url(&format!("/self-service/recovery/flows?id={id}")))
        .send()
        .await
        .unwrap();
    expect_error(r, 410).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_mails_verification_and_login_requires_it() {
    let extra = "";
    let (app, ui) = start("code", "code", extra).await;
    // Browser sign-up with show_verification_ui: lands on the verification UI.
    let b = browser();
    let landing = b
        .get(app.public_url("/self-service/registration/browser"))
        .send()
        .await
        .unwrap();
    let text = landing.text().await.unwrap();
    let rid = text.split("flow=").nth(1).unwrap().to_owned();
    let flow: Value = b
        .get(app.public_url(&format!("/self-service/registration/flows?id={rid}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let csrf = flow["ui"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["attributes"]["name"] == "csrf_token")
        .unwrap()["attributes"]["value"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = b
        .post(app.public_url(&format!("/self-service/registration?flow={rid}")))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("method", "password"),
            ("traits.email", "new@example.org"),
            ("password", "a-long-and-good-passphrase-42"),
        ])
        .send()
        .await
        .unwrap();
    let landed = r.url().clone();
    assert_eq!(landed.port(), Some(ui));
    assert_eq!(landed.path(), "/verification", "{landed}");
    let vid = landed
        .query()
        .unwrap()
        .split("flow=")
        .nth(1)
        .unwrap()
        .to_owned();
    let vflow: Value = b
        .get(app.public_url(&format!("/self-service/verification/flows?id={vid}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(vflow["state"], "sent_email");
    assert_eq!(all_message_ids(&vflow), [1080003]);

    // The address is now `sent`, not verified.
    let list: Value = app
        .http
        .get(app.admin_url("/admin/identities?credentials_identifier=new@example.org"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let addr = &list[0]["verifiable_addresses"][0];
    assert_eq!(addr["status"], "sent");
    assert_eq!(addr["verified"], false);

    // A wrong code on the verification flow: 4070006.
    let v: Value = b
        .post(app.public_url(&format!("/self-service/verification?flow={vid}")))
        .header("accept", "application/json")
        .json(&json!({"method": "code", "code": "000000"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(all_message_ids(&v), [4070006]);

    // Native sign-up: continue_with names the verification flow, without a browser URL.
    let reg = api_flow(&app, "registration").await;
    let r = submit_api(&app, "registration", reg["id"].as_str().unwrap(), json!({
        "method": "password", "traits": {"email": "native@example.org"}, "password": "a-long-and-good-passphrase-42"
    })).await;
    assert_eq!(r.status(), 200);
    let done: Value = r.json().await.unwrap();
    let cw = done["continue_with"].as_array().unwrap();
    let item = cw
        .iter()
        .find(|c| c["action"] == "show_verification_ui")
        .expect("show_verification_ui");
    assert_eq!(item["flow"]["verifiable_address"], "native@example.org");
    assert!(item["flow"].get("url").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_requires_verified_address() {
    let ui = ui_server().await;
    let login = format!("    login:\n      ui_url: http://127.0.0.1:{ui}/login\n");
    let app = TestApp::start_with(Setup {
        yaml: yaml(ui, "code", "code", "").replace(
            &login,
            &format!("{login}      after:\n        password:\n          hooks:\n            - hook: require_verified_address\n"),
        ),
        ..Default::default()
    })
    .await;
    identity(&app, "unverified@example.org").await;
    let flow = api_flow(&app, "login").await;
    let r = submit_api(&app, "login", flow["id"].as_str().unwrap(), json!({
        "method": "password", "identifier": "unverified@example.org", "password": "a-long-and-good-passphrase-42"
    })).await;
    let e = expect_error(r, 400).await;
    assert_eq!(e["error"]["id"], "session_verified_address_required");
}

/// Verification by code once the code went out, as Kratos's `PopulateVerificationMethod`
/// draws it: the code input and submit, then (browser flows only) the CSRF token, then
/// "resend".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_code_screen_matches_kratos() {
    let (app, _ui) = start("code", "code", "").await;
    identity(&app, "verify-me@example.org").await;
    // The first screen: the address and its button; an API flow carries no CSRF token.
    let flow = api_flow(&app, "verification").await;
    assert_eq!(
        screen(&flow),
        [
            input(
                "code",
                "email",
                "email",
                json!({"required": true}),
                Some(1070007)
            ),
            input(
                "code",
                "method",
                "submit",
                json!({"value": "code"}),
                Some(1070005)
            ),
        ]
    );
    // A browser's form has its CSRF token last.
    let spa = no_redirects(true);
    let browser_flow: Value = spa
        .get(app.public_url("/self-service/verification/browser"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        screen(&browser_flow)[1..],
        [
            input(
                "code",
                "method",
                "submit",
                json!({"value": "code"}),
                Some(1070005)
            ),
            csrf_input(),
        ]
    );
    let r = submit_api(
        &app,
        "verification",
        flow["id"].as_str().unwrap(),
        json!({"method": "code", "email": "verify-me@example.org"}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["state"], "sent_email");
    assert_eq!(all_message_ids(&v), [1080003]);
    assert_eq!(
        screen(&v),
        [
            input(
                "code",
                "code",
                "text",
                json!({"required": true}),
                Some(1070011)
            ),
            input("code", "method", "hidden", json!({"value": "code"}), None),
            input(
                "code",
                "method",
                "submit",
                json!({"value": "code"}),
                Some(1070005)
            ),
            input(
                "code",
                "email",
                "submit",
                json!({"value": "verify-me@example.org"}),
                Some(1070008)
            ),
        ]
    );
}
