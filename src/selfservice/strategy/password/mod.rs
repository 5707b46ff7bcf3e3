//! The password method: policy checks, and the login, registration and settings steps.

mod login;
pub mod policy;
mod registration;
mod settings;

pub use login::{identifier_of, login, normalize, populate_login, prefill_refresh};
pub use policy::{PasswordPolicy, PolicyConfig, PolicyViolation};
pub(crate) use registration::{create_identity, read_traits, validate_traits};
pub use registration::{populate_registration, register};
pub use settings::{populate_settings, settings};
