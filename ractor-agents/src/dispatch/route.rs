//! [`Route`]: where the coordinator sends the tasks of one capability, and [`PoolRoute`], the
//! route to a worker pool.

use std::sync::Arc;

use async_trait::async_trait;

use crate::pool::{PoolRef, StoreJobs};
use crate::tasks::{Lease, TaskStore};

/// A destination for leased tasks of one capability, usually a worker pool
/// ([`PoolRoute`], added with [`CoordinatorBuilder::pool`](super::CoordinatorBuilder::pool)).
///
/// The coordinator leases only as many tasks as [`free`](Route::free) says the route can take,
/// and waits on [`has_room`](Route::has_room) when it is full, so tasks stay in the (durable)
/// queue rather than piling up in memory.
#[async_trait]
pub trait Route: Send + Sync + 'static {
    /// The capability whose tasks this route takes.
    fn capability(&self) -> &str;

    /// How many more tasks it can take now.
    fn free(&self) -> usize;

    /// Resolves once [`free`](Route::free) is above zero (at once if it already is). Must not
    /// miss room made while it is being set up, or the coordinator would sleep with work to do.
    /// `Err` while the route is closed (a pool restarting); the coordinator retries shortly.
    async fn has_room(&self) -> Result<(), RouteClosed>;

    /// Takes over a leased task: from here the route acks or nacks it (or, by crashing, lets
    /// its lease expire). If it cannot take it, it gives the task back to the queue itself
    /// and returns [`Refused`].
    fn dispatch(&self, lease: Lease) -> Result<(), Refused>;
}

/// The route is closed for now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the route is closed")]
pub struct RouteClosed;

/// The route refused a task (and gave it back to the queue).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the route refused the task")]
pub struct Refused;

/// The route to a worker pool: each lease becomes a store-backed job whose outcome acks or
/// nacks the task, whose lease is kept alive while it runs, and which goes back to the queue
/// (attempt counted) if its worker crashes.
pub struct PoolRoute {
    capability: Arc<str>,
    pool: PoolRef,
    jobs: StoreJobs,
}

impl PoolRoute {
    /// Routes tasks requiring `capability` to `pool`, reporting to `store`. Call inside a tokio
    /// runtime (the lease keeper is a task).
    pub fn new(capability: impl Into<Arc<str>>, pool: PoolRef, store: Arc<dyn TaskStore>) -> Self {
        Self { capability: capability.into(), pool, jobs: StoreJobs::new(store) }
    }

    /// The pool.
    pub fn pool(&self) -> &PoolRef {
        &self.pool
    }

    /// The store-job adapter (ack/nack counts, lease keeper).
    pub fn jobs(&self) -> &StoreJobs {
        &self.jobs
    }
}

#[async_trait]
impl Route for PoolRoute {
    fn capability(&self) -> &str {
        &self.capability
    }

    fn free(&self) -> usize {
        self.pool.free_capacity()
    }

    async fn has_room(&self) -> Result<(), RouteClosed> {
        self.pool.wait_for_capacity().await.map(|_| ()).map_err(|_| RouteClosed)
    }

    fn dispatch(&self, lease: Lease) -> Result<(), Refused> {
        // A refused job is dropped here: its completion gives the task back to the queue.
        self.pool.try_submit(self.jobs.job(lease)).map_err(|_| Refused)
    }
}
