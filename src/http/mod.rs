//! Raw hyper listeners. A request is routed by a pure function (`router`), handled by one
//! function in `handlers/`, which calls the actors through typed handles; self-service
//! outcomes are answered by `flow::respond`, and every error becomes the Kratos envelope in
//! `error` (one constructor per envelope, one conversion per domain error). Nothing here
//! touches the database.

pub mod admin_auth;
pub mod conn;
pub mod cors;
pub mod error;
pub mod extract;
pub mod flow;
pub mod handlers;
pub mod headers;
pub mod pages;
pub mod respond;
pub mod router;
pub mod server;
pub mod session_auth;
pub mod wire;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, StatusCode, header};
use hyper::body::Incoming;
use uuid::Uuid;

use crate::actors::Handles;
use crate::actors::live::{Resolved, Tenant};
use crate::security::events::{self, Event, Name, Origin};
use cors::CorsPolicy;
use error::ApiError;
use respond::Resp;
use router::{Listener, Match, Route};

/// Kratos's 5 MiB request body limit.
pub const DEFAULT_BODY_LIMIT: usize = 5 * 1024 * 1024;

/// What one listener serves with; a request is served with a copy scoped to its tenant.
pub struct App {
    pub listener: Listener,
    pub handles: Handles,
    pub cors: Option<Arc<CorsPolicy>>,
    pub body_limit: usize,
    /// Browser hardening headers added to every answer (`headers`).
    pub hardening: Arc<headers::Hardening>,
}

/// The admin API's tenant header: a tenant's id or name; absent, the default network.
pub const TENANT_HEADER: &str = "x-gatehouse-tenant";

impl App {
    /// The same listener, acting for `tenant`.
    fn scoped(&self, tenant: Tenant) -> App {
        App {
            listener: self.listener,
            handles: self.handles.scoped(tenant),
            cors: self.cors.clone(),
            body_limit: self.body_limit,
            hardening: self.hardening.clone(),
        }
    }

    /// The tenant a request is for: on the public listener its host's (once tenants exist),
    /// on the admin listener the one its tenant header names. `None`: the default network,
    /// which the unscoped handles already act for.
    fn tenant_of<B>(&self, req: &Request<B>) -> Result<Option<Tenant>, ApiError> {
        let live = &self.handles.live;
        let resolved = match self.listener {
            Listener::Public => live.resolve_host(req.uri().host().or_else(|| {
                req.headers()
                    .get(header::HOST)
                    .and_then(|v| v.to_str().ok())
            })),
            Listener::Admin => live.resolve_admin(
                req.headers()
                    .get(TENANT_HEADER)
                    .map(|v| v.to_str().unwrap_or_default()),
            ),
        };
        match resolved {
            Resolved::Default => Ok(None),
            Resolved::Tenant(t) => Ok(Some(t)),
            Resolved::Unknown if self.listener == Listener::Public => {
                Err(ApiError::no_tenant_on_host())
            }
            Resolved::Unknown => Err(ApiError::no_tenant_in_header()),
        }
    }
}

/// Handles one request end to end: head limits, CORS, routing, the handler, headers, metrics.
pub async fn handle(
    app: &App,
    peer: SocketAddr,
    conn: &conn::ConnState,
    req: Request<Incoming>,
) -> Resp {
    let start = Instant::now();
    let method = req.method().clone();
    let origin = req.headers().get(header::ORIGIN).cloned();
    if let Some(e) = wire::head_error(&req) {
        return finish(app, "unmatched", &method, origin, e.into_response(), start);
    }

    if let (Some(cors), Some(origin)) = (&app.cors, &origin)
        && method == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    {
        let mut resp = cors.preflight(origin, req.headers());
        app.hardening.apply(resp.headers_mut());
        record(app, "preflight", &method, resp.status(), start);
        return resp;
    }

    // The body is read in full (bounded by size and time) before any handler runs. A handler
    // that answered without reading it would leave hyper to notice the unread rest only after
    // writing a keep-alive answer, and then close the connection: a client reusing it loses
    // its next request.
    let mut req = if hyper::body::Body::is_end_stream(req.body()) {
        req.map(|_| Bytes::new())
    } else {
        // Boxed: only requests that carry a body need the read's future. While it arrives the
        // connection waits on the client, and may be evicted like an idle one.
        let receiving = conn.receiving_body();
        let read = Box::pin(read(req, app.body_limit)).await;
        drop(receiving);
        match read {
            Ok(req) => req,
            Err(e) => return finish(app, "unmatched", &method, origin, e.into_response(), start),
        }
    };

    // Everything below acts for the request's tenant; no other tenant's data is reachable.
    // Boxed: the scoped copy lives across the handler's await, inside hyper's connection state.
    let scoped = match app.tenant_of(&req) {
        Ok(tenant) => tenant.map(|t| Box::new(app.scoped(t))),
        Err(e) => return finish(app, "unmatched", &method, origin, e.into_response(), start),
    };
    let app = scoped.as_deref().unwrap_or(app);

    // A browser still holding Kratos's session cookie is given Gatehouse's on this answer.
    let kratos_token = if app.listener == Listener::Public {
        session_auth::kratos_session_token(app, req.headers())
    } else {
        None
    };

    let (pattern, resp) = match router::route(app.listener, &method, req.uri().path()) {
        Match::Found(route) => {
            let pattern = route.pattern();
            // The two hottest routes are answered inline. Every other route goes through the
            // dispatch over all handlers, whose future is as large as the largest handler's;
            // boxed, it is not copied into hyper's connection state on every request.
            let resp = match route {
                Route::HealthAlive => Ok(handlers::health::alive()),
                Route::Whoami => handlers::sessions::whoami(app, &req).await,
                route => match extract::check_pairs(&req) {
                    Ok(()) => {
                        // Handlers that record devices read the peer address from the request.
                        req.extensions_mut().insert(peer);
                        Box::pin(dispatch(app, peer, route, req)).await
                    }
                    Err(e) => Err(e),
                },
            };
            (pattern, resp.unwrap_or_else(ApiError::into_response))
        }
        Match::MethodNotAllowed(allowed) => {
            let list = allowed
                .iter()
                .map(Method::as_str)
                .collect::<Vec<_>>()
                .join(", ");
            let mut r =
                ApiError::method_not_allowed(format!("This path supports {list}.")).into_response();
            if let Ok(v) = HeaderValue::from_str(&list) {
                r.headers_mut().insert(header::ALLOW, v);
            }
            ("unmatched", r)
        }
        Match::NotFound => match router::fixed_path(app.listener, &method, req.uri().path()) {
            // As Kratos's router does: 301 for GET, 308 (method and body kept) otherwise.
            Some(mut location) => {
                if let Some(q) = req.uri().query() {
                    location.push('?');
                    location.push_str(q);
                }
                let status = if method == Method::GET {
                    StatusCode::MOVED_PERMANENTLY
                } else {
                    StatusCode::PERMANENT_REDIRECT
                };
                ("unmatched", respond::redirect(status, &location))
            }
            None => (
                "unmatched",
                ApiError::not_found(format!("No route matches {method} {}", req.uri().path()))
                    .into_response(),
            ),
        },
    };
    let resp = match kratos_token {
        // Boxed: only such requests need its future.
        Some(token) => Box::pin(session_auth::replace_kratos_cookie(app, token, resp)).await,
        None => resp,
    };
    finish(app, pattern, &method, origin, resp, start)
}

