//! Imported hashes that cost far more than the configured algorithm must not starve ordinary
//! logins: they are verified in their own bounded lane, refused with a 503 when it is full,
//! and rehashed on a successful login. Every check is structural (what finished before what,
//! which answers came back), never a wall-clock threshold.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use gatehouse::hash::{Algorithm, EXPENSIVE_QUEUE, Hasher};
use serde_json::{Value, json};

use crate::common::flow::{api_flow, api_login, submit};
use crate::common::{Setup, TestApp, expect_error};

const NO_HIBP: &str = "selfservice:\n  methods:\n    password:\n      config:\n        haveibeenpwned_enabled: false\n";

async fn start() -> TestApp {
    TestApp::start_with(Setup {
        yaml: NO_HIBP.into(),
        ..Default::default()
    })
    .await
}

/// A bcrypt hash of `password` at `cost`; bcrypt is built at opt-level 3 even in debug builds,
/// so cost 14 takes about a second of one core, thousands of times the tests' configured
/// argon2 (64 KB, one pass).
async fn bcrypt(cost: u32, password: &str) -> String {
    Hasher::new(Algorithm::Bcrypt { cost }, 1 << 20)
        .hash(password.as_bytes())
        .await
        .unwrap()
}

async fn stored_hash(app: &TestApp, id: &str) -> String {
    let v: Value = app
        .http
        .get(app.admin_url(&format!(
            "/admin/identities/{id}?include_credential=password"
        )))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["credentials"]["password"]["config"]["hashed_password"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn assert_invalid_credentials(status: u16, body: &Value) {
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["ui"]["messages"][0]["id"], 4000006, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expensive_imported_hashes_do_not_hold_up_ordinary_logins() {
    let app = Arc::new(start().await);
    app.create_identity(json!({
        "traits": {"email": "ordinary@example.com"},
        "credentials": {"password": {"config": {"password": "an ordinary passphrase"}}},
    }))
    .await;
    // Identities imported from a system that used bcrypt at cost 14.
    let expensive_hash = bcrypt(14, "the real password").await;
    let admitted = 1 + EXPENSIVE_QUEUE; // one verifying, the rest waiting
    let burst = 3; // beyond what the expensive lane admits
    for i in 0..admitted + burst {
        app.create_identity(json!({
            "traits": {"email": format!("legacy{i}@example.com")},
            "credentials": {"password": {"config": {"hashed_password": expensive_hash}}},
        }))
        .await;
    }

    // Wrong passwords against all of them at once. Flows are started first so the submissions
    // arrive together, well within the first verification's second.
    let mut flows = Vec::new();
    for _ in 0..admitted + burst {
        flows.push(api_flow(&app, "login").await);
    }
    let wrong_answers = Arc::new(AtomicUsize::new(0));
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel();
    for (i, flow) in flows.into_iter().enumerate() {
        let (app, wrong_answers, done_tx) = (app.clone(), wrong_answers.clone(), done_tx.clone());
        tokio::spawn(async move {
            let identifier = format!("legacy{i}@example.com");
            let body =
                json!({"method": "password", "identifier": identifier, "password": "a guess"});
            let (status, body) = submit(&app, &flow, body).await;
            if status == 400 {
                assert_invalid_credentials(status, &body);
                wrong_answers.fetch_add(1, Ordering::SeqCst);
            }
            done_tx.send((status, body)).unwrap();
        });
    }
    drop(done_tx);

    // The burst beyond the lane's bound is refused at once, with a Kratos-style 503 that says
    // to try again and says nothing about the account or its hash, while the admitted ones
    // are still being verified one after another.
    for _ in 0..burst {
        let (status, body) = done_rx.recv().await.unwrap();
        assert_eq!(status, 503, "refused, not queued: {body}");
        let e = &body["error"];
        assert_eq!(e["code"], 503, "{body}");
        assert_eq!(e["id"], "service_unavailable", "{body}");
        let reason = e["reason"].as_str().unwrap();
        assert!(reason.contains("try again"), "{reason}");
        assert!(
            !reason.contains("hash") && !reason.contains("account"),
            "{reason}"
        );
    }
    assert_eq!(wrong_answers.load(Ordering::SeqCst), 0);

    // Ordinary logins now, with the expensive lane full: each one completes while the
    // expensive verifications are still far from done (each costs about as much as thousands
    // of these logins, and they run one at a time). Before the lanes, these logins queued
    // behind the expensive ones on the same threads and finished only after all but the last
    // one or two of them.
    for _ in 0..3 {
        let (status, body) =
            api_login(&app, "ordinary@example.com", "an ordinary passphrase").await;
        assert_eq!(status, 200, "{body}");
        assert!(body["session_token"].is_string(), "{body}");
        // An unknown account costs a dummy verification in the ordinary lane: it is answered
        // too, as "invalid credentials".
        let (status, body) = api_login(&app, "nobody@example.com", "whatever").await;
        assert_invalid_credentials(status, &body);
    }
    let finished = wrong_answers.load(Ordering::SeqCst);
    assert!(
        finished <= admitted - 3,
        "{finished} of {admitted} expensive verifications had finished before 6 ordinary logins did"
    );

    // The admitted ones all end with a verdict (or, if one waited too long on a busy machine,
    // the same 503); none is left hanging and none is a 500.
    let mut ended = 0;
    while let Some((status, body)) = done_rx.recv().await {
        assert!(status == 400 || status == 503, "{status}: {body}");
        ended += 1;
    }
    assert_eq!(ended, admitted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_successful_login_rehashes_an_expensive_hash_once() {
    let app = start().await;
    let imported = bcrypt(12, "legacy secret 42").await;
    let id = app
        .create_identity(json!({
            "traits": {"email": "legacy@example.com"},
            "credentials": {"password": {"config": {"hashed_password": imported}}},
        }))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = api_login(&app, "legacy@example.com", "legacy secret 42").await;
    assert_eq!(status, 200, "{body}");
    // Rehashed into the configured algorithm (the tests' cheap argon2id), so the next login
    // verifies in the ordinary lane.
    let stored = stored_hash(&app, &id).await;
    assert!(
        stored.starts_with("$argon2id$v=19$m=64,t=1,p=1$"),
        "{stored}"
    );
    let (status, _) = api_login(&app, "legacy@example.com", "legacy secret 42").await;
    assert_eq!(status, 200);
    assert_eq!(stored_hash(&app, &id).await, stored, "rehashed only once");
    let (status, body) = api_login(&app, "legacy@example.com", "legacy secret 43").await;
    assert_invalid_credentials(status, &body);
}

#[tokio::test]
async fn import_refuses_hashes_beyond_the_ceilings_naming_the_limit() {
    let app = start().await;
    let cases = [
        (
            "$2a$15$o6hx.Wog/wvFSkT/Bp/6DOxCtLRTDj7lm9on9suF/WaCGNVHbkfL6",
            "bcrypt cost is 15, the maximum allowed is 14",
        ),
        (
            "$argon2id$v=19$m=524288,t=1,p=1$cm94YnRVOW5jZzFzcVE4bQ$MNzk5BtR2vUhrp6qQEjRNw",
            "argon2 memory (m, KiB) is 524288, the maximum allowed is 262144",
        ),
        (
            "$pbkdf2-sha256$i=2000001,l=32$1jP+5Zxpxgtee/iPxGgOz0RfE9/KJuDElP1ley4VxXc$QJxzfvdbHYBpydCbHoFg3GJEqMFULwskiuqiJctoYpI",
            "pbkdf2 iterations (i) is 2000001, the maximum allowed is 2000000",
        ),
        (
            "$scrypt$ln=65536,r=8,p=4$2npRo7P03Mt8keSoMbyD/tKFWyUzjiQf2svUaNDSrhA=$MiCzNcIplSMqSBrm4HckjYqYhaVPPjTARTzwB1cVNYE=",
            "scrypt work (N·r·p) is 2097152, the maximum allowed is 1048576",
        ),
    ];
    for (i, (hash, says)) in cases.into_iter().enumerate() {
        for (method, path, body) in [
            (
                reqwest::Method::POST,
                "/admin/identities",
                json!({
                    "traits": {"email": format!("too-dear{i}@example.com")},
                    "credentials": {"password": {"config": {"hashed_password": hash}}},
                }),
            ),
            (
                reqwest::Method::PATCH,
                "/admin/identities",
                json!({"identities": [{"create": {
                    "traits": {"email": format!("too-dear-batch{i}@example.com")},
                    "credentials": {"password": {"config": {"hashed_password": hash}}},
                }}]}),
            ),
        ] {
            let r = app
                .http
                .request(method.clone(), app.admin_url(path))
                .json(&body)
                .send()
                .await
                .unwrap();
            if method == reqwest::Method::POST {
                let e = expect_error(r, 400).await;
                assert!(e["reason"].as_str().unwrap().contains(says), "{e}");
            } else {
                assert_eq!(r.status(), 200);
                let v: Value = r.json().await.unwrap();
                let item = &v["identities"][0];
                assert_eq!(item["action"], "error", "{v}");
                assert_eq!(item["error"]["code"], 400, "{v}");
                assert!(
                    item["error"]["reason"]
                        .as_str()
                        .unwrap_or_default()
                        .contains(says),
                    "{v}"
                );
            }
        }
    }
    // At the ceiling it is accepted.
    app.create_identity(json!({
        "traits": {"email": "at-the-ceiling@example.com"},
        "credentials": {"password": {"config": {"hashed_password": "$2a$14$o6hx.Wog/wvFSkT/Bp/6DOxCtLRTDj7lm9on9suF/WaCGNVHbkfL6"}}},
    }))
    .await;
}
