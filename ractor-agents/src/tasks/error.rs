//! What can go wrong with a queue operation.

use super::model::{TaskId, TaskStatus};

/// A queue operation failed. Each variant says what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueueError {
    /// No such task.
    #[error("no task {0}: it was never enqueued, or it finished and was purged")]
    NotFound(TaskId),
    /// The caller's lease is no longer the task's current lease.
    #[error(
        "the lease on {id} is no longer yours (the task is {status}): it expired and was handed out again, \
         was cancelled, or already finished; drop this attempt's work"
    )]
    LeaseLost {
        /// The task.
        id: TaskId,
        /// Its status now.
        status: TaskStatus,
    },
    /// The task already finished.
    #[error("{id} already finished ({status}); there is nothing to cancel")]
    AlreadyFinished {
        /// The task.
        id: TaskId,
        /// How it finished.
        status: TaskStatus,
    },
    /// Only dead-lettered or failed tasks can be redriven.
    #[error("{id} is {status}; only dead-lettered or failed tasks can be redriven")]
    NotRedrivable {
        /// The task.
        id: TaskId,
        /// Its status.
        status: TaskStatus,
    },
    /// The task is malformed.
    #[error("invalid task: {0}")]
    InvalidTask(String),
    /// A payload or result could not be encoded or decoded as JSON.
    #[error("payload is not the expected JSON: {0}")]
    Payload(String),
    /// `wait` gave up before the task finished.
    #[error("{id} did not finish in time (it is {status}); wait again or cancel it")]
    WaitTimeout {
        /// The task.
        id: TaskId,
        /// Its status when the wait ended.
        status: TaskStatus,
    },
    /// The store's storage failed; the operation did not take effect (or, for a durable
    /// store, may not be durable). Retry once the storage is back.
    #[error("task storage failed during {operation}: {source}")]
    Storage {
        /// What was being done.
        operation: &'static str,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The store was closed.
    #[error("the task store is closed; open it again to continue")]
    Closed,
}
