//! The recovery flow ("forgot password"): an email address gets a message from the method in
//! use (`selfservice.flows.recovery.use`, a [`RecoveryStrategy`]); proving it issues a session
//! and continues in a settings flow. Unknown addresses get the same answer as known ones, so the
//! flow cannot be used to probe accounts.

use crate::config::Hook;
use crate::security::events::{self, Event, Name};
use crate::selfservice::hooks::{self, HookContext};
use serde_json::json;
use uuid::Uuid;

use super::common::Started;
use super::common::{self, csrf_for, email_node, normalize_email, save};
use super::request::{FlowRequest, Submission};
use super::{Flow, FlowError, FlowKind, FlowState, FlowType};
use crate::courier::Channel;
use crate::deps::Deps;
use crate::identity::{CredentialType, Identity, now};
use crate::selfservice::otp::{self, Mail};
use crate::selfservice::strategy::{Advanced, Letter, Method, Proof, RecoveryStrategy, Registry};
use crate::selfservice::ui::{UiContainer, csrf_node};
use crate::session::service::{self as sessions, IssuedSession};
use crate::store::id::DbId;
use crate::store::tokens::{self as tq, TokenRow};
use crate::text;

/// How a submission that did not fail ended.
pub enum Outcome {
    /// The flow moved on (code sent, wrong code shown); answer with the flow.
    Updated(Box<Flow>),
    /// The flow now says a code or link was sent: answer with the flow, then [`deliver`] the
    /// challenge. Whether the address is known decides only what `deliver` does, so the
    /// answer, and the work before it, are the same for any address.
    Sent(Box<Flow>, Box<Challenge>),
    /// The user proved the address: a session was issued.
    Recovered(Box<Recovered>),
    /// A link that proves nothing (wrong, used) restarted recovery in a fresh browser flow
    /// carrying why, bound to `csrf_cookie` when the browser had none.
    Restarted {
        flow: Box<Flow>,
        csrf_cookie: Option<crate::selfservice::csrf::RawToken>,
    },
}

pub struct Recovered {
    pub flow: Flow,
    pub issued: IssuedSession,
    /// The settings flow the user continues in, to set a new password.
    pub settings: Box<Flow>,
    /// Where the browser continues: the settings UI showing that flow.
    pub settings_url: String,
    /// The CSRF cookie the settings flow is bound to, for a browser that had none.
    pub csrf_cookie: Option<crate::selfservice::csrf::RawToken>,
}

fn enabled(deps: &Deps) -> Result<(), FlowError> {
    if deps.config.selfservice.flows.recovery.enabled {
        Ok(())
    } else {
        Err(FlowError::FlowDisabled(FlowKind::Recovery))
    }
}

/// The first screen: the method's email input and submit button.
fn choose_method_ui(
    deps: &Deps,
    strategy: &dyn RecoveryStrategy,
    id: Uuid,
    masked: &str,
) -> UiContainer {
    let mut ui = UiContainer::new(common::action_url(deps, FlowKind::Recovery, id), "POST");
    ui.append(csrf_node(masked));
    strategy.populate(&mut ui);
    ui
}

fn build(
    deps: &Deps,
    strategy: &dyn RecoveryStrategy,
    flow_type: FlowType,
    req: &FlowRequest,
) -> (Flow, Option<crate::selfservice::csrf::RawToken>) {
    let cfg = &deps.config.selfservice.flows.recovery;
    let id = Uuid::new_v4();
    let (masked, cookie) = csrf_for(req, flow_type);
    // The method may open with a screen of its own (the code method's address choice).
    let mut ui = UiContainer::new(common::action_url(deps, FlowKind::Recovery, id), "POST");
    ui.append(csrf_node(&masked));
    let own = strategy.own_first_screen(deps, &mut ui);
    if own.is_none() {
        ui = choose_method_ui(deps, strategy, id, &masked);
    }
    let mut flow = Flow::new(
        FlowKind::Recovery,
        flow_type,
        req.request_url.clone(),
        cfg.lifespan.get(),
        ui,
    );
    flow.id = id;
    flow.csrf_token = masked;
    if let Some(state) = own {
        flow.state = state;
        flow.active = Some(strategy.method().as_str().into());
    }
    (flow, cookie)
}

