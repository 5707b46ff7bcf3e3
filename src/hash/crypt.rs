//! MD5-crypt (`$1$`) and SHA-crypt (`$5$`, `$6$`) as specified by
//! poul-henning kamp (md5crypt) and Ulrich Drepper ("Unix crypt using SHA-256
//! and SHA-512"). Written here because no crate of the digest-0.11 family
//! covers md5-crypt, and both algorithms are short.

use md5::{Digest, Md5};

/// The crypt(3) base64 alphabet.
const ITOA64: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

pub(crate) const SHA_CRYPT_DEFAULT_ROUNDS: u32 = 5000;
pub(crate) const SHA_CRYPT_MIN_ROUNDS: u32 = 1000;
pub(crate) const SHA_CRYPT_MAX_SALT: usize = 16;
pub(crate) const MD5_CRYPT_MAX_SALT: usize = 8;

pub(crate) fn is_crypt_char(c: u8) -> bool {
    ITOA64.contains(&c)
}

/// Appends `n` characters encoding the 24-bit group `b2 b1 b0`, least
/// significant six bits first (the crypt convention).
fn push_b64(out: &mut String, b2: u8, b1: u8, b0: u8, n: usize) {
    let mut w = (u32::from(b2) << 16) | (u32::from(b1) << 8) | u32::from(b0);
    for _ in 0..n {
        out.push(ITOA64[(w & 0x3f) as usize] as char);
        w >>= 6;
    }
}

/// Returns the 22-character md5-crypt checksum (without salt or prefix).
pub(crate) fn md5_crypt(password: &[u8], salt: &[u8]) -> String {
    let salt = &salt[..salt.len().min(MD5_CRYPT_MAX_SALT)];

    let alt = Md5::new()
        .chain_update(password)
        .chain_update(salt)
        .chain_update(password)
        .finalize();

    let mut ctx = Md5::new();
    ctx.update(password);
    ctx.update(b"$1$");
    ctx.update(salt);
    let mut remaining = password.len();
    while remaining > 0 {
        let n = remaining.min(16);
        ctx.update(&alt[..n]);
        remaining -= n;
    }
    // The original implementation mixes in a NUL byte or the first password
    // byte depending on the bits of the length; kept for compatibility.
    let mut i = password.len();
    while i > 0 {
        if i & 1 == 1 {
            ctx.update([0u8]);
        } else {
            ctx.update(&password[..1]);
        }
        i >>= 1;
    }
    let mut fin = ctx.finalize();

    for round in 0..1000 {
        let mut c = Md5::new();
        if round & 1 == 1 {
            c.update(password);
        } else {
            c.update(fin);
        }
        if round % 3 != 0 {
            c.update(salt);
        }
        if round % 7 != 0 {
            c.update(password);
        }
        if round & 1 == 1 {
            c.update(fin);
        } else {
            c.update(password);
        }
        fin = c.finalize();
    }

    let f = fin.as_slice();
    let mut out = String::with_capacity(22);
    for &(a, b, c) in &[(0, 6, 12), (1, 7, 13), (2, 8, 14), (3, 9, 15), (4, 10, 5)] {
        push_b64(&mut out, f[a], f[b], f[c], 4);
    }
    push_b64(&mut out, 0, 0, f[11], 2);
    out
}

/// Which SHA-crypt variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ShaCryptKind {
    Sha256,
    Sha512,
}

impl ShaCryptKind {
    fn digest_len(self) -> usize {
        match self {
            ShaCryptKind::Sha256 => 32,
            ShaCryptKind::Sha512 => 64,
        }
    }

    pub(crate) fn checksum_len(self) -> usize {
        match self {
            ShaCryptKind::Sha256 => 43,
            ShaCryptKind::Sha512 => 86,
        }
    }
}

/// Returns the SHA-crypt checksum (without prefix, rounds or salt).
pub(crate) fn sha_crypt(kind: ShaCryptKind, password: &[u8], salt: &[u8], rounds: u32) -> String {
    let d = sha_crypt_digest(kind, password, salt, rounds);
    match kind {
        ShaCryptKind::Sha256 => encode_sha256_crypt(&d),
        ShaCryptKind::Sha512 => encode_sha512_crypt(&d),
    }
}

/// Repeats `src` cyclically until `len` bytes are produced.
fn cycle(src: &[u8], len: usize) -> Vec<u8> {
    src.iter().copied().cycle().take(len).collect()
}

const SHA256_IV: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];
const SHA512_IV: [u64; 8] = [
    0x6a09e667f3bcc908,
    0xbb67ae8584caa73b,
    0x3c6ef372fe94f82b,
    0xa54ff53a5f1d36f1,
    0x510e527fade682d1,
    0x9b05688c2b3e6c1f,
    0x1f83d9abfb41bd6b,
    0x5be0cd19137e2179,
];

