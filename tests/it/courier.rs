//! The courier end to end: messages enqueued through the domain API are claimed by the running
//! courier and delivered to a real SMTP server (or HTTP receiver) on loopback; the admin API
//! shows them with their dispatch history. Runs on SQLite and PostgreSQL.

use std::time::Duration;

use gatehouse::courier::{self, Channel, NewMessage, TemplateType};
use serde_json::{Value, json};

use crate::common::receiver::Receiver;
use crate::common::smtp::{self, Mode, SmtpServer};
use crate::common::{Setup, TestApp, expect_error};

const WAIT: Duration = Duration::from_secs(20);

fn courier_yaml(smtp_uri: &str, retries: u32, extra: &str) -> String {
    format!(
        "watch-courier: true\ncourier:\n  message_retries: {retries}\n  worker:\n    pull_wait: 50ms\n    pull_count: 10\n  \
         smtp:\n    connection_uri: \"{smtp_uri}\"\n    from_address: noreply@gatehouse.test\n    from_name: Gatehouse Test\n    \
         headers:\n      X-Gatehouse-Test: courier\n{extra}"
    )
}

async fn start(yaml: String) -> TestApp {
    TestApp::start_with(Setup {
        yaml,
        ..Default::default()
    })
    .await
}

fn email(to: &str, code: &str) -> NewMessage {
    NewMessage {
        channel: Channel::Email,
        recipient: to.into(),
        template: TemplateType::RecoveryCodeValid,
        data: json!({ "To": to, "RecoveryCode": code, "ExpiresInMinutes": 15 }),
    }
}

async fn enqueue(app: &TestApp, msg: NewMessage) -> String {
    let deps = &app.running.as_ref().unwrap().handles().deps();
    courier::enqueue(deps, msg)
        .await
        .expect("enqueue")
        .to_string()
}

