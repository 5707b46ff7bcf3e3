//! Adding passkeys in the settings flow (`passkey_settings_register`, the options in
//! `passkey_create_data`) and removing them (`passkey_remove`, one button per passkey holding
//! its id in hex), both with a privileged session as in Kratos. The last way an identity can
//! sign in is never removed. An identity's passkeys share its user handle; the first one
//! gives it one.

use async_trait::async_trait;
use serde_json::Value;

use super::{
    KEY, Passkey, add_script, display_name, first_factors, hidden, keep_ceremony, options_value,
    refusal, relying_party, stored, take_ceremony,
};
use crate::deps::Deps;
use crate::identity::schema::IdentitySchema;
use crate::identity::{Credential, CredentialType, Identity, now};
use crate::selfservice::flow::request::Submission;
use crate::selfservice::flow::{FlowError, FlowState};
use crate::selfservice::strategy::webauthn_ceremony::{
    Ceremony, CeremonyError, CeremonyState, User, new_passkey_user_handle,
};
use crate::selfservice::strategy::{Method, Outcome, SettingsContext, SettingsStrategy};
use crate::selfservice::ui::{Group, InputType, UiContainer, UiNode};
use crate::text;

const CREATE_DATA: &str = "passkey_create_data";
const REGISTER: &str = "passkey_settings_register";
const REMOVE: &str = "passkey_remove";
const TRIGGER: &str = "passkey_register_trigger";

/// Kratos's refusal to remove the last first factor (`webauthnx.ErrNotEnoughCredentials`).
const LAST_FIRST_FACTOR: &str =
    "unable to remove this security key because it would lock you out of your account";

#[async_trait]
impl SettingsStrategy for Passkey {
    fn method(&self) -> Method {
        Method::Passkey
    }

    /// A passkey just added was used to add it.
    fn proven(&self, before: &Identity, after: &Identity) -> Option<crate::session::Aal> {
        (super::stored(after).credentials.len() > super::stored(before).credentials.len())
            .then_some(crate::session::Aal::Aal1)
    }

    /// The script submits the form without a `method`, and the remove buttons carry none.
    fn takes(&self, sub: &Submission) -> bool {
        sub.str("method") == Some(self.method().as_str())
            || field(sub, REGISTER).is_some()
            || field(sub, REMOVE).is_some()
    }

    /// A passkey form is nothing without the challenge the flow keeps: its nodes come with
    /// one from [`Self::populate_flow`] only.
    fn populate(
        &self,
        _deps: &Deps,
        _schema: &IdentitySchema,
        _ui: &mut UiContainer,
        _identity: &Identity,
    ) {
    }

    fn populate_flow(
        &self,
        deps: &Deps,
        schema: &IdentitySchema,
        ui: &mut UiContainer,
        identity: &Identity,
        internal: &mut Option<Value>,
    ) -> Result<(), FlowError> {
        if let Some(state) = show(deps, schema, ui, identity)? {
            state.put(internal, KEY).map_err(super::internal)?;
        }
        Ok(())
    }

    async fn update(
        &self,
        cx: &SettingsContext<'_>,
        ui: &mut UiContainer,
        sub: &Submission,
    ) -> Result<Outcome<Identity>, FlowError> {
        cx.ensure_privileged()?;
        let mut flow = cx.flow.clone();
        let changed = if let Some(id) = field(sub, REMOVE) {
            remove(cx.identity, id, ui)?
        } else if let Some(response) = field(sub, REGISTER) {
            let pending = take_ceremony(cx.deps, &mut flow).await?;
            add(cx, pending, response, ui)?
        } else {
            ui.add_node_message(REGISTER, text::validation_required(REGISTER));
            None
        };
        // The form shows what the identity has now, with a fresh challenge: one answered (or
        // not) here is spent, and a new passkey must not be offered for registration again.
        let shown = changed.as_ref().unwrap_or(cx.identity);
        let fresh = show(cx.deps, cx.schema, ui, shown)?;
        if let Some(state) = fresh {
            let states = [FlowState::ShowForm, FlowState::Success];
            keep_ceremony(cx.deps, &mut flow, state, &states).await?;
        }
        Ok(match changed {
            Some(updated) => Outcome::Done(updated),
            None => Outcome::Rejected,
        })
    }
}

/// A field's value, unless empty (Ory's React SDK sends `"true"` for an empty one).
fn field<'a>(sub: &'a Submission, name: &str) -> Option<&'a str> {
    sub.str(name).filter(|v| !v.is_empty() && *v != "true")
}

