//! Database errors that reach a handler directly.

use super::ApiError;
use crate::store::StoreError;

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::from(&e)
    }
}

impl From<&StoreError> for ApiError {
    fn from(e: &StoreError) -> Self {
        tracing::error!(error = %e, "database error");
        match e {
            // A stored value this build cannot read will not read better on a retry.
            StoreError::BadId { .. } | StoreError::BadValue { .. } => ApiError::internal(),
            _ => ApiError::database_unavailable(),
        }
    }
}
