//! The verification flow: proves an address from the identity schema (`verification.via`)
//! with a code or link; the address goes `pending` → `sent` → `completed` (`verified`). Also
//! the registration hook that sends the first message, and the login check for verified
//! addresses.

use crate::selfservice::hooks::{self, HookContext};
use serde_json::{Value, json};
use uuid::Uuid;

use super::common::Started;
use super::common::{self, csrf_for};
use super::common::{
    code_sent_ui, email_node, identity_json, normalize_email, save, submitted_code, with_flow,
};
use super::request::{FlowRequest, Submission};
use super::{Flow, FlowError, FlowKind, FlowState, FlowType};
use crate::config::FlowStrategy;
use crate::courier::Channel;
use crate::deps::Deps;
use crate::identity::{Identity, now};
use crate::selfservice::csrf::RawToken;
use crate::selfservice::otp::{self, Mail, Template};
use crate::selfservice::ui::{
    AnchorAttributes, Attributes, Group, Meta, UiContainer, UiNode, csrf_node, submit_node,
};
use crate::session::service as session_service;
use crate::store::id::DbId;
use crate::store::tokens::{self as tq, TokenRow, UseOutcome};
use crate::text;

pub const KIND_CODE: &str = "verification_code";
pub const KIND_LINK: &str = "verification_link";

fn enabled(deps: &Deps) -> Result<(), FlowError> {
    if deps.config.selfservice.flows.verification.enabled {
        Ok(())
    } else {
        Err(FlowError::FlowDisabled(FlowKind::Verification))
    }
}

pub fn method(deps: &Deps) -> &'static str {
    match deps.config.selfservice.flows.verification.use_ {
        FlowStrategy::Code => "code",
        FlowStrategy::Link => "link",
    }
}

fn group(m: &str) -> Group {
    if m == "link" {
        Group::Link
    } else {
        Group::Code
    }
}

