//! `return_to` validation: where a browser may be sent after a flow. A URL is allowed when it
//! shares scheme and host with an entry of `selfservice.allowed_return_urls` (or the default
//! return URL, or the public URL) and its path starts with that entry's path. Hosts may be
//! wildcards like `*.example.com`. Relative URLs resolve against the default return URL.

use url::Url;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Requested return_to URL {0:?} is not allowed.")]
pub struct Forbidden(pub String);

fn host_matches(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(suffix) => host.len() > suffix.len() + 1 && host.ends_with(&format!(".{suffix}")),
        None => pattern.eq_ignore_ascii_case(host),
    }
}

fn allowed_by(entry: &str, target: &Url) -> bool {
    // A wildcard host does not parse as a URL host; compare the parts by hand.
    let Some((scheme, rest)) = entry.split_once("://") else {
        return false;
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) => (h, p.parse::<u16>().ok()),
        _ => (authority, None),
    };
    scheme.eq_ignore_ascii_case(target.scheme())
        && target.host_str().is_some_and(|h| host_matches(host, h))
        && port.or_else(|| default_port(scheme)) == target.port_or_known_default()
        && target.path().starts_with(path.trim_end_matches('*'))
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

/// Resolves and checks `requested`; `None` or empty gives `default`.
pub fn validate(
    requested: Option<&str>,
    default: &str,
    allowed: &[String],
    public_base: &str,
) -> Result<String, Forbidden> {
    let Some(req) = requested.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(default.to_owned());
    };
    let base = Url::parse(default)
        .or_else(|_| Url::parse(public_base))
        .map_err(|_| Forbidden(req.to_owned()))?;
    let target = base.join(req).map_err(|_| Forbidden(req.to_owned()))?;
    if !matches!(target.scheme(), "http" | "https") {
        return Err(Forbidden(req.to_owned()));
    }
    let self_service = format!("{}/self-service", public_base.trim_end_matches('/'));
    let ok = allowed.iter().any(|a| allowed_by(a, &target))
        || allowed_by(default, &target)
        || allowed_by(&self_service, &target);
    if ok {
        Ok(target.to_string())
    } else {
        Err(Forbidden(req.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kratos_style_matching() {
        let allowed = vec![
            "https://app.example.com/dashboard".to_owned(),
            "https://*.partner.org/".to_owned(),
        ];
        let d = "https://app.example.com/";
        let p = "https://auth.example.com";
        assert_eq!(validate(None, d, &allowed, p).unwrap(), d);
        assert!(validate(Some("https://app.example.com/dashboard/x"), d, &allowed, p).is_ok());
        assert!(validate(Some("https://a.partner.org/home"), d, &allowed, p).is_ok());
        assert!(validate(Some("https://partner.org/home"), d, &allowed, p).is_err());
        assert!(validate(Some("https://evil.com/dashboard"), d, &allowed, p).is_err());
        assert!(validate(Some("http://app.example.com/dashboard"), d, &allowed, p).is_err());
        assert!(validate(Some("https://app.example.com.evil.com/"), d, &allowed, p).is_err());
        // Relative paths resolve against the default and are allowed under it.
        assert_eq!(
            validate(Some("/settings"), d, &allowed, p).unwrap(),
            "https://app.example.com/settings"
        );
        assert!(validate(Some("javascript:alert(1)"), d, &allowed, p).is_err());
        assert!(
            validate(
                Some("https://auth.example.com/self-service/login/browser"),
                d,
                &allowed,
                p
            )
            .is_ok()
        );
    }
}
