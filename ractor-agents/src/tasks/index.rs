//! The queue's indexes: which tasks are leasable per capability (priority, then FIFO), which
//! wait for a retry time, which leases and deadlines run out when, and counts by status and
//! priority. Each task is in exactly the indexes its status calls for; `remove` then `insert`
//! around every change keeps that true.

use std::cmp::Reverse;
use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;

use rustc_hash::FxHashMap;

use super::model::{TaskId, TaskRecord, TaskStatus};
use super::time::Timestamp;
use crate::telemetry::metrics::{CapabilityMetrics, DepthGauges};

pub(crate) type IdMap<V> = FxHashMap<TaskId, V>;

/// Position in a capability's ready set: higher priority first, then lower id (earlier enqueue).
pub(crate) type ReadyKey = (Reverse<u8>, TaskId);

/// One capability's leasable tasks and its metric handles (resolved once: a metrics registry
/// lookup with labels costs more than the queue operation itself).
pub(crate) struct Lane {
    pub(crate) ready: BTreeSet<ReadyKey>,
    pub(crate) metrics: CapabilityMetrics,
}

#[derive(Default)]
pub(crate) struct Indexes {
    /// Per capability. Lanes are created when a task of the capability is first stored and kept
    /// (a handful of capabilities per queue), so a task's lane always exists.
    pub(crate) lanes: FxHashMap<Arc<str>, Lane>,
    pub(crate) delayed: BTreeSet<(Timestamp, TaskId)>,
    pub(crate) leases: BTreeSet<(Timestamp, TaskId)>,
    pub(crate) deadlines: BTreeSet<(Timestamp, TaskId)>,
    /// Finished tasks in the order they finished, for retention. Entries go stale when a task
    /// is redriven; `purge` skips those.
    pub(crate) finished: VecDeque<(Timestamp, TaskId)>,
    /// Set when some lane went from empty to non-empty: only then can a consumer that found
    /// nothing to lease have something now. Read and cleared by the store after each operation.
    pub(crate) became_ready: bool,
    /// SipHash on purpose: idempotency keys can come from outside (an HTTP header).
    pub(crate) idempotency: std::collections::HashMap<Arc<str>, TaskId>,
}

impl Indexes {
    /// Adds `rec` to the indexes its status calls for. `at` is the time of the change: a
    /// Pending task available after it waits in `delayed`.
    pub(crate) fn insert(&mut self, rec: &TaskRecord, at: Timestamp) {
        let lane = self.lane(&rec.capability);
        match rec.status {
            TaskStatus::Pending if rec.available_at > at => {
                self.delayed.insert((rec.available_at, rec.id));
            }
            TaskStatus::Pending => {
                let was_empty = lane.ready.is_empty();
                lane.ready.insert((Reverse(rec.priority), rec.id));
                self.became_ready |= was_empty;
            }
            TaskStatus::Leased | TaskStatus::Running => {
                if let Some(lease) = &rec.lease {
                    self.leases.insert((lease.expires_at, rec.id));
                }
            }
            _ => self.finished.push_back((rec.updated_at, rec.id)),
        }
        if let (Some(deadline), false) = (rec.deadline, rec.status.is_final()) {
            self.deadlines.insert((deadline, rec.id));
        }
    }

    /// Removes `rec` from the indexes its (current) status put it in.
    pub(crate) fn remove(&mut self, rec: &TaskRecord) {
        match rec.status {
            TaskStatus::Pending => {
                if !self.delayed.remove(&(rec.available_at, rec.id))
                    && let Some(lane) = self.lanes.get_mut(&rec.capability)
                {
                    lane.ready.remove(&(Reverse(rec.priority), rec.id));
                }
            }
            TaskStatus::Leased | TaskStatus::Running => {
                if let Some(lease) = &rec.lease {
                    self.leases.remove(&(lease.expires_at, rec.id));
                }
            }
            // Stale `finished` entries are skipped by `purge`: removing from the middle of a
            // deque would cost O(n).
            _ => {}
        }
        if let Some(deadline) = rec.deadline {
            self.deadlines.remove(&(deadline, rec.id));
        }
    }

