//! [`TaskStoreQueue`]: any `ractor_agents` [`TaskStore`] as a [`QueueUnderTest`].

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ractor_agents::tasks::{DurableStore, LeaseRequest, LeaseToken, Payload, Task, TaskId, TaskStore};

use super::{CommitStats, Leased, QueueError, QueueUnderTest};

/// A `TaskStore` under the workload: tasks of one capability, the acks of a batch awaited together.
pub struct TaskStoreQueue {
    name: String,
    store: Arc<dyn TaskStore>,
    stats: Option<Arc<DurableStore>>,
}

impl TaskStoreQueue {
    /// Any store (no commit counts).
    pub fn new(name: impl Into<String>, store: Arc<dyn TaskStore>) -> Self {
        Self { name: name.into(), store, stats: None }
    }

    /// The durable store, with its sync and record counts.
    pub fn durable(name: impl Into<String>, store: Arc<DurableStore>) -> Self {
        Self { name: name.into(), store: store.clone(), stats: Some(store) }
    }
}

const CAPABILITY: &str = "bench";

#[async_trait]
impl QueueUnderTest for TaskStoreQueue {
    fn name(&self) -> String {
        self.name.clone()
    }

    async fn enqueue(&self, payload: Vec<u8>, priority: u8) -> Result<u64, QueueError> {
        Ok(self.store.enqueue(Task::new(CAPABILITY, payload).priority(priority)).await?.id.0)
    }

    async fn lease(&self, max: usize, lease_for: Duration, wait: Duration) -> Result<Vec<Leased>, QueueError> {
        let mut changes = self.store.changes();
        let request = LeaseRequest::new(CAPABILITY).max(max).lease_for(lease_for);
        let mut leases = self.store.lease(request.clone()).await?;
        if leases.is_empty() && tokio::time::timeout(wait, changes.changed()).await.is_ok() {
            leases = self.store.lease(request).await?;
        }
        Ok(leases
            .into_iter()
            .map(|lease| Leased {
                id: lease.id().0,
                token: lease.token.0,
                payload: lease.task.payload.as_bytes().to_vec(),
            })
            .collect())
    }

    async fn ack(&self, tasks: Vec<Leased>) -> Result<(), QueueError> {
        // Concurrently, in this task (a task per ack would cost a spawn each).
        let acks =
            tasks.into_iter().map(|task| self.store.ack(TaskId(task.id), LeaseToken(task.token), Payload::default()));
        futures::future::try_join_all(acks).await?;
        Ok(())
    }

    fn commit_stats(&self) -> Option<CommitStats> {
        self.stats.as_ref().map(|store| {
            let stats = store.stats();
            CommitStats { syncs: stats.syncs, records: stats.records }
        })
    }
}