/// One-shot SHA-256/512 over the concatenation of `parts`, padding by hand
/// and calling sha2's block function directly. The rounds loop runs up to a
/// million digests; going through the generic `Digest` API (or iterator
/// adapters) leaves that loop unoptimised in debug builds of this crate.
/// Inputs here are at most a few hundred bytes except for the one-off
/// repeated-password/salt digests, which fall back to the heap buffer.
pub(crate) fn sha_oneshot(kind: ShaCryptKind, parts: &[&[u8]], buf: &mut Vec<u8>) -> [u8; 64] {
    let (block, len_bytes) = match kind {
        ShaCryptKind::Sha256 => (64, 8),
        ShaCryptKind::Sha512 => (128, 16),
    };
    let msg_len: usize = parts.iter().map(|p| p.len()).sum();
    let total = (msg_len + 1 + len_bytes).next_multiple_of(block);
    buf.clear();
    buf.reserve(total);
    for p in parts {
        buf.extend_from_slice(p);
    }
    buf.push(0x80);
    // Zero-fill by copying slices: Vec::resize is a per-byte loop in debug.
    const ZEROS: [u8; 256] = [0; 256];
    while buf.len() < total {
        let n = (total - buf.len()).min(ZEROS.len());
        buf.extend_from_slice(&ZEROS[..n]);
    }
    let bit_len = (msg_len as u128) * 8;
    let mut out = [0u8; 64];
    match kind {
        ShaCryptKind::Sha256 => {
            buf[total - 8..].copy_from_slice(&(bit_len as u64).to_be_bytes());
            let (blocks, _) = buf.as_chunks::<64>();
            let mut state = SHA256_IV;
            sha2::block_api::compress256(&mut state, blocks);
            for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
                chunk.copy_from_slice(&word.to_be_bytes());
            }
        }
        ShaCryptKind::Sha512 => {
            buf[total - 16..].copy_from_slice(&bit_len.to_be_bytes());
            let (blocks, _) = buf.as_chunks::<128>();
            let mut state = SHA512_IV;
            sha2::block_api::compress512(&mut state, blocks);
            for (chunk, word) in out.chunks_exact_mut(8).zip(state) {
                chunk.copy_from_slice(&word.to_be_bytes());
            }
        }
    }
    out
}

fn sha_crypt_digest(kind: ShaCryptKind, password: &[u8], salt: &[u8], rounds: u32) -> Vec<u8> {
    let salt = &salt[..salt.len().min(SHA_CRYPT_MAX_SALT)];
    let rounds = rounds.max(SHA_CRYPT_MIN_ROUNDS);
    let n = kind.digest_len();
    let mut buf = Vec::with_capacity(512);

    let b = sha_oneshot(kind, &[password, salt, password], &mut buf);
    let b = &b[..n];

    let mut a_input = Vec::new();
    a_input.extend_from_slice(password);
    a_input.extend_from_slice(salt);
    a_input.extend_from_slice(&cycle(b, password.len()));
    let mut i = password.len();
    while i > 0 {
        if i & 1 == 1 {
            a_input.extend_from_slice(b);
        } else {
            a_input.extend_from_slice(password);
        }
        i >>= 1;
    }
    let a = sha_oneshot(kind, &[&a_input], &mut buf);

    let dp = sha_oneshot(kind, &[&password.repeat(password.len())], &mut buf);
    let p_bytes = cycle(&dp[..n], password.len());

    let ds = sha_oneshot(kind, &[&salt.repeat(16 + usize::from(a[0]))], &mut buf);
    let s_bytes = cycle(&ds[..n], salt.len());

    let mut c = a;
    let empty: &[u8] = &[];
    for r in 0..rounds {
        let odd = r & 1 == 1;
        let prev = &c[..n];
        let first = if odd { &p_bytes[..] } else { prev };
        let second = if r % 3 != 0 { &s_bytes[..] } else { empty };
        let third = if r % 7 != 0 { &p_bytes[..] } else { empty };
        let last = if odd { prev } else { &p_bytes[..] };
        c = sha_oneshot(kind, &[first, second, third, last], &mut buf);
    }
    c[..n].to_vec()
}

fn encode_sha256_crypt(c: &[u8]) -> String {
    // Byte order from the specification: each step takes bytes i, i+10,
    // i+20 (mod 30) with a rotating start position.
    let mut out = String::with_capacity(43);
    let (mut x, mut y, mut z) = (0usize, 10usize, 20usize);
    for _ in 0..10 {
        push_b64(&mut out, c[x], c[y], c[z], 4);
        // rotate: next triple is (z+1, x+1, y+1) in spec order
        let (nx, ny, nz) = ((z + 1) % 30, (x + 1) % 30, (y + 1) % 30);
        (x, y, z) = (nx, ny, nz);
    }
    push_b64(&mut out, 0, c[31], c[30], 3);
    out
}

fn encode_sha512_crypt(c: &[u8]) -> String {
    let mut out = String::with_capacity(86);
    let (mut x, mut y, mut z) = (0usize, 21usize, 42usize);
    for _ in 0..21 {
        push_b64(&mut out, c[x], c[y], c[z], 4);
        let (nx, ny, nz) = ((y + 1) % 63, (z + 1) % 63, (x + 1) % 63);
        (x, y, z) = (nx, ny, nz);
    }
    push_b64(&mut out, 0, 0, c[63], 2);
    out
}
