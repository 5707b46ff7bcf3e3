//! The whoami cache: rendered answers of active sessions, keyed by the token's digest, so a
//! repeated whoami costs a hash and a map lookup instead of four queries and a JSON rendering.
//!
//! Staying correct is the whole design:
//! - every write that can change a cached answer drops the identity's entries: locally right
//!   after the write (`invalidate_identity`), and on every node through the database's change
//!   feed (`store::changes`, driven by `actors::session_watch`), within a second;
//! - the cache serves and fills only while that feed is live (`set_online`); going online
//!   empties it, so nothing missed while offline survives;
//! - a fill races with an invalidation: the caller reads `generation()` before its query and
//!   `insert` refuses the entry if any invalidation happened since;
//! - entries stop answering at the session's `expires_at`, after `MAX_AGE`, and with an
//!   inactivity timeout at `stale_at` (before the session could have gone inactive, and when
//!   its use is due to be recorded), and the map is bounded (`capacity`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::aal::Aal;

/// Belt and braces: even with a live feed an entry is re-read from the database this often.
pub const MAX_AGE: Duration = Duration::from_secs(60);

/// Entries kept at most, unless `SessionCache::new` says otherwise.
pub const DEFAULT_CAPACITY: usize = 65_536;

/// A whoami answer, rendered once.
#[derive(Debug)]
pub struct Whoami {
    /// The network (tenant) the session belongs to: another tenant never gets this answer.
    pub nid: Uuid,
    pub session_id: Uuid,
    pub identity_id: Uuid,
    pub expires_at: DateTime<Utc>,
    /// The session's level, and the highest its identity could reach with the second factors
    /// enabled when it was read: `session.whoami.required_aal: highest_available` refuses the
    /// answer while the first is below the second. (Setting a factor up or removing it
    /// changes the identity, which drops the entry.)
    pub aal: Aal,
    pub available_aal: Aal,
    /// With `session.hygiene.inactivity_timeout`: from this instant the answer is read from
    /// the database again, which records the use and could find the session inactive.
    pub stale_at: Option<DateTime<Utc>>,
    /// The `session` JSON document, as served.
    pub body: Bytes,
}

struct Entry {
    value: Arc<Whoami>,
    stored: Instant,
}

#[derive(Default)]
struct Inner {
    by_token: HashMap<String, Entry>,
    /// Token digests per identity, for invalidation.
    by_identity: HashMap<Uuid, Vec<String>>,
}

impl Inner {
    fn remove_token(&mut self, token_hash: &str) {
        if let Some(e) = self.by_token.remove(token_hash)
            && let Some(v) = self.by_identity.get_mut(&e.value.identity_id)
        {
            v.retain(|h| h != token_hash);
            if v.is_empty() {
                self.by_identity.remove(&e.value.identity_id);
            }
        }
    }
}

pub struct SessionCache {
    inner: Mutex<Inner>,
    generation: AtomicU64,
    online: AtomicBool,
    capacity: usize,
}

impl Default for SessionCache {
    fn default() -> Self {
        SessionCache::new(DEFAULT_CAPACITY)
    }
}

