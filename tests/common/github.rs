//! Stand-ins for the OAuth2-only providers (no ID tokens, a user API instead) on 127.0.0.1:
//! one small hyper server answering GitHub's, Discord's and Facebook's routes as those
//! services do, for the one person the test chose.
//!
//! - GitHub: `GET /login/oauth/authorize` redirects straight back to `redirect_uri` with `code`
//!   and `state`; `POST /login/oauth/access_token` answers JSON with `Accept: application/json`
//!   (else a form), and like GitHub answers bad client credentials or a bad code with 200 and an
//!   `error` field; the granted scopes come back comma-separated. `GET /user` and
//!   `GET /user/emails` need the access token (`Bearer` or `token`) and name its scopes in
//!   `X-OAuth-Scopes`. The API also answers under
//!   `/api/v3` (GitHub Enterprise Server).
//! - Discord: `/api/oauth2/authorize`, `/api/oauth2/token` (RFC 6749 errors, space-separated
//!   scopes), `GET /api/users/@me`.
//! - Facebook: `/dialog/oauth`, `/oauth/access_token`, `GET /me`, which checks
//!   `appsecret_proof` (HMAC-SHA256 of the access token under the client secret, hex).
//!
//! `/user` and `/api/users/@me` and `/me` serve [`StandIn::set_user`]'s JSON as it is; GitHub's
//! emails list is [`StandIn::set_emails`]'s.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

/// One request the stand-in got.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    /// Path and query.
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

struct State {
    client_id: String,
    client_secret: String,
    user: Value,
    emails: Value,
    /// Issued codes → the scope they were asked with.
    codes: HashMap<String, String>,
    /// Issued access tokens → the scope granted.
    tokens: HashMap<String, String>,
    /// Replaces the scope the token endpoint reports as granted.
    granted: Option<String>,
    seen: Vec<Seen>,
}

