//! The root supervisor: starts the pools, then the listeners; escalates (the process exits
//! non-zero) when a child it cannot replace dies; stops listeners before pools on shutdown.

use std::time::Duration;

use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, SupervisionEvent};
use tokio::sync::{mpsc, oneshot};

use super::Handles;
use super::config_watch::{ConfigWatch, Watch};
use super::flows::{FlowManager, FlowSweeper};
use super::identity::IdentityPool;
use super::listener::{Listener, ListenerSpec};
use super::live::Live;
use super::session::SessionManager;

pub struct RootArgs {
    pub live: Live,
    /// The configuration files to watch, when there are any.
    pub watch: Option<Watch>,
    pub identity_workers: usize,
    /// Builds the listeners once the pools exist (they need the handles).
    pub listeners: Box<dyn FnOnce(Handles) -> Vec<ListenerSpec> + Send>,
    /// Receives the handles when start-up is complete.
    pub ready: oneshot::Sender<Handles>,
    /// Told why, when the supervisor gives up.
    pub escalate: mpsc::UnboundedSender<String>,
}

pub struct Root;

pub struct RootState {
    pools: Vec<ActorCell>,
    listeners: Vec<ActorCell>,
    /// Stopped on its own (it finishes its in-flight batch first).
    courier: Option<ActorCell>,
    /// The fire-and-forget web hook pump; stopped like the courier.
    webhooks: ActorCell,
    escalate: mpsc::UnboundedSender<String>,
    stopping: bool,
}

impl Actor for Root {
    type Msg = ();
    type State = RootState;
    type Arguments = RootArgs;

    async fn pre_start(
        &self,
        me: ActorRef<()>,
        args: RootArgs,
    ) -> Result<RootState, ActorProcessingErr> {
        let live = args.live;
        let (identities, identity_cell) =
            IdentityPool::spawn(live.clone(), args.identity_workers, me.get_cell()).await?;
        let flow_workers = args.identity_workers.max(8) * 2;
        let (login, login_cell) =
            FlowManager::spawn("login", live.clone(), flow_workers, me.get_cell()).await?;
        let (registration, registration_cell) =
            FlowManager::spawn("registration", live.clone(), flow_workers, me.get_cell()).await?;
        let (recovery, recovery_cell) =
            FlowManager::spawn("recovery", live.clone(), flow_workers, me.get_cell()).await?;
        let (verification, verification_cell) =
            FlowManager::spawn("verification", live.clone(), flow_workers, me.get_cell()).await?;
        let (settings, settings_cell) =
            FlowManager::spawn("settings", live.clone(), flow_workers, me.get_cell()).await?;
        let (sweeper, _) =
            Actor::spawn_linked(None, FlowSweeper, live.clone(), me.get_cell()).await?;
        // whoami is I/O-bound and the hottest path: twice the identity pool's workers.
        let (sessions, session_cell) =
            SessionManager::spawn(live.clone(), args.identity_workers * 2, me.get_cell()).await?;
        // Keeps the whoami cache honest across nodes; without it the cache stays off.
        let (watch, _) = Actor::spawn_linked(
            None,
            super::session_watch::SessionWatch,
            live.deps(),
            me.get_cell(),
        )
        .await?;
        // The courier runs only where asked (`serve --watch-courier`, `watch-courier: true`, or
        // `courier watch`); otherwise messages stay queued for a node that runs it, as in Kratos.
        let courier = if live.deps().config.watch_courier {
            Some(super::courier::spawn(live.clone(), me.get_cell()).await?)
        } else {
            None
        };
        let webhooks = super::webhooks::spawn(live.clone(), me.get_cell()).await?;
        let (tenant_watch, _) = Actor::spawn_linked(
            None,
            super::tenant_watch::TenantWatch,
            live.clone(),
            me.get_cell(),
        )
        .await?;
        let mut pools = Vec::new();
        if let Some(watch) = args.watch {
            let (w, _) =
                Actor::spawn_linked(None, ConfigWatch, (live.clone(), watch), me.get_cell())
                    .await?;
            pools.push(w.get_cell());
        }
        let handles = Handles {
            identities,
            login,
            registration,
            recovery,
            verification,
            settings,
            sessions,
            live,
            tenant: None,
        };
        let mut listeners = Vec::new();
        for spec in (args.listeners)(handles.clone()) {
            // Unnamed: ractor's registry is process-global and tests run several trees at once.
            let (l, _) = Actor::spawn_linked(None, Listener, spec, me.get_cell()).await?;
            listeners.push(l.get_cell());
        }
        let _ = args.ready.send(handles);
        pools.extend([
            identity_cell,
            login_cell,
            registration_cell,
            recovery_cell,
            verification_cell,
            settings_cell,
            session_cell,
            sweeper.get_cell(),
            watch.get_cell(),
            tenant_watch.get_cell(),
        ]);
        Ok(RootState {
            pools,
            listeners,
            courier,
            webhooks,
            escalate: args.escalate,
            stopping: false,
        })
    }

    async fn handle_supervisor_evt(
        &self,
        _me: ActorRef<()>,
        event: SupervisionEvent,
        state: &mut RootState,
    ) -> Result<(), ActorProcessingErr> {
        // Pools replace their own workers; a pool or listener that ends is beyond repair here.
        let (who, why) = match &event {
            SupervisionEvent::ActorFailed(cell, err) => (cell.get_name(), format!("failed: {err}")),
            SupervisionEvent::ActorTerminated(cell, _, reason) => (
                cell.get_name(),
                format!("terminated: {}", reason.clone().unwrap_or_default()),
            ),
            _ => return Ok(()),
        };
        if !state.stopping {
            let msg = format!("{} {why}", who.unwrap_or_else(|| "child".into()));
            tracing::error!(reason = %msg, "supervised actor ended; escalating");
            let _ = state.escalate.send(msg);
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _me: ActorRef<()>,
        state: &mut RootState,
    ) -> Result<(), ActorProcessingErr> {
        state.stopping = true;
        // Listeners first, so no new work arrives while the pools drain.
        for l in &state.listeners {
            let _ = l
                .stop_and_wait(Some("shutdown".into()), Some(Duration::from_secs(30)))
                .await;
        }
        if let Some(c) = &state.courier {
            let _ = c
                .stop_and_wait(
                    Some("shutdown".into()),
                    Some(crate::courier::dispatch::LEASE + Duration::from_secs(5)),
                )
                .await;
        }
        let _ = state
            .webhooks
            .stop_and_wait(
                Some("shutdown".into()),
                Some(crate::selfservice::hooks::deliveries::LEASE + Duration::from_secs(5)),
            )
            .await;
        for p in &state.pools {
            let _ = p
                .stop_and_wait(Some("shutdown".into()), Some(Duration::from_secs(10)))
                .await;
        }
        Ok(())
    }
}
