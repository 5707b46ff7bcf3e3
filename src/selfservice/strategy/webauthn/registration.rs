//! Signing up with a security key (`passwordless: true`): the traits and the key's answer
//! create the identity with a passwordless key, as Kratos's `Register`.
//!
//! The challenge is made when the form is (one-step form, or two-step registration's
//! credentials screen). Its user handle is a fresh UUID's bytes, as in Kratos: the identity
//! does not exist yet, and sign-ins find it by its identifier, not by the handle.

use async_trait::async_trait;
use serde_json::Value;
use uuid::Uuid;

use super::{
    KEY, Pending, REGISTER, REGISTER_DISPLAYNAME, WebauthnPasswordless, refused,
    registration_nodes, relying_party,
};
use crate::deps::Deps;
use crate::identity::now;
use crate::identity::schema::IdentitySchema;
use crate::identity::service::{CreateIdentityBody, CredentialsIn};
use crate::selfservice::flow::request::Submission;
use crate::selfservice::flow::{Flow, FlowError, FlowState, common};
use crate::selfservice::strategy::traits::{read_traits, validate_traits};
use crate::selfservice::strategy::webauthn_ceremony::{
    Ceremony, CeremonyError, StoredCredentials, User,
};
use crate::selfservice::strategy::{Method, Outcome, RegistrationStrategy, Screen};
use crate::selfservice::ui::UiContainer;
use crate::text;

#[async_trait]
impl RegistrationStrategy for WebauthnPasswordless {
    fn method(&self) -> Method {
        Method::Webauthn
    }

    /// The nodes carry a challenge, which only [`Self::populate_flow`] has a place for.
    fn populate(&self, _deps: &Deps, _schema: &IdentitySchema, _ui: &mut UiContainer) {}

    fn populate_flow(
        &self,
        deps: &Deps,
        _schema: &IdentitySchema,
        ui: &mut UiContainer,
        screen: Option<Screen>,
        internal: &mut Option<Value>,
    ) -> Result<(), FlowError> {
        if screen == Some(Screen::Profile) {
            return Ok(());
        }
        let options = challenge(deps)?;
        options.1.put(internal)?;
        registration_nodes(deps, ui, &options.0, text::registration_register_webauthn());
        Ok(())
    }

    fn takes(&self, sub: &Submission) -> bool {
        sub.str("method") == Some(Method::Webauthn.as_str())
            || sub.str(REGISTER).is_some_and(|a| !a.is_empty())
    }

    async fn register(
        &self,
        deps: &Deps,
        schema: &IdentitySchema,
        flow: &mut Flow,
        sub: &Submission,
        _all: &[&'static dyn RegistrationStrategy],
    ) -> Result<Outcome<CreateIdentityBody>, FlowError> {
        let display_name = sub.str(REGISTER_DISPLAYNAME).unwrap_or_default().trim();
        flow.ui
            .set_value(REGISTER_DISPLAYNAME, Value::String(display_name.to_owned()));
        let Some(traits) = read_traits(schema, sub, &mut flow.ui) else {
            return Ok(Outcome::Rejected);
        };
        let Some(extracted) = validate_traits(schema, &mut flow.ui, &traits) else {
            return Ok(Outcome::Rejected);
        };
        let answer = sub.str(REGISTER).unwrap_or_default();
        if answer.is_empty() {
            flow.ui
                .add_node_message(REGISTER, text::validation_required(REGISTER));
            return Ok(Outcome::Rejected);
        }
        // A passwordless key is found by the identifier: without one it could never sign in.
        if extracted.webauthn_identifiers.is_empty() {
            flow.ui.add_message(text::validation_identifier_missing());
            return Ok(Outcome::Rejected);
        }
        let pending = Pending::from_value(common::take_internal(deps, flow, KEY).await?);
        let added_at = chrono::DateTime::from_timestamp(now().timestamp(), 0).unwrap_or_default();
        let finished = match pending {
            Some(p) => {
                relying_party(deps)?.finish_registration(p.state, answer, display_name, added_at)
            }
            None => Err(CeremonyError::NoChallenge),
        };
        let registered = match finished {
            Ok(r) => r,
            Err(e) => {
                flow.ui.add_message(refused(&e));
                // A fresh challenge keeps the form usable.
                let (options, pending) = challenge(deps)?;
                flow.internal = Some(
                    common::keep_internal(
                        deps,
                        flow,
                        KEY,
                        Some(pending.to_value()?),
                        &[FlowState::ChooseMethod],
                    )
                    .await?,
                );
                registration_nodes(
                    deps,
                    &mut flow.ui,
                    &options,
                    text::registration_register_webauthn(),
                );
                return Ok(Outcome::Rejected);
            }
        };
        let config = StoredCredentials {
            credentials: vec![registered.credential],
            user_handle: Some(registered.user_handle),
        };
        let mut other = std::collections::BTreeMap::new();
        // The identity service takes Kratos's import format; the schema gives the identifiers.
        other.insert(
            "webauthn".to_owned(),
            serde_json::json!({ "config": config }),
        );
        Ok(Outcome::Done(CreateIdentityBody {
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
                password: None,
                oidc: None,
                other,
            }),
        }))
    }
}

/// A new passwordless registration: its options and the state to keep.
fn challenge(deps: &Deps) -> Result<(Value, Pending), FlowError> {
    let handle = Uuid::new_v4();
    let name = deps
        .config
        .selfservice
        .methods
        .webauthn
        .config
        .rp
        .display_name
        .clone()
        .unwrap_or_default();
    let (options, state) = relying_party(deps)?
        .start_registration(
            Ceremony::Passwordless,
            &User {
                handle: handle.as_bytes(),
                name: &name,
                display_name: &name,
            },
            &[],
        )
        .map_err(|e| FlowError::Internal(e.to_string()))?;
    Ok((
        options,
        Pending {
            identity_id: None,
            state,
        },
    ))
}
