//! Vectors: "Kratos" = ory/kratos hash/hasher_test.go; "glibc" = produced
//! with Python's crypt module (glibc crypt(3)) on the dev machine; the
//! `Hello world!` sha512-crypt one is from Drepper's specification.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::*;

/// Test hook: tracks how many hash jobs run at once, and can stretch each
/// job so overlap is deterministic.
#[derive(Default)]
pub(super) struct Probe {
    active: AtomicUsize,
    max_active: AtomicUsize,
    hold_ms: AtomicU64,
}

pub(super) struct ProbeGuard<'a>(&'a Probe);

impl Probe {
    pub(super) fn enter(&self) -> ProbeGuard<'_> {
        let now = self.active.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_active.fetch_max(now, Ordering::SeqCst);
        let hold = self.hold_ms.load(Ordering::SeqCst);
        if hold > 0 {
            std::thread::sleep(Duration::from_millis(hold));
        }
        ProbeGuard(self)
    }
}

impl Drop for ProbeGuard<'_> {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::SeqCst);
    }
}

fn cheap_argon2() -> Argon2Params {
    Argon2Params {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
        salt_length: 16,
        key_length: 32,
    }
}

fn argon2_hasher() -> Hasher {
    Hasher::new(Algorithm::Argon2(cheap_argon2()), 64 * 1024)
}

fn bcrypt_hasher() -> Hasher {
    Hasher::new(Algorithm::Bcrypt { cost: 4 }, 0)
}

async fn check(h: &Hasher, password: &str, encoded: &str, expected: bool) {
    let got = h.verify(password.as_bytes(), encoded).await;
    match got {
        Ok(v) => assert_eq!(v, expected, "verify({password:?}, {encoded:?})"),
        Err(e) => panic!("verify({password:?}, {encoded:?}) failed: {e}"),
    }
}

/// Fails unless the result is "not authenticated" (mismatch or error).
async fn rejects(h: &Hasher, password: &str, encoded: &str) {
    let got = h.verify(password.as_bytes(), encoded).await;
    assert!(
        !matches!(got, Ok(true)),
        "{encoded:?} accepted {password:?}"
    );
}

#[tokio::test]
async fn argon2id_round_trip_and_rehash() {
    let h = argon2_hasher();
    let encoded = h.hash(b"correct horse").await.unwrap();
    let parts: Vec<&str> = encoded.split('$').collect();
    assert_eq!(parts[..4], ["", "argon2id", "v=19", "m=64,t=1,p=1"]);
    // 16-byte salt and 32-byte key, unpadded standard base64.
    assert_eq!(parts[4].len(), 22);
    assert_eq!(parts[5].len(), 43);
    assert!(!parts[4].contains('=') && !parts[5].contains('='));
    assert!(h.verify(b"correct horse", &encoded).await.unwrap());
    assert!(!h.verify(b"correct horsf", &encoded).await.unwrap());
    assert_eq!(identify(&encoded).unwrap(), Format::Argon2id);

    assert!(!h.needs_rehash(&encoded));
    let other = Hasher::new(
        Algorithm::Argon2(Argon2Params {
            iterations: 2,
            ..cheap_argon2()
        }),
        1 << 20,
    );
    assert!(other.needs_rehash(&encoded));
    assert!(bcrypt_hasher().needs_rehash(&encoded));
    assert!(h.needs_rehash("$2a$04$abcdefghijklmnopqrstuu5Jm6n1a4P4Nqj4Yw4l8t1Gd0XbGq7Hi"));
    assert!(h.needs_rehash("garbage"));
}

#[tokio::test]
async fn bcrypt_round_trip_and_rehash() {
    let h = bcrypt_hasher();
    let encoded = h.hash(b"hunter2").await.unwrap();
    assert_eq!(encoded.len(), 60);
    assert!(encoded.starts_with("$2a$04$"));
    assert!(h.verify(b"hunter2", &encoded).await.unwrap());
    assert!(!h.verify(b"hunter3", &encoded).await.unwrap());
    assert!(!h.needs_rehash(&encoded));
    assert!(Hasher::new(Algorithm::Bcrypt { cost: 5 }, 0).needs_rehash(&encoded));
    assert!(argon2_hasher().needs_rehash(&encoded));

    let max = [b'x'; 72];
    let encoded = h.hash(&max).await.unwrap();
    assert!(h.verify(&max, &encoded).await.unwrap());
    let long = [b'x'; 73];
    assert!(matches!(
        h.hash(&long).await,
        Err(HashError::PasswordTooLong)
    ));
    assert!(matches!(
        h.verify(&long, &encoded).await,
        Err(HashError::PasswordTooLong)
    ));
}

