//! Configuration reload: an edited file is applied while serving, `/admin/health/config` reports
//! the revision in force, an invalid edit is refused and keys that need a restart are kept.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::common::{Setup, TestApp};

const BEFORE: &str = "selfservice:\n  flows:\n    recovery:\n      enabled: true\n      use: code\n  methods:\n    code:\n      enabled: true\n";

async fn start() -> TestApp {
    let mut setup = Setup {
        yaml: BEFORE.into(),
        ..Setup::default()
    };
    setup.listen.config_poll = Duration::from_millis(20);
    TestApp::start_with(setup).await
}

/// Replaces the test's own configuration file in one step, as editors and GitOps tools do, so
/// the watcher never reads half a file.
fn rewrite(app: &TestApp, yaml: &str) {
    let dir = app.dir.path();
    let tmp = dir.join("extra.yml.tmp");
    std::fs::write(&tmp, yaml).unwrap();
    std::fs::rename(&tmp, dir.join("extra.yml")).unwrap();
}

async fn revision(app: &TestApp) -> String {
    let r = app
        .http
        .get(app.admin_url("/admin/health/config"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/plain");
    r.text().await.unwrap()
}

async fn reloads(app: &TestApp, outcome: &str) -> u64 {
    let series = format!("config_reloads_total{{outcome=\"{outcome}\"}} ");
    app.metric(&series).await.map_or(0, |v| v as u64)
}

/// Waits until the watcher has dealt with an edit: a condition, not a fixed delay.
async fn until_reloaded(app: &TestApp, outcome: &str, count: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while reloads(app, outcome).await < count {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {outcome} reload seen"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn start_recovery(app: &TestApp) -> (u16, Value) {
    let r = app
        .http
        .get(app.public_url("/self-service/recovery/api"))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn login_nodes(app: &TestApp) -> Vec<String> {
    let flow: Value = app
        .http
        .get(app.public_url("/self-service/login/api"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    flow["ui"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["attributes"]["name"].as_str().unwrap_or("").to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_file_is_applied_while_serving_and_changes_the_revision() {
    let app = start().await;
    let first = revision(&app).await;
    assert_eq!(first.len(), 64, "a SHA-256 in hex: {first}");
    assert!(first.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(revision(&app).await, first, "stable while nothing changes");
    assert_eq!(start_recovery(&app).await.0, 200);
    assert!(login_nodes(&app).await.contains(&"password".to_owned()));

    // A flow switched off and a method switched off, in one edit.
    rewrite(
        &app,
        "selfservice:\n  flows:\n    recovery:\n      enabled: false\n  methods:\n    password:\n      enabled: false\n    code:\n      enabled: true\n      passwordless_enabled: true\n",
    );
    until_reloaded(&app, "applied", 1).await;
    let second = revision(&app).await;
    assert_ne!(second, first);
    let (status, body) = start_recovery(&app).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["id"], "self_service_flow_disabled", "{body}");
    let nodes = login_nodes(&app).await;
    assert!(!nodes.contains(&"password".to_owned()), "{nodes:?}");
    assert!(nodes.contains(&"identifier".to_owned()), "{nodes:?}");

    // An operator-set revision is reported as it is.
    rewrite(&app, &format!("{BEFORE}revision: release-42\n"));
    until_reloaded(&app, "applied", 2).await;
    assert_eq!(revision(&app).await, "release-42");
    assert_eq!(start_recovery(&app).await.0, 200);
    assert!(login_nodes(&app).await.contains(&"password".to_owned()));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_edit_is_refused_and_the_server_keeps_its_configuration() {
    let app = start().await;
    let first = revision(&app).await;

    // Not YAML, then YAML with an unknown key, then a schema file that does not exist.
    rewrite(&app, "selfservice: [unclosed\n");
    until_reloaded(&app, "refused", 1).await;
    rewrite(&app, &format!("{BEFORE}session:\n  no_such_key: 1\n"));
    until_reloaded(&app, "refused", 2).await;
    let missing = Path::new("/nonexistent/identity.schema.json").display();
    rewrite(
        &app,
        &format!(
            "identity:\n  default_schema_id: customer\n  schemas:\n    - id: customer\n      url: file://{missing}\n"
        ),
    );
    until_reloaded(&app, "refused", 3).await;

    assert_eq!(reloads(&app, "applied").await, 0);
    assert_eq!(revision(&app).await, first);
    assert_eq!(start_recovery(&app).await.0, 200, "still serving as before");
    let r = app
        .http
        .get(app.admin_url("/admin/schemas/customer"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_that_need_a_restart_keep_their_running_values() {
    let app = start().await;
    let first = revision(&app).await;
    // A new database and new ports cannot be taken up while serving.
    rewrite(
        &app,
        &format!(
            "{BEFORE}dsn: sqlite:///nonexistent/elsewhere.sqlite\nserve:\n  public:\n    port: 1\n"
        ),
    );
    until_reloaded(&app, "unchanged", 1).await;
    assert_eq!(revision(&app).await, first);
    assert_eq!(start_recovery(&app).await.0, 200);
    app.stop().await;
}
