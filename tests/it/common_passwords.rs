//! The offline list of common passwords (ASVS 5.0 6.2.4): registration and a settings password
//! change refuse them with Kratos' breach message (4000034) while the breached-password API is
//! disabled or unreachable, whatever their case; an uncommon password still passes.

use serde_json::{Value, json};

use crate::common::flow::{api_flow, api_login, node_message_ids, submit, submit_with_token};
use crate::common::{Setup, TestApp, ui_server};

/// Kratos' "found in data breaches" message id, which the offline list reuses.
const BREACHED: u64 = 4000034;
const STRONG: &str = "an uncommon passphrase 7";

/// Where Have I Been Pwned is looked up: off, or on but at a port nothing listens on (with
/// Kratos' default `ignore_network_errors: true`, so only the offline list can refuse).
enum Hibp {
    Disabled,
    Unreachable,
}

async fn start(hibp: Hibp) -> TestApp {
    let ui = ui_server().await;
    let password_config = match hibp {
        Hibp::Disabled => "        haveibeenpwned_enabled: false\n".to_owned(),
        Hibp::Unreachable => {
            // Bind then drop: the port is free, so every connection is refused.
            let dead = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap();
            format!(
                "        haveibeenpwned_enabled: true\n        haveibeenpwned_host: http://{dead}\n        ignore_network_errors: true\n"
            )
        }
    };
    let yaml = format!(
        "selfservice:\n  default_browser_return_url: http://127.0.0.1:{ui}/welcome\n  flows:\n    login:\n      ui_url: http://127.0.0.1:{ui}/login\n    registration:\n      ui_url: http://127.0.0.1:{ui}/registration\n    settings:\n      ui_url: http://127.0.0.1:{ui}/settings\n    error:\n      ui_url: http://127.0.0.1:{ui}/error\n  methods:\n    password:\n      config:\n{password_config}"
    );
    TestApp::start_with(Setup {
        yaml,
        ..Default::default()
    })
    .await
}

async fn register(app: &TestApp, email: &str, password: &str) -> (u16, Value) {
    let flow = api_flow(app, "registration").await;
    submit(
        app,
        &flow,
        json!({"method": "password", "traits": {"email": email}, "password": password}),
    )
    .await
}

async fn registration_refuses_common_passwords(hibp: Hibp) {
    let app = start(hibp).await;
    for (i, common) in ["password1", "Qwerty123", "BASEBALL1"]
        .into_iter()
        .enumerate()
    {
        let (status, v) = register(&app, &format!("common{i}@example.com"), common).await;
        assert_eq!(status, 400, "{common}: {v}");
        assert_eq!(
            node_message_ids(&v, "password"),
            vec![BREACHED],
            "{common}: {v}"
        );
    }
    let (status, v) = register(&app, "strong@example.com", STRONG).await;
    assert_eq!(status, 200, "{v}");
    let (status, v) = api_login(&app, "strong@example.com", STRONG).await;
    assert_eq!(status, 200, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_refuses_common_passwords_with_the_breach_api_disabled() {
    registration_refuses_common_passwords(Hibp::Disabled).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_refuses_common_passwords_with_the_breach_api_unreachable() {
    registration_refuses_common_passwords(Hibp::Unreachable).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_refuses_a_common_new_password() {
    let app = start(Hibp::Unreachable).await;
    let (status, v) = register(&app, "settler@example.com", STRONG).await;
    assert_eq!(status, 200, "{v}");
    let (status, v) = api_login(&app, "settler@example.com", STRONG).await;
    assert_eq!(status, 200, "{v}");
    let token = v["session_token"].as_str().unwrap().to_owned();
    let settings = |token: String| {
        let app = &app;
        async move {
            let r = app
                .http
                .get(app.public_url("/self-service/settings/api"))
                .header("X-Session-Token", &token)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.unwrap()
        }
    };

    let flow = settings(token.clone()).await;
    let (status, v) = submit_with_token(
        &app,
        &token,
        &flow,
        json!({"method": "password", "password": "Iloveyou1"}),
    )
    .await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(node_message_ids(&v, "password"), vec![BREACHED], "{v}");
    // The refused password was not stored.
    let (status, _) = api_login(&app, "settler@example.com", "Iloveyou1").await;
    assert_eq!(status, 400);

    let flow = settings(token.clone()).await;
    let (status, v) = submit_with_token(
        &app,
        &token,
        &flow,
        json!({"method": "password", "password": "another uncommon passphrase 8"}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let (status, v) = api_login(&app, "settler@example.com", "another uncommon passphrase 8").await;
    assert_eq!(status, 200, "{v}");
}

/// The rest of the password rules ASVS 5.0 asks for (6.2.5, 6.2.8, 6.2.9, 6.3.2): any
/// composition, long passphrases, the password checked exactly as typed, no built-in accounts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_composition_and_long_passphrases_are_accepted_and_checked_exactly() {
    let app = start(Hibp::Disabled).await;
    // A fresh server has no account anyone could know the password of.
    let r = app
        .http
        .get(app.admin_url("/admin/identities"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!([]));

    let long: String = "a long passphrase of lower case words only ".repeat(3);
    assert!(long.chars().count() >= 64);
    for (i, password) in [
        "only lower case words here",
        "ÅÉÎÕÜ ñ ß 密码 пароль",
        long.as_str(),
    ]
    .into_iter()
    .enumerate()
    {
        let email = format!("any{i}@example.com");
        let (status, v) = register(&app, &email, password).await;
        assert_eq!(status, 200, "{password}: {v}");
        let (status, v) = api_login(&app, &email, password).await;
        assert_eq!(status, 200, "{password}: {v}");
    }
    // Neither case-folded, trimmed nor truncated.
    for wrong in [
        "ONLY LOWER CASE WORDS HERE",
        " only lower case words here",
        "only lower case words her",
    ] {
        let (status, _) = api_login(&app, "any0@example.com", wrong).await;
        assert_eq!(status, 400, "{wrong}");
    }
    let (status, _) = api_login(&app, "any2@example.com", &long[..long.len() - 1]).await;
    assert_eq!(status, 400);
}
