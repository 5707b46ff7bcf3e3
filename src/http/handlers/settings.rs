//! The settings submit endpoint. Start and read go through `selfservice`.

use bytes::Bytes;
use http::{Method, Request, header};

use crate::http::App;
use crate::http::error::ApiError;
use crate::http::extract::{query_one, query_pairs};
use crate::http::flow_http::{flow_request, render_error, see_other, ui_url_for};
use crate::http::respond::{Resp, ok_json};
use crate::selfservice::flow::request::Submission;
use crate::selfservice::flow::{FlowKind, FlowType};

fn flow_id<B>(req: &Request<B>) -> Result<uuid::Uuid, ApiError> {
    let q = query_pairs(req);
    let raw = query_one(&q, "flow")
        .ok_or_else(|| ApiError::bad_request("The flow query parameter is required."))?;
    uuid::Uuid::parse_str(raw).map_err(|_| {
        ApiError::not_found(format!(
            "No flow has the id {raw:?}: it is not a valid UUID."
        ))
    })
}

/// `POST /self-service/settings?flow=` (JSON or form bodies), and `GET` on the same URL,
/// where a `refresh=true` login sends the browser back: it shows the flow again so the user
/// can resubmit with the refreshed session.
pub async fn submit(app: &App, req: Request<Bytes>) -> Result<Resp, ApiError> {
    let kind = FlowKind::Settings;
    let id = flow_id(&req)?;
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.to_ascii_lowercase().contains("json"));
    let fr = flow_request(app, &req, is_json);
    let wants_json = fr.wants_json;
    let m = &app.handles.settings;
    if req.method() == Method::GET || req.method() == Method::HEAD {
        return Ok(match m.get(id, fr).await? {
            Ok(flow) if wants_json || flow.flow_type == FlowType::Api => ok_json(&flow.to_json()),
            Ok(flow) => see_other(&ui_url_for(app, kind, &flow.id.to_string())),
            Err(e) => render_error(app, kind, None, wants_json, e).await,
        });
    }
    let body = req.into_body();
    let sub = Submission::decode(&body, is_json);
    Ok(match m.submit(id, sub, fr).await? {
        Ok(done) if wants_json || done.flow.flow_type == FlowType::Api => {
            ok_json(&done.flow.to_json())
        }
        Ok(done) => see_other(&done.return_to),
        Err(f) => render_error(app, kind, f.flow_type, wants_json, f.error).await,
    })
}
