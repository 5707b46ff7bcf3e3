//! UI messages (`uiText` on the wire).
//!
//! Ids and context keys follow Kratos exactly because clients translate by id and
//! interpolate from `context`; the English `text` is our own wording.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// Message ids (Kratos `text/id.go`). Only the ones Gatehouse emits are listed.
pub mod ids {
    // Info: login (101xxxx).
    pub const INFO_LOGIN: u64 = 1010001;
    pub const INFO_LOGIN_WITH: u64 = 1010002;
    pub const INFO_LOGIN_LINK: u64 = 1010016;
    pub const VALIDATION_LOGIN_LINKED_CREDENTIALS_DO_NOT_MATCH: u64 = 4010009;
    pub const INFO_LOGIN_RE_AUTH: u64 = 1010003;
    pub const INFO_LOGIN_MFA: u64 = 1010004;
    pub const INFO_LOGIN_PASSWORD: u64 = 1010022;
    pub const INFO_LOGIN_LOOKUP_LABEL: u64 = 1010007;
    pub const INFO_LOGIN_LOOKUP: u64 = 1010010;
    // Info: registration (104xxxx).
    pub const INFO_REGISTRATION: u64 = 1040001;
    pub const INFO_REGISTRATION_WITH: u64 = 1040002;
    pub const INFO_REGISTRATION_CONTINUE: u64 = 1040003;
    pub const INFO_REGISTRATION_REGISTER_WEBAUTHN: u64 = 1040004;
    pub const INFO_REGISTRATION_BACK: u64 = 1040008;
    pub const INFO_REGISTRATION_CHOOSE_CREDENTIALS: u64 = 1040009;
    // Info: node labels (107xxxx).
    pub const INFO_NODE_LABEL_PASSWORD: u64 = 1070001;
    pub const INFO_NODE_LABEL_GENERATED: u64 = 1070002;
    pub const INFO_NODE_LABEL_SAVE: u64 = 1070003;
    pub const INFO_NODE_LABEL_ID: u64 = 1070004;
    pub const INFO_NODE_LABEL_SUBMIT: u64 = 1070005;
    pub const INFO_NODE_LABEL_EMAIL: u64 = 1070007;
    pub const INFO_NODE_LABEL_CONTINUE: u64 = 1070009;
    pub const INFO_NODE_LABEL_PHONE_NUMBER: u64 = 1070017;
    // Generic validation (400xxxx).
    pub const VALIDATION_GENERIC: u64 = 4000001;
    pub const VALIDATION_REQUIRED: u64 = 4000002;
    pub const VALIDATION_MIN_LENGTH: u64 = 4000003;
    pub const VALIDATION_INVALID_FORMAT: u64 = 4000004;
    pub const VALIDATION_PASSWORD_POLICY_VIOLATION: u64 = 4000005;
    pub const VALIDATION_INVALID_CREDENTIALS: u64 = 4000006;
    pub const VALIDATION_DUPLICATE_CREDENTIALS: u64 = 4000007;
    // One-time code login and registration.
    pub const INFO_LOGIN_CODE_SENT: u64 = 1010014;
    pub const INFO_LOGIN_CODE: u64 = 1010015;
    pub const INFO_LOGIN_CODE_MFA: u64 = 1010023;
    pub const INFO_REGISTRATION_CODE_SENT: u64 = 1040005;
    pub const INFO_REGISTRATION_CODE: u64 = 1040006;
    pub const INFO_NODE_LABEL_REGISTRATION_CODE: u64 = 1070012;
    pub const INFO_NODE_LABEL_LOGIN_CODE: u64 = 1070013;
    pub const VALIDATION_LOGIN_CODE_INVALID: u64 = 4010008;
    pub const VALIDATION_REGISTRATION_CODE_INVALID: u64 = 4040003;
    pub const VALIDATION_IDENTIFIER_MISSING: u64 = 4000009;
    pub const VALIDATION_ADDRESS_NOT_VERIFIED: u64 = 4000010;
    pub const VALIDATION_MAX_LENGTH: u64 = 4000017;
    pub const VALIDATION_MINIMUM: u64 = 4000018;
    pub const VALIDATION_EXCLUSIVE_MINIMUM: u64 = 4000019;
    pub const VALIDATION_MAXIMUM: u64 = 4000020;
    pub const VALIDATION_EXCLUSIVE_MAXIMUM: u64 = 4000021;
    pub const VALIDATION_MULTIPLE_OF: u64 = 4000022;
    pub const VALIDATION_MAX_ITEMS: u64 = 4000023;
    pub const VALIDATION_MIN_ITEMS: u64 = 4000024;
    pub const VALIDATION_UNIQUE_ITEMS: u64 = 4000025;
    pub const VALIDATION_WRONG_TYPE: u64 = 4000026;
    pub const VALIDATION_DUPLICATE_CREDENTIALS_WITH_HINTS: u64 = 4000028;
    pub const VALIDATION_CONST: u64 = 4000029;
    pub const VALIDATION_CONST_GENERIC: u64 = 4000030;
    pub const VALIDATION_PASSWORD_IDENTIFIER_TOO_SIMILAR: u64 = 4000031;
    pub const VALIDATION_PASSWORD_MIN_LENGTH: u64 = 4000032;
    pub const VALIDATION_PASSWORD_MAX_LENGTH: u64 = 4000033;
    pub const VALIDATION_PASSWORD_TOO_MANY_BREACHES: u64 = 4000034;
    pub const VALIDATION_TRAITS_MISMATCH: u64 = 4000036;
    pub const VALIDATION_ACCOUNT_NOT_FOUND: u64 = 4000037;
    /// Gatehouse's (Kratos has none): `security.rate_limits` refused to send a code.
    pub const VALIDATION_CODES_RATE_LIMITED: u64 = 4000090;
    /// Gatehouse's (Kratos has no throttling): a sign-in refused while the identifier, identity
    /// or address waits after failed attempts.
    pub const VALIDATION_TOO_MANY_ATTEMPTS: u64 = 4000060;
    pub const VALIDATION_EMAIL: u64 = 4000040;
    /// Kratos defines it but sends 4000040 for phone numbers too; Gatehouse sends this.
    pub const VALIDATION_PHONE: u64 = 4000041;
    // Flow-level validation.
    pub const VALIDATION_LOGIN_FLOW_EXPIRED: u64 = 4010001;
    pub const VALIDATION_IDENTITY_DISABLED: u64 = 4010011;
    pub const VALIDATION_LOGIN_NO_STRATEGY_FOUND: u64 = 4010002;
    pub const VALIDATION_REGISTRATION_NO_STRATEGY_FOUND: u64 = 4010003;
    pub const VALIDATION_REGISTRATION_FLOW_EXPIRED: u64 = 4040001;
    pub const VALIDATION_SETTINGS_FLOW_EXPIRED: u64 = 4050001;
    pub const VALIDATION_RECOVERY_FLOW_EXPIRED: u64 = 4060005;
    pub const VALIDATION_VERIFICATION_FLOW_EXPIRED: u64 = 4070005;
    // Recovery and verification (106xxxx, 108xxxx, 406xxxx, 407xxxx).
    pub const INFO_RECOVERY_EMAIL_SENT: u64 = 1060002;
    pub const INFO_RECOVERY_EMAIL_WITH_CODE_SENT: u64 = 1060003;
    pub const INFO_VERIFICATION_EMAIL_SENT: u64 = 1080001;
    pub const INFO_VERIFICATION_SUCCESSFUL: u64 = 1080002;
    pub const INFO_VERIFICATION_EMAIL_WITH_CODE_SENT: u64 = 1080003;
    pub const INFO_NODE_LABEL_RESEND_OTP: u64 = 1070008;
    pub const VALIDATION_RECOVERY_RETRY_SUCCESS: u64 = 4060001;
    pub const VALIDATION_RECOVERY_TOKEN_INVALID: u64 = 4060004;
    pub const VALIDATION_RECOVERY_CODE_INVALID: u64 = 4060006;
    pub const VALIDATION_VERIFICATION_TOKEN_INVALID: u64 = 4070001;
    pub const VALIDATION_VERIFICATION_RETRY_SUCCESS: u64 = 4070002;
    pub const VALIDATION_VERIFICATION_CODE_INVALID: u64 = 4070006;
    // Settings (105xxxx) and the recovery that leads into it.
    pub const INFO_SETTINGS_UPDATE_SUCCESS: u64 = 1050001;
    pub const INFO_SETTINGS_LINK_OIDC: u64 = 1050002;
    pub const INFO_SETTINGS_UNLINK_OIDC: u64 = 1050003;
    pub const VALIDATION_DUPLICATE_CREDENTIALS_ON_OIDC_LINK: u64 = 4000027;
    pub const INFO_RECOVERY_SUCCESSFUL: u64 = 1060001;
    pub const VALIDATION_SETTINGS_NO_STRATEGY_FOUND: u64 = 4010004;
    // Lookup secrets (backup recovery codes).
    pub const INFO_SETTINGS_REVEAL_LOOKUP: u64 = 1050007;
    pub const INFO_SETTINGS_REGENERATE_LOOKUP: u64 = 1050008;
    pub const INFO_SETTINGS_LOOKUP_SECRET: u64 = 1050009;
    pub const INFO_SETTINGS_LOOKUP_SECRET_LABEL: u64 = 1050010;
    pub const INFO_SETTINGS_LOOKUP_CONFIRM: u64 = 1050011;
    pub const INFO_SETTINGS_LOOKUP_SECRET_USED: u64 = 1050014;
    pub const INFO_SETTINGS_LOOKUP_SECRET_LIST: u64 = 1050015;
    pub const INFO_SETTINGS_DISABLE_LOOKUP: u64 = 1050016;
    pub const VALIDATION_LOOKUP_ALREADY_USED: u64 = 4000012;
    pub const VALIDATION_NO_LOOKUP: u64 = 4000014;
    pub const VALIDATION_LOOKUP_INVALID: u64 = 4000016;
    // The code method's inputs and recovery's address choice.
    pub const INFO_NODE_LABEL: u64 = 1070000;
    pub const INFO_NODE_LABEL_RECOVERY_CODE: u64 = 1070010;
    pub const INFO_NODE_LABEL_VERIFICATION_CODE: u64 = 1070011;
    pub const INFO_NODE_LABEL_RECOVERY_ADDRESS: u64 = 1070016;
    pub const INFO_RECOVERY_MASKED_WITH_CODE_SENT: u64 = 1060004;
    pub const INFO_RECOVERY_ASK_FOR_FULL_ADDRESS: u64 = 1060005;
    pub const INFO_RECOVERY_ASK_TO_CHOOSE_ADDRESS: u64 = 1060006;
    pub const INFO_RECOVERY_BACK: u64 = 1060007;
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum TextKind {
    Info,
    Error,
    Success,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct UiText {
    pub id: u64,
    pub text: String,
    #[serde(rename = "type")]
    pub kind: TextKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Value>,
}

impl UiText {
    fn new(id: u64, kind: TextKind, text: impl Into<String>, context: Option<Value>) -> Self {
        Self {
            id,
            text: text.into(),
            kind,
            context,
        }
    }
    fn info(id: u64, text: impl Into<String>) -> Self {
        Self::new(id, TextKind::Info, text, None)
    }
    fn error(id: u64, text: impl Into<String>, context: Option<Value>) -> Self {
        Self::new(id, TextKind::Error, text, context)
    }
}

/// Go encodes an integral float64 as `5`, serde_json as `5.0`; mirror Go on the wire.
pub fn json_number(v: f64) -> Value {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 9.0e15 {
        json!(v as i64)
    } else {
        json!(v)
    }
}

fn ctx(pairs: &[(&str, Value)]) -> Option<Value> {
    let mut m = Map::new();
    for (k, v) in pairs {
        m.insert((*k).to_owned(), v.clone());
    }
    Some(Value::Object(m))
}

// ---- info: login / registration ----

pub fn login() -> UiText {
    UiText::info(ids::INFO_LOGIN, "Sign in")
}
pub fn login_with(provider: &str, provider_id: &str) -> UiText {
    UiText::new(
        ids::INFO_LOGIN_WITH,
        TextKind::Info,
        format!("Sign in with {provider}"),
        ctx(&[
            ("provider", json!(provider)),
            ("provider_id", json!(provider_id)),
        ]),
    )
}
/// Account linking: signing in to the account that has the identifier links the provider.
pub fn login_link(duplicate_identifier: &str, provider: &str, new_login_url: &str) -> UiText {
    UiText::new(
        ids::INFO_LOGIN_LINK,
        TextKind::Info,
        format!(
            "Signing in will link your account to {duplicate_identifier:?} at provider {provider:?}. If you do not wish to link that account, please start a new login flow."
        ),
        ctx(&[
            ("duplicateIdentifier", json!(duplicate_identifier)),
            ("provider", json!(provider)),
            ("newLoginUrl", json!(new_login_url)),
        ]),
    )
}
pub fn login_linked_credentials_do_not_match() -> UiText {
    UiText::error(
        ids::VALIDATION_LOGIN_LINKED_CREDENTIALS_DO_NOT_MATCH,
        "Linked credentials do not match.",
        None,
    )
}
pub fn login_re_auth() -> UiText {
    UiText::info(
        ids::INFO_LOGIN_RE_AUTH,
        "Please confirm it is really you before continuing.",
    )
}
pub fn login_mfa() -> UiText {
    UiText::info(
        ids::INFO_LOGIN_MFA,
        "Please complete the second authentication step.",
    )
}
pub fn login_password() -> UiText {
    UiText::info(ids::INFO_LOGIN_PASSWORD, "Sign in using a password")
}
pub fn registration() -> UiText {
    UiText::info(ids::INFO_REGISTRATION, "Sign up")
}
pub fn registration_with(provider: &str, provider_id: &str) -> UiText {
    UiText::new(
        ids::INFO_REGISTRATION_WITH,
        TextKind::Info,
        format!("Sign up with {provider}"),
        ctx(&[
            ("provider", json!(provider)),
            ("provider_id", json!(provider_id)),
        ]),
    )
}
pub fn registration_continue() -> UiText {
    UiText::info(ids::INFO_REGISTRATION_CONTINUE, "Continue")
}
pub fn registration_back() -> UiText {
    UiText::info(ids::INFO_REGISTRATION_BACK, "Back")
}
pub fn registration_choose_credentials() -> UiText {
    UiText::info(
        ids::INFO_REGISTRATION_CHOOSE_CREDENTIALS,
        "Please choose a credential to authenticate yourself with.",
    )
}
pub fn registration_register_webauthn() -> UiText {
    UiText::info(
        ids::INFO_REGISTRATION_REGISTER_WEBAUTHN,
        "Sign up using a security key",
    )
}

// ---- info: node labels ----

pub fn label_password() -> UiText {
    UiText::info(ids::INFO_NODE_LABEL_PASSWORD, "Password")
}
/// Label derived from a schema field: text is the field's title (or name).
pub fn label_generated(title: &str, name: &str) -> UiText {
    UiText::new(
        ids::INFO_NODE_LABEL_GENERATED,
        TextKind::Info,
        title,
        ctx(&[("title", json!(title)), ("name", json!(name))]),
    )
}
pub fn label_save() -> UiText {
    UiText::info(ids::INFO_NODE_LABEL_SAVE, "Save")
}
pub fn label_id() -> UiText {
    UiText::info(ids::INFO_NODE_LABEL_ID, "ID")
}
pub fn label_submit() -> UiText {
    UiText::info(ids::INFO_NODE_LABEL_SUBMIT, "Submit")
}
pub fn label_email() -> UiText {
    UiText::info(ids::INFO_NODE_LABEL_EMAIL, "Email")
}
pub fn label_continue() -> UiText {
    UiText::info(ids::INFO_NODE_LABEL_CONTINUE, "Continue")
}
pub fn label_phone_number() -> UiText {
    UiText::info(ids::INFO_NODE_LABEL_PHONE_NUMBER, "Phone number")
}

// ---- validation ----

/// Kratos uses the reason itself as the text.
pub fn validation_generic(reason: &str) -> UiText {
    UiText::error(
        ids::VALIDATION_GENERIC,
        reason,
        ctx(&[("reason", json!(reason))]),
    )
}
pub fn validation_required(property: &str) -> UiText {
    UiText::error(
        ids::VALIDATION_REQUIRED,
        format!("The property {property} is required."),
        ctx(&[("property", json!(property))]),
    )
}
pub fn validation_min_length(min_length: u64, actual_length: u64) -> UiText {
    UiText::error(
        ids::VALIDATION_MIN_LENGTH,
        format!("must be at least {min_length} characters long, but is {actual_length}"),
        ctx(&[
            ("min_length", json!(min_length)),
            ("actual_length", json!(actual_length)),
        ]),
    )
}
pub fn validation_max_length(max_length: u64, actual_length: u64) -> UiText {
    UiText::error(
        ids::VALIDATION_MAX_LENGTH,
        format!("must be at most {max_length} characters long, but is {actual_length}"),
        ctx(&[
            ("max_length", json!(max_length)),
            ("actual_length", json!(actual_length)),
        ]),
    )
}
pub fn validation_invalid_format(pattern: &str) -> UiText {
    UiText::error(
        ids::VALIDATION_INVALID_FORMAT,
        format!("does not match the pattern {pattern:?}"),
        ctx(&[("pattern", json!(pattern))]),
    )
}
pub fn validation_minimum(minimum: f64, actual: f64) -> UiText {
    UiText::error(
        ids::VALIDATION_MINIMUM,
        format!("must be at least {minimum}, but is {actual}"),
        ctx(&[
            ("minimum", json_number(minimum)),
            ("actual", json_number(actual)),
        ]),
    )
}
pub fn validation_exclusive_minimum(minimum: f64, actual: f64) -> UiText {
    UiText::error(
        ids::VALIDATION_EXCLUSIVE_MINIMUM,
        format!("must be greater than {minimum}, but is {actual}"),
        ctx(&[
            ("minimum", json_number(minimum)),
            ("actual", json_number(actual)),
        ]),
    )
}
pub fn validation_maximum(maximum: f64, actual: f64) -> UiText {
    UiText::error(
        ids::VALIDATION_MAXIMUM,
        format!("must be at most {maximum}, but is {actual}"),
        ctx(&[
            ("maximum", json_number(maximum)),
            ("actual", json_number(actual)),
        ]),
    )
}
pub fn validation_exclusive_maximum(maximum: f64, actual: f64) -> UiText {
    UiText::error(
        ids::VALIDATION_EXCLUSIVE_MAXIMUM,
        format!("must be less than {maximum}, but is {actual}"),
        ctx(&[
            ("maximum", json_number(maximum)),
            ("actual", json_number(actual)),
        ]),
    )
}
pub fn validation_multiple_of(base: f64, actual: f64) -> UiText {
    UiText::error(
        ids::VALIDATION_MULTIPLE_OF,
        format!("{actual} is not a multiple of {base}"),
        ctx(&[("base", json_number(base)), ("actual", json_number(actual))]),
    )
}
pub fn validation_max_items(max_items: u64, actual_items: u64) -> UiText {
    UiText::error(
        ids::VALIDATION_MAX_ITEMS,
        format!("at most {max_items} items are allowed, but there are {actual_items}"),
        ctx(&[
            ("max_items", json!(max_items)),
            ("actual_items", json!(actual_items)),
        ]),
    )
}
pub fn validation_min_items(min_items: u64, actual_items: u64) -> UiText {
    UiText::error(
        ids::VALIDATION_MIN_ITEMS,
        format!("at least {min_items} items are required, but there are {actual_items}"),
        ctx(&[
            ("min_items", json!(min_items)),
            ("actual_items", json!(actual_items)),
        ]),
    )
}
pub fn validation_unique_items(index_a: u64, index_b: u64) -> UiText {
    UiText::error(
        ids::VALIDATION_UNIQUE_ITEMS,
        format!("the items at positions {index_a} and {index_b} are identical"),
        ctx(&[("index_a", json!(index_a)), ("index_b", json!(index_b))]),
    )
}
pub fn validation_wrong_type(allowed_types: &[&str], actual_type: &str) -> UiText {
    UiText::error(
        ids::VALIDATION_WRONG_TYPE,
        format!(
            "expected {}, but got {actual_type}",
            allowed_types.join(" or ")
        ),
        ctx(&[
            ("allowed_types", json!(allowed_types)),
            ("actual_type", json!(actual_type)),
        ]),
    )
}
/// `expected` is the constant rendered as text (Kratos passes a string here).
pub fn validation_const(expected: &str) -> UiText {
    UiText::error(
        ids::VALIDATION_CONST,
        format!("must equal the constant {expected}"),
        ctx(&[("expected", json!(expected))]),
    )
}
pub fn validation_const_generic() -> UiText {
    UiText::error(
        ids::VALIDATION_CONST_GENERIC,
        "does not equal the required constant",
        None,
    )
}
pub fn validation_email(value: &str) -> UiText {
    UiText::error(
        ids::VALIDATION_EMAIL,
        format!("{value} is not a valid email address"),
        ctx(&[("value", json!(value))]),
    )
}
/// Kratos emits its phone message under the email id (4000040); we mirror that so
/// clients keyed on ids behave identically.
pub fn validation_phone(value: &str) -> UiText {
    UiText::error(
        ids::VALIDATION_PHONE,
        format!("{value} is not a valid phone number"),
        ctx(&[("value", json!(value))]),
    )
}

// ---- credentials / password policy ----

pub fn validation_password_policy_violation(reason: &str) -> UiText {
    UiText::error(
        ids::VALIDATION_PASSWORD_POLICY_VIOLATION,
        format!("This password cannot be used because {reason}."),
        ctx(&[("reason", json!(reason))]),
    )
}
pub fn validation_password_identifier_too_similar() -> UiText {
    UiText::error(
        ids::VALIDATION_PASSWORD_IDENTIFIER_TOO_SIMILAR,
        "This password cannot be used because it is too close to the identifier.",
        None,
    )
}
pub fn validation_password_min_length(min_length: u64, actual_length: u64) -> UiText {
    UiText::error(
        ids::VALIDATION_PASSWORD_MIN_LENGTH,
        format!("The password needs at least {min_length} characters, but has {actual_length}."),
        ctx(&[
            ("min_length", json!(min_length)),
            ("actual_length", json!(actual_length)),
        ]),
    )
}
pub fn validation_password_max_length(max_length: u64, actual_length: u64) -> UiText {
    UiText::error(
        ids::VALIDATION_PASSWORD_MAX_LENGTH,
        format!("The password may have at most {max_length} characters, but has {actual_length}."),
        ctx(&[
            ("max_length", json!(max_length)),
            ("actual_length", json!(actual_length)),
        ]),
    )
}
pub fn validation_password_too_many_breaches(breaches: i64) -> UiText {
    UiText::error(
        ids::VALIDATION_PASSWORD_TOO_MANY_BREACHES,
        "This password appeared in known data breaches and may no longer be used.",
        ctx(&[("breaches", json!(breaches))]),
    )
}
/// A sign-in refused by `security.brute_force`; the same for every identifier, known or not.
pub fn validation_too_many_attempts(retry_after_seconds: u64) -> UiText {
    UiText::error(
        ids::VALIDATION_TOO_MANY_ATTEMPTS,
        format!("Too many failed attempts. Please try again in {retry_after_seconds} seconds."),
        ctx(&[("retry_after", json!(retry_after_seconds))]),
    )
}
pub fn validation_invalid_credentials() -> UiText {
    UiText::error(
        ids::VALIDATION_INVALID_CREDENTIALS,
        "The credentials are not valid. Please check your password and your username, email address or phone number for typos.",
        None,
    )
}
/// Registration with an identity provider whose identifier (email, …) an account has
/// already: sign in there and link the provider in settings.
pub fn validation_duplicate_credentials_on_oidc_link() -> UiText {
    UiText::error(
        ids::VALIDATION_DUPLICATE_CREDENTIALS_ON_OIDC_LINK,
        "An account with the same identifier (email, phone, username, ...) exists already. Please sign in to your existing account and link your social profile in the settings page.",
        None,
    )
}
/// Settings buttons of the `oidc` method.
pub fn settings_link_oidc(provider: &str) -> UiText {
    UiText::new(
        ids::INFO_SETTINGS_LINK_OIDC,
        TextKind::Info,
        format!("Link {provider}"),
        ctx(&[("provider", json!(provider))]),
    )
}
pub fn settings_unlink_oidc(provider: &str) -> UiText {
    UiText::new(
        ids::INFO_SETTINGS_UNLINK_OIDC,
        TextKind::Info,
        format!("Unlink {provider}"),
        ctx(&[("provider", json!(provider))]),
    )
}
pub fn validation_duplicate_credentials() -> UiText {
    UiText::error(
        ids::VALIDATION_DUPLICATE_CREDENTIALS,
        "Another account already uses this identifier (email, phone, username, ...).",
        None,
    )
}
/// Duplicate identifier with hints on how the existing account can sign in.
pub fn validation_duplicate_credentials_with_hints(
    available_credential_types: &[String],
    available_oidc_providers: &[String],
    credential_identifier_hint: &str,
) -> UiText {
    let who = if credential_identifier_hint.is_empty() {
        "an email, phone, or username"
    } else {
        credential_identifier_hint
    };
    let mut text = format!("Another account already uses {who}.");
    if !available_credential_types.is_empty() {
        text.push_str(&format!(
            " That account can sign in using: {}.",
            available_credential_types.join(", ")
        ));
    }
    if !available_oidc_providers.is_empty() {
        text.push_str(&format!(
            " It can also sign in through: {}.",
            available_oidc_providers.join(", ")
        ));
    }
    UiText::error(
        ids::VALIDATION_DUPLICATE_CREDENTIALS_WITH_HINTS,
        text,
        ctx(&[
            (
                "available_credential_types",
                json!(available_credential_types),
            ),
            ("available_oidc_providers", json!(available_oidc_providers)),
            (
                "credential_identifier_hint",
                json!(credential_identifier_hint),
            ),
        ]),
    )
}
pub fn validation_identifier_missing() -> UiText {
    UiText::error(
        ids::VALIDATION_IDENTIFIER_MISSING,
        "No login identifier was found. It may not have been set, or the server may be misconfigured.",
        None,
    )
}
pub fn validation_address_not_verified() -> UiText {
    UiText::error(
        ids::VALIDATION_ADDRESS_NOT_VERIFIED,
        "This account is not active yet. Please verify your email address first.",
        None,
    )
}
pub fn validation_traits_mismatch() -> UiText {
    UiText::error(
        ids::VALIDATION_TRAITS_MISMATCH,
        "The submitted traits differ from the ones this flow started with.",
        None,
    )
}
pub fn validation_account_not_found() -> UiText {
    UiText::error(
        ids::VALIDATION_ACCOUNT_NOT_FOUND,
        "No such account exists, or it has no way to sign in configured.",
        None,
    )
}

// ---- flow-level ----

fn flow_expired(
    id: u64,
    flow: &str,
    expired_at: &str,
    expired_at_unix: i64,
    minutes_ago: f64,
) -> UiText {
    UiText::error(
        id,
        format!("The {flow} flow expired {minutes_ago:.2} minutes ago, please start again."),
        ctx(&[
            ("expired_at", json!(expired_at)),
            ("expired_at_unix", json!(expired_at_unix)),
        ]),
    )
}
/// `expired_at` is RFC 3339; `minutes_ago` only feeds the English text.
pub fn login_flow_expired(expired_at: &str, expired_at_unix: i64, minutes_ago: f64) -> UiText {
    flow_expired(
        ids::VALIDATION_LOGIN_FLOW_EXPIRED,
        "login",
        expired_at,
        expired_at_unix,
        minutes_ago,
    )
}
pub fn registration_flow_expired(
    expired_at: &str,
    expired_at_unix: i64,
    minutes_ago: f64,
) -> UiText {
    flow_expired(
        ids::VALIDATION_REGISTRATION_FLOW_EXPIRED,
        "registration",
        expired_at,
        expired_at_unix,
        minutes_ago,
    )
}
pub fn settings_flow_expired(expired_at: &str, expired_at_unix: i64, minutes_ago: f64) -> UiText {
    flow_expired(
        ids::VALIDATION_SETTINGS_FLOW_EXPIRED,
        "settings",
        expired_at,
        expired_at_unix,
        minutes_ago,
    )
}
pub fn recovery_flow_expired(expired_at: &str, expired_at_unix: i64, minutes_ago: f64) -> UiText {
    flow_expired(
        ids::VALIDATION_RECOVERY_FLOW_EXPIRED,
        "recovery",
        expired_at,
        expired_at_unix,
        minutes_ago,
    )
}
pub fn verification_flow_expired(
    expired_at: &str,
    expired_at_unix: i64,
    minutes_ago: f64,
) -> UiText {
    flow_expired(
        ids::VALIDATION_VERIFICATION_FLOW_EXPIRED,
        "verification",
        expired_at,
        expired_at_unix,
        minutes_ago,
    )
}
pub fn identity_disabled() -> UiText {
    UiText::error(
        ids::VALIDATION_IDENTITY_DISABLED,
        "This account was disabled.",
        None,
    )
}
pub fn login_no_strategy_found() -> UiText {
    UiText::error(
        ids::VALIDATION_LOGIN_NO_STRATEGY_FOUND,
        "No sign-in method could handle this request. Was the form filled in correctly?",
        None,
    )
}
pub fn registration_no_strategy_found() -> UiText {
    UiText::error(
        ids::VALIDATION_REGISTRATION_NO_STRATEGY_FOUND,
        "No sign-up method could handle this request. Was the form filled in correctly?",
        None,
    )
}

// ---- settings ----

pub fn settings_saved() -> UiText {
    UiText::new(
        ids::INFO_SETTINGS_UPDATE_SUCCESS,
        TextKind::Success,
        "Your changes have been saved!",
        None,
    )
}

// ---- lookup secrets (backup recovery codes) ----

pub fn login_lookup_label() -> UiText {
    UiText::info(ids::INFO_LOGIN_LOOKUP_LABEL, "Backup recovery code")
}
pub fn login_lookup() -> UiText {
    UiText::info(ids::INFO_LOGIN_LOOKUP, "Use backup recovery code")
}
pub fn settings_reveal_lookup() -> UiText {
    UiText::info(
        ids::INFO_SETTINGS_REVEAL_LOOKUP,
        "Reveal backup recovery codes",
    )
}
pub fn settings_regenerate_lookup() -> UiText {
    UiText::info(
        ids::INFO_SETTINGS_REGENERATE_LOOKUP,
        "Generate new backup recovery codes",
    )
}
pub fn settings_lookup_confirm() -> UiText {
    UiText::info(
        ids::INFO_SETTINGS_LOOKUP_CONFIRM,
        "Confirm backup recovery codes",
    )
}
pub fn settings_disable_lookup() -> UiText {
    UiText::info(ids::INFO_SETTINGS_DISABLE_LOOKUP, "Disable this method")
}
pub fn settings_lookup_secret_label() -> UiText {
    UiText::info(
        ids::INFO_SETTINGS_LOOKUP_SECRET_LABEL,
        "These are your back up recovery codes. Please keep them in a safe place!",
    )
}
/// One code of the list; `secret` is what the list shows for it.
pub fn settings_lookup_secret(secret: &str) -> UiText {
    UiText::new(
        ids::INFO_SETTINGS_LOOKUP_SECRET,
        TextKind::Info,
        secret,
        ctx(&[("secret", json!(secret))]),
    )
}
/// A used code of the list; `used_at` is RFC 3339 (`used_at_unix` its seconds, which UIs format),
/// `shown` Go's `time.Time` format.
pub fn settings_lookup_secret_used(used_at: &str, used_at_unix: i64, shown: &str) -> UiText {
    UiText::new(
        ids::INFO_SETTINGS_LOOKUP_SECRET_USED,
        TextKind::Info,
        format!("Secret was used at {shown}"),
        ctx(&[
            ("used_at", json!(used_at)),
            ("used_at_unix", json!(used_at_unix)),
        ]),
    )
}
/// The list of codes: `shown` per code (the code, or `used`), and each code's own message.
pub fn settings_lookup_secret_list(shown: &[String], secrets: Vec<UiText>) -> UiText {
    UiText::new(
        ids::INFO_SETTINGS_LOOKUP_SECRET_LIST,
        TextKind::Info,
        shown.join(", "),
        ctx(&[("secrets", json!(secrets))]),
    )
}
pub fn validation_lookup_already_used() -> UiText {
    UiText::error(
        ids::VALIDATION_LOOKUP_ALREADY_USED,
        "This backup recovery code has already been used.",
        None,
    )
}
pub fn validation_no_lookup() -> UiText {
    UiText::error(
        ids::VALIDATION_NO_LOOKUP,
        "You have no backup recovery codes set up.",
        None,
    )
}
pub fn validation_lookup_invalid() -> UiText {
    UiText::error(
        ids::VALIDATION_LOOKUP_INVALID,
        "The backup recovery code is not valid.",
        None,
    )
}

pub fn settings_no_strategy_found() -> UiText {
    UiText::error(
        ids::VALIDATION_SETTINGS_NO_STRATEGY_FOUND,
        "No settings method could handle this request. Was the form filled in correctly?",
        None,
    )
}
/// On the settings flow a recovery leads into; `expires_at` is when the privileged session
/// (in which the password can be changed without signing in again) ends, RFC 3339, and
/// `expires_at_unix` its seconds (what Ory's reference UI formats).
pub fn recovery_successful(expires_at: &str, expires_at_unix: i64, minutes_left: f64) -> UiText {
    UiText::new(
        ids::INFO_RECOVERY_SUCCESSFUL,
        TextKind::Success,
        format!(
            "You recovered your account. Please change your password or set up another way to sign in within the next {minutes_left:.2} minutes."
        ),
        ctx(&[
            ("privileged_session_expires_at", json!(expires_at)),
            ("privileged_session_expires_at_unix", json!(expires_at_unix)),
        ]),
    )
}

// ---- recovery / verification ----

pub fn recovery_email_sent() -> UiText {
    UiText::info(
        ids::INFO_RECOVERY_EMAIL_SENT,
        "An email containing a recovery link has been sent to the email address you provided. If you have not received an email, check the spelling of the address and make sure to use the address you registered with.",
    )
}
pub fn recovery_email_with_code_sent() -> UiText {
    UiText::info(
        ids::INFO_RECOVERY_EMAIL_WITH_CODE_SENT,
        "An email containing a recovery code has been sent to the email address you provided. If you have not received an email, check the spelling of the address and make sure to use the address you registered with.",
    )
}
pub fn verification_email_sent() -> UiText {
    UiText::info(
        ids::INFO_VERIFICATION_EMAIL_SENT,
        "An email containing a verification link has been sent to the email address you provided. If you have not received an email, check the spelling of the address and make sure to use the address you registered with.",
    )
}
pub fn verification_email_with_code_sent() -> UiText {
    UiText::info(
        ids::INFO_VERIFICATION_EMAIL_WITH_CODE_SENT,
        "An email containing a verification code has been sent to the email address you provided. If you have not received an email, check the spelling of the address and make sure to use the address you registered with.",
    )
}
pub fn verification_successful() -> UiText {
    UiText::new(
        ids::INFO_VERIFICATION_SUCCESSFUL,
        TextKind::Success,
        "You successfully verified your email address.",
        None,
    )
}
pub fn label_resend_otp() -> UiText {
    UiText::info(ids::INFO_NODE_LABEL_RESEND_OTP, "Resend code")
}
pub fn recovery_retry_success() -> UiText {
    UiText::error(
        ids::VALIDATION_RECOVERY_RETRY_SUCCESS,
        "The request was already completed successfully and can not be retried.",
        None,
    )
}
pub fn recovery_token_invalid() -> UiText {
    UiText::error(
        ids::VALIDATION_RECOVERY_TOKEN_INVALID,
        "The recovery token is invalid or has already been used. Please retry the flow.",
        None,
    )
}
pub fn recovery_code_invalid() -> UiText {
    UiText::error(
        ids::VALIDATION_RECOVERY_CODE_INVALID,
        "The recovery code is invalid or has already been used. Please try again.",
        None,
    )
}
pub fn verification_token_invalid() -> UiText {
    UiText::error(
        ids::VALIDATION_VERIFICATION_TOKEN_INVALID,
        "The verification token is invalid or has already been used. Please retry the flow.",
        None,
    )
}
pub fn verification_retry_success() -> UiText {
    UiText::error(
        ids::VALIDATION_VERIFICATION_RETRY_SUCCESS,
        "The request was already completed successfully and can not be retried.",
        None,
    )
}
pub fn verification_code_invalid() -> UiText {
    UiText::error(
        ids::VALIDATION_VERIFICATION_CODE_INVALID,
        "The verification code is invalid or has already been used. Please try again.",
        None,
    )
}

// ---- one-time code login / registration ----

pub fn login_code_sent() -> UiText {
    UiText::info(
        ids::INFO_LOGIN_CODE_SENT,
        "An email containing a code has been sent to the email address you provided. If you have not received an email, check the spelling of the address and retry the login.",
    )
}
pub fn login_code() -> UiText {
    UiText::info(ids::INFO_LOGIN_CODE, "Send sign in code")
}
/// The button sending a second-factor code to one of the identity's addresses.
pub fn login_code_mfa(channel: &str, address: &str) -> UiText {
    UiText::new(
        ids::INFO_LOGIN_CODE_MFA,
        TextKind::Info,
        format!("Send code to {address}"),
        ctx(&[("address", json!(address)), ("channel", json!(channel))]),
    )
}
pub fn registration_code_sent() -> UiText {
    UiText::info(
        ids::INFO_REGISTRATION_CODE_SENT,
        "An email containing a code has been sent to the email address you provided. If you have not received an email, check the spelling of the address and retry the registration.",
    )
}
pub fn registration_code() -> UiText {
    UiText::info(ids::INFO_REGISTRATION_CODE, "Send sign up code")
}
pub fn label_registration_code() -> UiText {
    UiText::info(ids::INFO_NODE_LABEL_REGISTRATION_CODE, "Registration code")
}
pub fn label_login_code() -> UiText {
    UiText::info(ids::INFO_NODE_LABEL_LOGIN_CODE, "Login code")
}
/// Gatehouse's 4000090: too many codes were sent from this address; none was sent now.
pub fn codes_rate_limited(retry_after_secs: u64) -> UiText {
    UiText::error(
        ids::VALIDATION_CODES_RATE_LIMITED,
        format!(
            "Too many codes were sent from your network. Please wait {retry_after_secs} seconds and try again."
        ),
        ctx(&[("retry_after_seconds", json!(retry_after_secs))]),
    )
}
pub fn login_code_invalid() -> UiText {
    UiText::error(
        ids::VALIDATION_LOGIN_CODE_INVALID,
        "The login code is invalid or has already been used. Please try again.",
        None,
    )
}
pub fn registration_code_invalid() -> UiText {
    UiText::error(
        ids::VALIDATION_REGISTRATION_CODE_INVALID,
        "The registration code is invalid or has already been used. Please try again.",
        None,
    )
}

// ---- the code method's inputs; recovery's address choice ----

pub fn label_recovery_code() -> UiText {
    UiText::info(ids::INFO_NODE_LABEL_RECOVERY_CODE, "Recovery code")
}
pub fn label_verification_code() -> UiText {
    UiText::info(ids::INFO_NODE_LABEL_VERIFICATION_CODE, "Verification code")
}
pub fn label_recovery_address() -> UiText {
    UiText::info(
        ids::INFO_NODE_LABEL_RECOVERY_ADDRESS,
        "Recovery address (email, phone number, etc.)",
    )
}
/// A plain label (a masked address to choose).
pub fn label_plain(text: &str) -> UiText {
    UiText::info(ids::INFO_NODE_LABEL, text)
}
pub fn recovery_masked_with_code_sent(masked_address: &str) -> UiText {
    UiText::new(
        ids::INFO_RECOVERY_MASKED_WITH_CODE_SENT,
        TextKind::Info,
        format!(
            "A recovery code has been sent to {masked_address}. If you have not received it, check the spelling of the address and make sure to use the address you registered with."
        ),
        ctx(&[("masked_address", json!(masked_address))]),
    )
}
pub fn recovery_ask_for_full_address() -> UiText {
    UiText::info(
        ids::INFO_RECOVERY_ASK_FOR_FULL_ADDRESS,
        "Recover access to your account by providing the full recovery address.",
    )
}
pub fn recovery_ask_to_choose_address() -> UiText {
    UiText::info(
        ids::INFO_RECOVERY_ASK_TO_CHOOSE_ADDRESS,
        "How do you want to recover your account?",
    )
}
pub fn recovery_back() -> UiText {
    UiText::info(ids::INFO_RECOVERY_BACK, "Back")
}

// ---- TOTP (authenticator apps) ----

pub fn login_totp_label() -> UiText {
    UiText::info(1010006, "Authentication code")
}
pub fn login_totp() -> UiText {
    UiText::info(1010009, "Use Authenticator")
}
pub fn settings_totp_unlink() -> UiText {
    UiText::info(1050004, "Unlink TOTP Authenticator App")
}
pub fn settings_totp_qr() -> UiText {
    UiText::info(1050005, "Authenticator app QR code")
}
/// The secret itself, for typing it in by hand.
pub fn settings_totp_secret(secret: &str) -> UiText {
    UiText::new(
        1050006,
        TextKind::Info,
        secret,
        ctx(&[("secret", json!(secret))]),
    )
}
pub fn settings_totp_secret_label() -> UiText {
    UiText::info(
        1050017,
        "This is your authenticator app secret. Use it if you can not scan the QR code.",
    )
}
pub fn label_verify_otp() -> UiText {
    UiText::info(1070006, "Verify code")
}
pub fn validation_totp_wrong() -> UiText {
    UiText::error(
        4000008,
        "The provided authentication code is invalid, please try again.",
        None,
    )
}

// ---- WebAuthn and passkeys ----

pub fn login_webauthn() -> UiText {
    UiText::info(1010008, "Sign in with security key")
}
pub fn login_continue_webauthn() -> UiText {
    UiText::info(1010011, "Continue with security key")
}
/// Shown once a passwordless sign-in knows whose keys to ask for.
pub fn login_webauthn_passwordless() -> UiText {
    UiText::info(
        1010012,
        "Have your security key (or your device's biometrics) ready and continue.",
    )
}
pub fn login_passkey() -> UiText {
    UiText::info(1010021, "Sign in with passkey")
}
pub fn registration_register_passkey() -> UiText {
    UiText::info(1040007, "Sign up with passkey")
}
pub fn settings_register_webauthn() -> UiText {
    UiText::info(1050012, "Add security key")
}
pub fn settings_register_webauthn_display_name() -> UiText {
    UiText::info(1050013, "Name of the security key")
}
pub fn settings_register_passkey() -> UiText {
    UiText::info(1050019, "Add passkey")
}
/// The button removing one key: its name and when it was added.
pub fn settings_remove_webauthn(name: &str, added_at: chrono::DateTime<chrono::Utc>) -> UiText {
    UiText::new(
        1050018,
        TextKind::Info,
        format!("Remove security key \"{name}\""),
        added(name, added_at),
    )
}
pub fn settings_remove_passkey(name: &str, added_at: chrono::DateTime<chrono::Utc>) -> UiText {
    UiText::new(
        1050020,
        TextKind::Info,
        format!("Remove passkey \"{name}\""),
        added(name, added_at),
    )
}
fn added(name: &str, at: chrono::DateTime<chrono::Utc>) -> Option<Value> {
    ctx(&[
        ("display_name", json!(name)),
        (
            "added_at",
            json!(at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)),
        ),
        ("added_at_unix", json!(at.timestamp())),
    ])
}
pub fn validation_no_webauthn_device() -> UiText {
    UiText::error(4000013, "You have no WebAuthn device set up.", None)
}
/// The same for an unknown account and one without keys, so neither is revealed.
pub fn validation_no_webauthn_user() -> UiText {
    UiText::error(
        4000015,
        "This account does not exist or has no security key set up.",
        None,
    )
}
/// The authenticator's answer did not verify (wrong origin, spent challenge, bad signature,
/// cloned authenticator).
pub fn validation_webauthn_wrong() -> UiText {
    UiText::error(
        4000043,
        "The security key could not be verified, please try again.",
        None,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_like_kratos() {
        let v = serde_json::to_value(validation_required("email")).unwrap();
        assert_eq!(v["id"], 4000002);
        assert_eq!(v["type"], "error");
        assert_eq!(v["context"], json!({"property": "email"}));
        let v = serde_json::to_value(label_password()).unwrap();
        assert_eq!(v["type"], "info");
        assert!(v.get("context").is_none());
        let back: UiText = serde_json::from_value(v).unwrap();
        assert_eq!(back, label_password());
    }

    #[test]
    fn integral_floats_encode_as_integers() {
        let v = serde_json::to_value(validation_minimum(5.0, 2.5)).unwrap();
        assert_eq!(v["context"]["minimum"].to_string(), "5");
        assert_eq!(v["context"]["actual"].to_string(), "2.5");
    }

    #[test]
    fn flow_expired_context_keys() {
        let t = login_flow_expired("2024-01-01T00:00:00Z", 1704067200, 1.5);
        assert_eq!(t.id, 4010001);
        let c = t.context.unwrap();
        assert_eq!(c["expired_at_unix"], 1704067200);
        assert_eq!(c["expired_at"], "2024-01-01T00:00:00Z");
        assert!(t.text.contains("1.50"));
        assert_eq!(registration_flow_expired("x", 0, 0.0).id, 4040001);
    }

    #[test]
    fn phone_numbers_have_their_own_id() {
        assert_eq!(validation_phone("+1").id, 4000041);
    }

    #[test]
    fn times_in_contexts_carry_their_unix_seconds() {
        let c = recovery_successful("2024-01-01T00:00:00Z", 1704067200, 15.0)
            .context
            .unwrap();
        assert_eq!(c["privileged_session_expires_at_unix"], 1704067200);
        let c = settings_lookup_secret_used("2024-01-01T00:00:00Z", 1704067200, "x")
            .context
            .unwrap();
        assert_eq!(c["used_at_unix"], 1704067200);
    }
}