    /// The capability's lane, created on first use.
    pub(crate) fn lane(&mut self, capability: &Arc<str>) -> &mut Lane {
        if !self.lanes.contains_key(capability) {
            let lane = Lane { ready: BTreeSet::new(), metrics: CapabilityMetrics::new(capability) };
            self.lanes.insert(capability.clone(), lane);
        }
        #[allow(clippy::expect_used)]
        self.lanes.get_mut(capability).expect("inserted above")
    }

    /// The metric handles of a stored task's capability.
    pub(crate) fn metrics(&self, capability: &str) -> Option<&CapabilityMetrics> {
        self.lanes.get(capability).map(|l| &l.metrics)
    }

    /// Moves tasks whose retry time has come from `delayed` to their ready set; returns how many.
    pub(crate) fn promote_due(&mut self, now: Timestamp, tasks: &IdMap<Box<TaskRecord>>) -> usize {
        let mut promoted = 0;
        while let Some(&(at, id)) = self.delayed.first() {
            if at > now {
                break;
            }
            self.delayed.pop_first();
            if let Some(rec) = tasks.get(&id) {
                let lane = self.lane(&rec.capability);
                let was_empty = lane.ready.is_empty();
                lane.ready.insert((Reverse(rec.priority), id));
                self.became_ready |= was_empty;
                promoted += 1;
            }
        }
        promoted
    }
}

/// Tasks by status and priority, mirrored into gauges.
pub(crate) struct Counts {
    by: Box<[[u64; 256]; 7]>,
    gauges: DepthGauges,
}

impl Counts {
    pub(crate) fn new() -> Self {
        Self { by: Box::new([[0; 256]; 7]), gauges: DepthGauges::default() }
    }

    pub(crate) fn add(&mut self, status: TaskStatus, priority: u8) {
        let n = &mut self.by[status.index()][usize::from(priority)];
        *n += 1;
        self.gauges.set(status, priority, *n);
    }

    pub(crate) fn sub(&mut self, status: TaskStatus, priority: u8) {
        let n = &mut self.by[status.index()][usize::from(priority)];
        *n = n.saturating_sub(1);
        self.gauges.set(status, priority, *n);
    }

    pub(crate) fn snapshot(&self) -> QueueCounts {
        let mut counts = QueueCounts::default();
        for status in TaskStatus::ALL {
            for (priority, &n) in self.by[status.index()].iter().enumerate() {
                if n > 0 {
                    counts.by_status[status.index()] += n;
                    counts.by_priority.push((status, priority as u8, n));
                }
            }
        }
        counts
    }
}

/// How many tasks the queue holds, by status and by (status, priority).
///
/// ```
/// use ractor_agents::tasks::{QueueCounts, TaskStatus};
/// let counts = QueueCounts::default();
/// assert_eq!(counts.status(TaskStatus::Pending), 0);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueCounts {
    by_status: [u64; 7],
    by_priority: Vec<(TaskStatus, u8, u64)>,
}

impl QueueCounts {
    /// Tasks in `status`.
    pub fn status(&self, status: TaskStatus) -> u64 {
        self.by_status[status.index()]
    }

    /// Tasks in `status` with `priority`.
    pub fn status_priority(&self, status: TaskStatus, priority: u8) -> u64 {
        self.by_priority.iter().find(|(s, p, _)| *s == status && *p == priority).map_or(0, |(_, _, n)| *n)
    }

    /// Every non-zero (status, priority, count), statuses in lifecycle order, priorities ascending.
    pub fn iter(&self) -> impl Iterator<Item = (TaskStatus, u8, u64)> + '_ {
        self.by_priority.iter().copied()
    }

    /// Tasks not yet finished (Pending, Leased, Running).
    pub fn unfinished(&self) -> u64 {
        [TaskStatus::Pending, TaskStatus::Leased, TaskStatus::Running].iter().map(|s| self.status(*s)).sum()
    }
}
