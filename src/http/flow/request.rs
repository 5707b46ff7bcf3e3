//! The flow's view of a request: `FlowRequest`, the flow id, and a submitted body.

use std::net::SocketAddr;

use bytes::Bytes;
use http::{HeaderMap, Request, header};
use uuid::Uuid;

use super::csrf::csrf_cookie_name;
use crate::actors::flows::Decoded;
use crate::http::App;
use crate::http::error::ApiError;
use crate::http::extract::{query_one, query_pairs};
use crate::http::session_auth;
use crate::selfservice::csrf;
use crate::selfservice::flow::request::{FlowRequest, Submission};

/// Cookies of a request as (name, value) pairs.
pub fn cookies(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| {
            let (k, v) = c.trim().split_once('=')?;
            Some((k.trim().to_owned(), v.trim().trim_matches('"').to_owned()))
        })
        .take(crate::limits::MAX_PAIRS)
        .collect()
}

/// Whether the client asked for JSON rather than HTML (Kratos negotiates on `Accept`, and on
/// submissions also treats a JSON body as a JSON client).
pub fn wants_json(headers: &HeaderMap, body_counts: bool) -> bool {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let accept_json =
        accept.contains("application/json") && !accept.trim_start().starts_with("text/html");
    let body_json = body_counts
        && headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|c| c.to_ascii_lowercase().contains("application/json"));
    accept_json || body_json
}

/// Whether a submitted body is JSON (else it is a form).
fn is_json_body<B>(req: &Request<B>) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.to_ascii_lowercase().contains("json"))
}

/// The flow id in the query parameter `key`; a malformed one names no flow (404).
pub fn flow_id<B>(req: &Request<B>, key: &str) -> Result<Uuid, ApiError> {
    let q = query_pairs(req);
    let raw = query_one(&q, key)
        .ok_or_else(|| ApiError::bad_request(format!("The {key} query parameter is required.")))?;
    Uuid::parse_str(raw).map_err(|_| {
        ApiError::not_found(format!(
            "No flow has the id {raw:?}: it is not a valid UUID."
        ))
    })
}

/// Builds the flow's view of the request.
pub fn flow_request<B>(app: &App, req: &Request<B>, body_is_json: bool) -> FlowRequest {
    let headers = req.headers();
    let jar = cookies(headers);
    let csrf_name = csrf_cookie_name(app);
    let csrf_cookie = jar
        .iter()
        .find(|(k, _)| *k == csrf_name)
        .and_then(|(_, v)| csrf::decode_cookie(v));
    let has_cookies = jar
        .iter()
        .any(|(k, _)| !(k.starts_with("__cf") || k.starts_with("_cf") || k.starts_with("cf_")));
    let peer = req.extensions().get::<SocketAddr>().copied();
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    FlowRequest {
        request_url: format!("{}{}", app.handles.deps().public_base(), path),
        wants_json: wants_json(headers, body_is_json),
        csrf_cookie,
        session_token: session_auth::session_token(app, headers),
        has_origin: headers.contains_key(header::ORIGIN),
        has_cookies,
        csrf_header: headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        device: session_auth::device_info(headers, peer),
        client_address: session_auth::client_address(
            headers,
            peer,
            &app.handles.deps().config.serve.public.trusted_proxies,
        ),
        query: query_pairs(req),
        method: req.method().as_str().to_owned(),
        headers: headers
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect(),
        cookies: jar,
    }
}

/// A submission to a flow (`?flow=<id>`, a JSON or form body).
pub struct Submitted {
    pub id: Uuid,
    pub request: FlowRequest,
    pub body: Decoded,
}

impl Submitted {
    pub fn read(app: &App, req: &Request<Bytes>) -> Result<Submitted, ApiError> {
        let id = flow_id(req, "flow")?;
        let is_json = is_json_body(req);
        let request = flow_request(app, req, is_json);
        let body = Submission::decode(req.body(), is_json).map(|mut s| {
            s.client_address = request.client_address;
            s
        });
        Ok(Submitted { id, request, body })
    }
}
