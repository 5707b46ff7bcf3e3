//! Signing up with a provider: the mapper turns the proven claims into traits; traits the
//! schema refuses come back on the registration form (with the provider button) for the user
//! to complete, which starts the round trip again carrying them. A subject that already has an
//! account continues as a login.

use async_trait::async_trait;
use serde_json::Value;

use super::{Carried, Oidc, Proven, carried, field, finish_round_trip, identity_of};
use super::{link_carried, map_claims, method_allows, native, new_credentials, proven_carried};
use super::{provider_buttons, provider_named, start_round_trip};
use crate::deps::Deps;
use crate::identity::Identity;
use crate::identity::schema::IdentitySchema;
use crate::identity::service::{Conflict, CreateIdentityBody, CredentialsIn};
use crate::selfservice::flow::request::{Submission, prune_nulls};
use crate::selfservice::flow::{Flow, FlowError, FlowKind};
use crate::selfservice::strategy::{Method, Outcome, RegistrationStrategy, Screen};
use crate::selfservice::ui::UiContainer;
use crate::text;

#[async_trait]
impl RegistrationStrategy for Oidc {
    fn method(&self) -> Method {
        Method::Oidc
    }

    fn populate(&self, deps: &Deps, _schema: &IdentitySchema, ui: &mut UiContainer) {
        provider_buttons(deps, ui, text::registration_with);
    }

    /// Signing up with a provider needs no profile first: its buttons are on both screens.
    fn populate_screen(
        &self,
        deps: &Deps,
        schema: &IdentitySchema,
        ui: &mut UiContainer,
        _screen: Screen,
    ) {
        self.populate(deps, schema, ui);
    }

    fn takes(&self, sub: &Submission) -> bool {
        method_allows(sub) && (field(sub, "provider").is_some() || sub.carried.is_some())
    }

    fn duplicate_message(&self) -> text::UiText {
        text::validation_duplicate_credentials_on_oidc_link()
    }

    /// An account has this email (or another identifier) already: never linked silently; the
    /// user signs in to that account, which links the provider (Kratos's account linking).
    fn on_conflict(
        &self,
        flow: &Flow,
        pending: &Identity,
        conflict: &Conflict,
    ) -> Option<FlowError> {
        if !conflict.shown {
            return None;
        }
        let link = link_carried(pending, &conflict.identifier)?;
        Some(FlowError::Handoff {
            kind: FlowKind::Login,
            flow_type: flow.flow_type,
            method: Method::Oidc.as_str(),
            carried: Box::new(link),
            return_to: flow.return_to.clone(),
        })
    }

    async fn register(
        &self,
        deps: &Deps,
        schema: &IdentitySchema,
        flow: &mut Flow,
        sub: &Submission,
        _all: &[&'static dyn RegistrationStrategy],
    ) -> Result<Outcome<CreateIdentityBody>, FlowError> {
        let provider_id = field(sub, "provider").unwrap_or_default().to_owned();
        let (proven, submitted) = match carried(sub)? {
            Some(Carried::Callback(cb)) => {
                let submitted = super::pending_traits(flow);
                let at = flow.clone();
                (
                    finish_round_trip(deps, &at, &mut flow.ui, &provider_id, &cb).await?,
                    submitted,
                )
            }
            Some(Carried::Proven(p)) => (Some(*p), None),
            Some(Carried::Link(_)) => {
                return Err(FlowError::Internal(
                    "an account link was handed to a registration".into(),
                ));
            }
            None => {
                let provider = provider_named(deps, &provider_id)?;
                let mut traits = sub.traits(schema);
                if let Some(t) = traits.as_mut() {
                    prune_nulls(t);
                }
                if field(sub, "id_token").is_none() {
                    return Err(start_round_trip(deps, flow, provider.as_ref(), sub, traits).await);
                }
                (native(&mut flow.ui, provider.as_ref(), sub).await?, traits)
            }
        };
        let Some(proven) = proven else {
            return Ok(Outcome::Rejected);
        };
        sign_up(deps, flow, proven, submitted).await
    }
}

/// The identity to create for the proven subject, or on to a login when it has one.
async fn sign_up(
    deps: &Deps,
    flow: &mut Flow,
    proven: Proven,
    submitted: Option<Value>,
) -> Result<Outcome<CreateIdentityBody>, FlowError> {
    if identity_of(deps, &proven).await?.is_some() {
        return Err(FlowError::Handoff {
            kind: FlowKind::Login,
            flow_type: flow.flow_type,
            method: Method::Oidc.as_str(),
            carried: Box::new(proven_carried(&proven)),
            return_to: flow.return_to.clone(),
        });
    }
    let mapped = map_claims(deps, &proven).await?;
    let identity = &mapped["identity"];
    let mut traits = identity["traits"].clone();
    if !traits.is_object() {
        traits = Value::Object(Default::default());
    }
    // What the user typed in completes (and wins over) what the provider told.
    if let Some(Value::Object(typed)) = submitted {
        merge(&mut traits, typed);
    }
    // Shown again if the schema refuses them, for the user to complete.
    flow.ui.set_values_from_traits(&traits);
    let field = |k: &str| identity.get(k).filter(|v| !v.is_null()).cloned();
    Ok(Outcome::Done(CreateIdentityBody {
        schema_id: None,
        traits,
        state: None,
        metadata_public: field("metadata_public"),
        metadata_admin: field("metadata_admin"),
        external_id: None,
        organization_id: None,
        verifiable_addresses: None,
        recovery_addresses: None,
        credentials: Some(CredentialsIn {
            password: None,
            oidc: Some(new_credentials(deps, &proven)?),
            other: Default::default(),
        }),
    }))
}

/// Deep merge of `over` into `base`: objects merge, anything else replaces.
fn merge(base: &mut Value, over: serde_json::Map<String, Value>) {
    let Value::Object(b) = base else {
        *base = Value::Object(over);
        return;
    };
    for (k, v) in over {
        match (b.get_mut(&k), v) {
            (Some(existing @ Value::Object(_)), Value::Object(o)) => merge(existing, o),
            (_, v) => {
                b.insert(k, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn typed_traits_complete_and_win_over_mapped_ones() {
        let mut t = json!({"email": "a@x.test", "name": {"first": "A", "last": "B"}});
        let typed = json!({"name": {"first": "Ann"}, "nickname": "annie"});
        merge(&mut t, typed.as_object().unwrap().clone());
        assert_eq!(
            t,
            json!({"email": "a@x.test", "name": {"first": "Ann", "last": "B"}, "nickname": "annie"})
        );
    }
}
