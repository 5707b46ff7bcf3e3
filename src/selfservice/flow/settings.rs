//! The settings flow: a signed-in identity changes its profile (traits) or its password.
//!
//! Unlike the other flows a settings flow belongs to an identity (stored as the flow's
//! `identity_id`) and stays usable after a successful save (`show_form` → `success`), until it
//! expires. Changing a password, an identifier or an address needs a privileged session: one
//! signed in less than `privileged_session_max_age` ago; otherwise the user is sent to a
//! `refresh=true` login that comes back here.

use serde_json::Value;
use uuid::Uuid;

use super::common::Started;
use super::common::{self, csrf_for};
use super::request::{FlowRequest, Submission};
use super::{Flow, FlowError, FlowKind, FlowState, FlowType};
use crate::config::{Hook, RequiredAal};
use crate::deps::Deps;
use crate::identity::credential_type::CredentialType;
use crate::identity::schema::IdentitySchema;
use crate::identity::{Identity, State, now};
use crate::security::events::{self, Actor};
use crate::selfservice::csrf::RawToken;
use crate::selfservice::hooks::{self, HookContext};
use crate::selfservice::return_to;
use crate::selfservice::strategy::{Outcome, Registry, SettingsContext, SettingsStrategy};
use crate::selfservice::ui::{SortOptions, UiContainer, csrf_node};
use crate::session::service::{self as sessions, IssuedSession};
use crate::session::{Aal, Session};
use crate::store::StoreError;
use crate::store::identities::{self as identity_rows, FlowSave};
use crate::text;

/// A saved settings submission.
pub struct Saved {
    pub flow: Flow,
    /// Where a browser goes next.
    pub return_to: String,
    /// The session that replaced the browser's when the save raised its level
    /// (`session.hygiene`): its cookie goes out with the answer.
    pub issued: Option<IssuedSession>,
}

/// `GET /self-service/login/browser` with `params`, where settings sends a browser to sign in.
fn login_url(deps: &Deps, params: &[(&str, &str)]) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        q.append_pair(k, v);
    }
    format!(
        "{}/self-service/login/browser?{}",
        deps.public_base(),
        q.finish()
    )
}

/// The submit URL of a flow, where a refresh login returns to (as Kratos sends it back to the
/// request that needed the refresh).
fn submit_url(deps: &Deps, id: Uuid) -> String {
    common::action_url(deps, FlowKind::Settings, id)
}

/// The caller's session; none is `session_inactive` (browsers go to the login, coming back
/// to `return_to`).
async fn session_of(deps: &Deps, req: &FlowRequest, back: &str) -> Result<Session, FlowError> {
    match common::current_session(deps, req).await {
        Some(s) => Ok(s),
        None => Err(FlowError::SessionRequired {
            login: login_url(deps, &[("return_to", back)]),
        }),
    }
}

async fn identity_of(deps: &Deps, session: &Session, back: &str) -> Result<Identity, FlowError> {
    match crate::identity::service::get(deps, session.identity_id, true).await {
        Ok(i) if i.state == State::Active => Ok(i),
        // Deleted or disabled since the session was issued: as good as no session.
        Ok(_) | Err(crate::identity::service::IdentityError::NotFound) => {
            Err(FlowError::SessionRequired {
                login: login_url(deps, &[("return_to", back)]),
            })
        }
        Err(crate::identity::service::IdentityError::Store(e)) => Err(e.into()),
        Err(e) => Err(FlowError::Internal(e.to_string())),
    }
}

fn schema_of(
    deps: &Deps,
    identity: &Identity,
) -> Result<std::sync::Arc<IdentitySchema>, FlowError> {
    deps.schemas.get(&identity.schema_id)?.ok_or_else(|| {
        FlowError::Internal(format!(
            "the identity's schema {:?} is not configured",
            identity.schema_id
        ))
    })
}

/// `required_aal: highest_available` demands the session's level match what the identity can
/// reach; `aal1` accepts any session.
fn check_aal(
    deps: &Deps,
    strategies: &Registry,
    session: &Session,
    identity: &Identity,
    back: &str,
) -> Result<(), FlowError> {
    let required = match deps.config.selfservice.flows.settings.required_aal {
        RequiredAal::Aal1 => Aal::Aal1,
        RequiredAal::HighestAvailable => strategies.available_aal(identity),
    };
    if session.aal >= required {
        Ok(())
    } else {
        Err(FlowError::AalRequired {
            redirect_browser_to: login_url(
                deps,
                &[("aal", required.as_str()), ("return_to", back)],
            ),
        })
    }
}

