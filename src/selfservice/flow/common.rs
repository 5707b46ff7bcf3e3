//! Steps every flow kind shares: CSRF, loading and saving, expiry, return URLs, the caller's
//! current session.

use std::net::IpAddr;

use serde_json::{Value, json};
use uuid::Uuid;

use super::request::{FlowRequest, Submission};
use super::{Failed, Flow, FlowError, FlowKind, FlowState, FlowType};
use crate::deps::Deps;
use crate::identity::now;
use crate::security::events::{self, Event, Name, Origin, Reason};
use crate::security::rate_limit::{self, Bucket, Limited};
use crate::selfservice::ui::{Group, InputType, UiNode};
use crate::selfservice::{csrf, return_to};
use crate::session::Session;
use crate::store::flows as q;
use crate::text;

/// The masked token for a new browser flow, and the raw token to set as the CSRF cookie when
/// the browser does not have one yet.
pub fn csrf_for(req: &FlowRequest, flow_type: FlowType) -> (String, Option<csrf::RawToken>) {
    match flow_type {
        FlowType::Api => (String::new(), None),
        FlowType::Browser => match req.csrf_cookie {
            Some(raw) => (csrf::mask(&raw), None),
            None => {
                let raw = csrf::new_token();
                (csrf::mask(&raw), Some(raw))
            }
        },
    }
}

const ORIGIN_ON_API_FLOW: &str = "The HTTP Request Header included the \"Origin\" key, indicating that this request was made as part of an AJAX request in a Browser. The flow however was initiated as an API request. To prevent potential misuse and mitigate several attack vectors including CSRF, the request has been blocked. Please consult the documentation.";
const COOKIE_ON_API_FLOW: &str = "The HTTP Request Header included the \"Cookie\" key, indicating that this request was made by a Browser. The flow however was initiated as an API request. To prevent potential misuse and mitigate several attack vectors including CSRF, the request has been blocked. Please consult the documentation.";

/// Browser flows: the submitted token must belong to the CSRF cookie. API flows: the request
/// must not look like it came from a browser. A refusal is a `csrf.failed` event.
pub fn check_submit(
    deps: &Deps,
    flow: &Flow,
    req: &FlowRequest,
    sub: &Submission,
) -> Result<(), FlowError> {
    let Err((reason, error)) = csrf_refusal(deps, flow, req, sub) else {
        return Ok(());
    };
    events::emit(
        deps,
        Event::new(Name::CsrfFailed)
            .origin(&req.origin())
            .flow(flow.id, flow.kind.as_str())
            .identity(flow.identity_id)
            .reason(Reason::Code(reason)),
    );
    Err(error)
}

/// [`check_submit`]'s decision: the event's reason code and the error, when refused.
fn csrf_refusal(
    deps: &Deps,
    flow: &Flow,
    req: &FlowRequest,
    sub: &Submission,
) -> Result<(), (&'static str, FlowError)> {
    match flow.flow_type {
        FlowType::Api if !deps.api_flow_enforcement => Ok(()),
        FlowType::Api => {
            if req.has_origin {
                return Err((
                    "origin_on_api_flow",
                    FlowError::BadRequest(ORIGIN_ON_API_FLOW.into()),
                ));
            }
            if req.has_cookies {
                return Err((
                    "cookie_on_api_flow",
                    FlowError::BadRequest(COOKIE_ON_API_FLOW.into()),
                ));
            }
            Ok(())
        }
        FlowType::Browser => {
            let submitted = sub
                .str("csrf_token")
                .filter(|s| !s.is_empty())
                .or(req.csrf_header.as_deref());
            let Some(cookie) = req.csrf_cookie else {
                return Err((
                    "cookie_missing",
                    FlowError::Csrf("The anti-CSRF cookie is missing from the request.".into()),
                ));
            };
            match submitted {
                None => Err((
                    "token_missing",
                    FlowError::Csrf("The anti-CSRF token is missing from the request body.".into()),
                )),
                Some(t) if csrf::verify(&cookie, t) => Ok(()),
                Some(_) => Err((
                    "token_mismatch",
                    FlowError::Csrf(
                        "The anti-CSRF token does not match the anti-CSRF cookie.".into(),
                    ),
                )),
            }
        }
    }
}

/// `return_to.refused` for a URL a flow of `kind` was asked to return to: its host only.
pub fn return_to_refused(
    deps: &Deps,
    kind: FlowKind,
    origin: Option<&Origin>,
    refused: &return_to::Forbidden,
) {
    let mut e = Event::new(Name::ReturnToRefused)
        .host_of(&refused.0)
        .flow_kind(kind.as_str());
    if let Some(o) = origin {
        e = e.origin(o);
    }
    events::emit(deps, e);
}

