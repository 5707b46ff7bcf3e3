//! The identity pool: a factory of workers serving the admin identity API. Each job runs a
//! domain function from `identity::service`; domain errors travel inside the reply.

use ractor::factory::{FactoryRef, Job, WorkerId, routing};
use ractor::{ActorCell, ActorProcessingErr, ActorRef, RpcReplyPort};
use uuid::Uuid;

use super::call::{CALL_TIMEOUT, CallError, call};
use super::live::{Live, Scoped, Tenant};
use crate::identity::Identity;
use crate::identity::service::{
    self, BatchOutcome, CreateIdentityBody, IdentityError, ListParams, UpdateIdentityBody,
};

type Reply<T> = RpcReplyPort<Result<T, IdentityError>>;

/// One message per operation; the reply port comes last.
pub enum IdentityMsg {
    Create(CreateIdentityBody, Reply<Identity>),
    Batch(
        Vec<(Option<Uuid>, Result<CreateIdentityBody, IdentityError>)>,
        Reply<Vec<BatchOutcome>>,
    ),
    Get {
        id: Uuid,
        credentials: bool,
        reply: Reply<Identity>,
    },
    GetByExternalId {
        external_id: String,
        credentials: bool,
        reply: Reply<Identity>,
    },
    Update(Uuid, UpdateIdentityBody, Reply<Identity>),
    Patch(Uuid, json_patch::Patch, Reply<Identity>),
    Delete(Uuid, Reply<()>),
    DeleteCredential {
        id: Uuid,
        kind: String,
        identifier: Option<String>,
        reply: Reply<()>,
    },
    List(ListParams, Reply<(Vec<Identity>, Option<Uuid>)>),
    /// Makes the worker that takes it panic, so tests can prove that the pool replaces a
    /// crashed worker. Exists only with the `test-hooks` feature (test builds).
    #[cfg(feature = "test-hooks")]
    Crash,
}

struct IdentityWorker;

impl ractor::factory::Worker for IdentityWorker {
    type Key = ();
    type Message = Scoped<IdentityMsg>;
    type State = ();
    type Arguments = ();

    async fn pre_start(
        &self,
        _wid: WorkerId,
        _factory: &ActorRef<ractor::factory::FactoryMessage<(), Scoped<IdentityMsg>>>,
        (): (),
    ) -> Result<(), ActorProcessingErr> {
        Ok(())
    }

    async fn handle(
        &self,
        _wid: WorkerId,
        _factory: &ActorRef<ractor::factory::FactoryMessage<(), Scoped<IdentityMsg>>>,
        Job { msg, key, .. }: Job<(), Scoped<IdentityMsg>>,
        (): &mut (),
    ) -> Result<(), ActorProcessingErr> {
        let Scoped { tenant, msg } = msg;
        let d = tenant.deps.as_ref();
        // A send fails only when the caller gave up; that must not kill the worker.
        match msg {
            IdentityMsg::Create(body, reply) => {
                let _ = reply.send(service::create(d, body).await);
            }
            IdentityMsg::Batch(items, reply) => {
                let _ = reply.send(service::batch_create(d, items).await);
            }
            IdentityMsg::Get {
                id,
                credentials,
                reply,
            } => {
                let _ = reply.send(service::get(d, id, credentials).await);
            }
            IdentityMsg::GetByExternalId {
                external_id,
                credentials,
                reply,
            } => {
                let _ = reply.send(service::get_by_external_id(d, &external_id, credentials).await);
            }
            IdentityMsg::Update(id, body, reply) => {
                let _ = reply.send(service::update(d, id, body).await);
            }
            IdentityMsg::Patch(id, patch, reply) => {
                let _ = reply.send(service::patch(d, id, patch).await);
            }
            IdentityMsg::Delete(id, reply) => {
                let _ = reply.send(service::delete(d, id).await);
            }
            IdentityMsg::DeleteCredential {
                id,
                kind,
                identifier,
                reply,
            } => {
                let _ = reply
                    .send(service::delete_credential(d, id, &kind, identifier.as_deref()).await);
            }
            IdentityMsg::List(params, reply) => {
                let _ = reply.send(service::list(d, &params).await);
            }
            #[cfg(feature = "test-hooks")]
            IdentityMsg::Crash => panic!("identity worker crash requested"),
        }
        Ok(key)
    }
}

