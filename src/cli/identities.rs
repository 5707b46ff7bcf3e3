//! `identities import|list|get|delete|validate`, as Kratos's verbs: files hold one identity
//! (a `createIdentityBody`) or an array of them, each item is named `file[i]` (`STD_IN[i]` for
//! standard input) in every report, and a verb exits non-zero when any item failed.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use serde_json::{Value, json};

use super::admin_client::{AdminClient, CallFailed, envelope_text};
use super::{Output, Progress, Row};
use crate::config::Config;
use crate::identity::schema::{self, IdentitySchema, SchemaRegistry};
use crate::identity::service::{self, CreateIdentityBody};

/// The largest batch the server takes (`PATCH /admin/identities`).
pub const MAX_BATCH: usize = service::BATCH_LIMIT;

/// The keys of Kratos's `createIdentityBody`; anything else is refused by `validate`, as
/// Kratos's validator closes the body's properties.
const BODY_KEYS: &[&str] = &[
    "schema_id",
    "traits",
    "state",
    "metadata_public",
    "metadata_admin",
    "external_id",
    "organization_id",
    "verifiable_addresses",
    "recovery_addresses",
    "credentials",
];

/// Items read from files (or standard input), and the files that could not be read.
#[derive(Debug, Default)]
pub struct Items {
    pub items: Vec<(String, Value)>,
    pub unreadable: Vec<(String, String)>,
}

/// Reads every path (`-` or no path at all: standard input); a file holds one identity or an
/// array of them.
pub fn read_items(paths: &[PathBuf]) -> Items {
    let mut out = Items::default();
    let stdin_only = paths.is_empty();
    let mut push = |label: &str, text: Result<Vec<u8>, String>| {
        let parsed = text.and_then(|t| {
            serde_json::from_slice::<Value>(&t).map_err(|e| format!("not valid JSON: {e}"))
        });
        match parsed {
            Ok(Value::Array(list)) => out.items.extend(
                list.into_iter()
                    .enumerate()
                    .map(|(i, v)| (format!("{label}[{i}]"), v)),
            ),
            Ok(v) => out.items.push((format!("{label}[0]"), v)),
            Err(e) => out.unreadable.push((label.to_owned(), e)),
        }
    };
    if stdin_only {
        push("STD_IN", read_stdin());
    }
    for p in paths {
        if p == Path::new("-") {
            push("STD_IN", read_stdin());
        } else {
            let label = p.display().to_string();
            push(
                &label,
                std::fs::read(p).map_err(|e| format!("could not open identity file: {e}")),
            );
        }
    }
    out
}

fn read_stdin() -> Result<Vec<u8>, String> {
    let mut buf = Vec::new();
    std::io::stdin()
        .read_to_end(&mut buf)
        .map_err(|e| format!("could not read: {e}"))?;
    Ok(buf)
}

fn report(errors: &[(String, String)]) {
    for (src, e) in errors {
        eprintln!("{src}: {e}");
    }
}

fn exit(failed: bool) -> ExitCode {
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// An identity as Kratos's CLI tabulates it.
pub struct IdentityRow(pub Value);

impl Row for IdentityRow {
    fn header() -> &'static [&'static str] {
        &[
            "ID",
            "VERIFIED ADDRESSES",
            "RECOVERY ADDRESSES",
            "SCHEMA ID",
            "SCHEMA URL",
        ]
    }
    fn columns(&self) -> Vec<String> {
        let s = |k: &str| {
            self.0
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        let addresses = |k: &str| {
            self.0
                .get(k)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.get("value").and_then(Value::as_str))
                        .filter(|v| !v.is_empty())
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default()
        };
        vec![
            s("id"),
            addresses("verifiable_addresses"),
            addresses("recovery_addresses"),
            s("schema_id"),
            s("schema_url"),
        ]
    }
    fn id(&self) -> String {
        self.0
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    }
    fn value(&self) -> Value {
        self.0.clone()
    }
}

/// An identity the import created, and the item it came from.
struct Imported {
    id: String,
    source: String,
}

impl Row for Imported {
    fn header() -> &'static [&'static str] {
        &["ID", "SOURCE"]
    }
    fn columns(&self) -> Vec<String> {
        vec![self.id.clone(), self.source.clone()]
    }
    fn id(&self) -> String {
        self.id.clone()
    }
    fn value(&self) -> Value {
        json!({ "id": self.id, "source": self.source })
    }
}

