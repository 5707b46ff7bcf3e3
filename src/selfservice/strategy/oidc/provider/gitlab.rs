//! GitLab: the OpenID Connect issuer `https://gitlab.com`, or a self-managed instance's URL in
//! `issuer_url`.

use super::ProviderError;
use super::generic::{Generic, Options};
use crate::config::OidcProvider;
use crate::outbound::Outbound;

pub const ISSUER: &str = "https://gitlab.com";

pub fn new(cfg: OidcProvider, http: Outbound) -> Result<Generic, ProviderError> {
    let issuer = cfg.issuer_url.clone().unwrap_or_else(|| ISSUER.to_owned());
    let opts = Options::plain(&cfg, issuer);
    Generic::with_options(cfg, http, opts)
}
