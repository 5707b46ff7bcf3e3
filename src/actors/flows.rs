//! Flow managers: one pool of workers per flow type, keyed by flow id (sticky routing keeps
//! one flow's requests in order on one worker of this node; the database compare-and-set keeps
//! them in order across nodes). The sweeper deletes expired flows in batches on a timer.

use std::sync::Arc;
use std::time::Duration;

use ractor::factory::{FactoryMessage, FactoryRef, Job, WorkerId, routing};
use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, RpcReplyPort};
use uuid::Uuid;

use super::call::{CALL_TIMEOUT, CallError, call};
use crate::deps::Deps;
use crate::selfservice::flow::common::Started;
use crate::selfservice::flow::login::LoggedIn;
use crate::selfservice::flow::recovery::Outcome as RecoveryOutcome;
use crate::selfservice::flow::registration::Registered;
use crate::selfservice::flow::request::{FlowRequest, Submission};
use crate::selfservice::flow::settings::Saved as SettingsSaved;
use crate::selfservice::flow::verification::Updated as VerificationUpdated;
use crate::selfservice::flow::{self, Failed, Flow, FlowError, FlowKind, FlowType};
use crate::selfservice::strategy::Registry;

type Reply<T> = RpcReplyPort<Result<T, FlowError>>;
/// Submissions answer with the failed flow's type, which decides JSON over redirects.
type SubmitReply<T> = RpcReplyPort<Result<T, Failed>>;
/// A submitted body as decoded by the HTTP layer, or why it could not be: a body refused
/// before the flow is read still answers the way the flow's type demands.
pub type Decoded = Result<Submission, FlowError>;

pub enum FlowMsg {
    StartLogin(FlowType, FlowRequest, Reply<Started>),
    SubmitLogin(Uuid, Decoded, FlowRequest, SubmitReply<LoggedIn>),
    StartRegistration(FlowType, FlowRequest, Reply<Started>),
    SubmitRegistration(Uuid, Decoded, FlowRequest, SubmitReply<Registered>),
    Get(FlowKind, Uuid, FlowRequest, Reply<Flow>),
    StartRecovery(FlowType, FlowRequest, Reply<Started>),
    SubmitRecovery(Uuid, Decoded, FlowRequest, SubmitReply<RecoveryOutcome>),
    /// The recovery link from an email: flow id, token.
    RecoveryLink(Uuid, String, FlowRequest, Reply<RecoveryOutcome>),
    StartVerification(FlowType, FlowRequest, Reply<Started>),
    SubmitVerification(Uuid, Decoded, FlowRequest, SubmitReply<VerificationUpdated>),
    /// A verification link (`token`) or code link (`code`) opened from an email.
    VerificationLink(Uuid, FlowRequest, Reply<VerificationUpdated>),
    StartSettings(FlowType, FlowRequest, Reply<Started>),
    SubmitSettings(Uuid, Decoded, FlowRequest, SubmitReply<SettingsSaved>),
}

struct FlowWorker;

/// What a flow worker works with: the shared dependencies and the enabled strategies.
#[derive(Clone)]
pub struct FlowDeps {
    pub deps: Arc<Deps>,
    pub strategies: Arc<Registry>,
}

impl ractor::factory::Worker for FlowWorker {
    type Key = Uuid;
    type Message = FlowMsg;
    type State = FlowDeps;
    type Arguments = FlowDeps;

    async fn pre_start(
        &self,
        _wid: WorkerId,
        _factory: &ActorRef<FactoryMessage<Uuid, FlowMsg>>,
        deps: FlowDeps,
    ) -> Result<FlowDeps, ActorProcessingErr> {
        Ok(deps)
    }

