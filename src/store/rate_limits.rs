//! Token buckets per client address, as GCRA's theoretical arrival time (TAT): one atomic
//! upsert takes a token or refuses, so nodes sharing the database share the buckets.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use diesel_async::RunQueryDsl;

use super::id::{DbId, UuidText};
use super::rate_limits_schema::rate_limits;
use super::{Backend, Store, StoreError};
use crate::{with_conn, with_tx};

/// One bucket's rule in microseconds: a token every `interval`, at most `tolerance`
/// (burst × interval) of them ahead of now.
#[derive(Clone, Copy, Debug)]
pub struct Rule {
    pub interval: i64,
    pub tolerance: i64,
}

/// What taking a token found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Taken {
    Allowed,
    /// The bucket is empty; its TAT as stored, to tell the client when to come back.
    Limited {
        tat: i64,
    },
}

/// The upsert: a new key starts with one token taken; an existing one takes a token only if
/// `max(tat, now) + interval - tolerance <= now`; one row is written when a token was taken,
/// none when the bucket is empty. Binds, in order: nid, key, now, interval, tolerance.
/// (MySQL takes another route, see [`take_mysql`].)
fn take_sql(backend: Backend) -> String {
    let (p, max) = if backend == Backend::Postgres {
        ('$', "GREATEST")
    } else {
        ('?', "MAX")
    };
    format!(
        "INSERT INTO rate_limits (nid, client_key, tat) VALUES ({p}1, {p}2, {p}3 + {p}4) \
         ON CONFLICT (nid, client_key) DO UPDATE SET tat = {max}(rate_limits.tat, {p}3) + {p}4 \
         WHERE {max}(rate_limits.tat, {p}3) + {p}4 - {p}5 <= {p}3"
    )
}

/// Takes a token from `key`'s bucket at `now` (microseconds since the epoch).
pub async fn take(store: &Store, key: &str, now: i64, rule: Rule) -> Result<Taken, StoreError> {
    let nid = DbId(store.nid());
    let taken = if store.backend() == Backend::Mysql {
        take_mysql(store, nid, key, now, rule).await?
    } else {
        let sql = take_sql(store.backend());
        with_conn!(store, |c| Ok::<_, StoreError>(
            diesel::sql_query(sql.as_str())
                .bind::<UuidText, _>(nid)
                .bind::<Text, _>(key)
                .bind::<BigInt, _>(now)
                .bind::<BigInt, _>(rule.interval)
                .bind::<BigInt, _>(rule.tolerance)
                .execute(c)
                .await?
        ))? > 0
    };
    if taken {
        return Ok(Taken::Allowed);
    }
    // Refused: read the TAT only to compute Retry-After; a sweep in between means "now".
    let tat: Option<i64> = with_conn!(store, |c| Ok::<_, StoreError>(
        rate_limits::table
            .filter(rate_limits::nid.eq(&nid))
            .filter(rate_limits::client_key.eq(key))
            .select(rate_limits::tat)
            .first(c)
            .await
            .optional()?
    ))?;
    Ok(Taken::Limited {
        tat: tat.unwrap_or(now),
    })
}

/// MySQL's upsert cannot be conditional and its row count cannot tell "inserted" from "left
/// alone" (the driver counts matched rows), so: insert a new bucket unless one exists, else
/// take a token with a conditional UPDATE (whose WHERE sees the old TAT); either writes one row
/// exactly when a token was taken.
async fn take_mysql(
    store: &Store,
    nid: DbId,
    key: &str,
    now: i64,
    rule: Rule,
) -> Result<bool, StoreError> {
    with_tx!(store, |c| {
        let inserted = diesel::sql_query(
            "INSERT IGNORE INTO rate_limits (nid, client_key, tat) VALUES (?, ?, ?)",
        )
        .bind::<UuidText, _>(nid)
        .bind::<Text, _>(key)
        .bind::<BigInt, _>(now + rule.interval)
        .execute(c)
        .await?;
        if inserted > 0 {
            return Ok(true);
        }
        let updated = diesel::sql_query(
            "UPDATE rate_limits SET tat = GREATEST(tat, ?) + ? \
             WHERE nid = ? AND client_key = ? AND GREATEST(tat, ?) + ? - ? <= ?",
        )
        .bind::<BigInt, _>(now)
        .bind::<BigInt, _>(rule.interval)
        .bind::<UuidText, _>(nid)
        .bind::<Text, _>(key)
        .bind::<BigInt, _>(now)
        .bind::<BigInt, _>(rule.interval)
        .bind::<BigInt, _>(rule.tolerance)
        .bind::<BigInt, _>(now)
        .execute(c)
        .await?;
        Ok(updated > 0)
    })
}

/// Deletes up to `batch` buckets whose TAT is before `now`: they are full again, as good as
/// absent. The delete re-checks the TAT, so a bucket used meanwhile stays.
pub async fn delete_spent(store: &Store, now: i64, batch: i64) -> Result<usize, StoreError> {
    let nid = DbId(store.nid());
    with_conn!(store, |c| {
        let keys: Vec<String> = rate_limits::table
            .filter(rate_limits::nid.eq(&nid))
            .filter(rate_limits::tat.lt(now))
            .order(rate_limits::tat.asc())
            .limit(batch)
            .select(rate_limits::client_key)
            .load(c)
            .await?;
        if keys.is_empty() {
            return Ok(0);
        }
        let n = diesel::delete(
            rate_limits::table
                .filter(rate_limits::nid.eq(&nid))
                .filter(rate_limits::client_key.eq_any(&keys))
                .filter(rate_limits::tat.lt(now)),
        )
        .execute(c)
        .await?;
        Ok(n)
    })
}
