//! Passwordless sign-in and sign-up by a one-time code mailed to a code identifier
//! (`ory.sh/kratos.credentials.code.identifier`), and recovery and verification by a code
//! mailed to the address. Flows decide states; this module builds the nodes, stores and mails
//! codes, and checks them.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::courier::Channel;
use crate::deps::Deps;
use crate::identity::{CredentialType, now};
use crate::selfservice::flow::common::email_node;
use crate::selfservice::flow::request::Submission;
use crate::selfservice::flow::{Flow, FlowError, FlowType};
use crate::selfservice::otp::{self, Mail, Template};
use crate::selfservice::strategy::Proof;
use crate::selfservice::ui::{
    Autocomplete, Group, InputType, UiContainer, UiNode, csrf_node, submit_node,
};
use crate::store::id::DbId;
use crate::store::tokens::{self as tq, TokenRow, UseOutcome};
use crate::text;

mod address_choice;
mod login;
mod mfa;
mod recovery;
mod registration;
mod verification;

/// Sign-in, sign-up, recovery and verification by a one-time code.
pub struct Code;

/// A one-time code to one of the signed-in identity's addresses as the second factor
/// (`selfservice.methods.code.mfa_enabled`).
pub struct CodeMfa;

pub const KIND_LOGIN: &str = "login_code";
pub const KIND_REGISTRATION: &str = "registration_code";
const KIND_RECOVERY: &str = "recovery_code";

/// The digits of a code this method sends.
const CODE_LENGTH: u64 = 6;

/// The code input of a flow waiting for a code (Kratos's `nodeCodeInputField`).
fn code_node(label: text::UiText) -> UiNode {
    UiNode::input("code", Group::Code, InputType::Text)
        .required()
        .with_label(label)
}

/// Recovery's code input, which Kratos (since v1.3) restricts to the digits of one code.
fn recovery_code_node() -> UiNode {
    let mut node =
        code_node(text::label_recovery_code()).with_autocomplete(Autocomplete::OneTimeCode);
    if let Some(a) = node.input_attributes_mut() {
        a.pattern = Some("[0-9]+".into());
        a.maxlength = Some(CODE_LENGTH);
    }
    node
}

/// The hidden `method=code` that lets "resend" (which carries no method) reach this method.
fn method_hidden() -> UiNode {
    UiNode::input("method", Group::Code, InputType::Hidden).with_value("code")
}

/// Login or registration once a code went out, as Kratos's `populateEmailSentFlow` draws
/// it: messages cleared, the nodes `keep` picks (what the user filled in, hidden), then the
/// code input, "continue" and "resend"; a browser flow's CSRF token stays.
pub fn show_code_sent(flow: &mut Flow, label: text::UiText, keep: impl Fn(&UiNode) -> bool) {
    flow.ui.reset_messages();
    let mut nodes: Vec<UiNode> = std::mem::take(&mut flow.ui.nodes)
        .into_iter()
        .filter(|n| keep(n))
        .collect();
    for a in nodes.iter_mut().filter_map(UiNode::input_attributes_mut) {
        a.kind = InputType::Hidden;
    }
    flow.ui.nodes = nodes;
    flow.ui.upsert(method_hidden());
    flow.ui.append(code_node(label));
    flow.ui
        .append(submit_node(Group::Code, "code", text::label_continue()));
    flow.ui.append(
        UiNode::input("resend", Group::Code, InputType::Submit)
            .with_value("code")
            .with_label(text::label_resend_otp()),
    );
    if flow.flow_type == FlowType::Browser {
        flow.ui.update_csrf(&flow.csrf_token);
    }
}

/// A submitted code (JSON clients may send a number); `None` when the user asked for a new
/// one with `resend=code`, even if the form also carried a code.
pub fn submitted_code(sub: &Submission) -> Option<String> {
    if sub.str("resend") == Some("code") {
        return None;
    }
    entered_code(sub)
}

