//! The built-in self-service pages under `/ui/` on the public listener: sign-in, sign-up,
//! recovery, verification, settings, errors and a signed-in home, so a Gatehouse with no UI of
//! its own works in a browser on first run.
//!
//! They are what a Kratos UI is: each page reads its flow as a browser would (the request's
//! cookies, the flow's CSRF binding) and renders the flow's UI container node by node, so every
//! method — password, codes, links, profile, TOTP's QR image, backup codes, WebAuthn and
//! passkeys (script node and triggers), identity providers — shows without code of its own.
//! Forms post to the flow's `action` like any other client's. Templates are minijinja, with
//! HTML escaping on, compiled in (`static/ui/`).
//!
//! Flows point here when their `ui_url` (and the default return URL) is not configured
//! ([`defaults`]); `serve --no-ui` turns the pages off.

use std::collections::HashMap;
use std::sync::OnceLock;

use bytes::Bytes;
use http::{HeaderValue, Request, StatusCode, header};
use minijinja::value::Serde;
use minijinja::{Environment, context};
use serde_json::Value;
use uuid::Uuid;

use crate::http::App;
use crate::http::error::ApiError;
use crate::http::extract::{query_one, query_pairs};
use crate::http::flow::request::flow_request;
use crate::http::respond::{Resp, see_other, text};
use crate::http::session_auth;
use crate::selfservice::flow::FlowKind;

/// Where the pages live on the public listener.
pub const PREFIX: &str = "/ui";

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        // `.html` templates escape what they print.
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
        for (name, source) in [
            (
                "layout.html",
                include_str!("../../../static/ui/layout.html"),
            ),
            ("flow.html", include_str!("../../../static/ui/flow.html")),
            ("home.html", include_str!("../../../static/ui/home.html")),
            ("error.html", include_str!("../../../static/ui/error.html")),
        ] {
            env.add_template(name, source)
                .expect("the built-in templates compile");
        }
        // A node's value as an input holds it: strings as they are, numbers and booleans
        // printed.
        // The page's own words in the page's language (`lang` in the context).
        env.add_filter("t", |state: &minijinja::State, text: String| -> String {
            let lang = state.lookup("lang");
            page_text(
                lang.as_ref().and_then(|l| l.as_str()).unwrap_or("en"),
                &text,
            )
        });
        env.add_filter("as_text", |v: minijinja::Value| -> String {
            match v.as_str() {
                Some(s) => s.to_owned(),
                None if v.is_undefined() || v.is_none() => String::new(),
                None => v.to_string(),
            }
        });
        env
    })
}

const CSS: &str = include_str!("../../../static/ui/ui.css");

/// A shipped translation: the pages' own words, and UI messages by their Kratos id (with
/// `{key}` for a value of the message's context). English is the API's own text.
#[derive(serde::Deserialize)]
struct Catalogue {
    page: HashMap<String, String>,
    messages: HashMap<u64, String>,
}

/// The languages the pages speak besides English.
fn catalogues() -> &'static HashMap<&'static str, Catalogue> {
    static CATALOGUES: OnceLock<HashMap<&'static str, Catalogue>> = OnceLock::new();
    CATALOGUES.get_or_init(|| {
        [("de", include_str!("../../../static/ui/i18n/de.json"))]
            .into_iter()
            .map(|(lang, json)| {
                let c = serde_json::from_str(json).expect("the built-in catalogues parse");
                (lang, c)
            })
            .collect()
    })
}

/// The page language `Accept-Language` prefers among English and the catalogues (by its
/// q-values, then its order); English when it names none of them.
fn language(req: &Request<Bytes>) -> &'static str {
    let Some(header) = req
        .headers()
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
    else {
        return "en";
    };
    let mut ranked: Vec<(f32, &str)> = header
        .split(',')
        .take(32)
        .filter_map(|item| {
            let mut parts = item.split(';');
            let tag = parts.next()?.trim();
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            Some((q, tag))
        })
        .collect();
    // A stable sort keeps the header's order among equal weights.
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (q, tag) in ranked {
        if q <= 0.0 {
            continue;
        }
        let primary = tag
            .split('-')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        if primary == "en" {
            return "en";
        }
        if let Some((lang, _)) = catalogues().get_key_value(primary.as_str()) {
            return lang;
        }
    }
    "en"
}

