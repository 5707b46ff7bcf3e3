//! The integration tests, one program: each module below was its own test binary once, and
//! each linked the whole crate. They share the harness in `tests/common/` and run as threads
//! of one process, so nothing here may change process-wide state (environment, working
//! directory, a global tracing subscriber, lowering resource limits): a test that needs that
//! does it in a child process (see `listener.rs`, which lowers the open-file limit of the
//! `gatehouse` process it spawns, never its own).
//!
//! `cargo test --test it` runs them all; `cargo test --test it listener::` one module.

#[path = "../common/mod.rs"]
mod common;

mod admin_identities;
mod admin_keys;
mod backends;
mod browser;
mod cipher;
mod cli;
mod cli_ops;
mod code_flows;
mod code_mfa;
mod common_passwords;
mod config_profiles;
mod cors_and_codes;
mod courier;
mod courier_processes;
mod flows;
mod from_kratos;
mod fuzz;
mod hashing;
mod hooks;
mod identifier_first;
mod json_bodies;
mod kratos_cookie;
mod listener;
mod lookup;
mod mail_flows;
mod mfa;
mod migrations;
mod multinode;
mod oidc;
mod oidc_harness;
mod oidc_providers;
mod oidc_providers_oauth2;
mod outbound;
mod passkey;
mod rate_limits;
mod recovery_verification;
mod reload;
mod robustness;
mod runtime;
mod sdk;
mod sdk_python;
mod security_events;
mod security_headers;
mod session_hygiene;
mod sessions;
mod sessions_stay_dead;
mod settings;
mod tenant_admin;
mod tenant_processes;
mod tenant_store;
mod tenants;
mod throttle;
mod webauthn;
mod webauthn_ceremony;
