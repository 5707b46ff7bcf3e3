//! Vectors: "Kratos" = ory/kratos hash/hasher_test.go; "glibc" = produced
//! with Python's crypt module (glibc crypt(3)) on the dev machine; the
//! `Hello world!` sha512-crypt one is from Drepper's specification.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use super::*;

/// Test hook: tracks how many hash jobs run at once, can stretch each
/// job so overlap is deterministic, records which lane and thread ran each job, and can hold
/// one lane's jobs at a gate until the test opens it.
pub(super) struct Probe {
    active: AtomicUsize,
    max_active: AtomicUsize,
    hold_ms: AtomicU64,
    ran: Mutex<Vec<(LaneKind, String)>>,
    /// Closed gates by lane (`true`: jobs of that lane wait), and their wake-up.
    gates: Mutex<[bool; 2]>,
    gate_opened: Condvar,
    /// Jobs that started (reached their gate, held or not), by lane.
    started: tokio::sync::watch::Sender<[usize; 2]>,
}

impl Default for Probe {
    fn default() -> Self {
        Probe {
            active: AtomicUsize::new(0),
            max_active: AtomicUsize::new(0),
            hold_ms: AtomicU64::new(0),
            ran: Mutex::default(),
            gates: Mutex::default(),
            gate_opened: Condvar::new(),
            started: tokio::sync::watch::Sender::new([0; 2]),
        }
    }
}

pub(super) struct ProbeGuard<'a>(&'a Probe);

fn gate_index(lane: LaneKind) -> usize {
    match lane {
        LaneKind::Ordinary => 0,
        LaneKind::Expensive => 1,
    }
}

impl Probe {
    pub(super) fn enter(&self, lane: LaneKind) -> ProbeGuard<'_> {
        let name = std::thread::current().name().unwrap_or("").to_owned();
        self.ran.lock().unwrap().push((lane, name));
        self.started.send_modify(|s| s[gate_index(lane)] += 1);
        let mut gates = self.gates.lock().unwrap();
        while gates[gate_index(lane)] {
            gates = self.gate_opened.wait(gates).unwrap();
        }
        drop(gates);
        let now = self.active.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_active.fetch_max(now, Ordering::SeqCst);
        let hold = self.hold_ms.load(Ordering::SeqCst);
        if hold > 0 {
            std::thread::sleep(Duration::from_millis(hold));
        }
        ProbeGuard(self)
    }

    fn close(&self, lane: LaneKind) {
        self.gates.lock().unwrap()[gate_index(lane)] = true;
    }

    fn open(&self, lane: LaneKind) {
        self.gates.lock().unwrap()[gate_index(lane)] = false;
        self.gate_opened.notify_all();
    }

    /// Waits until `n` jobs of `lane` have started.
    async fn started(&self, lane: LaneKind, n: usize) {
        let mut rx = self.started.subscribe();
        rx.wait_for(|s| s[gate_index(lane)] >= n).await.unwrap();
    }

    fn lanes_ran(&self) -> Vec<LaneKind> {
        self.ran.lock().unwrap().iter().map(|r| r.0).collect()
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
        // Just past the import ceilings (see parse.rs and the README's table).
        "$argon2id$v=19$m=262145,t=1,p=1$cm94YnRVOW5jZzFzcVE4bQ$MNzk5BtR2vUhrp6qQEjRNw",
        "$2a$15$o6hx.Wog/wvFSkT/Bp/6DOxCtLRTDj7lm9on9suF/WaCGNVHbkfL6",
        "$pbkdf2-sha256$i=2000001,l=32$1jP+5Zxpxgtee/iPxGgOz0RfE9/KJuDElP1ley4VxXc$QJxzfvdbHYBpydCbHoFg3GJEqMFULwskiuqiJctoYpI",
        // 32 bytes of SHA-1 output are two blocks: 2 × 1,000,001 iterations of work.
        "$pbkdf2-sha1$i=1000001,l=32$c2FsdHNhbHRzYWx0MTIzNA$R1k4MvONNR3wAUqq0wvjbHBLmKeRCLCJyI8VGN2qYs8",
        // N·r·p = 2^16 · 8 · 3 > 2^20
        "$scrypt$ln=65536,r=8,p=3$2npRo7P03Mt8keSoMbyD/tKFWyUzjiQf2svUaNDSrhA=$MiCzNcIplSMqSBrm4HckjYqYhaVPPjTARTzwB1cVNYE=",
        "$firescrypt$ln=17,r=8,p=2$sPtDhWcd1MfdAw==$xbSou7FO$Bw==$YE0dO4bw",
        "$sha256-crypt$rounds=1000001$awpcR7lDlnK/S7WE$vHU7KkQwyjfGz6u4MUi7.lH9htK/l63HloTsX1ZMz.3",
        // 256 MiB × 5 passes
        "$argon2id$v=19$m=262144,t=5,p=1$cm94YnRVOW5jZzFzcVE4bQ$MNzk5BtR2vUhrp6qQEjRNw",
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
    // The messages name the limit, as the import's 400 answer shows them.
    for (case, says) in [
        (
            "$2a$15$o6hx.Wog/wvFSkT/Bp/6DOxCtLRTDj7lm9on9suF/WaCGNVHbkfL6",
            "bcrypt cost is 15, the maximum allowed is 14",
        ),
        (
            cases[11],
            "argon2 memory (m, KiB) is 262145, the maximum allowed is 262144",
        ),
        (
            cases[14],
            "pbkdf2 work (iterations × digest-sized blocks of the key) is 2000002, the maximum allowed is 2000000",
        ),
        (
            cases[15],
            "scrypt work (N·r·p) is 1572864, the maximum allowed is 1048576",
        ),
        (
            cases[18],
            "argon2 work (m × t, KiB) is 1310720, the maximum allowed is 1048576",
        ),
    ] {
        let msg = identify(case).unwrap_err().to_string();
        assert!(msg.contains(says), "{msg}");
    }
}

