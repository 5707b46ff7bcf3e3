//! The admin identity API over plain HTTP: exact statuses, the error envelope and the JSON
//! shapes of `identity`, `batchPatchIdentitiesResponse` and friends.

use std::collections::BTreeSet;

use base64::Engine;
use serde_json::{Value, json};

use crate::common::{TestApp, expect_error};

// Known vectors (src/hash/tests.rs), all for the password "test".
const BCRYPT: &str = "$2a$12$o6hx.Wog/wvFSkT/Bp/6DOxCtLRTDj7lm9on9suF/WaCGNVHbkfL6";
const ARGON2ID: &str = "$argon2id$v=19$m=32,t=2,p=4$cm94YnRVOW5jZzFzcVE4bQ$MNzk5BtR2vUhrp6qQEjRNw";
const PBKDF2: &str = "$pbkdf2-sha256$i=100000,l=32$1jP+5Zxpxgtee/iPxGgOz0RfE9/KJuDElP1ley4VxXc$QJxzfvdbHYBpydCbHoFg3GJEqMFULwskiuqiJctoYpI";
const SCRYPT: &str = "$scrypt$ln=16384,r=8,p=1$2npRo7P03Mt8keSoMbyD/tKFWyUzjiQf2svUaNDSrhA=$MiCzNcIplSMqSBrm4HckjYqYhaVPPjTARTzwB1cVNYE=";

async fn send(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut r = app.http.request(method, app.admin_url(path));
    if let Some(b) = body {
        r = r.json(&b);
    }
    r.send().await.unwrap()
}

async fn post(app: &TestApp, body: Value) -> reqwest::Response {
    send(app, reqwest::Method::POST, "/admin/identities", Some(body)).await
}

async fn get_json(app: &TestApp, path: &str) -> Value {
    let r = send(app, reqwest::Method::GET, path, None).await;
    let status = r.status();
    let v: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "GET {path}: {v}");
    v
}

async fn count(app: &TestApp) -> usize {
    get_json(app, "/admin/identities?page_size=1000")
        .await
        .as_array()
        .unwrap()
        .len()
}

fn rfc3339(v: &Value, what: &str) {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("{what} is not a string: {v}"));
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("{what} = {s:?} is not RFC 3339: {e}"));
}

/// Asserts the fields every identity carries, in their Kratos shapes.
fn assert_identity_shape(app: &TestApp, v: &Value) {
    let o = v
        .as_object()
        .unwrap_or_else(|| panic!("identity is not an object: {v}"));
    uuid::Uuid::parse_str(o["id"].as_str().unwrap()).unwrap();
    let schema_id = o["schema_id"].as_str().unwrap();
    let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(schema_id);
    assert_eq!(
        o["schema_url"],
        json!(format!("{}/schemas/{encoded}", app.public)),
        "{v}"
    );
    assert!(
        matches!(o["state"].as_str(), Some("active" | "inactive")),
        "{v}"
    );
    rfc3339(&o["state_changed_at"], "state_changed_at");
    rfc3339(&o["created_at"], "created_at");
    rfc3339(&o["updated_at"], "updated_at");
    assert!(o["traits"].is_object(), "{v}");
    // nullJsonRawMessage / NullUUID: always present, null when unset.
    for k in ["metadata_public", "metadata_admin", "organization_id"] {
        assert!(o.contains_key(k), "{k} missing: {v}");
    }
    if let Some(e) = o.get("external_id") {
        assert!(e.is_string(), "external_id is omitted or a string: {v}");
    }
    for a in o
        .get("verifiable_addresses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        uuid::Uuid::parse_str(a["id"].as_str().unwrap()).unwrap();
        assert!(
            a["value"].is_string() && a["via"].is_string() && a["verified"].is_boolean(),
            "{a}"
        );
        assert!(
            matches!(a["status"].as_str(), Some("pending" | "sent" | "completed")),
            "{a}"
        );
        rfc3339(&a["created_at"], "address created_at");
        rfc3339(&a["updated_at"], "address updated_at");
        if a["verified"] == json!(true) {
            rfc3339(&a["verified_at"], "verified_at");
        }
    }
    for a in o
        .get("recovery_addresses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        uuid::Uuid::parse_str(a["id"].as_str().unwrap()).unwrap();
        assert!(a["value"].is_string() && a["via"].is_string(), "{a}");
        rfc3339(&a["created_at"], "address created_at");
    }
    for (k, c) in o
        .get("credentials")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        assert_eq!(c["type"], json!(k), "{c}");
        assert!(
            c["identifiers"].is_array() && c["version"].is_number() && c["config"].is_object(),
            "{c}"
        );
        rfc3339(&c["created_at"], "credential created_at");
    }
}

fn customer(email: &str) -> Value {
    json!({ "traits": { "email": email } })
}

