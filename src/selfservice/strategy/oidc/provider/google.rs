//! Google: the OpenID Connect issuer `https://accounts.google.com` (also `accounts.google.com`
//! in tokens). `offline_access` is not a Google scope: it becomes `access_type=offline`, as in
//! Kratos. Native sign-in tokens from SDKs without nonce support are accepted without one.

use super::ProviderError;
use super::generic::{Generic, MissingNonce, Options, with_openid};
use crate::config::OidcProvider;
use crate::outbound::Outbound;

pub const ISSUER: &str = "https://accounts.google.com";

pub fn new(cfg: OidcProvider, http: Outbound) -> Result<Generic, ProviderError> {
    let opts = options(&cfg);
    Generic::with_options(cfg, http, opts)
}

fn options(cfg: &OidcProvider) -> Options {
    let issuer = cfg.issuer_url.clone().unwrap_or_else(|| ISSUER.to_owned());
    let offline = cfg.scope.iter().any(|s| s == "offline_access");
    let mut opts = Options::plain(cfg, issuer);
    opts.scopes = with_openid(&cfg.scope)
        .into_iter()
        .filter(|s| s != "offline_access")
        .collect();
    if offline {
        opts.auth_params
            .push(("access_type".into(), "offline".into()));
    }
    opts.extra_issuers = vec!["accounts.google.com".into()];
    opts.missing_nonce = MissingNonce::Allow;
    opts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offline_access_becomes_access_type() {
        let cfg: OidcProvider = serde_json::from_value(serde_json::json!({
            "id": "google", "provider": "google", "client_id": "c", "mapper_url": "file:///m",
            "scope": ["email", "offline_access", "profile"],
        }))
        .unwrap();
        let o = options(&cfg);
        assert_eq!(o.issuer, ISSUER);
        assert_eq!(o.scopes, ["openid", "email", "profile"]);
        assert_eq!(
            o.auth_params,
            [("access_type".to_owned(), "offline".to_owned())]
        );
        assert_eq!(o.missing_nonce, MissingNonce::Allow);
    }
}
