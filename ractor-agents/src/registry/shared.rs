//! The registry's shared state and every operation on it; [`AgentRegistry`](super::AgentRegistry)
//! and [`RegisteredAgent`](super::RegisteredAgent) are thin handles over it.
//!
//! Three maps, all `DashMap`s (sharded, read-locked per shard for a moment):
//! * `agents`: id → record (by-id lookups, heartbeats, updates by id);
//! * `indexes[kind]`: capability name → [`CapabilityIndex`] (lookups by capability);
//! * `by_type`: agent type → ids.
//!
//! Register and unregister are serialized by one `membership` mutex (they touch all three maps
//! and must not interleave); lookups and updates never take it. An update is a CAS on the
//! record's state word followed by [`Shared::publish`]: re-rank the record in its indexes,
//! adjust the per-status counts and gauges, emit events.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use dashmap::DashMap;
use metrics::Gauge;
use tokio::sync::{Notify, broadcast};
use tokio::time::Instant;

use super::event::Watchers;
use super::index::CapabilityIndex;
use super::state::{Membership, Record, State};
use super::{
    AgentEntry, AgentId, AgentStatus, MAX_CONCURRENCY, Registration, RegistryError, RegistryEvent, StatusReason,
};
use crate::telemetry::metrics::names;

pub(crate) struct Shared {
    pub(crate) name: Arc<str>,
    pub(crate) agents: DashMap<AgentId, Arc<Record>>,
    pub(crate) indexes: [DashMap<Arc<str>, CapabilityIndex>; 3],
    pub(crate) by_type: DashMap<Arc<str>, HashSet<AgentId>>,
    membership: Mutex<()>,
    pub(crate) events: broadcast::Sender<RegistryEvent>,
    pub(crate) watchers: Arc<Watchers>,
    /// Agents per status. Signed: two updates of one agent may adjust them in either order.
    counts: [AtomicI64; 5],
    gauges: [Gauge; 5],
    /// Time zero of heartbeat timestamps (tokio's clock, so paused time drives it).
    pub(crate) epoch: Instant,
    pub(crate) heartbeat_check: Duration,
    sweeper_started: AtomicBool,
    pub(crate) shutdown: Arc<Notify>,
    /// Agents registered with a heartbeat timeout; the timer skips its scan when zero.
    pub(crate) tracked: AtomicUsize,
}

