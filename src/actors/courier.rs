//! The courier: a lease pump (`actors::lease`) that claims due messages
//! (`courier::dispatch::claim_batch`) and a sender pool that delivers them
//! (`courier::dispatch::deliver`). One node holds at most `pull_count` claims at a time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use ractor::ActorProcessingErr;
use uuid::Uuid;

use super::lease::{self, LeaseQueue};
use super::live::{Generation, Live};
use crate::courier::CourierError;
use crate::courier::dispatch::{self, LEASE, Senders};
use crate::deps::Deps;
use crate::store::courier::MessageRow;

/// The message queue with the channels built from `courier.*` when the courier starts (a
/// reload changes templates and retries, not channels: those need a restart). A tenant's
/// channels are built from its configuration when its first message is due, and again when the
/// tenant's configuration changed.
/// Each tenant's channels, with the dependencies they were built from.
type TenantSenders = HashMap<Uuid, (Weak<Deps>, Arc<Senders>)>;

struct Messages {
    live: Live,
    senders: Arc<Senders>,
    tenant_senders: Mutex<TenantSenders>,
}

impl Messages {
    async fn senders_of(&self, tenant: &Generation) -> Arc<Senders> {
        let Some(t) = &tenant.tenant else {
            return self.senders.clone();
        };
        let known = self.lock().get(&t.id).and_then(|(deps, senders)| {
            let same = deps
                .upgrade()
                .is_some_and(|d| Arc::ptr_eq(&d, &tenant.deps));
            same.then(|| senders.clone())
        });
        if let Some(s) = known {
            return s;
        }
        let cfg = &tenant.deps.config;
        let senders = Arc::new(Senders::load(&cfg.courier, &cfg.clients.http).await);
        for w in senders.warnings() {
            tracing::warn!(tenant = %t.name, problem = %w, "courier configuration");
        }
        self.lock()
            .insert(t.id, (Arc::downgrade(&tenant.deps), senders.clone()));
        senders
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TenantSenders> {
        self.tenant_senders
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
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
        // One claim across every network; each message is sent under its own.
        dispatch::claim_batch(&self.live.deps()).await
    }

    async fn handle(&self, row: &MessageRow, claim_id: Uuid) {
        let Some(tenant) = self.live.by_nid(row.nid.0) else {
            // A tenant this node has not loaded yet: the lease lapses and the row is taken again.
            tracing::debug!(message_id = %row.id, "courier message of an unknown tenant left for later");
            return;
        };
        let senders = self.senders_of(&tenant).await;
        dispatch::deliver(&tenant.deps, &senders, row, claim_id).await;
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
    let messages = Messages {
        live,
        senders: Arc::new(senders),
        tenant_senders: Mutex::default(),
    };
    let pump = lease::spawn(messages, metrics, supervisor).await?;
    tracing::info!("courier is watching the message queue");
    Ok(pump)
}
