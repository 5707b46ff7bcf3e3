//! Kratos's session cookie, read so that browsers signed in before a switch from Kratos stay
//! signed in for the rest of their sessions (issue 20); the HTTP layer answers the first request
//! carrying one with Gatehouse's own cookie (`http::session_auth`).
//!
//! Kratos keeps its cookie in a gorilla/sessions `CookieStore` over gorilla/securecookie. For
//! every cookie secret `s` (`secrets.cookie`, else `secrets.default`, in order) the codec's hash
//! key is `s` itself and its block key `SHA-256(s)`, so values are encrypted (AES-256-CTR) and
//! signed (HMAC-SHA256). A value is, with padded URL-safe base64 both times,
//!
//! ```text
//! base64(date "|" base64(iv ‖ AES-CTR(gob(values))) "|" HMAC(s, name "|" date "|" middle))
//! ```
//!
//! `name` is the cookie's name, `date` the Unix second it was written; it is refused once older
//! than the store's max age (Kratos: the session lifespan for persistent cookies, else gorilla's
//! 30 days). `values` is a gob-encoded `map[interface{}]interface{}`: `session_token`,
//! `expires_at` (RFC 3339) and a random `nonce`.
//!
//! The gob decoder takes only that shape: one map of interface to interface, string keys, and
//! `string`, `int`/`int64` or `time.Time` values. Anything else (another type, a nested map, a
//! struct, more than a few entries or messages) is refused, so nesting depth is fixed and every
//! length is bounded by the input.

use aes::Aes256;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE;
use chrono::{DateTime, Utc};
use ctr::cipher::{KeyIvInit, StreamCipher};
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

/// securecookie's default `maxLength`: longer values are refused before any work.
pub const MAX_LEN: usize = 4096;
/// gorilla/sessions' default max age, which Kratos keeps for non-persistent cookies.
pub const DEFAULT_MAX_AGE_SECS: i64 = 86400 * 30;
const IV_LEN: usize = 16;

/// What a valid Kratos session cookie names.
#[derive(Debug, PartialEq)]
pub struct KratosCookie {
    pub token: String,
    /// `expires_at` as Kratos wrote it; cookies of older Kratos versions lack it.
    pub expires_at: Option<DateTime<Utc>>,
}

/// Whether a cookie value is shaped like securecookie's (`date|…` once base64-decoded): a cheap
/// test that spares the HMAC for values that are plainly something else.
pub fn looks_like(value: &str) -> bool {
    let Some(head) = value.get(..16) else {
        return false;
    };
    let Ok(head) = URL_SAFE.decode(head) else {
        return false;
    };
    let digits = head.iter().take_while(|b| b.is_ascii_digit()).count();
    digits > 0 && head.get(digits) == Some(&b'|')
}

/// Verifies and opens a cookie value with each secret in turn (Kratos's key rotation);
/// `now` and `max_age_secs` (0: no limit) in seconds. Tampered, expired, foreign or malformed
/// values yield `None`.
pub fn decode(
    secrets: &[String],
    name: &str,
    value: &str,
    max_age_secs: i64,
    now: i64,
) -> Option<KratosCookie> {
    if value.len() > MAX_LEN {
        return None;
    }
    let raw = URL_SAFE.decode(value).ok()?;
    let (date, rest) = split_pipe(&raw)?;
    let (middle, mac) = split_pipe(rest)?;
    let secret = secrets
        .iter()
        .find(|s| mac_matches(s.as_bytes(), name, date, middle, mac))?;
    let issued: i64 = std::str::from_utf8(date).ok()?.parse().ok()?;
    if max_age_secs != 0 && issued < now.saturating_sub(max_age_secs) {
        return None;
    }
    let sealed = URL_SAFE.decode(middle).ok()?;
    if sealed.len() <= IV_LEN {
        return None;
    }
    let (iv, body) = sealed.split_at(IV_LEN);
    let key = Sha256::digest(secret.as_bytes());
    let mut plain = body.to_vec();
    ctr::Ctr128BE::<Aes256>::new_from_slices(key.as_slice(), iv)
        .ok()?
        .apply_keystream(&mut plain);
    values(&plain)
}