pub async fn start(
    deps: &Deps,
    strategies: &Registry,
    flow_type: FlowType,
    req: &FlowRequest,
) -> Result<Started, FlowError> {
    enabled(deps)?;
    if common::current_session(deps, req).await.is_some() {
        return Err(FlowError::AlreadyLoggedIn);
    }
    let return_to = common::requested_return_to(deps, req, FlowKind::Recovery)?;
    let (mut flow, csrf_cookie) = build(deps, strategies.recovery(), flow_type, req);
    flow.return_to = return_to;
    hooks::run_before(deps, FlowKind::Recovery, &mut HookContext::new(&flow, req)).await?;
    common::insert(deps, &flow).await?;
    Ok(Started { flow, csrf_cookie })
}

pub async fn get(deps: &Deps, id: Uuid, req: &FlowRequest) -> Result<Flow, FlowError> {
    enabled(deps)?;
    let flow = common::load(deps, id, FlowKind::Recovery).await?;
    if !admin_created(&flow) {
        common::check_read(&flow, req)?;
    }
    if flow.is_expired() {
        return Err(FlowError::Expired {
            expired_at: flow.expires_at,
            replacement: None,
        });
    }
    Ok(flow)
}

/// Starts a fresh flow of the method in use carrying `message` in place of `old` (Kratos's
/// "retry" answer).
async fn replace_with(
    deps: &Deps,
    strategies: &Registry,
    old: &Flow,
    req: &FlowRequest,
    message: text::UiText,
) -> FlowError {
    let (mut fresh, _) = build(deps, strategies.recovery(), old.flow_type, req);
    // The browser keeps its CSRF cookie; the fresh flow must be bound to it.
    fresh.csrf_token = old.csrf_token.clone();
    fresh.ui.update_csrf(&old.csrf_token);
    fresh.return_to = old.return_to.clone();
    fresh.request_url = old.request_url.clone();
    fresh.ui.add_message(message);
    if let Err(e) = common::insert(deps, &fresh).await {
        return e;
    }
    FlowError::Replaced(Box::new(fresh))
}

/// Kratos's 4060005: `old` expired, and when.
fn expired_message(expired_at: chrono::DateTime<chrono::Utc>) -> text::UiText {
    let ago = (chrono::Utc::now() - expired_at).num_milliseconds() as f64 / 60_000.0;
    text::recovery_flow_expired(&expired_at.to_rfc3339(), expired_at.timestamp(), ago)
}

async fn replace_expired(
    deps: &Deps,
    strategies: &Registry,
    old: &Flow,
    req: &FlowRequest,
) -> FlowError {
    replace_expired_at(deps, strategies, old, req, old.expires_at).await
}

/// [`replace_expired`] for something that expired at `expired_at`: the flow, or (as Kratos
/// answers an expired code in a live flow) the code.
async fn replace_expired_at(
    deps: &Deps,
    strategies: &Registry,
    old: &Flow,
    req: &FlowRequest,
    expired_at: chrono::DateTime<chrono::Utc>,
) -> FlowError {
    let msg = expired_message(expired_at);
    match replace_with(deps, strategies, old, req, msg).await {
        FlowError::Replaced(fresh) => FlowError::Expired {
            expired_at,
            replacement: Some(fresh),
        },
        other => other,
    }
}

/// Flows made by `POST /admin/recovery/{code,link}` carry no CSRF token.
fn admin_created(flow: &Flow) -> bool {
    flow.flow_type == FlowType::Browser && flow.csrf_token.is_empty()
}

