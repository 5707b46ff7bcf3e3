//! Tenants: isolated networks in one process. A tenant is a network id (every row it owns
//! carries it), a name, the hosts its public API answers on, and a configuration overlay merged
//! over the process's `kratos.yml`. Its dependencies are built like the default network's
//! (`Deps::build`) with a store scoped to its network id, so every query it makes stays inside
//! it. Tenants come from the configuration file (`tenants:`) or the admin API (stored in the
//! `tenants` table); `actors::live` holds them in force.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use crate::config::{Config, TenantDecl};
use crate::deps::{Deps, Lasting};
use crate::store::id::DbId;
use crate::store::tenants::{self, DeleteOutcome, TenantRow};
use crate::store::{Store, StoreError};

/// Where a tenant was declared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// `tenants:` in the configuration file: changed by editing the file.
    Config,
    /// The admin API (`/admin/tenants`), stored in the database.
    Api,
}

/// A tenant as declared, before its dependencies are built.
#[derive(Clone, Debug, PartialEq)]
pub struct TenantInfo {
    pub id: Uuid,
    pub name: String,
    /// Public base URL without a trailing slash.
    pub base_url: String,
    /// More host names (lowercase, no port).
    pub hosts: Vec<String>,
    /// The configuration overlay.
    pub config: Value,
    pub source: Source,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

impl TenantInfo {
    /// Every host the tenant answers on: its base URL's and the extra ones.
    pub fn all_hosts(&self) -> Vec<String> {
        host_of(&self.base_url)
            .into_iter()
            .chain(self.hosts.iter().map(|h| normalize_host(h)))
            .collect()
    }
}

/// Top-level keys a tenant's overlay may not set: they bind listeners, open the database, hash
/// passwords or shape the process, which tenants share.
pub const PROCESS_KEYS: &[&str] = &[
    "dsn",
    "serve",
    "log",
    "tracing",
    "database",
    "hashers",
    "dev",
    "help",
    "watch-courier",
    "expose-metrics-port",
    "config",
    "tenants",
    "version",
    "sqa-opt-out",
    "clients",
];

/// Longest tenant name.
pub const MAX_NAME: usize = 64;
/// Most extra hosts per tenant.
pub const MAX_HOSTS: usize = 32;

/// A host name as compared: lowercase, without a port or a trailing dot.
pub fn normalize_host(host: &str) -> String {
    let host = host.trim();
    // `[v6]:port` keeps its brackets; `name:port` loses the port.
    let bare = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else {
        host.rsplit_once(':')
            .filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit()))
            .map_or(host, |(h, _)| h)
    };
    bare.trim_end_matches('.').to_ascii_lowercase()
}

/// The host of a base URL, normalized.
pub fn host_of(base_url: &str) -> Option<String> {
    let url = url::Url::parse(base_url).ok()?;
    url.host_str()
        .map(|h| normalize_host(h.trim_start_matches('[').trim_end_matches(']')))
}

/// Why a tenant declaration is refused.
#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    #[error("{0}")]
    Invalid(String),
    #[error("the tenant's configuration: {0}")]
    Config(String),
    /// An id, name or host another tenant (or the default network) already has.
    #[error("{0}")]
    Taken(String),
    #[error("the database: {0}")]
    Store(#[from] StoreError),
}

fn invalid(m: impl Into<String>) -> TenantError {
    TenantError::Invalid(m.into())
}

/// Checks a declaration's own fields (the overlay is checked by building it) and normalizes them.
pub fn check(mut t: TenantInfo) -> Result<TenantInfo, TenantError> {
    let name_ok = !t.name.is_empty()
        && t.name.len() <= MAX_NAME
        && t.name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if !name_ok {
        return Err(invalid(format!(
            "name must be 1 to {MAX_NAME} characters of a-z, 0-9, '-' and '_'"
        )));
    }
    let url =
        url::Url::parse(&t.base_url).map_err(|e| invalid(format!("base_url is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(invalid("base_url must be an http or https URL with a host"));
    }
    t.base_url = t.base_url.trim_end_matches('/').to_owned();
    if t.hosts.len() > MAX_HOSTS {
        return Err(invalid(format!("at most {MAX_HOSTS} hosts")));
    }
    let mut hosts = Vec::with_capacity(t.hosts.len());
    for h in &t.hosts {
        let n = normalize_host(h);
        let ok = !n.is_empty()
            && n.len() <= 253
            && n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b':'));
        if !ok {
            return Err(invalid(format!("hosts: {h:?} is not a host name")));
        }
        hosts.push(n);
    }
    t.hosts = hosts;
    match &t.config {
        Value::Null => t.config = Value::Object(Default::default()),
        Value::Object(m) => {
            if let Some(k) = m.keys().find(|k| PROCESS_KEYS.contains(&k.as_str())) {
                return Err(invalid(format!(
                    "config.{k} is shared by every tenant and cannot be set per tenant"
                )));
            }
        }
        _ => return Err(invalid("config must be an object")),
    }
    crate::limits::check(&t.config)
        .map_err(|e| invalid(format!("config is too large or too deep: {e}")))?;
    Ok(t)
}

