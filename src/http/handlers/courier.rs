//! `GET /admin/courier/messages` and `GET /admin/courier/messages/{id}`. Reads go straight to the
//! courier's domain view: they are single indexed queries with no state to serialise.

use base64::Engine;
use bytes::Bytes;
use http::{HeaderValue, Request, header};
use uuid::Uuid;

use crate::courier::view;
use crate::http::App;
use crate::http::error::ApiError;
use crate::http::extract::{query_one, query_pairs};
use crate::http::respond::{Resp, ok_json};
use crate::store::courier::{ListFilter, MessageStatus};

/// Kratos's courier persister pages by 10 unless asked (`keysetpagination.WithDefaultSize(10)`).
pub const DEFAULT_PAGE_SIZE: i64 = 10;
pub const MAX_PAGE_SIZE: i64 = 1000;
const TOKEN_PREFIX: &str = "m1:";

fn encode_page_token(after: Uuid) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{TOKEN_PREFIX}{after}"))
}

fn decode_page_token(token: &str) -> Result<Uuid, ApiError> {
    let bad =
        || ApiError::bad_request("The page token is invalid, do not craft your own page tokens");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .map_err(|_| bad())?;
    let s = String::from_utf8(raw).map_err(|_| bad())?;
    s.strip_prefix(TOKEN_PREFIX)
        .and_then(|u| Uuid::parse_str(u).ok())
        .ok_or_else(bad)
}

fn admin_url(app: &App) -> String {
    format!(
        "{}/admin/courier/messages",
        app.handles.deps().admin_url.trim_end_matches('/')
    )
}

pub async fn list(app: &App, req: &Request<Bytes>) -> Result<Resp, ApiError> {
    let q = query_pairs(req);
    let size = match query_one(&q, "page_size").or_else(|| query_one(&q, "per_page")) {
        None => DEFAULT_PAGE_SIZE,
        Some(v) => match v.parse::<i64>() {
            Ok(n) if (1..=MAX_PAGE_SIZE).contains(&n) => n,
            _ => {
                return Err(ApiError::bad_request(format!(
                    "page_size must be a whole number between 1 and {MAX_PAGE_SIZE}, got {v:?}."
                )));
            }
        },
    };
    let after = query_one(&q, "page_token")
        .map(decode_page_token)
        .transpose()?;
    let status = match q
        .iter()
        .find(|(k, _)| k == "status")
        .map(|(_, v)| v.as_str())
    {
        None => None,
        Some(s) => match s.parse::<MessageStatus>() {
            Ok(status) => Some(status),
            Err(_) => {
                return Err(ApiError::bad_request(format!(
                    "Message status is not valid: {s:?} is not one of queued, sent, processing, abandoned."
                )));
            }
        },
    };
    let recipient = query_one(&q, "recipient").map(str::to_owned);
    let filter = ListFilter {
        status,
        recipient: recipient.clone(),
    };
    let (items, next) = view::list(&app.handles.deps(), &filter, after, size).await?;
    let mut extra = String::new();
    {
        let mut ser = form_urlencoded::Serializer::new(String::new());
        if let Some(s) = &status {
            ser.append_pair("status", s.as_str());
        }
        if let Some(r) = &recipient {
            ser.append_pair("recipient", r);
        }
        let encoded = ser.finish();
        if !encoded.is_empty() {
            extra = format!("&{encoded}");
        }
    }
    let url = admin_url(app);
    let mut link = format!("<{url}?page_size={size}{extra}>; rel=\"first\"");
    if let Some(next) = next {
        link.push_str(&format!(
            ",<{url}?page_size={size}{extra}&page_token={}>; rel=\"next\"",
            encode_page_token(next)
        ));
    }
    let mut resp = ok_json(&items);
    if let Ok(v) = HeaderValue::from_str(&link) {
        resp.headers_mut().insert(header::LINK, v);
    }
    Ok(resp)
}

pub async fn get(app: &App, id: &str) -> Result<Resp, ApiError> {
    let id = Uuid::parse_str(id)
        .map_err(|_| ApiError::bad_request(format!("Invalid message id: {id:?} is not a UUID.")))?;
    match view::get(&app.handles.deps(), id).await? {
        Some(m) => Ok(ok_json(&m)),
        None => Err(ApiError::resource_not_found()),
    }
}
