//! Tenant declarations the admin API refuses.

use super::ApiError;
use crate::store::StoreError;
use crate::tenancy::TenantError;

impl From<TenantError> for ApiError {
    fn from(e: TenantError) -> Self {
        match e {
            TenantError::Invalid(m) => {
                ApiError::bad_request(format!("The tenant is invalid: {m}."))
            }
            TenantError::Config(m) => ApiError::bad_request(format!(
                "The tenant's configuration overlay does not load: {m}."
            )),
            TenantError::Taken(m) => ApiError::conflict(format!("{m}.")),
            TenantError::Store(e) => ApiError::from(e),
        }
    }
}

/// A store error while writing a tenant: a taken id or name is the client's conflict.
pub fn tenant_store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict(_) => {
            ApiError::conflict("Another tenant already has this id or name.".to_owned())
        }
        StoreError::DefaultNetwork => ApiError::conflict(
            "The default network is not a tenant and cannot be deleted.".to_owned(),
        ),
        e => ApiError::from(e),
    }
}

impl ApiError {
    /// A public request on a host no tenant (nor the default network) answers on.
    pub fn no_tenant_on_host() -> ApiError {
        ApiError::not_found("No tenant answers on this host.".to_owned())
    }

    /// An admin request whose tenant header names no tenant.
    pub fn no_tenant_in_header() -> ApiError {
        ApiError::not_found(format!(
            "No tenant has the id or name the {} header gives.",
            crate::http::TENANT_HEADER
        ))
    }

    /// `/admin/tenants/{id}` naming no tenant.
    pub fn unknown_tenant(id: &str) -> ApiError {
        ApiError::not_found(format!("No tenant has the id or name {id:?}."))
    }

    /// A change to a tenant the configuration file declares.
    pub fn declared_in_file(name: &str) -> ApiError {
        ApiError::conflict(format!(
            "The tenant {name:?} is declared in the configuration file; change it there."
        ))
    }
}
