//! Admin API keys: rows keyed by id within the network. No policy here: what a key may do, and
//! how its digest is made and compared, is `security::api_keys`.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use super::api_keys_schema::admin_api_keys;
use super::id::DbId;
use super::{Store, StoreError};
use crate::{with_conn, with_tx};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = admin_api_keys)]
pub struct ApiKeyRow {
    pub id: DbId,
    pub nid: DbId,
    pub name: String,
    /// Lowercase hex SHA-256 of the whole key.
    pub key_digest: String,
    pub read_only: bool,
    pub created_at: NaiveDateTime,
    pub last_used_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
}

pub async fn insert(store: &Store, row: &ApiKeyRow) -> Result<(), StoreError> {
    with_tx!(store, |c| {
        diesel::insert_into(admin_api_keys::table)
            .values(row)
            .execute(c)
            .await?;
        Ok(())
    })
}

/// The key with this id in the store's network, revoked or not.
pub async fn get(store: &Store, id: Uuid) -> Result<Option<ApiKeyRow>, StoreError> {
    let nid = DbId(store.nid());
    with_conn!(store, |c| {
        Ok(admin_api_keys::table
            .filter(admin_api_keys::id.eq(DbId(id)))
            .filter(admin_api_keys::nid.eq(nid))
            .select(ApiKeyRow::as_select())
            .first(c)
            .await
            .optional()?)
    })
}

/// Every key of the network, oldest first.
pub async fn list(store: &Store) -> Result<Vec<ApiKeyRow>, StoreError> {
    let nid = DbId(store.nid());
    with_conn!(store, |c| {
        Ok(admin_api_keys::table
            .filter(admin_api_keys::nid.eq(nid))
            .order((admin_api_keys::created_at.asc(), admin_api_keys::id.asc()))
            .select(ApiKeyRow::as_select())
            .load(c)
            .await?)
    })
}

/// Marks the key revoked at `now` unless it already is; `NotFound` when there is no such key.
/// Returns the row as it is afterwards.
pub async fn revoke(store: &Store, id: Uuid, now: NaiveDateTime) -> Result<ApiKeyRow, StoreError> {
    let nid = DbId(store.nid());
    with_tx!(store, |c| {
        diesel::update(
            admin_api_keys::table
                .filter(admin_api_keys::id.eq(DbId(id)))
                .filter(admin_api_keys::nid.eq(nid))
                .filter(admin_api_keys::revoked_at.is_null()),
        )
        .set(admin_api_keys::revoked_at.eq(now))
        .execute(c)
        .await?;
        Ok(admin_api_keys::table
            .filter(admin_api_keys::id.eq(DbId(id)))
            .filter(admin_api_keys::nid.eq(nid))
            .select(ApiKeyRow::as_select())
            .first(c)
            .await?)
    })
}

/// Records a use at `now` unless one at or after `since` is already recorded.
pub async fn touch(
    store: &Store,
    id: Uuid,
    now: NaiveDateTime,
    since: NaiveDateTime,
) -> Result<(), StoreError> {
    let nid = DbId(store.nid());
    with_tx!(store, |c| {
        diesel::update(
            admin_api_keys::table
                .filter(admin_api_keys::id.eq(DbId(id)))
                .filter(admin_api_keys::nid.eq(nid))
                .filter(
                    admin_api_keys::last_used_at
                        .is_null()
                        .or(admin_api_keys::last_used_at.lt(since)),
                ),
        )
        .set(admin_api_keys::last_used_at.eq(now))
        .execute(c)
        .await?;
        Ok(())
    })
}
