//! One agent's record, and the packed word that holds everything about it that changes.
//!
//! Status, load, max concurrency, the incarnation that set the status and the "expired by the
//! heartbeat timer" flag share one `AtomicU64`, changed only by compare-and-swap. So a reader
//! never sees a torn entry (a status from before an update with a load from after it), and a
//! lifecycle update can say "only if the status still belongs to my incarnation" atomically,
//! which keeps a late notice from a dead incarnation from overwriting its successor's status.
//!
//! ```text
//!  63    61 60   59      48 47         24 23          0
//! [status][exp][ epoch   ][max concurr.][    load     ]
//!  3 bits  1    12 bits     24 bits       24 bits
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::time::Instant;

use super::{AgentEntry, AgentId, AgentStatus, Capabilities, CapabilityKind};

/// The largest load and max concurrency a registry records (2^24 - 1).
pub const MAX_CONCURRENCY: u32 = (1 << 24) - 1;

const LOAD_MASK: u64 = (1 << 24) - 1;
const MAX_SHIFT: u32 = 24;
const EPOCH_SHIFT: u32 = 48;
const EPOCH_MASK: u64 = (1 << 12) - 1;
const EXPIRED_BIT: u64 = 1 << 60;
const STATUS_SHIFT: u32 = 61;
/// Status code of a record that was unregistered: every later update fails on it.
const REMOVED: u64 = 7;

/// The packed state word; see the module doc for the layout.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct State(u64);

impl State {
    pub(crate) fn new(status: AgentStatus, load: u32, max: u32) -> Self {
        Self(0).with_load(load).with_max(max).with_status(status)
    }

    /// `None` once the record was unregistered.
    pub(crate) fn status(self) -> Option<AgentStatus> {
        Some(match self.0 >> STATUS_SHIFT {
            0 => AgentStatus::Available,
            1 => AgentStatus::Busy,
            2 => AgentStatus::Draining,
            3 => AgentStatus::Unavailable,
            4 => AgentStatus::Failed,
            _ => return None,
        })
    }

    pub(crate) fn load(self) -> u32 {
        (self.0 & LOAD_MASK) as u32
    }

    pub(crate) fn max(self) -> u32 {
        ((self.0 >> MAX_SHIFT) & LOAD_MASK) as u32
    }

    /// The low 12 bits of the incarnation that last set a lifecycle status. Wrapping is
    /// harmless: a stale notice arrives within microseconds, not 4,096 restarts later.
    pub(crate) fn epoch(self) -> u64 {
        (self.0 >> EPOCH_SHIFT) & EPOCH_MASK
    }

    pub(crate) fn expired(self) -> bool {
        self.0 & EXPIRED_BIT != 0
    }

    pub(crate) fn with_status(self, status: AgentStatus) -> Self {
        let code = status as u64;
        Self((self.0 & !(0b111 << STATUS_SHIFT) & !EXPIRED_BIT) | (code << STATUS_SHIFT))
    }

    pub(crate) fn removed(self) -> Self {
        Self((self.0 & !(0b111 << STATUS_SHIFT)) | (REMOVED << STATUS_SHIFT))
    }

    pub(crate) fn with_load(self, load: u32) -> Self {
        Self((self.0 & !LOAD_MASK) | (u64::from(load.min(MAX_CONCURRENCY))))
    }

    pub(crate) fn with_max(self, max: u32) -> Self {
        Self((self.0 & !(LOAD_MASK << MAX_SHIFT)) | (u64::from(max.min(MAX_CONCURRENCY)) << MAX_SHIFT))
    }

    pub(crate) fn with_epoch(self, incarnation: u64) -> Self {
        Self((self.0 & !(EPOCH_MASK << EPOCH_SHIFT)) | ((incarnation & EPOCH_MASK) << EPOCH_SHIFT))
    }

    pub(crate) fn with_expired(self) -> Self {
        Self(self.0 | EXPIRED_BIT)
    }

    /// `Available` or `Busy`, whichever the load says.
    pub(crate) fn in_service(self) -> Self {
        let status = if self.load() >= self.max() { AgentStatus::Busy } else { AgentStatus::Available };
        self.with_status(status)
    }

    /// After a load or max change: an agent in service moves between `Available` and `Busy`.
    pub(crate) fn follow_load(self) -> Self {
        match self.status() {
            Some(status) if status.takes_work() => self.in_service(),
            _ => self,
        }
    }

    pub(crate) fn same_epoch(self, incarnation: u64) -> bool {
        self.epoch() == incarnation & EPOCH_MASK
    }

    /// The order of lookups by capability, smaller first: `Available` before `Busy`, then by
    /// `load / max` (fixed point, 2^20 = full), then by slot. `u64::MAX` for agents that take
    /// no work, which lookups never return.
    pub(crate) fn routing_key(self, slot: u32) -> u64 {
        let rank: u64 = match self.status() {
            Some(AgentStatus::Available) => 0,
            Some(AgentStatus::Busy) => 1,
            _ => return u64::MAX,
        };
        // load < 2^24, so load << 20 < 2^44: no overflow; clamped to the 30 bits it has.
        let ratio = ((u64::from(self.load()) << 20) / u64::from(self.max().max(1))).min((1 << 30) - 1);
        (rank << 62) | (ratio << 32) | u64::from(slot)
    }
}

/// One capability index a record is in, and its slot there. The name is the index map's own
/// key (interned at registration), so an update hashes bytes every agent of the capability
/// shares, which stay in cache, instead of its own copy.
pub(crate) struct Membership {
    pub(crate) kind: CapabilityKind,
    pub(crate) name: Arc<str>,
    pub(crate) slot: u32,
}

