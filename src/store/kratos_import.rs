//! Writes for `migrate from-kratos`: insert-if-absent by primary key, a batch per transaction,
//! so a run can be repeated or resumed and copies nothing twice. A batch that another constraint
//! refuses (an identifier some other identity already holds, a parent that is missing) is
//! replayed row by row, and each row that still fails is reported with the database's reason.

use chrono::{NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use super::courier::MessageRow;
use super::courier_schema::courier_messages;
use super::id::DbId;
use super::models::{
    CredentialRow, IdentifierRow, IdentityRow, RecoveryAddressRow, VerifiableAddressRow,
};
use super::schema::*;
use super::session_schema::{session_devices, sessions};
use super::sessions::{DeviceRow, SessionRow};
use super::{MysqlConn, PgConn, SqliteConn, Store, StoreError};
use crate::{with_conn, with_tx};

/// Rows per multi-row INSERT: the widest row (identities, 13 columns) stays far below both
/// backends' bind-parameter limits.
const CHUNK: usize = 1000;

/// What one batch did: rows inserted, rows already there, and rows refused with the reason.
#[derive(Debug, Default)]
pub struct BatchOutcome {
    pub copied: usize,
    pub skipped: usize,
    pub refused: Vec<(Uuid, String)>,
}

/// A row the import writes, keyed by its id.
pub trait ImportRow {
    fn row_id(&self) -> Uuid;
}

macro_rules! import_row {
    ($($row:ty),*) => {$(
        impl ImportRow for $row {
            fn row_id(&self) -> Uuid {
                self.id.0
            }
        }
    )*};
}
import_row!(
    IdentityRow,
    CredentialRow,
    IdentifierRow,
    VerifiableAddressRow,
    RecoveryAddressRow,
    SessionRow,
    DeviceRow,
    MessageRow
);

/// Defines, for one table, `insert_absent` (the batch in one transaction, or row by row when
/// the batch fails) and `existing` (which of some ids are present, for `--dry-run`).
macro_rules! table_ops {
    ($module:ident, $table:ident, $row:ty) => {
        pub mod $module {
            use super::*;

            /// A batch insert-if-absent in the connection's best form: one multi-row INSERT
            /// per chunk on PostgreSQL, a statement per row on SQLite (diesel-async has no
            /// multi-row INSERT … ON CONFLICT there).
            trait InsertRows {
                async fn insert_rows(&mut self, rows: &[$row]) -> QueryResult<usize>;
            }

            impl InsertRows for SqliteConn {
                async fn insert_rows(&mut self, rows: &[$row]) -> QueryResult<usize> {
                    let mut n = 0;
                    for row in rows {
                        n += diesel::insert_into($table::table)
                            .values(row)
                            .on_conflict($table::id)
                            .do_nothing()
                            .execute(self)
                            .await?;
                    }
                    Ok(n)
                }
            }

            impl InsertRows for PgConn {
                async fn insert_rows(&mut self, rows: &[$row]) -> QueryResult<usize> {
                    let mut n = 0;
                    for part in rows.chunks(CHUNK) {
                        n += diesel::insert_into($table::table)
                            .values(part)
                            .on_conflict($table::id)
                            .do_nothing()
                            .execute(self)
                            .await?;
                    }
                    Ok(n)
                }
            }

            /// MySQL has no `ON CONFLICT (id)`, and `INSERT IGNORE` would also swallow a
            /// clash on another unique key (a row to refuse, not to skip): the ids present
            /// are read first, inside the same transaction, and the others inserted plainly.
            impl InsertRows for MysqlConn {
                async fn insert_rows(&mut self, rows: &[$row]) -> QueryResult<usize> {
                    let mut n = 0;
                    for part in rows.chunks(CHUNK) {
                        let ids: Vec<DbId> = part.iter().map(|r| DbId(r.row_id())).collect();
                        let present: std::collections::HashSet<Uuid> = $table::table
                            .filter($table::id.eq_any(&ids))
                            .select($table::id)
                            .for_update()
                            .load::<DbId>(self)
                            .await?
                            .into_iter()
                            .map(|i| i.0)
                            .collect();
                        let absent: Vec<&$row> = part
                            .iter()
                            .filter(|r| !present.contains(&r.row_id()))
                            .collect();
                        if !absent.is_empty() {
                            n += diesel::insert_into($table::table)
                                .values(absent)
                                .execute(self)
                                .await?;
                        }
                    }
                    Ok(n)
                }
            }

            pub async fn insert_absent(
                store: &Store,
                rows: &[$row],
            ) -> Result<BatchOutcome, StoreError> {
                if rows.is_empty() {
                    return Ok(BatchOutcome::default());
                }
                let whole: Result<usize, StoreError> =
                    with_tx!(store, |c| Ok(c.insert_rows(rows).await?));
                match whole {
                    Ok(n) => Ok(BatchOutcome {
                        copied: n,
                        skipped: rows.len() - n,
                        refused: Vec::new(),
                    }),
                    Err(StoreError::Unavailable(e)) => Err(StoreError::Unavailable(e)),
                    Err(_) => {
                        let mut out = BatchOutcome::default();
                        for row in rows {
                            let one: Result<usize, StoreError> = with_tx!(store, |c| {
                                Ok(c.insert_rows(std::slice::from_ref(row)).await?)
                            });
                            match one {
                                Ok(0) => out.skipped += 1,
                                Ok(_) => out.copied += 1,
                                Err(StoreError::Unavailable(e)) => {
                                    return Err(StoreError::Unavailable(e));
                                }
                                Err(e) => out.refused.push((row.row_id(), e.to_string())),
                            }
                        }
                        Ok(out)
                    }
                }
            }

            /// Which of `ids` the table already holds.
            pub async fn existing(
                store: &Store,
                ids: &[Uuid],
            ) -> Result<std::collections::HashSet<Uuid>, StoreError> {
                let ids: Vec<DbId> = ids.iter().copied().map(DbId).collect();
                let mut found = std::collections::HashSet::new();
                for part in ids.chunks(CHUNK) {
                    let got: Vec<DbId> = with_conn!(store, |c| {
                        $table::table
                            .filter($table::id.eq_any(part))
                            .select($table::id)
                            .load(c)
                            .await?
                    });
                    found.extend(got.into_iter().map(|i| i.0));
                }
                Ok(found)
            }
        }
    };
}

table_ops!(identities_t, identities, IdentityRow);
table_ops!(credentials_t, identity_credentials, CredentialRow);
table_ops!(
    identifiers_t,
    identity_credential_identifiers,
    IdentifierRow
);
table_ops!(
    verifiable_t,
    identity_verifiable_addresses,
    VerifiableAddressRow
);
table_ops!(recovery_t, identity_recovery_addresses, RecoveryAddressRow);
table_ops!(sessions_t, sessions, SessionRow);
table_ops!(devices_t, session_devices, DeviceRow);
table_ops!(messages_t, courier_messages, MessageRow);

/// The network Gatehouse serves (the oldest), if there is one yet.
pub async fn current_network(store: &Store) -> Result<Option<Uuid>, StoreError> {
    let id: Option<DbId> = with_conn!(store, |c| {
        networks::table
            .select(networks::id)
            .order(networks::created_at.asc())
            .first(c)
            .await
            .optional()?
    });
    Ok(id.map(|i| i.0))
}

/// Creates the network with Kratos's id and times when the database has none, so the copied
/// rows keep their network id; returns whether it was created.
pub async fn adopt_network(
    store: &Store,
    id: Uuid,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
) -> Result<bool, StoreError> {
    with_tx!(store, |c| {
        let any: i64 = networks::table.count().get_result(c).await?;
        if any > 0 {
            return Ok(false);
        }
        diesel::insert_into(networks::table)
            .values((
                networks::id.eq(DbId(id)),
                networks::created_at.eq(created_at.min(Utc::now().naive_utc())),
                networks::updated_at.eq(updated_at),
            ))
            .execute(c)
            .await?;
        Ok(true)
    })
}
