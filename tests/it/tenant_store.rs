//! The tenants' storage (issue 18), on the tests' own backend: the registry's rows, the
//! fingerprint every node polls, and deleting a tenant, which must take every row of its
//! network and nothing of another's.

use chrono::{DateTime, Duration, SubsecRound, Utc};
use diesel::sql_types::{BigInt, Text};
use diesel_async::RunQueryDsl;
use gatehouse::store::courier::{self, MessageRow, MessageStatus, Outcome};
use gatehouse::store::flows::{self, ErrorRow, FlowRow};
use gatehouse::store::id::{DbId, UuidText};
use gatehouse::store::models::{
    CredentialRow, IdentifierRow, IdentityRow, IdentityRows, RecoveryAddressRow,
    VerifiableAddressRow,
};
use gatehouse::store::sessions::{self, DeviceRow, SessionRow};
use gatehouse::store::tenants::{self, DeleteOutcome, NID_TABLES, TenantRow};
use gatehouse::store::tokens::{self, TokenRow};
use gatehouse::store::webhooks::{self, DeliveryRow, DeliveryStatus};
use gatehouse::store::{Backend, Store, StoreError, api_keys, identities, rate_limits, throttle};
use gatehouse::with_conn;
use serde_json::json;
use uuid::Uuid;

use crate::common::TestDb;

/// A migrated store of its own, with its default network.
async fn open() -> (TestDb, Store) {
    let db = TestDb::new().await;
    let mut store = Store::connect(&db.dsn).await.expect("connect");
    store.migrate().await.expect("migrate");
    store.init_network().await.expect("default network");
    (db, store)
}

/// Now, to the microsecond every backend keeps.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

fn tenant(name: &str) -> TenantRow {
    let t = now();
    TenantRow {
        id: DbId(Uuid::new_v4()),
        name: name.to_owned(),
        base_url: format!("https://id.{name}.test/"),
        hosts: vec![format!("login.{name}.test")],
        config: json!({ "selfservice": { "default_browser_return_url": format!("https://{name}.test/") } }),
        created_at: t,
        updated_at: t,
    }
}

/// The stored tenant with this id, read back through `list`.
async fn by_id(store: &Store, id: Uuid) -> Option<TenantRow> {
    let all = tenants::list(store).await.unwrap();
    all.into_iter().find(|t| t.id.0 == id)
}

