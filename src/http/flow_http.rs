//! What self-service flows share at the HTTP edge: turning a request into a `FlowRequest`, the
//! CSRF cookie, and rendering outcomes for browsers (redirects), SPAs and native apps (JSON).

use std::net::SocketAddr;

use http::{HeaderMap, HeaderValue, Request, StatusCode, header};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::App;
use super::error::ApiError;
use super::respond::{Resp, empty, json_response};
use super::session_auth;
use crate::config::SameSite;
use crate::selfservice::csrf::{self, RawToken};
use crate::selfservice::flow::request::FlowRequest;
use crate::selfservice::flow::{Flow, FlowError, FlowKind, FlowType};

/// Kratos names the CSRF cookie after the public URL, so two deployments on one domain differ.
pub fn csrf_cookie_name(app: &App) -> String {
    let digest = Sha256::digest(format!("{}/", app.handles.deps.public_base()).as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("csrf_token_{hex}")
}

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
        request_url: format!("{}{}", app.handles.deps.public_base(), path),
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
        query: super::extract::query_pairs(req),
        method: req.method().as_str().to_owned(),
        headers: headers
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect(),
        cookies: jar,
    }
}

fn cookie_attrs(app: &App) -> String {
    let deps = &app.handles.deps;
    let c = &deps.config.cookies;
    let secure = c.secure.map(|s| s.0).unwrap_or(!deps.dev);
    let same_site = match c.same_site {
        SameSite::Strict => "Strict",
        SameSite::None if secure => "None",
        _ => "Lax",
    };
    let mut s = format!("; Path={}; HttpOnly; SameSite={same_site}", c.path);
    if secure {
        s.push_str("; Secure");
    }
    if let Some(d) = c.domain.as_deref().filter(|d| !d.is_empty()) {
        s.push_str(&format!("; Domain={d}"));
    }
    s
}

/// Sets the CSRF cookie (a year, like Kratos's).
pub fn set_csrf_cookie(app: &App, headers: &mut HeaderMap, raw: &RawToken) {
    let v = format!(
        "{}={}; Max-Age=31536000{}",
        csrf_cookie_name(app),
        csrf::encode_cookie(raw),
        cookie_attrs(app)
    );
    if let Ok(v) = HeaderValue::from_str(&v) {
        headers.append(header::SET_COOKIE, v);
    }
}