/// The session named by an opened (verified and decrypted) value: Kratos's gob-encoded map.
pub fn values(plain: &[u8]) -> Option<KratosCookie> {
    let mut token = None;
    let mut expires_at = None;
    for (k, v) in gob::decode_map(plain)? {
        match (k.as_str(), v) {
            ("session_token", gob::Value::Str(t)) if !t.is_empty() => token = Some(t),
            ("session_token", _) => return None,
            // Like Kratos, an unreadable expiry counts as none.
            ("expires_at", gob::Value::Str(t)) => {
                expires_at = DateTime::parse_from_rfc3339(&t)
                    .ok()
                    .map(|t| t.with_timezone(&Utc));
            }
            ("expires_at", gob::Value::Time(t)) => expires_at = Some(t),
            _ => {}
        }
    }
    Some(KratosCookie {
        token: token?,
        expires_at,
    })
}

/// securecookie splits on the first two `|`: the MAC, last, may contain the byte itself.
fn split_pipe(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let at = b.iter().position(|&c| c == b'|')?;
    Some((&b[..at], &b[at + 1..]))
}

/// Constant-time comparison (`verify_slice`), as securecookie's `verifyMac`.
fn mac_matches(key: &[u8], name: &str, date: &[u8], middle: &[u8], mac: &[u8]) -> bool {
    let Ok(mut h) = <Hmac<Sha256> as KeyInit>::new_from_slice(key) else {
        return false;
    };
    for part in [name.as_bytes(), b"|", date, b"|", middle] {
        h.update(part);
    }
    h.verify_slice(mac).is_ok()
}

/// The part of Go's `encoding/gob` that Kratos's cookie needs.
mod gob {
    use chrono::{DateTime, Utc};

    /// Predefined gob type ids.
    const T_INT: i64 = 2;
    const T_STRING: i64 = 6;
    const T_INTERFACE: i64 = 8;
    /// Kratos writes three entries.
    const MAX_ENTRIES: u64 = 16;
    /// The map's type, at most one `time.Time` type, and the value (cut in two where a type is
    /// defined inside it).
    const MAX_MESSAGES: usize = 4;
    /// Seconds from 0001-01-01 (Go's time epoch) to 1970-01-01.
    const GO_UNIX_OFFSET: i64 = 62_135_596_800;

    #[derive(Debug, PartialEq)]
    pub enum Value {
        Str(String),
        Int(i64),
        Time(DateTime<Utc>),
    }

    /// A type defined in the stream.
    #[derive(Clone, Copy, PartialEq)]
    enum Wire {
        Map {
            key: i64,
            elem: i64,
        },
        /// A `GobEncoder` or `BinaryMarshaler` (time.Time is the only one accepted).
        Encoder,
    }

