//! The hooks engine: which configured hooks run when a flow starts (`before`) and when a method
//! succeeds (`after`), in the configured order, with Kratos's precedence rules:
//!
//! - `after.<method>.hooks` replaces the flow's `after.hooks` when it is not empty;
//! - registration (and settings) split the after list in two: web hooks with `can_interrupt` or
//!   `response.parse` run before the identity is saved, and only from the method's own list
//!   (Kratos never takes them from `after.hooks`); everything else runs after it is saved.
//!
//! Built-in hooks (`session`, `revoke_active_sessions`, …) are carried out by the flow that owns
//! them, handed back in order by [`After::next_builtin`]; web hooks run here ([`web_hook`]),
//! fire-and-forget ones as durable rows ([`deliveries`]). The settings flow plugs in with
//! `run_pre_persist(deps, FlowKind::Settings, method, &mut ctx)` before it saves its change and
//! `After::new(deps, FlowKind::Settings, method)` after.

pub mod client;
pub mod deliveries;
mod lists;
pub mod outcome;
pub mod password_migration;
pub mod web_hook;

use serde_json::{Map, Value, json};

use super::flow::request::FlowRequest;
use super::flow::{Flow, FlowError, FlowKind};
use crate::config::{Config, Hook, WebHookConfig};
use crate::deps::Deps;

pub use client::{HOOK_TIMEOUT, WebHooks};
pub use lists::all_lists;
use lists::interrupts_or_parses;
pub use outcome::{HookFailure, HookMessage};

/// Flows whose after hooks are split around saving the identity.
fn persists_identity(flow: FlowKind) -> bool {
    matches!(flow, FlowKind::Registration | FlowKind::Settings)
}

/// One configured hook and its configuration path (`selfservice.flows.…hooks[i]`), which names it
/// in errors and logs.
#[derive(Clone, Debug)]
pub struct Configured {
    pub path: String,
    pub hook: Hook,
}

fn listed(path: &str, hooks: &[Hook]) -> Vec<Configured> {
    hooks
        .iter()
        .enumerate()
        .map(|(i, h)| Configured {
            path: format!("{path}[{i}]"),
            hook: h.clone(),
        })
        .collect()
}

/// The web hook configured at `path` (`….hooks[i]`), if there still is one.
pub fn web_hook_at(cfg: &Config, path: &str) -> Option<WebHookConfig> {
    let (list, idx) = path.strip_suffix(']')?.rsplit_once('[')?;
    let idx: usize = idx.parse().ok()?;
    all_lists(cfg)
        .into_iter()
        .find(|(p, _)| p == list)
        .and_then(|(_, hooks)| match hooks.get(idx) {
            Some(Hook::WebHook { config }) => Some(config.clone()),
            _ => None,
        })
}

/// `before.hooks` of a flow.
pub fn before_hooks(cfg: &Config, flow: FlowKind) -> Vec<Configured> {
    let f = &cfg.selfservice.flows;
    let p = format!("selfservice.flows.{}.before.hooks", flow.as_str());
    let hooks = match flow {
        FlowKind::Login => &f.login.before.hooks,
        FlowKind::Registration => &f.registration.before.hooks,
        FlowKind::Recovery => &f.recovery.before.hooks,
        FlowKind::Verification => &f.verification.before.hooks,
        FlowKind::Settings => &f.settings.before.hooks,
    };
    listed(&p, hooks)
}

/// The method's own `after.<method>.hooks` (empty when the method has no list).
fn method_hooks(cfg: &Config, flow: FlowKind, method: &str) -> Vec<Configured> {
    let f = &cfg.selfservice.flows;
    let own = match flow {
        FlowKind::Login => f.login.after.method(method),
        FlowKind::Registration => f.registration.after.method(method),
        FlowKind::Settings => f.settings.after.method(method),
        FlowKind::Recovery | FlowKind::Verification => None,
    };
    match own {
        Some(m) => listed(
            &format!("selfservice.flows.{}.after.{method}.hooks", flow.as_str()),
            &m.hooks,
        ),
        None => Vec::new(),
    }
}

