//! Row structs: one per table, used both to read (`Queryable`) and write (`Insertable`).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::id::DbId;
use super::schema::*;

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = identities)]
#[diesel(treat_none_as_null = true)]
pub struct IdentityRow {
    pub id: DbId,
    pub nid: DbId,
    pub schema_id: String,
    pub traits: String,
    pub state: String,
    pub state_changed_at: Option<NaiveDateTime>,
    pub metadata_public: Option<String>,
    pub metadata_admin: Option<String>,
    pub external_id: Option<String>,
    pub organization_id: Option<DbId>,
    pub available_aal: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = identity_credentials)]
pub struct CredentialRow {
    pub id: DbId,
    pub nid: DbId,
    pub identity_id: DbId,
    pub credential_type: String,
    pub config: String,
    pub version: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = identity_credential_identifiers)]
pub struct IdentifierRow {
    pub id: DbId,
    pub nid: DbId,
    pub identity_credential_id: DbId,
    pub identity_id: DbId,
    pub credential_type: String,
    pub identifier: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = identity_verifiable_addresses)]
#[diesel(treat_none_as_null = true)]
pub struct VerifiableAddressRow {
    pub id: DbId,
    pub nid: DbId,
    pub identity_id: DbId,
    pub via: String,
    pub value: String,
    pub verified: bool,
    pub verified_at: Option<NaiveDateTime>,
    pub status: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = identity_recovery_addresses)]
pub struct RecoveryAddressRow {
    pub id: DbId,
    pub nid: DbId,
    pub identity_id: DbId,
    pub via: String,
    pub value: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// An identity with everything stored beside it.
#[derive(Debug, Clone)]
pub struct IdentityRows {
    pub identity: IdentityRow,
    /// Empty unless credentials were asked for.
    pub credentials: Vec<CredentialRow>,
    pub identifiers: Vec<IdentifierRow>,
    pub verifiable: Vec<VerifiableAddressRow>,
    pub recovery: Vec<RecoveryAddressRow>,
}
