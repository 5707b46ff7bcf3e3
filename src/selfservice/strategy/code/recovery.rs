//! Recovering an account with a code mailed to its recovery address.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};

use super::Code;
use crate::deps::Deps;
use crate::identity::CredentialType;
use crate::selfservice::flow::request::Submission;
use crate::selfservice::flow::{Flow, FlowError, FlowState};
use crate::selfservice::otp::{self, Template};
use crate::selfservice::strategy::{Advanced, Letter, Method, Proof, RecoveryStrategy};
use crate::selfservice::ui::{Group, UiContainer, submit_node};
use crate::text;

#[async_trait]
impl RecoveryStrategy for Code {
    fn method(&self) -> Method {
        Method::Code
    }

    fn populate(&self, ui: &mut UiContainer) {
        super::populate_address(ui, text::label_continue());
    }

    fn show_sent(&self, flow: &mut Flow, email: &str) {
        let action = flow.ui.action.clone();
        flow.ui = super::recovery_sent_ui(action, &flow.csrf_token, email);
        flow.ui.add_message(text::recovery_email_with_code_sent());
    }

    /// The user types the code the admin handed over into this flow: no address to resend
    /// to, and (as in Kratos, which never checks CSRF on these flows) no CSRF token.
    fn show_admin_created(&self, flow: &mut Flow) {
        let mut ui = UiContainer::new(flow.ui.action.clone(), "POST");
        ui.append(super::code_node(text::label_recovery_code()));
        ui.append(submit_node(Group::Code, "code", text::label_submit()));
        flow.ui = ui;
    }

    /// With `feature_flags.choose_recovery_address`: Kratos's recovery by address choice.
    fn own_first_screen(&self, deps: &Deps, ui: &mut UiContainer) -> Option<FlowState> {
        if !deps.config.feature_flags.choose_recovery_address {
            return None;
        }
        super::address_choice::first_screen(ui);
        Some(FlowState::RecoveryAwaitingAddress)
    }

    async fn advance(
        &self,
        deps: &Deps,
        flow: &mut Flow,
        sub: &Submission,
    ) -> Result<Advanced, FlowError> {
        super::address_choice::advance(deps, flow, sub).await
    }

    fn token_kind(&self) -> &'static str {
        super::KIND_RECOVERY
    }

    fn lifespan(&self, deps: &Deps) -> Duration {
        super::lifespan(deps)
    }

    fn new_secret(&self) -> String {
        otp::new_code()
    }

    fn message(&self, _deps: &Deps, l: &Letter<'_>) -> (Template, Value) {
        (
            Template::RecoveryCodeValid,
            json!({"To": l.to, "RecoveryCode": l.secret, "Identity": l.identity,
                   "ExpiresInMinutes": l.expires_in_minutes, "RequestURL": l.flow.request_url}),
        )
    }

    fn unknown_template(&self) -> Template {
        Template::RecoveryCodeInvalid
    }

    /// A code without an address (the address means "resend").
    async fn resume(
        &self,
        deps: &Deps,
        flow: &Flow,
        sub: &Submission,
    ) -> Result<Option<Proof>, FlowError> {
        if sub.str("email").is_some_and(|e| !e.trim().is_empty()) {
            return Ok(None);
        }
        let code = super::entered_code(sub).unwrap_or_default();
        let proof = super::prove(
            deps,
            flow,
            super::KIND_RECOVERY,
            &code,
            text::recovery_code_invalid(),
        )
        .await?;
        Ok(Some(proof))
    }

    fn session_method(&self) -> CredentialType {
        CredentialType::CodeRecovery
    }
}
