//! The registration flow: start, read, submit with the password method; the `session` hook
//! signs the new identity in.

use uuid::Uuid;

use super::common::{self, csrf_for};
use super::login::Started;
use super::request::{FlowRequest, Submission};
use super::{
    Flow, FlowError, FlowKind, FlowType, STATE_CHOOSE_METHOD, STATE_PASSED_CHALLENGE,
    STATE_SENT_EMAIL,
};
use crate::config::Hook;
use crate::deps::Deps;
use crate::identity::service::CreateIdentityBody;
use crate::identity::{CredentialType, Identity, now};
use crate::selfservice::hooks::{self, HookContext, HookFlow};
use crate::selfservice::strategy::{code, password};
use crate::selfservice::ui::{Group, InputType, SortOptions, UiContainer, UiNode};
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
    flow_type: FlowType,
    req: &FlowRequest,
) -> (Flow, Option<crate::selfservice::csrf::RawToken>) {
    let cfg = &deps.config.selfservice.flows.registration;
    let id = Uuid::new_v4();
    let (masked, cookie) = csrf_for(req, flow_type);
    let mut ui = UiContainer::new(common::action_url(deps, FlowKind::Registration, id), "POST");
    password::populate_registration(deps.schemas.default_schema(), &mut ui, &masked);
    if code::passwordless(deps) {
        code::populate_registration(&mut ui);
        ui.sort_nodes(&SortOptions::registration(deps.schemas.default_schema()));
    }
    let mut flow = Flow::new(
        FlowKind::Registration,
        flow_type,
        req.request_url.clone(),
        cfg.lifespan.get(),
        ui,
    );
    flow.id = id;
    flow.csrf_token = masked;
    (flow, cookie)
}

