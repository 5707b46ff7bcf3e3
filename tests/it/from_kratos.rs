//! `gatehouse migrate from-kratos`: a Kratos-shaped database (DDL in tests/fixtures/kratos/,
//! on the backend under test; on MySQL named by Kratos's Go DSN form) with identities holding
//! several credential types, addresses in every state, active and expired sessions and queued
//! messages, copied by the real binary, then read back through a server on the copy.

use std::collections::HashMap;
use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

use crate::common::flow::api_login;
use crate::common::{
    FIXTURES, Setup, TEST_CONFIG, TestApp, TestDb, backend, binary, kratos_cookie, schemas_yaml,
};

const NET: &str = "11111111-0000-4000-8000-000000000001";
const ALICE: &str = "a1111111-0000-4000-8000-000000000001";
const BOB: &str = "b2222222-0000-4000-8000-000000000002";
const CAROL: &str = "c3333333-0000-4000-8000-000000000003";
const DAVE: &str = "d4444444-0000-4000-8000-000000000004";
const ERIN: &str = "e5555555-0000-4000-8000-000000000005";
const FRANK: &str = "f6666666-0000-4000-8000-000000000006";
const ALICE_TOKEN: &str = "ory_st_AliceActiveSession000000000000";
const ALICE_OLD_TOKEN: &str = "ory_st_AliceExpiredSession00000000000";
const BOB_TOKEN: &str = "ory_st_BobSession00000000000000000000";
const KRATOS_CIPHER: &str = "kratos-cipher-secret-of-32-bytes";
const ALICE_PASSWORD: &str = "correct horse battery staple";
const BOB_PASSWORD: &str = "tr0ub4dor&3 but longer";

/// The Kratos database: its DSN as Kratos was configured with it, the URL the test itself
/// connects with, and SQL run on it from the test.
struct Kratos {
    dsn: String,
    url: String,
    _dir: tempfile::TempDir,
}

impl Kratos {
    async fn create() -> Kratos {
        let dir = tempfile::tempdir().unwrap();
        let (dsn, url) = if backend() == "postgres" {
            use diesel_async::{AsyncConnection, RunQueryDsl};
            let base = std::env::var("TEST_DATABASE_POSTGRESQL")
                .unwrap()
                .replace("postgresql://", "postgres://");
            let name = format!("kratos_{}", uuid::Uuid::new_v4().simple());
            let mut c = diesel_async::AsyncPgConnection::establish(&base)
                .await
                .unwrap();
            diesel::sql_query(format!("CREATE DATABASE {name}"))
                .execute(&mut c)
                .await
                .unwrap();
            let (head, tail) = base.rsplit_once('/').unwrap();
            let query = tail
                .split_once('?')
                .map(|(_, q)| format!("?{q}"))
                .unwrap_or_default();
            let dsn = format!("{head}/{name}{query}");
            (dsn.clone(), dsn)
        } else if backend() == "mysql" {
            use diesel_async::{AsyncConnection, RunQueryDsl};
            let base = std::env::var("TEST_DATABASE_MYSQL").unwrap();
            let name = format!("kratos_{}", uuid::Uuid::new_v4().simple());
            let (head, _) = base.rsplit_once('/').unwrap();
            let mut c = diesel_async::AsyncMysqlConnection::establish(&format!("{head}/"))
                .await
                .unwrap();
            diesel::sql_query(format!("CREATE DATABASE {name}"))
                .execute(&mut c)
                .await
                .unwrap();
            // Kratos's own DSN is the Go driver's form: `user:pass@tcp(host:port)/db?parseTime=true`.
            let (userinfo, host) = head
                .trim_start_matches("mysql://")
                .rsplit_once('@')
                .unwrap();
            (
                format!("mysql://{userinfo}@tcp({host})/{name}?parseTime=true"),
                format!("{head}/{name}"),
            )
        } else {
            let dsn = format!("sqlite://{}/kratos.sqlite", dir.path().display());
            (dsn.clone(), dsn)
        };
        let k = Kratos {
            dsn,
            url,
            _dir: dir,
        };
        let ddl = std::fs::read_to_string(format!("{FIXTURES}/kratos/{}.sql", backend())).unwrap();
        k.exec(&ddl).await;
        k
    }

