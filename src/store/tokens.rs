//! One-time codes and link tokens, stored as keyed hashes, and the address lookups the recovery
//! and verification flows need. Using a token is a compare-and-set on `used_at`, so a token
//! works once even when two requests race.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use super::courier::MessageRow;
use super::flow_schema::selfservice_flows;
use super::id::DbId;
use super::schema::{identity_recovery_addresses as ra, identity_verifiable_addresses as va};
use super::token_schema::selfservice_tokens as t;
use super::{Store, StoreError};
use crate::{with_conn, with_tx};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = t)]
pub struct TokenRow {
    pub id: DbId,
    pub nid: DbId,
    pub kind: String,
    pub flow_id: Option<DbId>,
    pub identity_id: Option<DbId>,
    pub address: Option<String>,
    pub address_id: Option<DbId>,
    pub token_hash: String,
    pub used_at: Option<NaiveDateTime>,
    pub expires_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// How trying a code against a flow ended.
#[derive(Debug)]
pub enum UseOutcome {
    /// The code matched an unused token, now marked used.
    Used(Box<TokenRow>),
    /// No unused token of the flow matches.
    NotFound,
    /// The flow saw more wrong submissions than allowed; nothing was checked.
    TooOften,
}

/// A multi-step flow's move to its next state (recovery, verification, code login): applied
/// only while the flow is still in one of `from`.
pub struct FlowStep<'a> {
    pub from: &'a [&'a str],
    pub to: &'a str,
    pub ui: &'a str,
    pub active_method: Option<&'a str>,
    pub identity_id: Option<Uuid>,
}

/// What issuing a challenge writes, all in one transaction.
pub struct Issue<'a> {
    pub flow_id: Uuid,
    /// The flow's unused tokens of this kind are invalidated first (a resend makes the earlier
    /// code useless, as in Kratos).
    pub kind: &'a str,
    pub tokens: &'a [TokenRow],
    /// The courier messages carrying the new secrets.
    pub messages: &'a [MessageRow],
    /// A verifiable address whose status becomes `sent`.
    pub address_sent: Option<Uuid>,
    pub step: Option<FlowStep<'a>>,
    pub now: NaiveDateTime,
}

/// Issues a flow's challenge: replaces its tokens, queues the messages that carry them and
/// saves the flow's next state in one transaction, so a message is queued exactly when its code
/// is valid and the flow says it was sent. Returns `false`, having written nothing, when the
/// flow left the expected states meanwhile (a concurrent submission won).
pub async fn issue(store: &Store, w: Issue<'_>) -> Result<bool, StoreError> {
    let nid = DbId(store.nid());
    let from: Vec<String> = w
        .step
        .as_ref()
        .map(|s| s.from.iter().map(|f| (*f).to_owned()).collect())
        .unwrap_or_default();
    with_tx!(store, |c| {
        if let Some(step) = &w.step {
            let n = diesel::update(
                selfservice_flows::table
                    .filter(selfservice_flows::id.eq(DbId(w.flow_id)))
                    .filter(selfservice_flows::nid.eq(&nid))
                    .filter(selfservice_flows::state.eq_any(&from)),
            )
            .set((
                selfservice_flows::state.eq(step.to),
                selfservice_flows::ui.eq(step.ui),
                selfservice_flows::active_method.eq(step.active_method),
                selfservice_flows::identity_id.eq(step.identity_id.map(DbId)),
                selfservice_flows::updated_at.eq(w.now),
            ))
            .execute(c)
            .await?;
            if n == 0 {
                // Nothing written yet: the transaction commits empty.
                return Ok(false);
            }
        }
        diesel::delete(
            t::table
                .filter(t::nid.eq(&nid))
                .filter(t::flow_id.eq(DbId(w.flow_id)))
                .filter(t::kind.eq(w.kind))
                .filter(t::used_at.is_null()),
        )
        .execute(c)
        .await?;
        // One statement per row: SQLite has no DEFAULT keyword for batch inserts.
        for row in w.tokens {
            diesel::insert_into(t::table).values(row).execute(c).await?;
        }
        if let Some(address_id) = w.address_sent {
            diesel::update(
                va::table
                    .filter(va::nid.eq(&nid))
                    .filter(va::id.eq(DbId(address_id)))
                    .filter(va::verified.eq(false)),
            )
            .set((va::status.eq("sent"), va::updated_at.eq(w.now)))
            .execute(c)
            .await?;
        }
        crate::insert_courier_rows!(c, w.messages)?;
        Ok(true)
    })
}