/// Browser flows may only be read with the CSRF cookie they were issued with.
pub fn check_read(flow: &Flow, req: &FlowRequest) -> Result<(), FlowError> {
    if flow.flow_type == FlowType::Api {
        return Ok(());
    }
    match (req.csrf_cookie, csrf::unmask(&flow.csrf_token)) {
        (Some(c), Some(t)) if c == t => Ok(()),
        _ => Err(FlowError::Csrf(
            "The flow was started in another browser, or its anti-CSRF cookie is missing; start a new flow.".into(),
        )),
    }
}

pub async fn load(deps: &Deps, id: Uuid, kind: FlowKind) -> Result<Flow, FlowError> {
    let row = q::get(&deps.store, id).await?.ok_or(FlowError::NotFound)?;
    let flow = Flow::from_row(row)?;
    if flow.kind != kind {
        return Err(FlowError::NotFound);
    }
    Ok(flow)
}

/// Attaches the addressed flow's type to a failed submission. Errors that carry a flow name it;
/// otherwise the flow is looked up, unless the client wants JSON anyway.
pub async fn failed(deps: &Deps, id: Uuid, req: &FlowRequest, error: FlowError) -> Failed {
    let error = match error {
        FlowError::RateLimited(l) if !req.wants_json => rate_limited_form(deps, id, l).await,
        other => other,
    };
    let flow_type = match &error {
        FlowError::Invalid(f) | FlowError::Replaced(f) => Some(f.flow_type),
        FlowError::Expired {
            replacement: Some(f),
            ..
        } => Some(f.flow_type),
        FlowError::NotFound => None,
        _ if req.wants_json => None,
        _ => q::get(&deps.store, id)
            .await
            .ok()
            .flatten()
            .map(|r| FlowType::parse(&r.flow_type)),
    };
    Failed { error, flow_type }
}

/// A browser whose code was refused by `security.rate_limits` gets the form again, as it was
/// stored before the submission (nothing was sent or saved), with the message; an API flow
/// keeps the 429.
async fn rate_limited_form(deps: &Deps, id: Uuid, l: Limited) -> FlowError {
    match q::get(&deps.store, id).await {
        Ok(Some(row)) => match Flow::from_row(row) {
            Ok(mut flow) if flow.flow_type == FlowType::Browser => {
                flow.ui.reset_messages();
                flow.ui
                    .add_message(text::codes_rate_limited(l.retry_after_secs()));
                reject(deps, flow).await
            }
            _ => FlowError::RateLimited(l),
        },
        _ => FlowError::RateLimited(l),
    }
}

/// `security.rate_limits`' `flows` bucket of the caller's address, before a flow is started.
pub async fn admit_flow(deps: &Deps, req: &FlowRequest) -> Result<(), FlowError> {
    rate_limit::admit(deps, Bucket::Flows, req.client_address)
        .await
        .map_err(FlowError::RateLimited)
}

/// `security.rate_limits`' `codes` bucket of `client`, before a code or link is sent (or, for
/// an unknown address, seemingly sent: the count must not tell the two apart).
pub async fn admit_code(deps: &Deps, client: Option<IpAddr>) -> Result<(), FlowError> {
    rate_limit::admit(deps, Bucket::Codes, client)
        .await
        .map_err(FlowError::RateLimited)
}

pub async fn insert(deps: &Deps, flow: &Flow) -> Result<(), FlowError> {
    q::insert(&deps.store, &flow.to_row(deps.store.nid())).await?;
    Ok(())
}

/// Stores the rejected submission's UI (messages, values) and returns the `Invalid` error.
pub async fn reject(deps: &Deps, mut flow: Flow) -> FlowError {
    flow.ui.strip_passwords();
    flow.updated_at = now();
    let ui = serde_json::to_string(&flow.ui).unwrap_or_default();
    match q::update_ui(
        &deps.store,
        flow.id,
        flow.state.as_str(),
        &ui,
        flow.active.as_deref(),
        flow.updated_at.naive_utc(),
    )
    .await
    {
        Ok(true) => FlowError::Invalid(Box::new(flow)),
        Ok(false) => FlowError::AlreadyCompleted,
        Err(e) => e.into(),
    }
}

/// The session the caller already has, if any and still valid.
pub async fn current_session(deps: &Deps, req: &FlowRequest) -> Option<Session> {
    let token = req.session_token.as_deref()?;
    crate::session::service::active(deps, token).await.ok()
}

