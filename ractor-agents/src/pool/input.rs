//! [`TaskInput`]: what a worker's handler sees of a task.

use std::sync::Arc;

use crate::agent::TraceContext;
use crate::tasks::{Payload, TaskId, TaskRecord};

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
