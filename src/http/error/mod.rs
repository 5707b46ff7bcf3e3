//! The one place errors become HTTP: the Kratos envelope
//! `{"error":{"id","code","status","reason","message","details"}}`.
//!
//! Every envelope Gatehouse sends is built by a constructor of [`ApiError`], and every domain
//! error becomes one here: by `From` in the submodule named after its domain (`identity`,
//! `session`, `courier`, `store`), and for flows by [`flow::flow_error`], which also gives the
//! top-level fields Kratos sends beside the envelope. Handlers never spell an envelope out.

mod api_keys;
mod courier;
pub mod flow;
mod identity;
mod session;
mod store;
mod tenant;
pub use tenant::tenant_store_error;

use http::StatusCode;
use serde_json::{Value, json};

use super::respond::{Resp, json_response};
use crate::actors::CallError;

pub use session::{NO_SESSION_COOKIE, NO_SESSION_CREDENTIALS};

/// herodot's message of a 400, kept by Kratos's 400s that carry their own id.
const BAD_REQUEST: &str = "The request was malformed or contained invalid parameters";
/// herodot's message of a 403, kept by Kratos's 403s that carry their own id.
const FORBIDDEN: &str = "The requested action was forbidden";

#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    id: Option<&'static str>,
    reason: Option<String>,
    message: String,
    /// Boxed: a JSON map is large and errors travel through every handler's `Result`.
    details: Option<Box<Value>>,
    /// Seconds for a `Retry-After` header (a 429).
    retry_after: Option<u64>,
}

