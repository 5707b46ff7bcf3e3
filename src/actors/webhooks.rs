//! The webhooks pump: a lease pump (`actors::lease`) that claims due fire-and-forget web hook
//! deliveries (`selfservice::hooks::deliveries::claim_batch`) and a worker pool that calls the
//! receivers (`selfservice::hooks::deliveries::deliver`).

use std::time::Duration;

use ractor::ActorProcessingErr;
use uuid::Uuid;

use super::lease::{self, LeaseQueue};
use super::live::Live;
use crate::selfservice::hooks::deliveries::{self, LEASE};
use crate::store::StoreError;
use crate::store::webhooks::DeliveryRow;

/// How often the pump looks for due deliveries.
const TICK: Duration = Duration::from_millis(250);
const WORKERS: usize = 4;

/// The delivery queue.
struct Deliveries(Live);

impl LeaseQueue for Deliveries {
    type Row = DeliveryRow;
    type Error = StoreError;
    const POOL: &'static str = "webhooks";
    const ROWS: &'static str = "web hook deliveries";
    const LEASE: Duration = LEASE;

    fn every(&self) -> Duration {
        TICK
    }

    fn workers(&self) -> usize {
        WORKERS
    }

    async fn claim(&self) -> Result<(Uuid, Vec<DeliveryRow>), StoreError> {
        // One claim across every network; each row is delivered under its own.
        deliveries::claim_batch(&self.0.deps()).await
    }

    async fn handle(&self, row: &DeliveryRow, claim_id: Uuid) {
        match self.0.by_nid(row.nid.0) {
            Some(tenant) => deliveries::deliver(&tenant.deps, row, claim_id).await,
            // A tenant this node has not loaded yet: the lease lapses and a node that knows it
            // (or this one, later) takes the row again.
            None => {
                tracing::debug!(delivery_id = %row.id, "web hook delivery of an unknown tenant left for later")
            }
        }
    }
}

/// The pump's place in the tree; every node runs it (Kratos sends these from the serving node).
pub async fn spawn(
    live: Live,
    supervisor: ractor::ActorCell,
) -> Result<ractor::ActorCell, ActorProcessingErr> {
    let metrics = live.deps().metrics.clone();
    lease::spawn(Deliveries(live), metrics, supervisor).await
}
