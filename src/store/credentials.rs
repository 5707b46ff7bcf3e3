//! Credential lookups for sign-in: which identity owns an identifier, and rehashing.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use super::id::DbId;
use super::schema::{identity_credential_identifiers as idf, identity_credentials as cred};
use super::{Store, StoreError};
use crate::with_conn;

/// The identity id whose `credential_type` credential has `identifier`.
pub async fn identity_for_identifier(
    store: &Store,
    credential_type: &str,
    identifier: &str,
) -> Result<Option<Uuid>, StoreError> {
    let nid = DbId(store.nid());
    with_conn!(store, |c| {
        Ok(idf::table
            .filter(idf::nid.eq(&nid))
            .filter(idf::credential_type.eq(credential_type))
            .filter(idf::identifier.eq(identifier))
            .select(idf::identity_id)
            .first::<DbId>(c)
            .await
            .optional()?
            .map(Uuid::from))
    })
}

/// Replaces a credential's config (e.g. a password rehashed into the configured algorithm).
pub async fn update_config(
    store: &Store,
    identity_id: Uuid,
    credential_type: &str,
    config: &str,
    now: NaiveDateTime,
) -> Result<(), StoreError> {
    let nid = DbId(store.nid());
    with_conn!(store, |c| {
        diesel::update(
            cred::table
                .filter(cred::nid.eq(&nid))
                .filter(cred::identity_id.eq(DbId(identity_id)))
                .filter(cred::credential_type.eq(credential_type)),
        )
        .set((cred::config.eq(config), cred::updated_at.eq(now)))
        .execute(c)
        .await?;
        Ok(())
    })
}

/// The id and config, exactly as stored, of an identity's `credential_type` credential.
pub async fn config_of(
    store: &Store,
    identity_id: Uuid,
    credential_type: &str,
) -> Result<Option<(Uuid, String)>, StoreError> {
    let nid = DbId(store.nid());
    with_conn!(store, |c| {
        Ok(cred::table
            .filter(cred::nid.eq(&nid))
            .filter(cred::identity_id.eq(DbId(identity_id)))
            .filter(cred::credential_type.eq(credential_type))
            .select((cred::id, cred::config))
            .first::<(DbId, String)>(c)
            .await
            .optional()?
            .map(|(id, config)| (Uuid::from(id), config)))
    })
}

/// Compare-and-set of a credential's config: writes `new` only while the stored config is
/// still `old`, so of two writers that read the same config only one succeeds. Returns
/// whether it wrote.
pub async fn swap_config(
    store: &Store,
    credential_id: Uuid,
    old: &str,
    new: &str,
    now: NaiveDateTime,
) -> Result<bool, StoreError> {
    let nid = DbId(store.nid());
    with_conn!(store, |c| {
        let n = diesel::update(
            cred::table
                .filter(cred::nid.eq(&nid))
                .filter(cred::id.eq(DbId(credential_id)))
                .filter(cred::config.eq(old)),
        )
        .set((cred::config.eq(new), cred::updated_at.eq(now)))
        .execute(c)
        .await?;
        Ok(n == 1)
    })
}
