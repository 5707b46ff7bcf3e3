//! The session cookie's value: `base64url(nonce ‖ AES-256-GCM(token ‖ expiry))`, keyed with
//! SHA-256 of a cookie secret. The first secret encrypts; every secret is tried when reading, so
//! secrets can be rotated without logging everyone out.
//!
//! This is Gatehouse's own format. Kratos's cookies (gorilla securecookie with gob encoding)
//! are read by `kratos_cookie` and replaced with this one on first use.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};

const NONCE_LEN: usize = 12;
/// Binds the ciphertext to its purpose, so another cookie encrypted with the same secret cannot
/// be replayed as a session cookie.
const AAD: &[u8] = b"gatehouse session cookie v1";

fn cipher(secret: &str) -> Aes256Gcm {
    let key = Sha256::digest(secret.as_bytes());
    // A SHA-256 digest is always 32 bytes, the AES-256 key length.
    Aes256Gcm::new_from_slice(&key).expect("32-byte key")
}

/// Encrypts the token and its expiry with the first secret. `None` only without any secret.
pub fn encode(secrets: &[String], token: &str, expires_at: DateTime<Utc>) -> Option<String> {
    let secret = secrets.first()?;
    let mut plain = Vec::with_capacity(8 + token.len());
    plain.extend_from_slice(&expires_at.timestamp().to_be_bytes());
    plain.extend_from_slice(token.as_bytes());
    let mut nonce = [0u8; NONCE_LEN];
    rand::rng().fill_bytes(&mut nonce);
    let sealed = cipher(secret)
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: &plain,
                aad: AAD,
            },
        )
        .ok()?;
    let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    Some(URL_SAFE_NO_PAD.encode(out))
}

/// Decrypts a cookie value with any of the secrets; returns the token and the expiry the cookie
/// was issued with. Tampered, foreign or malformed values yield `None`.
pub fn decode(secrets: &[String], value: &str) -> Option<(String, DateTime<Utc>)> {
    let raw = URL_SAFE_NO_PAD
        .decode(value.trim().trim_end_matches('='))
        .ok()?;
    if raw.len() <= NONCE_LEN + 16 {
        return None;
    }
    let (nonce, sealed) = raw.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().ok()?;
    let plain = secrets.iter().find_map(|s| {
        cipher(s)
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: sealed,
                    aad: AAD,
                },
            )
            .ok()
    })?;
    if plain.len() < 8 {
        return None;
    }
    let (exp, token) = plain.split_at(8);
    let exp = i64::from_be_bytes(exp.try_into().ok()?);
    let token = String::from_utf8(token.to_vec()).ok()?;
    Some((token, DateTime::from_timestamp(exp, 0)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rotates() {
        let old = vec!["old-secret-0123456789".to_owned()];
        let exp = DateTime::from_timestamp(2_000_000_000, 0).unwrap();
        let v = encode(&old, "ory_st_abc", exp).unwrap();
        assert_eq!(decode(&old, &v), Some(("ory_st_abc".into(), exp)));
        let rotated = vec!["new-secret-0123456789".to_owned(), old[0].clone()];
        assert_eq!(decode(&rotated, &v), Some(("ory_st_abc".into(), exp)));
        assert_eq!(decode(&rotated[..1], &v), None);
        let mut tampered = URL_SAFE_NO_PAD.decode(&v).unwrap();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert_eq!(decode(&old, &URL_SAFE_NO_PAD.encode(tampered)), None);
        assert_eq!(decode(&old, "not base64!"), None);
        assert_eq!(decode(&old, ""), None);
    }
}