pub async fn submit(
    deps: &Deps,
    strategies: &Registry,
    id: Uuid,
    sub: Submission,
    req: &FlowRequest,
) -> Result<Outcome, FlowError> {
    enabled(deps)?;
    let mut flow = common::load(deps, id, FlowKind::Recovery).await?;
    if flow.is_expired() {
        return Err(replace_expired(deps, strategies, &flow, req).await);
    }
    if flow.state == FlowState::PassedChallenge {
        return Err(
            replace_with(deps, strategies, &flow, req, text::recovery_retry_success()).await,
        );
    }
    // Admin-created flows have no CSRF binding (Kratos: DangerousSkipCSRFCheck).
    if !admin_created(&flow) {
        common::check_submit(deps, &flow, req, &sub)?;
    }
    let strategy = strategies.recovery();
    if !matches!(flow.state, FlowState::ChooseMethod | FlowState::SentEmail) {
        return advance(deps, strategies, strategy, flow, &sub, req).await;
    }
    // A flow waiting for proof may be getting it.
    if flow.state == FlowState::SentEmail
        && let Some(proof) = strategy.resume(deps, &flow, &sub).await?
    {
        return prove(deps, strategies, strategy, flow, proof, req).await;
    }
    if common::current_session(deps, req).await.is_some() {
        return Err(FlowError::AlreadyLoggedIn);
    }
    let m = strategy.method().as_str();
    let email = sub
        .str("email")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    let chosen = sub.str("method").unwrap_or_default();
    if chosen != m {
        flow.ui.reset_messages();
        flow.ui.add_message(text::validation_generic(&format!(
            "Could not find a strategy to recover your account with. Did you fill out the form correctly? The enabled method is {m:?}."
        )));
        return Err(common::reject(deps, flow).await);
    }
    let Some(email) = email else {
        flow.ui.reset_messages();
        flow.ui.upsert(email_node(strategy.method().group(), None));
        flow.ui
            .add_node_message("email", text::validation_required("email"));
        return Err(common::reject(deps, flow).await);
    };
    common::admit_code(deps, req.client_address).await?;
    let challenge = send_challenge(deps, strategy, &mut flow, &email).await?;
    Ok(Outcome::Sent(Box::new(flow), Box::new(challenge)))
}

/// A flow in one of the states its method leads through itself (the code method's address
/// choice): the method moves it on; a code it asks for is sent as in `sent_email`.
async fn advance(
    deps: &Deps,
    strategies: &Registry,
    strategy: &'static dyn RecoveryStrategy,
    mut flow: Flow,
    sub: &Submission,
    req: &FlowRequest,
) -> Result<Outcome, FlowError> {
    if common::current_session(deps, req).await.is_some() {
        return Err(FlowError::AlreadyLoggedIn);
    }
    let from = flow.state;
    let step = strategy.advance(deps, &mut flow, sub).await?;
    flow.updated_at = now();
    match step {
        Advanced::Shown => {
            save(deps, &flow, &[from]).await?;
            Ok(Outcome::Updated(Box::new(flow)))
        }
        Advanced::Rejected => Err(common::reject(deps, flow).await),
        Advanced::Send { address, via } => {
            common::admit_code(deps, req.client_address).await?;
            save(deps, &flow, &[from]).await?;
            let challenge = Challenge {
                flow: flow.clone(),
                email: address,
                via,
                strategy,
            };
            Ok(Outcome::Sent(Box::new(flow), Box::new(challenge)))
        }
        Advanced::Proof(proof) => prove(deps, strategies, strategy, flow, proof, req).await,
    }
}

/// A code or link to send for a flow that was just moved to the state waiting for it.
pub struct Challenge {
    flow: Flow,
    /// The address as typed (normalised when looked up).
    email: String,
    /// How the address is stored: `email`, or `sms` for a phone number.
    via: &'static str,
    strategy: &'static dyn RecoveryStrategy,
}

/// Moves the flow to `sent_email` with the "sent" UI (the same whether the address is known
/// or not) and returns what [`deliver`] sends.
async fn send_challenge(
    deps: &Deps,
    strategy: &'static dyn RecoveryStrategy,
    flow: &mut Flow,
    email: &str,
) -> Result<Challenge, FlowError> {
    flow.state = FlowState::SentEmail;
    flow.active = Some(strategy.method().as_str().into());
    flow.updated_at = now();
    strategy.show_sent(flow, email);
    save(deps, flow, &[FlowState::ChooseMethod, FlowState::SentEmail]).await?;
    Ok(Challenge {
        flow: flow.clone(),
        email: email.to_owned(),
        via: "email",
        strategy,
    })
}

