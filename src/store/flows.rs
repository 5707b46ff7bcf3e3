//! Flow and flow-error rows. Completing a flow is a compare-and-set on `state`, so a flow
//! completes once even when two nodes (or two tabs) submit it at the same time.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use super::flow_schema::{selfservice_errors, selfservice_flows};
use super::id::DbId;
use super::{Store, StoreError};
use crate::{with_conn, with_tx};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = selfservice_flows)]
pub struct FlowRow {
    pub id: DbId,
    pub nid: DbId,
    pub kind: String,
    pub flow_type: String,
    pub state: String,
    pub request_url: String,
    pub return_to: Option<String>,
    pub ui: String,
    pub csrf_token: String,
    pub refresh: bool,
    pub requested_aal: String,
    pub active_method: Option<String>,
    pub identity_id: Option<DbId>,
    pub internal_context: Option<String>,
    pub issued_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = selfservice_errors)]
pub struct ErrorRow {
    pub id: DbId,
    pub nid: DbId,
    pub error: String,
    pub csrf_token: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

pub async fn insert(store: &Store, row: &FlowRow) -> Result<(), StoreError> {
    with_conn!(store, |c| {
        diesel::insert_into(selfservice_flows::table)
            .values(row)
            .execute(c)
            .await?;
        Ok(())
    })
}

pub async fn get(store: &Store, id: Uuid) -> Result<Option<FlowRow>, StoreError> {
    let nid = DbId(store.nid());
    with_conn!(store, |c| {
        Ok(selfservice_flows::table
            .filter(selfservice_flows::id.eq(DbId(id)))
            .filter(selfservice_flows::nid.eq(&nid))
            .select(FlowRow::as_select())
            .first(c)
            .await
            .optional()?)
    })
}

/// Saves what a submission changed (the UI with its messages, the active method) unless the
/// flow has left `expected_state` meanwhile. Returns whether the row was updated.
pub async fn update_ui(
    store: &Store,
    id: Uuid,
    expected_state: &str,
    ui: &str,
    active_method: Option<&str>,
    now: NaiveDateTime,
) -> Result<bool, StoreError> {
    let nid = DbId(store.nid());
    with_conn!(store, |c| {
        let n = diesel::update(
            selfservice_flows::table
                .filter(selfservice_flows::id.eq(DbId(id)))
                .filter(selfservice_flows::nid.eq(&nid))
                .filter(selfservice_flows::state.eq(expected_state)),
        )
        .set((
            selfservice_flows::ui.eq(ui),
            selfservice_flows::active_method.eq(active_method),
            selfservice_flows::updated_at.eq(now),
        ))
        .execute(c)
        .await?;
        Ok(n > 0)
    })
}

/// Moves a flow from `from` to `to`; false when another request got there first.
pub async fn transition(
    store: &Store,
    id: Uuid,
    from: &str,
    to: &str,
    now: NaiveDateTime,
) -> Result<bool, StoreError> {
    let nid = DbId(store.nid());
    with_tx!(store, |c| {
        let n = diesel::update(
            selfservice_flows::table
                .filter(selfservice_flows::id.eq(DbId(id)))
                .filter(selfservice_flows::nid.eq(&nid))
                .filter(selfservice_flows::state.eq(from)),
        )
        .set((
            selfservice_flows::state.eq(to),
            selfservice_flows::updated_at.eq(now),
        ))
        .execute(c)
        .await?;
        Ok(n > 0)
    })
}

/// Deletes up to `batch` flows that expired before `before`; returns how many went.
pub async fn delete_expired(
    store: &Store,
    before: NaiveDateTime,
    batch: i64,
) -> Result<usize, StoreError> {
    let nid = DbId(store.nid());
    with_tx!(store, |c| {
        let ids: Vec<DbId> = selfservice_flows::table
            .filter(selfservice_flows::nid.eq(&nid))
            .filter(selfservice_flows::expires_at.lt(before))
            .order(selfservice_flows::expires_at.asc())
            .limit(batch)
            .select(selfservice_flows::id)
            .load(c)
            .await?;
        if ids.is_empty() {
            return Ok(0);
        }
        let n = diesel::delete(selfservice_flows::table.filter(selfservice_flows::id.eq_any(&ids)))
            .execute(c)
            .await?;
        Ok(n)
    })
}

pub async fn insert_error(store: &Store, row: &ErrorRow) -> Result<(), StoreError> {
    with_conn!(store, |c| {
        diesel::insert_into(selfservice_errors::table)
            .values(row)
            .execute(c)
            .await?;
        Ok(())
    })
}

pub async fn get_error(store: &Store, id: Uuid) -> Result<Option<ErrorRow>, StoreError> {
    let nid = DbId(store.nid());
    with_conn!(store, |c| {
        Ok(selfservice_errors::table
            .filter(selfservice_errors::id.eq(DbId(id)))
            .filter(selfservice_errors::nid.eq(&nid))
            .select(ErrorRow::as_select())
            .first(c)
            .await
            .optional()?)
    })
}

/// Deletes up to `batch` errors created before `before`.
pub async fn delete_old_errors(
    store: &Store,
    before: NaiveDateTime,
    batch: i64,
) -> Result<usize, StoreError> {
    let nid = DbId(store.nid());
    with_tx!(store, |c| {
        let ids: Vec<DbId> = selfservice_errors::table
            .filter(selfservice_errors::nid.eq(&nid))
            .filter(selfservice_errors::created_at.lt(before))
            .limit(batch)
            .select(selfservice_errors::id)
            .load(c)
            .await?;
        if ids.is_empty() {
            return Ok(0);
        }
        Ok(
            diesel::delete(selfservice_errors::table.filter(selfservice_errors::id.eq_any(&ids)))
                .execute(c)
                .await?,
        )
    })
}

/// Saves a step of a multi-step flow (recovery, verification): state, UI, active method and
/// identity, unless the flow has left every state in `from` meanwhile. Returns whether the
/// row was updated.
#[allow(clippy::too_many_arguments)]
pub async fn update_state(
    store: &Store,
    id: Uuid,
    from: &[&str],
    to: &str,
    ui: &str,
    active_method: Option<&str>,
    identity_id: Option<Uuid>,
    now: NaiveDateTime,
) -> Result<bool, StoreError> {
    let nid = DbId(store.nid());
    let from: Vec<String> = from.iter().map(|s| (*s).to_owned()).collect();
    with_tx!(store, |c| {
        let n = diesel::update(
            selfservice_flows::table
                .filter(selfservice_flows::id.eq(DbId(id)))
                .filter(selfservice_flows::nid.eq(&nid))
                .filter(selfservice_flows::state.eq_any(&from)),
        )
        .set((
            selfservice_flows::state.eq(to),
            selfservice_flows::ui.eq(ui),
            selfservice_flows::active_method.eq(active_method),
            selfservice_flows::identity_id.eq(identity_id.map(DbId)),
            selfservice_flows::updated_at.eq(now),
        ))
        .execute(c)
        .await?;
        Ok(n > 0)
    })
}

/// Stores a flow's internal context (what a method keeps between a submission and its
/// return) while the flow is still in one of `from`. `updated_at` stays: the flow as shown did
/// not change, and a settings save compares it.
pub async fn set_internal(
    store: &Store,
    id: Uuid,
    from: &[&str],
    internal: Option<&str>,
) -> Result<bool, StoreError> {
    let nid = DbId(store.nid());
    let from: Vec<String> = from.iter().map(|s| (*s).to_owned()).collect();
    with_tx!(store, |c| {
        let n = diesel::update(
            selfservice_flows::table
                .filter(selfservice_flows::id.eq(DbId(id)))
                .filter(selfservice_flows::nid.eq(&nid))
                .filter(selfservice_flows::state.eq_any(&from)),
        )
        .set(selfservice_flows::internal_context.eq(internal))
        .execute(c)
        .await?;
        Ok(n > 0)
    })
}

/// Replaces a flow's internal context if it is still `old` (compare-and-set): what a method
/// takes out of it (a WebAuthn challenge) is taken once, even by two submissions at the same
/// time on two nodes.
pub async fn swap_internal(
    store: &Store,
    id: Uuid,
    old: Option<&str>,
    new: Option<&str>,
) -> Result<bool, StoreError> {
    let nid = DbId(store.nid());
    with_tx!(store, |c| {
        let rows = selfservice_flows::table
            .filter(selfservice_flows::id.eq(DbId(id)))
            .filter(selfservice_flows::nid.eq(&nid));
        let n = match old {
            Some(old) => {
                diesel::update(rows.filter(selfservice_flows::internal_context.eq(old)))
                    .set(selfservice_flows::internal_context.eq(new))
                    .execute(c)
                    .await?
            }
            None => {
                diesel::update(rows.filter(selfservice_flows::internal_context.is_null()))
                    .set(selfservice_flows::internal_context.eq(new))
                    .execute(c)
                    .await?
            }
        };
        Ok(n > 0)
    })
}

/// Rebinds a flow to a new CSRF token (a verification link opened in another browser).
pub async fn set_csrf_and_ui(
    store: &Store,
    id: Uuid,
    csrf_token: &str,
    ui: &str,
    now: NaiveDateTime,
) -> Result<(), StoreError> {
    let nid = DbId(store.nid());
    with_conn!(store, |c| {
        diesel::update(
            selfservice_flows::table
                .filter(selfservice_flows::id.eq(DbId(id)))
                .filter(selfservice_flows::nid.eq(&nid)),
        )
        .set((
            selfservice_flows::csrf_token.eq(csrf_token),
            selfservice_flows::ui.eq(ui),
            selfservice_flows::updated_at.eq(now),
        ))
        .execute(c)
        .await?;
        Ok(())
    })
}
