//! Identity queries: an identity row and its credentials, identifiers and addresses are always
//! written together in one transaction.

use chrono::{NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use super::flow_schema::selfservice_flows;
use super::id::DbId;
use super::models::*;
use super::schema::*;
use super::session_schema::sessions;
use super::{Conn, Store, StoreError};
use crate::{with_conn, with_tx};

/// Returns the network id, creating the network on first start.
pub async fn ensure_network(store: &Store) -> Result<Uuid, StoreError> {
    with_tx!(store, |c| {
        let existing: Option<DbId> = networks::table
            .select(networks::id)
            .order(networks::created_at.asc())
            .first(c)
            .await
            .optional()?;
        if let Some(id) = existing {
            return Ok(id.0);
        }
        let id = Uuid::new_v4();
        diesel::insert_into(networks::table)
            .values(NewNetwork::now(id))
            .execute(c)
            .await?;
        Ok(id)
    })
}

/// Every network's id, the default (oldest) first.
pub async fn network_ids(store: &Store) -> Result<Vec<Uuid>, StoreError> {
    let ids: Vec<DbId> = with_conn!(store, |c| {
        networks::table
            .select(networks::id)
            .order(networks::created_at.asc())
            .load(c)
            .await?
    });
    Ok(ids.into_iter().map(|d| d.0).collect())
}

/// A `networks` row as inserted (the default network, a declared tenant's, a stored tenant's).
#[derive(Insertable)]
#[diesel(table_name = networks)]
pub(super) struct NewNetwork {
    id: DbId,
    created_at: chrono::NaiveDateTime,
    updated_at: chrono::NaiveDateTime,
}

impl NewNetwork {
    pub(super) fn at(id: Uuid, at: chrono::NaiveDateTime) -> NewNetwork {
        NewNetwork {
            id: DbId(id),
            created_at: at,
            updated_at: at,
        }
    }

    fn now(id: Uuid) -> NewNetwork {
        NewNetwork::at(id, Utc::now().naive_utc())
    }
}

/// Makes sure network `id` exists (a tenant declared in the configuration file owns one).
pub async fn ensure_network_id(store: &Store, id: Uuid) -> Result<(), StoreError> {
    with_tx!(store, |c| {
        let found: i64 = networks::table
            .filter(networks::id.eq(DbId(id)))
            .count()
            .get_result(c)
            .await?;
        if found == 0 {
            diesel::insert_into(networks::table)
                .values(NewNetwork::now(id))
                .execute(c)
                .await?;
        }
        Ok(())
    })
}

/// Which identities `list` returns.
#[derive(Debug, Clone)]
pub enum ListFilter {
    All,
    Ids(Vec<Uuid>),
    /// Exact match on a credential identifier: `normalized` for the credential types whose
    /// identifiers are stored normalised (`normalized_types`), `exact` for all others.
    CredentialsIdentifier {
        normalized: String,
        exact: String,
        normalized_types: Vec<String>,
    },
    /// Identifiers starting with the given text.
    IdentifierSimilar(String),
}

macro_rules! insert_children {
    ($c:ident, $rows:expr) => {{
        for cred in &$rows.credentials {
            diesel::insert_into(identity_credentials::table)
                .values(cred)
                .execute($c)
                .await?;
        }
        for ident in &$rows.identifiers {
            diesel::insert_into(identity_credential_identifiers::table)
                .values(ident)
                .execute($c)
                .await?;
        }
        for a in &$rows.verifiable {
            diesel::insert_into(identity_verifiable_addresses::table)
                .values(a)
                .execute($c)
                .await?;
        }
        for a in &$rows.recovery {
            diesel::insert_into(identity_recovery_addresses::table)
                .values(a)
                .execute($c)
                .await?;
        }
    }};
}

pub async fn insert(store: &Store, rows: &IdentityRows) -> Result<(), StoreError> {
    with_tx!(store, |c| {
        diesel::insert_into(identities::table)
            .values(&rows.identity)
            .execute(c)
            .await?;
        insert_children!(c, rows);
        Ok(())
    })
}

/// Rows per multi-row INSERT on PostgreSQL and MySQL: the widest row (identities, 13 columns)
/// stays far below their 65,535 bind parameters.
const INSERT_CHUNK: usize = 1000;

/// Multi-row INSERTs of `$rows` (a `Vec` of row references) into `$table`, `INSERT_CHUNK` rows
/// per statement.
macro_rules! insert_chunked {
    ($c:ident, $table:expr, $rows:expr) => {
        for part in $rows.chunks(INSERT_CHUNK) {
            diesel::insert_into($table)
                .values(part.to_vec())
                .execute($c)
                .await?;
        }
    };
}

/// Inserts many identities in one transaction; one bad item (an identifier already taken, say)
/// fails alone. The outer error is for the database itself failing.
///
/// PostgreSQL and MySQL: the whole batch goes in as one multi-row INSERT per table under a savepoint;
/// only if that fails is it replayed one identity per savepoint. SQLite: everything runs in a
/// single hop to the connection's thread (statements prepared once; the same whole-batch
/// attempt first), since each async statement would otherwise cost a thread hand-off.
pub async fn insert_many(
    store: &Store,
    items: Vec<IdentityRows>,
) -> Result<Vec<Result<(), StoreError>>, StoreError> {
    use diesel_async::AsyncConnection as _;
    // PostgreSQL and MySQL run the same statements on their own connection types.
    macro_rules! batch {
        ($c:ident) => {
            $c.transaction::<_, StoreError, _>(async |c| {
                let whole = c
                    .transaction::<_, StoreError, _>(async |c| {
                        let rows: Vec<&IdentityRow> = items.iter().map(|r| &r.identity).collect();
                        insert_chunked!(c, identities::table, rows);
                        let rows: Vec<&CredentialRow> =
                            items.iter().flat_map(|r| &r.credentials).collect();
                        insert_chunked!(c, identity_credentials::table, rows);
                        let rows: Vec<&IdentifierRow> =
                            items.iter().flat_map(|r| &r.identifiers).collect();
                        insert_chunked!(c, identity_credential_identifiers::table, rows);
                        let rows: Vec<&VerifiableAddressRow> =
                            items.iter().flat_map(|r| &r.verifiable).collect();
                        insert_chunked!(c, identity_verifiable_addresses::table, rows);
                        let rows: Vec<&RecoveryAddressRow> =
                            items.iter().flat_map(|r| &r.recovery).collect();
                        insert_chunked!(c, identity_recovery_addresses::table, rows);
                        Ok(())
                    })
                    .await;
                if whole.is_ok() {
                    return Ok(items.iter().map(|_| Ok(())).collect());
                }
                let mut out = Vec::with_capacity(items.len());
                for rows in items {
                    let r = c
                        .transaction::<_, StoreError, _>(async |c| {
                            diesel::insert_into(identities::table)
                                .values(&rows.identity)
                                .execute(c)
                                .await?;
                            insert_children!(c, rows);
                            Ok(())
                        })
                        .await;
                    out.push(r);
                }
                Ok(out)
            })
            .await?
        };
    }
    let guard = store.write_guard().await;
    let out = match store.conn().await? {
        Conn::Sqlite(mut c) => c
            .spawn_blocking(move |conn| sqlite_sync::insert_many(conn, &items))
            .await?
            .into_iter()
            .map(|r| r.map_err(StoreError::from))
            .collect(),
        Conn::Pg(mut c) => batch!(c),
        Conn::Mysql(mut c) => batch!(c),
    };
    drop(guard);
    Ok(out)
}

/// Synchronous SQLite writes, run on the connection's own thread.
mod sqlite_sync {
    use diesel::prelude::*;
    use diesel::result::QueryResult;

    use super::super::models::IdentityRows;
    use super::super::schema::*;

    /// The whole batch in one transaction; only if that fails is it replayed with one
    /// savepoint per identity (a savepoint journals every page it touches).
    pub(super) fn insert_many(
        conn: &mut SqliteConnection,
        items: &[IdentityRows],
    ) -> QueryResult<Vec<QueryResult<()>>> {
        let whole =
            conn.transaction(|conn| items.iter().try_for_each(|rows| insert_one(conn, rows)));
        if whole.is_ok() {
            return Ok(items.iter().map(|_| Ok(())).collect());
        }
        conn.transaction(|conn| {
            Ok(items
                .iter()
                .map(|rows| conn.transaction(|conn| insert_one(conn, rows)))
                .collect())
        })
    }

    fn insert_one(conn: &mut SqliteConnection, rows: &IdentityRows) -> QueryResult<()> {
        diesel::insert_into(identities::table)
            .values(&rows.identity)
            .execute(conn)?;
        for cred in &rows.credentials {
            diesel::insert_into(identity_credentials::table)
                .values(cred)
                .execute(conn)?;
        }
        for ident in &rows.identifiers {
            diesel::insert_into(identity_credential_identifiers::table)
                .values(ident)
                .execute(conn)?;
        }
        for a in &rows.verifiable {
            diesel::insert_into(identity_verifiable_addresses::table)
                .values(a)
                .execute(conn)?;
        }
        for a in &rows.recovery {
            diesel::insert_into(identity_recovery_addresses::table)
                .values(a)
                .execute(conn)?;
        }
        Ok(())
    }
}

/// Overwrites an identity and replaces its children inside a transaction (`$c`); with
/// `$replace_credentials` false the stored credentials and identifiers stay as they are.
macro_rules! replace_rows {
    ($c:ident, $rows:expr, $replace_credentials:expr) => {{
        let n = diesel::update(
            identities::table
                .filter(identities::id.eq(&$rows.identity.id))
                .filter(identities::nid.eq(&$rows.identity.nid)),
        )
        .set(&$rows.identity)
        .execute($c)
        .await?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        let id = &$rows.identity.id;
        // A disabled identity's sessions end with it, in the same transaction, so enabling it
        // again does not bring them back (OWASP ASVS 7.4.2).
        if $rows.identity.state == "inactive" {
            diesel::update(
                sessions::table
                    .filter(sessions::identity_id.eq(id))
                    .filter(sessions::nid.eq(&$rows.identity.nid))
                    .filter(sessions::active.eq(true)),
            )
            .set(sessions::active.eq(false))
            .execute($c)
            .await?;
        }
        if $replace_credentials {
            diesel::delete(
                identity_credential_identifiers::table
                    .filter(identity_credential_identifiers::identity_id.eq(id)),
            )
            .execute($c)
            .await?;
            diesel::delete(
                identity_credentials::table.filter(identity_credentials::identity_id.eq(id)),
            )
            .execute($c)
            .await?;
        }
        diesel::delete(
            identity_verifiable_addresses::table
                .filter(identity_verifiable_addresses::identity_id.eq(id)),
        )
        .execute($c)
        .await?;
        diesel::delete(
            identity_recovery_addresses::table
                .filter(identity_recovery_addresses::identity_id.eq(id)),
        )
        .execute($c)
        .await?;
        if $replace_credentials {
            for cred in &$rows.credentials {
                diesel::insert_into(identity_credentials::table)
                    .values(cred)
                    .execute($c)
                    .await?;
            }
            for ident in &$rows.identifiers {
                diesel::insert_into(identity_credential_identifiers::table)
                    .values(ident)
                    .execute($c)
                    .await?;
            }
        }
        for a in &$rows.verifiable {
            diesel::insert_into(identity_verifiable_addresses::table)
                .values(a)
                .execute($c)
                .await?;
        }
        for a in &$rows.recovery {
            diesel::insert_into(identity_recovery_addresses::table)
                .values(a)
                .execute($c)
                .await?;
        }
    }};
}

/// Overwrites an identity and replaces all of its children. `credentials: None` keeps the
/// stored credentials and identifiers as they are.
pub async fn replace(
    store: &Store,
    rows: &IdentityRows,
    replace_credentials: bool,
) -> Result<(), StoreError> {
    with_tx!(store, |c| {
        replace_rows!(c, rows, replace_credentials);
        Ok(())
    })
}

/// What a settings submission writes to its flow row.
pub struct FlowSave<'a> {
    pub id: Uuid,
    /// The flow's `updated_at` as read; the save fails if it changed meanwhile.
    pub expected_updated_at: NaiveDateTime,
    pub state: &'a str,
    pub ui: &'a str,
    pub active_method: Option<&'a str>,
    pub updated_at: NaiveDateTime,
}

