//! Self-service flows: the model shared by every flow kind, its Kratos JSON shape, and the
//! errors a flow can end in. Each kind's logic lives in its own module.

pub mod common;
pub mod login;
pub mod recovery;
pub mod registration;
pub mod request;
pub mod settings;
pub mod verification;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::identity::now;
use crate::selfservice::ui::UiContainer;
use crate::session::aal::Aal;
use crate::store::StoreError;
use crate::store::flows::FlowRow;
use crate::store::id::DbId;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowKind {
    Login,
    Registration,
    Recovery,
    Verification,
    Settings,
}

impl FlowKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FlowKind::Login => "login",
            FlowKind::Registration => "registration",
            FlowKind::Recovery => "recovery",
            FlowKind::Verification => "verification",
            FlowKind::Settings => "settings",
        }
    }
    pub fn parse(s: &str) -> Option<FlowKind> {
        match s {
            "login" => Some(FlowKind::Login),
            "registration" => Some(FlowKind::Registration),
            "recovery" => Some(FlowKind::Recovery),
            "verification" => Some(FlowKind::Verification),
            "settings" => Some(FlowKind::Settings),
            _ => None,
        }
    }
}

/// `browser` flows use cookies and redirects; `api` flows are for native apps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowType {
    Browser,
    Api,
}

impl FlowType {
    pub fn as_str(self) -> &'static str {
        match self {
            FlowType::Browser => "browser",
            FlowType::Api => "api",
        }
    }

    /// The stored text; anything but `api` is a browser flow.
    pub fn parse(s: &str) -> FlowType {
        if s == "api" {
            FlowType::Api
        } else {
            FlowType::Browser
        }
    }
}

/// Where a flow stands. Stored and shown as Kratos's strings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowState {
    ChooseMethod,
    /// Recovery and verification: a code or link was sent. Login and registration by code:
    /// the code went out.
    SentEmail,
    PassedChallenge,
    /// Settings: the form is shown (again, after a rejected submission).
    ShowForm,
    /// Settings: the last submission was saved.
    Success,
    /// Recovery by address choice (`feature_flags.choose_recovery_address`): asking for any
    /// recovery address of the account …
    RecoveryAwaitingAddress,
    /// … offering the account's addresses, masked …
    RecoveryAwaitingAddressChoice,
    /// … asking for the chosen address in full …
    RecoveryAwaitingAddressConfirm,
    /// … and waiting for the code sent to it.
    RecoveryAwaitingCode,
}

impl FlowState {
    pub fn as_str(self) -> &'static str {
        match self {
            FlowState::ChooseMethod => "choose_method",
            FlowState::SentEmail => "sent_email",
            FlowState::PassedChallenge => "passed_challenge",
            FlowState::ShowForm => "show_form",
            FlowState::Success => "success",
            FlowState::RecoveryAwaitingAddress => "recovery_awaiting_address",
            FlowState::RecoveryAwaitingAddressChoice => "recovery_awaiting_address_choice",
            FlowState::RecoveryAwaitingAddressConfirm => "recovery_awaiting_address_confirm",
            FlowState::RecoveryAwaitingCode => "recovery_awaiting_code",
        }
    }

    pub fn parse(s: &str) -> Option<FlowState> {
        Some(match s {
            "choose_method" => FlowState::ChooseMethod,
            "sent_email" => FlowState::SentEmail,
            "passed_challenge" => FlowState::PassedChallenge,
            "show_form" => FlowState::ShowForm,
            "success" => FlowState::Success,
            "recovery_awaiting_address" => FlowState::RecoveryAwaitingAddress,
            "recovery_awaiting_address_choice" => FlowState::RecoveryAwaitingAddressChoice,
            "recovery_awaiting_address_confirm" => FlowState::RecoveryAwaitingAddressConfirm,
            "recovery_awaiting_code" => FlowState::RecoveryAwaitingCode,
            _ => return None,
        })
    }
}

#[derive(Clone, Debug)]
pub struct Flow {
    pub id: Uuid,
    pub kind: FlowKind,
    pub flow_type: FlowType,
    pub state: FlowState,
    pub request_url: String,
    pub return_to: Option<String>,
    pub ui: UiContainer,
    /// The masked CSRF token rendered into the form (browser flows; empty for api flows).
    pub csrf_token: String,
    pub refresh: bool,
    pub requested_aal: Aal,
    pub active: Option<String>,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Recovery: the identity being recovered, once known (stored, never shown).
    pub identity_id: Option<Uuid>,
    /// What the client should do next (answers only; not stored).
    pub continue_with: Vec<Value>,
    /// Settings: the identity's JSON as shown with the flow (loaded on read; not stored).
    pub identity: Option<Value>,
    /// What a method keeps between a submission and its return (an OpenID Connect round
    /// trip's verifier and nonce): stored, never shown.
    pub internal: Option<Value>,
}

