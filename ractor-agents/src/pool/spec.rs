//! [`PoolSpec`]: how a pool is built, and how it starts on its own.

use std::ops::RangeInclusive;
use std::sync::Arc;
use std::time::Duration;

use super::actor::spawn_pool;
use super::autoscale::AutoscalePolicy;
use super::core::PoolCore;
use super::handle::PoolRef;
use super::routing::Routing;
use super::worker::TaskHandler;
use crate::supervisor::{Backoff, StartError};

/// What a full pool does with one more job submitted with [`PoolRef::submit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Overflow {
    /// `submit` waits until a worker has room (the default).
    #[default]
    Backpressure,
    /// `submit` fails at once with [`SubmitError::Overloaded`](super::SubmitError::Overloaded),
    /// which hands the job back (load shedding).
    Reject,
}

/// How many workers a pool runs: a fixed number (`4`) or a range to autoscale in (`2..=16`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerRange {
    min: usize,
    max: usize,
}

impl From<usize> for WorkerRange {
    fn from(n: usize) -> Self {
        Self { min: n.max(1), max: n.max(1) }
    }
}

impl From<RangeInclusive<usize>> for WorkerRange {
    fn from(range: RangeInclusive<usize>) -> Self {
        let min = (*range.start()).max(1);
        Self { min, max: (*range.end()).max(min) }
    }
}

/// Settings the pool's handle, actor and workers all read.
#[derive(Debug, Clone)]
pub(crate) struct PoolConfig {
    pub(crate) routing: Routing,
    pub(crate) per_worker_limit: usize,
    pub(crate) overflow: Overflow,
    pub(crate) min: usize,
    pub(crate) max: usize,
    pub(crate) autoscale: AutoscalePolicy,
    pub(crate) drain_timeout: Duration,
    pub(crate) capabilities: Vec<Arc<str>>,
    pub(crate) intensity: (u32, Duration),
    pub(crate) backoff: Backoff,
    pub(crate) sample_period: Duration,
}

impl PoolConfig {
    pub(crate) fn autoscales(&self) -> bool {
        self.min < self.max
    }
}

pub(crate) type HandlerFactory<H> = Arc<dyn Fn() -> H + Send + Sync>;

/// The specification of a worker pool: its name, workers, routing, limits, autoscaling.
/// Start it on its own with [`PoolSpec::start`], or in a supervision tree with
/// [`ChildSpec::pool`](crate::supervisor::ChildSpec::pool).
///
/// ```
/// use ractor_agents::pool::{Overflow, PoolSpec, Routing, TaskHandler, TaskInput};
/// use ractor_agents::tasks::{Nack, Payload};
/// use std::time::Duration;
/// # #[derive(Default)] struct Resize;
/// # impl TaskHandler for Resize { async fn handle(&mut self, _: &TaskInput) -> Result<Payload, Nack> { Ok(Payload::default()) } }
/// let spec = PoolSpec::new("resizers", 2..=8, Resize::default)
///     .routing(Routing::PowerOfTwoChoices)
///     .per_worker_limit(16)
///     .overflow(Overflow::Reject)
///     .drain_timeout(Duration::from_secs(10))
///     .seed(7);
/// # let _ = spec;
/// ```
pub struct PoolSpec<H> {
    pub(crate) name: Arc<str>,
    pub(crate) factory: HandlerFactory<H>,
    pub(crate) config: PoolConfig,
    pub(crate) seed: u64,
}

impl<H> Clone for PoolSpec<H> {
    fn clone(&self) -> Self {
        Self { name: self.name.clone(), factory: self.factory.clone(), config: self.config.clone(), seed: self.seed }
    }
}

impl<H> std::fmt::Debug for PoolSpec<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolSpec").field("name", &self.name).field("config", &self.config).finish_non_exhaustive()
    }
}

/// Jobs a worker holds at most (queued and running) unless configured.
pub const DEFAULT_PER_WORKER_LIMIT: usize = 32;

/// How long a stopping pool lets in-flight jobs finish unless configured.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

