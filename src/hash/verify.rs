//! The CPU-heavy half: recomputing a parsed hash for a candidate password.
//! Always called from a blocking thread.

use aes::Aes256;
use ctr::cipher::{KeyIvInit, StreamCipher};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Digest as _;
use subtle::ConstantTimeEq;

use super::HashError;
use super::crypt;
use super::parse::{Argon2Variant, Digest, Parsed};

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    // `subtle` returns false for different lengths without leaking content.
    a.ct_eq(b).into()
}

fn internal(e: impl std::fmt::Display) -> HashError {
    HashError::Internal(e.to_string())
}

pub(crate) fn verify_parsed(parsed: &Parsed, password: &[u8]) -> Result<bool, HashError> {
    match parsed {
        Parsed::Argon2 {
            variant,
            memory_kib,
            iterations,
            parallelism,
            salt,
            hash,
        } => {
            let alg = match variant {
                Argon2Variant::Id => argon2::Algorithm::Argon2id,
                Argon2Variant::I => argon2::Algorithm::Argon2i,
            };
            let out = argon2_raw(
                alg,
                password,
                salt,
                *memory_kib,
                *iterations,
                *parallelism,
                hash.len(),
            )?;
            Ok(ct_eq(&out, hash))
        }
        Parsed::Bcrypt { normalized, .. } => {
            let parts: bcrypt::HashParts = normalized
                .parse()
                .map_err(|e| HashError::Malformed(format!("{e}")))?;
            let computed = bcrypt::hash_with_salt(password, parts.get_cost(), parts.get_salt_raw())
                .map_err(|e| HashError::Malformed(format!("{e}")))?;
            // Compare the encoded form like Go does, so non-canonical trailing
            // bits in the stored string are a mismatch, not a silent match.
            let ours = computed.format_for_version(bcrypt::Version::TwoB);
            Ok(ct_eq(ours.as_bytes(), normalized.as_bytes()))
        }
        Parsed::Pbkdf2 {
            digest,
            iterations,
            salt,
            hash,
        } => {
            let mut out = vec![0u8; hash.len()];
            match digest {
                Digest::Sha1 => {
                    pbkdf2::pbkdf2_hmac::<sha1::Sha1>(password, salt, *iterations, &mut out)
                }
                Digest::Sha224 => {
                    pbkdf2::pbkdf2_hmac::<sha2::Sha224>(password, salt, *iterations, &mut out)
                }
                Digest::Sha256 => {
                    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password, salt, *iterations, &mut out)
                }
                Digest::Sha384 => {
                    pbkdf2::pbkdf2_hmac::<sha2::Sha384>(password, salt, *iterations, &mut out)
                }
                Digest::Sha512 => {
                    pbkdf2::pbkdf2_hmac::<sha2::Sha512>(password, salt, *iterations, &mut out)
                }
                Digest::Md4 | Digest::Md5 => return Err(internal("pbkdf2 digest not supported")),
            }
            Ok(ct_eq(&out, hash))
        }
        Parsed::Scrypt {
            log_n,
            r,
            p,
            salt,
            hash,
        } => {
            let out = scrypt_raw(password, salt, *log_n, *r, *p, hash.len())?;
            Ok(ct_eq(&out, hash))
        }
        Parsed::FirebaseScrypt {
            log_n,
            r,
            p,
            salt,
            hash,
            salt_separator,
            signer_key,
        } => {
            // Firebase's variant: derive an AES-256 key from
            // scrypt(password, salt || separator), then AES-CTR-encrypt the
            // project's signer key with a zero IV; the ciphertext is the hash.
            let mut full_salt = salt.clone();
            full_salt.extend_from_slice(salt_separator);
            let key = scrypt_raw(password, &full_salt, *log_n, *r, *p, 32)?;
            let mut buf = signer_key.clone();
            let mut cipher =
                ctr::Ctr128BE::<Aes256>::new_from_slices(&key, &[0u8; 16]).map_err(internal)?;
            cipher.apply_keystream(&mut buf);
            Ok(ct_eq(&buf, hash))
        }
        Parsed::Ssha { digest, salt, hash } => {
            let mut input = password.to_vec();
            input.extend_from_slice(salt);
            Ok(ct_eq(&digest_of(*digest, &input), hash))
        }
        Parsed::Sha {
            digest,
            pattern,
            salt,
            hash,
        } => {
            let input = fill_pattern(pattern, salt, password);
            Ok(ct_eq(&digest_of(*digest, &input), hash))
        }
        Parsed::Md5 { salted, hash } => {
            let computed = match salted {
                Some((pattern, salt)) => {
                    digest_of(Digest::Md5, &fill_pattern(pattern, salt, password))
                }
                None => digest_of(Digest::Md5, password),
            };
            Ok(ct_eq(&computed, hash))
        }
        Parsed::Md5Crypt { salt, checksum } => {
            let computed = crypt::md5_crypt(password, salt);
            Ok(ct_eq(computed.as_bytes(), checksum.as_bytes()))
        }
        Parsed::ShaCrypt {
            kind,
            rounds,
            salt,
            checksum,
        } => {
            let computed = crypt::sha_crypt(*kind, password, salt, *rounds);
            Ok(ct_eq(computed.as_bytes(), checksum.as_bytes()))
        }
        Parsed::Hmac { digest, hash, key } => {
            // Kratos stores base64(lowercase hex(HMAC)), so compare as hex.
            let mac = hmac_of(*digest, key, password)?;
            Ok(ct_eq(super::lower_hex(&mac).as_bytes(), hash))
        }
    }
}

