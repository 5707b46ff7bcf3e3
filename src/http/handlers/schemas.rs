//! `GET /schemas` and `GET /schemas/{id}` (public and admin).

use base64::Engine;
use http::Request;
use serde_json::json;

use crate::http::App;
use crate::http::error::ApiError;
use crate::http::respond::{Resp, ok_json};
use crate::identity::service::IdentityError;

pub fn list<B>(app: &App, _req: &Request<B>) -> Result<Resp, ApiError> {
    let all: Vec<_> = app
        .handles
        .deps()
        .schemas
        .list()
        .map_err(IdentityError::from)?
        .iter()
        .map(|s| json!({ "id": s.id, "schema": s.raw }))
        .collect();
    Ok(ok_json(&all))
}

/// The id may be the schema id itself or its base64url form (as in `schema_url`).
pub fn get(app: &App, id: &str) -> Result<Resp, ApiError> {
    let deps = app.handles.deps();
    let decoded = || {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(id.trim_end_matches('='))
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
    };
    let found = match deps.schemas.get(id).map_err(IdentityError::from)? {
        Some(s) => Some(s),
        None => match decoded() {
            Some(d) => deps.schemas.get(&d).map_err(IdentityError::from)?,
            None => None,
        },
    };
    match found {
        Some(s) => Ok(ok_json(&s.raw)),
        None => Err(ApiError::not_found(format!(
            "No identity schema with id {id:?} is configured."
        ))),
    }
}
