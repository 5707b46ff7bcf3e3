//! The OAuth2-only presets (GitHub, Discord, Facebook) against the local stand-in of their
//! OAuth and user APIs, pointed there by the endpoint overrides: the authorization URL, the code
//! exchange and the claims, and how refusals, an unreachable provider and oversized answers
//! come back.

use gatehouse::config::OidcProvider as ProviderConfig;
use gatehouse::selfservice::strategy::oidc::provider::discord::Discord;
use gatehouse::selfservice::strategy::oidc::provider::facebook::Facebook;
use gatehouse::selfservice::strategy::oidc::provider::github::GitHub;
use gatehouse::selfservice::strategy::oidc::provider::{
    AuthRequest, Provider, ProviderError, http,
};
use serde_json::{Value, json};

use crate::common::github::{self, StandIn};
use crate::common::oidc::{UserAgent, query_param};

const REDIRECT: &str = "http://127.0.0.1:4455/self-service/methods/oidc/callback/p";
const SECRET: &str = "the-client-secret";

fn config(kind: &str, overrides: Value) -> ProviderConfig {
    let mut cfg = json!({
        "id": "p",
        "provider": kind,
        "client_id": "the-client",
        "client_secret": SECRET,
        "mapper_url": "file:///dev/null",
    });
    cfg.as_object_mut()
        .unwrap()
        .extend(overrides.as_object().unwrap().clone());
    serde_json::from_value(cfg).unwrap()
}

fn github_at(s: &StandIn, api: &str) -> GitHub {
    let base = s.base_url();
    let cfg = config(
        "github",
        json!({
            "auth_url": format!("{base}/login/oauth/authorize"),
            "token_url": format!("{base}/login/oauth/access_token"),
            "issuer_url": format!("{base}{api}"),
        }),
    );
    GitHub::new(cfg, http::client(&Default::default()).unwrap()).unwrap()
}

fn request() -> AuthRequest {
    AuthRequest {
        redirect_uri: REDIRECT.into(),
        state: "the-state".into(),
        ..AuthRequest::default()
    }
}

