//! Failed sign-in attempts (`security.brute_force`), after Keycloak's brute-force detection.
//!
//! Each failure counts against up to three keys: the identifier typed (normalised, stored as a
//! SHA-256 digest; counted whether or not it names an account, and checked before any lookup,
//! so the answer never tells), the identity of a second-factor flow, and the client address.
//! Beyond `free_failures` a key waits `wait_increment`, doubling per failure up to `max_wait`
//! (`quick_login_wait` when two failures come closer than `quick_login_check`); from
//! `lockout_after` failures on, each failure locks it for `lockout`. A key with no failure for
//! `reset_after` counts as zero. Flows ask [`check`] before a method runs, and report what the
//! method answered with [`record`].

use std::net::IpAddr;
use std::time::Duration;

use chrono::NaiveDateTime;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::events::{self, Event, Name, Origin};
use crate::config::{BruteForce, FailurePolicy};
use crate::deps::Deps;
use crate::store::StoreError;
use crate::store::throttle::{self as q, CounterRow, Failure};
use crate::text::ids;

/// The messages a method puts on a flow when a credential was wrong (a guess), as opposed to
/// a missing field or a form error: invalid credentials, TOTP, backup code, login code, and a
/// WebAuthn answer that did not verify.
pub const FAILURE_MESSAGES: [u64; 5] = [
    ids::VALIDATION_INVALID_CREDENTIALS,
    4000008,
    ids::VALIDATION_LOOKUP_INVALID,
    ids::VALIDATION_LOGIN_CODE_INVALID,
    4000043,
];

/// What a counter counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Identifier,
    Identity,
    Address,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Identifier => "identifier",
            Kind::Identity => "identity",
            Kind::Address => "address",
        }
    }

    fn prefix(self) -> &'static str {
        match self {
            Kind::Identifier => "identifier:",
            Kind::Identity => "identity:",
            Kind::Address => "address:",
        }
    }

    fn of_stored(key: &str) -> Option<Kind> {
        [Kind::Identifier, Kind::Identity, Kind::Address]
            .into_iter()
            .find(|k| key.starts_with(k.prefix()))
    }

    fn policy(self, bf: &BruteForce) -> &FailurePolicy {
        match self {
            Kind::Identifier | Kind::Identity => &bf.per_identifier,
            Kind::Address => &bf.per_address,
        }
    }
}

/// One counter's key as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Key {
    pub kind: Kind,
    stored: String,
}

impl Key {
    /// The identifier as a user typed it, normalised as password and WebAuthn identifiers are
    /// (so `Alice@Example.com ` is `alice@example.com`); only its digest is kept.
    pub fn identifier(typed: &str) -> Key {
        let normal = crate::identity::schema::normalize_identifier(typed, None);
        Key {
            kind: Kind::Identifier,
            stored: format!(
                "{}{}",
                Kind::Identifier.prefix(),
                crate::hash::lower_hex(&Sha256::digest(normal.as_bytes()))
            ),
        }
    }

    pub fn identity(id: Uuid) -> Key {
        Key {
            kind: Kind::Identity,
            stored: format!("{}{id}", Kind::Identity.prefix()),
        }
    }

    /// IPv6 clients count per /64, the block one subscriber normally holds.
    pub fn address(ip: IpAddr) -> Key {
        let ip = match ip {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
            },
            v4 => v4,
        };
        Key {
            kind: Kind::Address,
            stored: format!("{}{ip}", Kind::Address.prefix()),
        }
    }
}

/// The keys one sign-in attempt counts against.
#[derive(Clone, Debug)]
pub struct Keys(Vec<Key>, Cleared);

/// Whether [`check`] found a counter a success must clear; without one a normal sign-in
/// writes nothing.
#[derive(Clone, Copy, Debug)]
struct Cleared(bool);

