//! `gatehouse migrate from-kratos`: copies a Kratos database into Gatehouse's.
//!
//! Tables go in dependency order (networks, identities, credentials, identifiers, addresses,
//! sessions, devices, unsent courier messages), each read a page at a time ([`source`]), mapped
//! ([`map`]) and written insert-if-absent by id, a page per transaction
//! (`store::kratos_import`). Ids are kept, so a second run copies nothing and a run killed
//! halfway is finished by the next one. A row that cannot be taken is reported with its reason,
//! and so are the rows that hang off it (a refused identity's credentials, sessions, …).

pub mod map;
pub mod source;

use std::collections::HashSet;
use std::io::Write as _;
use std::time::Instant;

use uuid::Uuid;

use self::map::{Mapper, Refusal};
use self::source::{
    KCredential, KDevice, KIdentifier, KIdentity, KMessage, KNetwork, KRecovery, KSession,
    KVerifiable, START, Source,
};
use crate::cipher::Cipher;
use crate::config::Config;
use crate::store::Store;
use crate::store::kratos_import::{self as w, BatchOutcome};

/// What the command line asks for.
#[derive(Clone, Debug)]
pub struct Options {
    /// The Kratos database.
    pub kratos_dsn: String,
    /// Report only; write nothing.
    pub dry_run: bool,
    /// Rows per page and per transaction.
    pub batch_size: usize,
    /// Kratos's `secrets.cipher`; empty: the configuration's.
    pub kratos_cipher_secrets: Vec<String>,
    /// Progress lines rewrite themselves (stderr is a terminal).
    pub terminal: bool,
}

/// One table's counts.
#[derive(Clone, Debug, Default)]
pub struct TableReport {
    pub table: &'static str,
    pub read: usize,
    pub copied: usize,
    pub skipped: usize,
    pub refused: Vec<(String, Refusal)>,
}

/// The whole run.
#[derive(Debug, Default)]
pub struct Report {
    pub tables: Vec<TableReport>,
    pub dry_run: bool,
    pub seconds: f64,
}

impl Report {
    pub fn refused(&self) -> usize {
        self.tables.iter().map(|t| t.refused.len()).sum()
    }

    /// The summary: one line per table, then every refused row with its reason.
    pub fn print(&self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        let copied = if self.dry_run { "WOULD COPY" } else { "COPIED" };
        writeln!(
            out,
            "{:<32} {:>10} {:>10} {:>10} {:>10}",
            "TABLE", "READ", copied, "SKIPPED", "REFUSED"
        )?;
        for t in &self.tables {
            writeln!(
                out,
                "{:<32} {:>10} {:>10} {:>10} {:>10}",
                t.table,
                t.read,
                t.copied,
                t.skipped,
                t.refused.len()
            )?;
        }
        for t in &self.tables {
            for (id, why) in &t.refused {
                writeln!(out, "refused {} {id}: {why}", t.table)?;
            }
        }
        writeln!(
            out,
            "{} in {:.1}s{}",
            if self.dry_run {
                "dry run, nothing written"
            } else {
                "done"
            },
            self.seconds,
            if self.dry_run {
                ""
            } else {
                " (skipped: already present)"
            }
        )
    }
}

/// Ids refused so far, per parent table, so their children are refused with them.
#[derive(Default)]
struct Refused {
    identities: HashSet<Uuid>,
    credentials: HashSet<Uuid>,
    sessions: HashSet<Uuid>,
}