/// `text` in `lang`: the catalogue's words, else the English ones.
fn page_text(lang: &str, text: &str) -> String {
    catalogues()
        .get(lang)
        .and_then(|c| c.page.get(text))
        .cloned()
        .unwrap_or_else(|| text.to_owned())
}

/// Puts every UI message of a flow (the flow's, each node's, labels, text nodes) in `lang`
/// where the catalogue has its id; the others keep their English text. The API's answers are
/// not touched: this is the page's copy.
fn translate_flow(flow: &mut Value, lang: &str) {
    let Some(cat) = catalogues().get(lang) else {
        return;
    };
    let translate = |t: &mut Value| {
        let Some(template) = t["id"].as_u64().and_then(|id| cat.messages.get(&id)) else {
            return;
        };
        let mut text = template.clone();
        if let Some(ctx) = t["context"].as_object() {
            for (k, v) in ctx {
                let shown = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                text = text.replace(&format!("{{{k}}}"), &shown);
            }
        }
        t["text"] = Value::String(text);
    };
    let ui = &mut flow["ui"];
    if let Some(list) = ui["messages"].as_array_mut() {
        list.iter_mut().for_each(translate);
    }
    for node in ui["nodes"].as_array_mut().into_iter().flatten() {
        if let Some(list) = node["messages"].as_array_mut() {
            list.iter_mut().for_each(translate);
        }
        if node["meta"]["label"].is_object() {
            translate(&mut node["meta"]["label"]);
        }
        if node["attributes"]["text"].is_object() {
            translate(&mut node["attributes"]["text"]);
        }
    }
}

fn html(status: StatusCode, body: String) -> Resp {
    text(status, "text/html; charset=utf-8", body)
}

fn render(name: &str, ctx: minijinja::Value) -> Result<Resp, ApiError> {
    let body = env()
        .get_template(name)
        .and_then(|t| t.render(ctx))
        .map_err(|e| {
            tracing::error!(error = %e, template = name, "a built-in page did not render");
            ApiError::internal()
        })?;
    Ok(html(StatusCode::OK, body))
}

/// `GET /ui/<page>`.
pub async fn page(app: &App, name: &str, req: Request<Bytes>) -> Result<Resp, ApiError> {
    if !app.handles.deps().ui {
        return Err(ApiError::not_found("The built-in pages are turned off."));
    }
    match name {
        "" => home(app, &req).await,
        "ui.css" => {
            let mut r = text(StatusCode::OK, "text/css; charset=utf-8", CSS.to_owned());
            // Unlike the API's answers, the stylesheet may be cached for a while.
            r.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("max-age=300"),
            );
            Ok(r)
        }
        "error" => error(app, &req).await,
        "login" => flow(app, FlowKind::Login, &req).await,
        "registration" => flow(app, FlowKind::Registration, &req).await,
        "recovery" => flow(app, FlowKind::Recovery, &req).await,
        "verification" => flow(app, FlowKind::Verification, &req).await,
        "settings" => flow(app, FlowKind::Settings, &req).await,
        _ => Err(ApiError::not_found("No such page.")),
    }
}

fn base(app: &App) -> String {
    app.handles.deps().public_base().to_owned()
}

/// Starts a browser flow of `kind`, passing the page's own query on (`return_to`, `aal`,
/// `refresh`, …): the flow comes back here with its id.
fn start_flow(app: &App, kind: FlowKind, req: &Request<Bytes>) -> Resp {
    let mut url = format!("{}/self-service/{}/browser", base(app), kind.as_str());
    let rest: Vec<(String, String)> = query_pairs(req)
        .into_iter()
        .filter(|(k, _)| k != "flow")
        .collect();
    if !rest.is_empty() {
        url.push('?');
        url.push_str(
            &url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(rest)
                .finish(),
        );
    }
    see_other(&url)
}

