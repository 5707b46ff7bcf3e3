//! The accept loop: HTTP/1.1 and HTTP/2 (h2c) on one port, a capped number of connections
//! each watched by its own timeouts (`conn`), quiet back-off when accept fails, graceful
//! shutdown with a bound.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::conn::{ConnState, Registration, Registry, Timeouts};
use super::respond::Body as RespBody;
use super::wire::{self, Wire};
use super::{App, handle};

/// HTTP/2 pings find peers that vanished with streams open.
const H2_PING_INTERVAL: Duration = Duration::from_secs(20);
const H2_PING_TIMEOUT: Duration = Duration::from_secs(20);
/// Concurrent streams per HTTP/2 connection (hyper's default is 200 and "may change").
const H2_MAX_STREAMS: u32 = 100;
/// While every connection is busy, how often the accept loop looks for one that went idle.
const FULL_RECHECK: Duration = Duration::from_millis(50);

/// How one listener serves.
#[derive(Debug, Clone, Copy)]
pub struct ServeConfig {
    pub timeouts: Timeouts,
    /// The most connections kept open (see `conn::FdBudget`).
    pub max_connections: usize,
    /// How long in-flight requests may run on after shutdown starts.
    pub grace: Duration,
}

/// Serves `listener` until `shutdown` turns true, then stops accepting and lets in-flight
/// requests finish for at most `grace`.
pub fn spawn(
    listener: TcpListener,
    app: Arc<App>,
    mut shutdown: watch::Receiver<bool>,
    cfg: ServeConfig,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let builder = builder();
        let graceful = GracefulShutdown::new();
        let name = app.listener.name();
        let metrics = app.handles.deps().metrics.clone();
        let registry = Arc::new(Registry::new(cfg.max_connections, name, &metrics));
        let accept_errors = metrics.http_accept_errors.with_label_values(&[name]);
        let mut backoff = AcceptBackoff::default();
        loop {
            if !registry.may_accept() {
                tokio::select! {
                    _ = registry.changed() => {}
                    _ = tokio::time::sleep(FULL_RECHECK) => {}
                    _ = shutdown.changed() => break,
                }
                continue;
            }
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        backoff.succeeded();
                        serve(&builder, &graceful, &registry, &app, cfg.timeouts, stream, peer);
                    }
                    // The client gave up before we accepted: nothing is wrong here.
                    Err(e) if matches!(
                        e.kind(),
                        std::io::ErrorKind::ConnectionAborted | std::io::ErrorKind::ConnectionReset
                    ) => {}
                    Err(e) => {
                        accept_errors.inc();
                        let delay = backoff.failed(name, &e);
                        tokio::select! {
                            _ = tokio::time::sleep(delay) => {}
                            _ = shutdown.changed() => break,
                        }
                    }
                },
                _ = shutdown.changed() => break,
            }
        }
        drop(listener);
        registry.close_idle();
        tokio::select! {
            _ = graceful.shutdown() => {}
            _ = tokio::time::sleep(cfg.grace) => {
                tracing::warn!("in-flight requests did not finish within the shutdown grace period");
            }
        }
    })
}

fn builder() -> auto::Builder<TokioExecutor> {
    let mut b = auto::Builder::new(TokioExecutor::new());
    b.http1()
        // The watchdog times heads instead. hyper 1.12's header_read_timeout starts as soon as
        // a kept-alive connection goes idle (`State::idle` re-arms the read), so it would close
        // idle connections after the header timeout too, and it boxes a new timer for every
        // request.
        .header_read_timeout(None)
        .max_buf_size(wire::HYPER_MAX_HEAD_BYTES);
    b.http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(H2_PING_INTERVAL)
        .keep_alive_timeout(H2_PING_TIMEOUT)
        .max_concurrent_streams(H2_MAX_STREAMS)
        .max_header_list_size(wire::HYPER_MAX_HEAD_BYTES as u32);
    b
}

/// What a connection's service holds: one `Arc` clone per request.
struct ConnCtx {
    app: Arc<App>,
    state: Arc<ConnState>,
}

