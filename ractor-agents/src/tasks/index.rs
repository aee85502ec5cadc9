//! The queue's indexes: which tasks are leasable per capability (priority, then FIFO), which
//! wait for a retry time, which leases and deadlines run out when, and counts by status and
//! priority. Each task is in exactly the indexes its status calls for; `remove` then `insert`
//! around every change keeps that true.

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use super::model::{TaskId, TaskRecord, TaskStatus};
use super::time::Timestamp;
use crate::telemetry::metrics::DepthGauges;

/// Hashes task ids (sequential u64s) with one multiply: enough spread for a swiss table,
/// far cheaper than SipHash on the hot path.
#[derive(Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

pub(crate) type IdMap<V> = HashMap<TaskId, V, BuildHasherDefault<IdHasher>>;

/// Position in a capability's ready set: higher priority first, then lower id (earlier enqueue).
pub(crate) type ReadyKey = (Reverse<u8>, TaskId);

#[derive(Default)]
pub(crate) struct Indexes {
    pub(crate) ready: HashMap<Arc<str>, BTreeSet<ReadyKey>>,
    pub(crate) delayed: BTreeSet<(Timestamp, TaskId)>,
    pub(crate) leases: BTreeSet<(Timestamp, TaskId)>,
    pub(crate) deadlines: BTreeSet<(Timestamp, TaskId)>,
    /// Finished tasks in the order they finished, for retention. Entries go stale when a task
    /// is redriven; `purge` skips those.
    pub(crate) finished: VecDeque<(Timestamp, TaskId)>,
    pub(crate) idempotency: HashMap<Arc<str>, TaskId>,
}

impl Indexes {
    /// Adds `rec` to the indexes its status calls for. `at` is the time of the change: a
    /// Pending task available after it waits in `delayed`.
    pub(crate) fn insert(&mut self, rec: &TaskRecord, at: Timestamp) {
        match rec.status {
            TaskStatus::Pending if rec.available_at > at => {
                self.delayed.insert((rec.available_at, rec.id));
            }
            TaskStatus::Pending => {
                self.ready_set(&rec.capability).insert((Reverse(rec.priority), rec.id));
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
                    && let Some(set) = self.ready.get_mut(&rec.capability)
                {
                    set.remove(&(Reverse(rec.priority), rec.id));
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

    fn ready_set(&mut self, capability: &Arc<str>) -> &mut BTreeSet<ReadyKey> {
        if !self.ready.contains_key(capability) {
            self.ready.insert(capability.clone(), BTreeSet::new());
        }
        #[allow(clippy::expect_used)]
        self.ready.get_mut(capability).expect("inserted above")
    }

    /// Moves tasks whose retry time has come from `delayed` to their ready set; returns how many.
    pub(crate) fn promote_due(&mut self, now: Timestamp, tasks: &IdMap<TaskRecord>) -> usize {
        let mut promoted = 0;
        while let Some(&(at, id)) = self.delayed.first() {
            if at > now {
                break;
            }
            self.delayed.pop_first();
            if let Some(rec) = tasks.get(&id) {
                self.ready_set(&rec.capability).insert((Reverse(rec.priority), id));
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
