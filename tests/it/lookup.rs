//! Lookup secrets (backup recovery codes): generated, confirmed, revealed and disabled in the
//! settings flow by browsers and native apps; stored only as keyed hashes; each code used
//! once, also by concurrent sign-ins; reset by the admin API.

use std::sync::Arc;

use serde_json::{Value, json};

use gatehouse::deps::Deps;
use gatehouse::selfservice::flow::request::Submission;
use gatehouse::selfservice::strategy::lookup::{
    Verdict, check_submission, populate_login, verify_and_consume,
};
use gatehouse::selfservice::ui::UiContainer;

use crate::common::flow::{api_login, browser, csrf, flow_id_from, message_ids, submit_with_token};
use crate::common::{Setup, TestApp, expect_error, ui_server};

const EMAIL: &str = "backup@example.com";
const PASSWORD: &str = "a-long-and-good-passphrase-42";

/// Settings at `required_aal: aal1`: once codes exist, Kratos's default (`highest_available`)
/// asks for an aal2 session, which these tests do not sign in to.
async fn start() -> (TestApp, u16) {
    start_with("").await
}

/// With `settings` added to `selfservice.flows.settings`.
async fn start_with(settings: &str) -> (TestApp, u16) {
    let ui = ui_server().await;
    let app = TestApp::start_with(Setup {
        yaml: format!(
            "selfservice:
  default_browser_return_url: http://127.0.0.1:{ui}/welcome
  flows:
    login:
      ui_url: http://127.0.0.1:{ui}/login
    settings:
      ui_url: http://127.0.0.1:{ui}/settings
      required_aal: aal1
{settings}    error:
      ui_url: http://127.0.0.1:{ui}/error
  methods:
    lookup_secret:
      enabled: true
    password:
      config:
        haveibeenpwned_enabled: false
"
        ),
        ..Default::default()
    })
    .await;
    (app, ui)
}

fn deps(app: &TestApp) -> Arc<Deps> {
    app.running.as_ref().unwrap().handles().deps().clone()
}

async fn create(app: &TestApp) -> String {
    let v = app
        .create_identity(json!({
            "schema_id": "customer",
            "traits": {"email": EMAIL, "username": "backup"},
            "credentials": {"password": {"config": {"password": PASSWORD}}}
        }))
        .await;
    v["id"].as_str().unwrap().to_owned()
}

async fn token(app: &TestApp) -> String {
    let (status, v) = api_login(app, EMAIL, PASSWORD).await;
    assert_eq!(status, 200, "{v}");
    v["session_token"].as_str().unwrap().to_owned()
}

