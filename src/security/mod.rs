//! Gatehouse's protections beyond Kratos (`security.*` and related keys).
//!
//! - [`rate_limit`]: flows started and codes sent per client address, token buckets shared by
//!   every node through the database (`security.rate_limits`).
//! - [`throttle`]: failed sign-in attempts counted per identifier, identity and client
//!   address in the database, with backoff and a temporary lockout (`security.brute_force`).

pub mod rate_limit;
pub mod throttle;
