//! What must not differ between the databases: how identifiers compare (MySQL's default
//! collations ignore case and accents; Gatehouse's columns compare exactly everywhere, and case
//! is folded in code where Kratos folds it), and readiness when a MySQL server goes away.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{Setup, TestApp, TestDb, backend};

async fn create(app: &TestApp, body: Value) -> u16 {
    app.http
        .post(app.admin_url("/admin/identities"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identifiers_collide_alike_on_every_backend() {
    let app = TestApp::start().await;
    let email = |e: &str| json!({ "traits": { "email": e } });
    assert_eq!(create(&app, email("Ada@Example.com")).await, 201);
    // The password identifier and the addresses are lowercased before they are stored.
    assert_eq!(create(&app, email("ada@example.com")).await, 409);
    assert_eq!(create(&app, email("ADA@EXAMPLE.COM")).await, 409);
    // Accents are other characters: no collation may fold them away (a username identifier,
    // as an email address may not carry them).
    let user = |e: &str, u: &str| json!({ "traits": { "email": e, "username": u } });
    assert_eq!(create(&app, user("u1@example.com", "ada")).await, 201);
    assert_eq!(create(&app, user("u2@example.com", "Ada")).await, 409);
    assert_eq!(create(&app, user("u3@example.com", "ádá")).await, 201);
    assert_eq!(create(&app, user("u4@example.com", "ÁDÁ")).await, 409);
    assert_eq!(create(&app, user("u5@example.com", "adá")).await, 201);
    // External ids are kept as given, so they differ by case alone.
    let ext = |e: &str, x: &str| json!({ "traits": { "email": e }, "external_id": x });
    assert_eq!(create(&app, ext("x1@example.com", "Ext-Ada")).await, 201);
    assert_eq!(create(&app, ext("x2@example.com", "ext-ada")).await, 201);
    assert_eq!(create(&app, ext("x3@example.com", "ext-ada")).await, 409);
    let listed: Vec<Value> = app
        .http
        .get(app.admin_url("/admin/identities?credentials_identifier=ada@example.com"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["traits"]["email"], "Ada@Example.com");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_is_503_while_mysql_refuses_connections_and_recovers() {
    use diesel_async::{AsyncConnection, AsyncMysqlConnection, RunQueryDsl};
    if backend() != "mysql" {
        return; // PostgreSQL's twin is in runtime.rs; SQLite cannot become unreachable.
    }
    // The server reaches its database as a user of its own, so locking that user out shuts
    // this server out and no other test.
    let db = TestDb::new().await;
    let (head, rest) = db.dsn.rsplit_once('/').unwrap();
    let name = rest.split('?').next().unwrap().to_owned();
    let host = head.rsplit_once('@').unwrap().1;
    let admin_url = std::env::var("TEST_DATABASE_MYSQL").unwrap();
    let run = |sql: String| {
        let url = admin_url.clone();
        async move {
            let mut c = AsyncMysqlConnection::establish(&url).await.unwrap();
            diesel::sql_query(sql).execute(&mut c).await.unwrap();
        }
    };
    let user = format!("u_{name}");
    run(format!("CREATE USER '{user}'@'%' IDENTIFIED BY 'pw'")).await;
    run(format!("GRANT ALL PRIVILEGES ON {name}.* TO '{user}'@'%'")).await;
    let dsn = format!("mysql://{user}:pw@{host}/{name}");
    let app = TestApp::start_on(TestDb::at(dsn), Setup::default()).await;
    let ready = || async {
        app.http
            .get(app.public_url("/health/ready"))
            .send()
            .await
            .unwrap()
            .status()
    };
    assert_eq!(ready().await, 200);

    #[derive(diesel::QueryableByName)]
    struct Id {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        id: i64,
    }
    run(format!("ALTER USER '{user}'@'%' ACCOUNT LOCK")).await;
    let mut c = AsyncMysqlConnection::establish(&admin_url).await.unwrap();
    let ids: Vec<Id> = diesel::sql_query(format!(
        "SELECT CAST(id AS SIGNED) AS id FROM information_schema.processlist WHERE user = '{user}'"
    ))
    .load(&mut c)
    .await
    .unwrap();
    for Id { id } in ids {
        // A connection may close by itself meanwhile.
        let _ = diesel::sql_query(format!("KILL {id}"))
            .execute(&mut c)
            .await;
    }
    let mut saw_503 = false;
    for _ in 0..50 {
        if ready().await == 503 {
            saw_503 = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(saw_503, "readiness never reported the lost database");
    let r = app
        .http
        .get(app.admin_url("/admin/identities"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    run(format!("ALTER USER '{user}'@'%' ACCOUNT UNLOCK")).await;
    let mut back = false;
    for _ in 0..100 {
        if ready().await == 200 {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(back, "readiness did not recover");
    app.stop().await;
    run(format!("DROP USER '{user}'@'%'")).await;
}
