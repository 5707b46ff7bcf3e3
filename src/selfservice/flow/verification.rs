//! The verification flow: proves an address from the identity schema (`verification.via`)
//! with the method in use (`selfservice.flows.verification.use`, a [`VerificationStrategy`]);
//! the address goes `pending` → `sent` → `completed` (`verified`). Also
//! the registration hook that sends the first message, and the login check for verified
//! addresses.

use crate::security::events::{self, Event, Name};
use crate::selfservice::hooks::{self, HookContext};
use serde_json::{Value, json};
use uuid::Uuid;

use super::common::Started;
use super::common::{self, csrf_for};
use super::common::{email_node, identity_json, normalize_email, save, with_flow};
use super::request::{FlowRequest, Submission};
use super::{Flow, FlowError, FlowKind, FlowState, FlowType};
use crate::courier::Channel;
use crate::deps::Deps;
use crate::identity::{Identity, now};
use crate::selfservice::csrf::RawToken;
use crate::selfservice::otp::{self, Mail};
use crate::selfservice::strategy::{Letter, Opened, Proof, Registry, VerificationStrategy};
use crate::selfservice::ui::{Group, InputType, UiContainer, UiNode, csrf_node};
use crate::session::service as session_service;
use crate::store::id::DbId;
use crate::store::tokens::{self as tq, TokenRow};
use crate::text;

fn enabled(deps: &Deps) -> Result<(), FlowError> {
    if deps.config.selfservice.flows.verification.enabled {
        Ok(())
    } else {
        Err(FlowError::FlowDisabled(FlowKind::Verification))
    }
}

fn build(
    deps: &Deps,
    strategy: &dyn VerificationStrategy,
    flow_type: FlowType,
    request_url: String,
    masked: String,
) -> Flow {
    let cfg = &deps.config.selfservice.flows.verification;
    let id = Uuid::new_v4();
    let mut ui = UiContainer::new(common::action_url(deps, FlowKind::Verification, id), "POST");
    ui.append(csrf_node(&masked));
    strategy.populate(&mut ui);
    let mut flow = Flow::new(
        FlowKind::Verification,
        flow_type,
        request_url,
        cfg.lifespan.get(),
        ui,
    );
    flow.id = id;
    flow.csrf_token = masked;
    flow
}

pub async fn start(
    deps: &Deps,
    strategies: &Registry,
    flow_type: FlowType,
    req: &FlowRequest,
) -> Result<Started, FlowError> {
    enabled(deps)?;
    let return_to = common::requested_return_to(deps, req, FlowKind::Verification)?;
    let (masked, csrf_cookie) = csrf_for(req, flow_type);
    let mut flow = build(
        deps,
        strategies.verification(),
        flow_type,
        req.request_url.clone(),
        masked,
    );
    flow.return_to = return_to;
    hooks::run_before(
        deps,
        FlowKind::Verification,
        &mut HookContext::new(&flow, req),
    )
    .await?;
    common::insert(deps, &flow).await?;
    Ok(Started { flow, csrf_cookie })
}

