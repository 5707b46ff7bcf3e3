//! Signing in with a provider: the buttons, the round trip, and the subject's identity. A
//! subject nobody registered continues as a registration, as in Kratos.

use async_trait::async_trait;

use super::{Carried, Oidc, Proven, carried, field, finish_round_trip, identity_of};
use super::{INTERNAL_KEY, add_provider, label, start_round_trip};
use super::{map_claims, method_allows, native, proven_carried, provider_buttons, provider_named};
use crate::deps::Deps;
use crate::identity::service::OidcProviderIn;
use crate::identity::{CredentialType, Identity};
use crate::selfservice::flow::request::Submission;
use crate::selfservice::flow::{Flow, FlowError, FlowKind, FlowState, common};
use crate::selfservice::strategy::{LINK_KEY, LoginStrategy, Method, Outcome};
use crate::selfservice::ui::UiContainer;
use crate::text;
use serde_json::Value;

#[async_trait]
impl LoginStrategy for Oidc {
    fn method(&self) -> Method {
        Method::Oidc
    }

    /// A provider button sends only `provider`; a callback comes with what it carried.
    fn takes(&self, sub: &Submission) -> bool {
        method_allows(sub) && (field(sub, "provider").is_some() || sub.carried.is_some())
    }

    fn populate(&self, deps: &Deps, ui: &mut UiContainer) {
        provider_buttons(deps, ui, text::login_with);
    }

    /// Provider buttons need no identifier: they show on identifier-first's first screen.
    fn populate_identification(
        &self,
        deps: &Deps,
        ui: &mut UiContainer,
        _internal: &mut Option<Value>,
    ) -> Result<(), FlowError> {
        self.populate(deps, ui);
        Ok(())
    }

    async fn login(
        &self,
        deps: &Deps,
        flow: &mut Flow,
        sub: &Submission,
    ) -> Result<Outcome<Identity>, FlowError> {
        let provider_id = field(sub, "provider").unwrap_or_default().to_owned();
        let proven = match carried(sub)? {
            Some(Carried::Callback(cb)) => {
                let at = flow.clone();
                finish_round_trip(deps, &at, &mut flow.ui, &provider_id, &cb).await?
            }
            Some(Carried::Proven(p)) => Some(*p),
            Some(Carried::Link(link)) => return show_link(deps, flow, link).await,
            None => {
                let provider = provider_named(deps, &provider_id)?;
                if field(sub, "id_token").is_none() {
                    return Err(start_round_trip(deps, flow, provider.as_ref(), sub, None).await);
                }
                native(&mut flow.ui, provider.as_ref(), sub).await?
            }
        };
        let Some(proven) = proven else {
            return Ok(Outcome::Rejected);
        };
        sign_in(deps, flow, proven).await
    }

    /// Links the provider account to the identity that proved it owns the identifier.
    async fn complete_link(
        &self,
        deps: &Deps,
        identity: &Identity,
        link: &Value,
    ) -> Result<Result<(), text::UiText>, FlowError> {
        let text_of = |k: &str| link[k].as_str().unwrap_or_default().to_owned();
        let duplicate = text_of("duplicate_identifier").to_lowercase();
        let same = |s: &str| s.to_lowercase() == duplicate;
        let owns = identity
            .credentials
            .values()
            .any(|c| c.identifiers.iter().any(|i| same(i)))
            || identity.verifiable_addresses.iter().any(|a| same(&a.value))
            || identity.recovery_addresses.iter().any(|a| same(&a.value));
        if duplicate.is_empty() || !owns {
            return Ok(Err(text::login_linked_credentials_do_not_match()));
        }
        let entry = OidcProviderIn {
            provider: text_of("provider"),
            subject: text_of("subject"),
            use_auto_link: None,
            organization: None,
            initial_tokens: Some([
                text_of("initial_id_token"),
                text_of("initial_access_token"),
                text_of("initial_refresh_token"),
            ]),
        };
        let identifier = format!("{}:{}", entry.provider, entry.subject);
        match crate::store::credentials::identity_for_identifier(
            &deps.store,
            CredentialType::Oidc.as_str(),
            &identifier,
        )
        .await?
        {
            Some(owner) if owner == identity.id => return Ok(Ok(())),
            Some(_) => return Ok(Err(text::validation_duplicate_credentials())),
            None => {}
        }
        let mut updated = identity.clone();
        add_provider(&mut updated, &entry);
        crate::store::identities::replace(&deps.store, &updated.to_rows(deps.store.nid()), true)
            .await?;
        deps.session_cache.invalidate_identity(updated.id);
        Ok(Ok(()))
    }
}