/// Signed in recently enough to change passwords, identifiers and addresses.
fn privileged(deps: &Deps, session: &Session) -> bool {
    let max_age = deps
        .config
        .selfservice
        .flows
        .settings
        .privileged_session_max_age
        .get();
    let max_age = chrono::Duration::from_std(max_age).unwrap_or(chrono::Duration::MAX);
    session
        .authenticated_at
        .checked_add_signed(max_age)
        .is_none_or(|until| until > chrono::Utc::now())
}

/// Where a browser signs in again for a privileged change, coming back to the flow.
fn refresh_url(deps: &Deps, flow: &Flow) -> String {
    login_url(
        deps,
        &[
            ("refresh", "true"),
            ("return_to", &submit_url(deps, flow.id)),
        ],
    )
}

/// The settings form for `identity`: CSRF, the profile and password methods.
fn build(
    deps: &Deps,
    strategies: &Registry,
    flow_type: FlowType,
    req: &FlowRequest,
    identity: &Identity,
) -> Result<(Flow, Option<RawToken>), FlowError> {
    let cfg = &deps.config.selfservice.flows.settings;
    let schema = &*schema_of(deps, identity)?;
    let id = Uuid::new_v4();
    let (masked, cookie) = csrf_for(req, flow_type);
    let mut ui = UiContainer::new(common::action_url(deps, FlowKind::Settings, id), "POST");
    ui.append(csrf_node(&masked));
    let mut internal = None;
    for s in strategies.settings() {
        s.populate_flow(deps, schema, &mut ui, identity, &mut internal)?;
    }
    ui.sort_nodes(&SortOptions::settings(schema));
    let mut flow = Flow::new(
        FlowKind::Settings,
        flow_type,
        req.request_url.clone(),
        cfg.lifespan.get(),
        ui,
    );
    flow.id = id;
    flow.csrf_token = masked;
    flow.internal = internal;
    flow.state = FlowState::ShowForm;
    flow.identity_id = Some(identity.id);
    flow.identity = Some(identity.to_json(deps.public_base(), None));
    Ok((flow, cookie))
}

/// `GET /self-service/settings/{browser,api}`.
pub async fn start(
    deps: &Deps,
    strategies: &Registry,
    flow_type: FlowType,
    req: &FlowRequest,
) -> Result<Started, FlowError> {
    let session = session_of(deps, req, &req.request_url).await?;
    let identity = identity_of(deps, &session, &req.request_url).await?;
    check_aal(deps, strategies, &session, &identity, &req.request_url)?;
    let return_to = common::requested_return_to(deps, req, FlowKind::Settings)?;
    let (mut flow, csrf_cookie) = build(deps, strategies, flow_type, req, &identity)?;
    flow.return_to = return_to;
    let mut ctx = HookContext::new(&flow, req);
    ctx.identity = Some(identity.to_json(deps.public_base(), None));
    hooks::run_before(deps, FlowKind::Settings, &mut ctx).await?;
    common::insert(deps, &flow).await?;
    Ok(Started { flow, csrf_cookie })
}

/// Loads a flow for the caller: it must be signed in as the flow's identity.
async fn load_own(
    deps: &Deps,
    id: Uuid,
    req: &FlowRequest,
) -> Result<(Flow, Session, Identity), FlowError> {
    let flow = common::load(deps, id, FlowKind::Settings).await?;
    let back = submit_url(deps, id);
    let session = session_of(deps, req, &back).await?;
    if flow.identity_id != Some(session.identity_id) {
        return Err(FlowError::IdentityMismatch);
    }
    let identity = identity_of(deps, &session, &back).await?;
    Ok((flow, session, identity))
}

/// `GET /self-service/settings/flows?id=`: the flow with the identity as it is now.
pub async fn get(deps: &Deps, id: Uuid, req: &FlowRequest) -> Result<Flow, FlowError> {
    let (mut flow, _, identity) = load_own(deps, id, req).await?;
    common::check_read(&flow, req)?;
    if flow.is_expired() {
        return Err(FlowError::Expired {
            expired_at: flow.expires_at,
            replacement: None,
        });
    }
    flow.identity = Some(identity.to_json(deps.public_base(), None));
    Ok(flow)
}

