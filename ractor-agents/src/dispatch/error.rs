//! What can go wrong when submitting tasks or asking for their results.

use crate::tasks::{FailureInfo, QueueError, TaskId, TaskStatus};

/// A coordinator operation failed, or the task it was asked about did not succeed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DispatchError {
    /// The queue refused or failed the operation.
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// No route serves the task's capability, so nothing would ever run it.
    #[error(
        "no pool serves capability `{capability}`; add a route for it, fix the task's capability, \
         or build the coordinator with `accept_unrouted(true)` if another node serves it"
    )]
    NoRoute {
        /// The capability asked for.
        capability: String,
    },
    /// The task finished without succeeding.
    #[error("{id} finished as {status}{}", .failure.as_ref().map(|f| format!(" after attempt {}: {}", f.attempt, f.message)).unwrap_or_default())]
    TaskFailed {
        /// The task.
        id: TaskId,
        /// Failed, DeadLettered or Cancelled.
        status: TaskStatus,
        /// The last failure, if any.
        failure: Option<FailureInfo>,
    },
    /// The coordinator could not start.
    #[error("the coordinator could not start: {0}")]
    Start(String),
}
