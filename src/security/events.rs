//! Security events (OWASP ASVS 16.3.1–16.3.4): every authentication decision and
//! security-relevant change writes one structured log event through [`emit`], on the tracing
//! target `gatehouse::security` ([`TARGET`]), and counts it in
//! `security_events_total{event}` on `/admin/metrics/prometheus`.
//!
//! Operators route them with the log filter (`GATEHOUSE_LOG`, else `log.level`): for instance
//! `GATEHOUSE_LOG=warn,gatehouse::security=info` keeps the events and only warnings besides.
//! With `log.format: json` each event is one JSON line whose `fields` carry `event` (the name),
//! the event's fields, and `message` (the name again, for the text format). Refusals and
//! failures are written at WARN, the rest at INFO.
//!
//! The names are a closed list ([`Name::ALL`]); the fields an event may carry are those of
//! [`Event`], each present only when known: `client_address` and `user_agent` when there is a
//! request, `flow_id` when there is a flow, `identity_id` when the identity is known. Every
//! field is an id, a closed name, a number, a client address, a user agent or a host, so an
//! identifier typed, an address, a token, a code, a password or a cookie has no field to go in.

use std::net::IpAddr;

use tracing::Level;
use uuid::Uuid;

use crate::deps::Deps;
use crate::identity::{CredentialType, Identity};
use crate::metrics::Metrics;

/// The tracing target of every event.
pub const TARGET: &str = "gatehouse::security";

/// A user agent is cut to this many characters: enough to tell clients apart, bounded in the log.
const USER_AGENT_MAX: usize = 256;

/// What happened: the event's `event` field and its counter's label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Name {
    LoginSucceeded,
    LoginFailed,
    RegistrationSucceeded,
    SessionIssued,
    SessionRefreshed,
    SessionRevoked,
    PasswordChanged,
    AddressChanged,
    SecondFactorChanged,
    CredentialAdded,
    CredentialRemoved,
    RecoveryCompleted,
    VerificationCompleted,
    CsrfFailed,
    ReturnToRefused,
    ThrottleRefused,
    LockoutStarted,
    LockoutLifted,
    RateLimitRefused,
    AdminKeyRefused,
    AdminWrite,
}