pub async fn start(
    deps: &Deps,
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
    let (mut flow, csrf_cookie) = build(deps, flow_type, req);
    flow.return_to = return_to;
    hooks::run_before(
        deps,
        HookFlow::Registration,
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

async fn replace_expired(deps: &Deps, old: &Flow, req: &FlowRequest) -> FlowError {
    let (mut fresh, _) = build(deps, old.flow_type, req);
    fresh.return_to = old.return_to.clone();
    fresh.request_url = old.request_url.clone();
    let ago = (chrono::Utc::now() - old.expires_at).num_milliseconds() as f64 / 60_000.0;
    fresh.ui.add_message(text::registration_flow_expired(
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

pub async fn submit(
    deps: &Deps,
    id: Uuid,
    sub: Submission,
    req: &FlowRequest,
) -> Result<Registered, FlowError> {
    if !deps.config.selfservice.flows.registration.enabled {
        return Err(FlowError::RegistrationDisabled);
    }
    let mut flow = common::load(deps, id, FlowKind::Registration).await?;
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
    if common::current_session(deps, req).await.is_some() {
        return Err(FlowError::AlreadyLoggedIn);
    }
    flow.ui.reset_messages();
    let schema = deps.schemas.default_schema().clone();
    let mut body = match method.as_str() {
        "password" => {
            flow.active = Some("password".into());
            match password::register(deps, &schema, &mut flow.ui, &sub).await? {
                Some(b) => b,
                None => return Err(common::reject(deps, flow).await),
            }
        }
        "code" if code::passwordless(deps) => {
            flow.active = Some("code".into());
            match code_register(deps, &schema, &mut flow, &sub).await? {
                CodeStep::Ready(b) => *b,
                CodeStep::Sent => return Err(FlowError::Invalid(Box::new(flow))),
                CodeStep::Rejected => return Err(common::reject(deps, flow).await),
            }
        }
        _ => {
            flow.ui.add_message(text::registration_no_strategy_found());
            return Err(common::reject(deps, flow).await);
        }
    };
    // The session records the method as a credential type (the match above let only known
    // methods through).
    let used = CredentialType::parse(&method)
        .ok_or_else(|| FlowError::Internal(format!("no credential type {method:?}")))?;
    // Pre-persist hooks see the identity about to be created; `can_interrupt` stops here with
    // nothing saved, `response.parse` rewrites traits and metadata.
    let transient = common::transient_payload(&sub);
    let mut ctx = HookContext::new(&flow, req);
    ctx.transient_payload = transient.clone();
    ctx.identity = Some(pending_identity(&body));
    if let Err(e) = hooks::run_pre_persist(deps, HookFlow::Registration, &method, &mut ctx).await {
        return Err(hooks::reject_flow(deps, flow, e).await);
    }
    if let Some(i) = ctx.identity.take() {
        let field = |k: &str| i.get(k).filter(|v| !v.is_null()).cloned();
        if let Some(t) = field("traits") {
            body.traits = t;
        }
        body.metadata_public = field("metadata_public");
        body.metadata_admin = field("metadata_admin");
    }
    let identity = match password::create_identity(deps, &mut flow.ui, body).await? {
        Some(i) => i,
        None => return Err(common::reject(deps, flow).await),
    };
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
    let mut issued = None;
    // Kratos mails every new unverified address when verification is on, before other hooks.
    let continue_with =
        super::verification::after_registration(deps, &identity, flow.flow_type, &flow.request_url)
            .await?;
    let mut show_verification_ui = false;
    let mut ctx = HookContext::new(&flow, req);
    ctx.transient_payload = transient;
    ctx.identity = Some(identity.to_json(deps.public_base(), None));
    let mut after = hooks::After::new(deps, HookFlow::Registration, &method);
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

enum CodeStep {
    /// A code went out; answer with the flow.
    Sent,
    /// Refused; the reasons are in the flow's UI.
    Rejected,
    /// The code checked out: the identity to create.
    Ready(Box<CreateIdentityBody>),
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

/// The code method on registration: traits alone ask for a code to the traits' code
/// identifier; traits with the right code create the identity, without a password.
async fn code_register(
    deps: &Deps,
    schema: &crate::identity::schema::IdentitySchema,
    flow: &mut Flow,
    sub: &Submission,
) -> Result<CodeStep, FlowError> {
    let Some(traits) = password::read_traits(schema, sub, &mut flow.ui) else {
        return Ok(CodeStep::Rejected);
    };
    let Some(extracted) = password::validate_traits(schema, &mut flow.ui, &traits) else {
        return Ok(CodeStep::Rejected);
    };
    let Some((address, via)) = extracted.code_identifiers.first().cloned() else {
        flow.ui.add_message(text::validation_identifier_missing());
        return Ok(CodeStep::Rejected);
    };
    if flow.state == STATE_SENT_EMAIL
        && let Some(c) = code::submitted_code(sub)
    {
        let row = match code::check(deps, flow, code::KIND_REGISTRATION, &c).await? {
            code::Checked::TooOften => {
                flow.ui.add_message(code::too_often());
                return Ok(CodeStep::Rejected);
            }
            code::Checked::Invalid => {
                flow.ui.add_message(text::registration_code_invalid());
                return Ok(CodeStep::Rejected);
            }
            code::Checked::Valid(row) => row,
        };
        // The code proves one address; the traits must still carry it.
        let proven = row.address.as_deref().unwrap_or_default();
        if !extracted.code_identifiers.iter().any(|(a, _)| a == proven) {
            flow.ui.add_message(text::registration_code_invalid());
            return Ok(CodeStep::Rejected);
        }
        let body = CreateIdentityBody {
            schema_id: Some(schema.id.clone()),
            traits,
            state: None,
            metadata_public: None,
            metadata_admin: None,
            external_id: None,
            organization_id: None,
            verifiable_addresses: None,
            recovery_addresses: None,
            credentials: None,
        };
        return Ok(CodeStep::Ready(Box::new(body)));
    }
    flow.state = STATE_SENT_EMAIL.into();
    flow.updated_at = now();
    code::send(
        deps,
        flow,
        code::KIND_REGISTRATION,
        &address,
        code::channel_of(via),
        None,
    )
    .await?;
    code::show_code_input(
        &mut flow.ui,
        text::label_registration_code(),
        text::registration(),
    );
    flow.ui.append(
        UiNode::input("resend", Group::Code, InputType::Submit)
            .with_value("code")
            .with_label(text::label_resend_otp()),
    );
    flow.ui.add_message(text::registration_code_sent());
    super::recovery::save(deps, flow, &[STATE_CHOOSE_METHOD, STATE_SENT_EMAIL]).await?;
    Ok(CodeStep::Sent)
}
