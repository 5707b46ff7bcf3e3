//! The session API: whoami and the caller's own sessions (public), session administration
//! (admin).

// Handlers return the crate-wide `ApiError`, which is large by design (an envelope); boxing it
// here alone would buy nothing.

use base64::Engine;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, StatusCode, header};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::actors::CallError;
use crate::config::RequiredAal;
use crate::http::App;
use crate::http::error::{ApiError, NO_SESSION_COOKIE, NO_SESSION_CREDENTIALS};
use crate::http::extract::{query_all, query_one, query_pairs};
use crate::http::respond::{Resp, empty, json_bytes, ok_json};
use crate::http::session_auth;
use crate::session::Session;
use crate::session::service::{self, ListParams, SessionError};
use crate::store::sessions::Expand;

fn done<T>(r: Result<Result<T, SessionError>, CallError>) -> Result<T, ApiError> {
    Ok(r??)
}

fn base(app: &App) -> String {
    app.handles.deps().public_base().to_owned()
}

/// Session ids in admin paths: Kratos answers 400 for a malformed one.
fn session_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw)
        .map_err(|_| ApiError::bad_request(format!("{raw:?} is not a valid session id (a UUID).")))
}

fn identity_path_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw)
        .map_err(|_| ApiError::bad_request(format!("{raw:?} is not a valid identity id (a UUID).")))
}

const TOKEN_PREFIX: &str = "s1:";

fn encode_page_token(after: Uuid) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{TOKEN_PREFIX}{after}"))
}

fn decode_page_token(token: &str) -> Result<Uuid, ApiError> {
    let bad = || {
        ApiError::bad_request(
            "The page_token is invalid; use the token from the Link header of the previous page.",
        )
    };
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .map_err(|_| bad())?;
    let s = String::from_utf8(raw).map_err(|_| bad())?;
    s.strip_prefix(TOKEN_PREFIX)
        .and_then(|u| Uuid::parse_str(u).ok())
        .ok_or_else(bad)
}

/// `page_size` (or the legacy `per_page`) and `page_token`; offset `page` beyond the first is
/// refused rather than silently ignored.
fn pagination(q: &[(String, String)]) -> Result<(i64, Option<Uuid>), ApiError> {
    let size = match query_one(q, "page_size").or_else(|| query_one(q, "per_page")) {
        None => service::DEFAULT_PAGE_SIZE,
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n >= 1 => n.min(service::MAX_PAGE_SIZE),
            _ => {
                return Err(ApiError::bad_request(format!(
                    "page_size must be a whole number between 1 and {}, got {v:?}.",
                    service::MAX_PAGE_SIZE
                )));
            }
        },
    };
    if let Some(p) = query_one(q, "page")
        && !matches!(p, "0" | "1")
    {
        return Err(ApiError::bad_request(
            "Offset pagination (page) is not supported; follow the page_token in the Link header instead.",
        ));
    }
    let after = query_one(q, "page_token")
        .map(decode_page_token)
        .transpose()?;
    Ok((size, after))
}

/// Go's `strconv.ParseBool`, which Kratos uses for `active`.
fn active_filter(q: &[(String, String)]) -> Result<Option<bool>, ApiError> {
    match query_one(q, "active") {
        None => Ok(None),
        Some("1" | "t" | "T" | "true" | "TRUE" | "True") => Ok(Some(true)),
        Some("0" | "f" | "F" | "false" | "FALSE" | "False") => Ok(Some(false)),
        Some(v) => Err(ApiError::bad_request(format!(
            "could not parse parameter active: {v:?} is not a boolean."
        ))),
    }
}

fn expand(q: &[(String, String)]) -> Result<Expand, ApiError> {
    let mut e = Expand::default();
    for v in query_all(q, "expand")
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
    {
        match v.to_ascii_lowercase().as_str() {
            "identity" => e.identity = true,
            "devices" => e.devices = true,
            _ => {
                return Err(ApiError::bad_request(format!(
                    "Could not parse expand option: {v}"
                )));
            }
        }
    }
    Ok(e)
}

