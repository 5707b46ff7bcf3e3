//! The courier queue. Rows are claimed with one compare-and-set UPDATE that moves due rows to
//! `processing` under a fresh claim id and lease; an outcome is written only while the row still
//! carries that claim id, so a node whose lease lapsed (and whose row another node reclaimed)
//! cannot overwrite the newer attempt. No policy here: retry counts and backoff come from
//! `courier::dispatch`.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Timestamp};
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use super::courier_schema::{courier_message_dispatches, courier_messages};
use super::id::{DbId, UuidText};
use super::text_enum::text_enum;
use super::{Store, StoreError};
use crate::{with_conn, with_tx};

text_enum! {
    /// Where a message is in the queue (Kratos's `courier.MessageStatus`; the `status` of its
    /// message JSON).
    pub enum MessageStatus {
        Queued = "queued",
        Sent = "sent",
        Processing = "processing",
        Abandoned = "abandoned",
    }
}

text_enum! {
    /// How one delivery attempt ended (Kratos's `courier.CourierMessageDispatchStatus`).
    pub enum DispatchStatus {
        Failed = "failed",
        Success = "success",
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = courier_messages)]
pub struct MessageRow {
    pub id: DbId,
    pub nid: DbId,
    /// `email` or `phone` (Kratos's message type names).
    pub kind: String,
    pub status: MessageStatus,
    pub channel: String,
    pub recipient: String,
    pub subject: String,
    pub body: String,
    pub html_body: Option<String>,
    pub template_type: String,
    /// JSON document the templates were rendered from (HTTP channels send it on).
    pub template_data: String,
    pub send_count: i32,
    pub next_attempt_at: NaiveDateTime,
    pub claimed_until: Option<NaiveDateTime>,
    pub claim_id: Option<DbId>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = courier_message_dispatches)]
pub struct DispatchRow {
    pub id: DbId,
    pub nid: DbId,
    pub message_id: DbId,
    pub status: DispatchStatus,
    /// JSON error document of a failed attempt.
    pub error: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// Inserts message rows on a connection that is already inside a transaction, so a flow's
/// state change and the messages it sends commit (or roll back) together:
///
/// ```ignore
/// with_tx!(store, |c| {
///     /* flow update */
///     insert_courier_rows!(c, &rows)?;
///     Ok(())
/// })
/// ```
///
/// Evaluates to `Result<(), StoreError>`.
#[macro_export]
macro_rules! insert_courier_rows {
    ($c:ident, $rows:expr) => {{
        let mut __res: ::std::result::Result<(), $crate::store::StoreError> = Ok(());
        for __row in $rows {
            let __row: &$crate::store::courier::MessageRow = __row;
            if let Err(e) = ::diesel_async::RunQueryDsl::execute(
                ::diesel::insert_into($crate::store::courier_schema::courier_messages::table)
                    .values(__row),
                $c,
            )
            .await
            {
                __res = Err($crate::store::StoreError::from(e));
                break;
            }
        }
        __res
    }};
}

pub async fn insert(store: &Store, rows: &[MessageRow]) -> Result<(), StoreError> {
    with_tx!(store, |c| insert_courier_rows!(c, rows))
}

/// Claims up to `limit` due messages for `claim_id` until `lease_until` and returns them.
/// Due: `queued`, or `processing` with a lapsed lease (its node died mid-send), and
/// `next_attempt_at <= now`. Each claim counts as an attempt (`send_count + 1`), so a message
/// that kills every node that tries it still runs out of retries.
///
/// PostgreSQL and MySQL: the candidate ids are selected `FOR UPDATE SKIP LOCKED` inside the UPDATE, so
/// concurrent claimers take disjoint rows without waiting on each other. SQLite has no row
/// locks; the single UPDATE … WHERE id IN (SELECT … LIMIT n) runs under the database's one
/// writer lock (and this process's writer mutex), and re-checks the status predicate, so two
/// claimers (even in two processes) serialise and cannot take the same row.
pub async fn claim(
    store: &Store,
    claim_id: Uuid,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
    limit: i64,
) -> Result<Vec<MessageRow>, StoreError> {
    let statuses = [
        MessageStatus::Queued.as_str(),
        MessageStatus::Processing.as_str(),
    ];
    let sql = super::lease_claim_sql("courier_messages", "send_count", statuses, store.backend());
    let query = || {
        diesel::sql_query(sql.clone())
            .bind::<Timestamp, _>(lease_until)
            .bind::<UuidText, _>(DbId(claim_id))
            .bind::<Timestamp, _>(now)
            .bind::<Timestamp, _>(now)
            .bind::<Timestamp, _>(now)
            .bind::<BigInt, _>(limit)
            .bind::<Timestamp, _>(now)
    };
    with_tx!(store, |c| {
        let claimed = query().execute(c).await?;
        if claimed == 0 {
            return Ok(Vec::new());
        }
        let rows: Vec<MessageRow> = courier_messages::table
            .filter(courier_messages::claim_id.eq(DbId(claim_id)))
            .filter(courier_messages::status.eq(MessageStatus::Processing))
            .order((
                courier_messages::next_attempt_at.asc(),
                courier_messages::id.asc(),
            ))
            .select(MessageRow::as_select())
            .load(c)
            .await?;
        Ok(rows)
    })
}

/// What became of one claimed message.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Delivered: `sent`, with a success dispatch.
    Sent,
    /// The attempt failed: a failed dispatch with `error` (JSON), then back to `queued` until
    /// `retry_at`, or `abandoned` when `retry_at` is None.
    Failed {
        error: String,
        retry_at: Option<NaiveDateTime>,
    },
    /// Out of attempts before this one was even made (crash loops): `abandoned`, no dispatch.
    Abandoned,
}

