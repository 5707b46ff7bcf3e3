//! Any OpenID Connect issuer: discovery (`/.well-known/openid-configuration`), the
//! authorization-code exchange, and ID tokens verified against the issuer's JWKS — the
//! `openidconnect` crate does the protocol and the JOSE work. The presets are this with their
//! issuer and a few [`Options`].

use std::str::FromStr;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::Engine;
use openidconnect::core::{
    CoreAuthDisplay, CoreClaimName, CoreClaimType, CoreClient, CoreClientAuthMethod,
    CoreErrorResponseType, CoreGrantType, CoreIdToken, CoreIdTokenVerifier, CoreJsonWebKey,
    CoreJsonWebKeySet, CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm,
    CoreJwsSigningAlgorithm, CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::{
    AuthType, AuthorizationCode, ClientId, ClientSecret, IssuerUrl, OAuth2TokenResponse,
    PkceCodeVerifier, RedirectUrl, RequestTokenError, TokenResponse, TokenUrl,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::Digest;
use tokio::sync::{Mutex, OnceCell};

use super::http::{self, endpoint};
use super::{AuthRequest, Claims, Provider, ProviderError, Tokens};
use crate::config::{ClaimsSource, OidcProvider, Pkce};
use crate::outbound::Outbound;

/// An unknown `kid` refetches the JWKS at most this often, so tokens naming made-up keys cannot
/// make us hammer the provider.
pub(super) const JWKS_REFRESH_INTERVAL: Duration = Duration::from_secs(60);

/// Makes a client secret per token request (Apple's signed JWT).
pub(super) type SecretFn = Box<dyn Fn() -> Result<String, ProviderError> + Send + Sync>;

/// When an ID token may come without a `nonce` in native sign-in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum MissingNonce {
    /// Never: the token must carry the nonce the app submitted.
    Refuse,
    /// Google's SDKs do not all send one.
    Allow,
    /// Apple says in `nonce_supported` whether the device could.
    WhenUnsupported,
}

/// How a preset differs from a plain OpenID Connect issuer.
pub(super) struct Options {
    /// Where discovery is fetched (`<issuer>/.well-known/openid-configuration`).
    pub issuer: String,
    /// Whether the discovery document must name `issuer` exactly. Microsoft's multi-tenant
    /// documents name a template (`…/{tenantid}/v2.0`) instead.
    pub strict_discovery_issuer: bool,
    /// Further `iss` values accepted in ID tokens (Google also issues `accounts.google.com`).
    pub extra_issuers: Vec<String>,
    /// The scopes requested (`openid` first).
    pub scopes: Vec<String>,
    /// Fixed query parameters of the authorization request.
    pub auth_params: Vec<(String, String)>,
    pub form_post: bool,
    pub missing_nonce: MissingNonce,
    /// A secret made per exchange instead of `client_secret`.
    pub secret: Option<SecretFn>,
    /// Adjusts the claims after they were read (Slack's team).
    pub post: fn(&mut Claims),
}

impl Options {
    /// A plain issuer: `openid` plus the configured scopes, nothing else.
    pub fn plain(cfg: &OidcProvider, issuer: String) -> Options {
        Options {
            issuer,
            strict_discovery_issuer: true,
            extra_issuers: Vec::new(),
            scopes: with_openid(&cfg.scope),
            auth_params: Vec::new(),
            form_post: false,
            missing_nonce: MissingNonce::Refuse,
            secret: None,
            post: |_| {},
        }
    }
}

/// `openid` plus `scope`, without repeats, in order.
pub(super) fn with_openid(scope: &[String]) -> Vec<String> {
    let mut out = vec!["openid".to_owned()];
    for s in scope {
        if !out.contains(s) {
            out.push(s.clone());
        }
    }
    out
}

/// Discovery extension we need beyond OpenID Connect Discovery (RFC 8414's PKCE list).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
struct PkceMetadata {
    #[serde(default)]
    code_challenge_methods_supported: Vec<String>,
}
impl openidconnect::AdditionalProviderMetadata for PkceMetadata {}

type Metadata = openidconnect::ProviderMetadata<
    PkceMetadata,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// How the client authenticates at the token endpoint: HTTP Basic first, as Kratos's Go OAuth2
/// library does, and the form body when the provider refuses the client that way (a provider
/// lists the methods it supports, not the one each client was registered with).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ClientAuth {
    first: AuthStyle,
    fallback: Option<AuthStyle>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AuthStyle {
    Basic,
    Post,
}

impl AuthStyle {
    fn auth_type(self) -> AuthType {
        match self {
            AuthStyle::Basic => AuthType::BasicAuth,
            AuthStyle::Post => AuthType::RequestBody,
        }
    }
}

impl ClientAuth {
    /// From discovery's `token_endpoint_auth_methods_supported` (absent: both may work).
    fn from_supported(methods: Option<&Vec<CoreClientAuthMethod>>) -> ClientAuth {
        let has = |m: CoreClientAuthMethod| methods.is_none_or(|v| v.contains(&m));
        match (
            has(CoreClientAuthMethod::ClientSecretBasic),
            has(CoreClientAuthMethod::ClientSecretPost),
        ) {
            (true, true) => ClientAuth {
                first: AuthStyle::Basic,
                fallback: Some(AuthStyle::Post),
            },
            (false, true) => ClientAuth {
                first: AuthStyle::Post,
                fallback: None,
            },
            // Only other methods (private_key_jwt, …), or Basic alone: Basic, the default.
            _ => ClientAuth {
                first: AuthStyle::Basic,
                fallback: None,
            },
        }
    }
}

/// What discovery told us, with the configured endpoint overrides applied.
#[derive(Debug)]
struct Discovered {
    issuer: IssuerUrl,
    auth_url: String,
    token_url: Option<String>,
    userinfo_url: Option<String>,
    jwks_uri: String,
    algs: Vec<CoreJwsSigningAlgorithm>,
    pkce_s256: bool,
    client_auth: ClientAuth,
}

#[derive(Default)]
struct KeyCache {
    keys: Option<CoreJsonWebKeySet>,
    /// When an unknown `kid` last caused a refetch.
    refreshed_for_kid: Option<Instant>,
}

pub struct Generic {
    cfg: OidcProvider,
    http: Outbound,
    opts: Options,
    discovery: OnceCell<Discovered>,
    keys: Mutex<KeyCache>,
}

/// How an ID token's nonce is checked.
#[derive(Clone, Copy)]
enum NonceCheck<'a> {
    /// Not at all (the strategy did not send one).
    None,
    /// Equal to what the authorization request carried.
    Exact(&'a str),
    /// Native sign-in: equal to the app's nonce or its SHA-256 hex.
    Native(&'a str),
}

impl Generic {
    /// A generic issuer: `issuer_url` is required.
    pub fn new(cfg: OidcProvider, http: Outbound) -> Result<Generic, ProviderError> {
        let issuer = required_issuer(&cfg)?;
        let opts = Options::plain(&cfg, issuer);
        Generic::with_options(cfg, http, opts)
    }

    /// A provider on top of an issuer, as a preset configures it. Checks the URLs now so a typo
    /// fails at start-up, not at the first sign-in.
    pub(super) fn with_options(
        cfg: OidcProvider,
        http: Outbound,
        opts: Options,
    ) -> Result<Generic, ProviderError> {
        parse_url("issuer_url", &opts.issuer)?;
        if let Some(u) = &cfg.auth_url {
            parse_url("auth_url", u)?;
        }
        if let Some(u) = &cfg.token_url {
            parse_url("token_url", u)?;
        }
        if cfg.client_id.is_empty() {
            return Err(ProviderError::Config("client_id is empty".into()));
        }
        Ok(Generic {
            cfg,
            http,
            opts,
            discovery: OnceCell::new(),
            keys: Mutex::new(KeyCache::default()),
        })
    }

    pub(super) fn http(&self) -> &Outbound {
        &self.http
    }

    async fn discovered(&self) -> Result<&Discovered, ProviderError> {
        self.discovery.get_or_try_init(|| self.discover()).await
    }

    async fn discover(&self) -> Result<Discovered, ProviderError> {
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.opts.issuer.trim_end_matches('/')
        );
        let doc = http::get_json(&self.http, &url, None).await?;
        let meta: Metadata = serde_json::from_value(Value::Object(doc)).map_err(|e| {
            ProviderError::Unavailable(format!(
                "the discovery document at {} is invalid: {e}",
                endpoint(&url)
            ))
        })?;
        let issuer = meta.issuer().clone();
        if self.opts.strict_discovery_issuer
            && issuer.as_str().trim_end_matches('/') != self.opts.issuer.trim_end_matches('/')
        {
            return Err(ProviderError::Unavailable(format!(
                "the discovery document at {} names issuer {issuer:?}, not {:?}",
                endpoint(&url),
                self.opts.issuer
            )));
        }
        let client_auth = ClientAuth::from_supported(meta.token_endpoint_auth_methods_supported());
        Ok(Discovered {
            issuer,
            auth_url: self
                .cfg
                .auth_url
                .clone()
                .unwrap_or_else(|| meta.authorization_endpoint().as_str().to_owned()),
            token_url: self
                .cfg
                .token_url
                .clone()
                .or_else(|| meta.token_endpoint().map(|u| u.as_str().to_owned())),
            userinfo_url: meta.userinfo_endpoint().map(|u| u.as_str().to_owned()),
            jwks_uri: meta.jwks_uri().as_str().to_owned(),
            algs: meta
                .id_token_signing_alg_values_supported()
                .iter()
                .filter(|a| **a != CoreJwsSigningAlgorithm::None)
                .cloned()
                .collect(),
            pkce_s256: meta
                .additional_metadata()
                .code_challenge_methods_supported
                .iter()
                .any(|m| m == "S256"),
            client_auth,
        })
    }

    /// The issuer's keys: fetched on first use; refetched for an unknown `kid` at most once
    /// per [`JWKS_REFRESH_INTERVAL`].
    async fn keys(
        &self,
        d: &Discovered,
        unknown_kid: bool,
    ) -> Result<Option<CoreJsonWebKeySet>, ProviderError> {
        let mut cache = self.keys.lock().await;
        let fetch = match (&cache.keys, unknown_kid) {
            (None, _) => true,
            (Some(_), false) => false,
            (Some(_), true) => cache
                .refreshed_for_kid
                .is_none_or(|t| t.elapsed() >= JWKS_REFRESH_INTERVAL),
        };
        if !fetch {
            // An unknown kid within the interval: nothing new to try.
            return Ok(if unknown_kid {
                None
            } else {
                cache.keys.clone()
            });
        }
        if unknown_kid {
            // Counted before the fetch, so failing fetches are limited too.
            cache.refreshed_for_kid = Some(Instant::now());
        }
        let doc = http::get_json(&self.http, &d.jwks_uri, None).await?;
        let keys: CoreJsonWebKeySet = serde_json::from_value(Value::Object(doc)).map_err(|e| {
            ProviderError::Unavailable(format!(
                "the key set at {} is invalid: {e}",
                endpoint(&d.jwks_uri)
            ))
        })?;
        cache.keys = Some(keys.clone());
        Ok(Some(keys))
    }

    fn client_secret(&self) -> Result<Option<String>, ProviderError> {
        match &self.opts.secret {
            Some(make) => make().map(Some),
            None => Ok(self.cfg.client_secret.clone().filter(|s| !s.is_empty())),
        }
    }

    /// Verifies `raw` (signature by the issuer's keys, issuer, audience, expiry, nonce) and
    /// returns its claims as sent.
    async fn verify(
        &self,
        raw: &str,
        nonce: NonceCheck<'_>,
    ) -> Result<Map<String, Value>, ProviderError> {
        // The parser's message may quote the token: not repeated.
        let token = CoreIdToken::from_str(raw)
            .map_err(|_| ProviderError::InvalidToken("not a readable ID token".into()))?;
        let d = self.discovered().await?;
        let mut keys = self.keys(d, false).await?.unwrap_or_default();
        let mut refreshed = false;
        loop {
            match token.claims(
                &self.verifier(d, keys),
                |_: Option<&openidconnect::Nonce>| Ok(()),
            ) {
                Ok(_) => break,
                Err(openidconnect::ClaimsVerificationError::SignatureVerification(
                    openidconnect::SignatureVerificationError::NoMatchingKey,
                )) if !refreshed => {
                    refreshed = true;
                    match self.keys(d, true).await? {
                        Some(fresh) => keys = fresh,
                        None => {
                            return Err(ProviderError::InvalidToken(
                                "no key of the issuer matches the token's key id".into(),
                            ));
                        }
                    }
                }
                Err(openidconnect::ClaimsVerificationError::SignatureVerification(e)) => {
                    return Err(ProviderError::InvalidToken(format!(
                        "the ID token's signature does not verify: {e}"
                    )));
                }
                Err(e) => return Err(ProviderError::InvalidToken(e.to_string())),
            }
        }
        // The signature covers these bytes: the checks below read the verified payload.
        let claims = payload(raw)?;
        self.check_issuer(d, &claims)?;
        self.check_audience(&claims)?;
        self.check_nonce(&claims, nonce)?;
        Ok(claims)
    }

    fn verifier<'a>(&self, d: &Discovered, keys: CoreJsonWebKeySet) -> CoreIdTokenVerifier<'a> {
        let client_id = ClientId::new(self.cfg.client_id.clone());
        // The issuer and audience rules are ours (tenant issuers, extra audiences) and
        // checked on the verified payload.
        let issuer = d.issuer.clone();
        let verifier = match self
            .cfg
            .client_secret
            .as_ref()
            .filter(|_| self.opts.secret.is_none())
        {
            // HS256 ID tokens are signed with the client secret.
            Some(secret) if !secret.is_empty() => CoreIdTokenVerifier::new_confidential_client(
                client_id,
                ClientSecret::new(secret.clone()),
                issuer,
                keys,
            ),
            _ => CoreIdTokenVerifier::new_public_client(client_id, issuer, keys),
        };
        let verifier = verifier
            .require_issuer_match(false)
            .require_audience_match(false);
        if d.algs.is_empty() {
            verifier
        } else {
            verifier.set_allowed_algs(d.algs.clone())
        }
    }

    fn check_issuer(
        &self,
        d: &Discovered,
        claims: &Map<String, Value>,
    ) -> Result<(), ProviderError> {
        let iss = claims.get("iss").and_then(Value::as_str).unwrap_or("");
        let expected = expected_issuer(d.issuer.as_str(), claims);
        if expected.as_deref() == Some(iss) || self.opts.extra_issuers.iter().any(|i| i == iss) {
            Ok(())
        } else {
            Err(ProviderError::InvalidToken(format!(
                "the ID token's issuer {iss:?} is not {:?}",
                d.issuer.as_str()
            )))
        }
    }

    fn check_audience(&self, claims: &Map<String, Value>) -> Result<(), ProviderError> {
        audience_ok(&self.cfg, claims).then_some(()).ok_or_else(|| {
            ProviderError::InvalidToken(
                "the ID token's audience is neither client_id nor one of additional_id_token_audiences"
                    .into(),
            )
        })
    }

    fn check_nonce(
        &self,
        claims: &Map<String, Value>,
        check: NonceCheck<'_>,
    ) -> Result<(), ProviderError> {
        let got = claims
            .get("nonce")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty());
        let bad = |why: &str| Err(ProviderError::InvalidToken(why.to_owned()));
        match (check, got) {
            (NonceCheck::None, _) => Ok(()),
            (NonceCheck::Exact(want), Some(got)) if ct_eq(got, want) => Ok(()),
            (NonceCheck::Exact(_), Some(_)) => bad("the ID token's nonce does not match"),
            (NonceCheck::Exact(_), None) => bad("the ID token carries no nonce"),
            (NonceCheck::Native(want), Some(got)) => {
                if !want.is_empty() && (ct_eq(got, want) || ct_eq(got, &sha256_hex(want))) {
                    Ok(())
                } else {
                    bad("the ID token's nonce does not match the submitted nonce")
                }
            }
            (NonceCheck::Native(_), None) => {
                let skippable = match self.opts.missing_nonce {
                    MissingNonce::Refuse => false,
                    MissingNonce::Allow => true,
                    MissingNonce::WhenUnsupported => {
                        !matches!(claims.get("nonce_supported"), Some(Value::Bool(true)))
                            && claims.get("nonce_supported").and_then(Value::as_str) != Some("true")
                    }
                };
                if skippable {
                    Ok(())
                } else {
                    bad("the ID token carries no nonce")
                }
            }
        }
    }

    fn to_claims(&self, raw: Map<String, Value>) -> Result<Claims, ProviderError> {
        let mut claims = Claims::from_raw(raw)?;
        (self.opts.post)(&mut claims);
        Ok(claims)
    }
}

