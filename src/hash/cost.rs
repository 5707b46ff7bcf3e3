//! What one verification costs, estimated from the hash's parameters before any work is done:
//! the memory it holds while it runs and the time it takes on one core. The hasher admits work
//! by memory and sends every verification that costs much more than the configured algorithm's
//! own hash to the expensive lane (`Hasher::verify`), so imported hashes with heavy parameters
//! cannot take the threads that ordinary logins need.
//!
//! Times are in nanoseconds on one core of the machine the constants were measured on (an AMD
//! EPYC core, release build, best of three while two other builds shared the machine:
//! `cargo test --release --lib hash::tests::measure_cost_constants -- --ignored --nocapture`
//! prints them again). Only ratios matter: a verification is compared with the configured
//! algorithm's hash on the same scale, so a faster or slower machine moves both sides alike.
//! The SHA-based figures use this CPU's SHA extensions; without them SHA-1 and SHA-256 are a few
//! times slower, so those constants are rounded up.

use super::Algorithm;
use super::crypt::ShaCryptKind;
use super::parse::{Digest, Parsed};

/// argon2 (any variant, any lane count: the lanes run one after another): per KiB block and
/// pass (m·t). Memory bound, so larger work areas cost more per block (19 MiB: 430 ns, 64 MiB:
/// 700 ns).
pub(crate) const ARGON2_NS_PER_KIB_PASS: u64 = 500;
/// bcrypt: per key-expansion round, of which there are 2^cost (cost 10: 60 ms).
pub(crate) const BCRYPT_NS_PER_ROUND: u64 = 60_000;
/// bcrypt's working state: four 1 KiB S-boxes and the P-array.
pub(crate) const BCRYPT_MEMORY_KIB: u64 = 5;
/// PBKDF2-HMAC: per iteration and per digest-sized block of output (measured 135, 145 and
/// 690 ns).
pub(crate) const PBKDF2_SHA1_NS: u64 = 200;
pub(crate) const PBKDF2_SHA256_NS: u64 = 250;
pub(crate) const PBKDF2_SHA512_NS: u64 = 700;
/// scrypt: per unit of N·r·p (N = 2^14, r = 8: 24 ms; N = 2^16: 190 ms).
pub(crate) const SCRYPT_NS_PER_NRP: u64 = 300;
/// SHA-crypt: per round, 5,000 rounds by default (measured 121 and 346 ns).
pub(crate) const SHA256_CRYPT_NS_PER_ROUND: u64 = 200;
pub(crate) const SHA512_CRYPT_NS_PER_ROUND: u64 = 350;
/// md5-crypt: its fixed 1,000 rounds (measured 122 µs).
pub(crate) const MD5_CRYPT_NS: u64 = 150_000;
/// One salted digest or HMAC of a password (md5, sha, ssha, hmac formats; measured 0.2 µs).
pub(crate) const DIGEST_NS: u64 = 1_000;

/// Verifications at most this long stay in the ordinary lane whatever the configured
/// algorithm costs: under a millisecond cannot starve anything (an HTTP request costs about
/// as much), and it keeps cheap legacy formats off the single expensive thread.
pub(crate) const ORDINARY_FLOOR_NS: u64 = 1_000_000;
/// Likewise for memory: up to 1 MiB is no burden whatever the configured algorithm uses.
pub(crate) const ORDINARY_FLOOR_KIB: u64 = 1024;
/// A verification may cost up to this many times the configured algorithm's hash (in time
/// and in memory) and still use the ordinary lane.
pub(crate) const ORDINARY_FACTOR: u64 = 2;

/// The resources one hash computation needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cost {
    /// Working memory held while it runs, KiB.
    pub memory_kib: u64,
    /// Estimated time on one core, ns (see the module documentation for the scale).
    pub time_ns: u64,
}

/// Where a verification runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LaneKind {
    /// The configured algorithm and anything costing up to about as much: the hashing threads
    /// sized by `hashers.argon2.dedicated_memory`.
    Ordinary,
    /// Legacy or imported hashes much dearer than the configured algorithm: one low-priority
    /// thread with a short bounded queue.
    Expensive,
}

