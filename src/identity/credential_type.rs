//! Credential types, named as Kratos names them (`identity.CredentialsType`): the keys of an
//! identity's `credentials`, the stored `credential_type` column, and the `method` of a
//! session's authentication methods. A leaf module: it imports nothing from the crate.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialType {
    Password,
    Oidc,
    Totp,
    LookupSecret,
    Webauthn,
    Code,
    Passkey,
    Profile,
    Saml,
    Deviceauthn,
    IdentifierFirst,
    /// Only a session's authentication method (the recovery link), never a stored credential.
    LinkRecovery,
    /// Only a session's authentication method (the recovery code), never a stored credential.
    CodeRecovery,
}

impl CredentialType {
    pub const ALL: [CredentialType; 13] = [
        CredentialType::Password,
        CredentialType::Oidc,
        CredentialType::Totp,
        CredentialType::LookupSecret,
        CredentialType::Webauthn,
        CredentialType::Code,
        CredentialType::Passkey,
        CredentialType::Profile,
        CredentialType::Saml,
        CredentialType::Deviceauthn,
        CredentialType::IdentifierFirst,
        CredentialType::LinkRecovery,
        CredentialType::CodeRecovery,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CredentialType::Password => "password",
            CredentialType::Oidc => "oidc",
            CredentialType::Totp => "totp",
            CredentialType::LookupSecret => "lookup_secret",
            CredentialType::Webauthn => "webauthn",
            CredentialType::Code => "code",
            CredentialType::Passkey => "passkey",
            CredentialType::Profile => "profile",
            CredentialType::Saml => "saml",
            CredentialType::Deviceauthn => "deviceauthn",
            CredentialType::IdentifierFirst => "identifier_first",
            CredentialType::LinkRecovery => "link_recovery",
            CredentialType::CodeRecovery => "code_recovery",
        }
    }

    pub fn parse(s: &str) -> Option<CredentialType> {
        CredentialType::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

impl std::fmt::Display for CredentialType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// By name, so a map keyed by type lists its entries in the order the JSON always had.
impl Ord for CredentialType {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl PartialOrd for CredentialType {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_kratos_and_serde() {
        for t in CredentialType::ALL {
            assert_eq!(CredentialType::parse(t.as_str()), Some(t));
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
        }
        assert_eq!(CredentialType::parse("Password"), None);
        assert!(CredentialType::Webauthn > CredentialType::Password);
        assert!(CredentialType::Code < CredentialType::CodeRecovery);
    }
}
