//! Refused admin API keys. Kratos's admin API has no keys, so no Kratos id exists for these:
//! herodot's 401 and 403 envelopes, with the ids `unauthorized` and `forbidden` so clients can
//! tell them apart from the admin API's other answers.

use http::StatusCode;

use super::{ApiError, FORBIDDEN};
use crate::security::api_keys::KeyError;

impl From<&KeyError> for ApiError {
    fn from(e: &KeyError) -> Self {
        match e {
            KeyError::Store(e) => ApiError::from(e),
            KeyError::ReadOnly { .. } => ApiError::new(
                StatusCode::FORBIDDEN,
                Some("forbidden"),
                FORBIDDEN,
                Some("This API key is read-only: it may only read (GET and HEAD).".into()),
            ),
            KeyError::Missing => unauthorized(
                "The admin API needs an API key: send Authorization: Bearer <key> (gatehouse admin-keys create).",
            ),
            KeyError::Malformed | KeyError::Unknown { .. } | KeyError::Revoked { .. } => {
                // One answer for every key that does not work: which keys exist is not said.
                unauthorized("The API key is not valid.")
            }
        }
    }
}

fn unauthorized(reason: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        Some("unauthorized"),
        "The request could not be authorized",
        Some(reason.into()),
    )
}