#[test]
fn hashes_at_the_ceilings_are_accepted() {
    for at in [
        "$argon2id$v=19$m=262144,t=4,p=255$cm94YnRVOW5jZzFzcVE4bQ$MNzk5BtR2vUhrp6qQEjRNw",
        "$argon2id$v=19$m=104857,t=10,p=1$cm94YnRVOW5jZzFzcVE4bQ$MNzk5BtR2vUhrp6qQEjRNw",
        "$2a$14$o6hx.Wog/wvFSkT/Bp/6DOxCtLRTDj7lm9on9suF/WaCGNVHbkfL6",
        "$pbkdf2-sha256$i=2000000,l=32$1jP+5Zxpxgtee/iPxGgOz0RfE9/KJuDElP1ley4VxXc$QJxzfvdbHYBpydCbHoFg3GJEqMFULwskiuqiJctoYpI",
        "$pbkdf2-sha1$i=1000000,l=32$c2FsdHNhbHRzYWx0MTIzNA$R1k4MvONNR3wAUqq0wvjbHBLmKeRCLCJyI8VGN2qYs8",
        "$scrypt$ln=131072,r=8,p=1$2npRo7P03Mt8keSoMbyD/tKFWyUzjiQf2svUaNDSrhA=$MiCzNcIplSMqSBrm4HckjYqYhaVPPjTARTzwB1cVNYE=",
        "$scrypt$ln=16384,r=8,p=8$2npRo7P03Mt8keSoMbyD/tKFWyUzjiQf2svUaNDSrhA=$MiCzNcIplSMqSBrm4HckjYqYhaVPPjTARTzwB1cVNYE=",
        "$sha512-crypt$rounds=1000000$3LVbIAVxR//cRajw$uuNasMW.RYxlGzIRFU1Was70BPSa933AjxhZIGJdJBOlqJAHlgqa0yuiuq5JHF/ryNGryJkj87G9i3G2HPSXg1",
    ] {
        assert!(identify(at).is_ok(), "{at}: {:?}", identify(at));
    }
}

