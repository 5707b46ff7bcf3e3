//! What Kratos's configuration schema decides beyond key names and value types: which unknown
//! keys it lets through (reported here as unsupported), which hooks each list takes, and the
//! cross-field rules (`anyOf`, `not`, `if`/`then`) that serde's types cannot express.

use serde_json::Value;

use super::env::{resolve, schema};
use super::{
    CipherAlgorithm, Config, ConfigError, Hook, SUPPORTED_PREFIXES, WebHookConfig, is_supported,
};

/// Key paths of `merged` to report as unsupported: the shallowest keys outside
/// [`SUPPORTED_PREFIXES`], and every key the types do not declare in an object Kratos leaves
/// open (in a closed object an unknown key is a deserialization error instead).
pub(super) fn unsupported_keys(merged: &Value) -> Vec<String> {
    let root = schema();
    let mut out = Vec::new();
    walk(merged, root, root, "", &mut out);
    out.sort();
    out.dedup();
    out
}

fn walk(value: &Value, node: &Value, root: &Value, path: &str, out: &mut Vec<String>) {
    let node = variant(resolve(node, root), value, root);
    match value {
        Value::Object(map) => {
            let props = node.get("properties").and_then(Value::as_object);
            let extra = node.get("additionalProperties");
            for (key, child) in map {
                let child_path = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                let child_schema = match (props.and_then(|p| p.get(key)), extra) {
                    (Some(s), _) => s,
                    // A map (`headers`, tokenizer templates): its keys are data, not settings.
                    (None, Some(s @ Value::Object(_))) if props.is_none() => s,
                    // Free-form values, and closed objects (serde names the key itself).
                    (None, _) if props.is_none() => continue,
                    (None, Some(Value::Bool(false))) => continue,
                    (None, _) => {
                        out.push(child_path);
                        continue;
                    }
                };
                if is_supported(&child_path) || leads_to_supported(&child_path) {
                    walk(child, child_schema, root, &child_path, out);
                } else {
                    out.push(child_path);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item) = node.get("items") {
                for (i, v) in items.iter().enumerate() {
                    walk(v, item, root, &format!("{path}[{i}]"), out);
                }
            }
        }
        _ => {}
    }
}

fn leads_to_supported(path: &str) -> bool {
    SUPPORTED_PREFIXES.iter().any(|p| {
        p.strip_prefix(path)
            .is_some_and(|rest| rest.starts_with('.'))
    })
}

/// For a tagged enum (`hook: …`, `type: …`), the alternative whose constant tags `value` carries.
fn variant<'a>(node: &'a Value, value: &Value, root: &'a Value) -> &'a Value {
    let Some(alternatives) = node
        .get("oneOf")
        .or_else(|| node.get("anyOf"))
        .and_then(Value::as_array)
    else {
        return node;
    };
    alternatives
        .iter()
        .map(|alt| resolve(alt, root))
        .find(|alt| {
            alt.get("properties")
                .and_then(Value::as_object)
                .is_some_and(|props| {
                    let mut tags = props
                        .iter()
                        .filter_map(|(k, s)| s.get("const").map(|c| (k, c)))
                        .peekable();
                    tags.peek().is_some() && tags.all(|(k, c)| value.get(k.as_str()) == Some(c))
                })
        })
        .unwrap_or(node)
}

const WEB_B2B: &[&str] = &["web_hook", "b2b_sso", "organization"];
const REVOKE: &[&str] = &["web_hook", "revoke_active_sessions"];
const SETTINGS_PROFILE: &[&str] = &[
    "web_hook",
    "show_verification_ui",
    "b2b_sso",
    "organization",
    "verify_new_address",
    "notify_previous_addresses",
];
const LOGIN_AFTER: &[&str] = &[
    "revoke_active_sessions",
    "require_verified_address",
    "web_hook",
    "verification",
    "show_verification_ui",
    "b2b_sso",
    "organization",
];
const LOGIN_AFTER_OIDC: &[&str] = &[
    "revoke_active_sessions",
    "web_hook",
    "require_verified_address",
    "b2b_sso",
    "organization",
];
const REGISTRATION_METHOD: &[&str] = &[
    "session",
    "web_hook",
    "show_verification_ui",
    "b2b_sso",
    "organization",
];

/// Every hook list with its path and the hook names Kratos's schema lets it hold.
fn hook_lists(c: &Config) -> Vec<(String, &[Hook], &'static [&'static str])> {
    let f = &c.selfservice.flows;
    let (login, reg, set) = (&f.login.after, &f.registration.after, &f.settings.after);
    let mut out: Vec<(String, &[Hook], &'static [&'static str])> = [
        ("login.before", &f.login.before.hooks, WEB_B2B),
        ("login.after", &login.hooks, LOGIN_AFTER),
        ("login.after.oidc", &login.oidc.hooks, LOGIN_AFTER_OIDC),
        ("registration.before", &f.registration.before.hooks, WEB_B2B),
        ("registration.after", &reg.hooks, WEB_B2B),
        ("settings.before", &f.settings.before.hooks, WEB_B2B),
        ("settings.after", &set.hooks, WEB_B2B),
        (
            "settings.after.profile",
            &set.profile.hooks,
            SETTINGS_PROFILE,
        ),
        ("recovery.before", &f.recovery.before.hooks, WEB_B2B),
        ("recovery.after", &f.recovery.after.hooks, REVOKE),
        ("verification.before", &f.verification.before.hooks, WEB_B2B),
        ("verification.after", &f.verification.after.hooks, WEB_B2B),
    ]
    .into_iter()
    .map(|(at, hooks, allowed)| (at.to_owned(), hooks.as_slice(), allowed))
    .collect();
    let methods = [
        (
            "login",
            LOGIN_AFTER,
            vec![
                ("password", &login.password),
                ("webauthn", &login.webauthn),
                ("passkey", &login.passkey),
                ("code", &login.code),
                ("totp", &login.totp),
                ("lookup_secret", &login.lookup_secret),
            ],
        ),
        (
            "registration",
            REGISTRATION_METHOD,
            vec![
                ("password", &reg.password),
                ("webauthn", &reg.webauthn),
                ("passkey", &reg.passkey),
                ("oidc", &reg.oidc),
                ("code", &reg.code),
            ],
        ),
        (
            "settings",
            REVOKE,
            vec![
                ("password", &set.password),
                ("totp", &set.totp),
                ("oidc", &set.oidc),
                ("webauthn", &set.webauthn),
                ("passkey", &set.passkey),
                ("lookup_secret", &set.lookup_secret),
            ],
        ),
    ];
    for (flow, allowed, afters) in methods {
        for (method, after) in afters {
            out.push((format!("{flow}.after.{method}"), &after.hooks, allowed));
        }
    }
    out.into_iter()
        .map(|(at, hooks, allowed)| (format!("selfservice.flows.{at}.hooks"), hooks, allowed))
        .collect()
}