/// Work areas up to this many 1 KiB blocks (64 MiB) stay with their thread for the next hash;
/// a larger one (an imported hash with unusual parameters) is freed at once.
const KEEP_BLOCKS: usize = 64 * 1024;

thread_local! {
    /// The argon2 work area of this thread, reused from hash to hash: no allocation, no page
    /// faults, and no allocator arena left holding a freed 19 MiB block per thread.
    static ARGON2_BLOCKS: std::cell::RefCell<Vec<argon2::Block>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

pub(crate) fn argon2_raw(
    alg: argon2::Algorithm,
    password: &[u8],
    salt: &[u8],
    memory_kib: u32,
    iterations: u32,
    parallelism: u32,
    len: usize,
) -> Result<Vec<u8>, HashError> {
    let params = argon2::Params::new(memory_kib, iterations, parallelism, Some(len))
        .map_err(|e| HashError::Malformed(format!("invalid argon2 parameters: {e}")))?;
    let blocks = params.block_count();
    let mut out = vec![0u8; len];
    let argon = argon2::Argon2::new(alg, argon2::Version::V0x13, params);
    ARGON2_BLOCKS
        .with_borrow_mut(|area| {
            if blocks > KEEP_BLOCKS {
                let mut once = vec![argon2::Block::default(); blocks];
                return argon.hash_password_into_with_memory(password, salt, &mut out, &mut once);
            }
            if area.len() < blocks {
                area.resize(blocks, argon2::Block::default());
            }
            argon.hash_password_into_with_memory(password, salt, &mut out, &mut area[..blocks])
        })
        .map_err(|e| HashError::Malformed(format!("argon2: {e}")))?;
    Ok(out)
}

fn scrypt_raw(
    password: &[u8],
    salt: &[u8],
    log_n: u8,
    r: u32,
    p: u32,
    len: usize,
) -> Result<Vec<u8>, HashError> {
    let params = scrypt::Params::new(log_n, r, p)
        .map_err(|e| HashError::Malformed(format!("invalid scrypt parameters: {e}")))?;
    let mut out = vec![0u8; len];
    scrypt::scrypt(password, salt, &params, &mut out)
        .map_err(|e| HashError::Malformed(format!("scrypt: {e}")))?;
    Ok(out)
}

/// Expands `{SALT}` and `{PASSWORD}` in one left-to-right pass (like Go's
/// strings.Replacer), so a salt containing "{PASSWORD}" is not re-expanded.
fn fill_pattern(pattern: &[u8], salt: &[u8], password: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(pattern.len() + salt.len() + password.len());
    let mut i = 0;
    while i < pattern.len() {
        let rest = &pattern[i..];
        if rest.starts_with(b"{SALT}") {
            out.extend_from_slice(salt);
            i += 6;
        } else if rest.starts_with(b"{PASSWORD}") {
            out.extend_from_slice(password);
            i += 10;
        } else {
            out.push(pattern[i]);
            i += 1;
        }
    }
    out
}

fn digest_of(d: Digest, input: &[u8]) -> Vec<u8> {
    match d {
        Digest::Md4 => md4::Md4::digest(input).to_vec(),
        Digest::Md5 => md5::Md5::digest(input).to_vec(),
        Digest::Sha1 => sha1::Sha1::digest(input).to_vec(),
        Digest::Sha224 => sha2::Sha224::digest(input).to_vec(),
        Digest::Sha256 => sha2::Sha256::digest(input).to_vec(),
        Digest::Sha384 => sha2::Sha384::digest(input).to_vec(),
        Digest::Sha512 => sha2::Sha512::digest(input).to_vec(),
    }
}

fn hmac_with<M: Mac + KeyInit>(key: &[u8], msg: &[u8]) -> Result<Vec<u8>, HashError> {
    let mut mac = <M as KeyInit>::new_from_slice(key).map_err(internal)?;
    mac.update(msg);
    Ok(mac.finalize().into_bytes().to_vec())
}

fn hmac_of(d: Digest, key: &[u8], msg: &[u8]) -> Result<Vec<u8>, HashError> {
    match d {
        Digest::Md4 => hmac_with::<Hmac<md4::Md4>>(key, msg),
        Digest::Md5 => hmac_with::<Hmac<md5::Md5>>(key, msg),
        Digest::Sha1 => hmac_with::<Hmac<sha1::Sha1>>(key, msg),
        Digest::Sha224 => hmac_with::<Hmac<sha2::Sha224>>(key, msg),
        Digest::Sha256 => hmac_with::<Hmac<sha2::Sha256>>(key, msg),
        Digest::Sha384 => hmac_with::<Hmac<sha2::Sha384>>(key, msg),
        Digest::Sha512 => hmac_with::<Hmac<sha2::Sha512>>(key, msg),
    }
}
