//! Where hooks are configured: every hook list of the configuration with its path, and the
//! start-up check of web hook settings. Reads only the configuration, so the web hook client can
//! load its bodies from here without reaching the hooks engine.

use crate::config::{Config, Hook, WebHookConfig};

/// Every hook list of the configuration with its path, for start-up checks and for finding the
/// hook a stored delivery belongs to.
pub fn all_lists(cfg: &Config) -> Vec<(String, &[Hook])> {
    let f = &cfg.selfservice.flows;
    let p = "selfservice.flows";
    let mut out: Vec<(String, &[Hook])> = vec![
        (format!("{p}.login.before.hooks"), &f.login.before.hooks),
        (format!("{p}.login.after.hooks"), &f.login.after.hooks),
        (
            format!("{p}.login.after.password.hooks"),
            &f.login.after.password.hooks,
        ),
        (
            format!("{p}.login.after.code.hooks"),
            &f.login.after.code.hooks,
        ),
        (
            format!("{p}.registration.before.hooks"),
            &f.registration.before.hooks,
        ),
        (
            format!("{p}.registration.after.hooks"),
            &f.registration.after.hooks,
        ),
        (
            format!("{p}.registration.after.password.hooks"),
            &f.registration.after.password.hooks,
        ),
        (
            format!("{p}.registration.after.code.hooks"),
            &f.registration.after.code.hooks,
        ),
        (
            format!("{p}.recovery.before.hooks"),
            &f.recovery.before.hooks,
        ),
        (format!("{p}.recovery.after.hooks"), &f.recovery.after.hooks),
        (
            format!("{p}.verification.before.hooks"),
            &f.verification.before.hooks,
        ),
        (
            format!("{p}.verification.after.hooks"),
            &f.verification.after.hooks,
        ),
        (
            format!("{p}.settings.before.hooks"),
            &f.settings.before.hooks,
        ),
        (format!("{p}.settings.after.hooks"), &f.settings.after.hooks),
        (
            format!("{p}.settings.after.password.hooks"),
            &f.settings.after.password.hooks,
        ),
        (
            format!("{p}.settings.after.profile.hooks"),
            &f.settings.after.profile.hooks,
        ),
        (
            format!("{p}.settings.after.totp.hooks"),
            &f.settings.after.totp.hooks,
        ),
        (
            format!("{p}.settings.after.oidc.hooks"),
            &f.settings.after.oidc.hooks,
        ),
        (
            format!("{p}.settings.after.webauthn.hooks"),
            &f.settings.after.webauthn.hooks,
        ),
        (
            format!("{p}.settings.after.passkey.hooks"),
            &f.settings.after.passkey.hooks,
        ),
        (
            format!("{p}.settings.after.lookup_secret.hooks"),
            &f.settings.after.lookup_secret.hooks,
        ),
    ];
    out.retain(|(_, h)| !h.is_empty());
    out
}

/// Web hooks that may stop or rewrite an identity before it is saved.
pub(super) fn interrupts_or_parses(c: &WebHookConfig) -> bool {
    c.can_interrupt || c.response.parse
}

/// Configuration problems of hooks, checked at start-up: web hook bodies from files or base64
/// must load and parse, and contradictory response settings are refused. Each names the hook.
pub fn check_config(cfg: &Config) -> Vec<String> {
    let mut out = Vec::new();
    for (list, hooks) in all_lists(cfg) {
        for (i, h) in hooks.iter().enumerate() {
            if let Hook::WebHook { config } = h
                && config.response.ignore
                && interrupts_or_parses(config)
            {
                out.push(format!(
                    "{list}[{i}]: a web hook cannot ignore its response (response.ignore) and also interrupt the flow or parse the response"
                ));
            }
        }
    }
    out
}