async fn get_message(app: &TestApp, id: &str) -> Value {
    let r = app
        .http
        .get(app.admin_url(&format!("/admin/courier/messages/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// Polls the admin API until `pred` holds for the message.
async fn wait_message(app: &TestApp, id: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let m = get_message(app, id).await;
        if pred(&m) {
            return m;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out; last: {m}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn dispatches(m: &Value, status: &str) -> usize {
    m["dispatches"]
        .as_array()
        .map(|d| d.iter().filter(|d| d["status"] == status).count())
        .unwrap_or(0)
}

#[tokio::test]
async fn delivers_over_smtp_and_shows_history() {
    let server = SmtpServer::start(0).await;
    let app = start(courier_yaml(&server.uri(), 5, "")).await;
    let id = enqueue(&app, email("alice@example.org", "424242")).await;

    let got = server.wait_for(1, WAIT).await;
    assert_eq!(got.len(), 1);
    let mail = &got[0];
    assert_eq!(mail.to, ["alice@example.org"]);
    assert_eq!(mail.from, "noreply@gatehouse.test");
    assert_eq!(
        smtp::header(&mail.data, "X-Gatehouse-Test").as_deref(),
        Some("courier")
    );
    assert!(
        smtp::header(&mail.data, "From")
            .unwrap()
            .contains("Gatehouse Test")
    );

    let m = wait_message(&app, &id, |m| m["status"] == "sent").await;
    assert_eq!(
        smtp::header(&mail.data, "Subject").as_deref(),
        m["subject"].as_str()
    );
    let parts = smtp::parts(&mail.data);
    let plain = parts
        .iter()
        .find(|(t, _)| t == "text/plain")
        .expect("plain part");
    let html = parts
        .iter()
        .find(|(t, _)| t == "text/html")
        .expect("html part");
    assert_eq!(plain.1, m["body"].as_str().unwrap().trim_end());
    assert!(plain.1.contains("424242"), "plain body: {}", plain.1);
    assert!(html.1.contains("424242"), "html body: {}", html.1);

    assert_eq!(m["type"], "email");
    assert_eq!(m["channel"], "email");
    assert_eq!(m["recipient"], "alice@example.org");
    assert_eq!(m["template_type"], "recovery_code_valid");
    assert_eq!(m["send_count"], 1);
    let ds = m["dispatches"].as_array().unwrap();
    assert_eq!(ds.len(), 1);
    assert_eq!(ds[0]["status"], "success");
    assert_eq!(ds[0]["message_id"], id.as_str());

    // The official SDK accepts both shapes.
    let cfg = app.ory_config();
    let sdk = ory_kratos_client::apis::courier_api::get_courier_message(&cfg, &id)
        .await
        .expect("SDK parses the message");
    assert_eq!(sdk.send_count, 1);
    let list =
        ory_kratos_client::apis::courier_api::list_courier_messages(&cfg, None, None, None, None)
            .await
            .expect("SDK parses the list");
    assert_eq!(list.len(), 1);

    // Filters and paging.
    let id2 = enqueue(&app, email("bob@example.org", "111111")).await;
    wait_message(&app, &id2, |m| m["status"] == "sent").await;
    let r = app
        .http
        .get(app.admin_url("/admin/courier/messages?page_size=1"))
        .send()
        .await
        .unwrap();
    let link = r.headers()["link"].to_str().unwrap().to_owned();
    let page: Value = r.json().await.unwrap();
    assert_eq!(page.as_array().unwrap().len(), 1);
    assert_eq!(page[0]["id"], id2.as_str(), "newest first");
    assert!(page[0].get("dispatches").is_none());
    let next = link
        .split(',')
        .find(|l| l.contains("rel=\"next\""))
        .and_then(|l| l.split(['<', '>']).nth(1))
        .expect("next link")
        .to_owned();
    let next_path = next.split_once("/admin").unwrap().1;
    let page2: Value = app
        .http
        .get(app.admin_url(&format!("/admin{next_path}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page2[0]["id"], id.as_str());
    let by_recipient: Value = app
        .http
        .get(app.admin_url("/admin/courier/messages?recipient=bob@example.org&status=sent"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(by_recipient.as_array().unwrap().len(), 1);
    let queued: Value = app
        .http
        .get(app.admin_url("/admin/courier/messages?status=queued"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(queued, json!([]));

    // Bad input: 400/404 envelopes.
    let get = |p: &str| app.http.get(app.admin_url(p)).send();
    expect_error(
        get("/admin/courier/messages?status=bogus").await.unwrap(),
        400,
    )
    .await;
    expect_error(
        get("/admin/courier/messages?page_size=0").await.unwrap(),
        400,
    )
    .await;
    expect_error(
        get("/admin/courier/messages?page_token=zzz").await.unwrap(),
        400,
    )
    .await;
    expect_error(
        get("/admin/courier/messages/not-a-uuid").await.unwrap(),
        400,
    )
    .await;
    expect_error(
        get(&format!("/admin/courier/messages/{}", uuid::Uuid::new_v4()))
            .await
            .unwrap(),
        404,
    )
    .await;
}

#[tokio::test]
async fn outage_keeps_messages_queued_until_the_server_is_back() {
    let mut server = SmtpServer::start(0).await;
    server.stop().await;
    let app = start(courier_yaml(&server.uri(), 100, "")).await;
    let id = enqueue(&app, email("carol@example.org", "222222")).await;

    let m = wait_message(&app, &id, |m| dispatches(m, "failed") >= 2).await;
    assert!(
        m["status"] == "queued" || m["status"] == "processing",
        "{m}"
    );
    assert!(server.received().is_empty());
    let err = &m["dispatches"][0]["error"];
    assert!(err["message"].as_str().unwrap().contains("SMTP"), "{err}");

    server.restart().await;
    let got = server.wait_for(1, WAIT).await;
    assert_eq!(got[0].to, ["carol@example.org"]);
    let m = wait_message(&app, &id, |m| m["status"] == "sent").await;
    assert_eq!(dispatches(&m, "success"), 1);
    assert!(dispatches(&m, "failed") >= 2);
}

#[tokio::test]
async fn permanent_rejection_is_abandoned_after_the_retries() {
    let server = SmtpServer::start(0).await;
    server.set_mode(Mode::RejectRcpt);
    let app = start(courier_yaml(&server.uri(), 1, "")).await;
    let id = enqueue(&app, email("dave@example.org", "333333")).await;

    let m = wait_message(&app, &id, |m| m["status"] == "abandoned").await;
    // message_retries: 1 → two attempts, then abandoned (Kratos: send_count > retries).
    assert_eq!(dispatches(&m, "failed"), 2, "{m}");
    assert_eq!(m["send_count"], 2);
    let err = m["dispatches"][1]["error"]["message"].as_str().unwrap();
    assert!(err.contains("550"), "{err}");
    assert!(server.received().is_empty());

    // A rejection after DATA counts the same.
    server.set_mode(Mode::RejectData);
    let id = enqueue(&app, email("erin@example.org", "444444")).await;
    let m = wait_message(&app, &id, |m| m["status"] == "abandoned").await;
    assert_eq!(dispatches(&m, "failed"), 2, "{m}");
    assert!(server.received().is_empty());
}

#[tokio::test]
async fn sms_goes_to_the_http_channel() {
    let server = SmtpServer::start(0).await;
    let receiver = Receiver::start().await;
    let channels = format!(
        "  channels:\n    - id: sms\n      type: http\n      request_config:\n        url: {}\n        method: POST\n        \
         headers:\n          X-Channel: sms\n        auth:\n          type: basic_auth\n          config:\n            user: courier\n            password: s3cret\n",
        receiver.url("/sms")
    );
    let app = start(courier_yaml(&server.uri(), 5, &channels)).await;
    let id = enqueue(
        &app,
        NewMessage {
            channel: Channel::Sms,
            recipient: "+15550100".into(),
            template: TemplateType::VerificationCodeValid,
            data: json!({ "To": "+15550100", "VerificationCode": "987654" }),
        },
    )
    .await;
    let reqs = receiver.wait_for(1, WAIT).await;
    let req = &reqs[0];
    assert_eq!((req.method.as_str(), req.path.as_str()), ("POST", "/sms"));
    assert_eq!(req.header("x-channel"), Some("sms"), "{req:?}");
    // base64("courier:s3cret")
    assert_eq!(
        req.header("authorization"),
        Some("Basic Y291cmllcjpzM2NyZXQ="),
        "{req:?}"
    );
    let body = req.json();
    assert_eq!(body["recipient"], "+15550100");
    assert_eq!(body["to"], "+15550100");
    assert_eq!(body["template_type"], "verification_code_valid");
    assert_eq!(body["verification_code"], "987654");
    assert!(body["body"].as_str().unwrap().contains("987654"), "{body}");

    let m = wait_message(&app, &id, |m| m["status"] == "sent").await;
    assert_eq!(m["type"], "phone");
    assert_eq!(m["channel"], "sms");
    assert!(server.received().is_empty(), "SMS must not go to SMTP");
}

#[tokio::test]
async fn jsonnet_bodies_shape_http_deliveries() {
    let server = SmtpServer::start(0).await;
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let body = dir.path().join("sms.jsonnet");
    std::fs::write(
        &body,
        "function(ctx) {\n  To: ctx.recipient,\n  Text: 'code ' + ctx.template_data.verification_code,\n  kind: ctx.template_type,\n  via: ctx.message_type,\n  len: std.length(ctx.body) > 0,\n}\n",
    )
    .unwrap();
    let channels = format!(
        "  channels:\n    - id: sms\n      type: http\n      request_config:\n        url: {}\n        method: POST\n        body: file://{}\n",
        receiver.url("/sms"),
        body.display()
    );
    let app = start(courier_yaml(&server.uri(), 5, &channels)).await;
    let id = enqueue(
        &app,
        NewMessage {
            channel: Channel::Sms,
            recipient: "+15550123".into(),
            template: TemplateType::VerificationCodeValid,
            data: json!({ "To": "+15550123", "VerificationCode": "246810" }),
        },
    )
    .await;
    let reqs = receiver.wait_for(1, WAIT).await;
    let body = reqs[0].json();
    assert_eq!(
        body,
        json!({"To": "+15550123", "Text": "code 246810", "kind": "verification_code_valid", "via": "sms", "len": true})
    );
    wait_message(&app, &id, |m| m["status"] == "sent").await;
}

#[tokio::test]
async fn broken_jsonnet_body_fails_with_a_clear_error() {
    let server = SmtpServer::start(0).await;
    let receiver = Receiver::start().await;
    // base64("function(ctx) {") — does not parse.
    let extra = format!(
        "  delivery_strategy: http\n  http:\n    request_config:\n      url: {}\n      body: base64://ZnVuY3Rpb24oY3R4KSB7\n",
        receiver.url("/sms")
    );
    let app = start(courier_yaml(&server.uri(), 0, &extra)).await;
    let id = enqueue(&app, email("frank@example.org", "555555")).await;
    let m = wait_message(&app, &id, |m| m["status"] == "abandoned").await;
    let err = m["dispatches"][0]["error"]["message"].as_str().unwrap();
    assert!(
        err.starts_with("courier.http.request_config.body: does not parse"),
        "{err}"
    );
    assert!(receiver.requests().is_empty());
    assert!(server.received().is_empty());
}

/// Runs raw SQL on the app's database (to simulate a node that died mid-send).
async fn sql(app: &TestApp, q: &str, past: chrono::NaiveDateTime, id: &str) {
    use diesel::sql_types::{Text, Timestamp};
    use diesel_async::RunQueryDsl;
    let store = &app.running.as_ref().unwrap().handles().deps().store;
    let pg = store.backend() == gatehouse::store::Backend::Postgres;
    let q = if pg {
        q.replacen('?', "$1", 1).replacen('?', "$2", 1)
    } else {
        q.to_owned()
    };
    let run = async {
        gatehouse::with_conn!(store, |c| {
            diesel::sql_query(q.clone())
                .bind::<Timestamp, _>(past)
                .bind::<Text, _>(id.to_owned())
                .execute(c)
                .await
                .map_err(gatehouse::store::StoreError::from)
        })
    };
    let n: Result<usize, gatehouse::store::StoreError> = run.await;
    assert_eq!(n.unwrap(), 1);
}

#[tokio::test]
async fn lapsed_lease_is_reclaimed_and_delivered_once() {
    let server = SmtpServer::start(0).await;
    // A node without the courier enqueues; the rows are then doctored as if a courier had
    // claimed them and died.
    let writer = start(format!(
        "courier:\n  smtp:\n    connection_uri: \"{}\"\n",
        server.uri()
    ))
    .await;
    let dead = enqueue(&writer, email("grace@example.org", "666666")).await;
    let alive = enqueue(&writer, email("heidi@example.org", "777777")).await;
    let now = chrono::Utc::now().naive_utc();
    // The dead node's claim id: a UUID like every stored id (one that is not fails the read).
    let claim = "UPDATE courier_messages SET status = 'processing', \
                 claim_id = '00000000-0000-4000-8000-00000000c1a1', send_count = 1, \
                 claimed_until = ? WHERE id = ?";
    sql(&writer, claim, now - chrono::Duration::seconds(5), &dead).await;
    sql(&writer, claim, now + chrono::Duration::seconds(600), &alive).await;

    let db = smtp::share_db(&writer.db);
    let courier = TestApp::start_on(
        db,
        Setup {
            yaml: courier_yaml(&server.uri(), 5, ""),
            ..Default::default()
        },
    )
    .await;
    let got = server.wait_for(1, WAIT).await;
    assert_eq!(got[0].to, ["grace@example.org"]);
    let m = wait_message(&courier, &dead, |m| m["status"] == "sent").await;
    assert_eq!(m["send_count"], 2);
    // Held by a live lease: not touched.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(server.received().len(), 1, "delivered exactly once");
    assert_eq!(get_message(&courier, &alive).await["status"], "processing");
}

#[tokio::test]
async fn two_couriers_share_one_queue_without_loss_or_duplicates() {
    let server = SmtpServer::start(0).await;
    let yaml = courier_yaml(&server.uri(), 5, "");
    let a = start(yaml.clone()).await;
    let b = TestApp::start_on(
        smtp::share_db(&a.db),
        Setup {
            yaml,
            ..Default::default()
        },
    )
    .await;
    const N: usize = 50;
    for i in 0..N {
        let app = if i % 2 == 0 { &a } else { &b };
        enqueue(
            app,
            email(&format!("user{i}@example.org"), &format!("{i:06}")),
        )
        .await;
    }
    server.wait_for(N, Duration::from_secs(60)).await;
    // Give a duplicate every chance to show up.
    tokio::time::sleep(Duration::from_millis(750)).await;
    let got = server.received();
    assert_eq!(got.len(), N, "no duplicates");
    let mut to: Vec<String> = got.iter().map(|m| m.to[0].clone()).collect();
    to.sort();
    to.dedup();
    assert_eq!(to.len(), N, "every recipient exactly once");
    let sent: Value = a
        .http
        .get(a.admin_url("/admin/courier/messages?status=sent&page_size=1000"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(sent.as_array().unwrap().len(), N);
}
