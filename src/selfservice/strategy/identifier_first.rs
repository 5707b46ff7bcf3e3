//! Identifier-first login (`selfservice.flows.login.style: identifier_first`): the first screen
//! asks who is signing in (plus the methods that need no identifier: provider buttons,
//! passkeys); the identifier submitted, the second screen shows the methods that account can
//! sign in with, the identifier kept as a hidden input. Each method draws its part
//! ([`LoginStrategy::populate_identification`], [`LoginStrategy::populate_identified`]);
//! this method only asks and looks the account up.
//!
//! An identifier nobody has gets 4000037 — unless `security.account_enumeration.mitigate`
//! is on, when the second screen shows as for an account with every method, so it does not
//! tell whether the account exists.

use async_trait::async_trait;
use serde_json::Value;

use super::{LoginStrategy, Method, Outcome, Registry};
use crate::deps::Deps;
use crate::identity::{CredentialType, Identity};
use crate::selfservice::flow::request::Submission;
use crate::selfservice::flow::{Flow, FlowError, FlowState, common};
use crate::selfservice::ui::{
    Autocomplete, Group, InputType, SortOptions, UiContainer, UiNode, identifier_label, submit_node,
};
use crate::session::Aal;
use crate::text;

pub struct IdentifierFirst;

/// The credential types whose identifiers name an account, in the order they are tried.
const IDENTIFIED_BY: [CredentialType; 3] = [
    CredentialType::Password,
    CredentialType::Code,
    CredentialType::Webauthn,
];

#[async_trait]
impl LoginStrategy for IdentifierFirst {
    fn method(&self) -> Method {
        Method::IdentifierFirst
    }

    /// In a unified login (a refresh, which re-authenticates a known user) it shows nothing.
    fn populate(&self, _deps: &Deps, _ui: &mut UiContainer) {}

    /// The identifier and "Continue", as Kratos draws them.
    fn populate_identification(
        &self,
        deps: &Deps,
        ui: &mut UiContainer,
        _internal: &mut Option<Value>,
    ) -> Result<(), FlowError> {
        let label = match deps.schemas.default_schema() {
            Ok(schema) => identifier_label(&schema),
            Err(_) => text::label_id(),
        };
        ui.append(
            UiNode::input("identifier", Group::IdentifierFirst, InputType::Text)
                .with_value("")
                .required()
                .with_autocomplete(Autocomplete::UsernameWebauthn)
                .with_label(label),
        );
        ui.append(submit_node(
            Group::IdentifierFirst,
            Method::IdentifierFirst.as_str(),
            text::label_continue(),
        ));
        Ok(())
    }

    async fn login(
        &self,
        deps: &Deps,
        flow: &mut Flow,
        sub: &Submission,
    ) -> Result<Outcome<Identity>, FlowError> {
        let identifier = sub.str("identifier").unwrap_or_default().trim().to_owned();
        flow.ui
            .set_value("identifier", Value::String(identifier.clone()));
        if identifier.is_empty() {
            flow.ui
                .add_node_message("identifier", text::validation_required("identifier"));
            return Ok(Outcome::Rejected);
        }
        let identity = account(deps, &identifier).await?;
        let mitigate = deps.config.security.account_enumeration.mitigate;
        let registry = Registry::new(&deps.config);
        let mut shown = false;
        for s in registry.login_at(Aal::Aal1, None) {
            shown |= s.populate_identified(deps, &mut flow.ui, identity.as_ref(), mitigate);
        }
        if !shown && !mitigate {
            flow.ui
                .add_node_message("identifier", text::validation_account_not_found());
            return Ok(Outcome::Rejected);
        }
        // Identified: the identifier stays on the form, hidden; "Continue" is done.
        flow.ui.nodes.retain(|n| {
            n.input_attributes().is_none_or(|a| {
                !(a.name == "method" && a.value == Some(Value::from(self.method().as_str())))
            })
        });
        for node in &mut flow.ui.nodes {
            if let Some(a) = node.input_attributes_mut()
                && a.name == "identifier"
            {
                a.kind = InputType::Hidden;
            }
        }
        flow.ui.sort_nodes(&SortOptions::login());
        flow.updated_at = crate::identity::now();
        common::save(deps, flow, &[FlowState::ChooseMethod]).await?;
        Ok(Outcome::Continue)
    }
}

/// The account an identifier names, with its credentials: the first credential type whose
/// identifiers hold it (as stored: trimmed and lower-cased).
async fn account(deps: &Deps, identifier: &str) -> Result<Option<Identity>, FlowError> {
    let normalized = super::password::normalize(identifier);
    for kind in IDENTIFIED_BY {
        let found = crate::store::credentials::identity_for_identifier(
            &deps.store,
            kind.as_str(),
            &normalized,
        )
        .await?;
        if let Some(id) = found {
            return match crate::identity::service::get(deps, id, true).await {
                Ok(i) => Ok(Some(i)),
                Err(crate::identity::service::IdentityError::NotFound) => Ok(None),
                Err(e) => Err(FlowError::Internal(e.to_string())),
            };
        }
    }
    Ok(None)
}