impl Flow {
    pub fn new(
        kind: FlowKind,
        flow_type: FlowType,
        request_url: String,
        lifespan: std::time::Duration,
        ui: UiContainer,
    ) -> Flow {
        let ts = now();
        Flow {
            id: Uuid::new_v4(),
            kind,
            flow_type,
            state: FlowState::ChooseMethod,
            request_url,
            return_to: None,
            ui,
            csrf_token: String::new(),
            refresh: false,
            requested_aal: Aal::Aal1,
            active: None,
            issued_at: ts,
            // Lifespans are Go durations (at most about 292 years), so this cannot overflow.
            expires_at: ts
                + chrono::Duration::from_std(lifespan).unwrap_or(chrono::Duration::hours(1)),
            created_at: ts,
            updated_at: ts,
            identity_id: None,
            continue_with: Vec::new(),
            identity: None,
            internal: None,
        }
    }

    pub fn is_expired(&self) -> bool {
        self.expires_at <= Utc::now()
    }

    pub fn to_json(&self) -> Value {
        let mut o = json!({
            "id": self.id,
            "type": self.flow_type.as_str(),
            "expires_at": self.expires_at,
            "issued_at": self.issued_at,
            "request_url": self.request_url,
        });
        if let Some(r) = &self.return_to {
            o["return_to"] = json!(r);
        }
        if let Some(a) = &self.active {
            o["active"] = json!(a);
        }
        o["ui"] = serde_json::to_value(&self.ui).unwrap_or(Value::Null);
        if let Some(i) = &self.identity {
            o["identity"] = i.clone();
        }
        if self.kind == FlowKind::Login {
            o["created_at"] = json!(self.created_at);
            o["updated_at"] = json!(self.updated_at);
            o["refresh"] = json!(self.refresh);
            o["requested_aal"] = json!(self.requested_aal);
        }
        o["state"] = json!(self.state.as_str());
        if !self.continue_with.is_empty() {
            o["continue_with"] = Value::Array(self.continue_with.clone());
        }
        o
    }

    pub fn to_row(&self, nid: Uuid) -> FlowRow {
        FlowRow {
            id: DbId(self.id),
            nid: DbId(nid),
            kind: self.kind.as_str().into(),
            flow_type: self.flow_type.as_str().into(),
            state: self.state.as_str().into(),
            request_url: self.request_url.clone(),
            return_to: self.return_to.clone(),
            ui: serde_json::to_string(&self.ui).unwrap_or_default(),
            csrf_token: self.csrf_token.clone(),
            refresh: self.refresh,
            requested_aal: self.requested_aal.as_str().into(),
            active_method: self.active.clone(),
            identity_id: self.identity_id.map(DbId),
            internal_context: self.internal.as_ref().map(Value::to_string),
            issued_at: self.issued_at.naive_utc(),
            expires_at: self.expires_at.naive_utc(),
            created_at: self.created_at.naive_utc(),
            updated_at: self.updated_at.naive_utc(),
        }
    }

    pub fn from_row(r: FlowRow) -> Result<Flow, FlowError> {
        let kind = FlowKind::parse(&r.kind).ok_or(FlowError::NotFound)?;
        let state = FlowState::parse(&r.state)
            .ok_or_else(|| FlowError::Internal(format!("stored flow state {:?}", r.state)))?;
        let ui: UiContainer = serde_json::from_str(&r.ui)
            .map_err(|e| FlowError::Internal(format!("stored flow UI: {e}")))?;
        Ok(Flow {
            id: r.id.0,
            kind,
            flow_type: FlowType::parse(&r.flow_type),
            state,
            request_url: r.request_url,
            return_to: r.return_to,
            ui,
            csrf_token: r.csrf_token,
            refresh: r.refresh,
            requested_aal: Aal::parse(&r.requested_aal).ok_or_else(|| StoreError::BadValue {
                column: "selfservice_flows.requested_aal".into(),
                value: r.requested_aal.clone(),
            })?,
            active: r.active_method,
            issued_at: r.issued_at.and_utc(),
            expires_at: r.expires_at.and_utc(),
            created_at: r.created_at.and_utc(),
            updated_at: r.updated_at.and_utc(),
            identity_id: r.identity_id.map(Uuid::from),
            continue_with: Vec::new(),
            identity: None,
            internal: r
                .internal_context
                .as_deref()
                .and_then(|s| serde_json::from_str(s).ok()),
        })
    }
}

/// A submission that did not succeed, with the type of the flow it addressed when that flow
/// exists: an `api` flow always answers JSON, whatever the client's `Accept` says.
#[derive(Debug)]
pub struct Failed {
    pub error: FlowError,
    pub flow_type: Option<FlowType>,
}

