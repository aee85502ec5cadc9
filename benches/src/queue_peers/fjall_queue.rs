//! fjall 3 (an LSM tree with a journal) behind one group-committing writer: one write batch per
//! batch, committed with `PersistMode::SyncData` (the journal is fdatasynced before `commit`
//! returns).
//!
//! One keyspace, big-endian task id → task record (a fixed header with priority, attempts, lease token and deadline, then the payload). An enqueue inserts a
//! record, a lease rewrites it (token, deadline, attempts), an ack removes it; the ready order is
//! kept in memory by the writer (see [`group_commit`](super::group_commit)). fjall's own write
//! path holds the journal lock through the fsync, so concurrent writers would queue one fsync
//! each: batching in one writer is its best shot.

use std::path::Path;

use fjall::{Database, Keyspace, KeyspaceCreateOptions, OwnedWriteBatch, PersistMode};

use super::group_commit::{Batch, CommitEngine, GroupCommitQueue};
use super::task_record::TaskRecord;
use super::{QueueError, QueueOptions, TaskId};

/// Opens (or creates) the queue stored in `dir/fjall`.
pub fn open(dir: &Path, options: QueueOptions) -> Result<GroupCommitQueue, QueueError> {
    let database = Database::builder(dir.join("fjall")).open()?;
    let tasks = database.keyspace("tasks", KeyspaceCreateOptions::default)?;
    GroupCommitQueue::start("fjall", FjallEngine { database, tasks, open: None }, options)
}

struct FjallEngine {
    database: Database,
    tasks: Keyspace,
    /// The batch `write` filled and `commit` persists.
    open: Option<OwnedWriteBatch>,
}

fn id_from_key(key: &[u8]) -> Result<TaskId, QueueError> {
    let bytes: [u8; 8] =
        key.try_into().map_err(|_| QueueError::CorruptRecord { id: 0, reason: "a key is not 8 bytes" })?;
    Ok(TaskId::from_be_bytes(bytes))
}

impl CommitEngine for FjallEngine {
    fn recover(&mut self) -> Result<Vec<(TaskId, u8)>, QueueError> {
        let mut tasks = Vec::new();
        for entry in self.tasks.iter() {
            let (key, value) = entry.into_inner()?;
            let id = id_from_key(&key)?;
            tasks.push((id, TaskRecord::decode(id, &value)?.priority));
        }
        Ok(tasks)
    }

    fn write(&mut self, batch: &Batch) -> Result<Vec<Vec<u8>>, QueueError> {
        let mut write = self.database.batch().durability(Some(PersistMode::SyncData));
        let mut payloads = Vec::with_capacity(batch.leases.len());
        for (id, priority, payload) in &batch.inserts {
            write.insert(&self.tasks, id.to_be_bytes(), TaskRecord::encode_new(*priority, payload));
        }
        for mark in &batch.leases {
            // A leased task was enqueued by an earlier, committed batch: it is readable.
            let stored = self
                .tasks
                .get(mark.id.to_be_bytes())?
                .ok_or(QueueError::CorruptRecord { id: mark.id, reason: "a ready task has no record" })?;
            let record = TaskRecord::decode(mark.id, &stored)?.leased(mark.token, mark.deadline_ms);
            write.insert(&self.tasks, mark.id.to_be_bytes(), record.encode());
            payloads.push(record.payload);
        }
        for id in &batch.deletes {
            write.remove(&self.tasks, id.to_be_bytes());
        }
        self.open = Some(write);
        Ok(payloads)
    }

    fn commit(&mut self) -> Result<(), QueueError> {
        match self.open.take() {
            Some(write) => Ok(write.commit()?),
            None => Ok(()),
        }
    }
}
