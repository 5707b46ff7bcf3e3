//! Session queries. Tokens arrive already hashed, and expiry policy stays in `session::service`:
//! it passes in the instants it decided on, so this module only filters and writes.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use super::id::DbId;
use super::models::{IdentityRow, IdentityRows, RecoveryAddressRow, VerifiableAddressRow};
use super::schema::{identities, identity_recovery_addresses, identity_verifiable_addresses};
use super::session_schema::{session_activity, session_devices, sessions};
use super::{Backend, Store, StoreError};
use crate::{with_conn, with_tx};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = sessions)]
pub struct SessionRow {
    pub id: DbId,
    pub nid: DbId,
    pub identity_id: DbId,
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
    pub id: DbId,
    pub nid: DbId,
    pub session_id: DbId,
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
    /// When the session was last used, as `session_activity` records it (read by
    /// `find_by_token` only; `None` elsewhere and for a session without a record).
    pub last_seen: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Expand {
    pub identity: bool,
    pub devices: bool,
}

/// Which sessions `list` returns.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub identity_id: Option<Uuid>,
    pub except: Option<Uuid>,
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
            let mut ids: Vec<DbId> = rows.iter().map(|r| r.identity_id).collect();
            ids.sort();
            ids.dedup();
            Some(load_identities!($c, $nid, &ids))
        } else {
            None
        };
        let devices = if $expand.devices && !rows.is_empty() {
            let ids: Vec<DbId> = rows.iter().map(|r| r.id).collect();
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
                last_seen: None,
                session,
            })
            .collect::<Vec<SessionRows>>()
    }};
}

/// Inserts a session, its devices and its activity record (used at `created_at`).
macro_rules! insert_rows {
    ($c:ident, $row:expr, $devices:expr) => {{
        let row: &SessionRow = $row;
        diesel::insert_into(sessions::table)
            .values(row)
            .execute($c)
            .await?;
        for d in $devices {
            diesel::insert_into(session_devices::table)
                .values(d)
                .execute($c)
                .await?;
        }
        diesel::insert_into(session_activity::table)
            .values((
                session_activity::session_id.eq(row.id),
                session_activity::nid.eq(row.nid),
                session_activity::seen_at.eq(row.created_at),
            ))
            .execute($c)
            .await?;
    }};
}

/// A new session with its devices, used just now (`row.created_at`).
pub async fn insert(
    store: &Store,
    row: &SessionRow,
    devices: &[DeviceRow],
) -> Result<(), StoreError> {
    with_tx!(store, |c| {
        insert_rows!(c, row, devices);
        Ok(())
    })
}

/// Replaces the active session `old` by `row` (a rotation): the new session, its devices and
/// its activity record are inserted and the old one deactivated in one transaction. Returns
/// `false`, writing nothing, when `old` is no longer active.
pub async fn rotate(
    store: &Store,
    old: Uuid,
    row: &SessionRow,
    devices: &[DeviceRow],
) -> Result<bool, StoreError> {
    let nid = DbId(store.nid());
    with_tx!(store, |c| {
        let n = diesel::update(
            sessions::table
                .filter(sessions::id.eq(DbId(old)))
                .filter(sessions::nid.eq(&nid))
                .filter(sessions::active.eq(true)),
        )
        .set((
            sessions::active.eq(false),
            sessions::updated_at.eq(row.created_at),
        ))
        .execute(c)
        .await?;
        if n == 0 {
            return Ok(false);
        }
        insert_rows!(c, row, devices);
        Ok(true)
    })
}

/// Records that a session was used at `now`, unless it already was at or after `since` (a
/// compare-and-set, so nodes that see the same use write once). Returns whether it wrote.
pub async fn touch(
    store: &Store,
    id: Uuid,
    since: NaiveDateTime,
    now: NaiveDateTime,
) -> Result<bool, StoreError> {
    let nid = DbId(store.nid());
    with_conn!(store, |c| {
        let n = diesel::update(
            session_activity::table
                .filter(session_activity::session_id.eq(DbId(id)))
                .filter(session_activity::nid.eq(&nid))
                .filter(session_activity::seen_at.lt(since)),
        )
        .set(session_activity::seen_at.eq(now))
        .execute(c)
        .await?;
        Ok(n > 0)
    })
}