/// What the input sets itself, as opposed to what the defaults fill in, for the rules that
/// must tell the two apart (the typed tree cannot: a default and an explicit value look alike).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Written {
    /// `ciphers.algorithm` is in a file or the environment.
    pub ciphers_algorithm: bool,
}

impl Written {
    /// Reads the merged files and environment overrides, before defaults apply.
    pub(super) fn of(merged: &Value) -> Written {
        Written {
            ciphers_algorithm: merged.pointer("/ciphers/algorithm").is_some(),
        }
    }
}

/// The rules of Kratos's schema that the types do not carry, and Gatehouse's own start-up
/// refusals.
pub(super) fn check(c: &Config, written: &Written) -> Result<(), ConfigError> {
    for (path, hooks, allowed) in hook_lists(c) {
        for (i, hook) in hooks.iter().enumerate() {
            let name = hook.name();
            if !allowed.contains(&name) {
                return Err(ConfigError::invalid(
                    format!("{path}[{i}].hook"),
                    format!("hook `{name}` is not allowed here, expected one of {allowed:?}"),
                ));
            }
            // Kratos's hook lists are `uniqueItems`.
            if let Some(first) = hooks[..i].iter().position(|h| h == hook) {
                return Err(ConfigError::invalid(
                    format!("{path}[{i}]"),
                    format!("duplicate of {path}[{first}]"),
                ));
            }
            if let Hook::WebHook { config } = hook {
                check_web_hook(&format!("{path}[{i}].config"), config)?;
            }
        }
    }

    let ranges = [
        (
            "database.cleanup.batch_size",
            c.database.cleanup.batch_size,
            1..=u32::MAX,
        ),
        (
            "selfservice.methods.code.config.max_submissions",
            c.selfservice.methods.code.config.max_submissions,
            1..=255,
        ),
    ];
    for (key, value, range) in ranges {
        if !range.contains(&value) {
            return Err(ConfigError::invalid(
                key,
                format!(
                    "must be between {} and {}, got {value}",
                    range.start(),
                    range.end()
                ),
            ));
        }
    }
    let code = &c.selfservice.methods.code;
    if code.passwordless_enabled && code.mfa_enabled {
        return Err(ConfigError::invalid(
            "selfservice.methods.code",
            "passwordless_enabled and mfa_enabled cannot both be true",
        ));
    }
    let algorithm = c.ciphers.algorithm;
    if algorithm != CipherAlgorithm::Noop && c.secrets.cipher.is_empty() {
        return Err(ConfigError::invalid(
            "secrets.cipher",
            format!(
                "required when ciphers.algorithm is {}",
                serde_json::to_value(algorithm).unwrap_or_default()
            ),
        ));
    }
    for (i, secret) in c.secrets.cipher.iter().enumerate() {
        // The length check counts characters; the key is the secret's bytes.
        if secret.len() != super::CIPHER_SECRET_LEN {
            return Err(ConfigError::invalid(
                format!("secrets.cipher[{i}]"),
                format!(
                    "cipher secret must be {} bytes: use ASCII characters only",
                    super::CIPHER_SECRET_LEN
                ),
            ));
        }
    }
    check_oidc_cipher(c, written)
}

