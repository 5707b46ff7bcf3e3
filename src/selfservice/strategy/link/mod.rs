//! Recovery and verification by a link mailed to the address: opening it proves the address.
//! The flows decide states; this module builds the nodes and the links, and checks tokens.

use crate::deps::Deps;
use crate::identity::now;
use crate::selfservice::flow::common::email_node;
use crate::selfservice::flow::{Flow, FlowError};
use crate::selfservice::otp;
use crate::selfservice::strategy::Proof;
use crate::selfservice::ui::{Group, UiContainer, submit_node};
use crate::store::tokens as tq;
use crate::text;

mod recovery;
mod verification;

pub use recovery::recovery_url;

/// Recovery and verification by a link.
pub struct Link;

/// The first screen: the address and the link button.
fn populate_address(ui: &mut UiContainer) {
    ui.append(email_node(Group::Link, None));
    ui.append(submit_node(Group::Link, "link", text::label_submit()));
}

/// Once a link was sent: the same form, the address kept, and `message`.
fn show_sent(flow: &mut Flow, address: &str, message: text::UiText) {
    flow.ui.reset_messages();
    flow.ui.upsert(email_node(Group::Link, Some(address)));
    flow.ui.add_message(message);
}

/// Uses a link token of the flow: single use; a wrong or expired one restarts the flow with
/// `invalid`.
async fn prove(
    deps: &Deps,
    flow: &Flow,
    kind: &str,
    token: &str,
    invalid: text::UiText,
) -> Result<Proof, FlowError> {
    let row = tq::use_link(
        &deps.store,
        flow.id,
        kind,
        &otp::candidate_hashes(deps, token),
        now().naive_utc(),
    )
    .await?;
    Ok(
        match row.filter(|r| r.expires_at.and_utc() > chrono::Utc::now()) {
            Some(row) => Proof::Valid(Box::new(row)),
            None => Proof::Restart(invalid),
        },
    )
}

fn lifespan(deps: &Deps) -> std::time::Duration {
    deps.config.selfservice.methods.link.config.lifespan.get()
}
