//! Recovery by address choice (Kratos's "recovery v2", `feature_flags.choose_recovery_address`):
//! the user names any recovery address of the account, picks among the account's addresses
//! (masked) where the code goes, proves knowing the picked one in full, and enters the code.
//! An unknown address gets exactly the screens of an account with that one address, so the
//! first screen cannot be used to probe for accounts.

use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::deps::Deps;
use crate::identity::Identity;
use crate::identity::schema::{Via, normalize_identifier};
use crate::selfservice::flow::request::Submission;
use crate::selfservice::flow::{Flow, FlowError, FlowState};
use crate::selfservice::strategy::Advanced;
use crate::selfservice::ui::{Group, InputType, UiContainer, UiNode, csrf_node, submit_node};
use crate::text;

/// The first screen: any recovery address of the account.
pub fn first_screen(ui: &mut UiContainer) {
    ui.append(
        UiNode::input("recovery_address", Group::Code, InputType::Text)
            .required()
            .with_label(text::label_recovery_address()),
    );
    ui.append(submit_node(Group::Code, "code", text::label_continue()));
}

/// A submission in one of the address-choice states.
pub async fn advance(
    deps: &Deps,
    flow: &mut Flow,
    sub: &Submission,
) -> Result<Advanced, FlowError> {
    flow.ui.reset_messages();
    if sub.str("screen") == Some("previous") {
        return go_back(deps, flow, sub).await;
    }
    match flow.state {
        FlowState::RecoveryAwaitingAddress => awaiting_address(deps, flow, sub).await,
        FlowState::RecoveryAwaitingAddressChoice => awaiting_choice(deps, flow, sub).await,
        FlowState::RecoveryAwaitingAddressConfirm => Ok(confirm_submitted(flow, sub)),
        FlowState::RecoveryAwaitingCode => match super::entered_code(sub) {
            Some(code) => {
                let proof = super::prove(
                    deps,
                    flow,
                    super::KIND_RECOVERY,
                    &code,
                    text::recovery_code_invalid(),
                )
                .await?;
                Ok(Advanced::Proof(proof))
            }
            // "Resend": the confirmed address again, for a fresh code.
            None => Ok(confirm_submitted(flow, sub)),
        },
        _ => Err(FlowError::BadRequest(
            "The recovery flow is not choosing an address.".into(),
        )),
    }
}

/// A non-empty field of the submission, normalised as an address.
fn address_field(sub: &Submission, name: &str) -> Option<String> {
    let raw = sub.str(name).map(str::trim).filter(|s| !s.is_empty())?;
    Some(normalize_identifier(raw, Some(via_of(raw))))
}

fn via_of(address: &str) -> Via {
    if address.contains('@') {
        Via::Email
    } else {
        Via::Sms
    }
}

/// The storage name of the channel an address is reached on.
fn via_name(address: &str) -> &'static str {
    via_of(address).as_str()
}

/// A required field was missing: its message on its node.
fn required(flow: &mut Flow, name: &str) -> Advanced {
    flow.ui
        .add_node_message(name, text::validation_required(name));
    Advanced::Rejected
}

/// A fresh form for the next screen.
fn fresh_ui(flow: &mut Flow) {
    let mut ui = UiContainer::new(flow.ui.action.clone(), "POST");
    ui.append(csrf_node(&flow.csrf_token));
    flow.ui = ui;
}

/// The account's recovery addresses, sorted, when `address` is one of them; else `address`
/// alone, as if it were an account's only address.
async fn account_addresses(deps: &Deps, address: &str) -> Result<Vec<String>, FlowError> {
    let found =
        crate::store::identities::by_recovery_address(&deps.store, via_name(address), address)
            .await?;
    let mut all: Vec<String> = match found {
        Some((_, rows)) => Identity::from_rows(rows)?
            .recovery_addresses
            .into_iter()
            .map(|a| a.value)
            .collect(),
        None => vec![address.to_owned()],
    };
    all.sort();
    all.dedup();
    Ok(all)
}

/// What the choice screen sends back for an address it never shows in full (as Kratos:
/// base64 of its SHA-256).
fn address_hash(address: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(address.as_bytes()))
}

fn same_hash(address: &str, hash: &str) -> bool {
    address_hash(address)
        .as_bytes()
        .ct_eq(hash.as_bytes())
        .into()
}

/// An address as the choice screen shows it (Kratos's `MaskAddress`): an email keeps the
/// first two characters of its local part, anything else its first three and last two.
pub fn mask(address: &str) -> String {
    let chars: Vec<char> = address.chars().collect();
    if let Some((local, domain)) = address.split_once('@') {
        let local: Vec<char> = local.chars().collect();
        if local.len() < 2 {
            return address.to_owned();
        }
        return format!("{}****@{domain}", local[..2].iter().collect::<String>());
    }
    if chars.len() < 6 {
        return address.to_owned();
    }
    format!(
        "{}****{}",
        chars[..3].iter().collect::<String>(),
        chars[chars.len() - 2..].iter().collect::<String>()
    )
}

/// The named address: an account with several addresses offers them (masked); otherwise
/// the code goes to it straight away.
async fn awaiting_address(
    deps: &Deps,
    flow: &mut Flow,
    sub: &Submission,
) -> Result<Advanced, FlowError> {
    let Some(address) = address_field(sub, "recovery_address") else {
        return Ok(required(flow, "recovery_address"));
    };
    show_choice(deps, flow, &address).await
}

