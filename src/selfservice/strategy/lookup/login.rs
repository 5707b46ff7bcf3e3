//! The aal2 sign-in half: the form's nodes and the one-time use of a code. The login flow
//! calls these from its second-factor strategy.

use async_trait::async_trait;
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::{Codes, LOGIN_INPUT, LookupSecret};
use crate::deps::Deps;
use crate::identity::{CredentialType, Identity, now};
use crate::selfservice::flow::request::Submission;
use crate::selfservice::flow::{Flow, FlowError};
use crate::selfservice::otp;
use crate::selfservice::strategy::{LoginStrategy, Method, Outcome, aal2_identity};
use crate::selfservice::ui::{Group, InputType, UiContainer, UiNode};
use crate::session::Aal;
use crate::store::StoreError;
use crate::store::credentials;
use crate::text;

/// Adds the code input and the method's button to an aal2 login form, when `identity` has
/// codes (Kratos's `PopulateLoginMethod`; the flow adds the CSRF token).
pub fn populate_login(ui: &mut UiContainer, identity: &Identity) {
    if LookupSecret.configured_for(identity) {
        login_nodes(ui);
    }
}

/// The code input and its button, as Kratos's `PopulateLoginMethodSecondFactor`.
fn login_nodes(ui: &mut UiContainer) {
    ui.upsert(
        UiNode::input(LOGIN_INPUT, Group::LookupSecret, InputType::Text)
            .with_value("")
            .required()
            .with_label(text::login_lookup_label()),
    );
    ui.append(
        UiNode::input("method", Group::LookupSecret, InputType::Submit)
            .with_value(Method::LookupSecret.as_str())
            .with_label(text::login_lookup()),
    );
}

/// A second factor: one unused backup code upgrades the session to aal2.
#[async_trait]
impl LoginStrategy for LookupSecret {
    fn method(&self) -> Method {
        Method::LookupSecret
    }

    fn aal(&self) -> Aal {
        Aal::Aal2
    }

    fn configured_for(&self, identity: &Identity) -> bool {
        identity
            .credentials
            .contains_key(&CredentialType::LookupSecret)
    }

    fn populate(&self, _deps: &Deps, ui: &mut UiContainer) {
        login_nodes(ui);
    }

