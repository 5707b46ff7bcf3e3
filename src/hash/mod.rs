//! Password hashing: creating hashes in the configured algorithm (argon2id or
//! bcrypt, written exactly as Kratos writes them), verifying every format
//! Kratos can import, and bounding the CPU/memory that hashing may use.
//!
//! All hashing runs on dedicated low-priority threads (`pool`) in one of two lanes (`lane`),
//! each admitting work by the memory it needs, so a burst of logins cannot starve the async
//! workers or exhaust memory:
//!
//! - the ordinary lane: new hashes, the configured algorithm's verifications (and the dummy
//!   verification for unknown accounts), and any imported hash that costs at most about as much
//!   (`cost`): up to one thread per core at nice 10, within `hashers.argon2.dedicated_memory`;
//! - the expensive lane: imported hashes that cost more than twice the configured algorithm's
//!   hash in time or memory. One thread at nice 19 with its own memory budget, at most
//!   `EXPENSIVE_QUEUE` verifications waiting and none for longer than `EXPENSIVE_MAX_WAIT`;
//!   beyond that a verification fails at once with [`HashError::Busy`]. However many expensive
//!   verifications are attacked, ordinary logins neither queue behind them nor lose more than
//!   that one low-priority thread's share of the CPU. A successful login rehashes an expensive
//!   hash into the configured algorithm (`needs_rehash`), so a real user pays once.

mod calibrate;
mod cost;
mod crypt;
mod lane;
mod parse;
mod pool;
mod verify;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use rand::RngCore as _;
use tokio::sync::OnceCell;

pub use calibrate::{calibrate, measure_rate};
pub use cost::{Cost, LaneKind};
use lane::{Lane, LaneConfig};
use parse::{Argon2Variant, Limits, Parsed};

/// Expensive verifications that may wait for the expensive lane's thread; one more is refused.
pub const EXPENSIVE_QUEUE: usize = 4;
/// An expensive verification not started within this fails with [`HashError::Busy`]: with at
/// most `EXPENSIVE_QUEUE` ahead of it, each about a second at the import ceilings, a waiting
/// legitimate user is answered within seconds, well inside the 30 s a flow call may take.
pub const EXPENSIVE_MAX_WAIT: Duration = Duration::from_secs(5);
/// The expensive lane's memory budget: the largest work area an importable hash may need
/// (argon2 at its 256 MiB ceiling, or the configured argon2 memory if that is larger; scrypt
/// stays below 128 MiB). With one thread, one verification holds it at a time.
fn expensive_budget_kib(limits: &Limits) -> u64 {
    u64::from(limits.argon2_memory_kib).max(cost::scrypt_memory_kib(
        parse::SCRYPT_MAX_LOG_N as u8,
        parse::SCRYPT_MAX_R,
        parse::SCRYPT_MAX_P,
    ))
}
/// Niceness of the ordinary lane's threads and of the expensive lane's thread.
const ORDINARY_NICE: i32 = 10;
const EXPENSIVE_NICE: i32 = 19;

/// The algorithm new hashes are created with.
#[derive(Clone, Debug)]
pub enum Algorithm {
    Argon2(Argon2Params),
    Bcrypt { cost: u32 },
}

/// Argon2id parameters; `memory_kib` in KiB as in the PHC string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Argon2Params {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
    pub salt_length: u32,
    pub key_length: u32,
}

/// The hash formats that can be verified (and imported).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    Argon2id,
    Argon2i,
    Bcrypt,
    Pbkdf2,
    Scrypt,
    FirebaseScrypt,
    Ssha,
    Sha,
    Md5,
    Md5Crypt,
    Sha256Crypt,
    Sha512Crypt,
    Hmac,
}