#[tokio::test]
async fn bcrypt_vectors() {
    let h = argon2_hasher();
    // Kratos
    check(
        &h,
        "test",
        "$2a$12$o6hx.Wog/wvFSkT/Bp/6DOxCtLRTDj7lm9on9suF/WaCGNVHbkfL6",
        true,
    )
    .await;
    rejects(
        &h,
        "test",
        "$2a$12$o6hx.Wog/wvFSkT/Bp/6DOxCtLRTDj7lm9on9suF/WaCGNVHbkfL7",
    )
    .await;
    check(
        &h,
        "tesT",
        "$2a$12$o6hx.Wog/wvFSkT/Bp/6DOxCtLRTDj7lm9on9suF/WaCGNVHbkfL6",
        false,
    )
    .await;
    // crypt_blowfish test vector; every $2?$ spelling computes the same
    // function for ASCII passwords.
    for prefix in ["$2a$", "$2b$", "$2y$", "$2$"] {
        let v = format!("{prefix}05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW");
        check(&h, "U*U", &v, true).await;
        check(&h, "U*V", &v, false).await;
    }
    assert!(matches!(
        identify("$2a$12$tooshort"),
        Err(HashError::Malformed(_))
    ));
}

#[tokio::test]
async fn argon2_vectors() {
    let h = argon2_hasher();
    // Kratos
    let id = "$argon2id$v=19$m=32,t=2,p=4$cm94YnRVOW5jZzFzcVE4bQ$MNzk5BtR2vUhrp6qQEjRNw";
    check(&h, "test", id, true).await;
    rejects(
        &h,
        "test",
        "$argon2id$v=19$m=32,t=2,p=4$cm94YnRVOW5jZzFzcVE4bQ$MNzk5BtR2vUhrp6qQEjRN2",
    )
    .await;
    check(&h, "tesu", id, false).await;
    let id5 = "$argon2id$v=19$m=32,t=5,p=4$cm94YnRVOW5jZzFzcVE4bQ$fBxypOL0nP/zdPE71JtAV71i487LbX3fJI5PoTN6Lp4";
    check(&h, "test", id5, true).await;
    let i = "$argon2i$v=19$m=65536,t=3,p=4$kk51rW/vxIVCYn+EG4kTSg$NyT88uraJ6im6dyha/M5jhXvpqlEdlS/9fEm7ScMb8c";
    check(&h, "test", i, true).await;
    check(&h, "ory", i, false).await;
    assert_eq!(identify(i).unwrap(), Format::Argon2i);
    assert!(matches!(
        identify("$argon2id$v=16$m=32,t=2,p=4$cm94YnRVOW5jZzFzcVE4bQ$MNzk5BtR2vUhrp6qQEjRNw"),
        Err(HashError::Malformed(_))
    ));
}

#[tokio::test]
async fn pbkdf2_vectors() {
    let h = argon2_hasher();
    // Kratos
    let s256 = "$pbkdf2-sha256$i=100000,l=32$1jP+5Zxpxgtee/iPxGgOz0RfE9/KJuDElP1ley4VxXc$QJxzfvdbHYBpydCbHoFg3GJEqMFULwskiuqiJctoYpI";
    check(&h, "test", s256, true).await;
    // Python hashlib, 1000 iterations, salt "saltsaltsalt1234"
    for v in [
        "$pbkdf2-sha1$i=1000,l=32$c2FsdHNhbHRzYWx0MTIzNA$R1k4MvONNR3wAUqq0wvjbHBLmKeRCLCJyI8VGN2qYs8",
        "$pbkdf2-sha224$i=1000,l=32$c2FsdHNhbHRzYWx0MTIzNA$ccCie2dFPvO3hPVgxjmG4n/Y8dDY0LlUBfeUyljgIHY",
        "$pbkdf2-sha384$i=1000,l=32$c2FsdHNhbHRzYWx0MTIzNA$HwrTpxtyD9so2GiICEUg8gmw1XRsVvKQLcDrQvfOLU8",
    ] {
        check(&h, "password", v, true).await;
        check(&h, "passwore", v, false).await;
    }
    check(
        &h,
        "test",
        "$pbkdf2-sha512$i=100000,l=32$bdHBpn7OWOivJMVJypy2UqR0UnaD5prQXRZevj/05YU$+wArTfv1a+bNGO1iZrmEdVjhA+lL11wF4/IxpgYfPwc",
        true,
    )
    .await;
    rejects(&h, "test", "$pbkdf2-sha256$i=100000,l=32$1jP+5Zxpxgtee/iPxGgOz0RfE9/KJuDElP1ley4VxXc$QJxzfvdbHYBpydCbHoFg3GJEqMFULwskiuqiJctoYpp").await;
    rejects(&h, "test", "$pbkdf2-sha256$1jP+5Zxpxgtee/iPxGgOz0RfE9/KJuDElP1ley4VxXc$QJxzfvdbHYBpydCbHoFg3GJEqMFULwskiuqiJctoYpI").await;
    rejects(&h, "test", "$pbkdf2-sha256$aaaa$1jP+5Zxpxgtee/iPxGgOz0RfE9/KJuDElP1ley4VxXc$QJxzfvdbHYBpydCbHoFg3GJEqMFULwskiuqiJctoYpI").await;
    rejects(&h, "test", "$pbkdf2-sha512$I=100000,l=32$bdHBpn7OWOivJMVJypy2UqR0UnaD5prQXRZevj/05YU$+wArTfv1a+bNGO1iZrmEdVjhA+lL11wF4/IxpgYfPwc").await;
}

