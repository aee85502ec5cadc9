//! [`PoolRef`]: the handle producers and coordinators use.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::core::{Intake, NoPlace, PoolCore};
use super::error::{PoolClosed, SubmitError};
use super::job::{AbandonReason, Job};
use super::routing::NoRoute;
use super::spec::Overflow;
use super::stats::PoolStats;

/// A handle to a worker pool. Cheap to clone; stays valid across restarts of the pool (in a
/// supervision tree), like an `AgentRef`.
#[derive(Clone)]
pub struct PoolRef {
    pub(crate) core: Arc<PoolCore>,
}

impl fmt::Debug for PoolRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolRef").field("name", &self.core.name).finish()
    }
}

/// What a drain did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrainReport {
    /// Every in-flight job ended before the timeout.
    pub finished_in_time: bool,
    /// Jobs that ended normally (succeeded or failed) during the drain.
    pub completed: u64,
    /// Jobs abandoned during the drain (left over at the timeout, or crashed).
    pub abandoned: u64,
}

/// Decrements a waiter count when the waiting future ends, however it ends.
struct Waiting<'a>(&'a std::sync::atomic::AtomicUsize);

impl<'a> Waiting<'a> {
    fn enter(count: &'a std::sync::atomic::AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Self(count)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl PoolRef {
    /// The pool's name.
    pub fn name(&self) -> &str {
        &self.core.name
    }

    /// `true` while the pool takes jobs.
    pub fn is_open(&self) -> bool {
        self.core.intake() == Intake::Open
    }

    /// Submits without waiting: the job goes to a worker now, or comes back in the error
    /// ([`SubmitError::Overloaded`] when full — load shedding).
    pub fn try_submit(&self, job: Job) -> Result<(), SubmitError> {
        self.core.place(job).map_err(|(why, job)| self.rejected(why, job))
    }

    /// Submits by the pool's [`Overflow`] policy: with `Backpressure` (the default) waits until
    /// a worker has room; with `Reject` behaves like [`PoolRef::try_submit`]. Fails at once if
    /// the pool is closed or (capability routing) no worker could ever take the job.
    pub async fn submit(&self, job: Job) -> Result<(), SubmitError> {
        match self.core.config.overflow {
            Overflow::Reject => self.try_submit(job),
            Overflow::Backpressure => self.submit_waiting(job).await,
        }
    }

    /// Submits, waiting for room whatever the pool's policy (backpressure).
    pub async fn submit_waiting(&self, job: Job) -> Result<(), SubmitError> {
        // The fast path registers nothing: a waiter count would cost every submit.
        let mut job = match self.core.place(job) {
            Ok(()) => return Ok(()),
            Err((NoPlace::Route(NoRoute::Full), back)) => back,
            Err((why, back)) => return Err(self.rejected(why, back)),
        };
        let signals = &self.core.signals;
        let _waiting = Waiting::enter(&signals.capacity_waiters);
        loop {
            let notified = signals.capacity.notified();
            tokio::pin!(notified);
            // Registered before the retry, so room made between the retry and the wait wakes us.
            notified.as_mut().enable();
            match self.core.place(job) {
                Ok(()) => return Ok(()),
                Err((NoPlace::Route(NoRoute::Full), back)) => job = back,
                Err((why, back)) => return Err(self.rejected(why, back)),
            }
            notified.await;
        }
    }

    fn rejected(&self, why: NoPlace, job: Job) -> SubmitError {
        let core = &self.core;
        core.rejected.fetch_add(1, Ordering::Relaxed);
        let metrics = &core.signals.metrics;
        let pool = core.name.clone();
        match why {
            NoPlace::Route(NoRoute::Full) => {
                metrics.rejected_overloaded.increment(1);
                let capacity = core.roster().routable.iter().map(|s| s.limit()).sum();
                SubmitError::Overloaded { pool, capacity, job }
            }
            NoPlace::Route(NoRoute::NoCapableWorker) => {
                metrics.rejected_no_capable_worker.increment(1);
                let capability = job.input().capability.clone();
                SubmitError::NoCapableWorker { pool, capability, job }
            }
            NoPlace::Closed => {
                metrics.rejected_closed.increment(1);
                SubmitError::Closed { pool, job }
            }
        }
    }

    /// How many more jobs the pool takes now (the sum of free room over routable workers).
    /// A coordinator leases this many tasks, then submits them.
    pub fn free_capacity(&self) -> usize {
        if self.is_open() { self.core.free_capacity() } else { 0 }
    }

    /// Waits without polling until the pool has room, and returns how much. When the pool was
    /// full it wakes once a worker is down to half its limit, so a coordinator leases in
    /// batches rather than one task per wake-up.
    pub async fn wait_for_capacity(&self) -> Result<usize, PoolClosed> {
        let signals = &self.core.signals;
        let _waiting = Waiting::enter(&signals.capacity_waiters);
        loop {
            let notified = signals.capacity.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if !self.is_open() {
                return Err(PoolClosed { pool: self.core.name.clone() });
            }
            let free = self.core.free_capacity();
            if free > 0 {
                return Ok(free);
            }
            notified.await;
        }
    }

    /// Reports the depth of the queue feeding this pool (for example the task store's pending
    /// count); the autoscaler reads it when its policy sets `backlog_per_worker`.
    pub fn set_backlog(&self, jobs: u64) {
        self.core.backlog.store(jobs, Ordering::Relaxed);
    }

    /// A snapshot of workers, counts and latencies.
    pub fn stats(&self) -> PoolStats {
        self.core.stats()
    }

    /// Graceful shutdown: stops intake (parked producers get their jobs back), lets in-flight
    /// jobs finish for at most `timeout`, then stops the workers; whatever is unfinished then is
    /// abandoned (a store-backed task goes back to its queue). Returns when the pool has stopped.
    ///
    /// In a supervision tree the pool's supervisor sees a normal exit: a `Permanent` pool child
    /// is started again. Stop the tree instead (it drains the pool with its configured timeout),
    /// or give the pool child `Restart::Transient`.
    pub async fn drain(&self, timeout: Duration) -> DrainReport {
        let before = self.core.stats();
        self.core.close_intake();
        *self.core.requested_drain.lock().unwrap_or_else(|p| p.into_inner()) = Some(timeout);
        if let Some(actor) = self.core.current_actor() {
            let _ = actor.stop_and_wait(None, None).await;
        }
        let after = self.core.stats();
        DrainReport {
            finished_in_time: self.core.signals.stop_reason() != Some(AbandonReason::DrainTimedOut),
            completed: (after.processed + after.failed).saturating_sub(before.processed + before.failed),
            abandoned: after.abandoned.saturating_sub(before.abandoned),
        }
    }

    /// Stops at once: in-flight jobs are abandoned (a drain with no grace period).
    pub async fn stop(&self) -> DrainReport {
        self.drain(Duration::ZERO).await
    }
}