fn build(deps: &Deps, flow_type: FlowType, request_url: String, masked: String) -> Flow {
    let cfg = &deps.config.selfservice.flows.verification;
    let id = Uuid::new_v4();
    let m = method(deps);
    let mut ui = UiContainer::new(common::action_url(deps, FlowKind::Verification, id), "POST");
    ui.append(csrf_node(&masked));
    ui.append(email_node(group(m), None));
    ui.append(submit_node(group(m), m, text::label_submit()));
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
    flow_type: FlowType,
    req: &FlowRequest,
) -> Result<Started, FlowError> {
    enabled(deps)?;
    let return_to = common::requested_return_to(deps, req, FlowKind::Verification)?;
    let (masked, csrf_cookie) = csrf_for(req, flow_type);
    let mut flow = build(deps, flow_type, req.request_url.clone(), masked);
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
    // Flows started by the registration hook are opened from an email, in any browser.
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

async fn replace_with(deps: &Deps, old: &Flow, message: text::UiText) -> FlowError {
    let mut fresh = build(
        deps,
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

async fn replace_expired(deps: &Deps, old: &Flow) -> FlowError {
    let ago = (chrono::Utc::now() - old.expires_at).num_milliseconds() as f64 / 60_000.0;
    let msg = text::verification_flow_expired(
        &old.expires_at.to_rfc3339(),
        old.expires_at.timestamp(),
        ago,
    );
    match replace_with(deps, old, msg).await {
        FlowError::Replaced(fresh) => FlowError::Expired {
            expired_at: old.expires_at,
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
    id: Uuid,
    sub: Submission,
    req: &FlowRequest,
) -> Result<Updated, FlowError> {
    enabled(deps)?;
    let mut flow = common::load(deps, id, FlowKind::Verification).await?;
    if flow.is_expired() {
        return Err(replace_expired(deps, &flow).await);
    }
    if flow.state == FlowState::PassedChallenge {
        return Err(replace_with(deps, &flow, text::verification_retry_success()).await);
    }
    // Flows started by the registration hook are continued from an email: no CSRF binding.
    if !flow.csrf_token.is_empty() || flow.flow_type == FlowType::Api {
        common::check_submit(&flow, req, &sub)?;
    }
    let m = method(deps);
    if m == "code"
        && let Some(code) = submitted_code(&sub)
    {
        return use_code(deps, flow, &code, req).await.map(|flow| Updated {
            flow,
            csrf_cookie: None,
        });
    }
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
        flow.ui.upsert(email_node(group(m), None));
        flow.ui
            .add_node_message("email", text::validation_required("email"));
        return Err(common::reject(deps, flow).await);
    };
    let value = normalize_email(&email);
    let found = tq::verifiable_address(&deps.store, "email", &value).await?;
    let mut mails = Vec::new();
    let mut tokens = Vec::new();
    let mut sent_address = None;
    match found {
        Some((address_id, identity_id, stored)) => {
            let (row, mail) = challenge(
                deps,
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
                let template = if m == "link" {
                    Template::VerificationInvalid
                } else {
                    Template::VerificationCodeInvalid
                };
                mails.push(Mail::email(
                    template,
                    value.clone(),
                    json!({"To": value, "RequestURL": flow.request_url}),
                ));
            }
        }
    }
    flow.state = FlowState::SentEmail;
    flow.active = Some(m.into());
    flow.updated_at = now();
    set_sent_ui(&mut flow, m, &email);
    // A resend replaces the earlier code, known address or not.
    let kind = if m == "link" { KIND_LINK } else { KIND_CODE };
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

fn set_sent_ui(flow: &mut Flow, m: &str, email: &str) {
    if m == "link" {
        flow.ui.reset_messages();
        flow.ui.upsert(email_node(Group::Link, Some(email)));
        flow.ui.add_message(text::verification_email_sent());
    } else {
        let action = flow.ui.action.clone();
        flow.ui = code_sent_ui(action, &flow.csrf_token, email, None);
        // Verification's code input is a text field in Kratos (recovery's is a number).
        if let Some(n) = flow.ui.find_mut("code")
            && let Some(a) = n.input_attributes_mut()
        {
            a.kind = crate::selfservice::ui::InputType::Text;
        }
        flow.ui
            .add_message(text::verification_email_with_code_sent());
    }
}

/// A new code or link for one address of the flow, and the mail carrying it.
async fn challenge(
    deps: &Deps,
    flow: &Flow,
    address_id: Uuid,
    identity_id: Uuid,
    address: &str,
    channel: Channel,
) -> (TokenRow, Mail) {
    let m = method(deps);
    let link = m == "link";
    let lifespan = if link {
        deps.config.selfservice.methods.link.config.lifespan.get()
    } else {
        deps.config.selfservice.methods.code.config.lifespan.get()
    };
    let ts = now();
    let secret = if link {
        otp::new_link_token()
    } else {
        otp::new_code()
    };
    let row = TokenRow {
        id: DbId(Uuid::new_v4()),
        nid: DbId(deps.store.nid()),
        kind: if link { KIND_LINK } else { KIND_CODE }.into(),
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
    let base = format!(
        "{}/self-service/verification?flow={}",
        link_base(deps),
        flow.id
    );
    let mail = if link {
        Mail {
            template: Template::VerificationValid,
            channel,
            to: address.to_owned(),
            data: json!({"To": address, "VerificationURL": format!("{base}&token={secret}"), "Identity": identity,
                         "ExpiresInMinutes": minutes, "RequestURL": flow.request_url}),
        }
    } else {
        Mail {
            template: Template::VerificationCodeValid,
            channel,
            to: address.to_owned(),
            data: json!({"To": address, "VerificationCode": secret, "VerificationURL": format!("{base}&code={secret}"),
                         "Identity": identity, "ExpiresInMinutes": minutes, "RequestURL": flow.request_url}),
        }
    };
    (row, mail)
}

fn link_base(deps: &Deps) -> String {
    deps.config
        .selfservice
        .methods
        .link
        .config
        .base_url
        .clone()
        .filter(|b| !b.is_empty())
        .unwrap_or_else(|| deps.public_base().to_owned())
        .trim_end_matches('/')
        .to_owned()
}

async fn use_code(
    deps: &Deps,
    mut flow: Flow,
    code: &str,
    req: &FlowRequest,
) -> Result<Flow, FlowError> {
    let max = deps.config.selfservice.methods.code.config.max_submissions as i32;
    let outcome = tq::use_code(
        &deps.store,
        flow.id,
        KIND_CODE,
        &otp::candidate_hashes(deps, code),
        max,
        now().naive_utc(),
    )
    .await?;
    match outcome {
        UseOutcome::TooOften => Err(replace_with(
            deps,
            &flow,
            text::validation_generic(
                "The request was submitted too often. Please request another code.",
            ),
        )
        .await),
        UseOutcome::NotFound => {
            flow.ui.reset_messages();
            flow.ui.add_message(text::verification_code_invalid());
            save(
                deps,
                &flow,
                &[FlowState::ChooseMethod, FlowState::SentEmail],
            )
            .await?;
            Ok(flow)
        }
        UseOutcome::Used(row) if row.expires_at.and_utc() <= chrono::Utc::now() => {
            Err(replace_expired(deps, &flow).await)
        }
        UseOutcome::Used(row) => complete(deps, flow, &row, req).await,
    }
}

/// Marks the address verified and shows the success screen with a "continue" link.
async fn complete(
    deps: &Deps,
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
    let return_to = return_url(deps, &flow);
    let mut ui = UiContainer::new(return_to.clone(), "GET");
    ui.append(UiNode {
        group: Group::Code,
        attributes: Attributes::Anchor(AnchorAttributes {
            href: return_to,
            title: text::label_continue(),
            id: "continue".into(),
        }),
        messages: Vec::new(),
        meta: Meta {
            label: Some(text::label_continue()),
        },
    });
    ui.add_message(text::verification_successful());
    flow.ui = ui;
    flow.state = FlowState::PassedChallenge;
    save(
        deps,
        &flow,
        &[FlowState::ChooseMethod, FlowState::SentEmail],
    )
    .await?;
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

/// `GET /self-service/verification?flow=&token=` (link method) or `&code=` (code method: the
/// code is filled into the form, which the user then submits).
pub async fn open_link(deps: &Deps, id: Uuid, req: &FlowRequest) -> Result<Updated, FlowError> {
    enabled(deps)?;
    let mut flow = common::load(deps, id, FlowKind::Verification).await?;
    if flow.is_expired() {
        return Err(replace_expired(deps, &flow).await);
    }
    if flow.state == FlowState::PassedChallenge {
        return Err(replace_with(deps, &flow, text::verification_retry_success()).await);
    }
    if let Some(token) = req.query("token") {
        let row = tq::use_link(
            &deps.store,
            flow.id,
            KIND_LINK,
            &otp::candidate_hashes(deps, token),
            now().naive_utc(),
        )
        .await?;
        let Some(row) = row.filter(|r| r.expires_at.and_utc() > chrono::Utc::now()) else {
            return Err(replace_with(deps, &flow, text::verification_token_invalid()).await);
        };
        let flow = complete(deps, flow, &row, req).await?;
        return Ok(Updated {
            flow,
            csrf_cookie: None,
        });
    }
    let Some(code) = req.query("code") else {
        return Err(FlowError::BadRequest(
            "The token or code query parameter is required.".into(),
        ));
    };
    // Opened from an email, possibly in another browser: bind the flow to this browser now.
    let (masked, csrf_cookie) = csrf_for(req, FlowType::Browser);
    let action = flow.ui.action.clone();
    flow.csrf_token = masked.clone();
    flow.ui = code_sent_ui(action, &masked, "", Some(code));
    flow.ui.remove(&["email"]);
    if let Some(n) = flow.ui.find_mut("code")
        && let Some(a) = n.input_attributes_mut()
    {
        a.kind = crate::selfservice::ui::InputType::Text;
    }
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
    identity: &Identity,
    flow_type: FlowType,
    request_url: &str,
) -> Result<Vec<Value>, FlowError> {
    mail_addresses(deps, identity, flow_type, request_url, |_| true).await
}

/// Settings hook: when verification is on, mails the addresses a settings change added (they
/// are unverified and have not been mailed yet, as Kratos's verifier selects them).
pub async fn after_settings(
    deps: &Deps,
    identity: &Identity,
    flow_type: FlowType,
    request_url: &str,
) -> Result<Vec<Value>, FlowError> {
    mail_addresses(deps, identity, flow_type, request_url, |a| {
        a.status == "pending"
    })
    .await
}

/// Messages each unverified address of `identity` that `select` picks, each in its own
/// verification flow; returns the `show_verification_ui` items.
async fn mail_addresses(
    deps: &Deps,
    identity: &Identity,
    flow_type: FlowType,
    request_url: &str,
    select: impl Fn(&crate::identity::VerifiableAddress) -> bool,
) -> Result<Vec<Value>, FlowError> {
    if !deps.config.selfservice.flows.verification.enabled {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    let m = method(deps);
    for a in identity
        .verifiable_addresses
        .iter()
        .filter(|a| !a.verified && select(a))
    {
        // Links only travel by email; a phone number is verified by code (as in Kratos).
        let channel = match a.via.as_str() {
            "email" => Channel::Email,
            "sms" if m == "code" => Channel::Sms,
            _ => continue,
        };
        // No CSRF binding: the flow is continued from the email, maybe in another browser.
        let mut flow = build(deps, flow_type, request_url.to_owned(), String::new());
        common::insert(deps, &flow).await?;
        let (row, mail) = challenge(deps, &flow, a.id, identity.id, &a.value, channel).await;
        flow.state = FlowState::SentEmail;
        flow.active = Some(m.into());
        set_sent_ui(&mut flow, m, &a.value);
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

/// Login hook `require_verified_address`: at least one verified address.
pub fn has_verified_address(identity: &Identity) -> bool {
    identity.verifiable_addresses.iter().any(|a| a.verified)
}
