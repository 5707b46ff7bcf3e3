//! Gatehouse's own security settings, beyond Kratos's keys: brute-force throttling, rate limits
//! per client address, which proxies may name the client, admin API keys, browser hardening
//! headers and session hygiene. Every default is on where it protects users without changing
//! what a well-behaved client sees; `session.hygiene.kratos_compatible` restores Kratos's
//! session behaviour on the wire.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::units::Duration;

/// `security.brute_force`: failed sign-in attempts (password, code, TOTP, backup code,
/// WebAuthn) counted in the database, so every node sees the same counts. Modelled on
/// Keycloak's brute-force detection: free failures, then a wait that doubles per failure up to
/// `max_wait`, then a lockout; a success clears the counts of the identifier and identity.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct BruteForce {
    pub enabled: bool,
    /// Counted per identifier typed (whether or not it names an account) and per identity.
    pub per_identifier: FailurePolicy,
    /// Counted per client address, across identifiers (password spraying).
    pub per_address: FailurePolicy,
}

impl Default for BruteForce {
    fn default() -> Self {
        Self {
            enabled: true,
            per_identifier: FailurePolicy {
                free_failures: 5,
                wait_increment: Duration::from_secs(1),
                max_wait: Duration::from_secs(60),
                quick_login_check: Duration::from_secs(1),
                quick_login_wait: Duration::from_secs(60),
                lockout_after: 20,
                lockout: Duration::from_secs(15 * 60),
                reset_after: Duration::from_secs(12 * 3600),
            },
            per_address: FailurePolicy {
                free_failures: 50,
                wait_increment: Duration::from_secs(1),
                max_wait: Duration::from_secs(60),
                quick_login_check: Duration::from_secs(0),
                quick_login_wait: Duration::from_secs(60),
                lockout_after: 200,
                lockout: Duration::from_secs(15 * 60),
                reset_after: Duration::from_secs(3600),
            },
        }
    }
}

/// One counter's rules (Keycloak's knobs in brackets).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct FailurePolicy {
    /// Failures that cost nothing.
    pub free_failures: u32,
    /// The wait after the first failure beyond the free ones; it doubles with each further
    /// failure [wait increment].
    pub wait_increment: Duration,
    /// The longest such wait [max wait].
    pub max_wait: Duration,
    /// Two failures closer together than this (beyond the free ones) look scripted and cost
    /// `quick_login_wait`; `0s` turns the check off [quick login check].
    pub quick_login_check: Duration,
    /// [minimum quick login wait].
    pub quick_login_wait: Duration,
    /// After this many failures every attempt is refused for `lockout` [failure factor];
    /// `0` never locks.
    pub lockout_after: u32,
    pub lockout: Duration,
    /// A counter with no failure for this long starts again at zero [failure reset time].
    pub reset_after: Duration,
}

impl Default for FailurePolicy {
    fn default() -> Self {
        BruteForce::default().per_identifier
    }
}

/// `security.rate_limits`: work a client address may cause, each a token bucket of `burst`
/// refilled with one token every `interval`, kept in the database.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimits {
    pub enabled: bool,
    /// Self-service flows created (every flow type, browser and API).
    pub flows: Bucket,
    /// One-time codes and links sent (recovery, verification, login and registration codes,
    /// resends).
    pub codes: Bucket,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            enabled: true,
            flows: Bucket {
                burst: 100,
                interval: Duration::from_millis(500),
            },
            codes: Bucket {
                burst: 20,
                interval: Duration::from_secs(10),
            },
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Bucket {
    pub burst: u32,
    pub interval: Duration,
}

impl Default for Bucket {
    fn default() -> Self {
        RateLimits::default().flows
    }
}

/// `serve.public.trusted_proxies` default: loopback and private networks, where the reverse
/// proxies in front of an identity server normally sit.
pub fn default_trusted_proxies() -> Vec<String> {
    [
        "127.0.0.0/8",
        "::1/128",
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "fc00::/7",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect()
}

/// `serve.admin.api_keys`: when enabled, every admin route but health and version needs
/// `Authorization: Bearer <key>` with a key made by `gatehouse admin-keys create`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct AdminApiKeys {
    pub enabled: bool,
}

/// `serve.public.security_headers`: browser hardening on every public response.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SecurityHeaders {
    pub enabled: bool,
    /// `Strict-Transport-Security` max-age, sent when the public base URL is https; `0s`
    /// sends none.
    pub hsts_max_age: Duration,
    pub hsts_include_subdomains: bool,
    /// `Referrer-Policy`; empty sends none.
    pub referrer_policy: String,
    /// CSP `frame-ancestors` on pages and flows (`'none'` also sends `X-Frame-Options: DENY`,
    /// `'self'` `SAMEORIGIN`); empty sends none.
    pub frame_ancestors: String,
}

impl Default for SecurityHeaders {
    fn default() -> Self {
        Self {
            enabled: true,
            hsts_max_age: Duration::from_secs(365 * 24 * 3600),
            hsts_include_subdomains: true,
            referrer_policy: "same-origin".into(),
            frame_ancestors: "'none'".into(),
        }
    }
}

/// `session.hygiene`: what Gatehouse does with sessions that Kratos does not.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SessionHygiene {
    /// `true` behaves as Kratos: the two switches below count as off.
    pub kratos_compatible: bool,
    /// A re-authentication (`refresh=true`) or a higher assurance level issues a new session
    /// token and cookie and revokes the old ones.
    pub rotate_on_reauthentication: bool,
    /// A password change in settings, or a completed recovery, revokes the identity's other
    /// sessions.
    pub revoke_others_on_password_change: bool,
    /// A session unused for this long ends, on top of `session.lifespan`; unset: never.
    pub inactivity_timeout: Option<Duration>,
}

impl Default for SessionHygiene {
    fn default() -> Self {
        Self {
            kratos_compatible: false,
            rotate_on_reauthentication: true,
            revoke_others_on_password_change: true,
            inactivity_timeout: None,
        }
    }
}

impl SessionHygiene {
    pub fn rotates(&self) -> bool {
        self.rotate_on_reauthentication && !self.kratos_compatible
    }

    pub fn revokes_others_on_password_change(&self) -> bool {
        self.revoke_others_on_password_change && !self.kratos_compatible
    }
}

/// A block of addresses written `address/prefix` (a bare address is one host).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    net: std::net::IpAddr,
    prefix: u8,
}

impl std::str::FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let net: std::net::IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("{s:?} is not an IP address or CIDR block"))?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?} has a prefix length outside 0..={max}"))?,
            None => max,
        };
        Ok(Self { net, prefix })
    }
}

impl Cidr {
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        use std::net::IpAddr;
        // An IPv4 peer may arrive as an IPv4-mapped IPv6 address on a dual-stack socket.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Cidr;

    #[test]
    fn cidr_blocks_contain_their_addresses_only() {
        let v4: Cidr = "172.16.0.0/12".parse().unwrap();
        assert!(v4.contains("172.31.255.1".parse().unwrap()));
        assert!(!v4.contains("172.32.0.1".parse().unwrap()));
        assert!(v4.contains("::ffff:172.16.0.9".parse().unwrap()));
        let host: Cidr = "::1".parse().unwrap();
        assert!(host.contains("::1".parse().unwrap()));
        assert!(!host.contains("::2".parse().unwrap()));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("nonsense".parse::<Cidr>().is_err());
    }
}