/// Where a browser goes after the flow when it did not ask for a place: the method's default,
/// else the flow's, else the global default, else the public URL.
pub fn default_return(deps: &Deps, kind: FlowKind, method: &str) -> String {
    let ss = &deps.config.selfservice;
    let (flow_default, method_default) = match kind {
        FlowKind::Login => {
            let a = &ss.flows.login.after;
            (a.default_browser_return_url.clone(), a.method(method))
        }
        FlowKind::Registration => {
            let a = &ss.flows.registration.after;
            (a.default_browser_return_url.clone(), a.method(method))
        }
        FlowKind::Recovery => (None, None),
        FlowKind::Settings => {
            let a = &ss.flows.settings.after;
            (a.default_browser_return_url.clone(), a.method(method))
        }
        FlowKind::Verification => (
            ss.flows
                .verification
                .after
                .default_browser_return_url
                .clone(),
            None,
        ),
    };
    let method_default = method_default.and_then(|m| m.default_browser_return_url.clone());
    method_default
        .or(flow_default)
        .or_else(|| ss.default_browser_return_url.clone())
        .unwrap_or_else(|| format!("{}/", deps.public_base()))
}

/// Validates the `return_to` query parameter at flow start; `None` when not given.
pub fn requested_return_to(
    deps: &Deps,
    req: &FlowRequest,
    kind: FlowKind,
) -> Result<Option<String>, FlowError> {
    match req.query("return_to") {
        None => Ok(None),
        Some(r) => {
            let default = default_return(deps, kind, "");
            let ok = return_to::validate(
                Some(r),
                &default,
                &deps.config.selfservice.allowed_return_urls,
                deps.public_base(),
            )
            .inspect_err(|f| return_to_refused(deps, kind, Some(&req.origin()), f))?;
            Ok(Some(ok))
        }
    }
}

/// The place a finished browser flow redirects to.
pub fn final_return(deps: &Deps, flow: &Flow, method: &str) -> Result<String, FlowError> {
    let default = default_return(deps, flow.kind, method);
    Ok(return_to::validate(
        flow.return_to.as_deref(),
        &default,
        &deps.config.selfservice.allowed_return_urls,
        deps.public_base(),
    )
    .inspect_err(|f| return_to_refused(deps, flow.kind, None, f))?)
}

/// The UI's form action for a flow.
pub fn action_url(deps: &Deps, kind: FlowKind, id: Uuid) -> String {
    format!(
        "{}/self-service/{}?flow={id}",
        deps.public_base(),
        kind.as_str()
    )
}

/// Takes `transient_payload` out of a submission (it is passed to hooks, never stored).
pub fn transient_payload(sub: &Submission) -> Option<Value> {
    sub.get("transient_payload").cloned()
}

/// Issues a challenge for a multi-step flow: the flow's unused tokens of `kind` replaced by
/// `tokens`, the messages carrying them queued on the courier, and the flow (already moved to
/// its next state in memory) saved if it is still in one of `from` — one transaction, so a code
/// is never valid without its message queued, nor a message queued for a flow that moved on.
pub async fn issue(
    deps: &Deps,
    flow: &Flow,
    kind: &str,
    tokens: &[crate::store::tokens::TokenRow],
    mails: Vec<crate::selfservice::otp::Mail>,
    from: &[FlowState],
    address_sent: Option<Uuid>,
) -> Result<(), FlowError> {
    use crate::store::tokens as tq;
    let messages = crate::selfservice::otp::render(deps, mails).map_err(FlowError::Internal)?;
    let ui = serde_json::to_string(&flow.ui).unwrap_or_default();
    let issued = tq::issue(
        &deps.store,
        tq::Issue {
            flow_id: flow.id,
            kind,
            tokens,
            messages: &messages,
            address_sent,
            step: Some(tq::FlowStep {
                from: &state_names(from),
                to: flow.state.as_str(),
                ui: &ui,
                active_method: flow.active.as_deref(),
                identity_id: flow.identity_id,
            }),
            now: flow.updated_at.naive_utc(),
        },
    )
    .await?;
    for m in &messages {
        tracing::debug!(message_id = %m.id, template = %m.template_type, "queued courier message");
    }
    if issued {
        Ok(())
    } else {
        Err(FlowError::AlreadyCompleted)
    }
}

pub fn email_node(g: Group, value: Option<&str>) -> UiNode {
    let mut n = UiNode::input("email", g, InputType::Email)
        .required()
        .with_label(text::label_email());
    if let Some(v) = value {
        n.set_value(Some(json!(v)));
    }
    n
}

/// Email addresses are stored lower-cased and trimmed, as Kratos normalises them.
pub fn normalize_email(s: &str) -> String {
    s.trim().to_lowercase()
}