#[test]
fn the_configured_algorithm_is_always_within_the_limits() {
    // Configured above the import ceilings: the server's own hashes stay verifiable and
    // importable, other hashes keep the ceilings. (Nothing is hashed here.)
    let big = Hasher::new(
        Algorithm::Argon2(Argon2Params {
            memory_kib: 512 * 1024,
            iterations: 12,
            ..cheap_argon2()
        }),
        1 << 30,
    );
    let own = "$argon2id$v=19$m=524288,t=12,p=1$cm94YnRVOW5jZzFzcVE4bQ$MNzk5BtR2vUhrp6qQEjRNw";
    assert!(matches!(identify(own), Err(HashError::LimitExceeded(_))));
    assert_eq!(big.identify(own).unwrap(), Format::Argon2id);
    assert_eq!(big.lane_for(own).unwrap(), LaneKind::Ordinary);
    assert!(matches!(
        big.identify("$2a$15$o6hx.Wog/wvFSkT/Bp/6DOxCtLRTDj7lm9on9suF/WaCGNVHbkfL6"),
        Err(HashError::LimitExceeded(_))
    ));
    let bcrypt15 = Hasher::new(Algorithm::Bcrypt { cost: 15 }, 0);
    assert_eq!(
        bcrypt15
            .identify("$2a$15$o6hx.Wog/wvFSkT/Bp/6DOxCtLRTDj7lm9on9suF/WaCGNVHbkfL6")
            .unwrap(),
        Format::Bcrypt
    );
    assert!(matches!(
        bcrypt15.identify("$2a$16$o6hx.Wog/wvFSkT/Bp/6DOxCtLRTDj7lm9on9suF/WaCGNVHbkfL6"),
        Err(HashError::LimitExceeded(_))
    ));
}

fn cost_of(encoded: &str) -> Cost {
    Cost::of(&parse::parse(encoded, &parse::Limits::IMPORT).unwrap())
}

