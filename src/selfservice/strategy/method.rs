//! The authentication methods Kratos knows, by the ids clients send as `method`.

use crate::identity::CredentialType;
use crate::selfservice::ui::Group;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    Profile,
    Password,
    Oidc,
    Code,
    Link,
    Totp,
    Passkey,
    Webauthn,
    LookupSecret,
    IdentifierFirst,
}

impl Method {
    pub const ALL: [Method; 10] = [
        Method::Profile,
        Method::Password,
        Method::Oidc,
        Method::Code,
        Method::Link,
        Method::Totp,
        Method::Passkey,
        Method::Webauthn,
        Method::LookupSecret,
        Method::IdentifierFirst,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Method::Profile => "profile",
            Method::Password => "password",
            Method::Oidc => "oidc",
            Method::Code => "code",
            Method::Link => "link",
            Method::Totp => "totp",
            Method::Passkey => "passkey",
            Method::Webauthn => "webauthn",
            Method::LookupSecret => "lookup_secret",
            Method::IdentifierFirst => "identifier_first",
        }
    }

    pub fn parse(s: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// The credential type a session records when this method signed it in. Links only
    /// recover accounts, so a link session is a recovery by link.
    pub fn credential_type(self) -> CredentialType {
        match self {
            Method::Profile => CredentialType::Profile,
            Method::Password => CredentialType::Password,
            Method::Oidc => CredentialType::Oidc,
            Method::Code => CredentialType::Code,
            Method::Link => CredentialType::LinkRecovery,
            Method::Totp => CredentialType::Totp,
            Method::Passkey => CredentialType::Passkey,
            Method::Webauthn => CredentialType::Webauthn,
            Method::LookupSecret => CredentialType::LookupSecret,
            Method::IdentifierFirst => CredentialType::IdentifierFirst,
        }
    }

    /// The UI node group the method's nodes belong to.
    pub fn group(self) -> Group {
        match self {
            Method::Profile => Group::Profile,
            Method::Password => Group::Password,
            Method::Oidc => Group::Oidc,
            Method::Code => Group::Code,
            Method::Link => Group::Link,
            Method::Totp => Group::Totp,
            Method::Passkey => Group::Passkey,
            Method::Webauthn => Group::Webauthn,
            Method::LookupSecret => Group::LookupSecret,
            Method::IdentifierFirst => Group::IdentifierFirst,
        }
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_match_groups() {
        for m in Method::ALL {
            assert_eq!(Method::parse(m.as_str()), Some(m));
            assert_eq!(m.group().as_str(), m.as_str());
        }
        assert_eq!(Method::parse("passwordless"), None);
    }
}