/// Starts a fresh flow for the same identity in place of an expired one.
async fn replace_expired(
    deps: &Deps,
    strategies: &Registry,
    old: &Flow,
    req: &FlowRequest,
    identity: &Identity,
) -> FlowError {
    let (mut fresh, _) = match build(deps, strategies, old.flow_type, req, identity) {
        Ok(f) => f,
        Err(e) => return e,
    };
    // The browser keeps its CSRF cookie; the fresh flow must be bound to it.
    fresh.csrf_token = old.csrf_token.clone();
    fresh.ui.update_csrf(&old.csrf_token);
    fresh.return_to = old.return_to.clone();
    fresh.request_url = old.request_url.clone();
    let ago = (chrono::Utc::now() - old.expires_at).num_milliseconds() as f64 / 60_000.0;
    fresh.ui.add_message(text::settings_flow_expired(
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

/// Stores a rejected submission (back to `show_form`, messages on the nodes).
async fn reject(deps: &Deps, mut flow: Flow, identity: &Identity) -> FlowError {
    flow.ui.strip_passwords();
    flow.state = FlowState::ShowForm;
    flow.identity = Some(identity.to_json(deps.public_base(), None));
    match common::save(deps, &flow, &[FlowState::ShowForm, FlowState::Success]).await {
        Ok(()) => FlowError::Invalid(Box::new(flow)),
        Err(e) => e,
    }
}

/// Stores a flow whose method moved on to another screen of its own (lookup codes to
/// confirm) and answers with it, as Kratos's `ErrStrategyAsksToReturnToUI`: browsers go back
/// to the settings UI showing it; nothing is saved to the identity and no hook runs.
async fn show(deps: &Deps, mut flow: Flow, identity: &Identity) -> Result<Saved, FlowError> {
    flow.state = FlowState::ShowForm;
    flow.updated_at = now();
    flow.identity = Some(identity.to_json(deps.public_base(), None));
    common::save(deps, &flow, &[FlowState::ShowForm, FlowState::Success]).await?;
    let return_to = common::with_flow(&deps.config.selfservice.flows.settings.ui_url, flow.id);
    Ok(Saved {
        flow,
        return_to,
        issued: None,
    })
}

/// `POST /self-service/settings?flow=`: the `profile` or `password` method.
pub async fn submit(
    deps: &Deps,
    strategies: &Registry,
    id: Uuid,
    sub: Submission,
    req: &FlowRequest,
) -> Result<Saved, FlowError> {
    let (mut flow, session, identity) = load_own(deps, id, req).await?;
    if flow.is_expired() {
        return Err(replace_expired(deps, strategies, &flow, req, &identity).await);
    }
    common::check_submit(deps, &flow, req, &sub)?;
    check_aal(
        deps,
        strategies,
        &session,
        &identity,
        &submit_url(deps, flow.id),
    )?;
    let loaded_at = flow.updated_at;
    let schema = &*schema_of(deps, &identity)?;
    flow.ui.reset_messages();
    flow.ui.update_csrf(&flow.csrf_token.clone());
    let Some(&strategy) = strategies.settings().iter().find(|s| s.takes(&sub)) else {
        flow.ui.add_message(text::settings_no_strategy_found());
        return Err(reject(deps, flow, &identity).await);
    };
    let method = strategy.method().as_str().to_owned();
    flow.active = Some(method.clone());
    let loaded = flow.clone();
    let cx = SettingsContext {
        deps,
        schema,
        identity: &identity,
        privileged: privileged(deps, &session),
        refresh_url: refresh_url(deps, &flow),
        flow: &loaded,
    };
    let updated = match strategy.update(&cx, &mut flow.ui, &sub).await? {
        Outcome::Done(updated) => updated,
        Outcome::Continue => return show(deps, flow, &identity).await,
        Outcome::Rejected => return Err(reject(deps, flow, &identity).await),
    };
    // Pre-persist web hooks see the changed identity: `can_interrupt` stops here with nothing
    // saved, `response.parse` rewrites traits and metadata (re-checked against the schema).
    let mut ctx = HookContext::new(&flow, req);
    ctx.transient_payload = common::transient_payload(&sub);
    ctx.identity = Some(updated.to_json(deps.public_base(), None));
    if let Err(e) = hooks::run_pre_persist(deps, FlowKind::Settings, &method, &mut ctx).await {
        return Err(match e {
            FlowError::HookInterrupted(messages) => {
                hooks::show_messages(&mut flow, messages);
                reject(deps, flow, &identity).await
            }
            other => other,
        });
    }
    let mut updated = updated;
    if let Some(i) = ctx.identity.take() {
        let field = |k: &str| i.get(k).filter(|v| !v.is_null()).cloned();
        let before = updated.traits.clone();
        if let Some(t) = field("traits") {
            updated.traits = t;
        }
        updated.metadata_public = field("metadata_public");
        updated.metadata_admin = field("metadata_admin");
        if updated.traits != before
            && let Err(e) = crate::identity::service::apply_schema(deps, &mut updated, &[], &[])
        {
            // The operator's hook answered traits the schema refuses: a hook failure.
            return Err(FlowError::Internal(format!(
                "a settings web hook returned traits the identity schema refuses: {e}"
            )));
        }
    }
    let mut saved = flow.clone();
    saved.ui.strip_passwords();
    saved.ui.add_message(text::settings_saved());
    saved.state = FlowState::Success;
    saved.updated_at = now();
    match commit(deps, &saved, loaded_at, &updated).await {
        Ok(true) => {}
        Ok(false) => return Err(FlowError::AlreadyCompleted),
        Err(StoreError::Conflict(_)) => {
            flow.ui
                .add_message(text::validation_duplicate_credentials());
            return Err(reject(deps, flow, &identity).await);
        }
        Err(e) => return Err(e.into()),
    }
    // Whoami answers carry the identity: this node's cache forgets it now, the others through
    // the database's change feed.
    deps.session_cache.invalidate_identity(updated.id);
    let origin = req.origin();
    for e in events::identity_changes(&identity, &updated, Actor::SelfService) {
        let e = e.origin(&origin).flow(flow.id, FlowKind::Settings.as_str());
        events::emit(deps, e);
    }
    let mut issued = None;
    if let Some(aal) = strategy.proven(&identity, &updated) {
        // Only a browser can be handed a new session here (a cookie): Kratos's settings answer
        // has no place for a session token, so a native app's session is raised in place.
        let browser = flow.flow_type == FlowType::Browser;
        issued = sessions::add_method(
            deps,
            &session,
            strategy.method().credential_type(),
            aal,
            browser,
        )
        .await
        .map_err(|e| FlowError::Internal(e.to_string()))?;
    }
    // A removed credential stops vouching for the identity's sessions (this one included).
    sessions::drop_methods(
        deps,
        updated.id,
        &sessions::removed_credentials(&identity, &updated),
    )
    .await
    .map_err(|e| FlowError::Internal(e.to_string()))?;
    let session = issued.as_ref().map_or(session, |i| i.session.clone());
    saved.identity = Some(updated.to_json(deps.public_base(), None));
    let show_verification_ui = after_success(
        deps, strategies, &mut saved, strategy, &session, &updated, req,
    )
    .await?;
    let return_to = browser_return(deps, &saved, &method, show_verification_ui)?;
    Ok(Saved {
        flow: saved,
        return_to,
        issued,
    })
}

/// The identity change and the flow's new state, in one transaction.
async fn commit(
    deps: &Deps,
    flow: &Flow,
    loaded_at: chrono::DateTime<chrono::Utc>,
    identity: &Identity,
) -> Result<bool, StoreError> {
    let ui = serde_json::to_string(&flow.ui).unwrap_or_default();
    identity_rows::replace_with_flow(
        &deps.store,
        &identity.to_rows(deps.store.nid()),
        &FlowSave {
            id: flow.id,
            expected_updated_at: loaded_at.naive_utc(),
            state: flow.state.as_str(),
            ui: &ui,
            active_method: flow.active.as_deref(),
            updated_at: flow.updated_at.naive_utc(),
        },
    )
    .await
}

/// Everything that runs after a settings change was saved, in Kratos's order: the
/// verification mail for new addresses (when verification is on), then the configured
/// `after` hooks of the method (or of the flow) — web hooks run inside the engine, built-ins
/// here. Returns whether `show_verification_ui` asks browsers to go to the verification UI.
async fn after_success(
    deps: &Deps,
    strategies: &Registry,
    flow: &mut Flow,
    strategy: &dyn SettingsStrategy,
    session: &Session,
    identity: &Identity,
    req: &FlowRequest,
) -> Result<bool, FlowError> {
    let method = strategy.method().as_str();
    let changes_traits = strategy.changes_traits();
    if changes_traits {
        let items = super::verification::after_settings(deps, strategies, identity, flow).await?;
        flow.continue_with.extend(items);
    }
    let mut show_verification_ui = false;
    let mut ctx = HookContext::new(flow, req);
    ctx.identity = Some(identity.to_json(deps.public_base(), None));
    ctx.session = Some(session.to_json(deps.public_base()));
    let mut after = hooks::After::new(deps, FlowKind::Settings, method);
    let mut revoked = false;
    while let Some(c) = after.next_builtin(deps, &mut ctx).await? {
        match c.hook {
            // Kratos allows it after auth methods (password) only.
            Hook::RevokeActiveSessions if !changes_traits => {
                sessions::revoke_others(deps, identity.id, session.id, "hook")
                    .await
                    .map_err(|e| FlowError::Internal(e.to_string()))?;
                revoked = true;
            }
            Hook::ShowVerificationUi if changes_traits => show_verification_ui = true,
            // Not run here (reported at start-up as not supported yet).
            _ => {}
        }
    }
    // Gatehouse's default beyond Kratos: a new password ends the identity's other sessions,
    // whether or not the operator configured the hook (which then has done it already).
    if !revoked
        && strategy.method().credential_type() == CredentialType::Password
        && deps
            .config
            .session
            .hygiene
            .revokes_others_on_password_change()
    {
        sessions::revoke_others(deps, identity.id, session.id, "password_changed")
            .await
            .map_err(|e| FlowError::Internal(e.to_string()))?;
    }
    Ok(show_verification_ui)
}

/// Where a browser goes after a save: the flow's `return_to`, else the method's or the flow's
/// `after.default_browser_return_url`, else back to the settings UI showing this flow.
/// `show_verification_ui` sends it to the first verification flow instead.
fn browser_return(
    deps: &Deps,
    flow: &Flow,
    method: &str,
    show_verification_ui: bool,
) -> Result<String, FlowError> {
    if show_verification_ui
        && let Some(url) = flow
            .continue_with
            .first()
            .and_then(|c| c["flow"]["url"].as_str())
    {
        return Ok(url.to_owned());
    }
    let cfg = &deps.config.selfservice.flows.settings;
    let own = cfg
        .after
        .method(method)
        .and_then(|a| a.default_browser_return_url.clone());
    let default = own
        .or_else(|| cfg.after.default_browser_return_url.clone())
        .unwrap_or_else(|| common::with_flow(&cfg.ui_url, flow.id));
    Ok(return_to::validate(
        flow.return_to.as_deref(),
        &default,
        &deps.config.selfservice.allowed_return_urls,
        deps.public_base(),
    )
    .inspect_err(|f| common::return_to_refused(deps, FlowKind::Settings, None, f))?)
}

/// A recovery succeeded: a settings flow for the recovered identity, with Kratos's "recovered"
/// message, in which the fresh (privileged) session can set a new password. For a browser
/// without a CSRF cookie, the cookie to set comes back too.
pub async fn after_recovery(
    deps: &Deps,
    strategies: &Registry,
    identity: &Identity,
    recovery: &Flow,
    flow_type: FlowType,
    req: &FlowRequest,
) -> Result<(Flow, Option<RawToken>), FlowError> {
    let (mut flow, cookie) = build(deps, strategies, flow_type, req, identity)?;
    flow.return_to = recovery.return_to.clone();
    let max_age = deps
        .config
        .selfservice
        .flows
        .settings
        .privileged_session_max_age
        .get();
    let until = now() + chrono::Duration::from_std(max_age).unwrap_or(chrono::Duration::hours(1));
    flow.ui.add_message(text::recovery_successful(
        &until.to_rfc3339(),
        until.timestamp(),
        max_age.as_secs_f64() / 60.0,
    ));
    common::insert(deps, &flow).await?;
    Ok((flow, cookie))
}

/// The `show_settings_ui` item pointing at `flow`.
pub fn continue_with_item(deps: &Deps, flow: &Flow) -> Value {
    serde_json::json!({
        "action": "show_settings_ui",
        "flow": {
            "id": flow.id,
            "url": common::with_flow(&deps.config.selfservice.flows.settings.ui_url, flow.id),
        }
    })
}