#[tokio::test]
async fn scrypt_vectors() {
    let h = argon2_hasher();
    // Kratos (its `ln` field is N itself)
    let v = "$scrypt$ln=16384,r=8,p=1$2npRo7P03Mt8keSoMbyD/tKFWyUzjiQf2svUaNDSrhA=$MiCzNcIplSMqSBrm4HckjYqYhaVPPjTARTzwB1cVNYE=";
    check(&h, "test", v, true).await;
    check(&h, "tesu", v, false).await;
    rejects(&h, "test", "$scrypt$ln=16384,r=8,p=1$2npRo7P03Mt8keSoMbyD/tKFWyUzjiQf2svUaNDSrhA=$MiCzNcIplSMqSBrm4HckjYqYhaVPPjTARTzwB1cVNYF=").await;
    rejects(&h, "test", "$scrypt$2npRo7P03Mt8keSoMbyD/tKFWyUzjiQf2svUaNDSrhA=$MiCzNcIplSMqSBrm4HckjYqYhaVPPjTARTzwB1cVNYE=").await;
    rejects(&h, "test", "$scrypt$ln=16384,r=8,p=1$(2npRo7P03Mt8keSoMbyD/tKFWyUzjiQf2svUaNDSrhA=$MiCzNcIplSMqSBrm4HckjYqYhaVPPjTARTzwB1cVNYE=").await;
    assert!(matches!(
        identify(
            "$scrypt$ln=16385,r=8,p=1$2npRo7P03Mt8keSoMbyD/tKFWyUzjiQf2svUaNDSrhA=$MiCzNcIplSMqSBrm4HckjYqYhaVPPjTARTzwB1cVNYE="
        ),
        Err(HashError::Malformed(_))
    ));
    assert!(matches!(
        identify(
            "$scrypt$ln=abc,r=8,p=1$2npRo7P03Mt8keSoMbyD/tKFWyUzjiQf2svUaNDSrhA=$MiCzNcIplSMqSBrm4HckjYqYhaVPPjTARTzwB1cVNYE="
        ),
        Err(HashError::Malformed(_))
    ));
}

#[tokio::test]
async fn firebase_scrypt_vectors() {
    let h = argon2_hasher();
    // Kratos
    let v = "$firescrypt$ln=14,r=8,p=1$sPtDhWcd1MfdAw==$xbSou7FOl6mChCyzpCPIQ7tku7nsQMTFtyOZSXXd7tjBa4NtimOx7v42Gv2SfzPQu1oxM2/k4SsbOu73wlKe1A==$Bw==$YE0dO4bwD4JnJafh6lZZfkp1MtKzuKAXQcDCJNJNyeCHairWHKENOkbh3dzwaCdizzOspwr/FITUVlnOAwPKyw==";
    check(&h, "8x4WjoDbSxJZdR", v, true).await;
    check(&h, "8x4WjoDbSxJZdr", v, false).await;
    rejects(&h, "8x4WjoDbSxJZdR", "$firescrypt$ln=14,r=8,p=1$sPtDhWcd1MfdAw==$xbSou7FOl6mChCyzpCPIQ7tku7nsQMTFtyOZSXXd7tjBa4NtimOx7v42Gv2SfzPQu1oxM2/k4SsbOu73wlKe1A==$Bw==$YE0dO4bwD4JnJafh6lZZfkp1MtKzuKAXQcDCJNJNyeCHairWHKENOkbh3dzwaCdizzOspwr/FITUVlnOAwPKyc==").await;
    assert_eq!(identify(v).unwrap(), Format::FirebaseScrypt);
}