impl Name {
    pub const ALL: [Name; 21] = [
        Name::LoginSucceeded,
        Name::LoginFailed,
        Name::RegistrationSucceeded,
        Name::SessionIssued,
        Name::SessionRefreshed,
        Name::SessionRevoked,
        Name::PasswordChanged,
        Name::AddressChanged,
        Name::SecondFactorChanged,
        Name::CredentialAdded,
        Name::CredentialRemoved,
        Name::RecoveryCompleted,
        Name::VerificationCompleted,
        Name::CsrfFailed,
        Name::ReturnToRefused,
        Name::ThrottleRefused,
        Name::LockoutStarted,
        Name::LockoutLifted,
        Name::RateLimitRefused,
        Name::AdminKeyRefused,
        Name::AdminWrite,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Name::LoginSucceeded => "login.succeeded",
            Name::LoginFailed => "login.failed",
            Name::RegistrationSucceeded => "registration.succeeded",
            Name::SessionIssued => "session.issued",
            Name::SessionRefreshed => "session.refreshed",
            Name::SessionRevoked => "session.revoked",
            Name::PasswordChanged => "password.changed",
            Name::AddressChanged => "address.changed",
            Name::SecondFactorChanged => "second_factor.changed",
            Name::CredentialAdded => "credential.added",
            Name::CredentialRemoved => "credential.removed",
            Name::RecoveryCompleted => "recovery.completed",
            Name::VerificationCompleted => "verification.completed",
            Name::CsrfFailed => "csrf.failed",
            Name::ReturnToRefused => "return_to.refused",
            Name::ThrottleRefused => "throttle.refused",
            Name::LockoutStarted => "lockout.started",
            Name::LockoutLifted => "lockout.lifted",
            Name::RateLimitRefused => "rate_limit.refused",
            Name::AdminKeyRefused => "admin_key.refused",
            Name::AdminWrite => "admin.write",
        }
    }

    /// When the event is written, and the fields it carries beyond the common ones.
    pub fn about(self) -> (&'static str, &'static [&'static str]) {
        match self {
            Name::LoginSucceeded => (
                "a login flow ended in a session (first factor, refresh or step-up)",
                &["method", "session_id", "aal"],
            ),
            Name::LoginFailed => (
                "a login submission a method answered was refused: reason is the Kratos message id on the flow, or the error id",
                &["method", "reason"],
            ),
            Name::RegistrationSucceeded => ("an identity signed up", &["method"]),
            Name::SessionIssued => ("a new session", &["session_id", "method", "aal"]),
            Name::SessionRefreshed => (
                "a session re-authenticated or raised (cause: reauthenticated, method_added); previous_session_id when it was rotated",
                &[
                    "session_id",
                    "previous_session_id",
                    "method",
                    "aal",
                    "cause",
                ],
            ),
            Name::SessionRevoked => (
                "sessions ended (cause: logout, self_service, admin, identity_disabled, password_changed, recovered, hook, credential_removed); count when several",
                &["session_id", "cause", "count"],
            ),
            Name::PasswordChanged => ("a password was replaced", &["actor"]),
            Name::AddressChanged => (
                "verifiable or recovery addresses were added or removed (counts, never the values)",
                &["actor", "added", "removed"],
            ),
            Name::SecondFactorChanged => (
                "a second factor (totp, lookup_secret, webauthn) was added, removed or updated",
                &["actor", "method", "change"],
            ),
            Name::CredentialAdded => ("a first-factor credential was added", &["actor", "method"]),
            Name::CredentialRemoved => (
                "a first-factor credential was removed",
                &["actor", "method"],
            ),
            Name::RecoveryCompleted => ("an account was recovered", &["method", "session_id"]),
            Name::VerificationCompleted => ("an address was verified", &["method"]),
            Name::CsrfFailed => (
                "a flow submission failed the CSRF check (reason: cookie_missing, token_missing, token_mismatch, origin_on_api_flow, cookie_on_api_flow)",
                &["flow_kind", "reason"],
            ),
            Name::ReturnToRefused => (
                "a return_to outside selfservice.allowed_return_urls was refused",
                &["flow_kind", "host"],
            ),
            Name::ThrottleRefused => (
                "security.brute_force refused a sign-in attempt",
                &["key_kind", "retry_after_secs"],
            ),
            Name::LockoutStarted => (
                "a failure locked a security.brute_force key out",
                &["key_kind", "failures", "retry_after_secs"],
            ),
            Name::LockoutLifted => (
                "an admin cleared security.brute_force counters",
                &["key_kind"],
            ),
            Name::RateLimitRefused => (
                "security.rate_limits refused a request",
                &["bucket", "retry_after_secs"],
            ),
            Name::AdminKeyRefused => (
                "the admin API refused a key (reason: missing, malformed, unknown, revoked, read_only)",
                &["reason", "key_id", "http_method", "route"],
            ),
            Name::AdminWrite => (
                "an admin API write succeeded",
                &["http_method", "route", "session_id"],
            ),
        }
    }

    fn level(self) -> Level {
        match self {
            Name::LoginFailed
            | Name::CsrfFailed
            | Name::ReturnToRefused
            | Name::ThrottleRefused
            | Name::LockoutStarted
            | Name::RateLimitRefused
            | Name::AdminKeyRefused => Level::WARN,
            _ => Level::INFO,
        }
    }
}

/// Why a decision went as it did: a Kratos UI message id, or a fixed code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    Message(u64),
    Code(&'static str),
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::Message(id) => write!(f, "{id}"),
            Reason::Code(c) => f.write_str(c),
        }
    }
}

/// Who made an identity change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Actor {
    SelfService,
    Admin,
}

impl Actor {
    fn as_str(self) -> &'static str {
        match self {
            Actor::SelfService => "self_service",
            Actor::Admin => "admin",
        }
    }
}

/// The request an event answers, as far as the log may tell it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Origin {
    pub client_address: Option<IpAddr>,
    pub user_agent: Option<String>,
}

impl Origin {
    pub fn new(client_address: Option<IpAddr>, user_agent: Option<&str>) -> Origin {
        Origin {
            client_address,
            user_agent: user_agent
                .filter(|u| !u.is_empty())
                .map(|u| u.chars().take(USER_AGENT_MAX).collect()),
        }
    }
}

