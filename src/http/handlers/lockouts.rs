//! `GET /admin/lockouts` and `DELETE /admin/lockouts` (Gatehouse's): the failed sign-in
//! counters of one identifier, identity (with its credentials' identifiers) or client address.

use bytes::Bytes;
use http::{Request, StatusCode};

use crate::http::App;
use crate::http::error::ApiError;
use crate::http::extract::{query_one, query_pairs};
use crate::http::respond::{Resp, empty, ok_json};
use crate::security::throttle::{self, Keys};

const PARAMETERS: &str = "identifier, identity_id or address";

/// The keys the query names; at least one parameter is required.
async fn keys(app: &App, req: &Request<Bytes>) -> Result<Keys, ApiError> {
    let q = query_pairs(req);
    let identifier = query_one(&q, "identifier");
    let identity = query_one(&q, "identity_id")
        .map(|v| {
            uuid::Uuid::parse_str(v).map_err(|_| {
                ApiError::bad_request(format!(
                    "The query parameter identity_id is not a UUID: {v:?}."
                ))
            })
        })
        .transpose()?;
    let address = query_one(&q, "address")
        .map(|v| {
            v.parse::<std::net::IpAddr>().map_err(|_| {
                ApiError::bad_request(format!(
                    "The query parameter address is not an IP address: {v:?}."
                ))
            })
        })
        .transpose()?;
    if identifier.is_none() && identity.is_none() && address.is_none() {
        return Err(ApiError::bad_request(format!(
            "The query parameter {PARAMETERS} is missing."
        )));
    }
    Ok(throttle::admin_keys(&app.handles.deps(), identifier, identity, address).await)
}

/// `{"counters":[{kind, failures, first_failure_at, last_failure_at, locked_until,
/// next_attempt_at}]}`, one entry per key named (a key with no failures shows zero).
pub async fn get(app: &App, req: &Request<Bytes>) -> Result<Resp, ApiError> {
    let keys = keys(app, req).await?;
    let states = throttle::states(&app.handles.deps(), &keys).await?;
    Ok(ok_json(&serde_json::json!({ "counters": states })))
}

/// Clears the counters; 204.
pub async fn delete(app: &App, req: &Request<Bytes>) -> Result<Resp, ApiError> {
    let keys = keys(app, req).await?;
    throttle::clear(&app.handles.deps(), &keys).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}
