//! Code as a second factor (Kratos's `PopulateLoginMethodSecondFactor` of the code method): an
//! aal2 login flow offers a button per code address of the signed-in identity; the chosen
//! one gets a code through the courier, and the right code steps the session up to aal2.

use async_trait::async_trait;
use serde_json::Value;

use super::CodeMfa;
use super::login::{CodeStep, verify};
use crate::courier::Channel;
use crate::deps::Deps;
use crate::identity::{CredentialType, Identity, now};
use crate::selfservice::flow::request::Submission;
use crate::selfservice::flow::{Flow, FlowError, FlowState, common};
use crate::selfservice::strategy::{LoginStrategy, Method, Outcome, aal2_identity};
use crate::selfservice::ui::{Group, InputType, UiContainer, UiNode};
use crate::session::Aal;
use crate::text;

/// The identity's code addresses as `(channel, address)`, from its `code` credential (the
/// traits the schema marks `ory.sh/kratos.credentials.code.identifier`), as Kratos offers them.
fn addresses(identity: &Identity) -> Vec<(String, String)> {
    identity
        .credentials
        .get(&CredentialType::Code)
        .and_then(|c| c.config.get("addresses"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|a| {
            let address = a.get("address").and_then(Value::as_str)?;
            let channel = a.get("channel").and_then(Value::as_str).unwrap_or("email");
            Some((channel.to_owned(), address.to_owned()))
        })
        .collect()
}

/// The `address` a submission chose (a button's value, or the hidden one on resend).
fn chosen_address(sub: &Submission) -> Option<String> {
    sub.str("address")
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_owned)
}

#[async_trait]
impl LoginStrategy for CodeMfa {
    fn method(&self) -> Method {
        Method::Code
    }

    fn aal(&self) -> Aal {
        Aal::Aal2
    }

    fn configured_for(&self, identity: &Identity) -> bool {
        !addresses(identity).is_empty()
    }

    /// Kratos's address buttons send only `address`.
    fn takes(&self, sub: &Submission) -> bool {
        match sub.str("method").filter(|m| !m.is_empty()) {
            Some(m) => m == self.method().as_str(),
            None => chosen_address(sub).is_some(),
        }
    }

    /// Without the identity there is no address to offer.
    fn populate(&self, _deps: &Deps, _ui: &mut UiContainer) {}

    /// One "Send code to {address}" button per address (message 1010023).
    fn populate_for(&self, _deps: &Deps, ui: &mut UiContainer, identity: Option<&Identity>) {
        let Some(identity) = identity else { return };
        let all = addresses(identity);
        if all.is_empty() {
            return;
        }
        for (channel, address) in &all {
            ui.append(
                UiNode::input("address", Group::Code, InputType::Submit)
                    .with_value(address.as_str())
                    .with_label(text::login_code_mfa(channel, address)),
            );
        }
    }

    /// After a code went out, only the code may continue the flow (or a resend).
    fn resumes(&self, state: FlowState) -> bool {
        state == FlowState::SentEmail
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
        let id = identity.id;
        if flow.state == FlowState::SentEmail
            && let Some(code) = super::submitted_code(sub)
        {
            return Ok(match verify(deps, flow, &code).await? {
                // Codes of this flow go only to its identity; anything else is refused.
                CodeStep::Verified(i) if i.id != id => {
                    flow.ui.add_message(text::login_code_invalid());
                    Outcome::Rejected
                }
                step => step.into(),
            });
        }
        let Some(address) = chosen_address(sub) else {
            flow.ui
                .add_node_message("address", text::validation_required("address"));
            return Ok(Outcome::Rejected);
        };
        let Some((channel, address)) = addresses(&identity)
            .into_iter()
            .find(|(_, a)| *a == address)
        else {
            flow.ui.add_message(text::validation_generic(
                "The address is not one of this account's code addresses.",
            ));
            return Ok(Outcome::Rejected);
        };
        let channel = if channel == "sms" {
            Channel::Sms
        } else {
            Channel::Email
        };
        crate::selfservice::flow::common::admit_code(deps, sub.client_address).await?;
        super::send(deps, flow, super::KIND_LOGIN, &address, channel, Some(id)).await?;
        flow.state = FlowState::SentEmail;
        flow.updated_at = now();
        // The chosen address stays (hidden) so "resend" sends to it again.
        super::show_code_sent(flow, text::label_login_code(), |_| false);
        flow.ui.append(
            UiNode::input("address", Group::Code, InputType::Hidden).with_value(address.as_str()),
        );
        flow.ui.add_message(text::login_code_sent());
        common::save(deps, flow, &[FlowState::ChooseMethod, FlowState::SentEmail]).await?;
        Ok(Outcome::Continue)
    }
}
