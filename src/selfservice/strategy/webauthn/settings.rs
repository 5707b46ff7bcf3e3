//! Adding and removing security keys in the settings flow (Kratos's `PopulateSettingsMethod`
//! and `Settings`): a remove button per key, the key's name, the trigger with the options of a
//! new registration, the answer's input and the script. Keys added here are passwordless when
//! the method is, second factors otherwise. Both changes need a privileged session; after one,
//! the flow shows a fresh challenge.

use async_trait::async_trait;
use serde_json::Value;

use super::{
    KEY, Pending, REGISTER, REGISTER_DISPLAYNAME, REMOVE, Webauthn, WebauthnPasswordless,
    credential, refused, registration_nodes, relying_party, stored,
};
use crate::deps::Deps;
use crate::hash::lower_hex;
use crate::identity::schema::IdentitySchema;
use crate::identity::service::is_active_first_factor;
use crate::identity::{CredentialType, Identity, now};
use crate::selfservice::flow::request::Submission;
use crate::selfservice::flow::{FlowError, FlowState, common};
use crate::selfservice::strategy::webauthn_ceremony::{Ceremony, StoredCredentials, User};
use crate::selfservice::strategy::{Method, Outcome, SettingsContext, SettingsStrategy};
use crate::selfservice::ui::{Group, InputType, UiContainer, UiNode};
use crate::text;

/// What Kratos says when removing a key would leave no way to sign in.
const LOCKOUT: &str =
    "unable to remove this security key because it would lock you out of your account";

macro_rules! settings_strategy {
    ($ty:ty, $passwordless:expr) => {
        #[async_trait]
        impl SettingsStrategy for $ty {
            fn method(&self) -> Method {
                Method::Webauthn
            }

            /// A key just registered was used to register it: at aal1 when it signs in
            /// alone, else as a second factor.
            fn proven(&self, before: &Identity, after: &Identity) -> Option<crate::session::Aal> {
                (super::stored(after).credentials.len() > super::stored(before).credentials.len())
                    .then_some(if $passwordless {
                        crate::session::Aal::Aal1
                    } else {
                        crate::session::Aal::Aal2
                    })
            }

            /// The method's button or either of its answers (Kratos's UI posts the remove
            /// buttons and the script's answer with or without `method`).
            fn takes(&self, sub: &Submission) -> bool {
                sub.str("method") == Some(Method::Webauthn.as_str())
                    || [REGISTER, REMOVE]
                        .iter()
                        .any(|k| sub.str(k).is_some_and(|v| !v.is_empty()))
            }

            /// Without a place for the challenge the registration cannot be offered; the
            /// flow's `populate_flow` is the one that offers it.
            fn populate(
                &self,
                _deps: &Deps,
                _schema: &IdentitySchema,
                ui: &mut UiContainer,
                identity: &Identity,
            ) {
                remove_buttons(ui, identity);
            }

            fn populate_flow(
                &self,
                deps: &Deps,
                schema: &IdentitySchema,
                ui: &mut UiContainer,
                identity: &Identity,
                internal: &mut Option<Value>,
            ) -> Result<(), FlowError> {
                show(deps, schema, ui, identity, $passwordless)?.put(internal)
            }

            async fn update(
                &self,
                cx: &SettingsContext<'_>,
                ui: &mut UiContainer,
                sub: &Submission,
            ) -> Result<Outcome<Identity>, FlowError> {
                update(cx, ui, sub, $passwordless).await
            }
        }
    };
}

settings_strategy!(Webauthn, false);
settings_strategy!(WebauthnPasswordless, true);

/// A remove button per key; a passwordless key that is the identity's last way to sign in
/// cannot be removed (its button is disabled, as Kratos does).
fn remove_buttons(ui: &mut UiContainer, identity: &Identity) {
    let config = stored(identity);
    for (i, key) in config.credentials.iter().enumerate() {
        let name = if key.display_name.is_empty() {
            "unnamed"
        } else {
            &key.display_name
        };
        let mut node = UiNode::input(REMOVE, Group::Webauthn, InputType::Submit)
            .with_value(lower_hex(&key.id))
            .with_label(text::settings_remove_webauthn(name, key.added_at));
        if let Some(a) = node.input_attributes_mut() {
            a.disabled = locks_out(identity, &config, i);
        }
        ui.append(node);
    }
}

/// Replaces the method's nodes with the identity's keys and a fresh registration, and gives
/// the challenge to keep with the flow.
fn show(
    deps: &Deps,
    schema: &IdentitySchema,
    ui: &mut UiContainer,
    identity: &Identity,
    passwordless: bool,
) -> Result<Pending, FlowError> {
    ui.nodes.retain(|n| n.group != Group::Webauthn);
    remove_buttons(ui, identity);
    let name = identifiers(schema, identity)
        .into_iter()
        .next()
        .unwrap_or_else(|| identity.id.to_string());
    let ceremony = if passwordless {
        Ceremony::Passwordless
    } else {
        Ceremony::SecondFactor
    };
    // Kratos's user handle for keys added in settings: the identity's id.
    let (options, state) = relying_party(deps)?
        .start_registration(
            ceremony,
            &User {
                handle: identity.id.as_bytes(),
                name: &name,
                display_name: &name,
            },
            &stored(identity).credentials,
        )
        .map_err(|e| FlowError::Internal(e.to_string()))?;
    registration_nodes(deps, ui, &options, text::settings_register_webauthn());
    Ok(Pending {
        identity_id: Some(identity.id),
        state,
    })
}

