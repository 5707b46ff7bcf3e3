//! The admin API as the operator's verbs call it: `-e/--endpoint` or `GATEHOUSE_ADMIN_URL`
//! (Kratos's `KRATOS_ADMIN_URL` too), a bearer admin API key when the server asks for one, and
//! Kratos's error envelope turned into one line of text.
//!
//! The client comes from [`crate::outbound`], the one builder of HTTP clients, with the
//! private-range guard off: that guard stops user-influenced requests (web hooks, schema URLs)
//! from reaching internal hosts, whereas this endpoint is typed by the operator, and an admin
//! API normally listens on loopback or a private network.

use std::time::Duration;

use serde_json::{Value, json};

use crate::config::HttpClient;
use crate::outbound::{self, Outbound};

/// Where the endpoint comes from when `-e` is not given, first one set wins.
pub const ENDPOINT_ENV: [&str; 2] = ["GATEHOUSE_ADMIN_URL", "KRATOS_ADMIN_URL"];
/// The admin API key's environment variable (the flag is `--api-key`).
pub const API_KEY_ENV: &str = "GATEHOUSE_ADMIN_API_KEY";

/// One failed call: the HTTP status when the server answered, and what went wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct CallFailed {
    pub status: Option<u16>,
    pub message: String,
}

impl CallFailed {
    fn local(message: impl Into<String>) -> CallFailed {
        CallFailed {
            status: None,
            message: message.into(),
        }
    }
}

/// A Kratos error envelope (`{"error": {...}}` or the bare error object) as one line: the
/// message, then the reason when it says more.
pub fn envelope_text(body: &Value) -> Option<String> {
    let e = body.get("error").unwrap_or(body);
    let message = e.get("message").and_then(Value::as_str)?;
    Some(match e.get("reason").and_then(Value::as_str) {
        Some(r) if !r.is_empty() && r != message => format!("{message}: {r}"),
        _ => message.to_owned(),
    })
}

pub struct AdminClient {
    base: url::Url,
    api_key: Option<String>,
    /// Sent as `X-Gatehouse-Tenant`: the tenant every call acts for.
    tenant: Option<String>,
    http: Outbound,
}

impl std::fmt::Debug for AdminClient {
    // The key stays out of debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminClient")
            .field("base", &self.base.as_str())
            .field("api_key", &self.api_key.as_ref().map(|_| "…"))
            .finish()
    }
}