fn serve(
    builder: &auto::Builder<TokioExecutor>,
    graceful: &GracefulShutdown,
    registry: &Arc<Registry>,
    app: &Arc<App>,
    timeouts: Timeouts,
    stream: TcpStream,
    peer: SocketAddr,
) {
    let _ = stream.set_nodelay(true);
    let state = registry.register();
    let ctx = Arc::new(ConnCtx {
        app: app.clone(),
        state: state.clone(),
    });
    let svc = service_fn(move |req| {
        let guard = InFlight::enter(ctx.clone());
        async move {
            let resp = handle(&guard.0.app, peer, &guard.0.state, req).await;
            // The request stays in flight until hyper is done with the body: a connection
            // whose answer is still being written is never "idle" to the evictor.
            Ok::<_, Infallible>(resp.map(|body| Tracked {
                body,
                _guard: guard,
            }))
        }
    });
    let io = TokioIo::new(Wire::new(stream, state.clone()));
    let conn = graceful.watch(builder.serve_connection_with_upgrades(io, svc).into_owned());
    let mut registration = Registration::new(registry.clone(), state);
    // The connection runs in a task of its own, so its many wake-ups (every read and write)
    // never poll the watchdog; the watchdog's task wakes only for its timer, an eviction or
    // the end of the connection.
    let mut task = tokio::spawn(async move {
        let _ = conn.await;
    });
    tokio::spawn(async move {
        tokio::select! {
            _ = &mut task => {}
            why = registration.state.watchdog(timeouts) => {
                tracing::debug!(reason = why.label(), "closing connection");
                registration.closed_by(why);
                // Dropping the connection closes the socket; wait for that before freeing
                // the slot, so the count of open descriptors stays true.
                task.abort();
                let _ = task.await;
            }
        }
    });
}

/// Counts a request in flight on its connection from the service call until hyper drops the
/// response body (or the request is abandoned).
struct InFlight(Arc<ConnCtx>);

impl InFlight {
    fn enter(ctx: Arc<ConnCtx>) -> InFlight {
        ctx.state.request_started();
        InFlight(ctx)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.state.request_ended();
    }
}

/// The response body with the request's `InFlight` attached; otherwise the body itself.
struct Tracked {
    body: RespBody,
    _guard: InFlight,
}

impl Body for Tracked {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// Exponential back-off after failed accepts (10 ms doubling to 1 s), with at most one
/// warning per `LOG_EVERY` carrying the count, so descriptor exhaustion neither spins nor
/// floods the log.
struct AcceptBackoff {
    delay: Duration,
    unlogged: u64,
    last_log: Option<Instant>,
}

impl AcceptBackoff {
    const FIRST: Duration = Duration::from_millis(10);
    const MAX: Duration = Duration::from_secs(1);
    const LOG_EVERY: Duration = Duration::from_secs(10);

    fn succeeded(&mut self) {
        self.delay = Self::FIRST;
    }

    /// Records a failure; returns how long to wait before the next accept.
    fn failed(&mut self, listener: &str, e: &std::io::Error) -> Duration {
        self.unlogged += 1;
        if self.last_log.is_none_or(|t| t.elapsed() >= Self::LOG_EVERY) {
            tracing::warn!(
                listener,
                error = %e,
                failures = self.unlogged,
                "accept failed; backing off (at most one warning per 10 s)"
            );
            self.unlogged = 0;
            self.last_log = Some(Instant::now());
        }
        let delay = self.delay;
        self.delay = (self.delay * 2).min(Self::MAX);
        delay
    }
}

impl Default for AcceptBackoff {
    fn default() -> Self {
        AcceptBackoff {
            delay: Self::FIRST,
            unlogged: 0,
            last_log: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_backoff_doubles_to_a_bound_and_resets() {
        let mut b = AcceptBackoff::default();
        let e = std::io::Error::from_raw_os_error(24); // EMFILE
        let delays: Vec<_> = (0..10).map(|_| b.failed("public", &e)).collect();
        assert_eq!(delays[0], Duration::from_millis(10));
        assert_eq!(delays[1], Duration::from_millis(20));
        assert_eq!(*delays.last().unwrap(), Duration::from_secs(1));
        assert!(delays.windows(2).all(|w| w[0] <= w[1]));
        // Logged once, the other nine are counted for the next warning.
        assert_eq!(b.unlogged, 9);
        b.succeeded();
        assert_eq!(b.failed("public", &e), Duration::from_millis(10));
    }
}
