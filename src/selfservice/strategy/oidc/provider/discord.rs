//! `discord`: OAuth2 without ID tokens; the person comes from `/users/@me`, as Kratos's Discord
//! provider reads it. `issuer_url` replaces the API base, `auth_url` / `token_url` the OAuth
//! endpoints.

use async_trait::async_trait;
use serde_json::Value;

use super::oauth2::{self, Base, UserApi};
use super::{Claims, ProviderError, Tokens};
use crate::config::OidcProvider;
use crate::outbound::Outbound;

const API: &str = "https://discord.com/api/v9";
const AUTH: &str = "https://discord.com/api/v9/oauth2/authorize";
const TOKEN: &str = "https://discord.com/api/v9/oauth2/token";
const SCOPES: &[&str] = &["identify", "email"];
/// Discord's CDN, for avatar URLs.
const CDN: &str = "https://cdn.discordapp.com";

pub struct Discord {
    base: Base,
}

impl Discord {
    pub fn new(cfg: OidcProvider, http: Outbound) -> Result<Self, ProviderError> {
        Ok(Discord {
            base: Base::new(cfg, http, [AUTH, TOKEN, API], SCOPES)?,
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
impl UserApi for Discord {
    fn base(&self) -> &Base {
        &self.base
    }

    /// Kratos asks Discord not to show its consent screen again (`prompt=none`); an
    /// upstream `prompt` replaces that.
    fn auth_params(&self) -> &'static [(&'static str, &'static str)] {
        &[("prompt", "none")]
    }

    fn no_id_tokens(&self) -> &'static str {
        "Discord issues no ID tokens: native sign-in is not possible with it"
    }

    async fn user(&self, tokens: &Tokens) -> Result<Claims, ProviderError> {
        let url = format!("{}/users/@me", self.base.endpoints.api);
        let what = "Discord's /users/@me";
        let (_, user) = oauth2::get_json(&self.base.http, &url, &tokens.access_token, what).await?;
        let sub = oauth2::string(&user, "id")
            .ok_or_else(|| ProviderError::Claims("Discord's user has no id".into()))?;
        let username = oauth2::string(&user, "username");
        let discriminator = oauth2::string(&user, "discriminator").unwrap_or_default();
        Ok(Claims {
            iss: format!("{}/oauth2/", self.base.endpoints.api),
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
}
