//! Storage: connection pools, the portable diesel schema, row models and queries.
//!
//! One query code path serves every backend (SQLite, PostgreSQL, MySQL/MariaDB). diesel-async
//! has one connection type per backend,
//! so a pooled connection is an enum and [`with_conn!`]/[`with_tx!`] expand the same diesel code
//! once per variant. This module holds no policy: no expiry checks, no hashing.

pub mod api_keys;
pub mod api_keys_schema;
pub mod changes;
pub mod cleanup;
pub mod courier;
pub mod courier_schema;
pub mod credentials;
pub mod flow_schema;
pub mod flows;
pub mod id;
pub mod identities;
pub mod instrument;
pub mod kratos_import;
mod migrate;
pub mod models;
pub mod rate_limits;
pub mod rate_limits_schema;
pub mod schema;
pub mod session_schema;
pub mod sessions;
pub mod tenants;
pub mod text_enum;
pub mod throttle;
pub mod throttle_schema;
pub mod token_schema;
pub mod tokens;
pub mod webhook_schema;
pub mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use diesel::SqliteConnection;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::pooled_connection::bb8::Pool as Bb8Pool;
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig};
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use diesel_async::{
    AsyncConnection, AsyncMysqlConnection, AsyncPgConnection, SimpleAsyncConnection,
};
use futures::FutureExt;

pub use migrate::MigrationStatus;

/// SQLite runs behind diesel's sync connection, each query on the blocking pool.
pub type SqliteConn = SyncConnectionWrapper<SqliteConnection>;
/// PostgreSQL (and CockroachDB) through the pure-Rust tokio-postgres driver.
pub type PgConn = AsyncPgConnection;

/// MySQL 8 and MariaDB 10.11+ through the pure-Rust mysql_async driver.
pub type MysqlConn = AsyncMysqlConnection;

type SqlitePool = Bb8Pool<SqliteConn>;
type PgPool = Bb8Pool<PgConn>;
type MysqlPool = Bb8Pool<MysqlConn>;

/// Which database family a DSN names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    Mysql,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
            Backend::Mysql => "mysql",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A unique constraint rejected the write; the string names the constraint or the columns.
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Query(String),
    #[error("invalid DSN: {0}")]
    InvalidDsn(String),
    #[error("migration error: {0}")]
    Migration(String),
    /// A stored id is not a UUID: the row is corrupt, and the query fails rather than guess.
    #[error("stored id {value:?} in column {column} is not a UUID")]
    BadId { column: String, value: String },
    /// A stored enumerated value (an AAL, a credential type, …) is not one this build knows.
    #[error("stored value {value:?} in column {column} is not valid")]
    BadValue { column: String, value: String },
    /// The default network (the oldest, which the single-tenant configuration runs in) is never
    /// deleted.
    #[error("the default network cannot be deleted")]
    DefaultNetwork,
}

impl From<DieselError> for StoreError {
    fn from(e: DieselError) -> Self {
        match e {
            DieselError::NotFound => StoreError::NotFound,
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                StoreError::Conflict(
                    info.constraint_name()
                        .map(str::to_owned)
                        .unwrap_or_else(|| info.message().to_owned()),
                )
            }
            DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, info) => {
                StoreError::Unavailable(info.message().to_owned())
            }
            DieselError::DeserializationError(e) => bad_id(&*e).unwrap_or_else(|| {
                StoreError::Query(DieselError::DeserializationError(e).to_string())
            }),
            other => StoreError::Query(other.to_string()),
        }
    }
}