    async fn handle(
        &self,
        _wid: WorkerId,
        _factory: &ActorRef<FactoryMessage<Uuid, FlowMsg>>,
        Job { msg, key, .. }: Job<Uuid, FlowMsg>,
        deps: &mut FlowDeps,
    ) -> Result<Uuid, ActorProcessingErr> {
        let d = deps.deps.as_ref();
        let r = deps.strategies.as_ref();
        // A failed send means the caller gave up; the worker carries on.
        match msg {
            FlowMsg::StartLogin(t, req, reply) => {
                let _ = reply.send(flow::login::start(d, r, t, &req).await);
            }
            FlowMsg::SubmitLogin(id, sub, req, reply) => {
                let r = match sub {
                    Ok(sub) => flow::login::submit(d, r, id, sub, &req).await,
                    Err(e) => Err(e),
                };
                let _ = reply.send(typed(d, id, &req, r).await);
            }
            FlowMsg::StartRegistration(t, req, reply) => {
                let _ = reply.send(flow::registration::start(d, r, t, &req).await);
            }
            FlowMsg::SubmitRegistration(id, sub, req, reply) => {
                let r = match sub {
                    Ok(sub) => flow::registration::submit(d, r, id, sub, &req).await,
                    Err(e) => Err(e),
                };
                let _ = reply.send(typed(d, id, &req, r).await);
            }
            FlowMsg::Get(kind, id, req, reply) => {
                let r = match kind {
                    FlowKind::Login => flow::login::get(d, id, &req).await,
                    FlowKind::Registration => flow::registration::get(d, id, &req).await,
                    FlowKind::Recovery => flow::recovery::get(d, id, &req).await,
                    FlowKind::Verification => flow::verification::get(d, id, &req).await,
                    FlowKind::Settings => flow::settings::get(d, id, &req).await,
                };
                let _ = reply.send(r);
            }
            FlowMsg::StartRecovery(t, req, reply) => {
                let _ = reply.send(flow::recovery::start(d, r, t, &req).await);
            }
            FlowMsg::SubmitRecovery(id, sub, req, reply) => {
                let r = match sub {
                    Ok(sub) => flow::recovery::submit(d, r, id, sub, &req).await,
                    Err(e) => Err(e),
                };
                // The code is made and sent after the answer, so neither the answer nor its
                // timing depends on whether the address is known. This worker takes the flow's
                // next request only after the delivery, so a resend cannot overtake it.
                let (r, challenge) = match r {
                    Ok(RecoveryOutcome::Sent(flow, c)) => {
                        (Ok(RecoveryOutcome::Updated(flow)), Some(c))
                    }
                    other => (other, None),
                };
                let _ = reply.send(typed(d, id, &req, r).await);
                if let Some(c) = challenge {
                    flow::recovery::deliver(d, *c).await;
                }
            }
            FlowMsg::RecoveryLink(id, token, req, reply) => {
                let _ = reply.send(flow::recovery::use_link(d, r, id, &token, &req).await);
            }
            FlowMsg::StartVerification(t, req, reply) => {
                let _ = reply.send(flow::verification::start(d, r, t, &req).await);
            }
            FlowMsg::SubmitVerification(id, sub, req, reply) => {
                let r = match sub {
                    Ok(sub) => flow::verification::submit(d, r, id, sub, &req).await,
                    Err(e) => Err(e),
                };
                let _ = reply.send(typed(d, id, &req, r).await);
            }
            FlowMsg::VerificationLink(id, req, reply) => {
                let _ = reply.send(flow::verification::open_link(d, r, id, &req).await);
            }
            FlowMsg::StartSettings(t, req, reply) => {
                let _ = reply.send(flow::settings::start(d, r, t, &req).await);
            }
            FlowMsg::SubmitSettings(id, sub, req, reply) => {
                let r = match sub {
                    Ok(sub) => flow::settings::submit(d, r, id, sub, &req).await,
                    Err(e) => Err(e),
                };
                let _ = reply.send(typed(d, id, &req, r).await);
            }
        }
        Ok(key)
    }
}

async fn typed<T>(
    d: &Deps,
    id: Uuid,
    req: &FlowRequest,
    r: Result<T, FlowError>,
) -> Result<T, Failed> {
    match r {
        Ok(v) => Ok(v),
        Err(e) => Err(flow::common::failed(d, id, req, e).await),
    }
}

/// The typed client of one flow type's pool.
#[derive(Clone)]
pub struct FlowManager {
    factory: FactoryRef<Uuid, FlowMsg>,
}

pub type FlowResult<T> = Result<Result<T, FlowError>, CallError>;
pub type SubmitResult<T> = Result<Result<T, Failed>, CallError>;

impl FlowManager {
    pub async fn spawn(
        name: &'static str,
        deps: FlowDeps,
        workers: usize,
        supervisor: ActorCell,
    ) -> Result<(FlowManager, ActorCell), ActorProcessingErr> {
        let metrics = deps.deps.metrics.clone();
        let (factory, cell) = super::pool::spawn(
            name,
            metrics,
            workers,
            routing::StickyQueuerRouting::default(),
            move || (FlowWorker, deps.clone()),
            supervisor,
        )
        .await?;
        Ok((FlowManager { factory }, cell))
    }

    async fn ask<T: Send + 'static, E: Send + 'static>(
        &self,
        key: Uuid,
        build: impl FnOnce(RpcReplyPort<Result<T, E>>) -> FlowMsg,
    ) -> Result<Result<T, E>, CallError> {
        call(&self.factory, key, build, CALL_TIMEOUT).await
    }

