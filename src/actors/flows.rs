//! Flow managers: one pool of workers per flow type, keyed by flow id (sticky routing keeps
//! one flow's requests in order on one worker of this node; the database compare-and-set keeps
//! them in order across nodes). Each pool takes only its own flow's messages. The sweeper
//! deletes expired flows in batches on a timer.

use std::marker::PhantomData;
use std::time::Duration;

use ractor::factory::{FactoryMessage, FactoryRef, Job, WorkerId, routing};
use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, Message, RpcReplyPort};
use uuid::Uuid;

use super::call::{CALL_TIMEOUT, CallError, call};
use super::live::{Generation, Live, Scoped, Tenant};
use crate::deps::Deps;
use crate::selfservice::flow::common::Started;
use crate::selfservice::flow::login::LoggedIn;
use crate::selfservice::flow::recovery::Outcome as RecoveryOutcome;
use crate::selfservice::flow::registration::Registered;
use crate::selfservice::flow::request::{FlowRequest, Submission};
use crate::selfservice::flow::settings::Saved as SettingsSaved;
use crate::selfservice::flow::verification::Updated as VerificationUpdated;
use crate::selfservice::flow::{self, Failed, Flow, FlowError, FlowType};

type Reply<T> = RpcReplyPort<Result<T, FlowError>>;
/// Submissions answer with the failed flow's type, which decides JSON over redirects.
type SubmitReply<T> = RpcReplyPort<Result<T, Failed>>;
/// A submitted body as decoded by the HTTP layer, or why it could not be: a body refused
/// before the flow is read still answers the way the flow's type demands.
pub type Decoded = Result<Submission, FlowError>;

/// What every flow manager does: start a flow, read one, take a submission.
pub enum FlowMsg<Done> {
    Start(FlowType, FlowRequest, Reply<Started>),
    Get(Uuid, FlowRequest, Reply<Flow>),
    Submit(Uuid, Decoded, FlowRequest, SubmitReply<Done>),
}

pub type LoginMsg = FlowMsg<LoggedIn>;
pub type RegistrationMsg = FlowMsg<Registered>;
pub type SettingsMsg = FlowMsg<SettingsSaved>;

pub enum RecoveryMsg {
    Flow(FlowMsg<RecoveryOutcome>),
    /// The recovery link from an email: flow id, token.
    Link(Uuid, String, FlowRequest, Reply<RecoveryOutcome>),
}

pub enum VerificationMsg {
    Flow(FlowMsg<VerificationUpdated>),
    /// A verification link (`token`) or code link (`code`) opened from an email.
    Link(Uuid, FlowRequest, Reply<VerificationUpdated>),
}

/// One flow manager's messages, and how its worker carries them out.
pub trait FlowMessage: Message + Sized {
    /// What a successful submission gives.
    type Done: Send + 'static;
    fn wrap(msg: FlowMsg<Self::Done>) -> Self;
    fn handle(self, cx: &Generation) -> impl Future<Output = ()> + Send;
}

/// The flows whose managers take only the three common messages: each is handed to its flow
/// module's `start`, `get` and `submit`. A failed send means the caller gave up; the worker
/// carries on.
macro_rules! common_flow_messages {
    ($($msg:ty => $done:ty, $module:ident;)*) => {$(
        impl FlowMessage for $msg {
            type Done = $done;
            fn wrap(msg: FlowMsg<$done>) -> Self {
                msg
            }
            async fn handle(self, cx: &Generation) {
                let (d, r) = (cx.deps.as_ref(), cx.strategies.as_ref());
                match self {
                    FlowMsg::Start(t, req, reply) => {
                        let _ = reply.send(flow::$module::start(d, r, t, &req).await);
                    }
                    FlowMsg::Get(id, req, reply) => {
                        let _ = reply.send(flow::$module::get(d, id, &req).await);
                    }
                    FlowMsg::Submit(id, sub, req, reply) => {
                        let out = match sub {
                            Ok(sub) => flow::$module::submit(d, r, id, sub, &req).await,
                            Err(e) => Err(e),
                        };
                        let _ = reply.send(typed(d, id, &req, out).await);
                    }
                }
            }
        }
    )*};
}

common_flow_messages! {
    LoginMsg => LoggedIn, login;
    RegistrationMsg => Registered, registration;
    SettingsMsg => SettingsSaved, settings;
}

