//! Tenants: a tenant is a network (its id is the `networks` row's id) with a name, the URLs it
//! answers on and a configuration overlay. Unlike every other store module, these functions
//! name the network explicitly and never use `store.nid()`: they serve the registry of all
//! tenants, not one tenant's requests. No policy here: validating names, URLs and overlays is
//! the caller's.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::dsl::{count_star, max};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use super::id::{DbId, UuidText};
use super::identities::NewNetwork;
use super::schema::{identities, networks, tenants};
use super::{Backend, Store, StoreError};
use crate::{with_conn, with_tx};

/// One tenant, as the registry holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct TenantRow {
    /// The tenant's network id (NID).
    pub id: DbId,
    /// Operator-facing and unique (at most 64 characters, checked by the caller).
    pub name: String,
    /// The public base URL the tenant answers on.
    pub base_url: String,
    /// Further host names it answers on.
    pub hosts: Vec<String>,
    /// A JSON object overlaid on the process's kratos.yml.
    pub config: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The row as stored: the documents as text.
#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = tenants)]
struct Stored {
    id: DbId,
    name: String,
    base_url: String,
    hosts: String,
    config: String,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

impl Stored {
    fn from_row(row: &TenantRow) -> Stored {
        Stored {
            id: row.id,
            name: row.name.clone(),
            base_url: row.base_url.clone(),
            hosts: serde_json::Value::from(row.hosts.clone()).to_string(),
            config: row.config.to_string(),
            created_at: row.created_at.naive_utc(),
            updated_at: row.updated_at.naive_utc(),
        }
    }

    fn into_row(self) -> Result<TenantRow, StoreError> {
        let bad = |column: &str, value: String| StoreError::BadValue {
            column: column.to_owned(),
            value,
        };
        let hosts = match serde_json::from_str(&self.hosts) {
            Ok(h) => h,
            Err(_) => return Err(bad("hosts", self.hosts)),
        };
        let config = match serde_json::from_str(&self.config) {
            Ok(c) => c,
            Err(_) => return Err(bad("config", self.config)),
        };
        Ok(TenantRow {
            id: self.id,
            name: self.name,
            base_url: self.base_url,
            hosts,
            config,
            created_at: self.created_at.and_utc(),
            updated_at: self.updated_at.and_utc(),
        })
    }
}

/// Every table with a `nid` column, children before the parents their foreign keys name, so
/// deleting a network's rows in this order never trips a foreign key. (`session_changes`
/// carries identity ids only, and is pruned after a minute.)
pub const NID_TABLES: &[&str] = &[
    "session_activity",
    "session_devices",
    "sessions",
    "selfservice_tokens",
    "selfservice_flows",
    "selfservice_errors",
    "courier_message_dispatches",
    "courier_messages",
    "webhook_deliveries",
    "throttle_counters",
    "rate_limits",
    "admin_api_keys",
    "identity_credential_identifiers",
    "identity_credentials",
    "identity_verifiable_addresses",
    "identity_recovery_addresses",
    "identities",
];

/// What [`delete`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteOutcome {
    Deleted,
    NotFound,
    /// Not deleted: the network still has this many identities, and no purge was asked for.
    HasIdentities(i64),
}

/// Every tenant, by name.
pub async fn list(store: &Store) -> Result<Vec<TenantRow>, StoreError> {
    let rows: Vec<Stored> = with_conn!(store, |c| {
        Ok::<_, StoreError>(
            tenants::table
                .order(tenants::name.asc())
                .select(Stored::as_select())
                .load(c)
                .await?,
        )
    })?;
    rows.into_iter().map(Stored::into_row).collect()
}

/// Creates the tenant and its network in one transaction. A name or id already taken is
/// `StoreError::Conflict`.
pub async fn insert(store: &Store, row: &TenantRow) -> Result<(), StoreError> {
    let stored = Stored::from_row(row);
    with_tx!(store, |c| {
        diesel::insert_into(networks::table)
            .values(NewNetwork::at(stored.id.0, stored.created_at))
            .execute(c)
            .await?;
        diesel::insert_into(tenants::table)
            .values(&stored)
            .execute(c)
            .await?;
        Ok(())
    })
}

