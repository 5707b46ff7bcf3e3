//! The enabled strategies of each flow, in Kratos's order, built once from the configuration.

use super::{LoginStrategy, Method, RegistrationStrategy, SettingsStrategy};
use super::{RecoveryStrategy, VerificationStrategy};
use super::{code, link, lookup, password, profile};
use crate::config::{Config, FlowStrategy};

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
        // Kratos enables the profile method for registration by the style alone.
        if cfg.selfservice.flows.registration.two_steps() {
            r.registration.push(&profile::Profile);
        }
        // Code sign-in and sign-up are offered only when both switches are on.
        if m.code.enabled && m.code.passwordless_enabled {
            r.login.push(&code::Code);
            r.registration.push(&code::Code);
        }
        if m.lookup_secret.enabled {
            r.settings.push(&lookup::LookupSecret);
        }
        r
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

    /// The enabled login strategy a submission's `method` names.
    pub fn login_method(&self, method: &str) -> Option<&'static dyn LoginStrategy> {
        find(&self.login, method, |s| s.method())
    }

    pub fn settings_method(&self, method: &str) -> Option<&'static dyn SettingsStrategy> {
        find(&self.settings, method, |s| s.method())
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

fn find<S: ?Sized>(
    list: &[&'static S],
    method: &str,
    id: impl Fn(&S) -> Method,
) -> Option<&'static S> {
    let m = Method::parse(method)?;
    list.iter().copied().find(|s| id(s) == m)
}
