//! What a flow needs to know about the HTTP request, gathered by the HTTP layer, and the
//! submitted body decoded leniently (JSON or forms, duplicate keys tolerated).

use serde_json::{Map, Value};

use super::FlowError;
use crate::identity::schema::IdentitySchema;
use crate::selfservice::csrf::RawToken;
use crate::session::DeviceInfo;

/// The request, reduced to what flows decide on. Built in `http/`, so flows never see hyper.
#[derive(Debug, Clone, Default)]
pub struct FlowRequest {
    /// The URL the client asked for, as Kratos records it in `request_url`.
    pub request_url: String,
    /// The client wants JSON (an SPA or API client) instead of redirects.
    pub wants_json: bool,
    /// The raw CSRF token from the browser's CSRF cookie.
    pub csrf_cookie: Option<RawToken>,
    /// A session token from `X-Session-Token`, the session cookie or `Authorization: Bearer`.
    pub session_token: Option<String>,
    /// The request carries an `Origin` header (a browser's AJAX request).
    pub has_origin: bool,
    /// The request carries cookies other than a CDN's.
    pub has_cookies: bool,
    /// `X-CSRF-Token` header, an alternative to the body's `csrf_token`.
    pub csrf_header: Option<String>,
    pub device: DeviceInfo,
    /// Query parameters (`return_to`, `refresh`, `aal`, …).
    pub query: Vec<(String, String)>,
    /// The HTTP method, headers and cookies, for web hooks' `ctx.request_*` (headers are
    /// narrowed to `clients.web_hook.header_allowlist` when a hook reads them).
    pub method: String,
    pub headers: Vec<(String, String)>,
    pub cookies: Vec<(String, String)>,
}

impl FlowRequest {
    pub fn query(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .rev()
            .find(|(k, v)| k == key && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }
    pub fn query_bool(&self, key: &str) -> bool {
        matches!(self.query(key), Some("true" | "1"))
    }
}

/// A submitted form or JSON body.
#[derive(Debug, Clone, Default)]
pub struct Submission {
    pub fields: Map<String, Value>,
}

impl Submission {
    pub fn from_json(body: &[u8]) -> Result<Submission, FlowError> {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(fields)) => Ok(Submission { fields }),
            Ok(_) => Err(FlowError::BadRequest(
                "The request body must be a JSON object.".into(),
            )),
            Err(e) => Err(FlowError::BadRequest(format!(
                "The request body is not valid JSON: {e}"
            ))),
        }
    }

    /// Decodes `application/x-www-form-urlencoded`. `traits.a.b` keys build nested objects,
    /// typed by the identity schema (numbers, booleans, arrays); for other keys the last
    /// non-empty value wins, so repeated keys (as some SDKs and forms send) are accepted.
    pub fn from_form(body: &[u8], schema: Option<&IdentitySchema>) -> Submission {
        let types: Vec<(String, String)> = schema
            .map(|s| {
                s.trait_fields()
                    .into_iter()
                    .map(|f| (f.path.clone(), f.json_type.clone()))
                    .collect()
            })
            .unwrap_or_default();
        let mut fields = Map::new();
        for (k, v) in form_urlencoded::parse(body) {
            let (k, v) = (k.into_owned(), v.into_owned());
            if let Some(path) = k
                .strip_prefix("traits.")
                .or_else(|| k.strip_prefix("transient_payload."))
            {
                let root = if k.starts_with("traits.") {
                    "traits"
                } else {
                    "transient_payload"
                };
                let ty = types
                    .iter()
                    .find(|(p, _)| *p == k)
                    .map(|(_, t)| t.as_str())
                    .unwrap_or("string");
                insert_path(&mut fields, root, path, &v, ty);
            } else if !v.is_empty() || !fields.contains_key(&k) {
                fields.insert(k, Value::String(v));
            }
        }
        Submission { fields }
    }

    pub fn str(&self, key: &str) -> Option<&str> {
        self.fields.get(key).and_then(Value::as_str)
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.fields.get(key).filter(|v| !v.is_null())
    }
}

fn typed(v: &str, ty: &str) -> Value {
    match ty {
        "integer" => v
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| Value::String(v.into())),
        "number" => v
            .parse::<f64>()
            .ok()
            .and_then(|f| serde_json::Number::from_f64(f).map(Value::Number))
            .unwrap_or_else(|| Value::String(v.into())),
        "boolean" => match v {
            "true" | "on" | "1" => Value::Bool(true),
            "false" | "off" | "0" => Value::Bool(false),
            other => Value::String(other.into()),
        },
        _ => Value::String(v.into()),
    }
}

fn insert_path(fields: &mut Map<String, Value>, root: &str, path: &str, v: &str, ty: &str) {
    let mut cur = fields
        .entry(root.to_owned())
        .or_insert_with(|| Value::Object(Map::new()));
    let parts: Vec<&str> = path.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
        let obj = cur.as_object_mut().expect("made an object above");
        if i + 1 == parts.len() {
            if ty == "array" {
                let entry = obj
                    .entry((*part).to_owned())
                    .or_insert_with(|| Value::Array(Vec::new()));
                if let Value::Array(a) = entry
                    && !v.is_empty()
                {
                    a.push(Value::String(v.into()));
                }
            } else if v.is_empty() {
                // An empty form field means "not given", as a browser sends every input.
                obj.entry((*part).to_owned()).or_insert(Value::Null);
            } else {
                obj.insert((*part).to_owned(), typed(v, ty));
            }
            return;
        }
        cur = obj
            .entry((*part).to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
    }
}

/// Drops `null` leaves (unfilled form inputs) so the schema sees them as absent.
pub fn prune_nulls(v: &mut Value) {
    if let Value::Object(m) = v {
        m.retain(|_, x| !x.is_null());
        for x in m.values_mut() {
            prune_nulls(x);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_keys_nest_and_repeat() {
        let s = Submission::from_form(
            b"method=password&method=password&traits.email=a%40b.c&traits.name.first=Ada&password=x&csrf_token=&csrf_token=t",
            None,
        );
        assert_eq!(s.str("method"), Some("password"));
        assert_eq!(s.str("csrf_token"), Some("t"));
        assert_eq!(s.fields["traits"]["email"], "a@b.c");
        assert_eq!(s.fields["traits"]["name"]["first"], "Ada");
    }
}
