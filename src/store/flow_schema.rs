//! Tables of the self-service flows (portable types, as in `schema`).

diesel::table! {
    use diesel::sql_types::*;
    use crate::store::id::UuidText;

    selfservice_flows (id) {
        id -> UuidText,
        nid -> UuidText,
        kind -> Text,
        flow_type -> Text,
        state -> Text,
        request_url -> Text,
        return_to -> Nullable<Text>,
        ui -> Text,
        csrf_token -> Text,
        refresh -> Bool,
        requested_aal -> Text,
        active_method -> Nullable<Text>,
        identity_id -> Nullable<UuidText>,
        internal_context -> Nullable<Text>,
        issued_at -> Timestamp,
        expires_at -> Timestamp,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        /// Wrong-code submissions (recovery, verification); not part of `FlowRow`.
        submit_count -> Integer,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::store::id::UuidText;

    selfservice_errors (id) {
        id -> UuidText,
        nid -> UuidText,
        error -> Text,
        csrf_token -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}