pub async fn get(deps: &Deps, id: Uuid, req: &FlowRequest) -> Result<Flow, FlowError> {
    enabled(deps)?;
    let flow = common::load(deps, id, FlowKind::Verification).await?;
    // API flows carry no CSRF token.
    if !flow.csrf_token.is_empty() {
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

/// Starts a fresh flow of the method in use carrying `message` in place of `old`.
async fn replace_with(
    deps: &Deps,
    strategies: &Registry,
    old: &Flow,
    message: text::UiText,
) -> FlowError {
    let mut fresh = build(
        deps,
        strategies.verification(),
        old.flow_type,
        old.request_url.clone(),
        old.csrf_token.clone(),
    );
    fresh.return_to = old.return_to.clone();
    fresh.ui.add_message(message);
    if let Err(e) = common::insert(deps, &fresh).await {
        return e;
    }
    FlowError::Replaced(Box::new(fresh))
}

async fn replace_expired(deps: &Deps, strategies: &Registry, old: &Flow) -> FlowError {
    replace_expired_at(deps, strategies, old, old.expires_at).await
}

/// [`replace_expired`] for something that expired at `expired_at`: the flow, or (as Kratos
/// answers an expired code in a live flow) the code.
async fn replace_expired_at(
    deps: &Deps,
    strategies: &Registry,
    old: &Flow,
    expired_at: chrono::DateTime<chrono::Utc>,
) -> FlowError {
    let ago = (chrono::Utc::now() - expired_at).num_milliseconds() as f64 / 60_000.0;
    let msg =
        text::verification_flow_expired(&expired_at.to_rfc3339(), expired_at.timestamp(), ago);
    match replace_with(deps, strategies, old, msg).await {
        FlowError::Replaced(fresh) => FlowError::Expired {
            expired_at,
            replacement: Some(fresh),
        },
        other => other,
    }
}

/// A verification request that did not fail: the flow to answer with, and for a browser that
/// opened a link without a CSRF cookie, the cookie to set.
pub struct Updated {
    pub flow: Flow,
    pub csrf_cookie: Option<RawToken>,
}

pub async fn submit(
    deps: &Deps,
    strategies: &Registry,
    id: Uuid,
    sub: Submission,
    req: &FlowRequest,
) -> Result<Updated, FlowError> {
    enabled(deps)?;
    let mut flow = common::load(deps, id, FlowKind::Verification).await?;
    if flow.is_expired() {
        return Err(replace_expired(deps, strategies, &flow).await);
    }
    if flow.state == FlowState::PassedChallenge {
        return Err(
            replace_with(deps, strategies, &flow, text::verification_retry_success()).await,
        );
    }
    // A browser flow is bound to its browser's CSRF token (one a link opened elsewhere has
    // rebound); API flows are checked as API flows.
    if !flow.csrf_token.is_empty() || flow.flow_type == FlowType::Api {
        common::check_submit(deps, &flow, req, &sub)?;
    }
    let strategy = strategies.verification();
    if let Some(proof) = strategy.resume(deps, &flow, &sub).await? {
        return prove(deps, strategies, strategy, flow, proof, req)
            .await
            .map(|flow| Updated {
                flow,
                csrf_cookie: None,
            });
    }
    let m = strategy.method().as_str();
    let chosen = sub.str("method").unwrap_or_default();
    let email = sub
        .str("email")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    if chosen != m {
        flow.ui.reset_messages();
        flow.ui.add_message(text::validation_generic(&format!(
            "Could not find a strategy to verify your account with. Did you fill out the form correctly? The enabled method is {m:?}."
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
    let value = normalize_email(&email);
    let found = tq::verifiable_address(&deps.store, "email", &value).await?;
    let mut mails = Vec::new();
    let mut tokens = Vec::new();
    let mut sent_address = None;
    match found {
        Some((address_id, identity_id, stored)) => {
            let (row, mail) = challenge(
                deps,
                strategy,
                &flow,
                address_id,
                identity_id,
                &stored,
                Channel::Email,
            )
            .await;
            tokens.push(row);
            mails.push(mail);
            sent_address = Some((address_id, identity_id));
        }
        None => {
            if deps
                .config
                .selfservice
                .flows
                .verification
                .notify_unknown_recipients
            {
                mails.push(Mail::email(
                    strategy.unknown_template(),
                    value.clone(),
                    json!({"To": value, "RequestURL": flow.request_url}),
                ));
            }
        }
    }
    flow.state = FlowState::SentEmail;
    flow.active = Some(m.into());
    flow.updated_at = now();
    strategy.show_sent(&mut flow, &email);
    // A resend replaces the earlier code, known address or not.
    let kind = strategy.token_kind();
    let from = [FlowState::ChooseMethod, FlowState::SentEmail];
    common::issue(
        deps,
        &flow,
        kind,
        &tokens,
        mails,
        &from,
        sent_address.map(|(a, _)| a),
    )
    .await?;
    if let Some((_, identity_id)) = &sent_address {
        // The address's status is part of whoami answers.
        session_service::forget(deps, std::slice::from_ref(identity_id));
    }
    Ok(Updated {
        flow,
        csrf_cookie: None,
    })
}

/// A new code or link for one address of the flow, and the mail carrying it.
async fn challenge(
    deps: &Deps,
    strategy: &dyn VerificationStrategy,
    flow: &Flow,
    address_id: Uuid,
    identity_id: Uuid,
    address: &str,
    channel: Channel,
) -> (TokenRow, Mail) {
    let lifespan = strategy.lifespan(deps);
    let ts = now();
    let secret = strategy.new_secret();
    let row = TokenRow {
        id: DbId(Uuid::new_v4()),
        nid: DbId(deps.store.nid()),
        kind: strategy.token_kind().into(),
        flow_id: Some(DbId(flow.id)),
        identity_id: Some(DbId(identity_id)),
        address: Some(address.to_owned()),
        address_id: Some(DbId(address_id)),
        token_hash: otp::hash_for_storage(deps, &secret),
        used_at: None,
        expires_at: (ts
            + chrono::Duration::from_std(lifespan).unwrap_or(chrono::Duration::hours(1)))
        .naive_utc(),
        created_at: ts.naive_utc(),
        updated_at: ts.naive_utc(),
    };
    let identity = identity_json(deps, identity_id).await;
    let minutes = (lifespan.as_secs() / 60) as i64;
    let (template, data) = strategy.message(
        deps,
        &Letter {
            flow,
            to: address,
            secret: &secret,
            identity,
            expires_in_minutes: minutes,
        },
    );
    let mail = Mail {
        template,
        channel,
        to: address.to_owned(),
        data,
    };
    (row, mail)
}

/// Answers a proof of the address: a wrong code keeps the flow waiting; a right one completes
/// it.
async fn prove(
    deps: &Deps,
    strategies: &Registry,
    strategy: &dyn VerificationStrategy,
    mut flow: Flow,
    proof: Proof,
    req: &FlowRequest,
) -> Result<Flow, FlowError> {
    match proof {
        Proof::Valid(row) => complete(deps, strategy, flow, &row, req).await,
        Proof::Invalid(message) => {
            flow.ui.reset_messages();
            flow.ui.add_message(message);
            save(
                deps,
                &flow,
                &[FlowState::ChooseMethod, FlowState::SentEmail],
            )
            .await?;
            Ok(flow)
        }
        Proof::Restart(message) => Err(replace_with(deps, strategies, &flow, message).await),
        Proof::Expired(at) => Err(replace_expired_at(deps, strategies, &flow, at).await),
    }
}

/// Marks the address verified and shows the success screen with a "continue" link.
async fn complete(
    deps: &Deps,
    strategy: &dyn VerificationStrategy,
    mut flow: Flow,
    row: &TokenRow,
    req: &FlowRequest,
) -> Result<Flow, FlowError> {
    if let Some(a) = row.address_id {
        tq::mark_address_verified(&deps.store, a.0, now().naive_utc()).await?;
        if let Some(identity_id) = row.identity_id {
            session_service::forget(deps, &[identity_id.0]);
        }
    }
    let mut ui = strategy.verified_ui(return_url(deps, &flow));
    ui.add_message(text::verification_successful());
    flow.ui = ui;
    flow.state = FlowState::PassedChallenge;
    save(
        deps,
        &flow,
        &[FlowState::ChooseMethod, FlowState::SentEmail],
    )
    .await?;
    events::emit(
        deps,
        Event::new(Name::VerificationCompleted)
            .origin(&req.origin())
            .flow(flow.id, FlowKind::Verification.as_str())
            .identity(row.identity_id.map(Uuid::from))
            .method(strategy.method().as_str()),
    );
    // After hooks see the verified identity; only web hooks run after verification.
    let mut ctx = HookContext::new(&flow, req);
    if let Some(id) = row.identity_id {
        ctx.identity = Some(identity_json(deps, id.0).await);
    }
    let mut after = hooks::After::new(deps, FlowKind::Verification, "");
    while after.next_builtin(deps, &mut ctx).await?.is_some() {}
    Ok(flow)
}

/// Where "continue" leads: the flow's `return_to`, else the verification default, else the
/// global default.
fn return_url(deps: &Deps, flow: &Flow) -> String {
    common::final_return(deps, flow, "")
        .unwrap_or_else(|_| common::default_return(deps, FlowKind::Verification, ""))
}

/// `GET /self-service/verification?flow=&<param>=`: a link from a verification message,
/// answered by the method whose parameter it carries, whether or not it is still the one in
/// use.
pub async fn open_link(
    deps: &Deps,
    strategies: &Registry,
    id: Uuid,
    req: &FlowRequest,
) -> Result<Updated, FlowError> {
    enabled(deps)?;
    let mut flow = common::load(deps, id, FlowKind::Verification).await?;
    if flow.is_expired() {
        return Err(replace_expired(deps, strategies, &flow).await);
    }
    if flow.state == FlowState::PassedChallenge {
        return Err(
            replace_with(deps, strategies, &flow, text::verification_retry_success()).await,
        );
    }
    for strategy in Registry::verification_strategies() {
        let Some(value) = req.query(strategy.link_param()) else {
            continue;
        };
        return match strategy.open_link(deps, &mut flow, value).await? {
            Opened::Checked(proof) => prove(deps, strategies, *strategy, flow, proof, req)
                .await
                .map(|flow| Updated {
                    flow,
                    csrf_cookie: None,
                }),
            Opened::Prefilled => bind_to_browser(deps, flow, req).await,
        };
    }
    Err(FlowError::BadRequest(
        "The token or code query parameter is required.".into(),
    ))
}

/// A form opened from an email, possibly in another browser: bind it to this browser now.
async fn bind_to_browser(
    deps: &Deps,
    mut flow: Flow,
    req: &FlowRequest,
) -> Result<Updated, FlowError> {
    let (masked, csrf_cookie) = csrf_for(req, FlowType::Browser);
    flow.csrf_token = masked.clone();
    flow.ui.update_csrf(&masked);
    let ui = serde_json::to_string(&flow.ui).unwrap_or_default();
    crate::store::flows::set_csrf_and_ui(&deps.store, flow.id, &masked, &ui, now().naive_utc())
        .await?;
    Ok(Updated { flow, csrf_cookie })
}

/// Registration hook: when verification is on, sends a message to every unverified address
/// of the new identity, each in its own verification flow, and returns the
/// `show_verification_ui` items for `continue_with`.
pub async fn after_registration(
    deps: &Deps,
    strategies: &Registry,
    identity: &Identity,
    registration: &Flow,
) -> Result<Vec<Value>, FlowError> {
    mail_addresses(deps, strategies, identity, registration, |_| true).await
}

/// Settings hook: when verification is on, mails the addresses a settings change added (they
/// are unverified and have not been mailed yet, as Kratos's verifier selects them).
pub async fn after_settings(
    deps: &Deps,
    strategies: &Registry,
    identity: &Identity,
    settings: &Flow,
) -> Result<Vec<Value>, FlowError> {
    mail_addresses(deps, strategies, identity, settings, |a| {
        a.status == "pending"
    })
    .await
}

/// Messages each unverified address of `identity` that `select` picks, each in its own
/// verification flow of `from`'s type and bound to its CSRF token (a browser's: a link opened
/// in another browser binds the flow to that one); returns the `show_verification_ui` items.
async fn mail_addresses(
    deps: &Deps,
    strategies: &Registry,
    identity: &Identity,
    from: &Flow,
    select: impl Fn(&crate::identity::VerifiableAddress) -> bool,
) -> Result<Vec<Value>, FlowError> {
    let flow_type = from.flow_type;
    if !deps.config.selfservice.flows.verification.enabled {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for a in identity
        .verifiable_addresses
        .iter()
        .filter(|a| !a.verified && select(a))
    {
        let start = Start {
            flow_type,
            request_url: &from.request_url,
            masked: from.csrf_token.clone(),
            resend_button: false,
        };
        let Some(flow) = start_for(deps, strategies, identity, a, start).await? else {
            continue;
        };
        let mut item = json!({"action": "show_verification_ui", "flow": {"id": flow.id, "verifiable_address": a.value}});
        if flow_type == FlowType::Browser {
            item["flow"]["url"] = json!(with_flow(
                &deps.config.selfservice.flows.verification.ui_url,
                flow.id
            ));
        }
        out.push(item);
    }
    Ok(out)
}

/// How [`start_for`] sets up the flow.
struct Start<'a> {
    flow_type: FlowType,
    request_url: &'a str,
    /// The CSRF token the flow is bound to; empty for none.
    masked: String,
    /// Kratos's address verifier adds a button that sends another message.
    resend_button: bool,
}

/// A verification flow for the address `a`, in `sent_email` with its message queued; `None`
/// when the method in use cannot reach the address (links travel only by email).
async fn start_for(
    deps: &Deps,
    strategies: &Registry,
    identity: &Identity,
    a: &crate::identity::VerifiableAddress,
    start: Start<'_>,
) -> Result<Option<Flow>, FlowError> {
    let strategy = strategies.verification();
    // Links only travel by email; a phone number is verified by code (as in Kratos).
    let channel = match a.via.as_str() {
        "email" => Channel::Email,
        "sms" if strategy.reaches_phones() => Channel::Sms,
        _ => return Ok(None),
    };
    let mut flow = build(
        deps,
        strategy,
        start.flow_type,
        start.request_url.to_owned(),
        start.masked,
    );
    common::insert(deps, &flow).await?;
    let (row, mail) = challenge(deps, strategy, &flow, a.id, identity.id, &a.value, channel).await;
    flow.state = FlowState::SentEmail;
    flow.active = Some(strategy.method().as_str().into());
    strategy.show_sent(&mut flow, &a.value);
    let has_resend = flow.ui.nodes.iter().any(|n| {
        n.input_attributes()
            .is_some_and(|i| i.name == a.via && i.kind == InputType::Submit)
    });
    if start.resend_button && !has_resend {
        flow.ui.append(
            UiNode::input(a.via.clone(), Group::Code, InputType::Submit)
                .with_value(a.value.clone())
                .with_label(text::label_resend_otp()),
        );
    }
    let kind = row.kind.clone();
    common::issue(
        deps,
        &flow,
        &kind,
        &[row],
        vec![mail],
        &[FlowState::ChooseMethod],
        Some(a.id),
    )
    .await?;
    deps.session_cache.invalidate_identity(identity.id);
    Ok(Some(flow))
}

/// Login hook `require_verified_address` (Kratos's address verifier) when no address is
/// verified: a verification flow for the first address the method in use can reach, of the
/// login flow's type and bound to its CSRF cookie, with a message sent and a button to send
/// another. Returns the `show_verification_ui` item (with the UI's URL, whatever the type) and
/// that URL; `None` when no address can be reached.
pub async fn for_login(
    deps: &Deps,
    strategies: &Registry,
    identity: &Identity,
    login: &Flow,
) -> Result<Option<(Value, String)>, FlowError> {
    for a in identity
        .verifiable_addresses
        .iter()
        .filter(|a| !a.value.is_empty())
    {
        let start = Start {
            flow_type: login.flow_type,
            request_url: &login.request_url,
            masked: login.csrf_token.clone(),
            resend_button: true,
        };
        if let Some(flow) = start_for(deps, strategies, identity, a, start).await? {
            let url = with_flow(&deps.config.selfservice.flows.verification.ui_url, flow.id);
            let item = json!({"action": "show_verification_ui",
                              "flow": {"id": flow.id, "verifiable_address": a.value, "url": url}});
            return Ok(Some((item, url)));
        }
    }
    Ok(None)
}

/// Login hook `require_verified_address`: at least one verified address.
pub fn has_verified_address(identity: &Identity) -> bool {
    identity.verifiable_addresses.iter().any(|a| a.verified)
}
