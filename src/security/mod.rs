//! Gatehouse's security beyond Kratos (issue 19).
//!
//! - [`rate_limit`]: flows started and codes sent per client address, token buckets shared by
//!   every node through the database (`security.rate_limits`).

pub mod rate_limit;
