//! Session operations. Each takes `&Deps` and returns a typed result; the actor pool in
//! `actors::session` runs them, and login/registration flows call `issue` directly or through it.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::aal::Aal;
use super::cache::Whoami;
use super::{
    AuthenticationMethod, DeviceInfo, Session, hash_token, logout_token_for, new_session_token,
};
use crate::deps::Deps;
use crate::identity::credential_type::CredentialType;
use crate::identity::{Identity, State, now};
use crate::security::events::{self, Event, Name, Origin};
use crate::store::StoreError;
use crate::store::id::DbId;
use crate::store::sessions::{
    self, DeviceRow, Expand, ListFilter, Revoke, SessionRow, SessionRows,
};

/// Kratos's keyset page sizes.
pub const DEFAULT_PAGE_SIZE: i64 = 100;
pub const MAX_PAGE_SIZE: i64 = 500;

/// Kratos truncates stored device strings to these lengths.
const USER_AGENT_MAX: usize = 512;
const LOCATION_MAX: usize = 512;

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// No token, an unknown token, or a revoked/expired session or inactive identity.
    #[error("no active session")]
    NoActiveSession,
    #[error("not found")]
    NotFound,
    /// An inactive identity cannot get a session.
    #[error("the identity is disabled")]
    IdentityDisabled,
    #[error("{0}")]
    BadRequest(String),
    #[error("database: {0}")]
    Store(#[from] StoreError),
}

/// What `issue` hands back: the tokens exist in clear only here.
#[derive(Clone, Debug)]
pub struct IssuedSession {
    pub session: Session,
    pub token: String,
    pub logout_token: String,
}

/// Which sessions to list, and from where.
#[derive(Clone, Debug, Default)]
pub struct ListParams {
    pub identity_id: Option<Uuid>,
    /// Leaves this session out (the caller's own one).
    pub except: Option<Uuid>,
    pub active: Option<bool>,
    /// Keyset cursor: the last id of the previous page.
    pub after: Option<Uuid>,
    pub page_size: i64,
    pub expand: Expand,
}

fn lifespan(deps: &Deps) -> Duration {
    Duration::from_std(deps.config.session.lifespan.get()).unwrap_or_else(|_| Duration::days(1))
}

fn truncate(s: Option<String>, max: usize) -> Option<String> {
    s.map(|mut s| {
        if s.len() > max {
            let mut cut = max;
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            s.truncate(cut);
        }
        s
    })
}

/// Creates a session for `identity`, authenticated just now by `method` at AAL1.
pub async fn issue(
    deps: &Deps,
    identity: &Identity,
    method: CredentialType,
    device: DeviceInfo,
) -> Result<IssuedSession, SessionError> {
    if identity.state != State::Active {
        return Err(SessionError::IdentityDisabled);
    }
    let now = now();
    let token = new_session_token();
    let logout_token = logout_token_for(&token);
    // UUIDv7: ids sort by creation time, which the keyset pagination relies on.
    let id = Uuid::now_v7();
    let methods = vec![AuthenticationMethod {
        method,
        aal: Aal::Aal1,
        completed_at: now,
    }];
    let nid = DbId(deps.store.nid());
    let row = SessionRow {
        id: DbId(id),
        nid,
        identity_id: DbId(identity.id),
        token: hash_token(&token),
        logout_token: hash_token(&logout_token),
        active: true,
        aal: Aal::Aal1.as_str().into(),
        authentication_methods: serde_json::to_string(&methods).unwrap_or_else(|_| "[]".into()),
        issued_at: now.naive_utc(),
        authenticated_at: now.naive_utc(),
        expires_at: (now + lifespan(deps)).naive_utc(),
        created_at: now.naive_utc(),
        updated_at: now.naive_utc(),
    };
    let origin = origin_of(&device);
    let device = DeviceRow {
        id: DbId(Uuid::new_v4()),
        nid,
        session_id: row.id,
        ip_address: device.ip_address,
        user_agent: truncate(device.user_agent, USER_AGENT_MAX),
        location: truncate(device.location, LOCATION_MAX),
        created_at: now.naive_utc(),
        updated_at: now.naive_utc(),
    };
    sessions::insert(&deps.store, &row, std::slice::from_ref(&device))
        .await
        .map_err(|e| match e {
            // The identity was deleted between loading it and issuing.
            StoreError::Query(m) if m.to_lowercase().contains("foreign key") => {
                SessionError::NotFound
            }
            e => SessionError::Store(e),
        })?;
    let mut public = identity.clone();
    public.credentials.clear();
    let mut session = Session::from_rows(SessionRows {
        last_seen: Some(row.created_at),
        session: row,
        identity: None,
        devices: Some(vec![device]),
    })?;
    session.identity = Some(public);
    events::emit(
        deps,
        Event::new(Name::SessionIssued)
            .origin(&origin)
            .identity(identity.id)
            .session(id)
            .method(method.as_str())
            .aal(Aal::Aal1.as_str()),
    );
    Ok(IssuedSession {
        session,
        token,
        logout_token,
    })
}

