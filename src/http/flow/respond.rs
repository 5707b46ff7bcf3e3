//! Answers to flow requests, one function per outcome kind. Browsers asking for HTML are
//! redirected (to the flow's UI, onwards, or to the error UI); SPAs and native apps get JSON.

use chrono::{DateTime, Utc};
use http::StatusCode;
use serde_json::{Value, json};

use super::csrf::set_csrf_cookie;
use super::urls::{ui_url_for, with_query};
use crate::http::App;
use crate::http::error::ApiError;
use crate::http::error::flow::flow_error;
use crate::http::respond::{Resp, json_response, ok_json, see_other};
use crate::http::session_auth;
use crate::selfservice::csrf::RawToken;
use crate::selfservice::flow::login::LoggedIn;
use crate::selfservice::flow::recovery::Outcome as RecoveryOutcome;
use crate::selfservice::flow::registration::Registered;
use crate::selfservice::flow::settings::Saved as SettingsSaved;
use crate::selfservice::flow::verification::Updated as VerificationUpdated;
use crate::selfservice::flow::{Failed, Flow, FlowError, FlowKind, FlowType};

/// The flow JSON, or for browsers asking for HTML a redirect to the flow's UI.
pub fn flow(app: &App, flow: &Flow, wants_json: bool) -> Resp {
    if wants_json || flow.flow_type == FlowType::Api {
        ok_json(&flow.to_json())
    } else {
        see_other(&ui_url_for(app, flow.kind, &flow.id.to_string()))
    }
}

/// A started flow, with the CSRF cookie it is bound to when the browser had none.
pub fn started(app: &App, flow: &Flow, wants_json: bool, csrf_cookie: Option<RawToken>) -> Resp {
    let mut r = self::flow(app, flow, wants_json);
    if let Some(raw) = csrf_cookie {
        set_csrf_cookie(app, r.headers_mut(), &raw);
    }
    r
}

/// A completed login: the session (and for native apps its token), the session cookie for
/// browsers.
pub fn logged_in(app: &App, done: LoggedIn, wants_json: bool) -> Resp {
    let mut session = done
        .issued
        .session
        .to_json(app.handles.deps().public_base());
    let mut r = if let Some(url) = &done.aal_redirect {
        // The session exists but whoami would refuse it until a second factor steps it up.
        if done.flow.flow_type == FlowType::Api {
            // Kratos leaves the identity out, in case the first factor was phished.
            if let Value::Object(o) = &mut session {
                o.remove("identity");
            }
            ok_json(&json!({
                "session_token": done.issued.token,
                "session": session,
            }))
        } else if wants_json {
            ApiError::browser_location_change_required(url)
                .into_response_with(Some(json!({ "redirect_browser_to": url })))
        } else {
            see_other(url)
        }
    } else if done.flow.flow_type == FlowType::Api {
        // No `continue_with` for native apps: the token is right here, and the official Rust
        // SDK cannot decode `continue_with` items (ory/kratos-client-rust#3).
        ok_json(&json!({
            "session_token": done.issued.token,
            "session": session,
        }))
    } else if wants_json {
        ok_json(&json!({
            "session": session,
            "continue_with": [{"action": "redirect_browser_to", "redirect_browser_to": done.return_to}],
        }))
    } else {
        see_other(&done.return_to)
    };
    if done.flow.flow_type == FlowType::Browser {
        session_auth::set_session_cookie(
            app,
            r.headers_mut(),
            &done.issued.token,
            done.issued.session.expires_at,
        );
    }
    r
}

