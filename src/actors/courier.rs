//! The courier: a timer pump that claims due messages (`courier::dispatch::claim_batch`) and a
//! sender pool (a ractor factory) that delivers them. The pump never awaits a send; it skips a
//! tick while its previous batch is still in flight, so one node holds at most `pull_count`
//! claims at a time. Rows are the only record of pending work: a lost tick or a dead node leaves
//! nothing behind that the next claim (after the lease) does not pick up.

use super::pool::{InFlight, InFlightGuard};
use std::sync::Arc;
use std::time::Duration;

use ractor::factory::{FactoryMessage, FactoryRef, Job, WorkerId, routing};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use uuid::Uuid;

use crate::courier::dispatch::{self, LEASE, Senders};
use crate::deps::Deps;
use crate::store::courier::MessageRow;

/// Counts a batch's messages still being delivered; decremented on drop, so a send that panics
/// (and takes its worker down) still releases the pump.
pub struct SendJob {
    row: MessageRow,
    claim_id: Uuid,
    _in_flight: InFlightGuard,
}

struct SenderWorker;

type SenderState = (Arc<Deps>, Arc<Senders>);

impl ractor::factory::Worker for SenderWorker {
    type Key = Uuid;
    type Message = SendJob;
    type State = SenderState;
    type Arguments = SenderState;

    async fn pre_start(
        &self,
        _wid: WorkerId,
        _factory: &ActorRef<FactoryMessage<Uuid, SendJob>>,
        args: SenderState,
    ) -> Result<SenderState, ActorProcessingErr> {
        Ok(args)
    }

    async fn handle(
        &self,
        _wid: WorkerId,
        _factory: &ActorRef<FactoryMessage<Uuid, SendJob>>,
        Job { msg, key, .. }: Job<Uuid, SendJob>,
        (deps, senders): &mut SenderState,
    ) -> Result<Uuid, ActorProcessingErr> {
        // Outcomes (including failures) are recorded by `deliver`; the worker never fails.
        dispatch::deliver(deps, senders, &msg.row, msg.claim_id).await;
        Ok(key)
    }
}

pub enum CourierMsg {
    Tick,
}

pub struct Courier;

pub struct CourierState {
    deps: Arc<Deps>,
    senders: FactoryRef<Uuid, SendJob>,
    in_flight: InFlight,
    timer: Option<tokio::task::JoinHandle<()>>,
}

impl Actor for Courier {
    type Msg = CourierMsg;
    type State = CourierState;
    type Arguments = Arc<Deps>;

    async fn pre_start(
        &self,
        me: ActorRef<CourierMsg>,
        deps: Arc<Deps>,
    ) -> Result<CourierState, ActorProcessingErr> {
        let senders = Arc::new(Senders::load(&deps.config.courier).await);
        for w in senders.warnings() {
            tracing::warn!(problem = %w, "courier configuration");
        }
        let workers = deps.config.courier.worker.pull_count.clamp(1, 64) as usize;
        let args = (deps.clone(), senders);
        let (factory, _) = super::pool::spawn(
            "courier",
            deps.metrics.clone(),
            workers,
            routing::QueuerRouting::default(),
            move || (SenderWorker, args.clone()),
            me.get_cell(),
        )
        .await?;
        Ok(CourierState {
            deps,
            senders: factory,
            in_flight: InFlight::default(),
            timer: None,
        })
    }

    async fn post_start(
        &self,
        me: ActorRef<CourierMsg>,
        state: &mut CourierState,
    ) -> Result<(), ActorProcessingErr> {
        let every = state
            .deps
            .config
            .courier
            .worker
            .pull_wait
            .get()
            .max(Duration::from_millis(10));
        state.timer = Some(me.send_interval(every, || CourierMsg::Tick));
        tracing::info!("courier is watching the message queue");
        Ok(())
    }

    async fn handle(
        &self,
        _me: ActorRef<CourierMsg>,
        _msg: CourierMsg,
        state: &mut CourierState,
    ) -> Result<(), ActorProcessingErr> {
        if state.in_flight.busy() {
            return Ok(());
        }
        // A failed claim is reported and retried on the next tick; it never kills the pump.
        let (claim_id, rows) = match dispatch::claim_batch(&state.deps).await {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "claiming courier messages failed");
                return Ok(());
            }
        };
        if rows.is_empty() {
            return Ok(());
        }
        tracing::debug!(count = rows.len(), "claimed courier messages");
        for row in rows {
            let key = row.id.0;
            let job = SendJob {
                row,
                claim_id,
                _in_flight: state.in_flight.enter(),
            };
            // If the pool is gone the job (and its in-flight count) drops here; the row's lease
            // lapses and it is claimed again.
            if state.senders.dispatch(key, job).is_err() {
                tracing::error!("the courier sender pool is gone");
            }
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _me: ActorRef<CourierMsg>,
        state: &mut CourierState,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(t) = state.timer.take() {
            t.abort();
        }
        // Let the in-flight batch finish and record its outcomes; past the lease it would be
        // reclaimed anyway.
        state
            .in_flight
            .drain(LEASE, &state.senders.get_cell())
            .await;
        Ok(())
    }
}

/// The courier's place in the tree; `Root` starts it when `watch-courier` is on.
pub async fn spawn(
    deps: Arc<Deps>,
    supervisor: ractor::ActorCell,
) -> Result<ractor::ActorCell, ActorProcessingErr> {
    let (c, _) = Actor::spawn_linked(None, Courier, deps, supervisor).await?;
    Ok(c.get_cell())
}