impl Keys {
    /// `identifier`: what was typed, if anything; `identity`: the identity a second-factor
    /// flow authenticates; `address`: the client.
    pub fn new(identifier: Option<&str>, identity: Option<Uuid>, address: Option<IpAddr>) -> Keys {
        let identifier = identifier
            .filter(|i| !i.trim().is_empty())
            .map(Key::identifier);
        Keys(
            identifier
                .into_iter()
                .chain(identity.map(Key::identity))
                .chain(address.map(Key::address))
                .collect(),
            // Unchecked keys are cleared on success.
            Cleared(true),
        )
    }

    fn stored(&self, kinds: &[Kind]) -> Vec<String> {
        self.0
            .iter()
            .filter(|k| kinds.contains(&k.kind))
            .map(|k| k.stored.clone())
            .collect()
    }
}

/// A refused attempt: when the longest-waiting key may try again.
#[derive(Clone, Copy, Debug, thiserror::Error)]
#[error("too many failed sign-in attempts ({} wait)", .kind.as_str())]
pub struct Refused {
    pub kind: Kind,
    pub retry_after: Duration,
}

impl Refused {
    /// Whole seconds, rounded up (`Retry-After` and the message).
    pub fn retry_after_secs(&self) -> u64 {
        let d = self.retry_after;
        (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1)
    }
}

fn now() -> NaiveDateTime {
    crate::identity::now().naive_utc()
}

fn chrono_of(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

fn minus(at: NaiveDateTime, d: Duration) -> NaiveDateTime {
    at.checked_sub_signed(chrono_of(d))
        .unwrap_or(NaiveDateTime::MIN)
}

fn plus(at: NaiveDateTime, d: Duration) -> NaiveDateTime {
    at.checked_add_signed(chrono_of(d))
        .unwrap_or(NaiveDateTime::MAX)
}

/// A row as it counts now: `None` when it has gone stale.
fn live<'a>(bf: &BruteForce, row: &'a CounterRow, at: NaiveDateTime) -> Option<&'a CounterRow> {
    let kind = Kind::of_stored(&row.key)?;
    (row.last_failure_at >= minus(at, kind.policy(bf).reset_after.0)).then_some(row)
}

/// Whether any key must wait; checked before a method runs, so a refused attempt costs no
/// hash and no lookup. `origin` is the client, for the refusal's event.
pub async fn check(
    deps: &Deps,
    keys: &mut Keys,
    origin: &Origin,
) -> Result<Option<Refused>, StoreError> {
    let bf = &deps.config.security.brute_force;
    if !bf.enabled || keys.0.is_empty() {
        return Ok(None);
    }
    let at = now();
    let rows = q::load(
        &deps.store,
        &keys.stored(&[Kind::Identifier, Kind::Identity, Kind::Address]),
    )
    .await?;
    keys.1 = Cleared(rows.iter().any(|r| {
        matches!(
            Kind::of_stored(&r.key),
            Some(Kind::Identifier | Kind::Identity)
        )
    }));
    let refused = rows
        .iter()
        .filter_map(|r| live(bf, r, at))
        .filter_map(|r| {
            let until = r.locked_until.filter(|u| *u > at)?;
            Some(Refused {
                kind: Kind::of_stored(&r.key)?,
                retry_after: (until - at).to_std().unwrap_or_default(),
            })
        })
        .max_by_key(|r| r.retry_after);
    if let Some(r) = &refused {
        deps.metrics
            .throttle_refusals
            .with_label_values(&[r.kind.as_str()])
            .inc();
        // The counter's kind only: never the identifier that was typed.
        events::emit(
            deps,
            Event::new(Name::ThrottleRefused)
                .origin(origin)
                .key_kind(r.kind.as_str())
                .retry_after_secs(r.retry_after_secs()),
        );
    }
    Ok(refused)
}

/// Whether the messages a method left on the flow say a credential was guessed wrong.
pub fn is_failure(message_ids: impl IntoIterator<Item = u64>) -> bool {
    message_ids
        .into_iter()
        .any(|id| FAILURE_MESSAGES.contains(&id))
}