/// Saves a settings change in one transaction: the flow row (compare-and-set on its
/// `updated_at`, so two submissions of one flow cannot both apply) and the whole identity with
/// its credentials. Returns false, writing nothing, when the flow changed meanwhile.
pub async fn replace_with_flow(
    store: &Store,
    rows: &IdentityRows,
    flow: &FlowSave<'_>,
) -> Result<bool, StoreError> {
    let nid = DbId(store.nid());
    with_tx!(store, |c| {
        let n = diesel::update(
            selfservice_flows::table
                .filter(selfservice_flows::id.eq(DbId(flow.id)))
                .filter(selfservice_flows::nid.eq(&nid))
                .filter(selfservice_flows::updated_at.eq(flow.expected_updated_at)),
        )
        .set((
            selfservice_flows::state.eq(flow.state),
            selfservice_flows::ui.eq(flow.ui),
            selfservice_flows::active_method.eq(flow.active_method),
            selfservice_flows::updated_at.eq(flow.updated_at),
        ))
        .execute(c)
        .await?;
        if n == 0 {
            return Ok(false);
        }
        replace_rows!(c, rows, true);
        Ok(true)
    })
}

pub async fn delete(store: &Store, id: Uuid) -> Result<bool, StoreError> {
    let nid = DbId(store.nid());
    with_tx!(store, |c| {
        let n = diesel::delete(
            identities::table
                .filter(identities::id.eq(DbId(id)))
                .filter(identities::nid.eq(&nid)),
        )
        .execute(c)
        .await?;
        Ok(n > 0)
    })
}

