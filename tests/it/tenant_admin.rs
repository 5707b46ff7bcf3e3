//! The tenants' administration (`/admin/tenants`): a tenant's life through the admin API, its
//! propagation to another node on the same database, and admin API keys limited to a tenant.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::process::free_port;
use crate::common::{Setup, TestApp, TestDb};

const DECLARED: &str = "0b6a3c2e-1d3f-4c5b-9a7e-000000000b01";

fn yaml(port: u16, extra: &str) -> String {
    format!(
        "serve:\n  public:\n    port: {port}\n    base_url: http://127.0.0.1:{port}/\n{extra}\
         tenants:\n\
         \x20 - id: {DECLARED}\n    name: acme\n    base_url: http://acme.test:{port}/\n"
    )
}

async fn start_on(db: TestDb, port: u16, extra: &str) -> TestApp {
    TestApp::start_on(
        db,
        Setup {
            yaml: yaml(port, extra),
            ..Setup::default()
        },
    )
    .await
}

/// A request to the admin API; the status and JSON body.
async fn admin(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> (u16, Value) {
    let mut r = app.http.request(method, app.admin_url(path));
    if let Some(b) = body {
        r = r.json(&b);
    }
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let r = r.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// `GET path` on the public port under `host`; the status.
async fn public(app: &TestApp, host: &str, path: &str) -> (u16, Value) {
    let addr = app.public_addr();
    let client = reqwest::Client::builder()
        .resolve(host, addr)
        .build()
        .unwrap();
    let r = client
        .get(format!("http://{host}:{}{path}", addr.port()))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_tenant_is_created_changed_and_deleted_through_the_admin_api() {
    let port = free_port();
    let app = start_on(TestDb::new().await, port, "").await;
    use reqwest::Method as M;
    let base_url = format!("http://initech.test:{port}/");
    let created = json!({"name": "initech", "base_url": base_url,
        "config": {"session": {"cookie": {"name": "initech_session"}}}});
    let (status, t) = admin(&app, M::POST, "/admin/tenants", Some(created.clone()), &[]).await;
    assert_eq!(status, 201, "{t}");
    let id = t["id"].as_str().unwrap().to_owned();
    assert_eq!(t["source"], "api");
    assert_eq!(t["base_url"], format!("http://initech.test:{port}"));
    // It answers on its host at once, with its own flows.
    let (status, flow) = public(&app, "initech.test", "/self-service/login/api").await;
    assert_eq!(status, 200, "{flow}");
    assert!(
        flow["ui"]["action"]
            .as_str()
            .unwrap()
            .starts_with("http://initech.test:")
    );
    // Listed beside the declared one; found by id and by name.
    let (_, list) = admin(&app, M::GET, "/admin/tenants", None, &[]).await;
    let names: Vec<_> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].clone())
        .collect();
    assert_eq!(names, [json!("acme"), json!("initech")]);
    assert_eq!(
        admin(&app, M::GET, &format!("/admin/tenants/{id}"), None, &[])
            .await
            .1,
        t
    );
    assert_eq!(
        admin(&app, M::GET, "/admin/tenants/initech", None, &[])
            .await
            .1,
        t
    );
    // Refusals name the problem and change nothing.
    let refused = [
        (
            json!({"name": "initech", "base_url": "http://other.test/"}),
            409,
        ),
        (
            json!({"name": "other", "base_url": format!("http://acme.test:{port}/")}),
            409,
        ),
        (
            json!({"name": "Bad Name", "base_url": "http://x.test/"}),
            400,
        ),
        (
            json!({"name": "x", "base_url": "http://x.test/", "config": {"dsn": "memory"}}),
            400,
        ),
        (
            json!({"name": "x", "base_url": "http://x.test/", "config": {"session": {"nonsense": 1}}}),
            400,
        ),
        (
            json!({"name": "x", "base_url": "http://x.test/", "config": "no"}),
            400,
        ),
        (json!({"name": "x"}), 400),
    ];
    for (body, want) in refused {
        let (status, e) = admin(&app, M::POST, "/admin/tenants", Some(body.clone()), &[]).await;
        assert_eq!(status, want, "{body} -> {e}");
        assert!(e["error"]["reason"].as_str().is_some(), "{e}");
    }
    let (_, list) = admin(&app, M::GET, "/admin/tenants", None, &[]).await;
    assert_eq!(list.as_array().unwrap().len(), 2);
    // A file's tenant is changed in the file only.
    let (status, _) = admin(&app, M::DELETE, "/admin/tenants/acme", None, &[]).await;
    assert_eq!(status, 409);
    // An identity under the tenant's admin scope.
    let scope = [("X-Gatehouse-Tenant", "initech")];
    let (status, ident) = admin(
        &app,
        M::POST,
        "/admin/identities",
        Some(json!({"schema_id": "customer", "traits": {"email": "peter@initech.test"}})),
        &scope,
    )
    .await;
    assert_eq!(status, 201, "{ident}");
    // Replacing: another host; the old one stops answering.
    let replaced = json!({"name": "initech", "base_url": format!("http://initrode.test:{port}/"),
        "hosts": ["login.initrode.test"]});
    let (status, t2) = admin(
        &app,
        M::PUT,
        &format!("/admin/tenants/{id}"),
        Some(replaced),
        &[],
    )
    .await;
    assert_eq!(status, 200, "{t2}");
    assert_eq!(t2["id"], t["id"]);
    assert_eq!(public(&app, "initech.test", "/health/alive").await.0, 404);
    assert_eq!(
        public(&app, "login.initrode.test", "/health/alive").await.0,
        200
    );
    // Deleting refuses while identities remain, unless purged.
    let (status, e) = admin(&app, M::DELETE, &format!("/admin/tenants/{id}"), None, &[]).await;
    assert_eq!(status, 409, "{e}");
    let (status, _) = admin(
        &app,
        M::DELETE,
        &format!("/admin/tenants/{id}?purge=true"),
        None,
        &[],
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(public(&app, "initrode.test", "/health/alive").await.0, 404);
    assert_eq!(
        admin(&app, M::GET, "/admin/tenants/initech", None, &[])
            .await
            .0,
        404
    );
    assert_eq!(
        admin(&app, M::GET, "/admin/identities", None, &scope)
            .await
            .0,
        404
    );
    // Its data is gone with it: a new tenant with the same id starts empty.
    let again =
        json!({"id": id, "name": "initech", "base_url": format!("http://initech.test:{port}/")});
    assert_eq!(
        admin(&app, M::POST, "/admin/tenants", Some(again), &[])
            .await
            .0,
        201
    );
    let (_, idents) = admin(&app, M::GET, "/admin/identities", None, &scope).await;
    assert_eq!(idents, json!([]));
}

#[tokio::test]
async fn another_node_on_the_same_database_follows_the_tenants() {
    let (p1, p2) = (free_port(), free_port());
    let one = start_on(TestDb::new().await, p1, "").await;
    let db = TestDb::at(one.db.dsn.clone());
    let two = start_on(db, p2, "").await;
    let body = json!({"name": "hooli", "base_url": "http://hooli.test/"});
    let (status, t) = admin(
        &one,
        reqwest::Method::POST,
        "/admin/tenants",
        Some(body),
        &[],
    )
    .await;
    assert_eq!(status, 201, "{t}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while public(&two, "hooli.test", "/health/alive").await.0 != 200 {
        assert!(
            Instant::now() < deadline,
            "node two never served the new tenant"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let path = format!("/admin/tenants/{}", t["id"].as_str().unwrap());
    assert_eq!(
        admin(&two, reqwest::Method::DELETE, &path, None, &[])
            .await
            .0,
        204
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while public(&one, "hooli.test", "/health/alive").await.0 != 404 {
        assert!(
            Instant::now() < deadline,
            "node one kept serving the deleted tenant"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_tenants_admin_key_acts_for_that_tenant_only() {
    let port = free_port();
    let keys_on = "  admin:\n    api_keys:\n      enabled: true\n";
    let app = start_on(TestDb::new().await, port, keys_on).await;
    let key = |out: String| {
        out.lines()
            .find_map(|l| l.strip_prefix("key: "))
            .unwrap()
            .to_owned()
    };
    let operator = key(crate::admin_keys::cli(&app, &["create", "--name", "ops"]).await);
    let acme = key(crate::admin_keys::cli(
        &app,
        &["create", "--name", "acme-ci", "--tenant", "acme"],
    )
    .await);
    let get = |key: String, path: &'static str, tenant: Option<&'static str>| {
        let mut r = app.http.get(app.admin_url(path)).bearer_auth(key);
        if let Some(t) = tenant {
            r = r.header("X-Gatehouse-Tenant", t);
        }
        async move { r.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(
        get(acme.clone(), "/admin/identities", Some("acme")).await,
        200
    );
    assert_eq!(get(acme.clone(), "/admin/identities", None).await, 401);
    assert_eq!(get(acme.clone(), "/admin/tenants", Some("acme")).await, 401);
    assert_eq!(
        get(operator.clone(), "/admin/identities", Some("acme")).await,
        200
    );
    assert_eq!(get(operator.clone(), "/admin/identities", None).await, 200);
    assert_eq!(get(operator, "/admin/tenants", None).await, 200);
}
