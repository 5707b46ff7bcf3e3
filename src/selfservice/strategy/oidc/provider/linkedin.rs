//! LinkedIn's "Sign In with LinkedIn using OpenID Connect": the issuer
//! `https://www.linkedin.com/oauth` (its token endpoint takes the client secret in the form
//! body, which its discovery document says).

use super::ProviderError;
use super::generic::{Generic, Options};
use crate::config::OidcProvider;
use crate::outbound::Outbound;

pub const ISSUER: &str = "https://www.linkedin.com/oauth";

pub fn new(cfg: OidcProvider, http: Outbound) -> Result<Generic, ProviderError> {
    let issuer = cfg.issuer_url.clone().unwrap_or_else(|| ISSUER.to_owned());
    let opts = Options::plain(&cfg, issuer);
    Generic::with_options(cfg, http, opts)
}
