//! # Layout
//!
//! Gatehouse is an identity server that speaks the Ory Kratos protocol. Requests flow one way:
//! `http → actors → domain → store`.
//!
//! - [`http`]: raw hyper listeners (public 4433, admin 4434) with per-listener connection caps,
//!   eviction and timeouts (`http::conn`) over a socket wrapper that enforces request-head
//!   limits and gives hyper's own error answers the envelope (`http::wire`), the route table,
//!   request extraction, the Kratos error envelope with every domain error's conversion to it
//!   (`http::error`, the only place envelopes are built), flow requests and one answer per flow
//!   outcome (`http::flow`), thin handlers, one module per resource, and the built-in
//!   self-service pages under `/ui/` (`http::pages`, minijinja templates in `static/ui/`).
//!   Never touches the database.
//! - [`actors`]: runtime wiring only — the root supervisor; pools of workers (ractor factories,
//!   spawned by `actors::pool`) for identities, sessions and each flow type (keyed by flow id,
//!   each pool with its own message type); the flow sweeper; the courier and webhooks pumps,
//!   one generic lease pump (`actors::lease`: timer, batch claim, in-flight count) over two
//!   queues; the session watcher (owns the database change feed that keeps every node's whoami
//!   cache honest); the configuration watcher (`actors::config_watch`: reloads edited files on
//!   a timer) and the configuration generation in force per tenant (`actors::live`, taken once
//!   per request and carried by every pool message as `Scoped`); the tenant watcher
//!   (`actors::tenant_watch`: follows the stored tenants on a timer); listener actors; typed
//!   handles with timeouts. No SQL, no hyper types.
//! - Domain (no hyper, no ractor; takes `&Deps`, returns typed results):
//!   [`identity`] (model, schemas, admin operations), [`selfservice`] (flows and the
//!   strategies that complete them: `selfservice::flow` — login, registration, recovery,
//!   verification, settings — owns states, persistence, CSRF and return-URL rules and hooks,
//!   and names no method; `selfservice::strategy` holds the contract (one trait per flow
//!   kind; first and second factors by their assurance level), the registry of enabled methods
//!   built per configuration generation, and one folder per method: password with its policy,
//!   code, link, profile (with two-step registration), totp, lookup (backup codes), oidc
//!   (social sign-in: the round trip, claim mappers, account linking; its `provider` folder
//!   speaks to each kind of identity provider), identifier_first (the login style that asks
//!   who before how; each method draws its part of the two screens), webauthn (security keys, a second factor or
//!   passwordless; `webauthn::rp` checks both methods' relying parties when dependencies are
//!   built) and passkey, both over the WebAuthn ceremony layer (`strategy::webauthn_ceremony`;
//!   the browser script is `static/webauthn.js`); plus the
//!   one-time-code storage helpers (`selfservice::otp`), the UI containers and the
//!   hooks engine: before/after hooks, web hooks with durable fire-and-forget deliveries, the
//!   password migration hook; the web hook client, which `Deps` holds, lives apart in
//!   `hooks::client`), [`session`]
//!   (sessions, tokens stored as SHA-256 digests, the encrypted session cookie, the whoami
//!   cache), [`courier`]
//!   (outgoing email/SMS as durable queue rows: enqueue API, Go-style templates, delivery over
//!   SMTP/HTTP), [`hash`] (password hashing on its own low-priority threads, in an ordinary
//!   and an expensive lane by each hash's cost, and imported hash formats), [`health`]
//!   (readiness),
//!   [`cipher`] (sensitive credential data encrypted at rest with `ciphers.algorithm`, in
//!   Kratos's format: AES-256-GCM, XChaCha20-Poly1305 or hex, keys rotating),
//!   [`text`] (UI message ids), [`jsonnet`] (operator templates for HTTP message and web hook
//!   bodies, and claim mappers), [`uri`] (reading `file://`, `base64://` and `http(s)://` locations),
//!   [`outbound`] (the one builder of outgoing HTTP clients, refusing non-public destinations
//!   after DNS resolution when `clients.http.disallow_private_ip_ranges` is set).
//! - [`store`]: diesel schema, row models, queries, migrations, pools for SQLite and
//!   PostgreSQL behind one query code path, the session change feed (`LISTEN/NOTIFY` on
//!   PostgreSQL, a trigger-fed table polled on SQLite), statement timing, ids as `Uuid`
//!   through a text column type (`store::id::DbId`: a stored id that does not parse is an
//!   error, never a nil UUID), and enums stored as text (`store::text_enum`, e.g. the courier
//!   and web hook queue statuses), the tenants' registry (`store::tenants`: rows, the fingerprint
//!   nodes poll, and a tenant's purge across every NID table). No policy.
//! - [`security`]: Gatehouse's protections beyond Kratos: admin API keys
//!   (`security::api_keys`, checked by `http::admin_auth`), rate limits on flows and codes per
//!   client address (`security::rate_limit`, buckets in the database), failed sign-in
//!   throttling and lockout (`security::throttle`, counters in the database, asked by the login
//!   flow).
//! - [`limits`]: the bounds every request decoder applies (JSON depth and size, form fields and
//!   key depth), checked without recursion before anything walks the data.
//! - `fuzz`: entry points that run every request decoder and the hash-format parser on
//!   arbitrary bytes, for the cargo-fuzz targets in `fuzz/` and the bounded test in the suite.
//! - [`tenancy`]: tenants (isolated networks in one process): declarations, their checks, and
//!   their dependencies built from the process's configuration with each tenant's overlay and a
//!   store scoped to its network id; `actors::live` holds them in force and picks one per
//!   request (public: the host; admin: the `X-Gatehouse-Tenant` header).
//! - [`config`]: `kratos.yml` keys, environment overrides, defaults, validation; [`reload`]:
//!   which keys may change while serving, the next dependencies for an edited configuration, and
//!   its revision (`/admin/health/config`).
//! - [`cli`]: the operator's verbs beside `serve` (`identities import|list|get|delete|validate`
//!   over the admin API through `cli::admin_client`, `cleanup sql` over `store::cleanup`,
//!   `jsonnet lint|format`); `main.rs` only wires them to clap.
//! - [`kratos_import`]: `migrate from-kratos`, copying a Kratos database into Gatehouse's: a
//!   reader per source backend (raw SQL in Kratos's column names), a mapper to Gatehouse's rows
//!   (refusals with reasons), writes insert-if-absent through `store::kratos_import`.
//! - [`app`]: start-up, shared by the `gatehouse` binary and the tests; [`deps`] is what the
//!   domain receives (built in one place for start-up and reloads, `Deps::build`); [`metrics`]
//!   is the Prometheus registry.

pub mod actors;
pub mod app;
pub mod cipher;
pub mod cli;
pub mod config;
pub mod courier;
pub mod deps;
#[doc(hidden)]
pub mod fuzz;
pub mod hash;
pub mod health;
pub mod http;
pub mod identity;
pub mod jsonnet;
pub mod kratos_import;
pub mod limits;
pub mod metrics;
pub mod outbound;
pub mod reload;
pub mod security;
pub mod selfservice;
pub mod session;
pub mod store;
pub mod tenancy;
pub mod text;
pub mod uri;