    async fn exec(&self, sql: &str) {
        use diesel_async::{AsyncConnection, SimpleAsyncConnection};
        if backend() == "postgres" {
            let mut c = diesel_async::AsyncPgConnection::establish(&self.url)
                .await
                .unwrap();
            c.batch_execute(sql).await.unwrap();
        } else if backend() == "mysql" {
            let mut c = diesel_async::AsyncMysqlConnection::establish(&self.url)
                .await
                .unwrap();
            c.batch_execute(sql).await.unwrap();
        } else {
            use diesel::Connection;
            use diesel::connection::SimpleConnection;
            let path = self.url.trim_start_matches("sqlite://").to_owned();
            let sql = sql.to_owned();
            tokio::task::spawn_blocking(move || {
                let mut c = diesel::SqliteConnection::establish(&path).unwrap();
                c.batch_execute(&sql).unwrap();
            })
            .await
            .unwrap();
        }
    }
}

/// The configuration both the command and the server read: the tests' own, the schemas
/// (`customer`, `employee`), and a cipher of Gatehouse's own, not Kratos's.
fn config_files(dir: &Path) -> Vec<PathBuf> {
    let schemas = dir.join("schemas.yml");
    std::fs::write(&schemas, schemas_yaml()).unwrap();
    let extra = dir.join("extra.yml");
    std::fs::write(&extra, EXTRA_YAML).unwrap();
    vec![PathBuf::from(TEST_CONFIG), schemas, extra]
}

const EXTRA_YAML: &str =
    "ciphers:\n  algorithm: aes\nsecrets:\n  cipher:\n    - gatehouse-own-cipher-secret-32by\n";

/// The cookie secret the Kratos deployment ran with, given to the server on the copy.
const KRATOS_COOKIE_SECRET: &str = "the-kratos-deployment-cookie-secret";

fn command(files: &[PathBuf], target: &TestDb, kratos: &Kratos, extra: &[&str]) -> Command {
    let mut c = Command::new(binary());
    c.args(["migrate", "from-kratos", &kratos.dsn]);
    for f in files {
        c.arg("-c").arg(f);
    }
    c.args(extra)
        .env("DSN", &target.dsn)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

async fn run(files: &[PathBuf], target: &TestDb, kratos: &Kratos, extra: &[&str]) -> Output {
    let mut c = command(files, target, kratos, extra);
    tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap()
}

/// The summary's counts per table: (read, copied, skipped, refused).
fn summary(out: &Output) -> HashMap<String, [usize; 4]> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let n: Vec<usize> = f.iter().skip(1).filter_map(|x| x.parse().ok()).collect();
            (f.len() == 5 && n.len() == 4).then(|| (f[0].to_owned(), [n[0], n[1], n[2], n[3]]))
        })
        .collect()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The fixture rows: every credential type Gatehouse signs in with, and rows it cannot take.
