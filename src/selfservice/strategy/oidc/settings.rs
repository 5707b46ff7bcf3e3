//! Linking and unlinking providers in the settings flow: `link=<id>` goes to the provider and
//! adds the subject it proves to the identity's `oidc` credential; `unlink=<id>` removes one,
//! never the last way to sign in. Both need a privileged session, as in Kratos.

use async_trait::async_trait;
use serde_json::Value;

use super::finish_round_trip;
use super::{Carried, Oidc, Proven, add_provider, carried, credential_entry, field};
use super::{identity_of, label, linked, method_allows, provider_named, start_round_trip};
use crate::deps::Deps;
use crate::identity::schema::IdentitySchema;
use crate::identity::{CredentialType, Identity, now};
use crate::selfservice::flow::FlowError;
use crate::selfservice::flow::request::Submission;
use crate::selfservice::strategy::{Method, Outcome, SettingsContext, SettingsStrategy};
use crate::selfservice::ui::{Group, InputType, UiContainer, UiNode};
use crate::text;

#[async_trait]
impl SettingsStrategy for Oidc {
    fn method(&self) -> Method {
        Method::Oidc
    }

    fn takes(&self, sub: &Submission) -> bool {
        method_allows(sub)
            && (field(sub, "link").is_some()
                || field(sub, "unlink").is_some()
                || sub.carried.is_some())
    }

    /// A "Link" button per provider the identity has not linked, an "Unlink" button per one
    /// it has, unless it is the last way to sign in.
    fn populate(
        &self,
        deps: &Deps,
        _schema: &IdentitySchema,
        ui: &mut UiContainer,
        identity: &Identity,
    ) {
        let have = linked(identity);
        let can_unlink = first_factors(identity) > 1;
        for p in deps.oidc.iter() {
            let id = p.config().id.clone();
            let name = label(p.as_ref());
            if have.iter().any(|(provider, _)| *provider == id) {
                if can_unlink {
                    ui.append(
                        UiNode::input("unlink", Group::Oidc, InputType::Submit)
                            .with_value(id.as_str())
                            .with_label(text::settings_unlink_oidc(&name)),
                    );
                }
            } else {
                ui.append(
                    UiNode::input("link", Group::Oidc, InputType::Submit)
                        .with_value(id.as_str())
                        .with_label(text::settings_link_oidc(&name)),
                );
            }
        }
    }

    async fn update(
        &self,
        cx: &SettingsContext<'_>,
        ui: &mut UiContainer,
        sub: &Submission,
    ) -> Result<Outcome<Identity>, FlowError> {
        cx.ensure_privileged()?;
        let deps = cx.deps;
        if let Some(Carried::Callback(cb)) = carried(sub)? {
            let provider_id = field(sub, "provider").unwrap_or_default();
            let Some(proven) = finish_round_trip(deps, cx.flow, ui, provider_id, &cb).await? else {
                return Ok(Outcome::Rejected);
            };
            return link(cx, ui, &proven).await;
        }
        if let Some(id) = field(sub, "unlink") {
            return unlink(cx, ui, id);
        }
        let id = field(sub, "link").unwrap_or_default();
        let provider = provider_named(deps, id)?;
        if linked(cx.identity).iter().any(|(p, _)| p == id) {
            ui.add_message(text::validation_generic(&format!(
                "{} is linked to this account already.",
                label(provider.as_ref())
            )));
            return Ok(Outcome::Rejected);
        }
        Err(start_round_trip(deps, cx.flow, provider.as_ref(), sub, None).await)
    }
}

/// Adds the proven subject to the identity, unless another identity has it.
async fn link(
    cx: &SettingsContext<'_>,
    ui: &mut UiContainer,
    proven: &Proven,
) -> Result<Outcome<Identity>, FlowError> {
    if let Some(owner) = identity_of(cx.deps, proven).await? {
        if owner.id == cx.identity.id {
            return Ok(Outcome::Done(cx.identity.clone()));
        }
        ui.add_message(text::validation_duplicate_credentials());
        return Ok(Outcome::Rejected);
    }
    let entry = credential_entry(cx.deps, proven)?;
    let mut updated = cx.identity.clone();
    add_provider(&mut updated, &entry);
    Ok(Outcome::Done(updated))
}

/// Removes a linked provider, refusing the last way to sign in.
fn unlink(
    cx: &SettingsContext<'_>,
    ui: &mut UiContainer,
    provider_id: &str,
) -> Result<Outcome<Identity>, FlowError> {
    let have = linked(cx.identity);
    if !have.iter().any(|(p, _)| p == provider_id) {
        ui.add_message(text::validation_generic(
            "can not unlink non-existing OpenID Connect connection",
        ));
        return Ok(Outcome::Rejected);
    }
    if first_factors(cx.identity) < 2 {
        ui.add_message(text::validation_generic(
            "can not unlink OpenID Connect connection because it is the last remaining first factor credential",
        ));
        return Ok(Outcome::Rejected);
    }
    let mut updated = cx.identity.clone();
    let remove_credential = match updated.credentials.get_mut(&CredentialType::Oidc) {
        Some(c) => {
            let prefix = format!("{provider_id}:");
            c.identifiers.retain(|i| !i.starts_with(&prefix));
            if let Some(list) = c.config["providers"].as_array_mut() {
                list.retain(|p| p["provider"] != Value::String(provider_id.to_owned()));
            }
            c.updated_at = now();
            c.identifiers.is_empty()
        }
        None => false,
    };
    if remove_credential {
        updated.credentials.remove(&CredentialType::Oidc);
    }
    Ok(Outcome::Done(updated))
}

/// How many ways `identity` can sign in with one factor: a password, each linked provider, a
/// code address, each passkey or passwordless security key (Kratos's
/// `CountActiveFirstFactorCredentials`).
fn first_factors(identity: &Identity) -> usize {
    identity
        .credentials
        .values()
        .map(|c| match c.kind {
            CredentialType::Password => usize::from(
                c.config["hashed_password"]
                    .as_str()
                    .is_some_and(|h| !h.is_empty()),
            ),
            CredentialType::Oidc => c.config["providers"].as_array().map_or(0, Vec::len),
            CredentialType::Code => usize::from(!c.identifiers.is_empty()),
            CredentialType::Passkey => c.config["credentials"].as_array().map_or(0, Vec::len),
            CredentialType::Webauthn => c.config["credentials"].as_array().map_or(0, |cs| {
                cs.iter().filter(|c| c["is_passwordless"] == true).count()
            }),
            _ => 0,
        })
        .sum()
}
