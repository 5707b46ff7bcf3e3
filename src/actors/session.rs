//! The session manager: a factory of workers running `session::service`. whoami is the hottest
//! path in the server, so it is a pool, never a single actor. Domain errors travel inside the
//! reply.

use std::sync::Arc;
use std::time::Duration;

use ractor::factory::{FactoryRef, Job, WorkerId, routing};
use ractor::{ActorCell, ActorProcessingErr, ActorRef, RpcReplyPort};
use uuid::Uuid;

use super::call::{CALL_TIMEOUT, CallError, call};
use super::live::{Live, Scoped, Tenant};
use crate::identity::Identity;
use crate::identity::credential_type::CredentialType;
use crate::session::cache::Whoami;
use crate::session::service::{self, IssuedSession, ListParams, SessionError};
use crate::session::{DeviceInfo, Session};
use crate::store::sessions::Expand;

type Reply<T> = RpcReplyPort<Result<T, SessionError>>;

/// whoami answers from one indexed query; waiting longer than this means the database is in
/// trouble, and the caller is better served by a quick 503.
const WHOAMI_TIMEOUT: Duration = Duration::from_secs(10);

/// One message per operation; the reply port comes last.
pub enum SessionMsg {
    Issue {
        identity: Box<Identity>,
        method: CredentialType,
        device: DeviceInfo,
        reply: Reply<IssuedSession>,
    },
    Whoami(String, Reply<Arc<Whoami>>),
    Current(String, Reply<Session>),
    Get {
        id: Uuid,
        expand: Expand,
        reply: Reply<Session>,
    },
    List(ListParams, Reply<(Vec<Session>, Option<Uuid>)>),
    RevokeById(Uuid, Reply<()>),
    RevokeByToken(String, Reply<()>),
    RevokeByLogoutToken(String, Reply<()>),
    RevokeOwn {
        identity_id: Uuid,
        id: Uuid,
        reply: Reply<()>,
    },
    RevokeOthers {
        identity_id: Uuid,
        except: Uuid,
        reply: Reply<usize>,
    },
    Extend(Uuid, Reply<Session>),
    DeleteForIdentity(Uuid, Reply<usize>),
}

struct SessionWorker;

impl ractor::factory::Worker for SessionWorker {
    type Key = ();
    type Message = Scoped<SessionMsg>;
    type State = ();
    type Arguments = ();

    async fn pre_start(
        &self,
        _wid: WorkerId,
        _factory: &ActorRef<ractor::factory::FactoryMessage<(), Scoped<SessionMsg>>>,
        (): (),
    ) -> Result<(), ActorProcessingErr> {
        Ok(())
    }

    async fn handle(
        &self,
        _wid: WorkerId,
        _factory: &ActorRef<ractor::factory::FactoryMessage<(), Scoped<SessionMsg>>>,
        Job { msg, key, .. }: Job<(), Scoped<SessionMsg>>,
        (): &mut (),
    ) -> Result<(), ActorProcessingErr> {
        let Scoped { tenant, msg } = msg;
        let d = tenant.deps.as_ref();
        // A send fails only when the caller gave up; that must not kill the worker.
        match msg {
            SessionMsg::Issue {
                identity,
                method,
                device,
                reply,
            } => {
                let _ = reply.send(service::issue(d, &identity, method, device).await);
            }
            SessionMsg::Whoami(token, reply) => {
                let strategies = tenant.strategies.clone();
                let available = |i: &crate::identity::Identity| strategies.available_aal(i);
                let _ = reply.send(service::whoami(d, &token, &available).await);
            }
            SessionMsg::Current(token, reply) => {
                let _ = reply.send(service::current(d, &token).await);
            }
            SessionMsg::Get { id, expand, reply } => {
                let _ = reply.send(service::get(d, id, expand).await);
            }
            SessionMsg::List(params, reply) => {
                let _ = reply.send(service::list(d, &params).await);
            }
            SessionMsg::RevokeById(id, reply) => {
                let _ = reply.send(service::revoke_by_id(d, id).await);
            }
            SessionMsg::RevokeByToken(token, reply) => {
                let _ = reply.send(service::revoke_by_token(d, &token).await);
            }
            SessionMsg::RevokeByLogoutToken(token, reply) => {
                let _ = reply.send(service::revoke_by_logout_token(d, &token).await);
            }
            SessionMsg::RevokeOwn {
                identity_id,
                id,
                reply,
            } => {
                let _ = reply.send(service::revoke_own(d, identity_id, id).await);
            }
            SessionMsg::RevokeOthers {
                identity_id,
                except,
                reply,
            } => {
                let _ = reply
                    .send(service::revoke_others(d, identity_id, except, "self_service").await);
            }
            SessionMsg::Extend(id, reply) => {
                let _ = reply.send(service::extend(d, id).await);
            }
            SessionMsg::DeleteForIdentity(id, reply) => {
                let _ = reply.send(service::delete_for_identity(d, id).await);
            }
        }
        Ok(key)
    }
}

