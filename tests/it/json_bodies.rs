//! JSON submissions in the form format (dotted `traits.*` keys typed by the identity schema)
//! and Kratos's default two-step registration (`style: profile_first`): the traits on a first
//! screen, the methods on a second, over plain HTTP, as forms and as the Ory SDK sends them.

use base64::Engine;
use serde_json::{Value, json};

use crate::common::flow::{
    api_action, api_flow, api_login, browser, csrf, flow_id_from, message_ids, no_redirects, node,
    node_message_ids, submit, submit_with_token,
};
use crate::common::{Setup, TestApp, expect_error, ui_server};

/// Traits of every type a dotted key is read as: string, boolean, integer.
fn terms_schema() -> String {
    let raw = json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "properties": {"traits": {
            "type": "object",
            "properties": {
                "email": {
                    "type": "string",
                    "format": "email",
                    "ory.sh/kratos": {"credentials": {"password": {"identifier": true}}}
                },
                "nickname": {"type": "string"},
                "tos": {"type": "boolean"},
                "age": {"type": "integer", "minimum": 0}
            },
            "required": ["email"],
            "additionalProperties": false
        }}
    });
    base64::engine::general_purpose::STANDARD.encode(raw.to_string())
}

async fn start(ui: u16, registration: &str) -> TestApp {
    let yaml = format!(
        "identity:
  default_schema_id: terms
  schemas:
    - id: terms
      url: base64://{schema}
selfservice:
  default_browser_return_url: http://127.0.0.1:{ui}/welcome
  flows:
    registration:
      ui_url: http://127.0.0.1:{ui}/registration
{registration}      after:
        password:
          hooks:
            - hook: session
  methods:
    password:
      config:
        haveibeenpwned_enabled: false
",
        schema = terms_schema()
    );
    TestApp::start_with(Setup {
        yaml,
        ..Default::default()
    })
    .await
}

const PASSWORD: &str = "correct horse battery staple";

