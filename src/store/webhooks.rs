//! Durable fire-and-forget web hook deliveries. Same claim protocol as the courier queue: one
//! compare-and-set UPDATE moves due rows to `processing` under a fresh claim id and lease, and an
//! outcome is written only while the row still carries that claim id. No policy here: attempts
//! and backoff come from `selfservice::hooks::deliveries`.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Timestamp};
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use super::id::{DbId, UuidText};
use super::text_enum::text_enum;
use super::webhook_schema::webhook_deliveries as wd;
use super::{Store, StoreError};
use crate::{with_conn, with_tx};

text_enum! {
    /// Where a delivery is in the queue.
    pub enum DeliveryStatus {
        Queued = "queued",
        Processing = "processing",
        Delivered = "delivered",
        Abandoned = "abandoned",
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = wd)]
pub struct DeliveryRow {
    pub id: DbId,
    pub nid: DbId,
    pub hook: String,
    pub url: String,
    pub method: String,
    pub body: Option<String>,
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    pub claimed_until: Option<NaiveDateTime>,
    pub claim_id: Option<DbId>,
    pub last_error: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

pub async fn insert(store: &Store, row: &DeliveryRow) -> Result<(), StoreError> {
    with_conn!(store, |c| {
        diesel::insert_into(wd::table)
            .values(row)
            .execute(c)
            .await?;
        Ok(())
    })
}

/// Claims up to `limit` due deliveries for `claim_id` until `lease_until`. Due: `queued`, or
/// `processing` with a lapsed lease (its node died mid-call), and `next_attempt_at <= now`.
/// Every claim counts as an attempt, so a delivery that kills its node still runs out.
///
/// PostgreSQL and MySQL select the candidates `FOR UPDATE SKIP LOCKED`, so concurrent claimers take
/// disjoint rows; SQLite serialises writers and the UPDATE re-checks the due predicate, so two
/// claimers cannot take the same row there either.
pub async fn claim(
    store: &Store,
    claim_id: Uuid,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
    limit: i64,
) -> Result<Vec<DeliveryRow>, StoreError> {
    let statuses = [
        DeliveryStatus::Queued.as_str(),
        DeliveryStatus::Processing.as_str(),
    ];
    let sql = super::lease_claim_sql("webhook_deliveries", "attempts", statuses, store.backend());
    with_tx!(store, |c| {
        let claimed = diesel::sql_query(sql.clone())
            .bind::<Timestamp, _>(lease_until)
            .bind::<UuidText, _>(DbId(claim_id))
            .bind::<Timestamp, _>(now)
            .bind::<Timestamp, _>(now)
            .bind::<Timestamp, _>(now)
            .bind::<BigInt, _>(limit)
            .bind::<Timestamp, _>(now)
            .execute(c)
            .await?;
        if claimed == 0 {
            return Ok(Vec::new());
        }
        let rows: Vec<DeliveryRow> = wd::table
            .filter(wd::claim_id.eq(DbId(claim_id)))
            .filter(wd::status.eq(DeliveryStatus::Processing))
            .order((wd::next_attempt_at.asc(), wd::id.asc()))
            .select(DeliveryRow::as_select())
            .load(c)
            .await?;
        Ok(rows)
    })
}

/// What became of one claimed delivery.
#[derive(Debug, Clone)]
pub enum Outcome {
    Delivered,
    /// Back to `queued` until `retry_at`, or `abandoned` when `retry_at` is None.
    Failed {
        error: String,
        retry_at: Option<NaiveDateTime>,
    },
}

/// Records an outcome if `claim_id` still holds the row; false when another claim took over.
pub async fn finish(
    store: &Store,
    id: Uuid,
    claim_id: Uuid,
    outcome: &Outcome,
    now: NaiveDateTime,
) -> Result<bool, StoreError> {
    let nid = DbId(store.nid());
    let (status, next_at, error) = match outcome {
        Outcome::Delivered => (DeliveryStatus::Delivered, None, None),
        Outcome::Failed { error, retry_at } => (
            if retry_at.is_some() {
                DeliveryStatus::Queued
            } else {
                DeliveryStatus::Abandoned
            },
            *retry_at,
            Some(error.clone()),
        ),
    };
    with_conn!(store, |c| {
        let target = wd::table
            .filter(wd::id.eq(DbId(id)))
            .filter(wd::nid.eq(&nid))
            .filter(wd::status.eq(DeliveryStatus::Processing))
            .filter(wd::claim_id.eq(DbId(claim_id)));
        let n = diesel::update(target)
            .set((
                wd::status.eq(status),
                wd::next_attempt_at.eq(next_at.unwrap_or(now)),
                wd::claimed_until.eq(None::<NaiveDateTime>),
                wd::claim_id.eq(None::<DbId>),
                wd::last_error.eq(error),
                wd::updated_at.eq(now),
            ))
            .execute(c)
            .await?;
        Ok(n > 0)
    })
}

/// Every delivery of this network, oldest first (operators and tests inspect the queue).
pub async fn list(store: &Store) -> Result<Vec<DeliveryRow>, StoreError> {
    let nid = DbId(store.nid());
    with_conn!(store, |c| {
        Ok(wd::table
            .filter(wd::nid.eq(&nid))
            .order((wd::created_at.asc(), wd::id.asc()))
            .select(DeliveryRow::as_select())
            .load(c)
            .await?)
    })
}
