//! The login flow: start, read, submit. Password is the one method so far; the method's
//! checks live in `strategy::password`.

use uuid::Uuid;

use super::common::{self, csrf_for};
use super::request::{FlowRequest, Submission};
use super::{
    Flow, FlowError, FlowKind, FlowType, STATE_CHOOSE_METHOD, STATE_PASSED_CHALLENGE,
    STATE_SENT_EMAIL,
};
use crate::config::Hook;
use crate::deps::Deps;
use crate::identity::now;
use crate::identity::{CredentialType, Identity, State};
use crate::selfservice::csrf::RawToken;
use crate::selfservice::hooks::{self, HookContext, HookFlow, web_hook};
use crate::selfservice::strategy::{code, password};
use crate::selfservice::ui::{Group, InputType, SortOptions, UiContainer, UiNode};
use crate::session::service::{self as sessions, IssuedSession};
use crate::text;

/// A started flow and, for a browser without one, the CSRF cookie to set.
pub struct Started {
    pub flow: Flow,
    pub csrf_cookie: Option<RawToken>,
}

/// A completed login.
pub struct LoggedIn {
    pub flow: Flow,
    pub issued: IssuedSession,
    /// Where a browser goes next.
    pub return_to: String,
}

fn build(
    deps: &Deps,
    flow_type: FlowType,
    req: &FlowRequest,
) -> Result<(Flow, Option<RawToken>), FlowError> {
    let cfg = &deps.config.selfservice.flows.login;
    let id = Uuid::new_v4();
    let (masked, cookie) = csrf_for(req, flow_type);
    let mut ui = UiContainer::new(common::action_url(deps, FlowKind::Login, id), "POST");
    password::populate_login(deps, &mut ui, &masked);
    if code::passwordless(deps) {
        code::populate_login(&mut ui);
        ui.sort_nodes(&SortOptions::login());
    }
    let mut flow = Flow::new(
        FlowKind::Login,
        flow_type,
        req.request_url.clone(),
        cfg.lifespan.get(),
        ui,
    );
    flow.id = id;
    flow.csrf_token = masked;
    Ok((flow, cookie))
}

pub async fn start(
    deps: &Deps,
    flow_type: FlowType,
    req: &FlowRequest,
) -> Result<Started, FlowError> {
    if let Some(aal) = req.query("aal")
        && aal != "aal1"
    {
        return Err(FlowError::BadRequest(format!(
            "Requested authenticator assurance level {aal:?} is not available: no second-factor method is enabled."
        )));
    }
    let refresh = req.query_bool("refresh");
    let session = common::current_session(deps, req).await;
    if session.is_some() && !refresh {
        return Err(FlowError::AlreadyLoggedIn);
    }
    let return_to = common::requested_return_to(deps, req, FlowKind::Login)?;
    let (mut flow, csrf_cookie) = build(deps, flow_type, req)?;
    flow.return_to = return_to;
    hooks::run_before(deps, HookFlow::Login, &mut HookContext::new(&flow, req)).await?;
    if let (true, Some(s)) = (refresh, &session) {
        flow.refresh = true;
        flow.ui.add_message(text::login_re_auth());
        if let Some(identifier) = password::identifier_of(deps, s.identity_id).await {
            password::prefill_refresh(&mut flow.ui, &identifier);
        }
    }
    common::insert(deps, &flow).await?;
    Ok(Started { flow, csrf_cookie })
}

/// `GET /self-service/login/flows?id=`: expired flows answer with `Expired` (no replacement).
pub async fn get(deps: &Deps, id: Uuid, req: &FlowRequest) -> Result<Flow, FlowError> {
    let flow = common::load(deps, id, FlowKind::Login).await?;
    common::check_read(&flow, req)?;
    if flow.is_expired() {
        return Err(FlowError::Expired {
            expired_at: flow.expires_at,
            replacement: None,
        });
    }
    Ok(flow)
}