/// Records a use that may happen only once under `row.id` (derived from what is used, e.g.
/// an identity's TOTP time step): `false`, writing nothing, when that id was recorded before.
/// The primary key makes this atomic across requests and nodes. The identity's expired records
/// of the kind (which belong to no flow, so nothing else removes them) go first.
pub async fn record_once(store: &Store, row: &TokenRow) -> Result<bool, StoreError> {
    with_conn!(store, |c| {
        diesel::delete(
            t::table
                .filter(t::nid.eq(&row.nid))
                .filter(t::expires_at.lt(row.created_at))
                .filter(t::kind.eq(&row.kind))
                .filter(t::flow_id.is_null())
                .filter(t::identity_id.eq(&row.identity_id)),
        )
        .execute(c)
        .await?;
        // A plain insert whose duplicate-key error is the answer: MySQL's form of ON CONFLICT
        // DO NOTHING (`ON DUPLICATE KEY UPDATE id = id`) counts the duplicate as a row written.
        match diesel::insert_into(t::table).values(row).execute(c).await {
            Ok(_) => Ok(true),
            Err(e) => match StoreError::from(e) {
                StoreError::Conflict(_) => Ok(false),
                e => Err(e),
            },
        }
    })
}

/// Stores new tokens for a flow without a message (admin-created recovery codes and links).
pub async fn replace_for_flow(
    store: &Store,
    flow_id: Uuid,
    kind: &str,
    rows: &[TokenRow],
) -> Result<(), StoreError> {
    issue(
        store,
        Issue {
            flow_id,
            kind,
            tokens: rows,
            messages: &[],
            address_sent: None,
            step: None,
            now: chrono::Utc::now().naive_utc(),
        },
    )
    .await
    .map(|_| ())
}

/// Counts a code submission on the flow and, within the limit, uses the first unused token
/// of `kind` whose hash is one of `hashes` (one per secret, for key rotation).
pub async fn use_code(
    store: &Store,
    flow_id: Uuid,
    kind: &str,
    hashes: &[String],
    max_submissions: i32,
    now: NaiveDateTime,
) -> Result<UseOutcome, StoreError> {
    let nid = DbId(store.nid());
    // The count is committed on its own, so a failed attempt still counts.
    let count: i32 = with_tx!(store, |c| {
        diesel::update(
            selfservice_flows::table
                .filter(selfservice_flows::id.eq(DbId(flow_id)))
                .filter(selfservice_flows::nid.eq(&nid)),
        )
        .set(selfservice_flows::submit_count.eq(selfservice_flows::submit_count + 1))
        .execute(c)
        .await?;
        Ok(selfservice_flows::table
            .filter(selfservice_flows::id.eq(DbId(flow_id)))
            .filter(selfservice_flows::nid.eq(&nid))
            .select(selfservice_flows::submit_count)
            .first::<i32>(c)
            .await
            .optional()?
            .unwrap_or(0))
    })?;
    if count > max_submissions {
        return Ok(UseOutcome::TooOften);
    }
    with_tx!(store, |c| {
        let row: Option<TokenRow> = t::table
            .filter(t::nid.eq(&nid))
            .filter(t::flow_id.eq(DbId(flow_id)))
            .filter(t::kind.eq(kind))
            .filter(t::token_hash.eq_any(hashes))
            .filter(t::used_at.is_null())
            .select(TokenRow::as_select())
            .first(c)
            .await
            .optional()?;
        let Some(mut row) = row else {
            return Ok(UseOutcome::NotFound);
        };
        let n = diesel::update(
            t::table
                .filter(t::id.eq(&row.id))
                .filter(t::used_at.is_null()),
        )
        .set((t::used_at.eq(Some(now)), t::updated_at.eq(now)))
        .execute(c)
        .await?;
        if n == 0 {
            return Ok(UseOutcome::NotFound);
        }
        row.used_at = Some(now);
        Ok(UseOutcome::Used(Box::new(row)))
    })
}