#[tokio::test]
async fn ssha_vectors() {
    let h = argon2_hasher();
    // Kratos
    for v in [
        "{SSHA}JFZFs0oHzxbMwkSJmYVeI8MnTDy/276a",
        "{SSHA256}czO44OTV17PcF1cRxWrLZLy9xHd7CWyVYplr1rOhuMlx/7IK",
        "{SSHA512}xPUl/px+1cG55rUH4rzcwxdOIPSB2TingLpiJJumN2xyDWN4Ix1WQG3ihnvHaWUE8MYNkvMi5rf0C9NYixHsE6Yh59M=",
    ] {
        check(&h, "test123", v, true).await;
        check(&h, "badtest", v, false).await;
        assert_eq!(identify(v).unwrap(), Format::Ssha);
    }
    rejects(&h, "", "{SSHA}tooshort").await;
    assert!(matches!(
        identify(
            "{SSHAnotExistent}xPUl/px+1cG55rUH4rzcwxdOIPSB2TingLpiJJumN2xyDWN4Ix1WQG3ihnvHaWUE8MYNkvMi5rf0C9NYixHsE6Yh59M="
        ),
        Err(HashError::UnknownFormat)
    ));
}

#[tokio::test]
async fn sha_pf_vectors() {
    let h = argon2_hasher();
    // Kratos; pf = {SALT}{PASSWORD} unless noted
    let s1 = "$sha1$pf=e1NBTFR9e1BBU1NXT1JEfQ==$NW9wbWtnejAzcg==$2qU2SGWP8viTM1md3FiI3+rjWXQ=";
    check(&h, "test", s1, true).await;
    check(&h, "wrongpass", s1, false).await;
    check(&h, "tset", s1, false).await;
    check(
        &h,
        "test",
        "$sha1$pf=e1NBTFR9e1BBU1NXT1JEfQ==$cDJvb3ZrZGJ6cQ==$2qU2SGWP8viTM1md3FiI3+rjWXQ=",
        false,
    )
    .await;
    rejects(
        &h,
        "test",
        "$sha1$pf=e1NBTFR9e1BBU1NXT1JEfQ==$5opmkgz03r$2qU2SGWP8viTM1md3FiI3+rjWXQ=",
    )
    .await;
    check(
        &h,
        "BwS^514g^cv@Z",
        "$sha1$pf=e1NBTFR9e1BBU1NXT1JEfQ==$NW9wbWtnejAzcg==$99h9net4BXl7qdTRaiGUobLROxM=",
        true,
    )
    .await;
    rejects(
        &h,
        "test",
        "$sha1$pf=$NW9wbWtnejAzcg==$2qU2SGWP8viTM1md3FiI3+rjWXQ=",
    )
    .await;
    rejects(
        &h,
        "test",
        "$sha1$$NW9wbWtnejAzcg==$2qU2SGWP8viTM1md3FiI3+rjWXQ=",
    )
    .await;
    rejects(
        &h,
        "test",
        "$sha1$NW9wbWtnejAzcg==$2qU2SGWP8viTM1md3FiI3+rjWXQ=",
    )
    .await;
    // pf = ??staticPrefix??{SALT}{PASSWORD}, {PASSWORD}%%{SALT}, ${PASSWORD}${SALT}$
    check(&h, "test", "$sha1$pf=Pz9zdGF0aWNQcmVmaXg/P3tTQUxUfXtQQVNTV09SRH0=$NW9wbWtnejAzcg==$SAAxMUn7jxckQXkBmsVF0nHwqso=", true).await;
    check(
        &h,
        "test",
        "$sha1$pf=e1BBU1NXT1JEfSUle1NBTFR9$NW9wbWtnejAzcg==$YX0AW8/MW5ojUlnzTaR43ucHCog=",
        true,
    )
    .await;
    check(
        &h,
        "test",
        "$sha1$pf=JHtQQVNTV09SRH0ke1NBTFR9JA==$NW9wbWtnejAzcg==$iE5n1yjX3oAdxRHwZ4u57I4LpQo=",
        true,
    )
    .await;

    let s256 = "$sha256$pf=e1NBTFR9e1BBU1NXT1JEfQ==$NW9wbWtnejAzcg==$0gfRVLCvtBCk20udLDEY5vNhujWx7RGjwRIS1ebMsLY=";
    check(&h, "test", s256, true).await;
    check(&h, "wrongpass", s256, false).await;
    check(&h, "test", "$sha256$pf=e1NBTFR9JCR7UEFTU1dPUkR9$NW9wbWtnejAzcg==$HokCOi9OtiZaZRvnkgemV3B4UUHpI7kA8zq/EZWH2NY=", true).await;

    let s512 = "$sha512$pf=e1NBTFR9e1BBU1NXT1JEfQ==$NW9wbWtnejAzcg==$6ctpVuApMNp0CgBXcdHw/GC562eFEFGr4gpgANX8ZYsX+j5B19IkdmOY2Fytsz3QUwSWdGcUjbqwgJGTH0UYvw==";
    check(&h, "test", s512, true).await;
    check(&h, "wrongpass", s512, false).await;
    check(&h, "test", "$sha512$pf=e1NBTFR9JCR7UEFTU1dPUkR9$NW9wbWtnejAzcg==$1F9BPW8UtdJkZ9Dhlf+D4X4dJ9xfuH8y04EfuCP2k4aGPPq/aWxU9/xe3LydHmYW1/K3zu3NFO9ETVrZettz3w==", true).await;
    assert!(matches!(
        identify("$shaNotExistent$pf=e1NBTFR9e1BBU1NXT1JEfQ==$NW9wbWtnejAzcg==$6ctp"),
        Err(HashError::UnknownFormat)
    ));
}

