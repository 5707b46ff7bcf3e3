//! Self-service flow failures. Kratos sends some of them with top-level fields beside the
//! envelope (`use_flow_id`, `redirect_browser_to`, `expired_at`); [`flow_error`] gives both.

use chrono::{DateTime, Utc};
use http::StatusCode;
use serde_json::{Value, json};

use super::{ApiError, BAD_REQUEST, FORBIDDEN};
use crate::http::App;
use crate::http::flow::urls::{browser_init_url, ui_url_for};
use crate::security::rate_limit::{Bucket, Limited};
use crate::selfservice::flow::{FlowError, FlowKind};
use crate::selfservice::hooks::{HookFailure, HookMessage};
use crate::selfservice::return_to;

impl ApiError {
    /// Kratos's `self_service_flow_return_to_forbidden`.
    pub fn return_to_forbidden(reason: String) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            Some("self_service_flow_return_to_forbidden"),
            BAD_REQUEST,
            Some(reason),
        )
    }

    /// `GET /self-service/errors?id=` with an id no stored error has.
    pub fn flow_error_not_found(raw_id: &str) -> ApiError {
        ApiError::not_found(format!("No error has the id {raw_id:?}."))
    }

    fn flow_expired(expired_ago_minutes: f64, redirect_to: String) -> ApiError {
        ApiError::new(
            StatusCode::GONE,
            Some("self_service_flow_expired"),
            "self-service flow expired",
            Some(format!(
                "The self-service flow expired {expired_ago_minutes:.2} minutes ago, initialize a new one."
            )),
        )
        .with_details(json!({ "redirect_to": redirect_to }))
    }

    fn csrf_violation(reject_reason: &str) -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
            Some("security_csrf_violation"),
            "the request was rejected to protect you from Cross-Site-Request-Forgery",
            Some("Please retry the flow and optionally clear your cookies. The request was rejected to protect you from Cross-Site-Request-Forgery (CSRF) which could cause account takeover, leaking personal information, and other serious security issues.".into()),
        )
        .with_details(json!({ "reject_reason": reject_reason }))
    }

    /// A browser app must send the browser to `url` (Kratos `NewBrowserLocationChangeRequiredError`);
    /// answered with `redirect_browser_to` beside the error.
    pub(crate) fn browser_location_change_required(url: &str) -> ApiError {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("browser_location_change_required"),
            "browser location change required",
            Some(format!(
                "In order to complete this flow please redirect the browser to: {url}"
            )),
        )
        .with_details(json!({ "redirect_browser_to": url }))
    }

    fn session_aal1_required() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            Some("session_aal1_required"),
            "The request could not be authorized",
            Some(
                "You can not requested a higher AAL (AAL2/AAL3) without an active session.".into(),
            ),
        )
    }

    fn session_already_available() -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            Some("session_already_available"),
            BAD_REQUEST,
            Some("A valid session was detected and thus login is not possible. Did you forget to set `?refresh=true`?".into()),
        )
    }

    /// `name` as the reason's sentence starts it, `kind` as the flow is called in paths.
    fn flow_disabled(name: &str, kind: &str) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            Some("self_service_flow_disabled"),
            format!("{kind} flow disabled"),
            Some(format!("{name} is not allowed because it was disabled.")),
        )
    }

    fn flow_replaced() -> ApiError {
        ApiError::new(
            StatusCode::GONE,
            Some("self_service_flow_replaced"),
            "the flow has been replaced",
            Some("The flow has been replaced by a new flow; continue with the new flow.".into()),
        )
    }

    fn address_not_verified() -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            Some("session_verified_address_required"),
            BAD_REQUEST,
            Some("Your email or phone address is not yet verified. Please verify it before signing in.".into()),
        )
    }

    fn identity_mismatch() -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
            Some("security_identity_mismatch"),
            FORBIDDEN,
            Some("The request was made for another identity and has been blocked for security reasons.".into()),
        )
    }

    fn refresh_required() -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
            Some("session_refresh_required"),
            FORBIDDEN,
            Some("The login session is too old and thus not allowed to update these fields. Please re-authenticate.".into()),
        )
    }

    pub(crate) fn aal2_required(redirect_browser_to: &str) -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
            Some("session_aal2_required"),
            "Session does not fulfill the requested Authenticator Assurance Level",
            Some("An active session was found but it does not fulfill the Authenticator Assurance Level this identity has available. Please verify yourself with a second factor.".into()),
        )
        .with_details(json!({ "redirect_browser_to": redirect_browser_to }))
    }

    fn hook_interrupted(messages: &[HookMessage]) -> ApiError {
        let grouped: Vec<Value> = messages
            .iter()
            .map(|m| json!({"instance_ptr": m.instance_ptr, "messages": [m.text]}))
            .collect();
        let reason = messages
            .iter()
            .map(|m| format!("{}: {}", m.instance_ptr, m.text.text))
            .collect::<Vec<_>>()
            .join("; ");
        ApiError::bad_request(format!("A web hook refused the request: {reason}"))
            .with_details(json!({ "messages": grouped }))
    }

    /// A failed hook answers with its own status and texts, and no id.
    fn hook_failed(f: &HookFailure) -> ApiError {
        ApiError::new(
            StatusCode::from_u16(f.status).unwrap_or(StatusCode::BAD_GATEWAY),
            None,
            f.message.clone(),
            Some(f.reason.clone()),
        )
        .with_details(json!({ "hook": f.hook }))
    }
}