/// One event: its name and what is known of it. Built with the methods below, written by
/// [`emit`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub name: Name,
    origin: Origin,
    flow_id: Option<Uuid>,
    flow_kind: Option<&'static str>,
    identity_id: Option<Uuid>,
    session_id: Option<Uuid>,
    previous_session_id: Option<Uuid>,
    method: Option<&'static str>,
    aal: Option<&'static str>,
    reason: Option<Reason>,
    cause: Option<&'static str>,
    actor: Option<Actor>,
    change: Option<&'static str>,
    added: Option<u64>,
    removed: Option<u64>,
    key_kind: Option<&'static str>,
    failures: Option<u64>,
    retry_after_secs: Option<u64>,
    bucket: Option<&'static str>,
    key_id: Option<Uuid>,
    http_method: Option<&'static str>,
    route: Option<&'static str>,
    host: Option<String>,
    count: Option<u64>,
}

impl Event {
    pub fn new(name: Name) -> Event {
        Event {
            name,
            origin: Origin::default(),
            flow_id: None,
            flow_kind: None,
            identity_id: None,
            session_id: None,
            previous_session_id: None,
            method: None,
            aal: None,
            reason: None,
            cause: None,
            actor: None,
            change: None,
            added: None,
            removed: None,
            key_kind: None,
            failures: None,
            retry_after_secs: None,
            bucket: None,
            key_id: None,
            http_method: None,
            route: None,
            host: None,
            count: None,
        }
    }

    pub fn origin(mut self, o: &Origin) -> Event {
        self.origin = o.clone();
        self
    }
    pub fn flow(mut self, id: Uuid, kind: &'static str) -> Event {
        self.flow_id = Some(id);
        self.flow_kind = Some(kind);
        self
    }
    /// The flow's kind alone, for refusals before a flow exists.
    pub fn flow_kind(mut self, kind: &'static str) -> Event {
        self.flow_kind = Some(kind);
        self
    }
    pub fn identity(mut self, id: impl Into<Option<Uuid>>) -> Event {
        self.identity_id = id.into();
        self
    }
    pub fn session(mut self, id: impl Into<Option<Uuid>>) -> Event {
        self.session_id = id.into();
        self
    }
    pub fn previous_session(mut self, id: Uuid) -> Event {
        self.previous_session_id = Some(id);
        self
    }
    pub fn method(mut self, m: &'static str) -> Event {
        self.method = Some(m).filter(|m| !m.is_empty());
        self
    }
    pub fn aal(mut self, a: &'static str) -> Event {
        self.aal = Some(a);
        self
    }
    pub fn reason(mut self, r: Reason) -> Event {
        self.reason = Some(r);
        self
    }
    pub fn cause(mut self, c: &'static str) -> Event {
        self.cause = Some(c);
        self
    }
    pub fn actor(mut self, a: Actor) -> Event {
        self.actor = Some(a);
        self
    }
    pub fn key_kind(mut self, k: &'static str) -> Event {
        self.key_kind = Some(k);
        self
    }
    pub fn failures(mut self, n: u64) -> Event {
        self.failures = Some(n);
        self
    }
    pub fn retry_after_secs(mut self, s: u64) -> Event {
        self.retry_after_secs = Some(s);
        self
    }
    pub fn bucket(mut self, b: &'static str) -> Event {
        self.bucket = Some(b);
        self
    }
    pub fn key_id(mut self, id: Uuid) -> Event {
        self.key_id = Some(id);
        self
    }
    pub fn route(mut self, http_method: &'static str, pattern: &'static str) -> Event {
        self.http_method = Some(http_method);
        self.route = Some(pattern);
        self
    }
    /// The host of a refused URL: never its path or query, which may carry tokens or
    /// addresses. A URL without a host (relative, unparsable) leaves the field out.
    pub fn host_of(mut self, url: &str) -> Event {
        self.host = url::Url::parse(url.trim())
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned));
        self
    }
    pub fn count(mut self, n: u64) -> Event {
        self.count = Some(n);
        self
    }
}

/// Writes the event, with the network (tenant) it happened in, and counts it.
pub fn emit(deps: &Deps, e: Event) {
    record(&deps.metrics, Some(deps.store.nid()), e);
}

