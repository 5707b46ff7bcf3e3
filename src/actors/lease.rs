//! The lease pump behind the courier and the web hook deliveries: a timer claims a batch of due
//! rows under a lease ([`LeaseQueue::claim`]) and hands each row to a worker pool (a ractor
//! factory) that handles it and records its outcome ([`LeaseQueue::handle`]). The pump never
//! awaits a row; it skips a tick while its previous batch is still in flight, so one node holds
//! at most one batch of claims at a time, and a failed claim is reported and tried again on the
//! next tick. Rows are the only record of pending work: a lost tick or a dead node leaves nothing
//! behind that the next claim (after the lease) does not pick up.

use std::fmt::Display;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use ractor::factory::{FactoryMessage, FactoryRef, Job, WorkerId, routing};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use uuid::Uuid;

use super::pool::{InFlight, InFlightGuard};

/// A queue of leased rows: how to claim a batch and how to handle one claimed row.
pub trait LeaseQueue: Send + Sync + 'static {
    type Row: Send + 'static;
    type Error: Display + Send;
    /// The pool's name (`actor_restarts_total{pool=…}`).
    const POOL: &'static str;
    /// What the rows are, for logs ("courier messages").
    const ROWS: &'static str;
    /// How long one claim holds a row; stopping waits this long for a running batch, after
    /// which its rows are reclaimed anyway.
    const LEASE: Duration;

    /// How often the pump looks for due rows.
    fn every(&self) -> Duration;
    /// Workers in the pool.
    fn workers(&self) -> usize;
    /// Claims this node's next batch: (claim id, rows).
    fn claim(&self) -> impl Future<Output = Result<(Uuid, Vec<Self::Row>), Self::Error>> + Send;
    /// Handles one claimed row and records its outcome while `claim_id` still holds it.
    /// Failures are outcomes: this never fails.
    fn handle(&self, row: &Self::Row, claim_id: Uuid) -> impl Future<Output = ()> + Send;
}

/// One claimed row on its way through the pool. Holds the batch's in-flight count until
/// dropped, so a row whose handling panics (taking its worker down) still releases the pump.
pub struct LeaseJob<R> {
    row: R,
    claim_id: Uuid,
    _in_flight: InFlightGuard,
}

struct LeaseWorker<Q>(PhantomData<fn() -> Q>);

impl<Q: LeaseQueue> ractor::factory::Worker for LeaseWorker<Q> {
    type Key = ();
    type Message = LeaseJob<Q::Row>;
    type State = Arc<Q>;
    type Arguments = Arc<Q>;

    async fn pre_start(
        &self,
        _wid: WorkerId,
        _factory: &ActorRef<FactoryMessage<(), LeaseJob<Q::Row>>>,
        queue: Arc<Q>,
    ) -> Result<Arc<Q>, ActorProcessingErr> {
        Ok(queue)
    }

    async fn handle(
        &self,
        _wid: WorkerId,
        _factory: &ActorRef<FactoryMessage<(), LeaseJob<Q::Row>>>,
        Job { msg, key, .. }: Job<(), LeaseJob<Q::Row>>,
        queue: &mut Arc<Q>,
    ) -> Result<(), ActorProcessingErr> {
        queue.handle(&msg.row, msg.claim_id).await;
        Ok(key)
    }
}

/// The timer's message.
pub struct Tick;

/// The pump actor for the queue `Q`.
pub struct LeasePump<Q>(PhantomData<fn() -> Q>);

pub struct LeasePumpState<Q: LeaseQueue> {
    queue: Arc<Q>,
    pool: FactoryRef<(), LeaseJob<Q::Row>>,
    in_flight: InFlight,
    timer: Option<tokio::task::JoinHandle<()>>,
}

impl<Q: LeaseQueue> Actor for LeasePump<Q> {
    type Msg = Tick;
    type State = LeasePumpState<Q>;
    /// The queue, with the metrics registry its pool reports to.
    type Arguments = (Arc<Q>, Arc<crate::metrics::Metrics>);

    async fn pre_start(
        &self,
        me: ActorRef<Tick>,
        (queue, metrics): Self::Arguments,
    ) -> Result<LeasePumpState<Q>, ActorProcessingErr> {
        let args = queue.clone();
        let (pool, _) = super::pool::spawn(
            Q::POOL,
            metrics,
            queue.workers(),
            routing::QueuerRouting::default(),
            move || (LeaseWorker::<Q>(PhantomData), args.clone()),
            me.get_cell(),
        )
        .await?;
        Ok(LeasePumpState {
            queue,
            pool,
            in_flight: InFlight::default(),
            timer: None,
        })
    }

    async fn post_start(
        &self,
        me: ActorRef<Tick>,
        state: &mut LeasePumpState<Q>,
    ) -> Result<(), ActorProcessingErr> {
        state.timer = Some(me.send_interval(state.queue.every(), || Tick));
        Ok(())
    }

    async fn handle(
        &self,
        _me: ActorRef<Tick>,
        _msg: Tick,
        state: &mut LeasePumpState<Q>,
    ) -> Result<(), ActorProcessingErr> {
        if state.in_flight.busy() {
            return Ok(());
        }
        // A failed claim is reported and retried on the next tick; it never kills the pump.
        let (claim_id, rows) = match state.queue.claim().await {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "claiming {} failed", Q::ROWS);
                return Ok(());
            }
        };
        if rows.is_empty() {
            return Ok(());
        }
        tracing::debug!(count = rows.len(), "claimed {}", Q::ROWS);
        for row in rows {
            let job = LeaseJob {
                row,
                claim_id,
                _in_flight: state.in_flight.enter(),
            };
            // If the pool is gone the job (and its in-flight count) drops here; the row's lease
            // lapses and it is claimed again.
            if state.pool.dispatch((), job).is_err() {
                tracing::error!(pool = Q::POOL, "the {} pool is gone", Q::ROWS);
            }
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _me: ActorRef<Tick>,
        state: &mut LeasePumpState<Q>,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(t) = state.timer.take() {
            t.abort();
        }
        // Let the running batch record its outcomes; past the lease it would be reclaimed anyway.
        state
            .in_flight
            .drain(Q::LEASE, &state.pool.get_cell())
            .await;
        Ok(())
    }
}

/// Starts the pump for `queue` under `supervisor`.
pub async fn spawn<Q: LeaseQueue>(
    queue: Q,
    metrics: Arc<crate::metrics::Metrics>,
    supervisor: ractor::ActorCell,
) -> Result<ractor::ActorCell, ActorProcessingErr> {
    let (pump, _) = Actor::spawn_linked(
        None,
        LeasePump::<Q>(PhantomData),
        (Arc::new(queue), metrics),
        supervisor,
    )
    .await?;
    Ok(pump.get_cell())
}
