//! [`Route`]: where the coordinator sends the tasks of one capability.

use std::sync::Arc;

use async_trait::async_trait;

use crate::tasks::{Lease, TaskStore};

/// A destination for leased tasks of one capability, usually a
/// [`WorkerPool`](crate::pool::WorkerPool).
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
    async fn has_room(&self);

    /// Takes over a leased task. From here the route must ack, nack or (by crashing) let the
    /// lease expire; it gets the store to report to. On refusal it hands the lease back.
    fn dispatch(&self, lease: Lease, store: &Arc<dyn TaskStore>) -> Result<(), Lease>;
}
