//! What the OAuth2-only presets (GitHub, Discord, Facebook) share: the authorization URL, the
//! code exchange and bounded API calls. These providers issue no ID tokens; the claims come from
//! their user APIs. Every request has a 10 s timeout and a 1 MiB bound on the answer, and no
//! token or secret reaches an error message (reqwest's errors lose their URL, whose query may
//! hold a proof derived from the token).

use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, USER_AGENT};
use serde_json::Value;

use async_trait::async_trait;

use super::{AuthRequest, Claims, Provider, ProviderError, Tokens};
use crate::config::{OidcProvider, Pkce};
use crate::outbound::Outbound;

use super::http::{MAX_BODY, TIMEOUT};

/// What an OAuth2-only preset is made of: its configuration, the shared client, its endpoints
/// and scopes.
pub(super) struct Base {
    pub cfg: OidcProvider,
    pub http: Outbound,
    pub endpoints: Endpoints,
    pub scopes: Vec<String>,
}

impl Base {
    /// `[auth, token, api]` are the preset's endpoints, which the configuration may override.
    pub fn new(
        cfg: OidcProvider,
        http: Outbound,
        [auth, token, api]: [&str; 3],
        default_scopes: &[&str],
    ) -> Result<Base, ProviderError> {
        Ok(Base {
            endpoints: Endpoints::new(&cfg, auth, token, api)?,
            scopes: scopes(&cfg, default_scopes),
            cfg,
            http,
        })
    }
}

/// An OAuth2-only preset: the shared protocol (every such preset is a [`Provider`] through it)
/// plus how it reads the person from its API.
#[async_trait]
pub(super) trait UserApi: Send + Sync {
    fn base(&self) -> &Base;
    /// Parameters the preset adds to the authorization URL (upstream parameters win).
    fn auth_params(&self) -> &'static [(&'static str, &'static str)] {
        &[]
    }
    /// Why a native sign-in (an ID token) cannot work with it.
    fn no_id_tokens(&self) -> &'static str;
    /// The person the access token belongs to.
    async fn user(&self, tokens: &Tokens) -> Result<Claims, ProviderError>;
}

#[async_trait]
impl<T: UserApi> Provider for T {
    fn config(&self) -> &OidcProvider {
        &self.base().cfg
    }

    async fn uses_pkce(&self) -> Result<bool, ProviderError> {
        Ok(uses_pkce(&self.base().cfg))
    }

    fn issues_id_tokens(&self) -> bool {
        false
    }

    async fn auth_url(&self, req: &AuthRequest) -> Result<String, ProviderError> {
        let b = self.base();
        auth_url(
            &b.cfg,
            &b.endpoints.auth,
            &b.scopes,
            req,
            self.auth_params(),
        )
    }

    async fn exchange(
        &self,
        code: &str,
        pkce_verifier: Option<&str>,
        redirect_uri: &str,
    ) -> Result<Tokens, ProviderError> {
        let b = self.base();
        exchange(
            &b.http,
            &b.cfg,
            &b.endpoints.token,
            code,
            pkce_verifier,
            redirect_uri,
        )
        .await
    }

    async fn claims(&self, tokens: &Tokens, _nonce: Option<&str>) -> Result<Claims, ProviderError> {
        self.user(tokens).await
    }

    async fn verify_id_token(&self, _raw: &str, _nonce: &str) -> Result<Claims, ProviderError> {
        Err(ProviderError::Unsupported(self.no_id_tokens().into()))
    }
}

/// A preset's endpoints once the configuration's overrides are applied: `auth_url` and
/// `token_url` replace the preset's, `issuer_url` the API base (GitHub Enterprise Server, a
/// test's stand-in).
#[derive(Clone, Debug)]
pub(super) struct Endpoints {
    pub auth: String,
    pub token: String,
    pub api: String,
}

impl Endpoints {
    pub fn new(
        cfg: &OidcProvider,
        auth: &str,
        token: &str,
        api: &str,
    ) -> Result<Self, ProviderError> {
        let pick = |over: &Option<String>, preset: &str, what: &str| {
            let v = over.as_deref().filter(|s| !s.is_empty()).unwrap_or(preset);
            url::Url::parse(v)
                .map_err(|e| ProviderError::Config(format!("{}: {what} {v:?}: {e}", cfg.id)))?;
            Ok::<_, ProviderError>(v.trim_end_matches('/').to_owned())
        };
        Ok(Endpoints {
            auth: pick(&cfg.auth_url, auth, "auth_url")?,
            token: pick(&cfg.token_url, token, "token_url")?,
            api: pick(&cfg.issuer_url, api, "issuer_url")?,
        })
    }
}

/// The configured scopes, or the preset's when none are configured.
pub(super) fn scopes(cfg: &OidcProvider, defaults: &[&str]) -> Vec<String> {
    if cfg.scope.is_empty() {
        defaults.iter().map(|s| (*s).to_owned()).collect()
    } else {
        cfg.scope.clone()
    }
}

/// `pkce: force` sends a challenge; `auto` does only for providers that advertise S256, which
/// needs discovery these presets do not have, so it means no.
pub(super) fn uses_pkce(cfg: &OidcProvider) -> bool {
    cfg.pkce == Pkce::Force
}

