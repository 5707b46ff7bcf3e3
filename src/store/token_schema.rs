//! One-time codes and link tokens (portable types, as in `schema`).

diesel::table! {
    selfservice_tokens (id) {
        id -> Text,
        nid -> Text,
        kind -> Text,
        flow_id -> Nullable<Text>,
        identity_id -> Nullable<Text>,
        address -> Nullable<Text>,
        address_id -> Nullable<Text>,
        token_hash -> Text,
        used_at -> Nullable<Timestamp>,
        expires_at -> Timestamp,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}