impl Format {
    /// Short lowercase name, e.g. for logs and metrics labels.
    pub fn name(self) -> &'static str {
        match self {
            Format::Argon2id => "argon2id",
            Format::Argon2i => "argon2i",
            Format::Bcrypt => "bcrypt",
            Format::Pbkdf2 => "pbkdf2",
            Format::Scrypt => "scrypt",
            Format::FirebaseScrypt => "firescrypt",
            Format::Ssha => "ssha",
            Format::Sha => "sha",
            Format::Md5 => "md5",
            Format::Md5Crypt => "md5-crypt",
            Format::Sha256Crypt => "sha256-crypt",
            Format::Sha512Crypt => "sha512-crypt",
            Format::Hmac => "hmac",
        }
    }
}

#[derive(thiserror::Error, Debug)]
pub enum HashError {
    #[error("The imported password does not match any known hash format.")]
    UnknownFormat,
    #[error("The password hash is malformed: {0}")]
    Malformed(String),
    #[error("The password hash parameters exceed the allowed limits: {0}")]
    LimitExceeded(String),
    #[error("passwords are limited to a maximum length of 72 characters")]
    PasswordTooLong,
    #[error("Unable to hash the password: {0}")]
    Internal(String),
    /// The expensive lane is full, or this verification waited there too long: try again later.
    #[error("too many expensive password verifications are waiting; try again later")]
    Busy,
}

/// bcrypt only looks at the first 72 bytes; longer passwords are rejected
/// instead of silently truncated (Kratos does the same).
const BCRYPT_MAX_PASSWORD_LEN: usize = 72;

/// Recognises, parses and bounds-checks a hash against the import ceilings without verifying
/// anything. [`Hasher::identify`] also admits the configured algorithm's own parameters.
/// Lower-case hex, as digests are stored and compared (token digests, hex-encoded hash formats,
/// the configuration revision).
pub fn lower_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[usize::from(b >> 4)] as char);
        s.push(HEX[usize::from(b & 0xf)] as char);
    }
    s
}

pub fn identify(encoded: &str) -> Result<Format, HashError> {
    parse::parse(encoded, &Limits::IMPORT).map(|p| p.format())
}

/// Hashes and verifies passwords; cheap to clone.
#[derive(Clone)]
pub struct Hasher {
    inner: Arc<Inner>,
}

struct Inner {
    algorithm: Algorithm,
    /// Bounds for hashes to import and verify: the import ceilings, raised to the configured
    /// algorithm's parameters.
    limits: Limits,
    /// What one hash in the configured algorithm costs: the yardstick for the lanes.
    reference: Cost,
    ordinary: Lane,
    expensive: Lane,
    dummy: OnceCell<String>,
    #[cfg(test)]
    probe: tests::Probe,
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hasher")
            .field("algorithm", &self.inner.algorithm)
            .field("permits", &self.permits())
            .finish()
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

impl Hasher {
    /// `dedicated_memory_bytes` is the ordinary lane's memory budget. Its semaphore counts KiB:
    /// a job takes its own working memory, and at least one configured argon2 work area (with
    /// bcrypt: a core's share of the budget), so as many configured hashes run at once as
    /// before, `max(1, dedicated_memory / argon2 memory)` (bcrypt: one per core), while a
    /// larger imported hash takes correspondingly more. The expensive lane has its own budget.
    pub fn new(algorithm: Algorithm, dedicated_memory_bytes: u64) -> Self {
        let expensive = LaneConfig {
            name: "gatehouse-hash-expensive",
            nice: EXPENSIVE_NICE,
            threads: 1,
            budget_kib: expensive_budget_kib(&Limits::admitting(&algorithm)),
            min_charge_kib: 0,
            queue: Some(EXPENSIVE_QUEUE),
            max_wait: Some(EXPENSIVE_MAX_WAIT),
        };
        Self::with_expensive_lane(algorithm, dedicated_memory_bytes, expensive)
    }

