//! The registration flow: start, read, submit. The enabled methods (`strategy::Registry`) add
//! their nodes after the schema's traits and prove what a new identity needs; the flow runs
//! the hooks, creates the identity, and the `session` hook signs it in. With two-step
//! registration (Kratos's default style) a new flow shows the profile screen, and the profile
//! method moves it between its screens.

use uuid::Uuid;

use super::common::Started;
use super::common::{self, csrf_for};
use super::request::{FlowRequest, Submission};
use super::{Flow, FlowError, FlowKind, FlowState, FlowType};
use crate::config::Hook;
use crate::deps::Deps;
use crate::identity::service::{self as identities, CreateIdentityBody, IdentityError};
use crate::identity::{Identity, now};
use crate::security::events::{self, Event, Name};
use crate::selfservice::hooks::{self, HookContext};
use crate::selfservice::strategy::traits::node_name;
use crate::selfservice::strategy::{
    Outcome, RegistrationStrategy, Registry, Screen, registration_ui,
};
use crate::selfservice::ui::UiContainer;
use crate::session::service::{self as sessions, IssuedSession};
use crate::text;

/// A completed registration; `issued` is set when the `session` hook ran.
pub struct Registered {
    pub flow: Flow,
    pub identity: Identity,
    pub issued: Option<IssuedSession>,
    pub return_to: String,
    /// `show_verification_ui` items when verification is enabled (one per address mailed).
    pub continue_with: Vec<serde_json::Value>,
    /// The `show_verification_ui` hook: browsers go to the first verification flow instead.
    pub show_verification_ui: bool,
}

fn build(
    deps: &Deps,
    strategies: &Registry,
    flow_type: FlowType,
    req: &FlowRequest,
) -> Result<(Flow, Option<crate::selfservice::csrf::RawToken>), FlowError> {
    let cfg = &deps.config.selfservice.flows.registration;
    let schema = deps.schemas.default_schema()?;
    let id = Uuid::new_v4();
    let (masked, cookie) = csrf_for(req, flow_type);
    let mut internal = None;
    let ui = registration_ui(
        deps,
        &schema,
        strategies.registration(),
        common::action_url(deps, FlowKind::Registration, id),
        &masked,
        cfg.two_steps().then_some(Screen::Profile),
        &mut internal,
    )?;
    let mut flow = Flow::new(
        FlowKind::Registration,
        flow_type,
        req.request_url.clone(),
        cfg.lifespan.get(),
        ui,
    );
    flow.id = id;
    flow.csrf_token = masked;
    flow.internal = internal;
    Ok((flow, cookie))
}

pub async fn start(
    deps: &Deps,
    strategies: &Registry,
    flow_type: FlowType,
    req: &FlowRequest,
) -> Result<Started, FlowError> {
    if !deps.config.selfservice.flows.registration.enabled {
        return Err(FlowError::RegistrationDisabled);
    }
    if common::current_session(deps, req).await.is_some() {
        return Err(FlowError::AlreadyLoggedIn);
    }
    let return_to = common::requested_return_to(deps, req, FlowKind::Registration)?;
    let (mut flow, csrf_cookie) = build(deps, strategies, flow_type, req)?;
    flow.return_to = return_to;
    hooks::run_before(
        deps,
        FlowKind::Registration,
        &mut HookContext::new(&flow, req),
    )
    .await?;
    common::insert(deps, &flow).await?;
    Ok(Started { flow, csrf_cookie })
}

