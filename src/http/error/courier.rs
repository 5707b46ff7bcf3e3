//! The courier's admin reads.

use super::ApiError;
use crate::courier::CourierError;

impl From<CourierError> for ApiError {
    fn from(e: CourierError) -> Self {
        tracing::error!(error = %e, "courier query failed");
        ApiError::database_unavailable()
    }
}
