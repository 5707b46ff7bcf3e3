//! Identity administration, and Kratos's `identity_disabled`.

use http::StatusCode;
use serde_json::{Value, json};

use super::{ApiError, BAD_REQUEST};
use crate::identity::service::IdentityError;

impl ApiError {
    /// Kratos's `identity_disabled` (400); login and sessions word the reason differently.
    pub fn identity_disabled(reason: &str) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            Some("identity_disabled"),
            BAD_REQUEST,
            Some(reason.into()),
        )
    }
    /// An admin action named an identity that does not exist.
    pub fn identity_not_found() -> ApiError {
        ApiError::not_found("The requested identity does not exist.")
    }
}

impl From<IdentityError> for ApiError {
    fn from(e: IdentityError) -> Self {
        match e {
            IdentityError::NotFound => ApiError::resource_not_found(),
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
            IdentityError::Store(e) => e.into(),
            IdentityError::Unavailable(why) => ApiError::unavailable(why),
            IdentityError::Internal(e) => {
                tracing::error!(error = %e, "internal error");
                ApiError::internal()
            }
        }
    }
}