    async fn login(
        &self,
        deps: &Deps,
        flow: &mut Flow,
        sub: &Submission,
    ) -> Result<Outcome<Identity>, FlowError> {
        let Some(identity) = aal2_identity(deps, flow).await? else {
            return Ok(Outcome::Rejected);
        };
        if !check_submission(deps, &mut flow.ui, identity.id, sub).await? {
            return Ok(Outcome::Rejected);
        }
        Ok(Outcome::Done(identity))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Right and unused: it is used now.
    Accepted,
    /// Right but used before (4000012).
    Reused,
    /// None of the identity's codes (4000016).
    Wrong,
    /// The identity has no codes (4000014).
    NoCodes,
}

impl Verdict {
    /// The flow-level message of a refusal.
    pub fn message(self) -> Option<text::UiText> {
        match self {
            Verdict::Accepted => None,
            Verdict::Reused => Some(text::validation_lookup_already_used()),
            Verdict::Wrong => Some(text::validation_lookup_invalid()),
            Verdict::NoCodes => Some(text::validation_no_lookup()),
        }
    }
}

/// A login submission's code (`lookup_secret`), checked and used for `identity_id`: true when
/// accepted. A refusal is put on `ui` as Kratos shows it — a missing code on its node, the
/// verdict on the flow — with the input emptied; the login strategy then rejects the flow.
pub async fn check_submission(
    deps: &Deps,
    ui: &mut UiContainer,
    identity_id: Uuid,
    sub: &Submission,
) -> Result<bool, FlowError> {
    let code = sub.str(LOGIN_INPUT).unwrap_or_default();
    if code.is_empty() {
        ui.add_node_message(LOGIN_INPUT, text::validation_required(LOGIN_INPUT));
        return Ok(false);
    }
    let verdict = verify_and_consume(deps, identity_id, code).await?;
    match verdict.message() {
        None => Ok(true),
        Some(m) => {
            ui.set_value(LOGIN_INPUT, serde_json::Value::String(String::new()));
            ui.add_message(m);
            Ok(false)
        }
    }
}

/// How often a use is retried when another sign-in changed the codes between read and write:
/// each lost race means another code was used, so a set of codes allows only so many.
const ATTEMPTS: usize = super::NUM_CODES + 1;

/// Checks `code` against the identity's codes and marks it used. The mark is a
/// compare-and-set on the stored config, so of two sign-ins racing with one code exactly one
/// is [`Verdict::Accepted`]; the other reads the code as used.
pub async fn verify_and_consume(
    deps: &Deps,
    identity_id: Uuid,
    code: &str,
) -> Result<Verdict, StoreError> {
    let kind = CredentialType::LookupSecret.as_str();
    let candidates = otp::candidate_hashes(deps, code);
    for _ in 0..ATTEMPTS {
        let Some((credential_id, raw)) =
            credentials::config_of(&deps.store, identity_id, kind).await?
        else {
            return Ok(Verdict::NoCodes);
        };
        let config = serde_json::from_str(&raw).unwrap_or_default();
        let mut codes = Codes::parse(&config);
        if codes.recovery_codes.is_empty() {
            return Ok(Verdict::NoCodes);
        }
        let found = codes.recovery_codes.iter_mut().find(|c| {
            let hashed = c.hash.as_deref().is_some_and(|h| {
                candidates
                    .iter()
                    .any(|x| bool::from(x.as_bytes().ct_eq(h.as_bytes())))
            });
            let clear = c
                .code
                .as_deref()
                .is_some_and(|k| !k.is_empty() && bool::from(k.as_bytes().ct_eq(code.as_bytes())));
            hashed || clear
        });
        let Some(entry) = found else {
            return Ok(Verdict::Wrong);
        };
        if entry.used().is_some() {
            return Ok(Verdict::Reused);
        }
        let at = now();
        // Kratos rounds to the second.
        entry.used_at = chrono::DateTime::from_timestamp(at.timestamp(), 0);
        let new = serde_json::to_string(&codes).map_err(|e| StoreError::Query(e.to_string()))?;
        if credentials::swap_config(&deps.store, credential_id, &raw, &new, at.naive_utc()).await? {
            deps.session_cache.invalidate_identity(identity_id);
            return Ok(Verdict::Accepted);
        }
    }
    Err(StoreError::Query(
        "the lookup codes kept changing while one was being used".into(),
    ))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;
    use crate::identity::{Credential, State};

    fn identity(with_codes: bool) -> Identity {
        let ts = now();
        let id = Uuid::new_v4();
        let mut credentials = BTreeMap::new();
        if with_codes {
            credentials.insert(
                CredentialType::LookupSecret,
                Credential {
                    id: Uuid::new_v4(),
                    kind: CredentialType::LookupSecret,
                    identifiers: vec![id.to_string()],
                    config: json!({"recovery_codes": [{"hash": "00", "used_at": null}]}),
                    version: 0,
                    created_at: ts,
                    updated_at: ts,
                },
            );
        }
        Identity {
            id,
            schema_id: "default".into(),
            state: State::Active,
            state_changed_at: None,
            traits: json!({}),
            metadata_public: None,
            metadata_admin: None,
            external_id: None,
            organization_id: None,
            credentials,
            verifiable_addresses: Vec::new(),
            recovery_addresses: Vec::new(),
            created_at: ts,
            updated_at: ts,
        }
    }

    /// The nodes of Kratos's `PopulateLoginMethodSecondFactor` snapshot.
    #[test]
    fn login_form_matches_kratos() {
        let mut ui = UiContainer::new("http://x/self-service/login?flow=1".into(), "POST");
        populate_login(&mut ui, &identity(false));
        assert!(ui.nodes.is_empty());
        populate_login(&mut ui, &identity(true));
        let nodes = serde_json::to_value(&ui.nodes).unwrap();
        assert_eq!(
            nodes,
            json!([
                {
                    "type": "input",
                    "group": "lookup_secret",
                    "attributes": {
                        "name": "lookup_secret",
                        "type": "text",
                        "value": "",
                        "required": true,
                        "disabled": false,
                        "node_type": "input"
                    },
                    "messages": [],
                    "meta": {"label": {"id": 1010007, "text": "Backup recovery code", "type": "info"}}
                },
                {
                    "type": "input",
                    "group": "lookup_secret",
                    "attributes": {
                        "name": "method",
                        "type": "submit",
                        "value": "lookup_secret",
                        "disabled": false,
                        "node_type": "input"
                    },
                    "messages": [],
                    "meta": {"label": {"id": 1010010, "text": "Use backup recovery code", "type": "info"}}
                }
            ])
        );
    }

    #[test]
    fn refusals_carry_kratos_ids() {
        assert_eq!(Verdict::Accepted.message(), None);
        assert_eq!(Verdict::Reused.message().unwrap().id, 4000012);
        assert_eq!(Verdict::Wrong.message().unwrap().id, 4000016);
        assert_eq!(Verdict::NoCodes.message().unwrap().id, 4000014);
    }
}
