//! Prometheus metrics, served on the admin port at `/admin/metrics/prometheus`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use http::StatusCode;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

pub struct Metrics {
    /// Tells apart the registries of several servers in one process (tests), for the
    /// per-thread cache in `observe_http`.
    id: u64,
    registry: Registry,
    /// Requests by route pattern, method and status.
    pub http_requests: IntCounterVec,
    pub http_duration: HistogramVec,
    /// Worker replacements after a crash, by pool.
    pub actor_restarts: IntCounterVec,
    /// Database pool connections by state (`max`, `open`, `idle`, `in_use`), sampled on scrape.
    pub db_pool: IntGaugeVec,
    /// whoami answers served from the session cache, and those read from the database.
    pub whoami_cache_hits: IntCounter,
    pub whoami_cache_misses: IntCounter,
    /// Open client connections by listener, and the cap each listener keeps them under.
    pub http_connections: IntGaugeVec,
    pub http_connection_limit: IntGaugeVec,
    /// Connections the server closed, by listener and reason (`evicted`, `header_timeout`,
    /// `idle_timeout`, `write_timeout`).
    pub http_connections_closed: IntCounterVec,
    /// Failed `accept` calls by listener (descriptor exhaustion and the like).
    pub http_accept_errors: IntCounterVec,
    /// Configuration file changes by outcome (`applied`, `unchanged`, `refused`).
    pub config_reloads: IntCounterVec,
    /// Requests refused by `security.rate_limits`, by bucket (`flows`, `codes`).
    pub rate_limit_refusals: IntCounterVec,
    /// Sign-in attempts refused by `security.brute_force`, by the kind of key that waited
    /// (`identifier`, `identity`, `address`).
    pub throttle_refusals: IntCounterVec,
    /// Security events written (`security::events`), by event name.
    pub security_events: IntCounterVec,
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let http_requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by route, method and status",
            ),
            &["listener", "route", "method", "status"],
        )
        .expect("valid metric");
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency by route, method and status",
            )
            .buckets(vec![
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                1.0, 2.5, 5.0,
            ]),
            &["listener", "route", "method", "status"],
        )
        .expect("valid metric");
        let actor_restarts = IntCounterVec::new(
            Opts::new(
                "actor_restarts_total",
                "Actors replaced after a failure, by pool",
            ),
            &["pool"],
        )
        .expect("valid metric");
        let db_pool = IntGaugeVec::new(
            Opts::new("db_pool_connections", "Database pool connections by state"),
            &["state"],
        )
        .expect("valid metric");
        let whoami_cache = IntCounterVec::new(
            Opts::new(
                "session_cache_lookups_total",
                "whoami lookups by outcome: hit (served from the cache) or miss (read from the database)",
            ),
            &["result"],
        )
        .expect("valid metric");
        let whoami_cache_hits = whoami_cache.with_label_values(&["hit"]);
        let http_connections = IntGaugeVec::new(
            Opts::new("http_connections", "Open client connections by listener"),
            &["listener"],
        )
        .expect("valid metric");
        let http_connection_limit = IntGaugeVec::new(
            Opts::new(
                "http_connection_limit",
                "The most client connections a listener keeps open; beyond it the longest-idle one is closed",
            ),
            &["listener"],
        )
        .expect("valid metric");
        let http_connections_closed = IntCounterVec::new(
            Opts::new(
                "http_connections_closed_total",
                "Client connections closed by the server, by listener and reason",
            ),
            &["listener", "reason"],
        )
        .expect("valid metric");
        let http_accept_errors = IntCounterVec::new(
            Opts::new("http_accept_errors_total", "Failed accepts by listener"),
            &["listener"],
        )
        .expect("valid metric");
        let config_reloads = IntCounterVec::new(
            Opts::new(
                "config_reloads_total",
                "Configuration file changes seen, by outcome (applied, unchanged, refused)",
            ),
            &["outcome"],
        )
        .expect("valid metric");
        let rate_limit_refusals = IntCounterVec::new(
            Opts::new(
                "rate_limit_refusals_total",
                "Requests refused by security.rate_limits, by bucket (flows, codes)",
            ),
            &["bucket"],
        )
        .expect("valid metric");
        let throttle_refusals = IntCounterVec::new(
            Opts::new(
                "throttle_refusals_total",
                "Sign-in attempts refused after failed attempts, by the kind of key that waits (identifier, identity, address)",
            ),
            &["kind"],
        )
        .expect("valid metric");
        let security_events = IntCounterVec::new(
            Opts::new(
                "security_events_total",
                "Security events written to the gatehouse::security log target, by event",
            ),
            &["event"],
        )
        .expect("valid metric");
        let whoami_cache_misses = whoami_cache.with_label_values(&["miss"]);
        for c in [
            Box::new(http_requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(http_duration.clone()),
            Box::new(actor_restarts.clone()),
            Box::new(db_pool.clone()),
            Box::new(whoami_cache),
            Box::new(http_connections.clone()),
            Box::new(http_connection_limit.clone()),
            Box::new(http_connections_closed.clone()),
            Box::new(http_accept_errors.clone()),
            Box::new(config_reloads.clone()),
            Box::new(rate_limit_refusals.clone()),
            Box::new(throttle_refusals.clone()),
            Box::new(security_events.clone()),
        ] {
            registry.register(c).expect("metric registered once");
        }
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        Metrics {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            registry,
            http_requests,
            http_duration,
            actor_restarts,
            db_pool,
            whoami_cache_hits,
            whoami_cache_misses,
            http_connections,
            http_connection_limit,
            http_connections_closed,
            http_accept_errors,
            config_reloads,
            rate_limit_refusals,
            throttle_refusals,
            security_events,
        }
    }

    /// Counts one HTTP request and its latency. The labelled children are looked up once per
    /// thread and label set, not on every request: this runs for every whoami.
    pub fn observe_http(&self, labels: [&'static str; 3], status: StatusCode, seconds: f64) {
        type Key = (u64, [&'static str; 3], u16);
        thread_local! {
            static CHILDREN: RefCell<HashMap<Key, (IntCounter, Histogram)>> =
                RefCell::new(HashMap::new());
        }
        let key = (self.id, labels, status.as_u16());
        CHILDREN.with_borrow_mut(|children| {
            let (count, latency) = children.entry(key).or_insert_with(|| {
                let all = [labels[0], labels[1], labels[2], status.as_str()];
                (
                    self.http_requests.with_label_values(&all),
                    self.http_duration.with_label_values(&all),
                )
            });
            count.inc();
            latency.observe(seconds);
        });
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
