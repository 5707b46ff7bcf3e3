//! Outbound HTTP to identity providers: one client with a timeout, bounded response bodies, and
//! error texts that name the endpoint but never a token, a code or a secret.

use std::time::Duration;

use serde_json::{Map, Value};

use super::ProviderError;
use crate::config::HttpClient;
use crate::outbound::{Options, Outbound};

/// Every request to a provider (discovery, JWKS, token, user info) gives up after this.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// Nothing a provider legitimately answers comes near this; larger bodies are refused unread.
pub const MAX_BODY: usize = 1 << 20;

/// The client every provider shares, with `clients.http`'s rules. Redirects are not followed:
/// an OAuth2 endpoint that redirects is misconfigured, and following one would send our client
/// credentials elsewhere.
pub fn client(clients: &HttpClient) -> Result<Outbound, ProviderError> {
    Outbound::new(
        clients,
        Options {
            timeout: TIMEOUT,
            follow_redirects: false,
            user_agent: true,
        },
    )
    .map_err(ProviderError::Config)
}

/// Why a request failed, already safe to show: method, URL without its query, and the kind of
/// failure.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HttpError(pub String);

impl From<HttpError> for ProviderError {
    fn from(e: HttpError) -> Self {
        ProviderError::Unavailable(e.0)
    }
}

/// `scheme://host[:port]/path`: what an error may say about where a request went (queries can
/// carry tokens).
pub fn endpoint(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            u.set_query(None);
            u.set_fragment(None);
            let _ = u.set_password(None);
            let _ = u.set_username("");
            u.to_string()
        }
        Err(_) => "an invalid URL".to_owned(),
    }
}

fn describe(method: &reqwest::Method, url: &str, e: &reqwest::Error) -> HttpError {
    let what = if e.is_timeout() {
        format!("timed out after {} s", TIMEOUT.as_secs())
    } else if e.is_connect() {
        // The innermost cause says refused / unreachable / DNS; it carries no request data.
        let mut cause: &dyn std::error::Error = e;
        while let Some(next) = cause.source() {
            cause = next;
        }
        format!("could not connect ({cause})")
    } else if e.is_body() || e.is_decode() {
        "the response could not be read".to_owned()
    } else {
        "the request failed".to_owned()
    };
    HttpError(format!("{method} {}: {what}", endpoint(url)))
}

/// Sends `req` and reads at most [`MAX_BODY`] bytes of the answer, whatever its status.
pub async fn send(
    method: reqwest::Method,
    url: &str,
    req: reqwest::RequestBuilder,
) -> Result<(reqwest::StatusCode, reqwest::header::HeaderMap, Vec<u8>), HttpError> {
    let mut resp = req.send().await.map_err(|e| describe(&method, url, &e))?;
    let too_big = || {
        HttpError(format!(
            "{method} {}: the response is larger than {MAX_BODY} bytes",
            endpoint(url)
        ))
    };
    if resp.content_length().is_some_and(|n| n > MAX_BODY as u64) {
        return Err(too_big());
    }
    let status = resp.status();
    let headers = resp.headers().clone();
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| describe(&method, url, &e))? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(too_big());
        }
        body.extend_from_slice(&chunk);
    }
    Ok((status, headers, body))
}

/// GETs a JSON object (discovery, JWKS, user info), with an optional bearer token. A non-2xx
/// status is `Unavailable` with the status; 401/403 with a bearer token are `Refused` (the
/// provider does not accept the access token it just issued).
pub async fn get_json(
    http: &Outbound,
    url: &str,
    bearer: Option<&str>,
) -> Result<Map<String, Value>, ProviderError> {
    let mut req = http
        .get(url)
        .map_err(|r| ProviderError::Unavailable(format!("GET {}: {r}", endpoint(url))))?
        .header(reqwest::header::ACCEPT, "application/json");
    if let Some(token) = bearer {
        req = req.bearer_auth(token);
    }
    let (status, _, body) = send(reqwest::Method::GET, url, req).await?;
    if !status.is_success() {
        let msg = format!("GET {} answered {status}", endpoint(url));
        return Err(
            if bearer.is_some() && matches!(status.as_u16(), 401 | 403) {
                ProviderError::Refused(msg)
            } else {
                ProviderError::Unavailable(msg)
            },
        );
    }
    match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(ProviderError::Unavailable(format!(
            "GET {} did not answer a JSON object",
            endpoint(url)
        ))),
    }
}

/// The HTTP client the `openidconnect` crate calls (token endpoint): our reqwest with its
/// timeout and body bound, instead of the crate's own reqwest.
pub async fn for_oauth2(
    http: Outbound,
    req: openidconnect::HttpRequest,
) -> Result<openidconnect::HttpResponse, HttpError> {
    let (parts, body) = req.into_parts();
    let url = parts.uri.to_string();
    let method = parts.method.clone();
    let builder = http
        .request(parts.method, &url)
        .map_err(|r| HttpError(format!("{method} {}: {r}", endpoint(&url))))?
        .headers(parts.headers)
        .body(body);
    let (status, headers, body) = send(method, &url, builder).await?;
    let mut resp = openidconnect::HttpResponse::new(body);
    *resp.status_mut() = status;
    *resp.headers_mut() = headers;
    Ok(resp)
}