/// Loads the children of a page of identities with one query per table.
macro_rules! load_children {
    ($c:ident, $nid:expr, $ids:expr, $with_credentials:expr) => {{
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
        let (credentials, identifiers) = if $with_credentials {
            let creds: Vec<CredentialRow> = identity_credentials::table
                .filter(identity_credentials::identity_id.eq_any($ids))
                .filter(identity_credentials::nid.eq($nid))
                .select(CredentialRow::as_select())
                .load($c)
                .await?;
            // Sorted here, not in SQL: an ORDER BY identifier lets SQLite's planner prefer the
            // (nid, identifier) index and walk every identifier of the network.
            let mut idents: Vec<IdentifierRow> = identity_credential_identifiers::table
                .filter(identity_credential_identifiers::identity_id.eq_any($ids))
                .filter(identity_credential_identifiers::nid.eq($nid))
                .select(IdentifierRow::as_select())
                .load($c)
                .await?;
            idents.sort_by(|a, b| a.identifier.cmp(&b.identifier));
            (creds, idents)
        } else {
            (Vec::new(), Vec::new())
        };
        (verifiable, recovery, credentials, identifiers)
    }};
}

fn assemble(
    rows: Vec<IdentityRow>,
    verifiable: Vec<VerifiableAddressRow>,
    recovery: Vec<RecoveryAddressRow>,
    credentials: Vec<CredentialRow>,
    identifiers: Vec<IdentifierRow>,
) -> Vec<IdentityRows> {
    use std::collections::HashMap;
    // Grouped once, so a page of n identities costs O(n), not O(n²).
    fn group<T>(items: Vec<T>, key: impl Fn(&T) -> DbId) -> HashMap<DbId, Vec<T>> {
        let mut m: HashMap<DbId, Vec<T>> = HashMap::new();
        for item in items {
            m.entry(key(&item)).or_default().push(item);
        }
        m
    }
    let mut verifiable = group(verifiable, |a| a.identity_id);
    let mut recovery = group(recovery, |a| a.identity_id);
    let mut credentials = group(credentials, |a| a.identity_id);
    let mut identifiers = group(identifiers, |a| a.identity_id);
    rows.into_iter()
        .map(|identity| IdentityRows {
            verifiable: verifiable.remove(&identity.id).unwrap_or_default(),
            recovery: recovery.remove(&identity.id).unwrap_or_default(),
            credentials: credentials.remove(&identity.id).unwrap_or_default(),
            identifiers: identifiers.remove(&identity.id).unwrap_or_default(),
            identity,
        })
        .collect()
}

