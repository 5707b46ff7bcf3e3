//! A lane of hashing work: its own threads (`pool`), the memory its jobs may hold at once, and
//! optionally a bound on how many jobs may wait and for how long.
//!
//! Admission is by memory: the lane's semaphore counts KiB, and a job takes its estimated
//! working memory (at least `min_charge_kib`) before it is handed to a thread, and gives it
//! back when it ends. A job that cannot be admitted at once waits in FIFO order; in a bounded
//! lane it waits at most `max_wait` (for memory and then for a thread together), after which it
//! is withdrawn without running and its caller gets [`HashError::Busy`]; when `queue` jobs are
//! already waiting, a new one is refused at once with the same error.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

use super::HashError;
use super::pool::Pool;

pub(super) struct LaneConfig {
    /// Thread name prefix.
    pub name: &'static str,
    /// Niceness of the lane's threads.
    pub nice: i32,
    pub threads: usize,
    /// Memory the lane's admitted jobs may hold at once, KiB.
    pub budget_kib: u64,
    /// What a job is charged at least, KiB: bounds how many cheap jobs are admitted at once.
    pub min_charge_kib: u64,
    /// How many jobs may wait (for memory or a thread) besides one running per thread; more
    /// are refused. `None`: unbounded.
    pub queue: Option<usize>,
    /// A job that has not started this long after it was submitted is withdrawn. `None`: it
    /// waits as long as it takes.
    pub max_wait: Option<Duration>,
}

pub(super) struct Lane {
    cfg: LaneConfig,
    budget: u32,
    memory: Arc<Semaphore>,
    pool: Pool,
    /// Jobs admitted and not yet finished or withdrawn: waiting for memory, queued, running.
    jobs: Arc<AtomicUsize>,
}

/// Counts one job in `Lane::jobs` until dropped.
struct Ticket(Arc<AtomicUsize>);

impl Drop for Ticket {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What an admitted job holds until it ends: its memory and its place in the lane.
type Held = (OwnedSemaphorePermit, Ticket);

/// Shared by a waiting job and its caller; whoever takes the contents first decides: the
/// thread starts the job, or the caller withdraws it (it waited too long, or the caller went
/// away) and the memory and the place are released at once.
#[derive(Clone)]
struct Claim(Arc<Mutex<Option<Held>>>);

impl Claim {
    fn take(&self) -> Option<Held> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

/// Withdraws a job that has not started when the caller stops waiting for it.
struct Withdraw(Claim);

impl Drop for Withdraw {
    fn drop(&mut self) {
        drop(self.0.take());
    }
}

impl Lane {
    pub(super) fn new(cfg: LaneConfig) -> Lane {
        let budget = u32::try_from(cfg.budget_kib)
            .unwrap_or(u32::MAX)
            .clamp(1, u32::try_from(Semaphore::MAX_PERMITS).unwrap_or(u32::MAX));
        Lane {
            memory: Arc::new(Semaphore::new(budget as usize)),
            pool: Pool::new(cfg.threads, cfg.name, cfg.nice),
            budget,
            jobs: Arc::new(AtomicUsize::new(0)),
            cfg,
        }
    }

    /// What a job needing `memory_kib` is charged: at least the minimum, and never more than
    /// the whole budget (a job larger than the budget runs alone).
    pub(super) fn charge(&self, memory_kib: u64) -> u32 {
        let kib = u32::try_from(memory_kib.max(self.cfg.min_charge_kib)).unwrap_or(u32::MAX);
        kib.min(self.budget)
    }

    /// How many jobs charged the minimum fit in the budget at once.
    pub(super) fn slots(&self) -> usize {
        (self.budget / self.charge(0).max(1)) as usize
    }

    fn admit(&self) -> Result<Ticket, HashError> {
        let limit = self.cfg.queue.map(|q| q + self.cfg.threads);
        let mut now = self.jobs.load(Ordering::Acquire);
        loop {
            if limit.is_some_and(|l| now >= l) {
                return Err(HashError::Busy);
            }
            match self
                .jobs
                .compare_exchange(now, now + 1, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Ok(Ticket(self.jobs.clone())),
                Err(seen) => now = seen,
            }
        }
    }

    /// Runs `f` on one of the lane's threads once `memory_kib` (as charged) is available. A
    /// started job always runs to its end, holding its memory, even if the caller's future is
    /// dropped; a job that has not started is withdrawn then.
    pub(super) async fn run<T, F>(&self, memory_kib: u64, f: F) -> Result<T, HashError>
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T, HashError> + Send + 'static,
    {
        let ticket = self.admit()?;
        let deadline = self.cfg.max_wait.map(|w| tokio::time::Instant::now() + w);
        let acquire = self
            .memory
            .clone()
            .acquire_many_owned(self.charge(memory_kib));
        let permit = match deadline {
            Some(d) => tokio::time::timeout_at(d, acquire)
                .await
                .map_err(|_| HashError::Busy)?,
            None => acquire.await,
        }
        .map_err(|_| HashError::Internal("hasher is shut down".into()))?;
        let claim = Claim(Arc::new(Mutex::new(Some((permit, ticket)))));
        let (tx, mut rx) = oneshot::channel();
        let job_claim = claim.clone();
        self.pool
            .submit(Box::new(move || {
                let Some(held) = job_claim.take() else {
                    return; // withdrawn while it waited
                };
                let result = f();
                // The memory and the place are free before the caller hears of the result.
                drop(held);
                let _ = tx.send(result);
            }))
            .map_err(|e| HashError::Internal(format!("cannot start a hashing thread: {e}")))?;
        let withdraw = Withdraw(claim);
        let result = match deadline {
            Some(d) => match tokio::time::timeout_at(d, &mut rx).await {
                Ok(r) => r,
                Err(_) => {
                    if withdraw.0.take().is_some() {
                        return Err(HashError::Busy);
                    }
                    // It started just in time: it runs to its end.
                    rx.await
                }
            },
            None => rx.await,
        };
        drop(withdraw);
        result.map_err(|_| HashError::Internal("hashing task failed".into()))?
    }

    #[cfg(test)]
    pub(super) fn jobs(&self) -> usize {
        self.jobs.load(Ordering::Acquire)
    }

    #[cfg(test)]
    pub(super) fn available_kib(&self) -> usize {
        self.memory.available_permits()
    }
}
