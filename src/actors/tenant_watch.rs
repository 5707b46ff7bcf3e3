//! Keeps every node's tenants in step with the database: on a timer, one cheap query tells
//! whether a tenant was created, changed or deleted (by this node's admin API or another's);
//! if so, every tenant is rebuilt from the file's declarations and the stored rows.

use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef};

use super::live::Live;

/// How long a tenant created on one node may be unknown to another.
pub const EVERY: Duration = Duration::from_secs(2);

pub struct TenantWatch;

pub struct Tick;

pub struct State {
    live: Live,
    seen: Option<(i64, Option<chrono::DateTime<chrono::Utc>>)>,
    timer: Option<tokio::task::JoinHandle<()>>,
}

impl Actor for TenantWatch {
    type Msg = Tick;
    type State = State;
    type Arguments = Live;

    async fn pre_start(
        &self,
        _me: ActorRef<Tick>,
        live: Live,
    ) -> Result<State, ActorProcessingErr> {
        // What the start-up (or the admin API before the first tick) already put in force.
        let seen = crate::tenancy::fingerprint(&live.deps().store).await.ok();
        Ok(State {
            live,
            seen,
            timer: None,
        })
    }

    async fn post_start(
        &self,
        me: ActorRef<Tick>,
        state: &mut State,
    ) -> Result<(), ActorProcessingErr> {
        state.timer = Some(me.send_interval(EVERY, || Tick));
        Ok(())
    }

    async fn handle(
        &self,
        _me: ActorRef<Tick>,
        _msg: Tick,
        state: &mut State,
    ) -> Result<(), ActorProcessingErr> {
        let deps = state.live.deps();
        let now = match crate::tenancy::fingerprint(&deps.store).await {
            Ok(f) => f,
            // The next tick tries again; a database outage is reported by readiness.
            Err(e) => {
                tracing::debug!(error = %e, "reading the tenants' fingerprint failed");
                return Ok(());
            }
        };
        if state.seen == Some(now) {
            return Ok(());
        }
        state.seen = Some(now);
        super::config_watch::rebuild_tenants(&state.live, &deps).await;
        // Cached whoami answers may have been rendered under a changed tenant's configuration.
        deps.session_cache.clear();
        tracing::info!(
            tenants = state.live.tenants().len(),
            "tenants reloaded from the database"
        );
        Ok(())
    }

    async fn post_stop(
        &self,
        _me: ActorRef<Tick>,
        state: &mut State,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(t) = state.timer.take() {
            t.abort();
        }
        Ok(())
    }
}