/// The hot path: one statement. The session and its identity row come from an indexed join on
/// the token digest; with `full`, the identity's addresses and the session's devices ride along
/// as JSON arrays from correlated subqueries (each on an `identity_id`/`session_id` index), so a
/// whoami that misses the cache is a single round trip. Credentials are never read. Without
/// `full` only the identity's row comes back (enough to check its state).
pub async fn find_by_token(
    store: &Store,
    token_hash: &str,
    full: bool,
) -> Result<Option<SessionRows>, StoreError> {
    use diesel::dsl::sql;
    use diesel::sql_types::{Nullable, Text, Timestamp};
    let nid = DbId(store.nid());
    let [verifiable_sql, recovery_sql, devices_sql] = match store.backend() {
        Backend::Postgres => children_json::POSTGRES,
        Backend::Sqlite => children_json::SQLITE,
        Backend::Mysql => children_json::MYSQL,
    };
    with_conn!(store, |c| {
        let base = sessions::table
            .inner_join(identities::table)
            .filter(sessions::token.eq(token_hash))
            .filter(sessions::nid.eq(&nid));
        if !full {
            let found: Option<(SessionRow, IdentityRow, Option<NaiveDateTime>)> = base
                .select((
                    SessionRow::as_select(),
                    IdentityRow::as_select(),
                    sql::<Nullable<Timestamp>>(LAST_SEEN_SQL),
                ))
                .first(c)
                .await
                .optional()?;
            return Ok(found.map(|(session, identity, last_seen)| SessionRows {
                session,
                identity: Some(IdentityRows {
                    identity,
                    credentials: Vec::new(),
                    identifiers: Vec::new(),
                    verifiable: Vec::new(),
                    recovery: Vec::new(),
                }),
                devices: None,
                last_seen,
            }));
        }
        type Json = Nullable<Text>;
        let found: Option<WhoamiRow> = base
            .select((
                SessionRow::as_select(),
                IdentityRow::as_select(),
                sql::<Json>(verifiable_sql),
                sql::<Json>(recovery_sql),
                sql::<Json>(devices_sql),
                sql::<Nullable<Timestamp>>(LAST_SEEN_SQL),
            ))
            .first(c)
            .await
            .optional()?;
        let Some((session, identity, verifiable, recovery, devices, last_seen)) = found else {
            return Ok(None);
        };
        Ok(Some(SessionRows {
            session,
            identity: Some(IdentityRows {
                identity,
                credentials: Vec::new(),
                identifiers: Vec::new(),
                verifiable: children_json::verifiable(verifiable.as_deref())?,
                recovery: children_json::recovery(recovery.as_deref())?,
            }),
            devices: Some(children_json::devices(devices.as_deref())?),
            last_seen,
        }))
    })
}

/// The session's last use, correlated with the outer `sessions` row (same SQL on both
/// backends; the primary key makes it one index probe).
const LAST_SEEN_SQL: &str =
    "(SELECT a.seen_at FROM session_activity a WHERE a.session_id = sessions.id)";

/// whoami's single statement: the session, its identity, and the three JSON arrays.
type WhoamiRow = (
    SessionRow,
    IdentityRow,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<NaiveDateTime>,
);

/// The child rows of whoami's single statement, as JSON arrays built by the database, and
/// their decoding back into rows.
mod children_json {
    use chrono::NaiveDateTime;
    use serde::Deserialize;
    use serde_json::Value;

    use super::DeviceRow;
    use crate::store::StoreError;
    use crate::store::id::DbId;
    use crate::store::models::{RecoveryAddressRow, VerifiableAddressRow};