/// The page as JSON with a `Link` header (`first`, and `next` when there may be more).
fn page(
    app: &App,
    url: &str,
    size: i64,
    items: &[Session],
    next: Option<Uuid>,
    extra: &str,
) -> Resp {
    let body: Vec<Value> = items.iter().map(|s| s.to_json(&base(app))).collect();
    let mut resp = ok_json(&body);
    let mut link = format!("<{url}?page_size={size}{extra}>; rel=\"first\"");
    if let Some(next) = next {
        link.push_str(&format!(
            ",<{url}?page_size={size}{extra}&page_token={}>; rel=\"next\"",
            encode_page_token(next)
        ));
    }
    if let Ok(v) = HeaderValue::from_str(&link) {
        resp.headers_mut().insert(header::LINK, v);
    }
    resp
}

fn active_param(active: Option<bool>) -> String {
    active.map(|a| format!("&active={a}")).unwrap_or_default()
}

/// The caller's session (without identity/devices), for the own-sessions endpoints.
async fn caller(app: &App, headers: &HeaderMap) -> Result<Session, ApiError> {
    let Some(token) = session_auth::session_token(app, headers) else {
        return Err(ApiError::unauthorized(NO_SESSION_COOKIE));
    };
    app.handles
        .sessions
        .current(token)
        .await?
        .map_err(|e| ApiError::from_caller_session(e, NO_SESSION_COOKIE))
}

/// `/sessions/whoami`: the session with its identity (no credentials) and devices.
pub async fn whoami(app: &App, req: &Request<Bytes>) -> Result<Resp, ApiError> {
    let headers = req.headers();
    if query_one(&query_pairs(req), "tokenize_as").is_some() {
        return Err(ApiError::bad_request(
            "Session tokenization (tokenize_as) is not supported yet.",
        ));
    }
    let Some(token) = session_auth::session_token(app, headers) else {
        return Err(ApiError::unauthorized(NO_SESSION_CREDENTIALS));
    };
    let deps = app.handles.deps();
    let session = match app.handles.sessions.whoami(token.clone()).await? {
        Ok(s) => s,
        // With an inactivity timeout a browser's cookie outlives its session: clear it, as
        // the cookie of an expired session is gone from the browser by then.
        Err(SessionError::NoActiveSession)
            if deps.config.session.hygiene.inactivity_timeout.is_some()
                && session_auth::cookie_session(app, headers).is_some_and(|(t, _)| t == token) =>
        {
            let mut r = ApiError::from_caller_session(
                SessionError::NoActiveSession,
                NO_SESSION_CREDENTIALS,
            )
            .into_response();
            session_auth::clear_session_cookie(app, r.headers_mut());
            return Ok(r);
        }
        Err(e) => return Err(ApiError::from_caller_session(e, NO_SESSION_CREDENTIALS)),
    };
    if deps.config.session.whoami.required_aal == RequiredAal::HighestAvailable
        && session.aal < session.available_aal
    {
        // Kratos's `DoesSessionSatisfy`: the way up is an aal2 login flow, coming back to
        // where the caller asked to return.
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        q.append_pair("aal", session.available_aal.as_str());
        if let Some(r) = query_one(&query_pairs(req), "return_to") {
            q.append_pair("return_to", r);
        }
        let url = format!(
            "{}/self-service/login/browser?{}",
            deps.public_base(),
            q.finish()
        );
        return Ok(ApiError::aal2_required(&url)
            .into_response_with(Some(json!({ "redirect_browser_to": url }))));
    }
    let mut resp = json_bytes(StatusCode::OK, session.body.clone());
    if let Ok(v) = HeaderValue::from_str(&session.identity_id.to_string()) {
        resp.headers_mut()
            .insert("x-kratos-authenticated-identity-id", v);
    }
    // Re-issue the cookie when the session outlived the expiry it carries (it was extended).
    if headers.get("x-session-token").is_none()
        && let Some((cookie_token, cookie_exp)) = session_auth::cookie_session(app, headers)
        && cookie_token == token
        && cookie_exp.timestamp() < session.expires_at.timestamp()
    {
        session_auth::set_session_cookie(app, resp.headers_mut(), &token, session.expires_at);
    }
    Ok(resp)
}

/// `GET /sessions`: the caller's other active sessions.
pub async fn list_mine(app: &App, req: &Request<Bytes>) -> Result<Resp, ApiError> {
    let me = caller(app, req.headers()).await?;
    let q = query_pairs(req);
    let (size, after) = pagination(&q)?;
    let params = ListParams {
        identity_id: Some(me.identity_id),
        except: Some(me.id),
        active: Some(true),
        after,
        page_size: size,
        expand: Expand {
            identity: true,
            devices: true,
        },
    };
    let (items, next) = done(app.handles.sessions.list(params).await)?;
    let url = format!("{}/sessions", base(app));
    Ok(page(app, &url, size, &items, next, ""))
}

