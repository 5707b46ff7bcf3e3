//! Recovery and verification endpoints: submit, the links from emails, and the admin
//! endpoints that create recovery codes and links. Start and read go through `selfservice`.

use bytes::Bytes;
use http::{Request, header};
use serde_json::json;
use uuid::Uuid;

use crate::http::App;
use crate::http::error::ApiError;
use crate::http::extract::{json_body, query_one, query_pairs};
use crate::http::flow_http::{flow_request, render_error, see_other, set_csrf_cookie, ui_url_for};
use crate::http::respond::{Resp, json_response, ok_json};
use crate::http::session_auth;
use crate::selfservice::flow::recovery::Outcome;
use crate::selfservice::flow::request::Submission;
use crate::selfservice::flow::{FlowError, FlowKind, FlowType};
use crate::selfservice::strategy::Method;

fn flow_id<B>(req: &Request<B>) -> Result<Uuid, ApiError> {
    let q = query_pairs(req);
    let raw = query_one(&q, "flow")
        .ok_or_else(|| ApiError::bad_request("The flow query parameter is required."))?;
    Uuid::parse_str(raw).map_err(|_| {
        ApiError::not_found(format!(
            "No flow has the id {raw:?}: it is not a valid UUID."
        ))
    })
}

fn is_json_body<B>(req: &Request<B>) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.to_ascii_lowercase().contains("json"))
}

/// Answers a recovery step: the flow (JSON) or the UI / settings flow redirect (browsers).
fn render_recovery(app: &App, outcome: Outcome, wants_json: bool) -> Resp {
    match outcome {
        Outcome::Updated(flow) | Outcome::Sent(flow, _) => {
            if wants_json || flow.flow_type == FlowType::Api {
                ok_json(&flow.to_json())
            } else {
                see_other(&ui_url_for(app, FlowKind::Recovery, &flow.id.to_string()))
            }
        }
        Outcome::Recovered(done) => {
            let api = done.flow.flow_type == FlowType::Api;
            let mut r = if api || wants_json {
                ok_json(&done.flow.to_json())
            } else {
                see_other(&done.settings_url)
            };
            if !api {
                session_auth::set_session_cookie(
                    app,
                    r.headers_mut(),
                    &done.issued.token,
                    done.issued.session.expires_at,
                );
                // The settings flow is bound to this CSRF cookie.
                if let Some(raw) = &done.csrf_cookie {
                    set_csrf_cookie(app, r.headers_mut(), raw);
                }
            }
            r
        }
    }
}

/// `POST /self-service/{recovery,verification}?flow=`
pub async fn submit(app: &App, kind: FlowKind, req: Request<Bytes>) -> Result<Resp, ApiError> {
    let id = flow_id(&req)?;
    let is_json = is_json_body(&req);
    let fr = flow_request(app, &req, is_json);
    let wants_json = fr.wants_json;
    let sub = Submission::decode(&req.into_body(), is_json);
    let h = &app.handles;
    Ok(match kind {
        FlowKind::Recovery => match h.recovery.submit_recovery(id, sub, fr).await? {
            Ok(o) => render_recovery(app, o, wants_json),
            Err(f) => render_error(app, kind, f.flow_type, wants_json, f.error).await,
        },
        _ => match h.verification.submit_verification(id, sub, fr).await? {
            Ok(u) => render_verification(app, u, wants_json),
            Err(f) => render_error(app, kind, f.flow_type, wants_json, f.error).await,
        },
    })
}

fn render_verification(
    app: &App,
    u: crate::selfservice::flow::verification::Updated,
    wants_json: bool,
) -> Resp {
    let mut r = if wants_json || u.flow.flow_type == FlowType::Api {
        ok_json(&u.flow.to_json())
    } else {
        see_other(&ui_url_for(
            app,
            FlowKind::Verification,
            &u.flow.id.to_string(),
        ))
    };
    if let Some(raw) = u.csrf_cookie {
        set_csrf_cookie(app, r.headers_mut(), &raw);
    }
    r
}

