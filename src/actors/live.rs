//! The configuration in force. Actors and handlers read the current generation once per message
//! or request and work with that snapshot to the end, so a reload (`actors::config_watch`)
//! takes effect on the next message without restarting anything, and never half-way through one.

use std::sync::{Arc, PoisonError, RwLock};

use crate::deps::Deps;
use crate::selfservice::strategy::Registry;

/// One configuration's dependencies and the strategies it enables.
pub struct Generation {
    pub deps: Arc<Deps>,
    pub strategies: Arc<Registry>,
}

impl Generation {
    pub fn new(deps: Arc<Deps>) -> Generation {
        Generation {
            strategies: Arc::new(Registry::new(&deps.config)),
            deps,
        }
    }
}

/// A shared handle on the current generation.
#[derive(Clone)]
pub struct Live(Arc<RwLock<Arc<Generation>>>);

impl Live {
    pub fn new(deps: Arc<Deps>) -> Live {
        Live(Arc::new(RwLock::new(Arc::new(Generation::new(deps)))))
    }

    pub fn current(&self) -> Arc<Generation> {
        // The lock only guards an `Arc` swap, which cannot leave it inconsistent.
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn deps(&self) -> Arc<Deps> {
        self.current().deps.clone()
    }

    /// Puts `deps` in force for every later message.
    pub fn replace(&self, deps: Arc<Deps>) {
        let next = Arc::new(Generation::new(deps));
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = next;
    }
}
