//! Kratos's `webauthn` method: security keys registered in the settings flow, used as a
//! second factor (aal2 login) or, with `selfservice.methods.webauthn.config.passwordless`, to
//! sign up and to sign in on their own after the identifier (aal1).
//!
//! The two modes are two strategies ([`Webauthn`], [`WebauthnPasswordless`]) so that each has
//! one assurance level; the Registry picks one by the configuration. The ceremonies are
//! `webauthn_ceremony`'s; a challenge's state waits in the flow's internal context under
//! [`KEY`] and is taken out (compare-and-set) before an answer is verified, so it answers once.
//!
//! The credential (type `webauthn`) keeps Kratos's config ([`StoredCredentials`]): every key of
//! the identity in one list, passwordless ones marked `is_passwordless`; its identifiers are
//! the traits the schema marks `credentials.webauthn.identifier`.

mod login;
mod registration;
pub mod rp;
mod settings;

use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::deps::Deps;
use crate::identity::{Credential, CredentialType, Identity, now};
use crate::selfservice::flow::FlowError;
use crate::selfservice::strategy::webauthn_ceremony::{
    Ceremony, CeremonyError, CeremonyState, RelyingParty, StoredCredentials, script_node,
};
use crate::selfservice::ui::{Group, InputType, UiContainer, UiNode};
use crate::store::credentials;
use crate::text::{self, UiText};

/// Security keys as a second factor.
pub struct Webauthn;

/// Security keys that sign in on their own (`passwordless: true`).
pub struct WebauthnPasswordless;

/// Where a flow keeps its pending ceremony.
const KEY: &str = "webauthn";

/// The answers and the trigger buttons the browser script fills in and presses.
const LOGIN: &str = "webauthn_login";
const LOGIN_TRIGGER: &str = "webauthn_login_trigger";
const REGISTER: &str = "webauthn_register";
const REGISTER_TRIGGER: &str = "webauthn_register_trigger";
const REGISTER_DISPLAYNAME: &str = "webauthn_register_displayname";
const REMOVE: &str = "webauthn_remove";

fn relying_party(deps: &Deps) -> Result<RelyingParty, FlowError> {
    // Start-up and reloads refuse an invalid relying party (`rp::check_config`), so this cannot fail for a
    // client's input.
    RelyingParty::for_webauthn(&deps.config.selfservice.methods.webauthn)
        .map_err(|e| FlowError::Internal(e.to_string()))
}

/// The identity's keys (none when it has no `webauthn` credential or an unreadable one).
fn stored(identity: &Identity) -> StoredCredentials {
    StoredCredentials::of(identity, CredentialType::Webauthn)
}

/// A ceremony the flow waits to be answered, and whose it is (a passwordless sign-in names
/// the identity its identifier found).
#[derive(Serialize, Deserialize)]
struct Pending {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    identity_id: Option<Uuid>,
    state: CeremonyState,
}

impl Pending {
    fn to_value(&self) -> Result<Value, FlowError> {
        serde_json::to_value(self).map_err(|e| FlowError::Internal(e.to_string()))
    }

    /// Puts it into an internal context being built (a new flow's).
    fn put(&self, internal: &mut Option<Value>) -> Result<(), FlowError> {
        let value = self.to_value()?;
        match internal {
            Some(Value::Object(map)) => {
                map.insert(KEY.to_owned(), value);
            }
            _ => {
                let mut map = serde_json::Map::new();
                map.insert(KEY.to_owned(), value);
                *internal = Some(Value::Object(map));
            }
        }
        Ok(())
    }

    fn from_value(value: Option<Value>) -> Option<Pending> {
        serde_json::from_value(value?).ok()
    }
}

/// The message for a refused ceremony: the answer is wrong (whatever the reason, which is
/// logged), or there was nothing to answer.
fn refused(e: &CeremonyError) -> UiText {
    tracing::debug!(error = %e, "WebAuthn answer refused");
    text::validation_webauthn_wrong()
}

/// The hidden input an answer goes into.
fn answer_node(name: &str) -> UiNode {
    UiNode::input(name, Group::Webauthn, InputType::Hidden).with_value("")
}