impl FlowMessage for RecoveryMsg {
    type Done = RecoveryOutcome;
    fn wrap(msg: FlowMsg<RecoveryOutcome>) -> Self {
        RecoveryMsg::Flow(msg)
    }
    async fn handle(self, cx: &Generation) {
        let (d, r) = (cx.deps.as_ref(), cx.strategies.as_ref());
        match self {
            RecoveryMsg::Flow(FlowMsg::Start(t, req, reply)) => {
                let _ = reply.send(flow::recovery::start(d, r, t, &req).await);
            }
            RecoveryMsg::Flow(FlowMsg::Get(id, req, reply)) => {
                let _ = reply.send(flow::recovery::get(d, id, &req).await);
            }
            RecoveryMsg::Flow(FlowMsg::Submit(id, sub, req, reply)) => {
                let out = match sub {
                    Ok(sub) => flow::recovery::submit(d, r, id, sub, &req).await,
                    Err(e) => Err(e),
                };
                // The code is made and sent after the answer, so neither the answer nor its
                // timing depends on whether the address is known. This worker takes the flow's
                // next request only after the delivery, so a resend cannot overtake it.
                let (out, challenge) = match out {
                    Ok(RecoveryOutcome::Sent(flow, c)) => {
                        (Ok(RecoveryOutcome::Updated(flow)), Some(c))
                    }
                    other => (other, None),
                };
                let _ = reply.send(typed(d, id, &req, out).await);
                if let Some(c) = challenge {
                    flow::recovery::deliver(d, *c).await;
                }
            }
            RecoveryMsg::Link(id, token, req, reply) => {
                let _ = reply.send(flow::recovery::use_link(d, r, id, &token, &req).await);
            }
        }
    }
}

impl FlowMessage for VerificationMsg {
    type Done = VerificationUpdated;
    fn wrap(msg: FlowMsg<VerificationUpdated>) -> Self {
        VerificationMsg::Flow(msg)
    }
    async fn handle(self, cx: &Generation) {
        let (d, r) = (cx.deps.as_ref(), cx.strategies.as_ref());
        match self {
            VerificationMsg::Flow(FlowMsg::Start(t, req, reply)) => {
                let _ = reply.send(flow::verification::start(d, r, t, &req).await);
            }
            VerificationMsg::Flow(FlowMsg::Get(id, req, reply)) => {
                let _ = reply.send(flow::verification::get(d, id, &req).await);
            }
            VerificationMsg::Flow(FlowMsg::Submit(id, sub, req, reply)) => {
                let out = match sub {
                    Ok(sub) => flow::verification::submit(d, r, id, sub, &req).await,
                    Err(e) => Err(e),
                };
                let _ = reply.send(typed(d, id, &req, out).await);
            }
            VerificationMsg::Link(id, req, reply) => {
                let _ = reply.send(flow::verification::open_link(d, r, id, &req).await);
            }
        }
    }
}

struct FlowWorker<M>(PhantomData<fn() -> M>);

impl<M: FlowMessage> ractor::factory::Worker for FlowWorker<M> {
    type Key = Uuid;
    type Message = Scoped<M>;
    type State = ();
    type Arguments = ();

    async fn pre_start(
        &self,
        _wid: WorkerId,
        _factory: &ActorRef<FactoryMessage<Uuid, Scoped<M>>>,
        (): (),
    ) -> Result<(), ActorProcessingErr> {
        Ok(())
    }

