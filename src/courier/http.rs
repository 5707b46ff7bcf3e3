//! HTTP channels: email with `courier.delivery_strategy: http` (`courier.http.request_config`)
//! and SMS (`courier.channels[]`, id `sms`). The request body is the operator's Jsonnet
//! (`request_config.body`), called with Kratos's context (`recipient`, `subject`, `body`,
//! `html_body`, `template_type`, `template_data`, `message_type`); Kratos's own default template
//! is built natively, with the same result.

use std::sync::Arc;

use serde_json::{Value, json};

use super::SendError;
use crate::config::{ApiKeyLocation, DEFAULT_HTTP_COURIER_BODY, HttpAuth, HttpRequestConfig};
use crate::store::courier::MessageRow;

/// A request config's body template, loaded when the courier starts.
#[derive(Clone)]
pub enum Body {
    /// Kratos's default template: built natively.
    Default,
    Jsonnet {
        name: String,
        source: Arc<str>,
    },
    /// The template could not be read or does not parse; every message on the channel fails
    /// with this text.
    Broken(String),
}

impl Body {
    /// Loads and checks the template `rc.body` names; `what` is its config path.
    pub async fn load(
        what: &str,
        rc: &HttpRequestConfig,
        http: &crate::config::HttpClient,
    ) -> Body {
        if rc.body.is_empty() || rc.body == DEFAULT_HTTP_COURIER_BODY {
            return Body::Default;
        }
        let name = format!("{what}.body");
        let source = match crate::uri::read(&rc.body, http).await {
            Ok(s) => s,
            Err(e) => return Body::Broken(format!("{name}: {e}")),
        };
        if let Err(e) = crate::jsonnet::check(&name, &source) {
            return Body::Broken(e.to_string());
        }
        Body::Jsonnet {
            name,
            source: source.into(),
        }
    }

    async fn render(&self, m: &MessageRow) -> Result<Value, SendError> {
        match self {
            Body::Default => Ok(default_body(m)),
            Body::Broken(e) => Err(SendError::permanent(e.clone())),
            Body::Jsonnet { name, source } => {
                crate::jsonnet::evaluate_blocking(name.clone(), source.clone(), context(m))
                    .await
                    .map_err(|e| SendError::permanent(e.to_string()))
            }
        }
    }
}

/// The `ctx` Kratos passes to the body template (`courier/http_channel.go` `httpDataModel`).
fn context(m: &MessageRow) -> Value {
    let data: Value = serde_json::from_str(&m.template_data).unwrap_or(Value::Null);
    let mut ctx = json!({
        "recipient": m.recipient,
        "subject": m.subject,
        "body": m.body,
        "template_type": m.template_type,
        "template_data": data,
        "message_type": m.channel,
    });
    if let Some(html) = &m.html_body {
        ctx["html_body"] = json!(html);
    }
    ctx
}

/// What Kratos's default body template (`courier/http.go`) evaluates to.
fn default_body(m: &MessageRow) -> Value {
    let data: Value = serde_json::from_str(&m.template_data).unwrap_or(Value::Null);
    let pick = |k: &str| data.get(k).cloned().unwrap_or(Value::Null);
    json!({
        "recipient": m.recipient,
        "template_type": m.template_type,
        "to": pick("to"),
        "recovery_code": pick("recovery_code"),
        "recovery_url": pick("recovery_url"),
        "verification_url": pick("verification_url"),
        "verification_code": pick("verification_code"),
        "subject": m.subject,
        "body": m.body,
    })
}

pub async fn send(
    client: &crate::outbound::Outbound,
    rc: &HttpRequestConfig,
    body: &Body,
    m: &MessageRow,
) -> Result<(), SendError> {
    let url = rc
        .url
        .as_deref()
        .filter(|u| !u.is_empty())
        .ok_or_else(|| SendError::permanent("the HTTP channel has no request_config.url"))?;
    let method = reqwest::Method::from_bytes(rc.method.to_ascii_uppercase().as_bytes())
        .map_err(|_| SendError::permanent(format!("invalid HTTP method {:?}", rc.method)))?;
    let payload = body.render(m).await?;
    let form = rc.headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("content-type") && v.starts_with("application/x-www-form-urlencoded")
    });
    let mut req = client
        .request(method, url)
        .map_err(|r| SendError::transient(r.0))?;
    req = if form {
        // As Kratos's request builder: a form body is the template's top-level fields.
        let mut enc = url::form_urlencoded::Serializer::new(String::new());
        if let Value::Object(fields) = &payload {
            for (k, v) in fields {
                match v {
                    Value::String(s) => enc.append_pair(k, s),
                    Value::Null => enc.append_pair(k, ""),
                    other => enc.append_pair(k, &other.to_string()),
                };
            }
        }
        req.body(enc.finish())
    } else {
        req.json(&payload)
    };
    for (k, v) in &rc.headers {
        req = req.header(k.as_str(), v.as_str());
    }
    match &rc.auth {
        Some(HttpAuth::BasicAuth(b)) => req = req.basic_auth(&b.user, Some(&b.password)),
        Some(HttpAuth::ApiKey(k)) => match k.location {
            ApiKeyLocation::Header => req = req.header(k.name.as_str(), k.value.as_str()),
            ApiKeyLocation::Cookie => {
                req = req.header(reqwest::header::COOKIE, format!("{}={}", k.name, k.value))
            }
        },
        None => {}
    }
    let resp = req.send().await.map_err(|e| {
        SendError::transient(format!(
            "the HTTP request failed: {}",
            crate::outbound::explain(&e.without_url())
        ))
    })?;
    let status = resp.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(SendError {
            permanent: status.is_client_error(),
            message: format!("the HTTP endpoint answered {}", status.as_u16()),
        })
    }
}
