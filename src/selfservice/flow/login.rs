//! The login flow: start, read, submit. The enabled methods (`strategy::Registry`) fill the
//! form and check what is submitted to them; the flow owns states, hooks and the session.

use uuid::Uuid;

use super::common::{self, Started, csrf_for};
use super::request::{FlowRequest, Submission};
use super::{Flow, FlowError, FlowKind, FlowState, FlowType};
use crate::config::Hook;
use crate::config::RequiredAal;
use crate::deps::Deps;
use crate::identity::service as identities;
use crate::identity::{Identity, now};
use crate::security::events::{self, Event, Name, Reason};
use crate::security::throttle;
use crate::selfservice::csrf::RawToken;
use crate::selfservice::hooks::{self, HookContext, web_hook};
use crate::selfservice::strategy::{LINK_KEY, Outcome, Registry};
use crate::selfservice::ui::{SortOptions, UiContainer, csrf_node};
use crate::session::Aal;
use crate::session::service::{self as sessions, IssuedSession};
use crate::text::{self, TextKind};

/// A completed login.
pub struct LoggedIn {
    pub flow: Flow,
    pub issued: IssuedSession,
    /// Where a browser goes next.
    pub return_to: String,
    /// The session is below what whoami requires (`highest_available` and the identity has
    /// a second factor): the aal2 login URL the browser goes to instead, as Kratos sends it.
    pub aal_redirect: Option<String>,
}

/// A login flow at `aal`: first factors for `Aal1`, for `Aal2` the second factors `identity`
/// (the signed-in one) has set up.
fn build(
    deps: &Deps,
    strategies: &Registry,
    flow_type: FlowType,
    req: &FlowRequest,
    aal: Aal,
    identity: Option<&Identity>,
) -> Result<(Flow, Option<RawToken>), FlowError> {
    let cfg = &deps.config.selfservice.flows.login;
    let id = Uuid::new_v4();
    let (masked, cookie) = csrf_for(req, flow_type);
    let mut ui = UiContainer::new(common::action_url(deps, FlowKind::Login, id), "POST");
    ui.append(csrf_node(&masked));
    let mut internal = None;
    for s in strategies.login_at(aal, identity) {
        // Identifier-first: the first screen; the methods show once the account is known.
        if aal == Aal::Aal1 && strategies.identifier_first() {
            s.populate_identification(deps, &mut ui, &mut internal)?;
        } else {
            s.populate_flow(deps, &mut ui, identity, &mut internal)?;
        }
    }
    ui.sort_nodes(&SortOptions::login());
    let mut flow = Flow::new(
        FlowKind::Login,
        flow_type,
        req.request_url.clone(),
        cfg.lifespan.get(),
        ui,
    );
    flow.id = id;
    flow.csrf_token = masked;
    flow.internal = internal;
    flow.requested_aal = aal;
    if aal > Aal::Aal1 {
        flow.identity_id = identity.map(|i| i.id);
    }
    Ok((flow, cookie))
}

/// `?aal=` as Kratos reads it: empty is aal1, and only aal1 and aal2 exist.
fn requested_aal(req: &FlowRequest) -> Result<Aal, FlowError> {
    match req.query("aal").filter(|a| !a.is_empty()) {
        None => Ok(Aal::Aal1),
        Some(a) => match Aal::parse(a) {
            Some(aal @ (Aal::Aal1 | Aal::Aal2)) => Ok(aal),
            _ => Err(FlowError::BadRequest(format!(
                "Unable to parse AuthenticationMethod Assurance Level (AAL): expected one of [aal1, aal2] but got {a}"
            ))),
        },
    }
}

/// The identity with its credentials, for second factors to look at.
async fn with_credentials(deps: &Deps, id: Uuid) -> Result<Identity, FlowError> {
    match identities::get(deps, id, true).await {
        Ok(i) => Ok(i),
        Err(identities::IdentityError::NotFound) => Err(FlowError::Aal1Required),
        Err(identities::IdentityError::Store(e)) => Err(e.into()),
        Err(e) => Err(FlowError::Internal(e.to_string())),
    }
}

