//! The one place errors become HTTP: the Kratos envelope
//! `{"error":{"id","code","status","reason","message","details"}}`.

use http::StatusCode;
use serde_json::{Value, json};

use super::respond::{Resp, json_response};
use crate::actors::CallError;
use crate::identity::service::IdentityError;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub id: Option<String>,
    pub reason: Option<String>,
    pub message: String,
    /// Boxed: a JSON map is large and errors travel through every handler's `Result`.
    pub details: Option<Box<Value>>,
}

impl ApiError {
    fn generic(status: StatusCode, id: &str, message: &str, reason: Option<String>) -> ApiError {
        ApiError {
            status,
            id: Some(id.into()),
            reason,
            message: message.into(),
            details: None,
        }
    }
    pub fn bad_request(reason: impl Into<String>) -> ApiError {
        Self::generic(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "The request was malformed or contained invalid parameters",
            Some(reason.into()),
        )
    }
    pub fn not_found(reason: impl Into<String>) -> ApiError {
        Self::generic(
            StatusCode::NOT_FOUND,
            "not_found",
            "The requested resource could not be found",
            Some(reason.into()),
        )
    }
    pub fn conflict(reason: impl Into<String>) -> ApiError {
        Self::generic(
            StatusCode::CONFLICT,
            "conflict",
            "The resource could not be created due to a conflict",
            Some(reason.into()),
        )
    }
    pub fn method_not_allowed(reason: impl Into<String>) -> ApiError {
        Self::generic(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "The request method is not supported for this resource",
            Some(reason.into()),
        )
    }
    pub fn payload_too_large(limit: usize) -> ApiError {
        Self::generic(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "The request body is too large",
            Some(format!(
                "The request body exceeds the limit of {limit} bytes."
            )),
        )
    }
    pub fn request_timeout(reason: impl Into<String>) -> ApiError {
        Self::generic(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            "The request took too long to arrive",
            Some(reason.into()),
        )
    }
    pub fn uri_too_long(reason: impl Into<String>) -> ApiError {
        Self::generic(
            StatusCode::URI_TOO_LONG,
            "uri_too_long",
            "The request URI is too long",
            Some(reason.into()),
        )
    }
    pub fn header_fields_too_large(reason: impl Into<String>) -> ApiError {
        Self::generic(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "request_header_fields_too_large",
            "The request headers are too large",
            Some(reason.into()),
        )
    }
    pub fn unsupported_media_type(reason: impl Into<String>) -> ApiError {
        Self::generic(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "The media type of the requested resource is not supported",
            Some(reason.into()),
        )
    }
    pub fn unavailable(reason: impl Into<String>) -> ApiError {
        Self::generic(
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
            "The service is temporarily unavailable",
            Some(reason.into()),
        )
    }
    pub fn internal() -> ApiError {
        Self::generic(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_server_error",
            "An internal server error occurred, please contact the system administrator",
            None,
        )
    }

    pub fn with_details(mut self, details: Value) -> ApiError {
        self.details = Some(Box::new(details));
        self
    }

    pub fn body(&self) -> Value {
        let mut e = serde_json::Map::new();
        if let Some(id) = &self.id {
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
        json_response(self.status, &self.body())
    }
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

impl From<IdentityError> for ApiError {
    fn from(e: IdentityError) -> Self {
        match e {
            IdentityError::NotFound => ApiError::not_found("Unable to locate the resource"),
            IdentityError::BadRequest(r) => ApiError::bad_request(r),
            IdentityError::Conflict => ApiError::conflict(IdentityError::Conflict.to_string()),
            IdentityError::Validation(msgs) => {
                let reason = msgs
                    .iter()
                    .map(|m| format!("{}: {}", m.instance_ptr, m.message.text))
                    .collect::<Vec<_>>()
                    .join("; ");
                let messages: Vec<Value> = msgs
                    .iter()
                    .map(|m| json!({"instance_ptr": m.instance_ptr, "messages": [m.message]}))
                    .collect();
                ApiError::bad_request(format!(
                    "The traits do not match the identity schema: {reason}"
                ))
                .with_details(json!({ "messages": messages }))
            }
            IdentityError::Store(e) => {
                tracing::error!(error = %e, "database error");
                ApiError::unavailable("The database could not complete the request; try again.")
            }
            IdentityError::Internal(e) => {
                tracing::error!(error = %e, "internal error");
                ApiError::internal()
            }
        }
    }
}
