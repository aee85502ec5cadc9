//! [`TaskStore`] for [`DurableStore`]: the memory store's operations, each logged and replied
//! to only once durable.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::watch;

use super::{Durable, DurableStore};
use crate::tasks::QueueError;
use crate::tasks::index::QueueCounts;
use crate::tasks::model::{Enqueued, Lease, LeaseRequest, LeaseToken, Nack, NackOutcome, Task, TaskId, TaskRecord};
use crate::tasks::payload::Payload;
use crate::tasks::store::TaskStore;
use crate::tasks::time::{Clock, Timestamp};

#[async_trait]
impl TaskStore for DurableStore {
    async fn enqueue(&self, task: Task) -> Result<Enqueued, QueueError> {
        self.run("enqueue", |s, now, ev| s.enqueue(now, task, ev)).await?
    }

    async fn enqueue_batch(&self, tasks: Vec<Task>) -> Result<Vec<Enqueued>, QueueError> {
        self.run("enqueue", |s, now, ev| s.enqueue_batch(now, tasks, ev)).await?
    }

    async fn lease(&self, request: LeaseRequest) -> Result<Vec<Lease>, QueueError> {
        let until = if self.inner.durable_leases { Durable::Everything } else { Durable::PriorChanges };
        self.run_until("lease", until, |s, now, ev| s.lease(now, &request, ev)).await
    }

    async fn start(&self, id: TaskId, token: LeaseToken) -> Result<(), QueueError> {
        self.run("start", |s, now, ev| s.start(now, id, token, ev)).await?
    }

    async fn extend(&self, id: TaskId, token: LeaseToken, by: Duration) -> Result<Timestamp, QueueError> {
        self.run("extend", |s, now, ev| s.extend(now, id, token, by, ev)).await?
    }

    async fn ack(&self, id: TaskId, token: LeaseToken, result: Payload) -> Result<(), QueueError> {
        self.run("ack", |s, now, ev| s.ack(now, id, token, result, ev)).await?
    }

    async fn ack_batch(
        &self,
        acks: Vec<(TaskId, LeaseToken, Payload)>,
    ) -> Result<Vec<Result<(), QueueError>>, QueueError> {
        self.run("ack_batch", |s, now, ev| {
            acks.into_iter().map(|(id, token, result)| s.ack(now, id, token, result, ev)).collect()
        })
        .await
    }

    async fn nack(&self, id: TaskId, token: LeaseToken, nack: Nack) -> Result<NackOutcome, QueueError> {
        self.run("nack", |s, now, ev| s.nack(now, id, token, nack, ev)).await?
    }

    async fn release(&self, id: TaskId, token: LeaseToken) -> Result<(), QueueError> {
        self.run("release", |s, now, ev| s.release(now, id, token, ev)).await?
    }

    async fn cancel(&self, id: TaskId) -> Result<TaskRecord, QueueError> {
        self.run("cancel", |s, now, ev| s.cancel(now, id, ev)).await?
    }

    async fn redrive(&self, id: TaskId) -> Result<(), QueueError> {
        self.run("redrive", |s, now, ev| s.redrive(now, id, ev)).await?
    }

    async fn get(&self, id: TaskId) -> Result<Option<TaskRecord>, QueueError> {
        self.read("get", |s| s.get(id).cloned()).await
    }

    async fn wait(&self, id: TaskId, timeout: Duration) -> Result<TaskRecord, QueueError> {
        let (waiter, ticket) = {
            let locked = self.inner.lock();
            locked.usable("wait")?;
            let rec = locked.state.get(id).ok_or(QueueError::NotFound(id))?;
            if rec.status.is_final() {
                (Err(rec.clone()), self.inner.journal.head())
            } else {
                // Registered under the state lock: the finishing operation delivers to it once
                // its event is durable.
                (Ok(self.inner.signals.register(id)), self.inner.journal.head())
            }
        };
        let rx = match waiter {
            Err(finished) => {
                self.inner.wait_durable("wait", ticket).await?;
                return Ok(finished);
            }
            Ok(rx) => rx,
        };
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(rec)) => Ok(rec),
            // Sender dropped without a record: the task was purged while waiting.
            Ok(Err(_)) => Err(QueueError::NotFound(id)),
            Err(_) => {
                let status = self.read("wait", |s| s.get(id).map(|r| r.status)).await?;
                Err(QueueError::WaitTimeout { id, status: status.ok_or(QueueError::NotFound(id))? })
            }
        }
    }

    async fn dead_letters(&self, after: Option<TaskId>, limit: usize) -> Result<Vec<TaskRecord>, QueueError> {
        self.read("dead_letters", |s| s.dead_letters(after, limit)).await
    }

    async fn ready_count(&self, capability: &str) -> Result<usize, QueueError> {
        let now = self.inner.clock.now();
        self.read("ready_count", |s| s.ready_count(capability, now)).await
    }

    async fn counts(&self) -> Result<QueueCounts, QueueError> {
        self.read("counts", |s| s.counts()).await
    }

    async fn expire_due(&self) -> Result<usize, QueueError> {
        self.run("expire_due", |s, now, ev| {
            let changed = s.expire_due(now, ev);
            if changed > 0 {
                // Retry times that came make tasks leasable without an event: wake consumers.
                ev.mark_ready();
            }
            changed
        })
        .await
    }

    async fn purge_finished(&self, older_than: Duration) -> Result<usize, QueueError> {
        let now = self.inner.clock.now();
        let before = Timestamp(now.as_micros().saturating_sub(older_than.as_micros() as u64));
        self.run("purge_finished", |s, _, ev| s.purge_finished(before, ev)).await
    }

    fn next_due(&self) -> Option<Timestamp> {
        self.inner.lock().state.next_due()
    }

    fn changes(&self) -> watch::Receiver<u64> {
        self.inner.signals.subscribe()
    }

    fn clock(&self) -> Arc<dyn Clock> {
        self.inner.clock.clone()
    }
}
