//! Self-service logout: a logout URL for browsers, completing it, and logout for API clients.

// Handlers return the crate-wide `ApiError`, which is large by design (an envelope); boxing it
// here alone would buy nothing.

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use serde_json::{Value, json};

use crate::actors::CallError;
use crate::http::App;
use crate::http::error::ApiError;
use crate::http::extract::{json_body, query_one, query_pairs};
use crate::http::flow::request::wants_json;
use crate::http::flow::respond::redirect_to_error_ui;
use crate::http::respond::{Resp, empty, ok_json, see_other};
use crate::http::session_auth;
use crate::security::events::{self, Event, Name};
use crate::selfservice::return_to;
use crate::session::service::SessionError;
use crate::session::{Session, logout_token_for, logout_token_matches};

fn done<T>(r: Result<Result<T, SessionError>, CallError>) -> Result<T, ApiError> {
    Ok(r??)
}

/// The request's session and its token, or `session_inactive`.
async fn session_of(app: &App, headers: &HeaderMap) -> Result<(Session, String), ApiError> {
    let token = session_auth::session_token(app, headers).ok_or_else(ApiError::session_inactive)?;
    let s = done(app.handles.sessions.current(token.clone()).await)?;
    Ok((s, token))
}

/// Where a browser goes after logging out, `return_to` checked against the allow list.
fn return_url(app: &App, requested: Option<&str>) -> Result<String, ApiError> {
    let deps = app.handles.deps();
    let ss = &deps.config.selfservice;
    let default = ss
        .flows
        .logout
        .after
        .default_browser_return_url
        .clone()
        .or_else(|| ss.default_browser_return_url.clone())
        .unwrap_or_else(|| format!("{}/", deps.public_base()));
    return_to::validate(
        requested,
        &default,
        &ss.allowed_return_urls,
        deps.public_base(),
    )
    .map_err(|f| {
        let refused = Event::new(Name::ReturnToRefused)
            .host_of(&f.0)
            .flow_kind("logout");
        events::emit(&deps, refused);
        ApiError::from(f)
    })
}

/// `GET /self-service/logout/browser`: `{logout_url, logout_token}` for the current session.
pub async fn browser(app: &App, req: &Request<Bytes>) -> Result<Resp, ApiError> {
    let (_, token) = session_of(app, req.headers()).await?;
    let logout_token = logout_token_for(&token);
    let q = query_pairs(req);
    let mut url = url::Url::parse(&format!(
        "{}/self-service/logout",
        app.handles.deps().public_base()
    ))
    .map_err(|_| ApiError::internal())?;
    url.query_pairs_mut().append_pair("token", &logout_token);
    if let Some(rt) = query_one(&q, "return_to") {
        return_url(app, Some(rt))?;
        url.query_pairs_mut().append_pair("return_to", rt);
    }
    Ok(ok_json(
        &json!({ "logout_url": url.to_string(), "logout_token": logout_token }),
    ))
}

async fn complete(app: &App, req: &Request<Bytes>) -> Result<Resp, ApiError> {
    let q = query_pairs(req);
    let Some(presented) = query_one(&q, "token") else {
        return Err(ApiError::bad_request(
            "Please include a token in the URL query.",
        ));
    };
    let (_, token) = session_of(app, req.headers()).await?;
    if !logout_token_matches(&token, presented) {
        return Err(ApiError::logout_token_mismatch());
    }
    let to = return_url(app, query_one(&q, "return_to"))?;
    match app.handles.sessions.revoke_by_token(token).await? {
        // Revoked concurrently: the outcome the caller wanted.
        Ok(()) | Err(SessionError::NotFound) => {}
        Err(e) => return Err(e.into()),
    }
    let mut resp = if wants_json(req.headers(), false) {
        empty(StatusCode::NO_CONTENT)
    } else {
        see_other(&to)
    };
    session_auth::clear_session_cookie(app, resp.headers_mut());
    Ok(resp)
}

/// `GET /self-service/logout?token=…`: revokes the session, drops the cookie, and sends the
/// browser on (303) or answers 204 to JSON clients. Errors go to the error UI for browsers.
pub async fn submit(app: &App, req: &Request<Bytes>) -> Result<Resp, ApiError> {
    match complete(app, req).await {
        Ok(r) => Ok(r),
        Err(e) if wants_json(req.headers(), false) || e.status().is_server_error() => Err(e),
        Err(e) => Ok(redirect_to_error_ui(app, &e).await),
    }
}

/// `DELETE /self-service/logout/api` with `{session_token}`: 204, or 403 for an unknown token.
pub async fn api(app: &App, req: Request<Bytes>) -> Result<Resp, ApiError> {
    let body = json_body(req)?;
    let token = match body.get("session_token") {
        Some(Value::String(t)) if !t.trim().is_empty() => t.trim().to_owned(),
        _ => {
            return Err(ApiError::bad_request(
                "The body must be an object with a non-empty \"session_token\" string.",
            ));
        }
    };
    app.handles
        .sessions
        .revoke_by_token(token)
        .await?
        .map_err(ApiError::from_logout_api)?;
    Ok(empty(StatusCode::NO_CONTENT))
}
