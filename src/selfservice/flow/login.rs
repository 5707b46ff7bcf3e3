//! The login flow: start, read, submit. Password is the one method so far; the method's
//! checks live in `strategy::password`.

use uuid::Uuid;

use super::common::{self, csrf_for};
use super::request::{FlowRequest, Submission};
use super::{Flow, FlowError, FlowKind, FlowType, STATE_CHOOSE_METHOD, STATE_PASSED_CHALLENGE};
use crate::config::Hook;
use crate::deps::Deps;
use crate::identity::now;
use crate::selfservice::csrf::RawToken;
use crate::selfservice::strategy::password;
use crate::selfservice::ui::UiContainer;
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
    if flow.state != STATE_CHOOSE_METHOD {
        return Err(FlowError::AlreadyCompleted);
    }
    common::check_submit(&flow, req, &sub)?;
    let session = common::current_session(deps, req).await;
    if session.is_some() && !flow.refresh {
        return Err(FlowError::AlreadyLoggedIn);
    }
    flow.ui.reset_messages();
    let method = sub.str("method").unwrap_or_default().to_owned();
    if method != "password" {
        flow.ui.add_message(text::login_no_strategy_found());
        return Err(common::reject(deps, flow).await);
    }
    flow.active = Some("password".into());
    let identity = match password::login(deps, &mut flow.ui, &sub).await? {
        Some(identity) => identity,
        None => return Err(common::reject(deps, flow).await),
    };
    if let Some(s) = &session
        && s.identity_id != identity.id
    {
        // A refresh must re-authenticate the same person.
        flow.ui.add_message(text::validation_invalid_credentials());
        return Err(common::reject(deps, flow).await);
    }
    if common::after_hooks(deps, FlowKind::Login, "password")
        .iter()
        .any(|h| matches!(h, Hook::RequireVerifiedAddress))
        && !super::verification::has_verified_address(&identity)
    {
        return Err(FlowError::AddressNotVerified);
    }
    // Completing is a compare-and-set: one submission wins, even across nodes.
    if !crate::store::flows::transition(
        &deps.store,
        &flow.id.to_string(),
        STATE_CHOOSE_METHOD,
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
            sessions::reauthenticate(deps, s, token, "password")
                .await
                .map_err(|e| FlowError::Internal(e.to_string()))?,
        ),
        _ => None,
    };
    let issued = match refreshed {
        Some(r) => r,
        None => sessions::issue(deps, &identity, "password", req.device.clone())
            .await
            .map_err(|e| match e {
                sessions::SessionError::IdentityDisabled => FlowError::IdentityDisabled,
                other => FlowError::Internal(other.to_string()),
            })?,
    };
    for hook in common::after_hooks(deps, FlowKind::Login, "password") {
        if let Hook::RevokeActiveSessions = hook {
            sessions::revoke_others(deps, identity.id, issued.session.id)
                .await
                .map_err(|e| FlowError::Internal(e.to_string()))?;
        }
    }
    let return_to = common::final_return(deps, &flow, "password")?;
    Ok(LoggedIn {
        flow,
        issued,
        return_to,
    })
}
