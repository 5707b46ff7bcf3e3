//! The web hook HTTP client, kept apart from the hooks engine so that `Deps` can hold it without
//! importing the modules that take `&Deps`: the client with its timeout, the bodies loaded at
//! start-up, and the request and answer plumbing that blocking hooks, queued deliveries and the
//! password migration hook share.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::lists::{all_lists, check_config};
use crate::config::{ApiKeyLocation, Config, Hook, HttpAuth, WebHookConfig};
use crate::outbound::{Options, Outbound};

/// Hard limit on one blocking web hook call (connect, send, answer). Kratos bounds its web hook
/// client with a fixed timeout too; a receiver slower than this fails the flow with 504.
pub const HOOK_TIMEOUT: Duration = Duration::from_secs(10);
/// Answers larger than this are cut off (Kratos reads at most 5 MB).
const MAX_ANSWER: usize = 5 << 20;

/// The web hook client and the bodies loaded at start-up (file and base64 sources; http(s)
/// sources are fetched when a hook runs).
pub struct WebHooks {
    pub(super) client: Outbound,
    bodies: HashMap<String, Arc<str>>,
}

impl WebHooks {
    /// Loads and parses every file/base64 body; an error names the hook's configuration path.
    pub async fn load(cfg: &Config) -> Result<WebHooks, String> {
        let client = Outbound::new(
            &cfg.clients.http,
            Options {
                timeout: HOOK_TIMEOUT,
                follow_redirects: true,
                user_agent: false,
            },
        )
        .map_err(|e| format!("the web hook HTTP client: {e}"))?;
        let mut bodies = HashMap::new();
        if let Some(p) = check_config(cfg).into_iter().next() {
            return Err(p);
        }
        for (list, hooks) in all_lists(cfg) {
            for (i, h) in hooks.iter().enumerate() {
                let Hook::WebHook { config } = h else {
                    continue;
                };
                let Some(uri) = config.body.as_deref().filter(|b| !b.is_empty()) else {
                    continue;
                };
                if is_remote(uri) || bodies.contains_key(uri) {
                    continue;
                }
                let path = format!("{list}[{i}]");
                // Kratos reads bodies when a hook runs, so a missing file does not stop start-up;
                // it is tried again (and reported) on each call.
                let src = match crate::courier::template::fetch(&path, uri, &cfg.clients.http).await
                {
                    Ok(src) => src,
                    Err(e) => {
                        tracing::warn!(hook = %path, "the web hook body cannot be loaded yet: {e}");
                        continue;
                    }
                };
                crate::jsonnet::check(uri, &src)
                    .map_err(|e| format!("{path}: the web hook body is not valid Jsonnet: {e}"))?;
                bodies.insert(uri.to_owned(), Arc::from(src));
            }
        }
        Ok(WebHooks { client, bodies })
    }

    /// The body loaded at start-up from `uri`; `None` for http(s) sources, fetched per call.
    pub(super) fn body(&self, uri: &str) -> Option<Arc<str>> {
        self.bodies.get(uri).cloned()
    }
}

fn is_remote(uri: &str) -> bool {
    uri.starts_with("http://") || uri.starts_with("https://")
}

/// Applies the configured headers and auth (shared by blocking hooks, queued deliveries and the password migration hook).
pub(super) fn request(
    client: &Outbound,
    cfg: &WebHookConfig,
    url: &str,
    method: &str,
    body: Option<&str>,
) -> Result<reqwest::RequestBuilder, String> {
    let m = reqwest::Method::from_bytes(method.to_ascii_uppercase().as_bytes())
        .map_err(|_| format!("invalid HTTP method {method:?}"))?;
    let mut req = client.request(m, url).map_err(|r| r.0)?;
    let mut has_type = false;
    for (k, v) in &cfg.headers {
        has_type |= k.eq_ignore_ascii_case("content-type");
        req = req.header(k.as_str(), v.as_str());
    }
    if let Some(b) = body {
        if !has_type {
            req = req.header(reqwest::header::CONTENT_TYPE, "application/json");
        }
        req = req.body(b.to_owned());
    }
    match &cfg.auth {
        Some(HttpAuth::BasicAuth(b)) => req = req.basic_auth(&b.user, Some(&b.password)),
        Some(HttpAuth::ApiKey(k)) => match k.location {
            ApiKeyLocation::Header => req = req.header(k.name.as_str(), k.value.as_str()),
            ApiKeyLocation::Cookie => {
                req = req.header(reqwest::header::COOKIE, format!("{}={}", k.name, k.value))
            }
        },
        None => {}
    }
    Ok(req)
}

/// Reads at most [`MAX_ANSWER`] bytes of the answer.
pub(super) async fn read_answer(mut resp: reqwest::Response) -> Vec<u8> {
    let mut out = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        let room = MAX_ANSWER.saturating_sub(out.len());
        out.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if out.len() >= MAX_ANSWER {
            break;
        }
    }
    out
}
