//! The courier: outgoing email and SMS as durable rows.
//!
//! Flows call [`enqueue`] (or [`render_row`] plus [`insert_courier_rows!`] inside their own
//! transaction); the message is rendered at once and stored `queued`. Nothing is sent from a
//! request path: the `Courier` actor (`actors::courier`), started by `serve --watch-courier` or
//! `courier watch`, claims due rows on a timer ([`dispatch::claim_batch`]) and hands each to a
//! sender pool that runs [`dispatch::deliver`]. Without a running courier, messages stay
//! queued, as in Kratos.
//!
//! Delivery is at-least-once. A message is marked `sent` only after the SMTP server (or HTTP
//! endpoint) accepted it; if the node dies between that acceptance and the row update, the lease
//! lapses and another node sends it again. Within that window a duplicate is possible; outside
//! it, the claim id compare-and-set prevents one.

pub mod dispatch;
mod http;
mod smtp;
pub mod template;
pub mod view;

use chrono::Utc;
use serde_json::json;
use uuid::Uuid;

use crate::deps::Deps;
use crate::store::StoreError;
use crate::store::courier::{self as rows, MessageRow, MessageStatus};
use crate::store::id::DbId;

pub use template::{Channel, TemplateType};

#[derive(Debug, thiserror::Error)]
pub enum CourierError {
    #[error("rendering the message failed: {0}")]
    Template(#[from] template::TemplateError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why one attempt failed. The message is stored (never logged: it may echo the recipient).
#[derive(Debug, Clone)]
pub struct SendError {
    /// The server refused for good (SMTP 5xx, HTTP 4xx). Still retried: Kratos retries every
    /// failure, and a refusal can be a misconfiguration fixed before the retries run out.
    pub permanent: bool,
    pub message: String,
}

impl SendError {
    pub fn permanent(m: impl Into<String>) -> SendError {
        SendError {
            permanent: true,
            message: m.into(),
        }
    }
    pub fn transient(m: impl Into<String>) -> SendError {
        SendError {
            permanent: false,
            message: m.into(),
        }
    }
    /// The dispatch `error` document, in herodot's shape as Kratos stores it.
    fn to_json(&self) -> String {
        json!({
            "code": 500,
            "status": "Internal Server Error",
            "message": self.message,
        })
        .to_string()
    }
}

/// A message a flow wants sent.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub channel: Channel,
    /// An email address or a phone number, by channel.
    pub recipient: String,
    pub template: TemplateType,
    /// The template model (`to`, `recovery_code`, `verification_url`, …); stored with the
    /// message and sent on by HTTP channels.
    pub data: serde_json::Value,
}

/// Kratos's message `type` for a channel.
fn message_type(channel: Channel) -> &'static str {
    match channel {
        Channel::Email => "email",
        Channel::Sms => "phone",
    }
}

/// The channel id a message is routed by: `email` goes to SMTP (or the HTTP email endpoint),
/// anything else to the `courier.channels[]` entry with that id.
fn channel_id(channel: Channel) -> &'static str {
    match channel {
        Channel::Email => "email",
        Channel::Sms => "sms",
    }
}

/// Go field name to its JSON tag: `RecoveryCode` → `recovery_code`, `VerificationURL` →
/// `verification_url`. Snake-case names pass through.
fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, &ch) in chars.iter().enumerate() {
        if ch.is_uppercase() && i > 0 {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            if prev.is_lowercase() || prev.is_ascii_digit() || (prev.is_uppercase() && next_lower) {
                out.push('_');
            }
        }
        out.extend(ch.to_lowercase());
    }
    out
}

/// The template model as Kratos stores it (`template_data`): the templates read Go field names
/// (`To`, `RecoveryCode`), the stored JSON and the HTTP channel's body use their JSON tags.
fn stored_template_data(data: &serde_json::Value) -> serde_json::Value {
    match data {
        serde_json::Value::Object(m) => {
            serde_json::Value::Object(m.iter().map(|(k, v)| (snake_case(k), v.clone())).collect())
        }
        other => other.clone(),
    }
}

/// Renders `msg` with the loaded templates into a `queued` row, due now.
pub fn render_row(deps: &Deps, msg: &NewMessage) -> Result<MessageRow, CourierError> {
    let r = deps
        .templates
        .render(msg.template, msg.channel, &msg.data)?;
    let now = Utc::now().naive_utc();
    Ok(MessageRow {
        id: DbId(Uuid::now_v7()),
        nid: DbId(deps.store.nid()),
        kind: message_type(msg.channel).to_owned(),
        status: MessageStatus::Queued,
        channel: channel_id(msg.channel).to_owned(),
        recipient: msg.recipient.clone(),
        subject: r.subject,
        body: r.body,
        html_body: r.html,
        template_type: msg.template.as_str().to_owned(),
        template_data: stored_template_data(&msg.data).to_string(),
        send_count: 0,
        next_attempt_at: now,
        claimed_until: None,
        claim_id: None,
        created_at: now,
        updated_at: now,
    })
}

/// Renders and stores one message; returns its id.
pub async fn enqueue(deps: &Deps, msg: NewMessage) -> Result<Uuid, CourierError> {
    let row = render_row(deps, &msg)?;
    rows::insert(&deps.store, std::slice::from_ref(&row)).await?;
    tracing::debug!(message_id = %row.id, template = %row.template_type, "queued courier message");
    Ok(row.id.0)
}

#[cfg(test)]
mod tests {
    use super::snake_case;

    #[test]
    fn go_field_names_become_json_tags() {
        assert_eq!(snake_case("To"), "to");
        assert_eq!(snake_case("RecoveryCode"), "recovery_code");
        assert_eq!(snake_case("VerificationURL"), "verification_url");
        assert_eq!(snake_case("RequestURLPath"), "request_url_path");
        assert_eq!(snake_case("ExpiresInMinutes"), "expires_in_minutes");
        assert_eq!(snake_case("recovery_code"), "recovery_code");
    }
}
