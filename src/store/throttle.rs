//! Failed sign-in attempt counters: one row per key, counted by one atomic upsert per failure,
//! so concurrent failures on any number of nodes all count. No policy here: the caller passes
//! the wait each count earns as timestamps, already computed.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Nullable, Text, Timestamp};
use diesel_async::RunQueryDsl;

use super::id::{DbId, UuidText};
use super::throttle_schema::throttle_counters as tc;
use super::{Backend, Store, StoreError};
use crate::with_conn;

/// One key's stored state.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = tc)]
pub struct CounterRow {
    pub key: String,
    pub failures: i32,
    pub first_failure_at: NaiveDateTime,
    pub last_failure_at: NaiveDateTime,
    pub locked_until: Option<NaiveDateTime>,
}

/// What one failure writes, with every outcome precomputed so the upsert decides atomically.
pub struct Failure<'a> {
    pub key: &'a str,
    pub now: NaiveDateTime,
    /// A row whose last failure is older than this starts again at one.
    pub stale_before: NaiveDateTime,
    /// A previous failure after this makes the new one "quick".
    pub quick_since: NaiveDateTime,
    /// Counts up to this cost nothing.
    pub free: i64,
    /// From this count on the key is locked until `lock_until`.
    pub lock_from: i64,
    pub lock_until: NaiveDateTime,
    /// The key waits until `waits[i]` at count `free + 1 + i` (the last one also beyond);
    /// after a quick failure until `quick_waits[i]`. Both non-empty and of equal length.
    pub waits: &'a [NaiveDateTime],
    pub quick_waits: &'a [NaiveDateTime],
}

#[cfg(test)]
mod tests {
    #[test]
    fn numbered_placeholders_become_positional() {
        let (sql, order) = super::positional("VALUES (?1, ?2, ?1) WHERE x = ?10 AND y = '?'");
        assert_eq!(sql, "VALUES (?, ?, ?) WHERE x = ? AND y = '?'");
        assert_eq!(order, vec![1, 2, 1, 10]);
    }
}

#[derive(QueryableByName)]
struct Counted {
    #[diesel(sql_type = Integer)]
    failures: i32,
    #[diesel(sql_type = Nullable<Timestamp>)]
    locked_until: Option<NaiveDateTime>,
}

/// The upsert: numbered placeholders, so each value is bound once and used where needed.
/// MySQL has neither numbered placeholders nor RETURNING nor a conflict target: there the
/// statement says `?N` (see [`positional`]) and assigns in an order where each assignment still
/// reads the old row (MySQL's assignments see the columns set before them); the row is read
/// back in the same transaction.
fn upsert_sql(backend: Backend, steps: usize) -> String {
    let p = |i: usize| match backend {
        Backend::Postgres => format!("${i}"),
        Backend::Sqlite | Backend::Mysql => format!("?{i}"),
    };
    let old = if backend == Backend::Mysql {
        ""
    } else {
        "tc_old."
    };
    // Binds: 1 nid, 2 key, 3 now, 4 stale_before, 5 quick_since, 6 lock_until, 7 lock_from,
    // 8 free, then `steps` waits, then `steps` quick waits.
    let ladder = |n: &str, first: usize| {
        if steps == 1 {
            return p(first);
        }
        let mut s = String::from("CASE");
        for i in 0..steps - 1 {
            s += &format!(" WHEN {n} = {} + {} THEN {}", p(8), i + 1, p(first + i));
        }
        s + &format!(" ELSE {} END", p(first + steps - 1))
    };
    let lock = |n: &str, quick: Option<&str>| {
        let mut s = format!(
            "CASE WHEN {n} >= {} THEN {} WHEN {n} <= {} THEN NULL",
            p(7),
            p(6),
            p(8)
        );
        if let Some(q) = quick {
            s += &format!(" WHEN {q} THEN {}", ladder(n, 9 + steps));
        }
        s + &format!(" ELSE {} END", ladder(n, 9))
    };
    let fresh = format!("{old}last_failure_at < {}", p(4));
    let n = format!("(CASE WHEN {fresh} THEN 1 ELSE {old}failures + 1 END)");
    let quick = format!(
        "{old}last_failure_at >= {} AND {old}last_failure_at > {}",
        p(4),
        p(5)
    );
    if backend == Backend::Mysql {
        return format!(
            "INSERT INTO throttle_counters \
             (nid, `key`, failures, first_failure_at, last_failure_at, locked_until) \
             VALUES ({p1}, {p2}, 1, {p3}, {p3}, {lock1}) \
             ON DUPLICATE KEY UPDATE locked_until = {lockn}, \
             first_failure_at = CASE WHEN {fresh} THEN {p3} ELSE first_failure_at END, \
             failures = {n}, last_failure_at = {p3}",
            p1 = p(1),
            p2 = p(2),
            p3 = p(3),
            lock1 = lock("1", None),
            lockn = lock(&n, Some(&quick)),
        );
    }
    format!(
        "INSERT INTO throttle_counters AS tc_old \
         (nid, key, failures, first_failure_at, last_failure_at, locked_until) \
         VALUES ({p1}, {p2}, 1, {p3}, {p3}, {lock1}) \
         ON CONFLICT (nid, key) DO UPDATE SET failures = {n}, \
         first_failure_at = CASE WHEN {fresh} THEN {p3} ELSE tc_old.first_failure_at END, \
         last_failure_at = {p3}, locked_until = {lockn} \
         RETURNING failures, locked_until",
        p1 = p(1),
        p2 = p(2),
        p3 = p(3),
        lock1 = lock("1", None),
        lockn = lock(&n, Some(&quick)),
    )
}

