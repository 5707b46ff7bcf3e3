//! The typed configuration tree. Key names, nesting and defaults follow kratos.yml so
//! existing files load unchanged. A struct denies unknown keys exactly where Kratos's schema
//! does (`additionalProperties: false`), so typos surface; where Kratos allows other keys, so
//! do we, and the loader reports them as unsupported.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::security::{
    AdminApiKeys, BruteForce, RateLimits, SecurityHeaders, SessionHygiene, default_trusted_proxies,
};
use super::units::{ByteSize, Duration, FlexBool};
use super::{DEFAULT_DSN, DEFAULT_SCHEMA_URL};

/// Headers are free-form string maps everywhere they appear.
pub type Headers = BTreeMap<String, String>;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub dsn: String,
    pub identity: Identity,
    pub selfservice: Selfservice,
    pub session: Session,
    pub cookies: Cookies,
    pub courier: Courier,
    pub serve: Serve,
    pub secrets: Secrets,
    pub hashers: Hashers,
    pub ciphers: Ciphers,
    pub log: Log,
    /// Shared Ory tracing block; loosely structured, kept verbatim.
    pub tracing: Option<Value>,
    pub database: Database,
    pub oauth2_provider: Oauth2Provider,
    pub preview: Preview,
    pub security: Security,
    pub clients: Clients,
    pub feature_flags: FeatureFlags,
    /// Deprecated in Kratos in favour of `selfservice.methods.b2b`.
    pub organizations: Vec<Value>,
    pub enterprise: Enterprise,
    pub version: Option<String>,
    pub revision: Option<String>,
    pub dev: bool,
    pub help: bool,
    #[serde(rename = "sqa-opt-out")]
    pub sqa_opt_out: bool,
    #[serde(rename = "watch-courier")]
    pub watch_courier: bool,
    #[serde(rename = "expose-metrics-port")]
    pub expose_metrics_port: u16,
    pub config: Vec<String>,
    /// Gatehouse's: tenants declared in the file (more can be created over the admin API).
    pub tenants: Vec<TenantDecl>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            dsn: DEFAULT_DSN.to_owned(),
            identity: Identity::default(),
            selfservice: Selfservice::default(),
            session: Session::default(),
            cookies: Cookies::default(),
            courier: Courier::default(),
            serve: Serve::default(),
            secrets: Secrets::default(),
            hashers: Hashers::default(),
            ciphers: Ciphers::default(),
            log: Log::default(),
            tracing: None,
            database: Database::default(),
            oauth2_provider: Oauth2Provider::default(),
            preview: Preview::default(),
            security: Security::default(),
            clients: Clients::default(),
            feature_flags: FeatureFlags::default(),
            organizations: Vec::new(),
            enterprise: Enterprise::default(),
            version: None,
            revision: None,
            dev: false,
            help: false,
            sqa_opt_out: false,
            watch_courier: false,
            expose_metrics_port: 0,
            config: Vec::new(),
            tenants: Vec::new(),
        }
    }
}

/// `tenants[]`: one tenant (an isolated network) declared in the configuration file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantDecl {
    /// Its network id (a UUID), fixed for its life: every row it owns carries it.
    pub id: String,
    /// A short name, unique among tenants; admin requests may name the tenant by it.
    pub name: String,
    /// The public base URL it answers on; its host picks the tenant.
    pub base_url: String,
    /// More host names it answers on.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Its configuration overlay, merged over this file's configuration.
    #[serde(default)]
    pub config: Value,
}

// ---------------------------------------------------------------- identity

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Identity {
    pub default_schema_id: String,
    pub schemas: Vec<IdentitySchema>,
}

