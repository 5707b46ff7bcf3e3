//! What the domain needs to do its work, built once at start-up and shared by every actor.
//! Holds only leaf types: nothing imported here may itself reach `deps`, or the modules that take
//! `&Deps` would import each other through it.

use std::sync::Arc;

use crate::cipher::Cipher;
use crate::config::Config;
use crate::courier::template::Templates;
use crate::hash::Hasher;
use crate::identity::schema::SchemaRegistry;
use crate::metrics::Metrics;
use crate::selfservice::hooks::client::WebHooks;
use crate::selfservice::strategy::oidc::provider::Providers;
use crate::selfservice::strategy::password::policy::{PasswordPolicy, PolicyConfig};
use crate::session::cache::SessionCache;
use crate::store::Store;

pub struct Deps {
    pub config: Arc<Config>,
    pub store: Store,
    pub schemas: Arc<SchemaRegistry>,
    pub hasher: Hasher,
    pub metrics: Arc<Metrics>,
    /// Public base URL without a trailing slash, e.g. `http://127.0.0.1:4433`.
    pub public_url: String,
    /// Admin base URL without a trailing slash.
    pub admin_url: String,
    /// `serve --dev`: relaxes cookie security for local HTTP work.
    pub dev: bool,
    /// API flows refuse browser-looking submissions (off only with `--dev` and
    /// `DEV_DISABLE_API_FLOW_ENFORCEMENT=true`).
    pub api_flow_enforcement: bool,
    /// The built-in pages are served, and flows without a configured UI point at them.
    pub ui: bool,
    /// Keys for cookies and keyed hashes: `secrets.cookie`, else `secrets.default`, else one
    /// generated at start-up (then sessions do not survive a restart). First entry signs.
    pub cookie_secrets: Vec<String>,
    /// Password rules for sign-up and password changes (holds the breach-check client and cache).
    pub password_policy: PasswordPolicy,
    /// Courier message templates (built-in, with `courier.templates` overrides applied).
    pub templates: Arc<Templates>,
    /// Web hook client and the hook bodies loaded at start-up.
    pub webhooks: Arc<WebHooks>,
    /// Rendered whoami answers, kept honest by `actors::session_watch`; shared by every
    /// configuration generation.
    pub session_cache: Arc<SessionCache>,
    /// Encrypts sensitive credential data at rest (`ciphers.algorithm`, `secrets.cipher`; both
    /// restart-only, so a reload rebuilds it unchanged).
    pub cipher: Arc<Cipher>,
    /// The `oidc` method's providers (discovery and keys cached per configuration generation).
    pub oidc: Arc<Providers>,
}

/// What outlives a configuration reload: connections, pools, caches, the listeners' URLs and
/// everything else fixed for the life of the process.
#[derive(Clone)]
pub struct Lasting {
    pub store: Store,
    pub hasher: Hasher,
    pub metrics: Arc<Metrics>,
    pub public_url: String,
    pub admin_url: String,
    pub dev: bool,
    pub api_flow_enforcement: bool,
    pub ui: bool,
    pub cookie_secrets: Vec<String>,
    pub session_cache: Arc<SessionCache>,
}

impl Deps {
    pub fn public_base(&self) -> &str {
        &self.public_url
    }

    /// The dependencies for `config`: what the configuration decides (schemas, templates, hook
    /// bodies, the password policy) is loaded from it; the rest is `lasting`. Start-up and
    /// every reload build them here, so a reload cannot miss a part.
    pub async fn build(config: Arc<Config>, lasting: Lasting) -> anyhow::Result<Deps> {
        use anyhow::Context;
        let config = if lasting.ui {
            Arc::new((*config).clone().with_builtin_ui(&lasting.public_url))
        } else {
            config
        };
        let schemas = SchemaRegistry::load(
            &crate::identity::schema::entries(&config),
            &config.identity.default_schema_id,
            &config.clients.http,
        )
        .await
        .context("loading identity schemas (identity.schemas)")?;
        let templates = Templates::load(&crate::courier::template::TemplateOverrides {
            http: config.clients.http.clone(),
            ..crate::courier::template::overrides_from_config(&config.courier)
        })
        .await
        .context("loading courier templates (courier.templates, courier.template_override_path)")?;
        let webhooks = WebHooks::load(&config)
            .await
            .map_err(|e| anyhow::anyhow!("web hook configuration: {e}"))?;
        let pw = &config.selfservice.methods.password.config;
        let password_policy = PasswordPolicy::new(
            PolicyConfig {
                min_length: pw.min_password_length as usize,
                identifier_similarity_check: pw.identifier_similarity_check_enabled,
                haveibeenpwned_enabled: pw.haveibeenpwned_enabled,
                haveibeenpwned_host: pw.haveibeenpwned_host.clone(),
                max_breaches: u64::from(pw.max_breaches),
                ignore_network_errors: pw.ignore_network_errors,
                ..PolicyConfig::default()
            },
            &config.clients.http,
        )
        .map_err(|e| anyhow::anyhow!("the password policy's HTTP client: {e}"))?;
        let cipher = Arc::new(Cipher::from_config(&config));
        crate::selfservice::strategy::webauthn::rp::check_config(&config)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let oidc = Providers::new(&config)
            .map_err(|e| anyhow::anyhow!("selfservice.methods.oidc.config.providers: {e}"))?;
        let Lasting {
            store,
            hasher,
            metrics,
            public_url,
            admin_url,
            dev,
            api_flow_enforcement,
            ui,
            cookie_secrets,
            session_cache,
        } = lasting;
        Ok(Deps {
            config,
            store,
            schemas: Arc::new(schemas),
            hasher,
            metrics,
            public_url,
            admin_url,
            dev,
            api_flow_enforcement,
            ui,
            cookie_secrets,
            password_policy,
            templates: Arc::new(templates),
            webhooks: Arc::new(webhooks),
            session_cache,
            cipher,
            oidc: Arc::new(oidc),
        })
    }

    /// The parts a reload keeps.
    pub fn lasting(&self) -> Lasting {
        Lasting {
            store: self.store.clone(),
            hasher: self.hasher.clone(),
            metrics: self.metrics.clone(),
            public_url: self.public_url.clone(),
            admin_url: self.admin_url.clone(),
            dev: self.dev,
            api_flow_enforcement: self.api_flow_enforcement,
            ui: self.ui,
            cookie_secrets: self.cookie_secrets.clone(),
            session_cache: self.session_cache.clone(),
        }
    }
}