/// The hooks that run after `method` succeeds: the method's own list, else the flow's.
pub fn after_hooks(cfg: &Config, flow: FlowKind, method: &str) -> Vec<Configured> {
    let own = method_hooks(cfg, flow, method);
    if !own.is_empty() {
        return own;
    }
    let f = &cfg.selfservice.flows;
    let global = match flow {
        FlowKind::Login => &f.login.after.hooks,
        FlowKind::Registration => &f.registration.after.hooks,
        FlowKind::Recovery => &f.recovery.after.hooks,
        FlowKind::Verification => &f.verification.after.hooks,
        FlowKind::Settings => &f.settings.after.hooks,
    };
    listed(
        &format!("selfservice.flows.{}.after.hooks", flow.as_str()),
        global,
    )
}

/// What web hooks see as `ctx` in their Jsonnet body, and what they may change.
pub struct HookContext<'a> {
    pub flow: Value,
    pub request: &'a FlowRequest,
    /// The identity (before it is saved, for pre-persist hooks; `response.parse` rewrites it).
    pub identity: Option<Value>,
    /// Login: the session being issued.
    pub session: Option<Value>,
    pub transient_payload: Option<Value>,
}

impl<'a> HookContext<'a> {
    pub fn new(flow: &Flow, request: &'a FlowRequest) -> HookContext<'a> {
        HookContext {
            flow: flow.to_json(),
            request,
            identity: None,
            session: None,
            transient_payload: None,
        }
    }

    /// The Jsonnet `ctx`, with Kratos's field names; request headers narrowed to
    /// `clients.web_hook.header_allowlist`.
    fn to_jsonnet(&self, cfg: &Config) -> Value {
        let allow = &cfg.clients.web_hook.header_allowlist;
        let mut headers: Map<String, Value> = Map::new();
        for (k, v) in &self.request.headers {
            let name = canonical_header(k);
            if !allow.iter().any(|a| canonical_header(a) == name) {
                continue;
            }
            match headers.get_mut(&name) {
                Some(Value::Array(vals)) => vals.push(json!(v)),
                _ => {
                    headers.insert(name, json!([v]));
                }
            }
        }
        let cookies: Map<String, Value> = self
            .request
            .cookies
            .iter()
            .filter(|(k, _)| !k.is_empty())
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        let mut o = json!({
            "flow": self.flow,
            "request_headers": headers,
            "request_method": if self.request.method.is_empty() { "POST" } else { &self.request.method },
            "request_url": self.request.request_url,
            "request_cookies": cookies,
        });
        if let Some(i) = &self.identity {
            o["identity"] = i.clone();
        }
        if let Some(s) = &self.session {
            o["session"] = s.clone();
        }
        if let Some(t) = &self.transient_payload {
            o["transient_payload"] = t.clone();
        }
        o
    }
}

/// `content-type` → `Content-Type`, as Go's `http.Header` keys appear in Kratos's ctx.
fn canonical_header(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut c = part.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + &c.as_str().to_ascii_lowercase(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// Runs the flow's `before` hooks when a flow starts; the flow is not saved if one fails.
pub async fn run_before(
    deps: &Deps,
    flow: FlowKind,
    ctx: &mut HookContext<'_>,
) -> Result<(), FlowError> {
    for c in before_hooks(&deps.config, flow) {
        // Other hook names are reported at start-up as unsupported here and do not run.
        if let Hook::WebHook { config } = &c.hook {
            web_hook::run(deps, &c.path, config, ctx).await?;
        }
    }
    Ok(())
}

/// Registration and settings: the method's interrupting or parsing web hooks, before the
/// identity in `ctx.identity` is saved. May rewrite `ctx.identity`.
pub async fn run_pre_persist(
    deps: &Deps,
    flow: FlowKind,
    method: &str,
    ctx: &mut HookContext<'_>,
) -> Result<(), FlowError> {
    for c in method_hooks(&deps.config, flow, method) {
        if let Hook::WebHook { config } = &c.hook
            && interrupts_or_parses(config)
        {
            web_hook::run(deps, &c.path, config, ctx).await?;
        }
    }
    Ok(())
}

/// The after hooks of `method`, run in the configured order: web hooks run inside
/// [`After::next_builtin`], which hands each built-in hook (`session`, `revoke_active_sessions`,
/// …) back to the flow that owns its behaviour:
///
/// ```ignore
/// let mut after = hooks::After::new(deps, FlowKind::Settings, method);
/// while let Some(c) = after.next_builtin(deps, &mut ctx).await? {
///     match c.hook { Hook::RevokeActiveSessions => { /* … */ } _ => {} }
/// }
/// ```
///
/// On registration and settings, interrupting/parsing web hooks are skipped here: they ran
/// before the save ([`run_pre_persist`]).
pub struct After {
    flow: FlowKind,
    steps: std::vec::IntoIter<Configured>,
}

impl After {
    pub fn new(deps: &Deps, flow: FlowKind, method: &str) -> After {
        After {
            flow,
            steps: after_hooks(&deps.config, flow, method).into_iter(),
        }
    }

    /// Runs web hooks up to the next built-in hook and returns it; `None` when done.
    pub async fn next_builtin(
        &mut self,
        deps: &Deps,
        ctx: &mut HookContext<'_>,
    ) -> Result<Option<Configured>, FlowError> {
        for c in self.steps.by_ref() {
            match &c.hook {
                Hook::WebHook { config } => {
                    if persists_identity(self.flow) && interrupts_or_parses(config) {
                        continue;
                    }
                    web_hook::run(deps, &c.path, config, ctx).await?;
                }
                _ => return Ok(Some(c)),
            }
        }
        Ok(None)
    }
}

/// Puts an interrupting hook's messages on the flow: on the node its `instance_ptr` names, or
/// on the flow itself.
pub fn show_messages(flow: &mut Flow, messages: Vec<HookMessage>) {
    for m in messages {
        match node_name(&m.instance_ptr) {
            Some(name) => flow.ui.add_node_message(&name, m.text),
            None => flow.ui.add_message(m.text),
        }
    }
}

/// `#/traits/name/first` → `traits.name.first`; `#` or empty → the flow itself.
fn node_name(pointer: &str) -> Option<String> {
    let path = pointer.trim_start_matches('#').trim_start_matches('/');
    if path.is_empty() {
        return None;
    }
    let parts: Vec<&str> = path
        .split('/')
        .filter(|p| p.parse::<usize>().is_err())
        .collect();
    Some(parts.join("."))
}

/// Start-up notes about hooks that are accepted but will not do anything, as in Kratos.
pub fn inert_hooks(cfg: &Config) -> Vec<String> {
    let f = &cfg.selfservice.flows;
    let mut out = Vec::new();
    for (i, h) in f.registration.after.hooks.iter().enumerate() {
        if let Hook::WebHook { config } = h
            && interrupts_or_parses(config)
        {
            out.push(format!(
                "selfservice.flows.registration.after.hooks[{i}]: web hooks with can_interrupt or response.parse run only from a method's list (after.<method>.hooks), as in Kratos"
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_are_canonical() {
        assert_eq!(canonical_header("content-type"), "Content-Type");
        assert_eq!(canonical_header("SEC-CH-UA"), "Sec-Ch-Ua");
    }

    #[test]
    fn pointers_name_nodes() {
        assert_eq!(node_name("#/traits/email").as_deref(), Some("traits.email"));
        assert_eq!(node_name("#/traits/tags/0").as_deref(), Some("traits.tags"));
        assert_eq!(node_name("#"), None);
        assert_eq!(node_name(""), None);
    }
}
