//! Recovering an account with a link mailed to its recovery address.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};
use uuid::Uuid;

use super::Link;
use crate::deps::Deps;
use crate::identity::CredentialType;
use crate::selfservice::flow::{Flow, FlowError, FlowKind};
use crate::selfservice::otp::{self, Template};
use crate::selfservice::strategy::{Letter, Method, Proof, RecoveryStrategy, message_url};
use crate::selfservice::ui::UiContainer;
use crate::text;

const KIND: &str = "recovery_link";

/// `…/self-service/recovery?flow=<id>&token=<token>`
pub fn recovery_url(deps: &Deps, flow_id: Uuid, token: &str) -> String {
    format!(
        "{}&token={token}",
        message_url(deps, FlowKind::Recovery, flow_id)
    )
}

#[async_trait]
impl RecoveryStrategy for Link {
    fn method(&self) -> Method {
        Method::Link
    }

    fn populate(&self, ui: &mut UiContainer) {
        super::populate_address(ui);
    }

    fn show_sent(&self, flow: &mut Flow, email: &str) {
        super::show_sent(flow, email, text::recovery_email_sent());
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
        (
            Template::RecoveryValid,
            json!({"To": l.to, "RecoveryURL": recovery_url(deps, l.flow.id, l.secret), "Identity": l.identity,
                   "ExpiresInMinutes": l.expires_in_minutes, "RequestURL": l.flow.request_url}),
        )
    }

    fn unknown_template(&self) -> Template {
        Template::RecoveryInvalid
    }

    async fn use_link(
        &self,
        deps: &Deps,
        flow: &Flow,
        token: &str,
    ) -> Result<Option<Proof>, FlowError> {
        let proof = super::prove(deps, flow, KIND, token, text::recovery_token_invalid()).await?;
        Ok(Some(proof))
    }

    fn session_method(&self) -> CredentialType {
        CredentialType::LinkRecovery
    }
}
