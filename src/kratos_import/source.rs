//! Reading a Kratos database: raw SQL in Kratos's column names, one page at a time in id order
//! (keyset pagination, so a page never repeats or skips a row however long the run takes).
//!
//! Every column is selected as text or as a 64-bit integer, whatever its Kratos type (UUID,
//! JSONB, BYTEA, TIMESTAMP, BOOLEAN), so the row structs below serve every backend; the
//! [`Dialect`] says how each backend spells those casts and its placeholders.

use diesel::sql_types::{BigInt, Nullable, Text};
use diesel::{QueryableByName, sql_query};
use diesel_async::{AsyncConnection, RunQueryDsl};

use crate::store::{Backend, MysqlConn, PgConn, SqliteConn, StoreError, parse_dsn};

/// How a backend spells the casts and placeholders the queries need.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
    /// MySQL and MariaDB: Kratos keeps UUIDs as CHAR(36), so ids compare as text.
    Mysql,
}

impl Dialect {
    /// A column as text (UUIDs, JSON documents, instants, bytes holding UTF-8).
    fn text(self, col: &str) -> String {
        match self {
            Dialect::Sqlite => format!("CAST({col} AS TEXT)"),
            Dialect::Postgres => format!("CAST({col} AS TEXT)"),
            Dialect::Mysql => format!("CAST({col} AS CHAR)"),
        }
    }

    /// A byte column holding UTF-8 (`courier_messages.template_data`).
    fn bytes_text(self, col: &str) -> String {
        match self {
            Dialect::Sqlite => format!("CAST({col} AS TEXT)"),
            Dialect::Postgres => format!("convert_from({col}, 'UTF8')"),
            // A BLOB cast to CHAR keeps the binary charset; CONVERT reads it as UTF-8 text.
            Dialect::Mysql => format!("CONVERT({col} USING utf8mb4)"),
        }
    }

    /// A boolean as 0 or 1 (go-sqlite3 writes 1/0; hand-made rows may say `true`).
    fn boolean(self, col: &str) -> String {
        match self {
            Dialect::Sqlite => {
                format!(
                    "CAST(CASE WHEN {col} IN (1, '1', 'true', 't', 'TRUE') THEN 1 ELSE 0 END AS BIGINT)"
                )
            }
            Dialect::Postgres => format!("CAST(CASE WHEN {col} THEN 1 ELSE 0 END AS BIGINT)"),
            // TINYINT(1): any non-zero value is true.
            Dialect::Mysql => format!("CAST(CASE WHEN {col} THEN 1 ELSE 0 END AS SIGNED)"),
        }
    }

    fn int(self, col: &str) -> String {
        match self {
            Dialect::Sqlite | Dialect::Postgres => format!("CAST({col} AS BIGINT)"),
            Dialect::Mysql => format!("CAST({col} AS SIGNED)"),
        }
    }

    /// `{col} > first placeholder`, compared in the column's own type.
    fn after(self, col: &str) -> String {
        match self {
            Dialect::Sqlite | Dialect::Mysql => format!("{col} > ?"),
            Dialect::Postgres => format!("{col} > CAST($1 AS UUID)"),
        }
    }

    fn limit(self) -> &'static str {
        match self {
            Dialect::Sqlite | Dialect::Mysql => "?",
            Dialect::Postgres => "$2",
        }
    }
}

/// One connection to the Kratos database (a reader needs no pool). SQLite is opened
/// read-only: the import never writes to Kratos's database.
#[allow(clippy::large_enum_variant)]
pub enum Source {
    Sqlite(SqliteConn),
    Pg(PgConn),
    Mysql(MysqlConn),
}

impl Source {
    pub async fn connect(dsn: &str) -> Result<Source, StoreError> {
        let parsed = parse_dsn(dsn)?;
        if parsed.in_memory {
            return Err(StoreError::InvalidDsn(
                "the Kratos database must be a file or a server, not memory".into(),
            ));
        }
        let err = |e: diesel::ConnectionError| StoreError::Unavailable(e.to_string());
        Ok(match parsed.backend {
            Backend::Sqlite => {
                let url = match parsed.url.split_once("?mode=") {
                    Some((path, _)) => format!("{path}?mode=ro"),
                    None => parsed.url.clone(),
                };
                Source::Sqlite(SqliteConn::establish(&url).await.map_err(err)?)
            }
            Backend::Postgres => Source::Pg(PgConn::establish(&parsed.url).await.map_err(err)?),
            Backend::Mysql => Source::Mysql(MysqlConn::establish(&parsed.url).await.map_err(err)?),
        })
    }

