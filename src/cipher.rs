//! The cipher provider: encrypts sensitive credential data at rest (the OIDC provider tokens)
//! with `ciphers.algorithm` under `secrets.cipher`, in Kratos's wire format so stored values move
//! both ways between Kratos and Gatehouse:
//!
//! - `aes`: AES-256-GCM, `hex(12-byte nonce ‖ ciphertext ‖ tag)`;
//! - `xchacha20-poly1305`: `hex(24-byte nonce ‖ ciphertext ‖ tag)`;
//! - `noop`: `hex(plaintext)`, no key.
//!
//! The first secret encrypts; every secret is tried when decrypting, so keys can be rotated.
//! Empty plaintext encrypts to `""` and `""` decrypts to nothing, as in Kratos. Neither keys nor
//! plaintext ever reach a log line or an error message.

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, KeyInit};
use chacha20poly1305::XChaCha20Poly1305;
use rand::TryRngCore;
use rand::rngs::OsRng;

use crate::config::{CipherAlgorithm, Config};

const KEY_LEN: usize = 32;
const AES_NONCE_LEN: usize = 12;
const XCHACHA_NONCE_LEN: usize = 24;

#[derive(Debug, thiserror::Error)]
pub enum CipherError {
    #[error("no cipher secrets are configured (secrets.cipher)")]
    NoKey,
    #[error("the ciphertext is malformed: {0}")]
    Malformed(&'static str),
    #[error("no configured cipher secret decrypts the ciphertext")]
    Decrypt,
    #[error("encryption failed")]
    Encrypt,
    #[error("the operating system's random number generator failed")]
    Random,
    #[error("the decrypted value is not UTF-8")]
    NotUtf8,
}

/// The configured algorithm with its keys; cheap to share behind an `Arc`.
pub struct Cipher {
    algorithm: CipherAlgorithm,
    /// `secrets.cipher` in order: the first encrypts.
    keys: Vec<[u8; KEY_LEN]>,
}

// Written by hand so the keys never reach a log line.
impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cipher")
            .field("algorithm", &self.algorithm)
            .field("keys", &self.keys.len())
            .finish()
    }
}

impl Cipher {
    /// `ciphers.algorithm` with the keys of `secrets.cipher`. Configuration validation has
    /// checked each secret is 32 bytes; Kratos skips any other, and so does this.
    pub fn from_config(cfg: &Config) -> Cipher {
        let keys = cfg
            .cipher_secrets()
            .iter()
            .filter_map(|s| <[u8; KEY_LEN]>::try_from(s.as_bytes()).ok())
            .collect();
        Cipher {
            algorithm: cfg.ciphers.algorithm,
            keys,
        }
    }

    pub fn algorithm(&self) -> CipherAlgorithm {
        self.algorithm
    }

    pub fn encrypt(&self, plaintext: &[u8]) -> Result<String, CipherError> {
        if plaintext.is_empty() {
            return Ok(String::new());
        }
        let sealed = match self.algorithm {
            CipherAlgorithm::Noop => plaintext.to_vec(),
            CipherAlgorithm::Aes => {
                let key = self.keys.first().ok_or(CipherError::NoKey)?;
                let nonce = random::<AES_NONCE_LEN>()?;
                seal(&Aes256Gcm::new(&(*key).into()), &nonce, plaintext)?
            }
            CipherAlgorithm::Xchacha20Poly1305 => {
                let key = self.keys.first().ok_or(CipherError::NoKey)?;
                let nonce = random::<XCHACHA_NONCE_LEN>()?;
                seal(&XChaCha20Poly1305::new(&(*key).into()), &nonce, plaintext)?
            }
        };
        Ok(crate::hash::lower_hex(&sealed))
    }

    pub fn decrypt(&self, ciphertext: &str) -> Result<Vec<u8>, CipherError> {
        if ciphertext.is_empty() {
            return Ok(Vec::new());
        }
        match self.algorithm {
            CipherAlgorithm::Noop => decode_hex(ciphertext),
            CipherAlgorithm::Aes => {
                let raw = self.raw_for_keys(ciphertext)?;
                self.open_any(&raw, AES_NONCE_LEN, |k| Aes256Gcm::new(&(*k).into()))
            }
            CipherAlgorithm::Xchacha20Poly1305 => {
                let raw = self.raw_for_keys(ciphertext)?;
                self.open_any(&raw, XCHACHA_NONCE_LEN, |k| {
                    XChaCha20Poly1305::new(&(*k).into())
                })
            }
        }
    }

    pub fn encrypt_str(&self, plaintext: &str) -> Result<String, CipherError> {
        self.encrypt(plaintext.as_bytes())
    }

