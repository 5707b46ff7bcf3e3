//! What a flow needs to know about the HTTP request, gathered by the HTTP layer, and the
//! submitted body decoded leniently (JSON or forms, duplicate keys tolerated).

use serde_json::{Map, Value};

use super::FlowError;
use crate::identity::schema::IdentitySchema;
use crate::limits::{MAX_DEPTH, MAX_FORM_FIELDS};
use crate::security::events::Origin;
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
    /// The client's address as throttling counts it (forwarding headers only from
    /// `serve.public.trusted_proxies`); `None` when the request has no peer.
    pub client_address: Option<std::net::IpAddr>,
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
    /// The client, as security events name it.
    pub fn origin(&self) -> Origin {
        Origin::new(self.client_address, self.device.user_agent.as_deref())
    }
}

/// A submitted form or JSON body, decoded within the bounds of [`crate::limits`].
///
/// Both formats follow the form format, as Kratos's decoder does for every flow
/// (`HTTPDecoderJSONFollowsFormFormat`): a dotted key `traits.a.b` names the trait `a.b`, and
/// `transient_payload.a.b` a nested value of the transient payload.
#[derive(Debug, Clone, Default)]
pub struct Submission {
    pub fields: Map<String, Value>,
    /// The dotted `traits.*` fields, in order: strings from a form, values as sent from JSON.
    /// They are typed and nested only against the identity schema the flow uses
    /// ([`Submission::traits`]), so a key the schema does not name is ignored, as Kratos does.
    dotted_traits: Vec<(String, Value)>,
    /// What a method's round trip brought back (an OpenID Connect callback's code and state,
    /// or the claims a handed-over flow continues with). Set by the server only: no client
    /// body decodes into it.
    pub carried: Option<Value>,
    /// The client's address (`FlowRequest::client_address`), for methods that send codes
    /// (`security.rate_limits`). Set by the server only.
    pub client_address: Option<std::net::IpAddr>,
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