/// Sends a code or link to a known address (or, for an unknown one, possibly a notice),
/// replacing the flow's earlier code: the code and its message are stored in one transaction,
/// and only while the flow still waits in `sent_email`. Runs after the answer; a failure is
/// logged, and the user asks again as after a lost mail.
pub async fn deliver(deps: &Deps, c: Challenge) {
    if let Err(e) = try_deliver(deps, &c).await {
        // Never the address: it may belong to nobody.
        match e {
            FlowError::AlreadyCompleted => {
                tracing::debug!(flow = %c.flow.id, "recovery flow moved on before its code was sent")
            }
            e => tracing::warn!(flow = %c.flow.id, error = %e, "sending a recovery code failed"),
        }
    }
}

async fn try_deliver(deps: &Deps, c: &Challenge) -> Result<(), FlowError> {
    let flow = &c.flow;
    let strategy = c.strategy;
    let value = normalize_email(&c.email);
    let found = crate::store::identities::by_recovery_address(&deps.store, c.via, &value).await?;
    let channel = if c.via == "sms" {
        Channel::Sms
    } else {
        Channel::Email
    };
    let ts = now();
    let kind = strategy.token_kind();
    let lifespan = strategy.lifespan(deps);
    let expires = ts + chrono::Duration::from_std(lifespan).unwrap_or(chrono::Duration::hours(1));
    let minutes = (lifespan.as_secs() / 60) as i64;
    let request_url = flow.request_url.clone();
    let mut rows = Vec::new();
    let mut mails = Vec::new();
    match found {
        Some(((address_id, identity_id, stored), identity)) => {
            let identity = Identity::from_rows(identity)?.to_json(deps.public_base(), None);
            let secret = strategy.new_secret();
            rows.push(TokenRow {
                id: DbId(Uuid::new_v4()),
                nid: DbId(deps.store.nid()),
                kind: kind.into(),
                flow_id: Some(DbId(flow.id)),
                identity_id: Some(DbId(identity_id)),
                address: Some(stored.clone()),
                address_id: Some(DbId(address_id)),
                token_hash: otp::hash_for_storage(deps, &secret),
                used_at: None,
                expires_at: expires.naive_utc(),
                created_at: ts.naive_utc(),
                updated_at: ts.naive_utc(),
            });
            let (template, data) = strategy.message(
                deps,
                &Letter {
                    flow,
                    to: &stored,
                    secret: &secret,
                    identity,
                    expires_in_minutes: minutes,
                },
            );
            mails.push(Mail {
                template,
                channel,
                to: stored,
                data,
            });
        }
        None if deps
            .config
            .selfservice
            .flows
            .recovery
            .notify_unknown_recipients =>
        {
            mails.push(Mail {
                template: strategy.unknown_template(),
                channel,
                to: value.clone(),
                data: json!({"To": value, "RequestURL": request_url}),
            });
        }
        None => {}
    }
    // A resend replaces the earlier code, known address or not.
    common::issue(deps, flow, kind, &rows, mails, &[flow.state], None).await
}

/// Answers a proof of the address: a wrong code keeps the flow waiting; a right one completes
/// it.
async fn prove(
    deps: &Deps,
    strategies: &Registry,
    strategy: &dyn RecoveryStrategy,
    mut flow: Flow,
    proof: Proof,
    req: &FlowRequest,
) -> Result<Outcome, FlowError> {
    match proof {
        Proof::Valid(row) => {
            complete(deps, strategies, flow, *row, strategy.session_method(), req).await
        }
        Proof::Invalid(message) => {
            flow.ui.reset_messages();
            flow.ui.add_message(message);
            save(deps, &flow, &[flow.state]).await?;
            Ok(Outcome::Updated(Box::new(flow)))
        }
        Proof::Restart(message) => Err(replace_with(deps, strategies, &flow, req, message).await),
        Proof::Expired(at) => Err(replace_expired_at(deps, strategies, &flow, req, at).await),
    }
}

