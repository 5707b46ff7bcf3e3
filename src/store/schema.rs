//! The diesel schema, written by hand to stay portable: UUIDs and JSON documents are `Text`,
//! instants are `Timestamp` (UTC, no zone), so one set of queries serves SQLite and PostgreSQL.

diesel::table! {
    use diesel::sql_types::*;
    use crate::store::id::UuidText;

    networks (id) {
        id -> UuidText,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::store::id::UuidText;

    identities (id) {
        id -> UuidText,
        nid -> UuidText,
        schema_id -> Text,
        traits -> Text,
        state -> Text,
        state_changed_at -> Nullable<Timestamp>,
        metadata_public -> Nullable<Text>,
        metadata_admin -> Nullable<Text>,
        external_id -> Nullable<Text>,
        organization_id -> Nullable<UuidText>,
        available_aal -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::store::id::UuidText;

    identity_credentials (id) {
        id -> UuidText,
        nid -> UuidText,
        identity_id -> UuidText,
        credential_type -> Text,
        config -> Text,
        version -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::store::id::UuidText;

    identity_credential_identifiers (id) {
        id -> UuidText,
        nid -> UuidText,
        identity_credential_id -> UuidText,
        identity_id -> UuidText,
        credential_type -> Text,
        identifier -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::store::id::UuidText;

    identity_verifiable_addresses (id) {
        id -> UuidText,
        nid -> UuidText,
        identity_id -> UuidText,
        via -> Text,
        value -> Text,
        verified -> Bool,
        verified_at -> Nullable<Timestamp>,
        status -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::store::id::UuidText;

    identity_recovery_addresses (id) {
        id -> UuidText,
        nid -> UuidText,
        identity_id -> UuidText,
        via -> Text,
        value -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::store::id::UuidText;

    /// A tenant is the network with the same id; `hosts` (JSON array) and `config` (JSON
    /// object) are documents, as everywhere.
    tenants (id) {
        id -> UuidText,
        name -> Text,
        base_url -> Text,
        hosts -> Text,
        config -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    networks,
    tenants,
    identities,
    identity_credentials,
    identity_credential_identifiers,
    identity_verifiable_addresses,
    identity_recovery_addresses,
);
