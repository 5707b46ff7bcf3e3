//! Passkeys, as Kratos's `passkey` method: discoverable WebAuthn credentials that sign up
//! (instead of a password), sign in at aal1 without an identifier, and are added and removed
//! in the settings flow.
//!
//! The credential (type `passkey`) keeps Kratos's config `{credentials, user_handle}`; its one
//! identifier is the user handle (64 random characters), which is what the authenticator
//! answers a discoverable sign-in with, so the identity is found by it.
//!
//! Every form carries a pending ceremony: `populate_flow` starts it, its state stays in the
//! flow's internal context under [`KEY`] and its options go in the nodes. A submission takes
//! the state out before verifying (a challenge answers once), and whatever the outcome the
//! form gets a fresh challenge, so the user can try again on the same flow.

mod login;
mod registration;
mod settings;

use serde_json::Value;

use crate::deps::Deps;
use crate::identity::schema::IdentitySchema;
use crate::identity::{CredentialType, Identity};
use crate::selfservice::flow::{Flow, FlowError, FlowState, common};
use crate::selfservice::strategy::webauthn_ceremony::{
    CeremonyError, CeremonyState, RelyingParty, StoredCredentials, script_node,
};
use crate::selfservice::ui::{Group, InputType, UiContainer, UiNode};
use crate::text::{self, UiText};

pub struct Passkey;

/// Where a flow keeps its pending passkey ceremony.
const KEY: &str = "passkey";

/// The relying party, from the configuration as it is now.
fn relying_party(deps: &Deps) -> Result<RelyingParty, FlowError> {
    RelyingParty::for_passkey(&deps.config.selfservice.methods.passkey).map_err(internal)
}

fn internal(e: CeremonyError) -> FlowError {
    FlowError::Internal(e.to_string())
}

/// The message for an answer that did not verify; a configuration that cannot make a relying
/// party is the operator's error, not the user's.
fn refusal(e: CeremonyError) -> Result<UiText, FlowError> {
    match e {
        CeremonyError::Config(_) => Err(internal(e)),
        CeremonyError::UnknownCredential => Ok(text::validation_no_webauthn_device()),
        CeremonyError::NoChallenge | CeremonyError::Malformed(_) | CeremonyError::Refused(_) => {
            Ok(text::validation_webauthn_wrong())
        }
    }
}

/// The identity's passkeys as stored (none when it has no `passkey` credential).
fn stored(identity: &Identity) -> StoredCredentials {
    StoredCredentials::of(identity, CredentialType::Passkey)
}

/// The trait the passkey is named after (`credentials.passkey.display_name` in the schema),
/// else the first identifier trait, as a form field name (`traits.email`).
fn display_name_field(schema: &IdentitySchema) -> String {
    let fields = schema.trait_fields();
    fields
        .iter()
        .find(|f| f.extension.credentials.passkey.display_name)
        .or_else(|| {
            fields.iter().find(|f| {
                let c = &f.extension.credentials;
                c.webauthn.identifier || c.password.identifier
            })
        })
        .map(|f| f.path.clone())
        .unwrap_or_default()
}

/// The display name `traits` give a passkey (empty when the schema names none).
fn display_name(schema: &IdentitySchema, traits: &Value) -> String {
    schema
        .validate_traits(traits)
        .ok()
        .and_then(|e| {
            e.passkey_display_name
                .or_else(|| e.webauthn_identifiers.into_iter().next())
                .or_else(|| e.password_identifiers.into_iter().next())
        })
        .unwrap_or_default()
}

/// The script node the passkey nodes need, once per form: Kratos's `webauthn_script`, which
/// the `webauthn` method may have added already.
fn add_script(deps: &Deps, ui: &mut UiContainer) {
    let script = script_node(deps.public_base());
    if ui.find(script.id()).is_none() {
        ui.append(script);
    }
}

/// A hidden input of the passkey group.
fn hidden(name: &str) -> UiNode {
    UiNode::input(name, Group::Passkey, InputType::Hidden)
}

/// A button running `trigger` of the browser script when clicked.
fn trigger_button(name: &str, trigger: &str, label: UiText) -> UiNode {
    let mut node = UiNode::input(name, Group::Passkey, InputType::Button).with_label(label);
    if let Some(a) = node.input_attributes_mut() {
        a.onclick = Some(format!("window.{trigger}()"));
        a.onclick_trigger = Some(trigger.to_owned());
    }
    node
}

/// Options as the value of a hidden input: the JSON text the browser script parses.
fn options_value(options: &Value) -> Value {
    Value::String(options.to_string())
}

/// Takes the flow's pending ceremony out of its internal context for good (`None` when there
/// is none, or another submission took it first).
async fn take_ceremony(deps: &Deps, flow: &mut Flow) -> Result<Option<CeremonyState>, FlowError> {
    Ok(common::take_internal(deps, flow, KEY)
        .await?
        .and_then(|v| serde_json::from_value(v).ok()))
}

/// Stores `state` as the flow's pending ceremony (the flow being in one of `from`).
async fn keep_ceremony(
    deps: &Deps,
    flow: &mut Flow,
    state: CeremonyState,
    from: &[FlowState],
) -> Result<(), FlowError> {
    let value = serde_json::to_value(state).map_err(|e| FlowError::Internal(e.to_string()))?;
    flow.internal = Some(common::keep_internal(deps, flow, KEY, Some(value), from).await?);
    Ok(())
}

/// Sign-in choices an identity has with one factor, counted as Kratos's
/// `CountActiveFirstFactorCredentials` does: a password, each linked provider, a code address,
/// each passkey and each passwordless security key.
fn first_factors(identity: &Identity) -> usize {
    identity
        .credentials
        .values()
        .map(|c| {
            let listed = |key: &str| c.config[key].as_array().map_or(0, Vec::len);
            match c.kind {
                CredentialType::Password => usize::from(
                    c.config["hashed_password"]
                        .as_str()
                        .is_some_and(|h| !h.is_empty())
                        || c.config["use_password_migration_hook"] == true,
                ),
                CredentialType::Oidc | CredentialType::Saml => listed("providers"),
                CredentialType::Code => usize::from(!c.identifiers.is_empty()),
                CredentialType::Passkey if !c.identifiers.is_empty() => listed("credentials"),
                CredentialType::Webauthn if !c.identifiers.is_empty() => {
                    c.config["credentials"].as_array().map_or(0, |cs| {
                        cs.iter().filter(|k| k["is_passwordless"] == true).count()
                    })
                }
                _ => 0,
            }
        })
        .sum()
}