pub struct StandIn {
    pub port: u16,
    state: Arc<Mutex<State>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for StandIn {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

impl StandIn {
    /// Accepts the client `client_id` / `client_secret`; signs in GitHub user 4242 `octocat`
    /// with one primary verified email until told otherwise.
    pub async fn start(client_id: &str, client_secret: &str) -> StandIn {
        let mut s = StandIn {
            port: 0,
            state: Arc::new(Mutex::new(State {
                client_id: client_id.to_owned(),
                client_secret: client_secret.to_owned(),
                user: json!({
                    "id": 4242,
                    "login": "octocat",
                    "name": "The Octocat",
                    "avatar_url": "https://avatars.example.test/u/4242",
                    "html_url": "https://github.example.test/octocat",
                    "blog": "https://octocat.example.test",
                    "email": null,
                }),
                emails: json!([
                    {"email": "octocat@example.test", "primary": true, "verified": true,
                     "visibility": "private"},
                ]),
                codes: HashMap::new(),
                tokens: HashMap::new(),
                granted: None,
                seen: Vec::new(),
            })),
            task: None,
        };
        s.up().await;
        s
    }

    /// `http://127.0.0.1:<port>`: the base of every route (authorize, token and API).
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The user the API serves from now on.
    pub fn set_user(&self, user: Value) {
        self.state.lock().unwrap().user = user;
    }

    /// GitHub's `/user/emails` list from now on.
    pub fn set_emails(&self, emails: Value) {
        self.state.lock().unwrap().emails = emails;
    }

    /// The scope the token endpoint reports as granted, instead of the one asked for.
    pub fn set_granted_scope(&self, scope: &str) {
        self.state.lock().unwrap().granted = Some(scope.to_owned());
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    /// Closes the port: callers get "connection refused".
    pub async fn down(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
            let _ = t.await;
        }
    }

    /// Listens again (on the same port once it had one).
    pub async fn up(&mut self) {
        let l = tokio::net::TcpListener::bind(("127.0.0.1", self.port))
            .await
            .expect("bind the stand-in");
        self.port = l.local_addr().unwrap().port();
        let state = self.state.clone();
        self.task = Some(tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            loop {
                let Ok((stream, _)) = l.accept().await else {
                    return;
                };
                let state = state.clone();
                // Connections end with the listener task, so "down" really is down.
                conns.spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        let state = state.clone();
                        async move { Ok::<_, Infallible>(answer(&state, req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        }));
    }
}

fn respond(status: u16, content_type: &str, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

fn json_response(status: u16, body: Value) -> Response<Full<Bytes>> {
    respond(status, "application/json", body.to_string())
}

fn random(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::new_v4().simple())
}

async fn answer(
    state: &Mutex<State>,
    req: Request<hyper::body::Incoming>,
) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let seen = Seen {
        method: parts.method.to_string(),
        path: parts
            .uri
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default(),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
            .collect(),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    let query: HashMap<String, String> =
        form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let form: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let mut s = state.lock().unwrap();
    s.seen.push(seen.clone());
    let path = parts.uri.path();
    let path = path.strip_prefix("/api/v3").unwrap_or(path);
    match (parts.method.as_str(), path) {
        ("GET", "/login/oauth/authorize" | "/api/oauth2/authorize" | "/dialog/oauth") => {
            if query.get("client_id") != Some(&s.client_id) {
                return respond(404, "text/plain", "unknown client".into());
            }
            let code = random("code-");
            s.codes.insert(
                code.clone(),
                query.get("scope").cloned().unwrap_or_default(),
            );
            let mut back =
                url::Url::parse(query.get("redirect_uri").map_or("", |v| v)).expect("redirect_uri");
            back.query_pairs_mut()
                .append_pair("code", &code)
                .append_pair("state", query.get("state").map_or("", |v| v));
            Response::builder()
                .status(302)
                .header("location", back.as_str())
                .body(Full::new(Bytes::new()))
                .unwrap()
        }
        ("POST", "/login/oauth/access_token" | "/api/oauth2/token" | "/oauth/access_token") => {
            let github = path == "/login/oauth/access_token";
            let (id, secret) = client_credentials(&seen, &form);
            let error = if id != s.client_id || secret != s.client_secret {
                Some(("incorrect_client_credentials", "invalid_client", 401))
            } else if !form.get("code").is_some_and(|c| s.codes.contains_key(c)) {
                Some(("bad_verification_code", "invalid_grant", 400))
            } else {
                None
            };
            if let Some((gh, oauth, status)) = error {
                // GitHub says so with 200 and an `error` field; the others with a 4xx.
                let (status, error) = if github { (200, gh) } else { (status, oauth) };
                return json_response(status, json!({"error": error, "error_description": error}));
            }
            let asked = s.codes.remove(&form["code"]).unwrap_or_default();
            let granted = s.granted.clone().unwrap_or_else(|| {
                let scopes = asked.split([' ', ',']).filter(|x| !x.is_empty());
                scopes
                    .collect::<Vec<_>>()
                    .join(if github { "," } else { " " })
            });
            let token = random("token-");
            s.tokens.insert(token.clone(), granted.clone());
            let answer = json!({"access_token": token, "token_type": "bearer", "scope": granted});
            let wants_json = seen
                .header("accept")
                .is_some_and(|a| a.contains("application/json"));
            if github && !wants_json {
                let form = form_urlencoded::Serializer::new(String::new())
                    .append_pair("access_token", &token)
                    .append_pair("token_type", "bearer")
                    .append_pair("scope", &granted)
                    .finish();
                return respond(200, "application/x-www-form-urlencoded", form);
            }
            json_response(200, answer)
        }
        ("GET", "/user" | "/user/emails" | "/api/users/@me" | "/me") => {
            let token = seen
                .header("authorization")
                .and_then(|h| {
                    h.strip_prefix("Bearer ")
                        .or_else(|| h.strip_prefix("token "))
                })
                .unwrap_or_default();
            let Some(granted) = s.tokens.get(token).cloned() else {
                return json_response(401, json!({"message": "Bad credentials"}));
            };
            if path == "/me"
                && query.get("appsecret_proof") != Some(&appsecret_proof(&s.client_secret, token))
            {
                return json_response(
                    400,
                    json!({"error": {"message": "Invalid appsecret_proof provided in the API argument", "type": "GraphMethodException", "code": 100}}),
                );
            }
            let mut r = match path {
                "/user/emails" => json_response(200, s.emails.clone()),
                _ => json_response(200, s.user.clone()),
            };
            // GitHub names the token's scopes on every API answer.
            if path.starts_with("/user") {
                let scopes = granted.replace(',', ", ");
                r.headers_mut()
                    .insert("x-oauth-scopes", scopes.parse().unwrap());
            }
            r
        }
        _ => json_response(404, json!({"message": "Not Found"})),
    }
}

/// Client id and secret from HTTP Basic or the form.
fn client_credentials(seen: &Seen, form: &HashMap<String, String>) -> (String, String) {
    use base64::Engine;
    if let Some(basic) = seen
        .header("authorization")
        .and_then(|h| h.strip_prefix("Basic "))
    {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(basic)
            .unwrap_or_default();
        let decoded = String::from_utf8_lossy(&decoded).into_owned();
        let (id, secret) = decoded.split_once(':').unwrap_or((&decoded, ""));
        let unescape = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        return (unescape(id), unescape(secret));
    }
    let get = |k: &str| form.get(k).cloned().unwrap_or_default();
    (get("client_id"), get("client_secret"))
}

/// Facebook's `appsecret_proof`: HMAC-SHA256 of the access token under the app secret, hex.
pub fn appsecret_proof(secret: &str, token: &str) -> String {
    use hmac::{KeyInit, Mac};
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(token.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
