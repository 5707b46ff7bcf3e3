//! The `web_hook` hook: builds the request (method, URL, headers, auth, a Jsonnet body evaluated
//! with Kratos's `ctx`), calls the receiver with a hard timeout and reads its answer:
//! `can_interrupt` turns a 4xx with messages into messages on the flow, `response.parse` rewrites
//! the identity's traits and metadata, `response.ignore` queues a durable delivery instead of
//! waiting. Bodies, auth values and configured headers are never logged.

use std::sync::Arc;

use serde_json::Value;

use super::client::{HOOK_TIMEOUT, read_answer, request};
use super::{HookContext, HookFailure, HookMessage};
use crate::config::WebHookConfig;
use crate::deps::Deps;
use crate::selfservice::flow::FlowError;
use crate::text::{TextKind, UiText};

const UNREACHABLE: &str =
    "A third-party upstream service could not be reached. Please try again later.";
const IMPROPER: &str =
    "A third-party upstream service responded improperly. Please try again later.";

fn failure(path: &str, status: u16, reason: &str, message: String) -> FlowError {
    FlowError::Hook(Box::new(HookFailure {
        status,
        reason: reason.to_owned(),
        message,
        hook: path.to_owned(),
    }))
}

/// The evaluated body; `None` when the hook has no body or its template cancelled the call.
enum Body {
    None,
    Json(Value),
    Cancelled,
}

async fn body(
    deps: &Deps,
    path: &str,
    cfg: &WebHookConfig,
    ctx: &HookContext<'_>,
) -> Result<Body, FlowError> {
    let Some(uri) = cfg.body.as_deref().filter(|b| !b.is_empty()) else {
        return Ok(Body::None);
    };
    let source: Arc<str> = match deps.webhooks.body(uri) {
        Some(s) => s.clone(),
        None => {
            let src = crate::courier::template::fetch(path, uri, &deps.config.clients.http)
                .await
                .map_err(|e| {
                    failure(
                        path,
                        500,
                        "The web hook's body template could not be loaded.",
                        format!("web hook {path}: {e}"),
                    )
                })?;
            Arc::from(src)
        }
    };
    match crate::jsonnet::evaluate_blocking(uri.to_owned(), source, ctx.to_jsonnet(&deps.config))
        .await
    {
        Ok(v) => Ok(Body::Json(v)),
        Err(e) if e.is_cancel() => Ok(Body::Cancelled),
        Err(e) => Err(failure(
            path,
            500,
            "The web hook's body template could not be evaluated.",
            format!("web hook {path}: {e}"),
        )),
    }
}

/// Form bodies (`Content-Type: application/x-www-form-urlencoded`) are the Jsonnet object's
/// string fields, as in Kratos; everything else is sent as JSON.
pub(crate) fn encode_body(cfg: &WebHookConfig, v: &Value) -> String {
    let form = cfg.headers.iter().any(|(k, val)| {
        k.eq_ignore_ascii_case("content-type")
            && val.starts_with("application/x-www-form-urlencoded")
    });
    if form && let Some(o) = v.as_object() {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, val) in o {
            match val {
                Value::String(t) => s.append_pair(k, t),
                other => s.append_pair(k, &other.to_string()),
            };
        }
        return s.finish();
    }
    v.to_string()
}

