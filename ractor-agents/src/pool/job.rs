//! Jobs: what a pool runs, and the guarantee that each one reports its end exactly once.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::sync::oneshot;

use super::slot::WorkerSlot;
use crate::agent::TraceContext;
use crate::tasks::{Nack, Payload, TaskId, TaskRecord};

/// What a worker's handler sees of a task.
///
/// ```
/// use ractor_agents::pool::TaskInput;
/// use ractor_agents::tasks::TaskId;
/// let input = TaskInput::new("resize", "a.png").id(TaskId(7)).routing_key("user-42");
/// assert_eq!(&*input.kind, "resize");
/// assert_eq!(&*input.capability, "resize"); // defaults to the kind
/// assert_eq!(input.attempt, 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TaskInput {
    /// The task's id (`TaskId(0)` for a job that does not come from a task store).
    pub id: TaskId,
    /// What the task is.
    pub kind: Arc<str>,
    /// The capability a worker needs ([`Routing::CapabilityMatch`](super::Routing) routes on it).
    pub capability: Arc<str>,
    /// The task's input.
    pub payload: Payload,
    /// Which attempt this is (1-based).
    pub attempt: u32,
    /// The producer's trace: the handler runs inside it, so what it sends continues the trace.
    pub trace: Option<TraceContext>,
    /// The key [`Routing::StickyByKey`](super::Routing) routes on (same key, same worker).
    pub routing_key: Option<Arc<str>>,
}

impl TaskInput {
    /// An input of `kind` with a payload; capability = kind, attempt 1, no trace, no key.
    pub fn new(kind: impl Into<Arc<str>>, payload: impl Into<Payload>) -> Self {
        let kind = kind.into();
        Self {
            id: TaskId(0),
            capability: kind.clone(),
            kind,
            payload: payload.into(),
            attempt: 1,
            trace: None,
            routing_key: None,
        }
    }

    /// The input of a leased task record. A malformed `traceparent` (it came from storage) is
    /// logged and dropped, never a panic.
    pub fn from_record(record: TaskRecord) -> Self {
        let trace = record.traceparent.as_deref().and_then(|header| {
            TraceContext::parse_traceparent(header)
                .map_err(|err| tracing::debug!(task = %record.id, %err, "ignoring the task's traceparent"))
                .ok()
        });
        Self {
            id: record.id,
            kind: record.kind,
            capability: record.capability,
            payload: record.payload,
            attempt: record.attempts.max(1),
            trace,
            routing_key: None,
        }
    }

    /// Sets the task id.
    pub fn id(mut self, id: TaskId) -> Self {
        self.id = id;
        self
    }

    /// Sets the required capability.
    pub fn capability(mut self, capability: impl Into<Arc<str>>) -> Self {
        self.capability = capability.into();
        self
    }

    /// Sets the attempt number.
    pub fn attempt(mut self, attempt: u32) -> Self {
        self.attempt = attempt;
        self
    }

    /// Sets the trace the handler continues.
    pub fn trace(mut self, trace: TraceContext) -> Self {
        self.trace = Some(trace);
        self
    }

    /// Sets the key sticky routing uses.
    pub fn routing_key(mut self, key: impl Into<Arc<str>>) -> Self {
        self.routing_key = Some(key.into());
        self
    }
}

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
/// block or panic; spawn async work.
pub trait JobCompletion: Send + 'static {
    /// The handler is about to run (called at most once, before `complete`).
    fn started(&mut self) {}

    /// The job ended.
    fn complete(self: Box<Self>, outcome: JobOutcome);
}

impl<F: FnOnce(JobOutcome) + Send + 'static> JobCompletion for F {
    fn complete(self: Box<Self>, outcome: JobOutcome) {
        (*self)(outcome)
    }
}

/// Where the job is: decides the [`AbandonReason`] if it is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Not yet accepted by a pool.
    Created,
    /// Accepted, waiting at a worker.
    Queued,
    /// Its handler is running.
    Running,
}

