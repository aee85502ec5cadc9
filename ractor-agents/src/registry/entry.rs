//! The registry's public data: ids, statuses, what a registration asks for and what a
//! lookup returns.

use std::borrow::Borrow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::Capabilities;

/// An agent's id in a registry. Agents started under a supervisor use their supervision path,
/// `"root/pool/worker-3"`; agents registered by hand use any unique string.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AgentId(Arc<str>);

impl AgentId {
    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AgentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Borrow<str> for AgentId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for AgentId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<&str> for AgentId {
    fn from(id: &str) -> Self {
        Self(Arc::from(id))
    }
}

impl From<String> for AgentId {
    fn from(id: String) -> Self {
        Self(Arc::from(id))
    }
}

impl From<Arc<str>> for AgentId {
    fn from(id: Arc<str>) -> Self {
        Self(id)
    }
}

impl PartialEq<str> for AgentId {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for AgentId {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

/// Whether an agent takes work.
///
/// | status | meaning | found by capability |
/// |---|---|---|
/// | `Available` | running, below its max concurrency | yes, first (lowest load ratio first) |
/// | `Busy` | running, at or over its max concurrency | yes, after every `Available` one |
/// | `Draining` | finishing what it has, takes nothing new (stopping) | no |
/// | `Unavailable` | not running: stopped, killed, or missed its heartbeats | no |
/// | `Failed` | crashed; its supervisor may restart it | no |
///
/// `Available` and `Busy` follow the load: whenever an agent's load or max concurrency
/// changes while it is one of the two, the registry sets `Busy` if `load >= max_concurrency`
/// and `Available` otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AgentStatus {
    /// Running, with room for more work.
    Available,
    /// Running, at its max concurrency.
    Busy,
    /// Stopping: finishing in-flight work, taking none.
    Draining,
    /// Not running.
    Unavailable,
    /// Crashed.
    Failed,
}

impl AgentStatus {
    /// Every status, in declaration order.
    pub const ALL: [AgentStatus; 5] = [
        AgentStatus::Available,
        AgentStatus::Busy,
        AgentStatus::Draining,
        AgentStatus::Unavailable,
        AgentStatus::Failed,
    ];

    /// The lower-case name, also the `status` label of the registry gauge.
    pub fn as_str(self) -> &'static str {
        match self {
            AgentStatus::Available => "available",
            AgentStatus::Busy => "busy",
            AgentStatus::Draining => "draining",
            AgentStatus::Unavailable => "unavailable",
            AgentStatus::Failed => "failed",
        }
    }

    /// `Available` or `Busy`: the agent takes work and lookups by capability return it.
    pub fn takes_work(self) -> bool {
        matches!(self, AgentStatus::Available | AgentStatus::Busy)
    }

    /// `Available`, `Busy` or `Draining`: an incarnation of the agent is running.
    pub fn is_running(self) -> bool {
        matches!(self, AgentStatus::Available | AgentStatus::Busy | AgentStatus::Draining)
    }
}

impl fmt::Display for AgentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A snapshot of one registered agent, as a lookup returns it. Status, load and max
/// concurrency are read together in one atomic load, so they always belong to the same moment.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AgentEntry {
    /// The agent's id.
    pub id: AgentId,
    /// The agent's type (the short Rust type name for supervised agents).
    pub agent_type: Arc<str>,
    /// What it declared it can do.
    pub capabilities: Arc<Capabilities>,
    /// Whether it takes work.
    pub status: AgentStatus,
    /// Work in hand, as last reported.
    pub load: u32,
    /// How much work it takes at once (at least 1).
    pub max_concurrency: u32,
    /// The last heartbeat (or the registration), for agents registered with a heartbeat
    /// timeout; `None` for the others.
    pub last_heartbeat: Option<Instant>,
}

impl AgentEntry {
    /// `load / max_concurrency`: 0 when idle, 1 when full.
    pub fn load_ratio(&self) -> f64 {
        f64::from(self.load) / f64::from(self.max_concurrency)
    }
}

/// What to register: an id, a type, capabilities, a max concurrency and an optional heartbeat
/// timeout. The agent starts `Available` with load 0, unless [`Registration::status`] says
/// otherwise.
///
/// ```
/// use ractor_agents::registry::{AgentStatus, Capabilities, Registration};
/// use std::time::Duration;
/// let registration = Registration::new("edge-1", "Summarizer")
///     .capabilities(Capabilities::new().tag("summarize"))
///     .max_concurrency(8)
///     .heartbeat_timeout(Duration::from_secs(10))
///     .status(AgentStatus::Unavailable);
/// assert_eq!(registration.id().as_str(), "edge-1");
/// ```
#[derive(Debug, Clone)]
pub struct Registration {
    pub(crate) id: AgentId,
    pub(crate) agent_type: Arc<str>,
    pub(crate) capabilities: Capabilities,
    pub(crate) max_concurrency: u32,
    pub(crate) heartbeat_timeout: Option<Duration>,
    pub(crate) status: AgentStatus,
}

impl Registration {
    /// A registration with no capabilities, max concurrency 1, no heartbeat timeout.
    pub fn new(id: impl Into<AgentId>, agent_type: impl Into<Arc<str>>) -> Self {
        Self {
            id: id.into(),
            agent_type: agent_type.into(),
            capabilities: Capabilities::new(),
            max_concurrency: 1,
            heartbeat_timeout: None,
            status: AgentStatus::Available,
        }
    }

    /// The id to register under.
    pub fn id(&self) -> &AgentId {
        &self.id
    }

    /// What the agent can do.
    pub fn capabilities(mut self, capabilities: Capabilities) -> Self {
        self.capabilities = capabilities;
        self
    }

    /// How much work it takes at once (1 to [`MAX_CONCURRENCY`](super::MAX_CONCURRENCY)).
    pub fn max_concurrency(mut self, max: u32) -> Self {
        self.max_concurrency = max;
        self
    }

    /// The agent must call `heartbeat` at least this often; when it misses, the registry's
    /// timer marks it `Unavailable` (event `HeartbeatMissed`) until its next heartbeat.
    pub fn heartbeat_timeout(mut self, timeout: Duration) -> Self {
        self.heartbeat_timeout = Some(timeout);
        self
    }

    /// The status to start in (default `Available`; `Busy` is derived from the load).
    pub fn status(mut self, status: AgentStatus) -> Self {
        self.status = status;
        self
    }
}