/// `DELETE /sessions`: revokes all of the caller's sessions but the current one.
pub async fn delete_mine_others(app: &App, req: &Request<Bytes>) -> Result<Resp, ApiError> {
    let me = caller(app, req.headers()).await?;
    let n = done(
        app.handles
            .sessions
            .revoke_others(me.identity_id, me.id)
            .await,
    )?;
    Ok(ok_json(&json!({ "count": n })))
}

/// `DELETE /sessions/{id}`: revokes another of the caller's sessions.
pub async fn delete_mine(app: &App, id: &str, req: &Request<Bytes>) -> Result<Resp, ApiError> {
    let me = caller(app, req.headers()).await?;
    let id = session_id(id)?;
    if id == me.id {
        return Err(ApiError::cannot_revoke_current_session());
    }
    done(app.handles.sessions.revoke_own(me.identity_id, id).await)?;
    Ok(empty(StatusCode::NO_CONTENT))
}

fn admin_url(app: &App, path: &str) -> String {
    format!(
        "{}/admin{path}",
        app.handles.deps().admin_url.trim_end_matches('/')
    )
}

/// `GET /admin/sessions`.
pub async fn admin_list(app: &App, req: &Request<Bytes>) -> Result<Resp, ApiError> {
    let q = query_pairs(req);
    let active = active_filter(&q)?;
    let expand = expand(&q)?;
    let (size, after) = pagination(&q)?;
    let params = ListParams {
        active,
        after,
        page_size: size,
        expand,
        ..Default::default()
    };
    let (items, next) = done(app.handles.sessions.list(params).await)?;
    let mut extra = active_param(active);
    if expand.identity {
        extra.push_str("&expand=identity");
    }
    if expand.devices {
        extra.push_str("&expand=devices");
    }
    Ok(page(
        app,
        &admin_url(app, "/sessions"),
        size,
        &items,
        next,
        &extra,
    ))
}

/// `GET /admin/sessions/{id}`.
pub async fn admin_get(app: &App, id: &str, req: &Request<Bytes>) -> Result<Resp, ApiError> {
    let id = session_id(id)?;
    let expand = expand(&query_pairs(req))?;
    let s = done(app.handles.sessions.get(id, expand).await)?;
    Ok(ok_json(&s.to_json(&base(app))))
}

/// `DELETE /admin/sessions/{id}`: deactivates; the record stays.
pub async fn admin_disable(app: &App, id: &str) -> Result<Resp, ApiError> {
    let id = session_id(id)?;
    done(app.handles.sessions.revoke_by_id(id).await)?;
    Ok(empty(StatusCode::NO_CONTENT))
}

/// `PATCH /admin/sessions/{id}/extend`.
pub async fn admin_extend(app: &App, id: &str) -> Result<Resp, ApiError> {
    let id = session_id(id)?;
    let s = done(app.handles.sessions.extend(id).await)?;
    Ok(ok_json(&s.to_json(&base(app))))
}

/// `GET /admin/identities/{id}/sessions`.
pub async fn identity_list(app: &App, id: &str, req: &Request<Bytes>) -> Result<Resp, ApiError> {
    let identity = identity_path_id(id)?;
    let q = query_pairs(req);
    let active = active_filter(&q)?;
    let (size, after) = pagination(&q)?;
    let params = ListParams {
        identity_id: Some(identity),
        active,
        after,
        page_size: size,
        expand: Expand {
            identity: true,
            devices: true,
        },
        ..Default::default()
    };
    let (items, next) = done(app.handles.sessions.list(params).await)?;
    let url = admin_url(app, &format!("/identities/{identity}/sessions"));
    Ok(page(app, &url, size, &items, next, &active_param(active)))
}

/// `DELETE /admin/identities/{id}/sessions`: deletes them (404 when there were none, as Kratos).
pub async fn identity_delete(app: &App, id: &str) -> Result<Resp, ApiError> {
    let identity = identity_path_id(id)?;
    done(app.handles.sessions.delete_for_identity(identity).await)?;
    Ok(empty(StatusCode::NO_CONTENT))
}
