//! OpenID Connect and OAuth2 providers (`selfservice.methods.oidc.config.providers[]`): what the
//! `oidc` strategy asks of an upstream identity provider, whichever kind it is. The strategy
//! owns flows, `state`, continuity and identities; a provider only speaks its protocol: the
//! authorization URL, the code exchange, and the claims of the person who signed in.
//!
//! `generic` is any OpenID Connect issuer (discovery and JWKS); the presets know their
//! endpoints and claims.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::{Config, OidcProvider, OidcProviderKind};
use crate::outbound::Outbound;

mod apple;
mod auth0;
mod generic;
mod gitlab;
mod google;
pub mod http;
mod linkedin;
mod microsoft;
mod slack;

pub mod discord;
pub mod facebook;
pub mod github;
mod oauth2;

/// Why a provider could not do what was asked. Each maps to a Kratos message on the flow.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The configuration cannot work (bad URL, a preset missing its tenant or key, …).
    #[error("the provider is misconfigured: {0}")]
    Config(String),
    /// The provider could not be reached or answered with something unusable
    /// (discovery, token endpoint, user info, JWKS).
    #[error("the provider is unavailable: {0}")]
    Unavailable(String),
    /// The provider refused the exchange (bad code, bad client credentials, PKCE mismatch).
    #[error("the provider refused: {0}")]
    Refused(String),
    /// An ID token failed verification: signature, issuer, audience, expiry or nonce.
    #[error("the ID token is invalid: {0}")]
    InvalidToken(String),
    /// The claims lack something required (`sub`).
    #[error("the claims are incomplete: {0}")]
    Claims(String),
    /// Not something this kind of provider does (an ID token from a provider without one).
    #[error("{0}")]
    Unsupported(String),
}

/// What the authorization request carries, beyond what the provider configures itself.
#[derive(Clone, Debug, Default)]
pub struct AuthRequest {
    /// `<base_redirect_uri or public URL>/self-service/methods/oidc/callback/<id>`.
    pub redirect_uri: String,
    /// The opaque (encrypted) state the callback brings back.
    pub state: String,
    /// The nonce the ID token must carry; `None` for providers without ID tokens.
    pub nonce: Option<String>,
    /// PKCE S256 challenge, when [`Provider::uses_pkce`] says so.
    pub pkce_challenge: Option<String>,
    /// Kratos's `upstream_parameters` (login_hint, hd, prompt, …): already filtered to the
    /// allowed keys by the strategy, passed through as query parameters.
    pub upstream: Vec<(String, String)>,
}

/// The token endpoint's answer.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Tokens {
    pub access_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

/// The person who signed in, as Kratos's `Claims` (the mapper sees it as
/// `std.extVar('claims')`, with `raw_claims` holding everything the provider sent).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub iss: String,
    pub sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub middle_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nickname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub picture: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default)]
    pub email_verified: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gender: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birthdate: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zoneinfo: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    #[serde(default)]
    pub phone_number_verified: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<i64>,
    /// Google's hosted domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hd: Option<String>,
    /// Slack's team id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    /// The nonce of the ID token the claims came from, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// Authentication context and methods, for `aal2_acr_values` / `aal2_amr_values`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    /// Everything the provider sent, as it sent it.
    #[serde(default)]
    pub raw_claims: Map<String, Value>,
}

/// One configured provider.
#[async_trait]
pub trait Provider: Send + Sync {
    /// Its configuration entry.
    fn config(&self) -> &OidcProvider;
    /// Whether the authorization request carries a PKCE challenge: `force` always, `never`
    /// never, `auto` when the provider advertises S256 (discovery), else not.
    async fn uses_pkce(&self) -> Result<bool, ProviderError>;
    /// Whether the provider issues ID tokens (and so checks a nonce).
    fn issues_id_tokens(&self) -> bool;
    /// Whether the callback arrives as a form POST (Apple's `response_mode=form_post`).
    fn form_post(&self) -> bool {
        false
    }
    /// The URL the browser is sent to: the provider's authorization endpoint with client id,
    /// scopes, redirect URI, state, nonce, PKCE and `requested_claims` as `claims`.
    async fn auth_url(&self, req: &AuthRequest) -> Result<String, ProviderError>;
    /// Exchanges the callback's `code` (with the PKCE verifier when one was sent).
    async fn exchange(
        &self,
        code: &str,
        pkce_verifier: Option<&str>,
        redirect_uri: &str,
    ) -> Result<Tokens, ProviderError>;
    /// The claims after an exchange: from the verified ID token (signature by JWKS, issuer,
    /// audience incl. `additional_id_token_audiences`, expiry, `nonce` when given) or the
    /// user-info API, as `claims_source` and the kind say. `sub` is never empty.
    async fn claims(&self, tokens: &Tokens, nonce: Option<&str>) -> Result<Claims, ProviderError>;
    /// Native sign-in (`id_token` + `id_token_nonce` submitted by an app): verifies an ID
    /// token the app got itself. The nonce check compares the token's `nonce` claim with
    /// `nonce` (Apple and Google hash it: SHA-256 hex of the submitted nonce is also
    /// accepted). `Unsupported` for providers without ID tokens.
    async fn verify_id_token(&self, raw: &str, nonce: &str) -> Result<Claims, ProviderError>;
}