/// The request a session's device was recorded from, as events name it.
fn origin_of(device: &DeviceInfo) -> Origin {
    Origin::new(
        device.ip_address.as_deref().and_then(|a| a.parse().ok()),
        device.user_agent.as_deref(),
    )
}

/// `session.revoked` for sessions ended at once (`revoked`: their identities, one per session).
fn revoked(deps: &Deps, revoked: &[Uuid], session: Option<Uuid>, cause: &'static str) {
    if revoked.is_empty() {
        return;
    }
    let mut e = Event::new(Name::SessionRevoked)
        .identity(revoked[0])
        .session(session)
        .cause(cause);
    if revoked.len() > 1 {
        e = e.count(revoked.len() as u64);
    }
    events::emit(deps, e);
}

async fn by_token(deps: &Deps, token: &str, full: bool) -> Result<Session, SessionError> {
    if token.is_empty() {
        return Err(SessionError::NoActiveSession);
    }
    by_hash(deps, &hash_token(token), full).await
}

async fn by_hash(deps: &Deps, token_hash: &str, full: bool) -> Result<Session, SessionError> {
    let rows = sessions::find_by_token(&deps.store, token_hash, full)
        .await?
        .ok_or(SessionError::NoActiveSession)?;
    let mut session = Session::from_rows(rows)?;
    let now = Utc::now();
    if !session.is_active(now) {
        return Err(SessionError::NoActiveSession);
    }
    if let Some(idle) = Inactivity::of(deps) {
        let seen = session.last_seen_at.unwrap_or(session.authenticated_at);
        if seen + idle.timeout <= now {
            return Err(SessionError::NoActiveSession);
        }
        if seen + idle.record_every <= now {
            sessions::touch(
                &deps.store,
                session.id,
                (now - idle.record_every).naive_utc(),
                now.naive_utc(),
            )
            .await?;
            session.last_seen_at = Some(now);
        }
    }
    Ok(session)
}

/// `session.hygiene.inactivity_timeout`, when set, and how coarsely use is recorded: at most
/// once per `record_every` per session, so a session counts as unused from its last recorded
/// use and goes inactive at most `record_every` early.
struct Inactivity {
    timeout: Duration,
    record_every: Duration,
}

impl Inactivity {
    /// Recording use at most every tenth of the timeout and at least once a minute.
    const MAX_RECORD_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

    fn of(deps: &Deps) -> Option<Inactivity> {
        // `0s` reads as unset rather than ending every session at once.
        let timeout = deps.config.session.hygiene.inactivity_timeout?.get();
        if timeout.is_zero() {
            return None;
        }
        let every = (timeout / 10).min(Self::MAX_RECORD_EVERY);
        Some(Inactivity {
            timeout: Duration::from_std(timeout).ok()?,
            record_every: Duration::from_std(every).ok()?,
        })
    }
}

/// The active session of a token with its identity (no credentials) and devices, read from
/// the database: for flows that need the session itself, not its rendering.
pub async fn active(deps: &Deps, token: &str) -> Result<Session, SessionError> {
    by_token(deps, token, true).await
}

/// A cached whoami answer, if there is one: no database, no rendering.
pub fn whoami_cached(deps: &Deps, token: &str) -> Option<Arc<Whoami>> {
    if token.is_empty() {
        return None;
    }
    let hit = deps
        .session_cache
        .get(&hash_token(token), deps.store.nid(), Utc::now())?;
    deps.metrics.whoami_cache_hits.inc();
    Some(hit)
}