fn lock(m: &Mutex<()>) -> MutexGuard<'_, ()> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    pub(crate) fn new(name: Arc<str>, event_capacity: usize, heartbeat_check: Duration) -> Self {
        let gauges = AgentStatus::ALL.map(
            |status| metrics::gauge!(names::REGISTRY_AGENTS, "registry" => name.clone(), "status" => status.as_str()),
        );
        Self {
            agents: DashMap::new(),
            indexes: [DashMap::new(), DashMap::new(), DashMap::new()],
            by_type: DashMap::new(),
            membership: Mutex::new(()),
            events: broadcast::channel(event_capacity.max(1)).0,
            watchers: Arc::default(),
            counts: Default::default(),
            gauges,
            epoch: Instant::now(),
            heartbeat_check,
            sweeper_started: AtomicBool::new(false),
            shutdown: Arc::new(Notify::new()),
            tracked: AtomicUsize::new(0),
            name,
        }
    }

    pub(crate) fn now_ns(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX)
    }

    pub(crate) fn count(&self, status: AgentStatus) -> usize {
        usize::try_from(self.counts[status as usize].load(Ordering::Relaxed)).unwrap_or(0)
    }

    fn counted(&self, status: AgentStatus, delta: i64) {
        self.counts[status as usize].fetch_add(delta, Ordering::Relaxed);
        self.gauges[status as usize].increment(delta as f64);
    }

    pub(crate) fn emit(&self, event: impl FnOnce() -> RegistryEvent) {
        if self.watchers.any() {
            let _ = self.events.send(event());
        }
    }

    pub(crate) fn record(&self, id: &str) -> Result<Arc<Record>, RegistryError> {
        self.agents.get(id).map(|r| r.clone()).ok_or_else(|| RegistryError::UnknownAgent { id: id.into() })
    }

    pub(crate) fn register(
        self: &Arc<Self>,
        registration: Registration,
        incarnation: u64,
    ) -> Result<Arc<Record>, RegistryError> {
        let Registration { id, agent_type, capabilities, max_concurrency, heartbeat_timeout, status } = registration;
        if max_concurrency == 0 || max_concurrency > MAX_CONCURRENCY {
            return Err(RegistryError::InvalidMaxConcurrency { id, max: max_concurrency });
        }
        if heartbeat_timeout.is_some_and(|t| t.is_zero()) {
            return Err(RegistryError::InvalidHeartbeatTimeout { id });
        }
        let _membership = lock(&self.membership);
        if self.agents.contains_key(&id) {
            return Err(RegistryError::DuplicateAgent { id });
        }
        if heartbeat_timeout.is_some() {
            self.start_heartbeat_timer(&id)?;
        }
        let mut state = State::new(status, 0, max_concurrency).with_epoch(incarnation);
        if status.takes_work() {
            state = state.in_service();
        }
        let now = self.now_ns(Instant::now());
        let record = Arc::new(Record::new(id.clone(), agent_type, capabilities, state, heartbeat_timeout, now));
        // Indexed before it is findable by id: nothing can update it until it is in every index.
        let memberships = record
            .capabilities
            .keys()
            .map(|(kind, name)| {
                let mut index = self.indexes[kind.index()].entry(name.clone()).or_insert_with(CapabilityIndex::new);
                let slot = index.insert(record.clone());
                Membership { kind, name: index.key().clone(), slot }
            })
            .collect();
        let _ = record.memberships.set(memberships);
        self.by_type.entry(record.agent_type.clone()).or_default().insert(id.clone());
        if heartbeat_timeout.is_some() {
            self.tracked.fetch_add(1, Ordering::Relaxed);
        }
        self.agents.insert(id.clone(), record.clone());
        let status = state.status().unwrap_or(status);
        self.counted(status, 1);
        tracing::debug!(registry = %self.name, agent = %id, %status, "agent registered");
        self.emit(|| RegistryEvent::Registered { id, agent_type: record.agent_type.clone(), status });
        Ok(record)
    }

    /// Removes `record` if it is still the one registered under its id; answers its entry.
    pub(crate) fn unregister(&self, record: &Arc<Record>) -> Option<AgentEntry> {
        let _membership = lock(&self.membership);
        self.agents.remove_if(&record.id, |_, r| Arc::ptr_eq(r, record))?;
        let state = record.state();
        let last = record.remove()?;
        for membership in record.memberships() {
            let map = &self.indexes[membership.kind.index()];
            let empty = map.get_mut(&*membership.name).is_some_and(|mut index| {
                index.remove(membership.slot, record);
                index.is_empty()
            });
            if empty {
                map.remove_if(&*membership.name, |_, index| index.is_empty());
            }
        }
        let empty = self.by_type.get_mut(&record.agent_type).is_some_and(|mut ids| {
            ids.remove(&record.id);
            ids.is_empty()
        });
        if empty {
            self.by_type.remove_if(&record.agent_type, |_, ids| ids.is_empty());
        }
        if record.heartbeat_timeout.is_some() {
            self.tracked.fetch_sub(1, Ordering::Relaxed);
        }
        self.counted(last, -1);
        tracing::debug!(registry = %self.name, agent = %record.id, last_status = %last, "agent unregistered");
        self.emit(|| RegistryEvent::Unregistered { id: record.id.clone(), last_status: last });
        record.entry_of(state.with_status(last), self.epoch)
    }

    /// Applies `change` to `record` and publishes the result. `reason` names a status change
    /// (`None`: it can only be the load moving `Available` ↔ `Busy`).
    pub(crate) fn change(
        &self,
        record: &Arc<Record>,
        reason: Option<StatusReason>,
        change: impl FnMut(State) -> Option<State>,
    ) -> Option<(State, State)> {
        let (old, new) = record.update(change)?;
        self.publish(record, old, new, reason);
        Some((old, new))
    }

    /// Everything that follows a state change: re-rank, count, tell.
    pub(crate) fn publish(&self, record: &Arc<Record>, old: State, new: State, reason: Option<StatusReason>) {
        if old.routing_key(0) != new.routing_key(0) {
            self.reindex(record);
        }
        let (Some(from), Some(to)) = (old.status(), new.status()) else { return };
        if from != to {
            self.counted(from, -1);
            self.counted(to, 1);
            let reason = reason.unwrap_or(if to == AgentStatus::Busy {
                StatusReason::AtCapacity
            } else {
                StatusReason::BelowCapacity
            });
            tracing::debug!(registry = %self.name, agent = %record.id, %from, %to, ?reason, "agent status changed");
            self.emit(|| RegistryEvent::StatusChanged { id: record.id.clone(), from, to, reason });
        }
        if (old.load(), old.max()) != (new.load(), new.max()) && self.watchers.of_load() {
            let _ = self.events.send(RegistryEvent::LoadChanged {
                id: record.id.clone(),
                load: new.load(),
                max_concurrency: new.max(),
            });
        }
    }

    /// Recomputes `record`'s leaf in each of its capability indexes.
    fn reindex(&self, record: &Record) {
        for membership in record.memberships() {
            if let Some(index) = self.indexes[membership.kind.index()].get(&*membership.name) {
                index.refresh(membership.slot);
            }
        }
    }

    /// Starts the heartbeat timer on the current Tokio runtime, once.
    fn start_heartbeat_timer(self: &Arc<Self>, id: &AgentId) -> Result<(), RegistryError> {
        if self.sweeper_started.load(Ordering::Acquire) {
            return Ok(());
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| RegistryError::NoRuntime { id: id.clone() })?;
        if !self.sweeper_started.swap(true, Ordering::AcqRel) {
            runtime.spawn(super::heartbeat::run_timer(
                Arc::downgrade(self),
                self.shutdown.clone(),
                self.heartbeat_check,
            ));
        }
        Ok(())
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // Ends the heartbeat timer (it only holds a `Weak`), and takes this registry's agents
        // out of the gauges.
        self.shutdown.notify_one();
        for status in AgentStatus::ALL {
            let n = self.counts[status as usize].load(Ordering::Relaxed);
            self.gauges[status as usize].decrement(n as f64);
        }
    }
}
