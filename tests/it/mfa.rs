//! Second factors: TOTP linked in the settings flow (native and browser), aal2 login flows
//! stepping a session up (into a new one), `required_aal: highest_available` in whoami and
//! settings, a replayed code refused, and the admin reset of a lost authenticator. The codes are
//! computed here by a small RFC 6238 implementation of the test's own (HMAC-SHA-1 over the
//! base32 secret the flow shows), not by the server's.

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};

use crate::common::flow::{
    api_login, browser, csrf, flow_id_from, message_ids, no_redirects, node, node_message_ids,
    submit_with_token,
};
use crate::common::{Setup, TestApp, expect_error, ui_server};

const PASSWORD: &str = "a-long-and-good-passphrase-42";

fn yaml(ui: u16) -> String {
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
    settings:
      ui_url: http://127.0.0.1:{ui}/settings
    error:
      ui_url: http://127.0.0.1:{ui}/error
  methods:
    password:
      config:
        haveibeenpwned_enabled: false
    totp:
      enabled: true
      config:
        issuer: Gatehouse Test
"
    )
}

async fn start() -> (TestApp, u16) {
    let ui = ui_server().await;
    let app = TestApp::start_with(Setup {
        yaml: yaml(ui),
        ..Default::default()
    })
    .await;
    (app, ui)
}

async fn create(app: &TestApp, email: &str) -> Value {
    app.create_identity(json!({
        "schema_id": "customer",
        "traits": {"email": email},
        "credentials": {"password": {"config": {"password": PASSWORD}}}
    }))
    .await
}

/// RFC 4648 base32 (no padding), as authenticator apps read the secret.
fn base32_decode(s: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut bits, mut n, mut out) = (0u64, 0u32, Vec::new());
    for c in s.bytes().filter(|c| *c != b'=') {
        let v = ALPHABET.iter().position(|a| *a == c).expect("base32") as u64;
        bits = (bits << 5) | v;
        n += 5;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
        }
    }
    out
}

/// RFC 6238 with RFC 4226's dynamic truncation: HMAC-SHA-1, 30 s steps, 6 digits; `offset`
/// steps from now.
pub(crate) fn code(secret: &[u8], offset: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let counter = (now / 30 + offset) as u64;
    let mut mac = <Hmac<sha1::Sha1> as KeyInit>::new_from_slice(secret).unwrap();
    mac.update(&counter.to_be_bytes());
    let h = mac.finalize().into_bytes();
    let o = (h[h.len() - 1] & 0x0f) as usize;
    let bin = u32::from_be_bytes([h[o] & 0x7f, h[o + 1], h[o + 2], h[o + 3]]);
    format!("{:06}", bin % 1_000_000)
}

/// The secret a settings flow offers, from its `totp_secret_key` text node.
pub(crate) fn offered_secret(flow: &Value) -> Vec<u8> {
    let n = flow["ui"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["attributes"]["id"] == "totp_secret_key")
        .unwrap_or_else(|| panic!("no secret in {flow}"));
    assert_eq!(n["group"], "totp");
    assert_eq!(n["attributes"]["text"]["id"], 1050006);
    assert_eq!(n["meta"]["label"]["id"], 1050017);
    let secret = n["attributes"]["text"]["context"]["secret"]
        .as_str()
        .unwrap();
    assert_eq!(n["attributes"]["text"]["text"], secret);
    let bytes = base32_decode(secret);
    assert_eq!(bytes.len(), 20, "RFC 6238 secrets of 160 bits");
    bytes
}

/// The nodes of `group`, as (name or id, label id).
fn group_nodes(flow: &Value, group: &str) -> Vec<(String, Option<u64>)> {
    flow["ui"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["group"] == group)
        .map(|n| {
            let a = &n["attributes"];
            let name = a["name"].as_str().or(a["id"].as_str()).unwrap().to_owned();
            (name, n["meta"]["label"]["id"].as_u64())
        })
        .collect()
}

async fn token_for(app: &TestApp, email: &str) -> String {
    let (status, v) = api_login(app, email, PASSWORD).await;
    assert_eq!(status, 200, "{v}");
    v["session_token"].as_str().unwrap().to_owned()
}

