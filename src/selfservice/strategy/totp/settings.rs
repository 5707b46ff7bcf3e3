//! Linking an authenticator app in the settings flow (QR code, secret, a code to prove it
//! works) and unlinking it.
//!
//! The secret offered lives in the flow's stored UI (the `totp_secret_key` text node, which
//! shows it anyway), so a submission is checked against what this flow showed, never against
//! anything the client sends.

use async_trait::async_trait;

use super::{Totp, check_code, credential, key_url, qr_data_url, stored_url};
use crate::deps::Deps;
use crate::identity::schema::IdentitySchema;
use crate::identity::{CredentialType, Identity, now};
use crate::selfservice::flow::FlowError;
use crate::selfservice::flow::request::Submission;
use crate::selfservice::strategy::{Method, Outcome, SettingsContext, SettingsStrategy};
use crate::selfservice::ui::{
    Attributes, Group, ImageAttributes, InputType, Meta, UiContainer, UiNode, submit_node,
};
use crate::text;

const SECRET_NODE: &str = "totp_secret_key";

#[async_trait]
impl SettingsStrategy for Totp {
    fn method(&self) -> Method {
        Method::Totp
    }

    /// Its form, or the unlink button, which Kratos's UI sends without `method`.
    fn takes(&self, sub: &Submission) -> bool {
        sub.str("method") == Some(self.method().as_str()) || sub.flag("totp_unlink")
    }

    fn populate(
        &self,
        deps: &Deps,
        schema: &IdentitySchema,
        ui: &mut UiContainer,
        identity: &Identity,
    ) {
        show(deps, schema, ui, identity);
    }

    /// Linking proves the app: its code was just entered.
    fn proven(&self, before: &Identity, after: &Identity) -> Option<crate::session::Aal> {
        (stored_url(before).is_none() && stored_url(after).is_some())
            .then_some(crate::session::Aal::Aal2)
    }

    /// Both linking and unlinking need a privileged session, as in Kratos.
    async fn update(
        &self,
        cx: &SettingsContext<'_>,
        ui: &mut UiContainer,
        sub: &Submission,
    ) -> Result<Outcome<Identity>, FlowError> {
        cx.ensure_privileged()?;
        let linked = stored_url(cx.identity).is_some();
        let mut updated = cx.identity.clone();
        let unlink = sub.flag("totp_unlink");
        if unlink {
            if !linked {
                ui.add_message(text::settings_no_strategy_found());
                return Ok(Outcome::Rejected);
            }
            updated.credentials.remove(&CredentialType::Totp);
        } else {
            if linked {
                ui.add_message(text::settings_no_strategy_found());
                return Ok(Outcome::Rejected);
            }
            let Some(secret) = offered_secret(ui) else {
                ui.add_message(text::settings_no_strategy_found());
                return Ok(Outcome::Rejected);
            };
            let code = sub.str("totp_code").unwrap_or_default();
            if code.is_empty() {
                ui.add_node_message("totp_code", text::validation_required("totp_code"));
                return Ok(Outcome::Rejected);
            }
            let (url, _) = key_url(cx.deps, &account_name(cx.schema, cx.identity), &secret)?;
            if !check_code(cx.deps, cx.identity.id, &url, code).await? {
                ui.add_node_message("totp_code", text::validation_totp_wrong());
                return Ok(Outcome::Rejected);
            }
            updated
                .credentials
                .insert(CredentialType::Totp, credential(&url));
        }
        updated.updated_at = now();
        // The saved flow shows what the identity can do next: unlink, or link a new device.
        show(cx.deps, cx.schema, ui, &updated);
        Ok(Outcome::Done(updated))
    }
}

/// Replaces the method's nodes with the unlink button, or with a fresh key to link.
fn show(deps: &Deps, schema: &IdentitySchema, ui: &mut UiContainer, identity: &Identity) {
    ui.nodes.retain(|n| n.group != Group::Totp);
    if stored_url(identity).is_some() {
        ui.append(
            UiNode::input("totp_unlink", Group::Totp, InputType::Submit)
                .with_value("true")
                .required()
                .with_label(text::settings_totp_unlink()),
        );
        return;
    }
    let secret = totp_rs::Secret::generate();
    let shown = key_url(deps, &account_name(schema, identity), &secret)
        .and_then(|(url, base32)| Ok((qr_data_url(&url)?, base32)));
    let (qr, base32) = match shown {
        Ok(x) => x,
        Err(e) => {
            // Without a key the method cannot be offered; the other methods still can.
            tracing::error!(error = %e, "could not draw a TOTP key");
            return;
        }
    };
    ui.append(UiNode {
        group: Group::Totp,
        attributes: Attributes::Image(ImageAttributes {
            src: qr,
            id: "totp_qr".into(),
            width: 256,
            height: 256,
        }),
        messages: Vec::new(),
        meta: Meta {
            label: Some(text::settings_totp_qr()),
        },
    });
    ui.append(
        UiNode::text(
            SECRET_NODE,
            text::settings_totp_secret(&base32),
            Group::Totp,
        )
        .with_label(text::settings_totp_secret_label()),
    );
    ui.append(
        UiNode::input("totp_code", Group::Totp, InputType::Text)
            .required()
            .with_label(text::label_verify_otp()),
    );
    ui.append(submit_node(Group::Totp, "totp", text::label_save()));
}

/// The secret this flow offered, from its stored UI.
fn offered_secret(ui: &UiContainer) -> Option<totp_rs::Secret> {
    let Attributes::Text(t) = &ui.find(SECRET_NODE)?.attributes else {
        return None;
    };
    let base32 = t.text.context.as_ref()?.get("secret")?.as_str()?;
    totp_rs::Secret::try_from_base32(base32).ok()
}

/// The trait the schema marks `totp.account_name`, else the identity's id (Kratos's choice).
fn account_name(schema: &IdentitySchema, identity: &Identity) -> String {
    schema
        .validate_traits(&identity.traits)
        .ok()
        .and_then(|x| x.totp_account_name)
        .unwrap_or_else(|| identity.id.to_string())
}