#[tokio::test]
async fn md5_vectors() {
    let h = argon2_hasher();
    // Kratos
    check(&h, "test", "$md5$CY9rzUYh03PK3k6DJie09g==", true).await;
    check(&h, "test", "$md5$WhBei51A4TKXgNYuoiZdig==", false).await;
    check(&h, "ory", "$md5$ptoWyof5SobW+pbZu2QXoQ==", true).await;
    check(&h, "ory", "$md5$4skj967KRHFsnPFoL5dMMw==", false).await;
    for bad in [
        "$md5$$",
        "$md5$$$",
        "$md5$pf=$$",
        "$md5$pf=MTIz$Z$",
        "$md5$pf=MTIz$MTIz$Z",
    ] {
        assert!(
            matches!(identify(bad), Err(HashError::Malformed(_))),
            "{bad}"
        );
    }
    // pf={SALT}{PASSWORD} salt=123; pf={SALT}$${PASSWORD} salt=1234; pf={PASSWORD}{SALT}$? salt=123456789
    check(
        &h,
        "test",
        "$md5$pf=e1NBTFR9e1BBU1NXT1JEfQ==$MTIz$q+RdKCgc+ipCAcm5ChQwlQ==",
        true,
    )
    .await;
    check(
        &h,
        "test",
        "$md5$pf=e1NBTFR9e1BBU1NXT1JEfQ==$MTIz$hh8ZTp1hGPPZQqcr4+UXSQ==",
        false,
    )
    .await;
    check(
        &h,
        "test",
        "$md5$pf=e1NBTFR9JCR7UEFTU1dPUkR9$MTIzNA==$ud392Z8rfZ+Ou7ZFXYLKbA==",
        true,
    )
    .await;
    check(
        &h,
        "test1",
        "$md5$pf=e1NBTFR9JCR7UEFTU1dPUkR9$MTIzNA==$ud392Z8rfZ+Ou7ZFXYLKbA==",
        false,
    )
    .await;
    check(
        &h,
        "ory",
        "$md5$pf=e1BBU1NXT1JEfXtTQUxUfSQ/$MTIzNDU2Nzg5$8PhwWanVRnpJAFK4NUjR0w==",
        true,
    )
    .await;
    check(
        &h,
        "ory1",
        "$md5$pf=e1BBU1NXT1JEfXtTQUxUfSQ/$MTIzNDU2Nzg5$8PhwWanVRnpJAFK4NUjR0w==",
        false,
    )
    .await;
}

