//! `github`: OAuth2 without ID tokens. The person comes from the REST API's `/user`, and the
//! email from `/user/emails` (the primary one, with its verified flag) when `user:email` was
//! granted, as Kratos's GitHub provider does. `sub` is the numeric user id. `issuer_url`
//! replaces the API base (`https://ghe.example.com/api/v3` for GitHub Enterprise Server),
//! `auth_url` / `token_url` the OAuth endpoints.

use async_trait::async_trait;
use serde_json::Value;

use super::oauth2::{self, Base, UserApi};
use super::{Claims, ProviderError, Tokens};
use crate::config::OidcProvider;
use crate::outbound::Outbound;

const AUTH: &str = "https://github.com/login/oauth/authorize";
const TOKEN: &str = "https://github.com/login/oauth/access_token";
const API: &str = "https://api.github.com";
const SCOPES: &[&str] = &["user", "user:email"];

pub struct GitHub {
    base: Base,
}

impl GitHub {
    pub fn new(cfg: OidcProvider, http: Outbound) -> Result<Self, ProviderError> {
        Ok(GitHub {
            base: Base::new(cfg, http, [AUTH, TOKEN, API], SCOPES)?,
        })
    }
}

/// Whether `granted` (GitHub's `X-OAuth-Scopes`) covers `scope`: `user` includes
/// `read:user`, `user:email` and `user:follow`.
fn covers(granted: &[&str], scope: &str) -> bool {
    granted.contains(&scope)
        || (granted.contains(&"user")
            && matches!(scope, "read:user" | "user:email" | "user:follow"))
}

#[async_trait]
impl UserApi for GitHub {
    fn base(&self) -> &Base {
        &self.base
    }

    fn no_id_tokens(&self) -> &'static str {
        "GitHub issues no ID tokens: native sign-in is not possible with it"
    }

    async fn user(&self, tokens: &Tokens) -> Result<Claims, ProviderError> {
        let api = &self.base.endpoints.api;
        let token = &tokens.access_token;
        let (headers, user) = oauth2::get_json(
            &self.base.http,
            &format!("{api}/user"),
            token,
            "GitHub's /user",
        )
        .await?;
        // The token's scopes as GitHub reports them; every configured one must be granted.
        let granted = headers
            .get("x-oauth-scopes")
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
            });
        if let Some(granted) = &granted
            && let Some(missing) = self.base.scopes.iter().find(|s| !covers(granted, s))
        {
            return Err(ProviderError::Claims(format!(
                "GitHub did not grant the scope {missing:?}"
            )));
        }
        let sub = user
            .get("id")
            .and_then(Value::as_u64)
            .ok_or_else(|| ProviderError::Claims("GitHub's /user has no numeric id".into()))?;
        let mut claims = Claims {
            iss: self.base.endpoints.token.clone(),
            sub: sub.to_string(),
            name: oauth2::string(&user, "name"),
            nickname: oauth2::string(&user, "login"),
            website: oauth2::string(&user, "blog"),
            picture: oauth2::string(&user, "avatar_url"),
            profile: oauth2::string(&user, "html_url"),
            updated_at: oauth2::string(&user, "updated_at")
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
                .map(|t| t.timestamp()),
            raw_claims: oauth2::object(&user),
            ..Claims::default()
        };
        // `/user` shows only a public email; the list has the private ones and which are
        // verified. Kratos takes the primary address with its verified flag.
        let may_list = match &granted {
            Some(granted) => covers(granted, "user:email"),
            None => self
                .base
                .scopes
                .iter()
                .any(|s| s == "user" || s == "user:email"),
        };
        if may_list {
            let url = format!("{api}/user/emails");
            let (_, emails) =
                oauth2::get_json(&self.base.http, &url, token, "GitHub's /user/emails").await?;
            let primary = emails
                .as_array()
                .into_iter()
                .flatten()
                .find(|e| e.get("primary").and_then(Value::as_bool) == Some(true));
            if let Some(e) = primary {
                claims.email = oauth2::string(e, "email");
                claims.email_verified = e.get("verified").and_then(Value::as_bool) == Some(true);
            }
        }
        Ok(claims)
    }
}