/// Writes the event and counts it; `nid` is the network it happened in.
fn record(metrics: &Metrics, nid: Option<Uuid>, e: Event) {
    metrics
        .security_events
        .with_label_values(&[e.name.as_str()])
        .inc();
    // A callsite's level is fixed at compile time: one callsite per level, same fields.
    macro_rules! log_at {
        ($level:expr) => {
            tracing::event!(
                target: TARGET,
                $level,
                event = e.name.as_str(),
                nid = nid.map(display),
                client_address = e.origin.client_address.map(display),
                user_agent = e.origin.user_agent.as_deref(),
                flow_id = e.flow_id.map(display),
                flow_kind = e.flow_kind,
                identity_id = e.identity_id.map(display),
                session_id = e.session_id.map(display),
                previous_session_id = e.previous_session_id.map(display),
                method = e.method,
                aal = e.aal,
                reason = e.reason.map(display),
                cause = e.cause,
                actor = e.actor.map(Actor::as_str),
                change = e.change,
                added = e.added,
                removed = e.removed,
                key_kind = e.key_kind,
                failures = e.failures,
                retry_after_secs = e.retry_after_secs,
                bucket = e.bucket,
                key_id = e.key_id.map(display),
                http_method = e.http_method,
                route = e.route,
                host = e.host.as_deref(),
                count = e.count,
                "{}",
                e.name.as_str()
            )
        };
    }
    if e.name.level() == Level::WARN {
        log_at!(Level::WARN);
    } else {
        log_at!(Level::INFO);
    }
}

/// Second factors: any change to them is one `second_factor.changed`.
const SECOND_FACTORS: [CredentialType; 3] = [
    CredentialType::Totp,
    CredentialType::LookupSecret,
    CredentialType::Webauthn,
];

/// First factors a person holds: added and removed by type, or by identifier for those that
/// hold several (linked providers, passkeys).
const FIRST_FACTORS: [CredentialType; 4] = [
    CredentialType::Password,
    CredentialType::Oidc,
    CredentialType::Saml,
    CredentialType::Passkey,
];

