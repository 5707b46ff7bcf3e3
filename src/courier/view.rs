//! The admin view of the queue: Kratos's `message` and `messageDispatch` JSON.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::CourierError;
use crate::deps::Deps;
use crate::store::courier::{
    self as rows, DispatchRow, DispatchStatus, ListFilter, MessageRow, MessageStatus,
};

/// What Kratos shows instead of a body outside dev mode (bodies hold recovery codes and links).
pub const REDACTED: &str = "<redacted-unless-dev-mode>";

#[derive(Debug, Clone, Serialize)]
pub struct Message {
    pub id: Uuid,
    pub status: MessageStatus,
    #[serde(rename = "type")]
    pub kind: String,
    pub recipient: String,
    pub body: String,
    pub subject: String,
    pub template_type: String,
    pub channel: String,
    pub send_count: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dispatches: Option<Vec<Dispatch>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Dispatch {
    pub id: Uuid,
    pub message_id: Uuid,
    pub status: DispatchStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<serde_json::Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn utc(t: NaiveDateTime) -> DateTime<Utc> {
    DateTime::from_naive_utc_and_offset(t, Utc)
}

impl Message {
    fn from_row(r: MessageRow, dispatches: Option<Vec<DispatchRow>>, redact: bool) -> Message {
        Message {
            id: r.id.0,
            status: r.status,
            kind: r.kind,
            recipient: r.recipient,
            body: if redact { REDACTED.to_owned() } else { r.body },
            subject: r.subject,
            template_type: r.template_type,
            channel: r.channel,
            send_count: i64::from(r.send_count),
            created_at: utc(r.created_at),
            updated_at: utc(r.updated_at),
            dispatches: dispatches.map(|ds| {
                ds.into_iter()
                    .map(|d| Dispatch {
                        id: d.id.0,
                        message_id: d.message_id.0,
                        status: d.status,
                        error: d.error.and_then(|e| serde_json::from_str(&e).ok()),
                        created_at: utc(d.created_at),
                        updated_at: utc(d.updated_at),
                    })
                    .collect()
            }),
        }
    }
}

/// One page, newest first; the second value is the cursor of the next page when the page is full.
pub async fn list(
    deps: &Deps,
    filter: &ListFilter,
    after: Option<Uuid>,
    page_size: i64,
) -> Result<(Vec<Message>, Option<Uuid>), CourierError> {
    let found = rows::list(&deps.store, filter, after, page_size).await?;
    let next = if found.len() as i64 == page_size {
        found.last().map(|r| r.id.0)
    } else {
        None
    };
    let items = found
        .into_iter()
        .map(|r| Message::from_row(r, None, !deps.dev))
        .collect();
    Ok((items, next))
}

/// One message with its dispatch history.
pub async fn get(deps: &Deps, id: Uuid) -> Result<Option<Message>, CourierError> {
    Ok(rows::get(&deps.store, id)
        .await?
        .map(|(m, ds)| Message::from_row(m, Some(ds), !deps.dev)))
}