/// The stored tenant with this exact name, read back through `list`.
async fn by_name(store: &Store, name: &str) -> Option<TenantRow> {
    let all = tenants::list(store).await.unwrap();
    all.into_iter().find(|t| t.name == name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_are_stored_listed_updated_and_fingerprinted() {
    let (_db, store) = open().await;
    assert_eq!(tenants::fingerprint(&store).await.unwrap(), (0, None));

    let acme = tenant("acme");
    tenants::insert(&store, &acme).await.unwrap();
    let after_acme = tenants::fingerprint(&store).await.unwrap();
    assert_eq!(after_acme, (1, Some(acme.updated_at)));
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let mut beta = tenant("beta");
    beta.hosts = Vec::new();
    beta.config = json!({});
    tenants::insert(&store, &beta).await.unwrap();
    let after_beta = tenants::fingerprint(&store).await.unwrap();
    assert_eq!(after_beta, (2, Some(beta.updated_at)));

    // A name or an id already taken is a conflict, and the refused insert leaves no network
    // behind (its id can be used again).
    let mut dup_name = tenant("acme");
    let refused = tenants::insert(&store, &dup_name).await.unwrap_err();
    assert!(matches!(refused, StoreError::Conflict(_)), "{refused:?}");
    let mut dup_id = tenant("gamma");
    dup_id.id = acme.id;
    let refused = tenants::insert(&store, &dup_id).await.unwrap_err();
    assert!(matches!(refused, StoreError::Conflict(_)), "{refused:?}");
    let mut default_id = tenant("delta");
    default_id.id = DbId(store.nid());
    let refused = tenants::insert(&store, &default_id).await.unwrap_err();
    assert!(matches!(refused, StoreError::Conflict(_)), "{refused:?}");
    assert_eq!(tenants::fingerprint(&store).await.unwrap(), after_beta);
    dup_name.name = "acme-2".into();
    tenants::insert(&store, &dup_name).await.unwrap();
    assert_eq!(
        tenants::delete(&store, dup_name.id.0, false).await.unwrap(),
        DeleteOutcome::Deleted
    );
    assert_eq!(tenants::fingerprint(&store).await.unwrap(), after_beta);

    let listed = tenants::list(&store).await.unwrap();
    assert_eq!(listed, vec![acme.clone(), beta.clone()]);
    assert_eq!(by_id(&store, acme.id.0).await, Some(acme.clone()));
    assert_eq!(by_name(&store, "beta").await, Some(beta.clone()));
    assert_eq!(by_id(&store, Uuid::new_v4()).await, None);
    assert_eq!(by_id(&store, store.nid()).await, None);
    assert_eq!(by_name(&store, "ACME").await, None);

    // An update rewrites everything but the creation time.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let mut renamed = acme.clone();
    renamed.name = "zeta".into();
    renamed.base_url = "https://id.zeta.test/".into();
    renamed.hosts = vec!["a.zeta.test".into(), "b.zeta.test".into()];
    renamed.config = json!({ "session": { "cookie": { "domain": "zeta.test" } } });
    renamed.created_at = now() + Duration::days(1);
    renamed.updated_at = now();
    assert!(tenants::update(&store, &renamed).await.unwrap());
    let stored = by_id(&store, acme.id.0).await.unwrap();
    assert_eq!(stored.created_at, acme.created_at);
    renamed.created_at = acme.created_at;
    assert_eq!(stored, renamed);
    assert_eq!(by_name(&store, "acme").await, None);
    assert_eq!(
        tenants::list(&store).await.unwrap(),
        vec![beta.clone(), renamed.clone()]
    );
    let after_update = tenants::fingerprint(&store).await.unwrap();
    assert_eq!(after_update, (2, Some(renamed.updated_at)));
    assert_ne!(after_update, after_beta);
    // Unknown: false; another tenant's name: a conflict, nothing changed.
    assert!(!tenants::update(&store, &tenant("nobody")).await.unwrap());
    let mut clash = beta.clone();
    clash.name = "zeta".into();
    let refused = tenants::update(&store, &clash).await.unwrap_err();
    assert!(matches!(refused, StoreError::Conflict(_)), "{refused:?}");
    assert_eq!(by_id(&store, beta.id.0).await, Some(beta.clone()));

    // Deleting changes the fingerprint; the default network is never deleted.
    assert_eq!(
        tenants::delete(&store, beta.id.0, false).await.unwrap(),
        DeleteOutcome::Deleted
    );
    let after_delete = tenants::fingerprint(&store).await.unwrap();
    assert_eq!(after_delete.0, 1);
    assert_ne!(after_delete, after_update);
    assert_eq!(
        tenants::delete(&store, beta.id.0, true).await.unwrap(),
        DeleteOutcome::NotFound
    );
    for purge in [false, true] {
        let refused = tenants::delete(&store, store.nid(), purge)
            .await
            .unwrap_err();
        assert!(matches!(refused, StoreError::DefaultNetwork), "{refused:?}");
    }
    // The deleted tenant's network went with it: its id is free again.
    let mut again = tenant("beta");
    again.id = beta.id;
    tenants::insert(&store, &again).await.unwrap();
}

/// One row of every nid-scoped table under `store`'s network.
async fn fill(store: &Store, email: &str) {
    let nid = DbId(store.nid());
    let t = now().naive_utc();
    let later = t + Duration::hours(1);
    let id = || DbId(Uuid::new_v4());

    let identity_id = id();
    let credential_id = id();
    let rows = IdentityRows {
        identity: IdentityRow {
            id: identity_id,
            nid,
            schema_id: "default".into(),
            traits: json!({ "email": email }).to_string(),
            state: "active".into(),
            state_changed_at: None,
            metadata_public: None,
            metadata_admin: None,
            external_id: None,
            organization_id: None,
            available_aal: None,
            created_at: t,
            updated_at: t,
        },
        credentials: vec![CredentialRow {
            id: credential_id,
            nid,
            identity_id,
            credential_type: "password".into(),
            config: "{}".into(),
            version: 0,
            created_at: t,
            updated_at: t,
        }],
        identifiers: vec![IdentifierRow {
            id: id(),
            nid,
            identity_credential_id: credential_id,
            identity_id,
            credential_type: "password".into(),
            identifier: email.into(),
            created_at: t,
            updated_at: t,
        }],
        verifiable: vec![VerifiableAddressRow {
            id: id(),
            nid,
            identity_id,
            via: "email".into(),
            value: email.into(),
            verified: false,
            verified_at: None,
            status: "pending".into(),
            created_at: t,
            updated_at: t,
        }],
        recovery: vec![RecoveryAddressRow {
            id: id(),
            nid,
            identity_id,
            via: "email".into(),
            value: email.into(),
            created_at: t,
            updated_at: t,
        }],
    };
    identities::insert(store, &rows).await.unwrap();

    let session_id = id();
    let session = SessionRow {
        id: session_id,
        nid,
        identity_id,
        token: Uuid::new_v4().simple().to_string(),
        logout_token: Uuid::new_v4().simple().to_string(),
        active: true,
        aal: "aal1".into(),
        authentication_methods: "[]".into(),
        issued_at: t,
        authenticated_at: t,
        expires_at: later,
        created_at: t,
        updated_at: t,
    };
    let device = DeviceRow {
        id: id(),
        nid,
        session_id,
        ip_address: Some("127.0.0.1".into()),
        user_agent: None,
        location: None,
        created_at: t,
        updated_at: t,
    };
    sessions::insert(store, &session, &[device]).await.unwrap();

    let flow_id = id();
    flows::insert(
        store,
        &FlowRow {
            id: flow_id,
            nid,
            kind: "recovery".into(),
            flow_type: "browser".into(),
            state: "choose_method".into(),
            request_url: "http://localhost/self-service/recovery/browser".into(),
            return_to: None,
            ui: "{}".into(),
            csrf_token: "csrf".into(),
            refresh: false,
            requested_aal: "aal1".into(),
            active_method: None,
            identity_id: None,
            internal_context: None,
            issued_at: t,
            expires_at: later,
            created_at: t,
            updated_at: t,
        },
    )
    .await
    .unwrap();
    flows::insert_error(
        store,
        &ErrorRow {
            id: id(),
            nid,
            error: "{}".into(),
            csrf_token: "csrf".into(),
            created_at: t,
            updated_at: t,
        },
    )
    .await
    .unwrap();
    let token = TokenRow {
        id: id(),
        nid,
        kind: "recovery_code".into(),
        flow_id: Some(flow_id),
        identity_id: Some(identity_id),
        address: Some(email.into()),
        address_id: None,
        token_hash: "hash".into(),
        used_at: None,
        expires_at: later,
        created_at: t,
        updated_at: t,
    };
    tokens::replace_for_flow(store, flow_id.0, "recovery_code", &[token])
        .await
        .unwrap();

    // A message, claimed and sent: its dispatch row.
    let message_id = id();
    courier::insert(
        store,
        &[MessageRow {
            id: message_id,
            nid,
            kind: "email".into(),
            status: MessageStatus::Queued,
            channel: "email".into(),
            recipient: email.into(),
            subject: "Hi".into(),
            body: "Hello".into(),
            html_body: None,
            template_type: "recovery_code_valid".into(),
            template_data: "{}".into(),
            send_count: 0,
            next_attempt_at: t,
            claimed_until: None,
            claim_id: None,
            created_at: t,
            updated_at: t,
        }],
    )
    .await
    .unwrap();
    let claim = Uuid::new_v4();
    let claimed = courier::claim(store, claim, t, later, 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert!(
        courier::finish(store, message_id.0, claim, &Outcome::Sent, t)
            .await
            .unwrap()
    );

    webhooks::insert(
        store,
        &DeliveryRow {
            id: id(),
            nid,
            hook: "selfservice.flows.registration.after.hooks[0]".into(),
            url: "http://127.0.0.1:9/hook".into(),
            method: "POST".into(),
            body: None,
            status: DeliveryStatus::Queued,
            attempts: 0,
            next_attempt_at: later,
            claimed_until: None,
            claim_id: None,
            last_error: None,
            created_at: t,
            updated_at: t,
        },
    )
    .await
    .unwrap();
    throttle::record_failure(
        store,
        &throttle::Failure {
            key: "identifier:digest",
            now: t,
            stale_before: t - Duration::hours(1),
            quick_since: t - Duration::seconds(1),
            free: 3,
            lock_from: 10,
            lock_until: later,
            waits: &[later],
            quick_waits: &[later],
        },
    )
    .await
    .unwrap();
    rate_limits::take(
        store,
        "flows:127.0.0.1",
        t.and_utc().timestamp_micros(),
        rate_limits::Rule {
            interval: 1_000_000,
            tolerance: 10_000_000,
        },
    )
    .await
    .unwrap();
    api_keys::insert(
        store,
        &api_keys::ApiKeyRow {
            id: id(),
            nid,
            name: "ops".into(),
            key_digest: "digest".into(),
            read_only: false,
            created_at: t,
            last_used_at: None,
            revoked_at: None,
        },
    )
    .await
    .unwrap();
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Rows of `table` in network `nid`.
async fn rows_of(store: &Store, table: &str, nid: Uuid) -> i64 {
    let p = if store.backend() == Backend::Postgres {
        "$1"
    } else {
        "?"
    };
    let sql = format!("SELECT COUNT(*) AS n FROM {table} WHERE nid = {p}");
    let run = async {
        with_conn!(store, |c| Ok::<_, StoreError>(
            diesel::sql_query(sql.as_str())
                .bind::<UuidText, _>(DbId(nid))
                .get_result::<Count>(c)
                .await?
                .n
        ))
    };
    run.await.unwrap()
}

#[derive(diesel::QueryableByName)]
struct TableName {
    #[diesel(sql_type = Text)]
    name: String,
}

/// Every table of the database with a `nid` column.
async fn tables_with_nid(store: &Store) -> Vec<String> {
    let sql = match store.backend() {
        Backend::Sqlite => {
            "SELECT m.name AS name FROM sqlite_master m, pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND p.name = 'nid'"
        }
        Backend::Postgres => {
            "SELECT CAST(table_name AS TEXT) AS name FROM information_schema.columns \
             WHERE table_schema = current_schema() AND column_name = 'nid'"
        }
        Backend::Mysql => {
            "SELECT CAST(table_name AS CHAR) AS name FROM information_schema.columns \
             WHERE table_schema = DATABASE() AND column_name = 'nid'"
        }
    };
    let run = async {
        with_conn!(store, |c| Ok::<_, StoreError>(
            diesel::sql_query(sql).load::<TableName>(c).await?
        ))
    };
    let mut names: Vec<String> = run.await.unwrap().into_iter().map(|t| t.name).collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_tenant_takes_every_row_of_its_network_and_no_other() {
    let (_db, store) = open().await;
    // The purge names every nid-scoped table the migrations made.
    let mut listed: Vec<String> = NID_TABLES.iter().map(|t| t.to_string()).collect();
    listed.sort();
    assert_eq!(listed, tables_with_nid(&store).await);

    let (acme, beta) = (tenant("acme"), tenant("beta"));
    tenants::insert(&store, &acme).await.unwrap();
    tenants::insert(&store, &beta).await.unwrap();
    let default = store.nid();
    // The same address in every network: they are separate identities.
    for nid in [default, acme.id.0, beta.id.0] {
        fill(&store.for_network(nid), "ada@example.com").await;
    }
    for nid in [default, acme.id.0, beta.id.0] {
        for table in NID_TABLES {
            assert_eq!(rows_of(&store, table, nid).await, 1, "{table} of {nid}");
        }
    }

    assert_eq!(rows_of(&store, "identities", acme.id.0).await, 1);
    assert_eq!(
        tenants::delete(&store, acme.id.0, false).await.unwrap(),
        DeleteOutcome::HasIdentities(1)
    );
    assert_eq!(by_id(&store, acme.id.0).await, Some(acme.clone()));
    assert_eq!(rows_of(&store, "sessions", acme.id.0).await, 1);

    assert_eq!(
        tenants::delete(&store, acme.id.0, true).await.unwrap(),
        DeleteOutcome::Deleted
    );
    assert_eq!(by_id(&store, acme.id.0).await, None);
    assert_eq!(rows_of(&store, "identities", acme.id.0).await, 0);
    for table in NID_TABLES {
        assert_eq!(
            rows_of(&store, table, acme.id.0).await,
            0,
            "{table} of acme"
        );
        assert_eq!(
            rows_of(&store, table, beta.id.0).await,
            1,
            "{table} of beta"
        );
        assert_eq!(
            rows_of(&store, table, default).await,
            1,
            "{table} of default"
        );
    }
    assert_eq!(
        tenants::list(&store).await.unwrap(),
        vec![beta.clone()],
        "only the deleted tenant is gone"
    );
    // Its network went too: the id can be a tenant again.
    tenants::insert(&store, &acme).await.unwrap();
    assert_eq!(rows_of(&store, "identities", acme.id.0).await, 0);
    // The other networks' identities still read through their own store.
    let beta_store = store.for_network(beta.id.0);
    let found = identities::list(&beta_store, &identities::ListFilter::All, None, 10, false)
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
}
