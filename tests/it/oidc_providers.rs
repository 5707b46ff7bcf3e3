//! The OpenID Connect providers (generic and the presets built on it) against a real provider
//! (the harness's `oidc-provider`), called directly as the `oidc` strategy calls them: the
//! authorization URL, a browser signing in, the code exchange and the verified claims; nonce,
//! PKCE, client authentication, user info, an unreachable provider, native ID tokens and key
//! rotation.

use base64::Engine;
use gatehouse::config::Config;
use gatehouse::selfservice::strategy::oidc::provider::{
    AuthRequest, Provider, ProviderError, Providers,
};
use serde_json::{Value, json};
use sha2::Digest;
use std::sync::Arc;

use crate::common::oidc::{self, Callback, OidcProvider, UserAgent, query_param};

const CLIENT: &str = "gatehouse";
const SECRET: &str = "s3cret";
/// A loopback redirect URI: the harness's provider accepts it on any port.
const REGISTERED: &str = "http://127.0.0.1/self-service/methods/oidc/callback/corp";
const REDIRECT: &str = "http://127.0.0.1:4455/self-service/methods/oidc/callback/corp";
const VERIFIER: &str = "a-pkce-verifier-long-enough-for-the-rfc-7636-minimum-of-43-chars";

/// The provider entry `corp` of `kind` at `issuer`, with `overrides` merged in, built the way
/// `Deps::build` builds them.
fn provider(kind: &str, issuer: &str, overrides: Value) -> Arc<dyn Provider> {
    let mut entry = json!({
        "id": "corp",
        "provider": kind,
        "client_id": CLIENT,
        "client_secret": SECRET,
        "issuer_url": issuer,
        "mapper_url": "file:///dev/null",
        "scope": ["email", "profile"],
    });
    entry
        .as_object_mut()
        .unwrap()
        .extend(overrides.as_object().unwrap().clone());
    let mut cfg = Config::default();
    cfg.selfservice.methods.oidc.enabled = true;
    cfg.selfservice.methods.oidc.config.providers = vec![serde_json::from_value(entry).unwrap()];
    Providers::new(&cfg).unwrap().get("corp").unwrap()
}

fn challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier))
}

fn request(nonce: &str, pkce: bool) -> AuthRequest {
    AuthRequest {
        redirect_uri: REDIRECT.into(),
        state: "the-state".into(),
        nonce: Some(nonce.into()),
        pkce_challenge: pkce.then(|| challenge(VERIFIER)),
        upstream: vec![],
    }
}

/// Auth URL → the browser signs in as `login` → the code from the callback.
async fn sign_in(p: &dyn Provider, req: &AuthRequest, login: &str) -> String {
    let url = p.auth_url(req).await.unwrap();
    let back = UserAgent::new().sign_in(&url, login).await;
    assert!(back.starts_with(REDIRECT), "{back}");
    assert_eq!(query_param(&back, "state").as_deref(), Some("the-state"));
    query_param(&back, "code").expect("code")
}