/// The one identity `$filter` selects in network `$nid`, with its children, on connection `$c`.
macro_rules! load_one {
    ($c:ident, $nid:expr, $filter:expr, $with_credentials:expr) => {{
        let row: Option<IdentityRow> = identities::table
            .filter($filter)
            .filter(identities::nid.eq($nid))
            .select(IdentityRow::as_select())
            .first($c)
            .await
            .optional()?;
        match row {
            None => None,
            Some(row) => {
                let ids = vec![row.id];
                let (v, r, cr, idn) = load_children!($c, $nid, &ids, $with_credentials);
                assemble(vec![row], v, r, cr, idn).pop()
            }
        }
    }};
}

pub async fn get(
    store: &Store,
    id: Uuid,
    with_credentials: bool,
) -> Result<Option<IdentityRows>, StoreError> {
    let nid = DbId(store.nid());
    with_conn!(store, |c| {
        Ok(load_one!(
            c,
            &nid,
            identities::id.eq(DbId(id)),
            with_credentials
        ))
    })
}

/// The recovery address with this value (`via` = email/sms) and its identity (without
/// credentials), on one connection.
pub async fn by_recovery_address(
    store: &Store,
    via: &str,
    value: &str,
) -> Result<Option<(super::tokens::AddressRef, IdentityRows)>, StoreError> {
    let nid = DbId(store.nid());
    with_conn!(store, |c| {
        let address: Option<(DbId, DbId, String)> = identity_recovery_addresses::table
            .filter(identity_recovery_addresses::nid.eq(&nid))
            .filter(identity_recovery_addresses::via.eq(via))
            .filter(identity_recovery_addresses::value.eq(value))
            .select((
                identity_recovery_addresses::id,
                identity_recovery_addresses::identity_id,
                identity_recovery_addresses::value,
            ))
            .first(c)
            .await
            .optional()?;
        let Some(address) = address else {
            return Ok(None);
        };
        let identity = load_one!(c, &nid, identities::id.eq(address.1), false);
        Ok(identity.map(|rows| ((address.0.0, address.1.0, address.2), rows)))
    })
}