/// The typed client of the identity pool handed to the HTTP layer; its calls act for its
/// tenant (the default network's until `scoped`).
#[derive(Clone)]
pub struct IdentityPool {
    factory: FactoryRef<(), Scoped<IdentityMsg>>,
    live: Live,
    tenant: Option<Tenant>,
}

/// A call's outcome: the pool failed, or the domain answered.
pub type PoolResult<T> = Result<Result<T, IdentityError>, CallError>;

impl IdentityPool {
    /// Spawns the factory under `supervisor` with `workers` workers.
    pub async fn spawn(
        live: Live,
        workers: usize,
        supervisor: ActorCell,
    ) -> Result<(IdentityPool, ActorCell), ActorProcessingErr> {
        let metrics = live.deps().metrics.clone();
        let (factory, cell) = super::pool::spawn(
            "identity",
            metrics,
            workers,
            routing::QueuerRouting::default(),
            || (IdentityWorker, ()),
            supervisor,
        )
        .await?;
        let pool = IdentityPool {
            factory,
            live,
            tenant: None,
        };
        Ok((pool, cell))
    }

    /// The same pool, acting for `tenant`.
    pub fn scoped(&self, tenant: Tenant) -> IdentityPool {
        IdentityPool {
            tenant: Some(tenant),
            ..self.clone()
        }
    }

    fn tenant(&self) -> Tenant {
        self.tenant.clone().unwrap_or_else(|| self.live.current())
    }

    async fn ask<T: Send + 'static>(
        &self,
        build: impl FnOnce(Reply<T>) -> IdentityMsg,
    ) -> PoolResult<T> {
        let tenant = self.tenant();
        let scoped = |r| Scoped {
            tenant,
            msg: build(r),
        };
        call(&self.factory, (), scoped, CALL_TIMEOUT).await
    }

    pub async fn create(&self, body: CreateIdentityBody) -> PoolResult<Identity> {
        self.ask(|r| IdentityMsg::Create(body, r)).await
    }
    pub async fn batch(
        &self,
        items: Vec<(Option<Uuid>, Result<CreateIdentityBody, IdentityError>)>,
    ) -> PoolResult<Vec<BatchOutcome>> {
        self.ask(|r| IdentityMsg::Batch(items, r)).await
    }
    pub async fn get(&self, id: Uuid, credentials: bool) -> PoolResult<Identity> {
        self.ask(|reply| IdentityMsg::Get {
            id,
            credentials,
            reply,
        })
        .await
    }
    pub async fn get_by_external_id(
        &self,
        external_id: String,
        credentials: bool,
    ) -> PoolResult<Identity> {
        self.ask(|reply| IdentityMsg::GetByExternalId {
            external_id,
            credentials,
            reply,
        })
        .await
    }
    pub async fn update(&self, id: Uuid, body: UpdateIdentityBody) -> PoolResult<Identity> {
        self.ask(|r| IdentityMsg::Update(id, body, r)).await
    }
    pub async fn patch(&self, id: Uuid, patch: json_patch::Patch) -> PoolResult<Identity> {
        self.ask(|r| IdentityMsg::Patch(id, patch, r)).await
    }
    pub async fn delete(&self, id: Uuid) -> PoolResult<()> {
        self.ask(|r| IdentityMsg::Delete(id, r)).await
    }
    pub async fn delete_credential(
        &self,
        id: Uuid,
        kind: String,
        identifier: Option<String>,
    ) -> PoolResult<()> {
        self.ask(|reply| IdentityMsg::DeleteCredential {
            id,
            kind,
            identifier,
            reply,
        })
        .await
    }
    pub async fn list(&self, params: ListParams) -> PoolResult<(Vec<Identity>, Option<Uuid>)> {
        self.ask(|r| IdentityMsg::List(params, r)).await
    }
    /// Makes one worker panic (see [`IdentityMsg::Crash`]).
    #[cfg(feature = "test-hooks")]
    pub fn crash_one_worker(&self) {
        let msg = Scoped {
            tenant: self.tenant(),
            msg: IdentityMsg::Crash,
        };
        let _ = self.factory.dispatch((), msg);
    }
}