#[tokio::test]
async fn md5_crypt_vectors() {
    let h = argon2_hasher();
    // Kratos
    check(
        &h,
        "test",
        "$md5-crypt$TVEiiKNb$SN6/pUaRQS/E8Jh46As2C/",
        true,
    )
    .await;
    check(&h, "test", "$md5-crypt$$whuMjZj.HMFoaTaZRRtkO0", true).await;
    check(
        &h,
        "test",
        "$md5-crypt$xWMlm2eL$GGTOpgZu4p2k6ORprAu3b.",
        false,
    )
    .await;
    check(
        &h,
        "ory",
        "$md5-crypt$xWMlm2eL$GGTOpgZu4p2k6ORprAu3b.",
        true,
    )
    .await;
    check(&h, "ory", "$md5-crypt$$", false).await;
    rejects(&h, "ory", "$md5-crypt$$$").await;
    assert!(matches!(
        identify("$md5-crypt$whuMjZj.HMFoaTaZRRtkO0"),
        Err(HashError::Malformed(_))
    ));
    // glibc
    check(&h, "test", "$1$saltstri$MNjlxGV3mAY2WdNxjTT21/", true).await;
    check(&h, "tess", "$1$saltstri$MNjlxGV3mAY2WdNxjTT21/", false).await;
    check(&h, "", "$1$ab$rn6aQS/o7141mj179E/zA.", true).await;
    assert_eq!(
        identify("$1$ab$rn6aQS/o7141mj179E/zA.").unwrap(),
        Format::Md5Crypt
    );
}

#[tokio::test]
async fn sha_crypt_vectors() {
    let h = argon2_hasher();
    // glibc / Drepper's spec (default and low rounds keep the test fast)
    check(
        &h,
        "test",
        "$5$saltstring$uzdVN3XcAOYKRlFzn8F5/iMpo99aMD8sXQTYY9P10Z8",
        true,
    )
    .await;
    check(
        &h,
        "tesT",
        "$5$saltstring$uzdVN3XcAOYKRlFzn8F5/iMpo99aMD8sXQTYY9P10Z8",
        false,
    )
    .await;
    check(
        &h,
        "test",
        "$5$rounds=1000$saltstring$eI9OJcSPvDtrffBdE/FmyAiT5spLdZG.qBh9IzTwVd5",
        true,
    )
    .await;
    check(
        &h,
        "Hello world!",
        "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1",
        true,
    )
    .await;
    check(
        &h,
        "test",
        "$6$rounds=1000$toolongsaltstrin$uXC0K2pzBCtiZZXZGaE/9ab0aWxSkw1Ftssl/TGHIbXnd104ubNaPp8/u/5Z.aPWiuQIpc6oysn7LIvkpvZzE1",
        true,
    )
    .await;
    // Kratos (one of each; high rounds are slow)
    check(
        &h,
        "ory",
        "$sha256-crypt$rounds=535000$awpcR7lDlnK/S7WE$vHU7KkQwyjfGz6u4MUi7.lH9htK/l63HloTsX1ZMz.3",
        true,
    )
    .await;
    check(&h, "test", "$sha512-crypt$rounds=656000$3LVbIAVxR//cRajw$uuNasMW.RYxlGzIRFU1Was70BPSa933AjxhZIGJdJBOlqJAHlgqa0yuiuq5JHF/ryNGryJkj87G9i3G2HPSXg1", true).await;
    for bad in [
        "$sha256-crypt$$",
        "$sha256-crypt$$$",
        "$sha512-crypt$$",
        "$sha512-crypt$$$",
    ] {
        assert!(
            matches!(identify(bad), Err(HashError::Malformed(_))),
            "{bad}"
        );
    }
    assert_eq!(
        identify("$sha512-crypt$rounds=656000$hNcDLFO63bkYVDZf$Mt9dhH0xqfxWZ6Pu8zXw.Ku5f15IRTweuaDcUc.ObXWGn7B1h8YIWLmArZd8psd2mrUVswCXLAVptmISr.8iI/").unwrap(),
        Format::Sha512Crypt
    );
}