pub async fn get_by_external_id(
    store: &Store,
    external_id: &str,
    with_credentials: bool,
) -> Result<Option<IdentityRows>, StoreError> {
    let nid = DbId(store.nid());
    with_conn!(store, |c| {
        Ok(load_one!(
            c,
            &nid,
            identities::external_id.eq(external_id),
            with_credentials
        ))
    })
}

/// Keyset pagination by id: rows with `id > after`, ascending, at most `limit`.
pub async fn list(
    store: &Store,
    filter: &ListFilter,
    after: Option<Uuid>,
    limit: i64,
    with_credentials: bool,
) -> Result<Vec<IdentityRows>, StoreError> {
    let nid = DbId(store.nid());
    with_conn!(store, |c| {
        let mut q = identities::table
            .filter(identities::nid.eq(&nid))
            .select(IdentityRow::as_select())
            .order(identities::id.asc())
            .limit(limit)
            .into_boxed();
        if let Some(after) = after {
            q = q.filter(identities::id.gt(DbId(after)));
        }
        match filter {
            ListFilter::All => {}
            ListFilter::Ids(ids) => {
                q = q.filter(
                    identities::id.eq_any(ids.iter().copied().map(DbId).collect::<Vec<_>>()),
                )
            }
            ListFilter::CredentialsIdentifier {
                normalized,
                exact,
                normalized_types,
            } => {
                use identity_credential_identifiers as ici;
                q = q.filter(
                    identities::id.eq_any(
                        ici::table
                            .filter(ici::nid.eq(nid))
                            .filter(
                                ici::credential_type
                                    .eq_any(normalized_types.clone())
                                    .and(ici::identifier.eq(normalized.clone()))
                                    .or(ici::credential_type
                                        .ne_all(normalized_types.clone())
                                        .and(ici::identifier.eq(exact.clone()))),
                            )
                            .select(ici::identity_id),
                    ),
                )
            }
            ListFilter::IdentifierSimilar(prefix) => {
                let escaped = prefix
                    .replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_");
                q = q.filter(
                    identities::id.eq_any(
                        identity_credential_identifiers::table
                            .filter(identity_credential_identifiers::nid.eq(nid))
                            .filter(
                                identity_credential_identifiers::identifier
                                    .like(format!("{escaped}%"))
                                    .escape('\\'),
                            )
                            .select(identity_credential_identifiers::identity_id),
                    ),
                )
            }
        }
        let rows: Vec<IdentityRow> = q.load(c).await?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<DbId> = rows.iter().map(|r| r.id).collect();
        let (v, r, cr, idn) = load_children!(c, &nid, &ids, with_credentials);
        Ok(assemble(rows, v, r, cr, idn))
    })
}
