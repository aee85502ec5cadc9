//! [`StoreJobs`]: jobs built from leases of a [`TaskStore`], which report back to it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

use super::input::TaskInput;
use super::job::{Job, JobCompletion, JobOutcome};
use super::lease_keeper::KeeperShared;
use crate::tasks::{Lease, LeaseToken, Nack, QueueError, TaskId, TaskStore};
use crate::telemetry::metrics::pool_names as names;

/// Turns leases of a [`TaskStore`] into pool [`Job`]s that report their outcome to the store:
///
/// | job outcome | store call |
/// |---|---|
/// | `Succeeded(result)` | `ack(result)` |
/// | `Failed(nack)` | `nack(nack)` |
/// | `Abandoned(reason)` after its handler started (worker crashed or killed, pool stopped, drain timed out) | `nack(Nack::crashed(reason))`: back to Pending, attempt counted |
/// | `Abandoned(reason)` before its handler started (refused, dropped, pool stopped with it queued) | `release`: back to Pending at once, attempt not counted |
///
/// While the pool holds a job (queued or running) its lease is kept alive: extended by its
/// original duration whenever half of it is left. A report or extension that finds the lease
/// lost (it expired and the task went to another worker, or it was cancelled) is logged and
/// counted, never a panic. Reports run as tasks on the runtime `new` was called on, so a job
/// can complete from a `Drop`.
///
/// ```
/// use std::sync::Arc;
/// use ractor_agents::pool::{PoolSpec, StoreJobs, TaskHandler, TaskInput};
/// use ractor_agents::tasks::{LeaseRequest, MemoryStore, Nack, Payload, Task, TaskStatus, TaskStore};
/// # struct Echo;
/// # impl TaskHandler for Echo { async fn handle(&mut self, t: &TaskInput) -> Result<Payload, Nack> { Ok(t.payload.clone()) } }
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = Arc::new(MemoryStore::new());
/// let id = store.enqueue(Task::new("echo", "hi")).await?.id;
/// let pool = PoolSpec::new("echo", 1, || Echo).start().await?;
/// let jobs = StoreJobs::new(store.clone());
/// for lease in store.lease(LeaseRequest::new("echo").max(pool.free_capacity())).await? {
///     pool.submit(jobs.job(lease)).await?;
/// }
/// assert_eq!(store.wait(id, std::time::Duration::from_secs(5)).await?.status, TaskStatus::Succeeded);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct StoreJobs {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for StoreJobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreJobs").field("stats", &self.stats()).finish()
    }
}

struct Inner {
    store: Arc<dyn TaskStore>,
    keeper: Arc<KeeperShared>,
    runtime: tokio::runtime::Handle,
    report_start: AtomicBool,
    acked: AtomicU64,
    nacked: AtomicU64,
    released: AtomicU64,
    lease_lost: AtomicU64,
    report_errors: AtomicU64,
    /// Reports spawned and not finished, and the wake-up for [`StoreJobs::settled`].
    reporting: AtomicUsize,
    settled: Notify,
}

/// Counters of a [`StoreJobs`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreJobStats {
    /// Acks the store accepted.
    pub acked: u64,
    /// Nacks the store accepted (failures, and jobs abandoned after their handler started).
    pub nacked: u64,
    /// Releases the store accepted (jobs abandoned before their handler started).
    pub released: u64,
    /// Reports and extensions that found the lease lost.
    pub lease_lost: u64,
    /// Reports and extensions that failed otherwise (the lease then runs out by itself).
    pub report_errors: u64,
    /// Lease extensions the store accepted.
    pub extended: u64,
    /// Leases being kept alive now (jobs held by pools).
    pub kept: usize,
}

impl StoreJobs {
    /// Jobs reporting to `store`. Starts the lease keeper on the current tokio runtime.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime (like `tokio::spawn`).
    pub fn new(store: Arc<dyn TaskStore>) -> Self {
        let runtime = tokio::runtime::Handle::current();
        let keeper = KeeperShared::start(store.clone(), &runtime);
        Self {
            inner: Arc::new(Inner {
                store,
                keeper,
                runtime,
                report_start: AtomicBool::new(false),
                acked: AtomicU64::new(0),
                nacked: AtomicU64::new(0),
                released: AtomicU64::new(0),
                lease_lost: AtomicU64::new(0),
                report_errors: AtomicU64::new(0),
                reporting: AtomicUsize::new(0),
                settled: Notify::new(),
            }),
        }
    }

    /// How often the lease keeper checks at most (default 1 s; at least 1 ms). Leases shorter
    /// than about twice this may run out before they are extended.
    pub fn renew_check(self, every: Duration) -> Self {
        self.inner.keeper.set_check_every(every);
        self
    }

