//! One-time codes and link tokens (portable types, as in `schema`).

diesel::table! {
    use diesel::sql_types::*;
    use crate::store::id::UuidText;

    selfservice_tokens (id) {
        id -> UuidText,
        nid -> UuidText,
        kind -> Text,
        flow_id -> Nullable<UuidText>,
        identity_id -> Nullable<UuidText>,
        address -> Nullable<Text>,
        address_id -> Nullable<UuidText>,
        token_hash -> Text,
        used_at -> Nullable<Timestamp>,
        expires_at -> Timestamp,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}