async fn api_settings(app: &TestApp, token: &str) -> Value {
    let r = app
        .http
        .get(app.public_url("/self-service/settings/api"))
        .header("X-Session-Token", token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// The lookup group's nodes, by name (or id for text nodes), in order.
fn lookup_nodes(flow: &Value) -> Vec<String> {
    flow["ui"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["group"] == "lookup_secret")
        .map(|n| {
            n["attributes"]["name"]
                .as_str()
                .or(n["attributes"]["id"].as_str())
                .unwrap()
                .to_owned()
        })
        .collect()
}

/// The list node's entries: each `(message id, secret)`.
fn listed(flow: &Value) -> Vec<(u64, String)> {
    let n = flow["ui"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["attributes"]["id"] == "lookup_secret_codes")
        .unwrap_or_else(|| panic!("no codes in {flow}"));
    assert_eq!(n["type"], "text");
    assert_eq!(n["meta"]["label"]["id"], 1050010);
    assert_eq!(n["attributes"]["text"]["id"], 1050015);
    n["attributes"]["text"]["context"]["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["id"].as_u64().unwrap(),
                s["context"]["secret"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect()
}

/// Generates and confirms a set of codes through a native settings flow; returns them.
async fn set_up_codes(app: &TestApp, token: &str) -> Vec<String> {
    let flow = api_settings(app, token).await;
    let (status, shown) = submit_with_token(
        app,
        token,
        &flow,
        json!({"method": "lookup_secret", "lookup_secret_regenerate": true}),
    )
    .await;
    assert_eq!(status, 200, "{shown}");
    let codes: Vec<String> = listed(&shown).into_iter().map(|(_, c)| c).collect();
    let (status, done) = submit_with_token(
        app,
        token,
        &shown,
        json!({"method": "lookup_secret", "lookup_secret_confirm": true}),
    )
    .await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["state"], "success");
    codes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_generate_confirm_reveal_regenerate_disable() {
    let (app, _) = start().await;
    let id = create(&app).await;
    let token = token(&app).await;
    let deps = deps(&app);
    let identity: uuid::Uuid = id.parse().unwrap();

    // No codes yet: only the button that generates them.
    let flow = api_settings(&app, &token).await;
    assert_eq!(lookup_nodes(&flow), ["lookup_secret_regenerate"]);
    let regen = crate::common::flow::node(&flow, "lookup_secret_regenerate");
    assert_eq!(regen["attributes"]["type"], "submit");
    assert_eq!(regen["attributes"]["value"], "true");
    assert_eq!(regen["meta"]["label"]["id"], 1050008);

    // Confirming before generating is refused.
    let (status, err) = submit_with_token(
        &app,
        &token,
        &flow,
        json!({"method": "lookup_secret", "lookup_secret_confirm": true}),
    )
    .await;
    assert_eq!(status, 400, "{err}");

    // Generate: twelve codes of eight lowercase alphanumerics, shown, and a confirm button;
    // nothing stored yet.
    let flow = api_settings(&app, &token).await;
    let (status, shown) = submit_with_token(
        &app,
        &token,
        &flow,
        json!({"method": "lookup_secret", "lookup_secret_regenerate": true}),
    )
    .await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["state"], "show_form");
    assert_eq!(
        lookup_nodes(&shown),
        ["lookup_secret_codes", "lookup_secret_confirm"]
    );
    assert_eq!(
        crate::common::flow::node(&shown, "lookup_secret_confirm")["meta"]["label"]["id"],
        1050011
    );
    let codes: Vec<String> = listed(&shown).into_iter().map(|(_, c)| c).collect();
    assert_eq!(codes.len(), 12);
    for c in &codes {
        assert_eq!(c.len(), 8, "{c}");
        assert!(
            c.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        );
    }
    assert_eq!(
        verify_and_consume(&deps, identity, &codes[0])
            .await
            .unwrap(),
        Verdict::NoCodes
    );

    // Confirm: saved, the codes gone from the flow, reveal and disable offered.
    let (status, done) = submit_with_token(
        &app,
        &token,
        &shown,
        json!({"method": "lookup_secret", "lookup_secret_confirm": true}),
    )
    .await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["state"], "success");
    assert_eq!(message_ids(&done), [1050001]);
    assert_eq!(
        lookup_nodes(&done),
        ["lookup_secret_reveal", "lookup_secret_disable"]
    );
    for c in &codes {
        assert!(!done.to_string().contains(c.as_str()));
    }

    // The admin API lists the credential without codes, even when asked for its config.
    let r = app
        .http
        .get(app.admin_url(&format!(
            "/admin/identities/{id}?include_credential=lookup_secret"
        )))
        .send()
        .await
        .unwrap();
    let admin: Value = r.json().await.unwrap();
    let cred = &admin["credentials"]["lookup_secret"];
    assert_eq!(cred["type"], "lookup_secret");
    assert_eq!(cred["identifiers"], json!([id]));
    assert_eq!(
        cred["config"]["recovery_codes"].as_array().unwrap().len(),
        12
    );
    for c in &codes {
        assert!(!admin.to_string().contains(c.as_str()), "{c} in clear");
    }
    let r = app
        .http
        .get(app.admin_url(&format!("/admin/identities/{id}")))
        .send()
        .await
        .unwrap();
    let admin: Value = r.json().await.unwrap();
    assert_eq!(admin["credentials"]["lookup_secret"]["config"], json!({}));

    // Each code once; a wrong one is wrong.
    assert_eq!(
        verify_and_consume(&deps, identity, &codes[1])
            .await
            .unwrap(),
        Verdict::Accepted
    );
    assert_eq!(
        verify_and_consume(&deps, identity, &codes[1])
            .await
            .unwrap(),
        Verdict::Reused
    );
    assert_eq!(
        verify_and_consume(&deps, identity, "zzzzzzzz")
            .await
            .unwrap(),
        Verdict::Wrong
    );
    // What the login strategy will call: the verdict on the form, as Kratos shows it.
    let form = |code: &str| {
        Submission::from_json(json!({"lookup_secret": code}).to_string().as_bytes()).unwrap()
    };
    let mut ui = UiContainer::new("http://x".into(), "POST");
    populate_login(
        &mut ui,
        &gatehouse::identity::service::get(&deps, identity, true)
            .await
            .unwrap(),
    );
    assert!(
        check_submission(&deps, &mut ui, identity, &form(&codes[3]))
            .await
            .unwrap()
    );
    assert!(
        !check_submission(&deps, &mut ui, identity, &form(&codes[3]))
            .await
            .unwrap()
    );
    let ui_json = serde_json::to_value(&ui).unwrap();
    assert_eq!(ui_json["messages"][0]["id"], 4000012, "{ui_json}");
    let mut ui = UiContainer::new("http://x".into(), "POST");
    assert!(
        !check_submission(&deps, &mut ui, identity, &form(""))
            .await
            .unwrap()
    );
    let ui_json = serde_json::to_value(&ui).unwrap();
    assert_eq!(
        ui_json["nodes"][0]["messages"][0]["id"], 4000002,
        "{ui_json}"
    );

    // Reveal: the used code as used, the others masked, never in clear.
    let flow = api_settings(&app, &token).await;
    assert_eq!(
        lookup_nodes(&flow),
        ["lookup_secret_reveal", "lookup_secret_disable"]
    );
    let (status, revealed) = submit_with_token(
        &app,
        &token,
        &flow,
        json!({"method": "lookup_secret", "lookup_secret_reveal": true}),
    )
    .await;
    assert_eq!(status, 200, "{revealed}");
    assert_eq!(
        lookup_nodes(&revealed),
        [
            "lookup_secret_codes",
            "lookup_secret_regenerate",
            "lookup_secret_disable"
        ]
    );
    let entries = listed(&revealed);
    assert_eq!(entries.len(), 12);
    assert_eq!((entries[1].0, entries[3].0), (1050014, 1050014));
    assert!(
        entries
            .iter()
            .enumerate()
            .all(|(i, (id, s))| i == 1 || i == 3 || (*id == 1050009 && s == "********")),
        "{entries:?}"
    );
    for c in &codes {
        assert!(!revealed.to_string().contains(c.as_str()));
    }

    // Regenerate and confirm: the old set no longer works, the new one does.
    let new = set_up_codes(&app, &token).await;
    assert_eq!(
        verify_and_consume(&deps, identity, &codes[2])
            .await
            .unwrap(),
        Verdict::Wrong
    );
    assert_eq!(
        verify_and_consume(&deps, identity, &new[0]).await.unwrap(),
        Verdict::Accepted
    );

    // Disable: the credential is gone.
    let flow = api_settings(&app, &token).await;
    let (status, off) = submit_with_token(
        &app,
        &token,
        &flow,
        json!({"method": "lookup_secret", "lookup_secret_disable": true}),
    )
    .await;
    assert_eq!(status, 200, "{off}");
    assert_eq!(lookup_nodes(&off), ["lookup_secret_regenerate"]);
    assert_eq!(
        verify_and_consume(&deps, identity, &new[1]).await.unwrap(),
        Verdict::NoCodes
    );
    let r = app
        .http
        .get(app.admin_url(&format!("/admin/identities/{id}")))
        .send()
        .await
        .unwrap();
    let admin: Value = r.json().await.unwrap();
    assert!(
        admin["credentials"].get("lookup_secret").is_none(),
        "{admin}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_generates_and_confirms() {
    let (app, ui) = start().await;
    let id = create(&app).await;
    let b = browser();
    // Sign in through the login UI.
    let landing = b
        .get(app.public_url("/self-service/login/browser"))
        .send()
        .await
        .unwrap();
    let login_id = flow_id_from(&landing.text().await.unwrap());
    let login: Value = b
        .get(app.public_url(&format!("/self-service/login/flows?id={login_id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let r = b
        .post(login["ui"]["action"].as_str().unwrap())
        .form(&[
            ("csrf_token", csrf(&login).as_str()),
            ("method", "password"),
            ("identifier", EMAIL),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.url().path(), "/welcome");

    let landing = b
        .get(app.public_url("/self-service/settings/browser"))
        .send()
        .await
        .unwrap();
    let flow_id = flow_id_from(&landing.text().await.unwrap());
    let get = |b: reqwest::Client, url: String| async move {
        let r = b.get(url).send().await.unwrap();
        assert_eq!(r.status(), 200);
        r.json::<Value>().await.unwrap()
    };
    let flow_url = app.public_url(&format!("/self-service/settings/flows?id={flow_id}"));
    let flow = get(b.clone(), flow_url.clone()).await;
    let action = flow["ui"]["action"].as_str().unwrap().to_owned();

    // Generate: back to the settings UI showing the same flow with the codes.
    let r = b
        .post(&action)
        .form(&[
            ("csrf_token", csrf(&flow).as_str()),
            ("method", "lookup_secret"),
            ("lookup_secret_regenerate", "true"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.url().port(), Some(ui));
    assert_eq!(r.url().path(), "/settings");
    assert_eq!(flow_id_from(r.url().as_str()), flow_id);
    let shown = get(b.clone(), flow_url.clone()).await;
    assert_eq!(shown["state"], "show_form");
    let codes: Vec<String> = listed(&shown).into_iter().map(|(_, c)| c).collect();
    assert_eq!(codes.len(), 12);

    // Confirm.
    let r = b
        .post(&action)
        .form(&[
            ("csrf_token", csrf(&shown).as_str()),
            ("method", "lookup_secret"),
            ("lookup_secret_confirm", "true"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.url().path(), "/settings");
    let done = get(b.clone(), flow_url).await;
    assert_eq!(done["state"], "success", "{done}");
    assert_eq!(
        lookup_nodes(&done),
        ["lookup_secret_reveal", "lookup_secret_disable"]
    );
    let deps = deps(&app);
    assert_eq!(
        verify_and_consume(&deps, id.parse().unwrap(), &codes[11])
            .await
            .unwrap(),
        Verdict::Accepted
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_resets_lost_codes() {
    let (app, _) = start().await;
    let id = create(&app).await;
    let token = token(&app).await;
    let codes = set_up_codes(&app, &token).await;
    let r = app
        .http
        .delete(app.admin_url(&format!("/admin/identities/{id}/credentials/lookup_secret")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let deps = deps(&app);
    assert_eq!(
        verify_and_consume(&deps, id.parse().unwrap(), &codes[0])
            .await
            .unwrap(),
        Verdict::NoCodes
    );
    // Gone: a second reset finds nothing; the password still signs in.
    let r = app
        .http
        .delete(app.admin_url(&format!("/admin/identities/{id}/credentials/lookup_secret")))
        .send()
        .await
        .unwrap();
    expect_error(r, 404).await;
    assert_eq!(api_login(&app, EMAIL, PASSWORD).await.0, 200);
    // The settings flow offers a new set.
    let flow = api_settings(&app, &token).await;
    assert_eq!(lookup_nodes(&flow), ["lookup_secret_regenerate"]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_uses_consume_each_code_once() {
    let (app, _) = start().await;
    let id: uuid::Uuid = create(&app).await.parse().unwrap();
    let token = token(&app).await;
    let codes = set_up_codes(&app, &token).await;
    let deps = deps(&app);

    // Eight sign-ins with one code at once: exactly one gets in.
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (deps, code) = (deps.clone(), codes[0].clone());
            tokio::spawn(async move { verify_and_consume(&deps, id, &code).await.unwrap() })
        })
        .collect();
    let mut verdicts = Vec::new();
    for t in tasks {
        verdicts.push(t.await.unwrap());
    }
    assert_eq!(
        verdicts.iter().filter(|v| **v == Verdict::Accepted).count(),
        1,
        "{verdicts:?}"
    );
    assert!(
        verdicts
            .iter()
            .all(|v| matches!(v, Verdict::Accepted | Verdict::Reused))
    );

    // Different codes at once: each is used, none lost to another's write.
    let tasks: Vec<_> = codes[1..]
        .iter()
        .map(|code| {
            let (deps, code) = (deps.clone(), code.clone());
            tokio::spawn(async move { verify_and_consume(&deps, id, &code).await.unwrap() })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), Verdict::Accepted);
    }
    for code in &codes {
        assert_eq!(
            verify_and_consume(&deps, id, code).await.unwrap(),
            Verdict::Reused
        );
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_action_needs_a_privileged_session() {
    let (app, _) = start_with("      privileged_session_max_age: 1s\n").await;
    let id = create(&app).await;
    let token = token(&app).await;
    let flow = api_settings(&app, &token).await;
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let r = app
        .http
        .post(flow["ui"]["action"].as_str().unwrap())
        .header("X-Session-Token", &token)
        .json(&json!({"method": "lookup_secret", "lookup_secret_regenerate": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(expect_error(r, 403).await["id"], "session_refresh_required");
    let admin: Value = app
        .http
        .get(app.admin_url(&format!("/admin/identities/{id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(admin["credentials"].get("lookup_secret").is_none());
    app.stop().await;
}

/// The official SDK's request bodies, as it serialises them. Its models cannot decode flows with
/// form nodes (ory/kratos-client-rust#3, against Kratos too), so the answers are read as JSON.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_sdk_bodies_generate_and_confirm() {
    use ory_kratos_client::models::{UpdateSettingsFlowBody, UpdateSettingsFlowWithLookupMethod};

    let (app, _) = start().await;
    create(&app).await;
    let token = token(&app).await;
    let body = |regenerate: bool, confirm: bool| {
        let mut b = UpdateSettingsFlowWithLookupMethod::new("lookup_secret".into());
        b.lookup_secret_regenerate = regenerate.then_some(true);
        b.lookup_secret_confirm = confirm.then_some(true);
        serde_json::to_value(UpdateSettingsFlowBody::LookupSecret(Box::new(b))).unwrap()
    };
    let flow = api_settings(&app, &token).await;
    let (status, shown) = submit_with_token(&app, &token, &flow, body(true, false)).await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(listed(&shown).len(), 12);
    let (status, done) = submit_with_token(&app, &token, &shown, body(false, true)).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["state"], "success");
    assert_eq!(
        lookup_nodes(&done),
        ["lookup_secret_reveal", "lookup_secret_disable"]
    );
    app.stop().await;
}

/// An aal2 login with a backup code: the aal2 flow offers the code input, a code steps the same
/// session up to aal2, and the same code a second time is refused (4000012), a wrong one too
/// (4000016).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_code_steps_the_session_up_once() {
    let (app, _) = start().await;
    create(&app).await;
    let setup = token(&app).await;
    let codes = set_up_codes(&app, &setup).await;
    // Confirming the codes made that session aal2 (as in Kratos); a new password sign-in is
    // the aal1 session to step up.
    let token = token(&app).await;

    let aal2_flow = || async {
        let r = app
            .http
            .get(app.public_url("/self-service/login/api?aal=aal2"))
            .header("X-Session-Token", &token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json::<Value>().await.unwrap()
    };
    let flow = aal2_flow().await;
    assert_eq!(flow["requested_aal"], "aal2", "{flow}");
    assert_eq!(lookup_nodes(&flow), ["lookup_secret", "method"], "{flow}");

    let (status, done) = submit_with_token(
        &app,
        &token,
        &flow,
        json!({"method": "lookup_secret", "lookup_secret": codes[0]}),
    )
    .await;
    assert_eq!(status, 200, "{done}");
    let session = &done["session"];
    assert_ne!(
        done["session_token"],
        token.as_str(),
        "a new session, stepped up (session.hygiene)"
    );
    assert_eq!(
        app.whoami(&token).await["error"]["code"],
        401,
        "the old one is revoked"
    );
    assert_eq!(session["authenticator_assurance_level"], "aal2");
    let methods: Vec<&str> = session["authentication_methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["method"].as_str().unwrap())
        .collect();
    assert_eq!(methods, ["password", "lookup_secret"]);

    // Each code works once.
    for (code, id) in [(codes[0].as_str(), 4000012), ("zzzzzzzz", 4000016)] {
        let flow = {
            // A fresh aal1 session to step up again.
            let t = self::token(&app).await;
            let r = app
                .http
                .get(app.public_url("/self-service/login/api?aal=aal2"))
                .header("X-Session-Token", &t)
                .send()
                .await
                .unwrap();
            (t, r.json::<Value>().await.unwrap())
        };
        let (status, refused) = submit_with_token(
            &app,
            &flow.0,
            &flow.1,
            json!({"method": "lookup_secret", "lookup_secret": code}),
        )
        .await;
        assert_eq!(status, 400, "{refused}");
        assert_eq!(message_ids(&refused), [id], "{refused}");
    }
    app.stop().await;
}

/// Kratos's UI posts the lookup buttons without `method`: the flag alone reaches the method.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buttons_without_a_method_reach_the_lookup_method() {
    let (app, _) = start().await;
    create(&app).await;
    let token = token(&app).await;
    let flow = api_settings(&app, &token).await;
    let (status, shown) = submit_with_token(
        &app,
        &token,
        &flow,
        json!({"lookup_secret_regenerate": true}),
    )
    .await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(listed(&shown).len(), 12);
    let (status, done) = submit_with_token(
        &app,
        &token,
        &shown,
        json!({"lookup_secret_confirm": "true"}),
    )
    .await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["state"], "success");
    // Without either, no method is addressed.
    let flow = api_settings(&app, &token).await;
    let (status, refused) = submit_with_token(&app, &token, &flow, json!({})).await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(message_ids(&refused), [4010004]);
    app.stop().await;
}
