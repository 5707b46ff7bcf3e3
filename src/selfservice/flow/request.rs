//! What a flow needs to know about the HTTP request, gathered by the HTTP layer, and the
//! submitted body decoded leniently (JSON or forms, duplicate keys tolerated).

use serde_json::{Map, Value};

use super::FlowError;
use crate::identity::schema::IdentitySchema;
use crate::limits::{MAX_DEPTH, MAX_FORM_FIELDS};
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

/// A submitted form or JSON body, decoded within the bounds of [`crate::limits`].
#[derive(Debug, Clone, Default)]
pub struct Submission {
    pub fields: Map<String, Value>,
    /// The `traits.*` fields of a form body, in order. They are typed and nested only against
    /// the identity schema the flow uses ([`Submission::traits`]), so a form key the schema
    /// does not name is ignored, as Kratos does.
    form_traits: Vec<(String, String)>,
}

impl Submission {
    /// A JSON body or a form body.
    pub fn decode(body: &[u8], is_json: bool) -> Result<Submission, FlowError> {
        if is_json {
            Self::from_json(body)
        } else {
            Self::from_form(body)
        }
    }

    pub fn from_json(body: &[u8]) -> Result<Submission, FlowError> {
        match crate::limits::parse_json(body) {
            Ok(Value::Object(fields)) => Ok(Submission {
                fields,
                form_traits: Vec::new(),
            }),
            Ok(_) => Err(FlowError::BadRequest(
                "The request body must be a JSON object.".into(),
            )),
            Err(e) => Err(FlowError::BadRequest(format!("The request body {e}."))),
        }
    }

    /// Decodes `application/x-www-form-urlencoded`. `transient_payload.a.b` keys build nested
    /// objects of strings; `traits.*` keys wait for the schema ([`Submission::traits`]); for
    /// other keys the last non-empty value wins, so repeated keys (as some SDKs and forms
    /// send) are accepted. More than [`MAX_FORM_FIELDS`] fields, or a key of more than
    /// [`MAX_DEPTH`] dotted segments, is refused.
    pub fn from_form(body: &[u8]) -> Result<Submission, FlowError> {
        let mut sub = Submission::default();
        for (n, (k, v)) in form_urlencoded::parse(body).enumerate() {
            if n == MAX_FORM_FIELDS {
                return Err(FlowError::BadRequest(format!(
                    "The form is refused because it has more than {MAX_FORM_FIELDS} fields."
                )));
            }
            if k.split('.').nth(MAX_DEPTH).is_some() {
                return Err(FlowError::BadRequest(format!(
                    "The form field {:?} is refused because it names more than {MAX_DEPTH} levels.",
                    abbreviate(&k)
                )));
            }
            let (k, v) = (k.into_owned(), v.into_owned());
            if k.starts_with("traits.") {
                sub.form_traits.push((k, v));
            } else if let Some(path) = k.strip_prefix("transient_payload.") {
                insert_path(
                    &mut sub.fields,
                    "transient_payload",
                    path,
                    &v,
                    "string",
                    None,
                );
            } else if !v.is_empty() || !sub.fields.contains_key(&k) {
                sub.fields.insert(k, Value::String(v));
            }
        }
        Ok(sub)
    }

    pub fn str(&self, key: &str) -> Option<&str> {
        self.fields.get(key).and_then(Value::as_str)
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.fields.get(key).filter(|v| !v.is_null())
    }

    /// The submitted traits: a JSON body's `traits` as sent, or a form's `traits.*` fields
    /// nested and typed (numbers, booleans, arrays) by the paths `schema` declares. `None`
    /// when none were submitted.
    pub fn traits(&self, schema: &IdentitySchema) -> Option<Value> {
        if self.form_traits.is_empty() {
            return self.get("traits").cloned();
        }
        let fields = schema.trait_fields();
        let mut out = Map::new();
        for (k, v) in &self.form_traits {
            let Some(f) = fields.iter().find(|f| f.path == *k) else {
                continue;
            };
            let path = &k["traits.".len()..];
            insert_path(
                &mut out,
                "traits",
                path,
                v,
                &f.json_type,
                f.item_type.as_deref(),
            );
        }
        Some(
            out.remove("traits")
                .unwrap_or_else(|| Value::Object(Map::new())),
        )
    }
}

