//! Environment overrides: `SELFSERVICE_FLOWS_LOGIN_UI_URL` → `selfservice.flows.login.ui_url`.
//!
//! Key names contain underscores, so a variable name cannot be split blindly; it is
//! matched segment by segment against the JSON schema generated from [`Config`].

use std::sync::OnceLock;

use serde_json::{Map, Value};

use super::Config;
use super::units::parse_bool;

/// One step of a key path.
#[derive(Clone, Debug, PartialEq)]
enum Seg {
    Key(String),
    Index(usize),
}

/// The JSON schema of [`Config`], generated once.
pub(super) fn schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(|| schemars::schema_for!(Config).to_value())
}

/// Overlays every environment variable that names a known key onto `root`.
pub(super) fn apply(root: &mut Value, env: &[(String, String)]) {
    let schema = schema();
    for (name, raw) in env {
        let upper = name.to_ascii_uppercase();
        if upper.is_empty() {
            continue;
        }
        let mut path = Vec::new();
        if let Some(leaf) = find(schema, schema, &upper, &mut path) {
            let value = coerce(raw, leaf, schema);
            tracing::trace!(var = %name, "config key overridden from environment");
            set(root, &path, value);
        }
    }
}

/// Follows `$ref`s and unwraps `Option` (a `null` alternative) to the real schema.
pub(super) fn resolve<'a>(mut node: &'a Value, root: &'a Value) -> &'a Value {
    loop {
        if let Some(target) = node.get("$ref").and_then(Value::as_str) {
            match target.strip_prefix('#').and_then(|p| root.pointer(p)) {
                Some(next) => {
                    node = next;
                    continue;
                }
                None => return node,
            }
        }
        let alternatives = node
            .get("anyOf")
            .or_else(|| node.get("oneOf"))
            .and_then(Value::as_array);
        if let Some(alts) = alternatives {
            let mut real = alts.iter().filter(|a| !is_null_schema(a));
            if let (Some(only), None) = (real.next(), real.next()) {
                node = only;
                continue;
            }
        }
        return node;
    }
}

fn is_null_schema(s: &Value) -> bool {
    s.get("type").and_then(Value::as_str) == Some("null")
}

/// Env spelling of one key segment.
fn env_segment(key: &str) -> String {
    key.to_ascii_uppercase().replace(['.', '-'], "_")
}

/// Matches the remaining variable name `rest` below `node`, filling `path`;
/// returns the leaf schema on a full match.
fn find<'a>(
    node: &'a Value,
    root: &'a Value,
    rest: &str,
    path: &mut Vec<Seg>,
) -> Option<&'a Value> {
    let node = resolve(node, root);
    if rest.is_empty() {
        return Some(node);
    }
    if let Some(props) = node.get("properties").and_then(Value::as_object) {
        for (key, child) in props {
            let seg = env_segment(key);
            let Some(after) = rest.strip_prefix(seg.as_str()) else {
                continue;
            };
            let next = match after.strip_prefix('_') {
                Some(n) if !n.is_empty() => n,
                _ if after.is_empty() => "",
                _ => continue,
            };
            path.push(Seg::Key(key.clone()));
            if let Some(leaf) = find(child, root, next, path) {
                return Some(leaf);
            }
            path.pop();
        }
    }
    if let Some(items) = node.get("items") {
        let (head, tail) = rest.split_once('_').unwrap_or((rest, ""));
        if let Ok(index) = head.parse::<usize>() {
            path.push(Seg::Index(index));
            if let Some(leaf) = find(items, root, tail, path) {
                return Some(leaf);
            }
            path.pop();
        }
    }
    None
}

fn types(schema: &Value) -> Vec<&str> {
    match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| *t != "null")
            .collect(),
        _ => Vec::new(),
    }
}

