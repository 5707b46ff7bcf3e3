//! The profile method: the signed-in identity's traits, shown and changed in the settings flow,
//! and the traits' own screen of two-step registration (Kratos's default style).

use async_trait::async_trait;
use serde_json::Value;

use super::traits::{read_traits, validate_traits};
use super::{Method, Outcome, SettingsContext, SettingsStrategy};
use super::{RegistrationStrategy, Screen, registration_ui};
use crate::deps::Deps;
use crate::identity::schema::IdentitySchema;
use crate::identity::service::{self as identities, CreateIdentityBody, IdentityError};
use crate::identity::{CredentialType, Identity, now};
use crate::selfservice::flow::request::{Submission, prune_nulls};
use crate::selfservice::flow::{Flow, FlowError, FlowState, common};
use crate::selfservice::ui::{self, Group, InputType, SortOptions, UiContainer, UiNode};
use crate::text;

/// The identity's traits, shown and changed in settings.
pub struct Profile;

#[async_trait]
impl SettingsStrategy for Profile {
    fn method(&self) -> Method {
        Method::Profile
    }

    /// One input per trait, filled from the identity's traits, and the method's save button.
    fn populate(
        &self,
        _deps: &Deps,
        schema: &IdentitySchema,
        ui: &mut UiContainer,
        identity: &Identity,
    ) {
        for n in ui::nodes_from_schema(schema, Group::Profile, "traits") {
            ui.upsert(n);
        }
        ui.set_values_from_json(&identity.traits, "traits", Group::Profile);
        ui.append(ui::submit_node(
            Group::Profile,
            "profile",
            text::label_save(),
        ));
    }

    fn changes_traits(&self) -> bool {
        true
    }

    /// Privileged only when identifiers or addresses change.
    async fn update(
        &self,
        cx: &SettingsContext<'_>,
        ui: &mut UiContainer,
        sub: &Submission,
    ) -> Result<Outcome<Identity>, FlowError> {
        Ok(match settings(cx.deps, cx.schema, ui, sub, cx.identity)? {
            None => Outcome::Rejected,
            Some(change) => {
                if change.protected {
                    cx.ensure_privileged()?;
                }
                Outcome::Done(change.identity)
            }
        })
    }
}

/// Two-step registration, as Kratos's profile strategy does it: the first screen asks for the
/// traits; `method=profile` (or `screen=credential-selection`) checks them and shows the
/// credentials screen, where they ride along hidden; `screen=previous` (or the legacy
/// `method=profile:back`) goes back to the first screen. It never signs anyone up itself.
#[async_trait]
impl RegistrationStrategy for Profile {
    fn method(&self) -> Method {
        Method::Profile
    }

    /// The traits (Kratos's `PopulateRegistrationMethod`), which the flow shows already.
    fn populate(&self, _deps: &Deps, schema: &IdentitySchema, ui: &mut UiContainer) {
        for n in ui::nodes_from_schema(schema, Group::Default, "traits") {
            ui.upsert(n);
        }
    }

    fn populate_screen(
        &self,
        _deps: &Deps,
        _schema: &IdentitySchema,
        ui: &mut UiContainer,
        screen: Screen,
    ) {
        match screen {
            Screen::Profile => ui.append(ui::submit_node(
                Group::Profile,
                "profile",
                text::registration(),
            )),
            Screen::Credentials => {
                for n in ui.nodes.iter_mut().filter(|n| n.group == Group::Default) {
                    if let Some(a) = n.input_attributes_mut() {
                        a.kind = InputType::Hidden;
                    }
                }
                ui.append(
                    UiNode::input("screen", Group::Profile, InputType::Submit)
                        .with_value("previous")
                        .with_label(text::registration_back()),
                );
                ui.add_message(text::registration_choose_credentials());
            }
        }
    }

    /// Its own button, and every `screen` request whichever method the form names (the code
    /// method's "back" button carries `method=code`).
    fn takes(&self, sub: &Submission) -> bool {
        matches!(sub.str("method"), Some("profile" | "profile:back"))
            || sub.str("screen").is_some_and(|s| !s.is_empty())
    }

    /// A flow waiting for a code may go back to the credentials screen.
    fn resumes(&self, state: FlowState) -> bool {
        state == FlowState::SentEmail
    }