/// The `BadId` inside a deserialization error, with the column diesel names (raw SQL rows
/// loaded by name carry none).
fn bad_id(e: &(dyn std::error::Error + Send + Sync + 'static)) -> Option<StoreError> {
    use diesel::result::DeserializeFieldError;
    let (column, inner) = match e.downcast_ref::<DeserializeFieldError>() {
        Some(f) => (f.field_name.clone(), &*f.error),
        None => (None, e),
    };
    let id::BadIdValue(value) = inner.downcast_ref::<id::BadIdValue>()?;
    Some(StoreError::BadId {
        column: column.unwrap_or_else(|| "?".to_owned()),
        value: value.clone(),
    })
}

/// The pooled connection handed to one query block. Short-lived, one per query block, so the
/// size difference between the backends' connection types does not matter.
#[allow(clippy::large_enum_variant)]
pub enum Conn {
    Sqlite(bb8::PooledConnection<'static, AsyncDieselConnectionManager<SqliteConn>>),
    Pg(bb8::PooledConnection<'static, AsyncDieselConnectionManager<PgConn>>),
    Mysql(bb8::PooledConnection<'static, AsyncDieselConnectionManager<MysqlConn>>),
}

#[derive(Clone)]
enum Pool {
    Sqlite(SqlitePool),
    Pg(PgPool),
    Mysql(MysqlPool),
}

/// Pool usage for metrics and readiness.
#[derive(Clone, Copy, Debug, Default)]
pub struct PoolStats {
    pub max: u32,
    pub open: u32,
    pub idle: u32,
}

/// A handle on the database: cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: Pool,
    backend: Backend,
    /// The network (tenant) every query of this handle reads and writes; nil until
    /// `init_network` (the default network), another tenant's through `for_network`.
    nid: uuid::Uuid,
    /// The DSN the pool connects to, for migrations; never logged (it may hold a password).
    url: Arc<str>,
    /// SQLite allows one writer; serialising write transactions in-process keeps a deferred
    /// transaction from failing with SQLITE_BUSY when it upgrades to a writer. PostgreSQL: None.
    sqlite_writer: Option<Arc<tokio::sync::Mutex<()>>>,
    max_conns: u32,
}

/// What a Kratos DSN turns into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedDsn {
    pub backend: Backend,
    /// URL handed to the driver.
    pub url: String,
    pub in_memory: bool,
    pub max_conns: Option<u32>,
}

/// Accepts Kratos DSNs: `memory`, `sqlite://path?...`, `sqlite:///abs/path`, `file:...`,
/// `postgres://`, `postgresql://`, `cockroach://` (treated as PostgreSQL), and `mysql://` in
/// both the URL form and the Go driver's `user:pass@tcp(host:port)/db` form. Kratos's
/// pop-specific query parameters (`max_conns`, `max_idle_conns`, ...) are consumed here, not
/// passed on.
pub fn parse_dsn(dsn: &str) -> Result<ParsedDsn, StoreError> {
    let dsn = dsn.trim();
    if dsn == "memory" || dsn == "sqlite://:memory:" || dsn == "sqlite::memory:" {
        return Ok(ParsedDsn {
            backend: Backend::Sqlite,
            url: format!(
                "file:gatehouse-{}?mode=memory&cache=shared",
                uuid::Uuid::new_v4()
            ),
            in_memory: true,
            max_conns: None,
        });
    }
    let (scheme, rest) = dsn.split_once("://").ok_or_else(|| {
        StoreError::InvalidDsn("expected memory, sqlite://…, or postgres://…".into())
    })?;
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, q),
        None => (rest, ""),
    };
    let mut max_conns = None;
    let mut kept = Vec::new();
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "max_conns" => {
                max_conns = Some(v.parse::<u32>().map_err(|_| {
                    StoreError::InvalidDsn(format!("max_conns must be a number, got {v:?}"))
                })?)
            }
            "max_idle_conns" | "max_conn_lifetime" | "max_conn_idle_time" | "_fk" | "_journal"
            | "_busy_timeout" | "_txlock" => {}
            _ => kept.push((k.into_owned(), v.into_owned())),
        }
    }
    match scheme {
        "sqlite" | "sqlite3" | "file" => {
            if path.is_empty() {
                return Err(StoreError::InvalidDsn("sqlite DSN has no file path".into()));
            }
            let mode = kept
                .iter()
                .find(|(k, _)| k == "mode")
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| "rwc".into());
            let in_memory = mode == "memory" || path == ":memory:";
            let url = if in_memory {
                format!(
                    "file:gatehouse-{}?mode=memory&cache=shared",
                    uuid::Uuid::new_v4()
                )
            } else {
                format!("file:{path}?mode={mode}")
            };
            Ok(ParsedDsn {
                backend: Backend::Sqlite,
                url,
                in_memory,
                max_conns,
            })
        }
        "postgres" | "postgresql" | "cockroach" | "cockroachdb" => {
            let mut url = format!("postgres://{path}");
            if !kept.is_empty() {
                let q: String = form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(kept.iter())
                    .finish();
                url.push('?');
                url.push_str(&q);
            }
            Ok(ParsedDsn {
                backend: Backend::Postgres,
                url,
                in_memory: false,
                max_conns,
            })
        }
        "mysql" => Ok(ParsedDsn {
            backend: Backend::Mysql,
            url: mysql_url(path, &kept)?,
            in_memory: false,
            max_conns,
        }),
        other => Err(StoreError::InvalidDsn(format!(
            "unknown database scheme {other:?}"
        ))),
    }
}