/// One registered agent. Shared by the id map, the capability indexes and the agent's
/// [`RegisteredAgent`](super::RegisteredAgent) handles; everything mutable is atomic.
pub(crate) struct Record {
    pub(crate) id: AgentId,
    pub(crate) agent_type: Arc<str>,
    pub(crate) capabilities: Arc<Capabilities>,
    state: AtomicU64,
    /// Nanoseconds since the registry's epoch (tokio's clock) of the last heartbeat.
    last_heartbeat_ns: AtomicU64,
    pub(crate) heartbeat_timeout: Option<Duration>,
    /// The indexes this record is in: set once, before the record can be found by id (so
    /// before anything can update it).
    pub(crate) memberships: OnceLock<Box<[Membership]>>,
}

impl Record {
    pub(crate) fn new(
        id: AgentId,
        agent_type: Arc<str>,
        capabilities: Capabilities,
        state: State,
        heartbeat_timeout: Option<Duration>,
        now_ns: u64,
    ) -> Self {
        Self {
            id,
            agent_type,
            capabilities: Arc::new(capabilities),
            state: AtomicU64::new(state.0),
            last_heartbeat_ns: AtomicU64::new(now_ns),
            heartbeat_timeout,
            memberships: OnceLock::new(),
        }
    }

    pub(crate) fn memberships(&self) -> &[Membership] {
        self.memberships.get().map_or(&[], |m| m)
    }

    pub(crate) fn state(&self) -> State {
        State(self.state.load(Ordering::Acquire))
    }

    /// Applies `change` atomically. `change` sees the current state (never a removed one) and
    /// answers the new one, or `None` to leave it. Returns `(old, new)` when it changed.
    pub(crate) fn update(&self, mut change: impl FnMut(State) -> Option<State>) -> Option<(State, State)> {
        let mut current = self.state();
        loop {
            current.status()?;
            let next = change(current).filter(|next| *next != current)?;
            match self.state.compare_exchange_weak(current.0, next.0, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Some((current, next)),
                Err(actual) => current = State(actual),
            }
        }
    }

    /// Marks the record unregistered; answers its last status (`None` if it already was).
    pub(crate) fn remove(&self) -> Option<AgentStatus> {
        self.update(|s| Some(s.removed())).and_then(|(old, _)| old.status())
    }

    pub(crate) fn touch(&self, now_ns: u64) {
        self.last_heartbeat_ns.store(now_ns, Ordering::Release);
    }

    pub(crate) fn last_heartbeat_ns(&self) -> u64 {
        self.last_heartbeat_ns.load(Ordering::Acquire)
    }

    /// The entry as of one read of the state word; `None` once unregistered.
    pub(crate) fn snapshot(&self, epoch: Instant) -> Option<AgentEntry> {
        self.entry_of(self.state(), epoch)
    }

    pub(crate) fn entry_of(&self, state: State, epoch: Instant) -> Option<AgentEntry> {
        Some(AgentEntry {
            id: self.id.clone(),
            agent_type: self.agent_type.clone(),
            capabilities: self.capabilities.clone(),
            status: state.status()?,
            load: state.load(),
            max_concurrency: state.max(),
            last_heartbeat: self
                .heartbeat_timeout
                .map(|_| epoch + Duration::from_nanos(self.last_heartbeat_ns.load(Ordering::Acquire))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_of_the_state_word_round_trips_without_touching_the_others() {
        let s = State::new(AgentStatus::Draining, MAX_CONCURRENCY, 7).with_epoch(4097).with_expired();
        assert_eq!(s.status(), Some(AgentStatus::Draining));
        assert_eq!((s.load(), s.max(), s.epoch()), (MAX_CONCURRENCY, 7, 1));
        assert!(s.expired());
        let s = s.with_load(3).with_max(MAX_CONCURRENCY);
        assert_eq!((s.load(), s.max(), s.epoch(), s.status()), (3, MAX_CONCURRENCY, 1, Some(AgentStatus::Draining)));
        assert!(!s.with_status(AgentStatus::Failed).expired(), "a new status clears the expired flag");
        assert_eq!(s.removed().status(), None);
    }

    #[test]
    fn routing_keys_order_available_before_busy_then_by_load_ratio_then_slot() {
        let available = |load, max| State::new(AgentStatus::Available, load, max);
        let busy = State::new(AgentStatus::Busy, 1, 1);
        assert!(available(0, 1).routing_key(9) < available(1, 4).routing_key(0));
        assert!(available(1, 4).routing_key(0) < available(1, 2).routing_key(0));
        assert!(available(1, 2).routing_key(0) < available(2, 4).routing_key(1));
        assert!(available(MAX_CONCURRENCY, 1).routing_key(0) < busy.routing_key(0));
        for status in [AgentStatus::Draining, AgentStatus::Unavailable, AgentStatus::Failed] {
            assert_eq!(State::new(status, 0, 1).routing_key(0), u64::MAX);
        }
    }

    #[test]
    fn follow_load_moves_only_agents_in_service_between_available_and_busy() {
        assert_eq!(State::new(AgentStatus::Available, 2, 2).follow_load().status(), Some(AgentStatus::Busy));
        assert_eq!(State::new(AgentStatus::Busy, 1, 2).follow_load().status(), Some(AgentStatus::Available));
        assert_eq!(State::new(AgentStatus::Draining, 5, 2).follow_load().status(), Some(AgentStatus::Draining));
    }
}
