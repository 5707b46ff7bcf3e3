//! Recovering an account with a code mailed to its recovery address.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};

use super::Code;
use crate::deps::Deps;
use crate::identity::CredentialType;
use crate::selfservice::flow::request::Submission;
use crate::selfservice::flow::{Flow, FlowError};
use crate::selfservice::otp::{self, Template};
use crate::selfservice::strategy::{Letter, Method, Proof, RecoveryStrategy};
use crate::selfservice::ui::UiContainer;
use crate::text;

const KIND: &str = "recovery_code";

#[async_trait]
impl RecoveryStrategy for Code {
    fn method(&self) -> Method {
        Method::Code
    }

    fn populate(&self, ui: &mut UiContainer) {
        super::populate_address(ui);
    }

    fn show_sent(&self, flow: &mut Flow, email: &str) {
        let action = flow.ui.action.clone();
        flow.ui = super::code_sent_ui(action, &flow.csrf_token, email, None);
        flow.ui.add_message(text::recovery_email_with_code_sent());
    }

    /// The user types the code the admin handed over into this flow: no address to resend to.
    fn show_admin_created(&self, flow: &mut Flow) {
        let action = flow.ui.action.clone();
        flow.ui = super::code_sent_ui(action, &flow.csrf_token, "", None);
        flow.ui.remove(&["email"]);
    }

    fn token_kind(&self) -> &'static str {
        KIND
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
        let proof = super::prove(deps, flow, KIND, &code, text::recovery_code_invalid()).await?;
        Ok(Some(proof))
    }

    fn session_method(&self) -> CredentialType {
        CredentialType::CodeRecovery
    }
}