/// `update_identity_on_login: automatic`: the mapper runs again and the identity takes the
/// traits and metadata it gives now, if the schema accepts them (else it stays as it was).
async fn refresh_identity(
    deps: &Deps,
    identity: Identity,
    proven: &Proven,
) -> Result<Identity, FlowError> {
    use crate::config::UpdateIdentityOnLogin;
    let automatic = deps
        .oidc
        .get(&proven.provider)
        .is_some_and(|p| p.config().update_identity_on_login == UpdateIdentityOnLogin::Automatic);
    if !automatic {
        return Ok(identity);
    }
    let mapped = map_claims(deps, proven).await?;
    let m = &mapped["identity"];
    let mut updated = identity.clone();
    if m["traits"].is_object() {
        updated.traits = m["traits"].clone();
    }
    for (key, slot) in [
        ("metadata_public", &mut updated.metadata_public),
        ("metadata_admin", &mut updated.metadata_admin),
    ] {
        if let Some(v) = m.get(key).filter(|v| !v.is_null()) {
            *slot = Some(v.clone());
        }
    }
    if updated.traits == identity.traits
        && updated.metadata_public == identity.metadata_public
        && updated.metadata_admin == identity.metadata_admin
    {
        return Ok(identity);
    }
    if crate::identity::service::apply_schema(deps, &mut updated, &[], &[]).is_err() {
        // The reason may quote trait values (addresses), so it is not logged.
        tracing::warn!(provider = %proven.provider, "the mapped traits do not fit the identity schema; the identity is left as it was");
        return Ok(identity);
    }
    updated.updated_at = crate::identity::now();
    crate::store::identities::replace(&deps.store, &updated.to_rows(deps.store.nid()), true)
        .await?;
    deps.session_cache.invalidate_identity(updated.id);
    Ok(updated)
}

/// A registration found the provider account's identifier taken: this login flow offers to
/// link it to the account that has the identifier, once the user signs in there.
async fn show_link(
    deps: &Deps,
    flow: &mut Flow,
    link: Value,
) -> Result<Outcome<Identity>, FlowError> {
    let duplicate = link["duplicate_identifier"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let provider_id = link["provider"].as_str().unwrap_or_default().to_owned();
    let provider = deps
        .oidc
        .get(&provider_id)
        .map(|p| label(p.as_ref()))
        .unwrap_or_else(|| provider_id.clone());
    let new_login = format!("{}/self-service/login/browser", deps.public_base());
    flow.ui
        .add_message(text::login_link(&duplicate, &provider, &new_login));
    if let Some(node) = flow.ui.find_mut("identifier") {
        node.set_value(Some(Value::String(duplicate)));
    }
    let internal =
        common::keep_internal(deps, flow, LINK_KEY, Some(link), &[FlowState::ChooseMethod]).await?;
    flow.internal = Some(internal);
    common::save(deps, flow, &[FlowState::ChooseMethod]).await?;
    Ok(Outcome::Continue)
}

/// The identity of the proven subject, or on to a registration when there is none.
async fn sign_in(
    deps: &Deps,
    flow: &mut Flow,
    proven: Proven,
) -> Result<Outcome<Identity>, FlowError> {
    if let Some(identity) = identity_of(deps, &proven).await? {
        // The round trip is over: its verifier and nonce are not kept.
        if let Some(i) = flow.internal.as_mut().and_then(|i| i.as_object_mut()) {
            i.remove(INTERNAL_KEY);
        }
        return Ok(Outcome::Done(
            refresh_identity(deps, identity, &proven).await?,
        ));
    }
    if !deps.config.selfservice.flows.registration.enabled {
        flow.ui.add_message(text::validation_generic(
            "No account is linked to this sign-in, and registration is disabled.",
        ));
        return Ok(Outcome::Rejected);
    }
    Err(FlowError::Handoff {
        kind: FlowKind::Registration,
        flow_type: flow.flow_type,
        method: Method::Oidc.as_str(),
        carried: Box::new(proven_carried(&proven)),
        return_to: flow.return_to.clone(),
    })
}
