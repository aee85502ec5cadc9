//! [`QueueState`]: the queue's rules as a plain state machine, shared by every embedded backend.

use super::event::{Event, EventSink};
use super::index::{Counts, IdMap, Indexes, QueueCounts};
use super::model::{LeaseInfo, TaskId, TaskRecord, TaskStatus};
use super::time::Timestamp;

/// The queue in memory: tasks, their indexes and counts.
///
/// Every operation (see the methods in `ops`) checks its request, builds an [`Event`], hands it
/// to an [`EventSink`] and then applies it with [`QueueState::apply`]. Replaying the same events
/// into a fresh state gives the same state: that is how the durable store recovers. `apply` never
/// panics, whatever it is fed (events naming unknown tasks are ignored and counted).
///
/// ```
/// use ractor_agents::tasks::{LeaseRequest, QueueState, Task, Timestamp};
/// let mut journal = Vec::new();
/// let mut state = QueueState::new();
/// let now = Timestamp(1_000_000);
/// let id = state.enqueue(now, Task::new("echo", "hi"), &mut |e: &_| journal.push(Clone::clone(e)))?.id;
/// let leases = state.lease(now, &LeaseRequest::new("echo"), &mut |e: &_| journal.push(Clone::clone(e)));
/// assert_eq!(leases[0].id(), id);
///
/// let mut replayed = QueueState::new();
/// for e in journal { replayed.apply(e); }
/// assert_eq!(replayed.get(id), state.get(id));
/// # Ok::<(), ractor_agents::tasks::QueueError>(())
/// ```
pub struct QueueState {
    pub(crate) tasks: IdMap<Box<TaskRecord>>,
    pub(crate) idx: Indexes,
    pub(crate) counts: Counts,
    pub(crate) next_id: u64,
    pub(crate) next_token: u64,
    pub(crate) ignored_events: u64,
}

impl Default for QueueState {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for QueueState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueState").field("tasks", &self.tasks.len()).field("next_id", &self.next_id).finish()
    }
}

impl QueueState {
    /// An empty queue. Task ids start at 1.
    pub fn new() -> Self {
        Self {
            tasks: IdMap::default(),
            idx: Indexes::default(),
            counts: Counts::new(),
            next_id: 1,
            next_token: 1,
            ignored_events: 0,
        }
    }

    /// The task with this id.
    pub fn get(&self, id: TaskId) -> Option<&TaskRecord> {
        self.tasks.get(&id).map(|r| &**r)
    }

    /// Number of tasks kept (finished ones included until purged).
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// True when no task is kept.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Counts by status and priority.
    pub fn counts(&self) -> QueueCounts {
        self.counts.snapshot()
    }

    /// Events `apply` ignored because they named a task it does not hold.
    pub fn ignored_events(&self) -> u64 {
        self.ignored_events
    }

    /// Dead-lettered tasks with ids after `after`, in id order, at most `limit`.
    pub fn dead_letters(&self, after: Option<TaskId>, limit: usize) -> Vec<TaskRecord> {
        let mut out: Vec<&TaskRecord> = self
            .tasks
            .values()
            .map(|r| &**r)
            .filter(|r| r.status == TaskStatus::DeadLettered && after.is_none_or(|a| r.id > a))
            .collect();
        out.sort_unstable_by_key(|r| r.id);
        out.into_iter().take(limit).cloned().collect()
    }

    /// The earliest time something happens by itself: a retry becomes leasable, a lease runs
    /// out, a deadline passes. A consumer sleeps until then instead of polling.
    pub fn next_due(&self) -> Option<Timestamp> {
        [self.idx.delayed.first(), self.idx.leases.first(), self.idx.deadlines.first()]
            .into_iter()
            .flatten()
            .map(|(at, _)| *at)
            .min()
    }

    /// How many tasks requiring `capability` are leasable now, counting retries whose time
    /// has come but that the next lease has not moved yet (a queue-depth signal for autoscaling).
    pub fn ready_count(&self, capability: &str, now: Timestamp) -> usize {
        let ready = self.idx.lanes.get(capability).map_or(0, |l| l.ready.len());
        let due = self
            .idx
            .delayed
            .iter()
            .take_while(|(at, _)| *at <= now)
            .filter(|(_, id)| self.tasks.get(id).is_some_and(|r| &*r.capability == capability))
            .count();
        ready + due
    }

    /// True when a task requiring `capability` could be leased now (retry times that have
    /// passed count, even before the next lease moves them).
    pub fn has_ready(&self, capability: &str, now: Timestamp) -> bool {
        // Every due retry counts, not only the earliest: that one may be another capability's.
        self.idx.lanes.get(capability).is_some_and(|l| !l.ready.is_empty())
            || self
                .idx
                .delayed
                .range(..=(now, TaskId(u64::MAX)))
                .any(|(_, id)| self.tasks.get(id).is_some_and(|r| &*r.capability == capability))
    }

    /// The live state as events: replaying them into an empty state rebuilds this one (finished
    /// tasks included, so results and idempotency keys survive compaction).
    pub fn snapshot(&self) -> Vec<Event> {
        let (watermark, records) = self.snapshot_parts();
        let mut events = Vec::with_capacity(records.len() + 1);
        events.push(watermark);
        events.extend(records.into_iter().map(|r| Event::Enqueued(Box::new(r.clone()))));
        events
    }