/// mysql_async's own URL parameters; any other (the Go driver's `parseTime`, `charset`,
/// `loc`, `multiStatements`, timeouts, ...) is dropped, as mysql_async refuses unknown ones. It
/// always reads DATETIME as time, in UTC, in utf8mb4, which is what those ask the Go driver for.
const MYSQL_PARAMS: &[&str] = &[
    "pool_min",
    "pool_max",
    "inactive_connection_ttl",
    "ttl_check_interval",
    "conn_ttl",
    "abs_conn_ttl",
    "abs_conn_ttl_jitter",
    "tcp_keepalive",
    "max_allowed_packet",
    "wait_timeout",
    "reset_connection",
    "tcp_nodelay",
    "prefer_socket",
    "socket",
    "compression",
];

/// The driver URL of a `mysql://` DSN (after `mysql://`, without the query): the Go form's
/// `tcp(host:port)` becomes the host, `unix(/path)` a `socket` parameter.
fn mysql_url(path: &str, params: &[(String, String)]) -> Result<String, StoreError> {
    let (auth, rest) = match path.rsplit_once('@') {
        Some((a, r)) => (format!("{a}@"), r),
        None => (String::new(), path),
    };
    let mut extra = Vec::new();
    let rest = if let Some(r) = rest.strip_prefix("tcp(") {
        let (host, tail) = r
            .split_once(')')
            .ok_or_else(|| StoreError::InvalidDsn("mysql DSN: unclosed tcp(".into()))?;
        format!("{host}{tail}")
    } else if let Some(r) = rest.strip_prefix("unix(") {
        let (sock, tail) = r
            .split_once(')')
            .ok_or_else(|| StoreError::InvalidDsn("mysql DSN: unclosed unix(".into()))?;
        extra.push(("socket".to_owned(), sock.to_owned()));
        format!("localhost{tail}")
    } else {
        rest.to_owned()
    };
    for (k, v) in params {
        // No TLS in this build's MySQL driver: refuse rather than connect in clear.
        let tls_off = matches!(v.as_str(), "false" | "0" | "skip-verify" | "preferred");
        if (k == "tls" && !tls_off) || k == "require_ssl" {
            return Err(StoreError::InvalidDsn(
                "TLS to MySQL is not supported; use a TLS tunnel or a local socket".into(),
            ));
        }
        if MYSQL_PARAMS.contains(&k.as_str()) {
            extra.push((k.clone(), v.clone()));
        }
    }
    let mut url = format!("mysql://{auth}{rest}");
    if !extra.is_empty() {
        url.push('?');
        url.push_str(
            &form_urlencoded::Serializer::new(String::new())
                .extend_pairs(extra.iter())
                .finish(),
        );
    }
    Ok(url)
}

/// Every MySQL connection runs READ COMMITTED, PostgreSQL's level: InnoDB's default
/// (REPEATABLE READ) takes gap locks on the range scans of inserts and compare-and-set
/// updates, and two concurrent sign-ups would deadlock (error 1213) where PostgreSQL waits.
const MYSQL_SETUP: &str = "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED";

/// `temp_store = MEMORY`: savepoint journals and sort b-trees stay off the disk (a batch import
/// opens a savepoint per identity).
const SQLITE_PRAGMAS: &str = "PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; \
     PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA temp_store = MEMORY;";