pub async fn get(deps: &Deps, id: Uuid, req: &FlowRequest) -> Result<Flow, FlowError> {
    let flow = common::load(deps, id, FlowKind::Registration).await?;
    common::check_read(&flow, req)?;
    if flow.is_expired() {
        return Err(FlowError::Expired {
            expired_at: flow.expires_at,
            replacement: None,
        });
    }
    Ok(flow)
}

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
    let (mut fresh, _) = match build(deps, strategies, old.flow_type, req) {
        Ok(built) => built,
        Err(e) => return e,
    };
    fresh.return_to = old.return_to.clone();
    fresh.request_url = old.request_url.clone();
    let ago = (chrono::Utc::now() - expired_at).num_milliseconds() as f64 / 60_000.0;
    fresh.ui.add_message(text::registration_flow_expired(
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

pub async fn submit(
    deps: &Deps,
    strategies: &Registry,
    id: Uuid,
    sub: Submission,
    req: &FlowRequest,
) -> Result<Registered, FlowError> {
    if !deps.config.selfservice.flows.registration.enabled {
        return Err(FlowError::RegistrationDisabled);
    }
    let mut flow = common::load(deps, id, FlowKind::Registration).await?;
    if flow.is_expired() {
        return Err(replace_expired(deps, strategies, &flow, req).await);
    }
    let strategy = strategies
        .registration()
        .iter()
        .copied()
        .find(|s| s.takes(&sub));
    let method = match strategy {
        Some(s) => s.method().as_str().to_owned(),
        None => sub.str("method").unwrap_or_default().to_owned(),
    };
    let from_state = flow.state;
    if from_state != FlowState::ChooseMethod && !strategy.is_some_and(|s| s.resumes(from_state)) {
        return Err(FlowError::AlreadyCompleted);
    }
    common::check_submit(deps, &flow, req, &sub)?;
    if common::current_session(deps, req).await.is_some() {
        return Err(FlowError::AlreadyLoggedIn);
    }
    flow.ui.reset_messages();
    let Some(strategy) = strategy else {
        flow.ui.add_message(text::registration_no_strategy_found());
        return Err(common::reject(deps, flow).await);
    };
    flow.active = Some(method.clone());
    let schema = deps.schemas.default_schema()?;
    let all = strategies.registration();
    let registered = match strategy.register(deps, &schema, &mut flow, &sub, all).await {
        Err(FlowError::Expired {
            expired_at,
            replacement: None,
        }) => return Err(replace_expired_at(deps, strategies, &flow, req, expired_at).await),
        other => other?,
    };
    let mut body = match registered {
        Outcome::Done(body) => body,
        Outcome::Continue => return Err(FlowError::Invalid(Box::new(flow))),
        Outcome::Rejected => return Err(common::reject(deps, flow).await),
    };
    // The session records the method as a credential type.
    let used = strategy.method().credential_type();
    // Pre-persist hooks see the identity about to be created; `can_interrupt` stops here with
    // nothing saved, `response.parse` rewrites traits and metadata.
    let transient = common::transient_payload(&sub);
    let mut ctx = HookContext::new(&flow, req);
    ctx.transient_payload = transient.clone();
    ctx.identity = Some(pending_identity(&body));
    if let Err(e) = hooks::run_pre_persist(deps, FlowKind::Registration, &method, &mut ctx).await {
        return Err(common::reject_flow(deps, flow, e).await);
    }
    if let Some(i) = ctx.identity.take() {
        let field = |k: &str| i.get(k).filter(|v| !v.is_null()).cloned();
        if let Some(t) = field("traits") {
            body.traits = t;
        }
        body.metadata_public = field("metadata_public");
        body.metadata_admin = field("metadata_admin");
    }
    let identity = match create_identity(deps, &mut flow, body, strategy).await? {
        Some(i) => i,
        None => return Err(common::reject(deps, flow).await),
    };
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
    events::emit(
        deps,
        Event::new(Name::RegistrationSucceeded)
            .origin(&req.origin())
            .flow(flow.id, FlowKind::Registration.as_str())
            .identity(identity.id)
            .method(strategy.method().as_str()),
    );
    let mut issued = None;
    // Kratos mails every new unverified address when verification is on, before other hooks.
    let continue_with =
        super::verification::after_registration(deps, strategies, &identity, &flow).await?;
    let mut show_verification_ui = false;
    let mut ctx = HookContext::new(&flow, req);
    ctx.transient_payload = transient;
    ctx.identity = Some(identity.to_json(deps.public_base(), None));
    let mut after = hooks::After::new(deps, FlowKind::Registration, &method);
    while let Some(c) = after.next_builtin(deps, &mut ctx).await? {
        match c.hook {
            Hook::Session => {
                let s = sessions::issue(deps, &identity, used, req.device.clone())
                    .await
                    .map_err(|e| FlowError::Internal(e.to_string()))?;
                // Later web hooks see the session, as in Kratos.
                ctx.session = Some(s.session.to_json(deps.public_base()));
                issued = Some(s);
            }
            Hook::ShowVerificationUi => show_verification_ui = true,
            // Others are reported at start-up as unsupported here.
            _ => {}
        }
    }
    let return_to = common::final_return(deps, &flow, &method)?;
    Ok(Registered {
        flow,
        identity,
        issued,
        return_to,
        continue_with,
        show_verification_ui,
    })
}

/// The identity about to be created, as pre-persist hooks see it (no id yet, as in Kratos).
fn pending_identity(body: &CreateIdentityBody) -> serde_json::Value {
    serde_json::json!({
        "id": Uuid::nil(),
        "schema_id": body.schema_id,
        "state": "active",
        "traits": body.traits,
        "metadata_public": body.metadata_public,
        "metadata_admin": body.metadata_admin,
    })
}

/// Creates the identity; conflicts and validation failures become UI messages (`Ok(None)`).
/// Shared by every method that signs people up.
async fn create_identity(
    deps: &Deps,
    flow: &mut Flow,
    body: CreateIdentityBody,
    strategy: &dyn RegistrationStrategy,
) -> Result<Option<Identity>, FlowError> {
    // Built first and inserted apart (what `identities::create` does), so that a conflict can
    // still look at what the new identity would have used.
    let pending = match identities::prepare_new(deps, body).await {
        Ok(pending) => pending,
        Err(e) => return not_created(&mut flow.ui, e, strategy),
    };
    let rows = pending.to_rows(deps.store.nid());
    let e = match crate::store::identities::insert(&deps.store, &rows).await {
        Ok(()) => return Ok(Some(pending)),
        Err(e) => IdentityError::from(e),
    };
    if !matches!(e, IdentityError::Conflict) {
        return not_created(&mut flow.ui, e, strategy);
    }
    let conflict = identities::conflict_of(deps, &pending).await?;
    if let Some(handed_over) = conflict
        .as_ref()
        .and_then(|c| strategy.on_conflict(flow, &pending, c))
    {
        return Err(handed_over);
    }
    let hints = match conflict {
        Some(c) if deps.config.selfservice.flows.registration.login_hints => {
            login_hints(deps, c).await?
        }
        _ => None,
    };
    flow.ui.add_message(match hints {
        Some(h) => text::validation_duplicate_credentials_with_hints(
            &h.credential_types,
            &h.oidc_providers,
            &h.identifier,
        ),
        None if deps.config.selfservice.flows.registration.login_hints => {
            text::validation_duplicate_credentials()
        }
        None => strategy.duplicate_message(),
    });
    Ok(None)
}

/// Why an identity was not created, on the flow's UI where the user can act on it.
fn not_created(
    ui: &mut UiContainer,
    e: IdentityError,
    strategy: &dyn RegistrationStrategy,
) -> Result<Option<Identity>, FlowError> {
    match e {
        IdentityError::Conflict => ui.add_message(strategy.duplicate_message()),
        IdentityError::Validation(msgs) => {
            for m in msgs {
                match node_name(&m.instance_ptr) {
                    Some(name) => ui.add_node_message(&name, m.message),
                    None => ui.add_message(m.message),
                }
            }
        }
        IdentityError::BadRequest(reason) => ui.add_message(text::validation_generic(&reason)),
        IdentityError::Store(e) => return Err(FlowError::Store(e)),
        e => return Err(FlowError::Internal(e.to_string())),
    }
    Ok(None)
}

/// What `selfservice.flows.registration.login_hints` tells about the existing account.
struct LoginHints {
    /// First-factor methods the account can sign in with, sorted.
    credential_types: Vec<String>,
    oidc_providers: Vec<String>,
    /// The identifier the two accounts share, or the account's only password identifier.
    identifier: String,
}

/// Kratos's hints for a registration that collided with an existing account (its identity
/// manager's `findExistingAuthMethod`): the account `found` holding one of the new identity's
/// identifiers or addresses, and how that account signs in. `None` when there is nothing to tell (Kratos then answers 4000007 as without hints).
/// Like Kratos, this deliberately tells the visitor how an account signs in: it is off by
/// default, and the duplicate message alone already says the identifier is taken.
async fn login_hints(
    deps: &Deps,
    found: identities::Conflict,
) -> Result<Option<LoginHints>, FlowError> {
    use crate::identity::CredentialType as T;
    let identities::Conflict {
        owner,
        identifier: conflict,
        shown,
    } = found;
    let existing = match identities::get(deps, owner, true).await {
        Ok(i) => i,
        // Deleted since the insert failed: nothing to tell.
        Err(IdentityError::NotFound) => return Ok(None),
        Err(e) => return Err(FlowError::Internal(e.to_string())),
    };
    let mut identifier = if shown {
        conflict.trim().to_owned()
    } else {
        String::new()
    };
    let mut credential_types = Vec::new();
    let mut oidc_providers = Vec::new();
    let passwordless = |config: &serde_json::Value| {
        config["credentials"]
            .as_array()
            .is_some_and(|cs| cs.iter().any(|c| c["is_passwordless"] == true))
    };
    // Only first factors: a second factor does not tell how to sign in.
    for c in existing.credentials.values() {
        if c.config.is_null() {
            continue;
        }
        let single_identifier =
            (identifier.is_empty() && c.identifiers.len() == 1).then(|| c.identifiers[0].clone());
        match c.kind {
            T::Password => {
                identifier = single_identifier.unwrap_or(identifier);
                if c.config["hashed_password"]
                    .as_str()
                    .is_some_and(|h| !h.is_empty())
                {
                    credential_types.push(c.kind.as_str().to_owned());
                }
            }
            T::Code => credential_types.push(c.kind.as_str().to_owned()),
            T::Oidc => {
                credential_types.push(c.kind.as_str().to_owned());
                oidc_providers = c.config["providers"]
                    .as_array()
                    .map(|ps| {
                        ps.iter()
                            .filter_map(|p| p["provider"].as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
            }
            T::Webauthn | T::Passkey => {
                identifier = single_identifier.unwrap_or(identifier);
                if passwordless(&c.config) {
                    credential_types.push(c.kind.as_str().to_owned());
                }
            }
            _ => {}
        }
    }
    credential_types.sort();
    oidc_providers.sort();
    if credential_types.is_empty() && oidc_providers.is_empty() && identifier.is_empty() {
        return Ok(None);
    }
    Ok(Some(LoginHints {
        credential_types,
        oidc_providers,
        identifier,
    }))
}