#[async_trait]
impl Provider for Generic {
    fn config(&self) -> &OidcProvider {
        &self.cfg
    }

    async fn uses_pkce(&self) -> Result<bool, ProviderError> {
        Ok(match self.cfg.pkce {
            Pkce::Force => true,
            Pkce::Never => false,
            Pkce::Auto => self.discovered().await?.pkce_s256,
        })
    }

    fn issues_id_tokens(&self) -> bool {
        true
    }

    fn form_post(&self) -> bool {
        self.opts.form_post
    }

    async fn auth_url(&self, req: &AuthRequest) -> Result<String, ProviderError> {
        let d = self.discovered().await?;
        let mut url = parse_url("the authorization endpoint", &d.auth_url)?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("client_id", &self.cfg.client_id)
                .append_pair("response_type", "code")
                .append_pair("scope", &self.opts.scopes.join(" "))
                .append_pair("redirect_uri", &req.redirect_uri)
                .append_pair("state", &req.state);
            if let Some(nonce) = &req.nonce {
                q.append_pair("nonce", nonce);
            }
            if let Some(challenge) = &req.pkce_challenge {
                q.append_pair("code_challenge", challenge)
                    .append_pair("code_challenge_method", "S256");
            }
            if let Some(claims) = &self.cfg.requested_claims {
                q.append_pair("claims", &claims.to_string());
            }
            for (k, v) in self.opts.auth_params.iter().chain(&req.upstream) {
                q.append_pair(k, v);
            }
        }
        Ok(url.into())
    }

    async fn exchange(
        &self,
        code: &str,
        pkce_verifier: Option<&str>,
        redirect_uri: &str,
    ) -> Result<Tokens, ProviderError> {
        let d = self.discovered().await?;
        let token_url = d.token_url.as_deref().ok_or_else(|| {
            ProviderError::Config(
                "the issuer names no token endpoint and token_url is not set".into(),
            )
        })?;
        let token_url = TokenUrl::new(token_url.to_owned())
            .map_err(|e| ProviderError::Config(format!("token_url: {e}")))?;
        let redirect = RedirectUrl::new(redirect_uri.to_owned())
            .map_err(|e| ProviderError::Config(format!("redirect URI: {e}")))?;
        let issuer = IssuerUrl::new(self.opts.issuer.clone())
            .map_err(|e| ProviderError::Config(format!("issuer_url: {e}")))?;
        let secret = self.client_secret()?;
        let ClientAuth { first, fallback } = d.client_auth;
        let http = self.http.clone();
        let send = move |req| http::for_oauth2(http.clone(), req);
        let request = |style: AuthStyle| {
            let client = CoreClient::new(
                ClientId::new(self.cfg.client_id.clone()),
                issuer.clone(),
                CoreJsonWebKeySet::default(),
            )
            .set_token_uri(token_url.clone())
            .set_redirect_uri(redirect.clone())
            .set_auth_type(style.auth_type());
            let client = match &secret {
                Some(s) => client.set_client_secret(ClientSecret::new(s.clone())),
                None => client,
            };
            let code = AuthorizationCode::new(code.to_owned());
            let verifier = pkce_verifier.map(|v| PkceCodeVerifier::new(v.to_owned()));
            let send = &send;
            async move {
                let mut request = client.exchange_code(code);
                if let Some(v) = verifier {
                    request = request.set_pkce_verifier(v);
                }
                request.request_async(send).await
            }
        };
        let answer = match (request(first).await, fallback) {
            // A client the provider does not know by HTTP Basic may be known by the form body.
            (Err(RequestTokenError::ServerResponse(e)), Some(style))
                if *e.error() == CoreErrorResponseType::InvalidClient =>
            {
                request(style).await
            }
            (answer, _) => answer,
        };
        let resp = answer.map_err(|e| token_error(token_url.as_str(), e))?;
        Ok(Tokens {
            access_token: resp.access_token().secret().clone(),
            refresh_token: resp.refresh_token().map(|t| t.secret().clone()),
            id_token: resp.id_token().map(|t| t.to_string()),
        })
    }

    async fn claims(&self, tokens: &Tokens, nonce: Option<&str>) -> Result<Claims, ProviderError> {
        let raw = tokens.id_token.as_deref().ok_or_else(|| {
            ProviderError::InvalidToken("the token endpoint returned no ID token".into())
        })?;
        let check = nonce.map_or(NonceCheck::None, NonceCheck::Exact);
        let id_claims = self.verify(raw, check).await?;
        match self.cfg.claims_source {
            ClaimsSource::IdToken => self.to_claims(id_claims),
            ClaimsSource::Userinfo => {
                let d = self.discovered().await?;
                let url = d.userinfo_url.as_deref().ok_or_else(|| {
                    ProviderError::Config(
                        "claims_source is userinfo but the issuer names no user-info endpoint"
                            .into(),
                    )
                })?;
                let mut info = http::get_json(&self.http, url, Some(&tokens.access_token)).await?;
                // Token substitution: the user-info answer must be about the ID token's subject.
                if info.get("sub") != id_claims.get("sub") {
                    return Err(ProviderError::InvalidToken(
                        "the user-info subject differs from the ID token's".into(),
                    ));
                }
                if let (false, Some(iss)) = (info.contains_key("iss"), id_claims.get("iss")) {
                    info.insert("iss".into(), iss.clone());
                }
                self.to_claims(info)
            }
        }
    }

    async fn verify_id_token(&self, raw: &str, nonce: &str) -> Result<Claims, ProviderError> {
        let claims = self.verify(raw, NonceCheck::Native(nonce)).await?;
        self.to_claims(claims)
    }
}