/// The traits the schema marks as the identity's security key identifiers.
fn identifiers(schema: &IdentitySchema, identity: &Identity) -> Vec<String> {
    schema
        .validate_traits(&identity.traits)
        .map(|x| x.webauthn_identifiers)
        .unwrap_or_default()
}

/// Whether removing key `index` leaves `identity` without a first factor: it is passwordless,
/// no other passwordless key remains, and no other credential signs in on its own.
fn locks_out(identity: &Identity, config: &StoredCredentials, index: usize) -> bool {
    if !config.credentials[index].is_passwordless {
        return false;
    }
    let other_key = config
        .credentials
        .iter()
        .enumerate()
        .any(|(i, c)| i != index && c.is_passwordless);
    let webauthn_identified = identity
        .credentials
        .get(&CredentialType::Webauthn)
        .is_some_and(|c| !c.identifiers.is_empty());
    // Another credential that signs in on its own (the keys are counted above).
    let other = identity
        .credentials
        .values()
        .any(|c| c.kind != CredentialType::Webauthn && is_active_first_factor(c));
    !(other || (other_key && webauthn_identified))
}

async fn update(
    cx: &SettingsContext<'_>,
    ui: &mut UiContainer,
    sub: &Submission,
    passwordless: bool,
) -> Result<Outcome<Identity>, FlowError> {
    let register = sub.str(REGISTER).filter(|v| !v.is_empty());
    let remove = sub.str(REMOVE).filter(|v| !v.is_empty());
    if register.is_none() && remove.is_none() {
        ui.add_message(text::settings_no_strategy_found());
        return Ok(Outcome::Rejected);
    }
    cx.ensure_privileged()?;
    let mut config = stored(cx.identity);
    let mut updated = cx.identity.clone();
    if let Some(answer) = register {
        // The challenge is spent before the answer is looked at.
        let mut flow = cx.flow.clone();
        let pending = Pending::from_value(common::take_internal(cx.deps, &mut flow, KEY).await?)
            .filter(|p| p.identity_id == Some(cx.identity.id));
        let display_name = sub.str(REGISTER_DISPLAYNAME).unwrap_or_default().trim();
        // Kratos stores the time to the second.
        let added_at = chrono::DateTime::from_timestamp(now().timestamp(), 0).unwrap_or_default();
        let rp = relying_party(cx.deps)?;
        let finished = match pending {
            Some(p) => rp.finish_registration(p.state, answer, display_name, added_at),
            None => {
                Err(crate::selfservice::strategy::webauthn_ceremony::CeremonyError::NoChallenge)
            }
        };
        let registered = match finished {
            Ok(r) => r,
            Err(e) => {
                ui.add_message(refused(&e));
                refresh(cx, ui, cx.identity, passwordless).await?;
                return Ok(Outcome::Rejected);
            }
        };
        config.credentials.push(registered.credential);
        config.user_handle = Some(registered.user_handle);
    } else if let Some(id) = remove {
        let Some(index) = config
            .credentials
            .iter()
            .position(|c| lower_hex(&c.id) == id)
        else {
            return Err(FlowError::BadRequest(
                "You tried to remove a WebAuthn credential which does not exist.".into(),
            ));
        };
        if locks_out(cx.identity, &config, index) {
            ui.add_node_message(REMOVE, text::validation_generic(LOCKOUT));
            return Ok(Outcome::Rejected);
        }
        config.credentials.remove(index);
    }
    if config.credentials.is_empty() {
        updated.credentials.remove(&CredentialType::Webauthn);
    } else {
        let ids = identifiers(cx.schema, cx.identity);
        updated.credentials.insert(
            CredentialType::Webauthn,
            credential(cx.identity, &config, ids),
        );
    }
    updated.updated_at = now();
    refresh(cx, ui, &updated, passwordless).await?;
    Ok(Outcome::Done(updated))
}

/// Shows `identity`'s keys with a fresh challenge, stored with the flow.
async fn refresh(
    cx: &SettingsContext<'_>,
    ui: &mut UiContainer,
    identity: &Identity,
    passwordless: bool,
) -> Result<(), FlowError> {
    let pending = show(cx.deps, cx.schema, ui, identity, passwordless)?;
    common::keep_internal(
        cx.deps,
        cx.flow,
        KEY,
        Some(pending.to_value()?),
        &[FlowState::ShowForm, FlowState::Success],
    )
    .await?;
    Ok(())
}
