//! Auth0: each tenant is its own OpenID Connect issuer, so `issuer_url` is required
//! (`https://<tenant>.auth0.com/`; Auth0 publishes the issuer with its trailing slash).

use super::ProviderError;
use super::generic::{Generic, Options, required_issuer};
use crate::config::OidcProvider;
use crate::outbound::Outbound;

pub fn new(cfg: OidcProvider, http: Outbound) -> Result<Generic, ProviderError> {
    let issuer = required_issuer(&cfg)?;
    let opts = Options::plain(&cfg, issuer);
    Generic::with_options(cfg, http, opts)
}
