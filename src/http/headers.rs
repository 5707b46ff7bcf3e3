//! Browser hardening headers (`serve.public.security_headers`), fixed per listener at start
//! (`serve` keys need a restart). The public listener sends `X-Content-Type-Options`,
//! `Referrer-Policy`, CSP `frame-ancestors` with its `X-Frame-Options` twin for older browsers,
//! and `Strict-Transport-Security` when its base URL is https, on every answer: pages, flows,
//! JSON, redirects and errors alike, since any of them can be framed or sniffed. The admin
//! listener serves no pages and sends `nosniff` only. A header a handler set is left alone.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

use super::router::Listener;
use crate::config::SecurityHeaders;

#[derive(Debug, Clone, Default)]
pub struct Hardening {
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl Hardening {
    /// The headers `listener` sends; `public_url` is the public base URL in force. Fails on a
    /// value that cannot be a header.
    pub fn new(
        listener: Listener,
        cfg: &SecurityHeaders,
        public_url: &str,
    ) -> Result<Hardening, String> {
        let mut headers = Vec::new();
        if !cfg.enabled {
            return Ok(Hardening { headers });
        }
        headers.push((
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ));
        if listener == Listener::Admin {
            return Ok(Hardening { headers });
        }
        let value = |key: &str, v: &str| {
            HeaderValue::from_str(v.trim()).map_err(|_| {
                format!("serve.public.security_headers.{key}: {v:?} cannot be sent as a header")
            })
        };
        if !cfg.referrer_policy.trim().is_empty() {
            headers.push((
                header::REFERRER_POLICY,
                value("referrer_policy", &cfg.referrer_policy)?,
            ));
        }
        let ancestors = cfg.frame_ancestors.trim();
        if !ancestors.is_empty() {
            headers.push((
                header::CONTENT_SECURITY_POLICY,
                value("frame_ancestors", &format!("frame-ancestors {ancestors}"))?,
            ));
            let legacy = match ancestors.to_ascii_lowercase().as_str() {
                "'none'" => Some("DENY"),
                "'self'" => Some("SAMEORIGIN"),
                // X-Frame-Options cannot name other origins; browsers that know CSP use it.
                _ => None,
            };
            if let Some(v) = legacy {
                headers.push((header::X_FRAME_OPTIONS, HeaderValue::from_static(v)));
            }
        }
        let max_age = cfg.hsts_max_age.get().as_secs();
        let https = public_url
            .get(..8)
            .is_some_and(|s| s.eq_ignore_ascii_case("https://"));
        if https && max_age > 0 {
            let sub = if cfg.hsts_include_subdomains {
                "; includeSubDomains"
            } else {
                ""
            };
            headers.push((
                header::STRICT_TRANSPORT_SECURITY,
                value("hsts_max_age", &format!("max-age={max_age}{sub}"))?,
            ));
        }
        Ok(Hardening { headers })
    }

    /// Adds each header the answer does not carry yet.
    pub fn apply(&self, h: &mut HeaderMap) {
        for (name, value) in &self.headers {
            if !h.contains_key(name) {
                h.insert(name.clone(), value.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Duration;

    fn names(h: &Hardening) -> Vec<&str> {
        h.headers.iter().map(|(n, _)| n.as_str()).collect()
    }

    #[test]
    fn defaults_per_listener_and_scheme() {
        let cfg = SecurityHeaders::default();
        let public = Hardening::new(Listener::Public, &cfg, "https://id.example").unwrap();
        assert_eq!(
            names(&public),
            [
                "x-content-type-options",
                "referrer-policy",
                "content-security-policy",
                "x-frame-options",
                "strict-transport-security"
            ]
        );
        let plain = Hardening::new(Listener::Public, &cfg, "http://127.0.0.1:4433").unwrap();
        assert!(!names(&plain).contains(&"strict-transport-security"));
        let admin = Hardening::new(Listener::Admin, &cfg, "https://id.example").unwrap();
        assert_eq!(names(&admin), ["x-content-type-options"]);
    }

    #[test]
    fn empty_values_and_other_origins_omit_their_headers() {
        let cfg = SecurityHeaders {
            referrer_policy: String::new(),
            frame_ancestors: "https://app.example".into(),
            hsts_max_age: Duration::from_secs(0),
            ..SecurityHeaders::default()
        };
        let h = Hardening::new(Listener::Public, &cfg, "https://id.example").unwrap();
        assert_eq!(
            names(&h),
            ["x-content-type-options", "content-security-policy"]
        );
        let bad = SecurityHeaders {
            referrer_policy: "no\nreferrer".into(),
            ..SecurityHeaders::default()
        };
        assert!(Hardening::new(Listener::Public, &bad, "http://x").is_err());
    }

    #[test]
    fn a_handlers_header_wins() {
        let h = Hardening::new(Listener::Public, &SecurityHeaders::default(), "http://x").unwrap();
        let mut map = HeaderMap::new();
        map.insert(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("SAMEORIGIN"),
        );
        h.apply(&mut map);
        assert_eq!(map[header::X_FRAME_OPTIONS], "SAMEORIGIN");
        assert_eq!(map[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    }
}
