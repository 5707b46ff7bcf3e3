//! Batched deletes for `gatehouse cleanup sql`: rows that no request will read again. Each call
//! removes at most `batch` rows of this node's network in one short transaction (select the
//! keys, delete them with the condition re-checked), so a large backlog never holds a long
//! lock; the caller loops until a call returns 0. Children go by `ON DELETE CASCADE`: a
//! session's devices and activity, a message's dispatches, a flow's codes and links.
//! No policy here: the cut-offs come from the caller.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::courier::MessageStatus;
use super::courier_schema::courier_messages;
use super::flow_schema::selfservice_flows;
use super::id::DbId;
use super::rate_limits_schema::rate_limits;
use super::session_schema::sessions;
use super::throttle_schema::throttle_counters;
use super::token_schema::selfservice_tokens;
use super::{Store, StoreError};
use crate::with_tx;

/// Rows of `$table` (which has `id`, `nid` and `expires_at`) that expired before `before`: the
/// same batched select-then-delete for every table that only needs its expiry compared.
macro_rules! delete_expired {
    ($(#[$doc:meta])* $name:ident, $table:ident) => {
        $(#[$doc])*
        pub async fn $name(
            store: &Store,
            before: NaiveDateTime,
            batch: i64,
        ) -> Result<usize, StoreError> {
            use $table as t;
            let nid = DbId(store.nid());
            with_tx!(store, |c| {
                let ids: Vec<DbId> = t::table
                    .filter(t::nid.eq(&nid))
                    .filter(t::expires_at.lt(before))
                    .limit(batch)
                    .select(t::id)
                    .load(c)
                    .await?;
                if ids.is_empty() {
                    return Ok(0);
                }
                Ok(diesel::delete(
                    t::table
                        .filter(t::nid.eq(&nid))
                        .filter(t::id.eq_any(&ids))
                        .filter(t::expires_at.lt(before)),
                )
                .execute(c)
                .await?)
            })
        }
    };
}

delete_expired!(
    /// Self-service flows that expired before `before`.
    expired_flows,
    selfservice_flows
);

delete_expired!(
    /// Sessions that expired before `before` (an extended session has a later `expires_at` and
    /// stays).
    expired_sessions,
    sessions
);

delete_expired!(
    /// One-time codes and link tokens (recovery, verification, login, registration, settings)
    /// that expired before `before`, used or not.
    expired_tokens,
    selfservice_tokens
);

/// Courier messages that reached a final state (sent or abandoned) and were last touched
/// before `before`; queued and in-flight messages always stay.
pub async fn finished_messages(
    store: &Store,
    before: NaiveDateTime,
    batch: i64,
) -> Result<usize, StoreError> {
    use courier_messages as t;
    let nid = DbId(store.nid());
    let done = [MessageStatus::Sent, MessageStatus::Abandoned];
    with_tx!(store, |c| {
        let ids: Vec<DbId> = t::table
            .filter(t::nid.eq(&nid))
            .filter(t::status.eq_any(done))
            .filter(t::updated_at.lt(before))
            .limit(batch)
            .select(t::id)
            .load(c)
            .await?;
        if ids.is_empty() {
            return Ok(0);
        }
        Ok(diesel::delete(
            t::table
                .filter(t::nid.eq(&nid))
                .filter(t::id.eq_any(&ids))
                .filter(t::status.eq_any(done))
                .filter(t::updated_at.lt(before)),
        )
        .execute(c)
        .await?)
    })
}

/// Rate limit buckets whose theoretical arrival time (microseconds) is before `now`: they are
/// full again, as good as absent.
pub async fn spent_rate_limits(store: &Store, now: i64, batch: i64) -> Result<usize, StoreError> {
    use rate_limits as t;
    let nid = DbId(store.nid());
    with_tx!(store, |c| {
        let keys: Vec<String> = t::table
            .filter(t::nid.eq(&nid))
            .filter(t::tat.lt(now))
            .limit(batch)
            .select(t::client_key)
            .load(c)
            .await?;
        if keys.is_empty() {
            return Ok(0);
        }
        Ok(diesel::delete(
            t::table
                .filter(t::nid.eq(&nid))
                .filter(t::client_key.eq_any(&keys))
                .filter(t::tat.lt(now)),
        )
        .execute(c)
        .await?)
    })
}

/// Failed sign-in counters whose key starts with `prefix` and whose last failure is before
/// `before` (they count as zero already).
pub async fn stale_throttle_counters(
    store: &Store,
    prefix: &str,
    before: NaiveDateTime,
    batch: i64,
) -> Result<usize, StoreError> {
    use throttle_counters as t;
    let nid = DbId(store.nid());
    let pattern = format!("{prefix}%");
    with_tx!(store, |c| {
        let keys: Vec<String> = t::table
            .filter(t::nid.eq(&nid))
            .filter(t::key.like(&pattern))
            .filter(t::last_failure_at.lt(before))
            .limit(batch)
            .select(t::key)
            .load(c)
            .await?;
        if keys.is_empty() {
            return Ok(0);
        }
        Ok(diesel::delete(
            t::table
                .filter(t::nid.eq(&nid))
                .filter(t::key.eq_any(&keys))
                .filter(t::last_failure_at.lt(before)),
        )
        .execute(c)
        .await?)
    })
}