    /// `[verifiable addresses, recovery addresses, devices]`, correlated with the outer
    /// `identities` and `sessions` rows.
    pub(super) const SQLITE: [&str; 3] = [
        "(SELECT json_group_array(json_object('id', v.id, 'nid', v.nid, 'identity_id', \
         v.identity_id, 'via', v.via, 'value', v.value, 'verified', v.verified, 'verified_at', \
         v.verified_at, 'status', v.status, 'created_at', v.created_at, 'updated_at', \
         v.updated_at)) FROM identity_verifiable_addresses v \
         WHERE v.identity_id = identities.id AND v.nid = identities.nid)",
        "(SELECT json_group_array(json_object('id', r.id, 'nid', r.nid, 'identity_id', \
         r.identity_id, 'via', r.via, 'value', r.value, 'created_at', r.created_at, \
         'updated_at', r.updated_at)) FROM identity_recovery_addresses r \
         WHERE r.identity_id = identities.id AND r.nid = identities.nid)",
        "(SELECT json_group_array(json_object('id', d.id, 'nid', d.nid, 'session_id', \
         d.session_id, 'ip_address', d.ip_address, 'user_agent', d.user_agent, 'location', \
         d.location, 'created_at', d.created_at, 'updated_at', d.updated_at)) \
         FROM session_devices d WHERE d.session_id = sessions.id)",
    ];

    pub(super) const POSTGRES: [&str; 3] = [
        "(SELECT json_agg(json_build_object('id', v.id, 'nid', v.nid, 'identity_id', \
         v.identity_id, 'via', v.via, 'value', v.value, 'verified', v.verified, 'verified_at', \
         v.verified_at, 'status', v.status, 'created_at', v.created_at, 'updated_at', \
         v.updated_at))::text FROM identity_verifiable_addresses v \
         WHERE v.identity_id = identities.id AND v.nid = identities.nid)",
        "(SELECT json_agg(json_build_object('id', r.id, 'nid', r.nid, 'identity_id', \
         r.identity_id, 'via', r.via, 'value', r.value, 'created_at', r.created_at, \
         'updated_at', r.updated_at))::text FROM identity_recovery_addresses r \
         WHERE r.identity_id = identities.id AND r.nid = identities.nid)",
        "(SELECT json_agg(json_build_object('id', d.id, 'nid', d.nid, 'session_id', \
         d.session_id, 'ip_address', d.ip_address, 'user_agent', d.user_agent, 'location', \
         d.location, 'created_at', d.created_at, 'updated_at', d.updated_at))::text \
         FROM session_devices d WHERE d.session_id = sessions.id)",
    ];

    pub(super) const MYSQL: [&str; 3] = [
        "(SELECT JSON_ARRAYAGG(JSON_OBJECT('id', v.id, 'nid', v.nid, 'identity_id', \
         v.identity_id, 'via', v.via, 'value', v.value, 'verified', v.verified, 'verified_at', \
         v.verified_at, 'status', v.status, 'created_at', v.created_at, 'updated_at', \
         v.updated_at)) FROM identity_verifiable_addresses v \
         WHERE v.identity_id = identities.id AND v.nid = identities.nid)",
        "(SELECT JSON_ARRAYAGG(JSON_OBJECT('id', r.id, 'nid', r.nid, 'identity_id', \
         r.identity_id, 'via', r.via, 'value', r.value, 'created_at', r.created_at, \
         'updated_at', r.updated_at)) FROM identity_recovery_addresses r \
         WHERE r.identity_id = identities.id AND r.nid = identities.nid)",
        "(SELECT JSON_ARRAYAGG(JSON_OBJECT('id', d.id, 'nid', d.nid, 'session_id', \
         d.session_id, 'ip_address', d.ip_address, 'user_agent', d.user_agent, 'location', \
         d.location, 'created_at', d.created_at, 'updated_at', d.updated_at)) \
         FROM session_devices d WHERE d.session_id = sessions.id)",
    ];

    #[derive(Deserialize)]
    struct Verifiable {
        id: String,
        nid: String,
        identity_id: String,
        via: String,
        value: String,
        verified: Value,
        verified_at: Option<String>,
        status: String,
        created_at: String,
        updated_at: String,
    }

    #[derive(Deserialize)]
    struct Recovery {
        id: String,
        nid: String,
        identity_id: String,
        via: String,
        value: String,
        created_at: String,
        updated_at: String,
    }

