//! Multi-tenancy: several tenants on one process, each on its own host, isolated from each
//! other and from the default network.

use serde_json::{Value, json};

use crate::common::process::free_port;
use crate::common::{Setup, TestApp};

const ACME: &str = "0b6a3c2e-1d3f-4c5b-9a7e-000000000a01";
const GLOBEX: &str = "0b6a3c2e-1d3f-4c5b-9a7e-000000000a02";

/// A client that reaches the server under a tenant's host name.
struct Host {
    base: String,
    http: reqwest::Client,
}

impl Host {
    fn new(app: &TestApp, name: &str) -> Host {
        let addr = app.public_addr();
        Host {
            base: format!("http://{name}:{}", addr.port()),
            http: reqwest::Client::builder()
                .resolve(name, addr)
                .build()
                .unwrap(),
        }
    }

    async fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut r = self.http.get(format!("{}{path}", self.base));
        if let Some(t) = token {
            r = r.header("X-Session-Token", t);
        }
        let r = r.send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    async fn submit(&self, flow: &Value, body: Value) -> (u16, Value) {
        let r = self
            .http
            .post(flow["ui"]["action"].as_str().unwrap())
            .json(&body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    /// Registers `email` and signs in; the session token.
    async fn sign_up(&self, email: &str) -> String {
        let (_, flow) = self.get("/self-service/registration/api", None).await;
        let (status, body) = self
            .submit(
                &flow,
                json!({"method": "password", "password": "a unique pass phrase 93",
                       "traits": {"email": email}}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let (_, flow) = self.get("/self-service/login/api", None).await;
        let (status, body) = self
            .submit(
                &flow,
                json!({"method": "password", "identifier": email,
                       "password": "a unique pass phrase 93"}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["session_token"].as_str().unwrap().to_owned()
    }
}

async fn start() -> TestApp {
    let port = free_port();
    let yaml = format!(
        "serve:\n  public:\n    port: {port}\n    base_url: http://127.0.0.1:{port}/\n\
         tenants:\n\
         \x20 - id: {ACME}\n    name: acme\n    base_url: http://acme.test:{port}/\n\
         \x20 - id: {GLOBEX}\n    name: globex\n    base_url: http://globex.test:{port}/\n\
         \x20   hosts: [login.globex.test]\n"
    );
    TestApp::start_with(Setup {
        yaml,
        ..Setup::default()
    })
    .await
}

#[tokio::test]
async fn a_session_of_one_tenant_is_unknown_to_another() {
    let app = start().await;
    let (acme, globex) = (Host::new(&app, "acme.test"), Host::new(&app, "globex.test"));
    // The same address registers in both tenants as two identities.
    let a = acme.sign_up("ada@example.com").await;
    let g = globex.sign_up("ada@example.com").await;
    let (status, who_a) = acme.get("/sessions/whoami", Some(&a)).await;
    assert_eq!(status, 200, "{who_a}");
    let (status, who_g) = globex.get("/sessions/whoami", Some(&g)).await;
    assert_eq!(status, 200, "{who_g}");
    assert_ne!(who_a["identity"]["id"], who_g["identity"]["id"]);
    // Each token means nothing on the other tenant's host, and the answer is an unknown one's.
    let (status, other) = globex.get("/sessions/whoami", Some(&a)).await;
    assert_eq!(status, 401, "{other}");
    let (_, unknown) = globex
        .get("/sessions/whoami", Some("ory_st_nonesuch"))
        .await;
    assert_eq!(other, unknown);
    let (status, _) = acme.get("/sessions/whoami", Some(&g)).await;
    assert_eq!(status, 401);
    // Nor on the default network's.
    let (status, _) = Host::new(&app, "127.0.0.1")
        .get("/sessions/whoami", Some(&a))
        .await;
    assert_eq!(status, 401);
    // A flow of one tenant is not found on another.
    let (_, flow) = acme.get("/self-service/login/api", None).await;
    let path = format!(
        "/self-service/login/flows?id={}",
        flow["id"].as_str().unwrap()
    );
    assert_eq!(acme.get(&path, None).await.0, 200);
    assert_eq!(globex.get(&path, None).await.0, 404);
    // An extra host of a tenant is that tenant; an unknown host is refused.
    let extra = Host::new(&app, "login.globex.test");
    assert_eq!(extra.get("/sessions/whoami", Some(&g)).await.0, 200);
    let (status, body) = Host::new(&app, "nobody.test")
        .get("/sessions/whoami", Some(&g))
        .await;
    assert_eq!(status, 404, "{body}");
    assert!(
        body["error"]["reason"].as_str().unwrap().contains("tenant"),
        "{body}"
    );
}

#[tokio::test]
async fn the_admin_api_acts_for_the_tenant_its_header_names() {
    let app = start().await;
    let acme = Host::new(&app, "acme.test");
    acme.sign_up("grace@example.com").await;
    let list = |tenant: Option<&'static str>| {
        let mut r = app.http.get(app.admin_url("/admin/identities"));
        if let Some(t) = tenant {
            r = r.header("X-Gatehouse-Tenant", t);
        }
        async move {
            let r = r.send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (_, by_name) = list(Some("acme")).await;
    assert_eq!(by_name.as_array().unwrap().len(), 1, "{by_name}");
    let (_, by_id) = list(Some(ACME)).await;
    assert_eq!(by_name, by_id);
    let (_, other) = list(Some("globex")).await;
    assert_eq!(other, json!([]));
    let (_, default) = list(None).await;
    assert_eq!(default, json!([]));
    let (status, _) = list(Some("initech")).await;
    assert_eq!(status, 404);
}
