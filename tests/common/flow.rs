//! Self-service flows as the tests drive them: starting and submitting API flows, reading a
//! flow's UI container (nodes, CSRF token, message ids), the kinds of browser client, and the
//! one-time codes users receive.

use serde_json::{Value, json};

use super::TestApp;

/// A new API (native app) flow of `kind`, as JSON, whatever the status.
pub async fn api_flow(app: &TestApp, kind: &str) -> Value {
    app.http
        .get(app.public_url(&format!("/self-service/{kind}/api")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The `ui.action` of a new API flow of `kind`, started with the session `token` if given.
pub async fn api_action(app: &TestApp, kind: &str, token: Option<&str>) -> String {
    let mut r = app
        .http
        .get(app.public_url(&format!("/self-service/{kind}/api")));
    if let Some(t) = token {
        r = r.header("X-Session-Token", t);
    }
    let flow: Value = r.send().await.unwrap().json().await.unwrap();
    flow["ui"]["action"]
        .as_str()
        .unwrap_or_else(|| panic!("no {kind} flow: {flow}"))
        .to_owned()
}

/// Posts `body` as JSON to the flow's `ui.action`; the status and JSON body of the answer.
pub async fn submit(app: &TestApp, flow: &Value, body: Value) -> (u16, Value) {
    answer(app.http.post(action(flow)).json(&body)).await
}

/// `submit` with a session token, as a native app does in a settings flow.
pub async fn submit_with_token(
    app: &TestApp,
    token: &str,
    flow: &Value,
    body: Value,
) -> (u16, Value) {
    answer(
        app.http
            .post(action(flow))
            .header("X-Session-Token", token)
            .json(&body),
    )
    .await
}

/// A complete native password login; the status and body of the submission.
pub async fn api_login(app: &TestApp, identifier: &str, password: &str) -> (u16, Value) {
    let flow = api_flow(app, "login").await;
    submit(
        app,
        &flow,
        json!({"method": "password", "identifier": identifier, "password": password}),
    )
    .await
}

fn action(flow: &Value) -> &str {
    flow["ui"]["action"].as_str().unwrap()
}

async fn answer(r: reqwest::RequestBuilder) -> (u16, Value) {
    let r = r.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// The flow id in the query of the UI page a browser was sent to.
pub fn flow_id_from(landing: &str) -> String {
    landing
        .split("flow=")
        .nth(1)
        .expect("landed on a UI page with ?flow=")
        .split('&')
        .next()
        .unwrap()
        .to_owned()
}

/// The UI node whose attribute `name` is `name`.
pub fn node<'a>(flow: &'a Value, name: &str) -> &'a Value {
    flow["ui"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["attributes"]["name"] == name)
        .unwrap_or_else(|| panic!("no node {name} in {flow}"))
}

pub fn csrf(flow: &Value) -> String {
    node(flow, "csrf_token")["attributes"]["value"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The ids of the flow's own `ui.messages`.
pub fn message_ids(flow: &Value) -> Vec<u64> {
    flow["ui"]["messages"]
        .as_array()
        .map(|m| m.iter().filter_map(|x| x["id"].as_u64()).collect())
        .unwrap_or_default()
}

/// The ids of the flow's `ui.messages` followed by those of every node's messages.
pub fn all_message_ids(flow: &Value) -> Vec<u64> {
    let mut ids = message_ids(flow);
    for n in flow["ui"]["nodes"].as_array().unwrap_or(&vec![]) {
        ids.extend(
            n["messages"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|x| x["id"].as_u64()),
        );
    }
    ids
}

/// The ids of the messages of the node `name`.
pub fn node_message_ids(flow: &Value, name: &str) -> Vec<u64> {
    node(flow, name)["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["id"].as_u64())
        .collect()
}

/// A browser: keeps cookies, follows redirects.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap()
}

/// A browser that stops at redirects; with `json`, a single-page app asking for JSON.
pub fn no_redirects(json: bool) -> reqwest::Client {
    let mut h = reqwest::header::HeaderMap::new();
    if json {
        h.insert("accept", "application/json".parse().unwrap());
    }
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(h)
        .build()
        .unwrap()
}

/// The first run of exactly six digits in `text`, if any.
pub fn find_six_digits(text: &str) -> Option<String> {
    let b = text.as_bytes();
    (0..b.len().saturating_sub(5)).find_map(|i| {
        let run = &b[i..i + 6];
        let before = i == 0 || !b[i - 1].is_ascii_digit();
        let after = i + 6 == b.len() || !b[i + 6].is_ascii_digit();
        (before && after && run.iter().all(u8::is_ascii_digit))
            .then(|| String::from_utf8(run.to_vec()).unwrap())
    })
}

/// The first run of exactly six digits: the one-time code in a mail or text message.
pub fn six_digits(text: &str) -> String {
    find_six_digits(text).unwrap_or_else(|| panic!("no code in {text}"))
}

/// A screen as Kratos's snapshots record it, for comparing whole forms: each node's group,
/// attributes (the CSRF token's random value left out) and label id.
pub fn screen(flow: &Value) -> Vec<Value> {
    flow["ui"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            let mut a = n["attributes"].clone();
            if a["name"] == "csrf_token" {
                a.as_object_mut().unwrap().remove("value");
            }
            json!({"group": n["group"], "attributes": a, "label": n["meta"]["label"]["id"]})
        })
        .collect()
}

/// An input node as [`screen`] shows it: `extra` adds attributes (`value`, `required`, …).
pub fn input(group: &str, name: &str, kind: &str, extra: Value, label: Option<u64>) -> Value {
    let mut a = json!({"name": name, "type": kind, "disabled": false, "node_type": "input"});
    for (k, v) in extra.as_object().expect("extra attributes are an object") {
        a[k] = v.clone();
    }
    json!({"group": group, "attributes": a, "label": label})
}

/// The CSRF node as [`screen`] shows it.
pub fn csrf_input() -> Value {
    input(
        "default",
        "csrf_token",
        "hidden",
        json!({"required": true}),
        None,
    )
}
