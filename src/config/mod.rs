//! Loading of kratos.yml-compatible configuration.
//!
//! Files are parsed into JSON values, deep-merged in order, overlaid with
//! environment variables (`SERVE_PUBLIC_PORT` style), then deserialized into the
//! typed [`Config`] tree. The env-name → key-path mapping is derived from the
//! JSON schema of those same types, so the structs are the single source of truth.

mod env;
mod schema_rules;
mod security;
mod types;
mod units;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

pub use security::*;
pub use types::*;
pub use units::{ByteSize, Duration, FlexBool};

/// Used when no `dsn` is configured; Kratos itself requires one.
pub const DEFAULT_DSN: &str = "sqlite://gatehouse.sqlite?_fk=true&mode=rwc";

/// Identity schema used when `identity.schemas` is not configured.
pub const DEFAULT_SCHEMA_URL: &str = "file://config/identity.default.schema.json";

/// Key-path prefixes (dotted segments) whose features are implemented. Keys present in
/// the input outside these are reported in [`Loaded::unsupported`], as are keys the types do
/// not declare where Kratos's schema allows other keys. Extend as features land.
pub const SUPPORTED_PREFIXES: &[&str] = &[
    "dsn",
    "serve.public.host",
    "serve.public.port",
    "serve.public.base_url",
    "serve.public.cors",
    "serve.public.trusted_proxies",
    "serve.public.security_headers",
    "serve.admin.api_keys",
    "serve.admin.host",
    "serve.admin.port",
    "serve.admin.base_url",
    "identity",
    "selfservice.default_browser_return_url",
    "selfservice.allowed_return_urls",
    "selfservice.flows.login",
    "selfservice.flows.registration",
    "selfservice.flows.error",
    "selfservice.flows.recovery",
    "selfservice.flows.verification",
    "selfservice.flows.settings",
    "selfservice.methods.code",
    "selfservice.methods.link",
    "selfservice.methods.password",
    "selfservice.methods.totp",
    "selfservice.methods.lookup_secret",
    "selfservice.methods.oidc",
    "selfservice.methods.webauthn",
    "selfservice.methods.passkey",
    "security.account_enumeration",
    "security.brute_force",
    "security.rate_limits",
    "database.cleanup",
    "session.lifespan",
    "session.cookie",
    "session.earliest_possible_extend",
    "session.hygiene",
    "cookies",
    "selfservice.flows.logout",
    "secrets",
    "hashers",
    "ciphers",
    "log",
    "version",
    "dev",
    "help",
    "sqa-opt-out",
    "watch-courier",
    "courier",
    "clients.http",
    "expose-metrics-port",
    "config",
];

/// Kratos's minimum length for signing/encryption secrets.
pub const MIN_SECRET_LEN: usize = 16;
/// Cipher secrets are raw 256-bit keys.
pub const CIPHER_SECRET_LEN: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("YAML syntax error in {}: {message}", path.display())]
    Syntax { path: PathBuf, message: String },
    #[error("config file {}: the top level must be a map of keys", path.display())]
    NotAMap { path: PathBuf },
    /// A value that is present but wrong; `key` is the full dotted path.
    #[error("{key}: {message}")]
    Invalid { key: String, message: String },
}

impl ConfigError {
    fn invalid(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            key: key.into(),
            message: message.into(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Loaded {
    pub config: Config,
    /// Key paths present in the input whose features are not built yet, or that Kratos
    /// accepts without declaring them (sorted, unique).
    pub unsupported: Vec<String>,
    /// The files that were read, in merge order.
    pub sources: Vec<PathBuf>,
    /// The environment overrides that were applied (a reload applies them again).
    pub env: Vec<(String, String)>,
    /// The merged tree the configuration was typed from (tenant overlays apply to it).
    pub raw: Value,
}

/// Loads `files` (later ones win), then applies `env` (which wins over files).
pub fn load(files: &[PathBuf], env: &[(String, String)]) -> Result<Loaded, ConfigError> {
    let mut merged = Value::Object(Map::new());
    for path in files {
        merge(&mut merged, read_file(path)?);
    }
    env::apply(&mut merged, env);

    let mut unsupported = schema_rules::unsupported_keys(&merged);
    // Gatehouse's own top-level key (Kratos's schema has no tenants).
    unsupported.retain(|k| !is_tenants_key(k));
    let raw = merged.clone();
    let config = typed(merged)?;

    if !unsupported.is_empty() {
        tracing::debug!(keys = ?unsupported, "configuration keys without an implementation yet");
    }
    Ok(Loaded {
        config,
        unsupported,
        sources: files.to_vec(),
        env: env.to_vec(),
        raw,
    })
}

fn is_tenants_key(k: &str) -> bool {
    k == "tenants" || k.starts_with("tenants.") || k.starts_with("tenants[")
}

/// Deserialises and validates a merged configuration tree.
fn typed(merged: Value) -> Result<Config, ConfigError> {
    let written = schema_rules::Written::of(&merged);
    let config: Config = serde_path_to_error::deserialize(merged).map_err(|err| {
        let path = err.path().to_string();
        type_error(&path, &err.inner().to_string())
    })?;
    validate(&config, &written)?;
    Ok(config)
}

/// A tenant's configuration: `overlay` merged over the process's configuration tree
/// (`Loaded::raw`), typed and validated like a file. The process's `tenants` list is not
/// part of a tenant's configuration.
pub fn with_overlay(base_raw: &Value, overlay: &Value) -> Result<Config, ConfigError> {
    let mut merged = base_raw.clone();
    if let Value::Object(m) = &mut merged {
        m.remove("tenants");
    }
    merge(&mut merged, overlay.clone());
    typed(merged)
}

/// Whether `path` (dotted, e.g. `serve.public.cors.enabled`) lies under a supported prefix.
pub fn is_supported(path: &str) -> bool {
    SUPPORTED_PREFIXES.iter().any(|prefix| {
        path.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('.') || rest.starts_with('['))
    })
}

fn read_file(path: &Path) -> Result<Value, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.to_owned(),
        source,
    })?;
    // YAML is a superset of JSON, so one parser covers both formats.
    let value: Value = serde_saphyr::from_str(&text).map_err(|e| ConfigError::Syntax {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    match strip_nulls(value) {
        // An empty file is a valid (empty) configuration.
        Value::Null => Ok(Value::Object(Map::new())),
        v @ Value::Object(_) => Ok(v),
        _ => Err(ConfigError::NotAMap {
            path: path.to_owned(),
        }),
    }
}

/// `key:` with no value means "not set" in hand-written YAML, not "null".
fn strip_nulls(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, strip_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(strip_nulls).collect()),
        other => other,
    }
}