/// Social sign-in stores the providers' tokens through the cipher. Kratos's default, `noop`,
/// would keep them readable in the database, so Gatehouse refuses it unless the operator wrote
/// it down (then says so at every load).
fn check_oidc_cipher(c: &Config, written: &Written) -> Result<(), ConfigError> {
    if !c.selfservice.methods.oidc.enabled || c.ciphers.algorithm != CipherAlgorithm::Noop {
        return Ok(());
    }
    if !written.ciphers_algorithm {
        return Err(ConfigError::invalid(
            "ciphers.algorithm",
            "selfservice.methods.oidc is enabled and would store provider tokens in clear: \
             set ciphers.algorithm to \"aes\" or \"xchacha20-poly1305\" with secrets.cipher, \
             or to \"noop\" explicitly to accept that",
        ));
    }
    tracing::warn!(
        "ciphers.algorithm is noop with selfservice.methods.oidc enabled: provider tokens are stored in clear"
    );
    Ok(())
}

fn check_web_hook(key: &str, config: &WebHookConfig) -> Result<(), ConfigError> {
    let response = &config.response;
    if response.ignore && response.parse {
        return Err(ConfigError::invalid(
            format!("{key}.response"),
            "ignore and parse cannot both be true",
        ));
    }
    if response.ignore && config.can_interrupt {
        return Err(ConfigError::invalid(
            format!("{key}.can_interrupt"),
            "cannot be true when response.ignore is true",
        ));
    }
    Ok(())
}
