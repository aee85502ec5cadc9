//! Jobs: what a pool runs, and the guarantee that each one reports its end exactly once.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::sync::oneshot;

use super::input::TaskInput;
use super::slot::WorkerSlot;
use crate::tasks::{Nack, Payload};

/// Why a job ended without its handler returning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AbandonReason {
    /// The handler panicked; the worker is restarted by its supervisor.
    WorkerCrashed,
    /// The worker was stopped or killed while the job ran.
    WorkerStopped,
    /// The pool stopped before the job finished.
    PoolStopped,
    /// The pool was draining and its timeout ran out before the job finished.
    DrainTimedOut,
    /// The job was dropped before any pool ran it (for example a rejected job that the
    /// caller let go instead of resubmitting).
    Dropped,
}

impl fmt::Display for AbandonReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::WorkerCrashed => "the worker crashed (panicked) while running the job",
            Self::WorkerStopped => "the worker was stopped or killed while running the job",
            Self::PoolStopped => "the pool stopped before the job finished",
            Self::DrainTimedOut => "the pool's drain timed out before the job finished",
            Self::Dropped => "the job was dropped before any pool ran it",
        })
    }
}

/// How a job ended. Every job ends in exactly one of these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobOutcome {
    /// The handler returned a result.
    Succeeded(Payload),
    /// The handler returned a failure.
    Failed(Nack),
    /// The job ended without its handler returning; a store-backed job goes back to the queue.
    Abandoned(AbandonReason),
}

/// Where a job reports its end. Called exactly once per job: by the worker when the handler
/// returns, or by the job's `Drop` (as [`JobOutcome::Abandoned`]) if it never gets that far.
///
/// Any `FnOnce(JobOutcome) + Send` closure is a completion. `complete` may run inside a `Drop`
/// (during a panic's unwinding, or when a stopped worker's mailbox is emptied): it must not
/// block or panic; spawn async work. It runs with no pool lock held, so it may submit jobs,
/// to any pool.
pub trait JobCompletion: Send + 'static {
    /// The handler is about to run (called at most once, before `complete`).
    fn started(&mut self) {}

    /// The job ended.
    fn complete(self, outcome: JobOutcome);
}

impl<F: FnOnce(JobOutcome) + Send + 'static> JobCompletion for F {
    fn complete(self, outcome: JobOutcome) {
        self(outcome)
    }
}

/// A completion that has not fired yet (`Some`), or has (`None`), behind one vtable.
trait PendingCompletion: Send {
    fn started(&mut self);
    /// Fires the completion if it has not fired yet.
    fn complete(&mut self, outcome: JobOutcome);
    fn is_pending(&self) -> bool;
}

impl<C: JobCompletion> PendingCompletion for Option<C> {
    fn started(&mut self) {
        if let Some(c) = self.as_mut() {
            c.started();
        }
    }
    fn complete(&mut self, outcome: JobOutcome) {
        if let Some(c) = self.take() {
            c.complete(outcome);
        }
    }
    fn is_pending(&self) -> bool {
        self.is_some()
    }
}

/// A detached job's completion: nobody listens.
struct Detached;

impl JobCompletion for Detached {
    fn complete(self, _outcome: JobOutcome) {}
}

/// Where the job is: decides the [`AbandonReason`] if it is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Not yet accepted by a pool.
    Created,
    /// Accepted, waiting at a worker.
    Queued,
    /// Its handler is running.
    Running,
}

/// Everything a job carries, in one allocation with its completion (the unsized tail).
struct JobState<C: ?Sized> {
    input: TaskInput,
    phase: Phase,
    /// When a pool accepted it (for the latency histogram).
    accepted_at: Option<quanta::Instant>,
    started_at: Option<quanta::Instant>,
    /// The worker it was assigned to: holds one unit of that worker's outstanding count,
    /// given back when the job ends, however it ends.
    slot: Option<Arc<WorkerSlot>>,
    completion: C,
}

/// A unit of work for a pool: a [`TaskInput`] and where to report the outcome.
///
/// A job never vanishes: if it is dropped before it reports (its worker panics or is killed,
/// the pool stops, a drain times out, or a rejected job is let go), its `Drop` completes it as
/// [`JobOutcome::Abandoned`]. A job built by [`StoreJobs::job`](super::StoreJobs::job) turns
/// that into a nack, so the task goes back to its queue.
///
/// A job is one pointer: everything it carries (its completion included) lives in a single
/// allocation, so handing it through a worker's mailbox moves a 16-byte pointer.
///
/// ```
/// use ractor_agents::pool::{AbandonReason, Job, JobOutcome, TaskInput};
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let (job, receipt) = Job::with_receipt(TaskInput::new("echo", "hi"));
/// drop(job); // never submitted
/// assert_eq!(receipt.await, JobOutcome::Abandoned(AbandonReason::Dropped));
/// # }
/// ```
pub struct Job {
    state: Box<JobState<dyn PendingCompletion>>,
}

