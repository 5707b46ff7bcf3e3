//! The `gatehouse` binary: Kratos-compatible verbs on top of the library.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use gatehouse::cli::{self, Format, Output, admin_client::AdminClient};
use gatehouse::{app, config, hash, store::Store};

#[derive(Parser)]
#[command(
    name = "gatehouse",
    version,
    about = "An identity server that speaks the Ory Kratos protocol"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Args, Clone, Default)]
struct ConfigArgs {
    /// Configuration file (YAML or JSON); repeat to layer files, later ones win.
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    config: Vec<PathBuf>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the public and admin APIs.
    Serve {
        #[command(flatten)]
        cfg: ConfigArgs,
        /// Development mode: plain HTTP base URLs, relaxed cookie security.
        #[arg(long)]
        dev: bool,
        /// Run the courier (the email/SMS sender) inside this process.
        #[arg(long)]
        watch_courier: bool,
        /// Apply pending migrations before serving (PostgreSQL; SQLite always migrates).
        #[arg(long)]
        migrate: bool,
        /// Accepted for compatibility; Gatehouse sends no telemetry.
        #[arg(long)]
        sqa_opt_out: bool,
        /// Serve no built-in pages under /ui/ (flows without a configured ui_url then point at
        /// Kratos's fallback URLs, as in Kratos).
        #[arg(long)]
        no_ui: bool,
    },
    /// The courier: sends queued email and SMS.
    Courier {
        #[command(subcommand)]
        cmd: CourierCmd,
    },
    /// Database migrations.
    Migrate {
        #[command(subcommand)]
        cmd: MigrateCmd,
    },
    /// Print the version.
    Version,
    /// Password hasher tools.
    Hashers {
        #[command(subcommand)]
        cmd: HashersCmd,
    },
    /// Admin API keys (used when serve.admin.api_keys.enabled is true).
    AdminKeys {
        #[command(subcommand)]
        cmd: AdminKeysCmd,
    },
    /// Identities, through a running server's admin API.
    Identities {
        #[command(subcommand)]
        cmd: IdentitiesCmd,
    },
    /// Remove expired and spent data.
    Cleanup {
        #[command(subcommand)]
        cmd: CleanupCmd,
    },
    /// Jsonnet templates (web hook and courier bodies, claim mappers).
    Jsonnet {
        #[command(subcommand)]
        cmd: JsonnetCmd,
    },
}

#[derive(Args)]
struct ClientArgs {
    /// The admin API's URL; else GATEHOUSE_ADMIN_URL, else KRATOS_ADMIN_URL.
    #[arg(short = 'e', long = "endpoint", value_name = "URL")]
    endpoint: Option<String>,
    /// Admin API key, sent as a bearer token (when serve.admin.api_keys is enabled).
    #[arg(long, env = cli::admin_client::API_KEY_ENV, hide_env_values = true)]
    api_key: Option<String>,
    /// The tenant (id or name) to act for, sent as X-Gatehouse-Tenant; else the default network.
    #[arg(long, env = "GATEHOUSE_TENANT")]
    tenant: Option<String>,
}

impl ClientArgs {
    fn client(self) -> anyhow::Result<AdminClient> {
        AdminClient::new(self.endpoint.as_deref(), self.api_key)
            .map(|c| c.for_tenant(self.tenant))
            .map_err(anyhow::Error::msg)
    }
}

#[derive(Args)]
struct OutputArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Print only the ids.
    #[arg(short = 'q', long)]
    quiet: bool,
}

impl From<OutputArgs> for Output {
    fn from(o: OutputArgs) -> Output {
        Output {
            format: o.format,
            quiet: o.quiet,
        }
    }
}