/// The tenants the configuration file declares, checked: ids, names and hosts unique, none
/// of them the default network's host.
pub fn declared(config: &Config, default_public_url: &str) -> Result<Vec<TenantInfo>, TenantError> {
    let mut out = Vec::with_capacity(config.tenants.len());
    for (i, d) in config.tenants.iter().enumerate() {
        let TenantDecl {
            id,
            name,
            base_url,
            hosts,
            config,
        } = d;
        let id =
            Uuid::parse_str(id).map_err(|_| invalid(format!("tenants[{i}].id: not a UUID")))?;
        let t = check(TenantInfo {
            id,
            name: name.clone(),
            base_url: base_url.clone(),
            hosts: hosts.clone(),
            config: config.clone(),
            source: Source::Config,
            created_at: None,
            updated_at: None,
        })
        .map_err(|e| invalid(format!("tenants[{i}]: {e}")))?;
        out.push(t);
    }
    distinct(&out, default_public_url)?;
    Ok(out)
}

/// The ids, names and hosts already answered for (the default network's host among them), so
/// each further tenant is checked against them as it comes.
struct Taken {
    ids: HashSet<Uuid>,
    names: HashSet<String>,
    hosts: HashSet<String>,
}

impl Taken {
    fn new(default_public_url: &str) -> Taken {
        Taken {
            ids: HashSet::new(),
            names: HashSet::new(),
            hosts: host_of(default_public_url).into_iter().collect(),
        }
    }

    /// Takes `t`'s id, name and hosts, or, if any is taken already, nothing.
    fn claim(&mut self, t: &TenantInfo) -> Result<(), TenantError> {
        if self.ids.contains(&t.id) {
            return Err(TenantError::Taken(format!(
                "tenant id {} is used twice",
                t.id
            )));
        }
        if self.names.contains(&t.name) {
            return Err(TenantError::Taken(format!(
                "tenant name {:?} is used twice",
                t.name
            )));
        }
        let hosts = t.all_hosts();
        for (i, h) in hosts.iter().enumerate() {
            if self.hosts.contains(h) || hosts[..i].contains(h) {
                return Err(TenantError::Taken(format!(
                    "host {h:?} of tenant {:?} is already answered by another tenant or the default network",
                    t.name
                )));
            }
        }
        self.ids.insert(t.id);
        self.names.insert(t.name.clone());
        self.hosts.extend(hosts);
        Ok(())
    }
}

/// Ids, names and hosts are each used once, and no tenant takes the default network's host.
pub fn distinct(all: &[TenantInfo], default_public_url: &str) -> Result<(), TenantError> {
    let mut taken = Taken::new(default_public_url);
    all.iter().try_for_each(|t| taken.claim(t))
}

/// Builds a tenant's dependencies: the process's configuration with the overlay merged, its
/// public base URL, a store scoped to its network, its own cookie secrets when it sets some.
pub async fn build(base: &Deps, base_raw: &Value, t: &TenantInfo) -> Result<Deps, TenantError> {
    let mut overlay = t.config.clone();
    if let Value::Object(m) = &mut overlay {
        // The tenant's base URL is its `serve.public.base_url`: flows, cookies and links use it.
        m.insert(
            "serve".into(),
            serde_json::json!({ "public": { "base_url": format!("{}/", t.base_url) } }),
        );
    }
    let config = crate::config::with_overlay(base_raw, &overlay)
        .map_err(|e| TenantError::Config(e.to_string()))?;
    let mut cookie_secrets = config.cookie_secrets().to_vec();
    if cookie_secrets.is_empty() {
        cookie_secrets = base.cookie_secrets.clone();
    }
    let lasting = Lasting {
        store: base.store.for_network(t.id),
        public_url: t.base_url.clone(),
        cookie_secrets,
        ..base.lasting()
    };
    Deps::build(Arc::new(config), lasting)
        .await
        .map_err(|e| TenantError::Config(format!("{e:#}")))
}

