//! Password policy, matching Kratos' default validator: length bounds, similarity to the
//! identifier, and a k-anonymity lookup in the Have I Been Pwned range API.
//!
//! Differences from Kratos, all deliberate:
//! * the 10,000 most common passwords ship inside the binary (`common_passwords.txt`, MIT,
//!   from zxcvbn-ts) and are refused, case-insensitively, before HIBP is asked and whether
//!   or not it is enabled, so the check holds without internet (OWASP ASVS 5.0 6.2.4);
//! * lengths count Unicode scalar values, not bytes, so non-ASCII passwords are not
//!   penalised or favoured by their encoding;
//! * a maximum length is enforced for every hasher (Kratos only limits bcrypt, to 72 bytes)
//!   so that hashing and the O(n·m) similarity check stay cheap;
//! * the similarity check is skipped for an empty identifier (Kratos would reject short
//!   passwords as "similar" to nothing when `min_length < 5`);
//! * the range cache is bounded (Kratos' grows forever).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use sha1::{Digest, Sha1};

use crate::config::HttpClient;
use crate::outbound::{Options, Outbound};
use crate::text::{self, UiText};

/// Kratos' thresholds: too similar when the edit distance is below 5, or when the longest
/// common substring covers more than half of the password.
const MIN_EDIT_DISTANCE: usize = 5;
const MAX_COMMON_SUBSTRING_RATIO: f64 = 0.5;

/// HIBP lookups must not hold a sign-up hostage for long.
const HIBP_TIMEOUT: Duration = Duration::from_secs(5);

/// Range responses kept. One holds at most ~1 000 real suffixes (padding is dropped), so
/// this bounds the cache to a few MiB.
const RANGE_CACHE_CAPACITY: usize = 64;

/// The offline list, lower case, one a line after a `#` header (source and licence); 77 KB,
/// small enough to embed uncompressed.
const COMMON_PASSWORDS_FILE: &str = include_str!("common_passwords.txt");

/// Built on first use (about a millisecond), then each lookup is one hash probe.
static COMMON_PASSWORDS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    COMMON_PASSWORDS_FILE
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
});