#[test]
fn cost_estimates() {
    use cost::*;
    let a = cost_of("$argon2id$v=19$m=19456,t=2,p=1$cm94YnRVOW5jZzFzcVE4bQ$MNzk5BtR2vUhrp6qQEjRNw");
    assert_eq!(a.memory_kib, 19456);
    assert_eq!(a.time_ns, 19456 * 2 * ARGON2_NS_PER_KIB_PASS);
    // The configured algorithm's estimate is the estimate of its own hashes.
    let configured = Argon2Params {
        memory_kib: 19456,
        iterations: 2,
        ..cheap_argon2()
    };
    assert_eq!(Cost::of_algorithm(&Algorithm::Argon2(configured)), a);
    // Lanes do not change the work of a sequential argon2, only the layout.
    assert_eq!(
        cost_of("$argon2i$v=19$m=19456,t=2,p=4$cm94YnRVOW5jZzFzcVE4bQ$MNzk5BtR2vUhrp6qQEjRNw"),
        a
    );

    let b = cost_of("$2a$12$o6hx.Wog/wvFSkT/Bp/6DOxCtLRTDj7lm9on9suF/WaCGNVHbkfL6");
    assert_eq!(b.time_ns, 4096 * BCRYPT_NS_PER_ROUND);
    assert_eq!(b.memory_kib, BCRYPT_MEMORY_KIB);
    assert_eq!(Cost::of_algorithm(&Algorithm::Bcrypt { cost: 12 }), b);

    // PBKDF2 runs its iterations once per digest-sized block: 32 bytes of SHA-1 are two.
    let p1 = cost_of(
        "$pbkdf2-sha1$i=1000,l=32$c2FsdHNhbHRzYWx0MTIzNA$R1k4MvONNR3wAUqq0wvjbHBLmKeRCLCJyI8VGN2qYs8",
    );
    assert_eq!((p1.memory_kib, p1.time_ns), (0, 2 * 1000 * PBKDF2_SHA1_NS));
    let p256 = cost_of(
        "$pbkdf2-sha256$i=100000,l=32$1jP+5Zxpxgtee/iPxGgOz0RfE9/KJuDElP1ley4VxXc$QJxzfvdbHYBpydCbHoFg3GJEqMFULwskiuqiJctoYpI",
    );
    assert_eq!(p256.time_ns, 100_000 * PBKDF2_SHA256_NS);

    // scrypt: a table of N blocks of 128·r bytes, plus p blocks; N·r·p units of work.
    let s = cost_of(
        "$scrypt$ln=16384,r=8,p=1$2npRo7P03Mt8keSoMbyD/tKFWyUzjiQf2svUaNDSrhA=$MiCzNcIplSMqSBrm4HckjYqYhaVPPjTARTzwB1cVNYE=",
    );
    assert_eq!(s.memory_kib, 16 * 1024 + 1);
    assert_eq!(s.time_ns, 16384 * 8 * SCRYPT_NS_PER_NRP);
    let f = cost_of(
        "$firescrypt$ln=14,r=8,p=1$sPtDhWcd1MfdAw==$xbSou7FOl6mChCyzpCPIQ7tku7nsQMTFtyOZSXXd7tjBa4NtimOx7v42Gv2SfzPQu1oxM2/k4SsbOu73wlKe1A==$Bw==$YE0dO4bwD4JnJafh6lZZfkp1MtKzuKAXQcDCJNJNyeCHairWHKENOkbh3dzwaCdizzOspwr/FITUVlnOAwPKyw==",
    );
    assert_eq!(f, s);

    let c = cost_of(
        "$sha512-crypt$rounds=656000$3LVbIAVxR//cRajw$uuNasMW.RYxlGzIRFU1Was70BPSa933AjxhZIGJdJBOlqJAHlgqa0yuiuq5JHF/ryNGryJkj87G9i3G2HPSXg1",
    );
    assert_eq!(c.time_ns, 656_000 * SHA512_CRYPT_NS_PER_ROUND);
    let c5 = cost_of("$5$saltstring$uzdVN3XcAOYKRlFzn8F5/iMpo99aMD8sXQTYY9P10Z8");
    assert_eq!(c5.time_ns, 5000 * SHA256_CRYPT_NS_PER_ROUND);
    assert_eq!(
        cost_of("$1$saltstri$MNjlxGV3mAY2WdNxjTT21/").time_ns,
        MD5_CRYPT_NS
    );
    for cheap in [
        "$md5$CY9rzUYh03PK3k6DJie09g==",
        "{SSHA}JFZFs0oHzxbMwkSJmYVeI8MnTDy/276a",
        "$sha1$pf=e1NBTFR9e1BBU1NXT1JEfQ==$NW9wbWtnejAzcg==$2qU2SGWP8viTM1md3FiI3+rjWXQ=",
        "$hmac-sha256$ZTAzMWJhMWMyOTM4YjFkMjgzZjkxOWExZGY5YWM2NmMxOTJhN2RkNzQ0MzJkNWZkNGFkYTI5OTk0MWJhMTA5Zg==$MTIzNDU=",
    ] {
        assert_eq!(
            cost_of(cheap),
            Cost {
                memory_kib: 0,
                time_ns: DIGEST_NS
            },
            "{cheap}"
        );
    }
}

