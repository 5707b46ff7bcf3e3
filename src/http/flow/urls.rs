//! Where flows send browsers: a flow's UI, a fresh start, the error UI.

use crate::http::App;
use crate::selfservice::flow::FlowKind;

/// `ui_url` with `flow=<id>` added to its query.
pub fn ui_url_for(app: &App, kind: FlowKind, flow_id: &str) -> String {
    let f = &app.handles.deps().config.selfservice.flows;
    let base = match kind {
        FlowKind::Login => &f.login.ui_url,
        FlowKind::Registration => &f.registration.ui_url,
        FlowKind::Recovery => &f.recovery.ui_url,
        FlowKind::Verification => &f.verification.ui_url,
        FlowKind::Settings => &f.settings.ui_url,
    };
    with_query(base, "flow", flow_id)
}

/// `base` with `key=value` added to its query.
pub fn with_query(base: &str, key: &str, value: &str) -> String {
    match url::Url::parse(base) {
        Ok(mut u) => {
            u.query_pairs_mut().append_pair(key, value);
            u.to_string()
        }
        Err(_) => format!(
            "{base}{}{key}={value}",
            if base.contains('?') { '&' } else { '?' }
        ),
    }
}

/// The browser init URL of a flow kind, for "start again" hints.
pub fn browser_init_url(app: &App, kind: FlowKind) -> String {
    format!(
        "{}/self-service/{}/browser",
        app.handles.deps().public_base(),
        kind.as_str()
    )
}