/// A completed registration: the identity, the session when one was issued, and where the
/// browser goes on (`continue_with`).
pub fn registered(app: &App, done: Registered, wants_json: bool) -> Resp {
    let deps = app.handles.deps();
    let base = deps.public_base();
    let api = done.flow.flow_type == FlowType::Api;
    let mut body = json!({ "identity": done.identity.to_json(base, None) });
    if let Some(issued) = &done.issued {
        body["session"] = issued.session.to_json(base);
        if api {
            body["session_token"] = json!(issued.token);
        }
    }
    let mut continue_with: Vec<Value> = done.continue_with.clone();
    // `show_verification_ui`: browsers go to the verification UI, not `return_to`.
    let verification_url = done
        .continue_with
        .first()
        .filter(|_| done.show_verification_ui)
        .and_then(|c| c["flow"]["url"].as_str().map(str::to_owned));
    let browser_to = verification_url.unwrap_or(done.return_to);
    if !api {
        continue_with
            .push(json!({"action": "redirect_browser_to", "redirect_browser_to": browser_to}));
    }
    body["continue_with"] = Value::Array(continue_with);
    let mut r = if api || wants_json {
        ok_json(&body)
    } else {
        see_other(&browser_to)
    };
    if let (false, Some(issued)) = (api, &done.issued) {
        session_auth::set_session_cookie(
            app,
            r.headers_mut(),
            &issued.token,
            issued.session.expires_at,
        );
    }
    r
}

/// A recovery step: the flow, or once recovered the session and the settings flow to set a
/// new password in.
pub fn recovery(app: &App, outcome: RecoveryOutcome, wants_json: bool) -> Resp {
    match outcome {
        RecoveryOutcome::Updated(flow) | RecoveryOutcome::Sent(flow, _) => {
            self::flow(app, &flow, wants_json)
        }
        RecoveryOutcome::Restarted { flow, csrf_cookie } => {
            started(app, &flow, wants_json, csrf_cookie)
        }
        RecoveryOutcome::Recovered(done) => {
            let api = done.flow.flow_type == FlowType::Api;
            let mut r = if api || wants_json {
                ok_json(&done.flow.to_json())
            } else {
                see_other(&done.settings_url)
            };
            if !api {
                session_auth::set_session_cookie(
                    app,
                    r.headers_mut(),
                    &done.issued.token,
                    done.issued.session.expires_at,
                );
                // The settings flow is bound to this CSRF cookie.
                if let Some(raw) = &done.csrf_cookie {
                    set_csrf_cookie(app, r.headers_mut(), raw);
                }
            }
            r
        }
    }
}

/// A recovery link opened from an email. A link is always opened in a browser, so it answers
/// as Kratos's link strategy does whoever started the flow (an API flow too) and whatever the
/// client accepts: a proven link 303 to the settings UI with the session and CSRF cookies, any
/// other 303 to the UI of a fresh browser flow saying why.
pub fn recovery_link(app: &App, outcome: RecoveryOutcome, wants_json: bool) -> Resp {
    let done = match outcome {
        RecoveryOutcome::Recovered(done) => done,
        // A wrong or used link: the browser goes to the fresh flow's UI.
        RecoveryOutcome::Restarted { flow, csrf_cookie } => {
            return started(app, &flow, false, csrf_cookie);
        }
        other => return recovery(app, other, wants_json),
    };
    let mut r = see_other(&done.settings_url);
    session_auth::set_session_cookie(
        app,
        r.headers_mut(),
        &done.issued.token,
        done.issued.session.expires_at,
    );
    // The settings flow is bound to this CSRF cookie.
    if let Some(raw) = &done.csrf_cookie {
        set_csrf_cookie(app, r.headers_mut(), raw);
    }
    r
}

/// A verification step submitted to the flow.
pub fn verification(app: &App, u: VerificationUpdated, wants_json: bool) -> Resp {
    started(app, &u.flow, wants_json, u.csrf_cookie)
}

/// A verification link opened from an email: a browser is sent to the flow's UI whatever the
/// flow's type.
pub fn verification_link(app: &App, u: VerificationUpdated, wants_json: bool) -> Resp {
    let mut r = if wants_json {
        ok_json(&u.flow.to_json())
    } else {
        see_other(&ui_url_for(
            app,
            FlowKind::Verification,
            &u.flow.id.to_string(),
        ))
    };
    if let Some(raw) = u.csrf_cookie {
        set_csrf_cookie(app, r.headers_mut(), &raw);
    }
    r
}