/// The start of an over-long form key, for an error message.
fn abbreviate(k: &str) -> String {
    match k.char_indices().nth(40) {
        Some((i, _)) => format!("{}…", &k[..i]),
        None => k.to_owned(),
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

/// Sets `root.path` (dotted) to `v` typed as `ty`; array fields collect repeated values
/// typed as `item`. The caller bounds the number of segments.
fn insert_path(
    fields: &mut Map<String, Value>,
    root: &str,
    path: &str,
    v: &str,
    ty: &str,
    item: Option<&str>,
) {
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
                    a.push(typed(v, item.unwrap_or("string")));
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
    use serde_json::json;

    fn person() -> IdentitySchema {
        IdentitySchema::new(
            "person",
            "base64://",
            json!({"type": "object", "properties": {"traits": {"type": "object", "properties": {
                "email": {"type": "string"},
                "name": {"type": "object", "properties": {"first": {"type": "string"}}},
                "age": {"type": "integer"},
                "tos": {"type": "boolean"},
                "lucky": {"type": "array", "items": {"type": "number"}}
            }}}}),
        )
        .unwrap()
    }

    #[test]
    fn form_keys_nest_and_repeat() {
        let s = Submission::from_form(
            b"method=password&method=password&traits.email=a%40b.c&traits.name.first=Ada&password=x&csrf_token=&csrf_token=t&transient_payload.a.b=c",
        )
        .unwrap();
        assert_eq!(s.str("method"), Some("password"));
        assert_eq!(s.str("csrf_token"), Some("t"));
        assert_eq!(s.fields["transient_payload"]["a"]["b"], "c");
        let traits = s.traits(&person()).unwrap();
        assert_eq!(traits, json!({"email": "a@b.c", "name": {"first": "Ada"}}));
    }

    #[test]
    fn form_traits_follow_the_schema() {
        let s = Submission::from_form(
            b"traits.age=36&traits.tos=on&traits.lucky=7&traits.lucky=1.5&traits.unknown=x&traits.name.first.deeper=y",
        )
        .unwrap();
        // Unknown paths are ignored, values typed by the schema.
        assert_eq!(
            s.traits(&person()).unwrap(),
            json!({"age": 36, "tos": true, "lucky": [7.0, 1.5]})
        );
        // No traits fields at all: none submitted.
        let s = Submission::from_form(b"method=profile").unwrap();
        assert_eq!(s.traits(&person()), None);
    }

    #[test]
    fn forms_are_bounded() {
        let deep = format!("traits{}=v", ".a".repeat(MAX_DEPTH));
        assert!(matches!(
            Submission::from_form(deep.as_bytes()),
            Err(FlowError::BadRequest(r)) if r.contains("levels")
        ));
        let ok = format!("transient_payload{}=v", ".a".repeat(MAX_DEPTH - 1));
        assert!(Submission::from_form(ok.as_bytes()).is_ok());
        let many = (0..=MAX_FORM_FIELDS)
            .map(|i| format!("f{i}=v"))
            .collect::<Vec<_>>()
            .join("&");
        assert!(matches!(
            Submission::from_form(many.as_bytes()),
            Err(FlowError::BadRequest(r)) if r.contains("fields")
        ));
    }

    #[test]
    fn json_bodies_are_bounded() {
        let deep = "{\"a\":".repeat(MAX_DEPTH + 1) + "1" + &"}".repeat(MAX_DEPTH + 1);
        assert!(matches!(
            Submission::from_json(deep.as_bytes()),
            Err(FlowError::BadRequest(r)) if r.contains("levels")
        ));
    }
}
