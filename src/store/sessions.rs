//! Session queries. Tokens arrive already hashed, and expiry policy stays in `session::service`:
//! it passes in the instants it decided on, so this module only filters and writes.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::models::{IdentityRow, IdentityRows, RecoveryAddressRow, VerifiableAddressRow};
use super::schema::{identities, identity_recovery_addresses, identity_verifiable_addresses};
use super::session_schema::{session_devices, sessions};
use super::{Store, StoreError};
use crate::{with_conn, with_tx};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = sessions)]
pub struct SessionRow {
    pub id: String,
    pub nid: String,
    pub identity_id: String,
    /// SHA-256 hex of the session token.
    pub token: String,
    /// SHA-256 hex of the logout token.
    pub logout_token: String,
    pub active: bool,
    pub aal: String,
    /// JSON array of `{method, aal, completed_at}`.
    pub authentication_methods: String,
    pub issued_at: NaiveDateTime,
    pub authenticated_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = session_devices)]
pub struct DeviceRow {
    pub id: String,
    pub nid: String,
    pub session_id: String,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub location: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// A session with what was asked to be loaded beside it.
#[derive(Debug, Clone)]
pub struct SessionRows {
    pub session: SessionRow,
    pub identity: Option<IdentityRows>,
    pub devices: Option<Vec<DeviceRow>>,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Expand {
    pub identity: bool,
    pub devices: bool,
}

/// Which sessions `list` returns.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub identity_id: Option<String>,
    pub except: Option<String>,
    /// `(true, now)`: active and not expired at `now`; `(false, now)`: the rest.
    pub active: Option<(bool, NaiveDateTime)>,
}

/// Loads identities (without credentials) with their addresses, one query per table.
macro_rules! load_identities {
    ($c:ident, $nid:expr, $ids:expr) => {{
        let rows: Vec<IdentityRow> = identities::table
            .filter(identities::id.eq_any($ids))
            .filter(identities::nid.eq($nid))
            .select(IdentityRow::as_select())
            .load($c)
            .await?;
        let verifiable: Vec<VerifiableAddressRow> = identity_verifiable_addresses::table
            .filter(identity_verifiable_addresses::identity_id.eq_any($ids))
            .filter(identity_verifiable_addresses::nid.eq($nid))
            .order(identity_verifiable_addresses::id.asc())
            .select(VerifiableAddressRow::as_select())
            .load($c)
            .await?;
        let recovery: Vec<RecoveryAddressRow> = identity_recovery_addresses::table
            .filter(identity_recovery_addresses::identity_id.eq_any($ids))
            .filter(identity_recovery_addresses::nid.eq($nid))
            .order(identity_recovery_addresses::id.asc())
            .select(RecoveryAddressRow::as_select())
            .load($c)
            .await?;
        rows.into_iter()
            .map(|identity| IdentityRows {
                verifiable: verifiable
                    .iter()
                    .filter(|a| a.identity_id == identity.id)
                    .cloned()
                    .collect(),
                recovery: recovery
                    .iter()
                    .filter(|a| a.identity_id == identity.id)
                    .cloned()
                    .collect(),
                credentials: Vec::new(),
                identifiers: Vec::new(),
                identity,
            })
            .collect::<Vec<IdentityRows>>()
    }};
}

macro_rules! load_devices {
    ($c:ident, $nid:expr, $ids:expr) => {{
        let d: Vec<DeviceRow> = session_devices::table
            .filter(session_devices::session_id.eq_any($ids))
            .filter(session_devices::nid.eq($nid))
            .order(session_devices::created_at.asc())
            .select(DeviceRow::as_select())
            .load($c)
            .await?;
        d
    }};
}

/// Attaches the expanded parts to a page of session rows.
macro_rules! expand_rows {
    ($c:ident, $nid:expr, $rows:expr, $expand:expr) => {{
        let rows: Vec<SessionRow> = $rows;
        let identities = if $expand.identity && !rows.is_empty() {
            let mut ids: Vec<String> = rows.iter().map(|r| r.identity_id.clone()).collect();
            ids.sort();
            ids.dedup();
            Some(load_identities!($c, $nid, &ids))
        } else {
            None
        };
        let devices = if $expand.devices && !rows.is_empty() {
            let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
            Some(load_devices!($c, $nid, &ids))
        } else {
            None
        };
        rows.into_iter()
            .map(|session| SessionRows {
                identity: identities.as_ref().and_then(|all| {
                    all.iter()
                        .find(|i| i.identity.id == session.identity_id)
                        .cloned()
                }),
                devices: devices.as_ref().map(|all| {
                    all.iter()
                        .filter(|d| d.session_id == session.id)
                        .cloned()
                        .collect()
                }),
                session,
            })
            .collect::<Vec<SessionRows>>()
    }};
}

pub async fn insert(
    store: &Store,
    row: &SessionRow,
    devices: &[DeviceRow],
) -> Result<(), StoreError> {
    with_tx!(store, |c| {
        diesel::insert_into(sessions::table)
            .values(row)
            .execute(c)
            .await?;
        for d in devices {
            diesel::insert_into(session_devices::table)
                .values(d)
                .execute(c)
                .await?;
        }
        Ok(())
    })
}

/// The hot path: the session and its identity row in one indexed join. `full` adds the
/// identity's addresses and the session's devices (whoami); without it the identity row alone
/// comes back (enough to check its state).
pub async fn find_by_token(
    store: &Store,
    token_hash: &str,
    full: bool,
) -> Result<Option<SessionRows>, StoreError> {
    let nid = store.nid().to_owned();
    with_conn!(store, |c| {
        let found: Option<(SessionRow, IdentityRow)> = sessions::table
            .inner_join(identities::table)
            .filter(sessions::token.eq(token_hash))
            .filter(sessions::nid.eq(&nid))
            .select((SessionRow::as_select(), IdentityRow::as_select()))
            .first(c)
            .await
            .optional()?;
        let Some((session, identity)) = found else {
            return Ok(None);
        };
        if !full {
            let identity = IdentityRows {
                identity,
                credentials: Vec::new(),
                identifiers: Vec::new(),
                verifiable: Vec::new(),
                recovery: Vec::new(),
            };
            return Ok(Some(SessionRows {
                session,
                identity: Some(identity),
                devices: None,
            }));
        }
        let ids = vec![identity.id.clone()];
        let verifiable: Vec<VerifiableAddressRow> = identity_verifiable_addresses::table
            .filter(identity_verifiable_addresses::identity_id.eq_any(&ids))
            .filter(identity_verifiable_addresses::nid.eq(&nid))
            .order(identity_verifiable_addresses::id.asc())
            .select(VerifiableAddressRow::as_select())
            .load(c)
            .await?;
        let recovery: Vec<RecoveryAddressRow> = identity_recovery_addresses::table
            .filter(identity_recovery_addresses::identity_id.eq_any(&ids))
            .filter(identity_recovery_addresses::nid.eq(&nid))
            .order(identity_recovery_addresses::id.asc())
            .select(RecoveryAddressRow::as_select())
            .load(c)
            .await?;
        let sids = vec![session.id.clone()];
        let devices = load_devices!(c, &nid, &sids);
        let identity = IdentityRows {
            identity,
            credentials: Vec::new(),
            identifiers: Vec::new(),
            verifiable,
            recovery,
        };
        Ok(Some(SessionRows {
            session,
            identity: Some(identity),
            devices: Some(devices),
        }))
    })
}

pub async fn get(
    store: &Store,
    id: &str,
    expand: Expand,
) -> Result<Option<SessionRows>, StoreError> {
    let nid = store.nid().to_owned();
    with_conn!(store, |c| {
        let row: Option<SessionRow> = sessions::table
            .filter(sessions::id.eq(id))
            .filter(sessions::nid.eq(&nid))
            .select(SessionRow::as_select())
            .first(c)
            .await
            .optional()?;
        let Some(row) = row else { return Ok(None) };
        Ok(expand_rows!(c, &nid, vec![row], expand).pop())
    })
}

/// Keyset pagination, newest first: ids are UUIDv7, so `id < after` descending is creation order.
pub async fn list(
    store: &Store,
    filter: &ListFilter,
    after: Option<&str>,
    limit: i64,
    expand: Expand,
) -> Result<Vec<SessionRows>, StoreError> {
    let nid = store.nid().to_owned();
    with_conn!(store, |c| {
        let mut q = sessions::table
            .filter(sessions::nid.eq(nid.clone()))
            .select(SessionRow::as_select())
            .order(sessions::id.desc())
            .limit(limit)
            .into_boxed();
        if let Some(after) = after {
            q = q.filter(sessions::id.lt(after.to_owned()));
        }
        if let Some(identity) = &filter.identity_id {
            q = q.filter(sessions::identity_id.eq(identity.clone()));
        }
        if let Some(except) = &filter.except {
            q = q.filter(sessions::id.ne(except.clone()));
        }
        match filter.active {
            Some((true, now)) => {
                q = q
                    .filter(sessions::active.eq(true))
                    .filter(sessions::expires_at.ge(now))
            }
            Some((false, now)) => {
                q = q.filter(sessions::active.eq(false).or(sessions::expires_at.lt(now)))
            }
            None => {}
        }
        let rows: Vec<SessionRow> = q.load(c).await?;
        Ok(expand_rows!(c, &nid, rows, expand))
    })
}

/// Which sessions a revocation deactivates.
#[derive(Debug, Clone, Copy)]
pub enum Revoke<'a> {
    /// One session by id.
    Id(&'a str),
    /// The session with this token hash.
    Token(&'a str),
    /// The session with this logout token hash.
    LogoutToken(&'a str),
    /// One session, only if it belongs to the identity (a no-op for anyone else's session).
    OneOf { identity_id: &'a str, id: &'a str },
    /// Every session of the identity but one.
    AllOfExcept {
        identity_id: &'a str,
        except: &'a str,
    },
}

/// Deactivates the matching sessions; returns the identity id of each one matched.
pub async fn revoke(store: &Store, which: Revoke<'_>) -> Result<Vec<String>, StoreError> {
    let nid = store.nid().to_owned();
    with_conn!(store, |c| {
        let q = diesel::update(sessions::table)
            .set(sessions::active.eq(false))
            .into_boxed()
            .filter(sessions::nid.eq(&nid));
        let q = match which {
            Revoke::Id(id) => q.filter(sessions::id.eq(id)),
            Revoke::Token(hash) => q.filter(sessions::token.eq(hash)),
            Revoke::LogoutToken(hash) => q.filter(sessions::logout_token.eq(hash)),
            Revoke::OneOf { identity_id, id } => q
                .filter(sessions::id.eq(id))
                .filter(sessions::identity_id.eq(identity_id)),
            Revoke::AllOfExcept {
                identity_id,
                except,
            } => q
                .filter(sessions::identity_id.eq(identity_id))
                .filter(sessions::id.ne(except)),
        };
        Ok(q.returning(sessions::identity_id).get_results(c).await?)
    })
}

/// Compare-and-set extension: moves `expires_at` to `new_expiry` only while it is still before
/// `threshold`, so concurrent extends write once. Returns how many rows changed.
pub async fn extend(
    store: &Store,
    id: &str,
    threshold: NaiveDateTime,
    new_expiry: NaiveDateTime,
    now: NaiveDateTime,
) -> Result<usize, StoreError> {
    let nid = store.nid().to_owned();
    with_conn!(store, |c| {
        let n = diesel::update(
            sessions::table
                .filter(sessions::id.eq(id))
                .filter(sessions::nid.eq(&nid))
                .filter(sessions::expires_at.lt(threshold)),
        )
        .set((
            sessions::expires_at.eq(new_expiry),
            sessions::updated_at.eq(now),
        ))
        .execute(c)
        .await?;
        Ok(n)
    })
}

/// Records a fresh authentication on an active session (a `refresh=true` login).
pub async fn reauthenticate(
    store: &Store,
    id: &str,
    methods_json: &str,
    now: NaiveDateTime,
) -> Result<usize, StoreError> {
    let nid = store.nid().to_owned();
    with_conn!(store, |c| {
        let n = diesel::update(
            sessions::table
                .filter(sessions::id.eq(id))
                .filter(sessions::nid.eq(&nid))
                .filter(sessions::active.eq(true)),
        )
        .set((
            sessions::authenticated_at.eq(now),
            sessions::authentication_methods.eq(methods_json),
            sessions::updated_at.eq(now),
        ))
        .execute(c)
        .await?;
        Ok(n)
    })
}

/// Deletes every session of an identity (devices go by cascade); returns how many.
pub async fn delete_of_identity(store: &Store, identity_id: &str) -> Result<usize, StoreError> {
    let nid = store.nid().to_owned();
    with_tx!(store, |c| {
        let n = diesel::delete(
            sessions::table
                .filter(sessions::identity_id.eq(identity_id))
                .filter(sessions::nid.eq(&nid)),
        )
        .execute(c)
        .await?;
        Ok(n)
    })
}

/// Whether an identity exists in this network (to tell "no sessions" from "no identity").
pub async fn identity_exists(store: &Store, identity_id: &str) -> Result<bool, StoreError> {
    let nid = store.nid().to_owned();
    with_conn!(store, |c| {
        let n: i64 = identities::table
            .filter(identities::id.eq(identity_id))
            .filter(identities::nid.eq(&nid))
            .count()
            .get_result(c)
            .await?;
        Ok(n > 0)
    })
}
