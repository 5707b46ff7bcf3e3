//! A real OpenID Connect provider for the tests: panva's `oidc-provider` (npm, pinned in
//! `tests/oidc/package-lock.json`) run by `tests/oidc/provider.mjs` on 127.0.0.1, with its
//! development login and consent forms: anyone signs in by login name, and the login name is
//! the `sub`. See the script's header for the claims and its test-only endpoints.
//!
//! The npm package comes from `GATEHOUSE_OIDC_NODE_MODULES` (a `node_modules` folder;
//! `scripts/test` installs one) or, when the tests are run by hand, is installed once into
//! `target/oidc-provider` with `npm ci`.
//!
//! [`UserAgent`] is the browser: a cookie jar, no automatic redirects, and a `sign_in` that
//! walks through the provider's forms up to the redirect back to the relying party.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;

use serde_json::{Value, json};

const SCRIPT_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/oidc");

/// A provider; killed when dropped (and it exits by itself once its stdin closes, so it dies
/// with the test process too).
pub struct OidcProvider {
    pub issuer: String,
    /// What it was started with, plus the port and signing key it chose: a restart comes back
    /// at the same issuer with the same key.
    config: Value,
    running: Option<(Child, ChildStdin)>,
    log: tempfile::NamedTempFile,
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Client metadata for [`OidcProvider::start`]: a confidential client (`client_secret_basic`)
/// allowed to redirect to `redirect_uri`. A loopback redirect URI matches on any port, so it
/// can be registered before the relying party picked its port. Add or change any other
/// oidc-provider client metadata on the returned value (`token_endpoint_auth_method`,
/// `response_types`, …).
pub fn client(client_id: &str, client_secret: &str, redirect_uri: &str) -> Value {
    json!({
        "client_id": client_id,
        "client_secret": client_secret,
        "redirect_uris": [redirect_uri],
        "token_endpoint_auth_method": "client_secret_basic",
    })
}

impl OidcProvider {
    /// Starts a provider with these clients (oidc-provider client metadata, see [`client`]).
    pub async fn start(clients: Vec<Value>) -> OidcProvider {
        Self::start_with(json!({ "clients": clients })).await
    }

    /// Starts a provider with the script's whole configuration
    /// (`{"clients": […], "pkce_required": bool, "claims": {scope: [claim]}}`).
    pub async fn start_with(config: Value) -> OidcProvider {
        let mut p = OidcProvider {
            issuer: String::new(),
            config,
            running: None,
            log: tempfile::NamedTempFile::new().expect("provider log file"),
        };
        p.restart().await;
        p
    }