/// The typed client of the session pool.
#[derive(Clone)]
pub struct SessionManager {
    factory: FactoryRef<(), Scoped<SessionMsg>>,
    live: Live,
    /// Whom the calls act for; the default network's until `scoped`.
    tenant: Option<Tenant>,
}

/// A call's outcome: the pool failed, or the domain answered.
pub type SessionResult<T> = Result<Result<T, SessionError>, CallError>;

impl SessionManager {
    /// Spawns the factory under `supervisor` with `workers` workers.
    pub async fn spawn(
        live: Live,
        workers: usize,
        supervisor: ActorCell,
    ) -> Result<(SessionManager, ActorCell), ActorProcessingErr> {
        let metrics = live.deps().metrics.clone();
        let (factory, cell) = super::pool::spawn(
            "session",
            metrics,
            workers,
            routing::QueuerRouting::default(),
            || (SessionWorker, ()),
            supervisor,
        )
        .await?;
        let manager = SessionManager {
            factory,
            live,
            tenant: None,
        };
        Ok((manager, cell))
    }

    /// The same pool, acting for `tenant`.
    pub fn scoped(&self, tenant: Tenant) -> SessionManager {
        SessionManager {
            tenant: Some(tenant),
            ..self.clone()
        }
    }

    fn tenant(&self) -> Tenant {
        self.tenant.clone().unwrap_or_else(|| self.live.current())
    }

    async fn call_scoped<T: Send + 'static>(
        &self,
        tenant: Tenant,
        build: impl FnOnce(Reply<T>) -> SessionMsg,
        timeout: Duration,
    ) -> SessionResult<T> {
        let scoped = |r| Scoped {
            tenant,
            msg: build(r),
        };
        call(&self.factory, (), scoped, timeout).await
    }

    async fn ask<T: Send + 'static>(
        &self,
        build: impl FnOnce(Reply<T>) -> SessionMsg,
    ) -> SessionResult<T> {
        self.call_scoped(self.tenant(), build, CALL_TIMEOUT).await
    }

    pub async fn issue(
        &self,
        identity: Identity,
        method: CredentialType,
        device: DeviceInfo,
    ) -> SessionResult<IssuedSession> {
        self.ask(|reply| SessionMsg::Issue {
            identity: Box::new(identity),
            method,
            device,
            reply,
        })
        .await
    }
    /// The active session of a token, with identity (no credentials) and devices, rendered.
    /// A cached answer comes straight back; only a miss goes through the pool.
    pub async fn whoami(&self, token: String) -> SessionResult<Arc<Whoami>> {
        let tenant = self.tenant();
        if let Some(hit) = service::whoami_cached(&tenant.deps, &token) {
            return Ok(Ok(hit));
        }
        self.call_scoped(tenant, |r| SessionMsg::Whoami(token, r), WHOAMI_TIMEOUT)
            .await
    }
    /// The active session of a token, without identity or devices.
    pub async fn current(&self, token: String) -> SessionResult<Session> {
        self.call_scoped(
            self.tenant(),
            |r| SessionMsg::Current(token, r),
            WHOAMI_TIMEOUT,
        )
        .await
    }
    pub async fn get(&self, id: Uuid, expand: Expand) -> SessionResult<Session> {
        self.ask(|reply| SessionMsg::Get { id, expand, reply })
            .await
    }
    pub async fn list(&self, params: ListParams) -> SessionResult<(Vec<Session>, Option<Uuid>)> {
        self.ask(|r| SessionMsg::List(params, r)).await
    }
    pub async fn revoke_by_id(&self, id: Uuid) -> SessionResult<()> {
        self.ask(|r| SessionMsg::RevokeById(id, r)).await
    }
    pub async fn revoke_by_token(&self, token: String) -> SessionResult<()> {
        self.ask(|r| SessionMsg::RevokeByToken(token, r)).await
    }
    pub async fn revoke_by_logout_token(&self, token: String) -> SessionResult<()> {
        self.ask(|r| SessionMsg::RevokeByLogoutToken(token, r))
            .await
    }
    pub async fn revoke_own(&self, identity_id: Uuid, id: Uuid) -> SessionResult<()> {
        self.ask(|reply| SessionMsg::RevokeOwn {
            identity_id,
            id,
            reply,
        })
        .await
    }
    pub async fn revoke_others(&self, identity_id: Uuid, except: Uuid) -> SessionResult<usize> {
        self.ask(|reply| SessionMsg::RevokeOthers {
            identity_id,
            except,
            reply,
        })
        .await
    }
    pub async fn extend(&self, id: Uuid) -> SessionResult<Session> {
        self.ask(|r| SessionMsg::Extend(id, r)).await
    }
    pub async fn delete_for_identity(&self, identity_id: Uuid) -> SessionResult<usize> {
        self.ask(|r| SessionMsg::DeleteForIdentity(identity_id, r))
            .await
    }
}
