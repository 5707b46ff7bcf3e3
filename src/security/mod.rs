//! Gatehouse's security features beyond Kratos (issue 19):
//!
//! - [`api_keys`]: admin API keys — made and revoked with `gatehouse admin-keys`, stored as
//!   SHA-256 digests, checked on every admin request when `serve.admin.api_keys.enabled`.

pub mod api_keys;
