//! Reading and writing session credentials on HTTP requests: the token lookup order, the
//! session cookie's attributes, and what a request tells about the client's device.

use std::net::{IpAddr, SocketAddr};

use chrono::{DateTime, Utc};
use http::{HeaderMap, HeaderValue, header};

use super::App;
use crate::config::{Cidr, SameSite};
use crate::session::{DeviceInfo, cookie};

/// Cookie pairs of a request, in order, across every `Cookie` header.
fn cookie_pairs(headers: &HeaderMap) -> impl Iterator<Item = (&str, &str)> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|p| p.trim().split_once('='))
        .map(|(k, v)| (k.trim(), v.trim().trim_matches('"')))
}

fn cookie_name(app: &App) -> String {
    app.handles.deps().config.session.cookie.name.clone()
}

/// The session token and the expiry it was issued with, from a valid session cookie.
pub fn cookie_session(app: &App, headers: &HeaderMap) -> Option<(String, DateTime<Utc>)> {
    let name = cookie_name(app);
    let secrets = &app.handles.deps().cookie_secrets;
    // Several cookies of the same name can arrive (different paths or domains); take the first
    // one that decrypts.
    cookie_pairs(headers)
        .filter(|(k, _)| *k == name)
        .find_map(|(_, v)| cookie::decode(secrets, v))
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = v.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
}

/// The session token of a request, in Kratos's order: `X-Session-Token`, then the session
/// cookie, then `Authorization: Bearer`.
pub fn session_token(app: &App, headers: &HeaderMap) -> Option<String> {
    if let Some(t) = headers
        .get("x-session-token")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        && !t.is_empty()
    {
        return Some(t.to_owned());
    }
    if let Some((t, _)) = cookie_session(app, headers) {
        return Some(t);
    }
    bearer(headers)
}

/// `Domain`, `Path`, `SameSite` and `Secure`, session settings first, then `cookies.*`.
fn attributes(app: &App) -> String {
    let deps = app.handles.deps();
    let sc = &deps.config.session.cookie;
    let c = &deps.config.cookies;
    let mut a = String::new();
    let path = sc.path.as_deref().unwrap_or(&c.path);
    a.push_str(&format!(
        "; Path={}",
        if path.is_empty() { "/" } else { path }
    ));
    if let Some(d) = sc
        .domain
        .as_deref()
        .or(c.domain.as_deref())
        .filter(|d| !d.is_empty())
    {
        a.push_str(&format!("; Domain={d}"));
    }
    a.push_str("; HttpOnly");
    let secure = sc.secure.or(c.secure).map(|s| s.0).unwrap_or(!deps.dev);
    if secure {
        a.push_str("; Secure");
    }
    let same_site = match sc.same_site.unwrap_or(c.same_site) {
        SameSite::Strict => "Strict",
        SameSite::Lax => "Lax",
        SameSite::None => "None",
    };
    a.push_str(&format!("; SameSite={same_site}"));
    a
}