/// What a method answered: a failure counts against every key; a success clears the
/// identifier and identity counters (the address keeps its count: one success must not
/// let a sprayer start over). A failure that locks a key out is a `lockout.started` event.
pub async fn record(
    deps: &Deps,
    keys: &Keys,
    failed: bool,
    origin: &Origin,
) -> Result<(), StoreError> {
    let bf = &deps.config.security.brute_force;
    if !bf.enabled || keys.0.is_empty() {
        return Ok(());
    }
    if !failed {
        if !keys.1.0 {
            return Ok(());
        }
        let clear = keys.stored(&[Kind::Identifier, Kind::Identity]);
        if !clear.is_empty() {
            q::clear(&deps.store, &clear).await?;
        }
        return Ok(());
    }
    let at = now();
    for key in &keys.0 {
        let p = key.kind.policy(bf);
        let (waits, quick_waits) = ladders(p, at);
        let lock_from = match p.lockout_after {
            0 => i64::MAX,
            n => i64::from(n),
        };
        let (failures, _) = q::record_failure(
            &deps.store,
            &Failure {
                key: &key.stored,
                now: at,
                stale_before: minus(at, p.reset_after.0),
                quick_since: minus(at, p.quick_login_check.0),
                free: i64::from(p.free_failures),
                lock_from,
                lock_until: plus(at, p.lockout.0),
                waits: &waits,
                quick_waits: &quick_waits,
            },
        )
        .await?;
        if i64::from(failures) >= lock_from {
            events::emit(
                deps,
                Event::new(Name::LockoutStarted)
                    .origin(origin)
                    .key_kind(key.kind.as_str())
                    .failures(u64::try_from(failures).unwrap_or_default())
                    .retry_after_secs(p.lockout.0.as_secs()),
            );
        }
    }
    Ok(())
}

/// The waits each count beyond the free ones earns, as times from `at`: `wait_increment`
/// doubling up to `max_wait` (the last entry holds for every later count), and the same no
/// shorter than `quick_login_wait` for a quick failure.
fn ladders(p: &FailurePolicy, at: NaiveDateTime) -> (Vec<NaiveDateTime>, Vec<NaiveDateTime>) {
    let waits = wait_steps(p);
    let quick = waits
        .iter()
        .map(|w| {
            if p.quick_login_check.0.is_zero() {
                *w
            } else {
                (*w).max(p.quick_login_wait.0)
            }
        })
        .map(|w| plus(at, w))
        .collect();
    (waits.into_iter().map(|w| plus(at, w)).collect(), quick)
}

/// At most 32 steps: the doubling reaches any sensible `max_wait` long before.
fn wait_steps(p: &FailurePolicy) -> Vec<Duration> {
    let max = p.max_wait.0;
    let mut steps = Vec::new();
    let mut w = p.wait_increment.0;
    loop {
        let step = w.min(max);
        steps.push(step);
        if step >= max || steps.len() == 32 {
            return steps;
        }
        w = w.saturating_mul(2);
    }
}

/// A counter as the admin API shows it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct State {
    pub kind: &'static str,
    pub failures: i32,
    pub first_failure_at: Option<chrono::DateTime<chrono::Utc>>,
    pub last_failure_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Set while the key is locked out (its failures reached `lockout_after`).
    pub locked_until: Option<chrono::DateTime<chrono::Utc>>,
    /// When the next attempt is allowed, while it waits (backoff or lockout).
    pub next_attempt_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// The keys an admin names: an identifier, an address, or an identity with the identifiers of
/// its credentials (whose counters a user's lockout is really in).
pub async fn admin_keys(
    deps: &Deps,
    identifier: Option<&str>,
    identity: Option<Uuid>,
    address: Option<IpAddr>,
) -> Keys {
    let mut keys = Keys::new(identifier, identity, address);
    if let Some(id) = identity
        && let Ok(i) = crate::identity::service::get(deps, id, true).await
    {
        for c in i.credentials.values() {
            for typed in &c.identifiers {
                let k = Key::identifier(typed);
                if !keys.0.contains(&k) {
                    keys.0.push(k);
                }
            }
        }
    }
    keys
}

