//! The settings submit endpoint. Start and read go through `selfservice`.

use bytes::Bytes;
use http::{Method, Request};

use crate::http::App;
use crate::http::error::ApiError;
use crate::http::flow::request::Submitted;
use crate::http::flow::respond;
use crate::http::respond::Resp;
use crate::selfservice::flow::FlowKind;

/// `POST /self-service/settings?flow=` (JSON or form bodies), and `GET` on the same URL,
/// where a `refresh=true` login sends the browser back: it shows the flow again so the user
/// can resubmit with the refreshed session.
pub async fn submit(app: &App, req: Request<Bytes>) -> Result<Resp, ApiError> {
    let kind = FlowKind::Settings;
    let Submitted { id, request, body } = Submitted::read(app, &req)?;
    let wants_json = request.wants_json;
    let m = &app.handles.settings;
    if req.method() == Method::GET || req.method() == Method::HEAD {
        return Ok(match m.get(id, request).await? {
            Ok(flow) => respond::flow(app, &flow, wants_json),
            Err(e) => respond::render_error(app, kind, None, wants_json, e).await,
        });
    }
    Ok(match m.submit(id, body, request).await? {
        Ok(done) => respond::settings_saved(app, done, wants_json),
        Err(f) => respond::failed(app, kind, wants_json, f).await,
    })
}
