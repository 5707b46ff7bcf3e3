//! Browser sessions survive the switch from Kratos (issue 20, item 2): Kratos's
//! `ory_kratos_session` cookie, sealed with the Kratos deployment's cookie secret, is accepted
//! for the rest of its session's life and answered with Gatehouse's own cookie; a tampered
//! one, one older than its max age and one naming a revoked session are refused as Kratos
//! refuses them (401).

use chrono::{SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::common::flow::api_login;
use crate::common::{Setup, TestApp, expect_error, kratos_cookie};

const PASSWORD: &str = "a-long-and-good-passphrase-42";
const NAME: &str = "ory_kratos_session";
/// The secret Kratos ran with, kept after a newer one: cookies of either are read.
const KRATOS_SECRET: &str = "the-kratos-cookie-secret-0001";
const NEW_SECRET: &str = "the-gatehouse-cookie-secret-02";
const LIFESPAN_SECS: i64 = 3600;

async fn start() -> TestApp {
    TestApp::start_with(Setup {
        yaml: format!(
            "secrets:\n  cookie:\n    - {NEW_SECRET}\n    - {KRATOS_SECRET}\nsession:\n  lifespan: 1h\n"
        ),
        ..Default::default()
    })
    .await
}

/// A session token from an API login, with the session's expiry.
async fn sign_in(app: &TestApp, email: &str) -> (String, String) {
    let (status, v) = api_login(app, email, PASSWORD).await;
    assert_eq!(status, 200, "{v}");
    (
        v["session_token"].as_str().unwrap().to_owned(),
        v["session"]["expires_at"].as_str().unwrap().to_owned(),
    )
}

/// The cookie Kratos would have set for that session, written `age` seconds ago.
fn kratos(token: &str, expires_at: &str, age: i64) -> String {
    let expires_at = chrono::DateTime::parse_from_rfc3339(expires_at)
        .unwrap()
        .with_timezone(&Utc)
        .to_rfc3339_opts(SecondsFormat::AutoSi, true);
    kratos_cookie::encode(
        KRATOS_SECRET,
        NAME,
        Utc::now().timestamp() - age,
        &[
            ("session_token", token),
            ("expires_at", &expires_at),
            ("nonce", "AbCdEfGh"),
        ],
    )
}

/// GET `path` with the cookie; status, body, and the session cookie set by the answer.
async fn get(app: &TestApp, path: &str, cookie: &str) -> (u16, Value, Option<String>) {
    let r = app
        .http
        .get(app.public_url(path))
        .header("Cookie", format!("{NAME}={cookie}"))
        .send()
        .await
        .unwrap();
    let set = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix(&format!("{NAME}=")))
        .map(|v| v.split(';').next().unwrap().to_owned());
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null), set)
}

async fn refused(app: &TestApp, cookie: &str) {
    let r = app
        .http
        .get(app.public_url("/sessions/whoami"))
        .header("Cookie", format!("{NAME}={cookie}"))
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("set-cookie").is_none());
    let e = expect_error(r, 401).await;
    assert_eq!(
        e["reason"], "No valid session credentials found in the request.",
        "{e}"
    );
}

#[tokio::test]
async fn kratos_session_cookies_survive_the_switch() {
    let app = start().await;
    let created = app
        .create_identity(json!({
            "schema_id": "customer",
            "traits": {"email": "switch@example.com"},
            "credentials": {"password": {"config": {"password": PASSWORD}}},
        }))
        .await;
    let (token, expires_at) = sign_in(&app, "switch@example.com").await;
    let old = kratos(&token, &expires_at, 60);

    // Accepted, and replaced on the same answer by Gatehouse's cookie for the same session.
    let (status, body, set) = get(&app, "/sessions/whoami", &old).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["identity"]["id"], created["id"]);
    let new = set.expect("the Kratos cookie is replaced");
    assert_ne!(new, old);
    let deps = app.running.as_ref().unwrap().handles().deps().clone();
    let (own_token, _) = gatehouse::session::cookie::decode(&deps.cookie_secrets, &new)
        .expect("the new cookie is Gatehouse's");
    assert_eq!(own_token, token);

    // The new cookie works and is kept.
    let (status, again, set) = get(&app, "/sessions/whoami", &new).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["id"], body["id"]);
    assert_eq!(set, None);

    // Any endpoint that reads the session takes it, and swaps it too.
    let (status, list, set) = get(&app, "/sessions", &old).await;
    assert_eq!(status, 200, "{list}");
    assert!(set.is_some_and(|c| {
        gatehouse::session::cookie::decode(&deps.cookie_secrets, &c)
            .is_some_and(|(t, _)| t == token)
    }));

    // Tampered: a changed character in the middle of the value.
    let mut tampered = old.clone().into_bytes();
    let mid = tampered.len() / 2;
    tampered[mid] = if tampered[mid] == b'A' { b'B' } else { b'A' };
    refused(&app, &String::from_utf8(tampered).unwrap()).await;

    // Older than the store's max age (the session lifespan), though the session lives on.
    refused(&app, &kratos(&token, &expires_at, LIFESPAN_SECS + 60)).await;

    // Sealed with a secret Gatehouse was not given.
    let foreign = kratos_cookie::encode(
        "some-other-cookie-secret-0003",
        NAME,
        Utc::now().timestamp(),
        &[("session_token", &token)],
    );
    refused(&app, &foreign).await;

    // Naming a session revoked since.
    let (other, other_exp) = sign_in(&app, "switch@example.com").await;
    let cookie = kratos(&other, &other_exp, 0);
    assert_eq!(get(&app, "/sessions/whoami", &cookie).await.0, 200);
    let r = app
        .http
        .delete(app.public_url("/self-service/logout/api"))
        .json(&json!({"session_token": other}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    refused(&app, &cookie).await;

    app.stop().await;
}