/// How a flow request ends when it does not succeed.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    #[error("the flow could not be found")]
    NotFound,
    /// The flow expired; `replacement` is the fresh flow started in its place (on submit).
    #[error("the self-service flow expired")]
    Expired {
        expired_at: DateTime<Utc>,
        replacement: Option<Box<Flow>>,
    },
    #[error("{0}")]
    Csrf(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("a valid session was detected")]
    AlreadyLoggedIn,
    /// A login flow at aal2 without a session to step up (Kratos `session_aal1_required`).
    #[error("a session is required to request a higher assurance level")]
    Aal1Required,
    #[error("registration is not allowed")]
    RegistrationDisabled,
    /// Recovery or verification is switched off in the configuration.
    #[error("this flow is disabled")]
    FlowDisabled(FlowKind),
    /// The flow was replaced by a fresh one (too many attempts, reuse after success); the
    /// fresh flow carries the message to show.
    #[error("the flow was replaced")]
    Replaced(Box<Flow>),
    #[error(transparent)]
    ReturnTo(#[from] crate::selfservice::return_to::Forbidden),
    /// The submission was rejected; the flow carries the messages to show.
    #[error("the submission was invalid")]
    Invalid(Box<Flow>),
    /// A sign-in refused by `security.brute_force` before any method ran; the flow carries the
    /// message (browsers see the form again), API clients get 429 with `Retry-After`.
    #[error("too many failed attempts")]
    Throttled {
        flow: Box<Flow>,
        retry_after_secs: u64,
    },
    /// The flow was already completed (by this or another node).
    #[error("the flow was already completed")]
    AlreadyCompleted,
    #[error("identity disabled")]
    IdentityDisabled,
    /// Login hook `require_verified_address`: no address of the identity is verified, so a
    /// verification flow was started (Kratos's address verifier): JSON clients get the error
    /// with `continue_with`, browsers go to `url`, the verification UI.
    #[error("no verified address")]
    AddressNotVerified {
        show_verification_ui: Box<serde_json::Value>,
        url: String,
    },
    /// Settings without a valid session (Kratos `session_inactive`); browsers are sent to
    /// `login`, which returns to where they were.
    #[error("no active session")]
    SessionRequired { login: String },
    /// A settings flow of another identity (Kratos `security_identity_mismatch`).
    #[error("the flow belongs to another identity")]
    IdentityMismatch,
    /// Settings: the session is too old for this change; sign in again at the URL
    /// (Kratos `session_refresh_required`).
    #[error("a privileged session is required")]
    RefreshRequired { redirect_browser_to: String },
    /// Settings: the session's assurance level is below what the identity has available
    /// (Kratos `session_aal2_required`).
    #[error("a higher authenticator assurance level is required")]
    AalRequired { redirect_browser_to: String },
    /// A `can_interrupt` web hook refused; its messages go on the flow's UI
    /// (`common::reject_flow`). Without a flow (before hooks) it is a 400 listing them.
    #[error("a web hook interrupted the flow")]
    HookInterrupted(Vec<crate::selfservice::hooks::outcome::HookMessage>),
    /// A hook failed (receiver down, slow, answering an error; a broken body template).
    #[error("hook {} failed: {}", .0.hook, .0.message)]
    Hook(Box<crate::selfservice::hooks::outcome::HookFailure>),
    /// The browser must go to this URL to go on (a method's round trip to an identity
    /// provider): browsers are redirected, JSON clients get 422
    /// `browser_location_change_required` with `redirect_browser_to`.
    #[error("the browser must go to another location")]
    BrowserLocationChange(String),
    /// A method found the submission belongs to a flow of another kind (an OpenID Connect
    /// sign-in of a subject nobody registered yet goes on as a registration, and back): a
    /// fresh flow of `kind` continues it with `carried` (what the method already proved).
    #[error("the flow continues as a {kind:?} flow")]
    Handoff {
        kind: FlowKind,
        /// The type of both flows (an app's native flow continues as a native one).
        flow_type: FlowType,
        method: &'static str,
        carried: Box<Value>,
        /// The first flow's `return_to`, which the fresh one keeps.
        return_to: Option<String>,
    },
    #[error(transparent)]
    Store(StoreError),
    /// The work this submission needs cannot be taken on now (the password hashing lane for
    /// expensive imported hashes is full); nothing was decided, the same submission may
    /// succeed in a few seconds.
    #[error("too busy to handle the submission now; try again later")]
    TryAgainLater,
    /// `security.rate_limits` refused: nothing was started or sent. A browser's form
    /// submission gets the form again with a message instead (`common::failed`).
    #[error(transparent)]
    RateLimited(crate::security::rate_limit::Limited),
    /// Something the flow needs is not available yet (an identity schema still loading).
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

impl From<crate::identity::schema::SchemaError> for FlowError {
    fn from(e: crate::identity::schema::SchemaError) -> Self {
        match e {
            crate::identity::schema::SchemaError::NotLoaded { .. } => {
                FlowError::Unavailable(e.to_string())
            }
            other => FlowError::Internal(other.to_string()),
        }
    }
}

impl From<StoreError> for FlowError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => FlowError::NotFound,
            other => FlowError::Store(other),
        }
    }
}
