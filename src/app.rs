//! Start-up: from a loaded configuration to a running supervision tree with bound listeners.
//! Used by `gatehouse serve` and by the integration tests alike.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::actors::config_watch::Watch;
use crate::actors::{self, Handles, ListenerSpec, Runtime};
use crate::config::{self, Config, HashAlgorithm, Loaded};
use crate::deps::{Deps, Lasting};
use crate::hash::{Algorithm, Argon2Params, Hasher};
use crate::http::{self, App, cors::CorsPolicy, router::Listener};
use crate::metrics::Metrics;
use crate::reload::Source;
use crate::store::{Backend, Store};

#[derive(Debug, Clone)]
pub struct Options {
    /// `serve --dev`: plain-HTTP base URLs and relaxed cookie security.
    pub dev: bool,
    /// `serve --migrate`: apply pending migrations on PostgreSQL before serving.
    pub migrate: bool,
    /// How long in-flight requests may run on after shutdown starts.
    pub grace: Duration,
    /// Header, idle keep-alive and write-stall timeouts of client connections.
    pub timeouts: http::conn::Timeouts,
    /// The most open connections per listener; `None` derives both caps from the open-file
    /// limit (`http::conn::FdBudget`). Tests set it to fill a listener cheaply.
    pub max_connections: Option<usize>,
    /// API flows refuse submissions that look like a browser's (an `Origin` or `Cookie`
    /// header). `serve --dev` with `DEV_DISABLE_API_FLOW_ENFORCEMENT=true` turns that off, as
    /// in Kratos, for native apps run in a browser during development.
    pub api_flow_enforcement: bool,
    /// The built-in pages under `/ui/` (`serve --no-ui` turns them off).
    pub ui: bool,
    /// How often the configuration files are looked at for changes (`actors::config_watch`).
    pub config_poll: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            dev: false,
            migrate: false,
            api_flow_enforcement: true,
            ui: true,
            grace: Duration::from_secs(10),
            timeouts: http::conn::Timeouts::default(),
            max_connections: None,
            config_poll: Duration::from_secs(1),
        }
    }
}

/// Raises the soft open-file limit (`RLIMIT_NOFILE`) to the hard limit, once per process, and
/// returns the soft limit in force. Client connections are capped from it (see
/// `http::conn::FdBudget`); tests that open many sockets call this for their own process.
pub fn raise_fd_limit() -> u64 {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    use std::sync::OnceLock;
    // Linux never allows more than `fs.nr_open` (1,048,576 by default), even when the hard
    // limit is "unlimited".
    const UNLIMITED: u64 = 1 << 20;
    static LIMIT: OnceLock<u64> = OnceLock::new();
    *LIMIT.get_or_init(|| {
        let before = getrlimit(Resource::Nofile);
        let soft = before.current.unwrap_or(UNLIMITED);
        let hard = before.maximum.unwrap_or(UNLIMITED);
        if soft >= hard {
            tracing::info!(limit = soft, "open-file limit");
            return soft;
        }
        let raised = setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(hard),
                maximum: before.maximum,
            },
        );
        let after = getrlimit(Resource::Nofile).current.unwrap_or(UNLIMITED);
        match raised {
            Ok(()) => tracing::info!(from = soft, to = after, "raised the open-file limit to the hard limit"),
            Err(e) => tracing::warn!(limit = after, hard, error = %e, "could not raise the open-file limit"),
        }
        after
    })
}

pub struct Running {
    pub public_addr: SocketAddr,
    pub admin_addr: SocketAddr,
    pub runtime: Runtime,
}

impl Running {
    pub fn handles(&self) -> &Handles {
        &self.runtime.handles
    }
}

