//! The heartbeat timer: a Tokio task that marks agents `Unavailable` when they miss their
//! heartbeats.
//!
//! A heartbeat is one atomic store of a timestamp (nanoseconds on tokio's clock since the
//! registry was created), so agents can send them as often as they like. The timer wakes every
//! `heartbeat_check` (100 ms by default) and scans the agents that have a timeout: an agent is
//! marked at most `timeout + heartbeat_check` after its last heartbeat. The scan is O(agents)
//! per tick (two atomic loads per agent) and skipped while no agent has a timeout.
//!
//! The task holds only a `Weak` to the registry and ends when the registry is dropped (its
//! `Drop` also wakes the task at once). It runs on tokio's clock, so tests drive it with
//! `tokio::time::pause` / `advance`.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::{Instant, MissedTickBehavior};

use super::shared::Shared;
use super::{AgentStatus, RegistryEvent, StatusReason};
use crate::telemetry::metrics::names;

/// How often the timer checks heartbeats when the registry is not told otherwise.
pub const DEFAULT_HEARTBEAT_CHECK: Duration = Duration::from_millis(100);

pub(crate) async fn run_timer(registry: Weak<Shared>, shutdown: Arc<Notify>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.notified() => return,
            _ = tick.tick() => {}
        }
        let Some(registry) = registry.upgrade() else { return };
        registry.expire_missed_heartbeats(Instant::now());
    }
}

impl Shared {
    /// Marks every running agent whose last heartbeat is older than its timeout `Unavailable`.
    pub(crate) fn expire_missed_heartbeats(&self, now: Instant) {
        if self.tracked.load(Ordering::Relaxed) == 0 {
            return;
        }
        let now_ns = self.now_ns(now);
        let missed = |timeout: Duration, last_ns: u64| u128::from(now_ns.saturating_sub(last_ns)) > timeout.as_nanos();
        // Collected first: publishing touches the capability indexes, not this map, but the
        // scan should hold each shard's read lock only as long as it reads.
        let late: Vec<_> = self
            .agents
            .iter()
            .filter(|r| {
                r.heartbeat_timeout.is_some_and(|t| missed(t, r.last_heartbeat_ns()))
                    && r.state().status().is_some_and(AgentStatus::is_running)
            })
            .map(|r| r.value().clone())
            .collect();
        for record in late {
            let Some(timeout) = record.heartbeat_timeout else { continue };
            let mut last_ns = 0;
            let changed = record.update(|s| {
                // Read again: a heartbeat may have landed since the scan.
                last_ns = record.last_heartbeat_ns();
                (missed(timeout, last_ns) && s.status().is_some_and(AgentStatus::is_running))
                    .then(|| s.with_status(AgentStatus::Unavailable).with_expired())
            });
            let Some((old, new)) = changed else { continue };
            metrics::counter!(names::REGISTRY_HEARTBEAT_EXPIRIES, "registry" => self.name.clone(), "agent_type" => record.agent_type.clone()).increment(1);
            let last_heartbeat = self.epoch + Duration::from_nanos(last_ns);
            tracing::warn!(registry = %self.name, agent = %record.id, ?timeout, "agent missed its heartbeats; marked unavailable");
            // The miss first, then the status change it caused.
            self.emit(|| RegistryEvent::HeartbeatMissed { id: record.id.clone(), last_heartbeat, timeout });
            self.publish(&record, old, new, Some(StatusReason::HeartbeatMissed));
        }
    }
}
