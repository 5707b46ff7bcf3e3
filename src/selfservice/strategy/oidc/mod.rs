//! Social sign-in and enterprise OpenID Connect: the `oidc` method.

pub mod provider;