/// The hot path: the cache, else one indexed lookup by token hash (the identity without
/// credentials, its addresses, the devices), rendered once and cached. No writes. Below aal2,
/// the identity's credentials are read too, for `available` (the strategies' judgement) to
/// tell the level it could reach.
pub async fn whoami(
    deps: &Deps,
    token: &str,
    available: &(dyn Fn(&Identity) -> Aal + Sync),
) -> Result<Arc<Whoami>, SessionError> {
    if token.is_empty() {
        return Err(SessionError::NoActiveSession);
    }
    let hash = hash_token(token);
    let cache = &deps.session_cache;
    if let Some(hit) = cache.get(&hash, deps.store.nid(), Utc::now()) {
        deps.metrics.whoami_cache_hits.inc();
        return Ok(hit);
    }
    deps.metrics.whoami_cache_misses.inc();
    // Read before the query: an invalidation during it keeps this answer out of the cache.
    let generation = cache.generation();
    let session = by_hash(deps, &hash, true).await?;
    let now = Utc::now();
    let body = serde_json::to_vec(&session.to_json(deps.public_base()))
        .map_err(|e| SessionError::BadRequest(e.to_string()))?;
    let available_aal = if session.aal >= Aal::Aal2 {
        session.aal
    } else {
        match crate::store::identities::get(&deps.store, session.identity_id, true).await? {
            Some(rows) => available(&Identity::from_rows(rows)?),
            None => return Err(SessionError::NoActiveSession),
        }
    };
    let answer = Arc::new(Whoami {
        nid: deps.store.nid(),
        session_id: session.id,
        identity_id: session.identity_id,
        expires_at: session.expires_at,
        aal: session.aal,
        available_aal,
        // Served from the cache only until the next use is due to be recorded, which is
        // before the session could go inactive.
        stale_at: Inactivity::of(deps)
            .map(|idle| session.last_seen_at.unwrap_or(now) + idle.record_every),
        body: body.into(),
    });
    cache.insert(&hash, answer.clone(), generation);
    Ok(answer)
}

/// Drops the cached whoami answers of identities whose sessions or data just changed here.
/// (Other nodes learn it from the database's change feed.)
pub fn forget(deps: &Deps, identity_ids: &[Uuid]) {
    for id in identity_ids {
        deps.session_cache.invalidate_identity(*id);
    }
}

/// Like `whoami` but loads only the session and its identity's row: for endpoints that need to
/// know who is calling, not to show it.
pub async fn current(deps: &Deps, token: &str) -> Result<Session, SessionError> {
    let mut s = by_token(deps, token, false).await?;
    s.identity = None;
    Ok(s)
}

/// Forgets the revoked sessions' identities in the cache; `NotFound` when none matched.
fn one(deps: &Deps, revoked: Vec<Uuid>) -> Result<(), SessionError> {
    forget(deps, &revoked);
    if revoked.is_empty() {
        Err(SessionError::NotFound)
    } else {
        Ok(())
    }
}

/// Deactivates a session (admin "disable"); the row stays for audit.
pub async fn revoke_by_id(deps: &Deps, id: Uuid) -> Result<(), SessionError> {
    let ended = sessions::revoke(&deps.store, Revoke::Id(id)).await?;
    revoked(deps, &ended, Some(id), "admin");
    one(deps, ended)
}

/// Deactivates the session a token belongs to (native logout). Already revoked: still Ok.
pub async fn revoke_by_token(deps: &Deps, token: &str) -> Result<(), SessionError> {
    let ended = sessions::revoke(&deps.store, Revoke::Token(&hash_token(token))).await?;
    revoked(deps, &ended, None, "logout");
    one(deps, ended)
}

/// Deactivates the session a logout token belongs to.
pub async fn revoke_by_logout_token(deps: &Deps, logout_token: &str) -> Result<(), SessionError> {
    let ended =
        sessions::revoke(&deps.store, Revoke::LogoutToken(&hash_token(logout_token))).await?;
    revoked(deps, &ended, None, "logout");
    one(deps, ended)
}

/// Deactivates one of the identity's own sessions. Like Kratos, a session that is not the
/// identity's (or does not exist) is silently left alone.
pub async fn revoke_own(deps: &Deps, identity_id: Uuid, id: Uuid) -> Result<(), SessionError> {
    let ended = sessions::revoke(&deps.store, Revoke::OneOf { identity_id, id }).await?;
    revoked(deps, &ended, Some(id), "self_service");
    forget(deps, &ended);
    Ok(())
}

/// Deactivates all of an identity's sessions but `except`; returns how many were matched.
/// `cause` is the `session.revoked` event's: `self_service`, `hook`, `password_changed`,
/// `recovered`.
pub async fn revoke_others(
    deps: &Deps,
    identity_id: Uuid,
    except: Uuid,
    cause: &'static str,
) -> Result<usize, SessionError> {
    let ended = sessions::revoke(
        &deps.store,
        Revoke::AllOfExcept {
            identity_id,
            except,
        },
    )
    .await?;
    revoked(deps, &ended, None, cause);
    forget(deps, &ended);
    Ok(ended.len())
}

