//! [`AgentRegistry`] (the handle every user holds) and its builder.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::index::CapabilityIndex;
use super::shared::Shared;
use super::{
    AgentEntry, AgentStatus, Capability, DEFAULT_HEARTBEAT_CHECK, RegisteredAgent, Registration, RegistryError,
    RegistryWatch,
};

/// How many events a watcher may fall behind before it lags, when not configured.
pub const DEFAULT_EVENT_CAPACITY: usize = 1024;

/// The agent registry. Cheap to clone: clones share one registry, which lives until the last
/// clone is dropped (registrations and watchers do not keep it alive). See the
/// [module documentation](super) for a guide.
#[derive(Clone)]
pub struct AgentRegistry {
    pub(crate) shared: Arc<Shared>,
}

impl fmt::Debug for AgentRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentRegistry").field("name", &self.shared.name).field("agents", &self.len()).finish()
    }
}

impl Default for AgentRegistry {
    fn default() -> Self {
        Self::new()
    }
}

/// Configures an [`AgentRegistry`].
///
/// ```
/// use ractor_agents::registry::AgentRegistry;
/// use std::time::Duration;
/// let registry = AgentRegistry::builder()
///     .name("edge")
///     .event_capacity(4096)
///     .heartbeat_check(Duration::from_millis(50))
///     .build();
/// assert_eq!(registry.name(), "edge");
/// ```
#[derive(Debug, Clone)]
pub struct RegistryBuilder {
    name: Arc<str>,
    event_capacity: usize,
    heartbeat_check: Duration,
}

impl RegistryBuilder {
    /// The `registry` label of its metrics (default `"default"`).
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.name = name.into();
        self
    }

    /// How many events a watcher may fall behind before it gets `Lagged` (default 1024).
    pub fn event_capacity(mut self, capacity: usize) -> Self {
        self.event_capacity = capacity;
        self
    }

    /// How often the heartbeat timer checks (default [`DEFAULT_HEARTBEAT_CHECK`], 100 ms): an
    /// agent is marked at most this long after its timeout ran out. At least 1 ms.
    pub fn heartbeat_check(mut self, every: Duration) -> Self {
        self.heartbeat_check = every.max(Duration::from_millis(1));
        self
    }

    /// The registry.
    pub fn build(self) -> AgentRegistry {
        AgentRegistry { shared: Arc::new(Shared::new(self.name, self.event_capacity, self.heartbeat_check)) }
    }
}

impl AgentRegistry {
    /// An empty registry named `"default"`.
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A builder, to set the name, event capacity or heartbeat check period.
    pub fn builder() -> RegistryBuilder {
        RegistryBuilder {
            name: Arc::from("default"),
            event_capacity: DEFAULT_EVENT_CAPACITY,
            heartbeat_check: DEFAULT_HEARTBEAT_CHECK,
        }
    }

    /// The registry's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Registers an agent. Fails if the id is taken, the max concurrency is out of range, or
    /// a heartbeat timeout is asked for outside a Tokio runtime.
    pub fn register(&self, registration: Registration) -> Result<RegisteredAgent, RegistryError> {
        let record = self.shared.register(registration, 0)?;
        Ok(RegisteredAgent::new(&self.shared, record))
    }

    /// Unregisters an agent; answers its last entry.
    pub fn unregister(&self, id: &str) -> Result<AgentEntry, RegistryError> {
        let record = self.shared.record(id)?;
        self.shared.unregister(&record).ok_or_else(|| RegistryError::UnknownAgent { id: id.into() })
    }

    /// The handle of a registered agent, to update it without looking it up each time.
    pub fn registration(&self, id: &str) -> Result<RegisteredAgent, RegistryError> {
        Ok(RegisteredAgent::new(&self.shared, self.shared.record(id)?))
    }

    /// The agent with this id.
    pub fn get(&self, id: &str) -> Option<AgentEntry> {
        self.shared.agents.get(id)?.snapshot(self.shared.epoch)
    }

    /// `true` if an agent has this id.
    pub fn contains(&self, id: &str) -> bool {
        self.shared.agents.contains_key(id)
    }