/// Records an outcome if `claim_id` still holds the message; false when it no longer does (the
/// lease lapsed and another claim took over), in which case nothing is written.
pub async fn finish(
    store: &Store,
    id: Uuid,
    claim_id: Uuid,
    outcome: &Outcome,
    now: NaiveDateTime,
) -> Result<bool, StoreError> {
    let nid = DbId(store.nid());
    let (status, next_at, dispatch) = match outcome {
        Outcome::Sent => (
            MessageStatus::Sent,
            None,
            Some((DispatchStatus::Success, None)),
        ),
        Outcome::Failed { error, retry_at } => (
            if retry_at.is_some() {
                MessageStatus::Queued
            } else {
                MessageStatus::Abandoned
            },
            *retry_at,
            Some((DispatchStatus::Failed, Some(error.clone()))),
        ),
        Outcome::Abandoned => (MessageStatus::Abandoned, None, None),
    };
    with_tx!(store, |c| {
        let target = courier_messages::table
            .filter(courier_messages::id.eq(DbId(id)))
            .filter(courier_messages::nid.eq(&nid))
            .filter(courier_messages::status.eq(MessageStatus::Processing))
            .filter(courier_messages::claim_id.eq(DbId(claim_id)));
        let n = match next_at {
            Some(at) => {
                diesel::update(target)
                    .set((
                        courier_messages::status.eq(status),
                        courier_messages::next_attempt_at.eq(at),
                        courier_messages::claimed_until.eq(None::<NaiveDateTime>),
                        courier_messages::claim_id.eq(None::<DbId>),
                        courier_messages::updated_at.eq(now),
                    ))
                    .execute(c)
                    .await?
            }
            None => {
                diesel::update(target)
                    .set((
                        courier_messages::status.eq(status),
                        courier_messages::claimed_until.eq(None::<NaiveDateTime>),
                        courier_messages::claim_id.eq(None::<DbId>),
                        courier_messages::updated_at.eq(now),
                    ))
                    .execute(c)
                    .await?
            }
        };
        if n == 0 {
            return Ok(false);
        }
        if let Some((dstatus, error)) = &dispatch {
            let row = DispatchRow {
                id: DbId(Uuid::now_v7()),
                nid,
                message_id: DbId(id),
                status: *dstatus,
                error: error.clone(),
                created_at: now,
                updated_at: now,
            };
            diesel::insert_into(courier_message_dispatches::table)
                .values(&row)
                .execute(c)
                .await?;
        }
        Ok(true)
    })
}

#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub status: Option<MessageStatus>,
    pub recipient: Option<String>,
}

/// Keyset pagination, newest first (ids are UUIDv7, so `id < after` descending is creation
/// order).
pub async fn list(
    store: &Store,
    filter: &ListFilter,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<MessageRow>, StoreError> {
    let nid = DbId(store.nid());
    with_conn!(store, |c| {
        let mut q = courier_messages::table
            .filter(courier_messages::nid.eq(nid))
            .select(MessageRow::as_select())
            .order(courier_messages::id.desc())
            .limit(limit)
            .into_boxed();
        if let Some(after) = after {
            q = q.filter(courier_messages::id.lt(DbId(after)));
        }
        if let Some(s) = &filter.status {
            q = q.filter(courier_messages::status.eq(*s));
        }
        if let Some(r) = &filter.recipient {
            q = q.filter(courier_messages::recipient.eq(r.clone()));
        }
        Ok(q.load(c).await?)
    })
}

/// A message with its dispatch attempts, oldest first.
pub async fn get(
    store: &Store,
    id: Uuid,
) -> Result<Option<(MessageRow, Vec<DispatchRow>)>, StoreError> {
    let nid = DbId(store.nid());
    with_conn!(store, |c| {
        let row: Option<MessageRow> = courier_messages::table
            .filter(courier_messages::id.eq(DbId(id)))
            .filter(courier_messages::nid.eq(&nid))
            .select(MessageRow::as_select())
            .first(c)
            .await
            .optional()?;
        let Some(row) = row else { return Ok(None) };
        let dispatches: Vec<DispatchRow> = courier_message_dispatches::table
            .filter(courier_message_dispatches::message_id.eq(DbId(id)))
            .filter(courier_message_dispatches::nid.eq(&nid))
            .order((
                courier_message_dispatches::created_at.asc(),
                courier_message_dispatches::id.asc(),
            ))
            .select(DispatchRow::as_select())
            .load(c)
            .await?;
        Ok(Some((row, dispatches)))
    })
}