    /// Takes the provider down: its port refuses connections until [`Self::restart`].
    pub fn stop(&mut self) {
        if let Some((mut child, _stdin)) = self.running.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// (Re)starts it: after the first start at the same issuer with the same signing key, but
    /// without the last run's sessions, codes, tokens, rotated keys and claim overrides.
    pub async fn restart(&mut self) {
        self.stop();
        let config = self.config.clone();
        let log = std::fs::OpenOptions::new()
            .append(true)
            .open(self.log.path())
            .expect("provider log file");
        let (child, stdin, started) = tokio::task::spawn_blocking(move || spawn(&config, log))
            .await
            .expect("start the OpenID Connect provider");
        self.running = Some((child, stdin));
        let Some(issuer) = started["issuer"].as_str() else {
            self.stop();
            panic!(
                "the OpenID Connect provider did not start: {started}\n{}",
                self.log()
            );
        };
        self.issuer = issuer.to_owned();
        self.config["port"] = started["port"].clone();
        self.config["signing_key"] = started["signing_key"].clone();
    }

    /// `issuer` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    /// What the provider wrote to stderr so far (warnings, errors).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    /// An ID token signed with the provider's current signing key. `claims` are merged over
    /// `iss` (the issuer), `aud` (the first client), `iat` (now) and `exp` (in ten minutes);
    /// `sub` is up to the caller.
    pub async fn mint_id_token(&self, claims: Value) -> String {
        self.mint(claims, "").await
    }

    /// As [`Self::mint_id_token`], signed with a key the provider never published.
    pub async fn mint_foreign_id_token(&self, claims: Value) -> String {
        self.mint(claims, "?key=foreign").await
    }

    async fn mint(&self, claims: Value, query: &str) -> String {
        let v = self
            .test_call("POST", &format!("/test/id-token{query}"), claims)
            .await;
        v["id_token"].as_str().expect("id_token").to_owned()
    }

    /// A new signing key for minted ID tokens, published in the JWKS next to the old ones.
    /// Returns its `kid`.
    pub async fn rotate_key(&self) -> String {
        let v = self.test_call("POST", "/test/rotate-key", json!({})).await;
        v["kid"].as_str().expect("kid").to_owned()
    }

    /// Claims for `login` merged over its defaults from now on; `null` removes one. Returns the
    /// account's claims.
    pub async fn set_claims(&self, login: &str, claims: Value) -> Value {
        let path = format!(
            "/test/accounts/{}",
            percent_encoding::utf8_percent_encode(login, percent_encoding::NON_ALPHANUMERIC)
        );
        self.test_call("PUT", &path, claims).await
    }

    async fn test_call(&self, method: &str, path: &str, body: Value) -> Value {
        let r = reqwest::Client::new()
            .request(method.parse().unwrap(), self.url(path))
            .json(&body)
            .send()
            .await
            .expect("provider test endpoint");
        assert!(r.status().is_success(), "{method} {path}: {}", r.status());
        r.json().await.expect("provider test endpoint JSON")
    }
}

/// Spawns the provider script and waits for its first line: the child, its stdin (the child
/// exits once that closes) and what it printed (`null` if it died first).
fn spawn(config: &Value, log: std::fs::File) -> (Child, ChildStdin, Value) {
    let modules = node_modules();
    let mut child = Command::new("node")
        .arg(Path::new(SCRIPT_DIR).join("provider.mjs"))
        .arg(config.to_string())
        .env("GATEHOUSE_OIDC_NODE_MODULES", &modules)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("node does not start (is Node.js 20+ installed?): {e}"));
    let stdin = child.stdin.take().expect("provider stdin");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("provider stdout"))
        .read_line(&mut line)
        .expect("read the provider's first line");
    (
        child,
        stdin,
        serde_json::from_str(&line).unwrap_or(Value::Null),
    )
}

/// The `node_modules` folder holding `oidc-provider`: `GATEHOUSE_OIDC_NODE_MODULES`, else one
/// installed into `target/oidc-provider` (once per process; a lock file keeps concurrent test
/// processes from installing over each other).
pub fn node_modules() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| match std::env::var_os("GATEHOUSE_OIDC_NODE_MODULES") {
        Some(dir) => PathBuf::from(dir),
        None => super::npm_install(
            Path::new(SCRIPT_DIR),
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("target/oidc-provider"),
        ),
    })
    .clone()
}

/// Where a sign-in at the provider ends: the way back to the relying party, not yet taken.
#[derive(Clone, Debug, PartialEq)]
pub enum Callback {
    /// A redirect (`response_mode=query`): the callback URL with `code`, `state`, `iss`.
    Redirect(String),
    /// An auto-submitting form (`response_mode=form_post`): where it posts, and its fields.
    FormPost {
        action: String,
        fields: Vec<(String, String)>,
    },
}

/// A browser: its own cookie jar, redirects not followed. `http` may be used for the relying
/// party too, so both share the jar as they would in a browser.
pub struct UserAgent {
    pub http: reqwest::Client,
}

impl Default for UserAgent {
    fn default() -> Self {
        Self::new()
    }
}

impl UserAgent {
    pub fn new() -> UserAgent {
        UserAgent {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        }
    }

    /// Opens `auth_url` and signs in as `login` (login form, then consent), following redirects
    /// that stay at the provider. Returns the callback URL the provider redirects to (not
    /// fetched). Panics if the provider answers with a form post instead.
    pub async fn sign_in(&self, auth_url: &str, login: &str) -> String {
        match self.authorize(auth_url, login).await {
            Callback::Redirect(url) => url,
            other => panic!("expected a redirect back, got {other:?}"),
        }
    }

