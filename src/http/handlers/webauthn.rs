//! `GET /.well-known/ory/webauthn.js`: the browser half of WebAuthn and passkey ceremonies.

use http::{HeaderValue, StatusCode, header};

use crate::http::respond::{Resp, text};
use crate::selfservice::strategy::webauthn_ceremony::SCRIPT;

/// The script, with the `Cache-Control: no-store` every answer gets: flows pin it by its
/// integrity hash under a URL that stays the same across versions, so no cache may hand a
/// browser an older copy that the hash would refuse.
///
/// Self-service UIs live on another origin and load it with `crossorigin="anonymous"` (its
/// node says so), which makes the browser check the integrity hash only of a response that
/// allows that origin: without `Access-Control-Allow-Origin` Kratos's script does not load in
/// such UIs (ory/network#64). It is public and fetched without credentials, so any origin may.
pub fn script() -> Resp {
    let mut r = text(
        StatusCode::OK,
        "text/javascript; charset=UTF-8",
        SCRIPT.to_owned(),
    );
    r.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    r
}
