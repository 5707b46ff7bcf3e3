//! Sessions: whoami, the caller's own sessions, session administration and logout.

use http::StatusCode;

use super::ApiError;
use crate::session::service::SessionError;

/// Whoami's reason for herodot's bare 401.
pub const NO_SESSION_CREDENTIALS: &str = "No valid session credentials found in the request.";
/// The own-sessions endpoints' reason for herodot's bare 401.
pub const NO_SESSION_COOKIE: &str = "No valid session cookie found.";

impl ApiError {
    /// Kratos's `session_inactive` (401), where a session is required.
    pub fn session_inactive() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            Some("session_inactive"),
            "request does not have a valid authentication session",
            Some("No active session was found in this request.".into()),
        )
    }

    /// Where the caller asks about their own session (whoami, own sessions), Kratos answers a
    /// missing one with herodot's bare 401 and `reason` rather than `session_inactive`.
    pub fn from_caller_session(e: SessionError, reason: &'static str) -> ApiError {
        match e {
            SessionError::NoActiveSession => ApiError::unauthorized(reason),
            e => e.into(),
        }
    }

    /// `DELETE /sessions/{id}` naming the caller's own session.
    pub fn cannot_revoke_current_session() -> ApiError {
        let mut e = ApiError::bad_request("cannot revoke current session");
        e.message = "cannot revoke current session".into();
        e
    }

    /// Completing a browser logout with a token that is not the session's.
    pub fn logout_token_mismatch() -> ApiError {
        ApiError::forbidden(
            "Unable to log out because the logout token in the URL query does not match the session cookie.",
        )
    }

    /// API logout: an unknown session token is 403 (not 404), as Kratos.
    pub fn from_logout_api(e: SessionError) -> ApiError {
        match e {
            SessionError::NotFound => ApiError::forbidden(
                "The provided Ory Session Token could not be found, is invalid, or otherwise malformed.",
            ),
            e => e.into(),
        }
    }
}

impl From<SessionError> for ApiError {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::NoActiveSession => ApiError::session_inactive(),
            SessionError::NotFound => ApiError::resource_not_found(),
            SessionError::IdentityDisabled => {
                ApiError::identity_disabled("The identity is disabled and cannot sign in.")
            }
            SessionError::BadRequest(r) => ApiError::bad_request(r),
            SessionError::Store(e) => e.into(),
        }
    }
}
