//! Signing up with a code mailed (or texted) to the new identity's code identifier, without a
//! password.

use async_trait::async_trait;

use super::Code;
use crate::deps::Deps;
use crate::identity::now;
use crate::identity::schema::IdentitySchema;
use crate::identity::service::{AddressIn, CreateIdentityBody};
use crate::selfservice::flow::request::Submission;
use crate::selfservice::flow::{Flow, FlowError, FlowState, common};
use crate::selfservice::strategy::traits::{read_traits, validate_traits};
use crate::selfservice::strategy::{Method, Outcome, RegistrationStrategy};
use crate::selfservice::ui::{Group, InputType, UiContainer, UiNode, submit_node};
use crate::text;

#[async_trait]
impl RegistrationStrategy for Code {
    fn method(&self) -> Method {
        Method::Code
    }

    fn populate(&self, _deps: &Deps, _schema: &IdentitySchema, ui: &mut UiContainer) {
        ui.append(submit_node(Group::Code, "code", text::registration_code()));
    }

    /// After a code went out, only the code method may continue the flow.
    fn resumes(&self, state: FlowState) -> bool {
        state == FlowState::SentEmail
    }

    async fn register(
        &self,
        deps: &Deps,
        schema: &IdentitySchema,
        flow: &mut Flow,
        sub: &Submission,
        _all: &[&'static dyn RegistrationStrategy],
    ) -> Result<Outcome<CreateIdentityBody>, FlowError> {
        Ok(match code_register(deps, schema, flow, sub).await? {
            CodeStep::Ready(body) => Outcome::Done(*body),
            CodeStep::Sent => Outcome::Continue,
            CodeStep::Rejected => Outcome::Rejected,
        })
    }
}

enum CodeStep {
    /// A code went out; answer with the flow.
    Sent,
    /// Refused; the reasons are in the flow's UI.
    Rejected,
    /// The code checked out: the identity to create.
    Ready(Box<CreateIdentityBody>),
}

/// The code method on registration: traits alone ask for a code to the traits' code
/// identifier; traits with the right code create the identity, without a password.
async fn code_register(
    deps: &Deps,
    schema: &crate::identity::schema::IdentitySchema,
    flow: &mut Flow,
    sub: &Submission,
) -> Result<CodeStep, FlowError> {
    let Some(traits) = read_traits(schema, sub, &mut flow.ui) else {
        return Ok(CodeStep::Rejected);
    };
    let Some(extracted) = validate_traits(schema, &mut flow.ui, &traits) else {
        return Ok(CodeStep::Rejected);
    };
    let Some((address, via)) = extracted.code_identifiers.first().cloned() else {
        flow.ui.add_message(text::validation_identifier_missing());
        return Ok(CodeStep::Rejected);
    };
    if flow.state == FlowState::SentEmail
        && let Some(c) = super::submitted_code(sub)
    {
        let row = match super::check(deps, flow, super::KIND_REGISTRATION, &c).await? {
            super::Checked::TooOften => {
                flow.ui.add_message(super::too_often());
                return Ok(CodeStep::Rejected);
            }
            super::Checked::Invalid => {
                flow.ui.add_message(text::registration_code_invalid());
                return Ok(CodeStep::Rejected);
            }
            super::Checked::Expired(expired_at) => {
                return Err(FlowError::Expired {
                    expired_at,
                    replacement: None,
                });
            }
            super::Checked::Valid(row) => row,
        };
        // The code proves one address; the traits must still carry it.
        let proven = row.address.as_deref().unwrap_or_default();
        let Some((_, via)) = extracted.code_identifiers.iter().find(|(a, _)| a == proven) else {
            flow.ui.add_message(text::registration_code_invalid());
            return Ok(CodeStep::Rejected);
        };
        // Receiving the code verified the address (Kratos's `verifyAddress`): it is created
        // `completed`, so the verification hook sends it nothing more.
        let verified = AddressIn {
            value: proven.to_owned(),
            via: via.as_str().to_owned(),
            verified: Some(true),
            status: Some("completed".into()),
            verified_at: None,
        };
        let body = CreateIdentityBody {
            schema_id: Some(schema.id.clone()),
            traits,
            state: None,
            metadata_public: None,
            metadata_admin: None,
            external_id: None,
            organization_id: None,
            verifiable_addresses: Some(vec![verified]),
            recovery_addresses: None,
            credentials: None,
        };
        return Ok(CodeStep::Ready(Box::new(body)));
    }
    crate::selfservice::flow::common::admit_code(deps, sub.client_address).await?;
    flow.state = FlowState::SentEmail;
    flow.updated_at = now();
    super::send(
        deps,
        flow,
        super::KIND_REGISTRATION,
        &address,
        super::channel_of(via),
        None,
    )
    .await?;
    // The traits (and the CSRF token) carry over, as in Kratos: the default group without
    // its buttons.
    super::show_code_sent(flow, text::label_registration_code(), |n| {
        n.group == Group::Default
            && n.input_attributes()
                .is_none_or(|a| a.kind != InputType::Submit)
    });
    // Two-step registration offers a way back to the choice of credentials (the profile
    // method takes `screen`), as Kratos does.
    if deps.config.selfservice.flows.registration.two_steps() {
        flow.ui.append(
            UiNode::input("screen", Group::Profile, InputType::Submit)
                .with_value("credential-selection")
                .with_label(text::registration_back()),
        );
    }
    flow.ui.add_message(text::registration_code_sent());
    common::save(deps, flow, &[FlowState::ChooseMethod, FlowState::SentEmail]).await?;
    Ok(CodeStep::Sent)
}