    /// Decodes a JSON object. Top-level keys are read as form keys: `traits.*` wait for the
    /// schema, `transient_payload.*` are nested into the payload (merged with a nested
    /// `transient_payload` sent alongside, the dotted key winning), others are kept as sent.
    /// A key of more than [`MAX_DEPTH`] dotted segments, or one whose value would nest deeper
    /// than [`MAX_DEPTH`] once expanded, is refused.
    pub fn from_json(body: &[u8]) -> Result<Submission, FlowError> {
        let object = match crate::limits::parse_json(body) {
            Ok(Value::Object(object)) => object,
            Ok(_) => {
                return Err(FlowError::BadRequest(
                    "The request body must be a JSON object.".into(),
                ));
            }
            Err(e) => return Err(FlowError::BadRequest(format!("The request body {e}."))),
        };
        let mut sub = Submission::default();
        let mut dotted_payload = Vec::new();
        for (k, v) in object {
            if !k.contains('.') {
                sub.fields.insert(k, v);
                continue;
            }
            let segments = check_key(&k)?;
            if crate::limits::check_within(&v, segments).is_err() {
                return Err(FlowError::BadRequest(format!(
                    "The field {:?} is refused because its value nests deeper than {MAX_DEPTH} levels.",
                    abbreviate(&k)
                )));
            }
            if k.starts_with("traits.") {
                sub.dotted_traits.push((k, v));
            } else if k.starts_with("transient_payload.") {
                dotted_payload.push((k, v));
            } else {
                sub.fields.insert(k, v);
            }
        }
        // Dotted keys over the nested object, whatever order they were sent in.
        for (k, v) in dotted_payload {
            let path = &k["transient_payload.".len()..];
            *slot(&mut sub.fields, "transient_payload", path) = v;
        }
        Ok(sub)
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
            check_key(&k)?;
            let (k, v) = (k.into_owned(), v.into_owned());
            if k.starts_with("traits.") {
                sub.dotted_traits.push((k, Value::String(v)));
            } else if let Some(path) = k.strip_prefix("transient_payload.") {
                let leaf = slot(&mut sub.fields, "transient_payload", path);
                if !v.is_empty() {
                    *leaf = Value::String(v);
                }
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

    /// A submit button's flag (`lookup_secret_confirm`, `totp_unlink` …): `true` from JSON,
    /// `"true"` from a form.
    pub fn flag(&self, key: &str) -> bool {
        match self.get(key) {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => s == "true",
            _ => false,
        }
    }

    /// The submitted traits: a nested `traits` object as sent, with the dotted `traits.*`
    /// fields over it, nested and typed (numbers, booleans, arrays) by the paths `schema`
    /// declares. A value that cannot take the schema's type is kept as sent, for the schema
    /// to refuse on its node. `None` when none were submitted.
    pub fn traits(&self, schema: &IdentitySchema) -> Option<Value> {
        if self.dotted_traits.is_empty() {
            return self.get("traits").cloned();
        }
        let fields = schema.trait_fields();
        let mut out = Map::new();
        if let Some(nested @ Value::Object(_)) = self.fields.get("traits") {
            out.insert("traits".into(), nested.clone());
        }
        for (k, v) in &self.dotted_traits {
            let Some(f) = fields.iter().find(|f| f.path == *k) else {
                continue;
            };
            let leaf = slot(&mut out, "traits", &k["traits.".len()..]);
            if f.json_type == "array" {
                if !leaf.is_array() {
                    *leaf = Value::Array(Vec::new());
                }
                let item = f.item_type.as_deref().unwrap_or("string");
                let items = leaf.as_array_mut().expect("made an array above");
                match v {
                    Value::Array(vs) => items.extend(vs.iter().map(|v| coerce(v, item))),
                    v if is_blank(v) => {}
                    v => items.push(coerce(v, item)),
                }
            } else if !is_blank(v) {
                *leaf = coerce(v, &f.json_type);
            }
        }
        Some(
            out.remove("traits")
                .unwrap_or_else(|| Value::Object(Map::new())),
        )
    }
}

/// Refuses a key naming more than [`MAX_DEPTH`] levels; the number of its segments.
fn check_key(k: &str) -> Result<usize, FlowError> {
    let segments = k.split('.').take(MAX_DEPTH + 1).count();
    if segments > MAX_DEPTH {
        return Err(FlowError::BadRequest(format!(
            "The field {:?} is refused because it names more than {MAX_DEPTH} levels.",
            abbreviate(k)
        )));
    }
    Ok(segments)
}

/// The start of an over-long key, for an error message.
fn abbreviate(k: &str) -> String {
    match k.char_indices().nth(40) {
        Some((i, _)) => format!("{}…", &k[..i]),
        None => k.to_owned(),
    }
}

/// An empty form field or a JSON `null`: "not given", as a browser sends every input.
fn is_blank(v: &Value) -> bool {
    v.is_null() || v.as_str() == Some("")
}

/// `v` as the schema type `ty` when it reads as one (`"36"` as an integer, `1` or `"on"` as
/// a boolean, `5` as a string), else unchanged.
fn coerce(v: &Value, ty: &str) -> Value {
    match (v, ty) {
        (Value::String(s), "integer") => s
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| v.clone()),
        (Value::String(s), "number") => s
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or_else(|| v.clone(), Value::Number),
        (Value::String(s), "boolean") => match s.as_str() {
            "true" | "on" | "1" => Value::Bool(true),
            "false" | "off" | "0" => Value::Bool(false),
            _ => v.clone(),
        },
        (Value::Number(n), "boolean") => match n.as_f64() {
            Some(1.0) => Value::Bool(true),
            Some(0.0) => Value::Bool(false),
            _ => v.clone(),
        },
        (Value::Number(n), "string") => Value::String(n.to_string()),
        (Value::Bool(b), "string") => Value::String(b.to_string()),
        _ => v.clone(),
    }
}

/// The value at `root.path` (dotted), made of objects down to it: a scalar in the way is
/// replaced, a missing leaf is `null`. The caller bounds the number of segments.
fn slot<'a>(fields: &'a mut Map<String, Value>, root: &str, path: &str) -> &'a mut Value {
    let mut cur = fields.entry(root.to_owned()).or_insert(Value::Null);
    for part in path.split('.') {
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
        cur = cur
            .as_object_mut()
            .expect("made an object above")
            .entry(part.to_owned())
            .or_insert(Value::Null);
    }
    cur
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
    fn json_dotted_keys_follow_the_form_format() {
        let s = Submission::from_json(
            br#"{"method":"password","traits":{"name":{"first":"X"},"email":"old"},
                "traits.email":"a@b.c","traits.name.first":"Ada","traits.age":"36","traits.tos":1,
                "traits.lucky":[7,"1.5"],"traits.unknown":1,"traits.email.deeper":"x",
                "transient_payload.a.b":2,"transient_payload":{"c":3},"other.key":"kept"}"#,
        )
        .unwrap();
        assert_eq!(s.str("method"), Some("password"));
        assert_eq!(
            s.fields["transient_payload"],
            json!({"c": 3, "a": {"b": 2}})
        );
        assert_eq!(s.fields["other.key"], "kept");
        // Nested traits as sent, dotted ones over them, typed by the schema; unknown paths
        // are ignored.
        assert_eq!(
            s.traits(&person()).unwrap(),
            json!({"name": {"first": "Ada"}, "email": "a@b.c", "age": 36, "tos": true, "lucky": [7, 1.5]})
        );
        // What cannot take the schema's type stays as sent, for the schema to refuse.
        let s = Submission::from_json(br#"{"traits.age":"old","traits.tos":2,"traits.email":5}"#)
            .unwrap();
        assert_eq!(
            s.traits(&person()).unwrap(),
            json!({"age": "old", "tos": 2, "email": "5"})
        );
        // Only a nested object: as sent.
        let s = Submission::from_json(br#"{"traits":{"age":"36"}}"#).unwrap();
        assert_eq!(s.traits(&person()).unwrap(), json!({"age": "36"}));
    }

    #[test]
    fn json_dotted_keys_are_bounded() {
        let key = |n: usize| format!("traits{}", ".a".repeat(n));
        let body = format!("{{\"{}\":1}}", key(MAX_DEPTH));
        assert!(matches!(
            Submission::from_json(body.as_bytes()),
            Err(FlowError::BadRequest(r)) if r.contains("names more than")
        ));
        let body = format!("{{\"{}\":1}}", key(5_000));
        assert!(Submission::from_json(body.as_bytes()).is_err());
        // Within the bound as a key, but its value would nest past it once expanded.
        let body = format!("{{\"{}\":{{\"b\":{{\"c\":1}}}}}}", key(MAX_DEPTH - 2));
        assert!(matches!(
            Submission::from_json(body.as_bytes()),
            Err(FlowError::BadRequest(r)) if r.contains("nests deeper")
        ));
        let body = format!("{{\"{}\":{{\"b\":1}}}}", key(MAX_DEPTH - 2));
        assert!(Submission::from_json(body.as_bytes()).is_ok());
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
