//! Signing in with a code mailed (or texted) to a code identifier.

use async_trait::async_trait;

use super::Code;
use crate::deps::Deps;
use crate::identity::{CredentialType, Identity, State, now};
use crate::selfservice::flow::request::Submission;
use crate::selfservice::flow::{Flow, FlowError, FlowState, common};
use crate::selfservice::strategy::password;
use crate::selfservice::strategy::{LoginStrategy, Method, Outcome, add_login_identifier};
use crate::selfservice::ui::{Group, UiContainer, submit_node};
use crate::text;

#[async_trait]
impl LoginStrategy for Code {
    fn method(&self) -> Method {
        Method::Code
    }

    /// The identifier (when no other method put it there) and the button asking for a code.
    fn populate(&self, deps: &Deps, ui: &mut UiContainer) {
        add_login_identifier(deps, ui);
        ui.append(submit_node(Group::Code, "code", text::login_code()));
    }

    /// Identifier-first: the button asking for a code, for an account with a code address.
    fn populate_identified(
        &self,
        _deps: &Deps,
        ui: &mut UiContainer,
        identity: Option<&Identity>,
        mitigate: bool,
    ) -> bool {
        let has = identity.map_or(mitigate, |i| {
            i.credentials
                .get(&CredentialType::Code)
                .is_some_and(|c| !c.identifiers.is_empty())
        });
        if has {
            ui.append(submit_node(Group::Code, "code", text::login_code()));
        }
        has
    }

    /// After a code went out, only the code method may continue the flow.
    fn resumes(&self, state: FlowState) -> bool {
        state == FlowState::SentEmail
    }

    async fn login(
        &self,
        deps: &Deps,
        flow: &mut Flow,
        sub: &Submission,
    ) -> Result<Outcome<Identity>, FlowError> {
        Ok(code_login(deps, flow, sub).await?.into())
    }
}

pub(super) enum CodeStep {
    /// A code went out (or, for an unknown identifier, seemingly did); answer with the flow.
    Sent,
    /// The submission was refused; the reasons are in the flow's UI.
    Rejected,
    Verified(Box<Identity>),
}

impl From<CodeStep> for Outcome<Identity> {
    fn from(step: CodeStep) -> Self {
        match step {
            CodeStep::Verified(identity) => Outcome::Done(*identity),
            CodeStep::Sent => Outcome::Continue,
            CodeStep::Rejected => Outcome::Rejected,
        }
    }
}

/// The code method on login: a submission with a code (after one was sent) checks it; any
/// other asks for a code for the identifier.
async fn code_login(deps: &Deps, flow: &mut Flow, sub: &Submission) -> Result<CodeStep, FlowError> {
    let identifier = sub.str("identifier").unwrap_or_default().trim().to_owned();
    if flow.state == FlowState::SentEmail
        && let Some(c) = super::submitted_code(sub)
    {
        return verify(deps, flow, &c).await;
    }
    flow.ui
        .set_value("identifier", serde_json::json!(identifier));
    if identifier.is_empty() {
        flow.ui
            .add_node_message("identifier", text::validation_required("identifier"));
        return Ok(CodeStep::Rejected);
    }
    // Counted whether or not the identifier has an account, so the limit tells nothing.
    crate::selfservice::flow::common::admit_code(deps, sub.client_address).await?;
    let address = password::normalize(&identifier);
    let owner = crate::store::credentials::identity_for_identifier(
        &deps.store,
        CredentialType::Code.as_str(),
        &address,
    )
    .await?;
    match owner {
        Some(identity_id) => {
            let channel = super::channel_for(deps, identity_id, &address).await;
            super::send(
                deps,
                flow,
                super::KIND_LOGIN,
                &address,
                channel,
                Some(identity_id),
            )
            .await?
        }
        // Nobody to mail: still void earlier codes so the answer and the flow look the same.
        None => {
            crate::store::tokens::replace_for_flow(&deps.store, flow.id, super::KIND_LOGIN, &[])
                .await?
        }
    }
    flow.state = FlowState::SentEmail;
    flow.updated_at = now();
    // Only the identifier carries over (hidden), as in Kratos.
    super::show_code_sent(flow, text::label_login_code(), |n| n.id() == "identifier");
    flow.ui.add_message(text::login_code_sent());
    common::save(deps, flow, &[FlowState::ChooseMethod, FlowState::SentEmail]).await?;
    Ok(CodeStep::Sent)
}

/// Checks a login code of the flow and, when right, the identity it was sent for: the
/// passwordless method and the second factor both finish this way.
pub(super) async fn verify(
    deps: &Deps,
    flow: &mut Flow,
    code: &str,
) -> Result<CodeStep, FlowError> {
    match super::check(deps, flow, super::KIND_LOGIN, code).await? {
        super::Checked::TooOften => {
            flow.ui.add_message(super::too_often());
            Ok(CodeStep::Rejected)
        }
        super::Checked::Invalid => {
            flow.ui.add_message(text::login_code_invalid());
            Ok(CodeStep::Rejected)
        }
        // The flow answers with a fresh one, as for a flow that expired then.
        super::Checked::Expired(expired_at) => Err(FlowError::Expired {
            expired_at,
            replacement: None,
        }),
        super::Checked::Valid(row) => {
            let Some(id) = row.identity_id else {
                flow.ui.add_message(text::login_code_invalid());
                return Ok(CodeStep::Rejected);
            };
            // Receiving the code proves the address, as Kratos's `verifyAddress` records.
            if let Some(address) = &row.address {
                crate::store::tokens::mark_value_verified(
                    &deps.store,
                    id.0,
                    address,
                    now().naive_utc(),
                )
                .await?;
                deps.session_cache.invalidate_identity(id.0);
            }
            match crate::identity::service::get(deps, id.0, true).await {
                Ok(i) if i.state == State::Active => Ok(CodeStep::Verified(Box::new(i))),
                Ok(_) => {
                    flow.ui.add_message(text::identity_disabled());
                    Ok(CodeStep::Rejected)
                }
                Err(_) => {
                    flow.ui.add_message(text::login_code_invalid());
                    Ok(CodeStep::Rejected)
                }
            }
        }
    }
}