/// `issuer_url`, which `generic` (and presets without a fixed issuer) need.
pub(super) fn required_issuer(cfg: &OidcProvider) -> Result<String, ProviderError> {
    cfg.issuer_url
        .clone()
        .filter(|u| !u.trim().is_empty())
        .ok_or_else(|| ProviderError::Config("issuer_url is required".into()))
}

fn parse_url(what: &str, u: &str) -> Result<url::Url, ProviderError> {
    let url =
        url::Url::parse(u).map_err(|e| ProviderError::Config(format!("{what} {u:?}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ProviderError::Config(format!(
            "{what} {u:?} is not an http(s) URL"
        )));
    }
    Ok(url)
}

/// The issuer an ID token must name: the discovered one, with Microsoft's `{tenantid}` template
/// filled from the token's `tid` (a UUID, so it cannot smuggle a path).
pub(super) fn expected_issuer(discovered: &str, claims: &Map<String, Value>) -> Option<String> {
    if !discovered.contains("{tenantid}") {
        return Some(discovered.to_owned());
    }
    let tid = claims.get("tid").and_then(Value::as_str)?;
    uuid::Uuid::parse_str(tid).ok()?;
    Some(discovered.replace("{tenantid}", tid))
}

/// The token's `aud` (string or list) names `client_id` or one of
/// `additional_id_token_audiences` (native apps' own client ids).
pub(super) fn audience_ok(cfg: &OidcProvider, claims: &Map<String, Value>) -> bool {
    let allowed =
        |a: &str| a == cfg.client_id || cfg.additional_id_token_audiences.iter().any(|x| x == a);
    match claims.get("aud") {
        Some(Value::String(a)) => allowed(a),
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).any(allowed),
        _ => false,
    }
}

