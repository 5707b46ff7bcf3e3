//! Runtime wiring only: messages, workers, factories, supervisors, timers. No SQL, no hyper.

pub mod call;
pub mod config_watch;
pub mod courier;
pub mod flows;
pub mod identity;
pub mod lease;
pub mod listener;
pub mod live;
pub mod pool;
pub mod root;
pub mod session;
pub mod session_watch;
pub mod tenant_watch;
pub mod webhooks;

use std::sync::Arc;

use ractor::{Actor, ActorRef};
use tokio::sync::{mpsc, oneshot};

pub use call::CallError;
pub use identity::IdentityPool;
pub use listener::{ListenerSpec, StartServer};
pub use session::SessionManager;

use uuid::Uuid;

use crate::deps::Deps;
use crate::selfservice::flow::common::{self, Started};
use crate::selfservice::flow::request::FlowRequest;
use crate::selfservice::flow::{Flow, FlowKind, FlowType};

/// Typed clients of the running actors, handed to the HTTP layer.
#[derive(Clone)]
pub struct Handles {
    pub identities: IdentityPool,
    pub login: flows::FlowManager<flows::LoginMsg>,
    pub registration: flows::FlowManager<flows::RegistrationMsg>,
    pub recovery: flows::FlowManager<flows::RecoveryMsg>,
    pub verification: flows::FlowManager<flows::VerificationMsg>,
    pub settings: flows::FlowManager<flows::SettingsMsg>,
    /// The session manager pool (issue, whoami, revoke, extend).
    pub sessions: SessionManager,
    /// The configuration in force and what it built, per tenant.
    pub live: live::Live,
    /// The tenant these handles act for; `None`: the default network.
    tenant: Option<live::Tenant>,
}

impl Handles {
    /// The same pools, acting for `tenant`: every call carries it.
    pub fn scoped(&self, tenant: live::Tenant) -> Handles {
        Handles {
            identities: self.identities.scoped(tenant.clone()),
            login: self.login.scoped(tenant.clone()),
            registration: self.registration.scoped(tenant.clone()),
            recovery: self.recovery.scoped(tenant.clone()),
            verification: self.verification.scoped(tenant.clone()),
            settings: self.settings.scoped(tenant.clone()),
            sessions: self.sessions.scoped(tenant.clone()),
            live: self.live.clone(),
            tenant: Some(tenant),
        }
    }

    /// The generation of the tenant these handles act for; hold it for one request.
    pub fn current(&self) -> Arc<live::Generation> {
        self.tenant.clone().unwrap_or_else(|| self.live.current())
    }

    /// The dependencies of the tenant these handles act for; hold them for one request.
    pub fn deps(&self) -> Arc<Deps> {
        self.current().deps.clone()
    }

    /// Starts a flow of `kind` on its manager.
    pub async fn start_flow(
        &self,
        kind: FlowKind,
        t: FlowType,
        req: FlowRequest,
    ) -> flows::FlowResult<Started> {
        // Every start of every kind passes here: one rate limit check, before any work.
        if let Err(e) = common::admit_flow(&self.deps(), &req).await {
            return Ok(Err(e));
        }
        match kind {
            FlowKind::Login => self.login.start(t, req).await,
            FlowKind::Registration => self.registration.start(t, req).await,
            FlowKind::Recovery => self.recovery.start(t, req).await,
            FlowKind::Verification => self.verification.start(t, req).await,
            FlowKind::Settings => self.settings.start(t, req).await,
        }
    }

    /// Reads a flow of `kind` through its manager.
    pub async fn get_flow(
        &self,
        kind: FlowKind,
        id: Uuid,
        req: FlowRequest,
    ) -> flows::FlowResult<Flow> {
        match kind {
            FlowKind::Login => self.login.get(id, req).await,
            FlowKind::Registration => self.registration.get(id, req).await,
            FlowKind::Recovery => self.recovery.get(id, req).await,
            FlowKind::Verification => self.verification.get(id, req).await,
            FlowKind::Settings => self.settings.get(id, req).await,
        }
    }
}

/// A started supervision tree.
pub struct Runtime {
    pub root: ActorRef<()>,
    pub handles: Handles,
    root_task: tokio::task::JoinHandle<()>,
    /// Yields a reason when the tree gave up (a pool or listener died).
    escalations: Option<mpsc::UnboundedReceiver<String>>,
}

/// Starts the root supervisor with its pools and listeners; with `watch`, the configuration
/// files are watched and reloaded (`config_watch`). `live` holds the default network's
/// dependencies and the tenants' (`Live::load_tenants`).
pub async fn start(
    live: live::Live,
    watch: Option<config_watch::Watch>,
    listeners: Box<dyn FnOnce(Handles) -> Vec<ListenerSpec> + Send>,
) -> anyhow::Result<Runtime> {
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        * 2;
    let (ready_tx, ready_rx) = oneshot::channel();
    let (esc_tx, esc_rx) = mpsc::unbounded_channel();
    let args = root::RootArgs {
        live,
        watch,
        identity_workers: workers,
        listeners,
        ready: ready_tx,
        escalate: esc_tx,
    };
    let (root, root_task) = Actor::spawn(None, root::Root, args)
        .await
        .map_err(|e| anyhow::anyhow!("starting the supervision tree failed: {e}"))?;
    let handles = ready_rx
        .await
        .map_err(|_| anyhow::anyhow!("supervision tree did not start"))?;
    Ok(Runtime {
        root,
        handles,
        root_task,
        escalations: Some(esc_rx),
    })
}

impl Runtime {
    /// Takes the escalation channel (once); later calls get a channel that never yields.
    pub fn escalations_handle(&mut self) -> mpsc::UnboundedReceiver<String> {
        self.escalations
            .take()
            .unwrap_or_else(|| mpsc::unbounded_channel().1)
    }

    /// Stops listeners (draining in-flight requests), then pools.
    pub async fn shutdown(self) {
        self.root.stop(Some("shutdown".into()));
        let _ = self.root_task.await;
    }
}
