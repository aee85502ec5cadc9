//! A pool as a child of a supervision tree: [`ChildSpec::pool`].

use std::any::Any;
use std::sync::Arc;

use ractor::ActorCell;

use super::actor::spawn_pool;
use super::core::PoolCore;
use super::handle::PoolRef;
use super::spec::{HandlerFactory, PoolSpec};
use super::worker::TaskHandler;
use crate::supervisor::{ChildKind, ChildRuntime, ChildSpec, Restart, Shutdown, StartError, StartFuture};

struct PoolChild<H> {
    core: Arc<PoolCore>,
    factory: HandlerFactory<H>,
}

impl<H: TaskHandler> ChildRuntime for PoolChild<H> {
    fn start(&self, supervisor: ActorCell) -> StartFuture {
        let (core, factory) = (self.core.clone(), self.factory.clone());
        Box::pin(async move {
            let child = core.name.clone();
            let actor = spawn_pool(core, factory, Some(supervisor))
                .await
                .map_err(|reason| StartError::ChildStartFailed { child, reason })?;
            Ok(actor.get_cell())
        })
    }

    /// The supervisor is about to stop the pool: stop taking jobs now; the pool's own stop
    /// lets in-flight jobs finish within its drain timeout.
    fn request_stop(&self) {
        self.core.close_intake();
    }

    fn close(&self) {
        self.core.close_intake();
    }

    fn handle(&self) -> Arc<dyn Any + Send + Sync> {
        Arc::new(PoolRef { core: self.core.clone() })
    }

    fn kind(&self) -> ChildKind {
        ChildKind::Pool
    }

    fn with_mailbox_capacity(&self, _capacity: usize) -> Option<Arc<dyn ChildRuntime>> {
        None
    }
}

impl ChildSpec {
    /// A worker pool child, named by its spec: permanent, and stopped with
    /// [`Shutdown::Infinity`] because the pool bounds its own stop by its drain timeout. Its
    /// handle comes from [`SupervisorRef::pool`](crate::supervisor::SupervisorRef::pool) or
    /// [`ChildSpec::pool_ref`]. If its workers' restarts exceed the pool's intensity, the pool
    /// fails and this supervisor restarts it (fresh workers) like any failed child.
    ///
    /// ```
    /// use ractor_agents::prelude::*;
    /// use ractor_agents::pool::{Job, JobOutcome, PoolSpec, TaskHandler, TaskInput};
    /// use ractor_agents::tasks::{Nack, Payload};
    /// # #[derive(Default)] struct Echo;
    /// # impl TaskHandler for Echo { async fn handle(&mut self, t: &TaskInput) -> Result<Payload, Nack> { Ok(t.payload.clone()) } }
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let root = Supervisor::new("root", Strategy::OneForOne)
    ///     .child(ChildSpec::pool(PoolSpec::new("echoes", 2, Echo::default)))
    ///     .start()
    ///     .await?;
    /// let pool = root.pool("echoes")?;
    /// let (job, receipt) = Job::with_receipt(TaskInput::new("echo", "hi"));
    /// pool.submit(job).await?;
    /// assert_eq!(receipt.await, JobOutcome::Succeeded("hi".into()));
    /// root.stop().await; // drains the pool, then stops it
    /// # Ok(()) }
    /// ```
    pub fn pool<H: TaskHandler>(spec: PoolSpec<H>) -> Self {
        let id = spec.name.clone();
        let (core, factory) = spec.into_core();
        Self {
            id,
            restart: Restart::Permanent,
            shutdown: Shutdown::Infinity,
            backoff: None,
            runtime: Arc::new(PoolChild { core, factory }),
        }
    }
}
