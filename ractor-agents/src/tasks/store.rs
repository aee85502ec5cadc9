//! [`TaskStore`]: what every queue backend offers.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::watch;

use super::QueueError;
use super::index::QueueCounts;
use super::model::{Enqueued, Lease, LeaseRequest, LeaseToken, Nack, NackOutcome, Task, TaskId, TaskRecord};
use super::payload::Payload;
use super::time::{Clock, Timestamp};

/// A task queue backend: priority + FIFO per capability, leases with expiry, retries with
/// backoff, dead letters, deduplication by idempotency key.
///
/// Backends: [`MemoryStore`](super::MemoryStore) (fast, gone on exit) and
/// [`DurableStore`](super::DurableStore) (on local disk; the default for services). Both run the same rules ([`QueueState`](super::QueueState)).
/// Hold it as `Arc<dyn TaskStore>`; every method is safe to call from many tasks at once.
///
/// A returned `Ok` is the store's acknowledgement: for a durable store the change is on disk.
#[async_trait]
pub trait TaskStore: Send + Sync + 'static {
    /// Adds a task (or finds the one with the same idempotency key).
    async fn enqueue(&self, task: Task) -> Result<Enqueued, QueueError>;

    /// Adds several tasks at once: all or none.
    async fn enqueue_batch(&self, tasks: Vec<Task>) -> Result<Vec<Enqueued>, QueueError>;

    /// Leases up to `request.max` tasks of one capability; may return none.
    async fn lease(&self, request: LeaseRequest) -> Result<Vec<Lease>, QueueError>;

    /// Marks a leased task Running.
    async fn start(&self, id: TaskId, token: LeaseToken) -> Result<(), QueueError>;

    /// Extends a lease to `by` from now; returns the new expiry.
    async fn extend(&self, id: TaskId, token: LeaseToken, by: Duration) -> Result<Timestamp, QueueError>;

    /// Completes a task with its result.
    async fn ack(&self, id: TaskId, token: LeaseToken, result: Payload) -> Result<(), QueueError>;

    /// Completes several tasks in one go (one lock, and for a durable store one sync); each
    /// gets its own answer (a stale lease is refused without failing the others). `Err` only if
    /// the store itself failed.
    async fn ack_batch(
        &self,
        acks: Vec<(TaskId, LeaseToken, Payload)>,
    ) -> Result<Vec<Result<(), QueueError>>, QueueError>;

    /// Gives a task back after a failed attempt.
    async fn nack(&self, id: TaskId, token: LeaseToken, nack: Nack) -> Result<NackOutcome, QueueError>;

    /// Gives a leased task back untouched (never run): Pending at once, attempt not counted.
    async fn release(&self, id: TaskId, token: LeaseToken) -> Result<(), QueueError>;

    /// Cancels an unfinished task; returns its record.
    async fn cancel(&self, id: TaskId) -> Result<TaskRecord, QueueError>;

    /// Sends a dead-lettered or failed task back to Pending.
    async fn redrive(&self, id: TaskId) -> Result<(), QueueError>;

    /// The task's current record.
    async fn get(&self, id: TaskId) -> Result<Option<TaskRecord>, QueueError>;

    /// Waits until the task is finished (Succeeded, Failed, DeadLettered or Cancelled), at most
    /// `timeout`; returns its final record.
    async fn wait(&self, id: TaskId, timeout: Duration) -> Result<TaskRecord, QueueError>;

    /// Dead-lettered tasks after `after` in id order, at most `limit` (page with the last id).
    async fn dead_letters(&self, after: Option<TaskId>, limit: usize) -> Result<Vec<TaskRecord>, QueueError>;

    /// How many tasks of `capability` are leasable now (see
    /// [`QueueState::ready_count`](super::QueueState::ready_count)).
    async fn ready_count(&self, capability: &str) -> Result<usize, QueueError>;

    /// Counts by status and priority.
    async fn counts(&self) -> Result<QueueCounts, QueueError>;

    /// Runs due timers now (expired leases, passed deadlines); returns how many tasks changed.
    async fn expire_due(&self) -> Result<usize, QueueError>;

    /// Drops tasks that finished more than `older_than` ago; returns how many.
    async fn purge_finished(&self, older_than: Duration) -> Result<usize, QueueError>;

    /// When something next happens by itself (see [`QueueState::next_due`](super::QueueState::next_due)).
    fn next_due(&self) -> Option<Timestamp>;

    /// A version number that changes whenever tasks may have become leasable. Consumers wait on
    /// it (and on [`next_due`](Self::next_due)) instead of polling.
    fn changes(&self) -> watch::Receiver<u64>;

    /// The clock the store reads.
    fn clock(&self) -> Arc<dyn Clock>;
}
