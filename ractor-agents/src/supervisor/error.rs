//! Supervisor errors.

use std::sync::Arc;

/// A supervisor (or one of its children) could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StartError {
    /// A child failed to start; the children started before it were stopped again.
    #[error("child `{child}` failed to start: {reason}")]
    ChildStartFailed {
        /// The child's id.
        child: Arc<str>,
        /// What went wrong.
        reason: String,
    },
    /// Two children share an id; ids must be unique among siblings.
    #[error("supervisor `{supervisor}` has two children named `{child}`; child ids must be unique among siblings")]
    DuplicateChild {
        /// The supervisor's name.
        supervisor: Arc<str>,
        /// The duplicated id.
        child: Arc<str>,
    },
    /// The supervisor actor itself could not be spawned.
    #[error("supervisor `{supervisor}` failed to start: {reason}")]
    SupervisorStartFailed {
        /// The supervisor's name.
        supervisor: Arc<str>,
        /// What went wrong.
        reason: String,
    },
}

/// Looking up a child by name failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    /// No child has that name.
    #[error("supervisor `{supervisor}` has no child named `{child}`")]
    NotFound {
        /// The supervisor searched.
        supervisor: Arc<str>,
        /// The name asked for.
        child: String,
    },
    /// The child exists but is not of the requested type.
    #[error("child `{child}` is not a `{expected}`")]
    WrongType {
        /// The name asked for.
        child: String,
        /// The type asked for.
        expected: &'static str,
    },
}

/// A request to a running supervisor failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SupervisorError {
    /// The supervisor is not running (stopped, failed, or restarting).
    #[error("supervisor `{supervisor}` is not running")]
    NotRunning {
        /// The supervisor's name.
        supervisor: Arc<str>,
    },
    /// `max_children` children are running already.
    #[error(
        "supervisor `{supervisor}` already runs its maximum of {max} children; terminate one first or raise max_children"
    )]
    MaxChildren {
        /// The supervisor's name.
        supervisor: Arc<str>,
        /// The limit.
        max: usize,
    },
    /// A sibling already has that id.
    #[error("supervisor `{supervisor}` already has a child named `{child}`")]
    AlreadyExists {
        /// The supervisor's name.
        supervisor: Arc<str>,
        /// The id.
        child: Arc<str>,
    },
    /// No child has that id.
    #[error("supervisor `{supervisor}` has no child named `{child}`")]
    NoSuchChild {
        /// The supervisor's name.
        supervisor: Arc<str>,
        /// The id.
        child: String,
    },
    /// The child could not start.
    #[error(transparent)]
    Start(#[from] StartError),
}

/// How a supervisor's run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SupervisorExit {
    /// It was stopped (all children stopped in reverse start order).
    Stopped,
    /// It exceeded its restart intensity (or a child could not be restarted) and failed.
    Failed(String),
    /// It was killed; its children were killed with it.
    Killed,
}
