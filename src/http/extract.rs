//! Reading requests: bounded bodies, JSON, query strings, ids.

use http::{Request, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde_json::Value;
use uuid::Uuid;

use super::error::ApiError;

/// Reads the whole body, refusing more than `limit` bytes with 413.
pub async fn body_bytes(req: Request<Incoming>, limit: usize) -> Result<bytes::Bytes, ApiError> {
    if let Some(len) = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
        && len > limit
    {
        return Err(ApiError::payload_too_large(limit));
    }
    match Limited::new(req.into_body(), limit).collect().await {
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

/// Reads a JSON body.
pub async fn json_body(req: Request<Incoming>, limit: usize) -> Result<Value, ApiError> {
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
    let bytes = body_bytes(req, limit).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "The request body is empty; a JSON document is required.",
        ));
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request(format!("The request body is not valid JSON: {e}")))
}

/// Query pairs in order (keys may repeat).
pub fn query_pairs<B>(req: &Request<B>) -> Vec<(String, String)> {
    form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
        .into_owned()
        .collect()
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
