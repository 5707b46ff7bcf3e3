//! The enabled strategies of each flow, in Kratos's order, built once from the configuration.

use super::{LoginStrategy, Method, RegistrationStrategy, SettingsStrategy};
use super::{RecoveryStrategy, VerificationStrategy};
use super::{
    code, identifier_first, link, lookup, oidc, passkey, password, profile, totp, webauthn,
};
use crate::config::{Config, FlowStrategy, LoginStyle};
use crate::identity::Identity;
use crate::session::Aal;

pub struct Registry {
    login: Vec<&'static dyn LoginStrategy>,
    registration: Vec<&'static dyn RegistrationStrategy>,
    settings: Vec<&'static dyn SettingsStrategy>,
    recovery: &'static dyn RecoveryStrategy,
    verification: &'static dyn VerificationStrategy,
}

/// Every recovery method, in use or not: admins create codes and links whatever
/// `selfservice.flows.recovery.use` says, and a link keeps working after it changed.
static RECOVERY: [&dyn RecoveryStrategy; 2] = [&code::Code, &link::Link];
/// Every verification method, in use or not, in the order their links are looked at: a link's
/// `token` before a `code`.
static VERIFICATION: [&dyn VerificationStrategy; 2] = [&link::Link, &code::Code];

impl Registry {
    pub fn new(cfg: &Config) -> Registry {
        let m = &cfg.selfservice.methods;
        let mut r = Registry {
            login: Vec::new(),
            registration: Vec::new(),
            settings: Vec::new(),
            recovery: match cfg.selfservice.flows.recovery.use_ {
                FlowStrategy::Code => &code::Code,
                FlowStrategy::Link => &link::Link,
            },
            verification: match cfg.selfservice.flows.verification.use_ {
                FlowStrategy::Code => &code::Code,
                FlowStrategy::Link => &link::Link,
            },
        };
        if m.profile.enabled {
            r.settings.push(&profile::Profile);
        }
        if m.password.enabled {
            r.login.push(&password::Password);
            r.registration.push(&password::Password);
            r.settings.push(&password::Password);
        }
        if m.oidc.enabled {
            r.login.push(&oidc::Oidc);
            r.registration.push(&oidc::Oidc);
            r.settings.push(&oidc::Oidc);
        }
        // Kratos enables the profile method for registration by the style alone.
        if cfg.selfservice.flows.registration.two_steps() {
            r.registration.push(&profile::Profile);
        }
        // Code sign-in and sign-up are offered only when both switches are on.
        if m.code.enabled && m.code.passwordless_enabled {
            r.login.push(&code::Code);
            r.registration.push(&code::Code);
        }
        if m.code.enabled && m.code.mfa_enabled {
            r.login.push(&code::CodeMfa);
        }
        if m.totp.enabled {
            r.login.push(&totp::Totp);
            r.settings.push(&totp::Totp);
        }
        if m.passkey.enabled {
            r.login.push(&passkey::Passkey);
            r.registration.push(&passkey::Passkey);
            r.settings.push(&passkey::Passkey);
        }
        // One strategy per mode, so each has one assurance level.
        if m.webauthn.enabled && m.webauthn.config.passwordless == Some(true) {
            r.login.push(&webauthn::WebauthnPasswordless);
            r.registration.push(&webauthn::WebauthnPasswordless);
            r.settings.push(&webauthn::WebauthnPasswordless);
        } else if m.webauthn.enabled {
            r.login.push(&webauthn::Webauthn);
            r.settings.push(&webauthn::Webauthn);
        }
        if m.lookup_secret.enabled {
            r.login.push(&lookup::LookupSecret);
            r.settings.push(&lookup::LookupSecret);
        }
        if cfg.selfservice.flows.login.style == LoginStyle::IdentifierFirst {
            r.login.push(&identifier_first::IdentifierFirst);
        }
        r
    }

    /// Whether first-factor login flows ask for the identifier on a screen of its own.
    pub fn identifier_first(&self) -> bool {
        self.login
            .iter()
            .any(|s| s.method() == Method::IdentifierFirst)
    }

    /// The highest level `identity` (with credentials) can sign in at: `Aal2` when an enabled
    /// second factor is set up for it (what `required_aal: highest_available` demands).
    pub fn available_aal(&self, identity: &Identity) -> Aal {
        let second = self
            .login
            .iter()
            .any(|s| s.aal() == Aal::Aal2 && s.configured_for(identity));
        if second { Aal::Aal2 } else { Aal::Aal1 }
    }