/// The authorization endpoint with the client, scopes (space-separated), redirect URI, state,
/// the PKCE challenge when sent, `extra` preset parameters and the upstream parameters (which
/// win over `extra`).
pub(super) fn auth_url(
    cfg: &OidcProvider,
    endpoint: &str,
    scopes: &[String],
    req: &AuthRequest,
    extra: &[(&str, &str)],
) -> Result<String, ProviderError> {
    let mut url = url::Url::parse(endpoint)
        .map_err(|e| ProviderError::Config(format!("{}: auth URL: {e}", cfg.id)))?;
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("client_id", &cfg.client_id)
            .append_pair("redirect_uri", &req.redirect_uri)
            .append_pair("response_type", "code")
            .append_pair("scope", &scopes.join(" "))
            .append_pair("state", &req.state);
        if let Some(challenge) = &req.pkce_challenge {
            q.append_pair("code_challenge", challenge)
                .append_pair("code_challenge_method", "S256");
        }
        for (k, v) in extra {
            if !req.upstream.iter().any(|(u, _)| u == k) {
                q.append_pair(k, v);
            }
        }
        for (k, v) in &req.upstream {
            q.append_pair(k, v);
        }
    }
    Ok(url.into())
}

/// Exchanges `code` at `endpoint`, the client authenticating in the form body as GitHub and
/// Facebook require (Discord takes it too). GitHub answers refusals with 200 and an `error`
/// field, the others with a 4xx: either is `Refused`. An unreachable endpoint, a 5xx or an
/// answer without `access_token` is `Unavailable`.
pub(super) async fn exchange(
    http: &Outbound,
    cfg: &OidcProvider,
    endpoint: &str,
    code: &str,
    pkce_verifier: Option<&str>,
    redirect_uri: &str,
) -> Result<Tokens, ProviderError> {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
        ("client_id", cfg.client_id.as_str()),
        ("client_secret", cfg.client_secret.as_deref().unwrap_or("")),
    ];
    form.extend(pkce_verifier.map(|v| ("code_verifier", v)));
    let resp = http
        .post(endpoint)
        .map_err(|r| ProviderError::Unavailable(format!("token endpoint: {r}")))?
        .header(ACCEPT, "application/json")
        .form(&form)
        .timeout(TIMEOUT)
        .send()
        .await
        .map_err(|e| unreachable_error("token endpoint", e))?;
    let status = resp.status();
    let body = read_bounded(resp, "token endpoint").await?;
    if status.is_server_error() {
        return Err(ProviderError::Unavailable(format!(
            "the token endpoint answered {status}"
        )));
    }
    // JSON when asked for; GitHub's form encoding is accepted as well.
    let answer: Value = serde_json::from_slice(&body).unwrap_or_else(|_| {
        Value::Object(
            form_urlencoded::parse(&body)
                .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
                .collect(),
        )
    });
    if let Some(error) = answer.get("error") {
        // The error code and description are the provider's words about the request, never a
        // token.
        let error = match error {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let desc = answer
            .get("error_description")
            .and_then(Value::as_str)
            .unwrap_or("");
        return Err(ProviderError::Refused(format!("{error}: {desc}")));
    }
    if status.is_client_error() {
        return Err(ProviderError::Refused(format!(
            "the token endpoint answered {status}"
        )));
    }
    let Some(access_token) = answer.get("access_token").and_then(Value::as_str) else {
        return Err(ProviderError::Unavailable(
            "the token endpoint's answer has no access_token".into(),
        ));
    };
    Ok(Tokens {
        access_token: access_token.to_owned(),
        refresh_token: answer
            .get("refresh_token")
            .and_then(Value::as_str)
            .map(str::to_owned),
        id_token: None,
    })
}

/// GETs an API resource with the access token (`Authorization: Bearer`): its JSON and headers.
/// A refused token is `Refused`; anything else that is not a JSON 2xx is `Unavailable`. `what`
/// names the resource in errors (never the URL, whose query may carry a proof).
pub(super) async fn get_json(
    http: &Outbound,
    url: &str,
    access_token: &str,
    what: &str,
) -> Result<(HeaderMap, Value), ProviderError> {
    let resp = http
        .get(url)
        .map_err(|r| ProviderError::Unavailable(format!("{what}: {r}")))?
        .header(AUTHORIZATION, format!("Bearer {access_token}"))
        .header(ACCEPT, "application/json")
        // GitHub's API refuses requests without one.
        .header(USER_AGENT, "gatehouse")
        .timeout(TIMEOUT)
        .send()
        .await
        .map_err(|e| unreachable_error(what, e))?;
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = read_bounded(resp, what).await?;
    if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
        return Err(ProviderError::Refused(format!("{what} answered {status}")));
    }
    if !status.is_success() {
        return Err(ProviderError::Unavailable(format!(
            "{what} answered {status}"
        )));
    }
    let json = serde_json::from_slice(&body)
        .map_err(|e| ProviderError::Unavailable(format!("{what} answered no JSON: {e}")))?;
    Ok((headers, json))
}

fn unreachable_error(what: &str, e: reqwest::Error) -> ProviderError {
    ProviderError::Unavailable(format!(
        "{what}: {}",
        crate::outbound::explain(&e.without_url())
    ))
}

/// The body, or `Unavailable` once it passes [`MAX_BODY`].
async fn read_bounded(mut resp: reqwest::Response, what: &str) -> Result<Vec<u8>, ProviderError> {
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| unreachable_error(what, e))? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(ProviderError::Unavailable(format!(
                "{what} answered more than {MAX_BODY} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A string field of a JSON object, `None` when missing, null or empty.
pub(super) fn string(v: &Value, key: &str) -> Option<String> {
    match v.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

/// The JSON object's fields, for `raw_claims`.
pub(super) fn object(v: &Value) -> serde_json::Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}
