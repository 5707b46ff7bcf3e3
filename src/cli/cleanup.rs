//! `cleanup sql`: deletes what no request will read again, table by table in batches, with a
//! progress line per table on a terminal, one result line per table and a summary. As in
//! Kratos, `--keep-last` spares rows that became useless less than that long ago, and
//! `--sleep-tables` pauses between tables so a busy database gets room to breathe.

use std::future::Future;
use std::time::{Duration, Instant};

use chrono::NaiveDateTime;

use super::Progress;
use crate::config::Config;
use crate::store::{Store, StoreError, cleanup as q};

#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Rows that expired (or finished) less than this long ago stay.
    pub keep_last: Duration,
    /// Rows per delete statement.
    pub batch_size: u32,
    /// Pause between two tables.
    pub sleep_tables: Duration,
}

/// What one table gave up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cleaned {
    pub table: &'static str,
    pub deleted: usize,
}

/// The tables cleaned, in order.
#[derive(Clone, Copy)]
enum Table {
    Flows,
    Sessions,
    Messages,
    Tokens,
    RateLimits,
    Throttle,
}

impl Table {
    const ALL: [Table; 6] = [
        Table::Flows,
        Table::Sessions,
        Table::Messages,
        Table::Tokens,
        Table::RateLimits,
        Table::Throttle,
    ];

    fn name(self) -> &'static str {
        match self {
            Table::Flows => "selfservice_flows",
            Table::Sessions => "sessions",
            Table::Messages => "courier_messages",
            Table::Tokens => "selfservice_tokens",
            Table::RateLimits => "rate_limits",
            Table::Throttle => "throttle_counters",
        }
    }
}

fn minus(at: NaiveDateTime, d: Duration) -> NaiveDateTime {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| at.checked_sub_signed(d))
        .unwrap_or(NaiveDateTime::MIN)
}

/// Calls `step` until it deletes nothing, redrawing the table's progress line.
async fn drain<F, Fut>(
    table: &'static str,
    progress: &mut Progress,
    mut step: F,
) -> Result<usize, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<usize, StoreError>>,
{
    let mut total = 0;
    loop {
        let n = step().await?;
        if n == 0 {
            return Ok(total);
        }
        total += n;
        progress.update(|| format!("{table}: {total} rows deleted"));
    }
}

/// When rows count as old, fixed once per run.
#[derive(Clone, Copy)]
struct Cutoffs<'a> {
    before: NaiveDateTime,
    tat_before: i64,
    batch: i64,
    throttle: &'a [(&'static str, NaiveDateTime)],
}

/// Cleans one table of one network; the rows deleted.
async fn clean(
    table: Table,
    store: &Store,
    progress: &mut Progress,
    c: Cutoffs<'_>,
) -> Result<usize, StoreError> {
    let Cutoffs {
        before,
        tat_before,
        batch,
        throttle,
    } = c;
    let (name, p) = (table.name(), progress);
    let deleted = match table {
        Table::Flows => drain(name, p, || q::expired_flows(store, before, batch)).await?,
        Table::Sessions => drain(name, p, || q::expired_sessions(store, before, batch)).await?,
        Table::Messages => drain(name, p, || q::finished_messages(store, before, batch)).await?,
        Table::Tokens => drain(name, p, || q::expired_tokens(store, before, batch)).await?,
        Table::RateLimits => {
            drain(name, p, || q::spent_rate_limits(store, tat_before, batch)).await?
        }
        Table::Throttle => {
            let mut n = 0;
            for (prefix, cutoff) in throttle {
                let cutoff = (*cutoff).min(before);
                n += drain(name, p, || {
                    q::stale_throttle_counters(store, prefix, cutoff, batch)
                })
                .await?;
            }
            n
        }
    };
    Ok(deleted)
}

/// Cleans every table of each network in `networks` (stores scoped to them: the default
/// network's and each tenant's); prints a line per table and the summary.
pub async fn run(
    networks: &[Store],
    cfg: &Config,
    opts: Options,
) -> Result<Vec<Cleaned>, StoreError> {
    let started = Instant::now();
    let now = crate::identity::now().naive_utc();
    let before = minus(now, opts.keep_last);
    let keep_micros = i64::try_from(opts.keep_last.as_micros()).unwrap_or(i64::MAX);
    let tat_before = now.and_utc().timestamp_micros().saturating_sub(keep_micros);
    let batch = i64::from(opts.batch_size.max(1));
    let throttle = crate::security::throttle::stale_cutoffs(&cfg.security.brute_force);
    let cleanup_at = Cutoffs {
        before,
        tat_before,
        batch,
        throttle: &throttle,
    };
    let mut progress = Progress::new();
    let mut done = Vec::new();
    for (i, table) in Table::ALL.into_iter().enumerate() {
        if i > 0 && !opts.sleep_tables.is_zero() {
            tokio::time::sleep(opts.sleep_tables).await;
        }
        let mut deleted = 0;
        for store in networks {
            deleted += clean(table, store, &mut progress, cleanup_at).await?;
        }
        progress.finish();
        println!("{}: deleted {deleted} rows", table.name());
        done.push(Cleaned {
            table: table.name(),
            deleted,
        });
    }
    let total: usize = done.iter().map(|c| c.deleted).sum();
    println!(
        "Cleanup finished: {total} rows deleted from {} tables in {:.1}s.",
        done.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(done)
}
