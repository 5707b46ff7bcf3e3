//! The CSRF cookie self-service flows are bound to.

use http::{HeaderMap, HeaderValue, header};
use sha2::{Digest, Sha256};

use crate::config::SameSite;
use crate::http::App;
use crate::selfservice::csrf::{self, RawToken};

/// Kratos names the CSRF cookie after the public URL, so two deployments on one domain differ.
pub fn csrf_cookie_name(app: &App) -> String {
    let digest = Sha256::digest(format!("{}/", app.handles.deps().public_base()).as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("csrf_token_{hex}")
}

fn cookie_attrs(app: &App) -> String {
    let deps = app.handles.deps();
    let c = &deps.config.cookies;
    let secure = c.secure.map(|s| s.0).unwrap_or(!deps.dev);
    let same_site = match c.same_site {
        SameSite::Strict => "Strict",
        SameSite::None if secure => "None",
        _ => "Lax",
    };
    let mut s = format!("; Path={}; HttpOnly; SameSite={same_site}", c.path);
    if secure {
        s.push_str("; Secure");
    }
    if let Some(d) = c.domain.as_deref().filter(|d| !d.is_empty()) {
        s.push_str(&format!("; Domain={d}"));
    }
    s
}

/// Sets the CSRF cookie (a year, like Kratos's).
pub fn set_csrf_cookie(app: &App, headers: &mut HeaderMap, raw: &RawToken) {
    let v = format!(
        "{}={}; Max-Age=31536000{}",
        csrf_cookie_name(app),
        csrf::encode_cookie(raw),
        cookie_attrs(app)
    );
    if let Ok(v) = HeaderValue::from_str(&v) {
        headers.append(header::SET_COOKIE, v);
    }
}