impl fmt::Debug for Job {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = &self.state;
        f.debug_struct("Job").field("input", &state.input).field("phase", &state.phase).finish_non_exhaustive()
    }
}

impl Job {
    /// A job that reports to `completion`.
    pub fn new(input: TaskInput, completion: impl JobCompletion) -> Self {
        let state: Box<JobState<dyn PendingCompletion>> = Box::new(JobState {
            input,
            phase: Phase::Created,
            accepted_at: None,
            started_at: None,
            slot: None,
            completion: Some(completion),
        });
        Self { state }
    }

    /// A job whose outcome nobody waits for.
    pub fn detached(input: TaskInput) -> Self {
        Self::new(input, Detached)
    }

    /// A job and a [`JobReceipt`] that resolves to its outcome.
    pub fn with_receipt(input: TaskInput) -> (Self, JobReceipt) {
        let (tx, rx) = oneshot::channel();
        let job = Self::new(input, move |outcome| {
            let _ = tx.send(outcome);
        });
        (job, JobReceipt { rx })
    }

    /// The task this job runs.
    pub fn input(&self) -> &TaskInput {
        &self.state.input
    }

    /// Sets the key sticky routing uses.
    pub fn routing_key(mut self, key: impl Into<Arc<str>>) -> Self {
        self.state.input.routing_key = Some(key.into());
        self
    }

    /// Marks the job as taken by `slot` (whose outstanding count the caller already raised).
    pub(crate) fn assign(&mut self, slot: Arc<WorkerSlot>, now: quanta::Instant) {
        let state = &mut self.state;
        state.slot = Some(slot);
        state.phase = Phase::Queued;
        state.accepted_at = Some(now);
    }

    /// Undoes [`Job::assign`] when the push to the worker failed.
    pub(crate) fn unassign(&mut self) {
        let state = &mut self.state;
        if let Some(slot) = state.slot.take() {
            slot.release();
        }
        state.phase = Phase::Created;
        state.accepted_at = None;
    }

    /// The handler is about to run.
    pub(crate) fn begin(&mut self) {
        let state = &mut self.state;
        state.phase = Phase::Running;
        state.started_at = Some(quanta::Instant::now());
        state.completion.started();
    }

    /// Reports `outcome`, records it in the worker's stats, gives the worker's slot back.
    pub(crate) fn finish(mut self, outcome: JobOutcome) {
        self.end(outcome);
    }

    fn end(&mut self, outcome: JobOutcome) {
        let state = &mut self.state;
        let slot = state.slot.take();
        if let Some(slot) = &slot {
            slot.record(&outcome, state.started_at, state.accepted_at);
        }
        // Report before giving the slot back: a drain that sees the worker idle may stop the
        // pool at once, and the report must already be on its way.
        state.completion.complete(outcome);
        if let Some(slot) = slot {
            slot.release();
        }
    }

    fn abandon_reason(&self) -> AbandonReason {
        let state = &self.state;
        let pool_reason = state.slot.as_ref().and_then(|slot| slot.stop_reason());
        match (state.phase, pool_reason) {
            (Phase::Created, _) => AbandonReason::Dropped,
            (Phase::Running, _) if std::thread::panicking() => AbandonReason::WorkerCrashed,
            (_, Some(reason)) => reason,
            (Phase::Running, None) => AbandonReason::WorkerStopped,
            (Phase::Queued, None) => AbandonReason::PoolStopped,
        }
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        if self.state.completion.is_pending() || self.state.slot.is_some() {
            let reason = self.abandon_reason();
            self.end(JobOutcome::Abandoned(reason));
        }
    }
}

/// Resolves to a job's outcome (see [`Job::with_receipt`]).
#[derive(Debug)]
#[must_use = "a receipt does nothing unless awaited"]
pub struct JobReceipt {
    rx: oneshot::Receiver<JobOutcome>,
}

impl Future for JobReceipt {
    type Output = JobOutcome;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<JobOutcome> {
        // The sender lives in the job's completion, which always sends before it is dropped;
        // a closed channel can only mean the job was dropped while being completed.
        Pin::new(&mut self.rx).poll(cx).map(|r| r.unwrap_or(JobOutcome::Abandoned(AbandonReason::Dropped)))
    }
}
