//! Sessions end to end: whoami by every credential, the caller's own sessions, the admin session
//! API, logout. Sessions are issued through the domain (`session::service::issue`), as a login
//! flow would; everything else goes over HTTP, and the official SDK checks the shapes.

use std::time::Duration;

use gatehouse::identity::CredentialType;
use gatehouse::session::{DeviceInfo, cookie, service};
use ory_kratos_client::apis::{frontend_api, identity_api};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::{Setup, TestApp, expect_error};

struct Issued {
    id: String,
    token: String,
    logout_token: String,
}

fn deps(app: &TestApp) -> std::sync::Arc<gatehouse::deps::Deps> {
    app.running.as_ref().unwrap().handles().deps().clone()
}

async fn identity(app: &TestApp, email: &str) -> String {
    let v = app
        .create_identity(json!({"schema_id": "customer", "traits": {"email": email}}))
        .await;
    v["id"].as_str().unwrap().to_owned()
}

async fn issue(app: &TestApp, identity_id: &str) -> Issued {
    let d = deps(app);
    let ident = gatehouse::identity::service::get(&d, Uuid::parse_str(identity_id).unwrap(), false)
        .await
        .unwrap();
    let device = DeviceInfo {
        ip_address: Some("203.0.113.9".into()),
        user_agent: Some("gatehouse-tests/1".into()),
        location: Some("Berlin, DE".into()),
    };
    let s = service::issue(&d, &ident, CredentialType::Password, device)
        .await
        .unwrap();
    Issued {
        id: s.session.id.to_string(),
        token: s.token,
        logout_token: s.logout_token,
    }
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn cookie_header(app: &TestApp, token: &str) -> String {
    let d = deps(app);
    let value = cookie::encode(
        &d.cookie_secrets,
        token,
        chrono::Utc::now() + chrono::Duration::hours(1),
    )
    .unwrap();
    format!("ory_kratos_session={value}")
}

async fn whoami_status(app: &TestApp, token: &str) -> u16 {
    app.http
        .get(app.public_url("/sessions/whoami"))
        .header("X-Session-Token", token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn public_sdk(app: &TestApp) -> ory_kratos_client::apis::configuration::Configuration {
    let mut c = ory_kratos_client::apis::configuration::Configuration::new();
    c.base_path = app.public.clone();
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whoami_by_header_bearer_and_cookie() {
    let app = TestApp::start().await;
    let iid = identity(&app, "who@example.com").await;
    let s = issue(&app, &iid).await;
    assert!(s.token.starts_with("ory_st_") && s.token.len() == 39);
    assert!(s.logout_token.starts_with("ory_lo_") && s.logout_token.len() == 39);

    let r = app
        .http
        .get(app.public_url("/sessions/whoami"))
        .header("X-Session-Token", &s.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["x-kratos-authenticated-identity-id"],
        iid.as_str()
    );
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["id"], s.id.as_str());
    assert_eq!(v["active"], true);
    assert_eq!(v["authenticator_assurance_level"], "aal1");
    assert_eq!(v["authentication_methods"][0]["method"], "password");
    assert_eq!(v["authentication_methods"][0]["aal"], "aal1");
    assert!(v["authentication_methods"][0]["completed_at"].is_string());
    for k in ["expires_at", "authenticated_at", "issued_at"] {
        assert!(v[k].is_string(), "{k} in {v}");
    }
    assert_eq!(v["identity"]["id"], iid.as_str());
    assert!(
        v["identity"].get("credentials").is_none(),
        "whoami must not show credentials: {v}"
    );
    assert_eq!(v["devices"][0]["ip_address"], "203.0.113.9");
    assert_eq!(v["devices"][0]["user_agent"], "gatehouse-tests/1");
    assert_eq!(v["devices"][0]["location"], "Berlin, DE");
    assert!(v.get("tokenized").is_none());

    // The SDK validates the shape.
    let sdk = frontend_api::to_session(&public_sdk(&app), Some(&s.token), None, None)
        .await
        .unwrap();
    assert_eq!(sdk.id, s.id);
    assert_eq!(sdk.identity.unwrap().id, iid);

    let r = app
        .http
        .get(app.public_url("/sessions/whoami"))
        .bearer_auth(&s.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = app
        .http
        .get(app.public_url("/sessions/whoami"))
        .header("Cookie", cookie_header(&app, &s.token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let sdk = frontend_api::to_session(
        &public_sdk(&app),
        None,
        Some(&cookie_header(&app, &s.token)),
        None,
    )
    .await
    .unwrap();
    assert_eq!(sdk.id, s.id);

    for m in [
        reqwest::Method::HEAD,
        reqwest::Method::POST,
        reqwest::Method::PUT,
        reqwest::Method::PATCH,
    ] {
        let r = app
            .http
            .request(m.clone(), app.public_url("/sessions/whoami"))
            .header("X-Session-Token", &s.token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{m}");
    }

    // 401: herodot's envelope without an id.
    let expected = json!({"error":{"code":401,"status":"Unauthorized","reason":"No valid session credentials found in the request.","message":"The request could not be authorized"}});
    for req in [
        app.http.get(app.public_url("/sessions/whoami")),
        app.http
            .get(app.public_url("/sessions/whoami"))
            .header("X-Session-Token", "ory_st_nope"),
        app.http
            .get(app.public_url("/sessions/whoami"))
            .bearer_auth("ory_st_nope"),
        app.http
            .get(app.public_url("/sessions/whoami"))
            .header("Cookie", "ory_kratos_session=tampered"),
    ] {
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 401);
        assert_eq!(r.json::<Value>().await.unwrap(), expected);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_disabled_and_inactive_identity_sessions_are_rejected() {
    let app = TestApp::start().await;
    let iid = identity(&app, "rej@example.com").await;
    let a = issue(&app, &iid).await;
    let b = issue(&app, &iid).await;
    assert_eq!(whoami_status(&app, &a.token).await, 200);
    // Admin disable.
    let r = app
        .http
        .delete(app.admin_url(&format!("/admin/sessions/{}", a.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(whoami_status(&app, &a.token).await, 401);
    let v: Value = app
        .http
        .get(app.admin_url(&format!("/admin/sessions/{}", a.id)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["active"], false);
    // The identity is deactivated: its remaining session stops working.
    assert_eq!(whoami_status(&app, &b.token).await, 200);
    let r = app
        .http
        .patch(app.admin_url(&format!("/admin/identities/{iid}")))
        .json(&json!([{"op": "replace", "path": "/state", "value": "inactive"}]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(whoami_status(&app, &b.token).await, 401);
    // And it cannot get a new one.
    let d = deps(&app);
    let ident = gatehouse::identity::service::get(&d, Uuid::parse_str(&iid).unwrap(), false)
        .await
        .unwrap();
    let e = service::issue(&d, &ident, CredentialType::Password, DeviceInfo::default())
        .await
        .unwrap_err();
    assert!(
        matches!(e, service::SessionError::IdentityDisabled),
        "{e:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_sessions_fail_and_extend_revives_them() {
    let app = TestApp::start_with(Setup {
        yaml: "session:\n  lifespan: 1s\n".into(),
        ..Default::default()
    })
    .await;
    let iid = identity(&app, "exp@example.com").await;
    let s = issue(&app, &iid).await;
    assert_eq!(whoami_status(&app, &s.token).await, 200);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(whoami_status(&app, &s.token).await, 401);
    // earliest_possible_extend defaults to the lifespan: extending is always allowed.
    let ext = identity_api::extend_session(&app.ory_config(), &s.id)
        .await
        .unwrap();
    let exp = chrono::DateTime::parse_from_rfc3339(ext.expires_at.as_deref().unwrap()).unwrap();
    assert!(exp > chrono::Utc::now());
    assert_eq!(whoami_status(&app, &s.token).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extend_waits_for_earliest_possible_extend() {
    let app = TestApp::start_with(Setup {
        yaml: "session:\n  lifespan: 24h\n  earliest_possible_extend: 1h\n".into(),
        ..Default::default()
    })
    .await;
    let iid = identity(&app, "ext@example.com").await;
    let s = issue(&app, &iid).await;
    let before: Value = app
        .http
        .get(app.admin_url(&format!("/admin/sessions/{}", s.id)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let r = app
        .http
        .patch(app.admin_url(&format!("/admin/sessions/{}/extend", s.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let after: Value = r.json().await.unwrap();
    // 24h left is more than the 1h window: nothing changes.
    assert_eq!(before["expires_at"], after["expires_at"]);
    assert_eq!(after["identity"]["id"], iid.as_str());
    expect_error(
        app.http
            .patch(app.admin_url(&format!("/admin/sessions/{}/extend", Uuid::new_v4())))
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;
    expect_error(
        app.http
            .patch(app.admin_url("/admin/sessions/nope/extend"))
            .send()
            .await
            .unwrap(),
        400,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn my_sessions_list_and_revoke() {
    let app = TestApp::start().await;
    let iid = identity(&app, "mine@example.com").await;
    let other = identity(&app, "other@example.com").await;
    let a = issue(&app, &iid).await;
    let b = issue(&app, &iid).await;
    let c = issue(&app, &iid).await;
    let x = issue(&app, &other).await;

    let r = app
        .http
        .get(app.public_url("/sessions"))
        .header("X-Session-Token", &a.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Vec<Value> = r.json().await.unwrap();
    let ids: Vec<&str> = v.iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        vec![c.id.as_str(), b.id.as_str()],
        "newest first, current excluded"
    );

    // Keyset pagination with a Link header.
    let r = app
        .http
        .get(app.public_url("/sessions?page_size=1"))
        .header("X-Session-Token", &a.token)
        .send()
        .await
        .unwrap();
    let link = r.headers()["link"].to_str().unwrap().to_owned();
    assert_eq!(r.json::<Vec<Value>>().await.unwrap().len(), 1);
    let next = link
        .split(',')
        .find(|l| l.contains("rel=\"next\""))
        .unwrap();
    let url = next
        .trim()
        .trim_start_matches('<')
        .split('>')
        .next()
        .unwrap();
    let r = app
        .http
        .get(url)
        .header("X-Session-Token", &a.token)
        .send()
        .await
        .unwrap();
    let v: Vec<Value> = r.json().await.unwrap();
    assert_eq!(v[0]["id"], b.id.as_str());

    let e = expect_error(
        app.http
            .get(app.public_url("/sessions"))
            .send()
            .await
            .unwrap(),
        401,
    )
    .await;
    assert!(e.get("id").is_none());

    let e = expect_error(
        app.http
            .delete(app.public_url(&format!("/sessions/{}", a.id)))
            .header("X-Session-Token", &a.token)
            .send()
            .await
            .unwrap(),
        400,
    )
    .await;
    assert_eq!(e["reason"], "cannot revoke current session");
    // Someone else's session: left alone, as Kratos does.
    let r = app
        .http
        .delete(app.public_url(&format!("/sessions/{}", x.id)))
        .header("X-Session-Token", &a.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(whoami_status(&app, &x.token).await, 200);

    let r = app
        .http
        .delete(app.public_url(&format!("/sessions/{}", b.id)))
        .header("X-Session-Token", &a.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(whoami_status(&app, &b.token).await, 401);
    let r = app
        .http
        .delete(app.public_url("/sessions"))
        .header("X-Session-Token", &a.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Kratos counts every other session it matched, the already revoked one included.
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"count": 2}));
    assert_eq!(whoami_status(&app, &c.token).await, 401);
    assert_eq!(whoami_status(&app, &a.token).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_list_get_disable_and_sdk() {
    let app = TestApp::start().await;
    let i1 = identity(&app, "adm1@example.com").await;
    let i2 = identity(&app, "adm2@example.com").await;
    let a = issue(&app, &i1).await;
    let b = issue(&app, &i1).await;
    let c = issue(&app, &i2).await;

    let r = app
        .http
        .get(app.admin_url("/admin/sessions?page_size=2"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let link = r.headers()["link"].to_str().unwrap().to_owned();
    let v: Vec<Value> = r.json().await.unwrap();
    assert_eq!(v.len(), 2);
    assert_eq!(v[0]["id"], c.id.as_str());
    assert!(
        v[0].get("identity").is_none() && v[0].get("devices").is_none(),
        "not expanded: {}",
        v[0]
    );
    assert!(
        link.contains("rel=\"first\"") && link.contains("rel=\"next\""),
        "{link}"
    );
    let next = link
        .split(',')
        .find(|l| l.contains("rel=\"next\""))
        .unwrap();
    let url = next
        .trim()
        .trim_start_matches('<')
        .split('>')
        .next()
        .unwrap();
    let v: Vec<Value> = app
        .http
        .get(url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v.len(), 1);
    assert_eq!(v[0]["id"], a.id.as_str());

    app.http
        .delete(app.admin_url(&format!("/admin/sessions/{}", b.id)))
        .send()
        .await
        .unwrap();
    let v: Vec<Value> = app
        .http
        .get(app.admin_url("/admin/sessions?active=true"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v.len(), 2);
    let v: Vec<Value> = app
        .http
        .get(app.admin_url("/admin/sessions?active=false"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v.len(), 1);
    assert_eq!(v[0]["id"], b.id.as_str());
    let v: Vec<Value> = app
        .http
        .get(app.admin_url("/admin/sessions?expand=identity&expand=devices"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        v.iter()
            .all(|s| s["identity"]["id"].is_string() && s["devices"].is_array())
    );
    expect_error(
        app.http
            .get(app.admin_url("/admin/sessions?active=maybe"))
            .send()
            .await
            .unwrap(),
        400,
    )
    .await;
    expect_error(
        app.http
            .get(app.admin_url("/admin/sessions?expand=credentials"))
            .send()
            .await
            .unwrap(),
        400,
    )
    .await;
    expect_error(
        app.http
            .get(app.admin_url("/admin/sessions?page_token=garbage"))
            .send()
            .await
            .unwrap(),
        400,
    )
    .await;

    // The SDK's models accept every shape.
    let cfg = app.ory_config();
    let all = identity_api::list_sessions(
        &cfg,
        Some(10),
        None,
        Some(true),
        Some(vec!["identity".into(), "devices".into()]),
    )
    .await
    .unwrap();
    assert_eq!(all.len(), 2);
    let one = identity_api::get_session(&cfg, &a.id, Some(vec!["identity".into()]))
        .await
        .unwrap();
    assert_eq!(one.identity.unwrap().id, i1);
    let plain = identity_api::get_session(&cfg, &a.id, None).await.unwrap();
    assert!(plain.identity.is_none());
    identity_api::disable_session(&cfg, &a.id).await.unwrap();
    assert_eq!(whoami_status(&app, &a.token).await, 401);
    let ext = identity_api::extend_session(&cfg, &c.id).await.unwrap();
    assert_eq!(ext.id, c.id);

    expect_error(
        app.http
            .get(app.admin_url(&format!("/admin/sessions/{}", Uuid::new_v4())))
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;
    expect_error(
        app.http
            .get(app.admin_url("/admin/sessions/not-a-uuid"))
            .send()
            .await
            .unwrap(),
        400,
    )
    .await;
    expect_error(
        app.http
            .delete(app.admin_url(&format!("/admin/sessions/{}", Uuid::new_v4())))
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;
    // Admin routes stay off the public port.
    expect_error(
        app.http
            .get(app.public_url(&format!("/admin/sessions/{}", a.id)))
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_sessions_list_delete_and_cascade() {
    let app = TestApp::start().await;
    let iid = identity(&app, "isess@example.com").await;
    let a = issue(&app, &iid).await;
    let b = issue(&app, &iid).await;
    app.http
        .delete(app.admin_url(&format!("/admin/sessions/{}", a.id)))
        .send()
        .await
        .unwrap();

    let cfg = app.ory_config();
    let all = identity_api::list_identity_sessions(&cfg, &iid, None, None, None, None, None)
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
    assert!(all.iter().all(|s| s.identity.as_ref().unwrap().id == iid));
    let active =
        identity_api::list_identity_sessions(&cfg, &iid, None, None, None, None, Some(true))
            .await
            .unwrap();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].id, b.id);

    expect_error(
        app.http
            .get(app.admin_url(&format!("/admin/identities/{}/sessions", Uuid::new_v4())))
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;
    expect_error(
        app.http
            .get(app.admin_url("/admin/identities/nope/sessions"))
            .send()
            .await
            .unwrap(),
        400,
    )
    .await;

    let r = app
        .http
        .delete(app.admin_url(&format!("/admin/identities/{iid}/sessions")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(whoami_status(&app, &b.token).await, 401);
    let v: Vec<Value> = app
        .http
        .get(app.admin_url(&format!("/admin/identities/{iid}/sessions")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(v.is_empty());
    // Nothing left to delete: 404, as Kratos answers.
    expect_error(
        app.http
            .delete(app.admin_url(&format!("/admin/identities/{iid}/sessions")))
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;

    // Deleting the identity deletes its sessions.
    let c = issue(&app, &iid).await;
    let r = app
        .http
        .delete(app.admin_url(&format!("/admin/identities/{iid}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    expect_error(
        app.http
            .get(app.admin_url(&format!("/admin/sessions/{}", c.id)))
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;
    assert_eq!(whoami_status(&app, &c.token).await, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_logout() {
    let app = TestApp::start().await;
    let http = no_redirects();
    let iid = identity(&app, "bye@example.com").await;
    let s = issue(&app, &iid).await;
    let cookie = cookie_header(&app, &s.token);

    let e = expect_error(
        http.get(app.public_url("/self-service/logout/browser"))
            .send()
            .await
            .unwrap(),
        401,
    )
    .await;
    assert_eq!(e["id"], "session_inactive");

    let r = http
        .get(app.public_url("/self-service/logout/browser"))
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["logout_token"], s.logout_token.as_str());
    assert_eq!(
        v["logout_url"],
        format!(
            "{}/self-service/logout?token={}",
            app.public, s.logout_token
        )
    );
    let flow = frontend_api::create_browser_logout_flow(&public_sdk(&app), Some(&cookie), None)
        .await
        .unwrap();
    assert_eq!(flow.logout_token, s.logout_token);
    expect_error(
        http.get(app.public_url("/self-service/logout/browser?return_to=https://evil.example/"))
            .header("Cookie", &cookie)
            .send()
            .await
            .unwrap(),
        400,
    )
    .await;

    // A token that is not this session's.
    let other = issue(&app, &iid).await;
    let e = expect_error(
        http.get(app.public_url(&format!(
            "/self-service/logout?token={}",
            other.logout_token
        )))
        .header("Cookie", &cookie)
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap(),
        403,
    )
    .await;
    assert!(e["reason"].as_str().unwrap().contains("does not match"));

    let r = http
        .get(v["logout_url"].as_str().unwrap())
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    // Without a configured return URL, the built-in home page.
    assert_eq!(
        r.headers()["location"].to_str().unwrap(),
        format!("{}/ui/", app.public)
    );
    let set = r.headers()["set-cookie"].to_str().unwrap();
    assert!(
        set.starts_with("ory_kratos_session=;") && set.contains("Max-Age=0"),
        "{set}"
    );
    assert_eq!(whoami_status(&app, &s.token).await, 401);

    // Replaying the URL fails: the session is gone.
    let e = expect_error(
        http.get(v["logout_url"].as_str().unwrap())
            .header("Cookie", &cookie)
            .header("Accept", "application/json")
            .send()
            .await
            .unwrap(),
        401,
    )
    .await;
    assert_eq!(e["id"], "session_inactive");

    // JSON clients get 204.
    let t = issue(&app, &iid).await;
    let r = http
        .get(app.public_url(&format!("/self-service/logout?token={}", t.logout_token)))
        .header("Cookie", cookie_header(&app, &t.token))
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(whoami_status(&app, &t.token).await, 401);
    expect_error(
        http.get(app.public_url("/self-service/logout"))
            .header("Accept", "application/json")
            .send()
            .await
            .unwrap(),
        400,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_logout() {
    let app = TestApp::start().await;
    let iid = identity(&app, "native@example.com").await;
    let s = issue(&app, &iid).await;
    let url = app.public_url("/self-service/logout/api");
    let r = app
        .http
        .delete(&url)
        .json(&json!({"session_token": s.token}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(whoami_status(&app, &s.token).await, 401);
    // Already revoked: still 204, as Kratos documents.
    let r = app
        .http
        .delete(&url)
        .json(&json!({"session_token": s.token}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let e = expect_error(
        app.http
            .delete(&url)
            .json(&json!({"session_token": "ory_st_unknown"}))
            .send()
            .await
            .unwrap(),
        403,
    )
    .await;
    assert!(e["reason"].as_str().unwrap().contains("could not be found"));
    expect_error(
        app.http.delete(&url).json(&json!({})).send().await.unwrap(),
        400,
    )
    .await;
    let t = issue(&app, &iid).await;
    let body = ory_kratos_client::models::PerformNativeLogoutBody::new(t.token.clone());
    frontend_api::perform_native_logout(&public_sdk(&app), body)
        .await
        .unwrap();
    assert_eq!(whoami_status(&app, &t.token).await, 401);
}