pub fn see_other(location: &str) -> Resp {
    let mut r = empty(StatusCode::SEE_OTHER);
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// `ui_url` with `flow=<id>` added to its query.
pub fn ui_url_for(app: &App, kind: FlowKind, flow_id: &str) -> String {
    let f = &app.handles.deps.config.selfservice.flows;
    let base = match kind {
        FlowKind::Login => &f.login.ui_url,
        FlowKind::Registration => &f.registration.ui_url,
        FlowKind::Recovery => &f.recovery.ui_url,
        FlowKind::Verification => &f.verification.ui_url,
        FlowKind::Settings => &f.settings.ui_url,
    };
    with_query(base, "flow", flow_id)
}

fn with_query(base: &str, key: &str, value: &str) -> String {
    match url::Url::parse(base) {
        Ok(mut u) => {
            u.query_pairs_mut().append_pair(key, value);
            u.to_string()
        }
        Err(_) => format!(
            "{base}{}{key}={value}",
            if base.contains('?') { '&' } else { '?' }
        ),
    }
}

/// The browser init URL of a flow kind, for "start again" hints.
pub fn browser_init_url(app: &App, kind: FlowKind) -> String {
    format!(
        "{}/self-service/{}/browser",
        app.handles.deps.public_base(),
        kind.as_str()
    )
}

/// The Kratos error for each flow failure (JSON clients get it as is).
pub fn flow_error(app: &App, kind: FlowKind, e: &FlowError) -> (ApiError, Option<Value>) {
    match e {
        FlowError::NotFound => (ApiError::not_found("The requested flow could not be found; it may have been removed or never existed."), None),
        FlowError::Expired { expired_at, replacement } => {
            let ago = chrono::Utc::now() - *expired_at;
            let mut err = ApiError {
                status: StatusCode::GONE,
                id: Some("self_service_flow_expired".into()),
                reason: Some(format!(
                    "The self-service flow expired {:.2} minutes ago, initialize a new one.",
                    ago.num_milliseconds() as f64 / 60_000.0
                )),
                message: "self-service flow expired".into(),
                details: None,
            };
            let mut extra = json!({
                "expired_at": expired_at,
                "since": ago.num_nanoseconds().unwrap_or(i64::MAX),
            });
            match replacement {
                Some(f) => {
                    extra["use_flow_id"] = json!(f.id);
                    err.details = Some(Box::new(json!({ "redirect_to": ui_url_for(app, kind, &f.id.to_string()) })));
                }
                None => err.details = Some(Box::new(json!({ "redirect_to": browser_init_url(app, kind) }))),
            }
            (err, Some(extra))
        }
        FlowError::Csrf(reason) => (
            ApiError {
                status: StatusCode::FORBIDDEN,
                id: Some("security_csrf_violation".into()),
                reason: Some("Please retry the flow and optionally clear your cookies. The request was rejected to protect you from Cross-Site-Request-Forgery (CSRF) which could cause account takeover, leaking personal information, and other serious security issues.".into()),
                message: "the request was rejected to protect you from Cross-Site-Request-Forgery".into(),
                details: Some(Box::new(json!({ "reject_reason": reason }))),
            },
            None,
        ),
        FlowError::BadRequest(r) => (ApiError::bad_request(r.clone()), None),
        FlowError::AlreadyLoggedIn => (
            ApiError {
                status: StatusCode::BAD_REQUEST,
                id: Some("session_already_available".into()),
                reason: Some("A valid session was detected and thus login is not possible. Did you forget to set `?refresh=true`?".into()),
                message: "The request was malformed or contained invalid parameters".into(),
                details: None,
            },
            None,
        ),
        FlowError::RegistrationDisabled => (
            ApiError {
                status: StatusCode::BAD_REQUEST,
                id: Some("self_service_flow_disabled".into()),
                reason: Some("Registration is not allowed because it was disabled.".into()),
                message: "registration flow disabled".into(),
                details: None,
            },
            None,
        ),
        FlowError::FlowDisabled(k) => (
            ApiError {
                status: StatusCode::BAD_REQUEST,
                id: Some("self_service_flow_disabled".into()),
                reason: Some(format!(
                    "{} is not allowed because it was disabled.",
                    if *k == FlowKind::Recovery { "Recovery" } else { "Verification" }
                )),
                message: format!("{} flow disabled", k.as_str()),
                details: None,
            },
            None,
        ),
        FlowError::Replaced(f) => (
            ApiError {
                status: StatusCode::GONE,
                id: Some("self_service_flow_replaced".into()),
                reason: Some("The flow has been replaced by a new flow; continue with the new flow.".into()),
                message: "the flow has been replaced".into(),
                details: None,
            },
            Some(json!({ "use_flow_id": f.id })),
        ),
        FlowError::ReturnTo(f) => (
            ApiError {
                status: StatusCode::BAD_REQUEST,
                id: Some("self_service_flow_return_to_forbidden".into()),
                reason: Some(f.to_string()),
                message: "The request was malformed or contained invalid parameters".into(),
                details: None,
            },
            None,
        ),
        FlowError::AlreadyCompleted => (
            ApiError::bad_request("This flow was already completed; start a new one."),
            None,
        ),
        FlowError::IdentityDisabled => (
            ApiError {
                status: StatusCode::BAD_REQUEST,
                id: Some("identity_disabled".into()),
                reason: Some("This account has been disabled.".into()),
                message: "The request was malformed or contained invalid parameters".into(),
                details: None,
            },
            None,
        ),
        FlowError::AddressNotVerified => (
            ApiError {
                status: StatusCode::BAD_REQUEST,
                id: Some("session_verified_address_required".into()),
                reason: Some("Your email or phone address is not yet verified. Please verify it before signing in.".into()),
                message: "The request was malformed or contained invalid parameters".into(),
                details: None,
            },
            None,
        ),
        FlowError::SessionRequired { .. } => {
            (crate::http::handlers::sessions::no_active_session(), None)
        }
        FlowError::IdentityMismatch => (
            ApiError {
                status: StatusCode::FORBIDDEN,
                id: Some("security_identity_mismatch".into()),
                reason: Some("The request was made for another identity and has been blocked for security reasons.".into()),
                message: "The requested action was forbidden".into(),
                details: None,
            },
            None,
        ),
        FlowError::RefreshRequired { redirect_browser_to } => (
            ApiError {
                status: StatusCode::FORBIDDEN,
                id: Some("session_refresh_required".into()),
                reason: Some("The login session is too old and thus not allowed to update these fields. Please re-authenticate.".into()),
                message: "The requested action was forbidden".into(),
                details: None,
            },
            Some(json!({ "redirect_browser_to": redirect_browser_to })),
        ),
        FlowError::AalRequired { redirect_browser_to } => (
            ApiError {
                status: StatusCode::FORBIDDEN,
                id: Some("session_aal2_required".into()),
                reason: Some("An active session was found but it does not fulfill the Authenticator Assurance Level this identity has available. Please verify yourself with a second factor.".into()),
                message: "Session does not fulfill the requested Authenticator Assurance Level".into(),
                details: Some(Box::new(json!({ "redirect_browser_to": redirect_browser_to }))),
            },
            Some(json!({ "redirect_browser_to": redirect_browser_to })),
        ),
        FlowError::Invalid(_) => (ApiError::bad_request("The submission was invalid."), None),
        FlowError::HookInterrupted(messages) => {
            let grouped: Vec<Value> = messages
                .iter()
                .map(|m| json!({"instance_ptr": m.instance_ptr, "messages": [m.text]}))
                .collect();
            let reason = messages
                .iter()
                .map(|m| format!("{}: {}", m.instance_ptr, m.text.text))
                .collect::<Vec<_>>()
                .join("; ");
            (
                ApiError::bad_request(format!("A web hook refused the request: {reason}"))
                    .with_details(json!({ "messages": grouped })),
                None,
            )
        }
        FlowError::Hook(f) => (
            ApiError {
                status: StatusCode::from_u16(f.status).unwrap_or(StatusCode::BAD_GATEWAY),
                id: None,
                reason: Some(f.reason.clone()),
                message: f.message.clone(),
                details: Some(Box::new(json!({ "hook": f.hook }))),
            },
            None,
        ),
        FlowError::Store(e) => {
            tracing::error!(error = %e, "database error in a flow");
            (ApiError::unavailable("The database could not complete the request; try again."), None)
        }
        FlowError::TryAgainLater => (
            ApiError::unavailable(
                "The server is too busy to check these credentials right now. Please try again in a few seconds.",
            ),
            None,
        ),
        FlowError::Internal(e) => {
            tracing::error!(error = %e, "internal error in a flow");
            (ApiError::internal(), None)
        }
    }
}

fn envelope(err: &ApiError, extra: Option<Value>) -> Resp {
    let mut body = err.body();
    if let (Some(Value::Object(x)), Value::Object(b)) = (extra, &mut body) {
        b.extend(x);
    }
    json_response(err.status, &body)
}

/// Renders a failed flow request. Browsers asking for HTML are redirected (back to the form,
/// to a fresh flow, or to the error UI); everyone else gets JSON.
pub async fn render_error(
    app: &App,
    kind: FlowKind,
    flow_type: Option<FlowType>,
    wants_json: bool,
    e: FlowError,
) -> Resp {
    let json = wants_json || flow_type == Some(FlowType::Api);
    match e {
        FlowError::Invalid(flow) => {
            if json {
                json_response(StatusCode::BAD_REQUEST, &flow.to_json())
            } else {
                see_other(&ui_url_for(app, kind, &flow.id.to_string()))
            }
        }
        FlowError::Replaced(ref f) if !json => see_other(&ui_url_for(app, kind, &f.id.to_string())),
        FlowError::Expired {
            replacement: Some(ref f),
            ..
        } if !json => see_other(&ui_url_for(app, kind, &f.id.to_string())),
        FlowError::SessionRequired { ref login } if !json => see_other(login),
        FlowError::RefreshRequired {
            ref redirect_browser_to,
        }
        | FlowError::AalRequired {
            ref redirect_browser_to,
        } if !json => see_other(redirect_browser_to),
        FlowError::AlreadyLoggedIn if !json => {
            let deps = &app.handles.deps;
            see_other(&crate::selfservice::flow::common::default_return(
                deps, kind, "",
            ))
        }
        other => {
            let (err, extra) = flow_error(app, kind, &other);
            if json {
                envelope(&err, extra)
            } else {
                redirect_to_error_ui(app, &err).await
            }
        }
    }
}

/// Stores the error and sends the browser to `selfservice.flows.error.ui_url?id=…`.
pub async fn redirect_to_error_ui(app: &App, err: &ApiError) -> Resp {
    let deps = &app.handles.deps;
    match crate::selfservice::errors::store(deps, &err.body()["error"]).await {
        Ok(id) => see_other(&with_query(
            &deps.config.selfservice.flows.error.ui_url,
            "id",
            &id.to_string(),
        )),
        Err(e) => {
            tracing::error!(error = %e, "storing a flow error failed");
            err.clone().into_response()
        }
    }
}

/// The flow JSON, or for browsers asking for HTML a redirect to the flow's UI.
pub fn render_started(
    app: &App,
    flow: &Flow,
    wants_json: bool,
    csrf_cookie: Option<RawToken>,
) -> Resp {
    let mut r = if wants_json || flow.flow_type == FlowType::Api {
        json_response(StatusCode::OK, &flow.to_json())
    } else {
        see_other(&ui_url_for(app, flow.kind, &flow.id.to_string()))
    };
    if let Some(raw) = csrf_cookie {
        set_csrf_cookie(app, r.headers_mut(), &raw);
    }
    r
}
