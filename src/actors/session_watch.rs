//! The session watcher: a supervised actor that owns the database change feed
//! (`store::changes`) and turns what it reports into whoami-cache invalidations. While it has
//! no working feed the cache is offline (every whoami reads the database), so a lost
//! connection costs speed, never correctness.

use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use uuid::Uuid;

use crate::deps::Deps;
use crate::store::changes::ChangeFeed;

pub struct SessionWatch;

pub enum WatchMsg {
    /// Take the next batch from the feed (or reopen it); re-sent after every batch.
    Next,
}

pub struct WatchState {
    deps: Arc<Deps>,
    feed: Option<ChangeFeed>,
    /// Consecutive failures to open the feed, for back-off and quieter logs.
    failures: u32,
}

impl Actor for SessionWatch {
    type Msg = WatchMsg;
    type State = WatchState;
    type Arguments = Arc<Deps>;

    async fn pre_start(
        &self,
        _me: ActorRef<WatchMsg>,
        deps: Arc<Deps>,
    ) -> Result<WatchState, ActorProcessingErr> {
        Ok(WatchState {
            deps,
            feed: None,
            failures: 0,
        })
    }

    async fn post_start(
        &self,
        me: ActorRef<WatchMsg>,
        _state: &mut WatchState,
    ) -> Result<(), ActorProcessingErr> {
        me.send_message(WatchMsg::Next)?;
        Ok(())
    }

    async fn handle(
        &self,
        me: ActorRef<WatchMsg>,
        _msg: WatchMsg,
        state: &mut WatchState,
    ) -> Result<(), ActorProcessingErr> {
        let cache = &state.deps.session_cache;
        match &mut state.feed {
            None => match ChangeFeed::open(&state.deps.store).await {
                Ok(feed) => {
                    if state.failures > 0 {
                        tracing::info!("session change feed reopened; whoami cache back on");
                    }
                    state.failures = 0;
                    state.feed = Some(feed);
                    // Empties the cache: what changed while offline is forgotten with it.
                    cache.set_online(true);
                }
                Err(e) => {
                    if state.failures == 0 {
                        tracing::warn!(error = %e, "cannot open the session change feed; whoami cache off until it opens");
                    }
                    state.failures = state.failures.saturating_add(1);
                    let wait = Duration::from_millis(100 * u64::from(state.failures.min(10)));
                    tokio::time::sleep(wait).await;
                }
            },
            Some(feed) => match feed.next().await {
                Ok(ids) => {
                    for id in ids {
                        match Uuid::parse_str(&id) {
                            Ok(id) => cache.invalidate_identity(id),
                            // Not ours to interpret: drop everything rather than guess.
                            Err(_) => cache.clear(),
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "session change feed failed; whoami cache off until it reopens");
                    cache.set_online(false);
                    state.feed = None;
                    state.failures = 1;
                }
            },
        }
        // Fails only while stopping.
        let _ = me.send_message(WatchMsg::Next);
        Ok(())
    }

    async fn post_stop(
        &self,
        _me: ActorRef<WatchMsg>,
        state: &mut WatchState,
    ) -> Result<(), ActorProcessingErr> {
        state.deps.session_cache.set_online(false);
        Ok(())
    }
}
