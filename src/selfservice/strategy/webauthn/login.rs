//! Signing in with a security key: as a second factor in `aal=aal2` flows ([`Webauthn`]), or
//! passwordless at aal1 in two steps as Kratos does ([`WebauthnPasswordless`]): the
//! identifier first, answered with the options of that account's passwordless keys, then the
//! key's answer.

use async_trait::async_trait;
use serde_json::Value;

use super::{
    KEY, LOGIN, Pending, Webauthn, WebauthnPasswordless, finish_login, login_nodes, refused,
    relying_party, start_login, stored,
};
use crate::deps::Deps;
use crate::identity::service::{self as identities, IdentityError};
use crate::identity::{CredentialType, Identity, State};
use crate::selfservice::flow::request::Submission;
use crate::selfservice::flow::{Flow, FlowError, FlowState, common};
use crate::selfservice::strategy::password;
use crate::selfservice::strategy::webauthn_ceremony::{Ceremony, CeremonyError};
use crate::selfservice::strategy::{
    LoginStrategy, Method, Outcome, aal2_identity, add_login_identifier,
};
use crate::selfservice::ui::{
    CSRF_TOKEN_NAME, Group, InputType, SortOptions, UiContainer, UiNode, submit_node,
};
use crate::session::Aal;
use crate::text;

/// Both buttons of the method: the method's, and the answer the script submits.
fn takes(sub: &Submission) -> bool {
    sub.str("method") == Some(Method::Webauthn.as_str())
        || sub.str(LOGIN).is_some_and(|a| !a.is_empty())
}

/// The hidden identifier Kratos puts before the key's nodes.
fn identifier_node(value: &str) -> UiNode {
    UiNode::input("identifier", Group::Default, InputType::Hidden).with_value(value)
}

#[async_trait]
impl LoginStrategy for Webauthn {
    fn method(&self) -> Method {
        Method::Webauthn
    }

    fn aal(&self) -> Aal {
        Aal::Aal2
    }

    fn configured_for(&self, identity: &Identity) -> bool {
        stored(identity)
            .credentials
            .iter()
            .any(|c| !c.is_passwordless)
    }

    /// The nodes name the signed-in identity's keys: see [`Self::populate_flow`].
    fn populate(&self, _deps: &Deps, _ui: &mut UiContainer) {}

    /// Kratos's `PopulateLoginMethodSecondFactor`: the options of the identity's second-factor
    /// keys in the trigger, the answer's input and the script; the challenge stays with the flow.
    fn populate_flow(
        &self,
        deps: &Deps,
        ui: &mut UiContainer,
        identity: Option<&Identity>,
        internal: &mut Option<Value>,
    ) -> Result<(), FlowError> {
        let Some(identity) = identity else {
            return Ok(());
        };
        let Some((options, state)) =
            start_login(&relying_party(deps)?, Ceremony::SecondFactor, identity)?
        else {
            return Ok(());
        };
        Pending {
            identity_id: Some(identity.id),
            state,
        }
        .put(internal)?;
        let first = identity
            .credentials
            .get(&CredentialType::Webauthn)
            .and_then(|c| c.identifiers.first())
            .cloned()
            .unwrap_or_default();
        ui.upsert(identifier_node(&first));
        login_nodes(deps, ui, &options, text::login_webauthn());
        Ok(())
    }

    fn takes(&self, sub: &Submission) -> bool {
        takes(sub)
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
        answer(deps, flow, sub, &identity, Ceremony::SecondFactor).await
    }
}

#[async_trait]
impl LoginStrategy for WebauthnPasswordless {
    fn method(&self) -> Method {
        Method::Webauthn
    }

    /// Identifier-first: the button asking for the account's keys, when it has passwordless
    /// ones.
    fn populate_identified(
        &self,
        _deps: &Deps,
        ui: &mut UiContainer,
        identity: Option<&Identity>,
        mitigate: bool,
    ) -> bool {
        let has = identity.map_or(mitigate, |i| {
            super::stored(i)
                .credentials
                .iter()
                .any(|c| c.is_passwordless)
        });
        if has {
            ui.append(submit_node(
                Group::Webauthn,
                Method::Webauthn.as_str(),
                text::login_webauthn(),
            ));
        }
        has
    }

    /// The identifier and the button asking for that account's keys.
    fn populate(&self, deps: &Deps, ui: &mut UiContainer) {
        add_login_identifier(deps, ui);
        ui.append(submit_node(
            Group::Webauthn,
            Method::Webauthn.as_str(),
            text::login_webauthn(),
        ));
    }

    fn takes(&self, sub: &Submission) -> bool {
        takes(sub)
    }