/// An id a verb acted on (`delete`).
struct IdOnly(String);

impl Row for IdOnly {
    fn header() -> &'static [&'static str] {
        &["ID"]
    }
    fn columns(&self) -> Vec<String> {
        vec![self.0.clone()]
    }
    fn id(&self) -> String {
        self.0.clone()
    }
    fn value(&self) -> Value {
        json!(self.0)
    }
}

/// How one batch went: per item, the new id or the error text.
type Outcome = Vec<(usize, Result<String, String>)>;

async fn send_batch(
    client: &AdminClient,
    batch: Vec<(usize, Value)>,
) -> Result<Outcome, (Vec<usize>, CallFailed)> {
    let mut by_patch = HashMap::with_capacity(batch.len());
    let mut body = Vec::with_capacity(batch.len());
    let indices: Vec<usize> = batch.iter().map(|(i, _)| *i).collect();
    for (i, item) in batch {
        // The patch id ties each answer to its item whatever order the server keeps.
        let patch = uuid::Uuid::new_v4().to_string();
        body.push(json!({ "create": item, "patch_id": patch }));
        by_patch.insert(patch, i);
    }
    let answers = client.batch(body).await.map_err(|e| (indices, e))?;
    let mut out = Vec::with_capacity(answers.len());
    for a in answers {
        let Some(i) = a
            .get("patch_id")
            .and_then(Value::as_str)
            .and_then(|p| by_patch.remove(p))
        else {
            continue;
        };
        let r = match a.get("identity").and_then(Value::as_str) {
            Some(id) if a.get("action").and_then(Value::as_str) == Some("create") => {
                Ok(id.to_owned())
            }
            _ => Err(a
                .get("error")
                .and_then(envelope_text)
                .unwrap_or_else(|| format!("the server reported {a}"))),
        };
        out.push((i, r));
    }
    out.extend(
        by_patch
            .into_values()
            .map(|i| (i, Err("the server did not report on this item".to_owned()))),
    );
    Ok(out)
}