/// True when the password, lower-cased, is on the offline list of common passwords.
fn is_common(password: &str) -> bool {
    COMMON_PASSWORDS.contains(password.to_lowercase().as_str())
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyConfig {
    /// `selfservice.methods.password.config.min_password_length` (Kratos default 8).
    pub min_length: usize,
    /// Upper bound in characters. Argon2 accepts far longer inputs, but nobody types more
    /// than a long passphrase, and an unbounded password makes every request cost
    /// hashing and similarity work proportional to attacker-chosen input; 1024 leaves
    /// generous room for password managers. (Gatehouse's bcrypt path still has to enforce
    /// bcrypt's own 72-byte limit when that hasher is configured.)
    pub max_length: usize,
    /// `identifier_similarity_check_enabled` (default true).
    pub identifier_similarity_check: bool,
    /// `haveibeenpwned_enabled` (default true).
    pub haveibeenpwned_enabled: bool,
    /// `haveibeenpwned_host` (default `api.pwnedpasswords.com`). A bare host is queried
    /// over https, as Kratos does; a value with a scheme (`http://127.0.0.1:8080`) is
    /// used as the base URL verbatim, which is how tests point at a local server.
    pub haveibeenpwned_host: String,
    /// `max_breaches` (default 0): more appearances than this reject the password.
    pub max_breaches: u64,
    /// `ignore_network_errors` (default true): an unreachable or failing HIBP accepts.
    pub ignore_network_errors: bool,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            min_length: 8,
            max_length: 1024,
            identifier_similarity_check: true,
            haveibeenpwned_enabled: true,
            haveibeenpwned_host: "api.pwnedpasswords.com".into(),
            max_breaches: 0,
            ignore_network_errors: true,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PolicyViolation {
    #[error("the password must be at least {min} characters long, but has {actual}")]
    TooShort { min: usize, actual: usize },
    #[error("the password must be at most {max} characters long, but has {actual}")]
    TooLong { max: usize, actual: usize },
    #[error("the password is too similar to the identifier")]
    TooSimilar,
    #[error("the password appeared in {count} data breaches")]
    Breached { count: u64 },
    /// On the offline list of the most common passwords.
    #[error("the password is one of the most common passwords")]
    Common,
    /// HIBP unreachable or answering non-200 while `ignore_network_errors` is off.
    #[error("the password could not be checked against known data breaches: {0}")]
    NetworkError(String),
    /// HIBP answered 200 with a malformed count. Kratos treats this as an upstream (502)
    /// failure regardless of `ignore_network_errors`; callers may do the same.
    #[error("the breach database answered with malformed data: {0}")]
    Upstream(String),
}

impl PolicyViolation {
    /// The message to attach to the `password` node.
    pub fn message(&self) -> UiText {
        match self {
            PolicyViolation::TooShort { min, actual } => {
                text::validation_password_min_length(*min as u64, *actual as u64)
            }
            PolicyViolation::TooLong { max, actual } => {
                text::validation_password_max_length(*max as u64, *actual as u64)
            }
            PolicyViolation::TooSimilar => text::validation_password_identifier_too_similar(),
            PolicyViolation::Breached { count } => text::validation_password_too_many_breaches(
                i64::try_from(*count).unwrap_or(i64::MAX),
            ),
            // Kratos' breach message (the list comes from leaked passwords), without the
            // `breaches` count, which the offline list does not know.
            PolicyViolation::Common => UiText {
                context: None,
                ..text::validation_password_too_many_breaches(0)
            },
            PolicyViolation::NetworkError(_) => text::validation_password_policy_violation(
                "it could not be checked against known data breaches",
            ),
            PolicyViolation::Upstream(_) => text::validation_password_policy_violation(
                "the breach database returned an unexpected answer",
            ),
        }
    }

    /// True for failures of the breach service rather than of the password.
    pub fn is_upstream_failure(&self) -> bool {
        matches!(self, PolicyViolation::Upstream(_))
    }
}

/// Suffix → breach count for one 5-hex-digit prefix; zero-count padding is not stored.
type Range = Arc<HashMap<String, u64>>;

/// Insertion-ordered bounded map of range responses; the oldest entry is evicted first.
#[derive(Default)]
struct RangeCache {
    ranges: HashMap<String, Range>,
    order: VecDeque<String>,
}

impl RangeCache {
    fn get(&self, prefix: &str) -> Option<Range> {
        self.ranges.get(prefix).cloned()
    }

    fn insert(&mut self, prefix: String, range: Range) {
        if self.ranges.insert(prefix.clone(), range).is_none() {
            self.order.push_back(prefix);
        }
        while self.order.len() > RANGE_CACHE_CAPACITY {
            if let Some(old) = self.order.pop_front() {
                self.ranges.remove(&old);
            }
        }
    }
}

pub struct PasswordPolicy {
    cfg: PolicyConfig,
    http: Outbound,
    cache: Mutex<RangeCache>,
}

impl std::fmt::Debug for PasswordPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordPolicy")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

impl PasswordPolicy {
    /// The policy with `clients.http`'s rules for the breached-password API.
    pub fn new(cfg: PolicyConfig, clients: &HttpClient) -> Result<Self, String> {
        let http = Outbound::new(
            clients,
            Options {
                timeout: HIBP_TIMEOUT,
                follow_redirects: true,
                user_agent: true,
            },
        )?;
        Ok(Self::with_client(cfg, http))
    }

    pub fn with_client(cfg: PolicyConfig, http: Outbound) -> Self {
        Self {
            cfg,
            http,
            cache: Mutex::new(RangeCache::default()),
        }
    }

    pub fn config(&self) -> &PolicyConfig {
        &self.cfg
    }

    /// Checks in Kratos' order: length, similarity, breaches (the offline list of common
    /// passwords first, then the network last, and only for passwords that passed
    /// everything else).
    pub async fn validate(&self, identifier: &str, password: &str) -> Result<(), PolicyViolation> {
        let actual = password.chars().count();
        if actual < self.cfg.min_length {
            return Err(PolicyViolation::TooShort {
                min: self.cfg.min_length,
                actual,
            });
        }
        if actual > self.cfg.max_length {
            return Err(PolicyViolation::TooLong {
                max: self.cfg.max_length,
                actual,
            });
        }
        if self.cfg.identifier_similarity_check
            && !identifier.is_empty()
            && too_similar(identifier, password)
        {
            return Err(PolicyViolation::TooSimilar);
        }
        if is_common(password) {
            return Err(PolicyViolation::Common);
        }
        if !self.cfg.haveibeenpwned_enabled {
            return Ok(());
        }
        let hash = sha1_upper_hex(password);
        match self.breach_count(&hash).await {
            Ok(count) if count > self.cfg.max_breaches => Err(PolicyViolation::Breached { count }),
            Ok(_) => Ok(()),
            Err(PolicyViolation::NetworkError(reason)) if self.cfg.ignore_network_errors => {
                tracing::warn!(%reason, "breached-password check skipped");
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Appearances of a SHA-1 (upper-case hex) in HIBP, from the cache or one range query.
    async fn breach_count(&self, hash: &str) -> Result<u64, PolicyViolation> {
        let (prefix, suffix) = hash.split_at(5);
        let cached = self.lock_cache().get(prefix);
        let range = match cached {
            Some(r) => r,
            None => {
                let r = Arc::new(self.fetch_range(prefix).await?);
                self.lock_cache().insert(prefix.to_owned(), r.clone());
                r
            }
        };
        Ok(range.get(suffix).copied().unwrap_or(0))
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, RangeCache> {
        // The cache holds no invariants a panic could break; keep using it.
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn range_url(&self, prefix: &str) -> String {
        let host = self.cfg.haveibeenpwned_host.trim_end_matches('/');
        if host.contains("://") {
            format!("{host}/range/{prefix}")
        } else {
            format!("https://{host}/range/{prefix}")
        }
    }

    async fn fetch_range(&self, prefix: &str) -> Result<HashMap<String, u64>, PolicyViolation> {
        let network = |e: String| PolicyViolation::NetworkError(e);
        let res = self
            .http
            .get(&self.range_url(prefix))
            .map_err(|r| network(r.0))?
            // Padding hides the true size of the answer from on-path observers.
            .header("Add-Padding", "true")
            .send()
            .await
            .map_err(|e| network(crate::outbound::explain(&e)))?;
        if !res.status().is_success() {
            return Err(network(format!("unexpected status {}", res.status())));
        }
        let body = res.text().await.map_err(|e| network(e.to_string()))?;
        parse_range(&body)
    }
}

/// Parses `SUFFIX:COUNT` lines. Lines without a colon are skipped and thousands
/// separators in counts are tolerated (as Kratos does); an unparsable count is an error.
fn parse_range(body: &str) -> Result<HashMap<String, u64>, PolicyViolation> {
    let mut out = HashMap::new();
    for line in body.lines() {
        let Some((suffix, count)) = line.trim().split_once(':') else {
            continue;
        };
        let digits: String = count.trim().chars().filter(|c| *c != ',').collect();
        let count: u64 = digits.parse().map_err(|_| {
            PolicyViolation::Upstream(format!(
                "count {count:?} for suffix {suffix:?} is not a number"
            ))
        })?;
        if count > 0 {
            out.insert(suffix.trim().to_ascii_uppercase(), count);
        }
    }
    Ok(out)
}

fn sha1_upper_hex(password: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let digest = Sha1::digest(password.as_bytes());
    let mut out = String::with_capacity(40);
    for b in digest.iter() {
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 0x0f)] as char);
    }
    out
}

/// Kratos' rule, case-insensitive: a small edit distance, or a long shared substring
/// relative to the password's length, means the password is derived from the identifier.
fn too_similar(identifier: &str, password: &str) -> bool {
    let id: Vec<char> = identifier.to_lowercase().chars().collect();
    let pw: Vec<char> = password.to_lowercase().chars().collect();
    if pw.is_empty() {
        return true;
    }
    if levenshtein(&id, &pw) < MIN_EDIT_DISTANCE {
        return true;
    }
    longest_common_substring(&id, &pw) as f64 / pw.len() as f64 > MAX_COMMON_SUBSTRING_RATIO
}

/// Edit distance with unit costs, two-row dynamic programming.
fn levenshtein(a: &[char], b: &[char]) -> usize {
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = prev[j] + usize::from(ca != cb);
            cur[j + 1] = substitute.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// Length of the longest common contiguous run, one DP row at a time.
fn longest_common_substring(a: &[char], b: &[char]) -> usize {
    let mut prev = vec![0usize; b.len() + 1];
    let mut cur = vec![0usize; b.len() + 1];
    let mut best = 0;
    for ca in a {
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = if ca == cb { prev[j] + 1 } else { 0 };
            best = best.max(cur[j + 1]);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A minimal HIBP range server: answers `/range/<prefix>` from `breached`
    /// (full hash → count) plus padding lines, counting requests.
    struct FakeHibp {
        base: String,
        requests: Arc<AtomicUsize>,
        padding_seen: Arc<AtomicUsize>,
    }

    async fn fake_hibp(breached: Vec<(String, String)>) -> FakeHibp {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(AtomicUsize::new(0));
        let padding_seen = Arc::new(AtomicUsize::new(0));
        let (req, pad) = (requests.clone(), padding_seen.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let breached = breached.clone();
                let (req, pad) = (req.clone(), pad.clone());
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 1024];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    req.fetch_add(1, Ordering::SeqCst);
                    let head = String::from_utf8_lossy(&buf).to_ascii_lowercase();
                    if head.contains("\r\nadd-padding: true") {
                        pad.fetch_add(1, Ordering::SeqCst);
                    }
                    let path = head.split_whitespace().nth(1).unwrap_or("").to_owned();
                    let prefix = path.trim_start_matches("/range/").to_ascii_uppercase();
                    let mut body = String::new();
                    for (hash, count) in &breached {
                        if let Some(suffix) = hash.strip_prefix(&prefix) {
                            body.push_str(&format!("{suffix}:{count}\r\n"));
                        }
                    }
                    body.push_str("0000000000000000000000000000000000A:0\r\n");
                    let res = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = sock.write_all(res.as_bytes()).await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        FakeHibp {
            base,
            requests,
            padding_seen,
        }
    }

    fn policy(host: &str) -> PasswordPolicy {
        PasswordPolicy::new(
            PolicyConfig {
                haveibeenpwned_host: host.into(),
                ..PolicyConfig::default()
            },
            &HttpClient::default(),
        )
        .unwrap()
    }

    #[test]
    fn sha1_is_upper_hex() {
        assert_eq!(
            sha1_upper_hex("password"),
            "5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8"
        );
    }

    #[tokio::test]
    async fn breached_rejected_clean_accepted_and_cached() {
        let hibp = fake_hibp(vec![(sha1_upper_hex("correct horse"), "3,861".into())]).await;
        let p = policy(&hibp.base);
        let err = p
            .validate("alice@example.com", "correct horse")
            .await
            .unwrap_err();
        assert_eq!(err, PolicyViolation::Breached { count: 3861 });
        let msg = err.message();
        assert_eq!(msg.id, 4000034);
        assert_eq!(msg.context.unwrap()["breaches"], 3861);
        assert_eq!(hibp.padding_seen.load(Ordering::SeqCst), 1);

        // Same password again: answered from the cache.
        assert!(p.validate("", "correct horse").await.is_err());
        assert_eq!(hibp.requests.load(Ordering::SeqCst), 1);

        p.validate("alice@example.com", "l3f9toh1uaf81n21")
            .await
            .unwrap();
        assert_eq!(hibp.requests.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn cache_is_per_prefix() {
        let hibp = fake_hibp(vec![(
            "ABCDE11111111111111111111111111111111111".into(),
            "2".into(),
        )])
        .await;
        let p = policy(&hibp.base);
        assert_eq!(
            p.breach_count("ABCDE11111111111111111111111111111111111")
                .await,
            Ok(2)
        );
        assert_eq!(
            p.breach_count("ABCDE22222222222222222222222222222222222")
                .await,
            Ok(0)
        );
        assert_eq!(hibp.requests.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn max_breaches_threshold() {
        let hibp = fake_hibp(vec![(sha1_upper_hex("correct horse"), "5".into())]).await;
        let mut cfg = PolicyConfig {
            haveibeenpwned_host: hibp.base.clone(),
            max_breaches: 5,
            ..PolicyConfig::default()
        };
        assert_eq!(
            PasswordPolicy::new(cfg.clone(), &HttpClient::default())
                .unwrap()
                .validate("", "correct horse")
                .await,
            Ok(())
        );
        cfg.max_breaches = 4;
        assert_eq!(
            PasswordPolicy::new(cfg, &HttpClient::default())
                .unwrap()
                .validate("", "correct horse")
                .await,
            Err(PolicyViolation::Breached { count: 5 })
        );
    }

    #[tokio::test]
    async fn network_errors_follow_config() {
        // Bind then drop: nothing listens on this port any more.
        let dead = {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            format!("http://{}", l.local_addr().unwrap())
        };
        let mut cfg = PolicyConfig {
            haveibeenpwned_host: dead,
            ..PolicyConfig::default()
        };
        assert_eq!(
            PasswordPolicy::new(cfg.clone(), &HttpClient::default())
                .unwrap()
                .validate("", "l3f9toh1uaf81n21")
                .await,
            Ok(())
        );
        cfg.ignore_network_errors = false;
        let err = PasswordPolicy::new(cfg, &HttpClient::default())
            .unwrap()
            .validate("", "l3f9toh1uaf81n21")
            .await
            .unwrap_err();
        assert!(matches!(err, PolicyViolation::NetworkError(_)), "{err:?}");
        assert_eq!(err.message().id, 4000005);
    }

    #[tokio::test]
    async fn malformed_count_is_an_upstream_failure() {
        let hibp = fake_hibp(vec![(
            "ABCDE11111111111111111111111111111111111".into(),
            "text".into(),
        )])
        .await;
        let p = policy(&hibp.base);
        let err = p
            .breach_count("ABCDE99999999999999999999999999999999999")
            .await
            .unwrap_err();
        assert!(err.is_upstream_failure());
    }

    #[tokio::test]
    async fn disabled_hibp_makes_no_request() {
        let hibp = fake_hibp(vec![(sha1_upper_hex("correct horse"), "9".into())]).await;
        let p = PasswordPolicy::new(
            PolicyConfig {
                haveibeenpwned_host: hibp.base.clone(),
                haveibeenpwned_enabled: false,
                ..PolicyConfig::default()
            },
            &HttpClient::default(),
        )
        .unwrap();
        assert_eq!(p.validate("", "correct horse").await, Ok(()));
        assert_eq!(hibp.requests.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn common_list_is_the_top_ten_thousand_lower_case() {
        assert_eq!(COMMON_PASSWORDS.len(), 10_000);
        assert!(COMMON_PASSWORDS.iter().all(|p| *p == p.to_lowercase()));
        assert!(COMMON_PASSWORDS_FILE.starts_with("# "));
        assert!(COMMON_PASSWORDS_FILE.contains("MIT"));
    }

    #[test]
    fn common_passwords_match_case_insensitively() {
        for pw in [
            "password1",
            "Password1",
            "PASSWORD1",
            "qWeRtY123",
            "iloveyou",
        ] {
            assert!(is_common(pw), "{pw}");
        }
        for pw in ["password1!", "l3f9toh1uaf81n21", "correct horse", ""] {
            assert!(!is_common(pw), "{pw}");
        }
    }

    #[tokio::test]
    async fn common_password_refused_before_and_without_hibp() {
        // HIBP knows nothing, yet the offline list refuses, and HIBP is never asked.
        let hibp = fake_hibp(Vec::new()).await;
        let p = policy(&hibp.base);
        let err = p
            .validate("alice@example.com", "Qwerty123")
            .await
            .unwrap_err();
        assert_eq!(err, PolicyViolation::Common);
        let msg = err.message();
        assert_eq!(msg.id, 4000034);
        assert_eq!(msg.context, None);
        assert_eq!(hibp.requests.load(Ordering::SeqCst), 0);

        let off = PasswordPolicy::new(
            PolicyConfig {
                haveibeenpwned_enabled: false,
                ..PolicyConfig::default()
            },
            &HttpClient::default(),
        )
        .unwrap();
        assert_eq!(
            off.validate("", "baseball1").await,
            Err(PolicyViolation::Common)
        );
        assert_eq!(off.validate("", "l3f9toh1uaf81n21").await, Ok(()));
    }

    #[tokio::test]
    async fn lengths() {
        let p = PasswordPolicy::new(
            PolicyConfig {
                haveibeenpwned_enabled: false,
                max_length: 20,
                ..PolicyConfig::default()
            },
            &HttpClient::default(),
        )
        .unwrap();
        let err = p.validate("", "l3f9to").await.unwrap_err();
        assert_eq!(err, PolicyViolation::TooShort { min: 8, actual: 6 });
        assert_eq!(err.message().id, 4000032);
        // Characters, not bytes: eight two-byte characters are long enough.
        assert_eq!(p.validate("", "ääääääää").await, Ok(()));
        let err = p.validate("", &"x9".repeat(11)).await.unwrap_err();
        assert_eq!(
            err,
            PolicyViolation::TooLong {
                max: 20,
                actual: 22
            }
        );
        assert_eq!(err.message().id, 4000033);
    }

    #[tokio::test]
    async fn similarity() {
        let mut cfg = PolicyConfig {
            haveibeenpwned_enabled: false,
            ..PolicyConfig::default()
        };
        let p = PasswordPolicy::new(cfg.clone(), &HttpClient::default()).unwrap();
        let err = p
            .validate("alice@example.com", "alice@example.com1")
            .await
            .unwrap_err();
        assert_eq!(err, PolicyViolation::TooSimilar);
        assert_eq!(err.message().id, 4000031);
        for (id, pw) in [
            ("hello@example.com", "hello@example.com12345"),
            ("hello@example.com", "123hello@example.com123"),
            ("hello@example.com", "HELLO@EXAMPLE.COM"),
            ("hello@example.com", "h3ll0@example"),
            ("hello@exam", "hello@example.com"),
            ("l3f9toh1uaf81n21", "l3f9toh1uaf81n21"),
        ] {
            assert_eq!(
                p.validate(id, pw).await,
                Err(PolicyViolation::TooSimilar),
                "{id} / {pw}"
            );
        }
        for (id, pw) in [
            ("alice@example.com", "l3f9toh1uaf81n21"),
            ("abcd", "9d3c8a1b"),
            ("ab", "0000ab0000123"),
            ("d4f6090b-5a84", "d4f6090b-5a84-2184-4404-8d1b-8da3eb00ebbe"),
            ("", "l3f9toh1"),
        ] {
            assert_eq!(p.validate(id, pw).await, Ok(()), "{id} / {pw}");
        }
        cfg.identifier_similarity_check = false;
        let p = PasswordPolicy::new(cfg, &HttpClient::default()).unwrap();
        assert_eq!(p.validate("bosqwfaxee", "bosqwfaxee").await, Ok(()));
    }

    #[test]
    fn range_parsing() {
        let r = parse_range("AAA:1\r\nnot a line\r\nbbb:2,000\r\nCCC:0\r\n").unwrap();
        assert_eq!(r.get("AAA"), Some(&1));
        assert_eq!(r.get("BBB"), Some(&2000));
        assert_eq!(r.get("CCC"), None);
        assert!(parse_range("AAA:x").is_err());
    }

    #[test]
    fn range_urls() {
        assert_eq!(
            policy("api.pwnedpasswords.com").range_url("ABCDE"),
            "https://api.pwnedpasswords.com/range/ABCDE"
        );
        assert_eq!(
            policy("http://127.0.0.1:9/").range_url("ABCDE"),
            "http://127.0.0.1:9/range/ABCDE"
        );
    }

    #[test]
    fn cache_is_bounded() {
        let mut c = RangeCache::default();
        for i in 0..RANGE_CACHE_CAPACITY + 10 {
            c.insert(format!("{i:05X}"), Arc::new(HashMap::new()));
        }
        assert_eq!(c.ranges.len(), RANGE_CACHE_CAPACITY);
        assert!(c.get("00000").is_none());
        assert!(
            c.get(&format!("{:05X}", RANGE_CACHE_CAPACITY + 9))
                .is_some()
        );
    }
}
