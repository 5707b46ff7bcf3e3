//! Slack's "Sign in with Slack" (OpenID Connect, issuer `https://slack.com`). The workspace
//! comes as the claim `https://slack.com/team_id` and is offered to the mapper as `team`.

use serde_json::Value;

use super::generic::{Generic, Options};
use super::{Claims, ProviderError};
use crate::config::OidcProvider;
use crate::outbound::Outbound;

pub const ISSUER: &str = "https://slack.com";
const TEAM_CLAIM: &str = "https://slack.com/team_id";

pub fn new(cfg: OidcProvider, http: Outbound) -> Result<Generic, ProviderError> {
    let issuer = cfg.issuer_url.clone().unwrap_or_else(|| ISSUER.to_owned());
    let mut opts = Options::plain(&cfg, issuer);
    opts.post = team;
    Generic::with_options(cfg, http, opts)
}

fn team(claims: &mut Claims) {
    if let Some(Value::String(t)) = claims.raw_claims.get(TEAM_CLAIM) {
        claims.team = Some(t.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn team_comes_from_the_slack_claim() {
        let raw = serde_json::json!({"sub": "U1", "https://slack.com/team_id": "T42"});
        let mut c = Claims::from_raw(raw.as_object().unwrap().clone()).unwrap();
        team(&mut c);
        assert_eq!(c.team.as_deref(), Some("T42"));
    }
}