/// `GET /self-service/recovery?flow=&token=`: the link from the email.
pub async fn use_link(
    deps: &Deps,
    strategies: &Registry,
    id: Uuid,
    token: &str,
    req: &FlowRequest,
) -> Result<Outcome, FlowError> {
    enabled(deps)?;
    let flow = common::load(deps, id, FlowKind::Recovery).await?;
    if flow.is_expired() {
        // Kratos replaces an expired flow with a browser flow of the same request.
        let msg = expired_message(flow.expires_at);
        return restart_in_browser(deps, strategies, req, msg, Some(flow.request_url)).await;
    }
    // A completed flow's link was used (Kratos finds no unused token).
    if flow.state == FlowState::PassedChallenge {
        let msg = text::recovery_token_invalid();
        return restart_in_browser(deps, strategies, req, msg, None).await;
    }
    // The method that sends links answers them, whether or not it is still the one in use.
    for strategy in Registry::recovery_strategies() {
        match strategy.use_link(deps, &flow, token).await? {
            Some(Proof::Restart(message)) => {
                return restart_in_browser(deps, strategies, req, message, None).await;
            }
            Some(proof) => return prove(deps, strategies, *strategy, flow, proof, req).await,
            None => {}
        }
    }
    restart_in_browser(deps, strategies, req, text::recovery_token_invalid(), None).await
}

/// A link that proves nothing starts a fresh browser flow carrying `message`, whoever started
/// the old one: the link is opened in a browser, maybe not the one that asked for it (Kratos's
/// link strategy retries as a browser flow). `request_url` replaces the link's own.
async fn restart_in_browser(
    deps: &Deps,
    strategies: &Registry,
    req: &FlowRequest,
    message: text::UiText,
    request_url: Option<String>,
) -> Result<Outcome, FlowError> {
    let (mut flow, csrf_cookie) = build(deps, strategies.recovery(), FlowType::Browser, req);
    if let Some(url) = request_url {
        flow.request_url = url;
    }
    flow.ui.add_message(message);
    common::insert(deps, &flow).await?;
    Ok(Outcome::Restarted {
        flow: Box::new(flow),
        csrf_cookie,
    })
}

/// The address was proven: verify it (self-service only), issue the session, finish the flow.
async fn complete(
    deps: &Deps,
    strategies: &Registry,
    mut flow: Flow,
    row: TokenRow,
    method: CredentialType,
    req: &FlowRequest,
) -> Result<Outcome, FlowError> {
    let identity_id = row.identity_id.map(Uuid::from).ok_or(FlowError::NotFound)?;
    let identity: Identity = crate::identity::service::get(deps, identity_id, false)
        .await
        .map_err(|e| FlowError::Internal(e.to_string()))?;
    if let Some(address) = &row.address {
        // Receiving the code proves the address, as a verification would.
        tq::mark_value_verified(&deps.store, identity_id, address, now().naive_utc()).await?;
        deps.session_cache.invalidate_identity(identity_id);
    }
    let from = flow.state;
    flow.state = FlowState::PassedChallenge;
    flow.identity_id = Some(identity_id);
    flow.ui.reset_messages();
    save(deps, &flow, &[from]).await?;
    let issued = sessions::issue(deps, &identity, method, req.device.clone())
        .await
        .map_err(|e| match e {
            sessions::SessionError::IdentityDisabled => FlowError::IdentityDisabled,
            other => FlowError::Internal(other.to_string()),
        })?;
    events::emit(
        deps,
        Event::new(Name::RecoveryCompleted)
            .origin(&req.origin())
            .flow(flow.id, FlowKind::Recovery.as_str())
            .identity(identity.id)
            .session(issued.session.id)
            .method(method.as_str()),
    );
    let mut ctx = HookContext::new(&flow, req);
    ctx.identity = Some(identity.to_json(deps.public_base(), None));
    let mut after = hooks::After::new(deps, FlowKind::Recovery, method.as_str());
    let mut revoked = false;
    while let Some(c) = after.next_builtin(deps, &mut ctx).await? {
        if let Hook::RevokeActiveSessions = c.hook {
            sessions::revoke_others(deps, identity.id, issued.session.id, "hook")
                .await
                .map_err(|e| FlowError::Internal(e.to_string()))?;
            revoked = true;
        }
    }
    // Gatehouse's default beyond Kratos: whoever recovered the account ends every older
    // session (done once when the operator configured the hook too).
    if !revoked
        && deps
            .config
            .session
            .hygiene
            .revokes_others_on_password_change()
    {
        sessions::revoke_others(deps, identity.id, issued.session.id, "recovered")
            .await
            .map_err(|e| FlowError::Internal(e.to_string()))?;
    }
    // A link is always opened in a browser, whoever started the flow: as Kratos, it gets a
    // session cookie and a browser settings flow, never a session token.
    let by_link = method == CredentialType::LinkRecovery;
    let settings_type = if by_link {
        FlowType::Browser
    } else {
        flow.flow_type
    };
    // As Kratos: the user continues in a settings flow of the fresh (privileged) session.
    let (settings, csrf_cookie) =
        super::settings::after_recovery(deps, strategies, &identity, &flow, settings_type, req)
            .await?;
    let settings_url =
        common::with_flow(&deps.config.selfservice.flows.settings.ui_url, settings.id);
    if flow.flow_type == FlowType::Api && !by_link {
        flow.continue_with
            .push(json!({"action": "set_ory_session_token", "ory_session_token": issued.token}));
    }
    flow.continue_with
        .push(super::settings::continue_with_item(deps, &settings));
    Ok(Outcome::Recovered(Box::new(Recovered {
        flow,
        issued,
        settings: Box::new(settings),
        settings_url,
        csrf_cookie,
    })))
}

