//! Identifier-first login (`selfservice.flows.login.style: identifier_first`): the identifier
//! on a screen of its own, then the methods of the account it names; unknown identifiers get
//! 4000037, or, with `security.account_enumeration.mitigate`, the same screen as a known one.

use serde_json::{Value, json};

use crate::common::flow::{api_flow, node, node_message_ids, submit};
use crate::common::{Setup, TestApp};

const PASSWORD: &str = "a-long-and-good-passphrase-42";

async fn start(mitigate: bool) -> TestApp {
    let app = TestApp::start_with(Setup {
        yaml: format!(
            "selfservice:\n  flows:\n    login:\n      style: identifier_first\nsecurity:\n  account_enumeration:\n    mitigate: {mitigate}\n"
        ),
        ..Setup::default()
    })
    .await;
    app.create_identity(json!({
        "schema_id": "customer",
        "traits": {"email": "known@example.com"},
        "credentials": {"password": {"config": {"password": PASSWORD}}},
    }))
    .await;
    app
}

/// Each node as (group, name, type), the CSRF token's value aside.
fn shape(flow: &Value) -> Vec<(String, String, String)> {
    flow["ui"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            let a = &n["attributes"];
            let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
            (s(&n["group"]), s(&a["name"]), s(&a["type"]))
        })
        .collect()
}

fn t(group: &str, name: &str, kind: &str) -> (String, String, String) {
    (group.into(), name.into(), kind.into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_identifier_first_then_the_accounts_methods() {
    let app = start(false).await;
    let flow = api_flow(&app, "login").await;
    assert_eq!(
        shape(&flow),
        [
            t("default", "csrf_token", "hidden"),
            t("identifier_first", "identifier", "text"),
            t("identifier_first", "method", "submit"),
        ],
        "{flow}"
    );
    assert_eq!(
        node(&flow, "identifier")["attributes"]["autocomplete"],
        "username webauthn"
    );

    // The account's methods, the identifier kept (hidden).
    let (status, second) = submit(
        &app,
        &flow,
        json!({"method": "identifier_first", "identifier": "Known@Example.com"}),
    )
    .await;
    assert_eq!(status, 400, "{second}");
    assert_eq!(
        shape(&second),
        [
            t("default", "csrf_token", "hidden"),
            t("identifier_first", "identifier", "hidden"),
            t("password", "password", "password"),
            t("password", "method", "submit"),
        ],
        "{second}"
    );
    assert_eq!(
        node(&second, "identifier")["attributes"]["value"],
        "Known@Example.com"
    );
    let (status, done) = submit(
        &app,
        &second,
        json!({"method": "password", "identifier": "Known@Example.com", "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(
        done["session"]["identity"]["traits"]["email"],
        "known@example.com"
    );

    // Nobody has this identifier: said so, on the identifier.
    let flow = api_flow(&app, "login").await;
    let (status, v) = submit(
        &app,
        &flow,
        json!({"method": "identifier_first", "identifier": "nobody@example.com"}),
    )
    .await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(node_message_ids(&v, "identifier"), [4000037]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_enumeration_mitigated_an_unknown_identifier_looks_like_a_known_one() {
    let app = start(true).await;
    let second = |identifier: &'static str| {
        let app = &app;
        async move {
            let flow = api_flow(app, "login").await;
            let (status, v) = submit(
                app,
                &flow,
                json!({"method": "identifier_first", "identifier": identifier}),
            )
            .await;
            assert_eq!(status, 400, "{v}");
            v
        }
    };
    let known = second("known@example.com").await;
    let unknown = second("nobody@example.com").await;
    assert_eq!(shape(&known), shape(&unknown));
    assert!(
        node_message_ids(&unknown, "identifier").is_empty(),
        "{unknown}"
    );
    // The password step then fails as a wrong password does.
    let (status, v) = submit(
        &app,
        &unknown,
        json!({"method": "password", "identifier": "nobody@example.com", "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["ui"]["messages"][0]["id"], 4000006);
    app.stop().await;
}
