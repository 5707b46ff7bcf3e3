//! Schema of the session tables, portable like `schema.rs`: ids and JSON as `Text`, instants as
//! `Timestamp`. `token` and `logout_token` hold SHA-256 hex digests, never the tokens.

use super::schema::identities;

diesel::table! {
    use diesel::sql_types::*;
    use crate::store::id::UuidText;

    sessions (id) {
        id -> UuidText,
        nid -> UuidText,
        identity_id -> UuidText,
        token -> Text,
        logout_token -> Text,
        active -> Bool,
        aal -> Text,
        authentication_methods -> Text,
        issued_at -> Timestamp,
        authenticated_at -> Timestamp,
        expires_at -> Timestamp,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::store::id::UuidText;

    session_devices (id) {
        id -> UuidText,
        nid -> UuidText,
        session_id -> UuidText,
        ip_address -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        location -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::store::id::UuidText;

    /// When a session was last used (`session.hygiene.inactivity_timeout`), apart from
    /// `sessions` so recording it does not fire the change feed.
    session_activity (session_id) {
        session_id -> UuidText,
        nid -> UuidText,
        seen_at -> Timestamp,
    }
}

diesel::joinable!(sessions -> identities (identity_id));
diesel::joinable!(session_devices -> sessions (session_id));

// Only pairs involving the new tables: the identity tables already allow each other.
diesel::allow_tables_to_appear_in_same_query!(sessions, session_devices, identities);
diesel::allow_tables_to_appear_in_same_query!(sessions, session_activity);
