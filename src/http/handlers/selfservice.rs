//! Login and registration endpoints, starting and reading every flow, and flow errors.

use bytes::Bytes;
use http::{Request, header};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::http::App;
use crate::http::error::ApiError;
use crate::http::extract::{query_one, query_pairs};
use crate::http::flow_http::{flow_request, render_error, render_started, see_other};
use crate::http::respond::{Resp, ok_json};
use crate::http::session_auth;
use crate::selfservice::flow::request::Submission;
use crate::selfservice::flow::{FlowKind, FlowType};

fn flow_id<B>(req: &Request<B>, key: &str) -> Result<Uuid, ApiError> {
    let q = query_pairs(req);
    let raw = query_one(&q, key)
        .ok_or_else(|| ApiError::bad_request(format!("The {key} query parameter is required.")))?;
    Uuid::parse_str(raw).map_err(|_| {
        ApiError::not_found(format!(
            "No flow has the id {raw:?}: it is not a valid UUID."
        ))
    })
}

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
        Ok(started) => render_started(app, &started.flow, wants_json, started.csrf_cookie),
        Err(e) => render_error(app, kind, Some(flow_type), wants_json, e).await,
    })
}

/// `GET /self-service/<kind>/flows?id=`: always JSON.
pub async fn get(app: &App, kind: FlowKind, req: Request<Bytes>) -> Result<Resp, ApiError> {
    let id = flow_id(&req, "id")?;
    let fr = flow_request(app, &req, false);
    Ok(match app.handles.get_flow(kind, id, fr).await? {
        Ok(flow) => ok_json(&flow.to_json()),
        Err(e) => render_error(app, kind, None, true, e).await,
    })
}

/// `POST /self-service/{login,registration}?flow=`: JSON or form bodies.
pub async fn submit(app: &App, kind: FlowKind, req: Request<Bytes>) -> Result<Resp, ApiError> {
    let id = flow_id(&req, "flow")?;
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.to_ascii_lowercase().contains("json"));
    let fr = flow_request(app, &req, is_json);
    let wants_json = fr.wants_json;
    let body = req.into_body();
    let sub = Submission::decode(&body, is_json);
    match kind {
        FlowKind::Login => Ok(match app.handles.login.submit(id, sub, fr).await? {
            Ok(done) => {
                let deps = &app.handles.deps;
                let session = done.issued.session.to_json(deps.public_base());
                let mut r = if done.flow.flow_type == FlowType::Api {
                    // No `continue_with` for native apps: the token is right here, and the official
                    // Rust SDK cannot decode `continue_with` items (ory/kratos-client-rust#3).
                    ok_json(&json!({
                        "session_token": done.issued.token,
                        "session": session,
                    }))
                } else if wants_json {
                    ok_json(&json!({
                        "session": session,
                        "continue_with": [{"action": "redirect_browser_to", "redirect_browser_to": done.return_to}],
                    }))
                } else {
                    see_other(&done.return_to)
                };
                if done.flow.flow_type == FlowType::Browser {
                    session_auth::set_session_cookie(
                        app,
                        r.headers_mut(),
                        &done.issued.token,
                        done.issued.session.expires_at,
                    );
                }
                r
            }
            Err(f) => render_error(app, kind, f.flow_type, wants_json, f.error).await,
        }),
        FlowKind::Registration => {
            Ok(match app.handles.registration.submit(id, sub, fr).await? {
                Ok(done) => {
                    let deps = &app.handles.deps;
                    let identity = done.identity.to_json(deps.public_base(), None);
                    let api = done.flow.flow_type == FlowType::Api;
                    let mut body = json!({ "identity": identity });
                    let mut continue_with: Vec<Value> = Vec::new();
                    if let Some(issued) = &done.issued {
                        body["session"] = issued.session.to_json(deps.public_base());
                        if api {
                            body["session_token"] = json!(issued.token);
                        }
                    }
                    continue_with.extend(done.continue_with.iter().cloned());
                    // `show_verification_ui`: browsers go to the verification UI, not `return_to`.
                    let verification_url = done
                        .continue_with
                        .first()
                        .filter(|_| done.show_verification_ui)
                        .and_then(|c| c["flow"]["url"].as_str().map(str::to_owned));
                    let browser_to = verification_url.unwrap_or_else(|| done.return_to.clone());
                    if !api {
                        continue_with.push(json!({"action": "redirect_browser_to", "redirect_browser_to": browser_to}));
                    }
                    body["continue_with"] = Value::Array(continue_with);
                    let mut r = if api || wants_json {
                        ok_json(&body)
                    } else {
                        see_other(&browser_to)
                    };
                    if let (false, Some(issued)) = (api, &done.issued) {
                        session_auth::set_session_cookie(
                            app,
                            r.headers_mut(),
                            &issued.token,
                            issued.session.expires_at,
                        );
                    }
                    r
                }
                Err(f) => render_error(app, kind, f.flow_type, wants_json, f.error).await,
            })
        }
        // Routed to `handlers::recovery::submit` and `handlers::settings::submit`.
        FlowKind::Recovery | FlowKind::Verification | FlowKind::Settings => {
            Err(ApiError::not_found("No such self-service flow endpoint."))
        }
    }
}

/// `GET /self-service/errors?id=`
pub async fn error(app: &App, req: Request<Bytes>) -> Result<Resp, ApiError> {
    let q = query_pairs(&req);
    let raw = query_one(&q, "id")
        .ok_or_else(|| ApiError::bad_request("The id query parameter is required."))?;
    let id = Uuid::parse_str(raw)
        .map_err(|_| ApiError::not_found(format!("No error has the id {raw:?}.")))?;
    match crate::selfservice::errors::get(&app.handles.deps, id).await {
        Ok(Some(v)) => Ok(ok_json(&v)),
        Ok(None) => Err(ApiError::not_found(format!("No error has the id {raw:?}."))),
        Err(e) => Err(crate::identity::service::IdentityError::Store(e).into()),
    }
}
