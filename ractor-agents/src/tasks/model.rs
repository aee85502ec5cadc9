//! What a task is: the request a producer enqueues ([`Task`]) and the record the queue keeps
//! ([`TaskRecord`]).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::payload::Payload;
use super::retry::RetryPolicy;
use super::time::Timestamp;

/// A task's identity, assigned by the queue in enqueue order (so, within a priority, a smaller
/// id was enqueued earlier and is served first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TaskId(pub u64);

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "task-{}", self.0)
    }
}

/// Proof of a lease: the queue issues a new token every time it hands a task out, and only the
/// current holder's token can start, extend, ack or nack it. A worker whose lease expired (and
/// whose task went to someone else) gets [`QueueError::LeaseLost`](super::QueueError::LeaseLost).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LeaseToken(pub u64);

/// Where a task is in its life.
///
/// ```text
///             lease            start            ack
/// Pending ──────────▶ Leased ──────────▶ Running ──────▶ Succeeded
///    ▲  ▲               │ nack/expiry       │ nack/expiry/crash
///    │  └───────────────┴───────────────────┘   (attempts left: back to Pending after backoff)
///    │                  │ attempts spent or deadline passed ──▶ DeadLettered ──redrive──▶ Pending
///    │                  │ permanent error ──▶ Failed
///    └── any non-final state ──cancel──▶ Cancelled
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum TaskStatus {
    /// Waiting to be leased (possibly not before its retry time).
    Pending,
    /// Handed to a worker that has not reported starting yet.
    Leased,
    /// The worker started it.
    Running,
    /// Done, with a result.
    Succeeded,
    /// Failed with a permanent error; not retried.
    Failed,
    /// Attempts spent or deadline passed; kept for inspection and redrive.
    DeadLettered,
    /// Cancelled before it finished.
    Cancelled,
}

impl TaskStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [TaskStatus; 7] = [
        TaskStatus::Pending,
        TaskStatus::Leased,
        TaskStatus::Running,
        TaskStatus::Succeeded,
        TaskStatus::Failed,
        TaskStatus::DeadLettered,
        TaskStatus::Cancelled,
    ];

    /// True for states a task never leaves on its own (Succeeded, Failed, DeadLettered, Cancelled).
    pub fn is_final(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::DeadLettered | Self::Cancelled)
    }

    /// True while a worker holds the task (Leased or Running).
    pub fn is_leased(self) -> bool {
        matches!(self, Self::Leased | Self::Running)
    }

    /// The lowercase name used as a metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Leased => "leased",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::DeadLettered => "dead_lettered",
            Self::Cancelled => "cancelled",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an attempt (or the whole task) failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FailureKind {
    /// The handler returned an error that may go away on retry.
    Transient,
    /// The handler returned an error that retrying will not fix.
    Permanent,
    /// The worker crashed (panicked or was killed) while holding the task.
    WorkerCrashed,
    /// The lease ran out before the worker acked.
    LeaseExpired,
    /// The task's deadline passed before it finished.
    DeadlineExceeded,
}

/// A failure as recorded on the task: what kind, what the worker said, on which attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureInfo {
    /// What kind of failure.
    pub kind: FailureKind,
    /// The worker's message (or the queue's, for expiries).
    pub message: String,
    /// The attempt it happened on (1-based).
    pub attempt: u32,
}

/// What a worker reports when it gives a task back.
///
/// ```
/// use ractor_agents::tasks::Nack;
/// use std::time::Duration;
/// let busy = Nack::transient("upstream busy").retry_after(Duration::from_secs(2));
/// let bad = Nack::permanent("payload has no `text` field");
/// # let _ = (busy, bad);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nack {
    pub(crate) kind: FailureKind,
    pub(crate) message: String,
    pub(crate) retry_after: Option<Duration>,
}

impl Nack {
    /// A failure worth retrying (after the task's backoff, or [`Nack::retry_after`]).
    pub fn transient(message: impl Into<String>) -> Self {
        Self { kind: FailureKind::Transient, message: message.into(), retry_after: None }
    }

    /// A failure that retrying will not fix: the task goes to Failed at once.
    pub fn permanent(message: impl Into<String>) -> Self {
        Self { kind: FailureKind::Permanent, message: message.into(), retry_after: None }
    }

    /// The worker holding the task crashed; retried like a transient failure.
    pub fn crashed(message: impl Into<String>) -> Self {
        Self { kind: FailureKind::WorkerCrashed, message: message.into(), retry_after: None }
    }

