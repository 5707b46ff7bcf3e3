//! What the domain needs to do its work, built once at start-up and shared by every actor.
//! Holds only leaf types: nothing imported here may itself reach `deps`, or the modules that take
//! `&Deps` would import each other through it.

use std::sync::Arc;

use crate::config::Config;
use crate::courier::template::Templates;
use crate::hash::Hasher;
use crate::identity::schema::SchemaRegistry;
use crate::metrics::Metrics;
use crate::selfservice::hooks::client::WebHooks;
use crate::selfservice::strategy::password::policy::PasswordPolicy;
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
    /// Keys for cookies and keyed hashes: `secrets.cookie`, else `secrets.default`, else one
    /// generated at start-up (then sessions do not survive a restart). First entry signs.
    pub cookie_secrets: Vec<String>,
    /// Password rules for sign-up and password changes (holds the breach-check client and cache).
    pub password_policy: PasswordPolicy,
    /// Courier message templates (built-in, with `courier.templates` overrides applied).
    pub templates: Arc<Templates>,
    /// Web hook client and the hook bodies loaded at start-up.
    pub webhooks: Arc<WebHooks>,
    /// Rendered whoami answers, kept honest by `actors::session_watch`.
    pub session_cache: SessionCache,
}

impl Deps {
    pub fn public_base(&self) -> &str {
        &self.public_url
    }
}
