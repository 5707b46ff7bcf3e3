//! Token buckets per client address, as GCRA's theoretical arrival time (TAT): one atomic
//! upsert takes a token or refuses, so nodes sharing the database share the buckets.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use diesel_async::RunQueryDsl;

use super::id::{DbId, UuidText};
use super::rate_limits_schema::rate_limits;
use super::{Backend, Store, StoreError};
use crate::with_conn;

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
fn take_sql(backend: Backend) -> String {
    let (p, max) = match backend {
        Backend::Postgres => ('$', "GREATEST"),
        Backend::Sqlite => ('?', "MAX"),
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
    let sql = take_sql(store.backend());
    let taken = with_conn!(store, |c| Ok::<_, StoreError>(
        diesel::sql_query(sql.as_str())
            .bind::<UuidText, _>(nid)
            .bind::<Text, _>(key)
            .bind::<BigInt, _>(now)
            .bind::<BigInt, _>(rule.interval)
            .bind::<BigInt, _>(rule.tolerance)
            .execute(c)
            .await?
    ))?;
    if taken > 0 {
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