    async fn handle(
        &self,
        _wid: WorkerId,
        _factory: &ActorRef<FactoryMessage<Uuid, Scoped<M>>>,
        Job { msg, key, .. }: Job<Uuid, Scoped<M>>,
        (): &mut (),
    ) -> Result<Uuid, ActorProcessingErr> {
        let Scoped { tenant, msg } = msg;
        msg.handle(&tenant).await;
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

/// The typed client of one flow type's pool; its calls act for its tenant (the default
/// network's until `scoped`).
pub struct FlowManager<M: FlowMessage> {
    factory: FactoryRef<Uuid, Scoped<M>>,
    live: Live,
    tenant: Option<Tenant>,
}

impl<M: FlowMessage> Clone for FlowManager<M> {
    fn clone(&self) -> Self {
        FlowManager {
            factory: self.factory.clone(),
            live: self.live.clone(),
            tenant: self.tenant.clone(),
        }
    }
}

pub type FlowResult<T> = Result<Result<T, FlowError>, CallError>;
pub type SubmitResult<T> = Result<Result<T, Failed>, CallError>;

impl<M: FlowMessage> FlowManager<M> {
    pub async fn spawn(
        name: &'static str,
        live: Live,
        workers: usize,
        supervisor: ActorCell,
    ) -> Result<(FlowManager<M>, ActorCell), ActorProcessingErr> {
        let metrics = live.deps().metrics.clone();
        let (factory, cell) = super::pool::spawn(
            name,
            metrics,
            workers,
            routing::StickyQueuerRouting::default(),
            || (FlowWorker::<M>(PhantomData), ()),
            supervisor,
        )
        .await?;
        let manager = FlowManager {
            factory,
            live,
            tenant: None,
        };
        Ok((manager, cell))
    }

    /// The same pool, acting for `tenant`.
    pub fn scoped(&self, tenant: Tenant) -> Self {
        FlowManager {
            tenant: Some(tenant),
            ..self.clone()
        }
    }

    async fn ask<T: Send + 'static, E: Send + 'static>(
        &self,
        key: Uuid,
        build: impl FnOnce(RpcReplyPort<Result<T, E>>) -> M,
    ) -> Result<Result<T, E>, CallError> {
        let tenant = self.tenant.clone().unwrap_or_else(|| self.live.current());
        let scoped = |r| Scoped {
            tenant,
            msg: build(r),
        };
        call(&self.factory, key, scoped, CALL_TIMEOUT).await
    }

    /// Starts a flow of this manager's kind.
    pub async fn start(&self, t: FlowType, req: FlowRequest) -> FlowResult<Started> {
        self.ask(Uuid::new_v4(), |r| M::wrap(FlowMsg::Start(t, req, r)))
            .await
    }

    pub async fn get(&self, id: Uuid, req: FlowRequest) -> FlowResult<Flow> {
        self.ask(id, |r| M::wrap(FlowMsg::Get(id, req, r))).await
    }

    pub async fn submit(&self, id: Uuid, sub: Decoded, req: FlowRequest) -> SubmitResult<M::Done> {
        self.ask(id, |r| M::wrap(FlowMsg::Submit(id, sub, req, r)))
            .await
    }
}

impl FlowManager<RecoveryMsg> {
    /// The recovery link from an email.
    pub async fn link(
        &self,
        id: Uuid,
        token: String,
        req: FlowRequest,
    ) -> FlowResult<RecoveryOutcome> {
        self.ask(id, |r| RecoveryMsg::Link(id, token, req, r)).await
    }
}

impl FlowManager<VerificationMsg> {
    /// A verification link or code link opened from an email.
    pub async fn link(&self, id: Uuid, req: FlowRequest) -> FlowResult<VerificationUpdated> {
        self.ask(id, |r| VerificationMsg::Link(id, req, r)).await
    }
}

/// Deletes expired flows (and old error records) in batches, one pass per tick. Correctness
/// never depends on it: expiry is checked when a flow is read.
pub struct FlowSweeper;

pub enum SweepMsg {
    Tick,
}

pub struct SweeperState {
    live: Live,
    /// The interval task; aborted in `post_stop`.
    timer: Option<tokio::task::JoinHandle<()>>,
}

/// Expired flows are kept this long (unless `database.cleanup.older_than` says otherwise) so a
/// late submit still gets "expired" (410) rather than "not found".
const KEEP_EXPIRED: Duration = Duration::from_secs(3600);

impl Actor for FlowSweeper {
    type Msg = SweepMsg;
    type State = SweeperState;
    type Arguments = Live;

    async fn pre_start(
        &self,
        _me: ActorRef<SweepMsg>,
        live: Live,
    ) -> Result<SweeperState, ActorProcessingErr> {
        Ok(SweeperState { live, timer: None })
    }

    async fn post_start(
        &self,
        me: ActorRef<SweepMsg>,
        state: &mut SweeperState,
    ) -> Result<(), ActorProcessingErr> {
        // The interval is fixed at start (`database` needs a restart); the rest is read per tick.
        let every = state
            .live
            .deps()
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
        // Every network's rows, each through a store scoped to it.
        for tenant in state.live.all() {
            sweep(&tenant.deps).await;
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

/// One pass over one network's expired rows.
async fn sweep(deps: &Deps) {
    let cfg = &deps.config.database.cleanup;
    let keep = match cfg.older_than.get() {
        d if d.is_zero() => KEEP_EXPIRED,
        d => d,
    };
    let before = (chrono::Utc::now()
        - chrono::Duration::from_std(keep).unwrap_or(chrono::Duration::hours(1)))
    .naive_utc();
    let batch = i64::from(cfg.batch_size.max(1));
    // Errors are reported and the next tick tries again; a sweep never kills the actor.
    match crate::store::flows::delete_expired(&deps.store, before, batch).await {
        Ok(n) if n > 0 => tracing::debug!(deleted = n, "swept expired flows"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "sweeping expired flows failed"),
    }
    if let Err(e) = crate::store::flows::delete_old_errors(&deps.store, before, batch).await {
        tracing::warn!(error = %e, "sweeping old flow errors failed");
    }
    if let Err(e) = crate::security::rate_limit::sweep(deps, batch).await {
        tracing::warn!(error = %e, "sweeping full rate limit buckets failed");
    }
    if let Err(e) = crate::security::throttle::sweep(deps).await {
        tracing::warn!(error = %e, "sweeping stale sign-in failure counters failed");
    }
}
