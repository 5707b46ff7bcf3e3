//! Recognising and decoding stored/imported hashes, including the parameter
//! bounds that keep a hostile import from turning one login into a DoS.
//! Nothing in here runs a password hash.

use base64::Engine as _;
use base64::alphabet;
use base64::engine::general_purpose::{
    GeneralPurpose, GeneralPurposeConfig, STANDARD, STANDARD_NO_PAD,
};

use super::crypt::{self, ShaCryptKind};
use super::{Format, HashError};

// Upper bounds on the parameters of imported (and stored) hashes: what real systems use, with
// some headroom, so that one verification costs at most about a second of one core (the README
// section "Password hashing and imported hashes" has the table and the reasons). Argon2 and
// bcrypt bounds are raised to the configured algorithm's own parameters when those are higher
// (`Limits::admitting`), so the server always verifies what it wrote itself.

/// argon2 memory: 256 MiB, libsodium's MODERATE (PHP's and Laravel's argon2 use 64 MiB,
/// Kratos's default is 128 MiB; RFC 9106's 2 GiB option is not a login setting).
pub(crate) const ARGON2_MAX_MEMORY_KIB: u32 = 256 * 1024;
/// argon2 passes: Keycloak uses 5, PHP 4, libsodium 3 to 4.
pub(crate) const ARGON2_MAX_ITERATIONS: u32 = 10;
/// argon2 work, memory × passes in KiB: 1 GiB, e.g. 256 MiB × 4 or 64 MiB × 10 (libsodium's
/// MODERATE, 256 MiB × 3, is the largest common setting), about half a second.
pub(crate) const ARGON2_MAX_WORK: u64 = 1024 * 1024;
pub(crate) const ARGON2_MAX_PARALLELISM: u32 = 255; // Go's argon2 takes a uint8
/// scrypt: N ≤ 2^17 and r ≤ 8 keep the table at 128 MiB at most (Firebase and Node use N = 2^14,
/// passlib 2^16, all with r = 8 and p = 1); N·r·p ≤ 2^20 is the work of the largest table at
/// p = 1, about a third of a second.
pub(crate) const SCRYPT_MAX_N: u64 = 1 << 17;
pub(crate) const SCRYPT_MAX_LOG_N: u32 = 17;
pub(crate) const SCRYPT_MAX_R: u32 = 8;
pub(crate) const SCRYPT_MAX_P: u32 = 10;
pub(crate) const SCRYPT_MAX_WORK: u64 = 1 << 20;
/// PBKDF2: Django 6.1 ships 1,500,000 iterations of SHA-256 and 6.2 1,800,000 (OWASP asks
/// for 1,300,000 of SHA-1, 600,000 of SHA-256); all iterations run once per digest-sized block
/// of output, so the bound is on iterations × blocks.
pub(crate) const PBKDF2_MAX_ITERATIONS: u32 = 2_000_000;
pub(crate) const PBKDF2_MAX_WORK: u64 = 2_000_000;
pub(crate) const PBKDF2_MAX_KEY_LENGTH: usize = 256;
/// bcrypt: 10 to 12 is what frameworks ship (Kratos, Laravel, Rails: 12); 14 takes about a
/// second, every step above doubles that.
pub(crate) const BCRYPT_MAX_COST: u32 = 14;
/// SHA-crypt: passlib's defaults are 535,000 (SHA-256) and 656,000 (SHA-512) rounds, glibc's
/// 5,000.
pub(crate) const SHA_CRYPT_MAX_ROUNDS: u32 = 1_000_000;

/// The bounds that depend on the configured algorithm: the import ceilings above, raised to
/// the configured argon2 or bcrypt parameters when those are higher.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Limits {
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
    pub argon2_work: u64,
    pub bcrypt_cost: u32,
}

impl Limits {
    pub(crate) const IMPORT: Limits = Limits {
        argon2_memory_kib: ARGON2_MAX_MEMORY_KIB,
        argon2_iterations: ARGON2_MAX_ITERATIONS,
        argon2_parallelism: ARGON2_MAX_PARALLELISM,
        argon2_work: ARGON2_MAX_WORK,
        bcrypt_cost: BCRYPT_MAX_COST,
    };

