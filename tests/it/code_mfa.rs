//! Code as a second factor (`selfservice.methods.code.mfa_enabled`), end to end over real
//! SMTP: a password session at aal1 steps up by a code mailed to one of the identity's code
//! addresses, chosen in the aal2 login flow.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::flow::{api_login, message_ids, six_digits, submit_with_token};
use crate::common::smtp::{SmtpServer, plaintext};
use crate::common::{FIXTURES, Setup, TestApp};

const WAIT: Duration = Duration::from_secs(20);
const PASSWORD: &str = "a-long-and-good-passphrase-42";

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
  default_schema_id: code-mfa
  schemas:
    - id: code-mfa
      url: file://{f}/code-mfa.schema.json
session:
  whoami:
    required_aal: highest_available
selfservice:
  default_browser_return_url: http://127.0.0.1:1/welcome
  methods:
    code:
      enabled: true
      mfa_enabled: true
    password:
      config:
        haveibeenpwned_enabled: false
",
        uri = smtp.uri(),
        f = FIXTURES
    )
}

async fn api_get(app: &TestApp, path: &str, token: &str) -> reqwest::Response {
    app.http
        .get(app.public_url(path))
        .header("X-Session-Token", token)
        .send()
        .await
        .unwrap()
}

/// The `(name, value, label id)` of each node, in order.
fn nodes(flow: &Value) -> Vec<(String, Value, Option<u64>)> {
    flow["ui"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["attributes"]["name"].as_str().unwrap().to_owned(),
                n["attributes"]["value"].clone(),
                n["meta"]["label"]["id"].as_u64(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_then_code_by_mail_steps_the_session_up() {
    let mail = SmtpServer::start(0).await;
    let app = TestApp::start_with(Setup {
        yaml: yaml(&mail),
        ..Default::default()
    })
    .await;
    let email = "mfa-code@example.com";
    app.create_identity(json!({
        "schema_id": "code-mfa",
        "traits": {"email": email},
        "credentials": {"password": {"config": {"password": PASSWORD}}}
    }))
    .await;

    // The password alone gives an aal1 session, which whoami refuses: a code is available.
    let (status, v) = api_login(&app, email, PASSWORD).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["session"]["authenticator_assurance_level"], "aal1");
    let token = v["session_token"].as_str().unwrap().to_owned();
    let r = api_get(&app, "/sessions/whoami", &token).await;
    assert_eq!(r.status().as_u16(), 403);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["id"], "session_aal2_required", "{e}");

    // The aal2 flow offers sending a code to the identity's address (Kratos's 1010023).
    let flow: Value = api_get(&app, "/self-service/login/api?aal=aal2", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(flow["requested_aal"], "aal2", "{flow}");
    let shown = nodes(&flow);
    assert!(
        shown.contains(&("address".into(), json!(email), Some(1010023))),
        "{flow}"
    );
    assert!(
        shown.iter().all(|(n, _, _)| n != "password"),
        "no first factor at aal2: {flow}"
    );
    let button = flow["ui"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["attributes"]["name"] == "address")
        .unwrap();
    assert_eq!(button["group"], "code");
    assert_eq!(button["attributes"]["type"], "submit");
    assert_eq!(
        button["meta"]["label"]["context"],
        json!({"address": email, "channel": "email"})
    );

    // An address that is not the identity's gets nothing.
    let (status, v) = submit_with_token(
        &app,
        &token,
        &flow,
        json!({"method": "code", "address": "stranger@example.com"}),
    )
    .await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["state"], "choose_method", "{v}");

    // Choosing the address sends the code and shows the code input.
    let (status, sent) = submit_with_token(
        &app,
        &token,
        &flow,
        json!({"method": "code", "address": email}),
    )
    .await;
    assert_eq!(status, 400, "{sent}");
    assert_eq!(sent["state"], "sent_email", "{sent}");
    assert_eq!(message_ids(&sent), [1010014]);
    let names: Vec<String> = nodes(&sent).into_iter().map(|(n, _, _)| n).collect();
    assert!(names.contains(&"code".to_owned()), "{sent}");
    assert!(names.contains(&"resend".to_owned()), "{sent}");
    let got = mail.wait_for(1, WAIT).await;
    assert!(
        got[0].to.iter().any(|r| r.contains(email)),
        "{:?}",
        got[0].to
    );
    let code = six_digits(&plaintext(&got[0]));
    // Only the chosen address got a mail, not the stranger.
    assert_eq!(mail.received().len(), 1);

    // A wrong code is refused (4010008) and the session stays at aal1.
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let (status, bad) = submit_with_token(
        &app,
        &token,
        &sent,
        json!({"method": "code", "address": email, "code": wrong}),
    )
    .await;
    assert_eq!(status, 400, "{bad}");
    assert_eq!(message_ids(&bad), [4010008], "{bad}");
    assert_eq!(
        api_get(&app, "/sessions/whoami", &token)
            .await
            .status()
            .as_u16(),
        403
    );

    // "Resend" mails a fresh code to the same address; the first one is void.
    let (status, resent) = submit_with_token(
        &app,
        &token,
        &bad,
        json!({"method": "code", "address": email, "resend": "code"}),
    )
    .await;
    assert_eq!(status, 400, "{resent}");
    assert_eq!(resent["state"], "sent_email", "{resent}");
    let got = mail.wait_for(2, WAIT).await;
    assert!(
        got[1].to.iter().any(|r| r.contains(email)),
        "{:?}",
        got[1].to
    );
    let fresh = six_digits(&plaintext(&got[1]));
    if fresh != code {
        let (status, old) = submit_with_token(
            &app,
            &token,
            &resent,
            json!({"method": "code", "address": email, "code": code}),
        )
        .await;
        assert_eq!(status, 400, "{old}");
        assert_eq!(message_ids(&old), [4010008], "{old}");
    }

    // The right code completes it: a new session (`session.hygiene`), now aal2 with `code` at
    // aal2; the old token is revoked.
    let (status, v) = submit_with_token(
        &app,
        &token,
        &resent,
        json!({"method": "code", "address": email, "code": fresh}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_ne!(v["session_token"], token.as_str());
    assert_eq!(
        api_get(&app, "/sessions/whoami", &token).await.status(),
        401
    );
    let token = v["session_token"].as_str().unwrap().to_owned();
    let session = &v["session"];
    assert_eq!(session["authenticator_assurance_level"], "aal2", "{v}");
    let methods: Vec<(&str, &str)> = session["authentication_methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["method"].as_str().unwrap(), m["aal"].as_str().unwrap()))
        .collect();
    assert_eq!(methods, vec![("password", "aal1"), ("code", "aal2")]);
    let r = api_get(&app, "/sessions/whoami", &token).await;
    assert_eq!(r.status().as_u16(), 200);
    let who: Value = r.json().await.unwrap();
    assert_eq!(who["id"], session["id"]);
    assert_eq!(who["authenticator_assurance_level"], "aal2");
}
