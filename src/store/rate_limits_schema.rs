//! Rate limit buckets per client address (portable types, as in `schema`).

diesel::table! {
    use diesel::sql_types::*;
    use crate::store::id::UuidText;

    rate_limits (nid, client_key) {
        nid -> UuidText,
        client_key -> Text,
        /// GCRA's theoretical arrival time, microseconds since the epoch.
        tat -> BigInt,
    }
}
