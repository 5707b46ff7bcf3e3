//! Verifying an address with a link sent to it.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};

use super::Link;
use crate::deps::Deps;
use crate::selfservice::flow::{Flow, FlowError, FlowKind};
use crate::selfservice::otp::{self, Template};
use crate::selfservice::strategy::{
    Letter, Method, Opened, VerificationStrategy, continue_ui, message_url,
};
use crate::selfservice::ui::{Group, UiContainer};
use crate::text;

const KIND: &str = "verification_link";

#[async_trait]
impl VerificationStrategy for Link {
    fn method(&self) -> Method {
        Method::Link
    }

    fn populate(&self, ui: &mut UiContainer) {
        super::populate_address(ui);
    }

    fn show_sent(&self, flow: &mut Flow, address: &str) {
        super::show_sent(flow, address, text::verification_email_sent());
    }

    /// The same screen as after a code: its link has always been in the code group.
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
        otp::new_link_token()
    }

    fn message(&self, deps: &Deps, l: &Letter<'_>) -> (Template, Value) {
        let base = message_url(deps, FlowKind::Verification, l.flow.id);
        (
            Template::VerificationValid,
            json!({"To": l.to, "VerificationURL": format!("{base}&token={}", l.secret), "Identity": l.identity,
                   "ExpiresInMinutes": l.expires_in_minutes, "RequestURL": l.flow.request_url}),
        )
    }

    fn unknown_template(&self) -> Template {
        Template::VerificationInvalid
    }

    fn link_param(&self) -> &'static str {
        "token"
    }

    async fn open_link(
        &self,
        deps: &Deps,
        flow: &mut Flow,
        token: &str,
    ) -> Result<Opened, FlowError> {
        let proof =
            super::prove(deps, flow, KIND, token, text::verification_token_invalid()).await?;
        Ok(Opened::Checked(proof))
    }
}
