//! Entry points for fuzzing the request decoders and the hash-format parsers, shared by the
//! cargo-fuzz targets in `fuzz/` (the long runs, see the README) and the bounded property
//! test of the suite (`tests/fuzz.rs`). Each takes arbitrary bytes, runs the decoders a
//! request meets and then the walks the request path runs on what they decoded (pruning,
//! echoing into a UI container, schema validation, JSON Patch, serialising, cloning,
//! dropping), and panics when an invariant breaks: a bound not held, or a decoded value that
//! does not survive the walks. A crash or a stack overflow here is a crash in the server.

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::OnceLock;

use http::{HeaderMap, HeaderValue, Request, header};
use serde_json::{Value, json};

use crate::identity::schema::IdentitySchema;
use crate::limits::{self, MAX_FORM_FIELDS, MAX_PAIRS};
use crate::selfservice::flow::request::{Submission, prune_nulls};
use crate::selfservice::ui::{Group, UiContainer};

/// A schema with the shapes Kratos users write: nested objects, arrays, typed scalars.
fn schema() -> &'static IdentitySchema {
    static SCHEMA: OnceLock<IdentitySchema> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        IdentitySchema::new(
            "fuzz",
            "base64://",
            json!({"type": "object", "properties": {"traits": {"type": "object", "properties": {
                "email": {"type": "string", "format": "email", "ory.sh/kratos": {
                    "credentials": {"password": {"identifier": true}},
                    "recovery": {"via": "email"}, "verification": {"via": "email"}}},
                "name": {"type": "object", "properties": {
                    "first": {"type": "string"}, "last": {"type": "string", "pattern": "^[A-Z]"}}},
                "age": {"type": "integer", "minimum": 0},
                "tos": {"type": "boolean"},
                "tags": {"type": "array", "items": {"type": "string"}}
            }, "required": ["email"]}}}),
        )
        .expect("the fuzz schema compiles")
    })
}

/// Everything the request path does with a decoded document.
fn walk(v: &Value) {
    limits::check(v).expect("a decoded document stays within the bounds");
    let mut copy = v.clone();
    prune_nulls(&mut copy);
    let mut ui = UiContainer::new(String::new(), "POST");
    ui.set_values_from_json(&copy, "traits", Group::Default);
    let _ = serde_json::to_string(&ui).expect("a UI container serialises");
    let _ = schema().validate_traits(&copy);
    // Stored documents are read back with serde_json's own depth limit.
    let text = serde_json::to_string(v).expect("a decoded document serialises");
    let _: Value = serde_json::from_str(&text).expect("a decoded document reads back");
}

fn submission(s: &Submission) {
    walk(&Value::Object(s.fields.clone()));
    if let Some(traits) = s.traits(schema()) {
        walk(&traits);
    }
}

/// The decoders of bodies, query strings, cookies and headers, and JSON Patch.
pub fn decoders(data: &[u8]) {
    if let Ok(v) = limits::parse_json(data) {
        walk(&v);
        patch(&v);
    }
    // Kratos's cookie: the MAC keeps generated input from its gob decoder, so feed it directly.
    let _ = crate::session::kratos_cookie::values(data);
    if let Ok(s) = Submission::from_json(data) {
        submission(&s);
    }
    if let Ok(s) = Submission::from_form(data) {
        assert!(s.fields.len() <= MAX_FORM_FIELDS);
        submission(&s);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(d) = crate::config::Duration::from_str(text) {
            assert!(d.get().as_nanos() <= i64::MAX as u128);
        }
        let _ = crate::selfservice::csrf::decode_cookie(text);
        let _ = crate::selfservice::csrf::unmask(text);
        let _ = crate::session::cookie::decode(&["fuzzing secret".into()], text);
        let _ = crate::session::kratos_cookie::decode(&["fuzzing secret".into()], "c", text, 0, 0);
        if let Ok(req) = Request::builder().uri(format!("/x?{text}")).body(()) {
            let pairs = crate::http::extract::query_pairs(&req);
            assert!(pairs.len() <= MAX_PAIRS);
            let _ = crate::http::extract::check_pairs(&req);
        }
    }
    if let Ok(v) = HeaderValue::from_bytes(data) {
        let mut headers = HeaderMap::new();
        for name in [
            header::COOKIE,
            header::ACCEPT,
            header::CONTENT_TYPE,
            header::USER_AGENT,
            header::AUTHORIZATION,
        ] {
            headers.insert(name, v.clone());
        }
        headers.insert("x-forwarded-for", v.clone());
        headers.insert("true-client-ip", v);
        let cookies = crate::http::flow::request::cookies(&headers);
        assert!(cookies.len() <= MAX_PAIRS);
        let _ = crate::http::flow::request::wants_json(&headers, true);
        let _ = crate::http::session_auth::device_info(
            &headers,
            Some(SocketAddr::from(([127, 0, 0, 1], 1))),
        );
        let req = Request::builder().body(()).expect("an empty request");
        let (mut parts, ()) = req.into_parts();
        parts.headers = headers;
        let _ = crate::http::extract::check_pairs(&Request::from_parts(parts, ()));
    }
}

/// A decoded JSON array as a JSON Patch on an identity document: whatever the operations,
/// the result stays within the bounds or the patch is refused.
fn patch(v: &Value) {
    let Ok(patch) = serde_json::from_value::<json_patch::Patch>(v.clone()) else {
        return;
    };
    let mut doc = json!({
        "id": "00000000-0000-0000-0000-000000000000",
        "schema_id": "fuzz",
        "traits": {"email": "a@example.org", "name": {"first": "A"}},
        "metadata_public": {"a": [1, {"b": null}]},
        "metadata_admin": null,
    });
    if crate::identity::service::apply_bounded(&mut doc, &patch).is_ok() {
        walk(&doc);
    }
}

/// The hash-format parser that checks imported password hashes.
pub fn hash_format(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = crate::hash::identify(text);
    }
}