/// Saved settings: the flow, or for browsers `return_to`; the cookie of a session that
/// replaced the browser's.
pub fn settings_saved(app: &App, done: SettingsSaved, wants_json: bool) -> Resp {
    let mut r = if wants_json || done.flow.flow_type == FlowType::Api {
        ok_json(&done.flow.to_json())
    } else {
        see_other(&done.return_to)
    };
    if let Some(issued) = &done.issued {
        session_auth::set_session_cookie(
            app,
            r.headers_mut(),
            &issued.token,
            issued.session.expires_at,
        );
    }
    r
}

/// An admin-created recovery code (201, with the flow's UI) or link (200).
pub fn recovery_created(
    app: &App,
    flow: &Flow,
    secret: &str,
    expires_at: DateTime<Utc>,
    link: bool,
) -> Resp {
    let deps = app.handles.deps();
    if link {
        ok_json(&json!({
            "recovery_link": crate::selfservice::strategy::link::recovery_url(&deps, flow.id, secret),
            "expires_at": expires_at,
        }))
    } else {
        let ui = ui_url_for(app, FlowKind::Recovery, &flow.id.to_string());
        json_response(
            StatusCode::CREATED,
            &json!({ "recovery_link": ui, "recovery_code": secret, "expires_at": expires_at }),
        )
    }
}

/// A failed submission, answered as the failed flow's type demands.
pub async fn failed(app: &App, kind: FlowKind, wants_json: bool, f: Failed) -> Resp {
    render_error(app, kind, f.flow_type, wants_json, f.error).await
}

/// Renders a failed flow request. Browsers asking for HTML are redirected (back to the form,
/// to a fresh flow, or to the error UI); everyone else gets JSON.
pub async fn render_error(
    app: &App,
    kind: FlowKind,
    flow_type: Option<FlowType>,
    wants_json: bool,
    e: FlowError,
) -> Resp {
    let json = wants_json || flow_type == Some(FlowType::Api);
    match e {
        FlowError::Invalid(flow) => {
            if json {
                json_response(StatusCode::BAD_REQUEST, &flow.to_json())
            } else {
                see_other(&ui_url_for(app, kind, &flow.id.to_string()))
            }
        }
        FlowError::Throttled {
            flow,
            retry_after_secs,
        } => {
            if json {
                ApiError::too_many_attempts(retry_after_secs).into_response()
            } else {
                see_other(&ui_url_for(app, kind, &flow.id.to_string()))
            }
        }
        FlowError::Replaced(ref f) if !json => see_other(&ui_url_for(app, kind, &f.id.to_string())),
        FlowError::Expired {
            replacement: Some(ref f),
            ..
        } if !json => see_other(&ui_url_for(app, kind, &f.id.to_string())),
        FlowError::SessionRequired { ref login } if !json => see_other(login),
        FlowError::BrowserLocationChange(ref url) if !json => see_other(url),
        FlowError::AddressNotVerified { ref url, .. } if !json => see_other(url),
        FlowError::RefreshRequired {
            ref redirect_browser_to,
        }
        | FlowError::AalRequired {
            ref redirect_browser_to,
        } if !json => see_other(redirect_browser_to),
        FlowError::AlreadyLoggedIn if !json => {
            let deps = app.handles.deps();
            see_other(&crate::selfservice::flow::common::default_return(
                &deps, kind, "",
            ))
        }
        other => {
            // Kratos's address verifier writes its 400 error with the status 403.
            let forbidden = matches!(other, FlowError::AddressNotVerified { .. });
            let (err, extra) = flow_error(app, kind, &other);
            if json {
                let mut r = err.into_response_with(extra);
                if forbidden {
                    *r.status_mut() = StatusCode::FORBIDDEN;
                }
                r
            } else {
                redirect_to_error_ui(app, &err).await
            }
        }
    }
}

/// Stores the error and sends the browser to `selfservice.flows.error.ui_url?id=…`.
pub async fn redirect_to_error_ui(app: &App, err: &ApiError) -> Resp {
    let deps = app.handles.deps();
    match crate::selfservice::errors::store(&deps, &err.body()["error"]).await {
        Ok(id) => see_other(&with_query(
            &deps.config.selfservice.flows.error.ui_url,
            "id",
            &id.to_string(),
        )),
        Err(e) => {
            tracing::error!(error = %e, "storing a flow error failed");
            err.clone().into_response()
        }
    }
}