/// Rewrites the tenant's name, URLs, overlay and `updated_at` (not `created_at`); `false` when
/// there is no such tenant. A name taken by another tenant is `StoreError::Conflict`.
pub async fn update(store: &Store, row: &TenantRow) -> Result<bool, StoreError> {
    let stored = Stored::from_row(row);
    let n = with_tx!(store, |c| {
        Ok(
            diesel::update(tenants::table.filter(tenants::id.eq(stored.id)))
                .set((
                    tenants::name.eq(&stored.name),
                    tenants::base_url.eq(&stored.base_url),
                    tenants::hosts.eq(&stored.hosts),
                    tenants::config.eq(&stored.config),
                    tenants::updated_at.eq(stored.updated_at),
                ))
                .execute(c)
                .await?,
        )
    })?;
    Ok(n > 0)
}

/// Deletes the tenant, every row of its network and the network, in one transaction. Without
/// `purge` it refuses while the network has identities. The default network (the oldest) is
/// `StoreError::DefaultNetwork`, whether or not it has a tenant row.
///
/// Rows go by explicit deletes in [`NID_TABLES`] order rather than by the networks row's
/// cascade, so MySQL fires its `session_changes` triggers for them (its cascades fire none)
/// and every node drops the tenant's cached sessions.
pub async fn delete(store: &Store, id: Uuid, purge: bool) -> Result<DeleteOutcome, StoreError> {
    let backend = store.backend();
    let p = if backend == Backend::Postgres {
        "$1"
    } else {
        "?"
    };
    let lock = format!("SELECT id FROM networks WHERE id = {p} FOR UPDATE");
    let deletes: Vec<String> = NID_TABLES
        .iter()
        .map(|t| format!("DELETE FROM {t} WHERE nid = {p}"))
        .collect();
    let nid = DbId(id);
    with_tx!(store, |c| {
        let default: Option<DbId> = networks::table
            .select(networks::id)
            .order(networks::created_at.asc())
            .first(c)
            .await
            .optional()?;
        if default == Some(nid) {
            return Err(StoreError::DefaultNetwork);
        }
        // PostgreSQL and MySQL: the network's row lock holds off inserts under it (their
        // foreign key checks lock it shared), so the identity count stays true until commit.
        // SQLite: the writer lock already does.
        if backend != Backend::Sqlite {
            diesel::sql_query(lock.as_str())
                .bind::<UuidText, _>(nid)
                .execute(c)
                .await?;
        }
        let exists: Option<DbId> = tenants::table
            .filter(tenants::id.eq(nid))
            .select(tenants::id)
            .first(c)
            .await
            .optional()?;
        if exists.is_none() {
            return Ok(DeleteOutcome::NotFound);
        }
        if !purge {
            let n: i64 = identities::table
                .filter(identities::nid.eq(nid))
                .count()
                .get_result(c)
                .await?;
            if n > 0 {
                return Ok(DeleteOutcome::HasIdentities(n));
            }
        }
        for sql in &deletes {
            diesel::sql_query(sql.as_str())
                .bind::<UuidText, _>(nid)
                .execute(c)
                .await?;
        }
        diesel::delete(tenants::table.filter(tenants::id.eq(nid)))
            .execute(c)
            .await?;
        diesel::delete(networks::table.filter(networks::id.eq(nid)))
            .execute(c)
            .await?;
        Ok(DeleteOutcome::Deleted)
    })
}

/// How many tenants there are and when the latest change was: polled by every node on a timer,
/// one cheap query, to notice tenants created, updated or deleted elsewhere.
pub async fn fingerprint(store: &Store) -> Result<(i64, Option<DateTime<Utc>>), StoreError> {
    let (n, latest): (i64, Option<NaiveDateTime>) = with_conn!(store, |c| {
        Ok::<_, StoreError>(
            tenants::table
                .select((count_star(), max(tenants::updated_at)))
                .get_result(c)
                .await?,
        )
    })?;
    Ok((n, latest.map(|t| t.and_utc())))
}