    /// Retry no sooner than `delay` (a server's Retry-After), instead of the backoff's delay.
    pub fn retry_after(mut self, delay: Duration) -> Self {
        self.retry_after = Some(delay);
        self
    }
}

/// A task to enqueue: a kind, a payload, and how it should be run.
///
/// ```
/// use ractor_agents::tasks::{RetryPolicy, Task};
/// use std::time::Duration;
/// let task = Task::json("summarize", &serde_json::json!({"text": "..."}))?
///     .priority(7)
///     .idempotency_key("doc-42")
///     .deadline_in(Duration::from_secs(60))
///     .retry(RetryPolicy::exponential(5, Duration::from_millis(100), Duration::from_secs(10)));
/// assert_eq!(task.capability_name(), "summarize");
/// # Ok::<(), ractor_agents::tasks::QueueError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Task {
    pub(crate) kind: Arc<str>,
    pub(crate) capability: Option<Arc<str>>,
    pub(crate) payload: Payload,
    pub(crate) priority: u8,
    pub(crate) idempotency_key: Option<Arc<str>>,
    pub(crate) deadline: Option<TaskDeadline>,
    pub(crate) retry: RetryPolicy,
    pub(crate) traceparent: Option<Arc<str>>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum TaskDeadline {
    At(Timestamp),
    In(Duration),
}

impl Task {
    /// A task of `kind` with a payload. Its required capability defaults to its kind.
    ///
    /// The current trace (if the caller runs inside an agent's handler or
    /// [`in_trace`](crate::agent::in_trace)) is recorded, so the worker's span continues it.
    pub fn new(kind: impl Into<Arc<str>>, payload: impl Into<Payload>) -> Self {
        Self {
            kind: kind.into(),
            capability: None,
            payload: payload.into(),
            priority: 0,
            idempotency_key: None,
            deadline: None,
            retry: RetryPolicy::default(),
            traceparent: crate::agent::current_trace().map(|t| Arc::from(t.traceparent())),
        }
    }

    /// A task whose payload is `value` serialized as JSON.
    pub fn json<T: Serialize + ?Sized>(kind: impl Into<Arc<str>>, value: &T) -> Result<Self, super::QueueError> {
        Ok(Self::new(kind, Payload::json(value)?))
    }

    /// The capability a worker must have to lease it (default: the kind).
    pub fn capability(mut self, capability: impl Into<Arc<str>>) -> Self {
        self.capability = Some(capability.into());
        self
    }

    /// Higher priorities are leased first; FIFO within a priority. Default 0.
    pub fn priority(mut self, priority: u8) -> Self {
        self.priority = priority;
        self
    }

    /// A second enqueue with the same key returns the first task's id instead of a new task
    /// (for as long as the first task is kept).
    pub fn idempotency_key(mut self, key: impl Into<Arc<str>>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    /// The task must finish by `at`; past it, it is dead-lettered with
    /// [`FailureKind::DeadlineExceeded`] instead of being handed out.
    pub fn deadline(mut self, at: Timestamp) -> Self {
        self.deadline = Some(TaskDeadline::At(at));
        self
    }

    /// The task must finish within `d` of being enqueued.
    pub fn deadline_in(mut self, d: Duration) -> Self {
        self.deadline = Some(TaskDeadline::In(d));
        self
    }

    /// How many attempts, and how long to wait between them.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Shorthand for changing only the attempt limit of the retry policy.
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.retry.max_attempts = attempts;
        self
    }

    /// The capability it requires.
    pub fn capability_name(&self) -> &str {
        self.capability.as_deref().unwrap_or(&self.kind)
    }

    /// Checks that the task can run at all.
    pub(crate) fn validate(&self) -> Result<(), super::QueueError> {
        if self.kind.is_empty() {
            return Err(super::QueueError::InvalidTask("the task kind is empty; name what the task does".into()));
        }
        if self.retry.max_attempts == 0 {
            return Err(super::QueueError::InvalidTask(
                "max_attempts is 0, so the task could never run; use 1 for no retries".into(),
            ));
        }
        Ok(())
    }

