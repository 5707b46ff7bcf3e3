//! Changing the password of a signed-in identity in the settings flow.

use async_trait::async_trait;

use super::Password;
use crate::deps::Deps;
use crate::hash::HashError;
use crate::identity::schema::IdentitySchema;
use crate::identity::service as identities;
use crate::identity::{Credential, CredentialType, Identity, now};
use crate::selfservice::flow::FlowError;
use crate::selfservice::flow::request::Submission;
use crate::selfservice::strategy::{Method, Outcome, SettingsContext, SettingsStrategy};
use crate::selfservice::ui::{self, Group, UiContainer};
use crate::text;

#[async_trait]
impl SettingsStrategy for Password {
    fn method(&self) -> Method {
        Method::Password
    }

    /// A new password and the method's save button.
    fn populate(
        &self,
        _deps: &Deps,
        _schema: &IdentitySchema,
        ui: &mut UiContainer,
        _identity: &Identity,
    ) {
        ui.append(ui::password_node("new-password"));
        ui.append(ui::submit_node(
            Group::Password,
            "password",
            text::label_save(),
        ));
    }

    /// Always privileged: a stolen session must not be able to lock the owner out.
    async fn update(
        &self,
        cx: &SettingsContext<'_>,
        ui: &mut UiContainer,
        sub: &Submission,
    ) -> Result<Outcome<Identity>, FlowError> {
        cx.ensure_privileged()?;
        Ok(match settings(cx.deps, ui, sub, cx.identity).await? {
            Some(identity) => Outcome::Done(identity),
            None => Outcome::Rejected,
        })
    }
}

/// Checks the new password against the policy (the same as for sign-up, against each of the
/// identity's identifiers) and returns the identity with the new hash. `Ok(None)` means
/// rejected, with the reason on the `password` node.
async fn settings(
    deps: &Deps,
    ui: &mut UiContainer,
    sub: &Submission,
    current: &Identity,
) -> Result<Option<Identity>, FlowError> {
    let password = sub.str("password").unwrap_or_default().to_owned();
    if password.is_empty() {
        ui.add_node_message("password", text::validation_required("password"));
        return Ok(None);
    }
    let mut updated = current.clone();
    if !updated.credentials.contains_key(&CredentialType::Password) {
        // No password yet (e.g. a code-only account): its identifiers follow the traits.
        if let Err(e) = identities::apply_schema(deps, &mut updated, &[], &[]) {
            ui.add_message(text::validation_generic(&e.to_string()));
            return Ok(None);
        }
    }
    let identifiers = updated
        .credentials
        .get(&CredentialType::Password)
        .map(|c| c.identifiers.clone())
        .unwrap_or_default();
    // Without identifiers only the length and breach checks apply.
    let candidates = if identifiers.is_empty() {
        vec![String::new()]
    } else {
        identifiers.clone()
    };
    for identifier in &candidates {
        if let Err(violation) = deps.password_policy.validate(identifier, &password).await {
            ui.add_node_message("password", violation.message());
            return Ok(None);
        }
    }
    let hashed = match deps.hasher.hash(password.as_bytes()).await {
        Ok(h) => h,
        Err(e @ HashError::PasswordTooLong) => {
            ui.add_node_message("password", text::validation_generic(&e.to_string()));
            return Ok(None);
        }
        Err(e) => return Err(FlowError::Internal(e.to_string())),
    };
    let ts = now();
    let config = serde_json::json!({ "hashed_password": hashed });
    match updated.credentials.get_mut(&CredentialType::Password) {
        Some(c) => {
            c.config = config;
            c.updated_at = ts;
        }
        None => {
            updated.credentials.insert(
                CredentialType::Password,
                Credential {
                    id: uuid::Uuid::new_v4(),
                    kind: CredentialType::Password,
                    identifiers,
                    config,
                    version: 0,
                    created_at: ts,
                    updated_at: ts,
                },
            );
        }
    }
    updated.updated_at = ts;
    Ok(Some(updated))
}