/// `?N` placeholders turned into plain `?`s, with the value number each one takes, in order.
fn positional(sql: &str) -> (String, Vec<usize>) {
    let mut out = String::with_capacity(sql.len());
    let mut order = Vec::new();
    let mut rest = sql;
    while let Some(at) = rest.find('?') {
        out.push_str(&rest[..=at]);
        rest = &rest[at + 1..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if let Ok(n) = rest[..digits].parse() {
            order.push(n);
        }
        rest = &rest[digits..];
    }
    out.push_str(rest);
    (out, order)
}

/// Counts one failure of `f.key`; returns the new count and when the key may try again.
pub async fn record_failure(
    store: &Store,
    f: &Failure<'_>,
) -> Result<(i32, Option<NaiveDateTime>), StoreError> {
    debug_assert!(!f.waits.is_empty() && f.waits.len() == f.quick_waits.len());
    let nid = DbId(store.nid());
    let sql = upsert_sql(store.backend(), f.waits.len());
    macro_rules! run {
        ($c:ident, $db:ty) => {{
            let mut q = diesel::sql_query(sql.clone())
                .into_boxed::<$db>()
                .bind::<UuidText, _>(nid)
                .bind::<Text, _>(f.key.to_owned())
                .bind::<Timestamp, _>(f.now)
                .bind::<Timestamp, _>(f.stale_before)
                .bind::<Timestamp, _>(f.quick_since)
                .bind::<Timestamp, _>(f.lock_until)
                .bind::<BigInt, _>(f.lock_from)
                .bind::<BigInt, _>(f.free);
            for t in f.waits.iter().chain(f.quick_waits) {
                q = q.bind::<Timestamp, _>(*t);
            }
            let row: Counted = q.get_result(&mut *$c).await?;
            Ok((row.failures, row.locked_until))
        }};
    }
    let _guard = store.write_guard().await;
    match store.conn().await? {
        super::Conn::Sqlite(mut c) => run!(c, diesel::sqlite::Sqlite),
        super::Conn::Pg(mut c) => run!(c, diesel::pg::Pg),
        super::Conn::Mysql(mut c) => {
            use diesel_async::AsyncConnection as _;
            let (sql, order) = positional(&sql);
            let waits: Vec<NaiveDateTime> = f.waits.iter().chain(f.quick_waits).copied().collect();
            c.transaction::<_, StoreError, _>(async |c| {
                let mut q = diesel::sql_query(sql.as_str()).into_boxed::<diesel::mysql::Mysql>();
                for i in order {
                    q = match i {
                        1 => q.bind::<UuidText, _>(nid),
                        2 => q.bind::<Text, _>(f.key),
                        3 => q.bind::<Timestamp, _>(f.now),
                        4 => q.bind::<Timestamp, _>(f.stale_before),
                        5 => q.bind::<Timestamp, _>(f.quick_since),
                        6 => q.bind::<Timestamp, _>(f.lock_until),
                        7 => q.bind::<BigInt, _>(f.lock_from),
                        8 => q.bind::<BigInt, _>(f.free),
                        i => q.bind::<Timestamp, _>(waits[i - 9]),
                    };
                }
                q.execute(c).await?;
                Ok(tc::table
                    .filter(tc::nid.eq(&nid))
                    .filter(tc::key.eq(f.key))
                    .select((tc::failures, tc::locked_until))
                    .first(c)
                    .await?)
            })
            .await
        }
    }
}

/// The stored state of `keys` (absent keys have no row).
pub async fn load(store: &Store, keys: &[String]) -> Result<Vec<CounterRow>, StoreError> {
    let nid = DbId(store.nid());
    with_conn!(store, |c| {
        Ok(tc::table
            .filter(tc::nid.eq(&nid))
            .filter(tc::key.eq_any(keys))
            .select(CounterRow::as_select())
            .load(c)
            .await?)
    })
}

/// Forgets `keys`; returns how many rows went.
pub async fn clear(store: &Store, keys: &[String]) -> Result<usize, StoreError> {
    let nid = DbId(store.nid());
    with_conn!(store, |c| {
        Ok(diesel::delete(
            tc::table
                .filter(tc::nid.eq(&nid))
                .filter(tc::key.eq_any(keys)),
        )
        .execute(c)
        .await?)
    })
}

/// Deletes the counters whose key starts with each prefix and whose last failure is older than
/// its cutoff (they count as zero already); returns how many went.
pub async fn delete_untouched(
    store: &Store,
    cutoffs: &[(&str, NaiveDateTime)],
) -> Result<usize, StoreError> {
    let nid = DbId(store.nid());
    let mut n = 0;
    for (prefix, before) in cutoffs {
        let pattern = format!("{prefix}%");
        n += with_conn!(store, |c| {
            Ok::<_, StoreError>(
                diesel::delete(
                    tc::table
                        .filter(tc::nid.eq(&nid))
                        .filter(tc::key.like(&pattern))
                        .filter(tc::last_failure_at.lt(*before)),
                )
                .execute(c)
                .await?,
            )
        })?;
    }
    Ok(n)
}