/// A page of sessions and the cursor of the next page, if there may be one. With `identity_id`
/// set, an unknown identity is `NotFound`.
pub async fn list(
    deps: &Deps,
    p: &ListParams,
) -> Result<(Vec<Session>, Option<Uuid>), SessionError> {
    if let Some(identity) = p.identity_id
        && !sessions::identity_exists(&deps.store, identity).await?
    {
        return Err(SessionError::NotFound);
    }
    let filter = ListFilter {
        identity_id: p.identity_id,
        except: p.except,
        active: p.active.map(|a| (a, Utc::now().naive_utc())),
    };
    let size = p.page_size.clamp(1, MAX_PAGE_SIZE);
    let rows = sessions::list(&deps.store, &filter, p.after, size, p.expand).await?;
    let full = rows.len() as i64 == size;
    let items = rows
        .into_iter()
        .map(Session::from_rows)
        .collect::<Result<Vec<Session>, StoreError>>()?;
    let next = if full {
        items.last().map(|s| s.id)
    } else {
        None
    };
    Ok((items, next))
}

pub async fn get(deps: &Deps, id: Uuid, expand: Expand) -> Result<Session, SessionError> {
    let rows = sessions::get(&deps.store, id, expand)
        .await?
        .ok_or(SessionError::NotFound)?;
    Ok(Session::from_rows(rows)?)
}

/// Kratos's extend: only once `expires_at - earliest_possible_extend` has passed (by default
/// the lifespan, so always) is `expires_at` moved to now + lifespan; otherwise nothing is
/// written. Returns the session either way.
pub async fn extend(deps: &Deps, id: Uuid) -> Result<Session, SessionError> {
    let life = lifespan(deps);
    let min_left = deps
        .config
        .session
        .earliest_possible_extend
        .and_then(|d| Duration::from_std(d.get()).ok())
        .unwrap_or(life);
    let now = now();
    // expires_at - min_left < now  <=>  expires_at < now + min_left
    let threshold: DateTime<Utc> = now + min_left;
    sessions::extend(
        &deps.store,
        id,
        threshold.naive_utc(),
        (now + life).naive_utc(),
        now.naive_utc(),
    )
    .await?;
    let session = get(
        deps,
        id,
        Expand {
            identity: true,
            devices: true,
        },
    )
    .await?;
    forget(deps, &[session.identity_id]);
    Ok(session)
}

/// A login on an existing session (`refresh=true`, or a second factor stepping it up): the
/// method is recorded at `aal` and `authenticated_at` moves to now; the session's level
/// follows from all its methods. With `session.hygiene` rotating (the default) this happens
/// in a new session (new id and tokens, `rotate`); otherwise, as Kratos does, in the same
/// session, which keeps its token.
pub async fn reauthenticate(
    deps: &Deps,
    session: &Session,
    token: &str,
    method: CredentialType,
    aal: Aal,
    device: DeviceInfo,
) -> Result<IssuedSession, SessionError> {
    let now = now();
    let (json, level) = with_method(session, method, aal, now);
    let refreshed = |issued: &IssuedSession| {
        let mut e = Event::new(Name::SessionRefreshed)
            .origin(&origin_of(&device))
            .identity(session.identity_id)
            .session(issued.session.id)
            .method(method.as_str())
            .aal(issued.session.aal.as_str())
            .cause("reauthenticated");
        if issued.session.id != session.id {
            e = e.previous_session(session.id);
        }
        events::emit(deps, e);
    };
    if deps.config.session.hygiene.rotates() {
        let issued = rotate(deps, session, &json, level, now, now, Some(device.clone())).await?;
        refreshed(&issued);
        return Ok(issued);
    }
    if sessions::set_methods(
        &deps.store,
        session.id,
        &sessions::MethodsChange {
            authentication_methods: &json,
            aal: level.as_str(),
            authenticated_at: Some(now.naive_utc()),
            updated_at: now.naive_utc(),
        },
    )
    .await?
        == 0
    {
        return Err(SessionError::NoActiveSession);
    }
    forget(deps, &[session.identity_id]);
    let session = get(
        deps,
        session.id,
        Expand {
            identity: true,
            devices: true,
        },
    )
    .await?;
    let issued = IssuedSession {
        session,
        token: token.to_owned(),
        logout_token: logout_token_for(token),
    };
    refreshed(&issued);
    Ok(issued)
}

