//! The password migration hook (`selfservice.methods.password.config.migrate_hook`): an identity
//! imported with `use_password_migration_hook: true` has no local hash; at its first sign-in the
//! identifier and password are POSTed to the operator's endpoint, which answers
//! `{"status":"password_match"}` when they are right. The caller then stores a local hash, so
//! the endpoint is asked once per identity. The password is never logged.

use serde_json::{Value, json};

use super::{HOOK_TIMEOUT, HookFailure};
use crate::config::{MigrateHookConfig, WebHookConfig, WebHookResponse};
use crate::deps::Deps;
use crate::selfservice::flow::FlowError;

const UNREACHABLE: &str =
    "A third-party upstream service could not be reached. Please try again later.";
const IMPROPER: &str =
    "A third-party upstream service responded improperly. Please try again later.";
const PATH: &str = "selfservice.methods.password.config.migrate_hook";

fn failure(status: u16, reason: &str, message: String) -> FlowError {
    FlowError::Hook(Box::new(HookFailure {
        status,
        reason: reason.into(),
        message,
        hook: PATH.into(),
    }))
}

/// Whether the endpoint confirms the password. `Ok(false)` is a wrong password (any answer but
/// 200 with `password_match`, or 403); an unreachable or failing endpoint is an error.
pub async fn verify(deps: &Deps, identifier: &str, password: &str) -> Result<bool, FlowError> {
    let hook = &deps.config.selfservice.methods.password.config.migrate_hook;
    let cfg: &MigrateHookConfig = match (&hook.enabled, &hook.config) {
        (true, Some(c)) => c,
        _ => {
            return Err(failure(
                500,
                "Password migration hook is not enabled but password migration is requested.",
                "the identity's password must be checked by the password migration hook, which is not configured".into(),
            ));
        }
    };
    // Same request building (headers, auth) as web hooks; the body is fixed, not Jsonnet.
    let as_web = WebHookConfig {
        id: None,
        url: cfg.url.clone(),
        method: cfg.method.clone(),
        headers: cfg.headers.clone(),
        body: None,
        response: WebHookResponse::default(),
        can_interrupt: false,
        emit_analytics_event: false,
        auth: cfg.auth.clone(),
    };
    let body = json!({ "identifier": identifier, "password": password }).to_string();
    let req = super::client::request(
        &deps.webhooks.client,
        &as_web,
        &cfg.url,
        &cfg.method,
        Some(&body),
    )
    .map_err(|e| failure(500, IMPROPER, format!("password migration hook: {e}")))?;
    let resp = match tokio::time::timeout(HOOK_TIMEOUT, req.send()).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) if !e.is_timeout() => {
            tracing::warn!(error = %crate::outbound::explain(&e.without_url()), "password migration hook could not be reached");
            return Err(failure(
                502,
                UNREACHABLE,
                "calling the password migration hook failed".into(),
            ));
        }
        _ => {
            return Err(failure(
                504,
                UNREACHABLE,
                "calling the password migration hook failed".into(),
            ));
        }
    };
    match resp.status().as_u16() {
        200 => {
            let answer = super::client::read_answer(resp).await;
            let status = serde_json::from_slice::<Value>(&answer[..answer.len().min(1024)])
                .ok()
                .and_then(|v| v.get("status").and_then(Value::as_str).map(str::to_owned));
            Ok(status.as_deref() == Some("password_match"))
        }
        403 => Ok(false),
        code => {
            tracing::warn!(
                status = code,
                "password migration hook answered with an error"
            );
            Err(failure(
                502,
                IMPROPER,
                format!("password migration hook failed with status code {code}"),
            ))
        }
    }
}
