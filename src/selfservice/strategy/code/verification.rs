//! Verifying an address with a code sent to it; the message also carries a "code link" that
//! opens the flow with the code filled in.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};

use super::Code;
use crate::deps::Deps;
use crate::selfservice::flow::request::Submission;
use crate::selfservice::flow::{Flow, FlowError, FlowKind};
use crate::selfservice::otp::{self, Template};
use crate::selfservice::strategy::{
    Letter, Method, Opened, Proof, VerificationStrategy, continue_ui, message_url,
};
use crate::selfservice::ui::{CSRF_TOKEN_NAME, Group, UiContainer};
use crate::text;

const KIND: &str = "verification_code";

#[async_trait]
impl VerificationStrategy for Code {
    fn method(&self) -> Method {
        Method::Code
    }

    /// As Kratos's code method draws it: the address and its button, then the CSRF token,
    /// which only browser flows carry (API flows have an empty one).
    fn populate(&self, ui: &mut UiContainer) {
        let csrf = ui.find(CSRF_TOKEN_NAME).cloned();
        ui.remove(&[CSRF_TOKEN_NAME]);
        super::populate_address(ui, text::label_submit());
        if let Some(node) = csrf.filter(|n| n.value().is_some_and(|v| v != "")) {
            ui.append(node);
        }
    }

    fn show_sent(&self, flow: &mut Flow, address: &str) {
        flow.ui = super::verification_sent_ui(flow, Some(address), None);
        flow.ui
            .add_message(text::verification_email_with_code_sent());
    }

    fn verified_ui(&self, return_to: String) -> UiContainer {
        continue_ui(Group::Code, return_to)
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

    fn message(&self, deps: &Deps, l: &Letter<'_>) -> (Template, Value) {
        let base = message_url(deps, FlowKind::Verification, l.flow.id);
        (
            Template::VerificationCodeValid,
            json!({"To": l.to, "VerificationCode": l.secret, "VerificationURL": format!("{base}&code={}", l.secret),
                   "Identity": l.identity, "ExpiresInMinutes": l.expires_in_minutes, "RequestURL": l.flow.request_url}),
        )
    }

    fn unknown_template(&self) -> Template {
        Template::VerificationCodeInvalid
    }

    fn reaches_phones(&self) -> bool {
        true
    }

    /// Any submission with a code.
    async fn resume(
        &self,
        deps: &Deps,
        flow: &Flow,
        sub: &Submission,
    ) -> Result<Option<Proof>, FlowError> {
        let Some(code) = super::entered_code(sub) else {
            return Ok(None);
        };
        let proof =
            super::prove(deps, flow, KIND, &code, text::verification_code_invalid()).await?;
        Ok(Some(proof))
    }

    fn link_param(&self) -> &'static str {
        "code"
    }

    /// The code link fills the code into the form, which the user then submits.
    async fn open_link(
        &self,
        _deps: &Deps,
        flow: &mut Flow,
        code: &str,
    ) -> Result<Opened, FlowError> {
        if !flow.ui.set_value("code", json!(code)) {
            flow.ui = super::verification_sent_ui(flow, None, Some(code));
        }
        Ok(Opened::Prefilled)
    }
}