/// Starts a fresh flow in place of an expired one, carrying the expiry message.
async fn replace_expired(deps: &Deps, old: &Flow, req: &FlowRequest) -> FlowError {
    match build(deps, old.flow_type, req) {
        Ok((mut fresh, _)) => {
            fresh.return_to = old.return_to.clone();
            fresh.refresh = old.refresh;
            fresh.request_url = old.request_url.clone();
            let ago = (chrono::Utc::now() - old.expires_at).num_milliseconds() as f64 / 60_000.0;
            fresh.ui.add_message(text::login_flow_expired(
                &old.expires_at.to_rfc3339(),
                old.expires_at.timestamp(),
                ago,
            ));
            if let Err(e) = common::insert(deps, &fresh).await {
                return e;
            }
            FlowError::Expired {
                expired_at: old.expires_at,
                replacement: Some(Box::new(fresh)),
            }
        }
        Err(e) => e,
    }
}

pub async fn submit(
    deps: &Deps,
    id: Uuid,
    sub: Submission,
    req: &FlowRequest,
) -> Result<LoggedIn, FlowError> {
    let mut flow = common::load(deps, id, FlowKind::Login).await?;
    if flow.is_expired() {
        return Err(replace_expired(deps, &flow, req).await);
    }
    let method = sub.str("method").unwrap_or_default().to_owned();
    // After a code went out, only the code method may continue the flow.
    let from_state = flow.state.clone();
    let code_step = from_state == STATE_SENT_EMAIL && method == "code";
    if from_state != STATE_CHOOSE_METHOD && !code_step {
        return Err(FlowError::AlreadyCompleted);
    }
    common::check_submit(&flow, req, &sub)?;
    let session = common::current_session(deps, req).await;
    if session.is_some() && !flow.refresh {
        return Err(FlowError::AlreadyLoggedIn);
    }
    flow.ui.reset_messages();
    let identity = match method.as_str() {
        "password" => {
            flow.active = Some("password".into());
            match password::login(deps, &mut flow.ui, &sub).await? {
                Some(identity) => identity,
                None => return Err(common::reject(deps, flow).await),
            }
        }
        "code" if code::passwordless(deps) => {
            flow.active = Some("code".into());
            match code_login(deps, &mut flow, &sub).await? {
                CodeStep::Verified(identity) => *identity,
                CodeStep::Sent => return Err(FlowError::Invalid(Box::new(flow))),
                CodeStep::Rejected => return Err(common::reject(deps, flow).await),
            }
        }
        _ => {
            flow.ui.add_message(text::login_no_strategy_found());
            return Err(common::reject(deps, flow).await);
        }
    };
    // The session records the method as a credential type (the match above let only known
    // methods through).
    let used = CredentialType::parse(&method)
        .ok_or_else(|| FlowError::Internal(format!("no credential type {method:?}")))?;
    if let Some(s) = &session
        && s.identity_id != identity.id
    {
        // A refresh must re-authenticate the same person.
        flow.ui.add_message(text::validation_invalid_credentials());
        return Err(common::reject(deps, flow).await);
    }
    // Kratos runs every after hook before it stores the session. Here the checks and blocking
    // web hooks run, in order, before the flow completes (an interrupt leaves it usable); the
    // hooks that need the session (revoking others, queued web hooks) run once it exists.
    let after = hooks::after_hooks(&deps.config, HookFlow::Login, &method);
    let mut ctx = HookContext::new(&flow, req);
    ctx.identity = Some(identity.to_json(deps.public_base(), None));
    ctx.transient_payload = common::transient_payload(&sub);
    for c in &after {
        match &c.hook {
            Hook::RequireVerifiedAddress
                if !super::verification::has_verified_address(&identity) =>
            {
                return Err(FlowError::AddressNotVerified);
            }
            Hook::WebHook { config } if !config.response.ignore => {
                if let Err(e) = web_hook::run(deps, &c.path, config, &mut ctx).await {
                    return Err(hooks::reject_flow(deps, flow, e).await);
                }
            }
            _ => {}
        }
    }
    // Completing is a compare-and-set: one submission wins, even across nodes.
    if !crate::store::flows::transition(
        &deps.store,
        flow.id,
        &from_state,
        STATE_PASSED_CHALLENGE,
        now().naive_utc(),
    )
    .await?
    {
        return Err(FlowError::AlreadyCompleted);
    }
    flow.state = STATE_PASSED_CHALLENGE.into();
    let refreshed = match (&session, req.session_token.as_deref()) {
        (Some(s), Some(token)) if flow.refresh => Some(
            sessions::reauthenticate(deps, s, token, used)
                .await
                .map_err(|e| FlowError::Internal(e.to_string()))?,
        ),
        _ => None,
    };
    let issued = match refreshed {
        Some(r) => r,
        None => sessions::issue(deps, &identity, used, req.device.clone())
            .await
            .map_err(|e| match e {
                sessions::SessionError::IdentityDisabled => FlowError::IdentityDisabled,
                other => FlowError::Internal(other.to_string()),
            })?,
    };
    ctx.session = Some(issued.session.to_json(deps.public_base()));
    for c in &after {
        match &c.hook {
            Hook::RevokeActiveSessions => {
                sessions::revoke_others(deps, identity.id, issued.session.id)
                    .await
                    .map_err(|e| FlowError::Internal(e.to_string()))?;
            }
            Hook::WebHook { config } if config.response.ignore => {
                web_hook::run(deps, &c.path, config, &mut ctx).await?;
            }
            _ => {}
        }
    }
    let return_to = common::final_return(deps, &flow, &method)?;
    Ok(LoggedIn {
        flow,
        issued,
        return_to,
    })
}