/// The admin listener's key check, then the route's handler.
async fn dispatch(
    app: &App,
    peer: SocketAddr,
    route: Route,
    req: Request<Bytes>,
) -> Result<Resp, ApiError> {
    if app.listener != Listener::Admin {
        return handlers::dispatch(app, route, req).await;
    }
    if let Err(refusal) = admin_auth::check(app, &route, &req, peer).await {
        return Ok(refusal);
    }
    let method = req.method().clone();
    if method == Method::GET || method == Method::HEAD {
        return handlers::dispatch(app, route, req).await;
    }
    // Every admin write that succeeded is a security event; read before the request moves on.
    let deps = app.handles.deps();
    let origin = Origin::new(
        session_auth::client_address(
            req.headers(),
            Some(peer),
            &deps.config.serve.public.trusted_proxies,
        ),
        req.headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok()),
    );
    let event = admin_write(&route, &method).origin(&origin);
    let resp = handlers::dispatch(app, route, req).await?;
    if resp.status().is_success() {
        events::emit(&deps, event);
    }
    Ok(resp)
}

/// `admin.write` for a route: its pattern, and the identity or session its path names (only
/// when it is a UUID, so nothing else from the path reaches the log).
fn admin_write(route: &Route, method: &Method) -> Event {
    let uuid = |s: &str| Uuid::try_parse(s).ok();
    let (identity, session) = match route {
        Route::UpdateIdentity(id)
        | Route::PatchIdentity(id)
        | Route::DeleteIdentity(id)
        | Route::DeleteIdentitySessions(id)
        | Route::DeleteIdentityCredentials { id, .. } => (uuid(id), None),
        Route::AdminDisableSession(id) | Route::AdminExtendSession(id) => (None, uuid(id)),
        _ => (None, None),
    };
    Event::new(Name::AdminWrite)
        .route(method_label(method), route.pattern())
        .identity(identity)
        .session(session)
}

async fn read(req: Request<Incoming>, limit: usize) -> Result<Request<Bytes>, ApiError> {
    let (parts, body) = req.into_parts();
    let body = extract::read_body(&parts.headers, body, limit).await?;
    Ok(Request::from_parts(parts, body))
}

/// What every answer gets: Kratos's `Cache-Control`, CORS and hardening headers, and its
/// metrics.
fn finish(
    app: &App,
    pattern: &'static str,
    method: &Method,
    origin: Option<HeaderValue>,
    mut resp: Resp,
    start: Instant,
) -> Resp {
    let h = resp.headers_mut();
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(wire::CACHE_CONTROL),
    );
    if let (Some(cors), Some(origin)) = (&app.cors, &origin) {
        cors.decorate(origin, h);
    }
    app.hardening.apply(h);
    record(app, pattern, method, resp.status(), start);
    resp
}

fn record(app: &App, route: &'static str, method: &Method, status: StatusCode, start: Instant) {
    app.handles.deps().metrics.observe_http(
        [app.listener.name(), route, method_label(method)],
        status,
        start.elapsed().as_secs_f64(),
    );
}

/// Methods as static labels; anything unusual is counted as `other`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    /// The size of what an async fn's future is, without calling it.
    fn future_size<F, A, B, C, D, R>(_: F) -> usize
    where
        F: Fn(A, B, C, D) -> R,
    {
        std::mem::size_of::<R>()
    }

    #[test]
    fn request_future_stays_small() {
        // hyper moves the service future into its connection state for every request; the
        // large per-handler futures (about 7 KiB for the dispatch over all of them, in a debug
        // build) must stay behind a box. `handle` itself is about 2 KiB (2064 bytes with the
        // tenant's scoped handles).
        let size = future_size(super::handle);
        assert!(size <= 2304, "handle future is {size} bytes");
    }
}