    async fn login(
        &self,
        deps: &Deps,
        flow: &mut Flow,
        sub: &Submission,
    ) -> Result<Outcome<Identity>, FlowError> {
        let identifier = sub.str("identifier").unwrap_or_default().trim().to_owned();
        if identifier.is_empty() {
            flow.ui
                .add_node_message("identifier", text::validation_required("identifier"));
            return Ok(Outcome::Rejected);
        }
        // The same answer for an unknown account and one without passwordless keys.
        let Some(identity) = owner(deps, &identifier).await? else {
            flow.ui.add_message(text::validation_no_webauthn_user());
            return Ok(Outcome::Rejected);
        };
        if sub.str(LOGIN).is_some_and(|a| !a.is_empty()) {
            let outcome = answer(deps, flow, sub, &identity, Ceremony::Passwordless).await?;
            if matches!(outcome, Outcome::Done(_)) && identity.state != State::Active {
                flow.ui.add_message(text::identity_disabled());
                return Ok(Outcome::Rejected);
            }
            return Ok(outcome);
        }
        if !challenge(deps, flow, &identity, Ceremony::Passwordless).await? {
            flow.ui.add_message(text::validation_no_webauthn_user());
            return Ok(Outcome::Rejected);
        }
        // The second step's form: only the key's nodes for this identifier (Kratos resets the
        // others so the user is not confused).
        flow.ui.nodes.retain(|n| {
            n.id() == CSRF_TOKEN_NAME || (n.group == Group::Webauthn && n.id() != "method")
        });
        flow.ui.upsert(identifier_node(&identifier).required());
        flow.ui.sort_nodes(&SortOptions::login());
        flow.ui.add_message(text::login_webauthn_passwordless());
        Ok(Outcome::Rejected)
    }
}

/// The identity whose `webauthn` credential has `identifier`, with its credentials.
async fn owner(deps: &Deps, identifier: &str) -> Result<Option<Identity>, FlowError> {
    let Some(id) = crate::store::credentials::identity_for_identifier(
        &deps.store,
        CredentialType::Webauthn.as_str(),
        &password::normalize(identifier),
    )
    .await?
    else {
        return Ok(None);
    };
    match identities::get(deps, id, true).await {
        Ok(identity) => Ok(Some(identity)),
        Err(IdentityError::NotFound) => Ok(None),
        Err(e) => Err(FlowError::Internal(e.to_string())),
    }
}

/// Shows a fresh challenge for `identity`'s keys of `ceremony` and stores it with the flow;
/// `false` when it has no such keys.
async fn challenge(
    deps: &Deps,
    flow: &mut Flow,
    identity: &Identity,
    ceremony: Ceremony,
) -> Result<bool, FlowError> {
    let Some((options, state)) = start_login(&relying_party(deps)?, ceremony, identity)? else {
        return Ok(false);
    };
    let pending = Pending {
        identity_id: Some(identity.id),
        state,
    };
    flow.internal = Some(
        common::keep_internal(
            deps,
            flow,
            KEY,
            Some(pending.to_value()?),
            &[FlowState::ChooseMethod],
        )
        .await?,
    );
    let label = match ceremony {
        Ceremony::SecondFactor => text::login_webauthn(),
        _ => text::login_continue_webauthn(),
    };
    login_nodes(deps, &mut flow.ui, &options, label);
    Ok(true)
}

/// Verifies the key's answer (`webauthn_login`) to the flow's challenge for `identity`. The
/// challenge is spent whatever the outcome; a refused answer gets a fresh one, so the flow
/// stays usable.
async fn answer(
    deps: &Deps,
    flow: &mut Flow,
    sub: &Submission,
    identity: &Identity,
    ceremony: Ceremony,
) -> Result<Outcome<Identity>, FlowError> {
    let pending = Pending::from_value(common::take_internal(deps, flow, KEY).await?)
        .filter(|p| p.identity_id.is_none_or(|id| id == identity.id));
    let response = sub.str(LOGIN).unwrap_or_default();
    let verdict = match pending {
        None => Err(CeremonyError::NoChallenge),
        Some(_) if response.is_empty() => Err(CeremonyError::Malformed("no answer".into())),
        Some(p) => {
            finish_login(deps, &relying_party(deps)?, &p.state, response, identity.id).await?
        }
    };
    match verdict {
        Ok(()) => Ok(Outcome::Done(identity.clone())),
        Err(e) => {
            flow.ui.add_message(refused(&e));
            if !challenge(deps, flow, identity, ceremony).await? {
                flow.ui.add_message(text::validation_no_webauthn_device());
            }
            Ok(Outcome::Rejected)
        }
    }
}