impl Store {
    /// Opens a pool. Connections are made lazily except one, so a wrong DSN fails here.
    pub async fn connect(dsn: &str) -> Result<Store, StoreError> {
        instrument::install();
        let parsed = parse_dsn(dsn)?;
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2) as u32;
        let (pool, writer, max_conns) = match parsed.backend {
            Backend::Sqlite => {
                let in_memory = parsed.in_memory;
                let mut cfg = ManagerConfig::<SqliteConn>::default();
                cfg.custom_setup = Box::new(move |url| {
                    let url = url.to_owned();
                    async move {
                        let mut c = SqliteConn::establish(&url).await?;
                        let pragmas = if in_memory {
                            "PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;"
                        } else {
                            SQLITE_PRAGMAS
                        };
                        c.batch_execute(pragmas)
                            .await
                            .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                        Ok(c)
                    }
                    .boxed()
                });
                let mgr = AsyncDieselConnectionManager::<SqliteConn>::new_with_config(
                    parsed.url.clone(),
                    cfg,
                );
                // A shared-cache in-memory database vanishes with its last connection, so one
                // stays open; it also locks per table, so it gets a single connection.
                let max = if in_memory {
                    1
                } else {
                    parsed.max_conns.unwrap_or(4 * cores).max(2)
                };
                let pool = bb8::Pool::builder()
                    .max_size(max)
                    .min_idle(Some(1))
                    .connection_timeout(Duration::from_secs(10))
                    .build(mgr)
                    .await
                    .map_err(|e| StoreError::Unavailable(e.to_string()))?;
                (
                    Pool::Sqlite(pool),
                    Some(Arc::new(tokio::sync::Mutex::new(()))),
                    max,
                )
            }
            Backend::Postgres => {
                let mgr = AsyncDieselConnectionManager::<PgConn>::new(parsed.url.clone());
                let max = parsed.max_conns.unwrap_or(4 * cores).max(2);
                let pool = bb8::Pool::builder()
                    .max_size(max)
                    .connection_timeout(Duration::from_secs(5))
                    .build(mgr)
                    .await
                    .map_err(|e| StoreError::Unavailable(e.to_string()))?;
                (Pool::Pg(pool), None, max)
            }
            Backend::Mysql => {
                let mut cfg = ManagerConfig::<MysqlConn>::default();
                cfg.custom_setup = Box::new(|url| {
                    let url = url.to_owned();
                    async move {
                        let mut c = MysqlConn::establish(&url).await?;
                        c.batch_execute(MYSQL_SETUP)
                            .await
                            .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                        Ok(c)
                    }
                    .boxed()
                });
                let mgr = AsyncDieselConnectionManager::<MysqlConn>::new_with_config(
                    parsed.url.clone(),
                    cfg,
                );
                let max = parsed.max_conns.unwrap_or(4 * cores).max(2);
                let pool = bb8::Pool::builder()
                    .max_size(max)
                    .connection_timeout(Duration::from_secs(5))
                    .build(mgr)
                    .await
                    .map_err(|e| StoreError::Unavailable(e.to_string()))?;
                (Pool::Mysql(pool), None, max)
            }
        };
        let store = Store {
            pool,
            backend: parsed.backend,
            nid: uuid::Uuid::nil(),
            url: Arc::from(parsed.url.as_str()),
            sqlite_writer: writer,
            max_conns,
        };
        // Fail fast on an unreachable database.
        store.conn().await?;
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The network (tenant) every query through this handle is scoped to.
    pub fn nid(&self) -> uuid::Uuid {
        self.nid
    }

    /// The same database, scoped to network `nid`: each tenant's dependencies hold one.
    pub fn for_network(&self, nid: uuid::Uuid) -> Store {
        Store {
            nid,
            ..self.clone()
        }
    }

    /// Checks out a connection (bounded wait).
    pub async fn conn(&self) -> Result<Conn, StoreError> {
        match &self.pool {
            Pool::Sqlite(p) => p
                .get_owned()
                .await
                .map(Conn::Sqlite)
                .map_err(|e| StoreError::Unavailable(e.to_string())),
            Pool::Pg(p) => p
                .get_owned()
                .await
                .map(Conn::Pg)
                .map_err(|e| StoreError::Unavailable(e.to_string())),
            Pool::Mysql(p) => p
                .get_owned()
                .await
                .map(Conn::Mysql)
                .map_err(|e| StoreError::Unavailable(e.to_string())),
        }
    }