    /// As [`Self::sign_in`] for `response_mode=form_post`: the form the browser would post.
    pub async fn sign_in_form_post(
        &self,
        auth_url: &str,
        login: &str,
    ) -> (String, Vec<(String, String)>) {
        match self.authorize(auth_url, login).await {
            Callback::FormPost { action, fields } => (action, fields),
            other => panic!("expected a form post back, got {other:?}"),
        }
    }

    /// Either way back ([`Callback`]). A provider error page (bad client, bad redirect URI)
    /// panics with the page.
    pub async fn authorize(&self, auth_url: &str, login: &str) -> Callback {
        let provider = url::Url::parse(auth_url).expect("authorization URL");
        let mut url = provider.clone();
        let mut form: Option<Vec<(String, String)>> = None;
        for _ in 0..20 {
            let req = match form.take() {
                Some(fields) => self.http.post(url.clone()).form(&fields),
                None => self.http.get(url.clone()),
            };
            let r = req.send().await.expect("request to the provider");
            let status = r.status();
            if status.is_redirection() {
                let location = r.headers()["location"].to_str().expect("Location");
                let next = url.join(location).expect("redirect URL");
                if next.origin() != provider.origin() {
                    return Callback::Redirect(next.to_string());
                }
                url = next;
                continue;
            }
            let page = r.text().await.unwrap_or_default();
            let Some((action, mut fields)) = parse_form(&page) else {
                panic!("the provider answered {status} at {url} without a form:\n{page}");
            };
            let action = url.join(&action).expect("form action");
            if action.origin() != provider.origin() {
                return Callback::FormPost {
                    action: action.to_string(),
                    fields,
                };
            }
            // The dev login form asks for a login and any password; consent has only `prompt`.
            for (name, value) in fields.iter_mut() {
                match name.as_str() {
                    "login" => *value = login.to_owned(),
                    "password" => *value = "any password".to_owned(),
                    _ => {}
                }
            }
            url = action;
            form = Some(fields);
        }
        panic!("no way back from the provider after 20 steps (last {url})");
    }
}

/// The first `<form>` of `page`: its action and the names and values of its inputs.
fn parse_form(page: &str) -> Option<(String, Vec<(String, String)>)> {
    let start = page.find("<form")?;
    let end = page[start..]
        .find("</form>")
        .map_or(page.len(), |e| start + e);
    let form = &page[start..end];
    let action = attr(&form[..form.find('>')?], "action").unwrap_or_default();
    let mut fields = Vec::new();
    let mut rest = form;
    while let Some(i) = rest.find("<input") {
        rest = &rest[i..];
        let tag_end = rest.find('>').unwrap_or(rest.len());
        let tag = &rest[..tag_end];
        if let Some(name) = attr(tag, "name") {
            fields.push((name, attr(tag, "value").unwrap_or_default()));
        }
        rest = &rest[tag_end..];
    }
    Some((action, fields))
}

/// The value of `name="…"` (or `'…'`) in a tag, HTML entities decoded.
fn attr(tag: &str, name: &str) -> Option<String> {
    let mut from = 0;
    while let Some(i) = tag[from..].find(name) {
        let at = from + i;
        from = at + name.len();
        let before_ok = at == 0 || tag.as_bytes()[at - 1].is_ascii_whitespace();
        let rest = &tag[from..];
        if !before_ok || !rest.starts_with('=') {
            continue;
        }
        let quote = rest[1..].chars().next()?;
        let value = &rest[2..];
        let close = value.find(quote)?;
        return Some(unescape(&value[..close]));
    }
    None
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The payload of a JWT, decoded but NOT verified (for looking at claims in tests).
pub fn jwt_claims(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("a JWT has three parts");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .expect("JWT payload is base64url");
    serde_json::from_slice(&bytes).expect("JWT payload is JSON")
}

/// A query parameter of `url`.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}
