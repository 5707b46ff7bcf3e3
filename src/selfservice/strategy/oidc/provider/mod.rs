//! OpenID Connect and OAuth2 providers (`selfservice.methods.oidc.config.providers[]`): what the
//! `oidc` strategy asks of an upstream identity provider, whichever kind it is. The strategy
//! owns flows, `state`, continuity and identities; a provider only speaks its protocol: the
//! authorization URL, the code exchange, and the claims of the person who signed in.
//!
//! `generic` is any OpenID Connect issuer (discovery and JWKS); the presets know their
//! endpoints and claims.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::OidcProvider;

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
