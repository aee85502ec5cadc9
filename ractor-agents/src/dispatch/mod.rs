//! The [`Coordinator`]: submit tasks, follow them, get their results; it routes them from the
//! queue to the pools that serve their capability.
//!
//! (DotNetAgents calls this the "supervisor agent"; here it is the coordinator, so it does not
//! clash with OTP supervisors, which it runs under.)
//!
//! Producers [`submit`](Coordinator::submit) tasks into a [`TaskStore`]; for every
//! [`Route`] (a worker pool serving one capability) a dispatcher agent leases as many tasks as
//! the route has room for and hands them over, then sleeps until the store says new work
//! arrived or the route has room again — no polling loop. With no worker free a task simply
//! waits in the queue. A timekeeper agent runs lease expiries, retry times and deadlines when
//! they fall due. Both are agents under the coordinator's own supervisor, so they are restarted
//! if they fail and stop with the tree.
//!
//! ```
//! use ractor_agents::dispatch::Coordinator;
//! use ractor_agents::pool::{PoolSpec, TaskHandler, TaskInput};
//! use ractor_agents::tasks::{MemoryStore, Nack, Payload, Task};
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! struct Upper;
//! impl TaskHandler for Upper {
//!     async fn handle(&mut self, task: &TaskInput) -> Result<Payload, Nack> {
//!         let text: String = task.payload.decode().map_err(|e| Nack::permanent(e.to_string()))?;
//!         Ok(Payload::json(&text.to_uppercase()).map_err(|e| Nack::permanent(e.to_string()))?)
//!     }
//! }
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store = Arc::new(MemoryStore::new());
//! let pool = PoolSpec::new("upper", 2, || Upper).start().await?;
//! let coordinator = Coordinator::builder(store).pool("upper", pool.clone()).start().await?;
//!
//! let id = coordinator.submit(Task::json("upper", "hello")?).await?;
//! let result = coordinator.result(id).timeout(Duration::from_secs(5)).await?;
//! assert_eq!(result.decode::<String>()?, "HELLO");
//! coordinator.stop().await;
//! pool.drain(Duration::from_secs(1)).await;
//! # Ok(()) }
//! ```

mod dispatcher;
mod error;
mod route;
mod stats;

use std::future::IntoFuture;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

pub use error::DispatchError;
pub use route::{PoolRoute, Refused, Route, RouteClosed};
pub use stats::{CoordinatorStats, RouteStats};

use dispatcher::{DispatchConfig, Dispatcher, Timekeeper};
use stats::RouteCounters;

use crate::pool::PoolRef;
use crate::supervisor::{ChildSpec, Shutdown, Strategy, Supervisor, SupervisorRef};
use crate::tasks::{Enqueued, Payload, Task, TaskId, TaskRecord, TaskStatus, TaskStore};

/// Builds a [`Coordinator`].
pub struct CoordinatorBuilder {
    name: Arc<str>,
    store: Arc<dyn TaskStore>,
    routes: Vec<Arc<dyn Route>>,
    lease_for: Duration,
    batch: usize,
    accept_unrouted: bool,
}

impl CoordinatorBuilder {
    /// The name of the coordinator's supervisor (default `coordinator`).
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.name = name.into();
        self
    }

    /// Routes tasks requiring `capability` to a worker pool (as a [`PoolRoute`]). Call inside a
    /// tokio runtime.
    pub fn pool(self, capability: impl Into<Arc<str>>, pool: PoolRef) -> Self {
        let route = PoolRoute::new(capability, pool, self.store.clone());
        self.route(route)
    }

    /// Adds a route of your own. One route per capability.
    pub fn route(mut self, route: impl Route) -> Self {
        self.routes.push(Arc::new(route));
        self
    }

    /// Adds a shared route.
    pub fn route_arc(mut self, route: Arc<dyn Route>) -> Self {
        self.routes.push(route);
        self
    }

    /// How long each lease lasts (default 30 s). Routes keep leases of running tasks alive; a
    /// crashed node's tasks come back after at most this long.
    pub fn lease_for(mut self, d: Duration) -> Self {
        self.lease_for = d;
        self
    }

    /// Most tasks leased in one call (default 64).
    pub fn batch(mut self, n: usize) -> Self {
        self.batch = n.max(1);
        self
    }

    /// Accept tasks for capabilities no route serves (another node may serve them). Off by
    /// default: such a submit is refused with [`DispatchError::NoRoute`].
    pub fn accept_unrouted(mut self, accept: bool) -> Self {
        self.accept_unrouted = accept;
        self
    }

    /// The coordinator and its supervisor, not started: put the supervisor in your tree with
    /// [`ChildSpec::supervisor`].
    pub fn build(self) -> Result<(Coordinator, Supervisor), DispatchError> {
        let mut seen = std::collections::HashSet::new();
        for route in &self.routes {
            if !seen.insert(route.capability().to_owned()) {
                return Err(DispatchError::Start(format!(
                    "two routes serve capability `{}`; put their workers in one pool",
                    route.capability()
                )));
            }
        }
        let config = DispatchConfig {
            store: self.store.clone(),
            lease_for: self.lease_for,
            batch: self.batch,
            name: self.name.clone(),
        };
        let counters: Vec<Arc<RouteCounters>> = self.routes.iter().map(|_| Arc::default()).collect();
        let store = self.store.clone();
        let mut supervisor = Supervisor::new(self.name.clone(), Strategy::OneForOne)
            .intensity(10, Duration::from_secs(10))
            .child(ChildSpec::agent("timekeeper", move || Timekeeper::new(store.clone())).shutdown(Shutdown::Brutal));
        for (route, counters) in self.routes.iter().zip(&counters) {
            let (config, route, counters) = (config.clone(), route.clone(), counters.clone());
            let id = format!("dispatch-{}", route.capability());
            supervisor = supervisor.child(
                ChildSpec::agent(id, move || Dispatcher::new(config.clone(), route.clone(), counters.clone()))
                    .shutdown(Shutdown::Brutal),
            );
        }
        let handle = supervisor.handle();
        let inner = Inner {
            store: self.store,
            routes: self.routes,
            counters,
            accept_unrouted: self.accept_unrouted,
            supervisor: handle,
        };
        Ok((Coordinator { inner: Arc::new(inner) }, supervisor))
    }

    /// Builds and starts the coordinator as its own root supervisor.
    pub async fn start(self) -> Result<Coordinator, DispatchError> {
        let (coordinator, supervisor) = self.build()?;
        supervisor.start().await.map_err(|e| DispatchError::Start(e.to_string()))?;
        Ok(coordinator)
    }
}