fn http_date(t: DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// Sets the session cookie. Persistent (the default) cookies live until the session expires;
/// otherwise the browser drops it when it closes.
pub fn set_session_cookie(
    app: &App,
    headers_out: &mut HeaderMap,
    token: &str,
    expires_at: DateTime<Utc>,
) {
    let Some(value) = cookie::encode(&app.handles.deps().cookie_secrets, token, expires_at) else {
        tracing::error!("no cookie secret configured; the session cookie was not set");
        return;
    };
    let mut c = format!("{}={value}{}", cookie_name(app), attributes(app));
    if app.handles.deps().config.session.cookie.persistent {
        let max_age = (expires_at - Utc::now()).num_seconds().max(0);
        c.push_str(&format!(
            "; Max-Age={max_age}; Expires={}",
            http_date(expires_at)
        ));
    }
    if let Ok(v) = HeaderValue::from_str(&c) {
        headers_out.append(header::SET_COOKIE, v);
    }
}

/// Tells the browser to drop the session cookie.
pub fn clear_session_cookie(app: &App, headers_out: &mut HeaderMap) {
    let c = format!(
        "{}={}; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
        cookie_name(app),
        attributes(app)
    );
    if let Ok(v) = HeaderValue::from_str(&c) {
        headers_out.append(header::SET_COOKIE, v);
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// The address throttling and rate limits count by: the connection's peer, unless the peer is
/// one of `trusted` (`serve.public.trusted_proxies`); then `True-Client-IP`, else the nearest
/// `X-Forwarded-For` hop that is not itself a trusted proxy. Unlike [`device_info`], a client
/// cannot choose it by sending a header.
pub fn client_address(
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
    trusted: &[String],
) -> Option<IpAddr> {
    let peer = peer?.ip();
    let blocks: Vec<Cidr> = trusted.iter().filter_map(|b| b.parse().ok()).collect();
    let is_trusted = |ip: IpAddr| blocks.iter().any(|b| b.contains(ip));
    if !is_trusted(peer) {
        return Some(peer);
    }
    if let Some(ip) = header_str(headers, "true-client-ip").and_then(|v| v.parse().ok()) {
        return Some(ip);
    }
    let mut nearest = peer;
    let hops = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect::<Vec<_>>();
    for hop in hops.iter().rev() {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) if is_trusted(ip) => nearest = ip,
            Ok(ip) => return Some(ip),
            // A hop that is not an address was not written by a proxy we trust.
            Err(_) => break,
        }
    }
    Some(nearest)
}

/// The client's device as Kratos records it. The address is `True-Client-IP`, else the first
/// hop of `X-Forwarded-For`, else the connection's peer: Kratos trusts these headers because it
/// normally runs behind a proxy, and so do we. Location is `Cf-Ipcity, Cf-Ipcountry`.
pub fn device_info(headers: &HeaderMap, peer: Option<SocketAddr>) -> DeviceInfo {
    let ip = header_str(headers, "true-client-ip")
        .map(str::to_owned)
        .or_else(|| {
            header_str(headers, "x-forwarded-for")
                .and_then(|v| v.split(',').next())
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        })
        .or_else(|| peer.map(|p| p.ip().to_string()));
    let agents: Vec<&str> = headers
        .get_all(header::USER_AGENT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let location: Vec<&str> = [
        header_str(headers, "cf-ipcity"),
        header_str(headers, "cf-ipcountry"),
    ]
    .into_iter()
    .flatten()
    .collect();
    DeviceInfo {
        ip_address: ip,
        user_agent: (!agents.is_empty()).then(|| agents.join(" ")),
        location: Some(location.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn forwarding_headers_count_only_from_trusted_proxies() {
        let trusted = crate::config::default_trusted_proxies();
        let proxy: SocketAddr = "10.1.2.3:5000".parse().unwrap();
        let stranger: SocketAddr = "203.0.113.7:5000".parse().unwrap();
        let spoof = with(&[("x-forwarded-for", "198.51.100.1")]);
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        // A client that is not a proxy cannot name another address.
        assert_eq!(
            client_address(&spoof, Some(stranger), &trusted),
            ip("203.0.113.7")
        );
        // Behind a proxy: the nearest hop that is not a proxy, not a spoofed leftmost one.
        let chain = with(&[("x-forwarded-for", "6.6.6.6, 198.51.100.1, 10.0.0.9")]);
        assert_eq!(
            client_address(&chain, Some(proxy), &trusted),
            ip("198.51.100.1")
        );
        let tci = with(&[("true-client-ip", "198.51.100.2")]);
        assert_eq!(
            client_address(&tci, Some(proxy), &trusted),
            ip("198.51.100.2")
        );
        assert_eq!(
            client_address(&HeaderMap::new(), Some(proxy), &trusted),
            ip("10.1.2.3")
        );
        assert_eq!(client_address(&spoof, None, &trusted), None);
    }
}
