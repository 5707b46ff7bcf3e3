//! Signing up with a passkey instead of a password: the form carries the creation options for
//! a new random user handle (`passkey_create_data`, with the trait the passkey is named after),
//! the browser script answers in `passkey_register`, and the new identity gets the verified
//! passkey as its `passkey` credential. In two-step registration the passkey is offered on the
//! credentials screen only.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde_json::{Value, json};

use super::{
    KEY, Passkey, add_script, display_name, display_name_field, hidden, keep_ceremony,
    options_value, refusal, relying_party, take_ceremony,
};
use crate::deps::Deps;
use crate::identity::now;
use crate::identity::schema::IdentitySchema;
use crate::identity::service::{CreateIdentityBody, CredentialsIn};
use crate::selfservice::flow::request::{Submission, prune_nulls};
use crate::selfservice::flow::{Flow, FlowError};
use crate::selfservice::strategy::webauthn_ceremony::{
    Ceremony, CeremonyState, StoredCredentials, User, new_passkey_user_handle, passkey_create_data,
};
use crate::selfservice::strategy::{Method, Outcome, RegistrationStrategy, Screen};
use crate::selfservice::ui::UiContainer;
use crate::text;

const CREATE_DATA: &str = "passkey_create_data";
const REGISTER: &str = "passkey_register";
const TRIGGER: &str = "passkey_register_trigger";

#[async_trait]
impl RegistrationStrategy for Passkey {
    fn method(&self) -> Method {
        Method::Passkey
    }

    /// A passkey form is nothing without the challenge the flow keeps: its nodes come with
    /// one from [`Self::populate_flow`] only.
    fn populate(&self, _deps: &Deps, _schema: &IdentitySchema, _ui: &mut UiContainer) {}

    fn populate_flow(
        &self,
        deps: &Deps,
        schema: &IdentitySchema,
        ui: &mut UiContainer,
        screen: Option<Screen>,
        internal: &mut Option<Value>,
    ) -> Result<(), FlowError> {
        if screen == Some(Screen::Profile) {
            return Ok(());
        }
        let state = show(deps, schema, ui)?;
        state.put(internal, KEY).map_err(super::internal)
    }

    /// The script submits the form without a `method`: the answer names the method.
    fn takes(&self, sub: &Submission) -> bool {
        sub.str("method") == Some(self.method().as_str()) || answer(sub).is_some()
    }

    async fn register(
        &self,
        deps: &Deps,
        schema: &IdentitySchema,
        flow: &mut Flow,
        sub: &Submission,
        _all: &[&'static dyn RegistrationStrategy],
    ) -> Result<Outcome<CreateIdentityBody>, FlowError> {
        let mut traits = sub.traits(schema).unwrap_or_else(|| json!({}));
        prune_nulls(&mut traits);
        let Some(response) = answer(sub) else {
            flow.ui
                .add_node_message(REGISTER, text::validation_required(REGISTER));
            return Ok(Outcome::Rejected);
        };
        let pending = take_ceremony(deps, flow).await?;
        // Whatever comes of this answer (also a refused identity later on), the form offers
        // a fresh challenge: the one answered is spent.
        let fresh = show(deps, schema, &mut flow.ui)?;
        let from = [flow.state];
        keep_ceremony(deps, flow, fresh, &from).await?;
        flow.ui.set_values_from_traits(&traits);
        let rp = relying_party(deps)?;
        let registered = pending
            .ok_or(super::CeremonyError::NoChallenge)
            .and_then(|state| {
                rp.finish_registration(state, response, &display_name(schema, &traits), now())
            });
        let registered = match registered {
            Ok(r) => r,
            Err(e) => {
                flow.ui.add_message(refusal(e)?);
                return Ok(Outcome::Rejected);
            }
        };
        let config = StoredCredentials {
            credentials: vec![registered.credential],
            user_handle: Some(registered.user_handle),
        };
        let config =
            serde_json::to_value(config).map_err(|e| FlowError::Internal(e.to_string()))?;
        Ok(Outcome::Done(CreateIdentityBody {
            schema_id: None,
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
                other: BTreeMap::from([("passkey".to_owned(), json!({ "config": config }))]),
            }),
        }))
    }
}

/// The browser's answer, unless empty (Ory's React SDK sends `"true"` for an empty one).
fn answer(sub: &Submission) -> Option<&str> {
    sub.str(REGISTER).filter(|a| !a.is_empty() && *a != "true")
}

/// Puts (or replaces) the passkey nodes with a new challenge for a new user handle, in
/// Kratos's order; answers the ceremony state to keep.
fn show(
    deps: &Deps,
    schema: &IdentitySchema,
    ui: &mut UiContainer,
) -> Result<CeremonyState, FlowError> {
    let handle = new_passkey_user_handle();
    // The script names the user after the display-name field when the button is pressed.
    let user = User {
        handle: &handle,
        name: "passkey",
        display_name: "passkey",
    };
    let (options, state) = relying_party(deps)?
        .start_registration(Ceremony::Passkey, &user, &[])
        .map_err(super::internal)?;
    let data = passkey_create_data(options, &display_name_field(schema));
    ui.upsert(hidden(CREATE_DATA).with_value(options_value(&data)));
    ui.upsert(super::trigger_button(
        TRIGGER,
        "oryPasskeyRegistration",
        text::registration_register_passkey(),
    ));
    add_script(deps, ui);
    ui.upsert(hidden(REGISTER));
    Ok(state)
}