impl SessionCache {
    /// An empty, offline cache holding at most `capacity` entries (0 disables it).
    pub fn new(capacity: usize) -> SessionCache {
        SessionCache {
            inner: Mutex::new(Inner::default()),
            generation: AtomicU64::new(0),
            online: AtomicBool::new(false),
            capacity,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Nothing panics while holding the lock; a poisoned map is still a consistent map.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Read before the database query whose answer may be inserted.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn is_online(&self) -> bool {
        self.online.load(Ordering::Acquire)
    }

    /// Turns serving on or off; either way the cache starts over empty.
    pub fn set_online(&self, online: bool) {
        self.clear();
        self.online.store(online, Ordering::Release);
        self.clear();
    }

    /// The live answer for a token digest, if cached.
    pub fn get(&self, token_hash: &str, nid: Uuid, now: DateTime<Utc>) -> Option<Arc<Whoami>> {
        if !self.is_online() {
            return None;
        }
        let mut inner = self.lock();
        let e = inner.by_token.get(token_hash)?;
        if e.value.nid != nid {
            // Asked on another tenant's host: that tenant has no such session.
            return None;
        }
        if e.value.expires_at > now
            && e.value.stale_at.is_none_or(|t| t > now)
            && e.stored.elapsed() < MAX_AGE
        {
            return Some(e.value.clone());
        }
        inner.remove_token(token_hash);
        None
    }

    /// Stores an answer read from the database, unless the cache is offline or an
    /// invalidation happened since `generation` was read.
    pub fn insert(&self, token_hash: &str, value: Arc<Whoami>, generation: u64) {
        if self.capacity == 0 || !self.is_online() {
            return;
        }
        let mut inner = self.lock();
        // Checked under the lock: invalidations bump the generation under it too.
        if self.generation() != generation {
            return;
        }
        if inner.by_token.len() >= self.capacity {
            let now = Utc::now();
            let stale: Vec<String> = inner
                .by_token
                .iter()
                .filter(|(_, e)| {
                    e.value.expires_at <= now
                        || e.value.stale_at.is_some_and(|t| t <= now)
                        || e.stored.elapsed() >= MAX_AGE
                })
                .map(|(k, _)| k.clone())
                .collect();
            for k in stale {
                inner.remove_token(&k);
            }
            if inner.by_token.len() >= self.capacity {
                // Still full of live entries: start over rather than track recency on the
                // hot path.
                inner.by_token.clear();
                inner.by_identity.clear();
            }
        }
        let identity = value.identity_id;
        let key = token_hash.to_owned();
        if inner
            .by_token
            .insert(
                key.clone(),
                Entry {
                    value,
                    stored: Instant::now(),
                },
            )
            .is_none()
        {
            inner.by_identity.entry(identity).or_default().push(key);
        }
    }

    /// Drops every cached session of an identity.
    pub fn invalidate_identity(&self, identity_id: Uuid) {
        let mut inner = self.lock();
        self.generation.fetch_add(1, Ordering::AcqRel);
        if let Some(hashes) = inner.by_identity.remove(&identity_id) {
            for h in hashes {
                inner.by_token.remove(&h);
            }
        }
    }

    /// Drops everything.
    pub fn clear(&self) {
        let mut inner = self.lock();
        self.generation.fetch_add(1, Ordering::AcqRel);
        inner.by_token.clear();
        inner.by_identity.clear();
    }

    pub fn len(&self) -> usize {
        self.lock().by_token.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(identity: Uuid, expires_in: chrono::Duration) -> Arc<Whoami> {
        Arc::new(Whoami {
            nid: Uuid::nil(),
            session_id: Uuid::new_v4(),
            identity_id: identity,
            expires_at: Utc::now() + expires_in,
            aal: Aal::Aal1,
            available_aal: Aal::Aal1,
            stale_at: None,
            body: Bytes::from_static(b"{}"),
        })
    }

    #[test]
    fn serves_only_online_and_drops_on_invalidation() {
        let c = SessionCache::new(10);
        let who = Uuid::new_v4();
        let g = c.generation();
        c.insert("a", answer(who, chrono::Duration::hours(1)), g);
        assert!(
            c.get("a", Uuid::nil(), Utc::now()).is_none(),
            "offline caches nothing"
        );
        c.set_online(true);
        let g = c.generation();
        c.insert("a", answer(who, chrono::Duration::hours(1)), g);
        c.insert("b", answer(who, chrono::Duration::hours(1)), g);
        assert!(c.get("a", Uuid::nil(), Utc::now()).is_some());
        assert!(
            c.get("a", Uuid::new_v4(), Utc::now()).is_none(),
            "another network never gets the answer"
        );
        assert!(c.get("a", Uuid::nil(), Utc::now()).is_some());
        c.invalidate_identity(who);
        assert!(c.get("a", Uuid::nil(), Utc::now()).is_none());
        assert!(c.get("b", Uuid::nil(), Utc::now()).is_none());
        assert!(c.is_empty());
    }

    #[test]
    fn a_fill_that_raced_an_invalidation_is_refused() {
        let c = SessionCache::new(10);
        c.set_online(true);
        let who = Uuid::new_v4();
        let before_query = c.generation();
        c.invalidate_identity(Uuid::new_v4());
        c.insert("a", answer(who, chrono::Duration::hours(1)), before_query);
        assert!(c.get("a", Uuid::nil(), Utc::now()).is_none());
    }

    #[test]
    fn stale_entries_do_not_answer() {
        let c = SessionCache::new(10);
        c.set_online(true);
        let g = c.generation();
        let mut w = Arc::into_inner(answer(Uuid::new_v4(), chrono::Duration::hours(1))).unwrap();
        w.stale_at = Some(Utc::now() + chrono::Duration::seconds(5));
        c.insert("a", Arc::new(w), g);
        assert!(c.get("a", Uuid::nil(), Utc::now()).is_some());
        assert!(
            c.get("a", Uuid::nil(), Utc::now() + chrono::Duration::seconds(6))
                .is_none()
        );
    }

    #[test]
    fn expired_entries_do_not_answer_and_size_is_bounded() {
        let c = SessionCache::new(3);
        c.set_online(true);
        let g = c.generation();
        c.insert(
            "x",
            answer(Uuid::new_v4(), chrono::Duration::seconds(-1)),
            g,
        );
        assert!(c.get("x", Uuid::nil(), Utc::now()).is_none());
        for k in ["a", "b", "c", "d", "e"] {
            c.insert(k, answer(Uuid::new_v4(), chrono::Duration::hours(1)), g);
            assert!(c.len() <= 3);
        }
        assert!(c.get("e", Uuid::nil(), Utc::now()).is_some());
        c.set_online(false);
        assert!(c.get("e", Uuid::nil(), Utc::now()).is_none());
    }
}
