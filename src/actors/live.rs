//! The configuration in force, per tenant. Actors and handlers take one tenant's generation once
//! per message or request and work with that snapshot to the end, so a reload
//! (`actors::config_watch`) takes effect on the next message without restarting anything, and
//! never half-way through one. Every pool message carries the generation of the tenant it acts
//! for ([`Scoped`]); the HTTP layer picks it from the request's host (public) or tenant header
//! (admin) with [`Live::resolve_host`] and [`Live::resolve_admin`].

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use serde_json::Value;
use uuid::Uuid;

use crate::deps::Deps;
use crate::selfservice::strategy::Registry;
use crate::tenancy::{TenantError, TenantInfo};

/// One tenant's configuration: its dependencies (whose store carries the tenant's network id)
/// and the strategies it enables.
pub struct Generation {
    pub deps: Arc<Deps>,
    pub strategies: Arc<Registry>,
    /// The tenant it serves; `None` for the default network (the process's own `kratos.yml`).
    pub tenant: Option<Arc<TenantInfo>>,
}

impl Generation {
    pub fn new(deps: Arc<Deps>) -> Generation {
        Generation {
            strategies: Arc::new(Registry::new(&deps.config)),
            deps,
            tenant: None,
        }
    }

    pub fn for_tenant(deps: Arc<Deps>, tenant: TenantInfo) -> Generation {
        Generation {
            tenant: Some(Arc::new(tenant)),
            ..Generation::new(deps)
        }
    }

    /// The network id every query of this generation is scoped to.
    pub fn nid(&self) -> Uuid {
        self.deps.store.nid()
    }
}

/// A tenant's generation, as messages carry it.
pub type Tenant = Arc<Generation>;

/// A pool message with the tenant it acts for.
pub struct Scoped<M> {
    pub tenant: Tenant,
    pub msg: M,
}

/// Everything in force: the default network's generation, the tenants', and how hosts and
/// names find them.
struct State {
    default: Tenant,
    /// The process's configuration as merged from files and environment, before typing: a
    /// tenant's configuration is this with its overlay merged on top.
    base_raw: Arc<Value>,
    tenants: HashMap<Uuid, Tenant>,
    by_host: HashMap<String, Uuid>,
    by_name: HashMap<String, Uuid>,
    /// The default network's host; with tenants, the only other host that is answered.
    default_host: Option<String>,
}

/// What a request's host or tenant header names.
pub enum Resolved {
    /// The default network, which unscoped handles already act for.
    Default,
    /// A tenant, served by this generation.
    Tenant(Tenant),
    /// No tenant answers there (only possible once tenants exist).
    Unknown,
}

/// A shared handle on what is in force.
#[derive(Clone)]
pub struct Live(Arc<RwLock<Arc<State>>>);

impl Live {
    pub fn new(deps: Arc<Deps>, base_raw: Value) -> Live {
        let default_host = crate::tenancy::host_of(&deps.public_url);
        Live(Arc::new(RwLock::new(Arc::new(State {
            default: Arc::new(Generation::new(deps)),
            base_raw: Arc::new(base_raw),
            tenants: HashMap::new(),
            by_host: HashMap::new(),
            by_name: HashMap::new(),
            default_host,
        }))))
    }