#[tokio::test]
async fn hmac_vectors() {
    let h = argon2_hasher();
    // Kratos; key = "12345", wrong key = "1234"
    let vectors = [
        ("md4", "MWQ5ZTI4Nzc2Zjg4YmE2MTQ5YjQ0OTMyOGE4NWU4YjA="),
        ("md5", "ZmU4Njk3Zjc0MmQwODA0MDVkMTI3MGU2MTYzMzE2Zjk="),
        (
            "sha1",
            "NDMyNjcxZTUyY2Y2YTBmYjZjZDE2NjQxYjAwNjFiZjAwOGEzNWM5MA==",
        ),
        (
            "sha224",
            "YmUwYmYzM2EwNGRlNDE0YjQzNjBhNmIyOThmNmIyYzI4OWQyMzk3MDUwZDFjMzliYjVmMDMyOTQ=",
        ),
        (
            "sha256",
            "ZTAzMWJhMWMyOTM4YjFkMjgzZjkxOWExZGY5YWM2NmMxOTJhN2RkNzQ0MzJkNWZkNGFkYTI5OTk0MWJhMTA5Zg==",
        ),
        (
            "sha384",
            "ZWEyMGM3NGE4Y2UzMTljNTdjZTlhZGQyYTZjNDE0MGQ4YjMwYWIwOWM4OTRiNWQ4MmZjODlhMzBhMmQzNGE5NmQ0NDY1NWRhYjQ2ZjhiYjBkNTRmYjk5YWZkZTA1MGY1",
        ),
        (
            "sha512",
            "OTFmODY0ZTI1NmU0ZjVhYjhiMDViZGFmNGVmNGZmMGVlNTY4ODYwNWJhYTk4MTk2OTgyMzc3NzI1YTc4MzcxMTMzNzZmY2YxYTk5MGMxM2RiZDk2MGFmMmQ1YzRmODdlMGMwYTNkYjcyNjY0NjM4NGE4YzQ2MjNhZDZkN2UxZTE=",
        ),
    ];
    for (alg, hash) in vectors {
        check(&h, "test", &format!("$hmac-{alg}${hash}$MTIzNDU="), true).await;
        check(&h, "test", &format!("$hmac-{alg}${hash}$MTIzNA=="), false).await;
        check(&h, "ory", &format!("$hmac-{alg}${hash}$MTIzNDU="), false).await;
    }
    let md5 = "ZmU4Njk3Zjc0MmQwODA0MDVkMTI3MGU2MTYzMzE2Zjk=";
    assert!(matches!(
        identify(&format!("$hmac-md5${md5}")),
        Err(HashError::Malformed(_))
    ));
    check(&h, "test", &format!("$hmac-md5${md5}$"), false).await;
    check(&h, "test", "$hmac-md5$$MTIzNDU=", false).await;
    assert!(matches!(
        identify("$hmac-md5$"),
        Err(HashError::Malformed(_))
    ));
    assert!(matches!(
        identify(&format!("$hmac${md5}$MTIzNDU=")),
        Err(HashError::UnknownFormat)
    ));
    assert!(matches!(
        identify(&format!("$hmac-invalid${md5}$MTIzNDU=")),
        Err(HashError::UnknownFormat)
    ));
}

#[tokio::test]
async fn limits_are_enforced_before_hashing() {
    let h = argon2_hasher();
    let cases = [
        // 4 GiB of argon2 memory
        "$argon2id$v=19$m=4194304,t=1,p=1$cm94YnRVOW5jZzFzcVE4bQ$MNzk5BtR2vUhrp6qQEjRNw",
        "$argon2i$v=19$m=65536,t=11,p=1$cm94YnRVOW5jZzFzcVE4bQ$MNzk5BtR2vUhrp6qQEjRNw",
        "$argon2id$v=19$m=65536,t=1,p=256$cm94YnRVOW5jZzFzcVE4bQ$MNzk5BtR2vUhrp6qQEjRNw",
        // Kratos-style scrypt carries N: 2^30
        "$scrypt$ln=1073741824,r=8,p=1$2npRo7P03Mt8keSoMbyD/tKFWyUzjiQf2svUaNDSrhA=$MiCzNcIplSMqSBrm4HckjYqYhaVPPjTARTzwB1cVNYE=",
        "$scrypt$ln=16384,r=9,p=1$2npRo7P03Mt8keSoMbyD/tKFWyUzjiQf2svUaNDSrhA=$MiCzNcIplSMqSBrm4HckjYqYhaVPPjTARTzwB1cVNYE=",
        "$scrypt$ln=16384,r=8,p=11$2npRo7P03Mt8keSoMbyD/tKFWyUzjiQf2svUaNDSrhA=$MiCzNcIplSMqSBrm4HckjYqYhaVPPjTARTzwB1cVNYE=",
        "$scrypt$ln=99999999999999999999999,r=8,p=1$2npRo7P03Mt8keSoMbyD/tKFWyUzjiQf2svUaNDSrhA=$MiCzNcIplSMqSBrm4HckjYqYhaVPPjTARTzwB1cVNYE=",
        // Firebase's ln is log2(N): 2^30
        "$firescrypt$ln=30,r=8,p=1$sPtDhWcd1MfdAw==$xbSou7FO$Bw==$YE0dO4bw",
        "$pbkdf2-sha256$i=4000000000,l=32$1jP+5Zxpxgtee/iPxGgOz0RfE9/KJuDElP1ley4VxXc$QJxzfvdbHYBpydCbHoFg3GJEqMFULwskiuqiJctoYpI",
        "$sha512-crypt$rounds=999999999$3LVbIAVxR//cRajw$uuNasMW.RYxlGzIRFU1Was70BPSa933AjxhZIGJdJBOlqJAHlgqa0yuiuq5JHF/ryNGryJkj87G9i3G2HPSXg1",
        "$2a$32$o6hx.Wog/wvFSkT/Bp/6DOxCtLRTDj7lm9on9suF/WaCGNVHbkfL6",
    ];
    let start = Instant::now();
    for c in cases {
        assert!(
            matches!(identify(c), Err(HashError::LimitExceeded(_))),
            "identify {c}"
        );
        assert!(
            matches!(h.verify(b"x", c).await, Err(HashError::LimitExceeded(_))),
            "verify {c}"
        );
    }
    // Nothing was hashed: a 4 GiB argon2 or 2^30 scrypt would take far longer.
    assert!(start.elapsed() < Duration::from_secs(2));
    let msg = identify(cases[0]).unwrap_err().to_string();
    assert!(msg.contains("memory"), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn semaphore_bounds_concurrency() {
    let target = "$md5$CY9rzUYh03PK3k6DJie09g==";
    for (dedicated_kib, expected) in [(64u64, 1usize), (128, 2)] {
        let h = Hasher::new(Algorithm::Argon2(cheap_argon2()), dedicated_kib * 1024);
        assert_eq!(h.permits(), expected);
        h.inner.probe.hold_ms.store(40, Ordering::SeqCst);
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let h = h.clone();
                tokio::spawn(async move { h.verify(b"test", target).await.unwrap() })
            })
            .collect();
        for t in tasks {
            assert!(t.await.unwrap());
        }
        // The held jobs overlap whenever permits (and cores: one hashing thread per core at
        // most) allow, so the peak equals that bound and never exceeds it.
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(
            h.inner.probe.max_active.load(Ordering::SeqCst),
            expected.min(cores)
        );
    }
}