/// The button the browser script runs a ceremony from: the options are its value.
fn trigger_node(name: &str, trigger: &str, options: &Value, label: UiText) -> UiNode {
    let mut node = UiNode::input(name, Group::Webauthn, InputType::Button)
        .with_value(options.to_string())
        .with_label(label);
    if let Some(a) = node.input_attributes_mut() {
        a.onclick_trigger = Some(trigger.to_owned());
    }
    node
}

/// The nodes of a sign-in with `options`: the script, the trigger and the answer's input.
fn login_nodes(deps: &Deps, ui: &mut UiContainer, options: &Value, label: UiText) {
    ui.upsert(script_node(deps.public_base()));
    ui.upsert(trigger_node(
        LOGIN_TRIGGER,
        "oryWebAuthnLogin",
        options,
        label,
    ));
    ui.upsert(answer_node(LOGIN));
}

/// The nodes of a registration with `options`: the key's name, the trigger, the answer's
/// input and the script.
fn registration_nodes(deps: &Deps, ui: &mut UiContainer, options: &Value, label: UiText) {
    ui.upsert(
        UiNode::input(REGISTER_DISPLAYNAME, Group::Webauthn, InputType::Text)
            .with_value("")
            .with_label(text::settings_register_webauthn_display_name()),
    );
    ui.upsert(trigger_node(
        REGISTER_TRIGGER,
        "oryWebAuthnRegistration",
        options,
        label,
    ));
    ui.upsert(answer_node(REGISTER));
    ui.upsert(script_node(deps.public_base()));
}

/// The identity's `webauthn` credential holding `config`, with the identifiers the schema
/// marks (`identifiers`), keeping the credential's id when it has one.
fn credential(
    identity: &Identity,
    config: &StoredCredentials,
    identifiers: Vec<String>,
) -> Credential {
    let ts = now();
    let existing = identity.credentials.get(&CredentialType::Webauthn);
    Credential {
        id: existing.map_or_else(Uuid::now_v7, |c| c.id),
        kind: CredentialType::Webauthn,
        identifiers,
        config: serde_json::to_value(config).unwrap_or_default(),
        // Kratos's version of credentials that know `is_passwordless`.
        version: 1,
        created_at: existing.map_or(ts, |c| c.created_at),
        updated_at: ts,
    }
}

/// How often a sign-in retries storing the advanced counter when another sign-in changed the
/// credential between read and write.
const ATTEMPTS: usize = 3;

/// Verifies a sign-in answer against the identity's stored keys and stores the advanced sign
/// counter (compare-and-set on the stored config, so two sign-ins cannot both advance from
/// the same counter). `Ok(Err(_))` is a refused answer.
async fn finish_login(
    deps: &Deps,
    rp: &RelyingParty,
    state: &CeremonyState,
    answer: &str,
    identity_id: Uuid,
) -> Result<Result<(), CeremonyError>, FlowError> {
    let kind = CredentialType::Webauthn.as_str();
    for _ in 0..ATTEMPTS {
        let Some((credential_id, raw)) =
            credentials::config_of(&deps.store, identity_id, kind).await?
        else {
            return Ok(Err(CeremonyError::UnknownCredential));
        };
        let mut config: StoredCredentials = match serde_json::from_str(&raw) {
            Ok(c) => c,
            Err(e) => return Ok(Err(CeremonyError::Malformed(e.to_string()))),
        };
        if let Err(e) = rp.finish_login(state.clone(), answer, &mut config.credentials) {
            return Ok(Err(e));
        }
        let new = serde_json::to_string(&config).map_err(|e| FlowError::Internal(e.to_string()))?;
        if credentials::swap_config(
            &deps.store,
            credential_id,
            &raw,
            &new,
            Utc::now().naive_utc(),
        )
        .await?
        {
            deps.session_cache.invalidate_identity(identity_id);
            return Ok(Ok(()));
        }
    }
    Err(FlowError::Internal(
        "the security keys kept changing while one was being used".into(),
    ))
}

/// Starts a sign-in with `identity`'s keys of `ceremony`; `None` when it has none.
fn start_login(
    rp: &RelyingParty,
    ceremony: Ceremony,
    identity: &Identity,
) -> Result<Option<(Value, CeremonyState)>, FlowError> {
    match rp.start_login(ceremony, &stored(identity).credentials) {
        Ok(started) => Ok(Some(started)),
        Err(CeremonyError::UnknownCredential) => Ok(None),
        Err(e) => Err(FlowError::Internal(e.to_string())),
    }
}
