//! Account recovery and address verification: codes and links, browsers and native apps, the
//! admin recovery endpoints, the registration mail hook and the login verified-address check.
//!
//! Codes mailed to users are mostly read through the admin endpoints here (they return the code
//! or link); reading them from a recorded SMTP session waits for the courier, which the
//! recovery link of a native app's flow does.

use serde_json::{Value, json};

use crate::common::flow::{
    all_message_ids, api_flow, browser, csrf_input, input, no_redirects, node, screen,
};
use crate::common::smtp::{SmtpServer, plaintext};
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

/// The courier mailing through `mail`.
fn courier(mail: &SmtpServer) -> String {
    format!(
        "watch-courier: true\ncourier:\n  worker:\n    pull_wait: 50ms\n  smtp:\n    connection_uri: \"{}\"\n    from_address: noreply@gatehouse.test\n",
        mail.uri()
    )
}

/// The link in the `n`th mail received.
async fn mailed_link(mail: &SmtpServer, n: usize) -> String {
    let received = mail.wait_for(n, std::time::Duration::from_secs(20)).await;
    let text = plaintext(&received[n - 1]);
    let start = text.find("http").expect("a link in the mail");
    text[start..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect()
}

/// The recovery link mailed for a flow a native app started (`/self-service/recovery/api`)
/// is opened in a browser: as Kratos's link strategy, it answers 303 to the settings UI with a
/// session cookie and a browser settings flow, never the flow JSON or a session token, and
/// whatever the client accepts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_recovery_link_signs_the_browser_in() {
    let mut mail = SmtpServer::start(0).await;
    let (app, ui) = start("link", "code", &courier(&mail)).await;
    let i = identity(&app, "api-link@example.org").await;
    let mut used = String::new();
    for (n, accept_json) in [(1, false), (2, true)] {
        let flow = api_flow(&app, "recovery").await;
        let fid = flow["id"].as_str().unwrap().to_owned();
        let r = submit_api(
            &app,
            "recovery",
            &fid,
            json!({"method": "link", "email": "api-link@example.org"}),
        )
        .await;
        assert_eq!(r.status(), 200);
        let link = mailed_link(&mail, n).await;
        assert!(
            link.contains(&format!("/self-service/recovery?flow={fid}&token=")),
            "{link}"
        );

        let b = no_redirects(accept_json);
        let r = b.get(&link).send().await.unwrap();
        assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
        let to = r.headers()["location"].to_str().unwrap().to_owned();
        let settings_prefix = format!("http://127.0.0.1:{ui}/settings?flow=");
        assert!(to.starts_with(&settings_prefix), "{to}");
        let cookies: Vec<String> = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|c| c.to_str().unwrap().to_owned())
            .collect();
        assert!(
            cookies.iter().any(|c| c.starts_with("ory_kratos_session=")),
            "{cookies:?}"
        );
        assert!(
            cookies.iter().any(|c| c.starts_with("csrf_token_")),
            "{cookies:?}"
        );
        // The browser is signed in by the recovery link.
        let who: Value = b
            .get(app.public_url("/sessions/whoami"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(who["identity"]["id"], i["id"], "{who}");
        assert_eq!(who["authentication_methods"][0]["method"], "link_recovery");
        // The settings flow it continues in is a browser flow, bound to the cookies just set.
        let sid = &to[settings_prefix.len()..];
        let settings: Value = b
            .get(app.public_url(&format!("/self-service/settings/flows?id={sid}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(settings["type"], "browser", "{settings}");
        assert_eq!(all_message_ids(&settings), [1060001], "{settings}");
        let r = b
            .post(app.public_url(&format!("/self-service/settings?flow={sid}")))
            .header("accept", "application/json")
            .json(&json!({"method": "password", "password": format!("a fresh and long passphrase {n}"),
                          "csrf_token": crate::common::flow::csrf(&settings)}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        // The recovery flow is done (and, as in Kratos, still an API flow).
        let done: Value = app
            .http
            .get(app.public_url(&format!("/self-service/recovery/flows?id={fid}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            (done["type"].as_str(), done["state"].as_str()),
            (Some("api"), Some("passed_challenge")),
            "{done}"
        );
        assert!(!done.to_string().contains("ory_session_token"), "{done}");
        used = link;
    }
    // A used (or wrong) link restarts recovery in a browser flow saying so (4060004), for a
    // browser that may not have been the one that asked.
    for link in [used.clone(), used.replace("&token=", "&token=x")] {
        let b = no_redirects(true);
        let r = b.get(&link).send().await.unwrap();
        assert_eq!(r.status(), 303);
        let to = r.headers()["location"].to_str().unwrap().to_owned();
        let prefix = format!("http://127.0.0.1:{ui}/recovery?flow=");
        assert!(to.starts_with(&prefix), "{to}");
        let fresh: Value = b
            .get(app.public_url(&format!(
                "/self-service/recovery/flows?id={}",
                &to[prefix.len()..]
            )))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(fresh["type"], "browser", "{fresh}");
        assert_eq!(all_message_ids(&fresh), [4060004], "{fresh}");
    }
    mail.stop().await;
}

/// The link of a native app's flow that expired: as Kratos, a browser flow of the same request
/// saying so (4060005) replaces it, and the browser goes to its UI.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_api_recovery_link_restarts_in_the_browser() {
    let mut mail = SmtpServer::start(0).await;
    let ui = ui_server().await;
    let app = TestApp::start_with(Setup {
        yaml: yaml(ui, "link", "code", &courier(&mail)).replace(
            "    recovery:\n      enabled: true\n",
            "    recovery:\n      enabled: true\n      lifespan: 1s\n",
        ),
        ..Default::default()
    })
    .await;
    identity(&app, "late@example.org").await;
    let flow = api_flow(&app, "recovery").await;
    let fid = flow["id"].as_str().unwrap();
    let r = submit_api(
        &app,
        "recovery",
        fid,
        json!({"method": "link", "email": "late@example.org"}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let link = mailed_link(&mail, 1).await;
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let b = no_redirects(false);
    let r = b.get(&link).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let to = r.headers()["location"].to_str().unwrap().to_owned();
    let prefix = format!("http://127.0.0.1:{ui}/recovery?flow=");
    assert!(to.starts_with(&prefix), "{to}");
    let fresh: Value = b
        .get(app.public_url(&format!(
            "/self-service/recovery/flows?id={}",
            &to[prefix.len()..]
        )))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(fresh["type"], "browser", "{fresh}");
    assert_eq!(fresh["request_url"], flow["request_url"], "{fresh}");
    assert_eq!(all_message_ids(&fresh), [4060005], "{fresh}");
    mail.stop().await;
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

    // The flow belongs to the browser that signed up, like every browser flow: another
    // client cannot read or submit it.
    let stranger = browser();
    let r = stranger
        .get(app.public_url(&format!("/self-service/verification/flows?id={vid}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = stranger
        .post(app.public_url(&format!("/self-service/verification?flow={vid}")))
        .header("accept", "application/json")
        .json(&json!({"method": "code", "code": "000000", "csrf_token": "forged"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["id"], "security_csrf_violation", "{body}");

    // A wrong code from the browser (with its token): 4070006.
    let vcsrf = vflow["ui"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["attributes"]["name"] == "csrf_token")
        .unwrap()["attributes"]["value"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!vcsrf.is_empty());
    let v: Value = b
        .post(app.public_url(&format!("/self-service/verification?flow={vid}")))
        .header("accept", "application/json")
        .json(&json!({"method": "code", "code": "000000", "csrf_token": vcsrf}))
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

/// The server with the login hook `require_verified_address`, and `extra` at the top level.
async fn start_verified_login(extra: &str) -> (TestApp, u16) {
    let ui = ui_server().await;
    let login = format!("    login:\n      ui_url: http://127.0.0.1:{ui}/login\n");
    let app = TestApp::start_with(Setup {
        yaml: yaml(ui, "code", "code", extra).replace(
            &login,
            &format!("{login}      after:\n        password:\n          hooks:\n            - hook: require_verified_address\n"),
        ),
        ..Default::default()
    })
    .await;
    (app, ui)
}

/// A password login of `email` as a browser posting the form (no redirects followed).
async fn browser_login(app: &TestApp, email: &str) -> (String, reqwest::Response) {
    let b = no_redirects(false);
    let r = b
        .get(app.public_url("/self-service/login/browser"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let id = crate::common::flow::flow_id_from(r.headers()["location"].to_str().unwrap());
    let flow: Value = b
        .get(app.public_url(&format!("/self-service/login/flows?id={id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let r = b
        .post(app.public_url(&format!("/self-service/login?flow={id}")))
        .form(&[
            ("csrf_token", crate::common::flow::csrf(&flow).as_str()),
            ("method", "password"),
            ("identifier", email),
            ("password", "a-long-and-good-passphrase-42"),
        ])
        .send()
        .await
        .unwrap();
    (id, r)
}

/// The courier messages queued for `to`.
async fn messages_to(app: &TestApp, to: &str) -> Vec<Value> {
    let list: Value = app
        .http
        .get(app.admin_url(&format!("/admin/courier/messages?recipient={to}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    list.as_array().unwrap().clone()
}

/// Kratos's address verifier: no session, and a verification flow with a code sent, which
/// native apps and SPAs are told about (403 with `continue_with`) and browsers are sent to.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_requires_verified_address_and_starts_its_verification() {
    let (app, ui) = start_verified_login("").await;
    identity(&app, "unverified@example.org").await;
    let flow = api_flow(&app, "login").await;
    let fid = flow["id"].as_str().unwrap();
    let r = submit_api(&app, "login", fid, json!({
        "method": "password", "identifier": "unverified@example.org", "password": "a-long-and-good-passphrase-42"
    })).await;
    assert_eq!(r.status(), 403);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["id"], "session_verified_address_required", "{e}");
    assert_eq!(e["error"]["code"], 400, "{e}");
    assert!(e.get("session_token").is_none());
    let cw = e["error"]["details"]["continue_with"].as_array().unwrap();
    assert_eq!(cw.len(), 1, "{e}");
    assert_eq!(cw[0]["action"], "show_verification_ui");
    assert_eq!(
        cw[0]["flow"]["verifiable_address"],
        "unverified@example.org"
    );
    let vid = cw[0]["flow"]["id"].as_str().unwrap();
    assert_eq!(
        cw[0]["flow"]["url"],
        format!("http://127.0.0.1:{ui}/verification?flow={vid}")
    );
    // The verification flow (of the login flow's type) waits for the code just mailed, with a
    // button to send another.
    let v: Value = app
        .http
        .get(app.public_url(&format!("/self-service/verification/flows?id={vid}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (v["type"].as_str(), v["state"].as_str()),
        (Some("api"), Some("sent_email")),
        "{v}"
    );
    let resend = crate::common::flow::node(&v, "email");
    assert_eq!(resend["attributes"]["type"], "submit");
    assert_eq!(resend["attributes"]["value"], "unverified@example.org");
    assert_eq!(resend["meta"]["label"]["id"], 1070008);
    let sent = messages_to(&app, "unverified@example.org").await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["template_type"], "verification_code_valid");
    // The login flow is still open: nothing was signed in.
    let l: Value = app
        .http
        .get(app.public_url(&format!("/self-service/login/flows?id={fid}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(l["state"], "choose_method");

    // A browser is sent to the verification UI, without a session cookie.
    let (_, r) = browser_login(&app, "unverified@example.org").await;
    assert_eq!(r.status(), 303);
    let to = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        to.starts_with(&format!("http://127.0.0.1:{ui}/verification?flow=")),
        "{to}"
    );
    assert!(
        !r.headers()
            .get_all("set-cookie")
            .iter()
            .any(|c| c.to_str().unwrap().starts_with("ory_kratos_session="))
    );
    assert_eq!(messages_to(&app, "unverified@example.org").await.len(), 2);

    // An identity without any verifiable address cannot pass the hook: Kratos's
    // misconfiguration error (500), not a verification flow.
    app.create_identity(json!({
        "schema_id": "employee",
        "traits": {"staff_id": "E42"},
        "credentials": {"password": {"config": {"password": "a-long-and-good-passphrase-42"}}}
    }))
    .await;
    let flow = api_flow(&app, "login").await;
    let r = submit_api(
        &app,
        "login",
        flow["id"].as_str().unwrap(),
        json!({
            "method": "password", "identifier": "E42", "password": "a-long-and-good-passphrase-42"
        }),
    )
    .await;
    expect_error(r, 500).await;
}

/// `feature_flags.legacy_require_verified_login_error`: the login flow itself answers 4000010,
/// and no verification flow is started.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_verified_login_error_answers_4000010_on_the_login_flow() {
    let (app, ui) =
        start_verified_login("feature_flags:\n  legacy_require_verified_login_error: true\n").await;
    identity(&app, "unverified@example.org").await;
    let flow = api_flow(&app, "login").await;
    let fid = flow["id"].as_str().unwrap();
    let r = submit_api(&app, "login", fid, json!({
        "method": "password", "identifier": "unverified@example.org", "password": "a-long-and-good-passphrase-42"
    })).await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["id"], fid, "{v}");
    assert_eq!(crate::common::flow::message_ids(&v), [4000010], "{v}");
    assert_eq!(v["state"], "choose_method");
    // Browsers go back to the login form, which shows the message.
    let (lid, r) = browser_login(&app, "unverified@example.org").await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers()["location"].to_str().unwrap(),
        format!("http://127.0.0.1:{ui}/login?flow={lid}")
    );
    assert!(messages_to(&app, "unverified@example.org").await.is_empty());
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