impl Claims {
    /// The claims of an ID token or a user-info answer, read leniently (providers send numbers
    /// as strings and booleans as `"true"`); `raw_claims` keeps everything as sent.
    pub fn from_raw(raw: Map<String, Value>) -> Result<Claims, ProviderError> {
        let text = |key: &str| match raw.get(key) {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        let flag = |key: &str| match raw.get(key) {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
            _ => false,
        };
        let sub = text("sub")
            .ok_or_else(|| ProviderError::Claims("the claims carry no subject (sub)".into()))?;
        let updated_at = match raw.get("updated_at") {
            Some(Value::Number(n)) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
            Some(Value::String(s)) => s.parse::<i64>().ok().or_else(|| {
                chrono::DateTime::parse_from_rfc3339(s)
                    .ok()
                    .map(|t| t.timestamp())
            }),
            _ => None,
        };
        let amr = match raw.get("amr") {
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        };
        Ok(Claims {
            iss: text("iss").unwrap_or_default(),
            sub,
            name: text("name"),
            given_name: text("given_name"),
            family_name: text("family_name"),
            last_name: text("last_name"),
            middle_name: text("middle_name"),
            nickname: text("nickname"),
            preferred_username: text("preferred_username"),
            profile: text("profile"),
            picture: text("picture"),
            website: text("website"),
            email: text("email"),
            email_verified: flag("email_verified"),
            gender: text("gender"),
            birthdate: text("birthdate"),
            zoneinfo: text("zoneinfo"),
            locale: text("locale"),
            phone_number: text("phone_number"),
            phone_number_verified: flag("phone_number_verified"),
            updated_at,
            hd: text("hd"),
            team: text("team"),
            nonce: text("nonce"),
            acr: text("acr"),
            amr,
            raw_claims: raw,
        })
    }
}

/// The configured providers (`selfservice.methods.oidc.config.providers[]`), in config order.
/// Built without network: each provider discovers its endpoints and keys on first use and
/// keeps them for the life of this value (a configuration reload builds a new one).
#[derive(Default)]
pub struct Providers {
    list: Vec<Arc<dyn Provider>>,
}

impl Providers {
    /// One provider per entry; none when the `oidc` method is disabled. A bad entry fails with
    /// its id in the message.
    pub fn new(cfg: &Config) -> Result<Providers, ProviderError> {
        let method = &cfg.selfservice.methods.oidc;
        if !method.enabled {
            return Ok(Providers::default());
        }
        let http = http::client(&cfg.clients.http)?;
        let mut list: Vec<Arc<dyn Provider>> = Vec::new();
        for p in &method.config.providers {
            if list.iter().any(|have| have.config().id == p.id) {
                return Err(ProviderError::Config(format!(
                    "provider id {:?} is configured twice",
                    p.id
                )));
            }
            let built = build(p.clone(), http.clone()).map_err(|e| match e {
                ProviderError::Config(msg) => {
                    ProviderError::Config(format!("provider {:?}: {msg}", p.id))
                }
                other => other,
            })?;
            list.push(built);
        }
        Ok(Providers { list })
    }

