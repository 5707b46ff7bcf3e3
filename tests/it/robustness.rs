//! Input that used to stop or bend the server: deeply nested form keys and JSON documents,
//! unbounded field, parameter and patch counts, out-of-range durations, API flows answered
//! with browser redirects, and recovery doing less work for unknown addresses. Each answer
//! must be a Kratos error (never a crash), and the server must keep serving.

use serde_json::{Value, json};

use crate::common::flow::{api_action, api_login};
use crate::common::{Setup, TestApp, expect_error};

const YAML: &str = "selfservice:
  flows:
    recovery:
      enabled: true
      use: code
    verification:
      enabled: true
      use: code
  methods:
    password:
      config:
        haveibeenpwned_enabled: false
";

async fn start() -> TestApp {
    TestApp::start_with(Setup {
        yaml: YAML.into(),
        ..Default::default()
    })
    .await
}

/// An identity with a password, and a native session token for it.
async fn signed_in(app: &TestApp, email: &str) -> (Value, String) {
    let identity = app
        .create_identity(json!({
            "traits": {"email": email},
            "credentials": {"password": {"config": {"password": "a long enough password"}}}
        }))
        .await;
    let (_, done) = api_login(app, email, "a long enough password").await;
    let token = done["session_token"]
        .as_str()
        .unwrap_or_else(|| panic!("login failed: {done}"))
        .to_owned();
    (identity, token)
}

