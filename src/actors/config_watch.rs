//! Watches the configuration files on a timer and puts a changed configuration in force
//! (`reload`), as Kratos does without a restart. A file that does not parse, fails validation or
//! names something that cannot be loaded is refused with a logged reason, and the running
//! configuration stays in force.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ractor::{Actor, ActorProcessingErr, ActorRef};

use super::live::Live;
use crate::reload::{self, Reloaded, Source};

/// The least time between two tries of a pending identity schema.
const SCHEMA_RETRY: Duration = Duration::from_secs(5);

/// What to watch and how often to look.
#[derive(Clone, Debug)]
pub struct Watch {
    pub source: Source,
    pub every: Duration,
}

pub struct ConfigWatch;

pub enum WatchMsg {
    Tick,
}

pub struct WatchState {
    live: Live,
    watch: Watch,
    /// The files as last read, so an unchanged (or already refused) file is not parsed again.
    seen: [u8; 32],
    /// When pending identity schemas may be tried again.
    schema_retry_at: Instant,
    timer: Option<tokio::task::JoinHandle<()>>,
}

impl Actor for ConfigWatch {
    type Msg = WatchMsg;
    type State = WatchState;
    type Arguments = (Live, Watch);

    async fn pre_start(
        &self,
        _me: ActorRef<WatchMsg>,
        (live, watch): (Live, Watch),
    ) -> Result<WatchState, ActorProcessingErr> {
        Ok(WatchState {
            seen: watch.source.fingerprint(),
            schema_retry_at: Instant::now(),
            live,
            watch,
            timer: None,
        })
    }

    async fn post_start(
        &self,
        me: ActorRef<WatchMsg>,
        state: &mut WatchState,
    ) -> Result<(), ActorProcessingErr> {
        let every = state.watch.every.max(Duration::from_millis(10));
        state.timer = Some(me.send_interval(every, || WatchMsg::Tick));
        Ok(())
    }

    async fn handle(
        &self,
        _me: ActorRef<WatchMsg>,
        _msg: WatchMsg,
        state: &mut WatchState,
    ) -> Result<(), ActorProcessingErr> {
        // Schemas served over HTTP that were down are retried on the same timer, spaced out so
        // a schema server that hangs cannot pile up ticks.
        let schemas = state.live.deps().schemas.clone();
        if !schemas.pending().is_empty()
            && Instant::now() >= state.schema_retry_at
            && let Err(e) = schemas.load_pending().await
        {
            tracing::debug!(error = %e, "identity schema still not loaded");
            state.schema_retry_at = Instant::now() + SCHEMA_RETRY;
        }
        let now = state.watch.source.fingerprint();
        if now == state.seen {
            return Ok(());
        }
        state.seen = now;
        let current = state.live.deps();
        let outcome = match reload::reload(&current, &state.watch.source).await {
            Ok(Reloaded::Unchanged) => {
                tracing::info!(
                    "configuration files changed; nothing that can change at run time did"
                );
                "unchanged"
            }
            Ok(Reloaded::Next(deps, raw)) => {
                let revision = reload::revision(&deps.config);
                let deps: Arc<crate::deps::Deps> = Arc::from(deps);
                // Cached whoami answers were rendered under the old configuration.
                deps.session_cache.clear();
                state.live.replace(deps.clone(), raw);
                rebuild_tenants(&state.live, &deps).await;
                tracing::info!(%revision, "configuration reloaded");
                "applied"
            }
            // Never fatal: the node keeps serving with what it has.
            Err(why) => {
                tracing::error!(
                    reason = %why,
                    "the changed configuration is invalid; keeping the running configuration"
                );
                "refused"
            }
        };
        current
            .metrics
            .config_reloads
            .with_label_values(&[outcome])
            .inc();
        Ok(())
    }

    async fn post_stop(
        &self,
        _me: ActorRef<WatchMsg>,
        state: &mut WatchState,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(t) = state.timer.take() {
            t.abort();
        }
        Ok(())
    }
}

/// Every tenant built again on the configuration now in force: the file's declarations as they
/// now read, and the stored ones.
pub async fn rebuild_tenants(live: &Live, deps: &crate::deps::Deps) {
    let all = match crate::tenancy::all(&deps.config, &deps.public_url, &deps.store).await {
        Ok(all) => all,
        Err(e) => {
            tracing::error!(reason = %e, "tenants not rebuilt; the ones in force stay");
            return;
        }
    };
    for (name, e) in live.load_tenants(all).await {
        tracing::error!(tenant = %name, reason = %e, "tenant left out: its configuration does not load on the one in force");
    }
}
