//! The change feed behind the whoami cache: which identities' sessions changed, on any node.
//!
//! Database triggers (migration `session_changes`) record every update or delete of sessions,
//! identities and their addresses, whoever wrote it, so no write path can forget to. How the
//! news travels differs per backend:
//! - PostgreSQL: the triggers `NOTIFY gatehouse_session_changes, '<identity id>'`; the feed is
//!   a dedicated connection (not from the pool) that `LISTEN`s. Notifications arrive at commit,
//!   in commit order. The connection is pinged every few seconds so a dead one is noticed.
//! - SQLite and MySQL: the triggers append to `session_changes`; the feed polls past the last
//!   `seq` it saw every `SQLITE_POLL` and prunes rows older than a minute. SQLite commits one
//!   writer at a time, so `seq` order is commit order there. On MySQL a transaction holding a
//!   lower `seq` can commit after a higher one was read, so the feed keeps reading from the first
//!   missing `seq` (skipping rows it already reported) until the gap fills, or for `GAP_WAIT`
//!   (a rolled-back insert leaves a gap for good).
//!
//! A feed that fails is dropped by its owner, which also stops trusting the cache until a new
//! feed is open (see `session::cache`).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use futures::{FutureExt, StreamExt};

use super::{Backend, Store, StoreError};
use crate::with_conn;

pub const PG_CHANNEL: &str = "gatehouse_session_changes";
/// How often SQLite and MySQL are polled; bounds how stale another process's cache can be.
pub const SQLITE_POLL: Duration = Duration::from_millis(250);
/// The longest `next` waits on PostgreSQL before returning an empty batch.
const PG_WAIT: Duration = Duration::from_millis(500);
const PG_PING_EVERY: Duration = Duration::from_secs(5);
const PING_TIMEOUT: Duration = Duration::from_secs(3);
const PRUNE_EVERY: Duration = Duration::from_secs(30);
const BATCH: i64 = 1000;
/// How long a missing `seq` may still be an uncommitted transaction's (MySQL); longer than any
/// write transaction of the server takes.
const GAP_WAIT: Duration = Duration::from_secs(10);

pub enum ChangeFeed {
    Pg {
        conn: Box<AsyncPgConnection>,
        pinged: Instant,
    },
    /// SQLite and MySQL: the change table, polled.
    Polled {
        store: Store,
        /// Every `seq` up to here was reported (or given up on).
        floor: i64,
        /// The `seq`s above `floor` already reported: non-empty while there is a gap.
        seen: BTreeSet<i64>,
        /// Since when the gap at `floor + 1` has been open.
        gap_since: Option<Instant>,
        pruned: Instant,
    },
}

#[derive(diesel::QueryableByName)]
struct ChangeRow {
    #[diesel(sql_type = BigInt)]
    seq: i64,
    #[diesel(sql_type = Text)]
    identity_id: String,
}

#[derive(diesel::QueryableByName)]
struct MaxSeq {
    #[diesel(sql_type = BigInt)]
    seq: i64,
}

impl ChangeFeed {
    /// Opens a feed that reports every change committed from now on.
    pub async fn open(store: &Store) -> Result<ChangeFeed, StoreError> {
        match store.backend() {
            Backend::Postgres => {
                let mut conn = AsyncPgConnection::establish(&store.url)
                    .await
                    .map_err(|e| StoreError::Unavailable(e.to_string()))?;
                conn.batch_execute(&format!("LISTEN {PG_CHANNEL}")).await?;
                Ok(ChangeFeed::Pg {
                    conn: Box::new(conn),
                    pinged: Instant::now(),
                })
            }
            Backend::Sqlite | Backend::Mysql => {
                let max: MaxSeq = with_conn!(store, |c| {
                    diesel::sql_query("SELECT COALESCE(MAX(seq), 0) AS seq FROM session_changes")
                        .get_result(c)
                        .await?
                });
                Ok(ChangeFeed::Polled {
                    store: store.clone(),
                    floor: max.seq,
                    seen: BTreeSet::new(),
                    gap_since: None,
                    pruned: Instant::now(),
                })
            }
        }
    }