    fn state(&self) -> Arc<State> {
        // The lock only guards an `Arc` swap, which cannot leave it inconsistent.
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Swaps in the state `edit` makes from a copy of the current one.
    fn update(&self, edit: impl FnOnce(&mut State)) {
        let mut guard = self.0.write().unwrap_or_else(PoisonError::into_inner);
        let cur = &**guard;
        let mut next = State {
            default: cur.default.clone(),
            base_raw: cur.base_raw.clone(),
            tenants: cur.tenants.clone(),
            by_host: HashMap::new(),
            by_name: HashMap::new(),
            default_host: cur.default_host.clone(),
        };
        edit(&mut next);
        next.index();
        *guard = Arc::new(next);
    }

    /// The default network's generation (the process's own configuration).
    pub fn current(&self) -> Arc<Generation> {
        self.state().default.clone()
    }

    pub fn deps(&self) -> Arc<Deps> {
        self.current().deps.clone()
    }

    /// The configuration files' merged content, which tenant overlays apply to.
    pub fn base_raw(&self) -> Arc<Value> {
        self.state().base_raw.clone()
    }

    /// Puts `deps` in force for the default network; `base_raw` is the configuration it came
    /// from. The tenants must be rebuilt on it by the caller (`tenancy::rebuild`).
    pub fn replace(&self, deps: Arc<Deps>, base_raw: Value) {
        self.update(|s| {
            s.default_host = crate::tenancy::host_of(&deps.public_url);
            s.default = Arc::new(Generation::new(deps));
            s.base_raw = Arc::new(base_raw);
        });
    }

    /// Puts a tenant's generation in force (new, or replacing its previous one).
    pub fn install(&self, generation: Tenant) {
        let Some(t) = generation.tenant.clone() else {
            return;
        };
        self.update(|s| {
            s.tenants.insert(t.id, generation);
        });
    }

    /// Replaces every tenant at once.
    pub fn install_all(&self, generations: Vec<Tenant>) {
        self.update(|s| {
            s.tenants = generations
                .into_iter()
                .filter_map(|g| Some((g.tenant.as_ref()?.id, g)))
                .collect();
        });
    }

    /// Builds every tenant in `infos` on the default network's configuration and puts them in
    /// force in place of the ones before. A tenant whose configuration does not build is left
    /// out; its name and reason are returned.
    pub async fn load_tenants(&self, infos: Vec<TenantInfo>) -> Vec<(String, TenantError)> {
        let (base, raw) = (self.deps(), self.base_raw());
        let mut built = Vec::with_capacity(infos.len());
        let mut refused = Vec::new();
        for t in infos {
            match crate::tenancy::build(&base, &raw, &t).await {
                Ok(deps) => built.push(Arc::new(Generation::for_tenant(Arc::new(deps), t))),
                Err(e) => refused.push((t.name, e)),
            }
        }
        self.install_all(built);
        refused
    }

    /// Builds one tenant and puts it in force (new, or in place of its previous generation).
    pub async fn load_tenant(&self, t: TenantInfo) -> Result<Tenant, TenantError> {
        let deps = crate::tenancy::build(&self.deps(), &self.base_raw(), &t).await?;
        let generation = Arc::new(Generation::for_tenant(Arc::new(deps), t));
        self.install(generation.clone());
        Ok(generation)
    }

    pub fn remove(&self, id: Uuid) {
        self.update(|s| {
            s.tenants.remove(&id);
        });
    }

    /// Every tenant's generation (not the default network's), by name.
    pub fn tenants(&self) -> Vec<Tenant> {
        let mut all: Vec<Tenant> = self.state().tenants.values().cloned().collect();
        all.sort_by(|a, b| name(a).cmp(name(b)));
        all
    }

    /// The generation of network `nid`: a tenant's or the default's.
    pub fn by_nid(&self, nid: Uuid) -> Option<Tenant> {
        let s = self.state();
        if s.default.nid() == nid {
            return Some(s.default.clone());
        }
        s.tenants.get(&nid).cloned()
    }

    /// The generation of every network: the default's first.
    pub fn all(&self) -> Vec<Tenant> {
        let s = self.state();
        std::iter::once(s.default.clone())
            .chain(s.tenants.values().cloned())
            .collect()
    }

    /// The public listener's choice: the tenant whose base URL or host list names `host`
    /// (lowercase, without port). Without tenants every host is the default network's.
    pub fn resolve_host(&self, host: Option<&str>) -> Resolved {
        let s = self.state();
        if s.tenants.is_empty() {
            return Resolved::Default;
        }
        let Some(host) = host.map(crate::tenancy::normalize_host) else {
            return Resolved::Unknown;
        };
        if let Some(t) = s.by_host.get(&host).and_then(|id| s.tenants.get(id)) {
            return Resolved::Tenant(t.clone());
        }
        if s.default_host.as_deref() == Some(host.as_str()) {
            return Resolved::Default;
        }
        Resolved::Unknown
    }

    /// The admin listener's choice: the tenant a header names by id or name; none names the
    /// default network.
    pub fn resolve_admin(&self, named: Option<&str>) -> Resolved {
        let s = self.state();
        let Some(named) = named.map(str::trim).filter(|n| !n.is_empty()) else {
            return Resolved::Default;
        };
        let id = Uuid::parse_str(named)
            .ok()
            .or_else(|| s.by_name.get(named).copied());
        match id {
            Some(id) if id == s.default.nid() => Resolved::Default,
            Some(id) => match s.tenants.get(&id) {
                Some(t) => Resolved::Tenant(t.clone()),
                None => Resolved::Unknown,
            },
            None => Resolved::Unknown,
        }
    }
}

fn name(g: &Generation) -> &str {
    g.tenant.as_ref().map_or("", |t| t.name.as_str())
}

impl State {
    fn index(&mut self) {
        for (id, g) in &self.tenants {
            if let Some(t) = &g.tenant {
                self.by_name.insert(t.name.clone(), *id);
                for h in t.all_hosts() {
                    self.by_host.insert(h, *id);
                }
            }
        }
    }
}
