//! The admin listener's API key check (`serve.admin.api_keys.enabled`): every route but health
//! and version needs `Authorization: Bearer <key>`; read-only keys may only GET and HEAD.
//! Refusals carry `WWW-Authenticate` (RFC 6750) and are `admin_key.refused` security events
//! naming the key's id, the client and the route, never the key.

use std::net::SocketAddr;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, header};

use super::App;
use super::error::ApiError;
use super::respond::Resp;
use super::router::Route;
use crate::security::api_keys::{self, KeyError};
use crate::security::events::{self, Event, Name, Origin, Reason};

/// Routes a monitor or load balancer must reach without a key.
fn exempt(route: &Route) -> bool {
    matches!(
        route,
        Route::HealthAlive | Route::HealthReady | Route::HealthConfig | Route::Version
    )
}

/// `Ok` when the request may go on to its handler; else the refusal to send.
pub async fn check(
    app: &App,
    route: &Route,
    req: &Request<Bytes>,
    peer: SocketAddr,
) -> Result<(), Resp> {
    let deps = app.handles.deps();
    if !deps.config.serve.admin.api_keys.enabled || exempt(route) {
        return Ok(());
    }
    let method = req.method();
    let read = *method == Method::GET || *method == Method::HEAD;
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or_default());
    let client = super::session_auth::client_address(
        req.headers(),
        Some(peer),
        &deps.config.serve.public.trusted_proxies,
    );
    let pattern = route.pattern();
    // A tenant's keys act only for their tenant; the default network's keys (the operator's)
    // for every tenant, and alone for the tenants' own administration.
    let operator = app.handles.live.deps();
    let tenant_key_allowed =
        !route.is_tenant_administration() && deps.store.nid() != operator.store.nid();
    let mut outcome = api_keys::authenticate(&operator.store, authorization, read).await;
    if tenant_key_allowed && matches!(outcome, Err(KeyError::Unknown { .. })) {
        outcome = api_keys::authenticate(&deps.store, authorization, read).await;
    }
    match outcome {
        Ok(key) => {
            tracing::debug!(key_id = %key.id, key_name = %key.name, client = client.map(tracing::field::display), %method, route = pattern, "admin API key used");
            Ok(())
        }
        Err(e) => {
            let (reason, key, challenge) = match &e {
                KeyError::Missing => ("missing", None, "Bearer"),
                KeyError::Malformed => ("malformed", None, "Bearer error=\"invalid_token\""),
                KeyError::Unknown { id } => {
                    ("unknown", Some(*id), "Bearer error=\"invalid_token\"")
                }
                KeyError::Revoked { id, .. } => {
                    ("revoked", Some(*id), "Bearer error=\"invalid_token\"")
                }
                KeyError::ReadOnly { id, .. } => (
                    "read_only",
                    Some(*id),
                    "Bearer error=\"insufficient_scope\"",
                ),
                // Logged by the conversion; a database failure is no reason to challenge.
                KeyError::Store(_) => return Err(ApiError::from(&e).into_response()),
            };
            let user_agent = req
                .headers()
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok());
            let mut event = Event::new(Name::AdminKeyRefused)
                .origin(&Origin::new(client, user_agent))
                .reason(Reason::Code(reason))
                .route(super::method_label(method), pattern);
            if let Some(id) = key {
                event = event.key_id(id);
            }
            events::emit(&deps, event);
            let mut resp = ApiError::from(&e).into_response();
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
            Err(resp)
        }
    }
}
