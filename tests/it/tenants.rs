//! Multi-tenancy: several tenants on one process, each on its own host, isolated from each
//! other and from the default network. Every attempt to use one tenant's resource (session
//! token or cookie, logout token, flow, error, code, courier message, identity, session) under
//! another tenant's host or admin scope must get exactly the answer an unknown one gets: a
//! different answer would tell the caller the resource exists elsewhere. Each tenant's overlay
//! is in force on its host only (schemas, methods, cookies and secrets, courier senders, hooks,
//! return URLs), and its counters (lockouts, rate limits) are its own. Several processes on one
//! database: `tenant_processes.rs`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use reqwest::cookie::{CookieStore, Jar};
use serde_json::{Value, json};

use crate::common::flow::{csrf, message_ids, six_digits};
use crate::common::process::free_port;
use crate::common::receiver::Receiver;
use crate::common::smtp::{self, SmtpServer, plaintext};
use crate::common::{Setup, TestApp};

pub const ACME: &str = "0b6a3c2e-1d3f-4c5b-9a7e-000000000a01";
pub const GLOBEX: &str = "0b6a3c2e-1d3f-4c5b-9a7e-000000000a02";
/// An id no tenant has: what "unknown" answers are asked with.
pub const NONESUCH: &str = "0b6a3c2e-1d3f-4c5b-9a7e-00000000dead";
pub const PASSWORD: &str = "a unique pass phrase 93";
const WAIT: Duration = Duration::from_secs(20);

/// A client that reaches a server under a tenant's host name, with its own cookie jar and
/// without following redirects (a test reads where it was sent).
pub struct Host {
    base: String,
    http: reqwest::Client,
    jar: Arc<Jar>,
}

