//! Tables of the courier queue (portable types, as in `schema`).

diesel::table! {
    use diesel::sql_types::*;
    use crate::store::id::UuidText;

    courier_messages (id) {
        id -> UuidText,
        nid -> UuidText,
        #[sql_name = "type"]
        kind -> Text,
        status -> Text,
        channel -> Text,
        recipient -> Text,
        subject -> Text,
        body -> Text,
        html_body -> Nullable<Text>,
        template_type -> Text,
        template_data -> Text,
        send_count -> Integer,
        next_attempt_at -> Timestamp,
        claimed_until -> Nullable<Timestamp>,
        claim_id -> Nullable<UuidText>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::store::id::UuidText;

    courier_message_dispatches (id) {
        id -> UuidText,
        nid -> UuidText,
        message_id -> UuidText,
        status -> Text,
        error -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::joinable!(courier_message_dispatches -> courier_messages (message_id));
diesel::allow_tables_to_appear_in_same_query!(courier_messages, courier_message_dispatches);