    /// The import ceilings, raised so that hashes in `algorithm` are within them.
    pub(crate) fn admitting(algorithm: &super::Algorithm) -> Limits {
        let mut l = Limits::IMPORT;
        match algorithm {
            super::Algorithm::Argon2(p) => {
                l.argon2_memory_kib = l.argon2_memory_kib.max(p.memory_kib);
                l.argon2_iterations = l.argon2_iterations.max(p.iterations);
                l.argon2_parallelism = l.argon2_parallelism.max(p.parallelism);
                l.argon2_work = l
                    .argon2_work
                    .max(u64::from(p.memory_kib) * u64::from(p.iterations));
            }
            super::Algorithm::Bcrypt { cost } => l.bcrypt_cost = l.bcrypt_cost.max(*cost),
        }
        l
    }
}

/// SSHA in Kratos is decoded with Go's non-strict decoder, which tolerates
/// non-zero trailing bits.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Argon2Variant {
    I,
    Id,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Digest {
    Md4,
    Md5,
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl Digest {
    pub(crate) fn output_len(self) -> usize {
        match self {
            Digest::Md4 | Digest::Md5 => 16,
            Digest::Sha1 => 20,
            Digest::Sha224 => 28,
            Digest::Sha256 => 32,
            Digest::Sha384 => 48,
            Digest::Sha512 => 64,
        }
    }
}

/// A decoded hash with everything needed to verify it.
#[derive(Debug)]
pub(crate) enum Parsed {
    Argon2 {
        variant: Argon2Variant,
        memory_kib: u32,
        iterations: u32,
        parallelism: u32,
        salt: Vec<u8>,
        hash: Vec<u8>,
    },
    Bcrypt {
        /// Rewritten to the `$2b$` prefix, which the bcrypt crate accepts;
        /// all `$2?$` variants compute the same function for the inputs
        /// Kratos accepts (Go treats them identically).
        normalized: String,
        cost: u32,
    },
    Pbkdf2 {
        digest: Digest,
        iterations: u32,
        salt: Vec<u8>,
        hash: Vec<u8>,
    },
    Scrypt {
        log_n: u8,
        r: u32,
        p: u32,
        salt: Vec<u8>,
        hash: Vec<u8>,
    },
    FirebaseScrypt {
        log_n: u8,
        r: u32,
        p: u32,
        salt: Vec<u8>,
        hash: Vec<u8>,
        salt_separator: Vec<u8>,
        signer_key: Vec<u8>,
    },
    Ssha {
        digest: Digest,
        salt: Vec<u8>,
        hash: Vec<u8>,
    },
    Sha {
        digest: Digest,
        pattern: Vec<u8>,
        salt: Vec<u8>,
        hash: Vec<u8>,
    },
    Md5 {
        /// `(pattern, salt)` for the `pf=` form.
        salted: Option<(Vec<u8>, Vec<u8>)>,
        hash: Vec<u8>,
    },
    Md5Crypt {
        salt: Vec<u8>,
        checksum: String,
    },
    ShaCrypt {
        kind: ShaCryptKind,
        rounds: u32,
        salt: Vec<u8>,
        checksum: String,
    },
    Hmac {
        digest: Digest,
        hash: Vec<u8>,
        key: Vec<u8>,
    },
}

impl Parsed {
    pub(crate) fn format(&self) -> Format {
        match self {
            Parsed::Argon2 {
                variant: Argon2Variant::Id,
                ..
            } => Format::Argon2id,
            Parsed::Argon2 {
                variant: Argon2Variant::I,
                ..
            } => Format::Argon2i,
            Parsed::Bcrypt { .. } => Format::Bcrypt,
            Parsed::Pbkdf2 { .. } => Format::Pbkdf2,
            Parsed::Scrypt { .. } => Format::Scrypt,
            Parsed::FirebaseScrypt { .. } => Format::FirebaseScrypt,
            Parsed::Ssha { .. } => Format::Ssha,
            Parsed::Sha { .. } => Format::Sha,
            Parsed::Md5 { .. } => Format::Md5,
            Parsed::Md5Crypt { .. } => Format::Md5Crypt,
            Parsed::ShaCrypt {
                kind: ShaCryptKind::Sha256,
                ..
            } => Format::Sha256Crypt,
            Parsed::ShaCrypt {
                kind: ShaCryptKind::Sha512,
                ..
            } => Format::Sha512Crypt,
            Parsed::Hmac { .. } => Format::Hmac,
        }
    }
}

fn malformed(msg: impl Into<String>) -> HashError {
    HashError::Malformed(msg.into())
}

fn limit(name: &str, value: impl std::fmt::Display, max: impl std::fmt::Display) -> HashError {
    HashError::LimitExceeded(format!("{name} is {value}, the maximum allowed is {max}"))
}

fn b64(engine: &GeneralPurpose, what: &str, s: &str) -> Result<Vec<u8>, HashError> {
    engine
        .decode(s)
        .map_err(|_| malformed(format!("the {what} is not valid base64")))
}

/// Parses `k1=v1,k2=v2,...` with exactly the given keys in that order.
fn params<const N: usize>(s: &str, keys: [&str; N], what: &str) -> Result<[u64; N], HashError> {
    let bad = || {
        malformed(format!(
            "the {what} parameters must look like {}",
            keys.map(|k| format!("{k}=<n>")).join(",")
        ))
    };
    let mut out = [0u64; N];
    let mut fields = s.split(',');
    for (i, key) in keys.iter().enumerate() {
        let field = fields.next().ok_or_else(bad)?;
        let (k, v) = field.split_once('=').ok_or_else(bad)?;
        if k != *key || v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        out[i] = v.parse().map_err(|_| limit(key, v, u64::MAX))?;
    }
    if fields.next().is_some() {
        return Err(bad());
    }
    Ok(out)
}

fn check_max(name: &str, value: u64, max: u64) -> Result<u32, HashError> {
    if value > max {
        return Err(limit(name, value, max));
    }
    u32::try_from(value).map_err(|_| limit(name, value, max))
}

fn check_scrypt_rp(r: u64, p: u64) -> Result<(u32, u32), HashError> {
    let r = check_max("scrypt r", r, SCRYPT_MAX_R.into())?;
    let p = check_max("scrypt p", p, SCRYPT_MAX_P.into())?;
    if r == 0 || p == 0 {
        return Err(malformed("scrypt r and p must be at least 1"));
    }
    Ok((r, p))
}

fn check_scrypt_work(n: u64, r: u32, p: u32) -> Result<(), HashError> {
    let work = n * u64::from(r) * u64::from(p);
    if work > SCRYPT_MAX_WORK {
        return Err(limit("scrypt work (N·r·p)", work, SCRYPT_MAX_WORK));
    }
    Ok(())
}

/// Recognises the format by prefix (same precedence as Kratos's comparator)
/// and decodes it, enforcing the parameter bounds.
pub(crate) fn parse(encoded: &str, limits: &Limits) -> Result<Parsed, HashError> {
    let s = encoded;
    if let Some(rest) = s
        .strip_prefix("$md5-crypt$")
        .or_else(|| s.strip_prefix("$1$"))
    {
        parse_md5_crypt(rest)
    } else if is_bcrypt(s) {
        parse_bcrypt(s, limits)
    } else if let Some(rest) = s
        .strip_prefix("$sha256-crypt$")
        .or_else(|| s.strip_prefix("$5$"))
    {
        parse_sha_crypt(ShaCryptKind::Sha256, rest)
    } else if let Some(rest) = s
        .strip_prefix("$sha512-crypt$")
        .or_else(|| s.strip_prefix("$6$"))
    {
        parse_sha_crypt(ShaCryptKind::Sha512, rest)
    } else if s.starts_with("$argon2id$") {
        parse_argon2(Argon2Variant::Id, s, limits)
    } else if s.starts_with("$argon2i$") {
        parse_argon2(Argon2Variant::I, s, limits)
    } else if is_pbkdf2(s) {
        parse_pbkdf2(s)
    } else if s.starts_with("$scrypt$") {
        parse_scrypt(s)
    } else if let Some((digest, rest)) = ssha_prefix(s) {
        parse_ssha(digest, rest)
    } else if let Some(digest) = sha_prefix(s) {
        parse_sha(digest, s)
    } else if s.starts_with("$firescrypt$") {
        parse_firebase_scrypt(s)
    } else if s.starts_with("$md5$") {
        parse_md5(s)
    } else if let Some(digest) = hmac_prefix(s) {
        parse_hmac(digest, s)
    } else {
        Err(HashError::UnknownFormat)
    }
}

/// `^\$2[abzy]?\$`
fn is_bcrypt(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 3
        && b[0] == b'$'
        && b[1] == b'2'
        && (b[2] == b'$' || (matches!(b[2], b'a' | b'b' | b'z' | b'y') && b.get(3) == Some(&b'$')))
}

/// `^\$pbkdf2-sha[0-9]{1,3}\$`
fn is_pbkdf2(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("$pbkdf2-sha") else {
        return false;
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    (1..=3).contains(&digits) && rest.as_bytes().get(digits) == Some(&b'$')
}

fn ssha_prefix(s: &str) -> Option<(Digest, &str)> {
    if let Some(r) = s.strip_prefix("{SSHA}") {
        Some((Digest::Sha1, r))
    } else if let Some(r) = s.strip_prefix("{SSHA256}") {
        Some((Digest::Sha256, r))
    } else {
        s.strip_prefix("{SSHA512}").map(|r| (Digest::Sha512, r))
    }
}

fn sha_prefix(s: &str) -> Option<Digest> {
    [
        ("$sha1$", Digest::Sha1),
        ("$sha256$", Digest::Sha256),
        ("$sha512$", Digest::Sha512),
    ]
    .into_iter()
    .find(|(p, _)| s.starts_with(p))
    .map(|(_, d)| d)
}

fn hmac_prefix(s: &str) -> Option<Digest> {
    [
        ("$hmac-md4$", Digest::Md4),
        ("$hmac-md5$", Digest::Md5),
        ("$hmac-sha1$", Digest::Sha1),
        ("$hmac-sha224$", Digest::Sha224),
        ("$hmac-sha256$", Digest::Sha256),
        ("$hmac-sha384$", Digest::Sha384),
        ("$hmac-sha512$", Digest::Sha512),
    ]
    .into_iter()
    .find(|(p, _)| s.starts_with(p))
    .map(|(_, d)| d)
}

fn parse_argon2(variant: Argon2Variant, s: &str, limits: &Limits) -> Result<Parsed, HashError> {
    let parts: Vec<&str> = s.split('$').collect();
    if parts.len() != 6 {
        return Err(malformed(
            "argon2 hashes must look like $argon2id$v=19$m=<kib>,t=<n>,p=<n>$<salt>$<hash>",
        ));
    }
    if parts[2] != "v=19" {
        return Err(malformed("only argon2 version 19 is supported"));
    }
    let [m, t, p] = params(parts[3], ["m", "t", "p"], "argon2")?;
    let memory_kib = check_max("argon2 memory (m, KiB)", m, limits.argon2_memory_kib.into())?;
    let iterations = check_max("argon2 iterations (t)", t, limits.argon2_iterations.into())?;
    let parallelism = check_max(
        "argon2 parallelism (p)",
        p,
        limits.argon2_parallelism.into(),
    )?;
    if iterations == 0 || parallelism == 0 {
        return Err(malformed(
            "argon2 iterations and parallelism must be at least 1",
        ));
    }
    let work = u64::from(memory_kib) * u64::from(iterations);
    if work > limits.argon2_work {
        return Err(limit("argon2 work (m × t, KiB)", work, limits.argon2_work));
    }
    if memory_kib < 8 * parallelism {
        return Err(malformed("argon2 memory must be at least 8 KiB per lane"));
    }
    let salt = b64(&STANDARD_NO_PAD, "argon2 salt", parts[4])?;
    let hash = b64(&STANDARD_NO_PAD, "argon2 hash", parts[5])?;
    if salt.len() < argon2::MIN_SALT_LEN {
        return Err(malformed("the argon2 salt must be at least 8 bytes"));
    }
    if hash.len() < argon2::Params::MIN_OUTPUT_LEN {
        return Err(malformed("the argon2 hash must be at least 4 bytes"));
    }
    Ok(Parsed::Argon2 {
        variant,
        memory_kib,
        iterations,
        parallelism,
        salt,
        hash,
    })
}

fn parse_bcrypt(s: &str, limits: &Limits) -> Result<Parsed, HashError> {
    // Everything after the version tag: "NN$<53 chars>".
    let body = if s.as_bytes()[2] == b'$' {
        &s[3..]
    } else {
        &s[4..]
    };
    let bad = || malformed("bcrypt hashes must look like $2b$<cost>$<53 characters>");
    let (cost, rest) = body.split_once('$').ok_or_else(bad)?;
    if cost.len() != 2 || !cost.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let cost: u32 = cost.parse().map_err(|_| bad())?;
    if cost > limits.bcrypt_cost {
        return Err(limit("bcrypt cost", cost, limits.bcrypt_cost));
    }
    if cost < 4 {
        return Err(malformed("the bcrypt cost must be at least 4"));
    }
    if rest.len() != 53
        || !rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'/')
    {
        return Err(bad());
    }
    Ok(Parsed::Bcrypt {
        normalized: format!("$2b${cost:02}${rest}"),
        cost,
    })
}

fn parse_pbkdf2(s: &str) -> Result<Parsed, HashError> {
    let parts: Vec<&str> = s.split('$').collect();
    if parts.len() != 5 {
        return Err(malformed(
            "pbkdf2 hashes must look like $pbkdf2-sha256$i=<n>,l=<n>$<salt>$<hash>",
        ));
    }
    let digest = match parts[1] {
        "pbkdf2-sha1" => Digest::Sha1,
        "pbkdf2-sha224" => Digest::Sha224,
        "pbkdf2-sha256" => Digest::Sha256,
        "pbkdf2-sha384" => Digest::Sha384,
        "pbkdf2-sha512" => Digest::Sha512,
        other => return Err(malformed(format!("unsupported pbkdf2 digest {other:?}"))),
    };
    // `l` is informational: like Kratos, the key length is taken from the
    // decoded hash.
    let [i, _l] = params(parts[2], ["i", "l"], "pbkdf2")?;
    let iterations = check_max("pbkdf2 iterations (i)", i, PBKDF2_MAX_ITERATIONS.into())?;
    if iterations == 0 {
        return Err(malformed("pbkdf2 iterations must be at least 1"));
    }
    let salt = b64(&STANDARD_NO_PAD, "pbkdf2 salt", parts[3])?;
    let hash = b64(&STANDARD_NO_PAD, "pbkdf2 hash", parts[4])?;
    if hash.len() > PBKDF2_MAX_KEY_LENGTH {
        return Err(limit(
            "pbkdf2 key length (bytes)",
            hash.len(),
            PBKDF2_MAX_KEY_LENGTH,
        ));
    }
    if hash.is_empty() {
        return Err(malformed("the pbkdf2 hash is empty"));
    }
    let work = u64::from(iterations) * hash.len().div_ceil(digest.output_len()) as u64;
    if work > PBKDF2_MAX_WORK {
        return Err(limit(
            "pbkdf2 work (iterations × digest-sized blocks of the key)",
            work,
            PBKDF2_MAX_WORK,
        ));
    }
    Ok(Parsed::Pbkdf2 {
        digest,
        iterations,
        salt,
        hash,
    })
}

fn parse_scrypt(s: &str) -> Result<Parsed, HashError> {
    let parts: Vec<&str> = s.split('$').collect();
    if parts.len() != 5 {
        return Err(malformed(
            "scrypt hashes must look like $scrypt$ln=<N>,r=<n>,p=<n>$<salt>$<hash>",
        ));
    }
    // Kratos's `ln` field carries N itself (e.g. ln=16384), not log2(N).
    let [n, r, p] = params(parts[2], ["ln", "r", "p"], "scrypt")?;
    if n > SCRYPT_MAX_N {
        return Err(limit("scrypt cost (ln = N)", n, SCRYPT_MAX_N));
    }
    if n < 2 || !n.is_power_of_two() {
        return Err(malformed(
            "the scrypt cost (ln) must be a power of two greater than 1",
        ));
    }
    let (r, p) = check_scrypt_rp(r, p)?;
    check_scrypt_work(n, r, p)?;
    let salt = b64(&STANDARD, "scrypt salt", parts[3])?;
    let hash = b64(&STANDARD, "scrypt hash", parts[4])?;
    if hash.is_empty() {
        return Err(malformed("the scrypt hash is empty"));
    }
    Ok(Parsed::Scrypt {
        log_n: n.trailing_zeros() as u8,
        r,
        p,
        salt,
        hash,
    })
}

fn parse_firebase_scrypt(s: &str) -> Result<Parsed, HashError> {
    let parts: Vec<&str> = s.split('$').collect();
    if parts.len() != 7 {
        return Err(malformed(
            "firebase scrypt hashes must look like $firescrypt$ln=<n>,r=<n>,p=<n>$<salt>$<hash>$<salt separator>$<signer key>",
        ));
    }
    // Here `ln` is Firebase's mem_cost, i.e. log2(N).
    let [ln, r, p] = params(parts[2], ["ln", "r", "p"], "firebase scrypt")?;
    if ln > SCRYPT_MAX_LOG_N.into() {
        return Err(limit("firebase scrypt mem_cost (ln)", ln, SCRYPT_MAX_LOG_N));
    }
    if ln == 0 {
        return Err(malformed(
            "the firebase scrypt mem_cost (ln) must be at least 1",
        ));
    }
    let (r, p) = check_scrypt_rp(r, p)?;
    check_scrypt_work(1 << ln, r, p)?;
    Ok(Parsed::FirebaseScrypt {
        log_n: ln as u8,
        r,
        p,
        salt: b64(&STANDARD, "firebase scrypt salt", parts[3])?,
        hash: b64(&STANDARD, "firebase scrypt hash", parts[4])?,
        salt_separator: b64(&STANDARD, "firebase scrypt salt separator", parts[5])?,
        signer_key: b64(&STANDARD, "firebase scrypt signer key", parts[6])?,
    })
}

fn parse_ssha(digest: Digest, rest: &str) -> Result<Parsed, HashError> {
    let decoded = b64(&LENIENT, "SSHA value", rest)?;
    let n = digest.output_len();
    // At least one salt byte, as in Kratos.
    if decoded.len() <= n {
        return Err(malformed(
            "the SSHA value is too short to hold a hash and a salt",
        ));
    }
    let (hash, salt) = decoded.split_at(n);
    Ok(Parsed::Ssha {
        digest,
        salt: salt.to_vec(),
        hash: hash.to_vec(),
    })
}

/// Decodes the `pf=<base64>` placeholder-format field.
fn pattern_field(field: &str, what: &str) -> Result<Vec<u8>, HashError> {
    let v = field
        .strip_prefix("pf=")
        .filter(|v| !v.is_empty())
        .ok_or_else(|| malformed(format!("the {what} hash is missing its pf=<format> field")))?;
    b64(&STANDARD, &format!("{what} pf format"), v)
}

fn parse_sha(digest: Digest, s: &str) -> Result<Parsed, HashError> {
    let parts: Vec<&str> = s.split('$').collect();
    if parts.len() != 5 {
        return Err(malformed(
            "sha hashes must look like $sha256$pf=<format>$<salt>$<hash>",
        ));
    }
    Ok(Parsed::Sha {
        digest,
        pattern: pattern_field(parts[2], "sha")?,
        salt: b64(&STANDARD, "sha salt", parts[3])?,
        hash: b64(&STANDARD, "sha hash", parts[4])?,
    })
}

fn parse_md5(s: &str) -> Result<Parsed, HashError> {
    let parts: Vec<&str> = s.split('$').collect();
    match parts.len() {
        3 => Ok(Parsed::Md5 {
            salted: None,
            hash: b64(&STANDARD, "md5 hash", parts[2])?,
        }),
        5 => Ok(Parsed::Md5 {
            salted: Some((
                pattern_field(parts[2], "md5")?,
                b64(&STANDARD, "md5 salt", parts[3])?,
            )),
            hash: b64(&STANDARD, "md5 hash", parts[4])?,
        }),
        _ => Err(malformed(
            "md5 hashes must look like $md5$<hash> or $md5$pf=<format>$<salt>$<hash>",
        )),
    }
}

fn parse_hmac(digest: Digest, s: &str) -> Result<Parsed, HashError> {
    let parts: Vec<&str> = s.split('$').collect();
    if parts.len() != 4 {
        return Err(malformed(
            "hmac hashes must look like $hmac-sha256$<hash>$<key>",
        ));
    }
    Ok(Parsed::Hmac {
        digest,
        hash: b64(&STANDARD, "hmac hash", parts[2])?,
        key: b64(&STANDARD, "hmac key", parts[3])?,
    })
}

fn check_crypt_chars(s: &str, what: &str) -> Result<(), HashError> {
    if s.bytes().all(crypt::is_crypt_char) {
        Ok(())
    } else {
        Err(malformed(format!(
            "the {what} contains characters outside the crypt alphabet"
        )))
    }
}

fn parse_md5_crypt(rest: &str) -> Result<Parsed, HashError> {
    // The salt section must be present even when empty ("$1$$<checksum>").
    let parts: Vec<&str> = rest.split('$').collect();
    let [salt, checksum] = parts[..] else {
        return Err(malformed(
            "md5-crypt hashes must look like $md5-crypt$<salt>$<checksum>",
        ));
    };
    if salt.len() > crypt::MD5_CRYPT_MAX_SALT {
        return Err(malformed("the md5-crypt salt is longer than 8 characters"));
    }
    if !(checksum.is_empty() || checksum.len() == 22) {
        return Err(malformed("the md5-crypt checksum must be 22 characters"));
    }
    check_crypt_chars(salt, "md5-crypt salt")?;
    check_crypt_chars(checksum, "md5-crypt checksum")?;
    Ok(Parsed::Md5Crypt {
        salt: salt.as_bytes().to_vec(),
        checksum: checksum.to_string(),
    })
}

fn parse_sha_crypt(kind: ShaCryptKind, rest: &str) -> Result<Parsed, HashError> {
    let bad = || {
        malformed("sha-crypt hashes must look like $sha512-crypt$[rounds=<n>$]<salt>$<checksum>")
    };
    let parts: Vec<&str> = rest.split('$').collect();
    let (rounds, salt, checksum) = match parts[..] {
        [r, salt, checksum] => {
            let n = r.strip_prefix("rounds=").ok_or_else(bad)?;
            if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            let n: u64 = n.parse().unwrap_or(u64::MAX);
            (
                check_max("sha-crypt rounds", n, SHA_CRYPT_MAX_ROUNDS.into())?,
                salt,
                checksum,
            )
        }
        [salt, checksum] => (crypt::SHA_CRYPT_DEFAULT_ROUNDS, salt, checksum),
        _ => return Err(bad()),
    };
    if checksum.len() != kind.checksum_len() {
        return Err(malformed(format!(
            "the sha-crypt checksum must be {} characters",
            kind.checksum_len()
        )));
    }
    // The salt may contain any byte except '$' (glibc), so only the checksum
    // is restricted to the crypt alphabet.
    check_crypt_chars(checksum, "sha-crypt checksum")?;
    if salt.len() > crypt::SHA_CRYPT_MAX_SALT {
        return Err(malformed("the sha-crypt salt is longer than 16 characters"));
    }
    Ok(Parsed::ShaCrypt {
        kind,
        rounds,
        salt: salt.as_bytes().to_vec(),
        checksum: checksum.to_string(),
    })
}