/// A unit of work for a pool: a [`TaskInput`] and where to report the outcome.
///
/// A job never vanishes: if it is dropped before it reports (its worker panics or is killed,
/// the pool stops, a drain times out, or a rejected job is let go), its `Drop` completes it as
/// [`JobOutcome::Abandoned`]. A job built by [`StoreJobs::job`](super::StoreJobs::job) turns
/// that into a nack, so the task goes back to its queue.
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
    input: TaskInput,
    completion: Option<Box<dyn JobCompletion>>,
    pub(crate) phase: Phase,
    /// When a pool accepted it (for the latency histogram).
    pub(crate) accepted_at: Option<quanta::Instant>,
    pub(crate) started_at: Option<quanta::Instant>,
    /// The worker it was assigned to: holds one unit of that worker's outstanding count,
    /// given back when the job ends, however it ends.
    pub(crate) slot: Option<Arc<WorkerSlot>>,
}

impl fmt::Debug for Job {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Job").field("input", &self.input).field("phase", &self.phase).finish_non_exhaustive()
    }
}

impl Job {
    /// A job that reports to `completion`.
    pub fn new(input: TaskInput, completion: impl JobCompletion) -> Self {
        Self::boxed(input, Some(Box::new(completion)))
    }

    /// A job whose outcome nobody waits for.
    pub fn detached(input: TaskInput) -> Self {
        Self::boxed(input, None)
    }

    /// A job and a [`JobReceipt`] that resolves to its outcome.
    pub fn with_receipt(input: TaskInput) -> (Self, JobReceipt) {
        let (tx, rx) = oneshot::channel();
        let job = Self::new(input, move |outcome| {
            let _ = tx.send(outcome);
        });
        (job, JobReceipt { rx })
    }

    fn boxed(input: TaskInput, completion: Option<Box<dyn JobCompletion>>) -> Self {
        Self { input, completion, phase: Phase::Created, accepted_at: None, started_at: None, slot: None }
    }

    /// The task this job runs.
    pub fn input(&self) -> &TaskInput {
        &self.input
    }

    /// Sets the key sticky routing uses.
    pub fn routing_key(mut self, key: impl Into<Arc<str>>) -> Self {
        self.input.routing_key = Some(key.into());
        self
    }

    /// Marks the job as taken by `slot` (whose outstanding count the caller already raised).
    pub(crate) fn assign(&mut self, slot: Arc<WorkerSlot>, now: quanta::Instant) {
        self.slot = Some(slot);
        self.phase = Phase::Queued;
        self.accepted_at = Some(now);
    }

    /// Undoes [`Job::assign`] when the push to the worker failed.
    pub(crate) fn unassign(&mut self) {
        if let Some(slot) = self.slot.take() {
            slot.release();
        }
        self.phase = Phase::Created;
        self.accepted_at = None;
    }

    /// The handler is about to run.
    pub(crate) fn begin(&mut self) {
        self.phase = Phase::Running;
        self.started_at = Some(quanta::Instant::now());
        if let Some(completion) = self.completion.as_mut() {
            completion.started();
        }
    }

    /// Reports `outcome`, records it in the worker's stats, gives the worker's slot back.
    pub(crate) fn finish(mut self, outcome: JobOutcome) {
        self.end(outcome);
    }

    fn end(&mut self, outcome: JobOutcome) {
        let slot = self.slot.take();
        if let Some(slot) = &slot {
            slot.record(&outcome, self.started_at, self.accepted_at);
        }
        // Report before giving the slot back: a drain that sees the worker idle may stop the
        // pool at once, and the report must already be on its way.
        if let Some(completion) = self.completion.take() {
            completion.complete(outcome);
        }
        if let Some(slot) = slot {
            slot.release();
        }
    }

    fn abandon_reason(&self) -> AbandonReason {
        let pool_reason = self.slot.as_ref().and_then(|slot| slot.stop_reason());
        match (self.phase, pool_reason) {
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
        if self.completion.is_some() || self.slot.is_some() {
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