/// The identity without the passkey whose id is `hex_id`, or `None` with the reason on `ui`.
fn remove(
    identity: &Identity,
    hex_id: &str,
    ui: &mut UiContainer,
) -> Result<Option<Identity>, FlowError> {
    let mut creds = stored(identity);
    let before = creds.credentials.len();
    creds
        .credentials
        .retain(|c| crate::hash::lower_hex(&c.id) != hex_id);
    if creds.credentials.len() == before {
        return Err(FlowError::BadRequest(
            "You tried to remove a passkey which does not exist.".into(),
        ));
    }
    if first_factors(identity) < 2 {
        ui.add_message(text::validation_generic(LAST_FIRST_FACTOR));
        return Ok(None);
    }
    let mut updated = identity.clone();
    if creds.credentials.is_empty() {
        updated.credentials.remove(&CredentialType::Passkey);
    } else if let Some(c) = updated.credentials.get_mut(&CredentialType::Passkey) {
        c.config = to_json(&creds)?;
        c.updated_at = now();
    }
    updated.updated_at = now();
    Ok(Some(updated))
}

/// The identity with the passkey the answer registers, or `None` with the reason on `ui`.
fn add(
    cx: &SettingsContext<'_>,
    pending: Option<CeremonyState>,
    response: &str,
    ui: &mut UiContainer,
) -> Result<Option<Identity>, FlowError> {
    let rp = relying_party(cx.deps)?;
    let name = display_name(cx.schema, &cx.identity.traits);
    let registered = pending
        .ok_or(CeremonyError::NoChallenge)
        .and_then(|state| rp.finish_registration(state, response, &name, now()));
    let registered = match registered {
        Ok(r) => r,
        Err(e) => {
            ui.add_message(refusal(e)?);
            return Ok(None);
        }
    };
    let mut creds = stored(cx.identity);
    creds.credentials.push(registered.credential);
    let handle = creds
        .user_handle
        .get_or_insert(registered.user_handle)
        .clone();
    let handle = String::from_utf8(handle)
        .map_err(|_| FlowError::Internal("a passkey user handle is not text".into()))?;
    let ts = now();
    let mut updated = cx.identity.clone();
    let config = to_json(&creds)?;
    match updated.credentials.get_mut(&CredentialType::Passkey) {
        Some(c) => {
            c.config = config;
            if !c.identifiers.contains(&handle) {
                c.identifiers.push(handle);
            }
            c.updated_at = ts;
        }
        None => {
            updated.credentials.insert(
                CredentialType::Passkey,
                Credential {
                    id: uuid::Uuid::now_v7(),
                    kind: CredentialType::Passkey,
                    identifiers: vec![handle],
                    config,
                    version: 1,
                    created_at: ts,
                    updated_at: ts,
                },
            );
        }
    }
    updated.updated_at = ts;
    Ok(Some(updated))
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<Value, FlowError> {
    serde_json::to_value(v).map_err(|e| FlowError::Internal(e.to_string()))
}

/// Replaces the passkey nodes: a remove button per passkey (disabled when it is the last way
/// to sign in), and a new challenge to add one, whose state it answers. Without a display
/// name for the passkey, the form says the identifier is missing and offers no challenge.
fn show(
    deps: &Deps,
    schema: &IdentitySchema,
    ui: &mut UiContainer,
    identity: &Identity,
) -> Result<Option<CeremonyState>, FlowError> {
    ui.nodes.retain(|n| n.group != Group::Passkey);
    let creds = stored(identity);
    let last = first_factors(identity) < 2;
    for c in &creds.credentials {
        let name = if c.display_name.is_empty() {
            "unnamed"
        } else {
            &c.display_name
        };
        let mut node = UiNode::input(REMOVE, Group::Passkey, InputType::Submit)
            .with_value(crate::hash::lower_hex(&c.id))
            .with_label(text::settings_remove_passkey(name, c.added_at));
        if let Some(a) = node.input_attributes_mut() {
            a.disabled = last;
        }
        ui.append(node);
    }
    let name = display_name(schema, &identity.traits);
    if name.is_empty() {
        ui.add_message(text::validation_identifier_missing());
        return Ok(None);
    }
    let handle = creds
        .user_handle
        .clone()
        .unwrap_or_else(new_passkey_user_handle);
    let user = User {
        handle: &handle,
        name: &name,
        display_name: &name,
    };
    let (options, state) = relying_party(deps)?
        .start_registration(Ceremony::Passkey, &user, &creds.credentials)
        .map_err(super::internal)?;
    add_script(deps, ui);
    ui.append(
        super::trigger_button(
            TRIGGER,
            "oryPasskeySettingsRegistration",
            text::settings_register_passkey(),
        )
        .with_value(""),
    );
    ui.append(hidden(REGISTER));
    ui.append(hidden(CREATE_DATA).with_value(options_value(&options)));
    Ok(Some(state))
}
