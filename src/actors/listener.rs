//! A listener actor owns one accept loop. The loop itself is built by the HTTP layer and handed
//! in as a closure, so this module stays free of hyper types.

use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Starts an accept loop that runs until the receiver turns `true`, then drains.
pub type StartServer = Box<dyn FnOnce(watch::Receiver<bool>) -> JoinHandle<()> + Send>;

pub struct ListenerSpec {
    pub name: String,
    pub start: StartServer,
    /// How long in-flight requests may take to finish after shutdown starts.
    pub grace: Duration,
}

pub struct Listener;

pub struct ListenerState {
    /// Flipped to `true` in `post_stop` to stop accepting and start draining.
    shutdown: watch::Sender<bool>,
    /// The accept loop; awaited (bounded by `grace`) in `post_stop`.
    task: Option<JoinHandle<()>>,
    grace: Duration,
    name: String,
}

impl Actor for Listener {
    type Msg = ();
    type State = ListenerState;
    type Arguments = ListenerSpec;

    async fn pre_start(
        &self,
        _me: ActorRef<()>,
        spec: ListenerSpec,
    ) -> Result<ListenerState, ActorProcessingErr> {
        let (tx, rx) = watch::channel(false);
        let task = (spec.start)(rx);
        Ok(ListenerState {
            shutdown: tx,
            task: Some(task),
            grace: spec.grace,
            name: spec.name,
        })
    }

    async fn post_stop(
        &self,
        _me: ActorRef<()>,
        state: &mut ListenerState,
    ) -> Result<(), ActorProcessingErr> {
        let _ = state.shutdown.send(true);
        if let Some(task) = state.task.take() {
            // The loop drains within its own bound; this is the backstop.
            if tokio::time::timeout(state.grace + Duration::from_secs(1), task)
                .await
                .is_err()
            {
                tracing::warn!(listener = %state.name, "listener did not drain in time");
            }
        }
        Ok(())
    }
}
