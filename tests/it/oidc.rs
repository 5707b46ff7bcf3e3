//! The `oidc` method end to end, against a real OpenID Connect provider (panva's
//! `oidc-provider`) and a GitHub-style OAuth2 stand-in: browser sign-in and sign-up through the
//! provider's forms, the switch between login and registration, traits a mapper leaves out,
//! account linking, settings link/unlink, native ID tokens, and the callback's defences.

use base64::Engine;
use serde_json::{Value, json};

use crate::common::flow::{flow_id_from, message_ids, node};
use crate::common::github::StandIn;
use crate::common::oidc::{OidcProvider, UserAgent, client};
use crate::common::{Setup, TestApp, ui_server};

const SECRET: &str = "a-client-secret-for-the-tests";
const PASSWORD: &str = "a-long-and-good-passphrase-42";
/// Any loopback port matches for the provider.
const REDIRECT: &str = "http://127.0.0.1/self-service/methods/oidc/callback/test";

/// Kratos's usual mapper: the email when the provider verified it.
const MAPPER: &str = r#"
local claims = std.extVar('claims');
{
  identity: {
    traits: {
      [if 'email' in claims && claims.email_verified then 'email' else null]: claims.email,
    },
    metadata_public: { provider_name: std.get(claims, 'name', '') },
  },
}
"#;

fn b64(s: &str) -> String {
    format!(
        "base64://{}",
        base64::engine::general_purpose::STANDARD.encode(s)
    )
}

fn yaml(ui: u16, providers: &str) -> String {
    format!(
        "secrets:
  cipher:
    - this-cipher-secret-is-32-chars!!
ciphers:
  algorithm: xchacha20-poly1305
selfservice:
  default_browser_return_url: http://127.0.0.1:{ui}/welcome
  allowed_return_urls:
    - http://127.0.0.1:{ui}/
  flows:
    login:
      ui_url: http://127.0.0.1:{ui}/login
    registration:
      ui_url: http://127.0.0.1:{ui}/registration
      after:
        oidc:
          hooks:
            - hook: session
    settings:
      ui_url: http://127.0.0.1:{ui}/settings
      privileged_session_max_age: 1h
    error:
      ui_url: http://127.0.0.1:{ui}/error
  methods:
    password:
      config:
        haveibeenpwned_enabled: false
    oidc:
      enabled: true
      config:
        providers:
{providers}"
    )
}

fn generic(issuer: &str, mapper: &str, extra: &str) -> String {
    format!(
        "          - id: test
            provider: generic
            label: Test IdP
            client_id: gatehouse
            client_secret: {SECRET}
            issuer_url: {issuer}
            mapper_url: {}
            scope: [email, profile]
{extra}",
        b64(mapper)
    )
}

struct World {
    app: TestApp,
    idp: OidcProvider,
    ua: UserAgent,
    ui: u16,
}

async fn world_with(mapper: &str, extra: &str) -> World {
    let idp = OidcProvider::start(vec![client("gatehouse", SECRET, REDIRECT)]).await;
    let ui = ui_server().await;
    let app = TestApp::start_with(Setup {
        yaml: yaml(ui, &generic(&idp.issuer, mapper, extra)),
        ..Default::default()
    })
    .await;
    World {
        app,
        idp,
        ua: UserAgent::new(),
        ui,
    }
}

async fn world() -> World {
    world_with(MAPPER, "").await
}

