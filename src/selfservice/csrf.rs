//! Double-submit CSRF tokens in the shape Kratos uses: the browser holds a raw 32-byte token in
//! a cookie; forms carry it masked with a fresh one-time pad (`pad ‖ pad⊕token`), so the value
//! in the page changes every time while the cookie stays put.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;
use subtle::ConstantTimeEq;

pub const TOKEN_LEN: usize = 32;

pub type RawToken = [u8; TOKEN_LEN];

pub fn new_token() -> RawToken {
    let mut t = [0u8; TOKEN_LEN];
    rand::rng().fill_bytes(&mut t);
    t
}

pub fn encode_cookie(raw: &RawToken) -> String {
    STANDARD.encode(raw)
}

pub fn decode_cookie(value: &str) -> Option<RawToken> {
    STANDARD.decode(value.trim()).ok()?.try_into().ok()
}

/// The value put into forms: changes on every call, unmasks to `raw`.
pub fn mask(raw: &RawToken) -> String {
    let mut out = [0u8; TOKEN_LEN * 2];
    rand::rng().fill_bytes(&mut out[..TOKEN_LEN]);
    for i in 0..TOKEN_LEN {
        out[TOKEN_LEN + i] = out[i] ^ raw[i];
    }
    STANDARD.encode(out)
}

pub fn unmask(masked: &str) -> Option<RawToken> {
    let bytes = STANDARD.decode(masked.trim()).ok()?;
    if bytes.len() != TOKEN_LEN * 2 {
        return None;
    }
    let mut raw = [0u8; TOKEN_LEN];
    for i in 0..TOKEN_LEN {
        raw[i] = bytes[i] ^ bytes[TOKEN_LEN + i];
    }
    Some(raw)
}

/// Whether the submitted (masked) token belongs to the cookie's token.
pub fn verify(cookie: &RawToken, submitted: &str) -> bool {
    unmask(submitted).is_some_and(|t| bool::from(t.ct_eq(cookie)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_tokens_differ_but_verify() {
        let raw = new_token();
        let (a, b) = (mask(&raw), mask(&raw));
        assert_ne!(a, b);
        assert!(verify(&raw, &a) && verify(&raw, &b));
        assert!(!verify(&new_token(), &a));
        assert!(!verify(&raw, "garbage"));
        assert_eq!(decode_cookie(&encode_cookie(&raw)), Some(raw));
    }
}