    /// The login strategies a flow at `aal` offers `identity` (none for a first factor).
    pub fn login_at<'a>(
        &'a self,
        aal: Aal,
        identity: Option<&'a Identity>,
    ) -> impl Iterator<Item = &'static dyn LoginStrategy> + 'a {
        self.login.iter().copied().filter(move |s| {
            s.aal() == aal && (aal == Aal::Aal1 || identity.is_some_and(|i| s.configured_for(i)))
        })
    }

    /// Login strategies in the order their nodes appear.
    pub fn login(&self) -> &[&'static dyn LoginStrategy] {
        &self.login
    }

    /// Registration strategies in Kratos's order, which is also the order they are asked
    /// whether they take a submission.
    pub fn registration(&self) -> &[&'static dyn RegistrationStrategy] {
        &self.registration
    }

    pub fn settings(&self) -> &[&'static dyn SettingsStrategy] {
        &self.settings
    }

    /// The recovery method in use (`selfservice.flows.recovery.use`); whether the flow is
    /// enabled at all is the flow's check.
    pub fn recovery(&self) -> &'static dyn RecoveryStrategy {
        self.recovery
    }

    /// The verification method in use (`selfservice.flows.verification.use`).
    pub fn verification(&self) -> &'static dyn VerificationStrategy {
        self.verification
    }

    /// Every recovery method, for the links they answer.
    pub fn recovery_strategies() -> &'static [&'static dyn RecoveryStrategy] {
        &RECOVERY
    }

    /// The recovery method `method` names, in use or not (the admin API picks one).
    pub fn recovery_method(method: Method) -> Option<&'static dyn RecoveryStrategy> {
        RECOVERY.into_iter().find(|s| s.method() == method)
    }

    /// Every verification method, for the links they answer.
    pub fn verification_strategies() -> &'static [&'static dyn VerificationStrategy] {
        &VERIFICATION
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{Credential, CredentialType, State, now};
    use serde_json::{Value, json};

    fn identity(creds: Vec<(&str, Value)>) -> Identity {
        let ts = now();
        let credentials = creds
            .into_iter()
            .map(|(kind, config)| {
                let kind = CredentialType::parse(kind).unwrap();
                let c = Credential {
                    id: uuid::Uuid::new_v4(),
                    kind,
                    identifiers: vec!["a@b.c".into()],
                    config,
                    version: 0,
                    created_at: ts,
                    updated_at: ts,
                };
                (kind, c)
            })
            .collect();
        Identity {
            id: uuid::Uuid::new_v4(),
            schema_id: "default".into(),
            state: State::Active,
            state_changed_at: None,
            traits: json!({}),
            metadata_public: None,
            metadata_admin: None,
            external_id: None,
            organization_id: None,
            credentials,
            verifiable_addresses: Vec::new(),
            recovery_addresses: Vec::new(),
            created_at: ts,
            updated_at: ts,
        }
    }

    #[test]
    fn second_factors_decide_the_available_level() {
        let mut cfg = Config::default();
        let pw = ("password", json!({"hashed_password": "x"}));
        let totp = (
            "totp",
            json!({"totp_url": "otpauth://totp/x:y?secret=AAAA"}),
        );
        let with_totp = identity(vec![pw.clone(), totp]);
        // Disabled methods count for nothing.
        assert_eq!(Registry::new(&cfg).available_aal(&with_totp), Aal::Aal1);
        cfg.selfservice.methods.totp.enabled = true;
        let r = Registry::new(&cfg);
        assert_eq!(r.available_aal(&with_totp), Aal::Aal2);
        assert_eq!(r.available_aal(&identity(vec![pw.clone()])), Aal::Aal1);
        // An empty TOTP credential is not set up.
        let empty = identity(vec![pw, ("totp", json!({}))]);
        assert_eq!(r.available_aal(&empty), Aal::Aal1);
        // Second factors show only in aal2 flows, and only when set up.
        let at = |aal, i: Option<&Identity>| -> Vec<Method> {
            r.login_at(aal, i).map(|s| s.method()).collect()
        };
        assert_eq!(at(Aal::Aal1, None), vec![Method::Password]);
        assert_eq!(at(Aal::Aal2, Some(&with_totp)), vec![Method::Totp]);
        assert!(at(Aal::Aal2, Some(&empty)).is_empty());
    }
}
