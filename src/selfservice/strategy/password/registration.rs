//! Signing up with traits and a password.

use serde_json::Value;

use super::login::normalize;
use crate::deps::Deps;
use crate::identity::Identity;
use crate::identity::schema::{Extracted, IdentitySchema};
use crate::identity::service::{
    self as identities, CreateIdentityBody, CredentialsIn, IdentityError, PasswordConfigIn,
    PasswordIn,
};
use crate::selfservice::flow::FlowError;
use crate::selfservice::flow::request::{Submission, prune_nulls};
use crate::selfservice::ui::{self, Group, SortOptions, UiContainer};
use crate::text;

/// The registration form: the schema's traits, a new password, the submit button.
pub fn populate_registration(schema: &IdentitySchema, ui: &mut UiContainer, csrf_token: &str) {
    ui.nodes.push(ui::csrf_node(csrf_token));
    ui.nodes
        .extend(ui::nodes_from_schema(schema, Group::Default, "traits"));
    ui.nodes.push(ui::password_node("new-password"));
    ui.nodes.push(ui::submit_node(
        Group::Password,
        "password",
        text::registration(),
    ));
    ui.sort_nodes(&SortOptions::registration(schema));
}

/// `#/traits/name/first` → `traits.name.first`; array items point at the array's node.
fn node_name(pointer: &str) -> Option<String> {
    let path = pointer.trim_start_matches('#').trim_start_matches('/');
    if path.is_empty() {
        return None;
    }
    let parts: Vec<&str> = path
        .split('/')
        .filter(|p| p.parse::<usize>().is_err())
        .collect();
    Some(parts.join("."))
}

/// Validates the submission and prepares the identity to create (the flow runs its pre-persist
/// hooks, then `create_identity`). `Ok(None)` means rejected, with the reasons put into `ui`
/// (the password is never echoed back).
pub async fn register(
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

/// The submitted traits (read against `schema`, nulls pruned), echoed into `ui`; `None` when
/// they are no object.
pub(crate) fn read_traits(
    schema: &IdentitySchema,
    sub: &Submission,
    ui: &mut UiContainer,
) -> Option<Value> {
    let mut traits = sub
        .traits(schema)
        .unwrap_or_else(|| Value::Object(Default::default()));
    prune_nulls(&mut traits);
    if !traits.is_object() {
        ui.add_message(text::validation_generic("traits must be an object"));
        return None;
    }
    ui.set_values_from_traits(&traits);
    Some(traits)
}

/// Validates traits against the schema, putting each violation on its node.
pub(crate) fn validate_traits(
    schema: &IdentitySchema,
    ui: &mut UiContainer,
    traits: &Value,
) -> Option<Extracted> {
    match schema.validate_traits(traits) {
        Ok(x) => Some(x),
        Err(msgs) => {
            for m in msgs {
                match node_name(&m.instance_ptr) {
                    Some(name) => ui.add_node_message(&name, m.message),
                    None => ui.add_message(m.message),
                }
            }
            None
        }
    }
}

/// Creates the identity; conflicts and validation failures become UI messages (`Ok(None)`).
/// Shared by every method that signs people up.
pub(crate) async fn create_identity(
    deps: &Deps,
    ui: &mut UiContainer,
    body: CreateIdentityBody,
) -> Result<Option<Identity>, FlowError> {
    match identities::create(deps, body).await {
        Ok(identity) => Ok(Some(identity)),
        Err(IdentityError::Conflict) => {
            ui.add_message(text::validation_duplicate_credentials());
            Ok(None)
        }
        Err(IdentityError::Validation(msgs)) => {
            for m in msgs {
                match node_name(&m.instance_ptr) {
                    Some(name) => ui.add_node_message(&name, m.message),
                    None => ui.add_message(m.message),
                }
            }
            Ok(None)
        }
        Err(IdentityError::BadRequest(reason)) => {
            ui.add_message(text::validation_generic(&reason));
            Ok(None)
        }
        Err(IdentityError::Store(e)) => Err(FlowError::Store(e)),
        Err(e) => Err(FlowError::Internal(e.to_string())),
    }
}