/// Copies one table page by page: maps each row, writes the page (or, dry, checks which rows
/// are present), prints progress, and hands the finished report to `$done`.
macro_rules! copy {
    ($ctx:expr, $src:expr, $table:literal, $k:ty, $ops:ident, |$row:ident| $map:expr, $done:expr) => {{
        let mut t = TableReport {
            table: $table,
            ..Default::default()
        };
        // The next page is read while this one is written: the two databases work at once.
        let mut page: Vec<$k> = <$k>::page(&mut $src, START, $ctx.batch).await?;
        while let Some(last) = page.last() {
            let after = last.id.clone();
            t.read += page.len();
            let mut rows = Vec::with_capacity(page.len());
            for $row in &page {
                #[allow(clippy::redundant_closure_call)]
                let mapped: Result<Option<_>, Refusal> = (|| $map)();
                match mapped {
                    Ok(Some(r)) => rows.push(r),
                    Ok(None) => {}
                    Err(why) => t.refused.push(($row.id.clone(), why)),
                }
            }
            let write = async {
                if $ctx.opts.dry_run {
                    let want: Vec<Uuid> = rows.iter().map(|r| w::ImportRow::row_id(r)).collect();
                    let present = w::$ops::existing($ctx.store, &want).await?;
                    Ok::<_, crate::store::StoreError>(BatchOutcome {
                        copied: want.len() - present.len(),
                        skipped: present.len(),
                        refused: Vec::new(),
                    })
                } else {
                    w::$ops::insert_absent($ctx.store, &rows).await
                }
            };
            let (next, out) = tokio::join!(<$k>::page(&mut $src, &after, $ctx.batch), write);
            let out = out?;
            page = next?;
            t.copied += out.copied;
            t.skipped += out.skipped;
            t.refused.extend(
                out.refused
                    .into_iter()
                    .map(|(id, why)| (id.to_string(), why)),
            );
            progress($ctx.opts, &t, false);
        }
        progress($ctx.opts, &t, true);
        #[allow(clippy::redundant_closure_call)]
        ($done)(&mut t);
        t
    }};
}