    pub fn get(&self, id: &str) -> Option<Arc<dyn Provider>> {
        self.list.iter().find(|p| p.config().id == id).cloned()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<dyn Provider>> {
        self.list.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

/// The provider for one configuration entry, by kind.
fn build(cfg: OidcProvider, http: Outbound) -> Result<Arc<dyn Provider>, ProviderError> {
    Ok(match cfg.provider {
        OidcProviderKind::Generic => Arc::new(generic::Generic::new(cfg, http)?),
        OidcProviderKind::Google => Arc::new(google::new(cfg, http)?),
        OidcProviderKind::Microsoft => Arc::new(microsoft::Microsoft::new(cfg, http)?),
        OidcProviderKind::Gitlab => Arc::new(gitlab::new(cfg, http)?),
        OidcProviderKind::Auth0 => Arc::new(auth0::new(cfg, http)?),
        OidcProviderKind::Apple => Arc::new(apple::new(cfg, http)?),
        OidcProviderKind::Linkedin => Arc::new(linkedin::new(cfg, http)?),
        OidcProviderKind::Slack => Arc::new(slack::new(cfg, http)?),
        OidcProviderKind::Github => Arc::new(github::GitHub::new(cfg, http)?),
        OidcProviderKind::Discord => Arc::new(discord::Discord::new(cfg, http)?),
        OidcProviderKind::Facebook => Arc::new(facebook::Facebook::new(cfg, http)?),
        kind => {
            return Err(ProviderError::Config(format!(
                "provider kind {} is not supported by Gatehouse yet",
                kind_name(kind)
            )));
        }
    })
}

/// The kind as configured (`github-app`, `linkedin_v2`, …).
fn kind_name(kind: OidcProviderKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{kind:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(v: Value) -> OidcProvider {
        let mut base = json!({"client_id": "c", "mapper_url": "file:///m.jsonnet"});
        base.as_object_mut()
            .unwrap()
            .extend(v.as_object().unwrap().clone());
        serde_json::from_value(base).unwrap()
    }

    fn config(enabled: bool, providers: Vec<OidcProvider>) -> Config {
        let mut cfg = Config::default();
        cfg.selfservice.methods.oidc.enabled = enabled;
        cfg.selfservice.methods.oidc.config.providers = providers;
        cfg
    }

    #[test]
    fn claims_are_read_leniently_and_keep_everything() {
        let raw = json!({
            "iss": "https://idp", "sub": 12345, "email": "a@b.test", "email_verified": "true",
            "phone_number_verified": true, "updated_at": "2024-01-02T03:04:05Z",
            "amr": ["pwd", "mfa", 3], "hd": "b.test", "name": "", "custom": {"x": 1},
        });
        let c = Claims::from_raw(raw.as_object().unwrap().clone()).unwrap();
        assert_eq!(c.sub, "12345");
        assert_eq!(c.iss, "https://idp");
        assert_eq!(c.email.as_deref(), Some("a@b.test"));
        assert!(c.email_verified && c.phone_number_verified);
        assert_eq!(c.updated_at, Some(1_704_164_645));
        assert_eq!(c.amr, ["pwd", "mfa"]);
        assert_eq!(c.hd.as_deref(), Some("b.test"));
        assert_eq!(c.name, None, "an empty string is no name");
        assert_eq!(c.raw_claims["custom"]["x"], 1);
        assert!(matches!(
            Claims::from_raw(json!({"email": "a@b"}).as_object().unwrap().clone()),
            Err(ProviderError::Claims(_))
        ));
    }

    #[test]
    fn providers_are_built_in_config_order_without_network() {
        let cfg = config(
            true,
            vec![
                entry(
                    json!({"id": "corp", "provider": "generic", "issuer_url": "http://127.0.0.1:9/"}),
                ),
                entry(json!({"id": "g", "provider": "google"})),
                entry(json!({"id": "ms", "provider": "microsoft", "microsoft_tenant": "common"})),
            ],
        );
        let p = Providers::new(&cfg).unwrap();
        let ids: Vec<_> = p.iter().map(|p| p.config().id.clone()).collect();
        assert_eq!(ids, ["corp", "g", "ms"]);
        assert!(p.get("g").unwrap().issues_id_tokens());
        assert!(p.get("nope").is_none());
        assert!(
            Providers::new(&config(
                false,
                cfg.selfservice.methods.oidc.config.providers.clone()
            ))
            .unwrap()
            .is_empty()
        );
    }

    #[test]
    fn bad_entries_fail_naming_the_provider() {
        let err = |v: Value| match Providers::new(&config(true, vec![entry(v)])) {
            Err(ProviderError::Config(m)) => m,
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("built"),
        };
        let m = err(json!({"id": "ms", "provider": "microsoft"}));
        assert!(
            m.contains("\"ms\"") && m.contains("microsoft_tenant"),
            "{m}"
        );
        let m = err(json!({"id": "y", "provider": "yandex"}));
        assert!(
            m.contains("provider kind yandex is not supported by Gatehouse yet"),
            "{m}"
        );
        let m = err(json!({"id": "x", "provider": "linkedin_v2"}));
        assert!(
            m.contains("provider kind linkedin_v2 is not supported"),
            "{m}"
        );
        let twice = vec![
            entry(json!({"id": "a", "provider": "google"})),
            entry(json!({"id": "a", "provider": "google"})),
        ];
        assert!(
            matches!(Providers::new(&config(true, twice)), Err(ProviderError::Config(m)) if m.contains("twice"))
        );
    }
}
