//! The hashing threads: password hashing never runs on tokio's workers or its shared blocking
//! pool. Each lane (`lane`) has a small set of dedicated OS threads, started on demand up to
//! its limit (the ordinary lane: at most one per core; the expensive lane: one) and gone after
//! a quiet spell, each running one hash at a time:
//!
//! - at a lower CPU priority (nice 10 on Linux for the ordinary lane, 19 for the expensive
//!   one), so a login storm that saturates every core delays whoami and the rest of the HTTP
//!   work only a little: the scheduler gives the async workers the CPU whenever they have
//!   something to do;
//! - with a per-thread argon2 work area that is reused from hash to hash (see
//!   `verify::argon2_raw`), so resident memory stays at about threads × argon2 memory instead
//!   of growing with every thread the allocator ever handed a 19 MiB block to.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

type Job = Box<dyn FnOnce() + Send + 'static>;

/// A thread with nothing to do for this long exits, returning its work area.
const IDLE: Duration = Duration::from_secs(20);

pub(super) struct Pool {
    shared: Arc<Shared>,
    max_threads: usize,
    /// Thread name prefix.
    name: &'static str,
    /// Niceness of the threads (0 is normal, 19 the lowest priority).
    nice: i32,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Job>,
    threads: usize,
    idle: usize,
    closed: bool,
}

impl Pool {
    pub(super) fn new(max_threads: usize, name: &'static str, nice: i32) -> Self {
        Pool {
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
                wake: Condvar::new(),
            }),
            max_threads: max_threads.max(1),
            name,
            nice,
        }
    }

    /// Queues `job`; a thread is started when every running one is busy and the limit allows.
    /// Callers bound the number of outstanding jobs themselves (the lane's memory semaphore and
    /// queue bound), so the queue never holds more than the lane admits.
    pub(super) fn submit(&self, job: Job) -> std::io::Result<()> {
        let mut s = self
            .shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        s.queue.push_back(job);
        if s.queue.len() > s.idle && s.threads < self.max_threads {
            let shared = self.shared.clone();
            let n = s.threads;
            let nice = self.nice;
            std::thread::Builder::new()
                .name(format!("{}-{n}", self.name))
                .spawn(move || work(&shared, nice))
                .inspect_err(|_| {
                    s.queue.pop_back();
                })?;
            s.threads += 1;
        } else {
            self.shared.wake.notify_one();
        }
        Ok(())
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        let mut s = self
            .shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        s.closed = true;
        drop(s);
        self.shared.wake.notify_all();
    }
}

fn work(shared: &Shared, nice: i32) {
    lower_priority(nice);
    let mut s = shared.state.lock().unwrap_or_else(PoisonError::into_inner);
    loop {
        if let Some(job) = s.queue.pop_front() {
            drop(s);
            // A panicking hash must not take the thread's bookkeeping with it; the job's
            // result channel is dropped, which its caller sees as a failure.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
            s = shared.state.lock().unwrap_or_else(PoisonError::into_inner);
            continue;
        }
        if s.closed {
            break;
        }
        s.idle += 1;
        let (guard, wait) = shared
            .wake
            .wait_timeout(s, IDLE)
            .unwrap_or_else(PoisonError::into_inner);
        s = guard;
        s.idle -= 1;
        if wait.timed_out() && s.queue.is_empty() {
            break;
        }
    }
    s.threads -= 1;
}

#[cfg(target_os = "linux")]
fn lower_priority(nice: i32) {
    // On Linux the nice value is per thread: PRIO_PROCESS with pid 0 is the calling thread.
    // Raising niceness needs no privilege; failure only costs the priority.
    let _ = rustix::process::setpriority_process(None, nice);
}

#[cfg(not(target_os = "linux"))]
fn lower_priority(_nice: i32) {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn runs_jobs_on_at_most_max_threads_and_lowers_their_priority() {
        const NICE: i32 = 10;
        let pool = Pool::new(2, "gatehouse-hash", NICE);
        let (tx, rx) = mpsc::channel();
        for i in 0..6 {
            let tx = tx.clone();
            pool.submit(Box::new(move || {
                std::thread::sleep(Duration::from_millis(20));
                let name = std::thread::current().name().unwrap_or("").to_owned();
                #[cfg(target_os = "linux")]
                let nice = rustix::process::getpriority_process(None).unwrap();
                #[cfg(not(target_os = "linux"))]
                let nice = NICE;
                tx.send((i, name, nice)).unwrap();
            }))
            .unwrap();
        }
        let mut got: Vec<_> = (0..6)
            .map(|_| rx.recv_timeout(Duration::from_secs(5)).unwrap())
            .collect();
        got.sort();
        assert_eq!(
            got.iter().map(|g| g.0).collect::<Vec<_>>(),
            [0, 1, 2, 3, 4, 5]
        );
        for (_, name, nice) in &got {
            assert!(
                name == "gatehouse-hash-0" || name == "gatehouse-hash-1",
                "{name}"
            );
            assert_eq!(*nice, NICE);
        }
        assert!(pool.shared.state.lock().unwrap().threads <= 2);
    }
}