// ---------------------------------------------------------------- create

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_returns_the_full_identity() {
    let app = TestApp::start().await;
    let r = post(
        &app,
        json!({
            "schema_id": "customer",
            "traits": { "email": "Foo@X.com", "username": "Foo", "backup_emails": ["Bak@X.com"], "age": 3 },
            "state": "inactive",
            "metadata_public": { "plan": "pro" },
            "metadata_admin": { "note": 1 },
            "external_id": "ext-1",
        }),
    )
    .await;
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    assert_identity_shape(&app, &v);
    assert_eq!(v["schema_id"], "customer");
    assert_eq!(v["state"], "inactive");
    // Traits are stored as given; only derived identifiers and addresses are normalised.
    assert_eq!(v["traits"]["email"], "Foo@X.com");
    assert_eq!(v["metadata_public"], json!({ "plan": "pro" }));
    assert_eq!(v["metadata_admin"], json!({ "note": 1 }));
    assert_eq!(v["external_id"], "ext-1");
    assert_eq!(v["organization_id"], Value::Null);
    let verifiable: BTreeSet<&str> = v["verifiable_addresses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["value"].as_str().unwrap())
        .collect();
    assert_eq!(verifiable, BTreeSet::from(["foo@x.com", "bak@x.com"]));
    for a in v["verifiable_addresses"].as_array().unwrap() {
        assert_eq!(
            (
                a["via"].as_str(),
                a["verified"].as_bool(),
                a["status"].as_str()
            ),
            (Some("email"), Some(false), Some("pending"))
        );
        assert!(
            a.get("verified_at").is_none_or(Value::is_null),
            "unverified has no verified_at: {a}"
        );
    }
    let recovery: Vec<&str> = v["recovery_addresses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["value"].as_str().unwrap())
        .collect();
    assert_eq!(recovery, ["foo@x.com"]);

    // What is read back equals what was returned.
    let got = get_json(
        &app,
        &format!("/admin/identities/{}", v["id"].as_str().unwrap()),
    )
    .await;
    for k in [
        "id",
        "schema_id",
        "state",
        "state_changed_at",
        "traits",
        "metadata_public",
        "metadata_admin",
        "external_id",
        "created_at",
        "verifiable_addresses",
        "recovery_addresses",
    ] {
        assert_eq!(got[k], v[k], "{k} differs after read-back");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_defaults_schema_state_and_nulls() {
    let app = TestApp::start().await;
    let v = app.create_identity(customer("min@x.com")).await;
    assert_identity_shape(&app, &v);
    assert_eq!(v["schema_id"], "customer");
    assert_eq!(v["state"], "active");
    assert_eq!(v["metadata_public"], Value::Null);
    assert_eq!(v["metadata_admin"], Value::Null);
    assert!(
        v.get("external_id").is_none(),
        "external_id is omitted when unset: {v}"
    );

    let e = app
        .create_identity(json!({ "schema_id": "employee", "traits": { "staff_id": "E7" } }))
        .await;
    assert_identity_shape(&app, &e);
    assert_eq!(e["schema_id"], "employee");
    assert!(
        e.get("verifiable_addresses")
            .is_none_or(|a| a.as_array().unwrap().is_empty()),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_keeps_imported_verified_address() {
    let app = TestApp::start().await;
    let v = app
        .create_identity(json!({
            "traits": { "email": "imp@x.com", "backup_emails": ["other@x.com"] },
            "verifiable_addresses": [{ "value": "IMP@x.com", "via": "email", "verified": true, "status": "completed" }],
        }))
        .await;
    assert_identity_shape(&app, &v);
    let addrs = v["verifiable_addresses"].as_array().unwrap();
    let imp = addrs.iter().find(|a| a["value"] == "imp@x.com").unwrap();
    assert_eq!(
        (imp["verified"].as_bool(), imp["status"].as_str()),
        (Some(true), Some("completed"))
    );
    rfc3339(&imp["verified_at"], "verified_at");
    let other = addrs.iter().find(|a| a["value"] == "other@x.com").unwrap();
    assert_eq!(
        (other["verified"].as_bool(), other["status"].as_str()),
        (Some(false), Some("pending"))
    );
    let got = get_json(
        &app,
        &format!("/admin/identities/{}", v["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(got["verifiable_addresses"], v["verifiable_addresses"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_with_cleartext_password_stores_argon2id() {
    let app = TestApp::start().await;
    let v = app
        .create_identity(json!({
            "traits": { "email": "Pw@X.com", "username": "PwUser" },
            "credentials": { "password": { "config": { "password": "correct horse battery" } } },
        }))
        .await;
    assert_identity_shape(&app, &v);
    let id = v["id"].as_str().unwrap();
    // Without include_credential the secret config is blanked.
    let plain = get_json(&app, &format!("/admin/identities/{id}")).await;
    let pw = &plain["credentials"]["password"];
    assert_eq!(pw["config"], json!({}), "{plain}");
    let ids: BTreeSet<&str> = pw["identifiers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_str().unwrap())
        .collect();
    assert_eq!(ids, BTreeSet::from(["pw@x.com", "pwuser"]));
    // With it, the argon2id hash is visible and the cleartext is nowhere.
    let full = get_json(
        &app,
        &format!("/admin/identities/{id}?include_credential=password"),
    )
    .await;
    assert_identity_shape(&app, &full);
    let hashed = full["credentials"]["password"]["config"]["hashed_password"]
        .as_str()
        .unwrap();
    assert!(hashed.starts_with("$argon2id$v=19$"), "{hashed}");
    assert!(!full.to_string().contains("correct horse"), "{full}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_imports_hashed_passwords_verbatim() {
    let app = TestApp::start().await;
    for (i, hash) in [BCRYPT, PBKDF2, SCRYPT, ARGON2ID].into_iter().enumerate() {
        let v = app
            .create_identity(json!({
                "traits": { "email": format!("h{i}@x.com") },
                "credentials": { "password": { "config": { "hashed_password": hash } } },
            }))
            .await;
        let full = get_json(
            &app,
            &format!(
                "/admin/identities/{}?include_credential=password",
                v["id"].as_str().unwrap()
            ),
        )
        .await;
        assert_eq!(
            full["credentials"]["password"]["config"]["hashed_password"],
            hash
        );
        assert_eq!(
            full["credentials"]["password"]["identifiers"],
            json!([format!("h{i}@x.com")])
        );
    }
    let before = count(&app).await;
    let r = post(
        &app,
        json!({
            "traits": { "email": "bad@x.com" },
            "credentials": { "password": { "config": { "hashed_password": "$nope$abc" } } },
        }),
    )
    .await;
    let e = expect_error(r, 400).await;
    assert!(
        e["reason"]
            .as_str()
            .unwrap()
            .contains("does not match any known hash format"),
        "{e}"
    );
    assert_eq!(count(&app).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_with_migration_hook_and_oidc() {
    let app = TestApp::start().await;
    let v = app
        .create_identity(json!({
            "traits": { "email": "hook@x.com" },
            "credentials": {
                "password": { "config": { "use_password_migration_hook": true } },
                "oidc": { "config": { "providers": [
                    { "provider": "google", "subject": "g-1" },
                    { "provider": "github", "subject": "42", "use_auto_link": true },
                ] } },
            },
        }))
        .await;
    let full = get_json(
        &app,
        &format!(
            "/admin/identities/{}?include_credential=password,oidc",
            v["id"].as_str().unwrap()
        ),
    )
    .await;
    assert_identity_shape(&app, &full);
    assert_eq!(
        full["credentials"]["password"]["config"],
        json!({ "use_password_migration_hook": true })
    );
    let mut oidc: Vec<&str> = full["credentials"]["oidc"]["identifiers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_str().unwrap())
        .collect();
    oidc.sort();
    assert_eq!(oidc, ["github:42", "google:g-1"]);
    let providers = full["credentials"]["oidc"]["config"]["providers"]
        .as_array()
        .unwrap();
    assert_eq!(providers.len(), 2);
    assert!(
        providers
            .iter()
            .any(|p| p["provider"] == "github" && p["subject"] == "42"),
        "{full}"
    );
    // Found by its oidc identifier.
    let found = get_json(&app, "/admin/identities?credentials_identifier=google:g-1").await;
    assert_eq!(found.as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_rejects_unsupported_credential_type() {
    let app = TestApp::start().await;
    let r = post(
        &app,
        json!({
            "traits": { "email": "totp@x.com" },
            "credentials": { "totp": { "config": { "totp_url": "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP" } } },
        }),
    )
    .await;
    let e = expect_error(r, 400).await;
    assert!(e["reason"].as_str().unwrap().contains("totp"), "{e}");
    assert_eq!(count(&app).await, 0);
}

// ---------------------------------------------------------------- bad input

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_create_bodies_are_rejected_and_write_nothing() {
    let app = TestApp::start().await;
    app.create_identity(json!({ "traits": { "email": "taken@x.com", "username": "taken" }, "external_id": "ext-taken" }))
        .await;

    // Malformed JSON.
    let r = app
        .http
        .post(app.admin_url("/admin/identities"))
        .header("content-type", "application/json")
        .body("{\"traits\": ")
        .send()
        .await
        .unwrap();
    let e = expect_error(r, 400).await;
    assert!(e["reason"].as_str().unwrap().contains("JSON"), "{e}");

    // Wrong types name the field.
    let e = expect_error(post(&app, json!({ "traits": "x" })).await, 400).await;
    assert!(e["reason"].as_str().unwrap().contains("traits"), "{e}");
    let e = expect_error(
        post(
            &app,
            json!({ "traits": { "email": "s@x.com" }, "state": 5 }),
        )
        .await,
        400,
    )
    .await;
    assert!(e["reason"].as_str().unwrap().contains("state"), "{e}");
    let e = expect_error(
        post(
            &app,
            json!({ "traits": { "email": "s@x.com" }, "state": "blocked" }),
        )
        .await,
        400,
    )
    .await;
    assert!(e["reason"].as_str().unwrap().contains("blocked"), "{e}");
    let e = expect_error(
        post(
            &app,
            json!({ "traits": { "email": "s@x.com" }, "schema_id": "nope" }),
        )
        .await,
        400,
    )
    .await;
    assert!(e["reason"].as_str().unwrap().contains("nope"), "{e}");

    // Schema violations carry Kratos message ids at instance pointers.
    let e = expect_error(
        post(&app, json!({ "traits": { "username": "someone" } })).await,
        400,
    )
    .await;
    let msgs = e["details"]["messages"]
        .as_array()
        .unwrap_or_else(|| panic!("no details.messages: {e}"));
    assert!(
        msgs.iter()
            .any(|m| m["instance_ptr"] == "#/traits/email" && m["messages"][0]["id"] == 4000002),
        "{e}"
    );
    assert_eq!(msgs[0]["messages"][0]["type"], "error");
    assert!(msgs[0]["messages"][0]["text"].is_string());
    let e = expect_error(post(&app, customer("not-an-email")).await, 400).await;
    let msgs = e["details"]["messages"].as_array().unwrap();
    assert!(
        msgs.iter()
            .any(|m| m["instance_ptr"] == "#/traits/email" && m["messages"][0]["id"] == 4000040),
        "{e}"
    );

    // A third address that is invalid leaves no identity behind.
    let e = expect_error(
        post(&app, json!({ "traits": { "email": "a@x.com", "backup_emails": ["a2@x.com", "b@x.com", "not-an-email"] } })).await,
        400,
    )
    .await;
    assert!(
        e["details"]["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["instance_ptr"] == "#/traits/backup_emails/2"),
        "{e}"
    );

    // Conflicts: the second identifier, a verifiable address, the external id.
    let e = expect_error(
        post(
            &app,
            json!({ "traits": { "email": "fresh@x.com", "username": "TAKEN" } }),
        )
        .await,
        409,
    )
    .await;
    assert_eq!(e["id"], "conflict");
    expect_error(post(&app, customer("Taken@X.com")).await, 409).await;
    expect_error(
        post(
            &app,
            json!({ "traits": { "email": "fresh2@x.com" }, "external_id": "ext-taken" }),
        )
        .await,
        409,
    )
    .await;

    // Nothing written, and the would-be identifiers are still free.
    assert_eq!(count(&app).await, 1);
    for probe in ["fresh@x.com", "a@x.com", "b@x.com"] {
        let found = get_json(
            &app,
            &format!("/admin/identities?credentials_identifier={probe}"),
        )
        .await;
        assert_eq!(found, json!([]), "{probe} was left behind");
    }
    app.create_identity(
        json!({ "traits": { "email": "fresh@x.com", "backup_emails": ["b@x.com"] } }),
    )
    .await;
}

/// Sends raw request head bytes and reads one response: (status, JSON body).
async fn raw_request(addr: &str, head: String) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr.trim_start_matches("http://"))
        .await
        .unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(std::time::Duration::from_secs(20), s.read(&mut chunk))
            .await
            .unwrap()
            .unwrap();
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let len: usize = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .expect("content-length");
            if buf.len() >= end + 4 + len || n == 0 {
                let status = text[9..12].parse().unwrap();
                return (
                    status,
                    serde_json::from_slice(&buf[end + 4..end + 4 + len]).unwrap(),
                );
            }
        }
        assert!(n > 0, "connection closed before a full response: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_body_is_413() {
    let app = TestApp::start().await;
    // Refused on the declared length, before any of the body is read.
    let head = format!(
        "POST /admin/identities HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        5 * 1024 * 1024 + 1
    );
    let (status, body) = raw_request(&app.admin, head).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"]["code"], 413);
    assert_eq!(body["error"]["id"], "payload_too_large");
    // Just under the limit is read (and then judged on its content).
    let filler = "x".repeat(5 * 1024 * 1024 - 200);
    let r = post(
        &app,
        json!({ "traits": { "email": "big@x.com" }, "metadata_admin": { "blob": filler } }),
    )
    .await;
    assert_eq!(r.status(), 201);
    assert_eq!(count(&app).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_paths_and_queries() {
    let app = TestApp::start().await;
    let r = send(
        &app,
        reqwest::Method::GET,
        "/admin/identities/not-a-uuid",
        None,
    )
    .await;
    let e = expect_error(r, 404).await;
    assert!(e["reason"].as_str().unwrap().contains("not-a-uuid"), "{e}");
    let missing = uuid::Uuid::new_v4();
    for m in [reqwest::Method::GET, reqwest::Method::DELETE] {
        expect_error(
            send(&app, m, &format!("/admin/identities/{missing}"), None).await,
            404,
        )
        .await;
    }
    expect_error(
        send(
            &app,
            reqwest::Method::PUT,
            &format!("/admin/identities/{missing}"),
            Some(customer("a@x.com")),
        )
        .await,
        404,
    )
    .await;
    expect_error(
        send(
            &app,
            reqwest::Method::GET,
            "/admin/identities?page_token=garbage!!",
            None,
        )
        .await,
        400,
    )
    .await;
    let e = expect_error(
        send(
            &app,
            reqwest::Method::GET,
            "/admin/identities?ids=abc",
            None,
        )
        .await,
        400,
    )
    .await;
    assert!(e["reason"].as_str().unwrap().contains("abc"), "{e}");
    expect_error(
        send(
            &app,
            reqwest::Method::GET,
            &format!("/admin/identities?ids={missing}&credentials_identifier=a@x.com"),
            None,
        )
        .await,
        400,
    )
    .await;
    expect_error(
        send(
            &app,
            reqwest::Method::GET,
            "/admin/identities?page_size=0",
            None,
        )
        .await,
        400,
    )
    .await;
    expect_error(
        send(
            &app,
            reqwest::Method::GET,
            "/admin/identities?page_size=abc",
            None,
        )
        .await,
        400,
    )
    .await;
}

// ---------------------------------------------------------------- read, delete, update

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_by_external_id_and_delete() {
    let app = TestApp::start().await;
    let v = app
        .create_identity(json!({ "traits": { "email": "e@x.com" }, "external_id": "crm/42" }))
        .await;
    let id = v["id"].as_str().unwrap();
    let by = get_json(&app, "/admin/identities/by/external/crm%2F42").await;
    assert_eq!(by["id"], v["id"]);
    assert_identity_shape(&app, &by);
    let by = get_json(
        &app,
        "/admin/identities/by/external/crm%2F42?include_credential=password",
    )
    .await;
    assert_eq!(by["id"], v["id"]);
    expect_error(
        send(
            &app,
            reqwest::Method::GET,
            "/admin/identities/by/external/nope",
            None,
        )
        .await,
        404,
    )
    .await;

    let r = send(
        &app,
        reqwest::Method::DELETE,
        &format!("/admin/identities/{id}"),
        None,
    )
    .await;
    assert_eq!(r.status(), 204);
    assert!(r.bytes().await.unwrap().is_empty());
    expect_error(
        send(
            &app,
            reqwest::Method::GET,
            &format!("/admin/identities/{id}"),
            None,
        )
        .await,
        404,
    )
    .await;
    expect_error(
        send(
            &app,
            reqwest::Method::DELETE,
            &format!("/admin/identities/{id}"),
            None,
        )
        .await,
        404,
    )
    .await;
    expect_error(
        send(
            &app,
            reqwest::Method::GET,
            "/admin/identities/by/external/crm%2F42",
            None,
        )
        .await,
        404,
    )
    .await;
    // The identifiers are free again.
    app.create_identity(json!({ "traits": { "email": "e@x.com" }, "external_id": "crm/42" }))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_replaces_traits_state_metadata_and_password() {
    let app = TestApp::start().await;
    let v = app
        .create_identity(json!({
            "traits": { "email": "old@x.com", "username": "olduser" },
            "metadata_public": { "a": 1 },
            "credentials": { "password": { "config": { "hashed_password": BCRYPT } } },
        }))
        .await;
    let id = v["id"].as_str().unwrap();
    let r = send(
        &app,
        reqwest::Method::PUT,
        &format!("/admin/identities/{id}"),
        Some(json!({
            "schema_id": "customer",
            "traits": { "email": "New@X.com" },
            "state": "inactive",
            "metadata_admin": { "b": 2 },
            "credentials": { "password": { "config": { "password": "a new secret phrase" } } },
        })),
    )
    .await;
    assert_eq!(r.status(), 200);
    let u: Value = r.json().await.unwrap();
    assert_identity_shape(&app, &u);
    assert_eq!(u["id"], v["id"]);
    assert_eq!(u["traits"], json!({ "email": "New@X.com" }));
    assert_eq!(u["state"], "inactive");
    assert_ne!(u["state_changed_at"], v["state_changed_at"]);
    assert_eq!(
        u["metadata_public"],
        Value::Null,
        "PUT replaces metadata_public"
    );
    assert_eq!(u["metadata_admin"], json!({ "b": 2 }));
    assert_eq!(u["created_at"], v["created_at"]);
    assert_eq!(u["verifiable_addresses"].as_array().unwrap().len(), 1);
    assert_eq!(u["verifiable_addresses"][0]["value"], "new@x.com");
    assert_eq!(u["recovery_addresses"][0]["value"], "new@x.com");

    let full = get_json(
        &app,
        &format!("/admin/identities/{id}?include_credential=password"),
    )
    .await;
    let pw = &full["credentials"]["password"];
    assert_eq!(pw["identifiers"], json!(["new@x.com"]));
    assert!(
        pw["config"]["hashed_password"]
            .as_str()
            .unwrap()
            .starts_with("$argon2id$"),
        "{pw}"
    );
    // Old identifiers are released.
    assert_eq!(
        get_json(&app, "/admin/identities?credentials_identifier=olduser").await,
        json!([])
    );
    app.create_identity(json!({ "traits": { "email": "old@x.com", "username": "olduser" } }))
        .await;
    // A PUT onto a taken identifier is a conflict and changes nothing.
    let r = send(&app, reqwest::Method::PUT, &format!("/admin/identities/{id}"), Some(json!({ "traits": { "email": "new@x.com", "username": "OldUser" }, "state": "inactive" }))).await;
    expect_error(r, 409).await;
    assert_eq!(
        get_json(&app, &format!("/admin/identities/{id}")).await["traits"],
        json!({ "email": "New@X.com" })
    );

    // Same state again: state_changed_at stays.
    let r = send(
        &app,
        reqwest::Method::PUT,
        &format!("/admin/identities/{id}"),
        Some(json!({ "traits": { "email": "new@x.com" }, "state": "inactive" })),
    )
    .await;
    let again: Value = r.json().await.unwrap();
    assert_eq!(again["state_changed_at"], u["state_changed_at"]);
    // Invalid traits on PUT: 400, nothing changed.
    let r = send(
        &app,
        reqwest::Method::PUT,
        &format!("/admin/identities/{id}"),
        Some(json!({ "traits": { "age": -1 } })),
    )
    .await;
    expect_error(r, 400).await;
    assert_eq!(
        get_json(&app, &format!("/admin/identities/{id}")).await["traits"],
        json!({ "email": "new@x.com" })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_patch_updates_and_rejections() {
    let app = TestApp::start().await;
    let v = app
        .create_identity(json!({
            "traits": { "email": "p@x.com" },
            "credentials": { "password": { "config": { "hashed_password": BCRYPT } } },
        }))
        .await;
    let id = v["id"].as_str().unwrap();
    let path = format!("/admin/identities/{id}");
    let r = send(
        &app,
        reqwest::Method::PATCH,
        &path,
        Some(json!([
            { "op": "replace", "path": "/traits/email", "value": "Q@X.com" },
            { "op": "add", "path": "/metadata_public", "value": { "k": "v" } },
            { "op": "add", "path": "/traits/age", "value": 30 },
        ])),
    )
    .await;
    assert_eq!(r.status(), 200);
    let p: Value = r.json().await.unwrap();
    assert_identity_shape(&app, &p);
    assert_eq!(p["traits"], json!({ "email": "Q@X.com", "age": 30 }));
    assert_eq!(p["metadata_public"], json!({ "k": "v" }));
    assert_eq!(p["verifiable_addresses"].as_array().unwrap().len(), 1);
    assert_eq!(p["verifiable_addresses"][0]["value"], "q@x.com");
    assert_eq!(p["recovery_addresses"][0]["value"], "q@x.com");
    let full = get_json(&app, &format!("{path}?include_credential=password")).await;
    assert_eq!(
        full["credentials"]["password"]["identifiers"],
        json!(["q@x.com"])
    );
    assert_eq!(
        full["credentials"]["password"]["config"]["hashed_password"], BCRYPT,
        "patch keeps credentials"
    );

    let r = send(&app, reqwest::Method::PATCH, &path, Some(json!([{ "op": "remove", "path": "/traits/age" }, { "op": "remove", "path": "/metadata_public" }]))).await;
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["traits"], json!({ "email": "Q@X.com" }));
    assert_eq!(p["metadata_public"], Value::Null);

    // Rejected patches change nothing.
    for bad in [
        json!([{ "op": "replace", "path": "/id", "value": uuid::Uuid::new_v4() }]),
        json!([{ "op": "replace", "path": "/credentials/password", "value": {} }]),
        json!([{ "op": "test", "path": "/traits/email", "value": "someone-else@x.com" }, { "op": "replace", "path": "/state", "value": "inactive" }]),
        json!([{ "op": "remove", "path": "/traits/email" }]),
        json!([{ "op": "replace", "path": "/state", "value": "frozen" }]),
        json!({ "op": "replace" }),
    ] {
        let r = send(&app, reqwest::Method::PATCH, &path, Some(bad.clone())).await;
        let e = expect_error(r, 400).await;
        assert!(e["reason"].is_string(), "{bad}: {e}");
    }
    let now = get_json(&app, &path).await;
    assert_eq!(now["state"], "active");
    assert_eq!(now["traits"], json!({ "email": "Q@X.com" }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_credentials() {
    let app = TestApp::start().await;
    let v = app
        .create_identity(json!({
            "traits": { "email": "c@x.com" },
            "credentials": {
                "password": { "config": { "hashed_password": BCRYPT } },
                "oidc": { "config": { "providers": [ { "provider": "google", "subject": "1" }, { "provider": "github", "subject": "2" } ] } },
            },
        }))
        .await;
    let id = v["id"].as_str().unwrap();
    let del = |kind: &str, q: &str| {
        let url = app.admin_url(&format!("/admin/identities/{id}/credentials/{kind}{q}"));
        let req = app.http.delete(url);
        async move { req.send().await.unwrap() }
    };
    // oidc needs the identifier; an unknown identifier is 404.
    expect_error(del("oidc", "").await, 400).await;
    expect_error(del("oidc", "?identifier=google:nope").await, 404).await;
    let r = del("oidc", "?identifier=google:1").await;
    assert_eq!(r.status(), 204);
    let full = get_json(
        &app,
        &format!("/admin/identities/{id}?include_credential=oidc"),
    )
    .await;
    assert_eq!(
        full["credentials"]["oidc"]["identifiers"],
        json!(["github:2"])
    );
    assert_eq!(
        full["credentials"]["oidc"]["config"]["providers"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        get_json(&app, "/admin/identities?credentials_identifier=google:1").await,
        json!([])
    );

    // Password may go while oidc remains; then oidc is the last first factor.
    assert_eq!(del("password", "").await.status(), 204);
    let e = expect_error(del("oidc", "?identifier=github:2").await, 400).await;
    assert!(
        e["reason"].as_str().unwrap().contains("last first factor"),
        "{e}"
    );
    // Absent and unknown types.
    expect_error(del("password", "").await, 404).await;
    expect_error(del("totp", "").await, 404).await;
    let r = del("frobnicate", "").await;
    assert!(matches!(r.status().as_u16(), 400 | 404), "{}", r.status());
    let got = get_json(&app, &format!("/admin/identities/{id}")).await;
    assert_eq!(
        got["credentials"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["oidc"]
    );

    // A sole password credential cannot be removed.
    let w = app.create_identity(json!({ "traits": { "email": "w@x.com" }, "credentials": { "password": { "config": { "password": "a long enough pw" } } } })).await;
    let r = send(
        &app,
        reqwest::Method::DELETE,
        &format!(
            "/admin/identities/{}/credentials/password",
            w["id"].as_str().unwrap()
        ),
        None,
    )
    .await;
    let e = expect_error(r, 400).await;
    assert!(
        e["reason"].as_str().unwrap().contains("last first factor"),
        "{e}"
    );
}

// ---------------------------------------------------------------- list

fn next_link(r: &reqwest::Response) -> Option<String> {
    let link = r.headers().get("link")?.to_str().unwrap().to_owned();
    link.split(',')
        .find(|p| p.contains("rel=\"next\""))
        .map(|p| {
            let start = p.find('<').unwrap() + 1;
            let end = p.find('>').unwrap();
            p[start..end].to_owned()
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_pages_with_link_header() {
    let app = TestApp::start().await;
    let mut created = Vec::new();
    for i in 0..7 {
        created.push(
            app.create_identity(customer(&format!("l{i}@x.com"))).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let mut url = app.admin_url("/admin/identities?page_size=3");
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let r = app.http.get(&url).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let link = r
            .headers()
            .get("link")
            .expect("Link header")
            .to_str()
            .unwrap()
            .to_owned();
        assert!(link.contains("rel=\"first\""), "{link}");
        let next = next_link(&r);
        let page: Vec<Value> = r.json().await.unwrap();
        assert!(page.len() <= 3);
        for i in &page {
            assert_identity_shape(&app, i);
            assert!(
                i.get("credentials").is_none(),
                "list omits credentials by default: {i}"
            );
        }
        seen.extend(page.iter().map(|i| i["id"].as_str().unwrap().to_owned()));
        pages += 1;
        assert!(pages <= 4, "pagination does not end");
        match next {
            Some(n) => url = n,
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(seen, sorted, "ascending, no duplicates");
    created.sort();
    assert_eq!(seen, created);

    // Over the maximum is clamped, not rejected.
    let r = app
        .http
        .get(app.admin_url("/identities?page_size=100000"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(next_link(&r).is_none());
    assert_eq!(r.json::<Vec<Value>>().await.unwrap().len(), 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_filters() {
    let app = TestApp::start().await;
    let a = app.create_identity(json!({ "traits": { "email": "Alice@Example.com", "username": "alice" }, "credentials": { "password": { "config": { "hashed_password": BCRYPT } } } })).await;
    let b = app.create_identity(json!({ "traits": { "email": "alfred@example.com" }, "credentials": { "password": { "config": { "hashed_password": BCRYPT } } } })).await;
    let c = app.create_identity(json!({ "traits": { "email": "bob@example.com" }, "credentials": { "password": { "config": { "hashed_password": BCRYPT } } } })).await;
    let ids = |v: Value| -> BTreeSet<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let id = |v: &Value| v["id"].as_str().unwrap().to_owned();

    assert_eq!(
        ids(get_json(
            &app,
            "/admin/identities?credentials_identifier=ALICE@example.COM"
        )
        .await),
        BTreeSet::from([id(&a)])
    );
    assert_eq!(
        ids(get_json(&app, "/admin/identities?credentials_identifier=alice").await),
        BTreeSet::from([id(&a)])
    );
    assert_eq!(
        get_json(&app, "/admin/identities?credentials_identifier=alic").await,
        json!([])
    );
    assert_eq!(
        ids(get_json(
            &app,
            "/admin/identities?preview_credentials_identifier_similar=al"
        )
        .await),
        BTreeSet::from([id(&a), id(&b)])
    );
    // LIKE wildcards are literal.
    assert_eq!(
        get_json(
            &app,
            "/admin/identities?preview_credentials_identifier_similar=%25"
        )
        .await,
        json!([])
    );
    assert_eq!(
        ids(get_json(
            &app,
            &format!("/admin/identities?ids={}&ids={}", id(&a), id(&c))
        )
        .await),
        BTreeSet::from([id(&a), id(&c)])
    );
    // Only identifiers the server normalises are matched case-insensitively: an OIDC subject is
    // case-sensitive, so it is found as stored and only as stored.
    let o = app
        .create_identity(json!({
            "traits": { "email": "oidc@example.com" },
            "credentials": { "oidc": { "config": { "providers": [{ "provider": "google", "subject": "AbC-9" }] } } },
        }))
        .await;
    assert_eq!(
        ids(get_json(
            &app,
            "/admin/identities?credentials_identifier=google:AbC-9"
        )
        .await),
        BTreeSet::from([id(&o)])
    );
    assert_eq!(
        get_json(
            &app,
            "/admin/identities?credentials_identifier=google:abc-9"
        )
        .await,
        json!([])
    );
    // include_credential on list declassifies.
    let l = get_json(
        &app,
        &format!(
            "/admin/identities?ids={}&include_credential=password",
            id(&b)
        ),
    )
    .await;
    assert_eq!(
        l[0]["credentials"]["password"]["config"]["hashed_password"],
        BCRYPT
    );
}

// ---------------------------------------------------------------- batch

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_reports_per_item_outcomes() {
    let app = TestApp::start().await;
    let (p1, p2, p3) = (
        uuid::Uuid::new_v4(),
        uuid::Uuid::new_v4(),
        uuid::Uuid::new_v4(),
    );
    let r = send(
        &app,
        reqwest::Method::PATCH,
        "/admin/identities",
        Some(json!({ "identities": [
            { "create": customer("one@x.com"), "patch_id": p1 },
            { "create": { "traits": { "email": "not-an-email" } }, "patch_id": p2 },
            { "create": customer("ONE@x.com"), "patch_id": p3 },
            { "create": customer("four@x.com") },
        ] })),
    )
    .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let items = v["identities"].as_array().unwrap();
    assert_eq!(items.len(), 4, "{v}");
    assert_eq!(items[0]["action"], "create");
    assert_eq!(items[0]["patch_id"], json!(p1));
    let id1 = items[0]["identity"].as_str().unwrap();
    assert_eq!(items[1]["action"], "error");
    assert_eq!(items[1]["patch_id"], json!(p2));
    assert_eq!(items[1]["error"]["code"], 400, "{v}");
    assert!(items[1].get("identity").is_none_or(Value::is_null), "{v}");
    assert_eq!(items[2]["action"], "error");
    assert_eq!(items[2]["patch_id"], json!(p3));
    assert_eq!(items[2]["error"]["code"], 409, "{v}");
    for i in [1, 2] {
        assert!(
            items[i]["error"]["message"].is_string() && items[i]["error"]["status"].is_string(),
            "{v}"
        );
    }
    assert_eq!(items[3]["action"], "create");
    assert!(items[3].get("patch_id").is_none(), "{v}");
    let got = get_json(&app, &format!("/admin/identities/{id1}")).await;
    assert_eq!(got["traits"]["email"], "one@x.com");
    assert_eq!(count(&app).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_limits_and_bulk_import() {
    let app = TestApp::start().await;
    let too_many: Vec<Value> = (0..1001)
        .map(|i| json!({ "create": customer(&format!("t{i}@x.com")) }))
        .collect();
    let r = send(
        &app,
        reqwest::Method::PATCH,
        "/admin/identities",
        Some(json!({ "identities": too_many })),
    )
    .await;
    let e = expect_error(r, 400).await;
    assert!(e["reason"].as_str().unwrap().contains("1000"), "{e}");
    assert_eq!(count(&app).await, 0);
    expect_error(
        send(
            &app,
            reqwest::Method::PATCH,
            "/admin/identities",
            Some(json!({ "nope": [] })),
        )
        .await,
        400,
    )
    .await;

    let items: Vec<Value> = (0..200)
        .map(|i| {
            json!({ "create": {
                "traits": { "email": format!("bulk{i}@x.com") },
                "credentials": { "password": { "config": { "hashed_password": BCRYPT } } },
            } })
        })
        .collect();
    let r = send(
        &app,
        reqwest::Method::PATCH,
        "/admin/identities",
        Some(json!({ "identities": items })),
    )
    .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let out = v["identities"].as_array().unwrap();
    assert_eq!(out.len(), 200);
    assert!(out.iter().all(|o| o["action"] == "create"), "{v}");
    assert_eq!(count(&app).await, 200);
    let found = get_json(
        &app,
        "/admin/identities?credentials_identifier=bulk199@x.com&include_credential=password",
    )
    .await;
    assert_eq!(
        found[0]["credentials"]["password"]["config"]["hashed_password"],
        BCRYPT
    );
}

// ---------------------------------------------------------------- routing and schemas

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routing_prefixes_404_and_405() {
    let app = TestApp::start().await;
    let v = app.create_identity(customer("r@x.com")).await;
    let id = v["id"].as_str().unwrap();
    for p in [
        format!("/admin/identities/{id}"),
        format!("/identities/{id}"),
    ] {
        assert_eq!(get_json(&app, &p).await["id"], v["id"]);
    }
    assert_eq!(
        get_json(&app, "/identities")
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let e = expect_error(
        send(&app, reqwest::Method::GET, "/admin/nope", None).await,
        404,
    )
    .await;
    assert_eq!(e["id"], "not_found");
    // Identities are admin-only.
    expect_error(
        app.http
            .get(app.public_url("/admin/identities"))
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;
    let r = send(
        &app,
        reqwest::Method::POST,
        &format!("/admin/identities/{id}"),
        Some(json!({})),
    )
    .await;
    let allow = r
        .headers()
        .get("allow")
        .map(|h| h.to_str().unwrap().to_owned());
    expect_error(r, 405).await;
    assert!(allow.unwrap().contains("PATCH"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemas_on_public_and_admin() {
    let app = TestApp::start().await;
    for base in [
        app.public.clone(),
        app.admin.clone(),
        format!("{}/admin", app.admin),
    ] {
        let r = app
            .http
            .get(format!("{base}/schemas"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let list: Vec<Value> = r.json().await.unwrap();
        let ids: BTreeSet<&str> = list.iter().map(|s| s["id"].as_str().unwrap()).collect();
        assert_eq!(ids, BTreeSet::from(["customer", "employee"]));
        assert!(list.iter().all(|s| s["schema"].is_object()));
        let s: Value = app
            .http
            .get(format!("{base}/schemas/customer"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(s["title"], "Test customer");
        let r = app
            .http
            .get(format!("{base}/schemas/unknown"))
            .send()
            .await
            .unwrap();
        expect_error(r, 404).await;
    }
    // The schema_url of an identity resolves.
    let v = app
        .create_identity(json!({ "schema_id": "employee", "traits": { "staff_id": "E1" } }))
        .await;
    let r = app
        .http
        .get(v["schema_url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let s: Value = r.json().await.unwrap();
    assert_eq!(s["properties"]["traits"]["required"], json!(["staff_id"]));
}

// ---------------------------------------------------------------- concurrency

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_duplicate_creates_yield_one_identity() {
    let app = TestApp::start().await;
    let futs = (0..20).map(|_| async {
        let r = post(&app, customer("race@x.com")).await;
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap();
        (status, body)
    });
    let results = futures::future::join_all(futs).await;
    let created = results.iter().filter(|(s, _)| *s == 201).count();
    let conflicts: Vec<_> = results.iter().filter(|(s, _)| *s == 409).collect();
    assert_eq!((created, conflicts.len()), (1, 19), "{results:?}");
    for (_, b) in conflicts {
        assert_eq!(b["error"]["id"], "conflict", "{b}");
    }
    assert_eq!(count(&app).await, 1);
}

/// A stored identity state this build does not know is an error, never read back as `active`:
/// a state written by a newer release (or by hand) must not re-enable a disabled account.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_stored_state_is_an_error_not_active() {
    let app = TestApp::start().await;
    let created = app
        .create_identity(json!({"traits": {"email": "odd-state@example.com"}}))
        .await;
    let id = created["id"].as_str().unwrap();
    app.exec_sql(&format!(
        "UPDATE identities SET state = 'suspended-ish' WHERE id = '{id}'"
    ))
    .await;
    let r = app
        .http
        .get(app.admin_url(&format!("/admin/identities/{id}")))
        .send()
        .await
        .unwrap();
    let e = expect_error(r, 500).await;
    assert_ne!(e["message"], "", "{e}");
    app.stop().await;
}