fn pbkdf2_ns(d: Digest) -> u64 {
    match d {
        Digest::Md4 | Digest::Md5 | Digest::Sha1 => PBKDF2_SHA1_NS,
        Digest::Sha224 | Digest::Sha256 => PBKDF2_SHA256_NS,
        Digest::Sha384 | Digest::Sha512 => PBKDF2_SHA512_NS,
    }
}

/// scrypt's memory in KiB: the N-block table V plus the p blocks of B, 128·r bytes each (the
/// scrypt crate runs the p lanes one after another, reusing V).
pub(crate) fn scrypt_memory_kib(log_n: u8, r: u32, p: u32) -> u64 {
    let n = 1u64 << log_n;
    (128 * u64::from(r) * (n + u64::from(p))).div_ceil(1024)
}

impl Cost {
    /// The cost of verifying `parsed`.
    pub(crate) fn of(parsed: &Parsed) -> Cost {
        let (memory_kib, time_ns) = match parsed {
            Parsed::Argon2 {
                memory_kib,
                iterations,
                ..
            } => {
                let m = u64::from(*memory_kib);
                (m, m * u64::from(*iterations) * ARGON2_NS_PER_KIB_PASS)
            }
            Parsed::Bcrypt { cost, .. } => {
                (BCRYPT_MEMORY_KIB, (1u64 << cost) * BCRYPT_NS_PER_ROUND)
            }
            Parsed::Pbkdf2 {
                digest,
                iterations,
                hash,
                ..
            } => {
                // PBKDF2 runs all its iterations once per digest-sized block of output.
                let blocks = hash.len().div_ceil(digest.output_len()) as u64;
                (0, u64::from(*iterations) * blocks * pbkdf2_ns(*digest))
            }
            Parsed::Scrypt { log_n, r, p, .. } | Parsed::FirebaseScrypt { log_n, r, p, .. } => (
                scrypt_memory_kib(*log_n, *r, *p),
                (1u64 << log_n) * u64::from(*r) * u64::from(*p) * SCRYPT_NS_PER_NRP,
            ),
            Parsed::ShaCrypt { kind, rounds, .. } => {
                let per_round = match kind {
                    ShaCryptKind::Sha256 => SHA256_CRYPT_NS_PER_ROUND,
                    ShaCryptKind::Sha512 => SHA512_CRYPT_NS_PER_ROUND,
                };
                (0, u64::from(*rounds) * per_round)
            }
            Parsed::Md5Crypt { .. } => (0, MD5_CRYPT_NS),
            Parsed::Ssha { .. } | Parsed::Sha { .. } | Parsed::Md5 { .. } | Parsed::Hmac { .. } => {
                (0, DIGEST_NS)
            }
        };
        Cost {
            memory_kib,
            time_ns,
        }
    }

    /// The cost of one hash in the configured algorithm: the yardstick for the lanes.
    pub(crate) fn of_algorithm(algorithm: &Algorithm) -> Cost {
        match algorithm {
            Algorithm::Argon2(p) => {
                let m = u64::from(p.memory_kib);
                Cost {
                    memory_kib: m,
                    time_ns: m * u64::from(p.iterations) * ARGON2_NS_PER_KIB_PASS,
                }
            }
            Algorithm::Bcrypt { cost } => Cost {
                memory_kib: BCRYPT_MEMORY_KIB,
                time_ns: (1u64 << cost) * BCRYPT_NS_PER_ROUND,
            },
        }
    }

    /// The lane for a verification costing `self` when the configured algorithm costs
    /// `reference`: ordinary while both time and memory stay within `ORDINARY_FACTOR` times
    /// the reference (or under the floors), expensive otherwise.
    pub(crate) fn lane(self, reference: Cost) -> LaneKind {
        let max_time = (reference.time_ns.saturating_mul(ORDINARY_FACTOR)).max(ORDINARY_FLOOR_NS);
        let max_memory =
            (reference.memory_kib.saturating_mul(ORDINARY_FACTOR)).max(ORDINARY_FLOOR_KIB);
        if self.time_ns <= max_time && self.memory_kib <= max_memory {
            LaneKind::Ordinary
        } else {
            LaneKind::Expensive
        }
    }
}
