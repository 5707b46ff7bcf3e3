//! Rate limits per client address (`security.rate_limits`): a token bucket per address and
//! bucket, `burst` tokens refilled one every `interval`, kept in the database (GCRA), so a
//! script cannot start flows or have codes mailed without bound, whichever node it reaches.

use std::net::IpAddr;
use std::time::Duration;

use super::events::{self, Event, Name, Origin};
use crate::deps::Deps;
use crate::store::rate_limits::{self as q, Rule, Taken};

/// What a client address spends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bucket {
    /// A self-service flow started.
    Flows,
    /// A one-time code or link sent.
    Codes,
}

impl Bucket {
    pub fn as_str(self) -> &'static str {
        match self {
            Bucket::Flows => "flows",
            Bucket::Codes => "codes",
        }
    }
}

/// The bucket is empty: nothing was done; the client may come back after `retry_after`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("too many {} from this client address", .bucket.as_str())]
pub struct Limited {
    pub bucket: Bucket,
    pub retry_after: Duration,
}

impl Limited {
    /// `Retry-After` in whole seconds, rounded up (never 0: the client must wait).
    pub fn retry_after_secs(&self) -> u64 {
        self.retry_after.as_millis().div_ceil(1000).max(1) as u64
    }
}

/// Takes a token of `bucket` for `client`. Requests without a client address (no peer) and a
/// disabled `security.rate_limits` are not limited. A database failure lets the request
/// through: the limit protects the service, it must not take sign-in down with the database
/// (whatever the request writes next fails on its own).
pub async fn admit(deps: &Deps, bucket: Bucket, client: Option<IpAddr>) -> Result<(), Limited> {
    let cfg = &deps.config.security.rate_limits;
    let Some(client) = client.filter(|_| cfg.enabled) else {
        return Ok(());
    };
    let b = match bucket {
        Bucket::Flows => &cfg.flows,
        Bucket::Codes => &cfg.codes,
    };
    let interval = micros(b.interval.get()).max(1);
    // A burst of 0 would refuse everything; the switch for that is `enabled`.
    let rule = Rule {
        interval,
        tolerance: interval.saturating_mul(i64::from(b.burst.max(1))),
    };
    let now = chrono::Utc::now().timestamp_micros();
    let key = format!("{}:{}", bucket.as_str(), client_key(client));
    match q::take(&deps.store, &key, now, rule).await {
        Ok(Taken::Allowed) => Ok(()),
        Ok(Taken::Limited { tat }) => {
            deps.metrics
                .rate_limit_refusals
                .with_label_values(&[bucket.as_str()])
                .inc();
            // The next token frees when max(tat, now) + interval - tolerance reaches now.
            let wait = tat.max(now) + rule.interval - rule.tolerance - now;
            let limited = Limited {
                bucket,
                retry_after: Duration::from_micros(wait.max(0) as u64),
            };
            events::emit(
                deps,
                Event::new(Name::RateLimitRefused)
                    .origin(&Origin::new(Some(client), None))
                    .bucket(bucket.as_str())
                    .retry_after_secs(limited.retry_after_secs()),
            );
            Err(limited)
        }
        Err(e) => {
            tracing::warn!(error = %e, bucket = bucket.as_str(), "rate limit check failed; the request goes through");
            Ok(())
        }
    }
}

/// Deletes buckets that are full again (the flow sweeper's tick).
pub async fn sweep(deps: &Deps, batch: i64) -> Result<usize, crate::store::StoreError> {
    q::delete_spent(&deps.store, chrono::Utc::now().timestamp_micros(), batch).await
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// The key an address is counted under. An IPv6 client normally holds a whole /64, so it is
/// counted per /64 (else one host could rotate through 2^64 addresses); an IPv4 address seen
/// as IPv4-mapped IPv6 counts as itself.
fn client_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let net = u128::from(v6) & (u128::MAX << 64);
                format!("{}/64", std::net::Ipv6Addr::from(net))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_count_per_64_and_mapped_ipv4_as_itself() {
        let a = client_key("2001:db8:1:2:aaaa::1".parse().unwrap());
        let b = client_key("2001:db8:1:2:bbbb::9".parse().unwrap());
        assert_eq!(a, "2001:db8:1:2::/64");
        assert_eq!(a, b);
        assert_ne!(a, client_key("2001:db8:1:3::1".parse().unwrap()));
        assert_eq!(
            client_key("::ffff:198.51.100.7".parse().unwrap()),
            "198.51.100.7"
        );
        assert_eq!(client_key("198.51.100.7".parse().unwrap()), "198.51.100.7");
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        let l = |ms| Limited {
            bucket: Bucket::Flows,
            retry_after: Duration::from_millis(ms),
        };
        assert_eq!(l(0).retry_after_secs(), 1);
        assert_eq!(l(100).retry_after_secs(), 1);
        assert_eq!(l(1000).retry_after_secs(), 1);
        assert_eq!(l(1001).retry_after_secs(), 2);
    }
}