/// Deep-merges maps; any other value in `overlay` replaces the one in `base`.
fn merge(base: &mut Value, overlay: Value) {
    match (base, overlay) {
        (Value::Object(base), Value::Object(overlay)) => {
            for (key, value) in overlay {
                match base.get_mut(&key) {
                    Some(existing) => merge(existing, value),
                    None => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (base, overlay) => *base = overlay,
    }
}

/// Turns a serde error at `path` into a [`ConfigError`] naming the full key.
fn type_error(path: &str, message: &str) -> ConfigError {
    let parent = if path == "." { "" } else { path };
    // serde reports unknown fields at the parent; name the offending key itself.
    if let Some(rest) = message.strip_prefix("unknown field `")
        && let Some((field, hint)) = rest.split_once('`')
    {
        // Depending on where serde fails, the path may already end in the field.
        let key = if parent == field || parent.ends_with(&format!(".{field}")) {
            parent.to_owned()
        } else if parent.is_empty() {
            field.to_owned()
        } else {
            format!("{parent}.{field}")
        };
        let hint = hint.trim_start_matches(", ");
        let message = if hint.is_empty() {
            "unknown key".to_owned()
        } else {
            format!("unknown key ({hint})")
        };
        return ConfigError::invalid(key, message);
    }
    let key = if parent.is_empty() { "(root)" } else { parent };
    ConfigError::invalid(key, message)
}

/// Checks the constraints serde's types cannot express (lengths, ranges, references).
fn validate(c: &Config, written: &schema_rules::Written) -> Result<(), ConfigError> {
    for (i, block) in c.serve.public.trusted_proxies.iter().enumerate() {
        block
            .parse::<Cidr>()
            .map_err(|m| ConfigError::invalid(format!("serve.public.trusted_proxies[{i}]"), m))?;
    }
    let lists = [
        ("secrets.default", &c.secrets.default),
        ("secrets.cookie", &c.secrets.cookie),
        ("secrets.pagination", &c.secrets.pagination),
    ];
    for (key, secrets) in lists {
        for (i, secret) in secrets.iter().enumerate() {
            let len = secret.chars().count();
            if len < MIN_SECRET_LEN {
                return Err(ConfigError::invalid(
                    format!("{key}[{i}]"),
                    format!("secret must be at least {MIN_SECRET_LEN} characters long, got {len}"),
                ));
            }
        }
    }
    for (i, secret) in c.secrets.cipher.iter().enumerate() {
        let len = secret.chars().count();
        if len != CIPHER_SECRET_LEN {
            return Err(ConfigError::invalid(
                format!("secrets.cipher[{i}]"),
                format!(
                    "cipher secret must be exactly {CIPHER_SECRET_LEN} characters long, got {len}"
                ),
            ));
        }
    }

    let cost = c.hashers.bcrypt.cost;
    if !(4..=31).contains(&cost) {
        return Err(ConfigError::invalid(
            "hashers.bcrypt.cost",
            format!("must be between 4 and 31, got {cost}"),
        ));
    }
    let a = &c.hashers.argon2;
    let minimums = [
        ("hashers.argon2.iterations", a.iterations, 1),
        ("hashers.argon2.parallelism", a.parallelism, 1),
        ("hashers.argon2.salt_length", a.salt_length, 16),
        ("hashers.argon2.key_length", a.key_length, 16),
    ];
    for (key, value, min) in minimums {
        if value < min {
            return Err(ConfigError::invalid(
                key,
                format!("must be at least {min}, got {value}"),
            ));
        }
    }

    // Port 0 is allowed on purpose: it binds an ephemeral port (tests, benchmarks).
    let base_urls = [
        ("serve.public.base_url", &c.serve.public.base_url),
        ("serve.admin.base_url", &c.serve.admin.base_url),
    ];
    for (key, url) in base_urls {
        if let Some(url) = url {
            url::Url::parse(url)
                .map_err(|e| ConfigError::invalid(key, format!("invalid URL {url:?}: {e}")))?;
        }
    }
    for (key, mode) in [
        ("serve.public.socket.mode", c.serve.public.socket.mode),
        ("serve.admin.socket.mode", c.serve.admin.socket.mode),
    ] {
        if mode > 0o777 {
            return Err(ConfigError::invalid(
                key,
                format!("must be at most 511 (0o777), got {mode}"),
            ));
        }
    }

    let cors = &c.serve.public.cors;
    if cors.enabled
        && let Some((i, origin)) = cors.open_origin_with_credentials()
    {
        return Err(ConfigError::invalid(
            format!("serve.public.cors.allowed_origins[{i}]"),
            format!(
                "{origin:?} lets any site in, which serve.public.cors.allow_credentials \
                 (true, the default) forbids: list the origins (a subdomain pattern like \
                 https://*.example.com is fine) or set serve.public.cors.allow_credentials to false"
            ),
        ));
    }

    let id = &c.identity.default_schema_id;
    if !c.identity.schemas.iter().any(|s| &s.id == id) {
        return Err(ConfigError::invalid(
            "identity.default_schema_id",
            format!("no schema with id {id:?} in identity.schemas"),
        ));
    }
    schema_rules::check(c, written)
}

impl Config {
    /// Points what is not configured at the built-in pages under `<public_base>/ui/`: each
    /// flow's `ui_url` left at Kratos's fallback, the error UI, and the default return URL. What
    /// an operator configured stays.
    pub fn with_builtin_ui(mut self, public_base: &str) -> Config {
        let base = public_base.trim_end_matches('/');
        let page = |url: &mut String, name: &str| {
            if *url == types::fallback_ui(name) {
                *url = format!("{base}/ui/{name}");
            }
        };
        let f = &mut self.selfservice.flows;
        page(&mut f.login.ui_url, "login");
        page(&mut f.registration.ui_url, "registration");
        page(&mut f.settings.ui_url, "settings");
        page(&mut f.recovery.ui_url, "recovery");
        page(&mut f.verification.ui_url, "verification");
        page(&mut f.error.ui_url, "error");
        if self.selfservice.default_browser_return_url.is_none() {
            self.selfservice.default_browser_return_url = Some(format!("{base}/ui/"));
        }
        self
    }

    /// Public URL: `serve.public.base_url`, or one derived from host and port.
    pub fn public_base_url(&self, dev: bool) -> url::Url {
        let s = &self.serve.public;
        base_url(s.base_url.as_deref(), &s.host, s.port, dev)
    }

    /// Admin URL: `serve.admin.base_url`, or one derived from host and port.
    pub fn admin_base_url(&self, dev: bool) -> url::Url {
        let s = &self.serve.admin;
        base_url(s.base_url.as_deref(), &s.host, s.port, dev)
    }

    /// Cookie signing secrets, falling back to `secrets.default` as Kratos does.
    pub fn cookie_secrets(&self) -> &[String] {
        non_empty_or(&self.secrets.cookie, &self.secrets.default)
    }

    /// Pagination token secrets, falling back to `secrets.default`.
    pub fn pagination_secrets(&self) -> &[String] {
        non_empty_or(&self.secrets.pagination, &self.secrets.default)
    }

    /// Encryption keys for `ciphers.algorithm`. No fallback: default secrets are not
    /// guaranteed to be 32 characters.
    pub fn cipher_secrets(&self) -> &[String] {
        &self.secrets.cipher
    }
}

fn non_empty_or<'a>(primary: &'a [String], fallback: &'a [String]) -> &'a [String] {
    if primary.is_empty() {
        fallback
    } else {
        primary
    }
}

fn base_url(configured: Option<&str>, host: &str, port: u16, dev: bool) -> url::Url {
    if let Some(url) = configured.and_then(|u| url::Url::parse(u).ok()) {
        return url;
    }
    let scheme = if dev { "http" } else { "https" };
    // A wildcard bind address is not reachable as a URL host.
    let host = match host {
        "" | "0.0.0.0" | "::" | "[::]" => "127.0.0.1".to_owned(),
        h if h.contains(':') && !h.starts_with('[') => format!("[{h}]"),
        h => h.to_owned(),
    };
    url::Url::parse(&format!("{scheme}://{host}:{port}/"))
        .or_else(|_| url::Url::parse(&format!("{scheme}://127.0.0.1:{port}/")))
        .expect("loopback URL is always valid")
}