    /// Held for the length of a write transaction (SQLite only; see `sqlite_writer`).
    pub async fn write_guard(&self) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        match &self.sqlite_writer {
            Some(m) => Some(m.clone().lock_owned().await),
            None => None,
        }
    }

    pub fn pool_stats(&self) -> PoolStats {
        let state = match &self.pool {
            Pool::Sqlite(p) => p.state(),
            Pool::Pg(p) => p.state(),
            Pool::Mysql(p) => p.state(),
        };
        PoolStats {
            max: self.max_conns,
            open: state.connections,
            idle: state.idle_connections,
        }
    }

    /// A cheap round trip, for readiness.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let fut = async {
            match self.conn().await? {
                Conn::Sqlite(mut c) => c.batch_execute("SELECT 1").await?,
                Conn::Pg(mut c) => c.batch_execute("SELECT 1").await?,
                Conn::Mysql(mut c) => c.batch_execute("SELECT 1").await?,
            }
            Ok::<_, StoreError>(())
        };
        tokio::time::timeout(Duration::from_secs(3), fut)
            .await
            .map_err(|_| StoreError::Unavailable("ping timed out".into()))?
    }

    /// Pending and applied migrations.
    pub async fn migration_status(&self) -> Result<MigrationStatus, StoreError> {
        migrate::status(self.backend, &self.url).await
    }

    /// Applies pending migrations; returns the versions applied.
    pub async fn migrate(&self) -> Result<Vec<String>, StoreError> {
        migrate::run(self.backend, &self.url).await
    }

    /// Resolves the network id: the oldest row of `networks`, created on first start.
    pub async fn init_network(&mut self) -> Result<(), StoreError> {
        let nid = identities::ensure_network(self).await?;
        self.nid = nid;
        Ok(())
    }
}

/// Runs `$body` with `$c` bound to a `&mut` backend connection; the body is compiled once per
/// backend. Evaluates to the body's value; the body returns `Result<_, StoreError>`.
#[macro_export]
macro_rules! with_conn {
    ($store:expr, |$c:ident| $body:expr) => {{
        match $store.conn().await? {
            $crate::store::Conn::Sqlite(mut __conn) => {
                let $c: &mut $crate::store::SqliteConn = &mut *__conn;
                $body
            }
            $crate::store::Conn::Pg(mut __conn) => {
                let $c: &mut $crate::store::PgConn = &mut *__conn;
                $body
            }
            $crate::store::Conn::Mysql(mut __conn) => {
                let $c: &mut $crate::store::MysqlConn = &mut *__conn;
                $body
            }
        }
    }};
}

/// The claim statement of a leased work queue (`courier_messages`, `webhook_deliveries`): moves
/// up to a limit of due rows — `queued`, or `processing` with a lapsed lease — to `processing`
/// under one claim id and lease, counting an attempt in `attempts_column`. PostgreSQL and MySQL
/// select the candidates `FOR UPDATE SKIP LOCKED`, so concurrent claimers take disjoint rows;
/// SQLite serialises claimers on its writer lock, and the outer predicate re-checks the status.
/// The queue's own status texts are passed in (`[queued, processing]`), from its status enum.
/// Claims take due rows of every network (every node serves every tenant; each row keeps its
/// `nid`, and its delivery runs with that network's configuration).
/// Binds, in order: lease_until, claim_id, now, now, now, limit, now.
pub(crate) fn lease_claim_sql(
    table: &str,
    attempts_column: &str,
    [queued, processing]: [&str; 2],
    backend: Backend,
) -> String {
    let pg = backend == Backend::Postgres;
    let mut n = 0;
    let mut p = || {
        n += 1;
        if pg { format!("${n}") } else { "?".to_owned() }
    };
    let (p1, p2, p3, p5, p6, p7, p8) = (p(), p(), p(), p(), p(), p(), p());
    let due = |at: &str| {
        format!("(status = '{queued}' OR (status = '{processing}' AND claimed_until < {at}))")
    };
    let candidates = format!(
        "SELECT id FROM {table} WHERE next_attempt_at <= {p5} \
         AND {} ORDER BY next_attempt_at, id LIMIT {p7}{}",
        due(&p6),
        if backend == Backend::Sqlite {
            ""
        } else {
            " FOR UPDATE SKIP LOCKED"
        },
    );
    let set = format!(
        "status = '{processing}', claimed_until = {p1}, claim_id = {p2}, \
         {attempts_column} = {attempts_column} + 1, updated_at = {p3}"
    );
    // MySQL refuses a subquery on the table being updated, and LIMIT inside `IN (…)`, but
    // takes both from a derived table (materialised first, its row locks included).
    let candidates = if backend == Backend::Mysql {
        format!("SELECT id FROM ({candidates}) AS candidates")
    } else {
        candidates
    };
    format!(
        "UPDATE {table} SET {set} WHERE id IN ({candidates}) AND {}",
        due(&p8)
    )
}