#[test]
fn permits_follow_dedicated_memory() {
    let p = Argon2Params {
        memory_kib: 128 * 1024,
        ..cheap_argon2()
    };
    assert_eq!(
        Hasher::new(Algorithm::Argon2(p.clone()), 1 << 30).permits(),
        8
    );
    assert_eq!(Hasher::new(Algorithm::Argon2(p), 1).permits(), 1);
    assert!(bcrypt_hasher().permits() >= 1);
}

#[test]
fn identify_rejects_garbage() {
    for g in [
        "",
        "plaintext",
        "$",
        "$$",
        "$unknown$12$o6hx.Wog/wvFSkT/Bp/6DOxCtLRTDj7lm9on9suF/WaCGNVHbkfL6",
        "{SHA}abc",
        "$3$x",
    ] {
        assert!(
            matches!(identify(g), Err(HashError::UnknownFormat)),
            "{g:?}"
        );
    }
    assert_eq!(
        HashError::UnknownFormat.to_string(),
        "The imported password does not match any known hash format."
    );
}

#[tokio::test]
async fn dummy_verify_uses_configured_algorithm_once() {
    let h = argon2_hasher();
    h.dummy_verify(b"whatever").await;
    let first = h.inner.dummy.get().cloned().unwrap();
    assert!(first.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
    h.dummy_verify(b"again").await;
    assert_eq!(h.inner.dummy.get().unwrap(), &first);
}

#[test]
fn sha_oneshot_matches_sha2() {
    use sha2::Digest as _;
    let mut buf = Vec::new();
    for len in [0usize, 1, 55, 56, 63, 64, 111, 112, 127, 128, 300] {
        let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let (a, b) = data.split_at(len / 3);
        assert_eq!(
            crypt::sha_oneshot(crypt::ShaCryptKind::Sha256, &[a, b], &mut buf)[..32],
            sha2::Sha256::digest(&data)[..],
            "sha256 len {len}"
        );
        assert_eq!(
            crypt::sha_oneshot(crypt::ShaCryptKind::Sha512, &[a, b], &mut buf)[..],
            sha2::Sha512::digest(&data)[..],
            "sha512 len {len}"
        );
    }
}

#[test]
fn calibrate_and_measure_rate() {
    let p = calibrate(Duration::from_millis(20), 256, 1);
    assert!(p.iterations >= 1 && p.memory_kib >= 8);
    assert_eq!((p.salt_length, p.key_length), (16, 32));
    // Memory shrinks when a single iteration is already too slow.
    let tiny = calibrate(Duration::from_micros(1), 4096, 1);
    assert_eq!(tiny.iterations, 1);
    assert!(tiny.memory_kib < 4096);
    assert!(measure_rate(&cheap_argon2(), 1, Duration::from_millis(30)) > 0.0);
}
