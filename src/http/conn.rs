//! Connection bookkeeping for one listener: the open-connection cap with eviction of the
//! longest-idle connection, the per-connection watchdog (header, idle and write-stall
//! timeouts), and the descriptor budget the caps come from.
//!
//! The request path touches only its own connection's state: an atomic increment and
//! decrement around each request and a few relaxed loads and stores; it neither reads the
//! clock (the watchdog stamps the times it is told about, see `UNSTAMPED`) nor arms a timer.
//! Everything that looks at all connections (choosing whom to evict) runs in the accept loop,
//! under one lock, only when a listener is full.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use prometheus::{IntCounter, IntGauge};
use tokio::sync::Notify;

use crate::metrics::Metrics;

/// How long a connection may take over each phase. The defaults are the README's.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// From accept (or the first byte of a later request on a kept-alive connection) to a
    /// complete request head. Slowloris protection.
    pub header: Duration,
    /// A kept-alive connection with no request in flight. Longer than the 60 s idle timeout
    /// of common proxies and load balancers, so they close pooled connections before we do
    /// and never send a request into a connection we are closing.
    pub idle: Duration,
    /// A response write that makes no progress (the client does not read).
    pub write: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            header: Duration::from_secs(10),
            idle: Duration::from_secs(75),
            write: Duration::from_secs(30),
        }
    }
}

impl Timeouts {
    /// How often a watchdog looks again when nothing is due: a state change that brings a
    /// deadline forward (a head starting on a kept-alive connection, a write blocking) is
    /// noticed within this, so those timeouts fire up to one tick late. Waking each
    /// connection this often is what keeps timers off the request path.
    fn tick(&self) -> Duration {
        (self.header.min(self.write) / 2).max(Duration::from_millis(50))
    }
}

// ----- the descriptor budget -----

/// Descriptors kept back for everything that is not a client connection: stdio, the
/// runtime's epoll and event descriptors, the two listening sockets, log, schema and template
/// files, DNS lookups, and connections evicted but not yet closed (`EVICT_SLACK`).
pub const RESERVE_BASE: u64 = 64;
/// Outgoing connections besides the database: blocking web hooks, breached-password checks,
/// async web hook deliveries, the password migration hook, and their idle pools.
pub const RESERVE_OUTGOING: u64 = 128;
/// Per database pool connection: SQLite holds the database, its WAL and its shared-memory
/// file open per connection; PostgreSQL one socket. The larger is reserved.
pub const RESERVE_PER_DB_CONN: u64 = 3;
/// The smallest cap a listener gets, however low the descriptor limit.
pub const MIN_CAP: usize = 16;

/// How the process's open-file limit is shared out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdBudget {
    pub limit: u64,
    pub reserve: u64,
    pub public: usize,
    pub admin: usize,
}

impl FdBudget {
    /// `db_pool`: the database pool's maximum size; `courier_workers`: concurrent courier
    /// deliveries (each an SMTP or HTTP connection). The admin listener gets a quarter of what
    /// is left, the public one the rest; each is its own cap, so filling one never starves the
    /// other, and together with the reserve they stay below the limit, so accept never fails
    /// with EMFILE.
    pub fn new(limit: u64, db_pool: u32, courier_workers: u32) -> FdBudget {
        let reserve = RESERVE_BASE
            + RESERVE_OUTGOING
            + u64::from(courier_workers)
            + RESERVE_PER_DB_CONN * u64::from(db_pool);
        let available = limit.saturating_sub(reserve);
        let admin = available / 4;
        let public = available - admin;
        let cap = |n: u64| usize::try_from(n).unwrap_or(usize::MAX).max(MIN_CAP);
        FdBudget {
            limit,
            reserve,
            public: cap(public),
            admin: cap(admin),
        }
    }

    /// Whether the caps had to be raised to `MIN_CAP`, so the limit no longer covers them.
    pub fn overcommitted(&self) -> bool {
        (self.public + self.admin) as u64 + self.reserve > self.limit
    }
}

// ----- time -----

/// A time the request path marked as "now" without reading the clock; the connection's
/// watchdog replaces it with the time at its next wake-up (within one tick). Being the
/// largest value, it also ranks as the most recent for eviction, which it nearly is.
const UNSTAMPED: u64 = u64::MAX;