    /// Also report when a job's handler starts (`TaskStore::start`: the task shows Running).
    /// Off by default: it is one more store write per task (an fsync for a durable store).
    pub fn report_start(self, on: bool) -> Self {
        self.inner.report_start.store(on, Ordering::Relaxed);
        self
    }

    /// The job for `lease`: its input is the leased task, its outcome goes back to the store.
    pub fn job(&self, lease: Lease) -> Job {
        let Lease { task, token, expires_at } = lease;
        let duration = task.lease.as_ref().map_or(Duration::from_secs(30), |l| expires_at.since(l.leased_at));
        let (id, capability) = (task.id, task.capability.clone());
        self.inner.keeper.keep(id, token, expires_at, duration, capability.clone());
        let completion = StoreCompletion { inner: self.inner.clone(), id, token, capability, started: false };
        Job::new(TaskInput::from_record(task), completion)
    }

    /// The counters.
    pub fn stats(&self) -> StoreJobStats {
        let i = &self.inner;
        let keeper = &i.keeper;
        StoreJobStats {
            acked: i.acked.load(Ordering::Relaxed),
            nacked: i.nacked.load(Ordering::Relaxed),
            released: i.released.load(Ordering::Relaxed),
            lease_lost: i.lease_lost.load(Ordering::Relaxed) + keeper.lost.load(Ordering::Relaxed),
            report_errors: i.report_errors.load(Ordering::Relaxed) + keeper.errors.load(Ordering::Relaxed),
            extended: keeper.extended.load(Ordering::Relaxed),
            kept: keeper.kept(),
        }
    }

    /// Waits until every report begun so far has reached the store (after draining a pool,
    /// before shutting the runtime down).
    pub async fn settled(&self) {
        loop {
            let notified = self.inner.settled.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.inner.reporting.load(Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }
}

struct StoreCompletion {
    inner: Arc<Inner>,
    id: TaskId,
    token: LeaseToken,
    capability: Arc<str>,
    /// Whether the handler began: an attempt that never ran is released, not counted.
    started: bool,
}

impl JobCompletion for StoreCompletion {
    fn started(&mut self) {
        self.started = true;
        if !self.inner.report_start.load(Ordering::Relaxed) {
            return;
        }
        let (store, id, token) = (self.inner.store.clone(), self.id, self.token);
        self.inner.runtime.spawn(async move {
            if let Err(err) = store.start(id, token).await {
                tracing::debug!(task = %id, error = %err, "could not mark the task running");
            }
        });
    }

    fn complete(self, outcome: JobOutcome) {
        let StoreCompletion { inner, id, token, capability, started } = self;
        inner.keeper.release(id, token);
        inner.reporting.fetch_add(1, Ordering::SeqCst);
        let runtime = inner.runtime.clone();
        runtime.spawn(report(inner, id, token, capability, outcome, started));
    }
}

async fn report(
    inner: Arc<Inner>,
    id: TaskId,
    token: LeaseToken,
    capability: Arc<str>,
    outcome: JobOutcome,
    started: bool,
) {
    let store = &inner.store;
    let (operation, result) = match outcome {
        JobOutcome::Abandoned(_) if !started => ("release", store.release(id, token).await),
        JobOutcome::Succeeded(result) => ("ack", store.ack(id, token, result).await),
        JobOutcome::Failed(nack) => ("nack", store.nack(id, token, nack).await.map(drop)),
        JobOutcome::Abandoned(reason) => {
            ("nack", store.nack(id, token, Nack::crashed(reason.to_string())).await.map(drop))
        }
    };
    match result {
        Ok(()) if operation == "ack" => {
            inner.acked.fetch_add(1, Ordering::Relaxed);
        }
        Ok(()) if operation == "release" => {
            inner.released.fetch_add(1, Ordering::Relaxed);
        }
        Ok(()) => {
            inner.nacked.fetch_add(1, Ordering::Relaxed);
        }
        Err(QueueError::LeaseLost { status, .. }) => {
            inner.lease_lost.fetch_add(1, Ordering::Relaxed);
            metrics::counter!(names::POOL_LEASE_LOST, "capability" => capability.to_string(), "operation" => operation)
                .increment(1);
            tracing::warn!(task = %id, %status, operation, "lease lost before the report: the task was handed out again or cancelled; this attempt's outcome is dropped");
        }
        Err(err) => {
            inner.report_errors.fetch_add(1, Ordering::Relaxed);
            metrics::counter!(names::POOL_STORE_REPORT_ERRORS, "capability" => capability.to_string(), "operation" => operation)
                .increment(1);
            tracing::error!(task = %id, error = %err, operation, "could not report to the task store; the lease will run out and the task be retried");
        }
    }
    if inner.reporting.fetch_sub(1, Ordering::SeqCst) == 1 {
        inner.settled.notify_waiters();
    }
}