    pub fn dialect(&self) -> Dialect {
        match self {
            Source::Sqlite(_) => Dialect::Sqlite,
            Source::Pg(_) => Dialect::Postgres,
            Source::Mysql(_) => Dialect::Mysql,
        }
    }

    /// Runs `sql` with the keyset bounds bound (`after`, then `limit`).
    async fn page<T>(&mut self, sql: &str, after: &str, limit: i64) -> Result<Vec<T>, StoreError>
    where
        T: QueryableByName<diesel::sqlite::Sqlite>
            + QueryableByName<diesel::pg::Pg>
            + QueryableByName<diesel::mysql::Mysql>
            + Send
            + 'static,
    {
        let q = sql_query(sql)
            .bind::<Text, _>(after.to_owned())
            .bind::<BigInt, _>(limit);
        Ok(match self {
            Source::Sqlite(c) => q.load(c).await?,
            Source::Pg(c) => q.load(c).await?,
            Source::Mysql(c) => q.load(c).await?,
        })
    }

    /// Whether Kratos's database has `table` (older Kratos versions lack some).
    pub async fn has_table(&mut self, table: &str) -> Result<bool, StoreError> {
        #[derive(QueryableByName)]
        struct N {
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        let sql = match self.dialect() {
            Dialect::Sqlite => {
                "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = ?"
            }
            Dialect::Postgres => {
                "SELECT COUNT(*) AS n FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_name = $1"
            }
            Dialect::Mysql => {
                "SELECT COUNT(*) AS n FROM information_schema.tables \
                 WHERE table_schema = DATABASE() AND table_name = ?"
            }
        };
        let q = sql_query(sql).bind::<Text, _>(table.to_owned());
        let rows: Vec<N> = match self {
            Source::Sqlite(c) => q.load(c).await?,
            Source::Pg(c) => q.load(c).await?,
            Source::Mysql(c) => q.load(c).await?,
        };
        Ok(rows.iter().any(|r| r.n > 0))
    }
}

// The SQL types of the row fields, by what the page queries cast each column to.
type Txt = Text;
type Opt = Nullable<Text>;
type Bytes = Nullable<Text>;
type Flag = BigInt;
type Int = Nullable<BigInt>;

/// The lowest UUID: every page query starts after it.
pub const START: &str = "00000000-0000-0000-0000-000000000000";

/// Declares a Kratos row (every field text or an integer) and its page query.
macro_rules! kratos_rows {
    ($(
        $(#[$meta:meta])*
        struct $name:ident from $from:literal as $alias:literal {
            $($field:ident: $kind:ident $(= $expr:literal)?),* $(,)?
        }
    )*) => {$(
        $(#[$meta])*
        #[derive(Debug, Clone, QueryableByName)]
        pub struct $name {
            $(
                #[diesel(sql_type = $kind)]
                pub $field: kratos_rows!(@rust $kind),
            )*
        }

        impl $name {
            fn select(d: Dialect) -> String {
                let cols: Vec<String> = vec![$(
                    format!(
                        "{} AS {}",
                        kratos_rows!(@cast d, $kind, kratos_rows!(@col $alias, $field $(, $expr)?)),
                        stringify!($field)
                    )
                ),*];
                format!(
                    "SELECT {} FROM {} WHERE {} ORDER BY {}.id LIMIT {}",
                    cols.join(", "),
                    $from,
                    d.after(&format!("{}.id", $alias)),
                    $alias,
                    d.limit()
                )
            }

            /// The next page after `after` (an id), at most `limit` rows.
            pub async fn page(
                src: &mut Source,
                after: &str,
                limit: i64,
            ) -> Result<Vec<$name>, StoreError> {
                let sql = Self::select(src.dialect());
                src.page(&sql, after, limit).await
            }
        }
    )*};
    (@rust Txt) => { String };
    (@rust Opt) => { Option<String> };
    (@rust Bytes) => { Option<String> };
    (@rust Flag) => { i64 };
    (@rust Int) => { Option<i64> };
    (@col $alias:literal, $field:ident) => { format!("{}.{}", $alias, stringify!($field)) };
    (@col $alias:literal, $field:ident, $expr:literal) => { $expr.to_owned() };
    (@cast $d:ident, Txt, $c:expr) => { $d.text(&$c) };
    (@cast $d:ident, Opt, $c:expr) => { $d.text(&$c) };
    (@cast $d:ident, Bytes, $c:expr) => { $d.bytes_text(&$c) };
    (@cast $d:ident, Flag, $c:expr) => { $d.boolean(&$c) };
    (@cast $d:ident, Int, $c:expr) => { $d.int(&$c) };
}

kratos_rows! {
    /// `networks`.
    struct KNetwork from "networks n" as "n" {
        id: Txt,
        created_at: Txt,
        updated_at: Txt,
    }

    /// `identities`.
    struct KIdentity from "identities i" as "i" {
        id: Txt,
        nid: Opt,
        schema_id: Txt,
        traits: Txt,
        state: Opt,
        state_changed_at: Opt,
        metadata_public: Opt,
        metadata_admin: Opt,
        external_id: Opt,
        organization_id: Opt,
        available_aal: Opt,
        created_at: Txt,
        updated_at: Txt,
    }

    /// `identity_credentials` with its type's name.
    struct KCredential from "identity_credentials c \
        LEFT JOIN identity_credential_types t ON t.id = c.identity_credential_type_id" as "c" {
        id: Txt,
        nid: Opt,
        identity_id: Txt,
        type_name: Opt = "t.name",
        config: Txt,
        version: Int,
        created_at: Txt,
        updated_at: Txt,
    }

    /// `identity_credential_identifiers`, with the identity and type of its credential (older
    /// rows lack their own `identity_id`).
    struct KIdentifier from "identity_credential_identifiers x \
        JOIN identity_credentials c ON c.id = x.identity_credential_id \
        LEFT JOIN identity_credential_types t ON t.id = c.identity_credential_type_id" as "x" {
        id: Txt,
        nid: Opt,
        identity_credential_id: Txt,
        identity_id: Txt = "c.identity_id",
        type_name: Opt = "t.name",
        identifier: Txt,
        created_at: Txt,
        updated_at: Txt,
    }

    /// `identity_verifiable_addresses`.
    struct KVerifiable from "identity_verifiable_addresses a" as "a" {
        id: Txt,
        nid: Opt,
        identity_id: Txt,
        via: Txt,
        value: Txt,
        verified: Flag,
        verified_at: Opt,
        status: Txt,
        created_at: Txt,
        updated_at: Txt,
    }

    /// `identity_recovery_addresses`.
    struct KRecovery from "identity_recovery_addresses a" as "a" {
        id: Txt,
        nid: Opt,
        identity_id: Txt,
        via: Txt,
        value: Txt,
        created_at: Txt,
        updated_at: Txt,
    }

    /// `sessions` (Kratos keeps the tokens in clear).
    struct KSession from "sessions s" as "s" {
        id: Txt,
        nid: Opt,
        identity_id: Txt,
        token: Opt,
        active: Flag,
        aal: Opt,
        authentication_methods: Opt,
        issued_at: Txt,
        authenticated_at: Txt,
        expires_at: Txt,
        created_at: Txt,
        updated_at: Txt,
    }

    /// `session_devices`.
    struct KDevice from "session_devices d" as "d" {
        id: Txt,
        nid: Opt,
        session_id: Txt,
        ip_address: Opt,
        user_agent: Opt,
        location: Opt,
        created_at: Txt,
        updated_at: Txt,
    }

    /// `courier_messages` (`type` and `status` are Kratos's integers).
    struct KMessage from "courier_messages m" as "m" {
        id: Txt,
        nid: Opt,
        kind: Int = "m.type",
        status: Int,
        channel: Opt,
        recipient: Txt,
        subject: Txt,
        body: Txt,
        template_type: Opt,
        template_data: Bytes,
        send_count: Int,
        created_at: Txt,
        updated_at: Txt,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_queries_per_dialect() {
        let pg = KIdentifier::select(Dialect::Postgres);
        assert!(
            pg.contains("CAST(c.identity_id AS TEXT) AS identity_id"),
            "{pg}"
        );
        assert!(
            pg.contains("WHERE x.id > CAST($1 AS UUID) ORDER BY x.id LIMIT $2"),
            "{pg}"
        );
        let lite = KMessage::select(Dialect::Sqlite);
        assert!(lite.contains("CAST(m.type AS BIGINT) AS kind"), "{lite}");
        assert!(
            lite.contains("WHERE m.id > ? ORDER BY m.id LIMIT ?"),
            "{lite}"
        );
        let my = KMessage::select(Dialect::Mysql);
        assert!(my.contains("CAST(m.type AS SIGNED) AS kind"), "{my}");
        assert!(
            my.contains("CONVERT(m.template_data USING utf8mb4) AS template_data"),
            "{my}"
        );
        assert!(my.contains("WHERE m.id > ? ORDER BY m.id LIMIT ?"), "{my}");
        let my = KSession::select(Dialect::Mysql);
        assert!(
            my.contains("CAST(CASE WHEN s.active THEN 1 ELSE 0 END AS SIGNED) AS active"),
            "{my}"
        );
    }
}