/// Like [`with_conn!`] inside one write transaction; `$body` is an async block's contents and
/// must evaluate to `Result<T, StoreError>`. Any error rolls everything back.
#[macro_export]
macro_rules! with_tx {
    ($store:expr, |$c:ident| $body:expr) => {{
        use diesel_async::AsyncConnection as _;
        let __guard = $store.write_guard().await;
        let __res = match $store.conn().await? {
            $crate::store::Conn::Sqlite(mut __conn) => {
                __conn
                    .transaction::<_, $crate::store::StoreError, _>(async |$c| $body)
                    .await
            }
            $crate::store::Conn::Pg(mut __conn) => {
                __conn
                    .transaction::<_, $crate::store::StoreError, _>(async |$c| $body)
                    .await
            }
            $crate::store::Conn::Mysql(mut __conn) => {
                __conn
                    .transaction::<_, $crate::store::StoreError, _>(async |$c| $body)
                    .await
            }
        };
        drop(__guard);
        __res
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kratos_dsns() {
        let d = parse_dsn("sqlite:///var/lib/sqlite/db.sqlite?_fk=true&mode=rwc").unwrap();
        assert_eq!(d.backend, Backend::Sqlite);
        assert_eq!(d.url, "file:/var/lib/sqlite/db.sqlite?mode=rwc");
        let d = parse_dsn("memory").unwrap();
        assert!(d.in_memory);
        let d = parse_dsn("cockroach://root@db:26257/kratos?sslmode=disable&max_conns=20").unwrap();
        assert_eq!(d.backend, Backend::Postgres);
        assert_eq!(d.url, "postgres://root@db:26257/kratos?sslmode=disable");
        assert_eq!(d.max_conns, Some(20));
        // Kratos's MySQL DSN is the Go driver's: `tcp(host:port)`, and its parameters dropped.
        let d = parse_dsn(
            "mysql://kratos:s%40cret@tcp(db:3306)/kratos?parseTime=true&multiStatements=true\
             &max_conns=20&max_idle_conns=4&max_conn_lifetime=10s&tcp_nodelay=true",
        )
        .unwrap();
        assert_eq!(d.backend, Backend::Mysql);
        assert_eq!(
            d.url,
            "mysql://kratos:s%40cret@db:3306/kratos?tcp_nodelay=true"
        );
        assert_eq!(d.max_conns, Some(20));
        let d = parse_dsn("mysql://root@127.0.0.1:3307/kratos?parseTime=true").unwrap();
        assert_eq!(d.url, "mysql://root@127.0.0.1:3307/kratos");
        let d = parse_dsn("mysql://root@unix(/run/mysqld/mysqld.sock)/kratos").unwrap();
        assert_eq!(
            d.url,
            "mysql://root@localhost/kratos?socket=%2Frun%2Fmysqld%2Fmysqld.sock"
        );
        assert!(parse_dsn("mysql://root@tcp(db:3306/kratos").is_err());
        assert!(parse_dsn("mysql://root@db/kratos?tls=true").is_err());
        assert!(parse_dsn("mysql://root@db/kratos?tls=false").is_ok());
        assert!(parse_dsn("nonsense").is_err());
        assert!(parse_dsn("oracle://x").is_err());
    }
}

#[derive(diesel::QueryableByName)]
struct AppliedVersion {
    #[diesel(sql_type = diesel::sql_types::Text)]
    version: String,
}

impl Store {
    /// Migrations the binary has that the database lacks, checked over a pooled connection
    /// (cheap enough for every readiness probe).
    pub async fn pending_migrations(&self) -> Result<Vec<String>, StoreError> {
        use diesel_async::RunQueryDsl;
        let q = || diesel::sql_query("SELECT version FROM __diesel_schema_migrations");
        let applied: Result<Vec<AppliedVersion>, StoreError> = with_conn!(self, |c| {
            q().load::<AppliedVersion>(c)
                .await
                .map_err(StoreError::from)
        });
        let applied: Vec<String> = match applied {
            Ok(v) => v.into_iter().map(|v| v.version).collect(),
            // No bookkeeping table yet: nothing is applied.
            Err(StoreError::Query(m))
                if m.contains("no such table")
                    || m.contains("does not exist")
                    || m.contains("doesn't exist") =>
            {
                Vec::new()
            }
            Err(e) => return Err(e),
        };
        Ok(migrate::expected_versions(self.backend)
            .into_iter()
            .filter(|v| !applied.contains(v))
            .collect())
    }
}