/// Opens the store and brings or checks its schema: SQLite migrates itself; PostgreSQL only
/// with `migrate` (the operator's `migrate sql` or `serve --migrate`).
pub async fn open_store(cfg: &Config, migrate: bool) -> anyhow::Result<Store> {
    let mut store = Store::connect(&cfg.dsn)
        .await
        .context("connecting to the database (dsn)")?;
    let pending = store
        .pending_migrations()
        .await
        .context("reading the migration state")?;
    if !pending.is_empty() {
        if store.backend() == Backend::Sqlite || migrate {
            let applied = store.migrate().await.context("applying migrations")?;
            tracing::info!(count = applied.len(), "applied database migrations");
        } else {
            anyhow::bail!(
                "the database schema is behind ({} migrations pending); run `gatehouse migrate sql -e --yes` \
                 with the same configuration first, or start with `gatehouse serve --migrate`",
                pending.len()
            );
        }
    }
    store
        .init_network()
        .await
        .context("resolving the network id")?;
    Ok(store)
}

pub fn hasher_from(cfg: &Config) -> Hasher {
    let h = &cfg.hashers;
    let algo = match h.algorithm {
        HashAlgorithm::Argon2 => Algorithm::Argon2(argon2_params(cfg)),
        HashAlgorithm::Bcrypt => Algorithm::Bcrypt {
            cost: h.bcrypt.cost,
        },
    };
    Hasher::new(algo, h.argon2.dedicated_memory.as_bytes())
}

/// `hashers.argon2` as hashing parameters. Argon2 needs at least 8 KiB per lane; a smaller
/// `memory` is raised to that minimum with a warning, as Go's argon2 (and so Kratos) does,
/// rather than failing every hash later.
pub fn argon2_params(cfg: &Config) -> Argon2Params {
    let a = &cfg.hashers.argon2;
    let configured = u32::try_from(a.memory.as_kib()).unwrap_or(u32::MAX);
    let minimum = a.parallelism.max(1).saturating_mul(8);
    if configured < minimum {
        tracing::warn!(
            configured_kib = configured,
            used_kib = minimum,
            "hashers.argon2.memory is below argon2's minimum of 8 KiB per lane; using the minimum"
        );
    }
    Argon2Params {
        memory_kib: configured.max(minimum),
        iterations: a.iterations,
        parallelism: a.parallelism,
        salt_length: a.salt_length,
        key_length: a.key_length,
    }
}

fn base_url(configured: &Option<String>, host: &str, port: u16, dev: bool) -> String {
    match configured {
        Some(u) if !u.is_empty() => u.trim_end_matches('/').to_owned(),
        _ => {
            let host = if host.is_empty() || host == "0.0.0.0" || host == "::" {
                "127.0.0.1"
            } else {
                host
            };
            let scheme = if dev { "http" } else { "https" };
            format!("{scheme}://{host}:{port}")
        }
    }
}

fn cors_policy(cfg: &Config) -> Option<CorsPolicy> {
    let c = &cfg.serve.public.cors;
    c.enabled.then(|| CorsPolicy {
        allowed_origins: c.allowed_origins.clone(),
        allowed_methods: c
            .allowed_methods
            .iter()
            .map(|m| m.as_str().to_owned())
            .collect(),
        allowed_headers: c.allowed_headers.clone(),
        exposed_headers: c.exposed_headers.clone(),
        allow_credentials: c.allow_credentials,
        max_age: u64::from(c.max_age),
    })
}

fn hook_name(h: &config::Hook) -> String {
    serde_json::to_value(h)
        .ok()
        .and_then(|v| v.get("hook").and_then(|n| n.as_str()).map(str::to_owned))
        .unwrap_or_else(|| "unknown".into())
}

/// Configured hooks whose behaviour is not built yet, as `path: name`, so start-up can say so.
pub fn unsupported_hooks(cfg: &Config) -> Vec<String> {
    use config::Hook;
    let mut out = Vec::new();
    for (path, hooks) in crate::selfservice::hooks::all_lists(cfg) {
        // Which hooks each list runs, as Kratos places them; `web_hook` runs everywhere.
        // Settings runs its own hooks only for the methods it has (profile and password).
        let settings_method = path.contains(".settings.after.hooks")
            || path.contains(".settings.after.password.")
            || path.contains(".settings.after.profile.");
        let supported = |h: &Hook| match h {
            Hook::WebHook { .. } => !path.contains(".settings.after.") || settings_method,
            Hook::RevokeActiveSessions => {
                path.contains(".login.after")
                    || path.contains(".recovery.after")
                    || (settings_method && !path.contains(".profile."))
            }
            Hook::RequireVerifiedAddress => path.contains(".login.after"),
            Hook::Session => path.contains(".registration.after"),
            Hook::ShowVerificationUi => {
                path.contains(".registration.after")
                    || (settings_method && !path.contains(".password."))
            }
            _ => false,
        };
        for (i, h) in hooks.iter().enumerate() {
            if !supported(h) {
                out.push(format!("{path}[{i}]: {}", hook_name(h)));
            }
        }
    }
    out
}