    pub fn decrypt_str(&self, ciphertext: &str) -> Result<String, CipherError> {
        String::from_utf8(self.decrypt(ciphertext)?).map_err(|_| CipherError::NotUtf8)
    }

    /// The decoded bytes of a keyed ciphertext; refuses first when there is no key at all.
    fn raw_for_keys(&self, ciphertext: &str) -> Result<Vec<u8>, CipherError> {
        if self.keys.is_empty() {
            return Err(CipherError::NoKey);
        }
        decode_hex(ciphertext)
    }

    /// Tries every key on `nonce ‖ sealed`, in order.
    fn open_any<A: Aead>(
        &self,
        raw: &[u8],
        nonce_len: usize,
        new: impl Fn(&[u8; KEY_LEN]) -> A,
    ) -> Result<Vec<u8>, CipherError> {
        let (nonce, sealed) = raw
            .split_at_checked(nonce_len)
            .ok_or(CipherError::Malformed("shorter than its nonce"))?;
        let nonce = aes_gcm::aead::Nonce::<A>::try_from(nonce)
            .map_err(|_| CipherError::Malformed("shorter than its nonce"))?;
        self.keys
            .iter()
            .find_map(|k| new(k).decrypt(&nonce, sealed).ok())
            .ok_or(CipherError::Decrypt)
    }
}

