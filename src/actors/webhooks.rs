//! The webhooks pump: a timer claims due fire-and-forget web hook deliveries
//! (`selfservice::hooks::deliveries::claim_batch`) and a worker pool (a ractor factory) calls
//! the receivers. Like the courier, the pump skips a tick while its previous batch is in flight,
//! and the rows are the only record of pending work: a lost tick or a dead node leaves nothing
//! behind that the next claim (after the lease) does not pick up.

use super::pool::{InFlight, InFlightGuard};
use std::sync::Arc;
use std::time::Duration;

use ractor::factory::{FactoryMessage, FactoryRef, Job, WorkerId, routing};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use uuid::Uuid;

use crate::deps::Deps;
use crate::selfservice::hooks::deliveries::{self, LEASE};
use crate::store::webhooks::DeliveryRow;

/// How often the pump looks for due deliveries.
const TICK: Duration = Duration::from_millis(250);
const WORKERS: usize = 4;

/// Counts a batch's deliveries still running; decremented on drop, so a call that panics still
/// releases the pump.
pub struct DeliveryJob {
    row: DeliveryRow,
    claim_id: Uuid,
    _in_flight: InFlightGuard,
}

struct DeliveryWorker;

impl ractor::factory::Worker for DeliveryWorker {
    type Key = Uuid;
    type Message = DeliveryJob;
    type State = Arc<Deps>;
    type Arguments = Arc<Deps>;

    async fn pre_start(
        &self,
        _wid: WorkerId,
        _factory: &ActorRef<FactoryMessage<Uuid, DeliveryJob>>,
        deps: Arc<Deps>,
    ) -> Result<Arc<Deps>, ActorProcessingErr> {
        Ok(deps)
    }

    async fn handle(
        &self,
        _wid: WorkerId,
        _factory: &ActorRef<FactoryMessage<Uuid, DeliveryJob>>,
        Job { msg, key, .. }: Job<Uuid, DeliveryJob>,
        deps: &mut Arc<Deps>,
    ) -> Result<Uuid, ActorProcessingErr> {
        // Outcomes (failures included) are recorded by `deliver`; the worker never fails.
        deliveries::deliver(deps, &msg.row, msg.claim_id).await;
        Ok(key)
    }
}

pub enum WebhooksMsg {
    Tick,
}

pub struct Webhooks;

pub struct WebhooksState {
    deps: Arc<Deps>,
    workers: FactoryRef<Uuid, DeliveryJob>,
    in_flight: InFlight,
    timer: Option<tokio::task::JoinHandle<()>>,
}

impl Actor for Webhooks {
    type Msg = WebhooksMsg;
    type State = WebhooksState;
    type Arguments = Arc<Deps>;

    async fn pre_start(
        &self,
        me: ActorRef<WebhooksMsg>,
        deps: Arc<Deps>,
    ) -> Result<WebhooksState, ActorProcessingErr> {
        let args = deps.clone();
        let (workers, _) = super::pool::spawn(
            "webhooks",
            deps.metrics.clone(),
            WORKERS,
            routing::QueuerRouting::default(),
            move || (DeliveryWorker, args.clone()),
            me.get_cell(),
        )
        .await?;
        Ok(WebhooksState {
            deps,
            workers,
            in_flight: InFlight::default(),
            timer: None,
        })
    }

    async fn post_start(
        &self,
        me: ActorRef<WebhooksMsg>,
        state: &mut WebhooksState,
    ) -> Result<(), ActorProcessingErr> {
        state.timer = Some(me.send_interval(TICK, || WebhooksMsg::Tick));
        Ok(())
    }

    async fn handle(
        &self,
        _me: ActorRef<WebhooksMsg>,
        _msg: WebhooksMsg,
        state: &mut WebhooksState,
    ) -> Result<(), ActorProcessingErr> {
        if state.in_flight.busy() {
            return Ok(());
        }
        // A failed claim is reported and retried on the next tick; it never kills the pump.
        let (claim_id, rows) = match deliveries::claim_batch(&state.deps).await {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "claiming web hook deliveries failed");
                return Ok(());
            }
        };
        if rows.is_empty() {
            return Ok(());
        }
        for row in rows {
            let key = row.id.0;
            let job = DeliveryJob {
                row,
                claim_id,
                _in_flight: state.in_flight.enter(),
            };
            // If the pool is gone the job drops here; the lease lapses and the row is reclaimed.
            if state.workers.dispatch(key, job).is_err() {
                tracing::error!("the web hook delivery pool is gone");
            }
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _me: ActorRef<WebhooksMsg>,
        state: &mut WebhooksState,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(t) = state.timer.take() {
            t.abort();
        }
        // Let the running batch record its outcomes; past the lease it would be reclaimed anyway.
        state
            .in_flight
            .drain(LEASE, &state.workers.get_cell())
            .await;
        Ok(())
    }
}

/// The pump's place in the tree; every node runs it (Kratos sends these from the serving node).
pub async fn spawn(
    deps: Arc<Deps>,
    supervisor: ractor::ActorCell,
) -> Result<ractor::ActorCell, ActorProcessingErr> {
    let (w, _) = Actor::spawn_linked(None, Webhooks, deps, supervisor).await?;
    Ok(w.get_cell())
}