    #[derive(Deserialize)]
    struct Device {
        id: String,
        nid: String,
        session_id: String,
        ip_address: Option<String>,
        user_agent: Option<String>,
        location: Option<String>,
        created_at: String,
        updated_at: String,
    }

    fn bad(what: &str, e: impl std::fmt::Display) -> StoreError {
        StoreError::Query(format!("decoding {what}: {e}"))
    }

    fn id(column: &str, s: String) -> Result<DbId, StoreError> {
        uuid::Uuid::parse_str(&s)
            .map(DbId)
            .map_err(|_| StoreError::BadId {
                column: column.to_owned(),
                value: s,
            })
    }

    /// SQLite and MySQL say `2026-11-28 16:37:53.137803`, PostgreSQL's JSON says
    /// `2026-11-28T16:37:53.137803`.
    fn time(s: &str) -> Result<NaiveDateTime, StoreError> {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
            .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f"))
            .map_err(|e| bad("a timestamp", e))
    }

    /// SQLite and MySQL have no booleans: 0/1.
    fn flag(v: &Value) -> Result<bool, StoreError> {
        match v {
            Value::Bool(b) => Ok(*b),
            Value::Number(n) => Ok(n.as_i64().unwrap_or(0) != 0),
            other => Err(bad("a flag", other)),
        }
    }

    fn parse<T: for<'de> Deserialize<'de>>(
        what: &str,
        json: Option<&str>,
    ) -> Result<Vec<T>, StoreError> {
        match json {
            None => Ok(Vec::new()),
            Some(s) => serde_json::from_str(s).map_err(|e| bad(what, e)),
        }
    }

