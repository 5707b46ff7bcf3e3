//! Reading and writing session credentials on HTTP requests: the token lookup order, the
//! session cookie's attributes (and Kratos's cookie, read and replaced after a switch), and
//! what a request tells about the client's device.

use std::net::{IpAddr, SocketAddr};

use chrono::{DateTime, Utc};
use http::{HeaderMap, HeaderValue, header};

use super::App;
use super::respond::Resp;
use crate::config::{Cidr, SameSite};
use crate::session::kratos_cookie::{self, KratosCookie};
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

/// A session cookie's value, in Gatehouse's format or, after a switch, Kratos's.
enum SessionCookie {
    Own(String, DateTime<Utc>),
    Kratos(KratosCookie),
}

/// Kratos's codec max age: the session lifespan for persistent cookies, else gorilla's default.
fn kratos_max_age(app: &App) -> i64 {
    let session = &app.handles.deps().config.session;
    if session.cookie.persistent {
        i64::try_from(session.lifespan.get().as_secs()).unwrap_or(i64::MAX)
    } else {
        kratos_cookie::DEFAULT_MAX_AGE_SECS
    }
}

/// The first of the request's session cookies that opens. Several of the same name can arrive
/// (different paths or domains); a value not in Gatehouse's format is tried as Kratos's.
fn session_cookie(app: &App, headers: &HeaderMap) -> Option<SessionCookie> {
    let name = cookie_name(app);
    let secrets = &app.handles.deps().cookie_secrets;
    cookie_pairs(headers)
        .filter(|(k, _)| *k == name)
        .find_map(|(_, v)| {
            if let Some((token, exp)) = cookie::decode(secrets, v) {
                return Some(SessionCookie::Own(token, exp));
            }
            if !kratos_cookie::looks_like(v) {
                return None;
            }
            let now = Utc::now().timestamp();
            kratos_cookie::decode(secrets, &name, v, kratos_max_age(app), now)
                .map(SessionCookie::Kratos)
        })
}

/// The session token and the expiry it was issued with, from a valid session cookie. A Kratos
/// cookie without an expiry reports the epoch, so whoami treats it as stale and replaces it.
pub fn cookie_session(app: &App, headers: &HeaderMap) -> Option<(String, DateTime<Utc>)> {
    match session_cookie(app, headers)? {
        SessionCookie::Own(token, exp) => Some((token, exp)),
        SessionCookie::Kratos(k) => Some((k.token, k.expires_at.unwrap_or(DateTime::UNIX_EPOCH))),
    }
}

/// The token of the Kratos session cookie a request authenticates with, if that is how it
/// does: a cookie to replace with Gatehouse's (`replace_kratos_cookie`).
pub fn kratos_session_token(app: &App, headers: &HeaderMap) -> Option<String> {
    // Cheap for the usual request: no cookie of the name is shaped like Kratos's.
    let name = cookie_name(app);
    if !cookie_pairs(headers).any(|(k, v)| k == name && kratos_cookie::looks_like(v))
        || session_token_header(headers).is_some()
    {
        return None;
    }
    match session_cookie(app, headers)? {
        SessionCookie::Kratos(k) => Some(k.token),
        SessionCookie::Own(..) => None,
    }
}

/// On an answer to a request that carried Kratos's session cookie: Gatehouse's own cookie for
/// the same session while it is active, so the browser holds Kratos's no longer. Left alone:
/// errors (the cookie was not accepted) and answers that set or clear the cookie themselves.
pub async fn replace_kratos_cookie(app: &App, token: String, mut resp: Resp) -> Resp {
    let status = resp.status();
    if !(status.is_success() || status.is_redirection()) {
        return resp;
    }
    let prefix = format!("{}=", cookie_name(app));
    if resp
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .any(|v| v.as_bytes().starts_with(prefix.as_bytes()))
    {
        return resp;
    }
    if let Ok(Ok(session)) = app.handles.sessions.whoami(token.clone()).await {
        set_session_cookie(app, resp.headers_mut(), &token, session.expires_at);
    }
    resp
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = v.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
}

/// A non-empty `X-Session-Token`, which goes before any cookie.
fn session_token_header(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("x-session-token")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// The session token of a request, in Kratos's order: `X-Session-Token`, then the session
/// cookie, then `Authorization: Bearer`.
pub fn session_token(app: &App, headers: &HeaderMap) -> Option<String> {
    if let Some(t) = session_token_header(headers) {
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