#[derive(Subcommand)]
enum IdentitiesCmd {
    /// Import identities from files (one identity or an array each), or standard input (`-`
    /// or no file), in batches through `PATCH /admin/identities`.
    Import {
        #[command(flatten)]
        client: ClientArgs,
        #[command(flatten)]
        output: OutputArgs,
        /// Identities per batch (at most 1000).
        #[arg(long, default_value_t = cli::identities::MAX_BATCH)]
        batch_size: usize,
        /// Batches sent at once.
        #[arg(long, default_value_t = 2)]
        parallel: usize,
        files: Vec<PathBuf>,
    },
    /// List identities, one page: `[page per-page]` (pages from 1) or --page-size/--page-token.
    #[command(alias = "ls")]
    List {
        #[command(flatten)]
        client: ClientArgs,
        #[command(flatten)]
        output: OutputArgs,
        /// Identities per page.
        #[arg(long)]
        page_size: Option<u32>,
        /// The page after the one that gave this token.
        #[arg(long)]
        page_token: Option<String>,
        page: Option<u64>,
        per_page: Option<u32>,
    },
    /// Get identities by id.
    Get {
        #[command(flatten)]
        client: ClientArgs,
        #[command(flatten)]
        output: OutputArgs,
        /// Include these credentials' configuration (e.g. oidc); repeat or separate by commas.
        #[arg(short = 'i', long = "include-credentials")]
        include_credentials: Vec<String>,
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Delete identities by id.
    Delete {
        #[command(flatten)]
        client: ClientArgs,
        #[command(flatten)]
        output: OutputArgs,
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Check identity files against the create body and the identity schemas, without
    /// importing: the schemas come from the admin API, or from the configuration with -c.
    Validate {
        #[command(flatten)]
        client: ClientArgs,
        #[command(flatten)]
        cfg: ConfigArgs,
        files: Vec<PathBuf>,
    },
}

#[derive(Subcommand)]
enum CleanupCmd {
    /// Delete expired flows, sessions and tokens, finished courier messages and spent
    /// rate-limit and sign-in failure rows, in batches.
    Sql {
        #[command(flatten)]
        cfg: ConfigArgs,
        /// Read the DSN from the configuration and the DSN environment variable (the default
        /// when no DSN is given, as in Kratos).
        #[arg(short = 'e', long = "read-from-env")]
        read_from_env: bool,
        /// Keep rows that expired (or finished) less than this long ago, e.g. 24h.
        #[arg(long, default_value = "0s")]
        keep_last: String,
        /// Rows per delete (default: database.cleanup.batch_size).
        #[arg(short = 'b', long, alias = "database.cleanup.batch_size")]
        batch_size: Option<u32>,
        /// Pause between tables (default: database.cleanup.sleep.tables).
        #[arg(long, alias = "database.cleanup.sleep.tables")]
        sleep_tables: Option<String>,
        /// The database to clean (overrides the configuration).
        dsn: Option<String>,
    },
}

#[derive(Subcommand)]
enum JsonnetCmd {
    /// Report syntax and analysis errors as file:line:column; fails on any.
    Lint {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Format files (to standard output, or in place with --write).
    Format {
        /// Write the result back to the files.
        #[arg(short = 'w', long)]
        write: bool,
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(Subcommand)]
enum AdminKeysCmd {
    /// Make a key and print it (once: only its digest is stored).
    Create {
        #[command(flatten)]
        cfg: ConfigArgs,
        /// The tenant (id or name) the key acts for; without, the default network's key, which
        /// acts for every tenant and administers them.
        #[arg(long)]
        tenant: Option<String>,
        /// What the key is for, shown by `list` and in the logs.
        #[arg(long)]
        name: String,
        /// The key may only read (GET and HEAD).
        #[arg(long)]
        read_only: bool,
    },
    /// List the keys (never the keys themselves).
    List {
        #[command(flatten)]
        cfg: ConfigArgs,
        /// The tenant (id or name) whose keys to list; without, the default network's.
        #[arg(long)]
        tenant: Option<String>,
        /// `table` or `json`.
        #[arg(long, default_value = "table")]
        format: ListFormat,
    },
    /// Revoke a key by its id: it stops working on every node at once.
    Revoke {
        #[command(flatten)]
        cfg: ConfigArgs,
        /// The tenant (id or name) the key belongs to; without, the default network.
        #[arg(long)]
        tenant: Option<String>,
        id: uuid::Uuid,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ListFormat {
    Table,
    Json,
}

#[derive(Subcommand)]
enum CourierCmd {
    /// Run the courier alone (no HTTP listeners) until SIGTERM or SIGINT.
    Watch {
        #[command(flatten)]
        cfg: ConfigArgs,
        /// Accepted for compatibility; a separate metrics listener is not served yet.
        #[arg(long)]
        expose_metrics_port: Option<u16>,
    },
}

#[derive(Subcommand)]
enum MigrateCmd {
    /// Apply pending SQL migrations.
    Sql {
        #[command(flatten)]
        cfg: ConfigArgs,
        /// Read the DSN from the configuration and the DSN environment variable.
        #[arg(short = 'e', long = "read-from-env")]
        read_from_env: bool,
        /// Do not ask for confirmation.
        #[arg(short = 'y', long)]
        yes: bool,
        /// The database to migrate (overrides the configuration).
        dsn: Option<String>,
    },
    /// Copy a Kratos database into Gatehouse's (the configuration's DSN): identities with their
    /// credentials and addresses, sessions (their tokens keep working) and unsent courier
    /// messages. Ids are kept; a row already present is skipped, so a run can be repeated and
    /// an interrupted one finished.
    FromKratos {
        #[command(flatten)]
        cfg: ConfigArgs,
        /// The Kratos database: `postgres://…`, `cockroach://…`, `mysql://…` or `sqlite://…`.
        kratos_dsn: String,
        /// Report what would be copied and every row that cannot be; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Rows read and written per transaction.
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=10000))]
        batch_size: u32,
        /// Kratos's `secrets.cipher` (repeat for rotated keys), to re-encrypt OIDC provider
        /// tokens; by default the configuration's `secrets.cipher`.
        #[arg(long = "kratos-cipher-secret", value_name = "SECRET")]
        kratos_cipher_secret: Vec<String>,
    },
}

#[derive(Subcommand)]
enum HashersCmd {
    /// Argon2 tools.
    Argon2 {
        #[command(subcommand)]
        cmd: Argon2Cmd,
    },
}

#[derive(Subcommand)]
enum Argon2Cmd {
    /// Find parameters that make one hash take about DURATION on this machine.
    Calibrate {
        #[command(flatten)]
        cfg: ConfigArgs,
        /// Target time per hash, e.g. 500ms or 1s.
        #[arg(default_value = "500ms")]
        duration: String,
    },
    /// Measure how many hashes per second this machine computes with the configured parameters.
    LoadTest {
        #[command(flatten)]
        cfg: ConfigArgs,
        /// How long to measure, e.g. 10s.
        #[arg(long, default_value = "5s")]
        duration: String,
        /// Threads hashing at once (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
    },
}

fn env_pairs() -> Vec<(String, String)> {
    std::env::vars().collect()
}

fn load(files: &[PathBuf]) -> anyhow::Result<config::Loaded> {
    config::load(files, &env_pairs()).map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))
}

fn init_logging(cfg: &config::Config) {
    use tracing_subscriber::EnvFilter;
    let level = match cfg.log.level {
        config::LogLevel::Trace => "trace",
        config::LogLevel::Debug => "debug",
        config::LogLevel::Info => "info",
        config::LogLevel::Warning => "warn",
        config::LogLevel::Error | config::LogLevel::Fatal | config::LogLevel::Panic => "error",
    };
    // Third-party crates stay at warn unless asked; our own at the configured level.
    let filter = EnvFilter::try_from_env("GATEHOUSE_LOG")
        .unwrap_or_else(|_| EnvFilter::new(format!("warn,gatehouse={level}")));
    let json = match cfg.log.format {
        Some(config::LogFormat::Json) => true,
        Some(config::LogFormat::Text) => false,
        None => !std::io::stderr().is_terminal(),
    };
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        b.json().init();
    } else {
        b.init();
    }
}