    /// The least-loaded agent with this capability that takes work: the `Available` one with
    /// the lowest `load / max_concurrency`, else the least-loaded `Busy` one; ties go to the
    /// one registered earlier. O(1). A `&str` is a tag; use [`Capability::tool`] or
    /// [`Capability::intent`] for the others.
    pub fn best<'a>(&self, capability: impl Into<Capability<'a>>) -> Option<AgentEntry> {
        let capability = capability.into();
        let index = self.shared.indexes[capability.kind.index()].get(capability.name)?;
        if let Some(record) = index.best() {
            let state = record.state();
            if state.status().is_some_and(AgentStatus::takes_work) {
                return record.entry_of(state, self.shared.epoch);
            }
        }
        // The root named an agent whose status changed under us: walk the tree instead.
        self.ordered(&index, 1).pop()
    }

    /// Up to `k` agents with this capability that take work, best first (the order of
    /// [`AgentRegistry::best`]). O(log n + k log k).
    pub fn top<'a>(&self, capability: impl Into<Capability<'a>>, k: usize) -> Vec<AgentEntry> {
        let capability = capability.into();
        match self.shared.indexes[capability.kind.index()].get(capability.name) {
            Some(index) => self.ordered(&index, k),
            None => Vec::new(),
        }
    }

    /// Every agent with this capability that takes work, best first.
    pub fn find<'a>(&self, capability: impl Into<Capability<'a>>) -> Vec<AgentEntry> {
        self.top(capability, usize::MAX)
    }

    /// The `k` best members of `index`, each snapshot once and ordered by that snapshot.
    fn ordered(&self, index: &CapabilityIndex, k: usize) -> Vec<AgentEntry> {
        let mut want = k;
        loop {
            let records = index.top(want);
            let walked = records.len();
            let mut entries: Vec<_> = records
                .iter()
                .filter_map(|r| {
                    let state = r.state();
                    state.status().is_some_and(AgentStatus::takes_work).then(|| (state.routing_key(0), r, state))
                })
                .collect();
            // Enough, or the tree has no more: an agent whose status changed during the walk
            // is left out, so ask for more until `k` remain.
            if entries.len() >= k || walked < want {
                entries.sort_by_key(|(key, _, _)| *key);
                return entries
                    .into_iter()
                    .take(k)
                    .filter_map(|(_, r, state)| r.entry_of(state, self.shared.epoch))
                    .collect();
            }
            want = want.saturating_mul(2);
        }
    }

    /// Every agent of this type, in any status, by id.
    pub fn by_type(&self, agent_type: &str) -> Vec<AgentEntry> {
        let ids: Vec<_> = match self.shared.by_type.get(agent_type) {
            Some(ids) => ids.iter().cloned().collect(),
            None => return Vec::new(),
        };
        let mut entries: Vec<_> = ids.iter().filter_map(|id| self.get(id.as_str())).collect();
        entries.sort_by(|a, b| a.id.cmp(&b.id));
        entries
    }

    /// Every agent, in any status, by id.
    pub fn list(&self) -> Vec<AgentEntry> {
        let mut entries: Vec<_> = self.shared.agents.iter().filter_map(|r| r.snapshot(self.shared.epoch)).collect();
        entries.sort_by(|a, b| a.id.cmp(&b.id));
        entries
    }

    /// How many agents are registered.
    pub fn len(&self) -> usize {
        self.shared.agents.len()
    }

    /// `true` when no agent is registered.
    pub fn is_empty(&self) -> bool {
        self.shared.agents.is_empty()
    }

    /// How many agents have this status (what the `ractor_agents_registry_agents` gauge shows).
    pub fn count(&self, status: AgentStatus) -> usize {
        self.shared.count(status)
    }

    /// Sets an agent's status; answers the previous one. `Available` and `Busy` give whichever
    /// the load says.
    pub fn set_status(&self, id: &str, status: AgentStatus) -> Result<AgentStatus, RegistryError> {
        self.shared.set_status(&self.shared.record(id)?, status)
    }

    /// Reports an agent's load.
    pub fn set_load(&self, id: &str, load: u32) -> Result<(), RegistryError> {
        self.shared.set_load(&self.shared.record(id)?, load)
    }

    /// Adds `delta` to an agent's load (negative to subtract), saturating; answers the new load.
    pub fn adjust_load(&self, id: &str, delta: i64) -> Result<u32, RegistryError> {
        self.shared.adjust_load(&self.shared.record(id)?, delta)
    }

    /// Sets an agent's max concurrency (1 to [`MAX_CONCURRENCY`](super::MAX_CONCURRENCY)).
    pub fn set_max_concurrency(&self, id: &str, max: u32) -> Result<(), RegistryError> {
        self.shared.set_max_concurrency(&self.shared.record(id)?, max)
    }

    /// Records a heartbeat from an agent.
    pub fn heartbeat(&self, id: &str) -> Result<(), RegistryError> {
        self.shared.heartbeat(&self.shared.record(id)?)
    }

    /// Events from now on: registrations, status changes, heartbeat misses (not load changes).
    pub fn watch(&self) -> RegistryWatch {
        RegistryWatch::new(self.shared.events.subscribe(), self.shared.watchers.clone(), false)
    }

    /// Like [`AgentRegistry::watch`], with [`RegistryEvent::LoadChanged`](super::RegistryEvent::LoadChanged) too. Load events
    /// are built only while such a watcher exists.
    pub fn watch_with_load(&self) -> RegistryWatch {
        RegistryWatch::new(self.shared.events.subscribe(), self.shared.watchers.clone(), true)
    }

    /// Registers an agent started by a supervisor, for its incarnation `incarnation`.
    pub(crate) fn register_incarnation(
        &self,
        registration: Registration,
        incarnation: u64,
    ) -> Result<RegisteredAgent, RegistryError> {
        let record = self.shared.register(registration, incarnation)?;
        Ok(RegisteredAgent::new(&self.shared, record))
    }
}