impl AdminClient {
    /// `endpoint` from the flag, else from the environment; `api_key` from the flag or
    /// [`API_KEY_ENV`] (clap reads both).
    pub fn new(endpoint: Option<&str>, api_key: Option<String>) -> Result<AdminClient, String> {
        let from_env = || {
            ENDPOINT_ENV
                .iter()
                .find_map(|k| std::env::var(k).ok().filter(|v| !v.trim().is_empty()))
        };
        let Some(endpoint) = endpoint.map(str::to_owned).or_else(from_env) else {
            return Err(format!(
                "you have to set the admin API endpoint: pass -e/--endpoint or set {} (or {})",
                ENDPOINT_ENV[0], ENDPOINT_ENV[1]
            ));
        };
        let mut base = url::Url::parse(endpoint.trim())
            .map_err(|e| format!("could not parse the endpoint URL {endpoint:?}: {e}"))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(format!("the endpoint {endpoint:?} is not an http(s) URL"));
        }
        // Kratos's admin paths live under `/admin` on the admin port; an endpoint that already
        // names it is taken as is.
        let path = base.path().trim_end_matches('/').to_owned();
        let path = path.strip_suffix("/admin").unwrap_or(&path).to_owned();
        base.set_path(&format!("{path}/"));
        let http = Outbound::new(
            &HttpClient::default(),
            outbound::Options {
                timeout: Duration::from_secs(120),
                follow_redirects: false,
                user_agent: true,
            },
        )?;
        Ok(AdminClient {
            base,
            api_key: api_key.filter(|k| !k.is_empty()),
            tenant: None,
            http,
        })
    }

    /// The same client, acting for `tenant` (an id or name) when given.
    pub fn for_tenant(self, tenant: Option<String>) -> AdminClient {
        AdminClient {
            tenant: tenant.filter(|t| !t.trim().is_empty()),
            ..self
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}admin/{}", self.base, path.trim_start_matches('/'))
    }

    /// Sends a request and returns the status and JSON body (`Null` for an empty body); an
    /// answer outside 2xx is a [`CallFailed`] with the envelope's text.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<(reqwest::header::HeaderMap, Value), CallFailed> {
        let url = self.url(path);
        let mut req = self
            .http
            .request(method, &url)
            .map_err(|e| CallFailed::local(e.0))?
            .header("accept", "application/json");
        if !query.is_empty() {
            req = req.query(query);
        }
        if let Some(k) = &self.api_key {
            req = req.bearer_auth(k);
        }
        if let Some(t) = &self.tenant {
            req = req.header(crate::http::TENANT_HEADER, t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(|e| {
            CallFailed::local(format!(
                "could not reach the admin API at {}: {}",
                self.base,
                outbound::explain(&e)
            ))
        })?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.map_err(|e| {
            CallFailed::local(format!("reading the answer: {}", outbound::explain(&e)))
        })?;
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        };
        if status.is_success() {
            return Ok((headers, value));
        }
        let message = envelope_text(&value).unwrap_or_else(|| {
            format!(
                "the admin API answered {status}: {}",
                String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
            )
        });
        Err(CallFailed {
            status: Some(status.as_u16()),
            message,
        })
    }

    /// One page of identities and the token of the next, from the `Link` header.
    pub async fn list_identities(
        &self,
        page_size: Option<u32>,
        page_token: Option<&str>,
    ) -> Result<(Vec<Value>, Option<String>), CallFailed> {
        let mut q = Vec::new();
        if let Some(n) = page_size {
            q.push(("page_size", n.to_string()));
        }
        if let Some(t) = page_token {
            q.push(("page_token", t.to_owned()));
        }
        let (headers, body) = self
            .call(reqwest::Method::GET, "identities", &q, None)
            .await?;
        let next = headers
            .get_all(reqwest::header::LINK)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(next_page_token);
        match body {
            Value::Array(items) => Ok((items, next)),
            other => Err(CallFailed::local(format!(
                "the admin API sent {other} where a list of identities belongs"
            ))),
        }
    }

    pub async fn get_identity(&self, id: &str, include: &[String]) -> Result<Value, CallFailed> {
        let q: Vec<(&str, String)> = include
            .iter()
            .map(|c| ("include_credential", c.clone()))
            .collect();
        let path = format!("identities/{}", path_segment(id));
        Ok(self.call(reqwest::Method::GET, &path, &q, None).await?.1)
    }

    pub async fn delete_identity(&self, id: &str) -> Result<(), CallFailed> {
        let path = format!("identities/{}", path_segment(id));
        self.call(reqwest::Method::DELETE, &path, &[], None)
            .await
            .map(|_| ())
    }

    /// `PATCH /admin/identities` with `items` (each `{"create": …, "patch_id": …}`); the
    /// answer's `identities` array.
    pub async fn batch(&self, items: Vec<Value>) -> Result<Vec<Value>, CallFailed> {
        let body = json!({ "identities": items });
        let (_, answer) = self
            .call(reqwest::Method::PATCH, "identities", &[], Some(&body))
            .await?;
        match answer.get("identities") {
            Some(Value::Array(a)) => Ok(a.clone()),
            _ => Err(CallFailed::local(format!(
                "the admin API sent {answer} where the batch outcome belongs"
            ))),
        }
    }

    /// Every identity schema the server serves, as `(id, schema)`.
    pub async fn schemas(&self) -> Result<Vec<(String, Value)>, CallFailed> {
        let (_, body) = self
            .call(reqwest::Method::GET, "schemas", &[], None)
            .await?;
        let items = body.as_array().cloned().unwrap_or_default();
        Ok(items
            .into_iter()
            .filter_map(|s| {
                let id = s.get("id")?.as_str()?.to_owned();
                Some((id, s.get("schema")?.clone()))
            })
            .collect())
    }
}

fn path_segment(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The `page_token` of the `rel="next"` link in a `Link` header value.
fn next_page_token(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        if !params.contains("rel=\"next\"") {
            return None;
        }
        let target = target.trim().trim_start_matches('<').trim_end_matches('>');
        let url = url::Url::parse(target).ok()?;
        url.query_pairs()
            .find(|(k, _)| k == "page_token")
            .map(|(_, v)| v.into_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_next_token_and_the_envelope() {
        let link = "<http://a/admin/identities?page_size=2>; rel=\"first\",<http://a/admin/identities?page_size=2&page_token=abc>; rel=\"next\"";
        assert_eq!(next_page_token(link).as_deref(), Some("abc"));
        assert_eq!(
            next_page_token("<http://a/admin/identities?page_size=2>; rel=\"first\""),
            None
        );
        let e =
            json!({"error": {"code": 400, "message": "bad", "reason": "traits.email is missing"}});
        assert_eq!(
            envelope_text(&e).as_deref(),
            Some("bad: traits.email is missing")
        );
        assert_eq!(
            envelope_text(&json!({"message": "m"})).as_deref(),
            Some("m")
        );
    }

    #[test]
    fn endpoints_get_the_admin_prefix_once() {
        let c = AdminClient::new(Some("http://127.0.0.1:4434"), None).unwrap();
        assert_eq!(
            c.url("identities"),
            "http://127.0.0.1:4434/admin/identities"
        );
        let c = AdminClient::new(Some("http://127.0.0.1:4434/admin/"), None).unwrap();
        assert_eq!(c.url("schemas"), "http://127.0.0.1:4434/admin/schemas");
        assert!(AdminClient::new(Some("ftp://x"), None).is_err());
    }
}
