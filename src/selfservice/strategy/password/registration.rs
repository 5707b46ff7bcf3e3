//! Signing up with traits and a password.

use async_trait::async_trait;

use super::Password;
use super::login::normalize;
use crate::deps::Deps;
use crate::identity::schema::IdentitySchema;
use crate::identity::service::{CreateIdentityBody, CredentialsIn, PasswordConfigIn, PasswordIn};
use crate::selfservice::flow::request::Submission;
use crate::selfservice::flow::{Flow, FlowError};
use crate::selfservice::strategy::traits::{read_traits, validate_traits};
use crate::selfservice::strategy::{Method, Outcome, RegistrationStrategy};
use crate::selfservice::ui::{self, Group, UiContainer};
use crate::text;

#[async_trait]
impl RegistrationStrategy for Password {
    fn method(&self) -> Method {
        Method::Password
    }

    /// A new password and the submit button (the traits are the flow's).
    fn populate(&self, _deps: &Deps, _schema: &IdentitySchema, ui: &mut UiContainer) {
        ui.append(ui::password_node("new-password"));
        ui.append(ui::submit_node(
            Group::Password,
            "password",
            text::registration(),
        ));
    }

    async fn register(
        &self,
        deps: &Deps,
        schema: &IdentitySchema,
        flow: &mut Flow,
        sub: &Submission,
        _all: &[&'static dyn RegistrationStrategy],
    ) -> Result<Outcome<CreateIdentityBody>, FlowError> {
        Ok(match register(deps, schema, &mut flow.ui, sub).await? {
            Some(body) => Outcome::Done(body),
            None => Outcome::Rejected,
        })
    }
}

/// Validates the submission and prepares the identity to create (the flow runs its pre-persist
/// hooks, then `create_identity`). `Ok(None)` means rejected, with the reasons put into `ui`
/// (the password is never echoed back).
async fn register(
    deps: &Deps,
    schema: &IdentitySchema,
    ui: &mut UiContainer,
    sub: &Submission,
) -> Result<Option<CreateIdentityBody>, FlowError> {
    let Some(traits) = read_traits(schema, sub, ui) else {
        return Ok(None);
    };
    let password = sub.str("password").unwrap_or_default().to_owned();
    let extracted = validate_traits(schema, ui, &traits);
    let rejected = extracted.is_none();
    if password.is_empty() {
        ui.add_node_message("password", text::validation_required("password"));
        return Ok(None);
    }
    if rejected {
        return Ok(None);
    }
    let identifier = extracted
        .as_ref()
        .and_then(|x| x.password_identifiers.first().cloned())
        .unwrap_or_default();
    if let Err(violation) = deps
        .password_policy
        .validate(&normalize(&identifier), &password)
        .await
    {
        ui.add_node_message("password", violation.message());
        return Ok(None);
    }
    let body = CreateIdentityBody {
        schema_id: Some(schema.id.clone()),
        traits,
        state: None,
        metadata_public: None,
        metadata_admin: None,
        external_id: None,
        organization_id: None,
        verifiable_addresses: None,
        recovery_addresses: None,
        credentials: Some(CredentialsIn {
            password: Some(PasswordIn {
                config: PasswordConfigIn {
                    password: Some(password),
                    hashed_password: None,
                    use_password_migration_hook: None,
                },
            }),
            oidc: None,
            other: Default::default(),
        }),
    };
    Ok(Some(body))
}