/// The events an identity change makes, from what it was to what it is: password,
/// credential, second-factor and address changes (counts of addresses, never their values).
/// The caller adds the origin and flow, and emits them.
pub fn identity_changes(before: &Identity, after: &Identity, actor: Actor) -> Vec<Event> {
    let mut out = Vec::new();
    let event = |name: Name| Event::new(name).identity(after.id).actor(actor);
    for kind in SECOND_FACTORS {
        let change = match (before.credentials.get(&kind), after.credentials.get(&kind)) {
            (None, Some(_)) => "added",
            (Some(_), None) => "removed",
            (Some(b), Some(a)) if b.config != a.config || b.identifiers != a.identifiers => {
                "updated"
            }
            _ => continue,
        };
        let mut e = event(Name::SecondFactorChanged).method(kind.as_str());
        e.change = Some(change);
        out.push(e);
    }
    for kind in FIRST_FACTORS {
        let (b, a) = (before.credentials.get(&kind), after.credentials.get(&kind));
        let (added, removed) = match (b, a) {
            (None, Some(_)) => (true, false),
            (Some(_), None) => (false, true),
            (Some(b), Some(a)) if kind == CredentialType::Password => {
                if b.config != a.config {
                    out.push(event(Name::PasswordChanged));
                }
                (false, false)
            }
            (Some(b), Some(a)) => (
                a.identifiers.iter().any(|i| !b.identifiers.contains(i)),
                b.identifiers.iter().any(|i| !a.identifiers.contains(i)),
            ),
            (None, None) => (false, false),
        };
        if added {
            out.push(event(Name::CredentialAdded).method(kind.as_str()));
        }
        if removed {
            out.push(event(Name::CredentialRemoved).method(kind.as_str()));
        }
    }
    let addresses = |i: &Identity| -> Vec<(&'static str, String, String)> {
        let verifiable = i
            .verifiable_addresses
            .iter()
            .map(|a| ("verifiable", a.via.clone(), a.value.to_lowercase()));
        let recovery = i
            .recovery_addresses
            .iter()
            .map(|a| ("recovery", a.via.clone(), a.value.to_lowercase()));
        verifiable.chain(recovery).collect()
    };
    let (was, is) = (addresses(before), addresses(after));
    let added = is.iter().filter(|a| !was.contains(a)).count() as u64;
    let removed = was.iter().filter(|a| !is.contains(a)).count() as u64;
    if added + removed > 0 {
        let mut e = event(Name::AddressChanged);
        e.added = Some(added);
        e.removed = Some(removed);
        out.push(e);
    }
    out
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use serde_json::{Value, json};

    use super::*;

    /// The README's event table is the operators' reference: it names every event, and no other.
    #[test]
    fn the_readme_lists_every_event() {
        let readme = include_str!("../../README.md");
        let section = readme
            .split("**Security events.**")
            .nth(1)
            .and_then(|rest| rest.split("\n\n**").next())
            .expect("README has a security events paragraph");
        let listed: std::collections::BTreeSet<&str> = section
            .lines()
            .filter(|l| l.starts_with("| `"))
            .flat_map(|l| l.split('|').nth(1).unwrap_or("").split(','))
            .map(|cell| cell.trim().trim_matches('`'))
            .collect();
        let known: std::collections::BTreeSet<&str> =
            Name::ALL.iter().map(|n| n.as_str()).collect();
        assert_eq!(listed, known);
    }
    use crate::identity::{Credential, RecoveryAddress, VerifiableAddress};

    const TYPED: &str = "poisoned.typed@example.org";
    const PASSWORD: &str = "poisoned-Passw0rd!";
    const TOKEN: &str = "ory_st_poisonedtoken";
    const CODE: &str = "739164";
    const COOKIE: &str = "ory_kratos_session=poisonedcookie";

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);

    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The JSON lines `f` writes through the server's JSON log format.
    fn captured(f: impl FnOnce()) -> Vec<Value> {
        let buf = Buf::default();
        let out = buf.clone();
        let sub = tracing_subscriber::fmt()
            .json()
            .with_max_level(Level::TRACE)
            .with_writer(move || out.clone())
            .finish();
        tracing::subscriber::with_default(sub, f);
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|l| serde_json::from_str(l).expect("one JSON object a line"))
            .collect()
    }

    fn credential(kind: CredentialType, identifiers: &[&str], config: Value) -> Credential {
        Credential {
            id: Uuid::new_v4(),
            kind,
            identifiers: identifiers.iter().map(|s| s.to_string()).collect(),
            config,
            version: 0,
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        }
    }

    fn identity(secret: &str, with: &[CredentialType]) -> Identity {
        let now = chrono::Utc::now();
        let mut i = Identity {
            id: Uuid::new_v4(),
            schema_id: "default".into(),
            state: crate::identity::State::Active,
            state_changed_at: None,
            traits: json!({ "email": TYPED }),
            metadata_public: None,
            metadata_admin: None,
            external_id: None,
            organization_id: None,
            credentials: Default::default(),
            verifiable_addresses: Vec::new(),
            recovery_addresses: Vec::new(),
            created_at: now,
            updated_at: now,
        };
        for kind in with {
            let c = credential(
                *kind,
                &[TYPED, secret],
                json!({ "hashed_password": secret, "secret": secret, "codes": [CODE] }),
            );
            i.credentials.insert(*kind, c);
        }
        i.verifiable_addresses.push(VerifiableAddress {
            id: Uuid::new_v4(),
            value: format!("{secret}{TYPED}"),
            verified: false,
            via: "email".into(),
            status: "pending".into(),
            verified_at: None,
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        });
        i.recovery_addresses.push(RecoveryAddress {
            id: Uuid::new_v4(),
            value: format!("{secret}{TYPED}"),
            via: "email".into(),
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        });
        i
    }

    /// Every event kind, each field filled from inputs that carry the poisoned values where
    /// a caller could hand them in (a return_to with a token and an address in it, identities
    /// whose credentials and addresses hold them).
    fn every_event() -> Vec<Event> {
        let origin = Origin::new(Some("198.51.100.7".parse().unwrap()), Some("probe/1.0"));
        let mut before = identity(PASSWORD, &[CredentialType::Password, CredentialType::Totp]);
        before.credentials.insert(
            CredentialType::Oidc,
            credential(CredentialType::Oidc, &[TYPED], json!({ "token": TOKEN })),
        );
        let mut after = identity(
            &format!("{PASSWORD}2"),
            &[
                CredentialType::Password,
                CredentialType::Webauthn,
                CredentialType::Passkey,
            ],
        );
        after.id = before.id;
        let changes = identity_changes(&before, &after, Actor::SelfService);
        let flow = Uuid::new_v4();
        let url =
            format!("https://evil.example/cb?email={TYPED}&token={TOKEN}&code={CODE}#{COOKIE}");
        let mut all = vec![
            Event::new(Name::LoginSucceeded)
                .method("password")
                .session(Uuid::new_v4())
                .aal("aal1"),
            Event::new(Name::LoginFailed)
                .method("password")
                .reason(Reason::Message(4000006)),
            Event::new(Name::RegistrationSucceeded).method("password"),
            Event::new(Name::SessionIssued)
                .session(Uuid::new_v4())
                .method("password")
                .aal("aal1"),
            Event::new(Name::SessionRefreshed)
                .session(Uuid::new_v4())
                .previous_session(Uuid::new_v4())
                .cause("reauthenticated"),
            Event::new(Name::SessionRevoked).cause("logout").count(2),
            Event::new(Name::RecoveryCompleted).method("code"),
            Event::new(Name::VerificationCompleted).method("code"),
            Event::new(Name::CsrfFailed).reason(Reason::Code("token_mismatch")),
            Event::new(Name::ReturnToRefused).host_of(&url),
            Event::new(Name::ThrottleRefused)
                .key_kind("identifier")
                .retry_after_secs(3),
            Event::new(Name::LockoutStarted)
                .key_kind("identifier")
                .failures(5)
                .retry_after_secs(60),
            Event::new(Name::LockoutLifted).key_kind("identifier"),
            Event::new(Name::RateLimitRefused)
                .bucket("codes")
                .retry_after_secs(1),
            Event::new(Name::AdminKeyRefused)
                .reason(Reason::Code("unknown"))
                .key_id(Uuid::new_v4())
                .route("PATCH", "/admin/identities/{id}"),
            Event::new(Name::AdminWrite).route("DELETE", "/admin/identities/{id}"),
        ];
        all.extend(changes);
        all.into_iter()
            .map(|e| e.origin(&origin).flow(flow, "login").identity(before.id))
            .collect()
    }

    #[test]
    fn no_event_carries_a_secret_or_an_identifier() {
        let events = every_event();
        for name in Name::ALL {
            assert!(
                events.iter().any(|e| e.name == name),
                "{} not exercised",
                name.as_str()
            );
        }
        let metrics = Metrics::new();
        let lines = captured(|| {
            for e in events.clone() {
                record(&metrics, Some(Uuid::nil()), e);
            }
        });
        assert_eq!(lines.len(), events.len());
        for (line, e) in lines.iter().zip(&events) {
            assert_eq!(line["target"], TARGET);
            assert_eq!(line["fields"]["event"], e.name.as_str());
            assert_eq!(line["fields"]["client_address"], "198.51.100.7");
            assert!(line["fields"]["identity_id"].is_string());
            let text = line.to_string();
            for secret in [TYPED, PASSWORD, TOKEN, CODE, COOKIE, "poisoned"] {
                assert!(!text.contains(secret), "{secret} in {text}");
            }
        }
        let refused = lines
            .iter()
            .find(|l| l["fields"]["event"] == "return_to.refused")
            .unwrap();
        assert_eq!(refused["fields"]["host"], "evil.example");
        let rendered = metrics.render();
        assert!(rendered.contains("security_events_total{event=\"login.failed\"} 1"));
    }

    #[test]
    fn identity_changes_name_what_changed() {
        let before = identity("a", &[CredentialType::Password, CredentialType::Totp]);
        let mut after = before.clone();
        assert!(identity_changes(&before, &after, Actor::Admin).is_empty());
        after
            .credentials
            .get_mut(&CredentialType::Password)
            .unwrap()
            .config = json!({ "hashed_password": "b" });
        after.credentials.remove(&CredentialType::Totp);
        after.recovery_addresses.clear();
        let names: Vec<&str> = identity_changes(&before, &after, Actor::Admin)
            .iter()
            .map(|e| e.name.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "second_factor.changed",
                "password.changed",
                "address.changed"
            ]
        );
        let names: Vec<&str> = identity_changes(&after, &before, Actor::Admin)
            .iter()
            .map(|e| e.name.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "second_factor.changed",
                "password.changed",
                "address.changed"
            ]
        );
    }
}
