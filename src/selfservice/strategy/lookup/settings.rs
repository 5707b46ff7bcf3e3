//! The settings screens: generate codes (shown once), confirm them, reveal which are used,
//! disable the method.

use async_trait::async_trait;

use super::{CODES_NODE, CONFIRM, DISABLE, REGENERATE, REVEAL};
use super::{Codes, LookupSecret, Shown, clear_settings_nodes, codes_node, is_code, new_codes};
use super::{confirm_node, disable_node, regenerate_node, reveal_node};
use crate::deps::Deps;
use crate::identity::schema::IdentitySchema;
use crate::identity::{Credential, CredentialType, Identity, now};
use crate::selfservice::flow::FlowError;
use crate::selfservice::flow::request::Submission;
use crate::selfservice::strategy::{Method, Outcome, SettingsContext, SettingsStrategy};
use crate::selfservice::ui::UiContainer;
use crate::text;

/// The identity's stored codes, when it has any.
fn stored(identity: &Identity) -> Option<Codes> {
    identity
        .credentials
        .get(&CredentialType::LookupSecret)
        .map(|c| Codes::parse(&c.config))
        .filter(|c| !c.recovery_codes.is_empty())
}

/// The codes a regeneration showed on this flow, read back from the flow's own UI (the flow
/// row keeps them, as Kratos keeps them in the flow's internal context, until confirmed).
fn pending(ui: &UiContainer) -> Option<Vec<String>> {
    ui.find(CONFIRM)?;
    let node = ui.find(CODES_NODE)?;
    let list = node.value()?;
    let codes: Vec<String> = list["context"]["secrets"]
        .as_array()?
        .iter()
        .map(|s| {
            s["context"]["secret"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    (codes.len() == super::NUM_CODES && codes.iter().all(|c| is_code(c))).then_some(codes)
}

#[async_trait]
impl SettingsStrategy for LookupSecret {
    fn method(&self) -> Method {
        Method::LookupSecret
    }

    /// Confirming a new set of codes proves them, as Kratos records it.
    fn proven(&self, before: &Identity, after: &Identity) -> Option<crate::session::Aal> {
        let codes = |i: &Identity| {
            i.credentials
                .get(&crate::identity::CredentialType::LookupSecret)
                .map(|c| c.config.clone())
        };
        let now = codes(after)?;
        (codes(before).as_ref() != Some(&now)).then_some(crate::session::Aal::Aal2)
    }

    /// Its buttons, with or without `method` (Kratos's UI sends only the flag).
    fn takes(&self, sub: &Submission) -> bool {
        sub.str("method") == Some(self.method().as_str())
            || [REVEAL, REGENERATE, CONFIRM, DISABLE]
                .iter()
                .any(|f| sub.flag(f))
    }

    /// Reveal and disable when the identity has codes, else generate.
    fn populate(
        &self,
        _deps: &Deps,
        _schema: &IdentitySchema,
        ui: &mut UiContainer,
        identity: &Identity,
    ) {
        if stored(identity).is_some() {
            ui.upsert(reveal_node());
            ui.upsert(disable_node());
        } else {
            ui.upsert(regenerate_node());
        }
    }

    /// Every action needs a privileged session, as in Kratos. Generating and revealing show
    /// another screen of the method; confirming and disabling change the identity.
    async fn update(
        &self,
        cx: &SettingsContext<'_>,
        ui: &mut UiContainer,
        sub: &Submission,
    ) -> Result<Outcome<Identity>, FlowError> {
        let (confirm, reveal, disable, regenerate) = (
            sub.flag(CONFIRM),
            sub.flag(REVEAL),
            sub.flag(DISABLE),
            sub.flag(REGENERATE),
        );
        if !(confirm || reveal || disable || regenerate) {
            ui.add_message(text::settings_no_strategy_found());
            return Ok(Outcome::Rejected);
        }
        cx.ensure_privileged()?;
        // Kratos's precedence when several are set.
        if confirm {
            confirm_codes(cx, ui)
        } else if reveal {
            let Some(codes) = stored(cx.identity) else {
                return Err(FlowError::BadRequest(
                    "Can not reveal lookup codes because you have none.".into(),
                ));
            };
            let shown: Vec<Shown> = codes
                .recovery_codes
                .iter()
                .map(|c| match (c.used(), &c.code) {
                    (Some(at), _) => Shown::Used(at),
                    // Kratos's clear codes are shown as Kratos shows them.
                    (None, Some(code)) => Shown::Code(code.clone()),
                    (None, None) => Shown::Masked,
                })
                .collect();
            clear_settings_nodes(ui);
            ui.upsert(codes_node(&shown));
            ui.upsert(regenerate_node());
            ui.upsert(disable_node());
            Ok(Outcome::Continue)
        } else if disable {
            let mut updated = cx.identity.clone();
            updated.credentials.remove(&CredentialType::LookupSecret);
            updated.updated_at = now();
            clear_settings_nodes(ui);
            ui.upsert(regenerate_node());
            Ok(Outcome::Done(updated))
        } else {
            let codes: Vec<Shown> = new_codes().into_iter().map(Shown::Code).collect();
            clear_settings_nodes(ui);
            ui.upsert(codes_node(&codes));
            ui.upsert(confirm_node());
            Ok(Outcome::Continue)
        }
    }
}

/// Stores the codes this flow generated, hashed, in place of any earlier set.
fn confirm_codes(
    cx: &SettingsContext<'_>,
    ui: &mut UiContainer,
) -> Result<Outcome<Identity>, FlowError> {
    let Some(codes) = pending(ui) else {
        return Err(FlowError::BadRequest(
            "You must (re-)generate recovery backup codes before you can save them.".into(),
        ));
    };
    let config = serde_json::to_value(Codes::hashed(cx.deps, &codes))
        .map_err(|e| FlowError::Internal(e.to_string()))?;
    let ts = now();
    let mut updated = cx.identity.clone();
    let credential = match updated.credentials.remove(&CredentialType::LookupSecret) {
        Some(c) => Credential {
            config,
            updated_at: ts,
            ..c
        },
        None => Credential {
            id: uuid::Uuid::new_v4(),
            kind: CredentialType::LookupSecret,
            // Kratos names the identity: the codes need no identifier.
            identifiers: vec![updated.id.to_string()],
            config,
            version: 0,
            created_at: ts,
            updated_at: ts,
        },
    };
    updated
        .credentials
        .insert(CredentialType::LookupSecret, credential);
    updated.updated_at = ts;
    // The codes leave the flow: shown once, kept only hashed.
    clear_settings_nodes(ui);
    ui.upsert(reveal_node());
    ui.upsert(disable_node());
    Ok(Outcome::Done(updated))
}