/// Every key's counter as it counts now (zero when absent or stale).
pub async fn states(deps: &Deps, keys: &Keys) -> Result<Vec<State>, StoreError> {
    let bf = &deps.config.security.brute_force;
    let at = now();
    let rows = q::load(
        &deps.store,
        &keys.stored(&[Kind::Identifier, Kind::Identity, Kind::Address]),
    )
    .await?;
    let utc = |t: NaiveDateTime| t.and_utc();
    Ok(keys
        .0
        .iter()
        .map(|k| {
            let row = rows
                .iter()
                .find(|r| r.key == k.stored)
                .and_then(|r| live(bf, r, at));
            let lockout_after = k.kind.policy(bf).lockout_after;
            let waiting = row.and_then(|r| r.locked_until).filter(|u| *u > at);
            State {
                kind: k.kind.as_str(),
                failures: row.map_or(0, |r| r.failures),
                first_failure_at: row.map(|r| utc(r.first_failure_at)),
                last_failure_at: row.map(|r| utc(r.last_failure_at)),
                locked_until: waiting
                    .filter(|_| {
                        lockout_after > 0 && row.is_some_and(|r| r.failures >= lockout_after as i32)
                    })
                    .map(utc),
                next_attempt_at: waiting.map(utc),
            }
        })
        .collect())
}

/// Forgets every key's counter (an admin lifting a lockout: a `lockout.lifted` per key).
pub async fn clear(deps: &Deps, keys: &Keys) -> Result<(), StoreError> {
    let all = keys.stored(&[Kind::Identifier, Kind::Identity, Kind::Address]);
    if !all.is_empty() {
        q::clear(&deps.store, &all).await?;
    }
    for k in &keys.0 {
        let identity = k
            .stored
            .strip_prefix(Kind::Identity.prefix())
            .and_then(|id| Uuid::try_parse(id).ok());
        events::emit(
            deps,
            Event::new(Name::LockoutLifted)
                .key_kind(k.kind.as_str())
                .identity(identity),
        );
    }
    Ok(())
}

/// Per stored key prefix, the instant before which a counter's last failure makes it count as
/// zero: the flow sweeper and `cleanup sql` delete those.
pub fn stale_cutoffs(bf: &BruteForce) -> Vec<(&'static str, NaiveDateTime)> {
    let at = now();
    [Kind::Identifier, Kind::Identity, Kind::Address]
        .into_iter()
        .map(|k| (k.prefix(), minus(at, k.policy(bf).reset_after.0)))
        .collect()
}

/// For the flow sweeper: drops the counters that already count as zero.
pub async fn sweep(deps: &Deps) -> Result<usize, StoreError> {
    let cutoffs = stale_cutoffs(&deps.config.security.brute_force);
    q::delete_untouched(&deps.store, &cutoffs).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Duration as D;

    #[test]
    fn waits_double_up_to_the_maximum() {
        let p = FailurePolicy {
            wait_increment: D::from_secs(1),
            max_wait: D::from_secs(60),
            ..FailurePolicy::default()
        };
        let secs: Vec<u64> = wait_steps(&p).iter().map(Duration::as_secs).collect();
        assert_eq!(secs, vec![1, 2, 4, 8, 16, 32, 60]);
    }

    #[test]
    fn identifiers_are_normalised_and_digested() {
        let a = Key::identifier(" Alice@Example.com ");
        assert_eq!(a, Key::identifier("alice@example.com"));
        assert!(!a.stored.contains("alice"));
        assert_ne!(a, Key::identifier("bob@example.com"));
    }

    #[test]
    fn ipv6_counts_per_64() {
        let a = Key::address("2001:db8:1:2:aaaa::1".parse().unwrap());
        assert_eq!(a, Key::address("2001:db8:1:2:bbbb::9".parse().unwrap()));
        assert_ne!(a, Key::address("2001:db8:1:3::1".parse().unwrap()));
        assert_eq!(
            Key::address("::ffff:198.51.100.7".parse().unwrap()),
            Key::address("198.51.100.7".parse().unwrap())
        );
    }
}