/// The tenants the admin API created, as stored. A stored row that no longer passes the
/// checks is left out with a logged reason.
pub async fn stored(store: &Store) -> Result<Vec<TenantInfo>, StoreError> {
    let rows = tenants::list(store).await?;
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            let name = row.name.clone();
            match check(from_row(row)) {
                Ok(t) => Some(t),
                Err(e) => {
                    tracing::error!(tenant = %name, reason = %e, "stored tenant left out");
                    None
                }
            }
        })
        .collect())
}

fn from_row(row: TenantRow) -> TenantInfo {
    TenantInfo {
        id: row.id.0,
        name: row.name,
        base_url: row.base_url,
        hosts: row.hosts,
        config: row.config,
        source: Source::Api,
        created_at: Some(row.created_at),
        updated_at: Some(row.updated_at),
    }
}

fn to_row(t: &TenantInfo, now: DateTime<Utc>) -> TenantRow {
    TenantRow {
        id: DbId(t.id),
        name: t.name.clone(),
        base_url: t.base_url.clone(),
        hosts: t.hosts.clone(),
        config: t.config.clone(),
        created_at: t.created_at.unwrap_or(now),
        updated_at: now,
    }
}

/// Stores a new tenant with its network; returns it with its timestamps. A taken id or name is
/// `StoreError::Conflict`.
pub async fn create(store: &Store, t: TenantInfo) -> Result<TenantInfo, StoreError> {
    let now = Utc::now();
    let row = to_row(&t, now);
    tenants::insert(store, &row).await?;
    Ok(from_row(row))
}

/// Stores a tenant's new declaration; `None` if it is not stored (any more).
pub async fn update(store: &Store, t: TenantInfo) -> Result<Option<TenantInfo>, StoreError> {
    let row = to_row(&t, Utc::now());
    Ok(tenants::update(store, &row).await?.then(|| from_row(row)))
}

/// Deletes a stored tenant: refused while it has identities unless `purge`, which deletes every
/// row of its network.
pub async fn delete(store: &Store, id: Uuid, purge: bool) -> Result<DeleteOutcome, StoreError> {
    tenants::delete(store, id, purge).await
}

/// Changes when any stored tenant is created, changed or deleted (one cheap query).
pub async fn fingerprint(store: &Store) -> Result<(i64, Option<DateTime<Utc>>), StoreError> {
    tenants::fingerprint(store).await
}

/// Every tenant a node should have in force: the file's declarations (their networks created
/// if new), then the stored ones whose id, name and hosts no declaration already takes.
pub async fn all(
    config: &Config,
    default_public_url: &str,
    store: &Store,
) -> Result<Vec<TenantInfo>, TenantError> {
    let mut all = declared(config, default_public_url)?;
    let mut taken = Taken::new(default_public_url);
    for t in &all {
        taken.claim(t)?;
        crate::store::identities::ensure_network_id(store, t.id).await?;
    }
    for t in stored(store).await? {
        match taken.claim(&t) {
            Ok(()) => all.push(t),
            Err(e) => tracing::error!(tenant = %t.name, reason = %e, "stored tenant left out"),
        }
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(name: &str, base: &str) -> TenantInfo {
        TenantInfo {
            id: Uuid::new_v4(),
            name: name.into(),
            base_url: base.into(),
            hosts: vec![],
            config: Value::Null,
            source: Source::Api,
            created_at: None,
            updated_at: None,
        }
    }

    #[test]
    fn hosts_compare_without_port_case_or_trailing_dot() {
        assert_eq!(normalize_host("Acme.Example:4433"), "acme.example");
        assert_eq!(normalize_host("acme.example."), "acme.example");
        assert_eq!(normalize_host("[::1]:80"), "::1");
        assert_eq!(
            host_of("https://ID.Acme.test:8443/base/").as_deref(),
            Some("id.acme.test")
        );
    }

    #[test]
    fn declarations_are_checked() {
        assert!(check(info("acme", "https://acme.test/")).is_ok());
        assert!(check(info("Acme", "https://acme.test/")).is_err());
        assert!(check(info("acme", "ftp://acme.test/")).is_err());
        let mut t = info("acme", "https://acme.test");
        t.config = serde_json::json!({"dsn": "memory"});
        let e = check(t).unwrap_err().to_string();
        assert!(e.contains("config.dsn"), "{e}");
        let a = check(info("a", "https://a.test")).unwrap();
        let b = check(info("b", "https://A.test:9")).unwrap();
        assert!(distinct(&[a.clone(), b], "http://127.0.0.1:4433").is_err());
        assert!(distinct(&[a], "https://a.test").is_err());
    }
}