fn parse_duration(s: &str) -> anyhow::Result<Duration> {
    let d: config::Duration = serde_json::from_value(serde_json::Value::String(s.to_owned()))
        .map_err(|e| anyhow::anyhow!("{s:?} is not a duration like 500ms or 1s: {e}"))?;
    Ok(d.get())
}

async fn wait_for_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => "SIGINT",
            _ = term.recv() => "SIGTERM",
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "interrupt"
    }
}

async fn serve(
    cfg: ConfigArgs,
    dev: bool,
    watch_courier: bool,
    migrate: bool,
    ui: bool,
) -> anyhow::Result<ExitCode> {
    let mut loaded = load(&cfg.config)?;
    init_logging(&loaded.config);
    loaded.config.watch_courier |= watch_courier;
    let mut running = app::start(
        loaded,
        app::Options {
            dev,
            migrate,
            api_flow_enforcement: std::env::var("DEV_DISABLE_API_FLOW_ENFORCEMENT").as_deref()
                != Ok("true"),
            ui,
            ..Default::default()
        },
    )
    .await?;
    let mut escalations = running.runtime.escalations_handle();
    let code = tokio::select! {
        sig = wait_for_signal() => {
            tracing::info!(signal = sig, "shutting down: draining in-flight requests");
            ExitCode::SUCCESS
        }
        why = async { match escalations.recv().await { Some(w) => w, None => std::future::pending().await } } => {
            tracing::error!(reason = ?why, "a supervised subsystem failed; shutting down");
            ExitCode::FAILURE
        }
    };
    running.runtime.shutdown().await;
    tracing::info!("stopped");
    Ok(code)
}