/// Stores state, UI and active method if the flow is still in one of `from`.
pub async fn save(deps: &Deps, flow: &Flow, from: &[FlowState]) -> Result<(), FlowError> {
    let ui = serde_json::to_string(&flow.ui).unwrap_or_default();
    let ok = crate::store::flows::update_state(
        &deps.store,
        flow.id,
        &state_names(from),
        flow.state.as_str(),
        &ui,
        flow.active.as_deref(),
        flow.identity_id,
        now().naive_utc(),
    )
    .await?;
    if ok {
        Ok(())
    } else {
        Err(FlowError::AlreadyCompleted)
    }
}

/// Stores `internal` as the flow's internal context while the flow is in one of `from`
/// (`AlreadyCompleted` once it moved on), and keeps it on `flow`.
pub async fn store_internal(
    deps: &Deps,
    flow: &mut Flow,
    internal: Option<Value>,
    from: &[FlowState],
) -> Result<(), FlowError> {
    set_internal(deps, flow.id, internal.as_ref(), from).await?;
    flow.internal = internal;
    Ok(())
}

/// Sets `key` of the flow's internal context to `value` (removes it for `None`) and stores
/// the context while the flow is in one of `from`: the context as stored, or
/// `AlreadyCompleted` once the flow moved on. The caller keeps it on its flow if it goes on
/// using it.
pub async fn keep_internal(
    deps: &Deps,
    flow: &Flow,
    key: &str,
    value: Option<Value>,
    from: &[FlowState],
) -> Result<Value, FlowError> {
    let mut internal = flow
        .internal
        .clone()
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    if let Some(map) = internal.as_object_mut() {
        match value {
            Some(v) => map.insert(key.to_owned(), v),
            None => map.remove(key),
        };
    }
    set_internal(deps, flow.id, Some(&internal), from).await?;
    Ok(internal)
}

/// Writes a flow's internal context while the flow is in one of `from`.
async fn set_internal(
    deps: &Deps,
    id: Uuid,
    internal: Option<&Value>,
    from: &[FlowState],
) -> Result<(), FlowError> {
    let text = internal.map(Value::to_string);
    if crate::store::flows::set_internal(&deps.store, id, &state_names(from), text.as_deref())
        .await?
    {
        Ok(())
    } else {
        Err(FlowError::AlreadyCompleted)
    }
}

/// Takes `key` out of the flow's internal context for good: the stored context loses it by
/// compare-and-set, so of two submissions racing for it (on any nodes) one gets it and the
/// other `None`, as does every later one.
pub async fn take_internal(
    deps: &Deps,
    flow: &mut Flow,
    key: &str,
) -> Result<Option<Value>, FlowError> {
    let Some(mut internal) = flow.internal.clone() else {
        return Ok(None);
    };
    let Some(taken) = internal.as_object_mut().and_then(|m| m.remove(key)) else {
        return Ok(None);
    };
    let old = flow.internal.as_ref().map(Value::to_string);
    let new = internal.to_string();
    if !crate::store::flows::swap_internal(&deps.store, flow.id, old.as_deref(), Some(&new)).await?
    {
        return Ok(None);
    }
    flow.internal = Some(internal);
    Ok(Some(taken))
}

pub async fn identity_json(deps: &Deps, identity_id: Uuid) -> Value {
    match crate::identity::service::get(deps, identity_id, false).await {
        Ok(i) => i.to_json(deps.public_base(), None),
        Err(_) => Value::Null,
    }
}

/// `base` with `flow=<id>` added to its query.
pub fn with_flow(base: &str, id: Uuid) -> String {
    match url::Url::parse(base) {
        Ok(mut u) => {
            u.query_pairs_mut().append_pair("flow", &id.to_string());
            u.to_string()
        }
        Err(_) => format!(
            "{base}{}flow={id}",
            if base.contains('?') { '&' } else { '?' }
        ),
    }
}

/// A started flow and, for a browser without one, the CSRF cookie to set.
pub struct Started {
    pub flow: Flow,
    pub csrf_cookie: Option<csrf::RawToken>,
}

/// Stored state names, for the store's compare-and-set updates.
pub fn state_names(states: &[FlowState]) -> Vec<&'static str> {
    states.iter().map(|s| s.as_str()).collect()
}

/// Puts a web hook's interrupt messages on the flow and stores it (the flow stays usable);
/// other errors pass through.
pub async fn reject_flow(deps: &Deps, mut flow: Flow, e: FlowError) -> FlowError {
    match e {
        FlowError::HookInterrupted(messages) => {
            crate::selfservice::hooks::show_messages(&mut flow, messages);
            reject(deps, flow).await
        }
        other => other,
    }
}