/// Admin: a recovery flow in `sent_email` with a secret of `method` (a code or a link token)
/// for `identity_id`. Returns (flow, secret, expires_at).
pub async fn admin_create(
    deps: &Deps,
    identity_id: Uuid,
    expires_in: Option<std::time::Duration>,
    flow_type: FlowType,
    method: Method,
) -> Result<(Flow, String, chrono::DateTime<chrono::Utc>), FlowError> {
    let strategy = Registry::recovery_method(method).ok_or_else(|| {
        FlowError::BadRequest(format!("The {method} method cannot recover an account."))
    })?;
    let identity = crate::identity::service::get(deps, identity_id, false)
        .await
        .map_err(|_| FlowError::NotFound)?;
    let lifespan = expires_in.unwrap_or_else(|| strategy.lifespan(deps));
    let id = Uuid::new_v4();
    let req = FlowRequest {
        request_url: format!(
            "{}/self-service/recovery/{}",
            deps.public_base(),
            flow_type.as_str()
        ),
        ..FlowRequest::default()
    };
    let ui = choose_method_ui(deps, strategy, id, "");
    let mut flow = Flow::new(
        FlowKind::Recovery,
        flow_type,
        req.request_url.clone(),
        lifespan,
        ui,
    );
    flow.id = id;
    strategy.show_admin_created(&mut flow);
    flow.state = FlowState::SentEmail;
    flow.active = Some(method.as_str().into());
    common::insert(deps, &flow).await?;
    let secret = strategy.new_secret();
    let ts = now();
    let row = TokenRow {
        id: DbId(Uuid::new_v4()),
        nid: DbId(deps.store.nid()),
        kind: strategy.token_kind().into(),
        flow_id: Some(DbId(id)),
        identity_id: Some(DbId(identity.id)),
        // No address: an admin code does not prove any address.
        address: None,
        address_id: None,
        token_hash: otp::hash_for_storage(deps, &secret),
        used_at: None,
        expires_at: flow.expires_at.naive_utc(),
        created_at: ts.naive_utc(),
        updated_at: ts.naive_utc(),
    };
    tq::replace_for_flow(&deps.store, id, &row.kind.clone(), &[row]).await?;
    let expires_at = flow.expires_at;
    Ok((flow, secret, expires_at))
}
