//! Change events and [`RegistryWatch`], the stream a watcher reads them from.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::broadcast;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::time::Instant;

use super::{AgentId, AgentStatus};

/// Why a status changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StatusReason {
    /// A caller set it (`set_status`).
    Requested,
    /// The load reached the max concurrency (`Available` → `Busy`).
    AtCapacity,
    /// The load fell below the max concurrency (`Busy` → `Available`).
    BelowCapacity,
    /// No heartbeat within the timeout (→ `Unavailable`).
    HeartbeatMissed,
    /// A heartbeat came back after a miss (→ `Available` or `Busy`).
    HeartbeatResumed,
    /// The agent's first incarnation started.
    Started,
    /// A new incarnation started after the agent stopped, crashed or was killed.
    Restarted,
    /// A graceful stop was requested (→ `Draining`).
    Stopping,
    /// The incarnation stopped gracefully (→ `Unavailable`).
    Stopped,
    /// The incarnation panicked, returned a fatal error, or failed to start (→ `Failed`).
    Crashed,
    /// The incarnation ended without stopping gracefully: killed by its supervisor's shutdown
    /// policy, or with its whole tree (→ `Unavailable`).
    Killed,
}

/// A change in a registry. Events about one agent arrive in the order its changes were made,
/// when one task makes them (as its supervisor and executor do); two tasks updating the same
/// agent at once may see their events delivered in either order, and `from`/`to` tell.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegistryEvent {
    /// An agent was registered.
    Registered {
        /// Its id.
        id: AgentId,
        /// Its type.
        agent_type: Arc<str>,
        /// Its first status.
        status: AgentStatus,
    },
    /// An agent was unregistered.
    Unregistered {
        /// Its id.
        id: AgentId,
        /// Its status when it was removed.
        last_status: AgentStatus,
    },
    /// An agent's status changed.
    StatusChanged {
        /// Its id.
        id: AgentId,
        /// The status before.
        from: AgentStatus,
        /// The status now.
        to: AgentStatus,
        /// Why.
        reason: StatusReason,
    },
    /// An agent's load or max concurrency changed. Sent only to watchers that asked for it
    /// ([`AgentRegistry::watch_with_load`](super::AgentRegistry::watch_with_load)), and only
    /// while one exists, so load updates stay cheap otherwise.
    LoadChanged {
        /// Its id.
        id: AgentId,
        /// The load now.
        load: u32,
        /// The max concurrency now.
        max_concurrency: u32,
    },
    /// An agent missed its heartbeats; a `StatusChanged` to `Unavailable` follows.
    HeartbeatMissed {
        /// Its id.
        id: AgentId,
        /// When it last sent one (or was registered).
        last_heartbeat: Instant,
        /// Its heartbeat timeout.
        timeout: Duration,
    },
}

impl RegistryEvent {
    /// The agent the event is about.
    pub fn id(&self) -> &AgentId {
        match self {
            RegistryEvent::Registered { id, .. }
            | RegistryEvent::Unregistered { id, .. }
            | RegistryEvent::StatusChanged { id, .. }
            | RegistryEvent::LoadChanged { id, .. }
            | RegistryEvent::HeartbeatMissed { id, .. } => id,
        }
    }
}

/// Why a watcher got no event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WatchError {
    /// The watcher fell behind by more than the registry's event capacity and `missed`
    /// events were dropped for it. It can keep receiving; re-read the registry
    /// (`list`) to resynchronise.
    #[error("the registry watcher fell behind and missed {missed} events; re-list the registry to catch up")]
    Lagged {
        /// How many events were dropped.
        missed: u64,
    },
    /// The registry was dropped; no event will come.
    #[error("the registry was dropped; no more events")]
    Closed,
}

/// How many watchers exist, so that updates skip building events nobody reads.
#[derive(Default)]
pub(crate) struct Watchers {
    pub(crate) all: AtomicUsize,
    pub(crate) load: AtomicUsize,
}

impl Watchers {
    pub(crate) fn any(&self) -> bool {
        self.all.load(Ordering::Relaxed) > 0
    }

    pub(crate) fn of_load(&self) -> bool {
        self.load.load(Ordering::Relaxed) > 0
    }
}

/// A stream of [`RegistryEvent`]s, from the moment it was created. Each watcher gets every
/// event; one that falls more than the registry's event capacity behind gets
/// [`WatchError::Lagged`] and then the newest events.
pub struct RegistryWatch {
    rx: broadcast::Receiver<RegistryEvent>,
    watchers: Arc<Watchers>,
    with_load: bool,
}

impl std::fmt::Debug for RegistryWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryWatch").field("with_load", &self.with_load).finish()
    }
}

impl RegistryWatch {
    pub(crate) fn new(rx: broadcast::Receiver<RegistryEvent>, watchers: Arc<Watchers>, with_load: bool) -> Self {
        watchers.all.fetch_add(1, Ordering::Relaxed);
        if with_load {
            watchers.load.fetch_add(1, Ordering::Relaxed);
        }
        Self { rx, watchers, with_load }
    }

    fn wanted(&self, event: &RegistryEvent) -> bool {
        self.with_load || !matches!(event, RegistryEvent::LoadChanged { .. })
    }

    /// The next event, waiting for one.
    pub async fn recv(&mut self) -> Result<RegistryEvent, WatchError> {
        loop {
            match self.rx.recv().await {
                Ok(event) if self.wanted(&event) => return Ok(event),
                Ok(_) => continue,
                Err(RecvError::Lagged(missed)) => return Err(WatchError::Lagged { missed }),
                Err(RecvError::Closed) => return Err(WatchError::Closed),
            }
        }
    }

    /// The next event if one is waiting, without waiting.
    pub fn try_recv(&mut self) -> Result<Option<RegistryEvent>, WatchError> {
        loop {
            match self.rx.try_recv() {
                Ok(event) if self.wanted(&event) => return Ok(Some(event)),
                Ok(_) => continue,
                Err(TryRecvError::Empty) => return Ok(None),
                Err(TryRecvError::Lagged(missed)) => return Err(WatchError::Lagged { missed }),
                Err(TryRecvError::Closed) => return Err(WatchError::Closed),
            }
        }
    }
}

impl Drop for RegistryWatch {
    fn drop(&mut self) {
        self.watchers.all.fetch_sub(1, Ordering::Relaxed);
        if self.with_load {
            self.watchers.load.fetch_sub(1, Ordering::Relaxed);
        }
    }
}
