//! The queue's changes as data: every mutation of [`QueueState`](super::QueueState) is one
//! [`Event`], handed to a sink before it is applied. The memory store ignores them; the durable
//! store journals them and replays them on open, through the same `apply`, so both backends
//! share one set of rules.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::model::{FailureInfo, LeaseToken, TaskId, TaskRecord};
use super::payload::Payload;
use super::time::Timestamp;

/// One change to the queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    /// A task was enqueued (also how a snapshot restores a live task, in whatever status).
    Enqueued(Box<TaskRecord>),
    /// A worker leased the task; its attempt count goes up by one.
    Leased {
        /// The task.
        id: TaskId,
        /// The new lease's token.
        token: LeaseToken,
        /// When.
        at: Timestamp,
        /// When the lease runs out.
        expires_at: Timestamp,
        /// Who leased it.
        worker: Option<Arc<str>>,
    },
    /// The lease holder started work.
    Started {
        /// The task.
        id: TaskId,
        /// When.
        at: Timestamp,
    },
    /// The lease holder extended its lease.
    Extended {
        /// The task.
        id: TaskId,
        /// The new expiry.
        expires_at: Timestamp,
    },
    /// The task succeeded.
    Acked {
        /// The task.
        id: TaskId,
        /// When.
        at: Timestamp,
        /// Its result.
        result: Payload,
    },
    /// An attempt failed (nack, crash or lease expiry) and attempts remain.
    Retrying {
        /// The task.
        id: TaskId,
        /// When.
        at: Timestamp,
        /// Leasable again from then.
        available_at: Timestamp,
        /// What went wrong.
        failure: FailureInfo,
    },
    /// Attempts spent or deadline passed.
    DeadLettered {
        /// The task.
        id: TaskId,
        /// When.
        at: Timestamp,
        /// The last failure.
        failure: FailureInfo,
    },
    /// A permanent failure.
    Failed {
        /// The task.
        id: TaskId,
        /// When.
        at: Timestamp,
        /// What went wrong.
        failure: FailureInfo,
    },
    /// Cancelled.
    Cancelled {
        /// The task.
        id: TaskId,
        /// When.
        at: Timestamp,
    },
    /// The lease holder gave the task back untouched (it never ran): Pending again, and the
    /// lease's attempt is not counted.
    Released {
        /// The task.
        id: TaskId,
        /// When.
        at: Timestamp,
    },
    /// A dead-lettered or failed task went back to Pending with a fresh attempt budget.
    Redriven {
        /// The task.
        id: TaskId,
        /// When.
        at: Timestamp,
    },
    /// A finished task was dropped (retention).
    Purged {
        /// The task.
        id: TaskId,
    },
    /// Id and token counters, so a compacted journal never reissues either.
    Watermark {
        /// The next task id.
        next_id: u64,
        /// The next lease token.
        next_token: u64,
    },
}

impl Event {
    /// The task that reached a final state through this event, if any.
    pub fn finished(&self) -> Option<TaskId> {
        match self {
            Event::Acked { id, .. }
            | Event::DeadLettered { id, .. }
            | Event::Failed { id, .. }
            | Event::Cancelled { id, .. } => Some(*id),
            _ => None,
        }
    }
}

/// Receives each event before it is applied.
pub trait EventSink {
    /// Called once per event, in order.
    fn record(&mut self, event: &Event);
}

/// Discards events (the memory store).
impl EventSink for () {
    fn record(&mut self, _: &Event) {}
}

impl<F: FnMut(&Event)> EventSink for F {
    fn record(&mut self, event: &Event) {
        self(event)
    }
}

/// Both sinks see every event (e.g. a journal encoder and the wake-up collector).
impl<A: EventSink, B: EventSink> EventSink for (A, B) {
    fn record(&mut self, event: &Event) {
        self.0.record(event);
        self.1.record(event);
    }
}
