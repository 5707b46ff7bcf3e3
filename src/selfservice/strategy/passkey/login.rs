//! Signing in with a passkey at aal1, without an identifier: the form carries discoverable
//! request options (`passkey_challenge`); the authenticator lets the user pick one of their
//! passkeys for this site and answers with its user handle (`passkey_login`), which names the
//! identity. The identifier field offers passkeys in its autofill (`username webauthn`).

use async_trait::async_trait;
use serde_json::Value;

use super::{
    KEY, Passkey, add_script, hidden, keep_ceremony, options_value, refusal, relying_party, stored,
    take_ceremony,
};
use crate::deps::Deps;
use crate::identity::service::{self as identities, IdentityError};
use crate::identity::{CredentialType, Identity, now};
use crate::selfservice::flow::request::Submission;
use crate::selfservice::flow::{Flow, FlowError};
use crate::selfservice::strategy::webauthn_ceremony::{Ceremony, CeremonyError, CeremonyState};
use crate::selfservice::strategy::{LoginStrategy, Method, Outcome, add_login_identifier};
use crate::selfservice::ui::{Autocomplete, UiContainer};
use crate::text;

const CHALLENGE: &str = "passkey_challenge";
const LOGIN: &str = "passkey_login";
const TRIGGER: &str = "passkey_login_trigger";
const AUTOFILL: &str = "oryPasskeyLoginAutocompleteInit";

#[async_trait]
impl LoginStrategy for Passkey {
    fn method(&self) -> Method {
        Method::Passkey
    }

    /// A passkey form is nothing without the challenge the flow keeps: its nodes come with
    /// one from [`Self::populate_flow`] only.
    fn populate(&self, _deps: &Deps, _ui: &mut UiContainer) {}

    fn populate_flow(
        &self,
        deps: &Deps,
        ui: &mut UiContainer,
        _identity: Option<&Identity>,
        internal: &mut Option<Value>,
    ) -> Result<(), FlowError> {
        let state = show(deps, ui)?;
        state.put(internal, KEY).map_err(super::internal)
    }

    /// A passkey needs no identifier: it shows on identifier-first's first screen.
    fn populate_identification(
        &self,
        deps: &Deps,
        ui: &mut UiContainer,
        internal: &mut Option<Value>,
    ) -> Result<(), FlowError> {
        self.populate_flow(deps, ui, None, internal)
    }

    /// The script submits the form without a `method`: the answer names the method.
    fn takes(&self, sub: &Submission) -> bool {
        sub.str("method") == Some(self.method().as_str()) || answer(sub).is_some()
    }

    async fn login(
        &self,
        deps: &Deps,
        flow: &mut Flow,
        sub: &Submission,
    ) -> Result<Outcome<Identity>, FlowError> {
        let Some(response) = answer(sub) else {
            flow.ui
                .add_node_message(LOGIN, text::validation_required(LOGIN));
            return Ok(Outcome::Rejected);
        };
        let pending = take_ceremony(deps, flow).await?;
        match verify(deps, pending, response).await? {
            Ok(identity) => Ok(Outcome::Done(identity)),
            Err(message) => {
                // The answered challenge is spent: the form offers a new one.
                let fresh = show(deps, &mut flow.ui)?;
                let from = [flow.state];
                keep_ceremony(deps, flow, fresh, &from).await?;
                flow.ui.add_message(message);
                Ok(Outcome::Rejected)
            }
        }
    }
}

/// The browser's answer, unless empty.
fn answer(sub: &Submission) -> Option<&str> {
    sub.str(LOGIN).filter(|a| !a.is_empty())
}

/// Finds whose passkey answered and verifies the answer against the pending ceremony, storing
/// the advanced sign counter. `Ok(Err(message))` refuses the sign-in.
async fn verify(
    deps: &Deps,
    pending: Option<CeremonyState>,
    response: &str,
) -> Result<Result<Identity, text::UiText>, FlowError> {
    let handle = match super::RelyingParty::login_user_handle(response) {
        Ok(h) => h,
        Err(e) => return Ok(Err(refusal(e)?)),
    };
    let owner = match String::from_utf8(handle) {
        Ok(h) => {
            crate::store::credentials::identity_for_identifier(
                &deps.store,
                CredentialType::Passkey.as_str(),
                &h,
            )
            .await?
        }
        Err(_) => None,
    };
    let Some(owner) = owner else {
        return Ok(Err(text::validation_no_webauthn_user()));
    };
    let identity = match identities::get(deps, owner, true).await {
        Ok(i) => i,
        Err(IdentityError::NotFound) => return Ok(Err(text::validation_no_webauthn_user())),
        Err(IdentityError::Store(e)) => return Err(e.into()),
        Err(e) => return Err(FlowError::Internal(e.to_string())),
    };
    let mut creds = stored(&identity);
    if creds.credentials.is_empty() {
        return Ok(Err(text::validation_no_webauthn_device()));
    }
    let rp = relying_party(deps)?;
    let verified = pending
        .ok_or(CeremonyError::NoChallenge)
        .and_then(|state| rp.finish_login(state, response, &mut creds.credentials));
    if let Err(e) = verified {
        return Ok(Err(refusal(e)?));
    }
    let config = serde_json::to_string(&creds).map_err(|e| FlowError::Internal(e.to_string()))?;
    crate::store::credentials::update_config(
        &deps.store,
        identity.id,
        CredentialType::Passkey.as_str(),
        &config,
        now().naive_utc(),
    )
    .await?;
    Ok(Ok(identity))
}

/// Puts (or replaces) the passkey nodes with a new discoverable challenge, in Kratos's order,
/// and makes the identifier offer passkeys in its autofill; answers the ceremony state to keep.
fn show(deps: &Deps, ui: &mut UiContainer) -> Result<CeremonyState, FlowError> {
    let (options, state) = relying_party(deps)?
        .start_login(Ceremony::Passkey, &[])
        .map_err(super::internal)?;
    add_login_identifier(deps, ui);
    if let Some(a) = ui
        .find_mut("identifier")
        .and_then(|n| n.input_attributes_mut())
    {
        a.autocomplete = Some(Autocomplete::UsernameWebauthn);
    }
    ui.upsert(hidden(CHALLENGE).with_value(options_value(&options)));
    add_script(deps, ui);
    let mut login = hidden(LOGIN);
    if let Some(a) = login.input_attributes_mut() {
        a.onload = Some(format!("window.{AUTOFILL}()"));
        a.onload_trigger = Some(AUTOFILL.to_owned());
    }
    ui.upsert(login);
    ui.upsert(
        super::trigger_button(TRIGGER, "oryPasskeyLogin", text::login_passkey()).with_value(""),
    );
    Ok(state)
}