fn title(kind: FlowKind) -> &'static str {
    match kind {
        FlowKind::Login => "Sign in",
        FlowKind::Registration => "Create an account",
        FlowKind::Recovery => "Recover your account",
        FlowKind::Verification => "Verify your address",
        FlowKind::Settings => "Account settings",
    }
}

/// The links under a flow's form, to the other flows a visitor may want.
fn links(app: &App, kind: FlowKind) -> Vec<Value> {
    let b = base(app);
    let link = |to: &str, text: &str| serde_json::json!({"href": format!("{b}/self-service/{to}/browser"), "text": text});
    let cfg = &app.handles.deps().config.selfservice.flows;
    let mut out = Vec::new();
    match kind {
        FlowKind::Login => {
            if cfg.registration.enabled {
                out.push(link("registration", "Create an account"));
            }
            if cfg.recovery.enabled {
                out.push(link("recovery", "Forgot your password?"));
            }
        }
        FlowKind::Registration | FlowKind::Recovery | FlowKind::Verification => {
            out.push(link("login", "Sign in"));
        }
        FlowKind::Settings => {
            out.push(serde_json::json!({"href": format!("{b}{PREFIX}/"), "text": "Home"}));
        }
    }
    out
}

async fn flow(app: &App, kind: FlowKind, req: &Request<Bytes>) -> Result<Resp, ApiError> {
    let lang = language(req);
    let q = query_pairs(req);
    let Some(id) = query_one(&q, "flow").and_then(|s| Uuid::parse_str(s).ok()) else {
        return Ok(start_flow(app, kind, req));
    };
    let mut flow = match app
        .handles
        .get_flow(kind, id, flow_request(app, req, false))
        .await?
    {
        Ok(flow) => flow.to_json(),
        // Expired, gone, or another browser's: a fresh flow replaces it.
        Err(_) => return Ok(start_flow(app, kind, &Request::new(Bytes::new()))),
    };
    let onload: Vec<String> = flow["ui"]["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n["attributes"]["onloadTrigger"].as_str().map(str::to_owned))
        .collect();
    translate_flow(&mut flow, lang);
    let mut links = links(app, kind);
    for l in &mut links {
        let text = page_text(lang, l["text"].as_str().unwrap_or_default());
        l["text"] = Value::String(text);
    }
    // With `--dev`, the flows that send codes and links say where to read them (the admin
    // port's courier API; never the public port), for a developer without a mail server.
    let deps = app.handles.deps();
    let dev_courier = (deps.dev
        && matches!(
            kind,
            FlowKind::Registration | FlowKind::Recovery | FlowKind::Verification
        ))
    .then(|| format!("{}/admin/courier/messages", deps.admin_url));
    render(
        "flow.html",
        context! {
            lang => lang,
            title => page_text(lang, title(kind)),
            dev_courier => dev_courier,
            base => base(app),
            flow => minijinja::Value::from(Serde(&flow)),
            onload => onload,
            links => minijinja::Value::from(Serde(&links)),
        },
    )
}

/// The signed-in home: who, how, and their sessions; anyone else is sent to sign in.
async fn home(app: &App, req: &Request<Bytes>) -> Result<Resp, ApiError> {
    let Some(token) = session_auth::session_token(app, req.headers()) else {
        return Ok(start_flow(
            app,
            FlowKind::Login,
            &Request::new(Bytes::new()),
        ));
    };
    let Ok(Ok(current)) = app.handles.sessions.whoami(token.clone()).await else {
        return Ok(start_flow(
            app,
            FlowKind::Login,
            &Request::new(Bytes::new()),
        ));
    };
    let session: Value = serde_json::from_slice(&current.body).unwrap_or(Value::Null);
    let traits = &session["identity"]["traits"];
    let who = ["email", "username", "phone"]
        .iter()
        .find_map(|k| traits[*k].as_str())
        .map(str::to_owned)
        .unwrap_or_else(|| current.identity_id.to_string());
    let others = others(app, &current).await;
    let logout_url = format!(
        "{}/self-service/logout?token={}",
        base(app),
        crate::session::logout_token_for(&token)
    );
    let lang = language(req);
    render(
        "home.html",
        context! {
            lang => lang,
            title => page_text(lang, "Welcome"),
            base => base(app),
            who => who,
            session => minijinja::Value::from(Serde(&session)),
            others => minijinja::Value::from(Serde(&others)),
            logout_url => logout_url,
        },
    )
}

/// The identity's other active sessions, as `GET /sessions` lists them.
async fn others(app: &App, current: &crate::session::cache::Whoami) -> Vec<Value> {
    use crate::session::service::ListParams;
    use crate::store::sessions::Expand;
    let params = ListParams {
        identity_id: Some(current.identity_id),
        except: Some(current.session_id),
        active: Some(true),
        after: None,
        page_size: 20,
        expand: Expand {
            identity: false,
            devices: true,
        },
    };
    match app.handles.sessions.list(params).await {
        Ok(Ok((items, _))) => {
            let base = base(app);
            items.iter().map(|s| s.to_json(&base)).collect()
        }
        _ => Vec::new(),
    }
}

/// `/ui/error?id=`: a flow error as the self-service error endpoint holds it.
async fn error(app: &App, req: &Request<Bytes>) -> Result<Resp, ApiError> {
    let q = query_pairs(req);
    let stored = match query_one(&q, "id").and_then(|s| Uuid::parse_str(s).ok()) {
        Some(id) => crate::selfservice::errors::get(&app.handles.deps(), id)
            .await
            .ok()
            .flatten(),
        None => None,
    };
    let e = stored.as_ref().map(|s| &s["error"]);
    let message = e
        .and_then(|e| e["message"].as_str())
        .unwrap_or("Something went wrong, or this error is no longer known.");
    let reason = e.and_then(|e| e["reason"].as_str()).unwrap_or_default();
    let lang = language(req);
    render(
        "error.html",
        context! {
            lang => lang,
            title => page_text(lang, "Something went wrong"),
            base => base(app),
            message => page_text(lang, message),
            reason => reason,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn with_language(header: &str) -> &'static str {
        let req = Request::builder()
            .header(header::ACCEPT_LANGUAGE, header)
            .body(Bytes::new())
            .unwrap();
        language(&req)
    }

    #[test]
    fn the_language_is_the_most_wanted_one_the_pages_speak() {
        assert_eq!(with_language("de-DE,de;q=0.9,en;q=0.8"), "de");
        assert_eq!(with_language("en-US,de;q=0.5"), "en");
        assert_eq!(with_language("fr-FR,de;q=0.7,en;q=0.3"), "de");
        assert_eq!(with_language("en;q=0.2, DE;q=0.9"), "de");
        assert_eq!(with_language("fr"), "en");
        assert_eq!(with_language("de;q=0"), "en");
        assert_eq!(language(&Request::new(Bytes::new())), "en");
    }

    #[test]
    fn flows_are_translated_by_message_id_with_their_context() {
        let mut flow = json!({"ui": {
            "messages": [{"id": 4000006, "text": "The credentials are not valid.", "type": "error"}],
            "nodes": [
                {"type": "input", "attributes": {"name": "provider"}, "messages": [],
                 "meta": {"label": {"id": 1010002, "text": "Sign in with GitHub", "type": "info",
                                    "context": {"provider": "GitHub"}}}},
                {"type": "input", "attributes": {"name": "traits.email"}, "messages": [],
                 "meta": {"label": {"id": 1070002, "text": "Your email", "type": "info"}}}
            ]
        }});
        translate_flow(&mut flow, "de");
        assert!(
            flow["ui"]["messages"][0]["text"]
                .as_str()
                .unwrap()
                .starts_with("Die Zugangsdaten sind ungültig")
        );
        assert_eq!(
            flow["ui"]["nodes"][0]["meta"]["label"]["text"],
            "Mit GitHub anmelden"
        );
        // A label from the schema's title has no translation: it stays.
        assert_eq!(
            flow["ui"]["nodes"][1]["meta"]["label"]["text"],
            "Your email"
        );
        let before = flow.clone();
        translate_flow(&mut flow, "en");
        assert_eq!(flow, before);
    }
}
