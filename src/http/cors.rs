//! CORS for the public port (`serve.public.cors`), answered by the listener itself.

use http::{HeaderMap, HeaderValue, StatusCode, header};

use super::respond::{Resp, empty};
use crate::config;

/// One `allowed_origins` entry against a request's origin (one `*` stands for any run of
/// characters, as in Kratos).
fn pattern_matches(pattern: &str, origin: &str) -> bool {
    if pattern == "*" || pattern == origin {
        return true;
    }
    match pattern.split_once('*') {
        Some((pre, post)) => {
            origin.len() >= pre.len() + post.len()
                && origin.starts_with(pre)
                && origin.ends_with(post)
        }
        None => false,
    }
}

#[derive(Debug, Clone)]
pub struct CorsPolicy {
    pub allowed_origins: Vec<String>,
    pub allowed_methods: Vec<String>,
    pub allowed_headers: Vec<String>,
    pub exposed_headers: Vec<String>,
    pub allow_credentials: bool,
    pub max_age: u64,
}

impl CorsPolicy {
    /// `*` allows any origin; `https://*.example.com` allows subdomains.
    pub fn origin_allowed(&self, origin: &str) -> bool {
        self.allowed_origins
            .iter()
            .any(|o| pattern_matches(o, origin))
    }

    /// Whether a credentialed answer may go to `origin`: only when an entry that cannot let
    /// any site in matches it. Configuration refuses open entries with credentials; this
    /// keeps a policy built some other way from reflecting any origin with credentials.
    fn credentials_for(&self, origin: &str) -> bool {
        self.allow_credentials
            && !origin.eq_ignore_ascii_case("null")
            && self
                .allowed_origins
                .iter()
                .any(|o| !config::origin_pattern_is_open(o) && pattern_matches(o, origin))
    }

    fn allow_origin(&self, origin: &HeaderValue, h: &mut HeaderMap) -> bool {
        let Ok(o) = origin.to_str() else { return false };
        if !self.origin_allowed(o) {
            return false;
        }
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        h.append(header::VARY, HeaderValue::from_static("Origin"));
        if self.credentials_for(o) {
            h.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        true
    }

    pub fn preflight(&self, origin: &HeaderValue, req: &HeaderMap) -> Resp {
        let mut r = empty(StatusCode::NO_CONTENT);
        let h = r.headers_mut();
        if !self.allow_origin(origin, h) {
            return r;
        }
        let method_ok = req
            .get(header::ACCESS_CONTROL_REQUEST_METHOD)
            .and_then(|m| m.to_str().ok())
            .is_some_and(|m| {
                self.allowed_methods
                    .iter()
                    .any(|a| a.eq_ignore_ascii_case(m))
            });
        if !method_ok {
            return r;
        }
        if let Ok(v) = HeaderValue::from_str(&self.allowed_methods.join(", ")) {
            h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, v);
        }
        // Echo the requested headers that are allowed.
        if let Some(asked) = req
            .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
            .and_then(|v| v.to_str().ok())
        {
            let ok: Vec<&str> = asked
                .split(',')
                .map(str::trim)
                .filter(|a| {
                    !a.is_empty()
                        && self
                            .allowed_headers
                            .iter()
                            .any(|x| x.eq_ignore_ascii_case(a))
                })
                .collect();
            if let Ok(v) = HeaderValue::from_str(&ok.join(", ")) {
                h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, v);
            }
        }
        if self.max_age > 0
            && let Ok(v) = HeaderValue::from_str(&self.max_age.to_string())
        {
            h.insert(header::ACCESS_CONTROL_MAX_AGE, v);
        }
        r
    }

    pub fn decorate(&self, origin: &HeaderValue, h: &mut HeaderMap) {
        if self.allow_origin(origin, h)
            && !self.exposed_headers.is_empty()
            && let Ok(v) = HeaderValue::from_str(&self.exposed_headers.join(", "))
        {
            h.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_origins() {
        let p = CorsPolicy {
            allowed_origins: vec![
                "https://*.example.com".into(),
                "http://localhost:3000".into(),
            ],
            allowed_methods: vec!["GET".into()],
            allowed_headers: vec![],
            exposed_headers: vec![],
            allow_credentials: true,
            max_age: 0,
        };
        assert!(p.origin_allowed("https://app.example.com"));
        assert!(p.origin_allowed("http://localhost:3000"));
        assert!(!p.origin_allowed("https://example.org"));
        assert!(!p.origin_allowed("http://app.example.com"));
        assert!(p.credentials_for("https://app.example.com"));
    }

    /// Even if configuration checks were bypassed, an open entry never earns credentials.
    #[test]
    fn open_entries_never_answer_with_credentials() {
        let p = CorsPolicy {
            allowed_origins: vec![
                "*".into(),
                "null".into(),
                "https://*".into(),
                "http://localhost:3000".into(),
            ],
            allowed_methods: vec!["GET".into()],
            allowed_headers: vec![],
            exposed_headers: vec![],
            allow_credentials: true,
            max_age: 0,
        };
        let mut h = HeaderMap::new();
        assert!(p.allow_origin(&HeaderValue::from_static("https://evil.test"), &mut h));
        assert_eq!(h[header::ACCESS_CONTROL_ALLOW_ORIGIN], "https://evil.test");
        assert!(h.get(header::ACCESS_CONTROL_ALLOW_CREDENTIALS).is_none());
        let mut h = HeaderMap::new();
        assert!(p.allow_origin(&HeaderValue::from_static("null"), &mut h));
        assert!(h.get(header::ACCESS_CONTROL_ALLOW_CREDENTIALS).is_none());
        // A listed origin still gets them.
        let mut h = HeaderMap::new();
        assert!(p.allow_origin(&HeaderValue::from_static("http://localhost:3000"), &mut h));
        assert_eq!(h[header::ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
    }
}