/// Kratos's `SessionAddAuthenticationMethods`: `method` was just proven at `aal` within the
/// session (a second factor set up in settings), so it joins the session's methods and the
/// level follows; unlike a login, the session is not re-authenticated. When that raises the
/// level, `may_rotate` is set and `session.hygiene` rotates, the session is replaced by a new
/// one, which is returned (its token exists nowhere else).
pub async fn add_method(
    deps: &Deps,
    session: &Session,
    method: CredentialType,
    aal: Aal,
    may_rotate: bool,
) -> Result<Option<IssuedSession>, SessionError> {
    let now = now();
    let (json, level) = with_method(session, method, aal, now);
    let event = Event::new(Name::SessionRefreshed)
        .identity(session.identity_id)
        .method(method.as_str())
        .aal(level.as_str())
        .cause("method_added");
    if may_rotate && level > session.aal && deps.config.session.hygiene.rotates() {
        let authenticated_at = session.authenticated_at;
        let issued = rotate(deps, session, &json, level, authenticated_at, now, None).await?;
        events::emit(
            deps,
            event
                .session(issued.session.id)
                .previous_session(session.id),
        );
        return Ok(Some(issued));
    }
    sessions::set_methods(
        &deps.store,
        session.id,
        &sessions::MethodsChange {
            authentication_methods: &json,
            aal: level.as_str(),
            authenticated_at: None,
            updated_at: now.naive_utc(),
        },
    )
    .await?;
    events::emit(deps, event.session(session.id));
    forget(deps, &[session.identity_id]);
    Ok(None)
}

/// Replaces `old` by a new session of the same identity (OWASP ASVS 7.2.4): a new id, session
/// token and logout token, carrying `old`'s devices (and `device`, when it is not one of
/// them), `methods_json` at `level`, and `old`'s expiry; `old` is revoked in the same
/// transaction. A session revoked meanwhile is `NoActiveSession`.
async fn rotate(
    deps: &Deps,
    old: &Session,
    methods_json: &str,
    level: Aal,
    authenticated_at: DateTime<Utc>,
    now: DateTime<Utc>,
    device: Option<DeviceInfo>,
) -> Result<IssuedSession, SessionError> {
    let mut devices: Vec<DeviceInfo> = match &old.devices {
        Some(d) => d.clone(),
        None => get(
            deps,
            old.id,
            Expand {
                identity: false,
                devices: true,
            },
        )
        .await?
        .devices
        .unwrap_or_default(),
    }
    .into_iter()
    .map(|d| DeviceInfo {
        ip_address: d.ip_address,
        user_agent: d.user_agent,
        location: d.location,
    })
    .collect();
    if let Some(d) = device {
        let d = DeviceInfo {
            user_agent: truncate(d.user_agent, USER_AGENT_MAX),
            location: truncate(d.location, LOCATION_MAX),
            ..d
        };
        if !devices.contains(&d) {
            devices.push(d);
        }
    }
    let token = new_session_token();
    let logout_token = logout_token_for(&token);
    let nid = DbId(deps.store.nid());
    let row = SessionRow {
        id: DbId(Uuid::now_v7()),
        nid,
        identity_id: DbId(old.identity_id),
        token: hash_token(&token),
        logout_token: hash_token(&logout_token),
        active: true,
        aal: level.as_str().into(),
        authentication_methods: methods_json.to_owned(),
        issued_at: now.naive_utc(),
        authenticated_at: authenticated_at.naive_utc(),
        expires_at: old.expires_at.naive_utc(),
        created_at: now.naive_utc(),
        updated_at: now.naive_utc(),
    };
    let device_rows: Vec<DeviceRow> = devices
        .into_iter()
        .enumerate()
        .map(|(i, d)| {
            // Devices are listed by creation time: a microsecond apart keeps their order.
            let at = (now + Duration::microseconds(i as i64)).naive_utc();
            DeviceRow {
                id: DbId(Uuid::new_v4()),
                nid,
                session_id: row.id,
                ip_address: d.ip_address,
                user_agent: d.user_agent,
                location: d.location,
                created_at: at,
                updated_at: at,
            }
        })
        .collect();
    let rotated = sessions::rotate(&deps.store, old.id, &row, &device_rows).await;
    // Whatever happened, this node's cached answers for the old token must go; other nodes
    // learn of the revocation through the change feed.
    forget(deps, &[old.identity_id]);
    if !rotated? {
        return Err(SessionError::NoActiveSession);
    }
    let mut session = Session::from_rows(SessionRows {
        last_seen: Some(row.created_at),
        session: row,
        identity: None,
        devices: Some(device_rows),
    })?;
    session.identity = old.identity.clone();
    Ok(IssuedSession {
        session,
        token,
        logout_token,
    })
}