async fn alive(app: &TestApp) {
    let r = app
        .http
        .get(app.public_url("/health/alive"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

const KINDS: [&str; 5] = [
    "registration",
    "login",
    "recovery",
    "verification",
    "settings",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deeply_nested_submissions_are_refused_on_every_flow() {
    let app = start().await;
    let (_, token) = signed_in(&app, "deep@example.org").await;
    let deep_json = |depth: usize| {
        format!(
            "{{\"method\":\"password\",\"traits\":{}1{}}}",
            "{\"a\":".repeat(depth),
            "}".repeat(depth)
        )
    };
    for kind in KINDS {
        let token = (kind == "settings").then_some(token.as_str());
        // One dotted key: 5,000 segments in 10 KB stopped the process at registration,
        // 50,000 at the other flows. No `Accept` header: an API flow answers JSON anyway.
        for segments in [5_000, 50_000] {
            let action = api_action(&app, kind, token).await;
            let body = format!("method=password&traits{}=v", ".a".repeat(segments));
            let mut r = app
                .http
                .post(&action)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body);
            if let Some(t) = token {
                r = r.header("X-Session-Token", t);
            }
            let e = expect_error(r.send().await.unwrap(), 400).await;
            assert!(
                e["reason"].as_str().unwrap().contains("64 levels"),
                "{kind}: {e}"
            );
        }
        // JSON nested past the bound but within serde_json's own limit.
        let action = api_action(&app, kind, token).await;
        let mut r = app
            .http
            .post(&action)
            .header("content-type", "application/json")
            .body(deep_json(100));
        if let Some(t) = token {
            r = r.header("X-Session-Token", t);
        }
        let e = expect_error(r.send().await.unwrap(), 400).await;
        assert!(
            e["reason"].as_str().unwrap().contains("64 levels"),
            "{kind}: {e}"
        );
    }
    alive(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn form_traits_are_read_against_the_schema() {
    let app = start().await;
    // Keys the schema does not name are ignored, as Kratos does; known ones are typed.
    let action = api_action(&app, "registration", None).await;
    let r = app
        .http
        .post(&action)
        .form(&[
            ("method", "password"),
            ("password", "a long enough password"),
            ("traits.email", "typed@example.org"),
            ("traits.age", "36"),
            ("traits.unknown", "ignored"),
            ("traits.email.deeper", "ignored"),
        ])
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v["identity"]["traits"],
        json!({"email": "typed@example.org", "age": 36}),
        "{v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_are_bounded() {
    let app = start().await;
    // A form of more than 1,000 fields.
    let action = api_action(&app, "login", None).await;
    let body = (0..1_001)
        .map(|i| format!("f{i}=v"))
        .collect::<Vec<_>>()
        .join("&");
    let r = app
        .http
        .post(&action)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    let e = expect_error(r, 400).await;
    assert!(e["reason"].as_str().unwrap().contains("1000 fields"), "{e}");
    // A query string of more than 256 parameters, and as many cookies.
    let query = (0..300).map(|i| format!("p{i}=1")).collect::<Vec<_>>();
    let r = app
        .http
        .get(app.public_url(&format!("/self-service/login/api?{}", query.join("&"))))
        .send()
        .await
        .unwrap();
    let e = expect_error(r, 400).await;
    assert!(e["reason"].as_str().unwrap().contains("256"), "{e}");
    let r = app
        .http
        .get(app.public_url("/self-service/login/api"))
        .header("cookie", query.join("; "))
        .send()
        .await
        .unwrap();
    let e = expect_error(r, 400).await;
    assert!(e["reason"].as_str().unwrap().contains("cookies"), "{e}");
    // A JSON document of more than 100,000 values.
    let r = app
        .http
        .post(app.admin_url("/admin/identities"))
        .header("content-type", "application/json")
        .body(format!(
            "{{\"traits\":{{\"email\":\"many@example.org\"}},\"metadata_public\":[{}0]}}",
            "0,".repeat(100_000)
        ))
        .send()
        .await
        .unwrap();
    let e = expect_error(r, 400).await;
    assert!(e["reason"].as_str().unwrap().contains("100000"), "{e}");
    alive(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_documents_and_patches_are_bounded() {
    let app = start().await;
    let nested = |depth: usize| {
        let mut v = json!(1);
        for _ in 0..depth {
            v = json!({ "a": v });
        }
        v
    };
    // The body nests one level above `metadata_public`.
    let ok = app
        .http
        .post(app.admin_url("/admin/identities"))
        .json(&json!({"traits": {"email": "meta@example.org"}, "metadata_public": nested(63)}))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 201);
    let created: Value = ok.json().await.unwrap();
    let id = created["id"].as_str().unwrap();
    let r = app
        .http
        .post(app.admin_url("/admin/identities"))
        .json(&json!({"traits": {"email": "meta2@example.org"}, "metadata_public": nested(64)}))
        .send()
        .await
        .unwrap();
    expect_error(r, 400).await;

    // Each copy doubles the document: the patch is refused, and nothing is stored.
    let doubling: Vec<Value> = (0..40)
        .map(|i| json!({"op": "copy", "from": "/metadata_public", "path": format!("/metadata_admin_{i}")}))
        .chain((0..40).map(|_| json!({"op": "copy", "from": "/metadata_public", "path": "/metadata_public/b"})))
        .collect();
    for patch in [
        doubling,
        vec![json!({"op": "add", "path": "/metadata_admin", "value": nested(64)})],
        (0..1_001)
            .map(|_| json!({"op": "test", "path": "/schema_id", "value": "customer"}))
            .collect(),
    ] {
        let r = app
            .http
            .patch(app.admin_url(&format!("/admin/identities/{id}")))
            .json(&Value::Array(patch))
            .send()
            .await
            .unwrap();
        expect_error(r, 400).await;
    }
    let stored: Value = app
        .http
        .get(app.admin_url(&format!("/admin/identities/{id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stored["metadata_public"], nested(63));
    assert!(stored["metadata_admin"].is_null(), "{stored}");
    alive(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_expires_in_out_of_range_is_a_400() {
    let app = start().await;
    let identity = app
        .create_identity(json!({"traits": {"email": "expiry@example.org"}}))
        .await;
    let id = identity["id"].as_str().unwrap();
    for bad in [
        "99999999999999h",
        "9223372036854775807ns",
        "8761h",
        "-1h",
        "0s",
    ] {
        for path in ["/admin/recovery/code", "/admin/recovery/link"] {
            let r = app
                .http
                .post(app.admin_url(path))
                .json(&json!({"identity_id": id, "expires_in": bad}))
                .send()
                .await
                .unwrap();
            let e = expect_error(r, 400).await;
            assert!(e["reason"].as_str().unwrap().contains(bad), "{bad}: {e}");
        }
    }
    let r = app
        .http
        .post(app.admin_url("/admin/recovery/code"))
        .json(&json!({"identity_id": id, "expires_in": "8760h"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    let expires: chrono::DateTime<chrono::Utc> = v["expires_at"].as_str().unwrap().parse().unwrap();
    assert!(expires > chrono::Utc::now() + chrono::Duration::days(364));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_flows_answer_json_whatever_the_client_accepts() {
    let app = start().await;
    let (_, token) = signed_in(&app, "api@example.org").await;
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // A rejected form submission answers with the flow, not a redirect to the browser UI.
    let action = api_action(&app, "registration", None).await;
    let r = no_redirects
        .post(&action)
        .header("accept", "text/html")
        .form(&[("method", "password"), ("traits.email", "x@example.org")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["type"], "api", "{v}");
    // Errors that carry no flow: a browser's cookie on an API flow, and a session that
    // already exists for an API login.
    let action = api_action(&app, "login", None).await;
    let r = no_redirects
        .post(&action)
        .header("accept", "text/html")
        .header("cookie", "some=cookie")
        .form(&[
            ("method", "password"),
            ("identifier", "a"),
            ("password", "b"),
        ])
        .send()
        .await
        .unwrap();
    expect_error(r, 400).await;
    let action = api_action(&app, "settings", Some(&token)).await;
    let r = no_redirects
        .post(&action)
        .header("accept", "text/html")
        .form(&[("method", "profile"), ("traits.email", "api@example.org")])
        .send()
        .await
        .unwrap();
    // No session token: the API flow says so in JSON.
    expect_error(r, 401).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_answers_unknown_addresses_like_known_ones() {
    let app = start().await;
    app.create_identity(json!({"traits": {"email": "known@example.org"}}))
        .await;
    let mut answers = Vec::new();
    for email in ["known@example.org", "unknown@example.org"] {
        let action = api_action(&app, "recovery", None).await;
        let r = app
            .http
            .post(&action)
            .json(&json!({"method": "code", "email": email}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let mut v: Value = r.json().await.unwrap();
        // Only the flow's own ids and times differ.
        for k in ["id", "issued_at", "expires_at", "request_url"] {
            v[k] = Value::Null;
        }
        let action = v["ui"]["action"].as_str().unwrap().to_owned();
        v["ui"]["action"] = json!(action.split("flow=").next().unwrap());
        let text = v.to_string().replace(email, "<email>");
        answers.push(text);
    }
    assert_eq!(answers[0], answers[1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_flows_may_hold_codes_that_hash_alike() {
    use gatehouse::store::id::DbId;
    use gatehouse::store::tokens::{TokenRow, replace_for_flow};
    // Six-digit codes collide between flows once about a thousand are outstanding; the
    // second flow must still get its code.
    let app = start().await;
    let store = &app.running.as_ref().unwrap().handles().deps().store;
    let now = chrono::Utc::now().naive_utc();
    for _ in 0..2 {
        let action = api_action(&app, "recovery", None).await;
        let flow_id: uuid::Uuid = action.split("flow=").nth(1).unwrap().parse().unwrap();
        let row = TokenRow {
            id: DbId(uuid::Uuid::new_v4()),
            nid: DbId(store.nid()),
            kind: "recovery_code".into(),
            flow_id: Some(DbId(flow_id)),
            identity_id: None,
            address: None,
            address_id: None,
            token_hash: "the same keyed hash".into(),
            used_at: None,
            expires_at: now + chrono::Duration::hours(1),
            created_at: now,
            updated_at: now,
        };
        replace_for_flow(store, flow_id, "recovery_code", &[row])
            .await
            .expect("a code that hashes like another flow's is stored");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_given_without_the_body_keeps_the_connection_usable() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // A route that takes no body answers a request that carries one; the client sends the body
    // in two parts, then a second request on the same connection. Both are answered: the body
    // is read before the answer, so the connection is not closed behind a keep-alive answer.
    let app = start().await;
    let addr = app.public.trim_start_matches("http://").to_owned();
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let body = vec![b'a'; 100_000];
    s.write_all(
        format!(
            "POST /self-service/login/api HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    s.write_all(&body[..10]).await.unwrap();
    s.flush().await.unwrap();
    s.write_all(&body[10..]).await.unwrap();
    s.write_all(b"GET /health/alive HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 8192];
    while !String::from_utf8_lossy(&seen).contains("\"status\":\"ok\"") {
        let n = tokio::time::timeout(std::time::Duration::from_secs(10), s.read(&mut buf))
            .await
            .expect("the server answers within 10 s")
            .unwrap();
        assert!(
            n > 0,
            "connection closed after: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&seen);
    assert!(text.starts_with("HTTP/1.1 405"), "{text}");
    assert!(!text.contains("connection: close"), "{text}");
}
