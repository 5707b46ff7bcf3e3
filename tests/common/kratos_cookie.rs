//! Kratos's session cookie as Kratos writes it, for tests of the switch from Kratos: a
//! gob-encoded `map[interface{}]interface{}` of strings, sealed by gorilla/securecookie with the
//! hash key `secret` and the block key SHA-256(`secret`) (AES-256-CTR, random IV, then
//! HMAC-SHA256 over `name|date|value`). Written from the formats' documentation, apart from
//! the server's decoder.

use aes::Aes256;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE;
use ctr::cipher::{KeyIvInit, StreamCipher};
use hmac::{Hmac, KeyInit, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// gob's unsigned integer: one byte below 128, else the negated byte count and big-endian bytes.
fn uint(n: u64) -> Vec<u8> {
    if n < 128 {
        return vec![n as u8];
    }
    let b = n.to_be_bytes();
    let skip = b.iter().take_while(|&&x| x == 0).count();
    [vec![(256 - (8 - skip)) as u8], b[skip..].to_vec()].concat()
}

/// gob's signed integer: shifted left, complemented and flagged in bit 0 when negative.
fn int(n: i64) -> Vec<u8> {
    uint(if n < 0 {
        ((!n as u64) << 1) | 1
    } else {
        (n as u64) << 1
    })
}

fn string(s: &str) -> Vec<u8> {
    [uint(s.len() as u64), s.as_bytes().to_vec()].concat()
}

fn message(b: Vec<u8>) -> Vec<u8> {
    [uint(b.len() as u64), b].concat()
}

/// An interface holding a string: the registered name, type id 6, then the value as a
/// length-prefixed singleton (field delta 0).
fn interface_string(s: &str) -> Vec<u8> {
    [
        string("string"),
        int(6),
        message([vec![0], string(s)].concat()),
    ]
    .concat()
}

/// `gob.NewEncoder(w).Encode(values)` for a `map[interface{}]interface{}` of strings, the map
/// being the stream's first type (id 65).
pub fn gob_map(values: &[(&str, &str)]) -> Vec<u8> {
    // wireType{MapT: mapType{CommonType{Id: 65}, Key: interface, Elem: interface}}
    let map_type = [
        int(-65),
        uint(4),
        uint(1),
        uint(2),
        int(65),
        vec![0],
        uint(1),
        int(8),
        uint(1),
        int(8),
        vec![0, 0],
    ]
    .concat();
    let mut value = [int(65), vec![0], uint(values.len() as u64)].concat();
    for (k, v) in values {
        value.extend(interface_string(k));
        value.extend(interface_string(v));
    }
    [message(map_type), message(value)].concat()
}

/// securecookie's `Encode(name, values)`, stamped `issued_at` (Unix seconds).
pub fn encode(secret: &str, name: &str, issued_at: i64, values: &[(&str, &str)]) -> String {
    let mut sealed = vec![0u8; 16];
    rand::rng().fill_bytes(&mut sealed);
    let mut body = gob_map(values);
    let key = Sha256::digest(secret.as_bytes());
    ctr::Ctr128BE::<Aes256>::new_from_slices(key.as_slice(), &sealed)
        .unwrap()
        .apply_keystream(&mut body);
    sealed.extend(body);
    let signed = format!("{name}|{issued_at}|{}", URL_SAFE.encode(&sealed));
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(signed.as_bytes());
    let mut out = signed.as_bytes()[name.len() + 1..].to_vec();
    out.push(b'|');
    out.extend(mac.finalize().into_bytes());
    URL_SAFE.encode(out)
}