/// The session's authentication methods with `method` completed at `aal` just now, as stored
/// (JSON), and the level they add up to.
fn with_method(
    session: &Session,
    method: CredentialType,
    aal: Aal,
    now: chrono::DateTime<chrono::Utc>,
) -> (String, Aal) {
    let mut methods = session.authentication_methods.clone();
    methods.push(AuthenticationMethod {
        method,
        aal,
        completed_at: now,
    });
    let json = serde_json::to_string(&methods).unwrap_or_else(|_| "[]".into());
    (json, level_of(&methods))
}

/// Kratos's `SetAuthenticatorAssuranceLevel`: aal2 once a first and a second factor were
/// both proven, aal1 with a first factor alone, aal0 without.
fn level_of(methods: &[AuthenticationMethod]) -> Aal {
    let has = |a: Aal| methods.iter().any(|m| m.aal == a);
    match (has(Aal::Aal1), has(Aal::Aal2)) {
        (true, true) => Aal::Aal2,
        (true, false) => Aal::Aal1,
        _ => Aal::Aal0,
    }
}

/// The credential types `before` had and `after` no longer has.
pub fn removed_credentials(before: &Identity, after: &Identity) -> Vec<CredentialType> {
    before
        .credentials
        .keys()
        .filter(|k| !after.credentials.contains_key(*k))
        .copied()
        .collect()
}

/// An identity lost the credentials of types `removed`: in each of its active sessions the
/// methods they proved no longer count. Their `authentication_methods` entries go and the
/// level is recomputed with Kratos's rule (`level_of`), so an aal2 won with a removed second
/// factor drops to aal1, and a session left without a first factor (aal0) is revoked. Kratos
/// itself leaves sessions untouched here; a removed authenticator must not keep vouching for
/// a session (OWASP ASVS 7.4.2 spirit, NIST 800-63B authenticator removal).
pub async fn drop_methods(
    deps: &Deps,
    identity_id: Uuid,
    removed: &[CredentialType],
) -> Result<(), SessionError> {
    if removed.is_empty() {
        return Ok(());
    }
    let now = now();
    let filter = ListFilter {
        identity_id: Some(identity_id),
        except: None,
        active: Some((true, now.naive_utc())),
    };
    let expand = Expand {
        identity: false,
        devices: false,
    };
    let mut after = None;
    loop {
        let rows = sessions::list(&deps.store, &filter, after, MAX_PAGE_SIZE, expand).await?;
        let full = rows.len() as i64 == MAX_PAGE_SIZE;
        for row in rows {
            let session = Session::from_rows(row)?;
            after = Some(session.id);
            let kept: Vec<AuthenticationMethod> = session
                .authentication_methods
                .iter()
                .filter(|m| !removed.contains(&m.method))
                .cloned()
                .collect();
            if kept.len() == session.authentication_methods.len() {
                continue;
            }
            match level_of(&kept) {
                Aal::Aal0 => {
                    let ended = sessions::revoke(&deps.store, Revoke::Id(session.id)).await?;
                    revoked(deps, &ended, Some(session.id), "credential_removed");
                }
                level => {
                    let json = serde_json::to_string(&kept).unwrap_or_else(|_| "[]".into());
                    sessions::set_methods(
                        &deps.store,
                        session.id,
                        &sessions::MethodsChange {
                            authentication_methods: &json,
                            aal: level.as_str(),
                            authenticated_at: None,
                            updated_at: now.naive_utc(),
                        },
                    )
                    .await?;
                }
            }
        }
        if !full {
            break;
        }
    }
    forget(deps, &[identity_id]);
    Ok(())
}

/// Deletes all sessions of an identity. Like Kratos, none to delete is `NotFound`.
pub async fn delete_for_identity(deps: &Deps, identity_id: Uuid) -> Result<usize, SessionError> {
    let n = sessions::delete_of_identity(&deps.store, identity_id).await?;
    deps.session_cache.invalidate_identity(identity_id);
    if n > 0 {
        events::emit(
            deps,
            Event::new(Name::SessionRevoked)
                .identity(identity_id)
                .cause("admin")
                .count(n as u64),
        );
    }
    if n == 0 {
        return Err(SessionError::NotFound);
    }
    Ok(n)
}
