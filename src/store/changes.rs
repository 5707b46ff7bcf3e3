//! The change feed behind the whoami cache: which identities' sessions changed, on any node.
//!
//! Database triggers (migration `session_changes`) record every update or delete of sessions,
//! identities and their addresses, whoever wrote it, so no write path can forget to. How the
//! news travels differs per backend:
//! - PostgreSQL: the triggers `NOTIFY gatehouse_session_changes, '<identity id>'`; the feed is
//!   a dedicated connection (not from the pool) that `LISTEN`s. Notifications arrive at commit,
//!   in commit order. The connection is pinged every few seconds so a dead one is noticed.
//! - SQLite: the triggers append to `session_changes`; the feed polls past the last `seq` it
//!   saw every `SQLITE_POLL` and prunes rows older than a minute.
//!
//! A feed that fails is dropped by its owner, which also stops trusting the cache until a new
//! feed is open (see `session::cache`).

use std::time::{Duration, Instant};

use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use futures::{FutureExt, StreamExt};

use super::{Backend, Conn, Store, StoreError};

pub const PG_CHANNEL: &str = "gatehouse_session_changes";
/// How often SQLite is polled; bounds how stale another process's cache can be.
pub const SQLITE_POLL: Duration = Duration::from_millis(250);
/// The longest `next` waits on PostgreSQL before returning an empty batch.
const PG_WAIT: Duration = Duration::from_millis(500);
const PG_PING_EVERY: Duration = Duration::from_secs(5);
const PING_TIMEOUT: Duration = Duration::from_secs(3);
const PRUNE_EVERY: Duration = Duration::from_secs(30);
const BATCH: i64 = 1000;

pub enum ChangeFeed {
    Pg {
        conn: Box<AsyncPgConnection>,
        pinged: Instant,
    },
    Sqlite {
        store: Store,
        last: i64,
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

fn sqlite_conn(
    c: Conn,
) -> Result<
    bb8::PooledConnection<
        'static,
        diesel_async::pooled_connection::AsyncDieselConnectionManager<super::SqliteConn>,
    >,
    StoreError,
> {
    match c {
        Conn::Sqlite(c) => Ok(c),
        Conn::Pg(_) => Err(StoreError::Query("not a SQLite connection".into())),
    }
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
            Backend::Sqlite => {
                let mut c = sqlite_conn(store.conn().await?)?;
                let max: MaxSeq =
                    diesel::sql_query("SELECT COALESCE(MAX(seq), 0) AS seq FROM session_changes")
                        .get_result(&mut *c)
                        .await?;
                Ok(ChangeFeed::Sqlite {
                    store: store.clone(),
                    last: max.seq,
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
            ChangeFeed::Sqlite {
                store,
                last,
                pruned,
            } => {
                tokio::time::sleep(SQLITE_POLL).await;
                let rows: Vec<ChangeRow> = {
                    let mut c = sqlite_conn(store.conn().await?)?;
                    diesel::sql_query(
                        "SELECT seq, identity_id FROM session_changes WHERE seq > ? ORDER BY seq LIMIT ?",
                    )
                    .bind::<BigInt, _>(*last)
                    .bind::<BigInt, _>(BATCH)
                    .load(&mut *c)
                    .await?
                };
                if let Some(r) = rows.last() {
                    *last = r.seq;
                }
                if pruned.elapsed() >= PRUNE_EVERY {
                    *pruned = Instant::now();
                    let _guard = store.write_guard().await;
                    let mut c = sqlite_conn(store.conn().await?)?;
                    diesel::sql_query(
                        "DELETE FROM session_changes WHERE created_at < datetime('now', '-60 seconds')",
                    )
                    .execute(&mut *c)
                    .await?;
                }
                Ok(rows.into_iter().map(|r| r.identity_id).collect())
            }
        }
    }
}
