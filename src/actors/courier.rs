//! The courier: a lease pump (`actors::lease`) that claims due messages
//! (`courier::dispatch::claim_batch`) and a sender pool that delivers them
//! (`courier::dispatch::deliver`). One node holds at most `pull_count` claims at a time.

use std::time::Duration;

use ractor::ActorProcessingErr;
use uuid::Uuid;

use super::lease::{self, LeaseQueue};
use super::live::Live;
use crate::courier::CourierError;
use crate::courier::dispatch::{self, LEASE, Senders};
use crate::store::courier::MessageRow;

/// The message queue with the channels built from `courier.*` when the courier starts (a
/// reload changes templates and retries, not channels: those need a restart).
struct Messages {
    live: Live,
    senders: Senders,
}

impl LeaseQueue for Messages {
    type Row = MessageRow;
    type Error = CourierError;
    const POOL: &'static str = "courier";
    const ROWS: &'static str = "courier messages";
    const LEASE: Duration = LEASE;

    fn every(&self) -> Duration {
        self.live
            .deps()
            .config
            .courier
            .worker
            .pull_wait
            .get()
            .max(Duration::from_millis(10))
    }

    fn workers(&self) -> usize {
        self.live
            .deps()
            .config
            .courier
            .worker
            .pull_count
            .clamp(1, 64) as usize
    }

    async fn claim(&self) -> Result<(Uuid, Vec<MessageRow>), CourierError> {
        dispatch::claim_batch(&self.live.deps()).await
    }

    async fn handle(&self, row: &MessageRow, claim_id: Uuid) {
        dispatch::deliver(&self.live.deps(), &self.senders, row, claim_id).await;
    }
}

/// The courier's place in the tree; `Root` starts it when `watch-courier` is on.
pub async fn spawn(
    live: Live,
    supervisor: ractor::ActorCell,
) -> Result<ractor::ActorCell, ActorProcessingErr> {
    let deps = live.deps();
    let senders = Senders::load(&deps.config.courier, &deps.config.clients.http).await;
    for w in senders.warnings() {
        tracing::warn!(problem = %w, "courier configuration");
    }
    let metrics = deps.metrics.clone();
    let pump = lease::spawn(Messages { live, senders }, metrics, supervisor).await?;
    tracing::info!("courier is watching the message queue");
    Ok(pump)
}
