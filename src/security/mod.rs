//! Gatehouse's protections beyond Kratos (`security.*` and related keys).
//!
//! - [`throttle`]: failed sign-in attempts counted per identifier, identity and client
//!   address in the database, with backoff and a temporary lockout (`security.brute_force`).

pub mod throttle;
