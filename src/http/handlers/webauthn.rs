//! `GET /.well-known/ory/webauthn.js`: the browser half of WebAuthn and passkey ceremonies.

use http::StatusCode;

use crate::http::respond::{Resp, text};
use crate::selfservice::strategy::webauthn_ceremony::SCRIPT;

/// The script, with the `Cache-Control: no-store` every answer gets: flows pin it by its
/// integrity hash under a URL that stays the same across versions, so no cache may hand a
/// browser an older copy that the hash would refuse.
pub fn script() -> Resp {
    text(
        StatusCode::OK,
        "text/javascript; charset=UTF-8",
        SCRIPT.to_owned(),
    )
}
