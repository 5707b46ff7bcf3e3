//! The runtime around the API: supervision, health, HTTP/2, CORS, metrics.

use serde_json::{Value, json};
use std::time::Duration;

use crate::common::{Setup, TestApp, backend, expect_error};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashed_identity_workers_are_replaced_and_the_next_request_succeeds() {
    let app = TestApp::start().await;
    let id = app
        .create_identity(json!({"traits": {"email": "crash@example.com"}}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        * 2;
    // Crash every worker the pool started with: only replacements can answer afterwards.
    for _ in 0..workers {
        app.running
            .as_ref()
            .unwrap()
            .handles()
            .identities
            .crash_one_worker();
    }
    let mut restarts = 0.0;
    for _ in 0..100 {
        restarts = app
            .metric("actor_restarts_total{pool=\"identity\"}")
            .await
            .unwrap_or(0.0);
        if restarts >= workers as f64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        restarts >= workers as f64,
        "expected {workers} restarts, saw {restarts}"
    );
    for _ in 0..5 {
        let r = app
            .http
            .get(app.admin_url(&format!("/admin/identities/{id}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_version_and_no_store_headers() {
    let app = TestApp::start().await;
    for base in [&app.public, &app.admin] {
        let r = app
            .http
            .get(format!("{base}/health/alive"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(
            r.headers()["cache-control"],
            "private, no-cache, no-store, must-revalidate"
        );
        assert_eq!(r.json::<Value>().await.unwrap(), json!({"status": "ok"}));
        let r = app
            .http
            .get(format!("{base}/health/ready"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = app
            .http
            .get(format!("{base}/version"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(v["version"].as_str().unwrap().starts_with('v'));
    }
    let r = app
        .http
        .get(app.admin_url("/admin/health/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Unknown paths are an envelope, not an empty 404.
    let e = expect_error(
        app.http
            .get(app.public_url("/nowhere"))
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;
    assert_eq!(e["status"], "Not Found");
    // Admin routes do not exist on the public port.
    expect_error(
        app.http
            .get(app.public_url("/admin/identities"))
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_http2_with_prior_knowledge() {
    let app = TestApp::start().await;
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let r = h2
        .get(app.public_url("/health/alive"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    assert_eq!(r.status(), 200);
    let r = h2
        .get(app.admin_url("/admin/identities"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_on_the_public_port_when_enabled() {
    let app = TestApp::start_with(Setup {
        yaml: "serve:\n  public:\n    cors:\n      enabled: true\n      allowed_origins: [\"https://*.example.com\"]\n".into(),
        ..Default::default()
    })
    .await;
    let pre = app
        .http
        .request(reqwest::Method::OPTIONS, app.public_url("/schemas"))
        .header("Origin", "https://app.example.com")
        .header("Access-Control-Request-Method", "GET")
        .header("Access-Control-Request-Headers", "X-Session-Token")
        .send()
        .await
        .unwrap();
    assert_eq!(pre.status(), 204);
    assert_eq!(
        pre.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert_eq!(pre.headers()["access-control-allow-credentials"], "true");
    assert!(
        pre.headers()["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("GET")
    );
    assert_eq!(
        pre.headers()["access-control-allow-headers"],
        "X-Session-Token"
    );
    let r = app
        .http
        .get(app.public_url("/schemas"))
        .header("Origin", "https://app.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    let r = app
        .http
        .get(app.public_url("/schemas"))
        .header("Origin", "https://evil.test")
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
    // The admin port never answers CORS.
    let r = app
        .http
        .get(app.admin_url("/admin/identities"))
        .header("Origin", "https://app.example.com")
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_metrics_by_route_and_status() {
    let app = TestApp::start().await;
    app.http
        .get(app.admin_url("/admin/identities"))
        .send()
        .await
        .unwrap();
    app.http
        .get(app.admin_url("/admin/identities/not-a-uuid"))
        .send()
        .await
        .unwrap();
    let text = app
        .http
        .get(app.admin_url("/admin/metrics/prometheus"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(r#"http_requests_total{listener="admin",method="GET",route="/identities",status="200"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"route="/identities/{id}",status="404""#),
        "{text}"
    );
    assert!(
        text.contains("http_request_duration_seconds_bucket"),
        "{text}"
    );
    assert!(
        text.contains(r#"db_pool_connections{state="max"}"#),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_is_503_while_the_schema_is_behind_and_recovers_without_restart() {
    let app = TestApp::start().await;
    let ready = || async {
        app.http
            .get(app.public_url("/health/ready"))
            .send()
            .await
            .unwrap()
    };
    assert_eq!(ready().await.status(), 200);
    app.exec_sql("UPDATE __diesel_schema_migrations SET version = CONCAT('x', version)")
        .await;
    let r = ready().await;
    assert_eq!(r.status(), 503);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["errors"]["database"]
            .as_str()
            .unwrap()
            .contains("migrate sql"),
        "{body}"
    );
    app.exec_sql("UPDATE __diesel_schema_migrations SET version = substr(version, 2)")
        .await;
    assert_eq!(ready().await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_is_503_while_postgres_refuses_connections_and_recovers() {
    if backend() != "postgres" {
        return; // An embedded SQLite file cannot become unreachable.
    }
    let app = TestApp::start().await;
    let ready = || async {
        app.http
            .get(app.public_url("/health/ready"))
            .send()
            .await
            .unwrap()
            .status()
    };
    assert_eq!(ready().await, 200);
    let name = app
        .db
        .dsn
        .rsplit('/')
        .next()
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let admin_url = std::env::var("TEST_DATABASE_POSTGRESQL").unwrap();
    let run = |sql: String| {
        let url = admin_url.clone();
        async move {
            use diesel_async::{AsyncConnection, RunQueryDsl};
            let mut c = diesel_async::AsyncPgConnection::establish(&url)
                .await
                .unwrap();
            diesel::sql_query(sql).execute(&mut c).await.unwrap();
        }
    };
    run(format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false")).await;
    run(format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
    ))
    .await;
    let mut saw_503 = false;
    for _ in 0..50 {
        if ready().await == 503 {
            saw_503 = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(saw_503, "readiness never reported the lost database");
    // Requests needing the database fail with an envelope, not a hang or a 500.
    let r = app
        .http
        .get(app.admin_url("/admin/identities"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    run(format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true")).await;
    let mut back = false;
    for _ in 0..100 {
        if ready().await == 200 {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(back, "readiness did not recover");
    let r = app
        .http
        .get(app.admin_url("/admin/identities"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// An identity schema served over HTTP by a server that comes up after Gatehouse: Gatehouse
/// starts anyway, reports not-ready and answers 503 where the schema is needed, and serves
/// once the schema can be fetched (Kratos loads schemas when first needed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_identity_schema_server_that_starts_later_keeps_the_node_not_ready_until_it_does() {
    let schema =
        std::fs::read_to_string(format!("{}/identity.schema.json", crate::common::FIXTURES))
            .unwrap();
    let mut schemas = crate::common::receiver::Receiver::start().await;
    schemas.answer(200, &schema);
    let url = schemas.url("/identity.schema.json");
    schemas.down().await;

    let app = TestApp::start_with(Setup {
        yaml: format!(
            "identity:\n  default_schema_id: remote\n  schemas:\n    - id: remote\n      url: {url}\n"
        ),
        ..Setup::default()
    })
    .await;
    let ready = app
        .http
        .get(app.public_url("/health/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    let body: Value = ready.json().await.unwrap();
    assert!(
        body["errors"]["identity_schemas"]
            .as_str()
            .is_some_and(|e| e.contains("remote")),
        "{body}"
    );
    let r = app
        .http
        .get(app.public_url("/self-service/registration/api"))
        .send()
        .await
        .unwrap();
    let e = expect_error(r, 503).await;
    assert_eq!(e["id"], "service_unavailable", "{e}");
    let r = app
        .http
        .get(app.admin_url("/admin/schemas/remote"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    // Sign-in forms still render, with the generic identifier label.
    let r = app
        .http
        .get(app.public_url("/self-service/login/api"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    schemas.up().await;
    let ready = app
        .http
        .get(app.public_url("/health/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200, "{}", ready.text().await.unwrap());
    let r = app
        .http
        .get(app.public_url("/self-service/registration/api"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let flow: Value = r.json().await.unwrap();
    assert!(
        flow["ui"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["attributes"]["name"] == "traits.email"),
        "{flow}"
    );
    let r = app
        .http
        .get(app.admin_url("/admin/schemas/remote"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    app.stop().await;
}