/// `courier watch`: exits 0 on a signal once the in-flight batch is recorded.
async fn courier_watch(cfg: ConfigArgs, metrics_port: Option<u16>) -> anyhow::Result<ExitCode> {
    let loaded = load(&cfg.config)?;
    init_logging(&loaded.config);
    if metrics_port.is_some_and(|p| p != 0) || loaded.config.expose_metrics_port != 0 {
        tracing::warn!("expose-metrics-port: the courier's metrics listener is not supported yet");
    }
    let mut runtime = app::start_courier(loaded, app::Options::default()).await?;
    let mut escalations = runtime.escalations_handle();
    let code = tokio::select! {
        sig = wait_for_signal() => {
            tracing::info!(signal = sig, "shutting down: finishing the in-flight batch");
            ExitCode::SUCCESS
        }
        why = async { match escalations.recv().await { Some(w) => w, None => std::future::pending().await } } => {
            tracing::error!(reason = ?why, "the courier failed; shutting down");
            ExitCode::FAILURE
        }
    };
    runtime.shutdown().await;
    tracing::info!("stopped");
    Ok(code)
}

async fn migrate_sql(
    cfg: ConfigArgs,
    read_from_env: bool,
    yes: bool,
    dsn: Option<String>,
) -> anyhow::Result<ExitCode> {
    let loaded = load(&cfg.config)?;
    init_logging(&loaded.config);
    let dsn = match (dsn, read_from_env) {
        (Some(d), _) => d,
        (None, true) => loaded.config.dsn.clone(),
        (None, false) => anyhow::bail!(
            "give the DSN as an argument, or pass -e to read it from the configuration and environment"
        ),
    };
    let store = Store::connect(&dsn)
        .await
        .context("connecting to the database")?;
    let pending = store.pending_migrations().await?;
    if pending.is_empty() {
        println!("The database schema is up to date; nothing to apply.");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{} migration(s) to apply: {}",
        pending.len(),
        pending.join(", ")
    );
    if !yes {
        if !std::io::stdin().is_terminal() {
            anyhow::bail!("refusing to migrate without confirmation; pass --yes");
        }
        print!("Apply them? [y/N] ");
        use std::io::Write;
        std::io::stdout().flush().ok();
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        if !matches!(line.trim(), "y" | "Y" | "yes") {
            println!("Aborted.");
            return Ok(ExitCode::FAILURE);
        }
    }
    let applied = store.migrate().await?;
    println!("Applied {} migration(s).", applied.len());
    Ok(ExitCode::SUCCESS)
}

/// `migrate from-kratos`: the target's schema is brought up to date first (this is a migration),
/// except in a dry run, which writes nothing.
async fn migrate_from_kratos(
    cfg: ConfigArgs,
    opts: gatehouse::kratos_import::Options,
) -> anyhow::Result<ExitCode> {
    let loaded = load(&cfg.config)?;
    init_logging(&loaded.config);
    let store = Store::connect(&loaded.config.dsn)
        .await
        .context("connecting to Gatehouse's database (dsn)")?;
    let pending = store.pending_migrations().await?;
    if !pending.is_empty() {
        if opts.dry_run {
            anyhow::bail!(
                "Gatehouse's database schema is behind ({} migrations pending); a dry run writes \
                 nothing, so run `gatehouse migrate sql -e --yes` first",
                pending.len()
            );
        }
        store.migrate().await.context("applying migrations")?;
    }
    let report = gatehouse::kratos_import::run(store, &loaded.config, &opts).await?;
    report.print(&mut std::io::stdout().lock())?;
    Ok(if report.refused() == 0 {
        ExitCode::SUCCESS
    } else {
        // Refused rows are worth a look, but the rest is copied: a distinct code, not failure.
        ExitCode::from(2)
    })
}