/// The configuration files to watch for changes; none when the configuration came from
/// defaults and the environment alone.
fn watch_of(loaded: &Loaded, opts: &Options) -> Option<Watch> {
    (!loaded.sources.is_empty()).then(|| Watch {
        source: Source {
            files: loaded.sources.clone(),
            env: loaded.env.clone(),
        },
        every: opts.config_poll,
    })
}

fn random_secret() -> String {
    use rand::distr::{Alphanumeric, SampleString};
    Alphanumeric.sample_string(&mut rand::rng(), 32)
}

async fn bind(host: &str, port: u16, what: &str) -> anyhow::Result<TcpListener> {
    let host = if host.is_empty() { "0.0.0.0" } else { host };
    TcpListener::bind((host, port))
        .await
        .with_context(|| format!("binding the {what} listener to {host}:{port}"))
}

/// The shared part of start-up: configuration warnings, the store, schemas, templates and the
/// dependencies; binds the listeners when `listen` (their ports go into the base URLs).
async fn prepare(
    loaded: Loaded,
    opts: &Options,
    listen: bool,
) -> anyhow::Result<(Arc<Deps>, Option<(TcpListener, TcpListener)>)> {
    let cfg = Arc::new(loaded.config);
    for key in &loaded.unsupported {
        tracing::warn!(key = %key, "configuration key is accepted but its feature is not supported yet");
    }
    for what in unsupported_hooks(&cfg) {
        tracing::warn!(hook = %what, "configured hook is accepted but not supported yet; it will not run");
    }
    let store = open_store(&cfg, opts.migrate).await?;
    for note in crate::selfservice::hooks::inert_hooks(&cfg) {
        tracing::warn!(hook = %note, "configured hook will not run");
    }

    let (listeners, public_port, admin_port) = if listen {
        let public = bind(&cfg.serve.public.host, cfg.serve.public.port, "public").await?;
        let admin = bind(&cfg.serve.admin.host, cfg.serve.admin.port, "admin").await?;
        let (p, a) = (public.local_addr()?.port(), admin.local_addr()?.port());
        (Some((public, admin)), p, a)
    } else {
        (None, cfg.serve.public.port, cfg.serve.admin.port)
    };

    let dev = opts.dev || cfg.dev;
    let mut cookie_secrets = cfg.cookie_secrets().to_vec();
    if cookie_secrets.is_empty() {
        tracing::warn!(
            "secrets.default is not set: generated a random secret; sessions and flows will not survive a restart \
             and cannot be shared between nodes"
        );
        cookie_secrets.push(random_secret());
    }
    let lasting = Lasting {
        cookie_secrets,
        public_url: base_url(
            &cfg.serve.public.base_url,
            &cfg.serve.public.host,
            public_port,
            dev,
        ),
        admin_url: base_url(
            &cfg.serve.admin.base_url,
            &cfg.serve.admin.host,
            admin_port,
            dev,
        ),
        hasher: hasher_from(&cfg),
        metrics: Arc::new(Metrics::new()),
        session_cache: Default::default(),
        store,
        dev,
        // Only ever relaxed in development mode.
        api_flow_enforcement: opts.api_flow_enforcement || !dev,
        ui: opts.ui,
    };
    let deps = Arc::new(Deps::build(cfg, lasting).await?);
    Ok((deps, listeners))
}

