//! The diesel schema, written by hand to stay portable: UUIDs and JSON documents are `Text`,
//! instants are `Timestamp` (UTC, no zone), so one set of queries serves SQLite and PostgreSQL.

diesel::table! {
    networks (id) {
        id -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    identities (id) {
        id -> Text,
        nid -> Text,
        schema_id -> Text,
        traits -> Text,
        state -> Text,
        state_changed_at -> Nullable<Timestamp>,
        metadata_public -> Nullable<Text>,
        metadata_admin -> Nullable<Text>,
        external_id -> Nullable<Text>,
        organization_id -> Nullable<Text>,
        available_aal -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    identity_credentials (id) {
        id -> Text,
        nid -> Text,
        identity_id -> Text,
        credential_type -> Text,
        config -> Text,
        version -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    identity_credential_identifiers (id) {
        id -> Text,
        nid -> Text,
        identity_credential_id -> Text,
        identity_id -> Text,
        credential_type -> Text,
        identifier -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    identity_verifiable_addresses (id) {
        id -> Text,
        nid -> Text,
        identity_id -> Text,
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
    identity_recovery_addresses (id) {
        id -> Text,
        nid -> Text,
        identity_id -> Text,
        via -> Text,
        value -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    networks,
    identities,
    identity_credentials,
    identity_credential_identifiers,
    identity_verifiable_addresses,
    identity_recovery_addresses,
);
