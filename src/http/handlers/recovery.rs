//! Recovery and verification endpoints: submit, the links from emails, and the admin
//! endpoints that create recovery codes and links. Start and read go through `selfservice`.

use bytes::Bytes;
use http::Request;
use uuid::Uuid;

use crate::http::App;
use crate::http::error::ApiError;
use crate::http::extract::json_body;
use crate::http::flow::request::{Submitted, flow_id, flow_request};
use crate::http::flow::respond;
use crate::http::respond::Resp;
use crate::selfservice::flow::{FlowError, FlowKind, FlowType};
use crate::selfservice::strategy::Method;

/// `POST /self-service/{recovery,verification}?flow=`
pub async fn submit(app: &App, kind: FlowKind, req: Request<Bytes>) -> Result<Resp, ApiError> {
    let Submitted { id, request, body } = Submitted::read(app, &req)?;
    let wants_json = request.wants_json;
    let h = &app.handles;
    Ok(match kind {
        FlowKind::Recovery => match h.recovery.submit(id, body, request).await? {
            Ok(o) => respond::recovery(app, o, wants_json),
            Err(f) => respond::failed(app, kind, wants_json, f).await,
        },
        _ => match h.verification.submit(id, body, request).await? {
            Ok(u) => respond::verification(app, u, wants_json),
            Err(f) => respond::failed(app, kind, wants_json, f).await,
        },
    })
}

/// `GET /self-service/{recovery,verification}?flow=&token=` (or `&code=` for verification):
/// opened from an email, so always answered for a browser.
pub async fn link(app: &App, kind: FlowKind, req: Request<Bytes>) -> Result<Resp, ApiError> {
    let id = flow_id(&req, "flow")?;
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
            match h.recovery.link(id, token, fr).await? {
                Ok(o) => respond::recovery_link(app, o, wants_json),
                Err(e) => {
                    respond::render_error(app, kind, Some(FlowType::Browser), wants_json, e).await
                }
            }
        }
        _ => match h.verification.link(id, fr).await? {
            Ok(u) => respond::verification_link(app, u, wants_json),
            Err(e) => {
                respond::render_error(app, kind, Some(FlowType::Browser), wants_json, e).await
            }
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
    let deps = app.handles.deps();
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
        return Ok(respond::render_error(
            app,
            FlowKind::Recovery,
            None,
            true,
            FlowError::FlowDisabled(FlowKind::Recovery),
        )
        .await);
    }
    match crate::selfservice::flow::recovery::admin_create(
        &deps,
        identity_id,
        expires_in,
        flow_type,
        if link { Method::Link } else { Method::Code },
    )
    .await
    {
        Ok((flow, secret, expires_at)) => Ok(respond::recovery_created(
            app, &flow, &secret, expires_at, link,
        )),
        Err(FlowError::NotFound) => Err(ApiError::identity_not_found()),
        Err(e) => Ok(respond::render_error(app, FlowKind::Recovery, None, true, e).await),
    }
}
