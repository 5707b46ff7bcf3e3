//! `/health/alive`, `/health/ready`, `/health/config`, `/version`, `/metrics/prometheus`.

use bytes::Bytes;
use http::StatusCode;
use serde_json::json;

use crate::http::App;
use crate::http::respond::{Resp, json_bytes, json_response, ok_json, text};

pub fn alive() -> Resp {
    // The floor of every other request: no allocation for the body.
    json_bytes(StatusCode::OK, Bytes::from_static(b"{\"status\":\"ok\"}"))
}

pub async fn ready(app: &App) -> Resp {
    match crate::health::readiness(&app.handles.deps()).await {
        Ok(()) => ok_json(&json!({ "status": "ok" })),
        Err((check, why)) => json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({ "errors": { check: why } }),
        ),
    }
}

/// The configuration's `revision` key, or else the SHA-256 of the configuration in force, as
/// plain text: an operator (or a test) sees here when an edited file has been applied.
pub fn config_revision(app: &App) -> Resp {
    let revision = crate::reload::revision(&app.handles.deps().config);
    text(StatusCode::OK, "text/plain", revision)
}

pub fn version() -> Resp {
    ok_json(&json!({ "version": concat!("v", env!("CARGO_PKG_VERSION")) }))
}

pub fn metrics(app: &App) -> Resp {
    let deps = app.handles.deps();
    let s = deps.store.pool_stats();
    let g = &deps.metrics.db_pool;
    g.with_label_values(&["max"]).set(s.max.into());
    g.with_label_values(&["open"]).set(s.open.into());
    g.with_label_values(&["idle"]).set(s.idle.into());
    g.with_label_values(&["in_use"])
        .set(s.open.saturating_sub(s.idle).into());
    text(
        StatusCode::OK,
        "text/plain; version=0.0.4; charset=utf-8",
        deps.metrics.render(),
    )
}
