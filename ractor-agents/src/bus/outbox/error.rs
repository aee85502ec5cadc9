//! What can go wrong with the outbox itself (publishing failures are not errors: they defer).

use std::path::PathBuf;

/// The outbox could not keep a message, or could not open its log.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    /// The local log failed (disk full, I/O error, directory locked by another outbox): the
    /// message was neither published nor kept. Retry the send, or fix the disk.
    #[error("the outbox log could not {action}: {source}")]
    Log {
        /// What the outbox was doing.
        action: &'static str,
        /// The journal's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A record in the log could not be read back: the log at `dir` was written by a newer
    /// build or damaged. Nothing was replayed; move the directory aside to start empty.
    #[error("the outbox log in {dir} holds an unreadable record ({reason}); move it aside to start empty")]
    Corrupt {
        /// The log directory.
        dir: PathBuf,
        /// What was wrong with the record.
        reason: String,
    },
    /// The message could not be encoded for the log (it is too large, say).
    #[error("the message could not be written to the outbox log: {reason}")]
    Encode {
        /// Why.
        reason: String,
    },
}

impl OutboxError {
    pub(super) fn log(action: &'static str) -> impl FnOnce(crate::journal::JournalError) -> Self {
        move |source| Self::Log { action, source: Box::new(source) }
    }
}