/// `nonce ‖ ciphertext ‖ tag`.
fn seal<A: Aead>(aead: &A, nonce: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CipherError> {
    let n = aes_gcm::aead::Nonce::<A>::try_from(nonce).map_err(|_| CipherError::Encrypt)?;
    let sealed = aead
        .encrypt(&n, plaintext)
        .map_err(|_| CipherError::Encrypt)?;
    let mut out = Vec::with_capacity(nonce.len() + sealed.len());
    out.extend_from_slice(nonce);
    out.extend_from_slice(&sealed);
    Ok(out)
}

fn random<const N: usize>() -> Result<[u8; N], CipherError> {
    let mut buf = [0u8; N];
    OsRng
        .try_fill_bytes(&mut buf)
        .map_err(|_| CipherError::Random)?;
    Ok(buf)
}

/// Either case, as Go's `hex.DecodeString` reads it.
fn decode_hex(s: &str) -> Result<Vec<u8>, CipherError> {
    fn nibble(c: u8) -> Result<u8, CipherError> {
        match c {
            b'0'..=b'9' => Ok(c - b'0'),
            b'a'..=b'f' => Ok(c - b'a' + 10),
            b'A'..=b'F' => Ok(c - b'A' + 10),
            _ => Err(CipherError::Malformed("not hexadecimal")),
        }
    }
    let bytes = s.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return Err(CipherError::Malformed("odd number of hex digits"));
    }
    bytes
        .chunks_exact(2)
        .map(|p| Ok(nibble(p[0])? << 4 | nibble(p[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "secret-thirty-two-character-long";
    const K2: &str = "another-32-character-cipher-key!";

    fn cipher(algorithm: CipherAlgorithm, keys: &[&str]) -> Cipher {
        let mut cfg = Config::default();
        cfg.ciphers.algorithm = algorithm;
        cfg.secrets.cipher = keys.iter().map(|k| (*k).to_owned()).collect();
        Cipher::from_config(&cfg)
    }

    const KEYED: [CipherAlgorithm; 2] = [CipherAlgorithm::Aes, CipherAlgorithm::Xchacha20Poly1305];

    fn nonce_len(a: CipherAlgorithm) -> usize {
        match a {
            CipherAlgorithm::Aes => AES_NONCE_LEN,
            CipherAlgorithm::Xchacha20Poly1305 => XCHACHA_NONCE_LEN,
            CipherAlgorithm::Noop => 0,
        }
    }

    #[test]
    fn round_trips() {
        for a in KEYED {
            let c = cipher(a, &[K1]);
            assert_eq!(c.algorithm(), a);
            let sealed = c.encrypt_str("my secret message!").unwrap();
            // nonce ‖ ciphertext ‖ 16-byte tag, hex-encoded.
            assert_eq!(sealed.len(), 2 * (nonce_len(a) + 18 + 16), "{a:?}");
            assert!(!sealed.contains(&crate::hash::lower_hex(b"my secret")));
            assert_eq!(c.decrypt_str(&sealed).unwrap(), "my secret message!");
            // A fresh nonce each time.
            assert_ne!(c.encrypt_str("my secret message!").unwrap(), sealed);
        }
        let noop = cipher(CipherAlgorithm::Noop, &[]);
        let hex = noop.encrypt_str("plain").unwrap();
        assert_eq!(hex, "706c61696e");
        assert_eq!(noop.decrypt_str(&hex).unwrap(), "plain");
        assert_eq!(noop.decrypt_str("706C61696E").unwrap(), "plain");
    }

    #[test]
    fn rotation_decrypts_with_any_key_and_encrypts_with_the_first() {
        for a in KEYED {
            let old = cipher(a, &[K1]);
            let rotated = cipher(a, &[K2, K1]);
            let sealed = old.encrypt_str("token").unwrap();
            assert_eq!(rotated.decrypt_str(&sealed).unwrap(), "token");
            let fresh = rotated.encrypt_str("token").unwrap();
            assert!(matches!(old.decrypt(&fresh), Err(CipherError::Decrypt)));
            assert_eq!(cipher(a, &[K2]).decrypt_str(&fresh).unwrap(), "token");
        }
    }

    #[test]
    fn a_wrong_key_or_a_tampered_ciphertext_fails() {
        for a in KEYED {
            let sealed = cipher(a, &[K1]).encrypt_str("token").unwrap();
            let c = cipher(a, &[K2]);
            assert!(matches!(c.decrypt(&sealed), Err(CipherError::Decrypt)));
            let c = cipher(a, &[K1]);
            // Flip one bit in the ciphertext, the tag, and the nonce.
            for at in [nonce_len(a) * 2, sealed.len() - 1, 0] {
                let mut t = sealed.clone().into_bytes();
                t[at] = if t[at] == b'0' { b'1' } else { b'0' };
                let t = String::from_utf8(t).unwrap();
                assert!(
                    matches!(c.decrypt(&t), Err(CipherError::Decrypt)),
                    "{a:?} {at}"
                );
            }
        }
    }

    #[test]
    fn empty_input_and_missing_keys() {
        for a in [
            CipherAlgorithm::Noop,
            CipherAlgorithm::Aes,
            CipherAlgorithm::Xchacha20Poly1305,
        ] {
            // Empty values need no key, as in Kratos.
            let c = cipher(a, &[]);
            assert_eq!(c.encrypt(b"").unwrap(), "");
            assert!(c.decrypt("").unwrap().is_empty());
        }
        for a in KEYED {
            let c = cipher(a, &[]);
            assert!(matches!(c.encrypt(b"x"), Err(CipherError::NoKey)));
            assert!(matches!(c.decrypt("00"), Err(CipherError::NoKey)));
        }
    }

    #[test]
    fn malformed_ciphertext() {
        for a in [
            CipherAlgorithm::Noop,
            CipherAlgorithm::Aes,
            CipherAlgorithm::Xchacha20Poly1305,
        ] {
            let c = cipher(a, &[K1]);
            for bad in ["zz", "abc", "ü0"] {
                assert!(
                    matches!(c.decrypt(bad), Err(CipherError::Malformed(_))),
                    "{a:?} {bad}"
                );
            }
        }
        for a in KEYED {
            let short = "00".repeat(nonce_len(a) - 1);
            assert!(matches!(
                cipher(a, &[K1]).decrypt(&short),
                Err(CipherError::Malformed(_))
            ));
            // A bare nonce with no tag is no ciphertext either.
            let bare = "00".repeat(nonce_len(a));
            assert!(cipher(a, &[K1]).decrypt(&bare).is_err());
        }
        let noop = cipher(CipherAlgorithm::Noop, &[]);
        assert!(matches!(noop.decrypt_str("ff"), Err(CipherError::NotUtf8)));
    }

    /// Vectors made outside this crate (Python's `cryptography`; XChaCha20 through a
    /// hand-written HChaCha20 checked against the XChaCha draft's vector), so the layout is
    /// pinned: nonce first, then ciphertext and tag, hex in lower case, the secret's bytes as
    /// the key.
    #[test]
    fn independent_vectors() {
        let aes = "000102030405060708090a0b\
                   ab7a4d35da89e2f15ae8ece3dd51082e13df6915a00c2182f213\
                   20158fd8c762a5f34832602557e49eb5";
        let xchacha = "404142434445464748494a4b4c4d4e4f5051525354555657\
                       888825479161cabb4a47d1ab52beef6cf2a538ba10bbb41a45e4\
                       ed3c67a52f2db10e0b7f003b7818618e";
        assert_eq!(
            cipher(CipherAlgorithm::Aes, &[K2, K1])
                .decrypt_str(aes)
                .unwrap(),
            "Kratos and Gatehouse agree"
        );
        assert_eq!(
            cipher(CipherAlgorithm::Xchacha20Poly1305, &[K1])
                .decrypt_str(xchacha)
                .unwrap(),
            "Kratos and Gatehouse agree"
        );
    }

    #[test]
    fn debug_shows_no_key() {
        let shown = format!("{:?}", cipher(CipherAlgorithm::Aes, &[K1]));
        assert_eq!(shown, "Cipher { algorithm: Aes, keys: 1 }");
    }
}
