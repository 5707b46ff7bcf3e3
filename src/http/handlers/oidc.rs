//! `GET|POST /self-service/methods/oidc/callback/{provider}`: where identity providers send the
//! browser back. The callback goes to the flow its `state` names, through that flow's own
//! submission (the flow's CSRF binding checks it is the same browser), and a flow the method
//! hands over (a login of an unknown subject, a registration of a known one) continues in a
//! fresh flow of the other kind.

use bytes::Bytes;
use http::{Method, Request};
use serde_json::{Value, json};

use crate::http::App;
use crate::http::error::ApiError;
use crate::http::extract::{query_one, query_pairs};
use crate::http::flow::request::flow_request;
use crate::http::flow::respond;
use crate::http::respond::{Resp, see_other};
use crate::limits::MAX_PAIRS;
use crate::selfservice::flow::request::{FlowRequest, Submission};
use crate::selfservice::flow::{Failed, FlowError, FlowKind, common};
use crate::selfservice::strategy::oidc::{self, CALLBACK_PATH, Callback};

/// The callback. A POST (Apple's `response_mode=form_post`) is sent on as a GET carrying the
/// same parameters, as Kratos does, so the browser's cookies come with it.
pub async fn callback(app: &App, provider: &str, req: Request<Bytes>) -> Result<Resp, ApiError> {
    let deps = app.handles.deps();
    if req.method() == Method::POST {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in url::form_urlencoded::parse(req.body()).take(MAX_PAIRS) {
            q.append_pair(&k, &v);
        }
        let provider =
            url::form_urlencoded::byte_serialize(provider.as_bytes()).collect::<String>();
        return Ok(see_other(&format!(
            "{}{CALLBACK_PATH}{provider}?{}",
            deps.public_base(),
            q.finish()
        )));
    }
    let q = query_pairs(&req);
    let fr = flow_request(app, &req, false);
    let state = query_one(&q, "state").and_then(|s| oidc::open_state(&deps, s));
    let kind = state
        .as_ref()
        .and_then(|s| FlowKind::parse(&s.k))
        .filter(|k| {
            matches!(
                k,
                FlowKind::Login | FlowKind::Registration | FlowKind::Settings
            )
        });
    let (Some(state), Some(kind)) = (state, kind) else {
        let e = FlowError::BadRequest(
            "The OpenID Connect callback's state parameter is missing or invalid.".into(),
        );
        return Ok(respond::render_error(app, FlowKind::Login, None, false, e).await);
    };
    let flow = match common::load(&deps, state.f, kind).await {
        Ok(f) => f,
        Err(e) => return Ok(respond::render_error(app, kind, None, false, e).await),
    };
    let cb = Callback {
        code: query_one(&q, "code").map(str::to_owned),
        error: query_one(&q, "error").map(str::to_owned),
        error_description: query_one(&q, "error_description").map(str::to_owned),
        secret: state.s,
    };
    let sub = submission(provider, &flow.csrf_token, oidc::callback_carried(&cb));
    submit(app, kind, flow.id, sub, fr, false, HAND_OVERS).await
}

/// What the method is handed: the provider, the flow's own CSRF token (the check that the
/// browser's cookie belongs to the flow), and what the round trip brought back.
fn submission(provider: &str, csrf_token: &str, carried: Value) -> Submission {
    let mut sub = Submission::default();
    sub.fields.insert("method".into(), json!("oidc"));
    sub.fields.insert("provider".into(), json!(provider));
    sub.fields.insert("csrf_token".into(), json!(csrf_token));
    sub.carried = Some(carried);
    sub
}

/// How many fresh flows one submission may continue in: a login of an unknown subject goes on
/// as a registration, which may find the email taken and go on as a login offering to link.
pub const HAND_OVERS: u8 = 2;

/// Submits to a flow of `kind` and answers; a handover continues in a fresh flow, at most
/// `hand_overs_left` times, so flows never bounce back and forth.
pub async fn submit(
    app: &App,
    kind: FlowKind,
    id: uuid::Uuid,
    sub: Submission,
    fr: FlowRequest,
    wants_json: bool,
    hand_overs_left: u8,
) -> Result<Resp, ApiError> {
    let h = &app.handles;
    let failed = match kind {
        FlowKind::Login => match h.login.submit(id, Ok(sub), fr.clone()).await? {
            Ok(done) => return Ok(respond::logged_in(app, done, wants_json)),
            Err(f) => f,
        },
        FlowKind::Registration => match h.registration.submit(id, Ok(sub), fr.clone()).await? {
            Ok(done) => return Ok(respond::registered(app, done, wants_json)),
            Err(f) => f,
        },
        _ => match h.settings.submit(id, Ok(sub), fr.clone()).await? {
            Ok(done) => return Ok(respond::settings_saved(app, done, wants_json)),
            Err(f) => f,
        },
    };
    answer_failed(app, kind, failed, fr, wants_json, hand_overs_left).await
}

/// A failed submission's answer, or for a handover the fresh flow's.
pub async fn answer_failed(
    app: &App,
    kind: FlowKind,
    failed: Failed,
    fr: FlowRequest,
    wants_json: bool,
    hand_overs_left: u8,
) -> Result<Resp, ApiError> {
    let Failed {
        error:
            FlowError::Handoff {
                kind: to,
                flow_type,
                method,
                carried,
                return_to,
            },
        ..
    } = failed
    else {
        return Ok(respond::failed(app, kind, wants_json, failed).await);
    };
    if hand_overs_left == 0 {
        let e = FlowError::Internal("an OpenID Connect flow was handed over too often".into());
        return Ok(respond::render_error(app, to, Some(flow_type), wants_json, e).await);
    }
    // The fresh flow starts as if asked for with the first one's return_to.
    let mut fr = fr;
    fr.query = return_to
        .map(|r| vec![("return_to".into(), r)])
        .unwrap_or_default();
    let started = match app.handles.start_flow(to, flow_type, fr.clone()).await? {
        Ok(s) => s,
        Err(e) => return Ok(respond::render_error(app, to, Some(flow_type), wants_json, e).await),
    };
    let provider = carried["proven"]["provider"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let mut sub = submission(&provider, &started.flow.csrf_token, *carried);
    sub.fields.insert("method".into(), json!(method));
    Box::pin(submit(
        app,
        to,
        started.flow.id,
        sub,
        fr,
        wants_json,
        hand_overs_left - 1,
    ))
    .await
}