    pub(super) fn verifiable(json: Option<&str>) -> Result<Vec<VerifiableAddressRow>, StoreError> {
        let mut rows = parse::<Verifiable>("verifiable addresses", json)?
            .into_iter()
            .map(|a| {
                Ok(VerifiableAddressRow {
                    verified: flag(&a.verified)?,
                    verified_at: a.verified_at.as_deref().map(time).transpose()?,
                    created_at: time(&a.created_at)?,
                    updated_at: time(&a.updated_at)?,
                    id: id("identity_verifiable_addresses.id", a.id)?,
                    nid: id("identity_verifiable_addresses.nid", a.nid)?,
                    identity_id: id("identity_verifiable_addresses.identity_id", a.identity_id)?,
                    via: a.via,
                    value: a.value,
                    status: a.status,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        rows.sort_by_key(|a| a.id);
        Ok(rows)
    }

    pub(super) fn recovery(json: Option<&str>) -> Result<Vec<RecoveryAddressRow>, StoreError> {
        let mut rows = parse::<Recovery>("recovery addresses", json)?
            .into_iter()
            .map(|a| {
                Ok(RecoveryAddressRow {
                    created_at: time(&a.created_at)?,
                    updated_at: time(&a.updated_at)?,
                    id: id("identity_recovery_addresses.id", a.id)?,
                    nid: id("identity_recovery_addresses.nid", a.nid)?,
                    identity_id: id("identity_recovery_addresses.identity_id", a.identity_id)?,
                    via: a.via,
                    value: a.value,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        rows.sort_by_key(|a| a.id);
        Ok(rows)
    }

    pub(super) fn devices(json: Option<&str>) -> Result<Vec<DeviceRow>, StoreError> {
        let mut rows = parse::<Device>("devices", json)?
            .into_iter()
            .map(|d| {
                Ok(DeviceRow {
                    created_at: time(&d.created_at)?,
                    updated_at: time(&d.updated_at)?,
                    id: id("session_devices.id", d.id)?,
                    nid: id("session_devices.nid", d.nid)?,
                    session_id: id("session_devices.session_id", d.session_id)?,
                    ip_address: d.ip_address,
                    user_agent: d.user_agent,
                    location: d.location,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        rows.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(rows)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn decodes_both_backends_json() {
            let sqlite = r#"[{"id":"00000000-0000-4000-8000-00000000000b","nid":"00000000-0000-4000-8000-000000000001","identity_id":"00000000-0000-4000-8000-000000000002","via":"email","value":"x@y.z","verified":1,"verified_at":"2026-11-28 16:37:53.137803","status":"completed","created_at":"2026-11-28 16:37:53","updated_at":"2026-11-28 16:37:53.5"},{"id":"00000000-0000-4000-8000-00000000000a","nid":"00000000-0000-4000-8000-000000000001","identity_id":"00000000-0000-4000-8000-000000000002","via":"email","value":"w@y.z","verified":0,"verified_at":null,"status":"pending","created_at":"2026-11-28 16:37:53","updated_at":"2026-11-28 16:37:53"}]"#;
            let rows = verifiable(Some(sqlite)).unwrap();
            assert_eq!(
                rows[0].id.0.to_string(),
                "00000000-0000-4000-8000-00000000000a"
            );
            assert!(!rows[0].verified && rows[0].verified_at.is_none());
            assert!(rows[1].verified);
            assert_eq!(
                rows[1].verified_at.unwrap().to_string(),
                "2026-11-28 16:37:53.137803"
            );
            let pg = r#"[{"id":"00000000-0000-4000-8000-00000000000d","nid":"00000000-0000-4000-8000-000000000001","session_id":"00000000-0000-4000-8000-000000000003","ip_address":"127.0.0.1","user_agent":null,"location":null,"created_at":"2026-11-28T16:37:53.1","updated_at":"2026-11-28T16:37:53.1"}]"#;
            let d = devices(Some(pg)).unwrap();
            assert_eq!(d[0].ip_address.as_deref(), Some("127.0.0.1"));
            assert!(devices(None).unwrap().is_empty());
            assert!(recovery(Some("[]")).unwrap().is_empty());
            assert!(matches!(verifiable(Some("{")), Err(StoreError::Query(_))));
            // A corrupt id is reported with its column, not read as the nil UUID.
            let bad = r#"[{"id":"a","nid":"n","session_id":"s","ip_address":null,"user_agent":null,"location":null,"created_at":"2026-11-28T16:37:53.1","updated_at":"2026-11-28T16:37:53.1"}]"#;
            assert!(matches!(
                devices(Some(bad)),
                Err(StoreError::BadId { column, value }) if column == "session_devices.id" && value == "a"
            ));
        }
    }
}

pub async fn get(
    store: &Store,
    id: Uuid,
    expand: Expand,
) -> Result<Option<SessionRows>, StoreError> {
    let nid = DbId(store.nid());
    with_conn!(store, |c| {
        let row: Option<SessionRow> = sessions::table
            .filter(sessions::id.eq(DbId(id)))
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
    after: Option<Uuid>,
    limit: i64,
    expand: Expand,
) -> Result<Vec<SessionRows>, StoreError> {
    let nid = DbId(store.nid());
    with_conn!(store, |c| {
        let mut q = sessions::table
            .filter(sessions::nid.eq(nid))
            .select(SessionRow::as_select())
            .order(sessions::id.desc())
            .limit(limit)
            .into_boxed();
        if let Some(after) = after {
            q = q.filter(sessions::id.lt(DbId(after)));
        }
        if let Some(identity) = &filter.identity_id {
            q = q.filter(sessions::identity_id.eq(DbId(*identity)));
        }
        if let Some(except) = &filter.except {
            q = q.filter(sessions::id.ne(DbId(*except)));
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
    Id(Uuid),
    /// The session with this token hash.
    Token(&'a str),
    /// The session with this logout token hash.
    LogoutToken(&'a str),
    /// One session, only if it belongs to the identity (a no-op for anyone else's session).
    OneOf { identity_id: Uuid, id: Uuid },
    /// Every session of the identity but one.
    AllOfExcept { identity_id: Uuid, except: Uuid },
}

/// Deactivates the matching sessions; returns the identity id of each one matched. The matches
/// are read, then deactivated by id, in one transaction (MySQL has no UPDATE … RETURNING).
pub async fn revoke(store: &Store, which: Revoke<'_>) -> Result<Vec<Uuid>, StoreError> {
    let nid = DbId(store.nid());
    with_tx!(store, |c| {
        let q = sessions::table
            .select((sessions::id, sessions::identity_id))
            .into_boxed()
            .filter(sessions::nid.eq(&nid));
        let q = match which {
            Revoke::Id(id) => q.filter(sessions::id.eq(DbId(id))),
            Revoke::Token(hash) => q.filter(sessions::token.eq(hash)),
            Revoke::LogoutToken(hash) => q.filter(sessions::logout_token.eq(hash)),
            Revoke::OneOf { identity_id, id } => q
                .filter(sessions::id.eq(DbId(id)))
                .filter(sessions::identity_id.eq(DbId(identity_id))),
            Revoke::AllOfExcept {
                identity_id,
                except,
            } => q
                .filter(sessions::identity_id.eq(DbId(identity_id)))
                .filter(sessions::id.ne(DbId(except))),
        };
        let matched: Vec<(DbId, DbId)> = q.load(c).await?;
        if matched.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<DbId> = matched.iter().map(|(id, _)| *id).collect();
        diesel::update(
            sessions::table
                .filter(sessions::nid.eq(&nid))
                .filter(sessions::id.eq_any(&ids)),
        )
        .set(sessions::active.eq(false))
        .execute(c)
        .await?;
        Ok(matched.into_iter().map(|(_, i)| Uuid::from(i)).collect())
    })
}

/// Compare-and-set extension: moves `expires_at` to `new_expiry` only while it is still before
/// `threshold`, so concurrent extends write once. Returns how many rows changed.
pub async fn extend(
    store: &Store,
    id: Uuid,
    threshold: NaiveDateTime,
    new_expiry: NaiveDateTime,
    now: NaiveDateTime,
) -> Result<usize, StoreError> {
    let nid = DbId(store.nid());
    with_conn!(store, |c| {
        let n = diesel::update(
            sessions::table
                .filter(sessions::id.eq(DbId(id)))
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

/// A change of an active session's authentication methods and level.
#[derive(AsChangeset)]
#[diesel(table_name = sessions)]
pub struct MethodsChange<'a> {
    pub authentication_methods: &'a str,
    pub aal: &'a str,
    /// `Some` for a fresh authentication (a `refresh=true` login); `None` leaves it as it is
    /// (a method added or removed without signing in again).
    pub authenticated_at: Option<NaiveDateTime>,
    pub updated_at: NaiveDateTime,
}

/// Records a session's authentication methods and level; returns 0 when it is not active.
pub async fn set_methods(
    store: &Store,
    id: Uuid,
    change: &MethodsChange<'_>,
) -> Result<usize, StoreError> {
    let nid = DbId(store.nid());
    with_conn!(store, |c| {
        let n = diesel::update(
            sessions::table
                .filter(sessions::id.eq(DbId(id)))
                .filter(sessions::nid.eq(&nid))
                .filter(sessions::active.eq(true)),
        )
        .set(change)
        .execute(c)
        .await?;
        Ok(n)
    })
}

/// Deletes every session of an identity (devices go by cascade); returns how many.
pub async fn delete_of_identity(store: &Store, identity_id: Uuid) -> Result<usize, StoreError> {
    let nid = DbId(store.nid());
    with_tx!(store, |c| {
        let n = diesel::delete(
            sessions::table
                .filter(sessions::identity_id.eq(DbId(identity_id)))
                .filter(sessions::nid.eq(&nid)),
        )
        .execute(c)
        .await?;
        Ok(n)
    })
}

/// Whether an identity exists in this network (to tell "no sessions" from "no identity").
pub async fn identity_exists(store: &Store, identity_id: Uuid) -> Result<bool, StoreError> {
    let nid = DbId(store.nid());
    with_conn!(store, |c| {
        let n: i64 = identities::table
            .filter(identities::id.eq(DbId(identity_id)))
            .filter(identities::nid.eq(&nid))
            .count()
            .get_result(c)
            .await?;
        Ok(n > 0)
    })
}