impl ApiError {
    /// The one constructor; the named ones below fix each envelope's id, status and message.
    fn new(
        status: StatusCode,
        id: Option<&'static str>,
        message: impl Into<String>,
        reason: Option<String>,
    ) -> ApiError {
        ApiError {
            status,
            id,
            reason,
            message: message.into(),
            details: None,
            retry_after: None,
        }
    }
    pub fn bad_request(reason: impl Into<String>) -> ApiError {
        Self::new(
            StatusCode::BAD_REQUEST,
            Some("bad_request"),
            BAD_REQUEST,
            Some(reason.into()),
        )
    }
    /// herodot's bare 401 (no id).
    pub fn unauthorized(reason: impl Into<String>) -> ApiError {
        Self::new(
            StatusCode::UNAUTHORIZED,
            None,
            "The request could not be authorized",
            Some(reason.into()),
        )
    }
    /// herodot's bare 403 (no id).
    pub fn forbidden(reason: impl Into<String>) -> ApiError {
        Self::new(StatusCode::FORBIDDEN, None, FORBIDDEN, Some(reason.into()))
    }
    pub fn not_found(reason: impl Into<String>) -> ApiError {
        Self::new(
            StatusCode::NOT_FOUND,
            Some("not_found"),
            "The requested resource could not be found",
            Some(reason.into()),
        )
    }
    /// herodot's 404 for a record that does not exist.
    pub fn resource_not_found() -> ApiError {
        Self::not_found("Unable to locate the resource")
    }
    pub fn conflict(reason: impl Into<String>) -> ApiError {
        Self::new(
            StatusCode::CONFLICT,
            Some("conflict"),
            "The resource could not be created due to a conflict",
            Some(reason.into()),
        )
    }
    pub fn method_not_allowed(reason: impl Into<String>) -> ApiError {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            Some("method_not_allowed"),
            "The request method is not supported for this resource",
            Some(reason.into()),
        )
    }
    pub fn payload_too_large(limit: usize) -> ApiError {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            Some("payload_too_large"),
            "The request body is too large",
            Some(format!(
                "The request body exceeds the limit of {limit} bytes."
            )),
        )
    }
    pub fn request_timeout(reason: impl Into<String>) -> ApiError {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            Some("request_timeout"),
            "The request took too long to arrive",
            Some(reason.into()),
        )
    }
    pub fn uri_too_long(reason: impl Into<String>) -> ApiError {
        Self::new(
            StatusCode::URI_TOO_LONG,
            Some("uri_too_long"),
            "The request URI is too long",
            Some(reason.into()),
        )
    }
    pub fn header_fields_too_large(reason: impl Into<String>) -> ApiError {
        Self::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Some("request_header_fields_too_large"),
            "The request headers are too large",
            Some(reason.into()),
        )
    }
    pub fn unsupported_media_type(reason: impl Into<String>) -> ApiError {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Some("unsupported_media_type"),
            "The media type of the requested resource is not supported",
            Some(reason.into()),
        )
    }
    pub fn unavailable(reason: impl Into<String>) -> ApiError {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            Some("service_unavailable"),
            "The service is temporarily unavailable",
            Some(reason.into()),
        )
    }
    /// A failed database call (already logged by the caller): clients may retry.
    pub fn database_unavailable() -> ApiError {
        Self::unavailable("The database could not complete the request; try again.")
    }
    /// `security.rate_limits` refused (no Kratos id exists for it); `Retry-After` says when
    /// to come back.
    pub fn too_many_requests(reason: impl Into<String>, retry_after_secs: u64) -> ApiError {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            Some("too_many_requests"),
            "Too many requests; try again later",
            Some(reason.into()),
        );
        e.retry_after = Some(retry_after_secs);
        e
    }
    /// A sign-in refused by `security.brute_force` (Gatehouse's; Kratos does not throttle).
    pub fn too_many_attempts(retry_after_secs: u64) -> ApiError {
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            Some("too_many_attempts"),
            "Too many failed attempts",
            Some(format!(
                "Too many failed attempts. Please try again in {retry_after_secs} seconds."
            )),
        )
        .with_details(json!({ "retry_after": retry_after_secs }));
        e.retry_after = Some(retry_after_secs);
        e
    }
    pub fn internal() -> ApiError {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            Some("internal_server_error"),
            "An internal server error occurred, please contact the system administrator",
            None,
        )
    }

    pub fn with_details(mut self, details: Value) -> ApiError {
        self.details = Some(Box::new(details));
        self
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn body(&self) -> Value {
        let mut e = serde_json::Map::new();
        if let Some(id) = self.id {
            e.insert("id".into(), json!(id));
        }
        e.insert("code".into(), json!(self.status.as_u16()));
        e.insert(
            "status".into(),
            json!(self.status.canonical_reason().unwrap_or("Error")),
        );
        if let Some(r) = &self.reason {
            e.insert("reason".into(), json!(r));
        }
        if let Some(d) = &self.details {
            e.insert("details".into(), d.as_ref().clone());
        }
        e.insert("message".into(), json!(self.message));
        json!({ "error": Value::Object(e) })
    }

    pub fn into_response(self) -> Resp {
        let retry_after = self.retry_after;
        with_retry_after(json_response(self.status, &self.body()), retry_after)
    }

    /// The envelope with top-level fields beside `error` (`use_flow_id`, `redirect_browser_to`,
    /// …), as Kratos sends flow errors.
    pub fn into_response_with(self, extra: Option<Value>) -> Resp {
        let mut body = self.body();
        if let (Some(Value::Object(x)), Value::Object(b)) = (extra, &mut body) {
            b.extend(x);
        }
        with_retry_after(json_response(self.status, &body), self.retry_after)
    }
}

fn with_retry_after(mut r: Resp, secs: Option<u64>) -> Resp {
    if let Some(s) = secs {
        r.headers_mut()
            .insert(http::header::RETRY_AFTER, http::HeaderValue::from(s));
    }
    r
}

impl From<CallError> for ApiError {
    fn from(e: CallError) -> Self {
        match e {
            CallError::Timeout => {
                ApiError::unavailable("The request timed out inside the server; try again.")
            }
            CallError::Unavailable => {
                ApiError::unavailable("The worker handling this request failed; try again.")
            }
        }
    }
}