impl Default for Identity {
    fn default() -> Self {
        Self {
            default_schema_id: "default".into(),
            schemas: vec![IdentitySchema {
                id: "default".into(),
                url: DEFAULT_SCHEMA_URL.into(),
                selfservice_selectable: false,
            }],
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct IdentitySchema {
    pub id: String,
    pub url: String,
    #[serde(default)]
    pub selfservice_selectable: bool,
}

// ---------------------------------------------------------------- selfservice

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Selfservice {
    pub default_browser_return_url: Option<String>,
    pub allowed_return_urls: Vec<String>,
    pub flows: Flows,
    pub methods: Methods,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Flows {
    pub settings: SettingsFlow,
    pub logout: LogoutFlow,
    pub registration: RegistrationFlow,
    pub login: LoginFlow,
    pub verification: VerificationFlow,
    pub recovery: RecoveryFlow,
    pub error: ErrorFlow,
}

pub(crate) fn fallback_ui(flow: &str) -> String {
    format!("https://www.ory.com/kratos/docs/fallback/{flow}")
}

/// Assurance level a flow or `/sessions/whoami` demands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RequiredAal {
    Aal1,
    #[default]
    HighestAvailable,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct BeforeHooks {
    pub hooks: Vec<Hook>,
}

/// Post-flow hooks for one credential method (or the flow as a whole).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct AfterMethod {
    pub default_browser_return_url: Option<String>,
    pub hooks: Vec<Hook>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SettingsFlow {
    pub ui_url: String,
    pub lifespan: Duration,
    pub privileged_session_max_age: Duration,
    pub required_aal: RequiredAal,
    pub after: SettingsAfter,
    pub before: BeforeHooks,
}

impl Default for SettingsFlow {
    fn default() -> Self {
        Self {
            ui_url: fallback_ui("settings"),
            lifespan: Duration::from_secs(3600),
            privileged_session_max_age: Duration::from_secs(3600),
            required_aal: RequiredAal::default(),
            after: SettingsAfter::default(),
            before: BeforeHooks::default(),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SettingsAfter {
    pub default_browser_return_url: Option<String>,
    pub password: AfterMethod,
    pub totp: AfterMethod,
    pub oidc: AfterMethod,
    pub webauthn: AfterMethod,
    pub passkey: AfterMethod,
    pub lookup_secret: AfterMethod,
    pub profile: AfterMethod,
    pub hooks: Vec<Hook>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct LogoutFlow {
    pub clear_browser_data: bool,
    pub after: LogoutAfter,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct LogoutAfter {
    pub default_browser_return_url: Option<String>,
}

/// How registration is laid out. `profile_first` (Kratos's default) asks for the traits on a
/// first screen and for a method (password, code) on a second; `unified` shows one form.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RegistrationStyle {
    Unified,
    #[default]
    ProfileFirst,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RegistrationFlow {
    pub enabled: bool,
    pub login_hints: bool,
    pub ui_url: String,
    pub lifespan: Duration,
    pub before: BeforeHooks,
    pub after: RegistrationAfter,
    pub enable_legacy_one_step: bool,
    pub style: RegistrationStyle,
}

impl RegistrationFlow {
    /// Registration in two screens, as Kratos decides it (`SelfServiceFlowRegistrationTwoSteps`):
    /// the deprecated `enable_legacy_one_step: true` wins over `style`.
    pub fn two_steps(&self) -> bool {
        !self.enable_legacy_one_step && self.style == RegistrationStyle::ProfileFirst
    }
}

impl Default for RegistrationFlow {
    fn default() -> Self {
        Self {
            enabled: true,
            login_hints: false,
            ui_url: fallback_ui("registration"),
            lifespan: Duration::from_secs(3600),
            before: BeforeHooks::default(),
            after: RegistrationAfter::default(),
            enable_legacy_one_step: false,
            style: RegistrationStyle::default(),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RegistrationAfter {
    pub default_browser_return_url: Option<String>,
    pub password: AfterMethod,
    pub webauthn: AfterMethod,
    pub passkey: AfterMethod,
    pub oidc: AfterMethod,
    pub code: AfterMethod,
    pub hooks: Vec<Hook>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LoginStyle {
    #[default]
    Unified,
    IdentifierFirst,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct LoginFlow {
    pub ui_url: String,
    pub lifespan: Duration,
    pub style: LoginStyle,
    pub before: BeforeHooks,
    pub after: LoginAfter,
}

impl Default for LoginFlow {
    fn default() -> Self {
        Self {
            ui_url: fallback_ui("login"),
            lifespan: Duration::from_secs(3600),
            style: LoginStyle::default(),
            before: BeforeHooks::default(),
            after: LoginAfter::default(),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct LoginAfter {
    pub default_browser_return_url: Option<String>,
    pub password: AfterMethod,
    pub webauthn: AfterMethod,
    pub passkey: AfterMethod,
    pub oidc: AfterMethod,
    pub code: AfterMethod,
    pub totp: AfterMethod,
    pub lookup_secret: AfterMethod,
    pub hooks: Vec<Hook>,
}

impl LoginAfter {
    /// `after.<method>` by the method's id, for the methods a login can complete with.
    pub fn method(&self, id: &str) -> Option<&AfterMethod> {
        Some(match id {
            "password" => &self.password,
            "webauthn" => &self.webauthn,
            "passkey" => &self.passkey,
            "oidc" => &self.oidc,
            "code" => &self.code,
            "totp" => &self.totp,
            "lookup_secret" => &self.lookup_secret,
            _ => return None,
        })
    }
}

impl RegistrationAfter {
    /// `after.<method>` by the method's id.
    pub fn method(&self, id: &str) -> Option<&AfterMethod> {
        Some(match id {
            "password" => &self.password,
            "webauthn" => &self.webauthn,
            "passkey" => &self.passkey,
            "oidc" => &self.oidc,
            "code" => &self.code,
            _ => return None,
        })
    }
}

impl SettingsAfter {
    /// `after.<method>` by the method's id.
    pub fn method(&self, id: &str) -> Option<&AfterMethod> {
        Some(match id {
            "password" => &self.password,
            "totp" => &self.totp,
            "oidc" => &self.oidc,
            "webauthn" => &self.webauthn,
            "passkey" => &self.passkey,
            "lookup_secret" => &self.lookup_secret,
            "profile" => &self.profile,
            _ => return None,
        })
    }
}

/// Which strategy recovery / verification messages use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FlowStrategy {
    Link,
    #[default]
    Code,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct VerificationFlow {
    pub enabled: bool,
    pub ui_url: String,
    pub after: AfterMethod,
    pub lifespan: Duration,
    pub before: BeforeHooks,
    #[serde(rename = "use")]
    pub use_: FlowStrategy,
    pub notify_unknown_recipients: bool,
}

impl Default for VerificationFlow {
    fn default() -> Self {
        Self {
            enabled: false,
            ui_url: fallback_ui("verification"),
            after: AfterMethod::default(),
            lifespan: Duration::from_secs(3600),
            before: BeforeHooks::default(),
            use_: FlowStrategy::default(),
            notify_unknown_recipients: false,
        }
    }
}

/// Same shape as verification; a separate type only so the fallback UI URL differs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RecoveryFlow {
    pub enabled: bool,
    pub ui_url: String,
    pub after: AfterMethod,
    pub lifespan: Duration,
    pub before: BeforeHooks,
    #[serde(rename = "use")]
    pub use_: FlowStrategy,
    pub notify_unknown_recipients: bool,
}

impl Default for RecoveryFlow {
    fn default() -> Self {
        Self {
            enabled: false,
            ui_url: fallback_ui("recovery"),
            after: AfterMethod::default(),
            lifespan: Duration::from_secs(3600),
            before: BeforeHooks::default(),
            use_: FlowStrategy::default(),
            notify_unknown_recipients: false,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ErrorFlow {
    pub ui_url: String,
}

impl Default for ErrorFlow {
    fn default() -> Self {
        Self {
            ui_url: fallback_ui("error"),
        }
    }
}

// ---------------------------------------------------------------- hooks

/// One entry of a `hooks:` list, discriminated by its `hook` name.
///
/// Kratos narrows which names each list accepts; we accept any known name everywhere
/// and leave placement rules to the flow code.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "hook", rename_all = "snake_case", deny_unknown_fields)]
pub enum Hook {
    Session,
    ShowVerificationUi,
    RequireVerifiedAddress,
    Verification,
    RevokeActiveSessions,
    VerifyNewAddress,
    WebHook {
        config: WebHookConfig,
    },
    NotifyPreviousAddresses {
        #[serde(default)]
        config: NotifyPreviousAddressesConfig,
    },
    /// Enterprise-only; Kratos lets these carry any other keys.
    B2bSso(BTreeMap<String, Value>),
    Organization(BTreeMap<String, Value>),
}

impl Hook {
    /// The `hook:` name this entry was configured with.
    pub const fn name(&self) -> &'static str {
        match self {
            Self::Session => "session",
            Self::ShowVerificationUi => "show_verification_ui",
            Self::RequireVerifiedAddress => "require_verified_address",
            Self::Verification => "verification",
            Self::RevokeActiveSessions => "revoke_active_sessions",
            Self::VerifyNewAddress => "verify_new_address",
            Self::WebHook { .. } => "web_hook",
            Self::NotifyPreviousAddresses { .. } => "notify_previous_addresses",
            Self::B2bSso(_) => "b2b_sso",
            Self::Organization(_) => "organization",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebHookConfig {
    #[serde(default)]
    pub id: Option<String>,
    pub url: String,
    pub method: String,
    #[serde(default)]
    pub headers: Headers,
    /// Jsonnet template URI (file://, http(s)://, base64://) or a legacy bare path.
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub response: WebHookResponse,
    #[serde(default)]
    pub can_interrupt: bool,
    #[serde(default = "yes")]
    pub emit_analytics_event: bool,
    #[serde(default)]
    pub auth: Option<HttpAuth>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct WebHookResponse {
    pub ignore: bool,
    pub parse: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NotifyRecipients {
    #[default]
    Removed,
    AllVerified,
    All,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct NotifyPreviousAddressesConfig {
    pub recipients: NotifyRecipients,
}

/// Credentials for outgoing HTTP calls (web hooks, HTTP courier).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(
    tag = "type",
    content = "config",
    rename_all = "snake_case",
    deny_unknown_fields
)]
pub enum HttpAuth {
    ApiKey(ApiKeyAuth),
    BasicAuth(BasicAuth),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApiKeyLocation {
    Header,
    Cookie,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyAuth {
    pub name: String,
    pub value: String,
    #[serde(rename = "in")]
    pub location: ApiKeyLocation,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    pub user: String,
    pub password: String,
}

fn yes() -> bool {
    true
}

fn post() -> String {
    "POST".into()
}

// ---------------------------------------------------------------- methods

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Methods {
    pub b2b: B2bMethod,
    pub profile: ProfileMethod,
    pub link: LinkMethod,
    pub code: CodeMethod,
    pub password: PasswordMethod,
    pub totp: TotpMethod,
    pub lookup_secret: LookupSecretMethod,
    pub webauthn: WebauthnMethod,
    pub passkey: PasskeyMethod,
    pub oidc: OidcMethod,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct B2bMethod {
    pub config: B2bConfig,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct B2bConfig {
    pub organizations: Vec<B2bOrganization>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct B2bOrganization {
    pub id: Option<String>,
    pub label: Option<String>,
    pub domains: Vec<String>,
    pub session_lifespan: Option<Duration>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ProfileMethod {
    pub enabled: bool,
}

impl Default for ProfileMethod {
    fn default() -> Self {
        Self { enabled: true }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct LinkMethod {
    pub enabled: bool,
    pub config: LinkConfig,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct LinkConfig {
    pub base_url: Option<String>,
    pub lifespan: Duration,
}

impl Default for LinkConfig {
    fn default() -> Self {
        Self {
            base_url: None,
            // ASVS 6.6.3: ten minutes, not Kratos's hour.
            lifespan: Duration::from_secs(600),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct CodeMethod {
    pub passwordless_enabled: bool,
    pub mfa_enabled: bool,
    pub enabled: bool,
    pub config: CodeConfig,
}

impl Default for CodeMethod {
    fn default() -> Self {
        Self {
            passwordless_enabled: false,
            mfa_enabled: false,
            enabled: true,
            config: CodeConfig::default(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct CodeConfig {
    pub lifespan: Duration,
    pub max_submissions: u32,
    pub missing_credential_fallback_enabled: bool,
}

impl Default for CodeConfig {
    fn default() -> Self {
        Self {
            // ASVS 6.6.3: ten minutes, not Kratos's hour.
            lifespan: Duration::from_secs(600),
            max_submissions: 5,
            missing_credential_fallback_enabled: false,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct PasswordMethod {
    pub enabled: bool,
    pub config: PasswordConfig,
}

impl Default for PasswordMethod {
    fn default() -> Self {
        Self {
            enabled: true,
            config: PasswordConfig::default(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct PasswordConfig {
    pub haveibeenpwned_host: String,
    pub haveibeenpwned_enabled: bool,
    pub max_breaches: u32,
    pub ignore_network_errors: bool,
    pub min_password_length: u32,
    pub identifier_similarity_check_enabled: bool,
    pub migrate_hook: MigrateHook,
}

impl Default for PasswordConfig {
    fn default() -> Self {
        Self {
            haveibeenpwned_host: "api.pwnedpasswords.com".into(),
            haveibeenpwned_enabled: true,
            max_breaches: 0,
            ignore_network_errors: true,
            min_password_length: 8,
            identifier_similarity_check_enabled: true,
            migrate_hook: MigrateHook::default(),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct MigrateHook {
    pub enabled: bool,
    pub config: Option<MigrateHookConfig>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MigrateHookConfig {
    pub url: String,
    #[serde(default = "post")]
    pub method: String,
    #[serde(default)]
    pub headers: Headers,
    #[serde(default = "yes")]
    pub emit_analytics_event: bool,
    #[serde(default)]
    pub auth: Option<HttpAuth>,
    #[serde(default)]
    pub body: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct TotpMethod {
    pub enabled: bool,
    pub config: TotpConfig,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct TotpConfig {
    /// Kratos falls back to the public base URL's host when unset.
    pub issuer: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct LookupSecretMethod {
    pub enabled: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct WebauthnMethod {
    pub enabled: bool,
    pub config: WebauthnConfig,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct WebauthnConfig {
    pub passwordless: Option<bool>,
    pub rp: WebauthnRp,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct WebauthnRp {
    pub display_name: Option<String>,
    pub id: Option<String>,
    /// Single-origin form kept for older configs; `origins` supersedes it.
    pub origin: Option<String>,
    pub origins: Vec<String>,
    pub icon: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct PasskeyMethod {
    pub enabled: bool,
    pub config: PasskeyConfig,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct PasskeyConfig {
    pub rp: PasskeyRp,
    pub authenticator_selection: AuthenticatorSelection,
    pub attestation: Attestation,
    pub timeouts: PasskeyTimeouts,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct PasskeyRp {
    pub display_name: Option<String>,
    pub id: Option<String>,
    pub origins: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AuthenticatorAttachment {
    Platform,
    CrossPlatform,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Requirement {
    Required,
    Preferred,
    Discouraged,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct AuthenticatorSelection {
    pub attachment: Option<AuthenticatorAttachment>,
    pub resident_key: Requirement,
    pub user_verification: Requirement,
}

impl Default for AuthenticatorSelection {
    fn default() -> Self {
        Self {
            attachment: None,
            resident_key: Requirement::Required,
            user_verification: Requirement::Preferred,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AttestationPreference {
    #[default]
    None,
    Indirect,
    Direct,
    Enterprise,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Attestation {
    pub preference: AttestationPreference,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct PasskeyTimeouts {
    pub registration: Option<Duration>,
    pub login: Option<Duration>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct OidcMethod {
    pub enabled: bool,
    pub config: OidcConfig,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct OidcConfig {
    pub base_redirect_uri: Option<String>,
    pub providers: Vec<OidcProvider>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OidcProviderKind {
    Github,
    #[serde(rename = "github-app")]
    GithubApp,
    Gitlab,
    Generic,
    Google,
    Microsoft,
    Discord,
    Salesforce,
    Slack,
    Facebook,
    Auth0,
    Vk,
    Yandex,
    Apple,
    Spotify,
    Netid,
    Dingtalk,
    Patreon,
    Line,
    Linkedin,
    #[serde(rename = "linkedin_v2")]
    LinkedinV2,
    Lark,
    X,
    #[serde(rename = "fedcm-test")]
    FedcmTest,
    Amazon,
    Uaepass,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OidcSubjectSource {
    #[default]
    Userinfo,
    Me,
    Oid,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClaimsSource {
    #[default]
    IdToken,
    Userinfo,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Pkce {
    #[default]
    Auto,
    Never,
    Force,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccountLinkingMode {
    #[default]
    ConfirmWithExistingCredential,
    Automatic,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum UpdateIdentityOnLogin {
    #[default]
    Never,
    Automatic,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OidcProvider {
    pub id: String,
    pub provider: OidcProviderKind,
    #[serde(default)]
    pub label: Option<String>,
    pub client_id: String,
    #[serde(default)]
    pub client_secret: Option<String>,
    #[serde(default)]
    pub issuer_url: Option<String>,
    #[serde(default)]
    pub auth_url: Option<String>,
    #[serde(default)]
    pub token_url: Option<String>,
    /// Jsonnet mapper URI.
    pub mapper_url: String,
    #[serde(default)]
    pub scope: Vec<String>,
    #[serde(default)]
    pub microsoft_tenant: Option<String>,
    #[serde(default)]
    pub subject_source: OidcSubjectSource,
    #[serde(default)]
    pub apple_team_id: Option<String>,
    #[serde(default)]
    pub apple_private_key_id: Option<String>,
    #[serde(default)]
    pub apple_private_key: Option<String>,
    /// OpenID `claims` request parameter, passed through as-is.
    #[serde(default)]
    pub requested_claims: Option<Value>,
    #[serde(default)]
    pub organization_id: Option<String>,
    #[serde(default)]
    pub additional_id_token_audiences: Vec<String>,
    #[serde(default)]
    pub aal2_acr_values: Vec<String>,
    #[serde(default)]
    pub aal2_amr_values: Vec<String>,
    #[serde(default)]
    pub claims_source: ClaimsSource,
    #[serde(default)]
    pub pkce: Pkce,
    #[serde(default)]
    pub fedcm_config_url: Option<String>,
    #[serde(default)]
    pub net_id_token_origin_header: Option<String>,
    #[serde(default)]
    pub account_linking_mode: AccountLinkingMode,
    #[serde(default)]
    pub update_identity_on_login: UpdateIdentityOnLogin,
}

// ---------------------------------------------------------------- session & cookies

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum SameSite {
    Strict,
    #[default]
    Lax,
    None,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Session {
    pub whoami: Whoami,
    pub lifespan: Duration,
    pub cookie: SessionCookie,
    pub earliest_possible_extend: Option<Duration>,
    /// Gatehouse's: token rotation, revocation on password change, inactivity timeout.
    pub hygiene: SessionHygiene,
}

impl Default for Session {
    fn default() -> Self {
        Self {
            whoami: Whoami::default(),
            lifespan: Duration::from_secs(24 * 3600),
            cookie: SessionCookie::default(),
            earliest_possible_extend: None,
            hygiene: SessionHygiene::default(),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Whoami {
    pub required_aal: RequiredAal,
    pub tokenizer: Tokenizer,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Tokenizer {
    pub templates: BTreeMap<String, TokenizerTemplate>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenSubjectSource {
    #[default]
    Id,
    ExternalId,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenizerTemplate {
    #[serde(default = "one_minute")]
    pub ttl: Duration,
    #[serde(default)]
    pub claims_mapper_url: Option<String>,
    pub jwks_url: String,
    #[serde(default)]
    pub subject_source: TokenSubjectSource,
}

fn one_minute() -> Duration {
    Duration::from_secs(60)
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SessionCookie {
    /// Overrides `cookies.domain` when set; likewise path and same_site below.
    pub domain: Option<String>,
    pub name: String,
    pub persistent: bool,
    pub path: Option<String>,
    /// Unset means "secure unless running in dev mode".
    pub secure: Option<FlexBool>,
    pub same_site: Option<SameSite>,
}

impl Default for SessionCookie {
    fn default() -> Self {
        Self {
            domain: None,
            name: "ory_kratos_session".into(),
            persistent: true,
            path: None,
            secure: None,
            same_site: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Cookies {
    pub domain: Option<String>,
    pub path: String,
    /// Unset means "secure unless running in dev mode".
    pub secure: Option<FlexBool>,
    pub same_site: SameSite,
}

impl Default for Cookies {
    fn default() -> Self {
        Self {
            domain: None,
            path: "/".into(),
            secure: None,
            same_site: SameSite::Lax,
        }
    }
}

// ---------------------------------------------------------------- courier

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStrategy {
    #[default]
    Smtp,
    Http,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Courier {
    pub templates: CourierTemplates,
    pub template_override_path: Option<String>,
    pub message_retries: u32,
    pub worker: CourierWorker,
    pub delivery_strategy: DeliveryStrategy,
    pub http: CourierHttp,
    pub smtp: Smtp,
    pub channels: Vec<CourierChannel>,
}

impl Default for Courier {
    fn default() -> Self {
        Self {
            templates: CourierTemplates::default(),
            template_override_path: None,
            message_retries: 5,
            worker: CourierWorker::default(),
            delivery_strategy: DeliveryStrategy::default(),
            http: CourierHttp::default(),
            smtp: Smtp::default(),
            channels: Vec::new(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct CourierWorker {
    pub pull_count: u32,
    pub pull_wait: Duration,
}

impl Default for CourierWorker {
    fn default() -> Self {
        Self {
            pull_count: 10,
            pull_wait: Duration::from_secs(1),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct CourierHttp {
    pub request_config: Option<HttpRequestConfig>,
}

/// Kratos's built-in Jsonnet body for HTTP message delivery.
pub const DEFAULT_HTTP_COURIER_BODY: &str = "base64://ZnVuY3Rpb24oY3R4KSB7CiAgcmVjaXBpZW50OiBjdHgucmVjaXBpZW50LAogIHRlbXBsYXRlX3R5cGU6IGN0eC50ZW1wbGF0ZV90eXBlLAogIHRvOiBpZiAidGVtcGxhdGVfZGF0YSIgaW4gY3R4ICYmICJ0byIgaW4gY3R4LnRlbXBsYXRlX2RhdGEgdGhlbiBjdHgudGVtcGxhdGVfZGF0YS50byBlbHNlIG51bGwsCiAgcmVjb3ZlcnlfY29kZTogaWYgInRlbXBsYXRlX2RhdGEiIGluIGN0eCAmJiAicmVjb3ZlcnlfY29kZSIgaW4gY3R4LnRlbXBsYXRlX2RhdGEgdGhlbiBjdHgudGVtcGxhdGVfZGF0YS5yZWNvdmVyeV9jb2RlIGVsc2UgbnVsbCwKICByZWNvdmVyeV91cmw6IGlmICJ0ZW1wbGF0ZV9kYXRhIiBpbiBjdHggJiYgInJlY292ZXJ5X3VybCIgaW4gY3R4LnRlbXBsYXRlX2RhdGEgdGhlbiBjdHgudGVtcGxhdGVfZGF0YS5yZWNvdmVyeV91cmwgZWxzZSBudWxsLAogIHZlcmlmaWNhdGlvbl91cmw6IGlmICJ0ZW1wbGF0ZV9kYXRhIiBpbiBjdHggJiYgInZlcmlmaWNhdGlvbl91cmwiIGluIGN0eC50ZW1wbGF0ZV9kYXRhIHRoZW4gY3R4LnRlbXBsYXRlX2RhdGEudmVyaWZpY2F0aW9uX3VybCBlbHNlIG51bGwsCiAgdmVyaWZpY2F0aW9uX2NvZGU6IGlmICJ0ZW1wbGF0ZV9kYXRhIiBpbiBjdHggJiYgInZlcmlmaWNhdGlvbl9jb2RlIiBpbiBjdHgudGVtcGxhdGVfZGF0YSB0aGVuIGN0eC50ZW1wbGF0ZV9kYXRhLnZlcmlmaWNhdGlvbl9jb2RlIGVsc2UgbnVsbCwKICBzdWJqZWN0OiBjdHguc3ViamVjdCwKICBib2R5OiBjdHguYm9keQp9Cg==";

fn default_courier_body() -> String {
    DEFAULT_HTTP_COURIER_BODY.into()
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpRequestConfig {
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default = "post")]
    pub method: String,
    #[serde(default)]
    pub headers: Headers,
    #[serde(default = "default_courier_body")]
    pub body: String,
    #[serde(default)]
    pub auth: Option<HttpAuth>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Smtp {
    pub connection_uri: Option<String>,
    pub client_cert_path: String,
    pub client_key_path: String,
    pub from_address: String,
    pub from_name: Option<String>,
    pub headers: Headers,
    pub local_name: String,
}

impl Default for Smtp {
    fn default() -> Self {
        Self {
            connection_uri: None,
            client_cert_path: String::new(),
            client_key_path: String::new(),
            from_address: "no-reply@ory.kratos.sh".into(),
            from_name: None,
            headers: Headers::new(),
            local_name: "localhost".into(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChannelId {
    Sms,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChannelType {
    #[default]
    Http,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CourierChannel {
    pub id: ChannelId,
    #[serde(rename = "type", default)]
    pub kind: ChannelType,
    pub request_config: HttpRequestConfig,
}

/// Template sources (file://, http(s)://, base64://) overriding the built-in messages.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct CourierTemplates {
    pub recovery: Option<TemplatePair>,
    pub recovery_code: Option<TemplatePair>,
    pub verification: Option<TemplatePair>,
    pub verification_code: Option<TemplatePair>,
    pub registration_code: Option<ValidOnlyTemplates>,
    pub login_code: Option<ValidOnlyTemplates>,
    pub verifiable_address_changed: Option<MessageTemplates>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct TemplatePair {
    pub invalid: Option<InvalidTemplates>,
    pub valid: Option<MessageTemplates>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ValidOnlyTemplates {
    pub valid: Option<MessageTemplates>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct InvalidTemplates {
    pub email: Option<EmailTemplate>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct MessageTemplates {
    pub email: Option<EmailTemplate>,
    pub sms: Option<SmsTemplate>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct EmailTemplate {
    pub body: EmailBody,
    pub subject: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct EmailBody {
    pub plaintext: Option<String>,
    pub html: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SmsTemplate {
    pub body: SmsBody,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SmsBody {
    pub plaintext: Option<String>,
}

// ---------------------------------------------------------------- serve

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Serve {
    pub public: PublicServe,
    pub admin: AdminServe,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct PublicServe {
    pub request_log: RequestLog,
    pub cors: Cors,
    pub base_url: Option<String>,
    pub host: String,
    pub port: u16,
    pub socket: Socket,
    pub tls: Tls,
    /// Gatehouse's: peers (CIDR blocks) whose `True-Client-IP` / `X-Forwarded-For` name the
    /// client address that throttling and rate limits count by.
    pub trusted_proxies: Vec<String>,
    /// Gatehouse's: browser hardening headers.
    pub security_headers: SecurityHeaders,
}

impl Default for PublicServe {
    fn default() -> Self {
        Self {
            request_log: RequestLog::default(),
            cors: Cors::default(),
            base_url: None,
            host: "0.0.0.0".into(),
            port: 4433,
            socket: Socket::default(),
            tls: Tls::default(),
            trusted_proxies: default_trusted_proxies(),
            security_headers: SecurityHeaders::default(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct AdminServe {
    pub request_log: RequestLog,
    pub base_url: Option<String>,
    pub host: String,
    pub port: u16,
    pub socket: Socket,
    pub tls: Tls,
    /// Gatehouse's: admin API keys (off by default, as Kratos's admin API has none).
    pub api_keys: AdminApiKeys,
}

impl Default for AdminServe {
    fn default() -> Self {
        Self {
            request_log: RequestLog::default(),
            base_url: None,
            host: "0.0.0.0".into(),
            port: 4434,
            socket: Socket::default(),
            tls: Tls::default(),
            api_keys: AdminApiKeys::default(),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RequestLog {
    pub disable_for_health: bool,
}

/// Permissions for a unix socket listener.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Socket {
    pub owner: String,
    pub group: String,
    pub mode: u32,
}

impl Default for Socket {
    fn default() -> Self {
        Self {
            owner: String::new(),
            group: String::new(),
            mode: 0o755,
        }
    }
}

/// TLS is enabled only when both key and cert are given.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Tls {
    pub key: Option<TlsSource>,
    pub cert: Option<TlsSource>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct TlsSource {
    pub path: Option<String>,
    pub base64: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    Post,
    Get,
    Put,
    Patch,
    Delete,
    Connect,
    Head,
    Options,
    Trace,
}

impl HttpMethod {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Post => "POST",
            Self::Get => "GET",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
            Self::Connect => "CONNECT",
            Self::Head => "HEAD",
            Self::Options => "OPTIONS",
            Self::Trace => "TRACE",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Cors {
    pub enabled: bool,
    pub allowed_origins: Vec<String>,
    pub allowed_methods: Vec<HttpMethod>,
    pub allowed_headers: Vec<String>,
    pub exposed_headers: Vec<String>,
    pub allow_credentials: bool,
    pub options_passthrough: bool,
    /// Seconds; 0 leaves the preflight cache duration to the browser.
    pub max_age: u32,
    pub debug: bool,
}

impl Cors {
    /// The first `allowed_origins` entry that lets any site in while credentials are on
    /// (ASVS 3.4.2), with its index; `None` when credentials are off or every entry is safe.
    pub fn open_origin_with_credentials(&self) -> Option<(usize, &str)> {
        if !self.allow_credentials {
            return None;
        }
        self.allowed_origins
            .iter()
            .enumerate()
            .find(|(_, o)| origin_pattern_is_open(o))
            .map(|(i, o)| (i, o.as_str()))
    }
}

/// Whether an `allowed_origins` entry can match an origin anyone can obtain: `*`, `null`
/// (any page gets it from a sandboxed frame), or a wildcard that is not a subdomain pattern
/// under a fixed host of at least two labels. `https://*.example.com` and
/// `https://app-*.example.com:8443` are closed; `https://*`, `https://*.com`,
/// `https://*example.com`, `*.example.com` and `http*://example.com` are open. Public
/// suffixes of two labels (`*.co.uk`) are not recognised.
pub fn origin_pattern_is_open(pattern: &str) -> bool {
    let p = pattern.trim();
    if p == "*" || p.eq_ignore_ascii_case("null") {
        return true;
    }
    let Some((pre, post)) = p.split_once('*') else {
        return false;
    };
    // The wildcard may only stand for the start of the host.
    let Some((scheme, host_start)) = pre.split_once("://") else {
        return true;
    };
    if scheme.is_empty() || host_start.contains(['/', ':', '@', '?', '#']) {
        return true;
    }
    // What follows must be `.` and a fixed host of two or more labels, then an optional port.
    let Some(rest) = post.strip_prefix('.') else {
        return true;
    };
    let (host, port) = rest.split_once(':').unwrap_or((rest, ""));
    let labels_ok = host.split('.').count() >= 2
        && host
            .split('.')
            .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    let port_ok =
        !rest.contains(':') || (!port.is_empty() && port.chars().all(|c| c.is_ascii_digit()));
    !(labels_ok && port_ok)
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

impl Default for Cors {
    fn default() -> Self {
        use HttpMethod::*;
        Self {
            enabled: false,
            allowed_origins: strings(&["*"]),
            allowed_methods: vec![Post, Get, Put, Patch, Delete],
            allowed_headers: strings(&[
                "Authorization",
                "Content-Type",
                "Max-Age",
                "X-Session-Token",
                "X-XSRF-TOKEN",
                "X-CSRF-TOKEN",
            ]),
            exposed_headers: strings(&["Content-Type"]),
            allow_credentials: true,
            options_passthrough: false,
            max_age: 0,
            debug: false,
        }
    }
}

// ---------------------------------------------------------------- secrets & crypto

/// Key rotation lists: the first entry signs/encrypts, the rest only verify/decrypt.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Secrets {
    pub default: Vec<String>,
    pub cookie: Vec<String>,
    pub pagination: Vec<String>,
    pub cipher: Vec<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HashAlgorithm {
    /// Gatehouse hashes new passwords with argon2id unless told otherwise (Kratos defaults
    /// to bcrypt; both verify each other's hashes).
    #[default]
    Argon2,
    Bcrypt,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Hashers {
    pub algorithm: HashAlgorithm,
    pub argon2: Argon2,
    pub bcrypt: Bcrypt,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Argon2 {
    pub memory: ByteSize,
    pub iterations: u32,
    pub parallelism: u32,
    pub salt_length: u32,
    pub key_length: u32,
    pub expected_duration: Duration,
    pub expected_deviation: Duration,
    pub dedicated_memory: ByteSize,
}

impl Default for Argon2 {
    fn default() -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            memory: ByteSize::mib(128),
            iterations: 1,
            parallelism: u32::try_from(cpus * 2).unwrap_or(u32::MAX),
            salt_length: 16,
            key_length: 32,
            expected_duration: Duration::from_millis(500),
            expected_deviation: Duration::from_millis(500),
            dedicated_memory: ByteSize::gib(1),
        }
    }
}

/// `cost` is required once `bcrypt` is given, as in Kratos.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Bcrypt {
    pub cost: u32,
}

impl Default for Bcrypt {
    fn default() -> Self {
        Self { cost: 12 }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum CipherAlgorithm {
    #[default]
    Noop,
    Aes,
    #[serde(rename = "xchacha20-poly1305")]
    Xchacha20Poly1305,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Ciphers {
    pub algorithm: CipherAlgorithm,
}

// ---------------------------------------------------------------- log

#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    Trace,
    Debug,
    #[default]
    Info,
    Warning,
    Error,
    Fatal,
    Panic,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Json,
    Text,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Log {
    pub level: LogLevel,
    pub leak_sensitive_values: bool,
    pub redaction_text: Option<String>,
    /// Unset lets the binary pick (Kratos: text on a terminal).
    pub format: Option<LogFormat>,
}

// ---------------------------------------------------------------- the rest

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Database {
    pub cleanup: DatabaseCleanup,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct DatabaseCleanup {
    pub batch_size: u32,
    pub sleep: CleanupSleep,
    pub older_than: Duration,
}

impl Default for DatabaseCleanup {
    fn default() -> Self {
        Self {
            batch_size: 100,
            sleep: CleanupSleep::default(),
            older_than: Duration::default(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct CleanupSleep {
    pub tables: Duration,
}

impl Default for CleanupSleep {
    fn default() -> Self {
        Self {
            tables: Duration::from_secs(60),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Oauth2Provider {
    pub url: Option<String>,
    pub headers: Headers,
    pub override_return_to: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReadConsistency {
    #[default]
    Strong,
    Eventual,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Preview {
    pub default_read_consistency_level: ReadConsistency,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Security {
    pub account_enumeration: AccountEnumeration,
    pub disallow_ref_in_identity_schemas: bool,
    /// Gatehouse's: throttling of failed sign-in attempts.
    pub brute_force: BruteForce,
    /// Gatehouse's: flows and codes per client address.
    pub rate_limits: RateLimits,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct AccountEnumeration {
    pub mitigate: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Clients {
    pub http: HttpClient,
    pub smtp: SmtpClient,
    pub web_hook: WebHookClient,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct HttpClient {
    pub disallow_private_ip_ranges: bool,
    pub private_ip_exception_urls: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct SmtpClient {
    pub disallow_private_ip_ranges: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct WebHookClient {
    pub header_allowlist: Vec<String>,
}

impl Default for WebHookClient {
    fn default() -> Self {
        Self {
            header_allowlist: strings(&[
                "Accept",
                "Accept-Encoding",
                "Accept-Language",
                "Content-Length",
                "Content-Type",
                "Origin",
                "Priority",
                "Referer",
                "Sec-Ch-Ua",
                "Sec-Ch-Ua-Mobile",
                "Sec-Ch-Ua-Platform",
                "Sec-Fetch-Dest",
                "Sec-Fetch-Mode",
                "Sec-Fetch-Site",
                "Sec-Fetch-User",
                "True-Client-Ip",
                "User-Agent",
            ]),
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NodeGroup {
    Password,
    #[default]
    Default,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct FeatureFlags {
    pub cacheable_sessions: bool,
    pub cacheable_sessions_max_age: Option<Duration>,
    pub use_continue_with_transitions: bool,
    pub choose_recovery_address: bool,
    pub legacy_continue_with_verification_ui: bool,
    pub legacy_require_verified_login_error: bool,
    pub faster_session_extend: bool,
    pub password_profile_registration_node_group: NodeGroup,
    pub legacy_oidc_registration_node_group: bool,
    pub legacy_allow_insecure_origins: bool,
    pub refresh_login_choose_address: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Enterprise {
    pub identity_schema_fallback_url_template: Option<String>,
}
