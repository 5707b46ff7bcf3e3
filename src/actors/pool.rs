//! Spawning a pool of workers: a ractor factory whose replaced workers are counted, shared by
//! every pool so they start, route and report alike.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ractor::factory::routing::Router;
use ractor::factory::{
    Factory, FactoryArguments, FactoryRef, JobKey, Worker, queues, worker_builder,
};
use ractor::{Actor, ActorCell, ActorProcessingErr, Message};

use crate::metrics::Metrics;

/// Spawns `workers` workers under `supervisor`, each built by `make`. Builds beyond the first
/// `workers` replace crashed workers and count in `actor_restarts_total{pool=name}`.
pub async fn spawn<W, R>(
    name: &'static str,
    metrics: Arc<Metrics>,
    workers: usize,
    router: R,
    make: impl Fn() -> (W, W::Arguments) + Send + Sync + 'static,
    supervisor: ActorCell,
) -> Result<(FactoryRef<W::Key, W::Message>, ActorCell), ActorProcessingErr>
where
    W: Worker,
    W::Key: JobKey,
    W::Message: Message,
    W::Arguments: Message,
    R: Router<W::Key, W::Message>,
{
    let built = AtomicUsize::new(0);
    let builder = worker_builder(move |_wid| {
        if built.fetch_add(1, Ordering::Relaxed) >= workers {
            metrics.actor_restarts.with_label_values(&[name]).inc();
        }
        make()
    });
    let args = FactoryArguments::builder()
        .worker_builder(Box::new(builder))
        .queue(queues::DefaultQueue::default())
        .router(router)
        .num_initial_workers(workers)
        .build();
    let def = Factory::<
        W::Key,
        W::Message,
        W::Arguments,
        W,
        R,
        queues::DefaultQueue<W::Key, W::Message>,
    >::default();
    let (factory, _) = Actor::spawn_linked(None, def, args, supervisor).await?;
    let cell = factory.get_cell();
    Ok((factory, cell))
}

/// Jobs a timer pump has handed to its pool and not yet finished (courier, web hook
/// deliveries): the pump skips a tick while any run, and waits for them when it stops.
#[derive(Clone, Default)]
pub struct InFlight(Arc<AtomicUsize>);

/// Held by one job; dropping it (done, failed, or lost with a dead pool) ends its count.
pub struct InFlightGuard(Arc<AtomicUsize>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl InFlight {
    pub fn enter(&self) -> InFlightGuard {
        self.0.fetch_add(1, Ordering::AcqRel);
        InFlightGuard(self.0.clone())
    }

    pub fn busy(&self) -> bool {
        self.0.load(Ordering::Acquire) > 0
    }

    /// On shutdown: lets the running jobs record their outcomes (at most `within`, after which
    /// their rows' leases lapse and another node reclaims them), then stops the pool.
    pub async fn drain(&self, within: std::time::Duration, pool: &ActorCell) {
        let deadline = tokio::time::Instant::now() + within;
        while self.busy() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let _ = pool
            .stop_and_wait(
                Some("shutdown".into()),
                Some(std::time::Duration::from_secs(5)),
            )
            .await;
    }
}