async fn show_choice(deps: &Deps, flow: &mut Flow, address: &str) -> Result<Advanced, FlowError> {
    let all = account_addresses(deps, address).await?;
    if all.len() == 1 && all[0] == address {
        return Ok(confirm(flow, address, address));
    }
    fresh_ui(flow);
    flow.state = FlowState::RecoveryAwaitingAddressChoice;
    flow.ui.add_message(text::recovery_ask_to_choose_address());
    for a in &all {
        flow.ui.append(
            UiNode::input("recovery_select_address", Group::Code, InputType::Submit)
                .with_value(address_hash(a))
                .with_label(text::label_plain(&mask(a))),
        );
    }
    flow.ui.append(super::method_hidden());
    flow.ui.append(hidden_address(address));
    Ok(Advanced::Shown)
}

fn hidden_address(address: &str) -> UiNode {
    UiNode::input("recovery_address", Group::Code, InputType::Hidden).with_value(address)
}

fn back_node() -> UiNode {
    UiNode::input("screen", Group::Code, InputType::Submit)
        .with_value("previous")
        .with_label(text::recovery_back())
}

/// The picked address: the one named at first needs no confirming; another must be typed
/// in full, so the masked list reveals nothing usable.
async fn awaiting_choice(
    deps: &Deps,
    flow: &mut Flow,
    sub: &Submission,
) -> Result<Advanced, FlowError> {
    let Some(selected) = sub.str("recovery_select_address").filter(|s| !s.is_empty()) else {
        return Ok(required(flow, "recovery_select_address"));
    };
    let Some(address) = address_field(sub, "recovery_address") else {
        return Ok(required(flow, "recovery_address"));
    };
    if same_hash(&address, selected) {
        return Ok(confirm(flow, &address, &address));
    }
    let picked = account_addresses(deps, &address)
        .await?
        .into_iter()
        .find(|a| same_hash(a, selected))
        .ok_or_else(|| {
            FlowError::BadRequest("The selected recovery address is not valid.".into())
        })?;
    fresh_ui(flow);
    flow.state = FlowState::RecoveryAwaitingAddressConfirm;
    flow.ui.add_message(text::recovery_ask_for_full_address());
    let (kind, label) = match via_of(&picked) {
        Via::Email => (InputType::Email, text::label_email()),
        Via::Sms => (InputType::Tel, text::label_phone_number()),
    };
    flow.ui.append(
        UiNode::input("recovery_confirm_address", Group::Code, kind)
            .with_value("")
            .required()
            .with_label(label),
    );
    flow.ui.append(hidden_address(&address));
    flow.ui
        .append(submit_node(Group::Code, "code", text::label_continue()));
    flow.ui.append(super::method_hidden());
    flow.ui.append(back_node());
    Ok(Advanced::Shown)
}

/// The address typed in full (or sent again by "resend").
fn confirm_submitted(flow: &mut Flow, sub: &Submission) -> Advanced {
    let Some(confirmed) = address_field(sub, "recovery_confirm_address") else {
        return required(flow, "recovery_confirm_address");
    };
    let named = address_field(sub, "recovery_address").unwrap_or_default();
    confirm(flow, &confirmed, &named)
}

/// The code goes to `confirmed` (if it is anyone's recovery address): the code screen, with
/// "resend" and "back".
fn confirm(flow: &mut Flow, confirmed: &str, named: &str) -> Advanced {
    fresh_ui(flow);
    flow.state = FlowState::RecoveryAwaitingCode;
    flow.ui
        .add_message(text::recovery_masked_with_code_sent(&mask(confirmed)));
    flow.ui.append(super::recovery_code_node());
    flow.ui
        .append(submit_node(Group::Code, "code", text::label_continue()));
    flow.ui.append(super::method_hidden());
    flow.ui
        .append(super::resend_node("recovery_confirm_address", confirmed));
    flow.ui.append(hidden_address(named));
    flow.ui.append(back_node());
    Advanced::Send {
        address: confirmed.to_owned(),
        via: via_name(confirmed),
    }
}

/// "Back": to the choice for an account with several addresses, else to the first screen.
async fn go_back(deps: &Deps, flow: &mut Flow, sub: &Submission) -> Result<Advanced, FlowError> {
    let named = address_field(sub, "recovery_address");
    let several = match &named {
        Some(a) => account_addresses(deps, a).await?.len() > 1,
        None => false,
    };
    match named {
        Some(a)
            if several
                && matches!(
                    flow.state,
                    FlowState::RecoveryAwaitingAddressConfirm | FlowState::RecoveryAwaitingCode
                ) =>
        {
            show_choice(deps, flow, &a).await
        }
        _ => {
            fresh_ui(flow);
            flow.state = FlowState::RecoveryAwaitingAddress;
            first_screen(&mut flow.ui);
            Ok(Advanced::Shown)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_like_kratos() {
        assert_eq!(mask("foo@bar"), "fo****@bar");
        assert_eq!(mask("fo@bar"), "fo****@bar");
        assert_eq!(mask("f@bar"), "f@bar");
        assert_eq!(mask("foobar"), "foo****ar");
        assert_eq!(mask("+12345678910"), "+12****10");
        assert_eq!(mask("+1234"), "+1234");
    }

    #[test]
    fn hashes_like_kratos() {
        // The value in Kratos's own snapshot of the choice screen.
        let h = address_hash("+491705550166");
        assert_eq!(h, "52McLavwKA6+jlSuOBVOPvkoLn8r1fUhZDMj2eytcac=");
        assert!(same_hash("+491705550166", &h));
        assert!(!same_hash("+491705550167", &h));
    }
}
