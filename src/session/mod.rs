//! Sessions: the model, its Kratos JSON shape, token handling, the operations (`service`) and
//! the browser cookie (`cookie`, and Kratos's own, still read after a switch: `kratos_cookie`).
//!
//! Tokens are `ory_st_` / `ory_lo_` plus 32 alphanumerics, as in Kratos. Unlike Kratos the
//! database holds only their SHA-256 digests. The logout token is derived from the session token
//! (a hash of it), so a request carrying the session can always produce its logout URL without
//! storing the logout token anywhere in clear.

pub mod aal;
pub mod cache;
pub mod cookie;
pub mod kratos_cookie;
pub mod service;

use chrono::{DateTime, NaiveDateTime, Utc};
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::identity::credential_type::CredentialType;
use crate::identity::{Identity, State};
use crate::store::StoreError;
use crate::store::sessions::{DeviceRow, SessionRows};
pub use aal::Aal;

pub const SESSION_TOKEN_PREFIX: &str = "ory_st_";
pub const LOGOUT_TOKEN_PREFIX: &str = "ory_lo_";
const TOKEN_CHARS: usize = 32;
const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// One authenticator used to establish the session.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuthenticationMethod {
    pub method: CredentialType,
    pub aal: Aal,
    pub completed_at: DateTime<Utc>,
}

/// Where a session was used from, as stored.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Device {
    pub id: Uuid,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub location: Option<String>,
}

/// What the HTTP layer knows about the client when a session is issued.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DeviceInfo {
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub location: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Session {
    pub id: Uuid,
    pub identity_id: Uuid,
    pub active: bool,
    pub aal: Aal,
    pub authentication_methods: Vec<AuthenticationMethod>,
    pub issued_at: DateTime<Utc>,
    pub authenticated_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Loaded when asked for (whoami always), always without credentials.
    pub identity: Option<Identity>,
    /// Loaded when asked for (whoami always).
    pub devices: Option<Vec<Device>>,
    /// When it was last used, as recorded for `session.hygiene.inactivity_timeout` (read with
    /// a token lookup only; not part of the API's JSON).
    pub last_seen_at: Option<DateTime<Utc>>,
}

fn utc(n: NaiveDateTime) -> DateTime<Utc> {
    n.and_utc()
}

impl Session {
    /// Fails on a stored level or method this build does not know.
    pub fn from_rows(rows: SessionRows) -> Result<Session, StoreError> {
        let s = rows.session;
        let bad = |column: &str, value: &str| StoreError::BadValue {
            column: format!("sessions.{column}"),
            value: value.to_owned(),
        };
        Ok(Session {
            id: s.id.0,
            identity_id: s.identity_id.0,
            active: s.active,
            aal: Aal::parse(&s.aal).ok_or_else(|| bad("aal", &s.aal))?,
            authentication_methods: serde_json::from_str(&s.authentication_methods)
                .map_err(|_| bad("authentication_methods", &s.authentication_methods))?,
            issued_at: utc(s.issued_at),
            authenticated_at: utc(s.authenticated_at),
            expires_at: utc(s.expires_at),
            created_at: utc(s.created_at),
            updated_at: utc(s.updated_at),
            identity: rows.identity.map(Identity::from_rows).transpose()?,
            devices: rows
                .devices
                .map(|d| d.into_iter().map(device_from_row).collect()),
            last_seen_at: rows.last_seen.map(utc),
        })
    }

    /// Kratos's rule: active, not expired, and (when loaded) the identity is active.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.active
            && self.expires_at > now
            && self
                .identity
                .as_ref()
                .is_none_or(|i| i.state == State::Active)
    }

    /// The API's `session` object. `identity` and `devices` appear only when loaded.
    pub fn to_json(&self, public_base: &str) -> Value {
        let mut o = serde_json::Map::new();
        o.insert("id".into(), json!(self.id));
        o.insert("active".into(), json!(self.active));
        o.insert("expires_at".into(), json!(self.expires_at));
        o.insert("authenticated_at".into(), json!(self.authenticated_at));
        o.insert("authenticator_assurance_level".into(), json!(self.aal));
        o.insert(
            "authentication_methods".into(),
            json!(self.authentication_methods),
        );
        o.insert("issued_at".into(), json!(self.issued_at));
        if let Some(i) = &self.identity {
            o.insert("identity".into(), i.to_json(public_base, None));
        }
        if let Some(d) = &self.devices {
            o.insert("devices".into(), json!(d));
        }
        Value::Object(o)
    }
}

fn device_from_row(d: DeviceRow) -> Device {
    Device {
        id: d.id.0,
        ip_address: d.ip_address,
        user_agent: d.user_agent,
        location: d.location,
    }
}

/// SHA-256 hex: how tokens are stored and looked up.
pub fn hash_token(token: &str) -> String {
    crate::hash::lower_hex(&Sha256::digest(token.as_bytes()))
}

/// A fresh session token: `ory_st_` + 32 random alphanumerics from the thread CSPRNG.
pub fn new_session_token() -> String {
    let mut rng = rand::rng();
    let body: String = (0..TOKEN_CHARS)
        .map(|_| ALNUM[rng.random_range(0..ALNUM.len())] as char)
        .collect();
    format!("{SESSION_TOKEN_PREFIX}{body}")
}

/// The logout token that belongs to a session token. One-way: it cannot be turned back into the
/// session token, and anyone holding the session token may log it out anyway.
pub fn logout_token_for(session_token: &str) -> String {
    let digest = Sha256::digest(format!("gatehouse-logout-token\0{session_token}").as_bytes());
    // 32 digest bytes to 32 characters; the modulo bias is irrelevant at ~190 bits.
    let body: String = digest
        .iter()
        .map(|b| ALNUM[*b as usize % ALNUM.len()] as char)
        .collect();
    format!("{LOGOUT_TOKEN_PREFIX}{body}")
}

/// Constant-time comparison of a presented logout token with the one a session token implies.
pub fn logout_token_matches(session_token: &str, presented: &str) -> bool {
    use subtle::ConstantTimeEq;
    logout_token_for(session_token)
        .as_bytes()
        .ct_eq(presented.as_bytes())
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_formats() {
        let t = new_session_token();
        assert!(t.starts_with("ory_st_") && t.len() == 39);
        assert!(t[7..].bytes().all(|b| b.is_ascii_alphanumeric()));
        let l = logout_token_for(&t);
        assert!(l.starts_with("ory_lo_") && l.len() == 39);
        assert!(l[7..].bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_eq!(l, logout_token_for(&t));
        assert!(logout_token_matches(&t, &l));
        assert!(!logout_token_matches(&new_session_token(), &l));
        assert_eq!(
            hash_token("x"),
            "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"
        );
    }
}