#[test]
fn lane_choice_follows_the_configured_algorithm() {
    use LaneKind::{Expensive, Ordinary};
    const SALT: &str = "cm94YnRVOW5jZzFzcVE4bQ$MNzk5BtR2vUhrp6qQEjRNw";
    // OWASP's argon2id minimum, as in bench/kratos.yml: 19 MiB, 2 passes.
    let owasp = Hasher::new(
        Algorithm::Argon2(Argon2Params {
            memory_kib: 19456,
            iterations: 2,
            ..cheap_argon2()
        }),
        64 << 20,
    );
    let argon2 = |m: u32, t: u32| format!("$argon2id$v=19$m={m},t={t},p=1${SALT}");
    for (hash, lane) in [
        (argon2(19456, 2), Ordinary),
        // Up to twice the configured memory and time is still ordinary.
        (argon2(38912, 2), Ordinary),
        (argon2(19456, 4), Ordinary),
        (argon2(38913, 2), Expensive),
        (argon2(19456, 5), Expensive),
        // Less memory but more time (or the reverse) than allowed.
        (argon2(8192, 10), Expensive),
        (argon2(65536, 1), Expensive),
        ("$2a$10$o6hx.Wog/wvFSkT/Bp/6DOxCtLRTDj7lm9on9suF/WaCGNVHbkfL6".into(), Expensive),
        ("$pbkdf2-sha256$i=600000,l=32$1jP+5Zxpxgtee/iPxGgOz0RfE9/KJuDElP1ley4VxXc$QJxzfvdbHYBpydCbHoFg3GJEqMFULwskiuqiJctoYpI".into(), Expensive),
        ("$pbkdf2-sha256$i=10000,l=32$1jP+5Zxpxgtee/iPxGgOz0RfE9/KJuDElP1ley4VxXc$QJxzfvdbHYBpydCbHoFg3GJEqMFULwskiuqiJctoYpI".into(), Ordinary),
        ("$scrypt$ln=65536,r=8,p=1$2npRo7P03Mt8keSoMbyD/tKFWyUzjiQf2svUaNDSrhA=$MiCzNcIplSMqSBrm4HckjYqYhaVPPjTARTzwB1cVNYE=".into(), Expensive),
        ("$scrypt$ln=1024,r=8,p=1$2npRo7P03Mt8keSoMbyD/tKFWyUzjiQf2svUaNDSrhA=$MiCzNcIplSMqSBrm4HckjYqYhaVPPjTARTzwB1cVNYE=".into(), Ordinary),
        ("$5$saltstring$uzdVN3XcAOYKRlFzn8F5/iMpo99aMD8sXQTYY9P10Z8".into(), Ordinary),
        ("$1$saltstri$MNjlxGV3mAY2WdNxjTT21/".into(), Ordinary),
        ("$md5$CY9rzUYh03PK3k6DJie09g==".into(), Ordinary),
    ] {
        assert_eq!(owasp.lane_for(&hash).unwrap(), lane, "{hash}");
    }

    // bcrypt 12 configured: bcrypt 13 is twice the work, 14 four times; any real memory
    // (here an OWASP argon2) is expensive next to bcrypt's 5 KiB.
    let bcrypt12 = Hasher::new(Algorithm::Bcrypt { cost: 12 }, 1 << 30);
    for (hash, lane) in [
        (
            "$2a$12$o6hx.Wog/wvFSkT/Bp/6DOxCtLRTDj7lm9on9suF/WaCGNVHbkfL6",
            Ordinary,
        ),
        (
            "$2a$13$o6hx.Wog/wvFSkT/Bp/6DOxCtLRTDj7lm9on9suF/WaCGNVHbkfL6",
            Ordinary,
        ),
        (
            "$2a$14$o6hx.Wog/wvFSkT/Bp/6DOxCtLRTDj7lm9on9suF/WaCGNVHbkfL6",
            Expensive,
        ),
        (
            "$argon2id$v=19$m=19456,t=2,p=1$cm94YnRVOW5jZzFzcVE4bQ$MNzk5BtR2vUhrp6qQEjRNw",
            Expensive,
        ),
        (
            "$argon2id$v=19$m=1024,t=2,p=1$cm94YnRVOW5jZzFzcVE4bQ$MNzk5BtR2vUhrp6qQEjRNw",
            Ordinary,
        ),
    ] {
        assert_eq!(bcrypt12.lane_for(hash).unwrap(), lane, "{hash}");
    }

    // A very cheap configured hash (the tests' 64 KiB argon2): the floors keep anything
    // under a millisecond and a MiB ordinary.
    let cheap = argon2_hasher();
    for (hash, lane) in [
        ("$1$saltstri$MNjlxGV3mAY2WdNxjTT21/", Ordinary),
        (
            "$5$rounds=1000$saltstring$eI9OJcSPvDtrffBdE/FmyAiT5spLdZG.qBh9IzTwVd5",
            Ordinary,
        ),
        (
            "$2a$06$o6hx.Wog/wvFSkT/Bp/6DOxCtLRTDj7lm9on9suF/WaCGNVHbkfL6",
            Expensive,
        ),
        (
            "$argon2id$v=19$m=1024,t=1,p=1$cm94YnRVOW5jZzFzcVE4bQ$MNzk5BtR2vUhrp6qQEjRNw",
            Ordinary,
        ),
        (
            "$argon2id$v=19$m=2048,t=1,p=1$cm94YnRVOW5jZzFzcVE4bQ$MNzk5BtR2vUhrp6qQEjRNw",
            Expensive,
        ),
    ] {
        assert_eq!(cheap.lane_for(hash).unwrap(), lane, "{hash}");
    }
}

