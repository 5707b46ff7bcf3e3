//! Microsoft Entra ID (Azure AD) v2.0: the issuer is
//! `https://login.microsoftonline.com/{microsoft_tenant}/v2.0`. The multi-tenant endpoints
//! (`common`, `organizations`, `consumers`) publish an issuer template, and a token is accepted
//! with the issuer of its own tenant (`tid`), as Kratos does. `subject_source` picks the
//! subject: `sub` (default, "userinfo"), the `oid` claim, or the Graph `/me` id ("me").

use async_trait::async_trait;
use serde_json::Value;

use super::generic::{Generic, Options};
use super::{AuthRequest, Claims, Provider, ProviderError, Tokens, http};
use crate::config::{OidcProvider, OidcSubjectSource};
use crate::outbound::Outbound;

const GRAPH_ME: &str = "https://graph.microsoft.com/v1.0/me";

pub struct Microsoft {
    inner: Generic,
}

impl Microsoft {
    pub fn new(cfg: OidcProvider, http: Outbound) -> Result<Microsoft, ProviderError> {
        let opts = options(&cfg)?;
        Ok(Microsoft {
            inner: Generic::with_options(cfg, http, opts)?,
        })
    }

    async fn with_subject(
        &self,
        mut claims: Claims,
        tokens: Option<&Tokens>,
    ) -> Result<Claims, ProviderError> {
        match self.inner.config().subject_source {
            OidcSubjectSource::Userinfo => {}
            OidcSubjectSource::Oid => {
                claims.sub = claims
                    .raw_claims
                    .get("oid")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| ProviderError::Claims("the token carries no oid claim".into()))?
                    .to_owned();
            }
            OidcSubjectSource::Me => {
                let tokens = tokens.ok_or_else(|| {
                    ProviderError::Unsupported(
                        "subject_source me needs an access token; native sign-in has none".into(),
                    )
                })?;
                let me =
                    http::get_json(self.inner.http(), GRAPH_ME, Some(&tokens.access_token)).await?;
                claims.sub = me
                    .get("id")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| ProviderError::Claims("Microsoft Graph /me has no id".into()))?
                    .to_owned();
            }
        }
        Ok(claims)
    }
}

fn options(cfg: &OidcProvider) -> Result<Options, ProviderError> {
    let tenant = cfg
        .microsoft_tenant
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ProviderError::Config("microsoft_tenant is required".into()))?;
    if !tenant
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
    {
        return Err(ProviderError::Config(format!(
            "microsoft_tenant {tenant:?} is not a tenant id or domain"
        )));
    }
    let issuer = cfg
        .issuer_url
        .clone()
        .unwrap_or_else(|| format!("https://login.microsoftonline.com/{tenant}/v2.0"));
    let mut opts = Options::plain(cfg, issuer);
    // A tenant given by domain, and the multi-tenant endpoints, publish another issuer than
    // the URL they are fetched from; tokens are checked against what is published.
    opts.strict_discovery_issuer = false;
    Ok(opts)
}

#[async_trait]
impl Provider for Microsoft {
    fn config(&self) -> &OidcProvider {
        self.inner.config()
    }
    async fn uses_pkce(&self) -> Result<bool, ProviderError> {
        self.inner.uses_pkce().await
    }
    fn issues_id_tokens(&self) -> bool {
        true
    }
    async fn auth_url(&self, req: &AuthRequest) -> Result<String, ProviderError> {
        self.inner.auth_url(req).await
    }
    async fn exchange(
        &self,
        code: &str,
        pkce_verifier: Option<&str>,
        redirect_uri: &str,
    ) -> Result<Tokens, ProviderError> {
        self.inner.exchange(code, pkce_verifier, redirect_uri).await
    }
    async fn claims(&self, tokens: &Tokens, nonce: Option<&str>) -> Result<Claims, ProviderError> {
        let claims = self.inner.claims(tokens, nonce).await?;
        self.with_subject(claims, Some(tokens)).await
    }
    async fn verify_id_token(&self, raw: &str, nonce: &str) -> Result<Claims, ProviderError> {
        let claims = self.inner.verify_id_token(raw, nonce).await?;
        self.with_subject(claims, None).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(tenant: Option<&str>) -> OidcProvider {
        serde_json::from_value(serde_json::json!({
            "id": "ms", "provider": "microsoft", "client_id": "c", "mapper_url": "file:///m",
            "microsoft_tenant": tenant,
        }))
        .unwrap()
    }

    #[test]
    fn tenant_makes_the_issuer() {
        let o = options(&cfg(Some("common"))).unwrap();
        assert_eq!(o.issuer, "https://login.microsoftonline.com/common/v2.0");
        assert!(!o.strict_discovery_issuer);
        let o = options(&cfg(Some("contoso.onmicrosoft.com"))).unwrap();
        assert_eq!(
            o.issuer,
            "https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0"
        );
    }

    #[test]
    fn tenant_is_required_and_cannot_be_a_path() {
        assert!(
            matches!(options(&cfg(None)), Err(ProviderError::Config(m)) if m.contains("microsoft_tenant"))
        );
        assert!(matches!(
            options(&cfg(Some(" "))),
            Err(ProviderError::Config(_))
        ));
        assert!(matches!(
            options(&cfg(Some("a/../b"))),
            Err(ProviderError::Config(_))
        ));
    }
}