    fn with_expensive_lane(
        algorithm: Algorithm,
        dedicated_memory_bytes: u64,
        expensive: LaneConfig,
    ) -> Self {
        let reference = Cost::of_algorithm(&algorithm);
        let budget_kib = (dedicated_memory_bytes / 1024)
            .max(reference.memory_kib)
            .max(1);
        let slot_kib = match &algorithm {
            Algorithm::Argon2(p) => u64::from(p.memory_kib.max(1)),
            Algorithm::Bcrypt { .. } => (budget_kib / cores() as u64).max(1),
        };
        let slots = usize::try_from(budget_kib / slot_kib).unwrap_or(usize::MAX);
        let ordinary = LaneConfig {
            name: "gatehouse-hash",
            nice: ORDINARY_NICE,
            // No more threads than cores: a third argon2 on two cores only time-slices
            // (and thrashes the caches with a third work area); measured about 6% slower.
            threads: slots.clamp(1, cores()),
            budget_kib,
            min_charge_kib: slot_kib,
            queue: None,
            max_wait: None,
        };
        Hasher {
            inner: Arc::new(Inner {
                limits: Limits::admitting(&algorithm),
                algorithm,
                reference,
                ordinary: Lane::new(ordinary),
                expensive: Lane::new(expensive),
                dummy: OnceCell::new(),
                #[cfg(test)]
                probe: tests::Probe::default(),
            }),
        }
    }

    pub fn algorithm(&self) -> &Algorithm {
        &self.inner.algorithm
    }

    /// How many hashes in the configured algorithm may run (or wait for a thread) at once.
    pub fn permits(&self) -> usize {
        self.inner.ordinary.slots()
    }

    /// Recognises, parses and bounds-checks a hash without verifying anything: the import
    /// ceilings, raised to the configured algorithm's parameters. Used to validate imported
    /// hashes up front.
    pub fn identify(&self, encoded: &str) -> Result<Format, HashError> {
        parse::parse(encoded, &self.inner.limits).map(|p| p.format())
    }

    /// The lane a verification of `encoded` would run in.
    pub fn lane_for(&self, encoded: &str) -> Result<LaneKind, HashError> {
        let parsed = parse::parse(encoded, &self.inner.limits)?;
        Ok(Cost::of(&parsed).lane(self.inner.reference))
    }

    /// Runs `f` on a thread of `lane` once `memory_kib` of its budget is free. A started job
    /// holds its memory until the work really ends, even if the caller's future is dropped
    /// meanwhile; one that has not started is withdrawn then.
    async fn run<T, F>(&self, lane: LaneKind, memory_kib: u64, f: F) -> Result<T, HashError>
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T, HashError> + Send + 'static,
    {
        #[cfg(test)]
        let inner = self.inner.clone();
        let job = move || {
            #[cfg(test)]
            let _guard = inner.probe.enter(lane);
            f()
        };
        match lane {
            LaneKind::Ordinary => self.inner.ordinary.run(memory_kib, job).await,
            LaneKind::Expensive => self.inner.expensive.run(memory_kib, job).await,
        }
    }

    /// Hashes `password` with the configured algorithm (in the ordinary lane).
    pub async fn hash(&self, password: &[u8]) -> Result<String, HashError> {
        let memory = self.inner.reference.memory_kib;
        match self.inner.algorithm.clone() {
            Algorithm::Argon2(params) => {
                let password = password.to_vec();
                self.run(LaneKind::Ordinary, memory, move || {
                    argon2id_hash(&params, &password)
                })
                .await
            }
            Algorithm::Bcrypt { cost } => {
                if password.len() > BCRYPT_MAX_PASSWORD_LEN {
                    return Err(HashError::PasswordTooLong);
                }
                let password = password.to_vec();
                self.run(LaneKind::Ordinary, memory, move || {
                    bcrypt::hash_with_result(&password, cost)
                        .map(|h| h.format_for_version(bcrypt::Version::TwoA))
                        .map_err(|e| HashError::Internal(e.to_string()))
                })
                .await
            }
        }
    }

