//! Reading requests: bounded bodies, JSON, query strings, ids.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde_json::Value;
use uuid::Uuid;

use super::error::ApiError;
use crate::limits::MAX_PAIRS;

/// How long a client may take to send a request body: a slow sender must not hold a
/// connection and a handler open indefinitely.
pub const BODY_DEADLINE: Duration = Duration::from_secs(30);

/// Reads a whole request body, refusing more than `limit` bytes with 413 and a body that takes
/// longer than [`BODY_DEADLINE`] with 408. [`super::handle`] reads every body before routing.
pub async fn read_body(
    headers: &HeaderMap,
    body: Incoming,
    limit: usize,
) -> Result<Bytes, ApiError> {
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
        && len > limit
    {
        return Err(ApiError::payload_too_large(limit));
    }
    let read = Limited::new(body, limit).collect();
    let Ok(read) = tokio::time::timeout(BODY_DEADLINE, read).await else {
        return Err(ApiError::request_timeout(format!(
            "The request body was not received within {} seconds.",
            BODY_DEADLINE.as_secs()
        )));
    };
    match read {
        Ok(c) => Ok(c.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(ApiError::payload_too_large(limit))
        }
        Err(e) => Err(ApiError::bad_request(format!(
            "The request body could not be read: {e}"
        ))),
    }
}

/// The body as a JSON document.
pub fn json_body(req: Request<Bytes>) -> Result<Value, ApiError> {
    if let Some(ct) = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        && !ct.is_empty()
        && !ct.to_ascii_lowercase().contains("json")
    {
        return Err(ApiError::unsupported_media_type(format!(
            "Content-Type {ct:?} is not supported here; send application/json."
        )));
    }
    let bytes = req.into_body();
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "The request body is empty; a JSON document is required.",
        ));
    }
    crate::limits::parse_json(&bytes)
        .map_err(|e| ApiError::bad_request(format!("The request body {e}.")))
}

/// Query pairs in order (keys may repeat); [`check_pairs`] has bounded their number.
pub fn query_pairs<B>(req: &Request<B>) -> Vec<(String, String)> {
    form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
        .into_owned()
        .take(MAX_PAIRS)
        .collect()
}

/// Refuses a request whose query string or cookies hold more than [`MAX_PAIRS`] pairs, before
/// any handler decodes them.
pub fn check_pairs<B>(req: &Request<B>) -> Result<(), ApiError> {
    let query = req.uri().query().unwrap_or("");
    if form_urlencoded::parse(query.as_bytes())
        .nth(MAX_PAIRS)
        .is_some()
    {
        return Err(ApiError::bad_request(format!(
            "The query string is refused because it has more than {MAX_PAIRS} parameters."
        )));
    }
    let cookies: usize = req
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .map(|v| v.as_bytes().iter().filter(|b| **b == b';').count() + 1)
        .sum();
    if cookies > MAX_PAIRS {
        return Err(ApiError::bad_request(format!(
            "The request is refused because it carries more than {MAX_PAIRS} cookies."
        )));
    }
    Ok(())
}

pub fn query_all<'a>(q: &'a [(String, String)], key: &str) -> impl Iterator<Item = &'a str> {
    let key = key.to_owned();
    q.iter()
        .filter(move |(k, _)| *k == key)
        .map(|(_, v)| v.as_str())
}

pub fn query_one<'a>(q: &'a [(String, String)], key: &str) -> Option<&'a str> {
    query_all(q, key).find(|v| !v.is_empty())
}

/// Parses an identity id from the path; a malformed one cannot name any identity.
pub fn identity_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| {
        ApiError::not_found(format!(
            "No identity has the id {raw:?}: it is not a valid UUID."
        ))
    })
}