/// Milliseconds on a process-wide monotonic clock; never 0, so 0 can mean "not set".
pub fn now_ms() -> u64 {
    let ms = epoch().elapsed().as_millis();
    u64::try_from(ms).unwrap_or(u64::MAX - 1) + 1
}

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn instant_at(ms: u64) -> tokio::time::Instant {
    tokio::time::Instant::from_std(epoch() + Duration::from_millis(ms.saturating_sub(1)))
}

// ----- one connection -----

/// What the accept loop, the watchdog, the IO wrapper and the service share about one
/// connection. Every field is advisory and read with relaxed ordering.
#[derive(Debug)]
pub struct ConnState {
    id: u64,
    /// Requests whose response body hyper has not finished with (streams, on HTTP/2).
    in_flight: AtomicU32,
    /// Of those, the ones still receiving their request body: they wait on the client, not on
    /// the server, so to the evictor they count as idle (their own deadline bounds them).
    receiving: AtomicU32,
    /// When the connection last had no request in flight (accept, or a response done); may be
    /// `UNSTAMPED`.
    idle_since: AtomicU64,
    /// When the head now being read started arriving (0: no head pending). Set at accept, as
    /// a new connection owes its first request at once; on a kept-alive one by the first byte
    /// read while no request is in flight (`UNSTAMPED` until the watchdog sees it).
    head_since: AtomicU64,
    /// Since when a write has been waiting for socket space (0: not blocked).
    write_blocked_since: AtomicU64,
    /// HTTP/2 (prior knowledge): pings and settings arrive between requests, so only the idle
    /// timeout applies between streams.
    h2: AtomicBool,
    /// Chosen for eviction (set under the registry's lock).
    evicted: AtomicBool,
    kill: Notify,
}

impl ConnState {
    pub fn new(id: u64, now: u64) -> ConnState {
        ConnState {
            id,
            in_flight: AtomicU32::new(0),
            receiving: AtomicU32::new(0),
            idle_since: AtomicU64::new(now),
            head_since: AtomicU64::new(now),
            write_blocked_since: AtomicU64::new(0),
            h2: AtomicBool::new(false),
            evicted: AtomicBool::new(false),
            kill: Notify::new(),
        }
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    /// A request was handed to the service.
    pub fn request_started(&self) {
        self.in_flight.fetch_add(1, Relaxed);
    }

    /// hyper is done with a response (or the request was abandoned).
    pub fn request_ended(&self) {
        if self.in_flight.fetch_sub(1, Relaxed) == 1 {
            self.head_since.store(0, Relaxed);
            self.idle_since.store(UNSTAMPED, Relaxed);
        }
    }

    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Relaxed)
    }

    /// A request's body is arriving until the guard is dropped (also when the request is
    /// abandoned midway).
    pub fn receiving_body(&self) -> Receiving<'_> {
        self.receiving.fetch_add(1, Relaxed);
        Receiving(self)
    }

    /// No request of this connection is being worked on: it is idle, or every request it has
    /// in flight is still waiting for its body from the client. Closing it loses no work.
    fn waiting_on_client(&self) -> bool {
        self.in_flight.load(Relaxed) <= self.receiving.load(Relaxed)
    }

    pub fn idle_since(&self) -> u64 {
        self.idle_since.load(Relaxed)
    }

    /// Bytes arrived from the client (the IO wrapper's read path).
    #[inline]
    pub fn bytes_read(&self) {
        if self.in_flight.load(Relaxed) == 0
            && self.head_since.load(Relaxed) == 0
            && !self.h2.load(Relaxed)
        {
            self.head_since.store(UNSTAMPED, Relaxed);
        }
    }

    pub fn set_h2(&self) {
        self.h2.store(true, Relaxed);
    }

    /// A write returned `Pending` (`blocked`) or made progress.
    #[inline]
    pub fn write_blocked(&self, blocked: bool) {
        let since = self.write_blocked_since.load(Relaxed);
        if blocked && since == 0 {
            self.write_blocked_since.store(now_ms(), Relaxed);
        } else if !blocked && since != 0 {
            self.write_blocked_since.store(0, Relaxed);
        }
    }

    /// Gives the times marked `UNSTAMPED` since the last look the time `now`. A compare and
    /// swap, so a change the request path makes meanwhile is never overwritten.
    fn stamp(&self, now: u64) {
        for t in [&self.idle_since, &self.head_since] {
            let _ = t.compare_exchange(UNSTAMPED, now, Relaxed, Relaxed);
        }
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            in_flight: self.in_flight.load(Relaxed),
            idle_since: self.idle_since.load(Relaxed),
            head_since: self.head_since.load(Relaxed),
            write_blocked_since: self.write_blocked_since.load(Relaxed),
            h2: self.h2.load(Relaxed),
        }
    }

    /// Runs until the connection is due to close: a timeout passed or it was evicted. The
    /// connection's task races this against the connection and drops the connection (closing
    /// the socket) when this wins.
    pub async fn watchdog(&self, t: Timeouts) -> Closed {
        let tick = u64::try_from(t.tick().as_millis()).unwrap_or(u64::MAX);
        loop {
            let now = now_ms();
            self.stamp(now);
            let wake = match deadline(&self.snapshot(), &t) {
                Some((at, why)) if at <= now => return why,
                Some((at, _)) => at.min(now + tick),
                None => now + tick,
            };
            tokio::select! {
                _ = tokio::time::sleep_until(instant_at(wake)) => {}
                // Chosen while idle, but a request may have arrived since: that one is served
                // (the connection stays marked, so it is not chosen again, and closes idle).
                _ = self.kill.notified() => if self.waiting_on_client() {
                    return Closed::Evicted;
                },
            }
        }
    }
}

