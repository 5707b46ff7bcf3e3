//! Gatehouse's protections beyond Kratos (`security.*` and related keys).
//!
//! - [`api_keys`]: admin API keys — made and revoked with `gatehouse admin-keys`, stored as
//!   SHA-256 digests, checked on every admin request when `serve.admin.api_keys.enabled`.
//! - [`events`]: security events — one structured log event per authentication decision and
//!   security-relevant change, on the tracing target `gatehouse::security`, counted in
//!   `security_events_total{event}`.
//! - [`rate_limit`]: flows started and codes sent per client address, token buckets shared by
//!   every node through the database (`security.rate_limits`).
//! - [`throttle`]: failed sign-in attempts counted per identifier, identity and client
//!   address in the database, with backoff and a temporary lockout (`security.brute_force`).

pub mod api_keys;
pub mod events;
pub mod rate_limit;
pub mod throttle;
