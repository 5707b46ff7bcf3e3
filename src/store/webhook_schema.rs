//! The table of fire-and-forget web hook deliveries (portable types, as in `schema`).

diesel::table! {
    use diesel::sql_types::*;
    use crate::store::id::UuidText;

    webhook_deliveries (id) {
        id -> UuidText,
        nid -> UuidText,
        hook -> Text,
        url -> Text,
        method -> Text,
        body -> Nullable<Text>,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        claimed_until -> Nullable<Timestamp>,
        claim_id -> Nullable<UuidText>,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}
