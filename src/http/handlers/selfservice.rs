//! Login and registration endpoints, starting and reading every flow, and flow errors.

use bytes::Bytes;
use http::Request;
use uuid::Uuid;

use crate::http::App;
use crate::http::error::ApiError;
use crate::http::extract::{query_one, query_pairs};
use crate::http::flow::request::{Submitted, flow_id, flow_request};
use crate::http::flow::respond;
use crate::http::respond::{Resp, ok_json};
use crate::selfservice::flow::{FlowKind, FlowType};

/// `GET /self-service/{login,registration,recovery,verification,settings}/{browser,api}`
pub async fn start(
    app: &App,
    kind: FlowKind,
    flow_type: FlowType,
    req: Request<Bytes>,
) -> Result<Resp, ApiError> {
    let fr = flow_request(app, &req, false);
    let wants_json = fr.wants_json;
    let result = app.handles.start_flow(kind, flow_type, fr).await?;
    Ok(match result {
        Ok(started) => respond::started(app, &started.flow, wants_json, started.csrf_cookie),
        Err(e) => respond::render_error(app, kind, Some(flow_type), wants_json, e).await,
    })
}

/// `GET /self-service/<kind>/flows?id=`: always JSON.
pub async fn get(app: &App, kind: FlowKind, req: Request<Bytes>) -> Result<Resp, ApiError> {
    let id = flow_id(&req, "id")?;
    let fr = flow_request(app, &req, false);
    Ok(match app.handles.get_flow(kind, id, fr).await? {
        Ok(flow) => ok_json(&flow.to_json()),
        Err(e) => respond::render_error(app, kind, None, true, e).await,
    })
}

/// `POST /self-service/{login,registration}?flow=`: JSON or form bodies.
pub async fn submit(app: &App, kind: FlowKind, req: Request<Bytes>) -> Result<Resp, ApiError> {
    let Submitted { id, request, body } = Submitted::read(app, &req)?;
    let wants_json = request.wants_json;
    let h = &app.handles;
    // A native OpenID Connect sign-in (`id_token`) may continue in a flow of the other kind.
    let fr = request.clone();
    let hand_over =
        |f| super::oidc::answer_failed(app, kind, f, fr, wants_json, super::oidc::HAND_OVERS);
    Ok(match kind {
        FlowKind::Login => match h.login.submit(id, body, request).await? {
            Ok(done) => respond::logged_in(app, done, wants_json),
            Err(f) => hand_over(f).await?,
        },
        FlowKind::Registration => match h.registration.submit(id, body, request).await? {
            Ok(done) => respond::registered(app, done, wants_json),
            Err(f) => hand_over(f).await?,
        },
        // Routed to `handlers::recovery::submit` and `handlers::settings::submit`.
        FlowKind::Recovery | FlowKind::Verification | FlowKind::Settings => {
            return Err(ApiError::not_found("No such self-service flow endpoint."));
        }
    })
}

/// `GET /self-service/errors?id=`
pub async fn error(app: &App, req: Request<Bytes>) -> Result<Resp, ApiError> {
    let q = query_pairs(&req);
    let raw = query_one(&q, "id")
        .ok_or_else(|| ApiError::bad_request("The id query parameter is required."))?;
    let id = Uuid::parse_str(raw).map_err(|_| ApiError::flow_error_not_found(raw))?;
    match crate::selfservice::errors::get(&app.handles.deps(), id).await? {
        Some(v) => Ok(ok_json(&v)),
        None => Err(ApiError::flow_error_not_found(raw)),
    }
}
