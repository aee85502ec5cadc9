//! [`MemoryStore`]: the queue in process memory. Fast; everything is gone when the process exits.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::watch;

use super::QueueError;
use super::index::QueueCounts;
use super::model::{Enqueued, Lease, LeaseRequest, LeaseToken, Nack, NackOutcome, Task, TaskId, TaskRecord};
use super::payload::Payload;
use super::signals::{Signals, Wakeups};
use super::state::QueueState;
use super::store::TaskStore;
use super::time::{Clock, SystemClock, Timestamp};

/// A [`TaskStore`] in memory, for tests, examples and work that may be lost on exit.
///
/// ```
/// use ractor_agents::tasks::{LeaseRequest, MemoryStore, Payload, Task, TaskStatus, TaskStore};
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), ractor_agents::tasks::QueueError> {
/// let store = MemoryStore::new();
/// let id = store.enqueue(Task::new("echo", "hello")).await?.id;
/// let lease = store.lease(LeaseRequest::new("echo")).await?.remove(0);
/// store.ack(lease.id(), lease.token, Payload::from("HELLO")).await?;
/// let done = store.get(id).await?.expect("kept");
/// assert_eq!(done.status, TaskStatus::Succeeded);
/// assert_eq!(done.result, Some(Payload::from("HELLO")));
/// # Ok(()) }
/// ```
pub struct MemoryStore {
    state: Mutex<QueueState>,
    signals: Signals,
    clock: Arc<dyn Clock>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// An empty store on the system clock.
    pub fn new() -> Self {
        Self::with_clock(Arc::new(SystemClock))
    }

    /// An empty store reading `clock` (a [`ManualClock`](super::ManualClock) in tests).
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        Self { state: Mutex::new(QueueState::new()), signals: Signals::default(), clock }
    }

    fn lock(&self) -> MutexGuard<'_, QueueState> {
        // A panic while holding the lock cannot leave the state half-changed: `apply` does not
        // panic and each event is applied whole. So a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `op` on the state, then delivers the wake-ups its events call for.
    fn run<T>(&self, op: impl FnOnce(&mut QueueState, Timestamp, &mut Wakeups) -> T) -> T {
        let now = self.clock.now();
        let wakeups = {
            let mut state = self.lock();
            let mut wakeups = self.signals.wakeups();
            let before = state.next_due();
            let out = op(&mut state, now, &mut wakeups);
            let after = state.next_due();
            if after.is_some() && (before.is_none() || after < before) {
                // A timer now fires earlier than before: consumers sleeping until the old one
                // must re-read it.
                wakeups.mark_ready();
            }
            self.signals.resolve(&mut wakeups, &mut state);
            (out, wakeups)
        };
        let (out, wakeups) = wakeups;
        self.signals.deliver(wakeups);
        out
    }
}

#[async_trait]
impl TaskStore for MemoryStore {
    async fn enqueue(&self, task: Task) -> Result<Enqueued, QueueError> {
        self.run(|s, now, ev| s.enqueue(now, task, ev))
    }

    async fn enqueue_batch(&self, tasks: Vec<Task>) -> Result<Vec<Enqueued>, QueueError> {
        self.run(|s, now, ev| s.enqueue_batch(now, tasks, ev))
    }

    async fn lease(&self, request: LeaseRequest) -> Result<Vec<Lease>, QueueError> {
        Ok(self.run(|s, now, ev| s.lease(now, &request, ev)))
    }

    async fn start(&self, id: TaskId, token: LeaseToken) -> Result<(), QueueError> {
        self.run(|s, now, ev| s.start(now, id, token, ev))
    }

    async fn extend(&self, id: TaskId, token: LeaseToken, by: Duration) -> Result<Timestamp, QueueError> {
        self.run(|s, now, ev| s.extend(now, id, token, by, ev))
    }

    async fn ack(&self, id: TaskId, token: LeaseToken, result: Payload) -> Result<(), QueueError> {
        self.run(|s, now, ev| s.ack(now, id, token, result, ev))
    }

    async fn ack_batch(
        &self,
        acks: Vec<(TaskId, LeaseToken, Payload)>,
    ) -> Result<Vec<Result<(), QueueError>>, QueueError> {
        Ok(self
            .run(|s, now, ev| acks.into_iter().map(|(id, token, result)| s.ack(now, id, token, result, ev)).collect()))
    }

    async fn nack(&self, id: TaskId, token: LeaseToken, nack: Nack) -> Result<NackOutcome, QueueError> {
        self.run(|s, now, ev| s.nack(now, id, token, nack, ev))
    }

    async fn release(&self, id: TaskId, token: LeaseToken) -> Result<(), QueueError> {
        self.run(|s, now, ev| s.release(now, id, token, ev))
    }

    async fn cancel(&self, id: TaskId) -> Result<TaskRecord, QueueError> {
        self.run(|s, now, ev| s.cancel(now, id, ev))
    }

    async fn redrive(&self, id: TaskId) -> Result<(), QueueError> {
        self.run(|s, now, ev| s.redrive(now, id, ev))
    }

    async fn get(&self, id: TaskId) -> Result<Option<TaskRecord>, QueueError> {
        Ok(self.lock().get(id).cloned())
    }

    async fn wait(&self, id: TaskId, timeout: Duration) -> Result<TaskRecord, QueueError> {
        let rx = {
            let state = self.lock();
            let rec = state.get(id).ok_or(QueueError::NotFound(id))?;
            if rec.status.is_final() {
                return Ok(rec.clone());
            }
            self.signals.register(id)
        };
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(rec)) => Ok(rec),
            // Sender dropped without a record: the task was purged while waiting.
            Ok(Err(_)) => Err(QueueError::NotFound(id)),
            Err(_) => {
                let status = self.lock().get(id).map(|r| r.status).ok_or(QueueError::NotFound(id))?;
                Err(QueueError::WaitTimeout { id, status })
            }
        }
    }

    async fn dead_letters(&self, after: Option<TaskId>, limit: usize) -> Result<Vec<TaskRecord>, QueueError> {
        Ok(self.lock().dead_letters(after, limit))
    }

    async fn ready_count(&self, capability: &str) -> Result<usize, QueueError> {
        let now = self.clock.now();
        Ok(self.lock().ready_count(capability, now))
    }

    async fn counts(&self) -> Result<QueueCounts, QueueError> {
        Ok(self.lock().counts())
    }

    async fn expire_due(&self) -> Result<usize, QueueError> {
        Ok(self.run(|s, now, ev| s.expire_due(now, ev)))
    }

    async fn purge_finished(&self, older_than: Duration) -> Result<usize, QueueError> {
        let before = Timestamp(self.clock.now().as_micros().saturating_sub(older_than.as_micros() as u64));
        Ok(self.run(|s, _, ev| s.purge_finished(before, ev)))
    }

    fn next_due(&self) -> Option<Timestamp> {
        self.lock().next_due()
    }

    fn changes(&self) -> watch::Receiver<u64> {
        self.signals.subscribe()
    }

    fn clock(&self) -> Arc<dyn Clock> {
        self.clock.clone()
    }
}