fn sha256_hex(s: &str) -> String {
    sha2::Sha256::digest(s)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn generic_signs_in_with_pkce_and_returns_the_verified_claims() {
    let op = OidcProvider::start(vec![oidc::client(CLIENT, SECRET, REGISTERED)]).await;
    let p = provider("generic", &op.issuer, json!({}));
    // `pkce: auto` and the provider advertises S256.
    assert!(p.uses_pkce().await.unwrap());
    let req = request("the-nonce", true);
    let url = p.auth_url(&req).await.unwrap();
    assert!(url.starts_with(&op.url("/auth")), "{url}");
    assert_eq!(query_param(&url, "code_challenge"), req.pkce_challenge);
    assert_eq!(
        query_param(&url, "code_challenge_method").as_deref(),
        Some("S256")
    );
    assert_eq!(
        query_param(&url, "scope").as_deref(),
        Some("openid email profile")
    );

    let code = sign_in(&*p, &req, "alice").await;
    let tokens = p.exchange(&code, Some(VERIFIER), REDIRECT).await.unwrap();
    assert!(!tokens.access_token.is_empty());
    assert!(tokens.refresh_token.is_some());
    let claims = p.claims(&tokens, Some("the-nonce")).await.unwrap();
    assert_eq!(claims.sub, "alice");
    assert_eq!(claims.iss, op.issuer);
    assert_eq!(claims.email.as_deref(), Some("alice@example.test"));
    assert!(claims.email_verified);
    assert_eq!(claims.given_name.as_deref(), Some("alice"));
    assert_eq!(claims.nonce.as_deref(), Some("the-nonce"));
    assert_eq!(claims.raw_claims["aud"], CLIENT);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_nonce_or_verifier_is_refused() {
    let op = OidcProvider::start(vec![oidc::client(CLIENT, SECRET, REGISTERED)]).await;
    let p = provider("generic", &op.issuer, json!({}));
    let req = request("the-nonce", true);

    let code = sign_in(&*p, &req, "bob").await;
    let tokens = p.exchange(&code, Some(VERIFIER), REDIRECT).await.unwrap();
    match p.claims(&tokens, Some("another-nonce")).await {
        Err(ProviderError::InvalidToken(m)) => assert!(m.contains("nonce"), "{m}"),
        other => panic!("{other:?}"),
    }

    // The code was bound to the challenge: another verifier does not redeem it.
    let code = sign_in(&*p, &req, "bob").await;
    match p
        .exchange(&code, Some(&VERIFIER.replace('a', "b")), REDIRECT)
        .await
    {
        Err(ProviderError::Refused(m)) => {
            assert!(m.contains("invalid_grant"), "{m}");
            assert!(!m.contains(&code), "the code leaks: {m}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn pkce_never_sends_no_challenge_and_a_bad_secret_is_refused() {
    let op = OidcProvider::start(vec![oidc::client(CLIENT, SECRET, REGISTERED)]).await;
    let p = provider("generic", &op.issuer, json!({"pkce": "never"}));
    assert!(!p.uses_pkce().await.unwrap());

    let bad = provider("generic", &op.issuer, json!({"client_secret": "wrong"}));
    let code = sign_in(&*bad, &request("n", false), "carol").await;
    match bad.exchange(&code, None, REDIRECT).await {
        Err(ProviderError::Refused(m)) => {
            assert!(m.contains("invalid_client"), "{m}");
            assert!(!m.contains("wrong"), "the secret leaks: {m}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_registered_for_client_secret_post_is_served() {
    let mut client = oidc::client(CLIENT, SECRET, REGISTERED);
    client["token_endpoint_auth_method"] = json!("client_secret_post");
    let op = OidcProvider::start(vec![client]).await;
    let p = provider("generic", &op.issuer, json!({}));
    let code = sign_in(&*p, &request("n", false), "dave").await;
    // Basic first (the provider lists it), then the form body, as Kratos's Go client does.
    let tokens = p.exchange(&code, None, REDIRECT).await.unwrap();
    assert_eq!(p.claims(&tokens, Some("n")).await.unwrap().sub, "dave");
}

#[tokio::test(flavor = "multi_thread")]
async fn claims_source_userinfo_reads_the_user_info_endpoint() {
    let op = OidcProvider::start(vec![oidc::client(CLIENT, SECRET, REGISTERED)]).await;
    let p = provider("generic", &op.issuer, json!({"claims_source": "userinfo"}));
    let code = sign_in(&*p, &request("n", false), "erin").await;
    let tokens = p.exchange(&code, None, REDIRECT).await.unwrap();
    let claims = p.claims(&tokens, Some("n")).await.unwrap();
    assert_eq!(claims.sub, "erin");
    assert_eq!(claims.email.as_deref(), Some("erin@example.test"));
    assert_eq!(claims.iss, op.issuer, "the ID token's issuer fills in");
    // User-info answers carry no nonce or audience: these are not the ID token's claims.
    assert!(
        !claims.raw_claims.contains_key("aud"),
        "{:?}",
        claims.raw_claims
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_provider_is_unavailable_at_once() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let p = provider("generic", &format!("http://127.0.0.1:{port}"), json!({}));
    let started = std::time::Instant::now();
    match p.auth_url(&request("n", false)).await {
        Err(ProviderError::Unavailable(m)) => {
            assert!(m.contains(&format!("127.0.0.1:{port}/.well-known")), "{m}")
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        p.uses_pkce().await,
        Err(ProviderError::Unavailable(_))
    ));
    assert!(matches!(
        p.exchange("code", None, REDIRECT).await,
        Err(ProviderError::Unavailable(_))
    ));
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

#[tokio::test(flavor = "multi_thread")]
async fn native_id_tokens_are_verified_with_audience_nonce_and_expiry() {
    let op = OidcProvider::start(vec![oidc::client(CLIENT, SECRET, REGISTERED)]).await;
    let p = provider(
        "generic",
        &op.issuer,
        json!({"additional_id_token_audiences": ["com.example.ios"]}),
    );
    let mint = |claims: Value| op.mint_id_token(claims);

    // The app's own client id is an accepted audience; the nonce raw or SHA-256 hex.
    let t =
        mint(json!({"sub": "frank", "aud": "com.example.ios", "nonce": "n1", "email": "f@x.test"}))
            .await;
    let c = p.verify_id_token(&t, "n1").await.unwrap();
    assert_eq!(
        (c.sub.as_str(), c.email.as_deref()),
        ("frank", Some("f@x.test"))
    );
    let t = mint(json!({"sub": "frank", "nonce": sha256_hex("n2")})).await;
    assert_eq!(p.verify_id_token(&t, "n2").await.unwrap().sub, "frank");

    let refused = |t: String, nonce: &'static str, why: &'static str| {
        let p = p.clone();
        async move {
            match p.verify_id_token(&t, nonce).await {
                Err(ProviderError::InvalidToken(m)) => {
                    assert!(m.to_lowercase().contains(why), "{why}: {m}")
                }
                other => panic!("{why}: {other:?}"),
            }
        }
    };
    refused(mint(json!({"sub": "f", "nonce": "n"})).await, "m", "nonce").await;
    refused(mint(json!({"sub": "f", "nonce": "n"})).await, "", "nonce").await;
    refused(mint(json!({"sub": "f"})).await, "n", "no nonce").await;
    refused(
        mint(json!({"sub": "f", "nonce": "n", "aud": "com.example.android"})).await,
        "n",
        "audience",
    )
    .await;
    refused(
        mint(json!({"sub": "f", "nonce": "n", "exp": 1_000_000})).await,
        "n",
        "expired",
    )
    .await;
    refused(
        mint(json!({"sub": "f", "nonce": "n", "iss": "https://evil.example"})).await,
        "n",
        "issuer",
    )
    .await;
    refused(
        op.mint_foreign_id_token(json!({"sub": "f", "nonce": "n"}))
            .await,
        "n",
        "signature",
    )
    .await;
    refused("not.a.jwt".into(), "n", "id token").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rotated_key_is_fetched_once_per_minute_at_most() {
    let op = OidcProvider::start(vec![oidc::client(CLIENT, SECRET, REGISTERED)]).await;
    let p = provider("generic", &op.issuer, json!({}));
    let t = op.mint_id_token(json!({"sub": "g", "nonce": "n"})).await;
    p.verify_id_token(&t, "n").await.unwrap();

    // A token under a new key: the key set is fetched again and the token verifies.
    op.rotate_key().await;
    let t = op.mint_id_token(json!({"sub": "g", "nonce": "n"})).await;
    p.verify_id_token(&t, "n").await.unwrap();

    // Another new key within the minute: no second refetch, so the token is refused — a client
    // sending made-up key ids cannot make us hammer the provider.
    op.rotate_key().await;
    let t = op.mint_id_token(json!({"sub": "g", "nonce": "n"})).await;
    match p.verify_id_token(&t, "n").await {
        Err(ProviderError::InvalidToken(m)) => assert!(m.contains("key"), "{m}"),
        other => panic!("{other:?}"),
    }
    // A fresh Providers value (a reload) fetches anew.
    let p = provider("generic", &op.issuer, json!({}));
    p.verify_id_token(&t, "n").await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn google_asks_offline_access_as_access_type_and_takes_tokens_without_nonce() {
    let op = OidcProvider::start(vec![oidc::client(CLIENT, SECRET, REGISTERED)]).await;
    let p = provider(
        "google",
        &op.issuer,
        json!({"scope": ["email", "offline_access"]}),
    );
    let url = p.auth_url(&request("n", false)).await.unwrap();
    assert_eq!(query_param(&url, "scope").as_deref(), Some("openid email"));
    assert_eq!(query_param(&url, "access_type").as_deref(), Some("offline"));
    // Google's native SDKs may not send a nonce; one that is there must still match.
    let t = op
        .mint_id_token(json!({"sub": "h", "hd": "example.test"}))
        .await;
    let c = p.verify_id_token(&t, "whatever").await.unwrap();
    assert_eq!(c.hd.as_deref(), Some("example.test"));
    let t = op.mint_id_token(json!({"sub": "h", "nonce": "n"})).await;
    assert!(matches!(
        p.verify_id_token(&t, "m").await,
        Err(ProviderError::InvalidToken(_))
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn apple_asks_for_a_form_post_and_accepts_tokens_of_devices_without_nonce() {
    let op = OidcProvider::start(vec![oidc::client(CLIENT, SECRET, REGISTERED)]).await;
    let key = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgxc6ucPCNxjpwYSxT
rfz8uAxW3Uyujf88E+GT6dNPn02hRANCAASzK2fxNMNkGh8BAkLZkdqMk+hLbhZu
R9j4arrLlFmDzCtwxhBoVyBR914XjIOSVYMfJrttD1ha3paNJg2vHwl8
-----END PRIVATE KEY-----
";
    let p = provider(
        "apple",
        &op.issuer,
        json!({"scope": ["email"], "apple_team_id": "TEAM", "apple_private_key_id": "KID",
               "apple_private_key": key}),
    );
    assert!(p.form_post());
    let url = p.auth_url(&request("n", false)).await.unwrap();
    assert_eq!(
        query_param(&url, "response_mode").as_deref(),
        Some("form_post")
    );
    match UserAgent::new().authorize(&url, "ivy").await {
        Callback::FormPost { action, fields } => {
            assert!(action.starts_with(REDIRECT), "{action}");
            assert!(fields.iter().any(|(k, _)| k == "code"), "{fields:?}");
        }
        Callback::Redirect(u) => panic!("not a form post: {u}"),
    }
    let t = op
        .mint_id_token(json!({"sub": "ivy", "nonce_supported": false}))
        .await;
    assert_eq!(p.verify_id_token(&t, "n").await.unwrap().sub, "ivy");
    let t = op
        .mint_id_token(json!({"sub": "ivy", "nonce_supported": true}))
        .await;
    assert!(matches!(
        p.verify_id_token(&t, "n").await,
        Err(ProviderError::InvalidToken(_))
    ));
}

#[test]
fn a_provider_gatehouse_cannot_build_stops_the_start_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let port = crate::common::process::free_port();
    let cases = [
        (
            "provider: yandex",
            "provider kind yandex is not supported by Gatehouse yet",
        ),
        ("provider: microsoft", "microsoft_tenant is required"),
    ];
    for (kind, needle) in cases {
        let f = dir.path().join("oidc.yml");
        std::fs::write(
            &f,
            format!(
                "ciphers:\n  algorithm: noop\nselfservice:\n  methods:\n    oidc:\n      enabled: true\n      config:\n        providers:\n          - id: the-idp\n            {kind}\n            client_id: c\n            mapper_url: file:///dev/null\n"
            ),
        )
        .unwrap();
        let o = std::process::Command::new(crate::common::binary())
            .current_dir(dir.path())
            .args(["serve", "-c", f.to_str().unwrap()])
            .env("SERVE_PUBLIC_PORT", port.to_string())
            .env("DSN", "memory")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{kind} should fail");
        assert!(
            err.contains(needle) && err.contains("\"the-idp\""),
            "{kind}: {err}"
        );
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
            "nothing may listen"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_oversized_answer_is_not_read_past_one_mib() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // A "provider" whose discovery document never ends: 2 MiB without a Content-Length.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = sock.read(&mut buf).await;
            let head =
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n";
            if sock.write_all(head.as_bytes()).await.is_err() {
                continue;
            }
            let chunk = vec![b' '; 64 * 1024];
            for _ in 0..32 {
                if sock.write_all(&chunk).await.is_err() {
                    break;
                }
            }
        }
    });
    let p = provider("generic", &format!("http://{addr}"), json!({}));
    match p.auth_url(&request("n", false)).await {
        Err(ProviderError::Unavailable(m)) => assert!(m.contains("larger than"), "{m}"),
        other => panic!("{other:?}"),
    }
    server.abort();
}