    /// True if, since the last call, some capability went from nothing leasable to something
    /// leasable (an enqueue into an empty lane, a retry time that came, a redrive). Consumers
    /// that found nothing only need waking then.
    pub fn take_became_ready(&mut self) -> bool {
        std::mem::take(&mut self.idx.became_ready)
    }

    /// What [`snapshot`](Self::snapshot) returns, borrowed instead of cloned: the watermark
    /// event and the tasks in snapshot order. For a store that encodes them at once (no copy
    /// of every task while it holds its lock).
    pub(crate) fn snapshot_parts(&self) -> (Event, Vec<&TaskRecord>) {
        let mut records: Vec<&TaskRecord> = self.tasks.values().map(|r| &**r).collect();
        // Unfinished tasks by id, then finished ones in the order they finished: replay rebuilds
        // the retention queue in event order, and purge stops at its first entry not old enough.
        records.sort_unstable_by_key(|r| (r.status.is_final().then_some(r.updated_at), r.id));
        (Event::Watermark { next_id: self.next_id, next_token: self.next_token }, records)
    }

    /// Records `event` in `sink`, then applies it.
    pub(crate) fn commit(&mut self, event: Event, sink: &mut impl EventSink) {
        sink.record(&event);
        self.apply(event);
    }

    /// Applies one event. Unknown tasks are ignored (and counted in [`ignored_events`](Self::ignored_events)).
    pub fn apply(&mut self, event: Event) {
        match event {
            Event::Enqueued(rec) => self.insert(rec),
            Event::Leased { id, token, at, expires_at, worker } => {
                self.next_token = self.next_token.max(token.0.saturating_add(1));
                self.transition(id, at, |r| {
                    r.status = TaskStatus::Leased;
                    r.attempts = r.attempts.saturating_add(1);
                    r.lease = Some(LeaseInfo { token, worker, expires_at, leased_at: at });
                });
            }
            Event::Started { id, at } => self.transition(id, at, |r| r.status = TaskStatus::Running),
            Event::Extended { id, expires_at } => {
                let at = self.tasks.get(&id).map_or(Timestamp(0), |r| r.updated_at);
                self.transition(id, at, |r| {
                    if let Some(lease) = &mut r.lease {
                        lease.expires_at = expires_at;
                    }
                });
            }
            Event::Acked { id, at, result } => self.transition(id, at, |r| {
                r.status = TaskStatus::Succeeded;
                r.result = Some(result);
                r.lease = None;
            }),
            Event::Retrying { id, at, available_at, failure } => self.transition(id, at, |r| {
                r.status = TaskStatus::Pending;
                r.available_at = available_at;
                r.failure = Some(failure);
                r.lease = None;
            }),
            Event::DeadLettered { id, at, failure } => self.transition(id, at, |r| {
                r.status = TaskStatus::DeadLettered;
                r.failure = Some(failure);
                r.lease = None;
            }),
            Event::Failed { id, at, failure } => self.transition(id, at, |r| {
                r.status = TaskStatus::Failed;
                r.failure = Some(failure);
                r.lease = None;
            }),
            Event::Cancelled { id, at } => self.transition(id, at, |r| {
                r.status = TaskStatus::Cancelled;
                r.lease = None;
            }),
            Event::Released { id, at } => self.transition(id, at, |r| {
                r.status = TaskStatus::Pending;
                r.attempts = r.attempts.saturating_sub(1);
                r.available_at = at;
                r.lease = None;
            }),
            Event::Redriven { id, at } => self.transition(id, at, |r| {
                r.status = TaskStatus::Pending;
                r.attempts = 0;
                r.available_at = at;
                r.deadline = None;
                r.lease = None;
            }),
            Event::Purged { id } => self.remove(id),
            Event::Watermark { next_id, next_token } => {
                self.next_id = self.next_id.max(next_id);
                self.next_token = self.next_token.max(next_token);
            }
        }
    }

    fn insert(&mut self, rec: Box<TaskRecord>) {
        self.next_id = self.next_id.max(rec.id.0.saturating_add(1));
        if let Some(lease) = &rec.lease {
            self.next_token = self.next_token.max(lease.token.0.saturating_add(1));
        }
        // A snapshot may restore a task the journal already holds: replace it.
        self.remove(rec.id);
        if let Some(key) = &rec.idempotency_key {
            self.idx.idempotency.insert(key.clone(), rec.id);
        }
        self.idx.insert(&rec, rec.updated_at);
        self.counts.add(rec.status, rec.priority);
        self.tasks.insert(rec.id, rec);
    }

    fn remove(&mut self, id: TaskId) {
        let Some(rec) = self.tasks.remove(&id) else { return };
        self.idx.remove(&rec);
        self.counts.sub(rec.status, rec.priority);
        if let Some(key) = &rec.idempotency_key
            && self.idx.idempotency.get(key) == Some(&id)
        {
            self.idx.idempotency.remove(key);
        }
    }

    /// Changes one task: out of its indexes and counts, `change`, back in.
    fn transition(&mut self, id: TaskId, at: Timestamp, change: impl FnOnce(&mut TaskRecord)) {
        let Some(rec) = self.tasks.get_mut(&id) else {
            self.ignored_events += 1;
            return;
        };
        self.idx.remove(rec);
        self.counts.sub(rec.status, rec.priority);
        change(rec);
        rec.updated_at = rec.updated_at.max(at);
        self.idx.insert(rec, at);
        self.counts.add(rec.status, rec.priority);
    }
}