impl World {
    /// A browser flow of `kind`, read as JSON; the CSRF cookie lands in the user agent's jar.
    async fn flow(&self, kind: &str) -> Value {
        let r = self
            .ua
            .http
            .get(
                self.app
                    .public_url(&format!("/self-service/{kind}/browser")),
            )
            .header("Accept", "application/json")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "start {kind}");
        r.json().await.unwrap()
    }

    /// A flow by id, as the UI reads it.
    async fn get(&self, kind: &str, id: &str) -> Value {
        self.ua
            .http
            .get(
                self.app
                    .public_url(&format!("/self-service/{kind}/flows?id={id}")),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Posts a form to the flow as a browser does; the answer (redirects not followed).
    async fn post(&self, flow: &Value, fields: &[(&str, &str)]) -> reqwest::Response {
        let csrf = node(flow, "csrf_token")["attributes"]["value"]
            .as_str()
            .unwrap()
            .to_owned();
        let mut form: Vec<(&str, &str)> = vec![("csrf_token", &csrf)];
        form.extend_from_slice(fields);
        self.ua
            .http
            .post(flow["ui"]["action"].as_str().unwrap())
            .header("Accept", "text/html")
            .form(&form)
            .send()
            .await
            .unwrap()
    }

    /// Opens a URL in the browser (no redirects followed); the answer.
    async fn open(&self, url: &str) -> reqwest::Response {
        self.ua
            .http
            .get(url)
            .header("Accept", "text/html")
            .send()
            .await
            .unwrap()
    }

    /// Clicks the provider button on `flow`, signs in at the provider as `login`, and opens the
    /// callback: Gatehouse's answer to it.
    async fn sign_in_with(
        &self,
        flow: &Value,
        login: &str,
        extra: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut fields = vec![("provider", "test")];
        fields.extend_from_slice(extra);
        let r = self.post(flow, &fields).await;
        assert_eq!(r.status(), 303, "the provider button redirects");
        let to = location(&r);
        assert!(to.starts_with(&self.idp.issuer), "{to}");
        let back = self.ua.sign_in(&to, login).await;
        self.open(&back).await
    }

    async fn whoami(&self) -> Value {
        let r = self
            .ua
            .http
            .get(self.app.public_url("/sessions/whoami"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "signed in");
        r.json().await.unwrap()
    }

    async fn sign_out(&self) {
        let logout: Value = self
            .ua
            .http
            .get(self.app.public_url("/self-service/logout/browser"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let r = self.open(logout["logout_url"].as_str().unwrap()).await;
        assert_eq!(r.status(), 303, "signed out");
    }

    async fn identity(&self, id: &str, include: &str) -> Value {
        self.app
            .http
            .get(self.app.admin_url(&format!(
                "/admin/identities/{id}?include_credential={include}"
            )))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .unwrap_or_else(|| panic!("no location on {}", r.status()))
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_new_subject_signs_up_through_the_login_flow_and_then_signs_in() {
    let w = world().await;
    let flow = w.flow("login").await;
    let button = node(&flow, "provider");
    assert_eq!(button["group"], "oidc");
    assert_eq!(button["attributes"]["value"], "test");
    assert_eq!(button["meta"]["label"]["id"], 1010002);
    assert_eq!(button["meta"]["label"]["text"], "Sign in with Test IdP");

    // Unknown at Gatehouse: the login continues as a registration, and the session hook signs
    // the new identity in.
    let r = w.sign_in_with(&flow, "alice@example.test", &[]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), format!("http://127.0.0.1:{}/welcome", w.ui));
    let me = w.whoami().await;
    let identity = &me["identity"];
    assert_eq!(identity["traits"], json!({"email": "alice@example.test"}));
    assert_eq!(identity["metadata_public"]["provider_name"], "alice Tester");
    assert_eq!(me["authentication_methods"][0]["method"], "oidc");
    let id = identity["id"].as_str().unwrap().to_owned();

    // The credential: identifier provider:subject, tokens stored encrypted and shown decrypted
    // to admins who ask.
    let admin = w.identity(&id, "oidc").await;
    let cred = &admin["credentials"]["oidc"];
    assert_eq!(cred["identifiers"], json!(["test:alice@example.test"]));
    let entry = &cred["config"]["providers"][0];
    assert_eq!(entry["provider"], "test");
    assert_eq!(entry["subject"], "alice@example.test");
    let id_token = entry["initial_id_token"].as_str().unwrap();
    assert_eq!(id_token.split('.').count(), 3, "a JWT: {id_token}");
    assert!(!entry["initial_access_token"].as_str().unwrap().is_empty());
    let stored = w
        .app
        .query_texts(&format!(
            "SELECT config AS v FROM identity_credentials WHERE identity_id = '{id}' AND credential_type = 'oidc'"
        ))
        .await
        .join("");
    assert!(stored.contains("initial_id_token"), "{stored}");
    assert!(
        !stored.contains(id_token),
        "the ID token is stored in clear: {stored}"
    );
    assert!(!stored.contains(entry["initial_access_token"].as_str().unwrap()));

    // Signed out, the same subject signs in to the same identity.
    w.sign_out().await;
    let flow = w.flow("registration").await;
    assert_eq!(node(&flow, "provider")["meta"]["label"]["id"], 1040002);
    // A registration of a known subject continues as a login.
    let r = w.sign_in_with(&flow, "alice@example.test", &[]).await;
    assert_eq!(r.status(), 303, "{:?}", r.headers());
    assert_eq!(w.whoami().await["identity"]["id"], id.as_str());
}

#[tokio::test]
async fn single_page_apps_are_told_to_send_the_browser_to_the_provider() {
    let w = world().await;
    let flow = w.flow("login").await;
    let csrf = node(&flow, "csrf_token")["attributes"]["value"].clone();
    let r =
        w.ua.http
            .post(flow["ui"]["action"].as_str().unwrap())
            .header("Accept", "application/json")
            .json(&json!({"method": "oidc", "provider": "test", "csrf_token": csrf}))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 422);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["id"], "browser_location_change_required");
    let to = body["redirect_browser_to"].as_str().unwrap();
    assert!(to.starts_with(&format!("{}/auth?", w.idp.issuer)), "{to}");
    let q: Vec<(String, String)> = url::Url::parse(to)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    assert_eq!(get("client_id").as_deref(), Some("gatehouse"));
    assert_eq!(get("code_challenge_method").as_deref(), Some("S256"));
    assert!(get("nonce").is_some_and(|n| n.len() >= 32));
    assert!(
        get("redirect_uri")
            .unwrap()
            .ends_with("/self-service/methods/oidc/callback/test")
    );
    // An unknown provider is refused.
    let r =
        w.ua.http
            .post(flow["ui"]["action"].as_str().unwrap())
            .header("Accept", "application/json")
            .json(&json!({"method": "oidc", "provider": "nope", "csrf_token": csrf}))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn traits_the_mapper_leaves_out_are_asked_for_and_then_the_sign_up_completes() {
    let w = world().await;
    let flow = w.flow("registration").await;
    // The provider does not vouch for this email, so the mapper leaves it out.
    let r = w.sign_in_with(&flow, "bob+unverified", &[]).await;
    assert_eq!(r.status(), 303);
    let to = location(&r);
    assert!(
        to.starts_with(&format!("http://127.0.0.1:{}/registration", w.ui)),
        "{to}"
    );
    let flow = w.get("registration", &flow_id_from(&to)).await;
    let email = node(&flow, "traits.email");
    assert_eq!(email["messages"][0]["id"], 4000002, "{flow}");
    // No identity yet.
    let list: Value = w
        .app
        .http
        .get(w.app.admin_url("/admin/identities"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list, json!([]));
    // The user types it in and goes through the provider again.
    let r = w
        .sign_in_with(
            &flow,
            "bob+unverified",
            &[("traits.email", "bob@typed.test")],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), format!("http://127.0.0.1:{}/welcome", w.ui));
    let me = w.whoami().await;
    assert_eq!(me["identity"]["traits"]["email"], "bob@typed.test");
}

#[tokio::test]
async fn an_email_with_a_password_account_is_linked_after_signing_in_to_it() {
    let w = world().await;
    let owner = w
        .app
        .create_identity(json!({
            "traits": {"email": "carol@example.test"},
            "credentials": {"password": {"config": {"password": PASSWORD}}},
        }))
        .await;
    let flow = w.flow("login").await;
    let r = w.sign_in_with(&flow, "carol@example.test", &[]).await;
    assert_eq!(r.status(), 303);
    let to = location(&r);
    assert!(
        to.starts_with(&format!("http://127.0.0.1:{}/login", w.ui)),
        "{to}"
    );
    let link = w.get("login", &flow_id_from(&to)).await;
    assert_eq!(message_ids(&link), vec![1010016], "{link}");
    assert_eq!(
        link["ui"]["messages"][0]["context"]["duplicateIdentifier"],
        "carol@example.test"
    );
    assert_eq!(
        node(&link, "identifier")["attributes"]["value"],
        "carol@example.test"
    );
    // Nothing was linked or created yet.
    let id = owner["id"].as_str().unwrap();
    assert!(
        w.identity(id, "").await["credentials"]
            .get("oidc")
            .is_none()
    );

    // A wrong password links nothing.
    let r = w
        .post(
            &link,
            &[
                ("method", "password"),
                ("identifier", "carol@example.test"),
                ("password", "not the password"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert!(
        w.identity(id, "").await["credentials"]
            .get("oidc")
            .is_none()
    );
    // Signing in to the account links the provider to it.
    let r = w
        .post(
            &link,
            &[
                ("method", "password"),
                ("identifier", "carol@example.test"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(w.whoami().await["identity"]["id"], id);
    let cred = &w.identity(id, "").await["credentials"]["oidc"];
    assert_eq!(cred["identifiers"], json!(["test:carol@example.test"]));
}

#[tokio::test]
async fn settings_link_and_unlink_a_provider_but_never_the_last_sign_in() {
    let w = world().await;
    w.app
        .create_identity(json!({
            "traits": {"email": "dave@example.test"},
            "credentials": {"password": {"config": {"password": PASSWORD}}},
        }))
        .await;
    let login = w.flow("login").await;
    let r = w
        .post(
            &login,
            &[
                ("method", "password"),
                ("identifier", "dave@example.test"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let settings = w.flow("settings").await;
    let link = node(&settings, "link");
    assert_eq!(link["attributes"]["value"], "test");
    assert_eq!(link["meta"]["label"]["id"], 1050002);

    let r = w.post(&settings, &[("link", "test")]).await;
    assert_eq!(r.status(), 303);
    let back = w.ua.sign_in(&location(&r), "dave-at-idp").await;
    let r = w.open(&back).await;
    assert_eq!(r.status(), 303, "{:?}", r.headers());
    let id = w.whoami().await["identity"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let creds = &w.identity(&id, "").await["credentials"];
    assert_eq!(creds["oidc"]["identifiers"], json!(["test:dave-at-idp"]));

    // Now the provider can be unlinked (the password remains).
    let settings = w.flow("settings").await;
    assert_eq!(node(&settings, "unlink")["meta"]["label"]["id"], 1050003);
    let r = w.post(&settings, &[("unlink", "test")]).await;
    assert_eq!(r.status(), 303);
    assert!(
        w.identity(&id, "").await["credentials"]
            .get("oidc")
            .is_none()
    );

    // An identity signed up with the provider alone cannot unlink it.
    let other = World {
        ua: UserAgent::new(),
        ..w
    };
    let flow = other.flow("registration").await;
    other.sign_in_with(&flow, "erin@example.test", &[]).await;
    let settings = other.flow("settings").await;
    assert!(
        settings["ui"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["attributes"]["name"] != "unlink"),
        "{settings}"
    );
    let r = other.post(&settings, &[("unlink", "test")]).await;
    assert_eq!(r.status(), 303);
    let id = other.whoami().await["identity"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        other.identity(&id, "").await["credentials"]
            .get("oidc")
            .is_some()
    );
}

#[tokio::test]
async fn tampered_state_and_replayed_callbacks_are_refused() {
    let w = world().await;
    let flow = w.flow("login").await;
    let r = w.post(&flow, &[("provider", "test")]).await;
    let back = w.ua.sign_in(&location(&r), "frank@example.test").await;

    // A state that is not ours: the error UI, nothing signed in.
    let mut tampered = url::Url::parse(&back).unwrap();
    let pairs: Vec<(String, String)> = tampered.query_pairs().into_owned().collect();
    tampered.query_pairs_mut().clear();
    for (k, v) in &pairs {
        let v = if k == "state" {
            format!("{v}00")
        } else {
            v.clone()
        };
        tampered.query_pairs_mut().append_pair(k, &v);
    }
    let r = w.open(tampered.as_str()).await;
    assert_eq!(r.status(), 303);
    assert!(location(&r).starts_with(&format!("http://127.0.0.1:{}/error", w.ui)));

    // The real callback signs in once; replayed (signed out meanwhile), it does not again.
    let r = w.open(&back).await;
    assert_eq!(location(&r), format!("http://127.0.0.1:{}/welcome", w.ui));
    w.sign_out().await;
    let r = w.open(&back).await;
    assert_eq!(r.status(), 303);
    assert!(
        location(&r).starts_with(&format!("http://127.0.0.1:{}/error", w.ui)),
        "{}",
        location(&r)
    );
    let r =
        w.ua.http
            .get(w.app.public_url("/sessions/whoami"))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 401);

    // A callback in another browser (no CSRF cookie of the flow) is refused.
    let flow = UserAgentFlow::start(&w).await;
    let stranger = UserAgent::new();
    let r = stranger.http.get(&flow.callback).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let to = location(&r);
    assert!(
        to.starts_with(&format!("http://127.0.0.1:{}/error", w.ui)),
        "{to}"
    );
    let id = to.split("id=").nth(1).unwrap();
    let error: Value = w
        .app
        .http
        .get(w.app.public_url(&format!("/self-service/errors?id={id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(error["error"]["id"], "security_csrf_violation", "{error}");
}

/// A login flow whose provider round trip is done but whose callback is not opened yet.
struct UserAgentFlow {
    callback: String,
}

impl UserAgentFlow {
    async fn start(w: &World) -> UserAgentFlow {
        let ua = UserAgent::new();
        let r = ua
            .http
            .get(w.app.public_url("/self-service/login/browser"))
            .header("Accept", "application/json")
            .send()
            .await
            .unwrap();
        let flow: Value = r.json().await.unwrap();
        let csrf = node(&flow, "csrf_token")["attributes"]["value"]
            .as_str()
            .unwrap()
            .to_owned();
        let r = ua
            .http
            .post(flow["ui"]["action"].as_str().unwrap())
            .form(&[("csrf_token", csrf.as_str()), ("provider", "test")])
            .send()
            .await
            .unwrap();
        let callback = ua.sign_in(&location(&r), "grace@example.test").await;
        UserAgentFlow { callback }
    }
}

#[tokio::test]
async fn a_provider_that_goes_down_leaves_the_flow_usable() {
    let mut w = world().await;
    let flow = w.flow("login").await;
    let r = w.post(&flow, &[("provider", "test")]).await;
    let back = w.ua.sign_in(&location(&r), "heidi@example.test").await;
    // The token endpoint is gone when the callback arrives.
    let issuer = w.idp.issuer.clone();
    w.idp = OidcProvider::start(vec![]).await;
    drop(issuer);
    let r = w.open(&back).await;
    assert_eq!(r.status(), 303);
    let to = location(&r);
    assert!(
        to.starts_with(&format!("http://127.0.0.1:{}/login", w.ui)),
        "{to}"
    );
    let again = w.get("login", &flow_id_from(&to)).await;
    assert_eq!(again["state"], "choose_method");
    assert_eq!(message_ids(&again), vec![4000001], "{again}");
    // The flow still takes a submission.
    let r = w.post(&again, &[("provider", "test")]).await;
    assert_eq!(r.status(), 303);
}

#[tokio::test]
async fn native_apps_sign_in_with_an_id_token_and_its_nonce() {
    let w = world().await;
    let flow: Value = w
        .app
        .http
        .get(w.app.public_url("/self-service/login/api"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let action = flow["ui"]["action"].as_str().unwrap().to_owned();
    let post = |body: Value| {
        let http = w.app.http.clone();
        let action = action.clone();
        async move {
            let r = http.post(&action).json(&body).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let token = w
        .idp
        .mint_id_token(json!({"sub": "ivan", "email": "ivan@example.test", "email_verified": true, "nonce": "n-1"}))
        .await;
    // The wrong nonce, an expired token and one signed with a key the provider does not
    // publish are refused.
    let (s, v) = post(
        json!({"method": "oidc", "provider": "test", "id_token": token, "id_token_nonce": "n-2"}),
    )
    .await;
    assert_eq!(s, 400, "{v}");
    let expired = w
        .idp
        .mint_id_token(json!({"sub": "ivan", "nonce": "n-1", "exp": 1_000_000}))
        .await;
    let (s, _) = post(
        json!({"method": "oidc", "provider": "test", "id_token": expired, "id_token_nonce": "n-1"}),
    )
    .await;
    assert_eq!(s, 400);
    let foreign = w
        .idp
        .mint_foreign_id_token(json!({"sub": "ivan", "nonce": "n-1"}))
        .await;
    let (s, _) = post(
        json!({"method": "oidc", "provider": "test", "id_token": foreign, "id_token_nonce": "n-1"}),
    )
    .await;
    assert_eq!(s, 400);
    // The right one signs up (the login continues as a registration) with a session token.
    let (s, v) = post(
        json!({"method": "oidc", "provider": "test", "id_token": token, "id_token_nonce": "n-1"}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert!(
        v["session_token"].as_str().is_some_and(|t| !t.is_empty()),
        "{v}"
    );
    assert_eq!(v["identity"]["traits"]["email"], "ivan@example.test");
    // Without an id_token a native flow cannot follow the browser redirect.
    let flow: Value = w
        .app
        .http
        .get(w.app.public_url("/self-service/login/api"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let r = w
        .app
        .http
        .post(flow["ui"]["action"].as_str().unwrap())
        .json(&json!({"method": "oidc", "provider": "test"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn a_github_style_provider_without_id_tokens_signs_up_by_its_user_api() {
    let stand_in = StandIn::start("gh-client", "gh-secret").await;
    let ui = ui_server().await;
    let providers = format!(
        "          - id: github
            provider: github
            client_id: gh-client
            client_secret: gh-secret
            issuer_url: {base}
            auth_url: {base}/login/oauth/authorize
            token_url: {base}/login/oauth/access_token
            mapper_url: {}
            scope: [user:email]
",
        b64(MAPPER),
        base = stand_in.base_url()
    );
    let app = TestApp::start_with(Setup {
        yaml: yaml(ui, &providers),
        ..Default::default()
    })
    .await;
    let ua = UserAgent::new();
    let flow: Value = ua
        .http
        .get(app.public_url("/self-service/login/browser"))
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let csrf = node(&flow, "csrf_token")["attributes"]["value"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = ua
        .http
        .post(flow["ui"]["action"].as_str().unwrap())
        .form(&[("csrf_token", csrf.as_str()), ("provider", "github")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let back = ua.sign_in(&location(&r), "octocat").await;
    let r = ua.http.get(&back).send().await.unwrap();
    assert_eq!(r.status(), 303, "{:?}", r.headers());
    assert_eq!(location(&r), format!("http://127.0.0.1:{ui}/welcome"));
    let me: Value = ua
        .http
        .get(app.public_url("/sessions/whoami"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["identity"]["traits"]["email"], "octocat@example.test");
}

#[tokio::test]
async fn a_form_post_callback_goes_on_as_a_get_with_the_same_parameters() {
    let w = world().await;
    let flow = w.flow("login").await;
    let r = w.post(&flow, &[("provider", "test")]).await;
    let back = url::Url::parse(&w.ua.sign_in(&location(&r), "judy@example.test").await).unwrap();
    // As Apple's response_mode=form_post would send it.
    let fields: Vec<(String, String)> = back.query_pairs().into_owned().collect();
    let r =
        w.ua.http
            .post(format!("{}{}", w.app.public, back.path()))
            .form(&fields)
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 303);
    let get = url::Url::parse(&location(&r)).unwrap();
    assert_eq!(get.path(), back.path());
    let mut sent: Vec<(String, String)> = get.query_pairs().into_owned().collect();
    let mut want = fields.clone();
    sent.sort();
    want.sort();
    assert_eq!(sent, want);
    let r = w.open(get.as_str()).await;
    assert_eq!(location(&r), format!("http://127.0.0.1:{}/welcome", w.ui));
}

#[tokio::test]
async fn update_identity_on_login_takes_what_the_provider_says_now() {
    let w = world_with(MAPPER, "            update_identity_on_login: automatic\n").await;
    let flow = w.flow("registration").await;
    w.sign_in_with(&flow, "kim@example.test", &[]).await;
    let me = w.whoami().await;
    assert_eq!(
        me["identity"]["metadata_public"]["provider_name"],
        "kim Tester"
    );
    w.idp
        .set_claims("kim@example.test", json!({"name": "Kim Renamed"}))
        .await;
    w.sign_out().await;
    let flow = w.flow("login").await;
    let r = w.sign_in_with(&flow, "kim@example.test", &[]).await;
    assert_eq!(r.status(), 303);
    let again = w.whoami().await;
    assert_eq!(again["identity"]["id"], me["identity"]["id"]);
    assert_eq!(
        again["identity"]["metadata_public"]["provider_name"],
        "Kim Renamed"
    );
}

#[tokio::test]
async fn native_sign_in_through_the_official_sdk() {
    use ory_kratos_client::apis::frontend_api as f;
    use ory_kratos_client::models::{UpdateLoginFlowBody, UpdateLoginFlowWithOidcMethod};
    let w = world().await;
    let mut cfg = ory_kratos_client::apis::configuration::Configuration::new();
    cfg.base_path = w.app.public.clone();
    let token = w
        .idp
        .mint_id_token(json!({"sub": "sdk-user", "email": "sdk@example.test", "email_verified": true, "nonce": "sdk-nonce"}))
        .await;
    let mut ids = Vec::new();
    // The first sign-in signs up (handed over to a registration), the second signs in.
    for _ in 0..2 {
        // The SDK cannot decode flows with form nodes (ory/kratos-client-rust#3, against Kratos
        // too): the flow is read with plain HTTP, the sign-in goes through the SDK.
        let flow: Value = w
            .app
            .http
            .get(w.app.public_url("/self-service/login/api"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(node(&flow, "provider")["attributes"]["value"], "test");
        let flow_id = flow["id"].as_str().unwrap().to_owned();
        let mut body = UpdateLoginFlowWithOidcMethod::new("oidc".into(), "test".into());
        body.id_token = Some(token.clone());
        body.id_token_nonce = Some("sdk-nonce".into());
        let done = f::update_login_flow(
            &cfg,
            &flow_id,
            UpdateLoginFlowBody::Oidc(Box::new(body)),
            None,
            None,
        )
        .await
        .expect("the SDK decodes the native sign-in");
        assert!(done.session_token.is_some_and(|t| !t.is_empty()));
        ids.push(done.session.identity.expect("identity").id);
    }
    assert_eq!(ids[0], ids[1]);
}
