//! The OpenID Connect test harness itself, with no Gatehouse in the loop: the provider starts,
//! a browser signs in through its forms, the code exchanges by hand for tokens whose ID token
//! carries the claims the other OIDC tests rely on, and the test-only endpoints mint ID tokens
//! and rotate keys. If these fail, the OIDC flow tests cannot mean anything.

use base64::Engine;
use serde_json::{Value, json};
use sha2::Digest;

use crate::common::github::{self, StandIn};
use crate::common::oidc::{self, OidcProvider, UserAgent, jwt_claims, query_param};

const REDIRECT: &str = "http://127.0.0.1/callback";

async fn discovery(p: &OidcProvider) -> Value {
    reqwest::get(p.url("/.well-known/openid-configuration"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn jwks_kids(p: &OidcProvider) -> Vec<String> {
    let jwks: Value = reqwest::get(p.url("/jwks"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

fn kid(token: &str) -> String {
    let header = token.split('.').next().unwrap();
    let header: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .unwrap(),
    )
    .unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

fn auth_url(endpoint: &str, extra: &[(&str, &str)]) -> String {
    let mut url = url::Url::parse(endpoint).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", "gatehouse")
        .append_pair("response_type", "code")
        .append_pair("scope", "openid email profile")
        .append_pair("state", "the-state")
        .append_pair("nonce", "the-nonce")
        .extend_pairs(extra);
    url.to_string()
}

/// Exchanges `code` at the token endpoint with client_secret_basic; the JSON answer.
async fn exchange(
    token_endpoint: &str,
    code: &str,
    redirect_uri: &str,
    verifier: Option<&str>,
) -> Value {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
    ];
    form.extend(verifier.map(|v| ("code_verifier", v)));
    let r = reqwest::Client::new()
        .post(token_endpoint)
        .basic_auth("gatehouse", Some("s3cret"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn sign_in_and_exchange_by_hand_yield_an_id_token_with_the_accounts_claims() {
    let p = OidcProvider::start(vec![oidc::client("gatehouse", "s3cret", REDIRECT)]).await;
    let d = discovery(&p).await;
    assert_eq!(d["issuer"], p.issuer);
    assert_eq!(d["code_challenge_methods_supported"], json!(["S256"]));
    let endpoint = d["authorization_endpoint"].as_str().unwrap();
    let token_endpoint = d["token_endpoint"].as_str().unwrap();

    // The relying party's port is only known late: a loopback redirect URI matches any port.
    let redirect_uri = "http://127.0.0.1:4455/callback";
    let verifier = "a-pkce-verifier-long-enough-for-the-rfc-7636-minimum-length";
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    let url = auth_url(
        endpoint,
        &[
            ("redirect_uri", redirect_uri),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    );
    let callback = UserAgent::new().sign_in(&url, "alice").await;
    assert!(callback.starts_with(redirect_uri), "{callback}");
    assert_eq!(
        query_param(&callback, "state").as_deref(),
        Some("the-state")
    );
    assert_eq!(query_param(&callback, "iss").as_deref(), Some(&*p.issuer));
    let code = query_param(&callback, "code").expect("code");

    let tokens = exchange(token_endpoint, &code, redirect_uri, Some(verifier)).await;
    assert!(tokens["access_token"].is_string());
    assert!(tokens["refresh_token"].is_string(), "{tokens}");
    let id_token = tokens["id_token"].as_str().unwrap();
    let claims = jwt_claims(id_token);
    assert_eq!(claims["iss"], p.issuer);
    assert_eq!(claims["aud"], "gatehouse");
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["nonce"], "the-nonce");
    assert_eq!(claims["email"], "alice@example.test");
    assert_eq!(claims["email_verified"], true);
    assert_eq!(claims["name"], "alice Tester");
    assert_eq!(claims["given_name"], "alice");
    assert_eq!(claims["family_name"], "Tester");
    assert!(jwks_kids(&p).await.contains(&kid(id_token)));

    // A code is good once.
    let again = reqwest::Client::new()
        .post(token_endpoint)
        .basic_auth("gatehouse", Some("s3cret"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 400);
    assert!(p.log().contains("oidc-provider"), "{}", p.log());
}

#[tokio::test(flavor = "multi_thread")]
async fn logins_choose_their_claims_and_form_post_comes_back_as_a_form() {
    let p = OidcProvider::start(vec![oidc::client("gatehouse", "s3cret", REDIRECT)]).await;
    let d = discovery(&p).await;
    let endpoint = d["authorization_endpoint"].as_str().unwrap();
    let token_endpoint = d["token_endpoint"].as_str().unwrap();
    let url = auth_url(endpoint, &[("redirect_uri", REDIRECT)]);

    let signed_in = async |login: &str| {
        let callback = UserAgent::new().sign_in(&url, login).await;
        let code = query_param(&callback, "code").unwrap();
        let tokens = exchange(token_endpoint, &code, REDIRECT, None).await;
        jwt_claims(tokens["id_token"].as_str().unwrap())
    };

    let c = signed_in("bob+noemail").await;
    assert_eq!(c["sub"], "bob+noemail");
    assert!(c.get("email").is_none(), "{c}");
    let c = signed_in("carol+unverified").await;
    assert_eq!(c["email"], "carol@example.test");
    assert_eq!(c["email_verified"], false);
    let c = signed_in("dave@corp.test").await;
    assert_eq!(c["email"], "dave@corp.test");

    p.set_claims(
        "erin",
        json!({"email": "erin@elsewhere.test", "name": null}),
    )
    .await;
    let c = signed_in("erin").await;
    assert_eq!(c["email"], "erin@elsewhere.test");
    assert!(c.get("name").is_none(), "{c}");
    assert_eq!(c["given_name"], "erin");

    let url = auth_url(
        endpoint,
        &[("redirect_uri", REDIRECT), ("response_mode", "form_post")],
    );
    let (action, fields) = UserAgent::new().sign_in_form_post(&url, "frank").await;
    assert_eq!(action, REDIRECT);
    let field = |n: &str| fields.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    assert_eq!(field("state").as_deref(), Some("the-state"));
    let tokens = exchange(token_endpoint, &field("code").unwrap(), REDIRECT, None).await;
    assert_eq!(
        jwt_claims(tokens["id_token"].as_str().unwrap())["sub"],
        "frank"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn minted_id_tokens_carry_chosen_claims_and_rotated_keys_are_published() {
    let p = OidcProvider::start(vec![oidc::client("gatehouse", "s3cret", REDIRECT)]).await;
    let first = jwks_kids(&p).await;
    assert_eq!(first.len(), 1);

    let t = p
        .mint_id_token(json!({"sub": "native", "nonce": "n", "exp": 1_000_000}))
        .await;
    let c = jwt_claims(&t);
    assert_eq!(c["iss"], p.issuer);
    assert_eq!(c["aud"], "gatehouse");
    assert_eq!(c["sub"], "native");
    assert_eq!(c["nonce"], "n");
    assert_eq!(c["exp"], 1_000_000);
    assert_eq!(kid(&t), first[0]);

    let foreign = p.mint_foreign_id_token(json!({"sub": "native"})).await;
    assert!(!jwks_kids(&p).await.contains(&kid(&foreign)));

    let rotated = p.rotate_key().await;
    let t = p.mint_id_token(json!({"sub": "native"})).await;
    assert_eq!(kid(&t), rotated);
    let kids = jwks_kids(&p).await;
    assert!(
        kids.contains(&rotated) && kids.contains(&first[0]),
        "{kids:?}"
    );

    // Gone with its handle.
    let jwks = p.url("/jwks");
    drop(p);
    assert!(reqwest::get(jwks).await.is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_oauth2_stand_in_answers_as_github_discord_and_facebook_do() {
    let mut gh = StandIn::start("gh-client", "gh-secret").await;
    let base = gh.base_url();
    let http = reqwest::Client::new();
    let authorize = |path: &str, scope: &str| {
        let mut u = url::Url::parse(&format!("{base}{path}")).unwrap();
        u.query_pairs_mut()
            .append_pair("client_id", "gh-client")
            .append_pair("redirect_uri", "http://127.0.0.1:4455/callback")
            .append_pair("scope", scope)
            .append_pair("state", "st");
        u.to_string()
    };
    let code_for = async |url: String| {
        let back = UserAgent::new().sign_in(&url, "").await;
        assert!(back.starts_with("http://127.0.0.1:4455/callback"), "{back}");
        assert_eq!(query_param(&back, "state").as_deref(), Some("st"));
        query_param(&back, "code").unwrap()
    };
    let token_at = async |path: &str, code: &str, secret: &str| -> Value {
        http.post(format!("{base}{path}"))
            .header("accept", "application/json")
            .form(&[
                ("client_id", "gh-client"),
                ("client_secret", secret),
                ("code", code),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    };

    // GitHub: errors come with 200; scopes comma-separated; user and emails need the token.
    let code = code_for(authorize("/login/oauth/authorize", "user user:email")).await;
    let wrong = token_at("/login/oauth/access_token", &code, "nope").await;
    assert_eq!(wrong["error"], "incorrect_client_credentials");
    assert!(gh.requests().iter().any(|r| r.method == "POST"
        && r.path == "/login/oauth/access_token"
        && r.body.contains("client_secret=nope")));
    let t = token_at("/login/oauth/access_token", &code, "gh-secret").await;
    assert_eq!(t["scope"], "user,user:email");
    let again = token_at("/login/oauth/access_token", &code, "gh-secret").await;
    assert_eq!(again["error"], "bad_verification_code");
    let token = t["access_token"].as_str().unwrap();
    let get = async |path: &str, auth: &str| {
        let r = http
            .get(format!("{base}{path}"))
            .header("authorization", auth)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json::<Value>().await.unwrap())
    };
    let (status, user) = get("/user", &format!("Bearer {token}")).await;
    assert_eq!((status, &user["id"]), (200, &json!(4242)));
    gh.set_emails(json!([{"email": "o@example.test", "primary": true, "verified": false}]));
    let (_, emails) = get("/api/v3/user/emails", &format!("token {token}")).await;
    assert_eq!(emails[0]["verified"], false);
    assert_eq!(get("/user", "Bearer forged").await.0, 401);
    assert!(
        gh.requests()
            .iter()
            .any(|r| r.path == "/user" && r.header("authorization") == Some("Bearer forged"))
    );

    // Discord: RFC 6749 errors, space-separated scopes.
    gh.set_user(json!({"id": "80351110224678912", "username": "nelly", "email": "n@example.test", "verified": true}));
    let code = code_for(authorize("/api/oauth2/authorize", "identify email")).await;
    let r = http
        .post(format!("{base}/api/oauth2/token"))
        .basic_auth("gh-client", Some("nope"))
        .form(&[("code", &code)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    gh.set_granted_scope("identify");
    let t = token_at("/api/oauth2/token", &code, "gh-secret").await;
    assert_eq!(t["scope"], "identify");
    let bearer = format!("Bearer {}", t["access_token"].as_str().unwrap());
    assert_eq!(get("/api/users/@me", &bearer).await.1["username"], "nelly");

    // Facebook: the Graph API wants the appsecret_proof.
    let code = code_for(authorize("/dialog/oauth", "email")).await;
    let t = token_at("/oauth/access_token", &code, "gh-secret").await;
    let token = t["access_token"].as_str().unwrap();
    let bearer = format!("Bearer {token}");
    assert_eq!(get("/me?fields=id", &bearer).await.0, 400);
    let proof = github::appsecret_proof("gh-secret", token);
    let me = format!("/me?fields=id&appsecret_proof={proof}");
    assert_eq!(get(&me, &bearer).await.0, 200);

    gh.down().await;
    assert!(http.get(format!("{base}/user")).send().await.is_err());
}
