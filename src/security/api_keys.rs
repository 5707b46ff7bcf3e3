//! Admin API keys. A key is `gh_admin_<id>_<secret>`: the id (the row's UUID, 32 hex digits)
//! finds the row, the secret (40 random base62 characters, about 238 bits) makes it
//! unguessable. Only the SHA-256 digest of the whole key is stored; a slow hash would add
//! nothing to a key this random and cost every admin request. The database is asked on every
//! request, so a revocation holds on every node from the next request on.

use chrono::{NaiveDateTime, TimeDelta, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;

use crate::store::api_keys::{self as rows, ApiKeyRow};
use crate::store::{Store, StoreError};

pub const KEY_PREFIX: &str = "gh_admin_";
const SECRET_LEN: usize = 40;
/// `last_used_at` is written at most this often per key: a busy client must not turn every
/// admin read into a write.
const TOUCH_EVERY: TimeDelta = TimeDelta::seconds(60);

/// A key as the CLI and the logs may show it: everything but the key.
#[derive(Debug, Clone, Serialize)]
pub struct KeyInfo {
    pub id: Uuid,
    pub name: String,
    pub read_only: bool,
    pub created_at: chrono::DateTime<Utc>,
    pub last_used_at: Option<chrono::DateTime<Utc>>,
    pub revoked_at: Option<chrono::DateTime<Utc>>,
}

impl From<ApiKeyRow> for KeyInfo {
    fn from(r: ApiKeyRow) -> Self {
        KeyInfo {
            id: r.id.0,
            name: r.name,
            read_only: r.read_only,
            created_at: r.created_at.and_utc(),
            last_used_at: r.last_used_at.map(|t| t.and_utc()),
            revoked_at: r.revoked_at.map(|t| t.and_utc()),
        }
    }
}

/// A key just made: `key` is shown once and never again.
pub struct NewKey {
    pub info: KeyInfo,
    pub key: String,
}

/// Why a request's key was refused.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("no API key was sent")]
    Missing,
    #[error("the Authorization header is not a Gatehouse admin API key")]
    Malformed,
    #[error("unknown API key")]
    Unknown { id: Uuid },
    #[error("revoked API key")]
    Revoked { id: Uuid, name: String },
    #[error("read-only API key used for a change")]
    ReadOnly { id: Uuid, name: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn now() -> NaiveDateTime {
    Utc::now().naive_utc()
}

fn digest(key: &str) -> String {
    crate::hash::lower_hex(&Sha256::digest(key.as_bytes()))
}

/// Makes and stores a key.
pub async fn create(store: &Store, name: &str, read_only: bool) -> Result<NewKey, StoreError> {
    use rand::distr::{Alphanumeric, SampleString};
    let id = Uuid::new_v4();
    let secret = Alphanumeric.sample_string(&mut rand::rng(), SECRET_LEN);
    let key = format!("{KEY_PREFIX}{}_{secret}", id.simple());
    let row = ApiKeyRow {
        id: id.into(),
        nid: store.nid().into(),
        name: name.to_owned(),
        key_digest: digest(&key),
        read_only,
        // Whole microseconds, as both databases keep them, so what is shown is what is stored.
        created_at: truncate_micros(now()),
        last_used_at: None,
        revoked_at: None,
    };
    rows::insert(store, &row).await?;
    Ok(NewKey {
        info: row.into(),
        key,
    })
}

fn truncate_micros(t: NaiveDateTime) -> NaiveDateTime {
    use chrono::Timelike;
    t.with_nanosecond(t.nanosecond() / 1000 * 1000).unwrap_or(t)
}

pub async fn list(store: &Store) -> Result<Vec<KeyInfo>, StoreError> {
    Ok(rows::list(store)
        .await?
        .into_iter()
        .map(KeyInfo::from)
        .collect())
}

/// Revokes a key (a second revocation keeps the first time); `NotFound` when there is none.
pub async fn revoke(store: &Store, id: Uuid) -> Result<KeyInfo, StoreError> {
    Ok(rows::revoke(store, id, now()).await?.into())
}

/// The id a key names, when it has the shape of one (`gh_admin_<32 hex>_<secret>`).
fn key_id(key: &str) -> Option<Uuid> {
    let (id, secret) = key.strip_prefix(KEY_PREFIX)?.split_once('_')?;
    if id.len() != 32 || secret.is_empty() {
        return None;
    }
    Uuid::try_parse(id).ok()
}

/// The key of an `Authorization` header value: `Bearer <key>`, the scheme in any case.
pub fn bearer(authorization: &str) -> Option<&str> {
    let (scheme, key) = authorization.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| key.trim())
        .filter(|k| !k.is_empty())
}

/// Checks the key of a request (`authorization`: the header's value, if any) for a request
/// that only reads (`read`) or may change something. On success returns the key, and records
/// its use when the last recorded one is a minute old.
pub async fn authenticate(
    store: &Store,
    authorization: Option<&str>,
    read: bool,
) -> Result<KeyInfo, KeyError> {
    let key = bearer(authorization.ok_or(KeyError::Missing)?).ok_or(KeyError::Malformed)?;
    let id = key_id(key).ok_or(KeyError::Malformed)?;
    let given = digest(key);
    let row = rows::get(store, id)
        .await?
        .ok_or(KeyError::Unknown { id })?;
    if !bool::from(given.as_bytes().ct_eq(row.key_digest.as_bytes())) {
        return Err(KeyError::Unknown { id });
    }
    if row.revoked_at.is_some() {
        return Err(KeyError::Revoked { id, name: row.name });
    }
    if row.read_only && !read {
        return Err(KeyError::ReadOnly { id, name: row.name });
    }
    let at = now();
    if row.last_used_at.is_none_or(|t| t <= at - TOUCH_EVERY) {
        // Off the request's path: the answer does not wait for a write.
        let store = store.clone();
        tokio::spawn(async move {
            if let Err(e) = rows::touch(&store, id, at, at - TOUCH_EVERY).await {
                tracing::warn!(key_id = %id, error = %e, "could not record the admin API key's use");
            }
        });
    }
    Ok(row.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_by_shape_only() {
        let id = Uuid::new_v4();
        let key = format!("{KEY_PREFIX}{}_abcDEF123", id.simple());
        assert_eq!(key_id(&key), Some(id));
        assert_eq!(key_id(&format!("{KEY_PREFIX}{}_", id.simple())), None);
        assert_eq!(key_id(&format!("{KEY_PREFIX}{}", id.simple())), None);
        assert_eq!(key_id(&format!("gh_other_{}_x", id.simple())), None);
        assert_eq!(key_id(&format!("{KEY_PREFIX}{id}_x")), None);
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer "), None);
        assert_eq!(bearer("Bearer"), None);
    }
}
