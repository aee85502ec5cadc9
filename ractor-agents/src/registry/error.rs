//! Registry errors.

use super::{AgentId, MAX_CONCURRENCY};

/// A registry operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// No agent has that id (it was never registered, or was unregistered).
    #[error(
        "no agent `{id}` is registered; register it first, or check the id (supervised agents use their path, e.g. `root/pool/worker-3`)"
    )]
    UnknownAgent {
        /// The id asked for.
        id: AgentId,
    },
    /// Another agent is registered under that id.
    #[error(
        "an agent `{id}` is already registered; ids are unique per registry: unregister it first or pick another id"
    )]
    DuplicateAgent {
        /// The id.
        id: AgentId,
    },
    /// The max concurrency is 0 or too large.
    #[error("max concurrency {max} for agent `{id}` is out of range; it must be 1 to {MAX_CONCURRENCY}")]
    InvalidMaxConcurrency {
        /// The agent.
        id: AgentId,
        /// The value given.
        max: u32,
    },
    /// The load is larger than the registry records.
    #[error("load {load} for agent `{id}` is out of range; it must be at most {MAX_CONCURRENCY}")]
    InvalidLoad {
        /// The agent.
        id: AgentId,
        /// The value given.
        load: u64,
    },
    /// A heartbeat timeout needs the registry's timer, which runs on Tokio.
    #[error(
        "agent `{id}` has a heartbeat timeout, and the registry's heartbeat timer needs a Tokio runtime: register it from inside one"
    )]
    NoRuntime {
        /// The agent.
        id: AgentId,
    },
    /// The heartbeat timeout is zero.
    #[error("agent `{id}` has a zero heartbeat timeout; give it a positive duration or none")]
    InvalidHeartbeatTimeout {
        /// The agent.
        id: AgentId,
    },
}