    async fn register(
        &self,
        deps: &Deps,
        schema: &IdentitySchema,
        flow: &mut Flow,
        sub: &Submission,
        all: &[&'static dyn RegistrationStrategy],
    ) -> Result<Outcome<CreateIdentityBody>, FlowError> {
        let back =
            sub.str("screen") == Some("previous") || sub.str("method") == Some("profile:back");
        let Some(traits) = read_traits(schema, sub, &mut flow.ui) else {
            return Ok(Outcome::Rejected);
        };
        let screen = if back {
            Screen::Profile
        } else if validate_traits(schema, &mut flow.ui, &traits).is_some() {
            Screen::Credentials
        } else {
            return Ok(Outcome::Rejected);
        };
        let action = flow.ui.action.clone();
        let mut internal = flow.internal.clone();
        flow.ui = registration_ui(
            deps,
            schema,
            all,
            action,
            &flow.csrf_token,
            Some(screen),
            &mut internal,
        )?;
        flow.ui.set_values_from_traits(&traits);
        flow.ui.sort_nodes(&SortOptions::registration(schema));
        let from = flow.state;
        // A screen's methods may keep something for its submission (a passkey's challenge).
        if internal != flow.internal {
            common::store_internal(deps, flow, internal, &[from]).await?;
        }
        flow.state = FlowState::ChooseMethod;
        flow.active = None;
        flow.updated_at = now();
        common::save(deps, flow, &[from]).await?;
        Ok(Outcome::Continue)
    }
}

/// A profile change that passed validation.
struct ProfileChange {
    /// The identity with the new traits and what follows from them (identifiers, addresses).
    identity: Identity,
    /// Identifiers or addresses changed, which needs a privileged session.
    protected: bool,
}

/// Shows the submitted traits in place of the old ones (Kratos resets every `traits.*` node).
fn hydrate(ui: &mut UiContainer, traits: &Value) {
    for n in ui
        .nodes
        .iter_mut()
        .filter(|n| n.id().starts_with("traits."))
    {
        n.set_value(None);
        n.messages.clear();
    }
    ui.set_values_from_json(traits, "traits", Group::Profile);
}

/// Validates the submitted traits against the identity's schema and derives the new identity.
/// `Ok(None)` means rejected, with the reasons put into `ui`.
fn settings(
    deps: &Deps,
    schema: &IdentitySchema,
    ui: &mut UiContainer,
    sub: &Submission,
    current: &Identity,
) -> Result<Option<ProfileChange>, FlowError> {
    let Some(mut traits) = sub.traits(schema) else {
        ui.add_message(text::validation_generic(
            "Did not receive any value changes.",
        ));
        return Ok(None);
    };
    prune_nulls(&mut traits);
    if !traits.is_object() {
        ui.add_message(text::validation_generic("traits must be an object"));
        return Ok(None);
    }
    hydrate(ui, &traits);
    if validate_traits(schema, ui, &traits).is_none() {
        return Ok(None);
    }
    let mut updated = current.clone();
    updated.traits = traits;
    match identities::apply_schema(deps, &mut updated, &[], &[]) {
        Ok(()) => {}
        Err(IdentityError::Validation(msgs)) => {
            for m in msgs {
                ui.add_message(m.message);
            }
            return Ok(None);
        }
        Err(IdentityError::BadRequest(reason)) => {
            ui.add_message(text::validation_generic(&reason));
            return Ok(None);
        }
        Err(e) => return Err(FlowError::Internal(e.to_string())),
    }
    updated.updated_at = now();
    let protected = protected_fields_changed(current, &updated);
    Ok(Some(ProfileChange {
        identity: updated,
        protected,
    }))
}

/// Kratos's "protected fields": credential identifiers and verifiable or recovery addresses.
/// Changing them lets whoever holds the session take the account over, so it needs a recent
/// sign-in.
fn protected_fields_changed(before: &Identity, after: &Identity) -> bool {
    let identifiers = |i: &Identity| -> Vec<(CredentialType, Vec<String>)> {
        i.credentials
            .values()
            .map(|c| {
                let mut ids = c.identifiers.clone();
                ids.sort();
                (c.kind, ids)
            })
            .filter(|(_, ids)| !ids.is_empty())
            .collect()
    };
    let verifiable = |i: &Identity| -> Vec<(String, String)> {
        let mut v: Vec<_> = i
            .verifiable_addresses
            .iter()
            .map(|a| (a.via.clone(), a.value.clone()))
            .collect();
        v.sort();
        v
    };
    let recovery = |i: &Identity| -> Vec<(String, String)> {
        let mut v: Vec<_> = i
            .recovery_addresses
            .iter()
            .map(|a| (a.via.clone(), a.value.clone()))
            .collect();
        v.sort();
        v
    };
    identifiers(before) != identifiers(after)
        || verifiable(before) != verifiable(after)
        || recovery(before) != recovery(after)
}
