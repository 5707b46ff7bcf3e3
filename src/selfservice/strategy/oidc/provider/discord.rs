//! `discord`: OAuth2 without ID tokens; the person comes from `/users/@me`, as Kratos's Discord
//! provider reads it. `issuer_url` replaces the API base, `auth_url` / `token_url` the OAuth
//! endpoints.

use async_trait::async_trait;
use serde_json::Value;

use super::oauth2::{self, Endpoints};
use super::{AuthRequest, Claims, Provider, ProviderError, Tokens};
use crate::config::OidcProvider;

const API: &str = "https://discord.com/api/v9";
const AUTH: &str = "https://discord.com/api/v9/oauth2/authorize";
const TOKEN: &str = "https://discord.com/api/v9/oauth2/token";
const SCOPES: &[&str] = &["identify", "email"];
/// Discord's CDN, for avatar URLs.
const CDN: &str = "https://cdn.discordapp.com";

pub struct Discord {
    cfg: OidcProvider,
    http: reqwest::Client,
    endpoints: Endpoints,
    scopes: Vec<String>,
}

impl Discord {
    pub fn new(cfg: OidcProvider, http: reqwest::Client) -> Result<Self, ProviderError> {
        Ok(Discord {
            endpoints: Endpoints::new(&cfg, AUTH, TOKEN, API)?,
            scopes: oauth2::scopes(&cfg, SCOPES),
            cfg,
            http,
        })
    }
}

/// The avatar's URL as Discord's clients build it: the uploaded one (animated ones, `a_…`, as
/// GIF), else the default avatar for the discriminator.
fn avatar(user: &Value, id: &str) -> String {
    match oauth2::string(user, "avatar") {
        Some(hash) if hash.starts_with("a_") => format!("{CDN}/avatars/{id}/{hash}.gif"),
        Some(hash) => format!("{CDN}/avatars/{id}/{hash}.png"),
        None => {
            let discriminator = oauth2::string(user, "discriminator")
                .and_then(|d| d.parse::<u64>().ok())
                .unwrap_or(0);
            format!("{CDN}/embed/avatars/{}.png", discriminator % 5)
        }
    }
}

#[async_trait]
impl Provider for Discord {
    fn config(&self) -> &OidcProvider {
        &self.cfg
    }

    async fn uses_pkce(&self) -> Result<bool, ProviderError> {
        Ok(oauth2::uses_pkce(&self.cfg))
    }

    fn issues_id_tokens(&self) -> bool {
        false
    }

    async fn auth_url(&self, req: &AuthRequest) -> Result<String, ProviderError> {
        // Kratos asks Discord not to show its consent screen again (`prompt=none`); an
        // upstream `prompt` replaces that.
        let extra = [("prompt", "none")];
        oauth2::auth_url(&self.cfg, &self.endpoints.auth, &self.scopes, req, &extra)
    }

    async fn exchange(
        &self,
        code: &str,
        pkce_verifier: Option<&str>,
        redirect_uri: &str,
    ) -> Result<Tokens, ProviderError> {
        let token = &self.endpoints.token;
        oauth2::exchange(
            &self.http,
            &self.cfg,
            token,
            code,
            pkce_verifier,
            redirect_uri,
        )
        .await
    }

    async fn claims(&self, tokens: &Tokens, _nonce: Option<&str>) -> Result<Claims, ProviderError> {
        let url = format!("{}/users/@me", self.endpoints.api);
        let what = "Discord's /users/@me";
        let (_, user) = oauth2::get_json(&self.http, &url, &tokens.access_token, what).await?;
        let sub = oauth2::string(&user, "id")
            .ok_or_else(|| ProviderError::Claims("Discord's user has no id".into()))?;
        let username = oauth2::string(&user, "username");
        let discriminator = oauth2::string(&user, "discriminator").unwrap_or_default();
        Ok(Claims {
            iss: format!("{}/oauth2/", self.endpoints.api),
            name: username.as_ref().map(|u| format!("{u}#{discriminator}")),
            nickname: username.clone(),
            preferred_username: username,
            picture: Some(avatar(&user, &sub)),
            email: oauth2::string(&user, "email"),
            email_verified: user.get("verified").and_then(Value::as_bool) == Some(true),
            locale: oauth2::string(&user, "locale"),
            raw_claims: oauth2::object(&user),
            sub,
            ..Claims::default()
        })
    }

    async fn verify_id_token(&self, _raw: &str, _nonce: &str) -> Result<Claims, ProviderError> {
        Err(ProviderError::Unsupported(
            "Discord issues no ID tokens: native sign-in is not possible with it".into(),
        ))
    }
}