    struct Reader<'a> {
        b: &'a [u8],
    }

    impl<'a> Reader<'a> {
        fn is_empty(&self) -> bool {
            self.b.is_empty()
        }

        fn take(&mut self, n: usize) -> Option<&'a [u8]> {
            if n > self.b.len() {
                return None;
            }
            let (head, tail) = self.b.split_at(n);
            self.b = tail;
            Some(head)
        }

        /// Below 128 one byte; else the negated byte count, then big-endian bytes.
        fn uint(&mut self) -> Option<u64> {
            let first = *self.take(1)?.first()?;
            if first < 0x80 {
                return Some(u64::from(first));
            }
            let n = usize::from((first as i8).unsigned_abs());
            if n > 8 {
                return None;
            }
            Some(
                self.take(n)?
                    .iter()
                    .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)),
            )
        }

        /// Zig-zag over `uint`: the low bit says to complement.
        fn int(&mut self) -> Option<i64> {
            let u = self.uint()?;
            let half = (u >> 1) as i64;
            Some(if u & 1 == 1 { !half } else { half })
        }

        fn count(&mut self) -> Option<usize> {
            usize::try_from(self.uint()?).ok()
        }

        fn string(&mut self) -> Option<&'a str> {
            let n = self.count()?;
            std::str::from_utf8(self.take(n)?).ok()
        }

        fn bytes(&mut self) -> Option<&'a [u8]> {
            let n = self.count()?;
            self.take(n)
        }

        /// A length-prefixed part, read on its own.
        fn delimited(&mut self) -> Option<Reader<'a>> {
            let n = self.count()?;
            Some(Reader { b: self.take(n)? })
        }
    }

    /// Walks a struct: `(field number, reader)` for each field sent, until the zero delta.
    fn fields<'a>(
        r: &mut Reader<'a>,
        mut field: impl FnMut(u64, &mut Reader<'a>) -> Option<()>,
    ) -> Option<()> {
        let mut n: u64 = 0;
        loop {
            let delta = r.uint()?;
            if delta == 0 {
                return Some(());
            }
            // Field numbers start at -1 + the first delta; kept one up to stay unsigned.
            n = n.checked_add(delta)?;
            field(n - 1, r)?;
        }
    }

    /// `CommonType{Name, Id}`; neither is needed, the id comes with the definition.
    fn common_type(r: &mut Reader) -> Option<()> {
        fields(r, |n, r| match n {
            0 => r.string().map(drop),
            1 => r.int().map(drop),
            _ => None,
        })
    }

    /// A `wireType` with exactly one of `MapT` (field 3), `GobEncoderT` (4) or
    /// `BinaryMarshalerT` (5) set.
    fn wire_type(r: &mut Reader) -> Option<Wire> {
        let mut found = None;
        fields(r, |n, r| {
            if found.is_some() {
                return None;
            }
            found = Some(match n {
                3 => {
                    let (mut key, mut elem) = (None, None);
                    fields(r, |n, r| {
                        match n {
                            0 => common_type(r)?,
                            1 => key = Some(r.int()?),
                            2 => elem = Some(r.int()?),
                            _ => return None,
                        }
                        Some(())
                    })?;
                    Wire::Map {
                        key: key?,
                        elem: elem?,
                    }
                }
                4 | 5 => {
                    fields(r, |n, r| if n == 0 { common_type(r) } else { None })?;
                    Wire::Encoder
                }
                _ => return None,
            });
            Some(())
        })?;
        found
    }

    struct Decoder<'a> {
        stream: Reader<'a>,
        /// The rest of the current message.
        buf: Reader<'a>,
        messages: usize,
        types: Vec<(i64, Wire)>,
    }

    impl<'a> Decoder<'a> {
        fn wire(&self, id: i64) -> Option<Wire> {
            self.types.iter().find(|(i, _)| *i == id).map(|(_, w)| *w)
        }

        /// Go's `decodeTypeSequence`: type definitions, each ending its message unless inside
        /// an interface value, then the id of the value that follows.
        fn type_sequence(&mut self, in_interface: bool) -> Option<i64> {
            loop {
                if self.buf.is_empty() {
                    self.messages += 1;
                    if self.messages > MAX_MESSAGES {
                        return None;
                    }
                    self.buf = self.stream.delimited()?;
                }
                let id = self.buf.int()?;
                if id >= 0 {
                    return Some(id);
                }
                let id = id.checked_neg()?;
                let wire = wire_type(&mut self.buf)?;
                if self.wire(id).is_some() || self.types.len() >= 2 {
                    return None;
                }
                self.types.push((id, wire));
                if !self.buf.is_empty() {
                    if !in_interface {
                        return None;
                    }
                    // The byte count of the value that follows.
                    self.buf.uint()?;
                }
            }
        }

        /// An interface value: the registered name of its concrete type, its type id, then
        /// the value as its own length-prefixed singleton.
        fn interface(&mut self) -> Option<Value> {
            let name = self.buf.string()?;
            let id = self.type_sequence(true)?;
            let mut v = self.buf.delimited()?;
            // A value that is not a struct is sent as field 0 of an implicit struct.
            if v.uint()? != 0 {
                return None;
            }
            let value = match (name, id) {
                ("string", T_STRING) => Value::Str(v.string()?.to_owned()),
                ("int" | "int64", T_INT) => Value::Int(v.int()?),
                ("time.Time", id) if self.wire(id) == Some(Wire::Encoder) => {
                    Value::Time(go_time(v.bytes()?)?)
                }
                _ => return None,
            };
            v.is_empty().then_some(value)
        }
    }

    /// `time.Time.MarshalBinary`: version 1 or 2, seconds since year 1, nanoseconds, the zone
    /// offset in minutes (version 2 adds its seconds). The instant does not depend on the zone.
    fn go_time(b: &[u8]) -> Option<DateTime<Utc>> {
        let expected = match b.first()? {
            1 => 15,
            2 => 16,
            _ => return None,
        };
        if b.len() != expected {
            return None;
        }
        let secs = i64::from_be_bytes(b[1..9].try_into().ok()?);
        let nanos = u32::from_be_bytes(b[9..13].try_into().ok()?);
        DateTime::from_timestamp(secs.checked_sub(GO_UNIX_OFFSET)?, nanos)
    }

    /// The entries of a gob stream holding one `map[interface{}]interface{}` with string keys,
    /// in the order sent (Go's map order is random); `None` for anything else.
    pub fn decode_map(data: &[u8]) -> Option<Vec<(String, Value)>> {
        let mut d = Decoder {
            stream: Reader { b: data },
            buf: Reader { b: &[] },
            messages: 0,
            types: Vec::new(),
        };
        let id = d.type_sequence(false)?;
        if d.wire(id)
            != Some(Wire::Map {
                key: T_INTERFACE,
                elem: T_INTERFACE,
            })
        {
            return None;
        }
        if d.buf.uint()? != 0 {
            return None;
        }
        let n = d.buf.uint()?;
        if n > MAX_ENTRIES {
            return None;
        }
        let mut out = Vec::new();
        for _ in 0..n {
            let Value::Str(k) = d.interface()? else {
                return None;
            };
            out.push((k, d.interface()?));
        }
        (d.buf.is_empty() && d.stream.is_empty()).then_some(out)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn hex(s: &str) -> Vec<u8> {
            (0..s.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
                .collect()
        }

        /// The map's type definition as Go sends it for `map[interface{}]interface{}` as the
        /// first user type (id 65): length 14, id -65, `wireType{MapT: mapType{CommonType{Id:
        /// 65}, Key: 8, Elem: 8}}` (the unnamed type's empty name is left out).
        const MAP_TYPE: &str = "0eff81040102ff8200011001100000";

        /// Laid out by hand from the `encoding/gob` documentation (with the layout checked
        /// by an independent Python encoder): {session_token: "ory_st_AbCd…345", expires_at:
        /// "2026-01-02T00:00:00.5Z", nonce: "AbCdEfGh"}, every key and value an interface
        /// holding a `string` (name "string", id 6, then a delimited singleton).
        const KRATOS_VALUES: &str = "0eff81040102ff8200011001100000ffa7ff82000306737472696e670c0f000d73657373696f6e5f746f6b656e06737472696e670c2900276f72795f73745f4162436445664768496a4b6c4d6e4f705172537455765778597a30313233343506737472696e670c0c000a657870697265735f617406737472696e670c180016323032362d30312d30325430303a30303a30302e355a06737472696e670c0700056e6f6e636506737472696e670c0a00084162436445664768";

        /// A `time.Time` and an `int64` value. Go defines `time.Time` (id 66, a GobEncoder)
        /// where it first meets it, inside the map's value: that message ends after the
        /// definition and the value goes on in the next one, starting with id 66.
        const TIME_AND_INT: &str = "0eff81040102ff82000110011000007dff82000306737472696e670c0f000d73657373696f6e5f746f6b656e06737472696e670c2900276f72795f73745f4162436445664768496a4b6c4d6e4f705172537455765778597a30313233343506737472696e670c0c000a657870697265735f61740974696d652e54696d65ff830501010454696d6501ff840000002aff8411000f010000000ee0e7b0001dcd6500ffff06737472696e670c0300016e05696e74363404020009";

        const TOKEN: &str = "ory_st_AbCdEfGhIjKlMnOpQrStUvWxYz012345";

        #[test]
        fn reads_what_kratos_writes() {
            let m = decode_map(&hex(KRATOS_VALUES)).unwrap();
            assert_eq!(
                m,
                vec![
                    ("session_token".into(), Value::Str(TOKEN.into())),
                    (
                        "expires_at".into(),
                        Value::Str("2026-01-02T00:00:00.5Z".into())
                    ),
                    ("nonce".into(), Value::Str("AbCdEfGh".into())),
                ]
            );
        }

        #[test]
        fn reads_time_and_int_values() {
            let m = decode_map(&hex(TIME_AND_INT)).unwrap();
            let t = DateTime::from_timestamp(1_767_225_600, 500_000_000).unwrap();
            assert_eq!(m[1], ("expires_at".into(), Value::Time(t)));
            assert_eq!(m[2], ("n".into(), Value::Int(-5)));
        }

        fn u(n: u64) -> Vec<u8> {
            if n < 128 {
                return vec![n as u8];
            }
            let b = n.to_be_bytes();
            let skip = b.iter().take_while(|&&x| x == 0).count();
            [vec![(256 - (8 - skip)) as u8], b[skip..].to_vec()].concat()
        }

        fn i(n: i64) -> Vec<u8> {
            u(if n < 0 {
                ((!n as u64) << 1) | 1
            } else {
                (n as u64) << 1
            })
        }

        fn s(x: &str) -> Vec<u8> {
            [u(x.len() as u64), x.as_bytes().to_vec()].concat()
        }

        fn msg(b: Vec<u8>) -> Vec<u8> {
            [u(b.len() as u64), b].concat()
        }

        fn str_iface(v: &str) -> Vec<u8> {
            [s("string"), i(T_STRING), msg([vec![0], s(v)].concat())].concat()
        }

        /// The map type, then a map of `n` entries laid out in `entries`.
        fn map_of(n: u64, entries: Vec<u8>) -> Vec<u8> {
            [hex(MAP_TYPE), msg([i(65), vec![0], u(n), entries].concat())].concat()
        }

        #[test]
        fn the_test_encoder_writes_the_vector() {
            let entries = [
                str_iface("session_token"),
                str_iface(TOKEN),
                str_iface("expires_at"),
                str_iface("2026-01-02T00:00:00.5Z"),
                str_iface("nonce"),
                str_iface("AbCdEfGh"),
            ]
            .concat();
            assert_eq!(map_of(3, entries), hex(KRATOS_VALUES));
        }

        #[test]
        fn refuses_everything_else() {
            let good = hex(KRATOS_VALUES);
            // Every truncation, and anything after the value.
            for n in 0..good.len() {
                assert_eq!(decode_map(&good[..n]), None, "cut at {n}");
            }
            assert_eq!(decode_map(&[good.clone(), vec![0]].concat()), None);
            // A map of string to interface (the key's type id is 6, not 8).
            let mut m = good.clone();
            m[10] = 0x0c;
            assert_eq!(decode_map(&m), None);
            // A value before its type, and a type defined twice.
            assert_eq!(decode_map(&good[15..]), None);
            assert_eq!(decode_map(&[hex(MAP_TYPE), good.clone()].concat()), None);
            let entry = |v: Vec<u8>| map_of(1, [str_iface("k"), v].concat());
            assert!(decode_map(&entry(str_iface("v"))).is_some());
            // Values of other types: a nested map (Go's name for it, the map's id), a bool,
            // a nil interface, a string sent under the int id.
            let nested = [
                s("map[interface {}]interface {}"),
                i(65),
                msg([vec![0], u(0)].concat()),
            ];
            assert_eq!(decode_map(&entry(nested.concat())), None);
            let boolean = [s("bool"), i(1), msg(vec![0, 2])];
            assert_eq!(decode_map(&entry(boolean.concat())), None);
            assert_eq!(decode_map(&entry(s(""))), None);
            let liar = [s("string"), i(T_INT), msg([vec![0], s("v")].concat())];
            assert_eq!(decode_map(&entry(liar.concat())), None);
            // Struct and slice types (wireType fields 2 and 1).
            for field in [3, 2] {
                let def = [i(-65), u(field), u(1), u(1), s("T"), vec![0, 0, 0]].concat();
                assert_eq!(decode_map(&msg(def)), None, "wireType field {}", field - 1);
            }
            // More entries than Kratos could write.
            let pairs = |n: usize| [str_iface("k"), str_iface("v")].concat().repeat(n);
            assert!(decode_map(&map_of(16, pairs(16))).is_some());
            assert_eq!(decode_map(&map_of(17, pairs(17))), None);
            // Oversized lengths and integers.
            assert_eq!(decode_map(&hex("f9ffffffffffffffff")), None);
            assert_eq!(decode_map(&hex("80")), None);
        }

        #[test]
        fn survives_every_small_corruption() {
            for good in [hex(KRATOS_VALUES), hex(TIME_AND_INT)] {
                for at in 0..good.len() {
                    for b in [0x00, 0x01, 0x7f, 0x80, 0xf8, 0xff, good[at] ^ 1] {
                        let mut v = good.clone();
                        v[at] = b;
                        let _ = decode_map(&v);
                        v.insert(at, b);
                        let _ = decode_map(&v);
                    }
                    let mut v = good.clone();
                    v.remove(at);
                    let _ = decode_map(&v);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "kratos-cookie-secret-0123456789";
    const NAME: &str = "ory_kratos_session";
    /// 2026-01-01T00:00:00Z, the `date` of the vector below.
    const ISSUED: i64 = 1_767_225_600;

    /// The gob bytes of `gob::tests::KRATOS_VALUES` sealed as securecookie does with the hash
    /// key `SECRET` and the block key SHA-256(`SECRET`), IV 00 01 … 0f, date `ISSUED`, name
    /// `ory_kratos_session`; computed independently in Python (hashlib, hmac and the
    /// `cryptography` package's AES-CTR) from the format in this module's documentation.
    const VECTOR: &str = "MTc2NzIyNTYwMHxBQUVDQXdRRkJnY0lDUW9MREEwT0R4VTQwN0FHYVJFQ2p6SDdFT3pYS25lVFRKUENhYkowY3FkcVcycHZZakxjbDVGampTcWc3akJqcnM2QjloUkpEVjRGdXdnS2wyaDB2WkFucXNnVEk5OHczSzhZQmRLZnFqQ1FBMUVPSkhCbF92YmN5MlotYW4yaDlfVlh3NGlJTEY3OGpfMWFCYVF0TTBqb2lVdHBZVjNyQk9qWWVEeGlsT3JHa2FYVFVMOUdhM1VQdk5tMnozVTV1TE9tOHgtSE95bzgyQnZDYzZ2TGFOV1ZXSWt2S3p5d3g4RExESjdfOEctWUYyQWtDeDgyS2dVTVlLS1dQYzA9fMlRxPrpTe3nSWc51-Q-OS9x2qpb96sTRmhQM7PdsmpZ";

    fn secrets(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn opens_the_vector_with_any_configured_secret() {
        let expected = KratosCookie {
            token: "ory_st_AbCdEfGhIjKlMnOpQrStUvWxYz012345".into(),
            expires_at: Some(
                DateTime::parse_from_rfc3339("2026-01-02T00:00:00.5Z")
                    .unwrap()
                    .into(),
            ),
        };
        let now = ISSUED + 60;
        assert!(looks_like(VECTOR));
        let one = secrets(&[SECRET]);
        assert_eq!(
            decode(&one, NAME, VECTOR, 86400, now).as_ref(),
            Some(&expected)
        );
        // Rotated: the old secret is still tried.
        let rotated = secrets(&["a-newer-cookie-secret-abcdef", SECRET]);
        assert_eq!(decode(&rotated, NAME, VECTOR, 86400, now), Some(expected));
        assert_eq!(decode(&rotated[..1], NAME, VECTOR, 86400, now), None);
        // The name is part of what is signed.
        assert_eq!(decode(&one, "other_cookie", VECTOR, 86400, now), None);
    }

    #[test]
    fn refuses_old_tampered_and_malformed_values() {
        let one = secrets(&[SECRET]);
        let ok = |v: &str, now: i64| decode(&one, NAME, v, 86400, now).is_some();
        assert!(ok(VECTOR, ISSUED + 86400));
        assert!(!ok(VECTOR, ISSUED + 86401), "older than its max age");
        assert!(
            decode(&one, NAME, VECTOR, 0, ISSUED + 10 * 86400).is_some(),
            "no limit"
        );
        let raw = URL_SAFE.decode(VECTOR).unwrap();
        // A flipped bit anywhere: in the date, the sealed value, or the MAC.
        for at in [0, 5, 20, raw.len() / 2, raw.len() - 1] {
            let mut t = raw.clone();
            t[at] ^= 1;
            assert!(
                !ok(&URL_SAFE.encode(&t), ISSUED + 60),
                "bit flipped at {at}"
            );
        }
        // Truncated (as text and as bytes), not base64, empty, oversized.
        assert!(!ok(&VECTOR[..VECTOR.len() - 4], ISSUED + 60));
        assert!(!ok(&URL_SAFE.encode(&raw[..raw.len() - 1]), ISSUED + 60));
        assert!(!ok("not base64!", ISSUED + 60));
        assert!(!ok("", ISSUED + 60));
        assert!(!ok(&"A".repeat(MAX_LEN + 4), ISSUED + 60));
        // Gatehouse's own cookies do not look like one.
        assert!(!looks_like("q2Xk1b9M0aT7cQ4wVf3nYp8sLr6dE5uZ"));
    }
}