/// See [`ConnState::receiving_body`].
pub struct Receiving<'a>(&'a ConnState);

impl Drop for Receiving<'_> {
    fn drop(&mut self) {
        self.0.receiving.fetch_sub(1, Relaxed);
    }
}

/// Why the server closed a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    Evicted,
    HeaderTimeout,
    IdleTimeout,
    WriteTimeout,
}

impl Closed {
    pub fn label(self) -> &'static str {
        match self {
            Closed::Evicted => "evicted",
            Closed::HeaderTimeout => "header_timeout",
            Closed::IdleTimeout => "idle_timeout",
            Closed::WriteTimeout => "write_timeout",
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Snapshot {
    in_flight: u32,
    idle_since: u64,
    head_since: u64,
    write_blocked_since: u64,
    h2: bool,
}

/// When the connection must close and why; `None` while a request is in flight and its
/// writes progress (the request's own deadlines bound it).
fn deadline(s: &Snapshot, t: &Timeouts) -> Option<(u64, Closed)> {
    let after = |since: u64, d: Duration| {
        since.saturating_add(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    };
    if s.write_blocked_since != 0 {
        Some((after(s.write_blocked_since, t.write), Closed::WriteTimeout))
    } else if s.in_flight > 0 {
        None
    } else if s.head_since != 0 && !s.h2 {
        Some((after(s.head_since, t.header), Closed::HeaderTimeout))
    } else {
        Some((after(s.idle_since, t.idle), Closed::IdleTimeout))
    }
}

// ----- the registry and its cap -----

/// Evicted connections whose tasks have not closed them yet; the accept loop waits rather
/// than hold more descriptors than the cap plus this (part of `RESERVE_BASE`).
const EVICT_SLACK: usize = 16;

/// The open connections of one listener.
pub struct Registry {
    cap: usize,
    inner: Mutex<Inner>,
    /// Wakes the accept loop while it waits for room.
    changed: Notify,
    open: IntGauge,
    evicted: IntCounter,
    timeouts: [IntCounter; 3],
}

#[derive(Default)]
struct Inner {
    conns: HashMap<u64, Arc<ConnState>>,
    next_id: u64,
    /// Evicted and not yet closed.
    evicting: usize,
    /// Over the cap with every connection busy but the newcomer that made it so (which is
    /// spared: it has not had the chance to send its request): accept nothing until a
    /// connection closes or another one's request ends.
    full: Option<u64>,
}

impl Inner {
    fn live(&self) -> usize {
        self.conns.len() - self.evicting
    }
}

impl Registry {
    pub fn new(cap: usize, listener: &'static str, metrics: &Metrics) -> Registry {
        metrics
            .http_connection_limit
            .with_label_values(&[listener])
            .set(i64::try_from(cap).unwrap_or(i64::MAX));
        let closed = |why: Closed| {
            metrics
                .http_connections_closed
                .with_label_values(&[listener, why.label()])
        };
        Registry {
            cap: cap.max(1),
            inner: Mutex::new(Inner::default()),
            changed: Notify::new(),
            open: metrics.http_connections.with_label_values(&[listener]),
            evicted: closed(Closed::Evicted),
            timeouts: [
                closed(Closed::HeaderTimeout),
                closed(Closed::IdleTimeout),
                closed(Closed::WriteTimeout),
            ],
        }
    }

    pub fn cap(&self) -> usize {
        self.cap
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the accept loop may take a connection now. When not, it waits for
    /// `changed()` (a connection closed) or a short tick (a request ended) and asks again.
    pub fn may_accept(&self) -> bool {
        let mut g = self.lock();
        if g.conns.len() >= self.cap + EVICT_SLACK {
            return false;
        }
        if let Some(newcomer) = g.full {
            if g.live() <= self.cap {
                g.full = None;
            } else if let Some(victim) = pick_victim(g.conns.values(), Some(newcomer)) {
                self.evict(&mut g, victim);
                g.full = None;
            } else {
                return false;
            }
        }
        true
    }

    pub async fn changed(&self) {
        self.changed.notified().await
    }

    /// Registers a newly accepted connection. Over the cap, the connection idle the longest
    /// is evicted to make room; if every connection has a request in flight the newcomer
    /// still stays (one over the cap) and accepting pauses.
    pub fn register(&self) -> Arc<ConnState> {
        let mut g = self.lock();
        let id = g.next_id;
        g.next_id += 1;
        let state = Arc::new(ConnState::new(id, now_ms()));
        g.conns.insert(id, state.clone());
        if g.live() > self.cap {
            match pick_victim(g.conns.values(), Some(id)) {
                Some(victim) => self.evict(&mut g, victim),
                None => g.full = Some(id),
            }
        }
        self.open
            .set(i64::try_from(g.conns.len()).unwrap_or(i64::MAX));
        state
    }

    fn evict(&self, g: &mut Inner, victim: Arc<ConnState>) {
        victim.evicted.store(true, Relaxed);
        g.evicting += 1;
        // A stored permit if the watchdog is between waits, so it is never missed.
        victim.kill.notify_one();
        self.evicted.inc();
    }

    /// Closes every connection with no request in flight, as shutdown starts: a request head
    /// that is still arriving would otherwise hold the drain until its header timeout.
    pub fn close_idle(&self) {
        let g = self.lock();
        for c in g.conns.values() {
            if c.in_flight.load(Relaxed) == 0 {
                c.kill.notify_one();
            }
        }
    }

    /// The connection's task ended (its socket is closed).
    pub fn remove(&self, state: &ConnState, why: Option<Closed>) {
        let mut g = self.lock();
        if g.conns.remove(&state.id).is_none() {
            return;
        }
        if state.evicted.load(Relaxed) {
            g.evicting -= 1;
        }
        self.open
            .set(i64::try_from(g.conns.len()).unwrap_or(i64::MAX));
        let waiting = g.full.is_some() || g.conns.len() + 1 >= self.cap + EVICT_SLACK;
        drop(g);
        match why {
            Some(Closed::HeaderTimeout) => self.timeouts[0].inc(),
            Some(Closed::IdleTimeout) => self.timeouts[1].inc(),
            Some(Closed::WriteTimeout) => self.timeouts[2].inc(),
            Some(Closed::Evicted) | None => {}
        }
        if waiting {
            self.changed.notify_one();
        }
    }
}

/// The connection to evict: of those with no request being worked on (idle keep-alive, a
/// request head or body still arriving) and not already evicted, the one idle the longest;
/// never `except` (the newcomer). A connection whose response is still being written counts
/// as busy.
fn pick_victim<'a>(
    conns: impl Iterator<Item = &'a Arc<ConnState>>,
    except: Option<u64>,
) -> Option<Arc<ConnState>> {
    conns
        .filter(|c| Some(c.id) != except && c.waiting_on_client() && !c.evicted.load(Relaxed))
        .min_by_key(|c| (c.idle_since.load(Relaxed), c.id))
        .cloned()
}

/// Deregisters a connection when its task ends, however it ends.
pub struct Registration {
    registry: Arc<Registry>,
    pub state: Arc<ConnState>,
    closed: Option<Closed>,
}

impl Registration {
    pub fn new(registry: Arc<Registry>, state: Arc<ConnState>) -> Registration {
        Registration {
            registry,
            state,
            closed: None,
        }
    }

    /// The server closed the connection (for the metrics).
    pub fn closed_by(&mut self, why: Closed) {
        self.closed = Some(why);
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.registry.remove(&self.state, self.closed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_keeps_a_reserve_and_splits_the_rest() {
        // The machine: 1,024 descriptors, 2 cores (a pool of 8), 10 courier workers.
        let b = FdBudget::new(1024, 8, 10);
        assert_eq!(b.reserve, 64 + 128 + 10 + 24);
        assert_eq!(b.admin, (1024 - 226) / 4);
        assert_eq!(b.public, 1024 - 226 - b.admin);
        assert!(b.public > b.admin && b.admin >= 100);
        assert_eq!(
            b.public as u64 + b.admin as u64 + b.reserve,
            1024,
            "every descriptor is either a connection's or reserved"
        );
        assert!(!b.overcommitted());
        // The attack in the issue (1,100 connections) is more than the public cap.
        assert!(b.public < 1100);
    }

    #[test]
    fn budget_scales_and_never_drops_below_the_minimum() {
        let big = FdBudget::new(1 << 20, 32, 64);
        assert!(big.public > 700_000 && big.admin > 200_000);
        let tiny = FdBudget::new(100, 8, 10);
        assert_eq!((tiny.public, tiny.admin), (MIN_CAP, MIN_CAP));
        assert!(tiny.overcommitted());
        let zero = FdBudget::new(0, 0, 0);
        assert_eq!((zero.public, zero.admin), (MIN_CAP, MIN_CAP));
    }

    fn conn(id: u64, idle_since: u64, in_flight: u32) -> Arc<ConnState> {
        let c = ConnState::new(id, idle_since);
        c.in_flight.store(in_flight, Relaxed);
        Arc::new(c)
    }

    #[test]
    fn victim_is_the_longest_idle_connection_without_a_request() {
        let conns = [
            conn(1, 500, 1), // busy since long ago: never chosen
            conn(2, 300, 0),
            conn(3, 100, 0), // idle the longest
            conn(4, 50, 2),
            conn(5, 900, 0),
        ];
        let pick = |except| pick_victim(conns.iter(), except).map(|c| c.id);
        assert_eq!(pick(None), Some(3));
        assert_eq!(
            pick(Some(3)),
            Some(2),
            "the newcomer is never its own victim"
        );
        conns[2].evicted.store(true, Relaxed);
        assert_eq!(
            pick(None),
            Some(2),
            "an evicted connection is not chosen twice"
        );
        let busy = [conn(1, 1, 1), conn(2, 2, 3)];
        assert!(pick_victim(busy.iter(), None).is_none());
        // A request that just ended (not stamped yet) is the most recent.
        let fresh = [conn(1, UNSTAMPED, 0), conn(2, 10_000, 0)];
        assert_eq!(pick_victim(fresh.iter(), None).map(|c| c.id), Some(2));
        // Ties go to the older connection.
        let tie = [conn(8, 10, 0), conn(7, 10, 0)];
        assert_eq!(pick_victim(tie.iter(), None).map(|c| c.id), Some(7));
    }

    #[test]
    fn a_request_still_receiving_its_body_waits_on_the_client() {
        let uploading = conn(1, 100, 1);
        let _body = uploading.receiving_body();
        // Two requests on one connection (HTTP/2), one of them being worked on.
        let mixed = conn(2, 50, 2);
        let _other = mixed.receiving_body();
        let conns = [uploading.clone(), mixed.clone()];
        assert_eq!(pick_victim(conns.iter(), None).map(|c| c.id), Some(1));
        drop(_body);
        assert!(pick_victim(conns.iter(), None).is_none());
    }

    #[test]
    fn deadlines_follow_the_connection_phase() {
        let t = Timeouts {
            header: Duration::from_millis(1_000),
            idle: Duration::from_millis(5_000),
            write: Duration::from_millis(3_000),
        };
        let fresh = Snapshot {
            idle_since: 100,
            head_since: 100,
            ..Default::default()
        };
        assert_eq!(deadline(&fresh, &t), Some((1_100, Closed::HeaderTimeout)));
        let kept_alive = Snapshot {
            idle_since: 200,
            ..Default::default()
        };
        assert_eq!(
            deadline(&kept_alive, &t),
            Some((5_200, Closed::IdleTimeout))
        );
        let next_head = Snapshot {
            head_since: 4_000,
            ..kept_alive
        };
        assert_eq!(
            deadline(&next_head, &t),
            Some((5_000, Closed::HeaderTimeout))
        );
        let h2 = Snapshot {
            h2: true,
            ..next_head
        };
        assert_eq!(deadline(&h2, &t), Some((5_200, Closed::IdleTimeout)));
        let busy = Snapshot {
            in_flight: 1,
            ..next_head
        };
        assert_eq!(deadline(&busy, &t), None);
        let stalled = Snapshot {
            write_blocked_since: 7_000,
            ..busy
        };
        assert_eq!(deadline(&stalled, &t), Some((10_000, Closed::WriteTimeout)));
        let unstamped = Snapshot {
            idle_since: UNSTAMPED,
            ..kept_alive
        };
        assert_eq!(
            deadline(&unstamped, &t),
            Some((u64::MAX, Closed::IdleTimeout))
        );
    }

    #[test]
    fn request_bookkeeping() {
        let c = ConnState::new(1, 10);
        c.request_started();
        c.request_started();
        c.request_ended();
        assert_eq!(c.in_flight(), 1);
        assert_eq!(c.head_since.load(Relaxed), 10, "still busy: untouched");
        c.request_ended();
        assert_eq!(c.in_flight(), 0);
        assert_eq!(c.head_since.load(Relaxed), 0);
        assert_eq!(
            c.idle_since(),
            UNSTAMPED,
            "the request path does not read the clock"
        );
        c.bytes_read();
        assert_eq!(
            c.head_since.load(Relaxed),
            UNSTAMPED,
            "a new head is arriving"
        );
        c.stamp(500);
        assert_eq!((c.idle_since(), c.head_since.load(Relaxed)), (500, 500));
        c.stamp(900);
        assert_eq!(c.idle_since(), 500, "stamped once");
        c.write_blocked(true);
        let since = c.write_blocked_since.load(Relaxed);
        assert_ne!(since, 0);
        c.write_blocked(true);
        assert_eq!(
            c.write_blocked_since.load(Relaxed),
            since,
            "first block counts"
        );
        c.write_blocked(false);
        assert_eq!(c.write_blocked_since.load(Relaxed), 0);
    }

    #[test]
    fn registry_evicts_over_the_cap_and_pauses_when_all_are_busy() {
        let metrics = Metrics::new();
        let reg = Registry::new(2, "public", &metrics);
        let a = reg.register();
        let b = reg.register();
        assert!(reg.may_accept());
        // Third connection: `a` has been idle the longest and makes room.
        let c = reg.register();
        assert!(a.evicted.load(Relaxed) && !b.evicted.load(Relaxed));
        assert!(reg.may_accept());
        reg.remove(&a, Some(Closed::Evicted));
        // All busy: the newcomer stays, accepting pauses.
        b.request_started();
        c.request_started();
        let d = reg.register();
        assert!(!d.evicted.load(Relaxed));
        assert!(!reg.may_accept());
        d.request_started();
        assert!(!reg.may_accept());
        // A request ends: that connection is now the one to go.
        b.request_ended();
        assert!(reg.may_accept());
        assert!(b.evicted.load(Relaxed));
        assert_eq!(
            metrics
                .http_connections_closed
                .with_label_values(&["public", "evicted"])
                .get(),
            2
        );
    }
}