impl<H: TaskHandler> PoolSpec<H> {
    /// A pool named `name` running `workers` workers (a number, or `min..=max` to autoscale),
    /// each with a handler built by `factory` (called again for every restart). At least one
    /// worker always runs.
    ///
    /// Defaults: [`Routing::LeastLoaded`], 32 jobs per worker, [`Overflow::Backpressure`], 5 s
    /// drain timeout, the default [`AutoscalePolicy`], restart intensity of
    /// `max(10, 2 × max workers)` restarts in 5 s, no restart backoff.
    pub fn new(
        name: impl Into<Arc<str>>,
        workers: impl Into<WorkerRange>,
        factory: impl Fn() -> H + Send + Sync + 'static,
    ) -> Self {
        let WorkerRange { min, max } = workers.into();
        let autoscale = AutoscalePolicy::default();
        let restarts = u32::try_from(max.saturating_mul(2)).unwrap_or(u32::MAX).max(10);
        Self {
            name: name.into(),
            factory: Arc::new(factory),
            config: PoolConfig {
                routing: Routing::default(),
                per_worker_limit: DEFAULT_PER_WORKER_LIMIT,
                overflow: Overflow::default(),
                min,
                max,
                sample_period: autoscale.sample_period(),
                autoscale,
                drain_timeout: DEFAULT_DRAIN_TIMEOUT,
                capabilities: Vec::new(),
                intensity: (restarts, Duration::from_secs(5)),
                backoff: Backoff::none(),
            },
            seed: rand::random(),
        }
    }

    /// The pool's name (its child id in a supervision tree, and the `pool` metric label).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How jobs are routed to workers.
    pub fn routing(mut self, routing: Routing) -> Self {
        self.config.routing = routing;
        self
    }

    /// At most this many jobs (queued and running) per worker (at least 1). The pool's
    /// capacity is this times its routable workers.
    pub fn per_worker_limit(mut self, limit: usize) -> Self {
        self.config.per_worker_limit = limit.max(1);
        self
    }

    /// What [`PoolRef::submit`] does when the pool is full.
    pub fn overflow(mut self, overflow: Overflow) -> Self {
        self.config.overflow = overflow;
        self
    }

    /// How the pool scales between its minimum and maximum (used only when they differ).
    pub fn autoscale(mut self, policy: AutoscalePolicy) -> Self {
        self.config.sample_period = policy.sample_period();
        self.config.autoscale = policy;
        self
    }

    /// How long a stopping pool (or a drained worker) lets in-flight jobs finish before it
    /// abandons them.
    pub fn drain_timeout(mut self, timeout: Duration) -> Self {
        self.config.drain_timeout = timeout;
        self
    }

    /// Capabilities every worker of this pool has (added to each handler's own).
    pub fn capabilities<I, S>(mut self, capabilities: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<Arc<str>>,
    {
        self.config.capabilities = capabilities.into_iter().map(Into::into).collect();
        self
    }

    /// Restart intensity of the workers' supervisor: more than `max_restarts` worker restarts
    /// within `period` and the pool fails (to its parent, if it has one).
    pub fn intensity(mut self, max_restarts: u32, period: Duration) -> Self {
        self.config.intensity = (max_restarts, period);
        self
    }

    /// Backoff before a crashed worker is restarted.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.config.backoff = backoff;
        self
    }

    /// Seeds the randomness of [`Routing::PowerOfTwoChoices`], so a run can be replayed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Builds the pool's shared state (its handle points at it from now on).
    pub(crate) fn into_core(self) -> (Arc<PoolCore>, HandlerFactory<H>) {
        let core = Arc::new(PoolCore::new(self.name, self.config, self.seed));
        (core, self.factory)
    }

    /// Starts the pool outside any supervision tree: its workers' supervisor, then its minimum
    /// number of workers. Returns once they run.
    pub async fn start(self) -> Result<PoolRef, StartError> {
        let (core, factory) = self.into_core();
        spawn_pool(core.clone(), factory, None)
            .await
            .map_err(|reason| StartError::SupervisorStartFailed { supervisor: core.name.clone(), reason })?;
        Ok(PoolRef { core })
    }
}