fn rows(bcrypt: &str, argon2: &str, oidc_id: &str, oidc_access: &str) -> String {
    let t = |name: &str| format!("'{}'", type_id(name));
    let cred = |id: &str, identity: &str, kind: &str, config: &str| {
        format!(
            "INSERT INTO identity_credentials (id, config, identity_credential_type_id, identity_id, created_at, updated_at, nid, version) \
             VALUES ('{id}', '{config}', {}, '{identity}', '2024-02-01 10:00:00', '2024-02-01 10:00:00', '{NET}', 0);\n",
            t(kind)
        )
    };
    let ident = |id: &str, credential: &str, identity: &str, kind: &str, value: &str| {
        format!(
            "INSERT INTO identity_credential_identifiers (id, identifier, identity_credential_id, created_at, updated_at, nid, identity_credential_type_id, identity_id) \
             VALUES ('{id}', '{value}', '{credential}', '2024-02-01 10:00:00', '2024-02-01 10:00:00', '{NET}', {}, '{identity}');\n",
            t(kind)
        )
    };
    let identity = |id: &str, schema: &str, traits: &str, state: &str| {
        format!(
            "INSERT INTO identities (id, traits, created_at, updated_at, schema_id, nid, state) \
             VALUES ('{id}', '{traits}', '2024-01-15 08:30:00.123456', '2024-01-16 09:00:00', '{schema}', '{NET}', '{state}');\n"
        )
    };
    let session = |id: &str,
                   identity: &str,
                   token: &str,
                   expires: &str,
                   aal: &str,
                   methods: &str| {
        format!(
            "INSERT INTO sessions (id, issued_at, expires_at, authenticated_at, identity_id, created_at, updated_at, token, active, nid, logout_token, aal, authentication_methods) \
             VALUES ('{id}', '2024-05-01 10:00:00', '{expires}', '2024-05-01 10:00:00', '{identity}', '2024-05-01 10:00:00', '2024-05-01 10:00:00', '{token}', TRUE, '{NET}', 'ory_lo_{}', '{aal}', '{methods}');\n",
            id.replace('-', "")
        )
    };
    let mut sql = format!(
        "INSERT INTO networks (id, created_at, updated_at) VALUES ('{NET}', '2023-12-01 00:00:00', '2023-12-01 00:00:00');\n"
    );
    for name in [
        "password",
        "oidc",
        "totp",
        "lookup_secret",
        "webauthn",
        "code",
        "saml",
    ] {
        sql += &format!(
            "INSERT INTO identity_credential_types (id, name) VALUES ({}, '{name}');\n",
            t(name)
        );
    }
    sql += &format!(
        "INSERT INTO identities (id, traits, created_at, updated_at, schema_id, nid, state, metadata_public, metadata_admin, external_id, available_aal) \
         VALUES ('{ALICE}', '{{\"email\": \"alice@example.com\", \"username\": \"alice\"}}', '2024-01-15 08:30:00.123456', '2024-01-16 09:00:00', 'customer', '{NET}', 'active', '{{\"plan\": \"gold\"}}', '{{\"note\": \"vip\"}}', 'ext-alice', 'aal2');\n"
    );
    sql += &identity(BOB, "customer", r#"{"email": "bob@example.com"}"#, "active");
    sql += &identity(
        CAROL,
        "employee",
        r#"{"email": "carol@example.com"}"#,
        "inactive",
    );
    sql += &identity(DAVE, "legacy", r#"{"email": "dave@example.com"}"#, "active");
    sql += &identity(
        ERIN,
        "customer",
        r#"{"email": "erin@example.com"}"#,
        "active",
    );
    sql += &identity(
        FRANK,
        "customer",
        r#"{"email": "frank@example.com"}"#,
        "active",
    );
    // Alice: password (bcrypt), TOTP, backup codes, a GitHub link with encrypted tokens.
    sql += &cred(
        "a0000001-0000-4000-8000-000000000001",
        ALICE,
        "password",
        &format!(r#"{{"hashed_password": "{bcrypt}"}}"#),
    );
    sql += &ident(
        "a0000002-0000-4000-8000-000000000001",
        "a0000001-0000-4000-8000-000000000001",
        ALICE,
        "password",
        "alice@example.com",
    );
    sql += &ident(
        "a0000002-0000-4000-8000-000000000002",
        "a0000001-0000-4000-8000-000000000001",
        ALICE,
        "password",
        "alice",
    );
    sql += &cred(
        "a0000001-0000-4000-8000-000000000002",
        ALICE,
        "totp",
        r#"{"totp_url": "otpauth://totp/Gatehouse:alice@example.com?algorithm=SHA1&digits=6&issuer=Gatehouse&period=30&secret=JBSWY3DPEHPK3PXP"}"#,
    );
    sql += &cred(
        "a0000001-0000-4000-8000-000000000003",
        ALICE,
        "lookup_secret",
        r#"{"recovery_codes": [{"code": "abcdefgh", "used_at": null}, {"code": "bcdefghi", "used_at": "2024-03-01T10:00:00Z"}]}"#,
    );
    sql += &cred(
        "a0000001-0000-4000-8000-000000000004",
        ALICE,
        "oidc",
        &format!(
            r#"{{"providers": [{{"provider": "github", "subject": "1234", "initial_id_token": "{oidc_id}", "initial_access_token": "{oidc_access}", "initial_refresh_token": ""}}]}}"#
        ),
    );
    sql += &ident(
        "a0000002-0000-4000-8000-000000000003",
        "a0000001-0000-4000-8000-000000000004",
        ALICE,
        "oidc",
        "github:1234",
    );
    // Bob: password (argon2id) and the code method.
    sql += &cred(
        "b0000001-0000-4000-8000-000000000001",
        BOB,
        "password",
        &format!(r#"{{"hashed_password": "{argon2}"}}"#),
    );
    sql += &ident(
        "b0000002-0000-4000-8000-000000000001",
        "b0000001-0000-4000-8000-000000000001",
        BOB,
        "password",
        "bob@example.com",
    );
    sql += &cred(
        "b0000001-0000-4000-8000-000000000002",
        BOB,
        "code",
        r#"{"addresses": [{"channel": "email", "address": "bob@example.com"}]}"#,
    );
    sql += &ident(
        "b0000002-0000-4000-8000-000000000002",
        "b0000001-0000-4000-8000-000000000002",
        BOB,
        "code",
        "bob@example.com",
    );
    // Dave's schema is not configured: he and everything of his are refused.
    sql += &cred(
        "d0000001-0000-4000-8000-000000000001",
        DAVE,
        "password",
        &format!(r#"{{"hashed_password": "{bcrypt}"}}"#),
    );
    sql += &ident(
        "d0000002-0000-4000-8000-000000000001",
        "d0000001-0000-4000-8000-000000000001",
        DAVE,
        "password",
        "dave@example.com",
    );
    // Erin signs in with SAML, which Gatehouse has no method for; Frank's hash is unknown.
    sql += &cred(
        "e0000001-0000-4000-8000-000000000001",
        ERIN,
        "saml",
        r#"{"providers": [{"provider": "okta", "subject": "erin"}]}"#,
    );
    sql += &ident(
        "e0000002-0000-4000-8000-000000000001",
        "e0000001-0000-4000-8000-000000000001",
        ERIN,
        "saml",
        "okta:erin",
    );
    sql += &cred(
        "f0000001-0000-4000-8000-000000000001",
        FRANK,
        "password",
        r#"{"hashed_password": "{MAGIC}c2VjcmV0"}"#,
    );
    // Addresses in every state.
    for (id, identity, value, status, verified, at) in [
        (
            "a0000003-0000-4000-8000-000000000001",
            ALICE,
            "alice@example.com",
            "completed",
            "TRUE",
            "'2024-01-20 12:00:00'",
        ),
        (
            "b0000003-0000-4000-8000-000000000001",
            BOB,
            "bob@example.com",
            "sent",
            "FALSE",
            "NULL",
        ),
        (
            "c0000003-0000-4000-8000-000000000001",
            CAROL,
            "carol@example.com",
            "pending",
            "FALSE",
            "NULL",
        ),
        (
            "d0000003-0000-4000-8000-000000000001",
            DAVE,
            "dave@example.com",
            "pending",
            "FALSE",
            "NULL",
        ),
    ] {
        sql += &format!(
            "INSERT INTO identity_verifiable_addresses (id, status, via, verified, value, verified_at, identity_id, created_at, updated_at, nid) \
             VALUES ('{id}', '{status}', 'email', {verified}, '{value}', {at}, '{identity}', '2024-01-15 08:30:00', '2024-01-15 08:30:00', '{NET}');\n"
        );
    }
    for (id, identity, value) in [
        (
            "a0000004-0000-4000-8000-000000000001",
            ALICE,
            "alice@example.com",
        ),
        (
            "b0000004-0000-4000-8000-000000000001",
            BOB,
            "bob@example.com",
        ),
    ] {
        sql += &format!(
            "INSERT INTO identity_recovery_addresses (id, via, value, identity_id, created_at, updated_at, nid) \
             VALUES ('{id}', 'email', '{value}', '{identity}', '2024-01-15 08:30:00', '2024-01-15 08:30:00', '{NET}');\n"
        );
    }
    // Sessions: Alice's live one at aal2 (with a device) and an expired one, Bob's, Dave's
    // (refused with him), Carol's legacy one whose method Gatehouse does not know.
    let pw = r#"[{"method": "password", "aal": "aal1", "completed_at": "2024-05-01T10:00:00.123456789Z"}]"#;
    let two_factors = r#"[{"method": "password", "aal": "aal1", "completed_at": "2024-05-01T10:00:00Z"}, {"method": "totp", "aal": "aal2", "completed_at": "2024-05-01T10:01:00Z"}]"#;
    sql += &session(
        "a0000005-0000-4000-8000-000000000001",
        ALICE,
        ALICE_TOKEN,
        "2099-01-01 00:00:00",
        "aal2",
        two_factors,
    );
    sql += &session(
        "a0000005-0000-4000-8000-000000000002",
        ALICE,
        ALICE_OLD_TOKEN,
        "2024-05-02 00:00:00",
        "aal1",
        pw,
    );
    sql += &session(
        "b0000005-0000-4000-8000-000000000001",
        BOB,
        BOB_TOKEN,
        "2099-01-01 00:00:00",
        "aal1",
        pw,
    );
    sql += &session(
        "d0000005-0000-4000-8000-000000000001",
        DAVE,
        "ory_st_DaveSession0000000000000000000",
        "2099-01-01 00:00:00",
        "aal1",
        pw,
    );
    sql += &session(
        "c0000005-0000-4000-8000-000000000001",
        CAROL,
        "ory_st_CarolLegacy0000000000000000000",
        "2099-01-01 00:00:00",
        "aal1",
        r#"[{"method": "v0.6_legacy_session", "aal": "aal1", "completed_at": "2021-01-01T00:00:00Z"}]"#,
    );
    sql += &format!(
        "INSERT INTO session_devices (id, ip_address, user_agent, location, nid, session_id, created_at, updated_at) \
         VALUES ('a0000006-0000-4000-8000-000000000001', '203.0.113.7', 'Mozilla/5.0 (kratos)', 'Berlin, DE', '{NET}', 'a0000005-0000-4000-8000-000000000001', '2024-05-01 10:00:00', '2024-05-01 10:00:00');\n"
    );
    // Messages: queued, processing (both unsent, so copied as queued) and sent (history).
    for (id, kind, status, channel, to) in [
        (
            "a0000007-0000-4000-8000-000000000001",
            1,
            1,
            "'email'",
            "alice@example.com",
        ),
        (
            "b0000007-0000-4000-8000-000000000001",
            2,
            3,
            "NULL",
            "+4915112345678",
        ),
        (
            "c0000007-0000-4000-8000-000000000001",
            1,
            2,
            "'email'",
            "carol@example.com",
        ),
    ] {
        sql += &format!(
            "INSERT INTO courier_messages (id, type, status, body, subject, recipient, created_at, updated_at, template_type, template_data, nid, send_count, channel) \
             VALUES ('{id}', {kind}, {status}, 'Your code is 123456', 'Your code', '{to}', '2024-05-01 10:00:00', '2024-05-01 10:00:00', 'login_code_valid', '{{\"to\": \"{to}\", \"login_code\": \"123456\"}}', '{NET}', 0, {channel});\n"
        );
    }
    sql
}

fn type_id(name: &str) -> String {
    let n = [
        "password",
        "oidc",
        "totp",
        "lookup_secret",
        "webauthn",
        "code",
        "saml",
    ]
    .iter()
    .position(|x| *x == name)
    .unwrap();
    format!("99999999-0000-4000-8000-00000000000{n}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kratos_database_moves_over_and_keeps_working() {
    let dir = tempfile::tempdir().unwrap();
    let files = config_files(dir.path());
    let config = gatehouse::config::load(&files, &[]).unwrap().config;

    // Kratos's secrets seal the provider tokens; Gatehouse's configuration has its own.
    let mut kratos_cfg = config.clone();
    kratos_cfg.secrets.cipher = vec![KRATOS_CIPHER.into()];
    let kratos_cipher = gatehouse::cipher::Cipher::from_config(&kratos_cfg);
    let hasher = gatehouse::app::hasher_from(&config);
    let argon2 = hasher.hash(BOB_PASSWORD.as_bytes()).await.unwrap();
    assert!(argon2.starts_with("$argon2id$"));
    let bcrypt = bcrypt::hash(ALICE_PASSWORD, 4).unwrap();
    let kratos = Kratos::create().await;
    kratos
        .exec(&rows(
            &bcrypt,
            &argon2,
            &kratos_cipher.encrypt_str("id-token-1").unwrap(),
            &kratos_cipher.encrypt_str("access-token-1").unwrap(),
        ))
        .await;
    let target = TestDb::new().await;
    let secret = ["--kratos-cipher-secret", KRATOS_CIPHER];

    // Interrupted: killed after its first progress line on identities, one row per batch.
    let mut child = command(
        &files,
        &target,
        &kratos,
        &["--batch-size", "1", secret[0], secret[1]],
    )
    .spawn()
    .unwrap();
    let stderr = child.stderr.take().unwrap();
    let status = tokio::task::spawn_blocking(move || {
        for line in std::io::BufReader::new(stderr).lines() {
            if line.unwrap().starts_with("identities:") {
                break;
            }
        }
        child.kill().unwrap();
        child.wait().unwrap()
    })
    .await
    .unwrap();
    assert_eq!(
        status.code(),
        None,
        "the first run was killed before it finished"
    );

    // A dry run lists what is left and every row it cannot take, and writes nothing.
    let dry = run(
        &files,
        &target,
        &kratos,
        &["--dry-run", secret[0], secret[1]],
    )
    .await;
    let text = stdout(&dry);
    assert_eq!(
        dry.status.code(),
        Some(2),
        "{text}\n{}",
        String::from_utf8_lossy(&dry.stderr)
    );
    for needle in [
        &format!("refused identities {DAVE}: identity schema \"legacy\" is not configured"),
        "refused identity_credentials e0000001-0000-4000-8000-000000000001: credential type \"saml\" is not one Gatehouse signs in with",
        "refused identity_credentials f0000001-0000-4000-8000-000000000001: password hash: The imported password does not match any known hash format.",
        &format!(
            "refused identity_credentials d0000001-0000-4000-8000-000000000001: its identity {DAVE} was refused"
        ),
        "refused identity_credential_identifiers d0000002-0000-4000-8000-000000000001: its credential d0000001-0000-4000-8000-000000000001 was refused",
        "refused sessions c0000005-0000-4000-8000-000000000001: authentication method",
        "refused identity_verifiable_addresses d0000003-0000-4000-8000-000000000001: its identity",
    ] {
        assert!(
            text.contains(needle),
            "dry run should say {needle:?}:\n{text}"
        );
    }
    let before_dry = summary(&dry);
    assert!(
        before_dry["identities"][1] > 0,
        "the interrupted run left identities: {text}"
    );
    assert_eq!(
        before_dry["identities"][1] + before_dry["identities"][2],
        5,
        "{text}"
    );

    // The real run finishes the job.
    let out = run(&files, &target, &kratos, &[secret[0], secret[1]]).await;
    let text = stdout(&out);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = summary(&out);
    assert_eq!(
        s["identities"],
        [
            6,
            before_dry["identities"][1],
            5 - before_dry["identities"][1],
            1
        ],
        "{text}"
    );
    assert_eq!(s["sessions"][3], 2, "{text}");
    assert_eq!(
        s["courier_messages"][1] + s["courier_messages"][2],
        2,
        "only unsent messages: {text}"
    );

    // A second run copies nothing.
    let again = run(&files, &target, &kratos, &[secret[0], secret[1]]).await;
    let text = stdout(&again);
    for (table, counts) in summary(&again) {
        assert_eq!(counts[1], 0, "{table} copied again: {text}");
    }

    // Read back through a server on the copy.
    let app = TestApp::start_on(
        target,
        Setup {
            yaml: format!("{EXTRA_YAML}  cookie:\n    - {KRATOS_COOKIE_SECRET}\n"),
            ..Default::default()
        },
    )
    .await;
    let get = |path: String| {
        let app = &app;
        async move {
            let r = app.http.get(app.admin_url(&path)).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (_, list) = get("/admin/identities".into()).await;
    let mut ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    ids.sort();
    assert_eq!(ids, [ALICE, BOB, CAROL, ERIN, FRANK]);
    let (status, alice) = get(format!("/admin/identities/{ALICE}?include_credential=oidc")).await;
    assert_eq!(status, 200, "{alice}");
    assert_eq!(alice["schema_id"], "customer");
    assert_eq!(alice["state"], "active");
    assert_eq!(
        alice["traits"],
        json!({"email": "alice@example.com", "username": "alice"})
    );
    assert_eq!(alice["metadata_public"], json!({"plan": "gold"}));
    assert_eq!(alice["metadata_admin"], json!({"note": "vip"}));
    assert_eq!(alice["external_id"], "ext-alice");
    assert_eq!(alice["created_at"], "2024-01-15T08:30:00.123456Z");
    assert_eq!(alice["verifiable_addresses"][0]["status"], "completed");
    assert_eq!(alice["verifiable_addresses"][0]["verified"], true);
    assert_eq!(
        alice["verifiable_addresses"][0]["verified_at"],
        "2024-01-20T12:00:00Z"
    );
    assert_eq!(alice["recovery_addresses"][0]["value"], "alice@example.com");
    let creds = &alice["credentials"];
    let mut kinds: Vec<&String> = creds.as_object().unwrap().keys().collect();
    kinds.sort();
    assert_eq!(
        kinds,
        ["lookup_secret", "oidc", "password", "totp"],
        "{alice}"
    );
    let mut identifiers = creds["password"]["identifiers"].as_array().unwrap().clone();
    identifiers.sort_by_key(|v| v.to_string());
    assert_eq!(identifiers, [json!("alice"), json!("alice@example.com")]);
    assert_eq!(creds["oidc"]["identifiers"], json!(["github:1234"]));
    // Re-sealed under Gatehouse's key: the admin API opens them with it.
    let github = &creds["oidc"]["config"]["providers"][0];
    assert_eq!(github["initial_id_token"], "id-token-1", "{alice}");
    assert_eq!(github["initial_access_token"], "access-token-1");
    let (_, bob) = get(format!("/admin/identities/{BOB}")).await;
    assert_eq!(bob["verifiable_addresses"][0]["status"], "sent");
    assert_eq!(bob["verifiable_addresses"][0]["verified"], false);
    let (_, carol) = get(format!("/admin/identities/{CAROL}")).await;
    assert_eq!(carol["state"], "inactive");
    assert_eq!(carol["schema_id"], "employee");
    assert_eq!(carol["verifiable_addresses"][0]["status"], "pending");
    let (_, erin) = get(format!("/admin/identities/{ERIN}")).await;
    assert!(erin["credentials"].get("saml").is_none(), "{erin}");

    // Kratos's hashes sign in (bcrypt, argon2id).
    let (status, body) = api_login(&app, "alice@example.com", ALICE_PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = api_login(&app, "bob@example.com", BOB_PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = api_login(&app, "alice@example.com", "wrong password").await;
    assert_eq!(status, 400);

    // Kratos's session tokens keep working; the expired one does not.
    let me = app.whoami(ALICE_TOKEN).await;
    assert_eq!(me["id"], "a0000005-0000-4000-8000-000000000001", "{me}");
    assert_eq!(me["identity"]["id"], ALICE);
    assert_eq!(me["authentication_methods"][0]["method"], "password");
    assert_eq!(me["devices"][0]["ip_address"], "203.0.113.7");
    assert_eq!(me["devices"][0]["user_agent"], "Mozilla/5.0 (kratos)");
    assert_eq!(me["authenticator_assurance_level"], "aal2");
    assert_eq!(me["authentication_methods"][1]["method"], "totp");
    let bob_me = app.whoami(BOB_TOKEN).await;
    assert_eq!(bob_me["identity"]["id"], BOB, "{bob_me}");
    assert_eq!(bob_me["authenticator_assurance_level"], "aal1");
    // A browser signed in to Kratos stays signed in: its cookie names the copied session, and the
    // answer swaps it for Gatehouse's own.
    let cookie = kratos_cookie::encode(
        KRATOS_COOKIE_SECRET,
        "ory_kratos_session",
        chrono::Utc::now().timestamp() - 60,
        &[
            ("session_token", BOB_TOKEN),
            ("expires_at", "2099-01-01T00:00:00Z"),
            ("nonce", "AbCdEfGh"),
        ],
    );
    let r = app
        .http
        .get(app.public_url("/sessions/whoami"))
        .header("Cookie", format!("ory_kratos_session={cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let swapped = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .any(|c| c.to_str().unwrap().starts_with("ory_kratos_session="));
    assert!(swapped, "the Kratos cookie is replaced by Gatehouse's");
    let browser_me: Value = r.json().await.unwrap();
    assert_eq!(browser_me["identity"]["id"], BOB, "{browser_me}");
    let old = app
        .http
        .get(app.public_url("/sessions/whoami"))
        .header("X-Session-Token", ALICE_OLD_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(old.status(), 401);

    // The unsent messages wait in Gatehouse's queue.
    let (_, messages) = get("/admin/courier/messages".into()).await;
    let mut queued: Vec<(String, String)> = messages
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["recipient"].as_str().unwrap().to_owned(),
                m["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    queued.sort();
    assert_eq!(
        queued,
        [
            ("+4915112345678".to_owned(), "queued".to_owned()),
            ("alice@example.com".to_owned(), "queued".to_owned())
        ],
        "{messages}"
    );
    app.stop().await;
}
