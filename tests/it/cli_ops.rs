//! The operator's verbs (issue 20, item 3) run as the real binary: `identities
//! import|list|get|delete|validate` against a running server's admin API, `cleanup sql` on its
//! database, and `jsonnet lint|format` on template files.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

use crate::common::flow::{api_flow, api_login};
use crate::common::{Setup, TEST_CONFIG, TestApp, binary};

/// Runs `gatehouse <args>` in `dir` with only the given environment of ours (the endpoint and
/// key variables of the test process are removed), optionally feeding `stdin`.
async fn gatehouse(dir: &Path, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Output {
    let mut c = Command::new(binary());
    c.current_dir(dir).args(args);
    for k in [
        "GATEHOUSE_ADMIN_URL",
        "KRATOS_ADMIN_URL",
        "GATEHOUSE_ADMIN_API_KEY",
        "DSN",
    ] {
        c.env_remove(k);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    let input = stdin.map(str::to_owned);
    c.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    // The server under test shares this runtime: wait for the child off its workers.
    tokio::task::spawn_blocking(move || {
        let mut child = c.spawn().expect("binary runs");
        if let Some(text) = input {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
        }
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap()
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json_out(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}\n{}", out(o), err(o)))
}

fn write(dir: &Path, name: &str, v: &Value) {
    std::fs::write(dir.join(name), serde_json::to_vec_pretty(v).unwrap()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identities_import_list_get_delete_and_validate() {
    let app = TestApp::start().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let e = app.admin.as_str();
    write(
        d,
        "good.json",
        &json!([
            {"schema_id": "customer", "traits": {"email": "a@example.com"},
             "credentials": {"password": {"config": {"password": "a-long-enough-password"}}}},
            {"schema_id": "customer", "traits": {"email": "b@example.com", "username": "bee"}},
        ]),
    );
    write(
        d,
        "single.json",
        &json!({"schema_id": "customer", "traits": {"email": "c@example.com"}}),
    );
    write(
        d,
        "bad.json",
        &json!([
            {"schema_id": "customer", "traits": {"email": "d@example.com"}},
            {"schema_id": "customer", "traits": {"age": -1}},
            42,
            {"schema_id": "customer", "traits": {"email": "a@example.com"}},
        ]),
    );
    std::fs::write(d.join("broken.json"), "{\"traits\": ").unwrap();
    write(
        d,
        "no_schema_id.json",
        &json!({"traits": {"email": "f@example.com"}}),
    );

    // Import: every item created, each named by its file and position.
    let o = gatehouse(
        d,
        &[
            "identities",
            "import",
            "good.json",
            "single.json",
            "-e",
            e,
            "--format",
            "json",
        ],
        &[],
        None,
    )
    .await;
    assert!(o.status.success(), "{}", err(&o));
    let imported = json_out(&o);
    let sources: Vec<&str> = imported
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["source"].as_str().unwrap())
        .collect();
    assert_eq!(sources, ["good.json[0]", "good.json[1]", "single.json[0]"]);
    let a_id = imported[0]["id"].as_str().unwrap().to_owned();
    let b_id = imported[1]["id"].as_str().unwrap().to_owned();
    assert!(
        err(&o).contains("Imported 3 of 3 identities"),
        "{}",
        err(&o)
    );
    // The imported password signs in.
    let (status, _) = api_login(&app, "a@example.com", "a-long-enough-password").await;
    assert_eq!(status, 200);

    // Bad items: the good one goes in, each bad one is reported with the server's reason, and
    // the verb fails.
    let o = gatehouse(
        d,
        &[
            "identities",
            "import",
            "bad.json",
            "broken.json",
            "-e",
            e,
            "-q",
        ],
        &[],
        None,
    )
    .await;
    assert_eq!(o.status.code(), Some(1), "{}", err(&o));
    let stderr = err(&o);
    assert_eq!(
        out(&o).lines().count(),
        1,
        "one identity imported: {}",
        out(&o)
    );
    assert!(!stderr.contains("bad.json[0]"), "{stderr}");
    let line = |label: &str| {
        stderr
            .lines()
            .find(|l| l.starts_with(label))
            .unwrap_or_else(|| panic!("no report for {label}: {stderr}"))
            .to_owned()
    };
    assert!(line("bad.json[1]: ").contains("email"), "{stderr}");
    assert!(line("bad.json[2]: ").contains("got a number"), "{stderr}");
    assert!(line("bad.json[3]: ").contains("already exists"), "{stderr}");
    assert!(line("broken.json: ").contains("not valid JSON"), "{stderr}");
    assert!(stderr.contains("Imported 1 of 4 identities"), "{stderr}");

    // Standard input, and the endpoint from GATEHOUSE_ADMIN_URL.
    let o = gatehouse(
        d,
        &["identities", "import", "-", "--format", "json"],
        &[("GATEHOUSE_ADMIN_URL", e)],
        Some(r#"[{"traits": {"email": "e@example.com"}}]"#),
    )
    .await;
    assert!(o.status.success(), "{}", err(&o));
    // One identity prints as an object, as Kratos prints one row.
    assert_eq!(json_out(&o)["source"], "STD_IN[0]");

    // No endpoint at all: a clear error.
    let o = gatehouse(d, &["identities", "list"], &[], None).await;
    assert!(!o.status.success());
    assert!(err(&o).contains("GATEHOUSE_ADMIN_URL"), "{}", err(&o));

    // List: JSON is the array of identities; the table is Kratos's columns; pages by number.
    let o = gatehouse(
        d,
        &["identities", "list", "--format", "json"],
        &[("KRATOS_ADMIN_URL", e)],
        None,
    )
    .await;
    assert!(o.status.success(), "{}", err(&o));
    let all = json_out(&o);
    assert_eq!(all.as_array().unwrap().len(), 5, "{all}");
    let o = gatehouse(d, &["identities", "ls", "-e", e], &[], None).await;
    assert!(o.status.success(), "{}", err(&o));
    let table = out(&o);
    assert!(
        table.starts_with("ID") && table.contains("VERIFIED ADDRESSES"),
        "{table}"
    );
    assert!(
        table.contains("b@example.com") && table.contains("customer"),
        "{table}"
    );
    assert!(table.contains("NEXT PAGE TOKEN"), "{table}");
    let page = |n: &'static str| {
        let d = d.to_owned();
        let e = e.to_owned();
        async move {
            let o = gatehouse(
                &d,
                &["identities", "list", n, "2", "-e", &e, "--format", "json"],
                &[],
                None,
            )
            .await;
            assert!(o.status.success(), "{}", err(&o));
            json_out(&o)
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["id"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    let (p1, p2, p3) = (page("1").await, page("2").await, page("3").await);
    assert_eq!((p1.len(), p2.len(), p3.len()), (2, 2, 1));
    let mut seen: Vec<String> = [p1, p2, p3].concat();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 5, "pages overlap");

    // Get: one identity is an object, several a table; an unknown id fails the verb.
    let o = gatehouse(
        d,
        &[
            "identities",
            "get",
            &a_id,
            "-e",
            e,
            "--format",
            "json-pretty",
        ],
        &[],
        None,
    )
    .await;
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(json_out(&o)["traits"]["email"], "a@example.com");
    let o = gatehouse(
        d,
        &[
            "identities",
            "get",
            &a_id,
            &b_id,
            "-e",
            e,
            "-i",
            "password",
            "--format",
            "json",
        ],
        &[],
        None,
    )
    .await;
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(json_out(&o).as_array().unwrap().len(), 2);
    let missing = uuid::Uuid::new_v4().to_string();
    let o = gatehouse(
        d,
        &["identities", "get", &b_id, &missing, "-e", e],
        &[],
        None,
    )
    .await;
    assert_eq!(o.status.code(), Some(1));
    assert!(out(&o).contains(&b_id), "{}", out(&o));
    assert!(err(&o).starts_with(&format!("{missing}: ")), "{}", err(&o));

    // Delete: the id is printed, the identity is gone.
    let o = gatehouse(
        d,
        &["identities", "delete", &a_id, "-e", e, "-q"],
        &[],
        None,
    )
    .await;
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(out(&o).trim(), a_id);
    let r = app
        .http
        .get(app.admin_url(&format!("/admin/identities/{a_id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let o = gatehouse(d, &["identities", "delete", &a_id, "-e", e], &[], None).await;
    assert_eq!(o.status.code(), Some(1));

    // Validate against the server's schemas: per-item problems, nothing imported.
    let o = gatehouse(
        d,
        &[
            "identities",
            "validate",
            "good.json",
            "single.json",
            "-e",
            e,
        ],
        &[],
        None,
    )
    .await;
    assert!(o.status.success(), "{}", err(&o));
    assert!(out(&o).contains("All identity files are valid."));
    let o = gatehouse(
        d,
        &["identities", "validate", "bad.json", "-e", e],
        &[],
        None,
    )
    .await;
    assert_eq!(o.status.code(), Some(1));
    let stderr = err(&o);
    assert!(stderr.contains("bad.json[1]: not valid"), "{stderr}");
    assert!(stderr.contains("#/traits"), "{stderr}");
    assert!(stderr.contains("bad.json[2]: not valid"), "{stderr}");
    assert!(
        !stderr.contains("bad.json[0]") && !stderr.contains("bad.json[3]"),
        "{stderr}"
    );
    // Without a schema_id the admin API cannot say which schema applies (Kratos asks for
    // one); a configuration names the default.
    let o = gatehouse(
        d,
        &["identities", "validate", "no_schema_id.json", "-e", e],
        &[],
        None,
    )
    .await;
    assert_eq!(o.status.code(), Some(1));
    assert!(err(&o).contains("schema_id"), "{}", err(&o));
    let schemas = app.dir.path().join("schemas.yml");
    let o = gatehouse(
        d,
        &[
            "identities",
            "validate",
            "no_schema_id.json",
            "-c",
            TEST_CONFIG,
            "-c",
            schemas.to_str().unwrap(),
        ],
        &[],
        None,
    )
    .await;
    assert!(o.status.success(), "{}", err(&o));
    let n: usize = app
        .http
        .get(app.admin_url("/admin/identities"))
        .send()
        .await
        .unwrap()
        .json::<Vec<Value>>()
        .await
        .unwrap()
        .len();
    assert_eq!(n, 4, "validate imports nothing");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identities_verbs_send_the_admin_api_key() {
    let app = TestApp::start_with(Setup {
        yaml: "serve:\n  admin:\n    api_keys:\n      enabled: true\n".into(),
        ..Setup::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut c = Command::new(binary());
    c.args(["admin-keys", "create", "--name", "cli", "-c", TEST_CONFIG])
        .arg("-c")
        .arg(app.dir.path().join("schemas.yml"))
        .arg("-c")
        .arg(app.dir.path().join("extra.yml"))
        .env("DSN", &app.db.dsn)
        .stdin(Stdio::null());
    let o = tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap();
    assert!(o.status.success(), "{}", err(&o));
    let key = out(&o)
        .lines()
        .find_map(|l| l.strip_prefix("key: "))
        .unwrap()
        .to_owned();
    let e = app.admin.as_str();
    let o = gatehouse(d, &["identities", "list", "-e", e], &[], None).await;
    assert_eq!(o.status.code(), Some(1));
    assert!(!err(&o).is_empty());
    let o = gatehouse(
        d,
        &["identities", "list", "-e", e, "--format", "json"],
        &[("GATEHOUSE_ADMIN_API_KEY", &key)],
        None,
    )
    .await;
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(json_out(&o), json!([]));
    let o = gatehouse(
        d,
        &["identities", "import", "-", "-e", e, "--api-key", &key],
        &[],
        Some(r#"{"traits": {"email": "k@example.com"}}"#),
    )
    .await;
    assert!(o.status.success(), "{}", err(&o));
    assert!(!out(&o).contains(&key) && !err(&o).contains(&key));
    // Help shows where the key comes from, never its value.
    let o = gatehouse(
        d,
        &["identities", "list", "--help"],
        &[("GATEHOUSE_ADMIN_API_KEY", &key)],
        None,
    )
    .await;
    assert!(out(&o).contains("GATEHOUSE_ADMIN_API_KEY") && !out(&o).contains(&key));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleanup_sql_deletes_expired_rows_and_keeps_fresh_ones() {
    let app = TestApp::start().await;
    let old = "2000-01-01 00:00:00";
    let future = "2999-01-01 00:00:00";
    // `key` is a reserved word on MySQL.
    let key = if crate::common::backend() == "mysql" {
        "`key`"
    } else {
        "key"
    };
    let nid = app.query_texts("SELECT id AS v FROM networks").await[0].clone();
    let other = uuid::Uuid::new_v4();
    app.exec_sql(&format!(
        "INSERT INTO networks (id, created_at, updated_at) VALUES ('{other}', '{future}', '{future}')"
    ))
    .await;

    // Flows: two expired, one fresh, and one expired of another network (a tenant's: cleaned too).
    let mut flows = Vec::new();
    for _ in 0..4 {
        flows.push(
            api_flow(&app, "login").await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    for f in &flows[..3] {
        app.exec_sql(&format!(
            "UPDATE selfservice_flows SET expires_at = '{old}' WHERE id = '{f}'"
        ))
        .await;
    }
    app.exec_sql(&format!(
        "UPDATE selfservice_flows SET nid = '{other}' WHERE id = '{}'",
        flows[2]
    ))
    .await;

    // Sessions: one expired, one live.
    app.create_identity(json!({
        "traits": {"email": "s@example.com"},
        "credentials": {"password": {"config": {"password": "a-long-enough-password"}}}
    }))
    .await;
    let mut sessions = Vec::new();
    for _ in 0..2 {
        let (status, v) = api_login(&app, "s@example.com", "a-long-enough-password").await;
        assert_eq!(status, 200, "{v}");
        sessions.push((
            v["session"]["id"].as_str().unwrap().to_owned(),
            v["session_token"].as_str().unwrap().to_owned(),
        ));
    }
    app.exec_sql(&format!(
        "UPDATE sessions SET expires_at = '{old}' WHERE id = '{}'",
        sessions[0].0
    ))
    .await;

    // Courier messages: finished long ago (gone), queued long ago and sent just now (kept).
    for (status, at) in [
        ("sent", old),
        ("abandoned", old),
        ("queued", old),
        ("sent", future),
    ] {
        app.exec_sql(&format!(
            "INSERT INTO courier_messages (id, nid, type, status, channel, recipient, subject, body, \
             template_type, template_data, send_count, next_attempt_at, created_at, updated_at) \
             VALUES ('{}', '{nid}', 'email', '{status}', 'email', 'r@example.com', 's', 'b', \
             'recovery_code_valid', '{{}}', 1, '{at}', '{at}', '{at}')",
            uuid::Uuid::new_v4()
        ))
        .await;
    }
    // Codes and links, one expired and one not.
    for (hash, at) in [("expired-hash", old), ("fresh-hash", future)] {
        app.exec_sql(&format!(
            "INSERT INTO selfservice_tokens (id, nid, kind, token_hash, expires_at, created_at, updated_at) \
             VALUES ('{}', '{nid}', 'recovery_code', '{hash}', '{at}', '{at}', '{at}')",
            uuid::Uuid::new_v4()
        ))
        .await;
    }
    // A full rate-limit bucket and a drained one; a stale and a fresh sign-in failure counter.
    app.exec_sql(&format!(
        "INSERT INTO rate_limits (nid, client_key, tat) VALUES ('{nid}', 'spent-client', 1), \
         ('{nid}', 'busy-client', 4102444800000000)"
    ))
    .await;
    app.exec_sql(&format!(
        "INSERT INTO throttle_counters (nid, {key}, failures, first_failure_at, last_failure_at) \
         VALUES ('{nid}', 'identifier:stale', 3, '{old}', '{old}'), \
         ('{nid}', 'identifier:fresh', 3, '{future}', '{future}')"
    ))
    .await;

    // The server's own sweeper must not race the verb: stop it, clean, start it again.
    let db = app.stop_keep_db().await;
    let dir = tempfile::tempdir().unwrap();
    let o = gatehouse(
        dir.path(),
        &[
            "cleanup",
            "sql",
            &db.dsn,
            "-c",
            TEST_CONFIG,
            "--keep-last",
            "1h",
            "--batch-size",
            "1",
            "--sleep-tables",
            "0s",
        ],
        &[],
        None,
    )
    .await;
    assert!(o.status.success(), "{}", err(&o));
    let stdout = out(&o);
    for line in [
        "selfservice_flows: deleted 3 rows",
        "sessions: deleted 1 rows",
        "courier_messages: deleted 2 rows",
        "selfservice_tokens: deleted 1 rows",
        "rate_limits: deleted 1 rows",
        "throttle_counters: deleted 1 rows",
        "Cleanup finished: 9 rows deleted from 6 tables",
    ] {
        assert!(stdout.contains(line), "{line:?} missing from {stdout}");
    }

    let app = TestApp::start_on(db, Setup::default()).await;
    // (The logins above made flows of their own, fresh ones.)
    let left = app
        .query_texts("SELECT id AS v FROM selfservice_flows")
        .await;
    assert!(
        !left.contains(&flows[0]) && !left.contains(&flows[1]) && !left.contains(&flows[2]),
        "{left:?}"
    );
    assert!(left.contains(&flows[3]), "{left:?}");
    assert_eq!(
        app.query_texts("SELECT id AS v FROM sessions").await,
        [sessions[1].0.clone()]
    );
    assert_eq!(app.whoami(&sessions[1].1).await["active"], true);
    let mut statuses = app
        .query_texts("SELECT status AS v FROM courier_messages")
        .await;
    statuses.sort();
    assert_eq!(statuses, ["queued", "sent"]);
    assert_eq!(
        app.query_texts("SELECT token_hash AS v FROM selfservice_tokens")
            .await,
        ["fresh-hash"]
    );
    let buckets = app
        .query_texts("SELECT client_key AS v FROM rate_limits")
        .await;
    assert!(
        buckets.contains(&"busy-client".to_owned())
            && !buckets.contains(&"spent-client".to_owned())
    );
    assert_eq!(
        app.query_texts(&format!("SELECT {key} AS v FROM throttle_counters"))
            .await,
        ["identifier:fresh"]
    );

    // Nothing left to do: a second run deletes nothing.
    let o = gatehouse(
        dir.path(),
        &[
            "cleanup",
            "sql",
            &app.db.dsn,
            "--keep-last",
            "1h",
            "--sleep-tables",
            "0s",
        ],
        &[],
        None,
    )
    .await;
    assert!(o.status.success(), "{}", err(&o));
    assert!(
        out(&o).contains("Cleanup finished: 0 rows deleted"),
        "{}",
        out(&o)
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jsonnet_lint_and_format() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let good = "function(ctx) {\n  email: ctx.identity.traits.email,\n}\n";
    let messy =
        "function(ctx)   {\n    email:ctx.identity.traits.email,\n        list: [1,2],\n}   \n\n\n";
    std::fs::write(d.join("good.jsonnet"), good).unwrap();
    std::fs::write(d.join("messy.jsonnet"), messy).unwrap();
    std::fs::write(d.join("syntax.jsonnet"), "{\n  a: 1,\n  b: ,\n}\n").unwrap();
    std::fs::write(
        d.join("unknown.jsonnet"),
        "function(ctx)\n  { a: ctxx.b }\n",
    )
    .unwrap();

    let o = gatehouse(
        d,
        &["jsonnet", "lint", "good.jsonnet", "messy.jsonnet"],
        &[],
        None,
    )
    .await;
    assert!(o.status.success(), "{}", err(&o));
    let o = gatehouse(
        d,
        &[
            "jsonnet",
            "lint",
            "good.jsonnet",
            "syntax.jsonnet",
            "unknown.jsonnet",
        ],
        &[],
        None,
    )
    .await;
    assert_eq!(o.status.code(), Some(1));
    let stderr = err(&o);
    assert!(
        stderr.contains("syntax.jsonnet:3:6: syntax error"),
        "{stderr}"
    );
    assert!(
        stderr.contains("unknown.jsonnet:2:8: unknown variable \"ctxx\""),
        "{stderr}"
    );
    assert!(!stderr.contains("good.jsonnet"), "{stderr}");

    // Format prints the result; --write rewrites the file; a second pass changes nothing.
    let o = gatehouse(d, &["jsonnet", "format", "messy.jsonnet"], &[], None).await;
    assert!(o.status.success(), "{}", err(&o));
    let formatted = out(&o);
    assert_eq!(
        formatted,
        "function(ctx) {\n  email:ctx.identity.traits.email,\n  list: [1, 2],\n}\n"
    );
    let o = gatehouse(d, &["jsonnet", "format", "-w", "messy.jsonnet"], &[], None).await;
    assert!(o.status.success() && out(&o).is_empty(), "{}", err(&o));
    assert_eq!(
        std::fs::read_to_string(d.join("messy.jsonnet")).unwrap(),
        formatted
    );
    let o = gatehouse(d, &["jsonnet", "format", "messy.jsonnet"], &[], None).await;
    assert_eq!(out(&o), formatted);
    // A file that does not parse is reported and left alone.
    let o = gatehouse(
        d,
        &["jsonnet", "format", "--write", "syntax.jsonnet"],
        &[],
        None,
    )
    .await;
    assert_eq!(o.status.code(), Some(1));
    assert!(err(&o).contains("syntax.jsonnet:3:6"), "{}", err(&o));
    assert_eq!(
        std::fs::read_to_string(d.join("syntax.jsonnet")).unwrap(),
        "{\n  a: 1,\n  b: ,\n}\n"
    );
}