/// Starts everything; returns once both listeners accept connections.
pub async fn start(loaded: Loaded, opts: Options) -> anyhow::Result<Running> {
    let watch = watch_of(&loaded, &opts);
    let raw = loaded.raw.clone();
    let (deps, bound) = prepare(loaded, &opts, true).await?;
    let live = live_of(deps.clone(), raw).await?;
    let (public, admin) = bound.context("listeners were not bound")?;
    let public_addr = public.local_addr()?;
    let admin_addr = admin.local_addr()?;
    let cors = cors_policy(&deps.config);
    let hardening = |listener| {
        http::headers::Hardening::new(
            listener,
            &deps.config.serve.public.security_headers,
            &deps.public_url,
        )
        .map_err(anyhow::Error::msg)
    };
    let (public_hardening, admin_hardening) =
        (hardening(Listener::Public)?, hardening(Listener::Admin)?);
    let budget = http::conn::FdBudget::new(
        raise_fd_limit(),
        deps.store.pool_stats().max,
        deps.config.courier.worker.pull_count,
    );
    let (public_cap, admin_cap) = match opts.max_connections {
        Some(n) => (n, n),
        None => (budget.public, budget.admin),
    };
    if budget.overcommitted() && opts.max_connections.is_none() {
        tracing::warn!(
            limit = budget.limit,
            reserve = budget.reserve,
            "the open-file limit is too low for the connection caps; raise it (ulimit -n)"
        );
    }
    tracing::info!(
        public = public_cap,
        admin = admin_cap,
        open_file_limit = budget.limit,
        reserve = budget.reserve,
        "connection caps"
    );
    let grace = opts.grace;
    let timeouts = opts.timeouts;
    let listeners = Box::new(move |handles: Handles| {
        let mk = |listener: Listener,
                  tcp: TcpListener,
                  cors: Option<CorsPolicy>,
                  hardening: http::headers::Hardening,
                  cap: usize| {
            let app = Arc::new(App {
                listener,
                handles: handles.clone(),
                cors: cors.map(Arc::new),
                body_limit: http::DEFAULT_BODY_LIMIT,
                hardening: Arc::new(hardening),
            });
            ListenerSpec {
                name: format!("{}-listener", listener.name()),
                start: Box::new(move |rx| {
                    let cfg = http::server::ServeConfig {
                        timeouts,
                        max_connections: cap,
                        grace,
                    };
                    http::server::spawn(tcp, app, rx, cfg)
                }),
                grace,
            }
        };
        vec![
            mk(Listener::Public, public, cors, public_hardening, public_cap),
            mk(Listener::Admin, admin, None, admin_hardening, admin_cap),
        ]
    });
    let runtime = actors::start(live, watch, listeners).await?;
    tracing::info!(public = %public_addr, admin = %admin_addr, "gatehouse is listening");
    Ok(Running {
        public_addr,
        admin_addr,
        runtime,
    })
}

/// `gatehouse courier watch`: the supervision tree with the courier and no listeners.
pub async fn start_courier(mut loaded: Loaded, opts: Options) -> anyhow::Result<Runtime> {
    loaded.config.watch_courier = true;
    let watch = watch_of(&loaded, &opts);
    let raw = loaded.raw.clone();
    let (deps, _) = prepare(loaded, &opts, false).await?;
    let live = live_of(deps, raw).await?;
    actors::start(live, watch, Box::new(|_| Vec::new())).await
}

/// The default network's dependencies and every tenant's, ready to be put in force. A tenant
/// declared in the file that does not build stops the start, like any invalid configuration.
async fn live_of(deps: Arc<Deps>, raw: serde_json::Value) -> anyhow::Result<actors::live::Live> {
    let all = crate::tenancy::all(&deps.config, &deps.public_url, &deps.store).await?;
    let declared: Vec<String> = all
        .iter()
        .filter(|t| t.source == crate::tenancy::Source::Config)
        .map(|t| t.name.clone())
        .collect();
    let live = actors::live::Live::new(deps, raw);
    for (name, e) in live.load_tenants(all).await {
        if declared.contains(&name) {
            anyhow::bail!("tenants: {name}: {e}");
        }
        // A stored tenant whose overlay no longer loads on this configuration stays out.
        tracing::error!(tenant = %name, reason = %e, "stored tenant left out: its configuration does not load");
    }
    Ok(live)
}