/// `identities import`: every item through the batch endpoint, `batch_size` at a time with up
/// to `parallel` batches in flight; prints the created identities, reports every failed item,
/// and fails when any did.
pub async fn import(
    client: &AdminClient,
    paths: &[PathBuf],
    batch_size: usize,
    parallel: usize,
    out: Output,
) -> ExitCode {
    let started = Instant::now();
    let Items { items, unreadable } = read_items(paths);
    report(&unreadable);
    let total = items.len();
    let mut labels = Vec::with_capacity(total);
    let mut results: Vec<Option<Result<String, String>>> = Vec::with_capacity(total);
    let mut sendable = Vec::with_capacity(total);
    for (i, (label, item)) in items.into_iter().enumerate() {
        labels.push(label);
        if item.is_object() {
            results.push(None);
            sendable.push((i, item));
        } else {
            results.push(Some(Err(format!(
                "expected an identity (a JSON object), got {}",
                kind(&item)
            ))));
        }
    }
    let mut batches = Vec::new();
    let mut rest = sendable.into_iter().peekable();
    while rest.peek().is_some() {
        batches.push(
            rest.by_ref()
                .take(batch_size.clamp(1, MAX_BATCH))
                .collect::<Vec<_>>(),
        );
    }
    let mut progress = Progress::new();
    let (mut done, mut failed) = (
        results.iter().flatten().count(),
        results.iter().flatten().count(),
    );
    let mut stream = futures::stream::iter(batches)
        .map(|b| send_batch(client, b))
        .buffered(parallel.max(1));
    let mut unreachable = None;
    while let Some(r) = stream.next().await {
        match r {
            Ok(outcome) => {
                for (i, r) in outcome {
                    failed += usize::from(r.is_err());
                    done += 1;
                    results[i] = Some(r);
                }
            }
            Err((indices, e)) => {
                done += indices.len();
                failed += indices.len();
                for i in indices {
                    results[i] = Some(Err(e.message.clone()));
                }
                if e.status.is_none() {
                    // The server is not there: the remaining batches would fail the same way.
                    unreachable = Some(e.message);
                    break;
                }
            }
        }
        let rate = done as f64 / started.elapsed().as_secs_f64().max(1e-3);
        progress.update(|| {
            format!("Importing identities: {done}/{total} ({failed} failed, {rate:.0}/s)")
        });
    }
    drop(stream);
    progress.finish();
    let mut imported = Vec::new();
    let mut errors = Vec::new();
    let mut not_sent = 0;
    for (label, r) in labels.into_iter().zip(results) {
        match r {
            Some(Ok(id)) => imported.push(Imported { id, source: label }),
            Some(Err(e)) => errors.push((label, e)),
            None => not_sent += 1,
        }
    }
    out.print(&imported, true, &[]);
    report(&errors);
    let secs = started.elapsed().as_secs_f64();
    if let Some(e) = unreachable {
        eprintln!("{not_sent} identities were not sent: {e}");
    }
    let failed = errors.len() + not_sent + unreadable.len();
    eprintln!(
        "Imported {} of {total} identities in {secs:.1}s ({:.0}/s); {failed} failed.",
        imported.len(),
        imported.len() as f64 / secs.max(1e-3),
    );
    exit(failed > 0)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `identities list`: one page by token, or Kratos's `[page] [per-page]` (pages counted from
/// 1, reached by following the server's page tokens).
pub async fn list(
    client: &AdminClient,
    page: Option<u64>,
    page_size: Option<u32>,
    page_token: Option<String>,
    out: Output,
) -> ExitCode {
    let mut token = page_token;
    let mut skip = page.unwrap_or(1).saturating_sub(1);
    loop {
        match client.list_identities(page_size, token.as_deref()).await {
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
            Ok((items, next)) => {
                if skip > 0 {
                    skip -= 1;
                    match next {
                        Some(n) => {
                            token = Some(n);
                            continue;
                        }
                        None => {
                            // Past the last page: an empty page, as offset paging gives.
                            out.print::<IdentityRow>(&[], false, &[]);
                            return ExitCode::SUCCESS;
                        }
                    }
                }
                let rows: Vec<IdentityRow> = items.into_iter().map(IdentityRow).collect();
                let trailer = [["NEXT PAGE TOKEN".to_owned(), next.unwrap_or_default()]];
                out.print(&rows, false, &trailer);
                return ExitCode::SUCCESS;
            }
        }
    }
}

/// `identities get`: each id in turn; the ones that fail are reported and fail the verb.
pub async fn get(
    client: &AdminClient,
    ids: &[String],
    include_credentials: &[String],
    out: Output,
) -> ExitCode {
    let include: Vec<String> = include_credentials
        .iter()
        .flat_map(|c| c.split(','))
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect();
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for id in ids {
        match client.get_identity(id, &include).await {
            Ok(v) => found.push(IdentityRow(v)),
            Err(e) => errors.push((id.clone(), e.message)),
        }
    }
    if !found.is_empty() {
        out.print(&found, true, &[]);
    }
    report(&errors);
    exit(!errors.is_empty())
}

/// `identities delete`: each id in turn, reporting the ones that fail.
pub async fn delete(client: &AdminClient, ids: &[String], out: Output) -> ExitCode {
    let mut deleted = Vec::new();
    let mut errors = Vec::new();
    for id in ids {
        match client.delete_identity(id).await {
            Ok(()) => deleted.push(IdOnly(id.clone())),
            Err(e) => errors.push((id.clone(), e.message)),
        }
    }
    if !deleted.is_empty() {
        out.print(&deleted, true, &[]);
    }
    report(&errors);
    exit(!errors.is_empty())
}

/// Where `validate` finds the identity schemas: the server's admin API, or a configuration
/// (which also names the default schema for items without a `schema_id`).
pub enum Schemas<'a> {
    Admin(&'a AdminClient),
    Config(&'a Config),
}

/// `identities validate`: every item against Kratos's create body and its identity schema,
/// offline (only the schemas are fetched); prints every problem of every item.
pub async fn validate(source: Schemas<'_>, paths: &[PathBuf]) -> ExitCode {
    let Items { items, unreadable } = read_items(paths);
    report(&unreadable);
    let (schemas, default) = match load_schemas(&source).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let mut invalid = unreadable.len();
    for (label, item) in &items {
        let problems = check_item(item, &schemas, default.as_deref());
        if !problems.is_empty() {
            invalid += 1;
            eprintln!("{label}: not valid");
            for p in problems {
                eprintln!("  {p}");
            }
        }
    }
    if invalid == 0 {
        println!("All identity files are valid.");
    }
    exit(invalid > 0)
}

type SchemaMap = HashMap<String, Result<Arc<IdentitySchema>, String>>;

async fn load_schemas(source: &Schemas<'_>) -> Result<(SchemaMap, Option<String>), String> {
    match source {
        Schemas::Admin(client) => {
            let list = client
                .schemas()
                .await
                .map_err(|e| format!("could not fetch the identity schemas: {e}"))?;
            let map = list
                .into_iter()
                .map(|(id, raw)| {
                    let compiled =
                        IdentitySchema::new(&id, &format!("admin API /schemas/{id}"), raw)
                            .map(Arc::new)
                            .map_err(|e| e.to_string());
                    (id, compiled)
                })
                .collect();
            Ok((map, None))
        }
        Schemas::Config(cfg) => {
            let reg = SchemaRegistry::load(
                &schema::entries(cfg),
                &cfg.identity.default_schema_id,
                &cfg.clients.http,
            )
            .await
            .map_err(|e| format!("could not load the identity schemas: {e}"))?;
            let list = reg
                .list()
                .map_err(|e| format!("could not load the identity schemas: {e}"))?;
            let map = list.into_iter().map(|s| (s.id.clone(), Ok(s))).collect();
            Ok((map, Some(cfg.identity.default_schema_id.clone())))
        }
    }
}

/// Every problem with one item, each as `where: what`.
fn check_item(item: &Value, schemas: &SchemaMap, default: Option<&str>) -> Vec<String> {
    let Some(obj) = item.as_object() else {
        return vec![format!(
            "expected an identity (a JSON object), got {}",
            kind(item)
        )];
    };
    let mut problems: Vec<String> = obj
        .keys()
        .filter(|k| !BODY_KEYS.contains(&k.as_str()))
        .map(|k| format!("#/{k}: property {k:?} is not allowed in an identity"))
        .collect();
    if let Err(e) = service::decode::<CreateIdentityBody>(item.clone()) {
        problems.push(e.to_string());
        return problems;
    }
    let sid = match obj.get("schema_id").and_then(Value::as_str) {
        Some(s) => s,
        None => match default {
            Some(d) => d,
            None => {
                problems.push(r#"expected key "schema_id" to be defined in the identity"#.into());
                return problems;
            }
        },
    };
    match schemas.get(sid) {
        None => problems.push(format!("#/schema_id: no identity schema with id {sid:?}")),
        Some(Err(e)) => problems.push(format!("could not compile the schema {sid:?}: {e}")),
        Some(Ok(s)) => {
            if let Err(messages) = s.validate_traits(&obj["traits"]) {
                problems.extend(
                    messages
                        .into_iter()
                        .map(|m| format!("{}: {}", m.instance_ptr, m.message.text)),
                );
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_report_every_problem() {
        let raw = json!({
            "type": "object",
            "properties": {"traits": {"type": "object", "properties": {"email": {"type": "string", "minLength": 3}}, "required": ["email"]}}
        });
        let mut schemas = SchemaMap::new();
        schemas.insert(
            "s".into(),
            Ok(Arc::new(IdentitySchema::new("s", "test", raw).unwrap())),
        );
        let ok = json!({"schema_id": "s", "traits": {"email": "abc"}});
        assert!(check_item(&ok, &schemas, None).is_empty());
        let p = check_item(
            &json!({"schema_id": "s", "traits": {"email": "a"}, "nope": 1}),
            &schemas,
            None,
        );
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].contains("nope"));
        assert!(p[1].starts_with("#/traits/email"), "{p:?}");
        let p = check_item(&json!({"traits": {}}), &schemas, None);
        assert!(p[0].contains("schema_id"), "{p:?}");
        let p = check_item(&json!({"traits": {}}), &schemas, Some("s"));
        assert!(p[0].contains("#/traits"), "{p:?}");
        let p = check_item(&json!({"schema_id": "x", "traits": {}}), &schemas, None);
        assert!(p[0].contains("no identity schema"), "{p:?}");
        let p = check_item(&json!({"schema_id": "s"}), &schemas, None);
        assert!(p[0].contains("traits"), "{p:?}");
    }
}
