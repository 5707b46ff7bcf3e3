//! The courier as separate OS processes (`gatehouse courier watch`) on one database: a burst
//! shared by two processes is delivered with nothing lost and nothing twice, and a process
//! killed with SIGKILL between claiming a message and sending it loses nothing — after the
//! claim's lease lapses the next process delivers it, once.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use gatehouse::courier::{self, Channel, NewMessage, TemplateType};
use serde_json::{Value, json};

use crate::common::process::Process;
use crate::common::smtp::{self, Mode, SmtpServer};
use crate::common::{Setup, TEST_CONFIG, TestApp, backend, binary};

/// A node that only writes: no courier in the process, so every delivery below is made by the
/// spawned `courier watch` processes.
async fn writer() -> TestApp {
    TestApp::start_with(Setup::default()).await
}

fn email(to: &str, n: usize) -> NewMessage {
    NewMessage {
        channel: Channel::Email,
        recipient: to.into(),
        template: TemplateType::RecoveryCodeValid,
        data: json!({ "To": to, "RecoveryCode": format!("{n:06}"), "ExpiresInMinutes": 15 }),
    }
}

/// Starts `gatehouse courier watch` on the writer's database.
fn courier_process(dir: &Path, dsn: &str, smtp_uri: &str, name: &str) -> Process {
    let cfg = dir.join(format!("{name}.yml"));
    std::fs::write(
        &cfg,
        format!(
            "secrets:\n  default:\n    - a-courier-test-secret-of-32-chars\ncourier:\n  message_retries: 5\n  worker:\n    pull_wait: 50ms\n    pull_count: 10\n  smtp:\n    \
             connection_uri: \"{smtp_uri}\"\n    from_address: noreply@gatehouse.test\n"
        ),
    )
    .unwrap();
    let mut cmd = Command::new(binary());
    cmd.current_dir(dir)
        .args(["courier", "watch", "-c", TEST_CONFIG, "-c"])
        .arg(&cfg)
        .env("DSN", dsn);
    Process::spawn(&format!("courier watch {name}"), cmd, None)
}

async fn messages(app: &TestApp) -> Vec<Value> {
    let mut out = Vec::new();
    let mut url = app.admin_url("/admin/courier/messages?page_size=500");
    loop {
        let r = app.http.get(&url).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let next = r
            .headers()
            .get("link")
            .and_then(|l| l.to_str().ok())
            .and_then(|l| {
                l.split(',')
                    .find(|p| p.contains("rel=\"next\""))
                    .and_then(|p| p.split(['<', '>']).nth(1).map(str::to_owned))
            });
        let page: Vec<Value> = r.json().await.unwrap();
        let empty = page.is_empty();
        out.extend(page);
        match next {
            Some(n) if !empty => {
                url = if n.starts_with("http") {
                    n
                } else {
                    app.admin_url(&n)
                }
            }
            _ => return out,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_courier_processes_deliver_a_burst_once() {
    if backend() == "sqlite" {
        // Several courier nodes on one database is a server-database deployment (SKIP LOCKED).
        eprintln!("skipped: runs with GATEHOUSE_TEST_DB=postgres or mysql");
        return;
    }
    const N: usize = 300;
    let server = SmtpServer::start(0).await;
    let app = writer().await;
    let deps = &app.running.as_ref().unwrap().handles().deps();
    for i in 0..N {
        courier::enqueue(deps, email(&format!("user{i}@example.org"), i))
            .await
            .unwrap();
    }
    let a = courier_process(app.dir.path(), &app.db.dsn, &server.uri(), "a");
    let b = courier_process(app.dir.path(), &app.db.dsn, &server.uri(), "b");
    let got = server.wait_for(N, Duration::from_secs(90)).await;
    // Give a duplicate the chance to show up before counting.
    tokio::time::sleep(Duration::from_millis(500)).await;
    a.stop(Duration::from_secs(60));
    b.stop(Duration::from_secs(60));
    let got = server.received().len().max(got.len());
    assert_eq!(got, N, "each message exactly once");
    let mut per_recipient: HashMap<String, usize> = HashMap::new();
    for m in server.received() {
        for to in m.to {
            *per_recipient.entry(to).or_default() += 1;
        }
    }
    assert_eq!(per_recipient.len(), N);
    assert!(per_recipient.values().all(|&n| n == 1));
    let rows = messages(&app).await;
    assert_eq!(rows.len(), N);
    assert!(rows.iter().all(|m| m["status"] == "sent"), "not all sent");
    assert!(
        rows.iter().all(|m| m["send_count"] == 1),
        "a message was tried twice"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_between_claim_and_send_loses_nothing() {
    let mut server = SmtpServer::start(0).await;
    server.set_mode(Mode::Stall);
    let app = writer().await;
    let deps = &app.running.as_ref().unwrap().handles().deps();
    let id = courier::enqueue(deps, email("ivan@example.org", 42))
        .await
        .unwrap()
        .to_string();

    // The first process claims the message and hangs in the SMTP dialogue; then it dies.
    let first = courier_process(app.dir.path(), &app.db.dsn, &server.uri(), "first");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while server.stalled() == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no delivery attempt"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    first.kill();
    let m: Value = app
        .http
        .get(app.admin_url(&format!("/admin/courier/messages/{id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(m["status"], "processing", "claimed, not sent: {m}");

    // A new process on a working server: the claim's lease lapses and the message goes out once.
    server.set_mode(Mode::Accept);
    server.restart().await;
    let second = courier_process(app.dir.path(), &app.db.dsn, &server.uri(), "second");
    let got = server
        .wait_for(
            1,
            gatehouse::courier::dispatch::LEASE + Duration::from_secs(30),
        )
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    second.stop(Duration::from_secs(60));
    assert_eq!(server.received().len(), 1, "delivered exactly once");
    assert!(
        smtp::parts(&got[0].data)
            .iter()
            .any(|(_, body)| body.contains("000042"))
    );
    let m: Value = app
        .http
        .get(app.admin_url(&format!("/admin/courier/messages/{id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(m["status"], "sent", "{m}");
    assert_eq!(m["send_count"], 2, "the dead attempt counts: {m}");
}
