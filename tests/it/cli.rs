//! The `gatehouse` binary as an operator runs it: verbs, config validation, the no-config
//! start, migrations, and shutdown on SIGTERM.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::process::{Process, free_port};
use crate::common::{TEST_CONFIG, TestDb, backend, binary, schemas_yaml};

fn gatehouse(dir: &Path, args: &[&str], env: &[(&str, String)]) -> Command {
    let mut c = Command::new(binary());
    c.current_dir(dir)
        .args(args)
        .env_remove("DSN")
        .stdin(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    c
}

fn run(dir: &Path, args: &[&str], env: &[(&str, String)]) -> Output {
    gatehouse(dir, args, env).output().expect("binary runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn version_verb() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(dir.path(), &["version"], &[]);
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains(env!("CARGO_PKG_VERSION")));
}

#[test]
fn invalid_config_stops_before_listening_and_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cases = [
        ("serve:\n  public:\n    prot: 1\n", "serve.public.prot"),
        ("serve:\n  admin:\n    port: many\n", "serve.admin.port"),
        ("log:\n  level: loud\n", "log.level"),
        (
            "identity:\n  default_schema_id: x\n  schemas:\n    - id: x\n      url: file:///nonexistent/schema.json\n",
            "nonexistent",
        ),
    ];
    for (yaml, needle) in cases {
        let f = dir.path().join("bad.yml");
        std::fs::write(&f, yaml).unwrap();
        let o = run(
            dir.path(),
            &["serve", "-c", f.to_str().unwrap()],
            &[
                ("SERVE_PUBLIC_PORT", port.to_string()),
                ("DSN", "memory".into()),
            ],
        );
        assert!(!o.status.success(), "{yaml} should fail");
        let err = stderr(&o);
        assert!(
            err.contains(needle),
            "error for {yaml:?} should name {needle}: {err}"
        );
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
            "nothing may listen"
        );
    }
    // Later files override earlier ones: the bad key is fixed by a second file.
    let bad = dir.path().join("a.yml");
    let good = dir.path().join("b.yml");
    std::fs::write(&bad, "log:\n  level: loud\n").unwrap();
    std::fs::write(&good, "log:\n  level: error\n").unwrap();
    let o = run(
        dir.path(),
        &[
            "migrate",
            "sql",
            "-e",
            "--yes",
            "-c",
            bad.to_str().unwrap(),
            "-c",
            good.to_str().unwrap(),
        ],
        &[("DSN", "memory".into())],
    );
    assert!(o.status.success(), "{}", stderr(&o));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starts_with_no_config_on_embedded_sqlite_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (pp, ap) = (free_port(), free_port());
    let serve = gatehouse(
        dir.path(),
        &["serve", "--dev"],
        &[
            ("SERVE_PUBLIC_PORT", pp.to_string()),
            ("SERVE_ADMIN_PORT", ap.to_string()),
            ("LOG_LEVEL", "error".into()),
        ],
    );
    let mut child = Process::spawn("gatehouse serve", serve, Some(dir.path().join("serve.log")));
    child
        .wait_answering(&format!("http://127.0.0.1:{pp}/health/ready"))
        .await;
    assert!(
        dir.path().join("gatehouse.sqlite").exists(),
        "the embedded database lives in the working directory"
    );
    let client = reqwest::Client::new();
    let schemas: Value = client
        .get(format!("http://127.0.0.1:{pp}/schemas"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(schemas[0]["id"], "default");
    assert!(schemas[0]["schema"]["properties"]["traits"]["properties"]["email"].is_object());
    let r = client
        .post(format!("http://127.0.0.1:{ap}/admin/identities"))
        .json(&json!({"traits": {"email": "first@example.com"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    child.sigterm();
    let status = child.wait_exit(Duration::from_secs(20));
    assert!(status.success(), "exit status {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_in_flight_requests_finish() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let schemas = dir.path().join("schemas.yml");
    // Hashing made slow enough that the batch below is still running when SIGTERM arrives.
    std::fs::write(
        &schemas,
        format!(
            "{}hashers:\n  argon2:\n    memory: 8MB\n    iterations: 2\n",
            schemas_yaml()
        ),
    )
    .unwrap();
    let (pp, ap) = (free_port(), free_port());
    let serve = gatehouse(
        dir.path(),
        &[
            "serve",
            "--dev",
            "--migrate",
            "-c",
            TEST_CONFIG,
            "-c",
            schemas.to_str().unwrap(),
        ],
        &[
            ("DSN", db.dsn.clone()),
            ("SERVE_PUBLIC_PORT", pp.to_string()),
            ("SERVE_ADMIN_PORT", ap.to_string()),
        ],
    );
    let mut child = Process::spawn("gatehouse serve", serve, Some(dir.path().join("serve.log")));
    child
        .wait_answering(&format!("http://127.0.0.1:{pp}/health/ready"))
        .await;
    let items: Vec<Value> = (0..300)
        .map(|i| json!({"create": {"traits": {"email": format!("drain{i}@example.com")}, "credentials": {"password": {"config": {"password": format!("pw-{i}-long-enough")}}}}}))
        .collect();
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{ap}/admin/identities");
    let req = tokio::spawn(async move {
        let r = client
            .patch(url)
            .json(&json!({"identities": items}))
            .send()
            .await;
        (r, Instant::now())
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    child.sigterm();
    let signalled = Instant::now();
    let (resp, answered) = req.await.unwrap();
    let resp = resp.expect("the in-flight request is answered");
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    let created = body["identities"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["action"] == "create")
        .count();
    assert_eq!(created, 300);
    assert!(
        answered > signalled,
        "the request must still have been running when SIGTERM arrived"
    );
    let status = tokio::task::spawn_blocking(move || child.wait_exit(Duration::from_secs(30)))
        .await
        .unwrap();
    assert!(status.success(), "exit status {status}");
    // And the listener is closed.
    assert!(std::net::TcpStream::connect(("127.0.0.1", pp)).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_needs_migrate_sql_before_serve() {
    if backend() == "sqlite" {
        return; // SQLite brings its own schema up to date.
    }
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let schemas = dir.path().join("schemas.yml");
    std::fs::write(&schemas, schemas_yaml()).unwrap();
    let (pp, ap) = (free_port(), free_port());
    let env = [
        ("DSN", db.dsn.clone()),
        ("SERVE_PUBLIC_PORT", pp.to_string()),
        ("SERVE_ADMIN_PORT", ap.to_string()),
    ];
    let serve_args = [
        "serve",
        "--dev",
        "-c",
        TEST_CONFIG,
        "-c",
        schemas.to_str().unwrap(),
    ];
    let o = run(dir.path(), &serve_args, &env);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("migrate sql"), "{}", stderr(&o));
    // Without --yes and without a terminal, nothing is applied.
    let o = run(
        dir.path(),
        &["migrate", "sql", "-e", "-c", TEST_CONFIG],
        &env,
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--yes"), "{}", stderr(&o));
    let o = run(
        dir.path(),
        &[
            "migrate",
            "sql",
            "--yes",
            &db.dsn.replace("postgres://", "cockroach://"),
        ],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("Applied"));
    let o = run(
        dir.path(),
        &["migrate", "sql", "-e", "--yes", "-c", TEST_CONFIG],
        &env,
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("up to date"));
    let serve = gatehouse(dir.path(), &serve_args, &env);
    let mut child = Process::spawn("gatehouse serve", serve, Some(dir.path().join("serve.log")));
    child
        .wait_answering(&format!("http://127.0.0.1:{pp}/health/ready"))
        .await;
    child.sigterm();
    assert!(child.wait_exit(Duration::from_secs(20)).success());
}