async fn api_get(app: &TestApp, path: &str, token: Option<&str>) -> reqwest::Response {
    let mut r = app.http.get(app.public_url(path));
    if let Some(t) = token {
        r = r.header("X-Session-Token", t);
    }
    r.send().await.unwrap()
}

async fn whoami_status(app: &TestApp, token: &str) -> (u16, Value) {
    let r = api_get(app, "/sessions/whoami", Some(token)).await;
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test]
async fn totp_native_link_step_up_replay_and_admin_reset() {
    let (app, _ui) = start().await;
    let created = create(&app, "mfa-native@example.com").await;
    let id = created["id"].as_str().unwrap();
    let token = token_for(&app, "mfa-native@example.com").await;
    // No second factor yet: aal1 is the highest this identity has.
    assert_eq!(whoami_status(&app, &token).await.0, 200);

    // Stepping up needs a session.
    let r = api_get(&app, "/self-service/login/api?aal=aal2", None).await;
    let e = expect_error(r, 401).await;
    assert_eq!(e["id"], "session_aal1_required");

    // Settings offers the device setup as Kratos draws it.
    let flow: Value = api_get(&app, "/self-service/settings/api", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        group_nodes(&flow, "totp"),
        vec![
            ("totp_qr".into(), Some(1050005)),
            ("totp_secret_key".into(), Some(1050017)),
            ("totp_code".into(), Some(1070006)),
            ("method".into(), Some(1070003)),
        ]
    );
    let qr = flow["ui"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["attributes"]["id"] == "totp_qr")
        .unwrap();
    assert_eq!(qr["type"], "img");
    assert_eq!(qr["attributes"]["width"], 256);
    assert!(
        qr["attributes"]["src"]
            .as_str()
            .unwrap()
            .starts_with("data:image/png;base64,iVBORw0KGgo")
    );
    assert_eq!(node(&flow, "totp_code")["attributes"]["required"], true);
    let secret = offered_secret(&flow);

    // A wrong code (one from five minutes ago) is refused on the code's node.
    let (status, v) = submit_with_token(
        &app,
        &token,
        &flow,
        json!({"method": "totp", "totp_code": code(&secret, -10)}),
    )
    .await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(node_message_ids(&v, "totp_code"), vec![4000008]);
    // The right one links the device; the flow now offers to unlink it.
    let (status, v) = submit_with_token(
        &app,
        &token,
        &flow,
        json!({"method": "totp", "totp_code": code(&secret, 0)}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["state"], "success");
    assert_eq!(
        group_nodes(&v, "totp"),
        vec![("totp_unlink".into(), Some(1050004))]
    );

    // Entering the code proved the device: as in Kratos, the session that linked it is aal2
    // at once, with the method recorded, and goes on without a second sign-in.
    let (status, who) = whoami_status(&app, &token).await;
    assert_eq!(status, 200, "{who}");
    assert_eq!(who["authenticator_assurance_level"], "aal2");
    let methods: Vec<&str> = who["authentication_methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["method"].as_str().unwrap())
        .collect();
    assert_eq!(methods, ["password", "totp"]);
    let r = api_get(&app, "/self-service/settings/api", Some(&token)).await;
    assert_eq!(r.status(), 200);

    // A new sign-in with the password alone: whoami wants the second factor, and says where
    // to get it.
    let token = token_for(&app, "mfa-native@example.com").await;
    let (status, e) = whoami_status(&app, &token).await;
    assert_eq!(status, 403, "{e}");
    assert_eq!(e["error"]["id"], "session_aal2_required");
    let to = e["redirect_browser_to"].as_str().unwrap();
    assert!(to.ends_with("/self-service/login/browser?aal=aal2"), "{to}");
    assert_eq!(e["error"]["details"]["redirect_browser_to"], to);
    // So does settings (`required_aal: highest_available` by default).
    let r = api_get(&app, "/self-service/settings/api", Some(&token)).await;
    let e = expect_error(r, 403).await;
    assert_eq!(e["id"], "session_aal2_required");

    // The aal2 login flow offers the second factor only.
    let flow: Value = api_get(&app, "/self-service/login/api?aal=aal2", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(flow["requested_aal"], "aal2", "{flow}");
    assert_eq!(message_ids(&flow), vec![1010004]);
    let names: Vec<(String, Option<u64>)> = flow["ui"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["attributes"]["name"].as_str().unwrap().to_owned(),
                n["meta"]["label"]["id"].as_u64(),
            )
        })
        .collect();
    assert_eq!(
        names,
        vec![
            ("csrf_token".into(), None),
            ("totp_code".into(), Some(1010006)),
            ("method".into(), Some(1010009)),
        ]
    );
    // A password cannot stand in for the second factor.
    let (status, v) = submit_with_token(
        &app,
        &token,
        &flow,
        json!({"method": "password", "identifier": "mfa-native@example.com", "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, 400, "{v}");
    // The next step's code (within the one-step skew) completes it at aal2.
    let step_code = code(&secret, 1);
    let (status, v) = submit_with_token(
        &app,
        &token,
        &flow,
        json!({"method": "totp", "totp_code": step_code}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    // The official SDK reads the answer (it cannot read flows with nodes at all:
    // ory/kratos-client-rust#3, see flows.rs).
    let sdk: ory_kratos_client::models::SuccessfulNativeLogin =
        serde_json::from_value(v.clone()).expect("the SDK decodes the stepped-up login");
    assert_eq!(
        sdk.session.authenticator_assurance_level,
        Some(ory_kratos_client::models::AuthenticatorAssuranceLevel::Aal2)
    );
    // Gatehouse's default (`session.hygiene`): the step-up is a new session with a new token,
    // and the old one is revoked.
    assert_ne!(v["session_token"], token.as_str());
    assert_eq!(whoami_status(&app, &token).await.0, 401);
    let token = v["session_token"].as_str().unwrap().to_owned();
    let session = &v["session"];
    assert_eq!(session["authenticator_assurance_level"], "aal2");
    let methods: Vec<(&str, &str)> = session["authentication_methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["method"].as_str().unwrap(), m["aal"].as_str().unwrap()))
        .collect();
    assert_eq!(methods, vec![("password", "aal1"), ("totp", "aal2")]);
    let (status, who) = whoami_status(&app, &token).await;
    assert_eq!(status, 200, "{who}");
    assert_eq!(who["id"], session["id"]);
    assert_eq!(who["authenticator_assurance_level"], "aal2");
    // An aal2 session asking for aal2 again is already there.
    let r = api_get(&app, "/self-service/login/api?aal=aal2", Some(&token)).await;
    let e = expect_error(r, 400).await;
    assert_eq!(e["id"], "session_already_available");
    // With `refresh=true` it asks for the factor again.
    let flow: Value = api_get(
        &app,
        "/self-service/login/api?aal=aal2&refresh=true",
        Some(&token),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(flow["refresh"], true, "{flow}");
    assert_eq!(flow["requested_aal"], "aal2");
    assert_eq!(message_ids(&flow), vec![1010003]);
    assert_eq!(group_nodes(&flow, "totp").len(), 2);

    // Better than Kratos: the same code is refused within its window, even on a new session.
    // A password alone gives a token, but not the identity (Kratos's guard against phishing).
    let (status, v) = api_login(&app, "mfa-native@example.com", PASSWORD).await;
    assert_eq!(status, 200, "{v}");
    assert!(v["session"]["identity"].is_null(), "{v}");
    assert_eq!(v["session"]["authenticator_assurance_level"], "aal1");
    let other = v["session_token"].as_str().unwrap().to_owned();
    let flow: Value = api_get(&app, "/self-service/login/api?aal=aal2", Some(&other))
        .await
        .json()
        .await
        .unwrap();
    let (status, v) = submit_with_token(
        &app,
        &other,
        &flow,
        json!({"method": "totp", "totp_code": step_code}),
    )
    .await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(node_message_ids(&v, "totp_code"), vec![4000008]);
    assert_eq!(whoami_status(&app, &other).await.0, 403);

    // Admin: the credential is listed without its secret; sessions show their methods.
    let ident: Value = app
        .http
        .get(app.admin_url(&format!("/admin/identities/{id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ident["credentials"]["totp"]["type"], "totp", "{ident}");
    assert!(!ident.to_string().contains("otpauth"), "{ident}");
    let sessions: Value = app
        .http
        .get(app.admin_url(&format!("/admin/identities/{id}/sessions")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        sessions.as_array().unwrap().iter().any(|s| {
            s["authentication_methods"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["method"] == "totp" && m["aal"] == "aal2")
        }),
        "{sessions}"
    );
    // Resetting the lost factor: aal1 sessions are enough again.
    let r = app
        .http
        .delete(app.admin_url(&format!("/admin/identities/{id}/credentials/totp")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(whoami_status(&app, &other).await.0, 200);
    let r = api_get(&app, "/self-service/login/api?aal=aal2", Some(&other)).await;
    let flow: Value = r.json().await.unwrap();
    assert!(
        group_nodes(&flow, "totp").is_empty(),
        "no factor to offer: {flow}"
    );
    app.stop().await;
}

#[tokio::test]
async fn totp_browser_link_then_password_login_goes_on_to_aal2() {
    let (app, ui) = start().await;
    create(&app, "mfa-browser@example.com").await;
    let login = |b: reqwest::Client| {
        let app = &app;
        async move {
            let landing = b
                .get(app.public_url("/self-service/login/browser"))
                .send()
                .await
                .unwrap();
            let id = flow_id_from(&landing.text().await.unwrap());
            let flow: Value = b
                .get(app.public_url(&format!("/self-service/login/flows?id={id}")))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let r = b
                .post(flow["ui"]["action"].as_str().unwrap())
                .form(&[
                    ("csrf_token", csrf(&flow).as_str()),
                    ("method", "password"),
                    ("identifier", "mfa-browser@example.com"),
                    ("password", PASSWORD),
                ])
                .send()
                .await
                .unwrap();
            (b, r)
        }
    };

    // Link in a browser settings flow (form post, redirect back to the settings UI).
    let (b, r) = login(browser()).await;
    assert_eq!(r.url().path(), "/welcome");
    let landing = b
        .get(app.public_url("/self-service/settings/browser"))
        .send()
        .await
        .unwrap();
    assert_eq!(landing.url().path(), "/settings");
    let id = flow_id_from(&landing.text().await.unwrap());
    let flow_url = app.public_url(&format!("/self-service/settings/flows?id={id}"));
    let flow: Value = b.get(&flow_url).send().await.unwrap().json().await.unwrap();
    let secret = offered_secret(&flow);
    let r = b
        .post(flow["ui"]["action"].as_str().unwrap())
        .form(&[
            ("csrf_token", csrf(&flow).as_str()),
            ("method", "totp"),
            ("totp_code", code(&secret, 0).as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.url().port(), Some(ui));
    let flow: Value = b.get(&flow_url).send().await.unwrap().json().await.unwrap();
    assert_eq!(flow["state"], "success", "{flow}");
    assert_eq!(
        group_nodes(&flow, "totp"),
        vec![("totp_unlink".into(), Some(1050004))]
    );

    // A single-page app signing in with the password alone is told to go on to aal2 (422).
    let spa = no_redirects(true);
    let flow: Value = spa
        .get(app.public_url("/self-service/login/browser"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let r = spa
        .post(flow["ui"]["action"].as_str().unwrap())
        .json(&json!({
            "csrf_token": csrf(&flow),
            "method": "password",
            "identifier": "mfa-browser@example.com",
            "password": PASSWORD,
        }))
        .send()
        .await
        .unwrap();
    let e = expect_error(r, 422).await;
    assert_eq!(e["id"], "browser_location_change_required");
    assert!(
        e["details"]["redirect_browser_to"]
            .as_str()
            .unwrap()
            .ends_with("/self-service/login/browser?aal=aal2"),
        "{e}"
    );

    // A browser is sent on to the aal2 login flow, and settings waits for it.
    let (b2, r) = login(browser()).await;
    assert_eq!(r.url().path(), "/login", "{}", r.url());
    let id = flow_id_from(&r.text().await.unwrap());
    let flow: Value = b2
        .get(app.public_url(&format!("/self-service/login/flows?id={id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(flow["requested_aal"], "aal2", "{flow}");
    let r = b2
        .get(app.public_url("/self-service/settings/browser"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    let e = expect_error(r, 403).await;
    assert_eq!(e["id"], "session_aal2_required");
    let r = b2
        .post(flow["ui"]["action"].as_str().unwrap())
        .form(&[
            ("csrf_token", csrf(&flow).as_str()),
            ("method", "totp"),
            ("totp_code", code(&secret, 1).as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.url().path(), "/welcome");
    let who: Value = b2
        .get(app.public_url("/sessions/whoami"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(who["authenticator_assurance_level"], "aal2", "{who}");
    let landing = b2
        .get(app.public_url("/self-service/settings/browser"))
        .send()
        .await
        .unwrap();
    assert_eq!(landing.url().path(), "/settings");

    // Unlinking (the stepped-up session is privileged) offers a new device setup.
    let id = flow_id_from(&landing.text().await.unwrap());
    let flow_url = app.public_url(&format!("/self-service/settings/flows?id={id}"));
    let flow: Value = b2
        .get(&flow_url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    b2.post(flow["ui"]["action"].as_str().unwrap())
        .form(&[
            ("csrf_token", csrf(&flow).as_str()),
            ("method", "totp"),
            ("totp_unlink", "true"),
        ])
        .send()
        .await
        .unwrap();
    let flow: Value = b2
        .get(&flow_url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(flow["state"], "success", "{flow}");
    let nodes: Vec<String> = group_nodes(&flow, "totp")
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(nodes, ["totp_qr", "totp_secret_key", "totp_code", "method"]);
    // Without a second factor a password is enough again.
    let (_, r) = login(browser()).await;
    assert_eq!(r.url().path(), "/welcome");
    app.stop().await;
}

/// Guessing codes is bounded per identity (Kratos has no limit): after the free wrong
/// second-factor codes even the right one is refused for a while (429), in a fresh flow too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_second_factor_codes_lock_the_second_factor_for_a_while() {
    let (app, _) = start().await;
    create(&app, "guessed@example.com").await;
    let token = token_for(&app, "guessed@example.com").await;
    let flow: Value = api_get(&app, "/self-service/settings/api", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    let secret = offered_secret(&flow);
    let (status, v) = submit_with_token(
        &app,
        &token,
        &flow,
        json!({"method": "totp", "totp_code": code(&secret, 0)}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    // Linking made that session aal2; a new password sign-in is the one to step up.
    let token = token_for(&app, "guessed@example.com").await;

    let aal2_flow = || async {
        api_get(&app, "/self-service/login/api?aal=aal2", Some(&token))
            .await
            .json::<Value>()
            .await
            .unwrap()
    };
    let flow = aal2_flow().await;
    // `security.brute_force.per_identifier` by default: five free failures, then a wait (one
    // second, a minute for failures that come this quickly), counted per identity.
    for back in 0..6 {
        let (status, v) = submit_with_token(
            &app,
            &token,
            &flow,
            json!({"method": "totp", "totp_code": code(&secret, -20 - back)}),
        )
        .await;
        assert_eq!(status, 400, "{v}");
        assert_eq!(node_message_ids(&v, "totp_code"), vec![4000008], "{v}");
    }
    // The right code of the next step, in a fresh flow: refused all the same.
    let flow = aal2_flow().await;
    let (status, v) = submit_with_token(
        &app,
        &token,
        &flow,
        json!({"method": "totp", "totp_code": code(&secret, 1)}),
    )
    .await;
    assert_eq!(status, 429, "{v}");
    assert_eq!(v["error"]["id"], "too_many_attempts", "{v}");
    let (status, _) = whoami_status(&app, &token).await;
    assert_eq!(status, 403, "still aal1");
    app.stop().await;
}
