//! Ids at the store boundary: every id column is text on every backend (see `schema`), typed
//! [`UuidText`] so that row structs and queries hold a [`DbId`] (a `Uuid`), never a string.
//! Written in the lowercase hyphenated form; a stored value that does not parse fails the query
//! with [`StoreError::BadId`](super::StoreError::BadId) naming the column, never a nil UUID.

use std::io::Write as _;

use diesel::deserialize::{self, FromSql};
use diesel::mysql::{Mysql, MysqlValue};
use diesel::pg::{Pg, PgValue};
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::SqlType;
use diesel::sqlite::{Sqlite, SqliteValue};
use uuid::Uuid;

/// A `TEXT` column that holds a UUID.
#[derive(Debug, Clone, Copy, Default, SqlType, diesel::query_builder::QueryId)]
#[diesel(sqlite_type(name = "Text"))]
#[diesel(postgres_type(oid = 25, array_oid = 1009))]
#[diesel(mysql_type(name = "String"))]
pub struct UuidText;

/// A stored id that is not a UUID; the store turns it into `StoreError::BadId`.
#[derive(Debug, thiserror::Error)]
#[error("stored id {0:?} is not a UUID")]
pub struct BadIdValue(pub String);

/// A UUID as row structs and queries hold it. (A newtype because `Uuid` is foreign to this
/// crate and diesel's blanket impls leave no room to bind it directly.)
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    diesel::expression::AsExpression,
    diesel::deserialize::FromSqlRow,
)]
#[diesel(sql_type = UuidText)]
pub struct DbId(pub Uuid);

impl From<Uuid> for DbId {
    fn from(id: Uuid) -> Self {
        DbId(id)
    }
}

impl From<DbId> for Uuid {
    fn from(id: DbId) -> Self {
        id.0
    }
}

impl std::fmt::Display for DbId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

fn parse(s: &str) -> deserialize::Result<DbId> {
    Uuid::parse_str(s)
        .map(DbId)
        .map_err(|_| Box::new(BadIdValue(s.to_owned())) as _)
}

impl FromSql<UuidText, Sqlite> for DbId {
    fn from_sql(mut value: SqliteValue<'_, '_, '_>) -> deserialize::Result<Self> {
        parse(value.read_text())
    }
}

impl FromSql<UuidText, Pg> for DbId {
    fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
        parse(std::str::from_utf8(value.as_bytes())?)
    }
}

impl FromSql<UuidText, Mysql> for DbId {
    fn from_sql(value: MysqlValue<'_>) -> deserialize::Result<Self> {
        parse(std::str::from_utf8(value.as_bytes())?)
    }
}

impl ToSql<UuidText, Sqlite> for DbId {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        out.set_value(self.0.hyphenated().to_string());
        Ok(IsNull::No)
    }
}

impl ToSql<UuidText, Pg> for DbId {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        let mut buf = Uuid::encode_buffer();
        out.write_all(self.0.hyphenated().encode_lower(&mut buf).as_bytes())?;
        Ok(IsNull::No)
    }
}

impl ToSql<UuidText, Mysql> for DbId {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Mysql>) -> serialize::Result {
        let mut buf = Uuid::encode_buffer();
        out.write_all(self.0.hyphenated().encode_lower(&mut buf).as_bytes())?;
        Ok(IsNull::No)
    }
}

#[cfg(test)]
mod tests {
    use diesel_async::RunQueryDsl;

    use super::super::identities::{self, ListFilter};
    use super::super::{Store, StoreError};
    use crate::with_conn;

    #[tokio::test]
    async fn a_corrupt_stored_id_is_reported_with_its_column() {
        let mut store = Store::connect("memory").await.unwrap();
        store.migrate().await.unwrap();
        store.init_network().await.unwrap();
        let insert = format!(
            "INSERT INTO identities (id, nid, schema_id, traits, state, created_at, updated_at) \
             VALUES ('not-a-uuid', '{}', 'default', '{{}}', 'active', CURRENT_TIMESTAMP, \
             CURRENT_TIMESTAMP)",
            store.nid()
        );
        let inserted: Result<usize, StoreError> = async {
            with_conn!(store, |c| Ok(diesel::sql_query(insert.as_str())
                .execute(c)
                .await?))
        }
        .await;
        inserted.unwrap();
        let err = identities::list(&store, &ListFilter::All, None, 10, false)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::BadId { column, value } if column == "id" && value == "not-a-uuid"),
            "{err:?}"
        );
    }
}