/// The browser's trip: the authorization URL to the stand-in and straight back; the code.
async fn code(p: &dyn Provider) -> String {
    let url = p.auth_url(&request()).await.unwrap();
    let back = UserAgent::new().sign_in(&url, "").await;
    assert!(back.starts_with(REDIRECT), "{back}");
    assert_eq!(query_param(&back, "state").as_deref(), Some("the-state"));
    query_param(&back, "code").unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn github_signs_in_with_the_numeric_id_and_the_primary_verified_email() {
    let s = StandIn::start("the-client", SECRET).await;
    s.set_emails(json!([
        {"email": "other@example.test", "primary": false, "verified": true},
        {"email": "octocat@example.test", "primary": true, "verified": true},
    ]));
    let gh = github_at(&s, "");
    assert!(!gh.issues_id_tokens());
    assert!(!gh.uses_pkce().await.unwrap());

    let url = gh.auth_url(&request()).await.unwrap();
    assert_eq!(
        query_param(&url, "client_id").as_deref(),
        Some("the-client")
    );
    assert_eq!(
        query_param(&url, "scope").as_deref(),
        Some("user user:email")
    );
    assert_eq!(query_param(&url, "redirect_uri").as_deref(), Some(REDIRECT));
    assert_eq!(query_param(&url, "code_challenge"), None);

    let tokens = gh.exchange(&code(&gh).await, None, REDIRECT).await.unwrap();
    assert!(tokens.id_token.is_none());
    let c = gh.claims(&tokens, None).await.unwrap();
    assert_eq!(c.sub, "4242");
    assert_eq!(c.iss, format!("{}/login/oauth/access_token", s.base_url()));
    assert_eq!(c.nickname.as_deref(), Some("octocat"));
    assert_eq!(c.name.as_deref(), Some("The Octocat"));
    assert_eq!(
        c.picture.as_deref(),
        Some("https://avatars.example.test/u/4242")
    );
    assert_eq!(c.website.as_deref(), Some("https://octocat.example.test"));
    assert_eq!(c.email.as_deref(), Some("octocat@example.test"));
    assert!(c.email_verified);
    assert_eq!(c.raw_claims["login"], "octocat");

    // The exchange asked for JSON; the API calls carried the token and a User-Agent (GitHub
    // refuses requests without one).
    let seen = s.requests();
    let exchange = seen.iter().find(|r| r.method == "POST").unwrap();
    assert_eq!(exchange.header("accept"), Some("application/json"));
    let user = seen.iter().find(|r| r.path == "/user").unwrap();
    assert_eq!(user.header("user-agent"), Some("gatehouse"));

    let native = gh.verify_id_token("a.b.c", "nonce").await;
    assert!(
        matches!(native, Err(ProviderError::Unsupported(_))),
        "{native:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn github_unverified_primary_email_comes_as_unverified_and_scopes_must_be_granted() {
    let s = StandIn::start("the-client", SECRET).await;
    // GitHub Enterprise Server: the API under /api/v3.
    let gh = github_at(&s, "/api/v3");
    s.set_emails(json!([
        {"email": "new@example.test", "primary": true, "verified": false},
        {"email": "old@example.test", "primary": false, "verified": false},
    ]));
    let tokens = gh.exchange(&code(&gh).await, None, REDIRECT).await.unwrap();
    let c = gh.claims(&tokens, None).await.unwrap();
    assert_eq!(c.email.as_deref(), Some("new@example.test"));
    assert!(!c.email_verified);
    assert!(s.requests().iter().any(|r| r.path == "/api/v3/user/emails"));

    // No primary address: no email at all.
    s.set_emails(json!([{"email": "x@example.test", "primary": false, "verified": true}]));
    let c = gh.claims(&tokens, None).await.unwrap();
    assert_eq!(c.email, None);
    assert!(!c.email_verified);

    // A token without the configured scopes is not enough (Kratos's "scope missing").
    s.set_granted_scope("read:user");
    let tokens = gh.exchange(&code(&gh).await, None, REDIRECT).await.unwrap();
    let err = gh.claims(&tokens, None).await.unwrap_err();
    assert!(matches!(err, ProviderError::Claims(_)), "{err:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn refusals_and_an_unreachable_provider_are_told_apart_without_leaking_tokens() {
    let mut s = StandIn::start("the-client", "another-secret").await;
    let gh = github_at(&s, "");

    // GitHub refuses with 200 and an `error` field.
    let err = gh
        .exchange(&code(&gh).await, None, REDIRECT)
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Refused(_)), "{err:?}");
    assert!(
        err.to_string().contains("incorrect_client_credentials"),
        "{err}"
    );
    assert!(!format!("{err:?}").contains(SECRET));

    let s2 = StandIn::start("the-client", SECRET).await;
    let gh2 = github_at(&s2, "");
    let err = gh2
        .exchange("not-a-code", None, REDIRECT)
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Refused(_)), "{err:?}");
    let tokens = gh2
        .exchange(&code(&gh2).await, None, REDIRECT)
        .await
        .unwrap();

    // An answer past 1 MiB is not read to the end.
    s2.set_user(json!({"id": 1, "bio": "x".repeat(1 << 21)}));
    let err = gh2.claims(&tokens, None).await.unwrap_err();
    assert!(matches!(err, ProviderError::Unavailable(_)), "{err:?}");

    // A forged token is refused by the API.
    let mut forged = tokens.clone();
    forged.access_token = "forged".into();
    let err = gh2.claims(&forged, None).await.unwrap_err();
    assert!(matches!(err, ProviderError::Refused(_)), "{err:?}");

    // Down: unavailable, and neither the token nor the secret shows in the error.
    s.down().await;
    let err = gh.exchange("some-code", None, REDIRECT).await.unwrap_err();
    assert!(matches!(err, ProviderError::Unavailable(_)), "{err:?}");
    drop(s2);
    let err = gh2.claims(&tokens, None).await.unwrap_err();
    assert!(matches!(err, ProviderError::Unavailable(_)), "{err:?}");
    let shown = format!("{err} {err:?}");
    assert!(
        !shown.contains(&tokens.access_token) && !shown.contains(SECRET),
        "{shown}"
    );

    let bad = config("github", json!({"auth_url": "not a url"}));
    assert!(matches!(
        GitHub::new(bad, http::client(&Default::default()).unwrap()),
        Err(ProviderError::Config(_))
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn discord_and_facebook_read_their_user_apis() {
    let s = StandIn::start("the-client", SECRET).await;
    let base = s.base_url();

    let discord = Discord::new(
        config(
            "discord",
            json!({
                "auth_url": format!("{base}/api/oauth2/authorize"),
                "token_url": format!("{base}/api/oauth2/token"),
                "issuer_url": format!("{base}/api"),
                "pkce": "force",
            }),
        ),
        http::client(&Default::default()).unwrap(),
    )
    .unwrap();
    assert!(discord.uses_pkce().await.unwrap());
    let mut req = request();
    req.pkce_challenge = Some("challenge".into());
    let url = discord.auth_url(&req).await.unwrap();
    assert_eq!(query_param(&url, "prompt").as_deref(), Some("none"));
    assert_eq!(
        query_param(&url, "scope").as_deref(),
        Some("identify email")
    );
    assert_eq!(
        query_param(&url, "code_challenge_method").as_deref(),
        Some("S256")
    );
    req.upstream = vec![("prompt".into(), "consent".into())];
    let url = discord.auth_url(&req).await.unwrap();
    assert_eq!(query_param(&url, "prompt").as_deref(), Some("consent"));

    s.set_user(json!({
        "id": "80351110224678912", "username": "nelly", "discriminator": "1337",
        "avatar": "8342729096ea3675442027381ff50dfe", "email": "nelly@example.test",
        "verified": true, "locale": "en-US",
    }));
    let tokens = discord
        .exchange(&code(&discord).await, Some("verifier"), REDIRECT)
        .await
        .unwrap();
    let c = discord.claims(&tokens, None).await.unwrap();
    assert_eq!(c.sub, "80351110224678912");
    assert_eq!(c.name.as_deref(), Some("nelly#1337"));
    assert_eq!(c.preferred_username.as_deref(), Some("nelly"));
    assert_eq!(c.email.as_deref(), Some("nelly@example.test"));
    assert!(c.email_verified);
    assert_eq!(c.locale.as_deref(), Some("en-US"));
    assert_eq!(
        c.picture.as_deref(),
        Some(
            "https://cdn.discordapp.com/avatars/80351110224678912/8342729096ea3675442027381ff50dfe.png"
        )
    );
    let token_request = s
        .requests()
        .into_iter()
        .find(|r| r.method == "POST")
        .unwrap();
    assert!(
        token_request.body.contains("code_verifier=verifier"),
        "{}",
        token_request.body
    );

    let facebook = Facebook::new(
        config(
            "facebook",
            json!({
                "auth_url": format!("{base}/dialog/oauth"),
                "token_url": format!("{base}/oauth/access_token"),
                "issuer_url": base,
            }),
        ),
        http::client(&Default::default()).unwrap(),
    )
    .unwrap();
    s.set_user(json!({
        "id": "10158", "name": "Fay Book", "first_name": "Fay", "last_name": "Book",
        "email": "fay@example.test", "picture": {"data": {"url": "https://pics.example.test/fay"}},
    }));
    let tokens = facebook
        .exchange(&code(&facebook).await, None, REDIRECT)
        .await
        .unwrap();
    let c = facebook.claims(&tokens, None).await.unwrap();
    assert_eq!(c.sub, "10158");
    assert_eq!(c.given_name.as_deref(), Some("Fay"));
    assert_eq!(c.family_name.as_deref(), Some("Book"));
    assert_eq!(c.email.as_deref(), Some("fay@example.test"));
    assert!(c.email_verified);
    assert_eq!(c.picture.as_deref(), Some("https://pics.example.test/fay"));
    let proof = github::appsecret_proof(SECRET, &tokens.access_token);
    assert!(
        s.requests()
            .iter()
            .any(|r| r.path.starts_with("/me?") && r.path.contains(&proof))
    );
    let no_secret = config("facebook", json!({"client_secret": null}));
    assert!(matches!(
        Facebook::new(no_secret, http::client(&Default::default()).unwrap()),
        Err(ProviderError::Config(_))
    ));
}