/// The payload of a compact JWS, as JSON.
fn payload(raw: &str) -> Result<Map<String, Value>, ProviderError> {
    let part = raw.split('.').nth(1).unwrap_or_default();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|_| {
            ProviderError::InvalidToken("the ID token's payload is not base64url".into())
        })?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(ProviderError::InvalidToken(
            "the ID token's payload is not a JSON object".into(),
        )),
    }
}

/// What Apple's and Google's native SDKs put in the token for a nonce the app chose.
fn sha256_hex(s: &str) -> String {
    sha2::Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn ct_eq(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// A failed token request, without the body (it may echo the code).
fn token_error<E: std::error::Error + 'static>(
    url: &str,
    e: RequestTokenError<E, openidconnect::StandardErrorResponse<CoreErrorResponseType>>,
) -> ProviderError {
    match e {
        RequestTokenError::ServerResponse(r) => {
            let mut msg = format!("the token endpoint answered {}", r.error().as_ref());
            if let Some(d) = r.error_description() {
                msg.push_str(": ");
                msg.push_str(d);
            }
            ProviderError::Refused(msg)
        }
        RequestTokenError::Request(e) => ProviderError::Unavailable(e.to_string()),
        RequestTokenError::Parse(e, _) => ProviderError::Unavailable(format!(
            "POST {}: the answer could not be read ({})",
            endpoint(url),
            e.path()
        )),
        RequestTokenError::Other(m) => {
            ProviderError::Unavailable(format!("POST {}: {m}", endpoint(url)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cfg() -> OidcProvider {
        serde_json::from_value(json!({
            "id": "corp", "provider": "generic", "client_id": "web",
            "client_secret": "s3cret", "issuer_url": "https://idp.example",
            "mapper_url": "file:///m.jsonnet",
            "additional_id_token_audiences": ["ios-app"],
        }))
        .unwrap()
    }

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn audience_is_client_id_or_an_additional_one() {
        let c = cfg();
        assert!(audience_ok(&c, &map(json!({"aud": "web"}))));
        assert!(audience_ok(&c, &map(json!({"aud": ["other", "ios-app"]}))));
        assert!(!audience_ok(&c, &map(json!({"aud": "android-app"}))));
        assert!(!audience_ok(&c, &map(json!({"aud": ["a", "b"]}))));
        assert!(!audience_ok(&c, &map(json!({}))));
    }

    #[test]
    fn tenant_issuer_takes_the_tokens_tid_only_when_it_is_a_uuid() {
        let tpl = "https://login.microsoftonline.com/{tenantid}/v2.0";
        let tid = "9188040d-6c67-4c5b-b112-36a304b66dad";
        assert_eq!(
            expected_issuer(tpl, &map(json!({"tid": tid}))).as_deref(),
            Some("https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0")
        );
        assert_eq!(
            expected_issuer(tpl, &map(json!({"tid": "evil/../x"}))),
            None
        );
        assert_eq!(expected_issuer(tpl, &map(json!({}))), None);
        assert_eq!(
            expected_issuer("https://idp.example", &map(json!({"tid": tid}))).as_deref(),
            Some("https://idp.example")
        );
    }

    #[test]
    fn client_auth_follows_discovery_basic_first() {
        use CoreClientAuthMethod::{ClientSecretBasic as B, ClientSecretPost as P, PrivateKeyJwt};
        let auth = |m: Option<Vec<CoreClientAuthMethod>>| {
            let a = ClientAuth::from_supported(m.as_ref());
            (a.first, a.fallback)
        };
        assert_eq!(auth(None), (AuthStyle::Basic, Some(AuthStyle::Post)));
        assert_eq!(
            auth(Some(vec![P, B])),
            (AuthStyle::Basic, Some(AuthStyle::Post))
        );
        assert_eq!(auth(Some(vec![P])), (AuthStyle::Post, None));
        assert_eq!(auth(Some(vec![B])), (AuthStyle::Basic, None));
        assert_eq!(auth(Some(vec![PrivateKeyJwt])), (AuthStyle::Basic, None));
    }

    #[test]
    fn scopes_start_with_openid_once() {
        let s = |v: &[&str]| with_openid(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(s(&["email", "openid", "email"]), ["openid", "email"]);
        assert_eq!(s(&[]), ["openid"]);
    }

    #[test]
    fn generic_needs_an_issuer_and_valid_urls() {
        let mut c = cfg();
        c.issuer_url = None;
        assert!(matches!(
            Generic::new(c, http::client(&Default::default()).unwrap()),
            Err(ProviderError::Config(m)) if m.contains("issuer_url")
        ));
        let mut c = cfg();
        c.auth_url = Some("not a url".into());
        assert!(matches!(
            Generic::new(c, http::client(&Default::default()).unwrap()),
            Err(ProviderError::Config(_))
        ));
    }

    #[tokio::test]
    async fn auth_url_carries_the_request_and_overrides() {
        let mut c = cfg();
        c.auth_url = Some("https://login.example/authorize?tenant=x".into());
        c.scope = vec!["email".into()];
        c.requested_claims = Some(json!({"id_token": {"email": {"essential": true}}}));
        let g = Generic::with_options(
            c.clone(),
            http::client(&Default::default()).unwrap(),
            Options::plain(&c, "https://idp.example".into()),
        )
        .unwrap();
        // Discovery is not reachable here: seed what it would have found.
        g.discovery
            .set(Discovered {
                issuer: IssuerUrl::new("https://idp.example".into()).unwrap(),
                auth_url: c.auth_url.clone().unwrap(),
                token_url: None,
                userinfo_url: None,
                jwks_uri: "https://idp.example/jwks".into(),
                algs: vec![],
                pkce_s256: true,
                client_auth: ClientAuth::from_supported(None),
            })
            .unwrap();
        let url = g
            .auth_url(&AuthRequest {
                redirect_uri: "https://app.example/cb".into(),
                state: "st".into(),
                nonce: Some("n0".into()),
                pkce_challenge: Some("ch".into()),
                upstream: vec![("login_hint".into(), "a@b".into())],
            })
            .await
            .unwrap();
        let u = url::Url::parse(&url).unwrap();
        assert_eq!(u.host_str(), Some("login.example"));
        let q: std::collections::HashMap<_, _> = u.query_pairs().into_owned().collect();
        assert_eq!(q["tenant"], "x");
        assert_eq!(q["client_id"], "web");
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["scope"], "openid email");
        assert_eq!(q["redirect_uri"], "https://app.example/cb");
        assert_eq!(q["state"], "st");
        assert_eq!(q["nonce"], "n0");
        assert_eq!(q["code_challenge"], "ch");
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(q["login_hint"], "a@b");
        let claims: Value = serde_json::from_str(&q["claims"]).unwrap();
        assert_eq!(claims["id_token"]["email"]["essential"], true);
        assert!(g.uses_pkce().await.unwrap());
    }
}
