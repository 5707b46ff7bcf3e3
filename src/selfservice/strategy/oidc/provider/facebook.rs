//! `facebook`: OAuth2 and the Graph API's `/me`, which wants an `appsecret_proof` (HMAC-SHA256
//! of the access token under the app secret) next to the token, as Kratos's Facebook provider
//! sends it. The unversioned Graph API, as Kratos uses, so a retired version never breaks it.
//! `issuer_url` replaces the Graph API base, `auth_url` / `token_url` the OAuth endpoints.

use async_trait::async_trait;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;

use super::oauth2::{self, Base, UserApi};
use super::{Claims, ProviderError, Tokens};
use crate::config::OidcProvider;
use crate::outbound::Outbound;

const AUTH: &str = "https://facebook.com/dialog/oauth";
const TOKEN: &str = "https://graph.facebook.com/oauth/access_token";
const API: &str = "https://graph.facebook.com";
const SCOPES: &[&str] = &["email", "public_profile"];
const FIELDS: &str = "id,name,first_name,last_name,middle_name,email,picture,birthday,gender";

pub struct Facebook {
    base: Base,
}

impl Facebook {
    pub fn new(cfg: OidcProvider, http: Outbound) -> Result<Self, ProviderError> {
        if cfg.client_secret.as_deref().unwrap_or("").is_empty() {
            return Err(ProviderError::Config(format!(
                "{}: facebook needs client_secret (it signs the Graph API calls)",
                cfg.id
            )));
        }
        Ok(Facebook {
            base: Base::new(cfg, http, [AUTH, TOKEN, API], SCOPES)?,
        })
    }

    fn appsecret_proof(&self, access_token: &str) -> String {
        let secret = self.base.cfg.client_secret.as_deref().unwrap_or("");
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
            .expect("HMAC takes keys of any length");
        mac.update(access_token.as_bytes());
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

#[async_trait]
impl UserApi for Facebook {
    fn base(&self) -> &Base {
        &self.base
    }

    fn no_id_tokens(&self) -> &'static str {
        "Facebook ID tokens (Limited Login) are not supported: use the code flow"
    }

    async fn user(&self, tokens: &Tokens) -> Result<Claims, ProviderError> {
        let me = format!("{}/me", self.base.endpoints.api);
        let url = format!(
            "{me}?fields={FIELDS}&appsecret_proof={}",
            self.appsecret_proof(&tokens.access_token)
        );
        let what = "Facebook's Graph API /me";
        let (_, user) = oauth2::get_json(&self.base.http, &url, &tokens.access_token, what).await?;
        let sub = oauth2::string(&user, "id")
            .ok_or_else(|| ProviderError::Claims("Facebook's /me has no id".into()))?;
        let name = oauth2::string(&user, "name");
        let email = oauth2::string(&user, "email");
        Ok(Claims {
            iss: me,
            sub,
            given_name: oauth2::string(&user, "first_name"),
            family_name: oauth2::string(&user, "last_name"),
            middle_name: oauth2::string(&user, "middle_name"),
            nickname: name.clone(),
            preferred_username: name.clone(),
            name,
            picture: user
                .pointer("/picture/data/url")
                .and_then(Value::as_str)
                .map(str::to_owned),
            // Facebook only hands out confirmed addresses, so Kratos marks them verified.
            email_verified: email.is_some(),
            email,
            gender: oauth2::string(&user, "gender"),
            birthdate: oauth2::string(&user, "birthday"),
            raw_claims: oauth2::object(&user),
            ..Claims::default()
        })
    }
}
