//! Tables of the courier queue (portable types, as in `schema`).

diesel::table! {
    courier_messages (id) {
        id -> Text,
        nid -> Text,
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
        claim_id -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    courier_message_dispatches (id) {
        id -> Text,
        nid -> Text,
        message_id -> Text,
        status -> Text,
        error -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::joinable!(courier_message_dispatches -> courier_messages (message_id));
diesel::allow_tables_to_appear_in_same_query!(courier_messages, courier_message_dispatches);