enum CodeStep {
    /// A code went out (or, for an unknown identifier, seemingly did); answer with the flow.
    Sent,
    /// The submission was refused; the reasons are in the flow's UI.
    Rejected,
    Verified(Box<Identity>),
}

/// The code method on login: a submission with a code (after one was sent) checks it; any
/// other asks for a code for the identifier.
async fn code_login(deps: &Deps, flow: &mut Flow, sub: &Submission) -> Result<CodeStep, FlowError> {
    let identifier = sub.str("identifier").unwrap_or_default().trim().to_owned();
    if flow.state == STATE_SENT_EMAIL
        && let Some(c) = code::submitted_code(sub)
    {
        return match code::check(deps, flow, code::KIND_LOGIN, &c).await? {
            code::Checked::TooOften => {
                flow.ui.add_message(code::too_often());
                Ok(CodeStep::Rejected)
            }
            code::Checked::Invalid => {
                flow.ui.add_message(text::login_code_invalid());
                Ok(CodeStep::Rejected)
            }
            code::Checked::Valid(row) => {
                // A login code is always issued for an identity; one without is no match.
                let identity = match row.identity_id {
                    Some(id) => crate::identity::service::get(deps, id.0, true).await.ok(),
                    None => None,
                };
                match identity {
                    Some(i) if i.state == State::Active => Ok(CodeStep::Verified(Box::new(i))),
                    Some(_) => {
                        flow.ui.add_message(text::identity_disabled());
                        Ok(CodeStep::Rejected)
                    }
                    None => {
                        flow.ui.add_message(text::login_code_invalid());
                        Ok(CodeStep::Rejected)
                    }
                }
            }
        };
    }
    flow.ui
        .set_value("identifier", serde_json::json!(identifier));
    if identifier.is_empty() {
        flow.ui
            .add_node_message("identifier", text::validation_required("identifier"));
        return Ok(CodeStep::Rejected);
    }
    let address = password::normalize(&identifier);
    let owner = crate::store::credentials::identity_for_identifier(
        &deps.store,
        CredentialType::Code.as_str(),
        &address,
    )
    .await?;
    match owner {
        Some(identity_id) => {
            let channel = code::channel_for(deps, identity_id, &address).await;
            code::send(
                deps,
                flow,
                code::KIND_LOGIN,
                &address,
                channel,
                Some(identity_id),
            )
            .await?
        }
        // Nobody to mail: still void earlier codes so the answer and the flow look the same.
        None => {
            crate::store::tokens::replace_for_flow(&deps.store, flow.id, code::KIND_LOGIN, &[])
                .await?
        }
    }
    flow.state = STATE_SENT_EMAIL.into();
    flow.updated_at = now();
    code::show_code_input(&mut flow.ui, text::label_login_code(), text::login());
    flow.ui.append(
        UiNode::input("resend", Group::Code, InputType::Submit)
            .with_value("code")
            .with_label(text::label_resend_otp()),
    );
    flow.ui.add_message(text::login_code_sent());
    super::recovery::save(deps, flow, &[STATE_CHOOSE_METHOD, STATE_SENT_EMAIL]).await?;
    Ok(CodeStep::Sent)
}