/// The code field as submitted, resend or not: JSON clients may send it as a number.
pub fn entered_code(sub: &Submission) -> Option<String> {
    match sub.get("code")? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Stores a fresh code for the flow (replacing unsent/unused ones) and mails it. `identity`
/// is `None` for registrations, where no identity exists yet.
pub async fn send(
    deps: &Deps,
    flow: &Flow,
    kind: &str,
    address: &str,
    channel: Channel,
    identity_id: Option<Uuid>,
) -> Result<(), FlowError> {
    let lifespan = deps.config.selfservice.methods.code.config.lifespan.get();
    let ts = now();
    let expires = ts + chrono::Duration::from_std(lifespan).unwrap_or(chrono::Duration::hours(1));
    let code = otp::new_code();
    let row = TokenRow {
        id: DbId(Uuid::new_v4()),
        nid: DbId(deps.store.nid()),
        kind: kind.into(),
        flow_id: Some(DbId(flow.id)),
        identity_id: identity_id.map(DbId),
        address: Some(address.to_owned()),
        address_id: None,
        token_hash: otp::hash_for_storage(deps, &code),
        used_at: None,
        expires_at: expires.naive_utc(),
        created_at: ts.naive_utc(),
        updated_at: ts.naive_utc(),
    };
    let minutes = (lifespan.as_secs() / 60) as i64;
    let identity = match identity_id {
        Some(id) => crate::selfservice::flow::common::identity_json(deps, id).await,
        None => Value::Null,
    };
    let (template, data) = if kind == KIND_LOGIN {
        (
            Template::LoginCodeValid,
            json!({"To": address, "LoginCode": code, "Identity": identity,
                   "ExpiresInMinutes": minutes, "RequestURL": flow.request_url}),
        )
    } else {
        (
            Template::RegistrationCodeValid,
            json!({"To": address, "RegistrationCode": code, "Traits": flow_traits(flow),
                   "ExpiresInMinutes": minutes, "RequestURL": flow.request_url}),
        )
    };
    let mail = Mail {
        template,
        channel,
        to: address.to_owned(),
        data,
    };
    let messages = otp::render(deps, vec![mail]).map_err(FlowError::Internal)?;
    // The code and the message carrying it are written together: never one without the other.
    tq::issue(
        &deps.store,
        tq::Issue {
            flow_id: flow.id,
            kind,
            tokens: &[row],
            messages: &messages,
            address_sent: None,
            step: None,
            now: ts.naive_utc(),
        },
    )
    .await?;
    Ok(())
}

/// The channel a code identifier is reached on, from the identity's `code` credential
/// (`addresses: [{channel, address}]`, as Kratos stores it). Email unless it says `sms`.
pub async fn channel_for(deps: &Deps, identity_id: Uuid, address: &str) -> Channel {
    let Ok(identity) = crate::identity::service::get(deps, identity_id, true).await else {
        return Channel::Email;
    };
    let sms = identity
        .credentials
        .get(&CredentialType::Code)
        .and_then(|c| c.config.get("addresses"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|a| {
            a.get("address").and_then(Value::as_str) == Some(address)
                && a.get("channel").and_then(Value::as_str) == Some("sms")
        });
    if sms { Channel::Sms } else { Channel::Email }
}

/// The channel for a `via` of the identity schema.
pub fn channel_of(via: crate::identity::schema::Via) -> Channel {
    match via {
        crate::identity::schema::Via::Email => Channel::Email,
        crate::identity::schema::Via::Sms => Channel::Sms,
    }
}

/// The traits echoed into the registration form, for the mail template.
fn flow_traits(flow: &Flow) -> Value {
    let mut out = serde_json::Map::new();
    for n in &flow.ui.nodes {
        if let Some(a) = n.input_attributes()
            && let Some(name) = a.name.strip_prefix("traits.")
            && let Some(v) = &a.value
        {
            out.insert(name.to_owned(), v.clone());
        }
    }
    Value::Object(out)
}

/// How checking a submitted code ended.
pub enum Checked {
    Valid(Box<TokenRow>),
    Invalid,
    TooOften,
    /// Right but too late: Kratos answers as for a flow that expired then.
    Expired(chrono::DateTime<chrono::Utc>),
}

/// Checks and uses a code of the flow: counted against `max_submissions`, single use.
pub async fn check(deps: &Deps, flow: &Flow, kind: &str, code: &str) -> Result<Checked, FlowError> {
    let max = deps.config.selfservice.methods.code.config.max_submissions as i32;
    let outcome = tq::use_code(
        &deps.store,
        flow.id,
        kind,
        &otp::candidate_hashes(deps, code),
        max,
        now().naive_utc(),
    )
    .await?;
    Ok(match outcome {
        UseOutcome::TooOften => Checked::TooOften,
        UseOutcome::NotFound => Checked::Invalid,
        UseOutcome::Used(row) if row.expires_at.and_utc() <= chrono::Utc::now() => {
            Checked::Expired(row.expires_at.and_utc())
        }
        UseOutcome::Used(row) => Checked::Valid(row),
    })
}

pub fn too_often() -> text::UiText {
    text::validation_generic("The request was submitted too often. Please request another code.")
}

/// The first screen of recovery and verification: the address and the code button, labelled
/// `submit`.
fn populate_address(ui: &mut UiContainer, submit: text::UiText) {
    ui.append(email_node(Group::Code, None));
    ui.append(submit_node(Group::Code, "code", submit));
}

/// The "resend" button of recovery and verification: it submits the address again (as
/// `name`) without a code.
fn resend_node(name: &str, address: &str) -> UiNode {
    UiNode::input(name, Group::Code, InputType::Submit)
        .with_value(address)
        .with_label(text::label_resend_otp())
}

/// Recovery once a code went out to `email` (Kratos's `recoveryHandleFormSubmission`): the
/// code input, "continue", and "resend" carrying the address.
fn recovery_sent_ui(action: String, masked: &str, email: &str) -> UiContainer {
    let mut ui = UiContainer::new(action, "POST");
    ui.append(csrf_node(masked));
    ui.append(recovery_code_node());
    ui.append(method_hidden());
    ui.append(submit_node(Group::Code, "code", text::label_continue()));
    ui.append(resend_node("email", email));
    ui
}

/// Verification once a code went out (Kratos's `PopulateVerificationMethod` in
/// `sent_email`): the code input (holding `otp` when a code link opened the flow) and
/// submit, a browser's CSRF token, then "resend" when the address is known to the form.
fn verification_sent_ui(flow: &Flow, address: Option<&str>, otp: Option<&str>) -> UiContainer {
    let mut ui = UiContainer::new(flow.ui.action.clone(), "POST");
    let mut code = code_node(text::label_verification_code());
    if let Some(c) = otp {
        code.set_value(Some(json!(c)));
    }
    ui.append(code);
    ui.append(method_hidden());
    ui.append(submit_node(Group::Code, "code", text::label_submit()));
    if flow.flow_type == FlowType::Browser {
        ui.append(csrf_node(&flow.csrf_token));
    }
    if let Some(a) = address {
        ui.append(resend_node("email", a));
    }
    ui
}

/// Checks a recovery or verification code of the flow, counted against `max_submissions` and
/// single use; unlike [`check`], a right code that expired restarts the flow as expired (at
/// the code's expiry), as Kratos's code validation answers.
async fn prove(
    deps: &Deps,
    flow: &Flow,
    kind: &str,
    code: &str,
    invalid: text::UiText,
) -> Result<Proof, FlowError> {
    let max = deps.config.selfservice.methods.code.config.max_submissions as i32;
    let outcome = tq::use_code(
        &deps.store,
        flow.id,
        kind,
        &otp::candidate_hashes(deps, code),
        max,
        now().naive_utc(),
    )
    .await?;
    Ok(match outcome {
        UseOutcome::TooOften => Proof::Restart(too_often()),
        UseOutcome::NotFound => Proof::Invalid(invalid),
        UseOutcome::Used(row) if row.expires_at.and_utc() <= chrono::Utc::now() => {
            Proof::Expired(row.expires_at.and_utc())
        }
        UseOutcome::Used(row) => Proof::Valid(row),
    })
}

fn lifespan(deps: &Deps) -> std::time::Duration {
    deps.config.selfservice.methods.code.config.lifespan.get()
}