    pub async fn start_login(&self, t: FlowType, req: FlowRequest) -> FlowResult<Started> {
        self.ask(Uuid::new_v4(), |r| FlowMsg::StartLogin(t, req, r))
            .await
    }
    pub async fn submit_login(
        &self,
        id: Uuid,
        sub: Decoded,
        req: FlowRequest,
    ) -> SubmitResult<LoggedIn> {
        self.ask(id, |r| FlowMsg::SubmitLogin(id, sub, req, r))
            .await
    }
    pub async fn start_registration(&self, t: FlowType, req: FlowRequest) -> FlowResult<Started> {
        self.ask(Uuid::new_v4(), |r| FlowMsg::StartRegistration(t, req, r))
            .await
    }
    pub async fn submit_registration(
        &self,
        id: Uuid,
        sub: Decoded,
        req: FlowRequest,
    ) -> SubmitResult<Registered> {
        self.ask(id, |r| FlowMsg::SubmitRegistration(id, sub, req, r))
            .await
    }
    pub async fn get(&self, kind: FlowKind, id: Uuid, req: FlowRequest) -> FlowResult<Flow> {
        self.ask(id, |r| FlowMsg::Get(kind, id, req, r)).await
    }
    pub async fn start_recovery(&self, t: FlowType, req: FlowRequest) -> FlowResult<Started> {
        self.ask(Uuid::new_v4(), |r| FlowMsg::StartRecovery(t, req, r))
            .await
    }
    pub async fn submit_recovery(
        &self,
        id: Uuid,
        sub: Decoded,
        req: FlowRequest,
    ) -> SubmitResult<RecoveryOutcome> {
        self.ask(id, |r| FlowMsg::SubmitRecovery(id, sub, req, r))
            .await
    }
    pub async fn recovery_link(
        &self,
        id: Uuid,
        token: String,
        req: FlowRequest,
    ) -> FlowResult<RecoveryOutcome> {
        self.ask(id, |r| FlowMsg::RecoveryLink(id, token, req, r))
            .await
    }
    pub async fn start_verification(&self, t: FlowType, req: FlowRequest) -> FlowResult<Started> {
        self.ask(Uuid::new_v4(), |r| FlowMsg::StartVerification(t, req, r))
            .await
    }
    pub async fn submit_verification(
        &self,
        id: Uuid,
        sub: Decoded,
        req: FlowRequest,
    ) -> SubmitResult<VerificationUpdated> {
        self.ask(id, |r| FlowMsg::SubmitVerification(id, sub, req, r))
            .await
    }
    pub async fn verification_link(
        &self,
        id: Uuid,
        req: FlowRequest,
    ) -> FlowResult<VerificationUpdated> {
        self.ask(id, |r| FlowMsg::VerificationLink(id, req, r))
            .await
    }
    pub async fn start_settings(&self, t: FlowType, req: FlowRequest) -> FlowResult<Started> {
        self.ask(Uuid::new_v4(), |r| FlowMsg::StartSettings(t, req, r))
            .await
    }
    pub async fn submit_settings(
        &self,
        id: Uuid,
        sub: Decoded,
        req: FlowRequest,
    ) -> SubmitResult<SettingsSaved> {
        self.ask(id, |r| FlowMsg::SubmitSettings(id, sub, req, r))
            .await
    }
}

/// Deletes expired flows (and old error records) in batches, one pass per tick. Correctness
/// never depends on it: expiry is checked when a flow is read.
pub struct FlowSweeper;

pub enum SweepMsg {
    Tick,
}

pub struct SweeperState {
    deps: Arc<Deps>,
    /// The interval task; aborted in `post_stop`.
    timer: Option<tokio::task::JoinHandle<()>>,
}

/// Expired flows are kept this long (unless `database.cleanup.older_than` says otherwise) so a
/// late submit still gets "expired" (410) rather than "not found".
const KEEP_EXPIRED: Duration = Duration::from_secs(3600);

impl Actor for FlowSweeper {
    type Msg = SweepMsg;
    type State = SweeperState;
    type Arguments = Arc<Deps>;

    async fn pre_start(
        &self,
        _me: ActorRef<SweepMsg>,
        deps: Arc<Deps>,
    ) -> Result<SweeperState, ActorProcessingErr> {
        Ok(SweeperState { deps, timer: None })
    }

    async fn post_start(
        &self,
        me: ActorRef<SweepMsg>,
        state: &mut SweeperState,
    ) -> Result<(), ActorProcessingErr> {
        let every = state
            .deps
            .config
            .database
            .cleanup
            .sleep
            .tables
            .get()
            .max(Duration::from_secs(1));
        state.timer = Some(me.send_interval(every, || SweepMsg::Tick));
        Ok(())
    }

    async fn handle(
        &self,
        _me: ActorRef<SweepMsg>,
        _msg: SweepMsg,
        state: &mut SweeperState,
    ) -> Result<(), ActorProcessingErr> {
        let cfg = &state.deps.config.database.cleanup;
        let keep = match cfg.older_than.get() {
            d if d.is_zero() => KEEP_EXPIRED,
            d => d,
        };
        let before = (chrono::Utc::now()
            - chrono::Duration::from_std(keep).unwrap_or(chrono::Duration::hours(1)))
        .naive_utc();
        let batch = i64::from(cfg.batch_size.max(1));
        // Errors are reported and the next tick tries again; a sweep never kills the actor.
        match crate::store::flows::delete_expired(&state.deps.store, before, batch).await {
            Ok(n) if n > 0 => tracing::debug!(deleted = n, "swept expired flows"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "sweeping expired flows failed"),
        }
        if let Err(e) =
            crate::store::flows::delete_old_errors(&state.deps.store, before, batch).await
        {
            tracing::warn!(error = %e, "sweeping old flow errors failed");
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _me: ActorRef<SweepMsg>,
        state: &mut SweeperState,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(t) = state.timer.take() {
            t.abort();
        }
        Ok(())
    }
}
