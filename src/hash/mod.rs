//! Password hashing: creating hashes in the configured algorithm (argon2id or
//! bcrypt, written exactly as Kratos writes them), verifying every format
//! Kratos can import, and bounding the CPU/memory that hashing may use.
//!
//! All hashing runs on dedicated low-priority threads (`pool`) behind a semaphore so a burst
//! of logins cannot starve the async workers or exhaust memory.

mod calibrate;
mod crypt;
mod parse;
mod pool;
mod verify;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use rand::RngCore as _;
use tokio::sync::{OnceCell, Semaphore};

pub use calibrate::{calibrate, measure_rate};
use parse::{Argon2Variant, Parsed};

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
}

/// bcrypt only looks at the first 72 bytes; longer passwords are rejected
/// instead of silently truncated (Kratos does the same).
const BCRYPT_MAX_PASSWORD_LEN: usize = 72;

/// Recognises, parses and bounds-checks a hash without verifying anything.
/// Used to validate imported hashes up front.
pub fn identify(encoded: &str) -> Result<Format, HashError> {
    parse::parse(encoded).map(|p| p.format())
}

/// Hashes and verifies passwords; cheap to clone.
#[derive(Clone)]
pub struct Hasher {
    inner: Arc<Inner>,
}

struct Inner {
    algorithm: Algorithm,
    semaphore: Arc<Semaphore>,
    permits: usize,
    threads: pool::Pool,
    dummy: OnceCell<String>,
    #[cfg(test)]
    probe: tests::Probe,
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hasher")
            .field("algorithm", &self.inner.algorithm)
            .field("permits", &self.inner.permits)
            .finish()
    }
}

impl Hasher {
    /// `dedicated_memory_bytes` bounds concurrent argon2 work:
    /// permits = max(1, dedicated_memory / argon2 memory). bcrypt uses no
    /// notable memory, so it gets one permit per CPU.
    pub fn new(algorithm: Algorithm, dedicated_memory_bytes: u64) -> Self {
        let permits = match &algorithm {
            Algorithm::Argon2(p) => {
                let per_hash = u64::from(p.memory_kib.max(1)) * 1024;
                usize::try_from(dedicated_memory_bytes / per_hash)
                    .unwrap_or(usize::MAX)
                    .clamp(1, Semaphore::MAX_PERMITS)
            }
            Algorithm::Bcrypt { .. } => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        Hasher {
            inner: Arc::new(Inner {
                algorithm,
                semaphore: Arc::new(Semaphore::new(permits)),
                permits,
                // No more threads than cores: a third argon2 on two cores only time-slices
                // (and thrashes the caches with a third work area); measured about 6% slower.
                threads: pool::Pool::new(
                    permits.min(std::thread::available_parallelism().map_or(1, |n| n.get())),
                ),
                dummy: OnceCell::new(),
                #[cfg(test)]
                probe: tests::Probe::default(),
            }),
        }
    }

    pub fn algorithm(&self) -> &Algorithm {
        &self.inner.algorithm
    }

    /// How many hash operations may run at once.
    pub fn permits(&self) -> usize {
        self.inner.permits
    }

    /// Runs `f` on a hashing thread while holding a semaphore permit. The permit moves into
    /// the job, so it stays held until the work really ends even if the caller's future is
    /// dropped.
    async fn run<T, F>(&self, f: F) -> Result<T, HashError>
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T, HashError> + Send + 'static,
    {
        let permit = self
            .inner
            .semaphore
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| HashError::Internal("hasher is shut down".into()))?;
        #[cfg(test)]
        let inner = self.inner.clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.inner
            .threads
            .submit(Box::new(move || {
                let _permit = permit;
                #[cfg(test)]
                let _guard = inner.probe.enter();
                let _ = tx.send(f());
            }))
            .map_err(|e| HashError::Internal(format!("cannot start a hashing thread: {e}")))?;
        rx.await
            .map_err(|_| HashError::Internal("hashing task failed".into()))?
    }

    /// Hashes `password` with the configured algorithm.
    pub async fn hash(&self, password: &[u8]) -> Result<String, HashError> {
        match self.inner.algorithm.clone() {
            Algorithm::Argon2(params) => {
                let password = password.to_vec();
                self.run(move || argon2id_hash(&params, &password)).await
            }
            Algorithm::Bcrypt { cost } => {
                if password.len() > BCRYPT_MAX_PASSWORD_LEN {
                    return Err(HashError::PasswordTooLong);
                }
                let password = password.to_vec();
                self.run(move || {
                    bcrypt::hash_with_result(&password, cost)
                        .map(|h| h.format_for_version(bcrypt::Version::TwoA))
                        .map_err(|e| HashError::Internal(e.to_string()))
                })
                .await
            }
        }
    }

    /// Verifies `password` against a hash in any supported format.
    /// `Ok(false)` means a well-formed hash that does not match.
    pub async fn verify(&self, password: &[u8], encoded: &str) -> Result<bool, HashError> {
        // Parsing is cheap and bounded by the string, so it happens before
        // taking a permit; the bounds check must precede any heavy work.
        let parsed = parse::parse(encoded)?;
        if matches!(parsed, Parsed::Bcrypt { .. }) && password.len() > BCRYPT_MAX_PASSWORD_LEN {
            return Err(HashError::PasswordTooLong);
        }
        let password = password.to_vec();
        self.run(move || verify::verify_parsed(&parsed, &password))
            .await
    }

    /// True unless `encoded` is in the configured algorithm with exactly the
    /// configured parameters (so logins can upgrade old or imported hashes).
    pub fn needs_rehash(&self, encoded: &str) -> bool {
        let Ok(parsed) = parse::parse(encoded) else {
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
    /// configured algorithm, for requests whose account does not exist.
    pub async fn dummy_verify(&self, password: &[u8]) {
        let dummy = self
            .inner
            .dummy
            .get_or_try_init(|| self.hash(b"gatehouse dummy password for timing parity"))
            .await;
        match dummy {
            Ok(dummy) => {
                let _ = self.verify(password, dummy).await;
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
