//! The password method: policy checks, and the login, registration and settings steps.

mod login;
pub mod policy;
mod registration;
mod settings;

pub use login::normalize;
pub use policy::{PasswordPolicy, PolicyConfig, PolicyViolation};

/// Signing in and up with an identifier and a password, and changing it in settings.
pub struct Password;
