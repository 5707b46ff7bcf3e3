//! Embedded migrations, one folder per backend. diesel_migrations is synchronous, so it runs on
//! the blocking pool (through `AsyncConnectionWrapper` for PostgreSQL and MySQL).

use diesel::Connection;
use diesel::SqliteConnection;
use diesel::migration::MigrationSource;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::{AsyncMysqlConnection, AsyncPgConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use super::{Backend, StoreError};

const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const MYSQL: EmbeddedMigrations = embed_migrations!("migrations/mysql");

#[derive(Debug, Clone, Default)]
pub struct MigrationStatus {
    pub applied: Vec<String>,
    pub pending: Vec<String>,
}

fn mig_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Migration(e.to_string())
}

fn status_with<C>(conn: &mut C, src: EmbeddedMigrations) -> Result<MigrationStatus, StoreError>
where
    C: MigrationHarness<C::Backend> + Connection,
    EmbeddedMigrations: MigrationSource<C::Backend>,
{
    let applied: Vec<String> = conn
        .applied_migrations()
        .map_err(mig_err)?
        .into_iter()
        .map(|v| v.to_string())
        .collect();
    let pending = conn
        .pending_migrations(src)
        .map_err(mig_err)?
        .iter()
        .map(|m| m.name().version().to_string())
        .collect();
    Ok(MigrationStatus { applied, pending })
}

fn run_with<C>(conn: &mut C, src: EmbeddedMigrations) -> Result<Vec<String>, StoreError>
where
    C: MigrationHarness<C::Backend> + Connection,
    EmbeddedMigrations: MigrationSource<C::Backend>,
{
    Ok(conn
        .run_pending_migrations(src)
        .map_err(mig_err)?
        .into_iter()
        .map(|v| v.to_string())
        .collect())
}

pub async fn status(backend: Backend, url: &str) -> Result<MigrationStatus, StoreError> {
    let url = url.to_owned();
    tokio::task::spawn_blocking(move || match backend {
        Backend::Sqlite => {
            let mut c = SqliteConnection::establish(&url)
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            status_with(&mut c, SQLITE)
        }
        Backend::Postgres => {
            let mut c = AsyncConnectionWrapper::<AsyncPgConnection>::establish(&url)
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            status_with(&mut c, POSTGRES)
        }
        Backend::Mysql => {
            let mut c = AsyncConnectionWrapper::<AsyncMysqlConnection>::establish(&url)
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            status_with(&mut c, MYSQL)
        }
    })
    .await
    .map_err(mig_err)?
}

pub async fn run(backend: Backend, url: &str) -> Result<Vec<String>, StoreError> {
    let url = url.to_owned();
    tokio::task::spawn_blocking(move || match backend {
        Backend::Sqlite => {
            let mut c = SqliteConnection::establish(&url)
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            diesel::RunQueryDsl::execute(diesel::sql_query("PRAGMA busy_timeout = 10000"), &mut c)
                .map_err(mig_err)?;
            run_with(&mut c, SQLITE)
        }
        Backend::Postgres => {
            let mut c = AsyncConnectionWrapper::<AsyncPgConnection>::establish(&url)
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            run_with(&mut c, POSTGRES)
        }
        Backend::Mysql => {
            let mut c = AsyncConnectionWrapper::<AsyncMysqlConnection>::establish(&url)
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            run_with(&mut c, MYSQL)
        }
    })
    .await
    .map_err(mig_err)?
}

/// Versions the binary carries, in order.
pub fn expected_versions(backend: Backend) -> Vec<String> {
    fn versions<DB: diesel::backend::Backend>(src: &EmbeddedMigrations) -> Vec<String>
    where
        EmbeddedMigrations: MigrationSource<DB>,
    {
        MigrationSource::<DB>::migrations(src)
            .map(|ms| ms.iter().map(|m| m.name().version().to_string()).collect())
            .unwrap_or_default()
    }
    match backend {
        Backend::Sqlite => versions::<diesel::sqlite::Sqlite>(&SQLITE),
        Backend::Postgres => versions::<diesel::pg::Pg>(&POSTGRES),
        Backend::Mysql => versions::<diesel::mysql::Mysql>(&MYSQL),
    }
}