/// Uses a link token of `kind` belonging to `flow_id`; `None` when unknown or already used.
pub async fn use_link(
    store: &Store,
    flow_id: Uuid,
    kind: &str,
    hashes: &[String],
    now: NaiveDateTime,
) -> Result<Option<TokenRow>, StoreError> {
    let nid = DbId(store.nid());
    with_tx!(store, |c| {
        let row: Option<TokenRow> = t::table
            .filter(t::nid.eq(&nid))
            .filter(t::flow_id.eq(DbId(flow_id)))
            .filter(t::kind.eq(kind))
            .filter(t::token_hash.eq_any(hashes))
            .filter(t::used_at.is_null())
            .select(TokenRow::as_select())
            .first(c)
            .await
            .optional()?;
        let Some(mut row) = row else { return Ok(None) };
        let n = diesel::update(
            t::table
                .filter(t::id.eq(&row.id))
                .filter(t::used_at.is_null()),
        )
        .set((t::used_at.eq(Some(now)), t::updated_at.eq(now)))
        .execute(c)
        .await?;
        if n == 0 {
            return Ok(None);
        }
        row.used_at = Some(now);
        Ok(Some(row))
    })
}

/// A recovery or verifiable address row: (address id, identity id, stored value).
pub type AddressRef = (Uuid, Uuid, String);

/// The recovery address with this value (`via` = email/sms), if any.
pub async fn recovery_address(
    store: &Store,
    via: &str,
    value: &str,
) -> Result<Option<AddressRef>, StoreError> {
    let nid = DbId(store.nid());
    with_conn!(store, |c| {
        Ok(ra::table
            .filter(ra::nid.eq(&nid))
            .filter(ra::via.eq(via))
            .filter(ra::value.eq(value))
            .select((ra::id, ra::identity_id, ra::value))
            .first::<(DbId, DbId, String)>(c)
            .await
            .optional()?
            .map(|(id, identity_id, value)| (id.0, identity_id.0, value)))
    })
}

/// The verifiable address with this value, if any.
pub async fn verifiable_address(
    store: &Store,
    via: &str,
    value: &str,
) -> Result<Option<AddressRef>, StoreError> {
    let nid = DbId(store.nid());
    with_conn!(store, |c| {
        Ok(va::table
            .filter(va::nid.eq(&nid))
            .filter(va::via.eq(via))
            .filter(va::value.eq(value))
            .select((va::id, va::identity_id, va::value))
            .first::<(DbId, DbId, String)>(c)
            .await
            .optional()?
            .map(|(id, identity_id, value)| (id.0, identity_id.0, value)))
    })
}

/// Marks a verifiable address `sent` unless it is already verified.
pub async fn mark_address_sent(
    store: &Store,
    address_id: Uuid,
    now: NaiveDateTime,
) -> Result<(), StoreError> {
    let nid = DbId(store.nid());
    with_conn!(store, |c| {
        diesel::update(
            va::table
                .filter(va::nid.eq(&nid))
                .filter(va::id.eq(DbId(address_id)))
                .filter(va::verified.eq(false)),
        )
        .set((va::status.eq("sent"), va::updated_at.eq(now)))
        .execute(c)
        .await?;
        Ok(())
    })
}

/// Marks a verifiable address verified (`completed`), keeping the first `verified_at`.
pub async fn mark_address_verified(
    store: &Store,
    address_id: Uuid,
    now: NaiveDateTime,
) -> Result<(), StoreError> {
    let nid = DbId(store.nid());
    with_conn!(store, |c| {
        diesel::update(
            va::table
                .filter(va::nid.eq(&nid))
                .filter(va::id.eq(DbId(address_id)))
                .filter(va::verified.eq(false)),
        )
        .set((
            va::verified.eq(true),
            va::verified_at.eq(Some(now)),
            va::status.eq("completed"),
            va::updated_at.eq(now),
        ))
        .execute(c)
        .await?;
        Ok(())
    })
}

/// Marks the verifiable address of `identity_id` with `value` verified (recovery proves
/// ownership of the address it was sent to).
pub async fn mark_value_verified(
    store: &Store,
    identity_id: Uuid,
    value: &str,
    now: NaiveDateTime,
) -> Result<(), StoreError> {
    let nid = DbId(store.nid());
    with_conn!(store, |c| {
        diesel::update(
            va::table
                .filter(va::nid.eq(&nid))
                .filter(va::identity_id.eq(DbId(identity_id)))
                .filter(va::value.eq(value))
                .filter(va::verified.eq(false)),
        )
        .set((
            va::verified.eq(true),
            va::verified_at.eq(Some(now)),
            va::status.eq("completed"),
            va::updated_at.eq(now),
        ))
        .execute(c)
        .await?;
        Ok(())
    })
}