/// Converts a raw string to the JSON type the key expects. Anything that does not
/// convert stays a string so deserialization reports the error against the key.
fn coerce(raw: &str, leaf: &Value, root: &Value) -> Value {
    let kinds = types(leaf);
    let json = || serde_json::from_str::<Value>(raw.trim()).ok();
    if kinds.contains(&"array") {
        if raw.trim_start().starts_with('[')
            && let Some(v @ Value::Array(_)) = json()
        {
            return v;
        }
        let item = leaf.get("items").map(|i| resolve(i, root));
        return Value::Array(
            raw.split(',')
                .map(str::trim)
                .filter(|part| !part.is_empty())
                .map(|part| {
                    item.map_or_else(|| Value::String(part.to_owned()), |i| coerce(part, i, root))
                })
                .collect(),
        );
    }
    if kinds.is_empty() {
        // Free-form (`serde_json::Value`) keys: take JSON if it is JSON.
        return json().unwrap_or_else(|| Value::String(raw.to_owned()));
    }
    if kinds.contains(&"object")
        && let Some(v @ Value::Object(_)) = json()
    {
        return v;
    }
    if kinds.contains(&"boolean")
        && let Some(b) = parse_bool(raw.trim())
    {
        return Value::Bool(b);
    }
    if kinds.contains(&"integer") {
        if let Ok(n) = raw.trim().parse::<u64>() {
            return Value::from(n);
        }
        if let Ok(n) = raw.trim().parse::<i64>() {
            return Value::from(n);
        }
    }
    if kinds.contains(&"number")
        && let Some(n) = raw
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
    {
        return Value::Number(n);
    }
    Value::String(raw.to_owned())
}

/// Writes `value` at `path`, creating maps as needed. Array indices may address an
/// existing element or append exactly one; gaps are ignored with a warning.
fn set(root: &mut Value, path: &[Seg], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = root;
    for seg in parents {
        cur = match slot(cur, seg) {
            Some(next) => next,
            None => return,
        };
    }
    if let Some(target) = slot(cur, last) {
        *target = value;
    }
}

fn slot<'a>(cur: &'a mut Value, seg: &Seg) -> Option<&'a mut Value> {
    match seg {
        Seg::Key(key) => {
            if !cur.is_object() {
                *cur = Value::Object(Map::new());
            }
            let map = cur.as_object_mut()?;
            Some(map.entry(key.clone()).or_insert(Value::Null))
        }
        Seg::Index(i) => {
            if !cur.is_array() {
                *cur = Value::Array(Vec::new());
            }
            let items = cur.as_array_mut()?;
            if *i == items.len() {
                items.push(Value::Null);
            }
            if *i >= items.len() {
                tracing::warn!(
                    index = i,
                    len = items.len(),
                    "environment override skips array elements; ignored"
                );
                return None;
            }
            items.get_mut(*i)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(name: &str) -> Option<Vec<Seg>> {
        let mut path = Vec::new();
        find(schema(), schema(), name, &mut path).map(|_| path)
    }

    fn keys(path: &[&str]) -> Vec<Seg> {
        path.iter().map(|k| Seg::Key((*k).to_owned())).collect()
    }

    #[test]
    fn resolves_names_with_underscores() {
        assert_eq!(
            lookup("SELFSERVICE_METHODS_LOOKUP_SECRET_ENABLED"),
            Some(keys(&[
                "selfservice",
                "methods",
                "lookup_secret",
                "enabled"
            ]))
        );
        assert_eq!(lookup("SQA_OPT_OUT"), Some(keys(&["sqa-opt-out"])));
        assert_eq!(
            lookup("IDENTITY_SCHEMAS_0_URL"),
            Some(vec![
                Seg::Key("identity".into()),
                Seg::Key("schemas".into()),
                Seg::Index(0),
                Seg::Key("url".into()),
            ])
        );
        assert_eq!(lookup("PATH"), None);
        assert_eq!(lookup("SERVE_PUBLIC_NOPE"), None);
    }
}
