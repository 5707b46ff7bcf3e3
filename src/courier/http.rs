//! HTTP channels: email with `courier.delivery_strategy: http` (`courier.http.request_config`)
//! and SMS (`courier.channels[]`, id `sms`). The request body is Kratos's default Jsonnet
//! output, built natively; a custom Jsonnet `body` is not evaluated yet, so such a message fails
//! with a dispatch error instead of sending something the operator did not configure.

use serde_json::{Value, json};

use super::dispatch::SendError;
use crate::config::{ApiKeyLocation, DEFAULT_HTTP_COURIER_BODY, HttpAuth, HttpRequestConfig};
use crate::store::courier::MessageRow;

pub const JSONNET_UNSUPPORTED: &str = "Jsonnet request bodies are not supported yet";

/// Whether a request config uses a body this build can produce.
pub fn body_supported(rc: &HttpRequestConfig) -> bool {
    rc.body.is_empty() || rc.body == DEFAULT_HTTP_COURIER_BODY
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
    client: &reqwest::Client,
    rc: &HttpRequestConfig,
    m: &MessageRow,
) -> Result<(), SendError> {
    let url = rc
        .url
        .as_deref()
        .filter(|u| !u.is_empty())
        .ok_or_else(|| SendError::permanent("the HTTP channel has no request_config.url"))?;
    if !body_supported(rc) {
        return Err(SendError::permanent(JSONNET_UNSUPPORTED));
    }
    let method = reqwest::Method::from_bytes(rc.method.to_ascii_uppercase().as_bytes())
        .map_err(|_| SendError::permanent(format!("invalid HTTP method {:?}", rc.method)))?;
    let mut req = client.request(method, url).json(&default_body(m));
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
        SendError::transient(format!("the HTTP request failed: {}", e.without_url()))
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
