//! The admin API keys table (portable types, as in `schema`).

diesel::table! {
    use diesel::sql_types::*;
    use crate::store::id::UuidText;

    admin_api_keys (id) {
        id -> UuidText,
        nid -> UuidText,
        name -> Text,
        key_digest -> Text,
        read_only -> Bool,
        created_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
    }
}