fn test_lane(threads: usize, budget_kib: u64, min_charge_kib: u64) -> LaneConfig {
    LaneConfig {
        name: "gatehouse-hash-test",
        nice: 0,
        threads,
        budget_kib,
        min_charge_kib,
        queue: None,
        max_wait: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lanes_admit_by_memory() {
    let lane = Arc::new(Lane::new(test_lane(2, 100, 10)));
    // A job is charged its memory, at least the minimum, at most the whole budget.
    assert_eq!(lane.charge(0), 10);
    assert_eq!(lane.charge(30), 30);
    assert_eq!(lane.charge(1000), 100);
    assert_eq!(lane.slots(), 10);

    let a_ended = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (started, mut a_started) = tokio::sync::mpsc::unbounded_channel();
    let (release_a, hold_a) = std::sync::mpsc::channel::<()>();
    let (l, ended) = (lane.clone(), a_ended.clone());
    let a = tokio::spawn(async move {
        l.run(60, move || {
            started.send(()).unwrap();
            hold_a.recv().unwrap();
            ended.store(true, Ordering::SeqCst);
            Ok(())
        })
        .await
    });
    a_started.recv().await.unwrap();
    assert_eq!(lane.available_kib(), 40);
    assert_eq!(lane.jobs(), 1);
    // B needs 50 KiB: a thread is free but the memory is not, so B waits for A. (It waits at
    // the head of the semaphore's queue, holding the 40 KiB that are left.)
    let (l, ended) = (lane.clone(), a_ended.clone());
    let b = tokio::spawn(async move { l.run(50, move || Ok(ended.load(Ordering::SeqCst))).await });
    while lane.jobs() < 2 || lane.available_kib() > 0 {
        tokio::task::yield_now().await;
    }
    release_a.send(()).unwrap();
    a.await.unwrap().unwrap();
    assert!(b.await.unwrap().unwrap(), "B started only once A had ended");
    // Everything is given back; a job larger than the budget runs alone rather than never.
    assert_eq!((lane.available_kib(), lane.jobs()), (100, 0));
    lane.run(5000, || Ok(())).await.unwrap();
    assert_eq!(lane.available_kib(), 100);
}

const BCRYPT5: &str = "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW";

fn with_expensive(queue: usize, max_wait: Option<Duration>, budget_kib: u64) -> Hasher {
    Hasher::with_expensive_lane(
        Algorithm::Argon2(cheap_argon2()),
        64 * 1024,
        LaneConfig {
            name: "gatehouse-hash-expensive",
            nice: EXPENSIVE_NICE,
            threads: 1,
            budget_kib,
            min_charge_kib: 0,
            queue: Some(queue),
            max_wait,
        },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_expensive_lane_refuses_and_never_holds_up_ordinary_work() {
    let h = with_expensive(2, None, 1 << 20);
    assert_eq!(h.lane_for(BCRYPT5).unwrap(), LaneKind::Expensive);
    let probe = &h.inner.probe;
    probe.close(LaneKind::Expensive);
    // One running (held at the gate) and two waiting: the lane is full.
    let mut admitted = tokio::task::JoinSet::new();
    for _ in 0..3 {
        let h = h.clone();
        admitted.spawn(async move { h.verify(b"U*U", BCRYPT5).await });
    }
    probe.started(LaneKind::Expensive, 1).await;
    while h.inner.expensive.jobs() < 3 {
        tokio::task::yield_now().await;
    }
    // The next one is refused at once, with the typed error.
    assert!(matches!(
        h.verify(b"U*V", BCRYPT5).await,
        Err(HashError::Busy)
    ));
    // Ordinary work goes on meanwhile: the configured algorithm, cheap imports, the dummy
    // verification for unknown accounts and new hashes all finish while the expensive lane
    // stays blocked.
    let ordinary = async {
        let own = h.hash(b"correct horse").await.unwrap();
        assert!(h.verify(b"correct horse", &own).await.unwrap());
        check(&h, "test", "$md5$CY9rzUYh03PK3k6DJie09g==", true).await;
        h.dummy_verify(b"whoever").await;
    };
    tokio::time::timeout(Duration::from_secs(60), ordinary)
        .await
        .expect("ordinary hashing waited for the expensive lane");
    assert_eq!(
        probe.lanes_ran(),
        [
            LaneKind::Expensive,
            LaneKind::Ordinary,
            LaneKind::Ordinary,
            LaneKind::Ordinary,
            LaneKind::Ordinary,
            LaneKind::Ordinary,
        ],
        "hash, verify, md5, the dummy's own hash and its verification ran in the ordinary lane"
    );
    probe.open(LaneKind::Expensive);
    while let Some(r) = admitted.join_next().await {
        assert!(
            r.unwrap().unwrap(),
            "the admitted verifications run once there is room"
        );
    }
    assert_eq!(h.inner.expensive.jobs(), 0);
    check(&h, "U*U", BCRYPT5, true).await;
    for (lane, thread) in h.inner.probe.ran.lock().unwrap().iter() {
        let expensive = thread.starts_with("gatehouse-hash-expensive-");
        assert_eq!(expensive, *lane == LaneKind::Expensive, "{thread}");
    }
}

/// Starts an expensive verification and waits until the lane's thread holds it at the closed
/// gate. On a loaded machine the nice-19 thread may not take it up within the short wait these
/// tests configure, which withdraws it as `Busy` before it starts: that attempt is retried
/// rather than waited on forever.
async fn start_held(h: &Hasher) -> tokio::task::JoinHandle<Result<bool, HashError>> {
    for _ in 0..50 {
        let mut job = {
            let h = h.clone();
            tokio::spawn(async move { h.verify(b"U*U", BCRYPT5).await })
        };
        tokio::select! {
            _ = h.inner.probe.started(LaneKind::Expensive, 1) => return job,
            r = &mut job => assert!(
                matches!(r.unwrap(), Err(HashError::Busy)),
                "a job that never started can only have been withdrawn"
            ),
        }
    }
    panic!("the expensive lane's thread never took a job up in time, 50 times over");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expensive_jobs_that_wait_too_long_are_withdrawn() {
    // Waiting for the thread: memory is plentiful, the one thread is held.
    let h = with_expensive(4, Some(Duration::from_millis(50)), 1 << 20);
    let probe = &h.inner.probe;
    probe.close(LaneKind::Expensive);
    let first = start_held(&h).await;
    assert!(matches!(
        h.verify(b"U*U", BCRYPT5).await,
        Err(HashError::Busy)
    ));
    // Withdrawn: its place and memory are free again, and it never runs.
    assert_eq!(h.inner.expensive.jobs(), 1);
    probe.open(LaneKind::Expensive);
    assert!(first.await.unwrap().unwrap());
    // On a loaded machine this one may itself wait past the 50 ms and be withdrawn (never
    // run); it is asked again until it runs.
    let mut tries = 0;
    loop {
        match h.verify(b"U*U", BCRYPT5).await {
            Ok(v) => break assert!(v),
            Err(HashError::Busy) if tries < 100 => tries += 1,
            Err(e) => panic!("verify failed: {e}"),
        }
    }
    assert_eq!(
        probe.lanes_ran(),
        [LaneKind::Expensive, LaneKind::Expensive],
        "the withdrawn job was skipped"
    );

    // Waiting for memory: a budget of 1 KiB admits one job at a time.
    let h = with_expensive(4, Some(Duration::from_millis(50)), 1);
    let probe = &h.inner.probe;
    probe.close(LaneKind::Expensive);
    let first = start_held(&h).await;
    assert_eq!(h.inner.expensive.available_kib(), 0);
    assert!(matches!(
        h.verify(b"U*U", BCRYPT5).await,
        Err(HashError::Busy)
    ));
    assert_eq!(h.inner.expensive.jobs(), 1);
    probe.open(LaneKind::Expensive);
    assert!(first.await.unwrap().unwrap());
    assert_eq!(h.inner.expensive.available_kib(), 1);
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
    // In the ordinary lane, at the configured algorithm's cost, like the real verification.
    assert_eq!(h.lane_for(&first).unwrap(), LaneKind::Ordinary);
    assert_eq!(
        Cost::of(&parse::parse(&first, &h.inner.limits).unwrap()),
        h.inner.reference
    );
    assert_eq!(h.inner.probe.lanes_ran(), [LaneKind::Ordinary; 3]);
    let b = Hasher::new(Algorithm::Bcrypt { cost: 5 }, 0);
    b.dummy_verify(b"whatever").await;
    assert_eq!(b.inner.probe.lanes_ran(), [LaneKind::Ordinary; 2]);
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

/// Prints what each format costs per unit of its work parameter, for the constants in
/// `cost.rs`. Meaningful only in a release build on a quiet machine:
/// `cargo test --release --lib hash::tests::measure_cost_constants -- --ignored --nocapture`.
#[test]
#[ignore]
fn measure_cost_constants() {
    use base64::engine::general_purpose::STANDARD;
    let salt = STANDARD_NO_PAD.encode([7u8; 16]);
    let key = |n: usize| STANDARD_NO_PAD.encode(vec![1u8; n]);
    let scrypt_salt = STANDARD.encode([7u8; 16]);
    let scrypt_key = STANDARD.encode([1u8; 32]);
    let cases: Vec<(String, f64)> = vec![
        (format!("$argon2id$v=19$m=19456,t=2,p=1${salt}${}", key(32)), 19456.0 * 2.0),
        (format!("$argon2id$v=19$m=65536,t=3,p=4${salt}${}", key(32)), 65536.0 * 3.0),
        ("$2a$10$o6hx.Wog/wvFSkT/Bp/6DOxCtLRTDj7lm9on9suF/WaCGNVHbkfL6".into(), 1024.0),
        ("$2a$12$o6hx.Wog/wvFSkT/Bp/6DOxCtLRTDj7lm9on9suF/WaCGNVHbkfL6".into(), 4096.0),
        (format!("$pbkdf2-sha1$i=100000,l=20${salt}${}", key(20)), 100_000.0),
        (format!("$pbkdf2-sha256$i=100000,l=32${salt}${}", key(32)), 100_000.0),
        (format!("$pbkdf2-sha512$i=100000,l=64${salt}${}", key(64)), 100_000.0),
        (format!("$scrypt$ln=16384,r=8,p=1${scrypt_salt}${scrypt_key}"), 16384.0 * 8.0),
        (format!("$scrypt$ln=65536,r=8,p=1${scrypt_salt}${scrypt_key}"), 65536.0 * 8.0),
        ("$5$rounds=100000$saltstring$uzdVN3XcAOYKRlFzn8F5/iMpo99aMD8sXQTYY9P10Z8".into(), 100_000.0),
        ("$6$rounds=100000$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1".into(), 100_000.0),
        ("$1$saltstri$MNjlxGV3mAY2WdNxjTT21/".into(), 1.0),
        ("$md5$CY9rzUYh03PK3k6DJie09g==".into(), 1.0),
    ];
    for (encoded, units) in cases {
        let parsed = parse::parse(&encoded, &parse::Limits::IMPORT).unwrap();
        let best = (0..3)
            .map(|_| {
                let t = Instant::now();
                let _ = verify::verify_parsed(&parsed, b"password");
                t.elapsed()
            })
            .min()
            .unwrap();
        println!(
            "{:<48} {:>10.3} ms {:>12.1} ns/unit",
            &encoded[..encoded.len().min(48)],
            best.as_secs_f64() * 1e3,
            best.as_secs_f64() * 1e9 / units
        );
    }
}