    /// Verifies `password` against a hash in any supported format, in the lane its cost
    /// calls for. `Ok(false)` means a well-formed hash that does not match;
    /// [`HashError::Busy`] that the expensive lane could not take it now.
    pub async fn verify(&self, password: &[u8], encoded: &str) -> Result<bool, HashError> {
        self.verify_in(None, password, encoded).await
    }

    /// `lane: None` picks the lane by the hash's cost.
    async fn verify_in(
        &self,
        lane: Option<LaneKind>,
        password: &[u8],
        encoded: &str,
    ) -> Result<bool, HashError> {
        // Parsing is cheap and bounded by the string, so it happens before
        // taking any memory; the bounds check must precede any heavy work.
        let parsed = parse::parse(encoded, &self.inner.limits)?;
        if matches!(parsed, Parsed::Bcrypt { .. }) && password.len() > BCRYPT_MAX_PASSWORD_LEN {
            return Err(HashError::PasswordTooLong);
        }
        let cost = Cost::of(&parsed);
        let lane = lane.unwrap_or_else(|| cost.lane(self.inner.reference));
        let password = password.to_vec();
        self.run(lane, cost.memory_kib, move || {
            verify::verify_parsed(&parsed, &password)
        })
        .await
    }

    /// True unless `encoded` is in the configured algorithm with exactly the
    /// configured parameters (so logins can upgrade old or imported hashes).
    pub fn needs_rehash(&self, encoded: &str) -> bool {
        let Ok(parsed) = parse::parse(encoded, &self.inner.limits) else {
            return true;
        };
        match (&self.inner.algorithm, parsed) {
            (
                Algorithm::Argon2(want),
                Parsed::Argon2 {
                    variant: Argon2Variant::Id,
                    memory_kib,
                    iterations,
                    parallelism,
                    salt,
                    hash,
                },
            ) => {
                let have = Argon2Params {
                    memory_kib,
                    iterations,
                    parallelism,
                    salt_length: u32::try_from(salt.len()).unwrap_or(u32::MAX),
                    key_length: u32::try_from(hash.len()).unwrap_or(u32::MAX),
                };
                have != *want
            }
            (Algorithm::Bcrypt { cost: want }, Parsed::Bcrypt { cost, .. }) => cost != *want,
            _ => true,
        }
    }

    /// Spends about as long as verifying against a real hash in the
    /// configured algorithm, for requests whose account does not exist: in the ordinary lane,
    /// like the verification it stands in for.
    pub async fn dummy_verify(&self, password: &[u8]) {
        let dummy = self
            .inner
            .dummy
            .get_or_try_init(|| self.hash(b"gatehouse dummy password for timing parity"))
            .await;
        match dummy {
            Ok(dummy) => {
                let _ = self
                    .verify_in(Some(LaneKind::Ordinary), password, dummy)
                    .await;
            }
            Err(e) => tracing::warn!(error = %e, "could not create the dummy password hash"),
        }
    }
}

/// Creates an argon2id PHC string exactly as Kratos formats it.
pub(crate) fn argon2id_hash(params: &Argon2Params, password: &[u8]) -> Result<String, HashError> {
    let mut salt = vec![0u8; params.salt_length as usize];
    rand::rng().fill_bytes(&mut salt);
    let hash = verify::argon2_raw(
        argon2::Algorithm::Argon2id,
        password,
        &salt,
        params.memory_kib,
        params.iterations,
        params.parallelism,
        params.key_length as usize,
    )
    .map_err(|e| HashError::Internal(e.to_string()))?;
    Ok(format!(
        "$argon2id$v=19$m={},t={},p={}${}${}",
        params.memory_kib,
        params.iterations,
        params.parallelism,
        STANDARD_NO_PAD.encode(&salt),
        STANDARD_NO_PAD.encode(&hash),
    ))
}
