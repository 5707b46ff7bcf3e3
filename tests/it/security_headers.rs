//! Browser hardening headers (`serve.public.security_headers`, issue 19) on the public
//! listener's pages, flow JSON, redirects and errors; `nosniff` only on the admin listener.

use crate::common::flow::{browser, no_redirects};
use crate::common::{Setup, TestApp};

const HARDENING: [&str; 4] = [
    "x-content-type-options",
    "referrer-policy",
    "content-security-policy",
    "x-frame-options",
];

/// One response of each kind the public listener gives: a page, a flow's JSON, a redirect and
/// an error; each with its headers.
async fn samples(app: &TestApp) -> Vec<(&'static str, reqwest::header::HeaderMap)> {
    let page = browser()
        .get(app.public_url("/self-service/login/browser"))
        .send()
        .await
        .unwrap();
    assert!(page.url().path().starts_with("/ui/login"), "{}", page.url());
    assert_eq!(page.status(), 200);
    let flow = app
        .http
        .get(app.public_url("/self-service/login/api"))
        .send()
        .await
        .unwrap();
    assert_eq!(flow.status(), 200);
    let redirect = no_redirects(false)
        .get(app.public_url("/self-service/login/browser"))
        .send()
        .await
        .unwrap();
    assert!(redirect.status().is_redirection(), "{}", redirect.status());
    let error = app
        .http
        .get(app.public_url("/self-service/login/flows?id=nope"))
        .send()
        .await
        .unwrap();
    assert!(error.status().is_client_error(), "{}", error.status());
    vec![
        ("page", page.headers().clone()),
        ("flow", flow.headers().clone()),
        ("redirect", redirect.headers().clone()),
        ("error", error.headers().clone()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_public_answer_is_hardened_by_default() {
    let app = TestApp::start().await;
    for (what, h) in samples(&app).await {
        assert_eq!(h["x-content-type-options"], "nosniff", "{what}");
        assert_eq!(h["referrer-policy"], "same-origin", "{what}");
        assert_eq!(
            h["content-security-policy"], "frame-ancestors 'none'",
            "{what}"
        );
        assert_eq!(h["x-frame-options"], "DENY", "{what}");
        // The test server's base URL is http: no HSTS.
        assert!(!h.contains_key("strict-transport-security"), "{what}");
    }
    // The admin listener serves no pages: nosniff only.
    let r = app
        .http
        .get(app.admin_url("/admin/identities"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    for name in &HARDENING[1..] {
        assert!(!r.headers().contains_key(*name), "admin sent {name}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hsts_only_with_an_https_base_url() {
    let app = TestApp::start_with(Setup {
        yaml: "serve:\n  public:\n    base_url: https://id.example.test/\n".into(),
        ..Setup::default()
    })
    .await;
    let r = app
        .http
        .get(app.public_url("/self-service/login/api"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["strict-transport-security"],
        "max-age=31536000; includeSubDomains"
    );
    let r = app
        .http
        .get(app.admin_url("/admin/health/alive"))
        .send()
        .await
        .unwrap();
    assert!(!r.headers().contains_key("strict-transport-security"));
    app.stop().await;

    let app = TestApp::start_with(Setup {
        yaml: "serve:\n  public:\n    base_url: https://id.example.test/\n    security_headers:\n      hsts_max_age: 1h\n      hsts_include_subdomains: false\n      frame_ancestors: \"'self'\"\n".into(),
        ..Setup::default()
    })
    .await;
    let r = app
        .http
        .get(app.public_url("/self-service/login/api"))
        .send()
        .await
        .unwrap();
    let h = r.headers();
    assert_eq!(h["strict-transport-security"], "max-age=3600");
    assert_eq!(h["content-security-policy"], "frame-ancestors 'self'");
    assert_eq!(h["x-frame-options"], "SAMEORIGIN");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_or_empty_headers_are_not_sent() {
    let off = "serve:\n  public:\n    security_headers:\n      enabled: false\n";
    let app = TestApp::start_with(Setup {
        yaml: off.into(),
        ..Setup::default()
    })
    .await;
    for (what, h) in samples(&app).await {
        for name in HARDENING.iter().chain(&["strict-transport-security"]) {
            assert!(!h.contains_key(*name), "{what} sent {name}");
        }
    }
    let r = app
        .http
        .get(app.admin_url("/admin/identities"))
        .send()
        .await
        .unwrap();
    assert!(!r.headers().contains_key("x-content-type-options"));
    app.stop().await;
    // Not even HSTS behind an https base URL.
    let app = TestApp::start_with(Setup {
        yaml: format!("{off}    base_url: https://id.example.test/\n"),
        ..Setup::default()
    })
    .await;
    let r = app
        .http
        .get(app.public_url("/self-service/login/api"))
        .send()
        .await
        .unwrap();
    assert!(!r.headers().contains_key("strict-transport-security"));
    app.stop().await;

    let app = TestApp::start_with(Setup {
        yaml: "serve:\n  public:\n    base_url: https://id.example.test/\n    security_headers:\n      referrer_policy: \"\"\n      frame_ancestors: \"\"\n      hsts_max_age: 0s\n".into(),
        ..Setup::default()
    })
    .await;
    let r = app
        .http
        .get(app.public_url("/self-service/login/api"))
        .send()
        .await
        .unwrap();
    let h = r.headers();
    assert_eq!(h["x-content-type-options"], "nosniff");
    for name in [
        "referrer-policy",
        "content-security-policy",
        "x-frame-options",
        "strict-transport-security",
    ] {
        assert!(!h.contains_key(name), "sent {name}");
    }
    app.stop().await;
}
