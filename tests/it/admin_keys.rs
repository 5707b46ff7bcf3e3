//! Admin API keys (`serve.admin.api_keys`, issue 19): made, listed and revoked with the
//! `gatehouse admin-keys` CLI against the server's database; every admin route in the route
//! table refuses a request without a working key, except health and version.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gatehouse::http::router::{ADMIN_ROUTES, sample_path};
use reqwest::Method;
use serde_json::Value;

use crate::common::{Setup, TEST_CONFIG, TestApp, binary, expect_error};

const KEYS_ON: &str = "serve:\n  admin:\n    api_keys:\n      enabled: true\n";

/// Runs `gatehouse admin-keys <args>` on the app's database and configuration; its stdout.
pub(crate) async fn cli(app: &TestApp, args: &[&str]) -> String {
    let mut c = Command::new(binary());
    c.arg("admin-keys").args(args);
    for f in [
        TEST_CONFIG.into(),
        app.dir.path().join("schemas.yml"),
        app.dir.path().join("extra.yml"),
    ] {
        if f.exists() {
            c.arg("-c").arg(f);
        }
    }
    c.env("DSN", &app.db.dsn).stdin(Stdio::null());
    let out = tokio::task::spawn_blocking(move || c.output().expect("binary runs"))
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "admin-keys {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `admin-keys create`: the key's id and the key.
async fn create(app: &TestApp, name: &str, read_only: bool) -> (String, String) {
    let mut args = vec!["create", "--name", name];
    if read_only {
        args.push("--read-only");
    }
    let out = cli(app, &args).await;
    let field = |k: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}: ")))
            .unwrap_or_else(|| panic!("no {k} in {out}"))
            .to_owned()
    };
    (field("id"), field("key"))
}

async fn call(app: &TestApp, method: &Method, path: &str, key: Option<&str>) -> reqwest::Response {
    let mut r = app.http.request(method.clone(), app.admin_url(path));
    if let Some(k) = key {
        r = r.bearer_auth(k);
    }
    if *method != Method::GET && *method != Method::DELETE {
        r = r.header("content-type", "application/json").body("{}");
    }
    r.send().await.unwrap()
}