/// The status and JSON body (`null` when there is none) of an answer.
pub async fn answer(r: reqwest::RequestBuilder) -> (u16, Value) {
    let r = r.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

impl Host {
    fn new(app: &TestApp, name: &str) -> Host {
        Host::at(name, app.public_addr())
    }

    /// `name` reached at `addr` (a public listener).
    pub fn at(name: &str, addr: SocketAddr) -> Host {
        let jar = Arc::new(Jar::default());
        Host {
            base: format!("http://{name}:{}", addr.port()),
            http: reqwest::Client::builder()
                .resolve(name, addr)
                .cookie_provider(jar.clone())
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            jar,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut r = self.http.get(self.url(path));
        if let Some(t) = token {
            r = r.header("X-Session-Token", t);
        }
        answer(r).await
    }

    /// `GET path` as a single-page app: JSON, with `cookie` as the whole Cookie header when
    /// given (else the jar's).
    async fn get_as_browser(&self, path: &str, cookie: Option<&str>) -> (u16, Value) {
        let mut r = self
            .http
            .get(self.url(path))
            .header("Accept", "application/json");
        if let Some(c) = cookie {
            r = r.header("Cookie", c);
        }
        answer(r).await
    }

    async fn submit(&self, flow: &Value, body: Value) -> (u16, Value) {
        answer(
            self.http
                .post(flow["ui"]["action"].as_str().unwrap())
                .json(&body),
        )
        .await
    }

    /// Submits `body` to the flow `id` of `kind` on this host, whichever tenant made the flow.
    pub async fn submit_to(
        &self,
        kind: &str,
        id: &str,
        body: &Value,
        token: Option<&str>,
    ) -> (u16, Value) {
        let mut r = self
            .http
            .post(self.url(&format!("/self-service/{kind}?flow={id}")))
            .json(body);
        if let Some(t) = token {
            r = r.header("X-Session-Token", t);
        }
        answer(r).await
    }

    /// Registers `email` and signs in; the session token.
    pub async fn sign_up(&self, email: &str) -> String {
        let (_, flow) = self.get("/self-service/registration/api", None).await;
        let (status, body) = self
            .submit(
                &flow,
                json!({"method": "password", "password": PASSWORD, "traits": {"email": email}}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        self.sign_in(email).await
    }

    /// Signs in with the password; the session token.
    pub async fn sign_in(&self, email: &str) -> String {
        let (_, flow) = self.get("/self-service/login/api", None).await;
        let (status, body) = self
            .submit(
                &flow,
                json!({"method": "password", "identifier": email, "password": PASSWORD}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["session_token"].as_str().unwrap().to_owned()
    }

    /// Signs in as a single-page app does (browser flow, JSON, cookies in the jar); the
    /// Set-Cookie headers of the successful submission.
    async fn browser_sign_in(&self, email: &str) -> Vec<String> {
        let (status, flow) = self
            .get_as_browser("/self-service/login/browser", None)
            .await;
        assert_eq!(status, 200, "{flow}");
        let r = self
            .http
            .post(flow["ui"]["action"].as_str().unwrap())
            .header("Accept", "application/json")
            .json(&json!({"method": "password", "csrf_token": csrf(&flow),
                          "identifier": email, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        let set = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        let status = r.status();
        assert_eq!(status, 200, "{}", r.text().await.unwrap());
        set
    }

    /// The Cookie header this host's jar sends it.
    fn cookie_header(&self) -> String {
        let url = reqwest::Url::parse(&self.url("/")).unwrap();
        self.jar
            .cookies(&url)
            .expect("the jar holds cookies for this host")
            .to_str()
            .unwrap()
            .to_owned()
    }
}

/// A request to the admin API scoped to `tenant` (a name or id; `None`: the default network).
async fn admin(
    app: &TestApp,
    tenant: Option<&str>,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut r = app.http.request(method, app.admin_url(path));
    if let Some(t) = tenant {
        r = r.header("X-Gatehouse-Tenant", t);
    }
    if let Some(b) = body {
        r = r.json(&b);
    }
    answer(r).await
}

/// Asserts that asking for another tenant's resource got the very answer an unknown one gets,
/// and that the answer is a refusal. An answer may quote the id it was asked for, so `asked`
/// (the other tenant's id) and [`NONESUCH`] are compared as equals.
fn same_as_unknown(what: &str, asked: &str, theirs: (u16, Value), unknown: (u16, Value)) {
    let theirs_text = theirs.1.to_string().replace(asked, NONESUCH);
    assert_eq!(
        (theirs.0, theirs_text),
        (unknown.0, unknown.1.to_string()),
        "{what}: another tenant's answer differs"
    );
    assert!(
        (400..500).contains(&theirs.0),
        "{what}: not refused: {theirs:?}"
    );
}

/// The configuration: `base` with the public port fixed (tenant base URLs carry it) and two
/// tenants with the overlays `acme` and `globex`.
fn yaml(port: u16, base: Value, acme: Value, globex: Value) -> String {
    let mut c = base;
    c["serve"] = json!({"public": {"port": port, "base_url": format!("http://127.0.0.1:{port}/")}});
    c["tenants"] = json!([
        {"id": ACME, "name": "acme", "base_url": format!("http://acme.test:{port}/"),
         "config": acme},
        {"id": GLOBEX, "name": "globex", "base_url": format!("http://globex.test:{port}/"),
         "hosts": ["login.globex.test"], "config": globex},
    ]);
    // JSON is YAML.
    c.to_string()
}

async fn start_with(base: Value, acme: Value, globex: Value) -> TestApp {
    TestApp::start_with(Setup {
        yaml: yaml(free_port(), base, acme, globex),
        ..Setup::default()
    })
    .await
}

async fn start() -> TestApp {
    start_with(json!({}), json!({}), json!({})).await
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

#[tokio::test]
async fn only_the_host_picks_the_public_tenant_and_only_the_header_the_admin_one() {
    let app = start().await;
    let (acme, globex) = (Host::new(&app, "acme.test"), Host::new(&app, "globex.test"));
    let a = acme.sign_up("ada@example.com").await;
    // The admin API's header means nothing on the public API.
    let whoami = |host: &Host, tenant: &str| {
        answer(
            host.http
                .get(host.url("/sessions/whoami"))
                .header("X-Session-Token", &a)
                .header("X-Gatehouse-Tenant", tenant),
        )
    };
    assert_eq!(whoami(&acme, "globex").await.0, 200);
    assert_eq!(whoami(&globex, "acme").await.0, 401);
    assert_eq!(whoami(&globex, ACME).await.0, 401);
    // A tenant's host name means nothing on the admin API: without the header, the default
    // network answers.
    let admin_by_host = reqwest::Client::builder()
        .resolve("acme.test", app.admin_addr())
        .build()
        .unwrap();
    let (status, listed) = answer(admin_by_host.get(format!(
        "http://acme.test:{}/admin/identities",
        app.admin_addr().port()
    )))
    .await;
    assert_eq!((status, listed), (200, json!([])));
}

#[tokio::test]
async fn a_browser_cookie_and_logout_tokens_stay_in_their_tenant() {
    let app = start().await;
    let (acme, globex) = (Host::new(&app, "acme.test"), Host::new(&app, "globex.test"));
    acme.sign_up("ada@example.com").await;
    // The address exists in globex too, so nothing but the tenant tells the two apart.
    globex.sign_up("ada@example.com").await;
    acme.browser_sign_in("ada@example.com").await;
    let cookie = acme.cookie_header();
    assert!(cookie.contains("ory_kratos_session="), "{cookie}");
    assert_eq!(
        acme.get_as_browser("/sessions/whoami", Some(&cookie))
            .await
            .0,
        200
    );
    // The same Cookie header on globex's host is no cookie at all (a browser new to globex).
    let stranger = Host::new(&app, "globex.test");
    same_as_unknown(
        "session cookie",
        &cookie,
        globex
            .get_as_browser("/sessions/whoami", Some(&cookie))
            .await,
        stranger.get_as_browser("/sessions/whoami", None).await,
    );
    // The logout token acme hands out for it logs nothing out on globex.
    let (status, logout) = acme
        .get_as_browser("/self-service/logout/browser", None)
        .await;
    assert_eq!(status, 200, "{logout}");
    let token = logout["logout_token"].as_str().unwrap();
    assert!(
        logout["logout_url"]
            .as_str()
            .unwrap()
            .starts_with(&acme.url("/self-service/logout?token=")),
        "{logout}"
    );
    same_as_unknown(
        "logout token",
        token,
        globex
            .get_as_browser(
                &format!("/self-service/logout?token={token}"),
                Some(&cookie),
            )
            .await,
        globex
            .get_as_browser("/self-service/logout?token=nonesuch", Some(&cookie))
            .await,
    );
    same_as_unknown(
        "logout/browser with another tenant's cookie",
        &cookie,
        globex
            .get_as_browser("/self-service/logout/browser", Some(&cookie))
            .await,
        stranger
            .get_as_browser("/self-service/logout/browser", None)
            .await,
    );
    // A native app's logout of an acme token on globex is an unknown token's, and revokes nothing.
    // (A fresh client: acme's host holds the browser's cookie, and a signed-in browser may not
    // start a login flow.)
    let native = Host::new(&app, "acme.test")
        .sign_in("ada@example.com")
        .await;
    let api_logout = |token: String| {
        answer(
            globex
                .http
                .delete(globex.url("/self-service/logout/api"))
                .json(&json!({ "session_token": token })),
        )
    };
    same_as_unknown(
        "native logout",
        &native,
        api_logout(native.clone()).await,
        api_logout("ory_st_nonesuch".into()).await,
    );
    assert_eq!(acme.get("/sessions/whoami", Some(&native)).await.0, 200);
    // Both sessions were untouched: the cookie's logout works where it belongs.
    assert_eq!(
        acme.get_as_browser("/sessions/whoami", Some(&cookie))
            .await
            .0,
        200
    );
    let (status, body) = acme
        .get_as_browser(&format!("/self-service/logout?token={token}"), None)
        .await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(
        acme.get_as_browser("/sessions/whoami", Some(&cookie))
            .await
            .0,
        401
    );
}

#[tokio::test]
async fn a_tenant_with_its_own_cookie_secret_reads_only_its_own_cookies() {
    let app = start_with(
        json!({"selfservice": {"methods": {"password": {"config": {"haveibeenpwned_enabled": false}}}}}),
        json!({"secrets": {"cookie": ["acme-own-cookie-secret-0123456789"]}}),
        json!({}),
    )
    .await;
    let (acme, globex) = (Host::new(&app, "acme.test"), Host::new(&app, "globex.test"));
    let mut cookies = Vec::new();
    for host in [&acme, &globex] {
        host.sign_up("ada@example.com").await;
        host.browser_sign_in("ada@example.com").await;
        let cookie = host.cookie_header();
        let (status, who) = host.get_as_browser("/sessions/whoami", Some(&cookie)).await;
        assert_eq!(status, 200, "{who}");
        cookies.push(cookie);
    }
    // Signed with another secret, each tenant's cookie is no cookie to the other.
    for (host, name, cookie) in [
        (&globex, "globex.test", &cookies[0]),
        (&acme, "acme.test", &cookies[1]),
    ] {
        same_as_unknown(
            &format!("another secret's cookie on {name}"),
            cookie,
            host.get_as_browser("/sessions/whoami", Some(cookie)).await,
            Host::new(&app, name)
                .get_as_browser("/sessions/whoami", None)
                .await,
        );
    }
}

#[tokio::test]
async fn flows_and_errors_of_one_tenant_are_unknown_to_another() {
    let app = start_with(
        json!({"selfservice": {
            "flows": {"recovery": {"enabled": true, "use": "code"},
                      "verification": {"enabled": true, "use": "code"},
                      "error": {"ui_url": "http://127.0.0.1:1/error"}},
            "methods": {"code": {"enabled": true},
                        "password": {"config": {"haveibeenpwned_enabled": false}}}}}),
        json!({}),
        json!({}),
    )
    .await;
    let (acme, globex) = (Host::new(&app, "acme.test"), Host::new(&app, "globex.test"));
    let a = acme.sign_up("ada@example.com").await;
    let g = globex.sign_up("ada@example.com").await;
    let bodies = [
        (
            "login",
            json!({"method": "password", "identifier": "ada@example.com", "password": PASSWORD}),
        ),
        (
            "registration",
            json!({"method": "password", "password": PASSWORD,
                   "traits": {"email": "eve@example.com"}}),
        ),
        (
            "recovery",
            json!({"method": "code", "email": "ada@example.com"}),
        ),
        (
            "verification",
            json!({"method": "code", "email": "ada@example.com"}),
        ),
        (
            "settings",
            json!({"method": "password", "password": "another pass phrase 71"}),
        ),
    ];
    for (kind, body) in &bodies {
        // Settings flows belong to a signed-in user: each host is asked with its own session.
        let (mine, theirs) = if *kind == "settings" {
            (Some(a.as_str()), Some(g.as_str()))
        } else {
            (None, None)
        };
        let (status, flow) = acme.get(&format!("/self-service/{kind}/api"), mine).await;
        assert_eq!(status, 200, "{kind}: {flow}");
        let id = flow["id"].as_str().unwrap();
        let read = |id: &str| format!("/self-service/{kind}/flows?id={id}");
        same_as_unknown(
            &format!("GET {kind} flow"),
            id,
            globex.get(&read(id), theirs).await,
            globex.get(&read(NONESUCH), theirs).await,
        );
        same_as_unknown(
            &format!("submit {kind} flow"),
            id,
            globex.submit_to(kind, id, body, theirs).await,
            globex.submit_to(kind, NONESUCH, body, theirs).await,
        );
        // The flow is still acme's, untouched.
        let (status, again) = acme.get(&read(id), mine).await;
        assert_eq!(status, 200, "{kind}: {again}");
        assert_eq!(again["state"], flow["state"], "{kind}: {again}");
    }
    // No registration happened on globex through acme's flow.
    let (_, listed) = admin(&app, Some("globex"), Method::GET, "/admin/identities", None).await;
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");

    // A self-service error stored for acme (a browser's failed logout lands on the error UI).
    let r = acme
        .http
        .get(acme.url("/self-service/logout?token=nonesuch"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let error_id = location
        .split_once("id=")
        .unwrap_or_else(|| panic!("no error id in {location}"))
        .1
        .split('&')
        .next()
        .unwrap()
        .to_owned();
    let read = |id: &str| format!("/self-service/errors?id={id}");
    let (status, stored) = acme.get(&read(&error_id), None).await;
    assert_eq!(status, 200, "{stored}");
    same_as_unknown(
        "self-service error",
        &error_id,
        globex.get(&read(&error_id), None).await,
        globex.get(&read(NONESUCH), None).await,
    );
    same_as_unknown(
        "self-service error, admin",
        &error_id,
        admin(&app, Some("globex"), Method::GET, &read(&error_id), None).await,
        admin(&app, Some("globex"), Method::GET, &read(NONESUCH), None).await,
    );
    let (status, _) = admin(&app, Some("acme"), Method::GET, &read(&error_id), None).await;
    assert_eq!(status, 200);
}

/// The latest mail `smtp` received for `to` once it holds `n` mails.
async fn nth_mail(smtp: &SmtpServer, n: usize, to: &str) -> smtp::Received {
    let got = smtp.wait_for(n, WAIT).await;
    let m = got[n - 1].clone();
    assert_eq!(m.to, [to], "mail {n}");
    m
}

/// Starts an API flow of `kind` on `host` and asks for a code for `email`; the flow as sent.
async fn code_flow(host: &Host, kind: &str, email: &str) -> Value {
    let (_, flow) = host.get(&format!("/self-service/{kind}/api"), None).await;
    let (status, sent) = host
        .submit(&flow, json!({"method": "code", "email": email}))
        .await;
    assert_eq!(status, 200, "{sent}");
    assert_eq!(sent["state"], "sent_email", "{sent}");
    sent
}

/// A six-digit code that is neither of `codes`.
fn wrong_code(codes: &[&str]) -> String {
    (0..)
        .map(|n| format!("{n:06}"))
        .find(|c| !codes.contains(&c.as_str()))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codes_and_courier_messages_stay_in_their_tenant() {
    let acme_mail = SmtpServer::start(0).await;
    let globex_mail = SmtpServer::start(0).await;
    // The process's courier goes to acme's server; globex's overlay names its own server, and
    // each tenant its own sender.
    let app = start_with(
        json!({
            "watch-courier": true,
            "courier": {"worker": {"pull_wait": "50ms"},
                        "smtp": {"connection_uri": acme_mail.uri(),
                                 "from_address": "noreply@gatehouse.test"}},
            "selfservice": {
                "flows": {"recovery": {"enabled": true, "use": "code"},
                          "verification": {"enabled": true, "use": "code"}},
                "methods": {"code": {"enabled": true},
                            "password": {"config": {"haveibeenpwned_enabled": false}}}}}),
        json!({"courier": {"smtp": {"from_address": "noreply@acme.test"}}}),
        json!({"courier": {"smtp": {"connection_uri": globex_mail.uri(),
                                    "from_address": "noreply@globex.test"}}}),
    )
    .await;
    let (acme, globex) = (Host::new(&app, "acme.test"), Host::new(&app, "globex.test"));
    let identity = json!({"traits": {"email": "ada@example.com"}});
    for tenant in ["acme", "globex"] {
        let (status, body) = admin(
            &app,
            Some(tenant),
            Method::POST,
            "/admin/identities",
            Some(identity.clone()),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }
    // Verification: both tenants mail ada a code, each from its own sender and server.
    let acme_flow = code_flow(&acme, "verification", "ada@example.com").await;
    let acme_msg = nth_mail(&acme_mail, 1, "ada@example.com").await;
    let globex_flow = code_flow(&globex, "verification", "ada@example.com").await;
    let globex_msg = nth_mail(&globex_mail, 1, "ada@example.com").await;
    for (m, from) in [
        (&acme_msg, "noreply@acme.test"),
        (&globex_msg, "noreply@globex.test"),
    ] {
        assert_eq!(m.from, from);
        let header = smtp::header(&m.data, "From").unwrap();
        assert!(header.contains(from), "{header}");
    }
    let acme_code = six_digits(&plaintext(&acme_msg));
    let globex_code = six_digits(&plaintext(&globex_msg));
    let wrong = wrong_code(&[&acme_code, &globex_code]);
    // acme's code in globex's flow is a wrong code; acme's flow is unknown on globex's host.
    let code = |c: &str| json!({"method": "code", "code": c});
    let (status, theirs) = globex.submit(&globex_flow, code(&acme_code)).await;
    let (_, unknown) = globex.submit(&globex_flow, code(&wrong)).await;
    assert_eq!(status, 200, "{theirs}");
    assert_eq!(theirs["ui"]["messages"], unknown["ui"]["messages"]);
    assert_eq!(message_ids(&theirs), [4070006], "{theirs}");
    let acme_id = acme_flow["id"].as_str().unwrap();
    same_as_unknown(
        "verification code in acme's flow on globex",
        acme_id,
        globex
            .submit_to("verification", acme_id, &code(&acme_code), None)
            .await,
        globex
            .submit_to("verification", NONESUCH, &code(&acme_code), None)
            .await,
    );
    // Each code still works where it was mailed.
    for (host, flow, c) in [
        (&acme, &acme_flow, &acme_code),
        (&globex, &globex_flow, &globex_code),
    ] {
        let (status, done) = host.submit(flow, code(c)).await;
        assert_eq!(
            (status, done["state"].as_str()),
            (200, Some("passed_challenge")),
            "{done}"
        );
    }

    // Recovery: grace exists only in acme. globex answers her recovery like anyone's and
    // mails nothing; acme's code does not recover her there.
    let (status, body) = admin(
        &app,
        Some("acme"),
        Method::POST,
        "/admin/identities",
        Some(json!({"traits": {"email": "grace@example.com"}})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let acme_flow = code_flow(&acme, "recovery", "grace@example.com").await;
    let acme_code = six_digits(&plaintext(
        &nth_mail(&acme_mail, 2, "grace@example.com").await,
    ));
    let globex_flow = code_flow(&globex, "recovery", "grace@example.com").await;
    let wrong = wrong_code(&[&acme_code]);
    let (status, theirs) = globex.submit(&globex_flow, code(&acme_code)).await;
    let (_, unknown) = globex.submit(&globex_flow, code(&wrong)).await;
    assert_eq!(status, 200, "{theirs}");
    assert_eq!(theirs["ui"]["messages"], unknown["ui"]["messages"]);
    assert_eq!(message_ids(&theirs), [4060006], "{theirs}");
    let acme_id = acme_flow["id"].as_str().unwrap();
    same_as_unknown(
        "recovery code in acme's flow on globex",
        acme_id,
        globex
            .submit_to("recovery", acme_id, &code(&acme_code), None)
            .await,
        globex
            .submit_to("recovery", NONESUCH, &code(&acme_code), None)
            .await,
    );
    let (status, done) = acme.submit(&acme_flow, code(&acme_code)).await;
    assert_eq!(status, 200, "{done}");
    assert!(done["continue_with"][0]["ory_session_token"].is_string());

    // The admin courier API lists and shows each tenant's messages only.
    let list = |tenant: Option<&'static str>| {
        admin(&app, tenant, Method::GET, "/admin/courier/messages", None)
    };
    let (status, acme_list) = list(Some("acme")).await;
    assert_eq!(status, 200, "{acme_list}");
    let acme_list = acme_list.as_array().unwrap().clone();
    let recipients = |l: &[Value]| {
        let mut r: Vec<String> = l
            .iter()
            .map(|m| m["recipient"].as_str().unwrap().to_owned())
            .collect();
        r.sort();
        r
    };
    assert_eq!(
        recipients(&acme_list),
        ["ada@example.com", "grace@example.com"]
    );
    let (_, globex_list) = list(Some("globex")).await;
    let globex_list = globex_list.as_array().unwrap().clone();
    assert_eq!(recipients(&globex_list), ["ada@example.com"]);
    assert_eq!(list(None).await.1, json!([]));
    assert_eq!(globex_mail.received().len(), 1, "globex mailed grace");
    for m in &acme_list {
        let path = format!("/admin/courier/messages/{}", m["id"].as_str().unwrap());
        let (status, mine) = admin(&app, Some("acme"), Method::GET, &path, None).await;
        assert_eq!(status, 200, "{mine}");
        same_as_unknown(
            "courier message",
            m["id"].as_str().unwrap(),
            admin(&app, Some("globex"), Method::GET, &path, None).await,
            admin(
                &app,
                Some("globex"),
                Method::GET,
                &format!("/admin/courier/messages/{NONESUCH}"),
                None,
            )
            .await,
        );
        let (status, _) = admin(&app, None, Method::GET, &path, None).await;
        assert_eq!(status, 404);
    }
}

#[tokio::test]
async fn identities_and_sessions_of_one_tenant_are_unknown_to_anothers_admin_scope() {
    let app = start_with(
        json!({"selfservice": {"flows": {"recovery": {"enabled": true, "use": "code"}}}}),
        json!({}),
        json!({}),
    )
    .await;
    let (acme, globex) = (Host::new(&app, "acme.test"), Host::new(&app, "globex.test"));
    let a = acme.sign_up("ada@example.com").await;
    let g = globex.sign_up("grace@example.com").await;
    let (_, who) = acme.get("/sessions/whoami", Some(&a)).await;
    let (identity, session) = (
        who["identity"]["id"].as_str().unwrap().to_owned(),
        who["id"].as_str().unwrap().to_owned(),
    );
    let (status, body) = admin(
        &app,
        Some("acme"),
        Method::POST,
        "/admin/identities",
        Some(json!({"traits": {"email": "ext@example.com"}, "external_id": "acme-ext"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let patch = json!([{"op": "replace", "path": "/traits/email", "value": "x@example.com"}]);
    let put = json!({"schema_id": "customer", "state": "inactive",
                     "traits": {"email": "x@example.com"}});
    // (method, path pattern with {} for the id, body)
    let calls: Vec<(Method, &str, Option<Value>)> = vec![
        (Method::GET, "/admin/identities/{}", None),
        (Method::PATCH, "/admin/identities/{}", Some(patch)),
        (Method::PUT, "/admin/identities/{}", Some(put)),
        (Method::GET, "/admin/identities/{}/sessions", None),
        (Method::DELETE, "/admin/identities/{}/sessions", None),
        (
            Method::DELETE,
            "/admin/identities/{}/credentials/password",
            None,
        ),
        (Method::DELETE, "/admin/identities/{}", None),
    ];
    let session_calls: Vec<(Method, &str)> = vec![
        (Method::GET, "/admin/sessions/{}"),
        (Method::PATCH, "/admin/sessions/{}/extend"),
        (Method::DELETE, "/admin/sessions/{}"),
    ];
    // globex's scope, and the default network's (no header), alike.
    for scope in [Some("globex"), None] {
        for (method, pattern, body) in &calls {
            let call = |id: &str| {
                let (method, path, body) =
                    (method.clone(), pattern.replace("{}", id), body.clone());
                let app = &app;
                async move { admin(app, scope, method, &path, body).await }
            };
            same_as_unknown(
                &format!("{method} {pattern} in {scope:?}"),
                &identity,
                call(&identity).await,
                call(NONESUCH).await,
            );
        }
        for (method, pattern) in &session_calls {
            let call = |id: &str| {
                let (method, path) = (method.clone(), pattern.replace("{}", id));
                let app = &app;
                async move { admin(app, scope, method, &path, None).await }
            };
            same_as_unknown(
                &format!("{method} {pattern} in {scope:?}"),
                &session,
                call(&session).await,
                call(NONESUCH).await,
            );
        }
    }
    let recovery = |id: &str| {
        admin(
            &app,
            Some("globex"),
            Method::POST,
            "/admin/recovery/code",
            Some(json!({ "identity_id": id })),
        )
    };
    same_as_unknown(
        "admin recovery code",
        &identity,
        recovery(&identity).await,
        recovery(NONESUCH).await,
    );
    same_as_unknown(
        "identity by external id",
        "acme-ext",
        admin(
            &app,
            Some("globex"),
            Method::GET,
            "/admin/identities/by/external/acme-ext",
            None,
        )
        .await,
        admin(
            &app,
            Some("globex"),
            Method::GET,
            &format!("/admin/identities/by/external/{NONESUCH}"),
            None,
        )
        .await,
    );
    // External ids, like addresses, are unique per tenant only.
    let (status, body) = admin(
        &app,
        Some("globex"),
        Method::POST,
        "/admin/identities",
        Some(json!({"traits": {"email": "ext@example.com"}, "external_id": "acme-ext"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, found) = admin(
        &app,
        Some("globex"),
        Method::GET,
        "/admin/identities/by/external/acme-ext",
        None,
    )
    .await;
    assert_eq!((status, &found["id"]), (200, &body["id"]), "{found}");
    // A user of globex cannot revoke acme's session by its id either.
    let revoke = |id: &str| {
        answer(
            globex
                .http
                .delete(globex.url(&format!("/sessions/{id}")))
                .header("X-Session-Token", &g),
        )
    };
    // Kratos answers 204 whether or not the id is one of the caller's sessions.
    assert_eq!(revoke(&session).await, revoke(NONESUCH).await);
    // Lists show the scope's own only.
    let (_, sessions) = admin(&app, Some("globex"), Method::GET, "/admin/sessions", None).await;
    let sessions = sessions.as_array().unwrap();
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    assert_ne!(sessions[0]["id"], session.as_str());
    let (_, sessions) = admin(&app, Some("acme"), Method::GET, "/admin/sessions", None).await;
    assert_eq!(sessions.as_array().unwrap().len(), 1, "{sessions}");
    assert_eq!(sessions[0]["id"], session.as_str());
    let (_, found) = admin(
        &app,
        Some("globex"),
        Method::GET,
        "/admin/identities?credentials_identifier=ada@example.com",
        None,
    )
    .await;
    assert_eq!(found, json!([]));
    let (_, found) = admin(
        &app,
        Some("globex"),
        Method::GET,
        &format!("/admin/identities?ids={identity}"),
        None,
    )
    .await;
    assert_eq!(found, json!([]));
    // globex's grace signing in on acme is anybody unknown signing in.
    let (status, theirs) = attempt(&acme, "grace@example.com", PASSWORD).await;
    let (_, unknown) = attempt(&acme, "nobody@example.com", PASSWORD).await;
    assert_eq!(status, 400, "{theirs}");
    assert_eq!(message_ids(&theirs), message_ids(&unknown), "{theirs}");
    assert_eq!(message_ids(&theirs), [4000006], "{theirs}");
    // Nor does acme's token list sessions on globex's host.
    same_as_unknown(
        "list my sessions",
        &a,
        globex.get("/sessions", Some(&a)).await,
        globex.get("/sessions", Some("ory_st_nonesuch")).await,
    );
    // After all that, acme's identity and session are as they were.
    let (status, now) = acme.get("/sessions/whoami", Some(&a)).await;
    assert_eq!(status, 200, "{now}");
    assert_eq!(now["identity"]["traits"], who["identity"]["traits"]);
    assert_eq!(now["identity"]["state"], "active");
    acme.sign_in("ada@example.com").await;
}

/// Kratos's identity schema with a required trait only globex asks for, and login by code.
fn partner_schema() -> String {
    use base64::Engine;
    let schema = json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "properties": {"traits": {
            "type": "object",
            "properties": {
                "email": {"type": "string", "format": "email",
                          "ory.sh/kratos": {"credentials": {"code": {"identifier": true,
                                                                     "via": "email"}}}},
                "company": {"type": "string", "minLength": 1}
            },
            "required": ["email", "company"],
            "additionalProperties": false
        }}
    });
    format!(
        "base64://{}",
        base64::engine::general_purpose::STANDARD.encode(schema.to_string())
    )
}

/// Whether the flow has a node named `name` (with the value `value`, if given).
fn has_node(flow: &Value, name: &str, value: Option<&str>) -> bool {
    flow["ui"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("no nodes in {flow}"))
        .iter()
        .any(|n| {
            n["attributes"]["name"] == name && value.is_none_or(|v| n["attributes"]["value"] == v)
        })
}

#[tokio::test]
async fn each_tenant_has_its_own_schemas_methods_cookie_and_return_urls() {
    let app = start_with(
        json!({"selfservice": {"methods": {"password": {"config": {"haveibeenpwned_enabled": false}}}}}),
        json!({"session": {"cookie": {"name": "acme_session", "domain": "acme.test"}},
               "selfservice": {"allowed_return_urls": ["http://app.acme.test/"]}}),
        json!({
            "identity": {"default_schema_id": "partner",
                         "schemas": [{"id": "partner", "url": partner_schema()}]},
            "selfservice": {"methods": {"password": {"enabled": false},
                                        "code": {"enabled": true, "passwordless_enabled": true}}}}),
    )
    .await;
    let (acme, globex) = (Host::new(&app, "acme.test"), Host::new(&app, "globex.test"));
    // Sign-in: passwords on acme, codes only on globex.
    let (_, a) = acme.get("/self-service/login/api", None).await;
    let (_, g) = globex.get("/self-service/login/api", None).await;
    assert!(has_node(&a, "password", None), "{a}");
    assert!(!has_node(&a, "method", Some("code")), "{a}");
    assert!(!has_node(&g, "password", None), "{g}");
    assert!(has_node(&g, "method", Some("code")), "{g}");
    let (status, body) = globex
        .submit(
            &g,
            json!({"method": "password", "identifier": "ada@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    // Registration: each tenant's schema, then each tenant's methods for the credentials.
    let (_, a) = acme.get("/self-service/registration/api", None).await;
    let (_, g) = globex.get("/self-service/registration/api", None).await;
    assert!(!has_node(&a, "traits.company", None), "{a}");
    assert!(has_node(&g, "traits.company", None), "{g}");
    let (_, a) = acme
        .submit(
            &a,
            json!({"method": "profile", "traits": {"email": "new@example.com"}}),
        )
        .await;
    let (_, g) = globex
        .submit(
            &g,
            json!({"method": "profile", "traits": {"email": "new@example.com", "company": "Globex"}}),
        )
        .await;
    assert!(has_node(&a, "password", None), "{a}");
    assert!(!has_node(&a, "method", Some("code")), "{a}");
    assert!(!has_node(&g, "password", None), "{g}");
    assert!(has_node(&g, "method", Some("code")), "{g}");
    // The schema lists and the admin API follow the tenant's schema.
    let ids = |l: &Value| -> Vec<String> {
        l.as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&globex.get("/schemas", None).await.1), ["partner"]);
    same_as_unknown(
        "acme's schema on globex",
        "customer",
        globex.get("/schemas/customer", None).await,
        globex.get(&format!("/schemas/{NONESUCH}"), None).await,
    );
    assert!(ids(&acme.get("/schemas", None).await.1).contains(&"customer".to_owned()));
    let create = |tenant: &'static str, traits: Value| {
        admin(
            &app,
            Some(tenant),
            Method::POST,
            "/admin/identities",
            Some(json!({"traits": traits})),
        )
    };
    let (status, body) = create("globex", json!({"email": "ada@example.com"})).await;
    assert_eq!(status, 400, "globex requires a company: {body}");
    let (status, body) = create(
        "globex",
        json!({"email": "ada@example.com", "company": "Globex"}),
    )
    .await;
    assert_eq!(
        (status, body["schema_id"].as_str()),
        (201, Some("partner")),
        "{body}"
    );
    let (status, body) = create("acme", json!({"email": "ada@example.com"})).await;
    assert_eq!(
        (status, body["schema_id"].as_str()),
        (201, Some("customer")),
        "{body}"
    );
    // Return URLs are allowed per tenant.
    let path = "/self-service/login/api?return_to=http://app.acme.test/after";
    let (status, flow) = acme.get(path, None).await;
    assert_eq!(
        (status, flow["return_to"].as_str()),
        (200, Some("http://app.acme.test/after")),
        "{flow}"
    );
    let (status, refused) = globex.get(path, None).await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(
        refused["error"]["id"],
        "self_service_flow_return_to_forbidden"
    );
    // Each tenant's browser session cookie carries its own name and domain.
    acme.sign_up("grace@example.com").await;
    let set = acme.browser_sign_in("grace@example.com").await;
    let session_cookie = set
        .iter()
        .find(|c| c.starts_with("acme_session="))
        .unwrap_or_else(|| panic!("{set:?}"));
    assert!(
        session_cookie.contains("Domain=acme.test"),
        "{session_cookie}"
    );
    assert!(
        !set.iter().any(|c| c.starts_with("ory_kratos_session=")),
        "{set:?}"
    );
    // acme reads its session from that cookie, and logging out clears that cookie.
    let (status, who) = acme.get_as_browser("/sessions/whoami", None).await;
    assert_eq!(status, 200, "{who}");
    let (_, logout) = acme
        .get_as_browser("/self-service/logout/browser", None)
        .await;
    let r = acme
        .http
        .get(logout["logout_url"].as_str().unwrap())
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let cleared: Vec<&str> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert!(
        cleared.iter().any(|c| c.starts_with("acme_session=")),
        "{cleared:?}"
    );
    let default = Host::new(&app, "127.0.0.1");
    default.sign_up("grace@example.com").await;
    let set = default.browser_sign_in("grace@example.com").await;
    let session_cookie = set
        .iter()
        .find(|c| c.starts_with("ory_kratos_session="))
        .unwrap_or_else(|| panic!("{set:?}"));
    assert!(!session_cookie.contains("Domain="), "{session_cookie}");
}

/// One native password sign-in on `host`: its status and body.
async fn attempt(host: &Host, email: &str, password: &str) -> (u16, Value) {
    let (_, flow) = host.get("/self-service/login/api", None).await;
    host.submit(
        &flow,
        json!({"method": "password", "identifier": email, "password": password}),
    )
    .await
}

#[tokio::test]
async fn a_lockout_in_one_tenant_locks_nothing_in_another() {
    // One failure locks an identifier for an hour; the address counter is out of the way.
    let app = start_with(
        json!({"security": {"brute_force": {
            "per_identifier": {"free_failures": 0, "wait_increment": "200ms", "max_wait": "400ms",
                               "quick_login_check": "0s", "lockout_after": 1, "lockout": "1h",
                               "reset_after": "1h"},
            "per_address": {"free_failures": 100000, "lockout_after": 0,
                            "quick_login_check": "0s"}}}}),
        json!({}),
        json!({}),
    )
    .await;
    let (acme, globex) = (Host::new(&app, "acme.test"), Host::new(&app, "globex.test"));
    acme.sign_up("ada@example.com").await;
    globex.sign_up("ada@example.com").await;
    let (status, body) = attempt(&acme, "ada@example.com", "wrong").await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = attempt(&acme, "ada@example.com", PASSWORD).await;
    assert_eq!(status, 429, "acme's ada is locked out: {body}");
    // globex's ada is another person.
    let (status, body) = attempt(&globex, "ada@example.com", PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    let lockouts = |tenant: &'static str, method: Method| {
        admin(
            &app,
            Some(tenant),
            method,
            "/admin/lockouts?identifier=ada@example.com",
            None,
        )
    };
    let (_, acme_state) = lockouts("acme", Method::GET).await;
    assert_eq!(acme_state["counters"][0]["failures"], 1, "{acme_state}");
    assert!(
        acme_state["counters"][0]["locked_until"].is_string(),
        "{acme_state}"
    );
    let (_, globex_state) = lockouts("globex", Method::GET).await;
    assert_eq!(globex_state["counters"][0]["failures"], 0, "{globex_state}");
    // Lifting the lockout in globex's scope lifts nothing of acme's; in acme's it does.
    assert_eq!(lockouts("globex", Method::DELETE).await.0, 204);
    assert_eq!(attempt(&acme, "ada@example.com", PASSWORD).await.0, 429);
    assert_eq!(lockouts("acme", Method::DELETE).await.0, 204);
    let (status, body) = attempt(&acme, "ada@example.com", PASSWORD).await;
    assert_eq!(status, 200, "{body}");
}

/// The first link in `text` (a mail's plain text).
fn link_in(text: &str) -> String {
    let start = text
        .find("http")
        .unwrap_or_else(|| panic!("no link in {text}"));
    text[start..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mailed_links_point_to_their_tenant_and_work_only_there() {
    let mail = SmtpServer::start(0).await;
    let app = start_with(
        json!({
            "watch-courier": true,
            "courier": {"worker": {"pull_wait": "50ms"},
                        "smtp": {"connection_uri": mail.uri(),
                                 "from_address": "noreply@gatehouse.test"}},
            "selfservice": {
                "flows": {"verification": {"enabled": true, "use": "link"}},
                "methods": {"link": {"enabled": true},
                            "password": {"config": {"haveibeenpwned_enabled": false}}}}}),
        json!({}),
        json!({}),
    )
    .await;
    let (acme, globex) = (Host::new(&app, "acme.test"), Host::new(&app, "globex.test"));
    // Signing up mails a verification link, each from its own tenant.
    acme.sign_up("ada@example.com").await;
    let acme_link = link_in(&plaintext(&nth_mail(&mail, 1, "ada@example.com").await));
    globex.sign_up("ada@example.com").await;
    let globex_link = link_in(&plaintext(&nth_mail(&mail, 2, "ada@example.com").await));
    assert!(
        acme_link.starts_with(&acme.url("/self-service/verification?")),
        "{acme_link}"
    );
    assert!(
        globex_link.starts_with(&globex.url("/self-service/verification?")),
        "{globex_link}"
    );
    let status_in = |tenant: &'static str| {
        let app = &app;
        async move {
            let (_, list) = admin(app, Some(tenant), Method::GET, "/admin/identities", None).await;
            list[0]["verifiable_addresses"][0]["status"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    assert_eq!(status_in("acme").await, "sent");
    assert_eq!(status_in("globex").await, "sent");
    // acme's link opened on globex's host verifies nobody.
    let query = acme_link.split_once('?').unwrap().1;
    let r = globex
        .http
        .get(globex.url(&format!("/self-service/verification?{query}")))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_redirection(), "{}", r.status());
    assert_eq!(status_in("acme").await, "sent");
    assert_eq!(status_in("globex").await, "sent");
    // Opened where it was sent, it verifies acme's ada only.
    let r = acme.http.get(&acme_link).send().await.unwrap();
    assert!(r.status().is_redirection(), "{}", r.status());
    assert_eq!(status_in("acme").await, "completed");
    assert_eq!(status_in("globex").await, "sent");
}

/// A fire-and-forget web hook after password registration, posting to `url`.
fn registration_hook(url: &str) -> Value {
    use base64::Engine;
    let body = "function(ctx) { identity_id: ctx.identity.id, email: ctx.identity.traits.email }";
    json!({"selfservice": {"flows": {"registration": {"after": {"password": {"hooks": [
        {"hook": "web_hook",
         "config": {"url": url, "method": "POST",
                    "body": format!("base64://{}",
                                    base64::engine::general_purpose::STANDARD.encode(body)),
                    "response": {"ignore": true}}}
    ]}}}}}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_tenant_calls_its_own_web_hooks() {
    let rx = Receiver::start().await;
    let app = start_with(
        json!({"selfservice": {"methods": {"password": {"config": {"haveibeenpwned_enabled": false}}}}}),
        registration_hook(&rx.url("/acme")),
        registration_hook(&rx.url("/globex")),
    )
    .await;
    let (acme, globex) = (Host::new(&app, "acme.test"), Host::new(&app, "globex.test"));
    // The default network has no hook: its sign-up, queued first, calls nothing.
    Host::new(&app, "127.0.0.1")
        .sign_up("ada@example.com")
        .await;
    let mut ids = Vec::new();
    for host in [&acme, &globex] {
        let token = host.sign_up("ada@example.com").await;
        let (_, who) = host.get("/sessions/whoami", Some(&token)).await;
        ids.push(who["identity"]["id"].as_str().unwrap().to_owned());
    }
    let mut got: Vec<(String, String)> = rx
        .wait_for(2, WAIT)
        .await
        .iter()
        .map(|r| {
            let body = r.json();
            assert_eq!(body["email"], "ada@example.com", "{body}");
            (
                r.path.clone(),
                body["identity_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("/acme".to_owned(), ids[0].clone()),
            ("/globex".to_owned(), ids[1].clone())
        ]
    );
    assert_eq!(rx.requests().len(), 2);
}

#[tokio::test]
async fn a_rate_limit_in_one_tenant_spends_nothing_in_another() {
    // One flow start per client address and hour.
    let app = start_with(
        json!({"security": {"rate_limits": {"flows": {"burst": 1, "interval": "1h"}}}}),
        json!({}),
        json!({}),
    )
    .await;
    let (acme, globex) = (Host::new(&app, "acme.test"), Host::new(&app, "globex.test"));
    let start = |host: &Host| {
        answer(
            host.http
                .get(host.url("/self-service/login/api"))
                .header("X-Forwarded-For", "198.51.100.9"),
        )
    };
    assert_eq!(start(&acme).await.0, 200);
    let (status, body) = start(&acme).await;
    assert_eq!(status, 429, "{body}");
    // The same client starts its one flow on globex all the same.
    let (status, body) = start(&globex).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(start(&globex).await.0, 429);
}