/// `admin-keys`: opens the configured database as `serve` does (SQLite migrates itself;
/// PostgreSQL needs `migrate sql` first).
async fn admin_keys(cmd: AdminKeysCmd) -> anyhow::Result<ExitCode> {
    use gatehouse::security::api_keys;
    let (AdminKeysCmd::Create { cfg, tenant, .. }
    | AdminKeysCmd::List { cfg, tenant, .. }
    | AdminKeysCmd::Revoke { cfg, tenant, .. }) = &cmd;
    let loaded = load(&cfg.config)?;
    init_logging(&loaded.config);
    let store = app::open_store(&loaded.config, false).await?;
    let store = match tenant {
        None => store,
        Some(named) => {
            let all = gatehouse::tenancy::all(&loaded.config, "", &store)
                .await
                .context("reading the tenants")?;
            let id = uuid::Uuid::parse_str(named).ok();
            let t = all
                .iter()
                .find(|t| Some(t.id) == id || t.name == *named)
                .with_context(|| format!("there is no tenant {named:?}"))?;
            store.for_network(t.id)
        }
    };
    let time = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map_or_else(
            || "-".to_owned(),
            |t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        )
    };
    match cmd {
        AdminKeysCmd::Create {
            name, read_only, ..
        } => {
            let new = api_keys::create(&store, &name, read_only)
                .await
                .context("storing the key")?;
            if !loaded.config.serve.admin.api_keys.enabled {
                eprintln!(
                    "note: serve.admin.api_keys.enabled is false; the admin API does not ask for keys yet"
                );
            }
            eprintln!("Store the key now: it is not shown again.");
            println!("id: {}", new.info.id);
            println!("name: {}", new.info.name);
            println!("read_only: {}", new.info.read_only);
            println!("key: {}", new.key);
        }
        AdminKeysCmd::List { format, .. } => {
            let keys = api_keys::list(&store).await.context("reading the keys")?;
            match format {
                ListFormat::Json => println!("{}", serde_json::to_string_pretty(&keys)?),
                ListFormat::Table => {
                    println!(
                        "{:<36}  {:<9}  {:<20}  {:<20}  {:<20}  NAME",
                        "ID", "READ ONLY", "CREATED", "LAST USED", "REVOKED"
                    );
                    for k in keys {
                        println!(
                            "{:<36}  {:<9}  {:<20}  {:<20}  {:<20}  {}",
                            k.id,
                            if k.read_only { "yes" } else { "no" },
                            time(Some(k.created_at)),
                            time(k.last_used_at),
                            time(k.revoked_at),
                            k.name
                        );
                    }
                }
            }
        }
        AdminKeysCmd::Revoke { id, .. } => match api_keys::revoke(&store, id).await {
            Ok(k) => println!("Revoked {} ({}) at {}.", k.id, k.name, time(k.revoked_at)),
            Err(gatehouse::store::StoreError::NotFound) => {
                anyhow::bail!("there is no admin API key {id}")
            }
            Err(e) => return Err(anyhow::Error::new(e).context("revoking the key")),
        },
    }
    Ok(ExitCode::SUCCESS)
}

async fn identities(cmd: IdentitiesCmd) -> anyhow::Result<ExitCode> {
    Ok(match cmd {
        IdentitiesCmd::Import {
            client,
            output,
            batch_size,
            parallel,
            files,
        } => {
            if batch_size == 0 || batch_size > cli::identities::MAX_BATCH {
                anyhow::bail!(
                    "--batch-size must be between 1 and {}",
                    cli::identities::MAX_BATCH
                );
            }
            let c = client.client()?;
            cli::identities::import(&c, &files, batch_size, parallel, output.into()).await
        }
        IdentitiesCmd::List {
            client,
            output,
            page_size,
            page_token,
            page,
            per_page,
        } => {
            let c = client.client()?;
            let size = per_page.or(page_size);
            cli::identities::list(&c, page, size, page_token, output.into()).await
        }
        IdentitiesCmd::Get {
            client,
            output,
            include_credentials,
            ids,
        } => {
            let c = client.client()?;
            cli::identities::get(&c, &ids, &include_credentials, output.into()).await
        }
        IdentitiesCmd::Delete {
            client,
            output,
            ids,
        } => cli::identities::delete(&client.client()?, &ids, output.into()).await,
        IdentitiesCmd::Validate { client, cfg, files } => {
            if cfg.config.is_empty() {
                let c = client.client()?;
                cli::identities::validate(cli::identities::Schemas::Admin(&c), &files).await
            } else {
                let loaded = load(&cfg.config)?;
                cli::identities::validate(cli::identities::Schemas::Config(&loaded.config), &files)
                    .await
            }
        }
    })
}