/// A single-page app's registration flow (browser flow, JSON), and the client holding its
/// CSRF cookie.
async fn spa_flow(app: &TestApp) -> (reqwest::Client, Value) {
    let spa = no_redirects(true);
    let flow: Value = spa
        .get(app.public_url("/self-service/registration/browser"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (spa, flow)
}

fn has_node(flow: &Value, name: &str, value: Option<&str>) -> bool {
    flow["ui"]["nodes"].as_array().unwrap().iter().any(|n| {
        n["attributes"]["name"] == name && value.is_none_or(|v| n["attributes"]["value"] == v)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_by_json_with_dotted_keys() {
    let app = start(ui_server().await, "").await;
    let (spa, flow) = spa_flow(&app).await;
    let action = flow["ui"]["action"].as_str().unwrap();
    // A value that cannot take the schema's type is refused on its node, nothing created.
    let r = spa
        .post(action)
        .json(
            &json!({"method": "password", "password": PASSWORD, "csrf_token": csrf(&flow),
            "traits.email": "json@example.org", "traits.age": "old"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let bad: Value = r.json().await.unwrap();
    assert!(!node_message_ids(&bad, "traits.age").is_empty(), "{bad}");
    // Dotted keys are typed by the schema and merged over a nested `traits`; a path the
    // schema does not declare is ignored.
    let r = spa
        .post(action)
        .json(
            &json!({"method": "password", "password": PASSWORD, "csrf_token": csrf(&flow),
            "traits": {"nickname": "nested", "email": "overridden@example.org"},
            "traits.email": "json@example.org", "traits.tos": 1, "traits.age": "36",
            "traits.unknown": "ignored"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let done: Value = r.json().await.unwrap();
    assert_eq!(
        done["identity"]["traits"],
        json!({"email": "json@example.org", "nickname": "nested", "tos": true, "age": 36}),
        "{done}"
    );
    // A string trait sent as a number is read as its text (native app, no CSRF).
    let flow = api_flow(&app, "registration").await;
    let (status, done) = submit(
        &app,
        &flow,
        json!({"method": "password", "password": PASSWORD, "traits.email": "native@example.org",
            "traits.nickname": 7, "traits.tos": "false"}),
    )
    .await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(
        done["identity"]["traits"],
        json!({"email": "native@example.org", "nickname": "7", "tos": false})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_by_json_with_dotted_keys() {
    let app = start(ui_server().await, "").await;
    app.create_identity(json!({
        "traits": {"email": "settings@example.org", "tos": false},
        "credentials": {"password": {"config": {"password": PASSWORD}}}
    }))
    .await;
    let (_, done) = api_login(&app, "settings@example.org", PASSWORD).await;
    let token = done["session_token"].as_str().unwrap();
    let flow: Value = app
        .http
        .get(app.public_url("/self-service/settings/api"))
        .header("X-Session-Token", token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (status, saved) = submit_with_token(
        &app,
        token,
        &flow,
        json!({"method": "profile", "traits.email": "settings@example.org", "traits.tos": "true",
            "traits.age": 40, "traits.nickname": "Set"}),
    )
    .await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(
        saved["identity"]["traits"],
        json!({"email": "settings@example.org", "tos": true, "age": 40, "nickname": "Set"})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_deep_dotted_json_keys_are_refused() {
    let app = start(ui_server().await, "").await;
    app.create_identity(json!({
        "traits": {"email": "deep@example.org"},
        "credentials": {"password": {"config": {"password": PASSWORD}}}
    }))
    .await;
    let (_, done) = api_login(&app, "deep@example.org", PASSWORD).await;
    let token = done["session_token"].as_str().unwrap().to_owned();
    for kind in ["registration", "login", "settings"] {
        let token = (kind == "settings").then_some(token.as_str());
        let action = api_action(&app, kind, token).await;
        // 5,000 segments in one key, or a key at the bound whose value nests past it.
        let long = format!("traits{}", ".a".repeat(5_000));
        let at_bound = format!("transient_payload{}", ".a".repeat(62));
        for body in [
            json!({"method": "password", long: "v"}),
            json!({"method": "password", at_bound: {"b": {"c": 1}}}),
        ] {
            let mut r = app.http.post(&action).json(&body);
            if let Some(t) = token {
                r = r.header("X-Session-Token", t);
            }
            let e = expect_error(r.send().await.unwrap(), 400).await;
            assert!(
                e["reason"].as_str().unwrap().contains("64 levels"),
                "{kind}: {e}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_step_registration_over_json() {
    let app = start(ui_server().await, "").await;
    let flow = api_flow(&app, "registration").await;
    // First screen: the traits and the profile method's button, no credentials.
    assert!(has_node(&flow, "method", Some("profile")), "{flow}");
    assert_eq!(node(&flow, "method")["group"], "profile");
    assert_eq!(node(&flow, "traits.email")["attributes"]["type"], "email");
    assert!(!has_node(&flow, "password", None), "{flow}");
    assert!(!has_node(&flow, "method", Some("password")), "{flow}");

    // Invalid traits stay on the first screen, with the reason on the node.
    let (status, bad) = submit(
        &app,
        &flow,
        json!({"method": "profile", "traits": {"email": "not an address"}}),
    )
    .await;
    assert_eq!(status, 400, "{bad}");
    assert!(!node_message_ids(&bad, "traits.email").is_empty(), "{bad}");
    assert!(has_node(&bad, "method", Some("profile")), "{bad}");

    // Valid traits (dotted, as a form would send them) lead to the credentials screen: traits
    // hidden with their values, the password method, and a way back.
    let (status, creds) = submit(
        &app,
        &flow,
        json!({"method": "profile", "traits.email": "two@example.org", "traits.age": "7"}),
    )
    .await;
    assert_eq!(status, 400, "{creds}");
    assert_eq!(creds["state"], "choose_method");
    assert_eq!(message_ids(&creds), [1040009], "{creds}");
    let email = node(&creds, "traits.email");
    assert_eq!(email["attributes"]["type"], "hidden");
    assert_eq!(email["attributes"]["value"], "two@example.org");
    assert_eq!(node(&creds, "traits.age")["attributes"]["value"], 7);
    assert_eq!(node(&creds, "password")["group"], "password");
    assert!(has_node(&creds, "method", Some("password")), "{creds}");
    assert!(!has_node(&creds, "method", Some("profile")), "{creds}");
    let back = node(&creds, "screen");
    assert_eq!(back["attributes"]["value"], "previous");
    assert_eq!(back["group"], "profile");
    assert_eq!(back["meta"]["label"]["id"], 1040008);

    // Back to the first screen, the traits kept.
    let (status, first) = submit(
        &app,
        &creds,
        json!({"method": "profile", "screen": "previous", "traits": {"email": "two@example.org"}}),
    )
    .await;
    assert_eq!(status, 400, "{first}");
    assert_eq!(node(&first, "traits.email")["attributes"]["type"], "email");
    assert_eq!(
        node(&first, "traits.email")["attributes"]["value"],
        "two@example.org"
    );
    assert!(has_node(&first, "method", Some("profile")), "{first}");
    assert!(!has_node(&first, "password", None), "{first}");
    assert!(message_ids(&first).is_empty(), "{first}");

    // Forward again, then sign up with a password.
    let (_, creds) = submit(
        &app,
        &first,
        json!({"method": "profile", "traits": {"email": "two@example.org"}}),
    )
    .await;
    assert!(has_node(&creds, "password", None), "{creds}");
    let (status, done) = submit(
        &app,
        &creds,
        json!({"method": "password", "password": PASSWORD, "traits": {"email": "two@example.org"}}),
    )
    .await;
    assert_eq!(status, 200, "{done}");
    assert!(done["session_token"].as_str().is_some(), "{done}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_step_registration_in_a_browser() {
    let ui = ui_server().await;
    let app = start(ui, "").await;
    let b = browser();
    let landing = b
        .get(app.public_url("/self-service/registration/browser"))
        .send()
        .await
        .unwrap();
    let id = flow_id_from(&landing.text().await.unwrap());
    let read = |id: String| {
        let b = b.clone();
        let url = app.public_url(&format!("/self-service/registration/flows?id={id}"));
        async move {
            b.get(url)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let flow = read(id.clone()).await;
    let action = flow["ui"]["action"].as_str().unwrap().to_owned();
    let r = b
        .post(&action)
        .form(&[
            ("csrf_token", csrf(&flow).as_str()),
            ("traits.email", "browser@example.org"),
            ("traits.tos", "on"),
            ("method", "profile"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.url().path(), "/registration");
    let creds = read(id.clone()).await;
    assert_eq!(message_ids(&creds), [1040009], "{creds}");
    assert_eq!(node(&creds, "traits.tos")["attributes"]["value"], true);
    // The hidden traits ride along with the password.
    let r = b
        .post(&action)
        .form(&[
            ("csrf_token", csrf(&creds).as_str()),
            ("traits.email", "browser@example.org"),
            ("traits.tos", "true"),
            ("password", PASSWORD),
            ("method", "password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.url().path(), "/welcome");
    let me: Value = b
        .get(app.public_url("/sessions/whoami"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        me["identity"]["traits"],
        json!({"email": "browser@example.org", "tos": true})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_step_registration_with_the_sdk() {
    use ory_kratos_client::apis::{Error, frontend_api as f};
    use ory_kratos_client::models;
    let app = start(ui_server().await, "").await;
    let mut cfg = ory_kratos_client::apis::configuration::Configuration::new();
    cfg.base_path = app.public.clone();
    // Flows are created with plain HTTP: the SDK cannot decode their nodes (see flows.rs).
    let flow_id = api_flow(&app, "registration").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let traits = json!({"email": "sdk@example.org"});
    let profile = |screen| {
        let mut body =
            models::UpdateRegistrationFlowWithProfileMethod::new("profile".into(), traits.clone());
        body.screen = screen;
        models::UpdateRegistrationFlowBody::Profile(Box::new(body))
    };
    // Each screen answers 400 with the flow, as Kratos does.
    let screen_of = |r: Result<_, Error<_>>| match r {
        Err(Error::ResponseError(e)) => {
            assert_eq!(e.status.as_u16(), 400, "{}", e.content);
            serde_json::from_str::<Value>(&e.content).unwrap()
        }
        other => panic!("expected the flow with 400, got {other:?}"),
    };
    let creds = screen_of(f::update_registration_flow(&cfg, &flow_id, profile(None), None).await);
    assert!(has_node(&creds, "method", Some("password")), "{creds}");
    let first = screen_of(
        f::update_registration_flow(
            &cfg,
            &flow_id,
            profile(Some(
                models::update_registration_flow_with_profile_method::ScreenEnum::Previous,
            )),
            None,
        )
        .await,
    );
    assert!(has_node(&first, "method", Some("profile")), "{first}");
    let creds = screen_of(
        f::update_registration_flow(
            &cfg,
            &flow_id,
            profile(Some(
                models::update_registration_flow_with_profile_method::ScreenEnum::CredentialSelection,
            )),
            None,
        )
        .await,
    );
    assert_eq!(message_ids(&creds), [1040009], "{creds}");
    let body = models::UpdateRegistrationFlowBody::Password(Box::new(
        models::UpdateRegistrationFlowWithPasswordMethod::new(
            "password".into(),
            PASSWORD.into(),
            traits.clone(),
        ),
    ));
    let done = f::update_registration_flow(&cfg, &flow_id, body, None)
        .await
        .unwrap();
    assert!(done.session_token.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_step_registration_when_configured() {
    let ui = ui_server().await;
    for style in [
        "      style: unified\n",
        "      enable_legacy_one_step: true\n",
    ] {
        let app = start(ui, style).await;
        let flow = api_flow(&app, "registration").await;
        assert!(has_node(&flow, "password", None), "{style}: {flow}");
        assert!(
            has_node(&flow, "method", Some("password")),
            "{style}: {flow}"
        );
        assert!(
            !has_node(&flow, "method", Some("profile")),
            "{style}: {flow}"
        );
        // No profile method to take a first step.
        let (status, body) = submit(
            &app,
            &flow,
            json!({"method": "profile", "traits": {"email": "one@example.org"}}),
        )
        .await;
        assert_eq!(status, 400, "{body}");
        assert!(!has_node(&body, "screen", None), "{style}: {body}");
    }
}