impl From<Limited> for ApiError {
    fn from(l: Limited) -> Self {
        let what = match l.bucket {
            Bucket::Flows => "self-service flows were started",
            Bucket::Codes => "codes were sent",
        };
        ApiError::too_many_requests(
            format!(
                "Too many {what} from this address; try again in {} seconds.",
                l.retry_after_secs()
            ),
            l.retry_after_secs(),
        )
    }
}

impl From<return_to::Forbidden> for ApiError {
    fn from(f: return_to::Forbidden) -> Self {
        ApiError::return_to_forbidden(f.to_string())
    }
}

/// The Kratos error for each flow failure (JSON clients get it as is), and the fields Kratos
/// puts beside the envelope.
pub fn flow_error(app: &App, kind: FlowKind, e: &FlowError) -> (ApiError, Option<Value>) {
    match e {
        FlowError::NotFound => (
            ApiError::not_found(
                "The requested flow could not be found; it may have been removed or never existed.",
            ),
            None,
        ),
        FlowError::Expired {
            expired_at,
            replacement,
        } => expired(app, kind, *expired_at, replacement.as_ref().map(|f| f.id)),
        FlowError::Csrf(reason) => (ApiError::csrf_violation(reason), None),
        FlowError::BadRequest(r) => (ApiError::bad_request(r.clone()), None),
        FlowError::AlreadyLoggedIn => (ApiError::session_already_available(), None),
        FlowError::Aal1Required => (ApiError::session_aal1_required(), None),
        FlowError::RegistrationDisabled => (
            ApiError::flow_disabled("Registration", "registration"),
            None,
        ),
        FlowError::FlowDisabled(k) => {
            let name = if *k == FlowKind::Recovery {
                "Recovery"
            } else {
                "Verification"
            };
            (ApiError::flow_disabled(name, k.as_str()), None)
        }
        FlowError::Replaced(f) => (
            ApiError::flow_replaced(),
            Some(json!({ "use_flow_id": f.id })),
        ),
        FlowError::ReturnTo(f) => (ApiError::return_to_forbidden(f.to_string()), None),
        FlowError::AlreadyCompleted => (
            ApiError::bad_request("This flow was already completed; start a new one."),
            None,
        ),
        FlowError::IdentityDisabled => (
            ApiError::identity_disabled("This account has been disabled."),
            None,
        ),
        FlowError::AddressNotVerified {
            show_verification_ui,
            ..
        } => (
            ApiError::address_not_verified()
                .with_details(json!({ "continue_with": [show_verification_ui] })),
            None,
        ),
        FlowError::SessionRequired { .. } => (ApiError::session_inactive(), None),
        FlowError::IdentityMismatch => (ApiError::identity_mismatch(), None),
        FlowError::RefreshRequired {
            redirect_browser_to,
        } => (
            ApiError::refresh_required(),
            Some(json!({ "redirect_browser_to": redirect_browser_to })),
        ),
        FlowError::AalRequired {
            redirect_browser_to,
        } => (
            ApiError::aal2_required(redirect_browser_to),
            Some(json!({ "redirect_browser_to": redirect_browser_to })),
        ),
        FlowError::Invalid(_) => (ApiError::bad_request("The submission was invalid."), None),
        FlowError::Throttled {
            retry_after_secs, ..
        } => (ApiError::too_many_attempts(*retry_after_secs), None),
        FlowError::HookInterrupted(messages) => (ApiError::hook_interrupted(messages), None),
        FlowError::Hook(f) => (ApiError::hook_failed(f), None),
        FlowError::BrowserLocationChange(url) => (
            ApiError::browser_location_change_required(url),
            Some(json!({ "redirect_browser_to": url })),
        ),
        FlowError::Handoff { .. } => {
            // Only the OpenID Connect callback hands a flow over, and it continues it itself.
            tracing::error!("a flow handoff reached the error renderer");
            (ApiError::internal(), None)
        }
        FlowError::Store(e) => (ApiError::from(e), None),
        FlowError::TryAgainLater => (
            ApiError::unavailable(
                "The server is too busy to check these credentials right now. Please try again in a few seconds.",
            ),
            None,
        ),
        FlowError::Unavailable(why) => (ApiError::unavailable(why.clone()), None),
        FlowError::RateLimited(l) => (ApiError::from(*l), None),
        FlowError::Internal(e) => {
            tracing::error!(error = %e, "internal error in a flow");
            (ApiError::internal(), None)
        }
    }
}

/// An expired flow points at its replacement when one was started, else at a fresh start.
fn expired(
    app: &App,
    kind: FlowKind,
    expired_at: DateTime<Utc>,
    replacement: Option<uuid::Uuid>,
) -> (ApiError, Option<Value>) {
    let ago = Utc::now() - expired_at;
    let mut extra = json!({
        "expired_at": expired_at,
        "since": ago.num_nanoseconds().unwrap_or(i64::MAX),
    });
    let redirect_to = match replacement {
        Some(id) => {
            extra["use_flow_id"] = json!(id);
            ui_url_for(app, kind, &id.to_string())
        }
        None => browser_init_url(app, kind),
    };
    let minutes = ago.num_milliseconds() as f64 / 60_000.0;
    (ApiError::flow_expired(minutes, redirect_to), Some(extra))
}