    /// The identity ids changed since the previous call (possibly none, possibly repeated).
    /// Waits a little when there is nothing yet. An error means the feed is broken.
    pub async fn next(&mut self) -> Result<Vec<String>, StoreError> {
        match self {
            ChangeFeed::Pg { conn, pinged } => {
                let first = {
                    let mut stream = std::pin::pin!(conn.notifications_stream());
                    match tokio::time::timeout(PG_WAIT, stream.next()).await {
                        Err(_) => None,
                        Ok(None) => {
                            return Err(StoreError::Unavailable(
                                "the notification connection closed".into(),
                            ));
                        }
                        Ok(Some(n)) => {
                            let mut out = vec![n?.payload];
                            // Whatever else already arrived comes in the same batch.
                            while let Some(Some(n)) = stream.next().now_or_never() {
                                out.push(n?.payload);
                            }
                            Some(out)
                        }
                    }
                };
                if let Some(out) = first {
                    return Ok(out);
                }
                if pinged.elapsed() >= PG_PING_EVERY {
                    tokio::time::timeout(PING_TIMEOUT, conn.batch_execute("SELECT 1"))
                        .await
                        .map_err(|_| StoreError::Unavailable("ping timed out".into()))??;
                    *pinged = Instant::now();
                }
                Ok(Vec::new())
            }
            ChangeFeed::Polled {
                store,
                floor,
                seen,
                gap_since,
                pruned,
            } => {
                tokio::time::sleep(SQLITE_POLL).await;
                let rows: Vec<ChangeRow> = with_conn!(store, |c| {
                    diesel::sql_query(
                        "SELECT seq, identity_id FROM session_changes WHERE seq > ? ORDER BY seq LIMIT ?",
                    )
                    .bind::<BigInt, _>(*floor)
                    .bind::<BigInt, _>(BATCH)
                    .load(c)
                    .await?
                });
                let fresh: Vec<String> = rows
                    .into_iter()
                    .filter(|r| seen.insert(r.seq))
                    .map(|r| r.identity_id)
                    .collect();
                advance(floor, seen, gap_since);
                if pruned.elapsed() >= PRUNE_EVERY {
                    *pruned = Instant::now();
                    let prune = match store.backend() {
                        Backend::Mysql => {
                            "DELETE FROM session_changes WHERE created_at < NOW(6) - INTERVAL 60 SECOND"
                        }
                        _ => {
                            "DELETE FROM session_changes WHERE created_at < datetime('now', '-60 seconds')"
                        }
                    };
                    let _guard = store.write_guard().await;
                    with_conn!(store, |c| diesel::sql_query(prune).execute(c).await?);
                }
                Ok(fresh)
            }
        }
    }
}

/// Moves `floor` over the contiguous run of reported `seq`s, and over a gap that stayed open
/// for `GAP_WAIT`.
fn advance(floor: &mut i64, seen: &mut BTreeSet<i64>, gap_since: &mut Option<Instant>) {
    loop {
        while seen.remove(&(*floor + 1)) {
            *floor += 1;
            *gap_since = None;
        }
        let Some(&next) = seen.iter().next() else {
            *gap_since = None;
            return;
        };
        let since = *gap_since.get_or_insert_with(Instant::now);
        if since.elapsed() < GAP_WAIT {
            return;
        }
        *floor = next - 1;
        *gap_since = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_floor_waits_at_a_gap_then_gives_up_on_it() {
        let (mut floor, mut gap) = (10, None);
        let mut seen = BTreeSet::from([11, 12, 14]);
        advance(&mut floor, &mut seen, &mut gap);
        assert_eq!((floor, seen.len()), (12, 1));
        assert!(gap.is_some());
        // The late commit fills the gap.
        seen.insert(13);
        advance(&mut floor, &mut seen, &mut gap);
        assert_eq!((floor, seen.len(), gap), (14, 0, None));
        // A gap that never fills is skipped after GAP_WAIT.
        seen.insert(16);
        advance(&mut floor, &mut seen, &mut gap);
        assert_eq!(floor, 14);
        gap = Some(Instant::now() - GAP_WAIT);
        advance(&mut floor, &mut seen, &mut gap);
        assert_eq!((floor, seen.len(), gap), (16, 0, None));
    }
}