    /// Checks the task and turns it into the record the queue keeps.
    pub(crate) fn into_record(self, id: TaskId, now: Timestamp) -> Result<TaskRecord, super::QueueError> {
        self.validate()?;
        let capability = self.capability.unwrap_or_else(|| self.kind.clone());
        let deadline = self.deadline.map(|d| match d {
            TaskDeadline::At(at) => at,
            TaskDeadline::In(d) => now.add(d),
        });
        Ok(TaskRecord {
            id,
            kind: self.kind,
            capability,
            payload: self.payload,
            priority: self.priority,
            idempotency_key: self.idempotency_key,
            deadline,
            retry: self.retry,
            traceparent: self.traceparent,
            attempts: 0,
            status: TaskStatus::Pending,
            result: None,
            failure: None,
            lease: None,
            created_at: now,
            updated_at: now,
            available_at: now,
        })
    }
}

/// The lease a worker holds on a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseInfo {
    /// The holder's token.
    pub token: LeaseToken,
    /// Who holds it (free-form: a pool and worker name).
    pub worker: Option<Arc<str>>,
    /// When it runs out unless extended.
    pub expires_at: Timestamp,
    /// When it was taken.
    pub leased_at: Timestamp,
}

/// Everything the queue knows about a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TaskRecord {
    /// Its id.
    pub id: TaskId,
    /// What it is.
    pub kind: Arc<str>,
    /// The capability a worker needs to lease it.
    pub capability: Arc<str>,
    /// Its input.
    pub payload: Payload,
    /// Higher first.
    pub priority: u8,
    /// The deduplication key it was enqueued with.
    pub idempotency_key: Option<Arc<str>>,
    /// When it must be finished by.
    pub deadline: Option<Timestamp>,
    /// Attempt limit and backoff.
    pub retry: RetryPolicy,
    /// The W3C traceparent of the producer's span, if any.
    pub traceparent: Option<Arc<str>>,
    /// Attempts started so far (a lease counts as an attempt).
    pub attempts: u32,
    /// Where it is in its life.
    pub status: TaskStatus,
    /// The result, once Succeeded.
    pub result: Option<Payload>,
    /// The last failure.
    pub failure: Option<FailureInfo>,
    /// The current lease, while Leased or Running.
    pub lease: Option<LeaseInfo>,
    /// When it was enqueued.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
    /// Not leased before this (retry backoff).
    pub available_at: Timestamp,
}

/// A task handed to a worker: the record as of the lease, and the token to report with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The task (status Leased, `attempts` counting this one).
    pub task: TaskRecord,
    /// The token that proves this lease.
    pub token: LeaseToken,
    /// When the lease runs out unless extended.
    pub expires_at: Timestamp,
}

impl Lease {
    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.task.id
    }
}

/// The answer to an enqueue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enqueued {
    /// The task's id (the earlier task's, when deduplicated).
    pub id: TaskId,
    /// True when the idempotency key matched an existing task and nothing new was enqueued.
    pub deduplicated: bool,
}

/// What a nack did to the task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NackOutcome {
    /// Back to Pending, leasable from `at`.
    Retrying {
        /// When it becomes leasable again.
        at: Timestamp,
    },
    /// Attempts spent: dead-lettered.
    DeadLettered,
    /// A permanent failure: Failed.
    Failed,
}

/// What to lease.
///
/// ```
/// use ractor_agents::tasks::LeaseRequest;
/// use std::time::Duration;
/// let req = LeaseRequest::new("summarize").max(32).lease_for(Duration::from_secs(30)).worker("pool-a");
/// # let _ = req;
/// ```
#[derive(Debug, Clone)]
pub struct LeaseRequest {
    pub(crate) capability: Arc<str>,
    pub(crate) max: usize,
    pub(crate) duration: Duration,
    pub(crate) worker: Option<Arc<str>>,
}

impl LeaseRequest {
    /// Lease tasks requiring `capability`: one at a time, for 30 s, unless changed.
    pub fn new(capability: impl Into<Arc<str>>) -> Self {
        Self { capability: capability.into(), max: 1, duration: Duration::from_secs(30), worker: None }
    }

    /// Up to `n` tasks in one call.
    pub fn max(mut self, n: usize) -> Self {
        self.max = n;
        self
    }

    /// How long the lease lasts before the task goes back to Pending.
    pub fn lease_for(mut self, d: Duration) -> Self {
        self.duration = d;
        self
    }

    /// Who is leasing (recorded on the task).
    pub fn worker(mut self, worker: impl Into<Arc<str>>) -> Self {
        self.worker = Some(worker.into());
        self
    }
}