async fn cleanup_sql(
    cfg: ConfigArgs,
    dsn: Option<String>,
    keep_last: &str,
    batch_size: Option<u32>,
    sleep_tables: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let mut loaded = load(&cfg.config)?;
    init_logging(&loaded.config);
    let keep_last = parse_duration(keep_last)?;
    let cleanup = &loaded.config.database.cleanup;
    let opts = cli::cleanup::Options {
        keep_last,
        batch_size: batch_size.unwrap_or(cleanup.batch_size),
        sleep_tables: match sleep_tables {
            Some(s) => parse_duration(s)?,
            None => cleanup.sleep.tables.get(),
        },
    };
    if let Some(d) = dsn {
        loaded.config.dsn = d;
    }
    let store = app::open_store(&loaded.config, false).await?;
    // Every network: the default one and each tenant's.
    let networks: Vec<_> = gatehouse::store::identities::network_ids(&store)
        .await?
        .into_iter()
        .map(|nid| store.for_network(nid))
        .collect();
    cli::cleanup::run(&networks, &loaded.config, opts)
        .await
        .context("cleaning up")?;
    Ok(ExitCode::SUCCESS)
}

fn run(cmd: Cmd) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rustls::crypto::aws_lc_rs::default_provider()
        .install_default()
        .ok();
    match cmd {
        Cmd::Serve {
            cfg,
            dev,
            watch_courier,
            migrate,
            sqa_opt_out: _,
            no_ui,
        } => rt.block_on(serve(cfg, dev, watch_courier, migrate, !no_ui)),
        Cmd::Courier {
            cmd:
                CourierCmd::Watch {
                    cfg,
                    expose_metrics_port,
                },
        } => rt.block_on(courier_watch(cfg, expose_metrics_port)),
        Cmd::Migrate {
            cmd:
                MigrateCmd::Sql {
                    cfg,
                    read_from_env,
                    yes,
                    dsn,
                },
        } => rt.block_on(migrate_sql(cfg, read_from_env, yes, dsn)),
        Cmd::Migrate {
            cmd:
                MigrateCmd::FromKratos {
                    cfg,
                    kratos_dsn,
                    dry_run,
                    batch_size,
                    kratos_cipher_secret,
                },
        } => rt.block_on(migrate_from_kratos(
            cfg,
            gatehouse::kratos_import::Options {
                kratos_dsn,
                dry_run,
                batch_size: batch_size as usize,
                kratos_cipher_secrets: kratos_cipher_secret,
                terminal: std::io::stderr().is_terminal(),
            },
        )),
        Cmd::AdminKeys { cmd } => rt.block_on(admin_keys(cmd)),
        Cmd::Identities { cmd } => rt.block_on(identities(cmd)),
        Cmd::Cleanup {
            cmd:
                CleanupCmd::Sql {
                    cfg,
                    read_from_env: _,
                    keep_last,
                    batch_size,
                    sleep_tables,
                    dsn,
                },
        } => rt.block_on(cleanup_sql(
            cfg,
            dsn,
            &keep_last,
            batch_size,
            sleep_tables.as_deref(),
        )),
        Cmd::Jsonnet { cmd } => Ok(match cmd {
            JsonnetCmd::Lint { files } => cli::jsonnet::lint_files(&files),
            JsonnetCmd::Format { write, files } => cli::jsonnet::format_files(&files, write),
        }),
        Cmd::Version => {
            println!("Version:    v{}", env!("CARGO_PKG_VERSION"));
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Hashers {
            cmd: HashersCmd::Argon2 { cmd },
        } => match cmd {
            Argon2Cmd::Calibrate { cfg, duration } => {
                let loaded = load(&cfg.config)?;
                let target = parse_duration(&duration)?;
                let base = app::argon2_params(&loaded.config);
                let p = hash::calibrate(target, base.memory_kib, base.parallelism);
                println!(
                    "hashers:\n  algorithm: argon2\n  argon2:\n    memory: {}KB\n    iterations: {}\n    parallelism: {}\n    salt_length: {}\n    key_length: {}\n    expected_duration: {duration}",
                    p.memory_kib, p.iterations, p.parallelism, p.salt_length, p.key_length
                );
                Ok(ExitCode::SUCCESS)
            }
            Argon2Cmd::LoadTest {
                cfg,
                duration,
                threads,
            } => {
                let loaded = load(&cfg.config)?;
                let d = parse_duration(&duration)?;
                let threads = threads.unwrap_or_else(|| {
                    std::thread::available_parallelism()
                        .map(|n| n.get())
                        .unwrap_or(1)
                });
                let rate = hash::measure_rate(&app::argon2_params(&loaded.config), threads, d);
                println!("{rate:.1} hashes/s on {threads} thread(s)");
                Ok(ExitCode::SUCCESS)
            }
        },
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.cmd) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("gatehouse: {e:#}");
            ExitCode::FAILURE
        }
    }
}
