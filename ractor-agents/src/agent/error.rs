//! Errors of sending to and asking agents.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A `tell` that was not accepted. The message is handed back, so nothing is lost silently.
#[derive(thiserror::Error)]
pub enum TellError<M> {
    /// The mailbox holds `capacity` messages already. Retry later, or use `tell(..).await`,
    /// which waits for room (backpressure).
    #[error("mailbox of agent `{agent}` is full ({capacity} messages); retry later or await `tell` for backpressure")]
    MailboxFull {
        /// The agent's name.
        agent: Arc<str>,
        /// The mailbox capacity.
        capacity: usize,
        /// The message that was not sent.
        message: M,
    },
    /// The agent has stopped for good (it was not, or will not be, restarted).
    #[error("agent `{agent}` is unavailable: it has stopped and will not be restarted")]
    Unavailable {
        /// The agent's name.
        agent: Arc<str>,
        /// The message that was not sent.
        message: M,
    },
}

impl<M> TellError<M> {
    /// The message that was not sent.
    pub fn into_message(self) -> M {
        match self {
            Self::MailboxFull { message, .. } | Self::Unavailable { message, .. } => message,
        }
    }
}

impl<M> fmt::Debug for TellError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MailboxFull { agent, capacity, .. } => {
                f.debug_struct("MailboxFull").field("agent", agent).field("capacity", capacity).finish_non_exhaustive()
            }
            Self::Unavailable { agent, .. } => {
                f.debug_struct("Unavailable").field("agent", agent).finish_non_exhaustive()
            }
        }
    }
}

/// An `ask` that got no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AskError {
    /// No answer within the deadline: the mailbox stayed full, the agent was busy or
    /// restarting for too long, or the message expired before it was handled.
    #[error("agent `{agent}` did not answer within {deadline:?}; raise the deadline or check the agent's load")]
    DeadlineExceeded {
        /// The agent's name.
        agent: Arc<str>,
        /// The deadline the ask was given.
        deadline: Duration,
    },
    /// The agent has stopped for good (it was not, or will not be, restarted).
    #[error("agent `{agent}` is unavailable: it has stopped and will not be restarted")]
    Unavailable {
        /// The agent's name.
        agent: Arc<str>,
    },
    /// The handler crashed (panicked, failed fatally or was killed) while handling this very
    /// message, or dropped its reply without answering. The agent's supervisor restarts it;
    /// asks queued behind this one are still answered.
    #[error(
        "agent `{agent}` crashed or dropped the reply while handling this request; it is safe to retry if the request is idempotent"
    )]
    NoReply {
        /// The agent's name.
        agent: Arc<str>,
    },
}

/// The reason an agent incarnation must stop: returned by a handler for a fatal error, or by
/// `on_start` when the agent cannot start. Its supervisor sees the agent as *failed*.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct AgentFailure {
    reason: String,
}

impl AgentFailure {
    /// A failure with a reason that ends up in logs, metrics and the supervisor's events.
    pub fn new(reason: impl Into<String>) -> Self {
        Self { reason: reason.into() }
    }

    /// Wraps a fatal handler error.
    pub fn fatal(handler: &str, error: &dyn fmt::Display) -> Self {
        Self { reason: format!("fatal error in handler `{handler}`: {error}") }
    }

    /// The reason.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl SpawnError {
    /// The name of the agent that failed to start.
    pub fn agent(&self) -> &str {
        match self {
            Self::StartFailed { agent, .. } => agent,
        }
    }
}

/// Starting an agent failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SpawnError {
    /// The agent's factory panicked or its `on_start` returned an error.
    #[error("agent `{agent}` failed to start: {reason}")]
    StartFailed {
        /// The agent's name.
        agent: Arc<str>,
        /// What went wrong.
        reason: String,
    },
}