/// `GET /self-service/{recovery,verification}?flow=&token=` (or `&code=` for verification):
/// opened from an email, so always answered for a browser.
pub async fn link(app: &App, kind: FlowKind, req: Request<Bytes>) -> Result<Resp, ApiError> {
    let id = flow_id(&req)?;
    let fr = flow_request(app, &req, false);
    let wants_json = fr.wants_json;
    let h = &app.handles;
    Ok(match kind {
        FlowKind::Recovery => {
            let Some(token) = fr.query("token").map(str::to_owned) else {
                return Err(ApiError::bad_request(
                    "The token query parameter is required.",
                ));
            };
            match h.recovery.recovery_link(id, token, fr).await? {
                Ok(o) => render_recovery(app, o, wants_json),
                Err(e) => render_error(app, kind, Some(FlowType::Browser), wants_json, e).await,
            }
        }
        _ => match h.verification.verification_link(id, fr).await? {
            Ok(u) => {
                let mut r = see_other(&ui_url_for(app, kind, &u.flow.id.to_string()));
                if wants_json {
                    r = ok_json(&u.flow.to_json());
                }
                if let Some(raw) = u.csrf_cookie {
                    set_csrf_cookie(app, r.headers_mut(), &raw);
                }
                r
            }
            Err(e) => render_error(app, kind, Some(FlowType::Browser), wants_json, e).await,
        },
    })
}

/// The longest an admin-created recovery code or link may stay valid: a year. Kratos takes
/// any Go duration, up to dates in the 2300s.
const MAX_EXPIRES_IN: std::time::Duration = std::time::Duration::from_secs(365 * 24 * 3600);

/// Go duration strings as Kratos accepts them (`1h`, `15m`, `1h30m`, `1.5h`).
fn go_duration(s: &str) -> Option<std::time::Duration> {
    s.parse::<crate::config::Duration>().ok().map(Into::into)
}

/// `POST /admin/recovery/code` and `POST /admin/recovery/link`.
pub async fn admin_create(app: &App, link: bool, req: Request<Bytes>) -> Result<Resp, ApiError> {
    let deps = &app.handles.deps;
    let body = json_body(req)?;
    let raw_id = body
        .get("identity_id")
        .and_then(|v| v.as_str())
        .ok_or_else(|| ApiError::bad_request("identity_id is required."))?;
    let identity_id = Uuid::parse_str(raw_id)
        .map_err(|_| ApiError::bad_request(format!("identity_id {raw_id:?} is not a UUID.")))?;
    let expires_in = match body
        .get("expires_in")
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty())
    {
        None => None,
        Some(s) if s.starts_with('-') => {
            return Err(ApiError::bad_request(format!(
                "Value from \"expires_in\" must result to a future time: {s}"
            )));
        }
        Some(s) => match go_duration(s) {
            Some(d) if d > MAX_EXPIRES_IN => {
                return Err(ApiError::bad_request(format!(
                    "Value from \"expires_in\" must not exceed {}: {s}",
                    crate::config::Duration(MAX_EXPIRES_IN)
                )));
            }
            Some(d) if !d.is_zero() => Some(d),
            Some(_) => {
                return Err(ApiError::bad_request(format!(
                    "Value from \"expires_in\" must result to a future time: {s}"
                )));
            }
            None => {
                return Err(ApiError::bad_request(format!(
                    "Unable to parse \"expires_in\" whose format should match \"[0-9]+(ns|us|ms|s|m|h)\" but did not: {s}"
                )));
            }
        },
    };
    let flow_type = match body.get("flow_type").and_then(|v| v.as_str()) {
        Some("api") if !link => FlowType::Api,
        _ => FlowType::Browser,
    };
    if !deps.config.selfservice.flows.recovery.enabled {
        return Ok(render_error(
            app,
            FlowKind::Recovery,
            None,
            true,
            FlowError::FlowDisabled(FlowKind::Recovery),
        )
        .await);
    }
    match crate::selfservice::flow::recovery::admin_create(
        deps,
        identity_id,
        expires_in,
        flow_type,
        if link { Method::Link } else { Method::Code },
    )
    .await
    {
        Ok((flow, secret, expires_at)) => {
            let ui = ui_url_for(app, FlowKind::Recovery, &flow.id.to_string());
            Ok(if link {
                ok_json(&json!({
                    "recovery_link": crate::selfservice::strategy::link::recovery_url(deps, flow.id, &secret),
                    "expires_at": expires_at,
                }))
            } else {
                json_response(
                    http::StatusCode::CREATED,
                    &json!({ "recovery_link": ui, "recovery_code": secret, "expires_at": expires_at }),
                )
            })
        }
        Err(FlowError::NotFound) => Err(ApiError::not_found(
            "The requested identity does not exist.",
        )),
        Err(e) => Ok(render_error(app, FlowKind::Recovery, None, true, e).await),
    }
}