/// Runs the migration into `store` (connected to the configuration's DSN, migrated, network not
/// yet resolved) from the Kratos database the options name.
pub async fn run(mut store: Store, config: &Config, opts: &Options) -> anyhow::Result<Report> {
    use anyhow::Context;
    let started = Instant::now();
    let mut src = Source::connect(&opts.kratos_dsn)
        .await
        .context("connecting to the Kratos database")?;
    let batch = opts.batch_size.max(1) as i64;
    let mut report = Report {
        dry_run: opts.dry_run,
        ..Default::default()
    };

    // Networks: Gatehouse serves one. Kratos serves its oldest; when Gatehouse has none yet it
    // takes that id, otherwise rows move to Gatehouse's network.
    let mut t = TableReport {
        table: "networks",
        ..Default::default()
    };
    let mut networks = KNetwork::page(&mut src, START, 10_000).await?;
    networks.sort_by_key(|n| map::parse_time(&n.created_at));
    let source_nid = networks
        .first()
        .map(|n| map::id("networks.id", &n.id))
        .transpose()
        .map_err(anyhow::Error::msg)?;
    t.read = networks.len();
    let target_nid = match (w::current_network(&store).await?, networks.first()) {
        (Some(nid), _) => {
            t.skipped = usize::from(Some(nid) == source_nid);
            nid
        }
        (None, Some(n)) => {
            let id = source_nid.expect("the first network's id");
            let at = |s: &str| map::parse_time(s).unwrap_or_else(map::now);
            if !opts.dry_run {
                w::adopt_network(&store, id, at(&n.created_at), at(&n.updated_at)).await?;
            }
            t.copied = 1;
            id
        }
        (None, None) => {
            if opts.dry_run {
                Uuid::nil()
            } else {
                store.init_network().await?;
                store.nid()
            }
        }
    };
    for n in networks.iter().skip(1) {
        t.refused.push((
            n.id.clone(),
            "Gatehouse serves one network; only the oldest is copied".into(),
        ));
    }
    if !opts.dry_run {
        store.init_network().await?;
    }
    progress(opts, &t, true);
    report.tables.push(t);

    let kratos_cipher = if opts.kratos_cipher_secrets.is_empty() {
        Cipher::from_config(config)
    } else {
        let mut c = config.clone();
        c.secrets.cipher = opts.kratos_cipher_secrets.clone();
        Cipher::from_config(&c)
    };
    let mapper = Mapper {
        source_nid,
        target_nid,
        schema_ids: config
            .identity
            .schemas
            .iter()
            .map(|s| s.id.clone())
            .collect(),
        hasher: crate::app::hasher_from(config),
        kratos_cipher,
        cipher: Cipher::from_config(config),
        now: map::now(),
    };
    let mut refused = Refused::default();
    let ctx = Ctx {
        store: &store,
        opts,
        batch,
    };

    report.tables.push(copy!(
        ctx,
        src,
        "identities",
        KIdentity,
        identities_t,
        |k| { mapper.identity(k).map(Some) },
        |t: &mut TableReport| refused.identities.extend(ids(&t.refused))
    ));
    report.tables.push(copy!(
        ctx,
        src,
        "identity_credentials",
        KCredential,
        credentials_t,
        |k| {
            parent(&refused.identities, &k.identity_id, "identity")?;
            mapper.credential(k).map(Some)
        },
        |t: &mut TableReport| refused.credentials.extend(ids(&t.refused))
    ));
    report.tables.push(copy!(
        ctx,
        src,
        "identity_credential_identifiers",
        KIdentifier,
        identifiers_t,
        |k| {
            parent(
                &refused.credentials,
                &k.identity_credential_id,
                "credential",
            )?;
            mapper.identifier(k).map(Some)
        },
        |_| {}
    ));
    report.tables.push(copy!(
        ctx,
        src,
        "identity_verifiable_addresses",
        KVerifiable,
        verifiable_t,
        |k| {
            parent(&refused.identities, &k.identity_id, "identity")?;
            mapper.verifiable(k).map(Some)
        },
        |_| {}
    ));
    report.tables.push(copy!(
        ctx,
        src,
        "identity_recovery_addresses",
        KRecovery,
        recovery_t,
        |k| {
            parent(&refused.identities, &k.identity_id, "identity")?;
            mapper.recovery(k).map(Some)
        },
        |_| {}
    ));
    report.tables.push(copy!(
        ctx,
        src,
        "sessions",
        KSession,
        sessions_t,
        |k| {
            parent(&refused.identities, &k.identity_id, "identity")?;
            mapper.session(k).map(Some)
        },
        |t: &mut TableReport| refused.sessions.extend(ids(&t.refused))
    ));
    report.tables.push(copy!(
        ctx,
        src,
        "session_devices",
        KDevice,
        devices_t,
        |k| {
            parent(&refused.sessions, &k.session_id, "session")?;
            mapper.device(k).map(Some)
        },
        |_| {}
    ));
    if src.has_table("courier_messages").await? {
        report.tables.push(copy!(
            ctx,
            src,
            "courier_messages",
            KMessage,
            messages_t,
            |k| {
                // Only unsent messages move (queued 1, processing 3); the rest are history.
                if !matches!(k.status, Some(1) | Some(3)) {
                    return Ok(None);
                }
                mapper.message(k).map(Some)
            },
            |_| {}
        ));
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Refuses a child whose parent was refused.
fn parent(refused: &HashSet<Uuid>, parent_id: &str, what: &str) -> Result<(), Refusal> {
    match Uuid::parse_str(parent_id) {
        Ok(p) if refused.contains(&p) => Err(format!("its {what} {p} was refused")),
        _ => Ok(()),
    }
}

fn ids(refused: &[(String, Refusal)]) -> impl Iterator<Item = Uuid> + '_ {
    refused
        .iter()
        .filter_map(|(id, _)| Uuid::parse_str(id).ok())
}

struct Ctx<'a> {
    store: &'a Store,
    opts: &'a Options,
    batch: i64,
}

/// One progress line per table on stderr: rewritten in place on a terminal; elsewhere a line
/// per page and a closing one, so a log shows how far a run got.
fn progress(opts: &Options, t: &TableReport, finished: bool) {
    let line = format!(
        "{}: {} read, {} {}, {} skipped, {} refused",
        t.table,
        t.read,
        t.copied,
        if opts.dry_run { "to copy" } else { "copied" },
        t.skipped,
        t.refused.len()
    );
    let mut err = std::io::stderr().lock();
    let _ = if opts.terminal {
        write!(err, "\r\x1b[2K{line}{}", if finished { "\n" } else { "" })
    } else {
        writeln!(err, "{line}{}", if finished { " (done)" } else { "" })
    };
    let _ = err.flush();
}
