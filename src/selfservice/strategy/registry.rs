//! The enabled strategies of each flow, in Kratos's order, built once from the configuration.

use super::{LoginStrategy, Method, RegistrationStrategy, SettingsStrategy};
use super::{code, password, profile};
use crate::config::Config;

pub struct Registry {
    login: Vec<&'static dyn LoginStrategy>,
    registration: Vec<&'static dyn RegistrationStrategy>,
    settings: Vec<&'static dyn SettingsStrategy>,
}

impl Registry {
    pub fn new(cfg: &Config) -> Registry {
        let m = &cfg.selfservice.methods;
        let mut r = Registry {
            login: Vec::new(),
            registration: Vec::new(),
            settings: Vec::new(),
        };
        if m.profile.enabled {
            r.settings.push(&profile::Profile);
        }
        if m.password.enabled {
            r.login.push(&password::Password);
            r.registration.push(&password::Password);
            r.settings.push(&password::Password);
        }
        // Code sign-in and sign-up are offered only when both switches are on.
        if m.code.enabled && m.code.passwordless_enabled {
            r.login.push(&code::Code);
            r.registration.push(&code::Code);
        }
        r
    }

    /// Login strategies in the order their nodes appear.
    pub fn login(&self) -> &[&'static dyn LoginStrategy] {
        &self.login
    }

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

    pub fn registration_method(&self, method: &str) -> Option<&'static dyn RegistrationStrategy> {
        find(&self.registration, method, |s| s.method())
    }

    pub fn settings_method(&self, method: &str) -> Option<&'static dyn SettingsStrategy> {
        find(&self.settings, method, |s| s.method())
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