fn exempt(pattern: &str) -> bool {
    pattern.starts_with("/health/") || pattern == "/version"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_admin_route_but_health_and_version_needs_a_key() {
    let app = TestApp::start_with(Setup {
        yaml: KEYS_ON.into(),
        ..Setup::default()
    })
    .await;
    let (full_id, full) = create(&app, "deploy", false).await;
    let (_, reader) = create(&app, "dashboards", true).await;
    let id = uuid::Uuid::new_v4().to_string();
    let wrong_secret = format!("{}xyz", &full[..full.len() - 3]);
    // Refusals so far, each an `admin_key.refused` security event.
    let mut refused = 0.0;
    for (i, (method, pattern)) in ADMIN_ROUTES.iter().enumerate() {
        // Every route with and without the `/admin` prefix, alternating.
        let path = sample_path(pattern, &id);
        let path = if i % 2 == 0 {
            format!("/admin{path}")
        } else {
            path
        };
        let what = format!("{method} {path}");

        let anon = call(&app, method, &path, None).await;
        if exempt(pattern) {
            assert_ne!(anon.status(), 401, "{what} must answer without a key");
            continue;
        }
        assert_eq!(
            anon.headers()["www-authenticate"],
            "Bearer",
            "{what} without a key"
        );
        let e = expect_error(anon, 401).await;
        assert_eq!(e["id"], "unauthorized", "{what}: {e}");
        for bad in [wrong_secret.as_str(), "not-a-key", "ory_st_abc"] {
            let r = call(&app, method, &path, Some(bad)).await;
            assert!(
                r.headers()["www-authenticate"]
                    .to_str()
                    .unwrap()
                    .starts_with("Bearer error="),
                "{what} with {bad:?}"
            );
            expect_error(r, 401).await;
        }
        refused += 4.0;

        let r = call(&app, method, &path, Some(&full)).await;
        assert!(
            !matches!(r.status().as_u16(), 401 | 403),
            "{what} with a key: {}",
            r.status()
        );

        let r = call(&app, method, &path, Some(&reader)).await;
        if *method == Method::GET {
            assert!(
                !matches!(r.status().as_u16(), 401 | 403),
                "{what} with a read-only key: {}",
                r.status()
            );
            let head = call(&app, &Method::HEAD, &path, Some(&reader)).await;
            assert!(!matches!(head.status().as_u16(), 401 | 403), "HEAD {path}");
        } else {
            assert_eq!(
                r.headers()["www-authenticate"],
                "Bearer error=\"insufficient_scope\""
            );
            let e = expect_error(r, 403).await;
            assert_eq!(e["id"], "forbidden", "{what}: {e}");
            refused += 1.0;
        }
    }

    // The wrong scheme, or the key without one, is no key.
    let r = app
        .http
        .get(app.admin_url("/admin/identities"))
        .header("authorization", format!("Basic {full}"))
        .send()
        .await
        .unwrap();
    expect_error(r, 401).await;
    refused += 1.0;
    let metrics = call(&app, &Method::GET, "/admin/metrics/prometheus", Some(&full))
        .await
        .text()
        .await
        .unwrap();
    let counted = metrics
        .lines()
        .find_map(|l| l.strip_prefix("security_events_total{event=\"admin_key.refused\"} "))
        .and_then(|v| v.parse::<f64>().ok());
    assert_eq!(counted, Some(refused), "{metrics}");

    // Listed without the key, with its use recorded (off the request's path: allow a moment).
    let deadline = Instant::now() + Duration::from_secs(10);
    let listed: Vec<Value> = loop {
        let out = cli(&app, &["list", "--format", "json"]).await;
        assert!(!out.contains(&full) && !out.contains(&reader), "{out}");
        let keys: Vec<Value> = serde_json::from_str(&out).unwrap();
        if keys.iter().all(|k| !k["last_used_at"].is_null()) || Instant::now() > deadline {
            break keys;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(listed[0]["name"], "deploy");
    assert_eq!(listed[0]["read_only"], false);
    assert_eq!(listed[1]["read_only"], true);
    assert!(
        listed
            .iter()
            .all(|k| !k["last_used_at"].is_null() && k["revoked_at"].is_null())
    );
    let table = cli(&app, &["list"]).await;
    assert!(
        table.contains(&full_id) && table.contains("dashboards"),
        "{table}"
    );

    // Revoked: refused from the very next request.
    let ok = call(&app, &Method::GET, "/admin/identities", Some(&full)).await;
    assert_eq!(ok.status(), 200);
    let out = cli(&app, &["revoke", &full_id]).await;
    assert!(out.contains(&full_id), "{out}");
    let r = call(&app, &Method::GET, "/admin/identities", Some(&full)).await;
    expect_error(r, 401).await;
    let listed: Vec<Value> =
        serde_json::from_str(&cli(&app, &["list", "--format", "json"]).await).unwrap();
    assert!(!listed[0]["revoked_at"].is_null(), "{listed:?}");
    // The other key is untouched.
    let r = call(&app, &Method::GET, "/admin/identities", Some(&reader)).await;
    assert_eq!(r.status(), 200);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_off_by_default_as_in_kratos() {
    let app = TestApp::start().await;
    let r = call(&app, &Method::GET, "/admin/identities", None).await;
    assert_eq!(r.status(), 200);
    let r = call(&app, &Method::GET, "/admin/identities", Some("anything")).await;
    assert_eq!(r.status(), 200);
    app.stop().await;
}

/// The key check's cost: the median of 500 admin GETs with keys on and off (run with
/// `--ignored --nocapture`; the figures are printed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check"]
async fn key_check_cost() {
    async fn median(app: &TestApp, key: Option<&str>) -> Duration {
        let mut times = Vec::new();
        for i in 0..550 {
            let start = Instant::now();
            let r = call(app, &Method::GET, "/admin/identities?page_size=1", key).await;
            assert_eq!(r.status(), 200);
            r.bytes().await.unwrap();
            // The first 50 warm the pools and caches.
            if i >= 50 {
                times.push(start.elapsed());
            }
        }
        times.sort();
        times[times.len() / 2]
    }
    let off = TestApp::start().await;
    let off_median = median(&off, None).await;
    off.stop().await;
    let on = TestApp::start_with(Setup {
        yaml: KEYS_ON.into(),
        ..Setup::default()
    })
    .await;
    let (_, key) = create(&on, "bench", false).await;
    let on_median = median(&on, Some(&key)).await;
    on.stop().await;
    eprintln!(
        "admin GET median over 500 ({}): keys off {off_median:?}, keys on {on_median:?}, difference {:?}",
        crate::common::backend(),
        on_median.saturating_sub(off_median)
    );
}
