//! The official Kratos Rust SDK against our admin API. Its models deserialise responses
//! strictly, so any shape mismatch here is a bug in the server.

use ory_kratos_client::apis::{Error, identity_api as api, metadata_api};
use ory_kratos_client::models;
use serde_json::{Value, json};

use crate::common::TestApp;

const BCRYPT: &str = "$2a$12$o6hx.Wog/wvFSkT/Bp/6DOxCtLRTDj7lm9on9suF/WaCGNVHbkfL6";

fn body(traits: Value) -> models::CreateIdentityBody {
    models::CreateIdentityBody::new("customer".into(), traits)
}

fn with_hash(mut b: models::CreateIdentityBody, hash: &str) -> models::CreateIdentityBody {
    let mut cfg = models::IdentityWithCredentialsPasswordConfig::new();
    cfg.hashed_password = Some(hash.into());
    let mut pw = models::IdentityWithCredentialsPassword::new();
    pw.config = Some(Box::new(cfg));
    let mut creds = models::IdentityWithCredentials::new();
    creds.password = Some(Box::new(pw));
    b.credentials = Some(Box::new(creds));
    b
}

/// The envelope carried by an SDK error: (HTTP status, `error` object).
fn envelope<T>(e: Error<T>) -> (u16, Value) {
    match e {
        Error::ResponseError(r) => {
            let v: Value = serde_json::from_str(&r.content)
                .unwrap_or_else(|_| panic!("error body is not JSON: {}", r.content));
            (r.status.as_u16(), v["error"].clone())
        }
        other => panic!("expected an error response, got {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_identity_lifecycle() {
    let app = TestApp::start().await;
    let cfg = app.ory_config();

    let mut b = with_hash(
        body(json!({ "email": "Sdk@X.com", "username": "sdkuser" })),
        BCRYPT,
    );
    b.external_id = Some("sdk-ext".into());
    b.metadata_public = Some(Some(json!({ "tier": 1 })));
    b.state = Some(models::create_identity_body::StateEnum::Active);
    let created = api::create_identity(&cfg, Some(b)).await.expect("create");
    assert_eq!(created.schema_id, "customer");
    assert_eq!(created.external_id.as_deref(), Some("sdk-ext"));
    assert_eq!(created.metadata_public, Some(Some(json!({ "tier": 1 }))));
    let addrs = created.verifiable_addresses.clone().unwrap();
    assert_eq!(addrs.len(), 1);
    assert_eq!(addrs[0].value, "sdk@x.com");
    assert_eq!(addrs[0].status, "pending");
    assert_eq!(
        created.recovery_addresses.as_ref().unwrap()[0].value,
        "sdk@x.com"
    );
    let id = created.id.clone();

    // get, with and without credentials
    let got = api::get_identity(&cfg, &id, None).await.expect("get");
    assert_eq!(got.id, id);
    assert_eq!(got.traits, created.traits);
    let pw = &got.credentials.as_ref().unwrap()["password"];
    assert_eq!(pw.config, Some(json!({})));
    let got = api::get_identity(&cfg, &id, Some(vec!["password".into()]))
        .await
        .expect("get with credentials");
    let pw = &got.credentials.as_ref().unwrap()["password"];
    assert_eq!(pw.config.as_ref().unwrap()["hashed_password"], BCRYPT);
    let mut identifiers = pw.identifiers.clone().unwrap();
    identifiers.sort();
    assert_eq!(identifiers, ["sdk@x.com", "sdkuser"]);

    // by external id
    let by = api::get_identity_by_external_id(&cfg, "sdk-ext", None)
        .await
        .expect("by external id");
    assert_eq!(by.id, id);
    let (status, e) = envelope(
        api::get_identity_by_external_id(&cfg, "missing", None)
            .await
            .unwrap_err(),
    );
    assert_eq!((status, e["code"].as_u64()), (404, Some(404)));
    assert_eq!(e["id"], "not_found");

    // JSON Patch
    let mut op = models::JsonPatch::new("replace".into(), "/traits/email".into());
    op.value = Some(Some(json!("patched@x.com")));
    let mut add = models::JsonPatch::new("add".into(), "/metadata_admin".into());
    add.value = Some(Some(json!({ "n": 2 })));
    let patched = api::patch_identity(&cfg, &id, Some(vec![op, add]))
        .await
        .expect("patch");
    assert_eq!(patched.traits.as_ref().unwrap()["email"], "patched@x.com");
    assert_eq!(patched.metadata_admin, Some(Some(json!({ "n": 2 }))));
    assert_eq!(
        patched.verifiable_addresses.as_ref().unwrap()[0].value,
        "patched@x.com"
    );
    let bad = models::JsonPatch::new("remove".into(), "/id".into());
    let (status, e) = envelope(
        api::patch_identity(&cfg, &id, Some(vec![bad]))
            .await
            .unwrap_err(),
    );
    assert_eq!((status, e["id"].as_str()), (400, Some("bad_request")));

    // PUT
    let mut u = models::UpdateIdentityBody::new(
        "customer".into(),
        models::update_identity_body::StateEnum::Inactive,
        json!({ "email": "put@x.com", "username": "sdkuser" }),
    );
    u.metadata_public = Some(Some(json!({ "tier": 2 })));
    u.external_id = Some("sdk-ext".into());
    let updated = api::update_identity(&cfg, &id, Some(u))
        .await
        .expect("update");
    assert_eq!(updated.state, Some(models::identity::StateEnum::Inactive));
    assert_ne!(updated.state_changed_at, created.state_changed_at);
    assert_eq!(updated.metadata_public, Some(Some(json!({ "tier": 2 }))));
    assert_eq!(
        updated.metadata_admin,
        Some(None),
        "PUT replaces metadata_admin; null is present"
    );
    assert_eq!(updated.traits.as_ref().unwrap()["email"], "put@x.com");

    // conflict carries our envelope
    let (status, e) = envelope(
        api::create_identity(
            &cfg,
            Some(body(
                json!({ "email": "other@x.com", "username": "SDKUSER" }),
            )),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(
        (status, e["code"].as_u64(), e["id"].as_str()),
        (409, Some(409), Some("conflict"))
    );
    assert!(e["message"].is_string() && e["reason"].is_string(), "{e}");
    let (status, e) = envelope(
        api::create_identity(&cfg, Some(body(json!({ "username": "x1" }))))
            .await
            .unwrap_err(),
    );
    assert_eq!(status, 400);
    assert_eq!(
        e["details"]["messages"][0]["instance_ptr"], "#/traits/email",
        "{e}"
    );

    // credentials: password is the only active first factor
    let (status, e) = envelope(
        api::delete_identity_credentials(&cfg, &id, "password", None)
            .await
            .unwrap_err(),
    );
    assert_eq!(status, 400, "{e}");

    // delete
    api::delete_identity(&cfg, &id).await.expect("delete");
    let (status, e) = envelope(api::get_identity(&cfg, &id, None).await.unwrap_err());
    assert_eq!((status, e["code"].as_u64()), (404, Some(404)));
    let (status, _) = envelope(api::delete_identity(&cfg, &id).await.unwrap_err());
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_delete_oidc_credentials() {
    let app = TestApp::start().await;
    let cfg = app.ory_config();
    let mut b = with_hash(body(json!({ "email": "o@x.com" })), BCRYPT);
    let providers = ["google", "github"]
        .into_iter()
        .map(|p| {
            models::IdentityWithCredentialsOidcConfigProvider::new(p.into(), format!("{p}-sub"))
        })
        .collect();
    let mut oc = models::IdentityWithCredentialsOidcConfig::new();
    oc.providers = Some(providers);
    let mut o = models::IdentityWithCredentialsOidc::new();
    o.config = Some(Box::new(oc));
    b.credentials.as_mut().unwrap().oidc = Some(Box::new(o));
    let created = api::create_identity(&cfg, Some(b)).await.expect("create");

    api::delete_identity_credentials(&cfg, &created.id, "oidc", Some("google:google-sub"))
        .await
        .expect("delete one oidc");
    let got = api::get_identity(&cfg, &created.id, Some(vec!["oidc".into()]))
        .await
        .unwrap();
    let oidc = &got.credentials.as_ref().unwrap()["oidc"];
    assert_eq!(
        oidc.identifiers.as_deref(),
        Some(&["github:github-sub".to_owned()][..])
    );
    assert_eq!(
        oidc.r#type,
        Some(models::identity_credentials::TypeEnum::Oidc)
    );
    let (status, _) = envelope(
        api::delete_identity_credentials(&cfg, &created.id, "oidc", Some("google:google-sub"))
            .await
            .unwrap_err(),
    );
    assert_eq!(status, 404);
    api::delete_identity_credentials(&cfg, &created.id, "password", None)
        .await
        .expect("password goes, oidc remains");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_list_paginates_and_filters() {
    let app = TestApp::start().await;
    let cfg = app.ory_config();
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            api::create_identity(&cfg, Some(body(json!({ "email": format!("p{i}@x.com") }))))
                .await
                .unwrap()
                .id,
        );
    }
    ids.sort();

    // The SDK does not expose the Link header, so take the token from it by hand.
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..5 {
        let page = api::list_identities(
            &cfg,
            None,
            None,
            Some(2),
            token.as_deref(),
            None,
            None,
            None,
            None,
            None,
            None,
        )
        .await
        .expect("list");
        seen.extend(page.into_iter().map(|i| i.id));
        let mut url = format!("{}/admin/identities?page_size=2", app.admin);
        if let Some(t) = &token {
            url.push_str(&format!("&page_token={t}"));
        }
        let r = app.http.get(url).send().await.unwrap();
        let link = r.headers()["link"].to_str().unwrap().to_owned();
        token = link
            .split(',')
            .find(|p| p.contains("rel=\"next\""))
            .and_then(|p| p.split("page_token=").nth(1))
            .map(|t| t.split('>').next().unwrap().to_owned());
        if token.is_none() {
            break;
        }
    }
    assert_eq!(seen, ids);

    let one = api::list_identities(
        &cfg,
        None,
        None,
        None,
        None,
        None,
        None,
        Some("P3@X.com"),
        None,
        None,
        None,
    )
    .await
    .unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].traits.as_ref().unwrap()["email"], "p3@x.com");
    let similar = api::list_identities(
        &cfg,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        Some("p"),
        None,
        None,
    )
    .await
    .unwrap();
    assert_eq!(similar.len(), 5);
    let two = api::list_identities(
        &cfg,
        None,
        None,
        None,
        None,
        None,
        Some(ids[..2].to_vec()),
        None,
        None,
        Some(vec!["password".into()]),
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        two.iter().map(|i| i.id.clone()).collect::<Vec<_>>(),
        ids[..2]
    );
    let (status, e) = envelope(
        api::list_identities(
            &cfg,
            None,
            None,
            None,
            Some("bogus"),
            None,
            None,
            None,
            None,
            None,
            None,
        )
        .await
        .unwrap_err(),
    );
    assert_eq!((status, e["id"].as_str()), (400, Some("bad_request")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_batch_patch() {
    let app = TestApp::start().await;
    let cfg = app.ory_config();
    let item = |b: models::CreateIdentityBody, patch_id: Option<&str>| {
        let mut p = models::IdentityPatch::new();
        p.create = Some(Box::new(b));
        p.patch_id = patch_id.map(str::to_owned);
        p
    };
    let pid = uuid::Uuid::new_v4().to_string();
    let mut req = models::PatchIdentitiesBody::new();
    req.identities = Some(vec![
        item(
            with_hash(body(json!({ "email": "b1@x.com" })), BCRYPT),
            None,
        ),
        item(body(json!({ "email": 5 })), Some(&pid)),
        item(body(json!({ "email": "B1@x.com" })), None),
    ]);
    let res = api::batch_patch_identities(&cfg, Some(req))
        .await
        .expect("batch");
    let out = res.identities.unwrap();
    assert_eq!(out.len(), 3);
    use models::identity_patch_response::ActionEnum;
    assert_eq!(out[0].action, Some(ActionEnum::Create));
    let created = out[0].identity.clone().unwrap();
    assert_eq!(out[1].action, Some(ActionEnum::Error));
    assert_eq!(out[1].patch_id.as_deref(), Some(pid.as_str()));
    assert_eq!(out[1].error.clone().flatten().unwrap()["code"], 400);
    assert_eq!(out[2].action, Some(ActionEnum::Error));
    assert_eq!(out[2].error.clone().flatten().unwrap()["code"], 409);
    let got = api::get_identity(&cfg, &created, None).await.unwrap();
    assert_eq!(got.traits.unwrap()["email"], "b1@x.com");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_schemas_and_metadata() {
    let app = TestApp::start().await;
    let cfg = app.ory_config();
    let list = api::list_identity_schemas(&cfg, None, None, None, None)
        .await
        .expect("list schemas");
    let mut names: Vec<_> = list.iter().map(|s| s.id.as_str()).collect();
    names.sort();
    assert_eq!(names, ["customer", "employee"]);
    let s = api::get_identity_schema(&cfg, "employee")
        .await
        .expect("get schema");
    assert_eq!(s["properties"]["traits"]["required"], json!(["staff_id"]));
    let (status, e) = envelope(api::get_identity_schema(&cfg, "nope").await.unwrap_err());
    assert_eq!((status, e["code"].as_u64()), (404, Some(404)));

    assert_eq!(
        metadata_api::is_alive(&cfg).await.expect("alive").status,
        "ok"
    );
    assert_eq!(
        metadata_api::is_ready(&cfg).await.expect("ready").status,
        "ok"
    );
    assert!(
        !metadata_api::get_version(&cfg)
            .await
            .expect("version")
            .version
            .is_empty()
    );
}
