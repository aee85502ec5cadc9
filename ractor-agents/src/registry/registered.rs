//! [`RegisteredAgent`]: the handle of one registration, for the agent (or its owner) to report
//! load, status and heartbeats without a lookup by id.

use std::fmt;
use std::sync::{Arc, Weak};

use super::shared::Shared;
use super::state::Record;
use super::{AgentEntry, AgentId, AgentStatus, RegistryError, StatusReason};

/// One agent's registration. Cheap to clone. It does not keep the registry alive: once the
/// registry is dropped, or the agent unregistered, its updates fail with `UnknownAgent`.
/// Dropping it does not unregister the agent.
///
/// ```
/// use ractor_agents::registry::{AgentRegistry, AgentStatus, Registration};
/// let registry = AgentRegistry::new();
/// let me = registry.register(Registration::new("worker-1", "Worker").max_concurrency(2))?;
/// me.adjust_load(1)?;
/// assert_eq!(me.adjust_load(1)?, 2);
/// assert_eq!(me.entry().map(|e| e.status), Some(AgentStatus::Busy));
/// me.unregister()?;
/// assert!(me.set_load(0).is_err());
/// # Ok::<(), ractor_agents::registry::RegistryError>(())
/// ```
#[derive(Clone)]
pub struct RegisteredAgent {
    shared: Weak<Shared>,
    record: Arc<Record>,
}

impl fmt::Debug for RegisteredAgent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegisteredAgent").field("id", &self.record.id).finish()
    }
}

impl RegisteredAgent {
    pub(crate) fn new(shared: &Arc<Shared>, record: Arc<Record>) -> Self {
        Self { shared: Arc::downgrade(shared), record }
    }

    fn shared(&self) -> Result<Arc<Shared>, RegistryError> {
        self.shared.upgrade().ok_or_else(|| RegistryError::UnknownAgent { id: self.record.id.clone() })
    }

    /// The agent's id.
    pub fn id(&self) -> &AgentId {
        &self.record.id
    }

    /// The agent's entry now; `None` once unregistered.
    pub fn entry(&self) -> Option<AgentEntry> {
        let shared = self.shared.upgrade()?;
        self.record.snapshot(shared.epoch)
    }

    /// `true` while the agent is registered (and the registry exists).
    pub fn is_registered(&self) -> bool {
        self.shared.strong_count() > 0 && self.record.state().status().is_some()
    }

    /// Sets the status and answers the previous one; `Available` and `Busy` give whichever
    /// the load says.
    pub fn set_status(&self, status: AgentStatus) -> Result<AgentStatus, RegistryError> {
        self.shared()?.set_status(&self.record, status)
    }

    /// Reports the load (work in hand).
    pub fn set_load(&self, load: u32) -> Result<(), RegistryError> {
        self.shared()?.set_load(&self.record, load)
    }

    /// Adds `delta` to the load (negative to subtract), saturating; answers the new load.
    /// Concurrent adjustments from several tasks all count.
    pub fn adjust_load(&self, delta: i64) -> Result<u32, RegistryError> {
        self.shared()?.adjust_load(&self.record, delta)
    }

    /// Sets the max concurrency.
    pub fn set_max_concurrency(&self, max: u32) -> Result<(), RegistryError> {
        self.shared()?.set_max_concurrency(&self.record, max)
    }

    /// Records a heartbeat (one atomic store; cheap enough to send on every message).
    pub fn heartbeat(&self) -> Result<(), RegistryError> {
        self.shared()?.heartbeat(&self.record)
    }

    /// Unregisters the agent; answers its last entry.
    pub fn unregister(&self) -> Result<AgentEntry, RegistryError> {
        self.shared()?
            .unregister(&self.record)
            .ok_or_else(|| RegistryError::UnknownAgent { id: self.record.id.clone() })
    }

    /// The place in a tree of a supervisor started by this agent: below its id, in its registry.
    pub(crate) fn lineage(&self) -> Option<super::Lineage> {
        let shared = self.shared.upgrade()?;
        Some(super::Lineage {
            registry: Some(super::AgentRegistry { shared }),
            path: Arc::from(self.record.id.as_str()),
        })
    }

    /// Lifecycle notices from the executor and the supervisor; no-ops once unregistered.
    pub(crate) fn came_up(&self, incarnation: u64) {
        if let Some(shared) = self.shared.upgrade() {
            shared.came_up(&self.record, incarnation);
        }
    }

    pub(crate) fn draining(&self) {
        if let Some(shared) = self.shared.upgrade() {
            shared.draining(&self.record);
        }
    }

    pub(crate) fn stopped(&self, incarnation: u64) {
        if let Some(shared) = self.shared.upgrade() {
            shared.went_down(&self.record, incarnation, StatusReason::Stopped);
        }
    }

    pub(crate) fn killed(&self, incarnation: u64) {
        if let Some(shared) = self.shared.upgrade() {
            shared.went_down(&self.record, incarnation, StatusReason::Killed);
        }
    }

    pub(crate) fn crashed(&self, incarnation: u64) {
        if let Some(shared) = self.shared.upgrade() {
            shared.crashed(&self.record, incarnation);
        }
    }
}