struct Inner {
    store: Arc<dyn TaskStore>,
    routes: Vec<Arc<dyn Route>>,
    counters: Vec<Arc<RouteCounters>>,
    accept_unrouted: bool,
    supervisor: SupervisorRef,
}

/// Routes tasks from a queue to pools; the handle producers use. Cheap to clone.
#[derive(Clone)]
pub struct Coordinator {
    inner: Arc<Inner>,
}

impl Coordinator {
    /// Starts building a coordinator over `store`.
    pub fn builder(store: Arc<dyn TaskStore>) -> CoordinatorBuilder {
        CoordinatorBuilder {
            name: Arc::from("coordinator"),
            store,
            routes: Vec::new(),
            lease_for: Duration::from_secs(30),
            batch: 64,
            accept_unrouted: false,
        }
    }

    fn check_route(&self, task: &Task) -> Result<(), DispatchError> {
        let capability = task.capability_name();
        if self.inner.accept_unrouted || self.inner.routes.iter().any(|r| r.capability() == capability) {
            Ok(())
        } else {
            Err(DispatchError::NoRoute { capability: capability.to_owned() })
        }
    }

    /// Enqueues a task; returns its id (the earlier task's, if its idempotency key was seen).
    pub async fn submit(&self, task: Task) -> Result<TaskId, DispatchError> {
        self.check_route(&task)?;
        Ok(self.inner.store.enqueue(task).await?.id)
    }

    /// Enqueues several tasks at once (all or none).
    pub async fn submit_batch(&self, tasks: Vec<Task>) -> Result<Vec<Enqueued>, DispatchError> {
        for task in &tasks {
            self.check_route(task)?;
        }
        Ok(self.inner.store.enqueue_batch(tasks).await?)
    }

    /// The task's status.
    pub async fn status(&self, id: TaskId) -> Result<TaskStatus, DispatchError> {
        Ok(self.task(id).await?.status)
    }

    /// The task's full record.
    pub async fn task(&self, id: TaskId) -> Result<TaskRecord, DispatchError> {
        self.inner.store.get(id).await?.ok_or(DispatchError::Queue(crate::tasks::QueueError::NotFound(id)))
    }

    /// The task's result: `.await` it (waits up to 30 s), or set `.timeout(..)` first.
    pub fn result(&self, id: TaskId) -> ResultWait {
        ResultWait { store: self.inner.store.clone(), id, timeout: Duration::from_secs(30) }
    }

    /// Cancels an unfinished task.
    pub async fn cancel(&self, id: TaskId) -> Result<TaskRecord, DispatchError> {
        Ok(self.inner.store.cancel(id).await?)
    }

    /// Queue counts and per-route figures.
    pub async fn stats(&self) -> Result<CoordinatorStats, DispatchError> {
        let queue = self.inner.store.counts().await?;
        let routes = self
            .inner
            .routes
            .iter()
            .zip(&self.inner.counters)
            .map(|(route, c)| RouteStats {
                capability: route.capability().to_owned(),
                dispatched: c.dispatched.load(Ordering::Relaxed),
                refused: c.refused.load(Ordering::Relaxed),
                free: route.free(),
            })
            .collect();
        Ok(CoordinatorStats { queue, routes })
    }

    /// The store it submits to.
    pub fn store(&self) -> &Arc<dyn TaskStore> {
        &self.inner.store
    }

    /// Its supervisor (the dispatcher and timekeeper agents).
    pub fn supervisor(&self) -> &SupervisorRef {
        &self.inner.supervisor
    }

    /// Stops dispatching (tasks already handed to routes carry on; the queue keeps the rest).
    pub async fn stop(&self) {
        self.inner.supervisor.stop().await;
    }
}

/// A pending result: `.await` it, optionally after [`timeout`](ResultWait::timeout).
pub struct ResultWait {
    store: Arc<dyn TaskStore>,
    id: TaskId,
    timeout: Duration,
}

impl ResultWait {
    /// Waits at most `d` (then fails with a `WaitTimeout` queue error that names the status).
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self
    }
}

impl IntoFuture for ResultWait {
    type Output = Result<Payload, DispatchError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let rec = self.store.wait(self.id, self.timeout).await?;
            match (rec.status, rec.result) {
                (TaskStatus::Succeeded, Some(result)) => Ok(result),
                (TaskStatus::Succeeded, None) => Ok(Payload::default()),
                (status, _) => Err(DispatchError::TaskFailed { id: rec.id, status, failure: rec.failure }),
            }
        })
    }
}