/// Runs one web hook. Blocking hooks wait for the receiver (at most [`HOOK_TIMEOUT`]);
/// `response.ignore` hooks are queued as durable deliveries and return at once.
pub async fn run(
    deps: &Deps,
    path: &str,
    cfg: &WebHookConfig,
    ctx: &mut HookContext<'_>,
) -> Result<(), FlowError> {
    let body = match body(deps, path, cfg, ctx).await {
        Ok(Body::Cancelled) => {
            tracing::debug!(hook = %path, "web hook cancelled by its Jsonnet body");
            return Ok(());
        }
        Ok(Body::None) => None,
        Ok(Body::Json(v)) => Some(encode_body(cfg, &v)),
        // Fire-and-forget hooks never fail the flow, as in Kratos; the failure is logged.
        Err(e) if cfg.response.ignore => {
            tracing::warn!(hook = %path, error = %e, "web hook skipped: its body could not be built");
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    if cfg.response.ignore {
        if let Err(e) =
            super::deliveries::enqueue(deps, path, &cfg.url, &cfg.method, body.as_deref()).await
        {
            tracing::error!(hook = %path, error = %e, "queueing a web hook delivery failed");
        }
        return Ok(());
    }
    let req = request(
        &deps.webhooks.client,
        cfg,
        &cfg.url,
        &cfg.method,
        body.as_deref(),
    )
    .map_err(|e| failure(path, 500, IMPROPER, format!("web hook {path}: {e}")))?;
    let resp = match tokio::time::timeout(HOOK_TIMEOUT, req.send()).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) if !e.is_timeout() => {
            let e = crate::outbound::explain(&e.without_url());
            tracing::warn!(hook = %path, error = %e, "web hook receiver could not be reached");
            return Err(failure(
                path,
                502,
                UNREACHABLE,
                format!("web hook {path} could not reach its receiver: {e}"),
            ));
        }
        _ => {
            tracing::warn!(hook = %path, "web hook receiver did not answer in time");
            return Err(failure(
                path,
                504,
                UNREACHABLE,
                format!(
                    "web hook {path} did not get an answer within {} seconds",
                    HOOK_TIMEOUT.as_secs()
                ),
            ));
        }
    };
    let status = resp.status().as_u16();
    let interrupting = cfg.can_interrupt || cfg.response.parse;
    if status >= 400 {
        if interrupting {
            let answer = read_answer(resp).await;
            if let Some(messages) = interrupt_messages(&answer) {
                return Err(FlowError::HookInterrupted(messages));
            }
        }
        tracing::warn!(hook = %path, status, "web hook receiver refused");
        return Err(failure(
            path,
            502,
            IMPROPER,
            format!("web hook {path} failed with status code {status}"),
        ));
    }
    if cfg.response.parse && status == 200 {
        let answer = read_answer(resp).await;
        apply_identity(path, &answer, ctx)?;
    }
    Ok(())
}

/// Kratos's interrupt answer: `{"messages":[{"instance_ptr","messages":[{id,text,type,context}]}]}`.
fn interrupt_messages(answer: &[u8]) -> Option<Vec<HookMessage>> {
    let v = crate::limits::parse_json(answer).ok()?;
    let mut out = Vec::new();
    for group in v.get("messages")?.as_array()? {
        let ptr = group
            .get("instance_ptr")
            .and_then(Value::as_str)
            .unwrap_or("#")
            .to_owned();
        for m in group
            .get("messages")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let kind = if m.get("type").and_then(Value::as_str) == Some("error") {
                TextKind::Error
            } else {
                TextKind::Info
            };
            out.push(HookMessage {
                instance_ptr: ptr.clone(),
                text: UiText {
                    id: m.get("id").and_then(Value::as_u64).unwrap_or(0),
                    text: m
                        .get("text")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    kind,
                    context: m.get("context").filter(|c| !c.is_null()).cloned(),
                },
            });
        }
    }
    (!out.is_empty()).then_some(out)
}

/// `response.parse`: non-empty `identity.traits`, `metadata_public` and `metadata_admin` of the
/// answer replace the identity's before it is saved.
fn apply_identity(path: &str, answer: &[u8], ctx: &mut HookContext<'_>) -> Result<(), FlowError> {
    // The answer becomes traits and metadata to store: the bounds of client input apply.
    let v = crate::limits::parse_json(answer).map_err(|e| {
        failure(
            path,
            502,
            IMPROPER,
            format!("web hook {path} answered with a body that {e}"),
        )
    })?;
    let Some(answered) = v.get("identity").filter(|i| i.is_object()) else {
        return Ok(());
    };
    let identity = ctx
        .identity
        .get_or_insert_with(|| Value::Object(Default::default()));
    for key in ["traits", "metadata_public", "metadata_admin"] {
        match answered.get(key) {
            None | Some(Value::Null) => {}
            Some(Value::Object(o)) if o.is_empty() => {}
            Some(val) => identity[key] = val.clone(),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_interrupt_messages() {
        let answer = br##"{"messages":[{"instance_ptr":"#/traits/email","messages":[{"id":4000001,"text":"taken","type":"error","context":{"value":"x"}}]}]}"##;
        let m = interrupt_messages(answer).unwrap();
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].instance_ptr, "#/traits/email");
        assert_eq!(m[0].text.id, 4000001);
        assert_eq!(m[0].text.kind, TextKind::Error);
        assert!(interrupt_messages(b"{}").is_none());
        assert!(interrupt_messages(b"not json").is_none());
    }
}
