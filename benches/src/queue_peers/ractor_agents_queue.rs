//! The project's own stores as a [`DurableQueue`]: `ractor-agents` (the embedded
//! [`DurableStore`], journal with group commit, fsync on) and `ractor-agents-memory`
//! ([`MemoryStore`], the ceiling without a disk).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ractor_agents::tasks::{
    DurableOptions, DurableStore, LeaseRequest, LeaseToken, MemoryStore, Payload, Task, TaskId as StoreId, TaskStore,
};

use super::{Ack, CommitStats, DurableQueue, LeasedTask, QueueError, QueueOptions, TaskId};

/// Every benchmark task requires this capability.
const CAPABILITY: &str = "bench";

/// A `TaskStore` under the workload.
pub struct TaskStoreQueue {
    name: &'static str,
    store: Arc<dyn TaskStore>,
    durable: Option<Arc<DurableStore>>,
}

/// Opens a [`DurableStore`] in `dir`; with [`QueueOptions::sync_leases`] off, a lease answers
/// before its own record is durable (as every other peer's lease does).
pub fn open_durable(dir: &Path, options: QueueOptions) -> Result<TaskStoreQueue, QueueError> {
    let store = Arc::new(DurableStore::open_with(dir, DurableOptions::default().durable_leases(options.sync_leases))?);
    Ok(TaskStoreQueue { name: "ractor-agents", store: store.clone(), durable: Some(store) })
}

/// A [`MemoryStore`] (no disk: what the queue's own rules cost).
pub fn open_memory() -> TaskStoreQueue {
    TaskStoreQueue { name: "ractor-agents-memory", store: Arc::new(MemoryStore::new()), durable: None }
}

#[async_trait]
impl DurableQueue for TaskStoreQueue {
    fn name(&self) -> String {
        self.name.to_owned()
    }

    async fn enqueue(&self, payload: Vec<u8>, priority: u8) -> Result<TaskId, QueueError> {
        Ok(self.store.enqueue(Task::new(CAPABILITY, payload).priority(priority)).await?.id.0)
    }

    async fn lease(&self, max: usize, lease_for: Duration, wait: Duration) -> Result<Vec<LeasedTask>, QueueError> {
        // Subscribe before leasing: work enqueued after an empty lease changes the version.
        let mut changes = self.store.changes();
        changes.borrow_and_update();
        let request = LeaseRequest::new(CAPABILITY).max(max).lease_for(lease_for);
        let mut leases = self.store.lease(request.clone()).await?;
        if leases.is_empty() && tokio::time::timeout(wait, changes.changed()).await.is_ok() {
            leases = self.store.lease(request).await?;
        }
        Ok(leases
            .into_iter()
            .map(|lease| LeasedTask {
                id: lease.id().0,
                token: lease.token.0,
                payload: lease.task.payload.as_bytes().to_vec(),
            })
            .collect())
    }

    async fn ack(&self, acks: Vec<Ack>) -> Result<(), QueueError> {
        // One batch: one lock and one journal sync for all of them, as every peer acks.
        let acks = acks.into_iter().map(|a| (StoreId(a.id), LeaseToken(a.token), Payload::default())).collect();
        for answer in self.store.ack_batch(acks).await? {
            answer?;
        }
        Ok(())
    }

    async fn commit_stats(&self) -> Result<Option<CommitStats>, QueueError> {
        Ok(self.durable.as_ref().map(|store| {
            let stats = store.stats();
            CommitStats { commits: stats.syncs, records: stats.records }
        }))
    }

    async fn close(&self) -> Result<(), QueueError> {
        if let Some(store) = &self.durable {
            store.close()?;
        }
        Ok(())
    }
}