/// `GET /self-service/login/{browser,api}`: `aal=aal2` steps a signed-in session up (a
/// session is needed, below that level unless `refresh=true`); without it a session is
/// only allowed with `refresh=true`, as in Kratos's `NewLoginFlow`.
pub async fn start(
    deps: &Deps,
    strategies: &Registry,
    flow_type: FlowType,
    req: &FlowRequest,
) -> Result<Started, FlowError> {
    let aal = requested_aal(req)?;
    let session = common::current_session(deps, req).await;
    let refresh = req.query_bool("refresh") && session.is_some();
    match &session {
        None if aal > Aal::Aal1 => return Err(FlowError::Aal1Required),
        Some(s) if !refresh && (aal == Aal::Aal1 || aal <= s.aal) => {
            return Err(FlowError::AlreadyLoggedIn);
        }
        _ => {}
    }
    let identity = match (&session, aal) {
        (Some(s), Aal::Aal2) => Some(with_credentials(deps, s.identity_id).await?),
        _ => None,
    };
    let return_to = common::requested_return_to(deps, req, FlowKind::Login)?;
    let (mut flow, csrf_cookie) = build(deps, strategies, flow_type, req, aal, identity.as_ref())?;
    flow.return_to = return_to;
    hooks::run_before(deps, FlowKind::Login, &mut HookContext::new(&flow, req)).await?;
    if let (true, Some(s)) = (refresh, &session) {
        flow.refresh = true;
        flow.ui.add_message(text::login_re_auth());
        if aal == Aal::Aal1 {
            for m in strategies.login() {
                m.populate_refresh(deps, &mut flow.ui, s.identity_id).await;
            }
        }
    }
    if let Some(s) = &session
        && aal > s.aal
        && aal > Aal::Aal1
    {
        flow.ui.add_message(text::login_mfa());
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
async fn replace_expired(
    deps: &Deps,
    strategies: &Registry,
    old: &Flow,
    req: &FlowRequest,
) -> FlowError {
    replace_expired_at(deps, strategies, old, req, old.expires_at).await
}

/// [`replace_expired`] for something of the flow that expired at `expired_at` (a code).
async fn replace_expired_at(
    deps: &Deps,
    strategies: &Registry,
    old: &Flow,
    req: &FlowRequest,
    expired_at: chrono::DateTime<chrono::Utc>,
) -> FlowError {
    let identity = match old.identity_id.filter(|_| old.requested_aal > Aal::Aal1) {
        Some(id) => match with_credentials(deps, id).await {
            Ok(i) => Some(i),
            Err(e) => return e,
        },
        None => None,
    };
    match build(
        deps,
        strategies,
        old.flow_type,
        req,
        old.requested_aal,
        identity.as_ref(),
    ) {
        Ok((mut fresh, _)) => {
            fresh.return_to = old.return_to.clone();
            fresh.refresh = old.refresh;
            fresh.request_url = old.request_url.clone();
            let ago = (chrono::Utc::now() - expired_at).num_milliseconds() as f64 / 60_000.0;
            fresh.ui.add_message(text::login_flow_expired(
                &expired_at.to_rfc3339(),
                expired_at.timestamp(),
                ago,
            ));
            if let Err(e) = common::insert(deps, &fresh).await {
                return e;
            }
            FlowError::Expired {
                expired_at,
                replacement: Some(Box::new(fresh)),
            }
        }
        Err(e) => e,
    }
}

/// What a submission got to: the method that answered it and the identity it is for, once
/// known, for the login's security event.
#[derive(Default)]
struct Attempt {
    method: Option<&'static str>,
    identity_id: Option<Uuid>,
}

/// Submits a login flow; a submission a method answered is a `login.succeeded` or
/// `login.failed` event (one that only moved the method on, or was throttled, is not).
pub async fn submit(
    deps: &Deps,
    strategies: &Registry,
    id: Uuid,
    sub: Submission,
    req: &FlowRequest,
) -> Result<LoggedIn, FlowError> {
    let mut seen = Attempt::default();
    let answer = attempt(deps, strategies, id, sub, req, &mut seen).await;
    let Some(method) = seen.method else {
        return answer;
    };
    let event = match &answer {
        Ok(done) => Event::new(Name::LoginSucceeded)
            .identity(done.issued.session.identity_id)
            .session(done.issued.session.id)
            .aal(done.issued.session.aal.as_str()),
        Err(e) => match failure_reason(e) {
            Some(reason) => Event::new(Name::LoginFailed)
                .identity(seen.identity_id)
                .reason(reason),
            None => return answer,
        },
    };
    events::emit(
        deps,
        event
            .origin(&req.origin())
            .flow(id, FlowKind::Login.as_str())
            .method(method),
    );
    answer
}

/// Why a login a method answered failed: the first error message on the flow (Kratos's
/// message id), or the error's id. `None` when nothing was decided: the method asked for
/// more (identifier first, a code sent), or the attempt was throttled (its own event).
fn failure_reason(e: &FlowError) -> Option<Reason> {
    match e {
        FlowError::Invalid(flow) => flow
            .ui
            .messages
            .iter()
            .chain(flow.ui.nodes.iter().flat_map(|n| n.messages.iter()))
            .find(|m| m.kind == TextKind::Error)
            .map(|m| Reason::Message(m.id)),
        FlowError::IdentityDisabled => Some(Reason::Code("identity_disabled")),
        FlowError::AddressNotVerified { .. } => {
            Some(Reason::Code("session_verified_address_required"))
        }
        FlowError::HookInterrupted(_) => Some(Reason::Code("hook_interrupted")),
        FlowError::Hook(_) => Some(Reason::Code("hook_failed")),
        _ => None,
    }
}

async fn attempt(
    deps: &Deps,
    strategies: &Registry,
    id: Uuid,
    sub: Submission,
    req: &FlowRequest,
    seen: &mut Attempt,
) -> Result<LoggedIn, FlowError> {
    let mut flow = common::load(deps, id, FlowKind::Login).await?;
    if flow.is_expired() {
        return Err(replace_expired(deps, strategies, &flow, req).await);
    }
    // A flow takes the methods of its level only: no password in an aal2 flow.
    let strategy = strategies
        .login()
        .iter()
        .copied()
        .find(|s| s.aal() == flow.requested_aal && s.takes(&sub));
    let method = match strategy {
        Some(s) => s.method().as_str().to_owned(),
        None => sub.str("method").unwrap_or_default().to_owned(),
    };
    let from_state = flow.state;
    if from_state != FlowState::ChooseMethod && !strategy.is_some_and(|s| s.resumes(from_state)) {
        return Err(FlowError::AlreadyCompleted);
    }
    common::check_submit(deps, &flow, req, &sub)?;
    let session = common::current_session(deps, req).await;
    let step_up = flow.requested_aal > Aal::Aal1;
    match &session {
        // A second factor upgrades the session that asked for it.
        None if step_up => return Err(FlowError::Aal1Required),
        Some(s) if !flow.refresh && (!step_up || s.aal >= flow.requested_aal) => {
            return Err(FlowError::AlreadyLoggedIn);
        }
        _ => {}
    }
    flow.ui.reset_messages();
    let Some(strategy) = strategy else {
        flow.ui.add_message(text::login_no_strategy_found());
        return Err(common::reject(deps, flow).await);
    };
    flow.active = Some(method.clone());
    seen.method = Some(strategy.method().as_str());
    seen.identity_id = match &session {
        Some(s) => Some(s.identity_id),
        None => flow.identity_id.filter(|_| step_up),
    };
    let origin = req.origin();
    // Throttling counts the identifier typed (before any lookup, so an unknown one is answered
    // alike), the identity a second factor is for, and the client address; a key that waits
    // is refused before the method runs, so it costs no hash.
    let mut keys = throttle::Keys::new(
        sub.str("identifier")
            .or_else(|| sub.str("password_identifier")),
        flow.identity_id.filter(|_| step_up),
        req.client_address,
    );
    if let Some(refused) = throttle::check(deps, &mut keys, &origin).await? {
        let retry_after_secs = refused.retry_after_secs();
        flow.ui
            .add_message(text::validation_too_many_attempts(retry_after_secs));
        return Err(match common::reject(deps, flow).await {
            FlowError::Invalid(flow) => FlowError::Throttled {
                flow,
                retry_after_secs,
            },
            other => other,
        });
    }
    let answered = strategy.login(deps, &mut flow, &sub).await;
    // Only a wrong credential counts, as the method's message says; a missing field does not.
    let failed = throttle::is_failure(
        flow.ui
            .messages
            .iter()
            .chain(flow.ui.nodes.iter().flat_map(|n| n.messages.iter()))
            .map(|m| m.id),
    );
    if failed || matches!(answered, Ok(Outcome::Done(_))) {
        throttle::record(deps, &keys, failed, &origin).await?;
    }
    let identity = match answered {
        Err(FlowError::Expired {
            expired_at,
            replacement: None,
        }) => return Err(replace_expired_at(deps, strategies, &flow, req, expired_at).await),
        other => other?,
    };
    let identity = match identity {
        Outcome::Done(identity) => {
            seen.identity_id = Some(identity.id);
            identity
        }
        Outcome::Continue => return Err(FlowError::Invalid(Box::new(flow))),
        Outcome::Rejected => return Err(common::reject(deps, flow).await),
    };
    // The session records the method as a credential type.
    let used = strategy.method().credential_type();
    if let Some(s) = &session
        && s.identity_id != identity.id
    {
        // A refresh must re-authenticate the same person.
        flow.ui.add_message(text::validation_invalid_credentials());
        return Err(common::reject(deps, flow).await);
    }
    // A credential another method proved waits for this account (account linking).
    if let Some(link) = flow
        .internal
        .as_ref()
        .and_then(|i| i.get(LINK_KEY))
        .cloned()
    {
        let by = link["method"].as_str().unwrap_or_default();
        if let Some(m) = strategies
            .login()
            .iter()
            .find(|m| m.method().as_str() == by)
            && let Err(message) = m.complete_link(deps, &identity, &link).await?
        {
            flow.ui.add_message(message);
            return Err(common::reject(deps, flow).await);
        }
    }
    // Kratos runs every after hook before it stores the session. Here the checks and blocking
    // web hooks run, in order, before the flow completes (an interrupt leaves it usable); the
    // hooks that need the session (revoking others, queued web hooks) run once it exists.
    let after = hooks::after_hooks(&deps.config, FlowKind::Login, &method);
    let mut ctx = HookContext::new(&flow, req);
    ctx.identity = Some(identity.to_json(deps.public_base(), None));
    ctx.transient_payload = common::transient_payload(&sub);
    for c in &after {
        match &c.hook {
            Hook::RequireVerifiedAddress => {
                if let Some(e) =
                    require_verified_address(deps, strategies, &flow, &identity, &method).await?
                {
                    return Err(match e {
                        Unverified::Legacy => {
                            flow.ui.add_message(text::validation_address_not_verified());
                            common::reject(deps, flow).await
                        }
                        Unverified::Verify(e) => e,
                    });
                }
            }
            Hook::WebHook { config } if !config.response.ignore => {
                if let Err(e) = web_hook::run(deps, &c.path, config, &mut ctx).await {
                    return Err(common::reject_flow(deps, flow, e).await);
                }
            }
            _ => {}
        }
    }
    // Completing is a compare-and-set: one submission wins, even across nodes.
    if !crate::store::flows::transition(
        &deps.store,
        flow.id,
        from_state.as_str(),
        FlowState::PassedChallenge.as_str(),
        now().naive_utc(),
    )
    .await?
    {
        return Err(FlowError::AlreadyCompleted);
    }
    flow.state = FlowState::PassedChallenge;
    let refreshed = match (&session, req.session_token.as_deref()) {
        (Some(s), Some(token)) if flow.refresh || step_up => Some(
            sessions::reauthenticate(deps, s, token, used, strategy.aal(), req.device.clone())
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
                sessions::revoke_others(deps, identity.id, issued.session.id, "hook")
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
    let aal_redirect = aal_redirect(deps, strategies, &flow, &issued).await?;
    Ok(LoggedIn {
        flow,
        issued,
        return_to,
        aal_redirect,
    })
}

/// Kratos's `checkAAL` after a login: when whoami would refuse the session
/// (`session.whoami.required_aal: highest_available` and the identity has a second factor
/// the session has not proven), the aal2 login URL the browser goes on to, carrying the
/// flow's `return_to`.
async fn aal_redirect(
    deps: &Deps,
    strategies: &Registry,
    flow: &Flow,
    issued: &IssuedSession,
) -> Result<Option<String>, FlowError> {
    if deps.config.session.whoami.required_aal != RequiredAal::HighestAvailable
        || issued.session.aal >= Aal::Aal2
    {
        return Ok(None);
    }
    let identity = with_credentials(deps, issued.session.identity_id).await?;
    if strategies.available_aal(&identity) <= issued.session.aal {
        return Ok(None);
    }
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("aal", Aal::Aal2.as_str());
    if let Some(r) = &flow.return_to {
        q.append_pair("return_to", r);
    }
    Ok(Some(format!(
        "{}/self-service/login/browser?{}",
        deps.public_base(),
        q.finish()
    )))
}

/// How a login stopped by `require_verified_address` is answered.
enum Unverified {
    /// 4000010 on the login flow (`feature_flags.legacy_require_verified_login_error`, or no
    /// address a message can reach).
    Legacy,
    /// A verification flow was started ([`FlowError::AddressNotVerified`]).
    Verify(FlowError),
}

/// The login hook `require_verified_address`, as Kratos's address verifier: passes when an
/// address of the identity is verified. Otherwise, by default, a verification flow is started
/// and the user is sent there; with `legacy_require_verified_login_error` the login flow
/// answers 4000010 instead, and only password logins are checked at all.
async fn require_verified_address(
    deps: &Deps,
    strategies: &Registry,
    flow: &Flow,
    identity: &crate::identity::Identity,
    method: &str,
) -> Result<Option<Unverified>, FlowError> {
    let legacy = deps
        .config
        .feature_flags
        .legacy_require_verified_login_error;
    if legacy && method != "password" {
        return Ok(None);
    }
    if identity.verifiable_addresses.is_empty() {
        return Err(FlowError::Internal(
            "A misconfiguration prevents login. Expected to find a verification address but this identity does not have one assigned.".into(),
        ));
    }
    if super::verification::has_verified_address(identity) {
        return Ok(None);
    }
    if legacy {
        return Ok(Some(Unverified::Legacy));
    }
    Ok(Some(
        match super::verification::for_login(deps, strategies, identity, flow).await? {
            Some((item, url)) => Unverified::Verify(FlowError::AddressNotVerified {
                show_verification_ui: Box::new(item),
                url,
            }),
            None => Unverified::Legacy,
        },
    ))
}
