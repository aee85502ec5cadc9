//! redb 5 behind one group-committing writer: one write transaction per batch, committed with
//! `Durability::Immediate` (redb's default: durable when `commit` returns).
//!
//! One table, task id → task record (a fixed header with priority, attempts, lease token and deadline, then the payload). An enqueue inserts a record, a lease
//! rewrites it (token, deadline, attempts), an ack removes it; the ready order is kept in memory by
//! the writer (see [`group_commit`](super::group_commit)).

use std::path::Path;

use redb::{Database, Durability, ReadableTable, TableDefinition, WriteTransaction};

use super::group_commit::{Batch, CommitEngine, GroupCommitQueue};
use super::task_record::TaskRecord;
use super::{QueueError, QueueOptions, TaskId};

const TASKS: TableDefinition<u64, &[u8]> = TableDefinition::new("tasks");

/// Opens (or creates) the queue stored in `dir/queue.redb`.
pub fn open(dir: &Path, options: QueueOptions) -> Result<GroupCommitQueue, QueueError> {
    let path = dir.join("queue.redb");
    let database = Database::create(&path).map_err(QueueError::redb)?;
    GroupCommitQueue::start("redb", RedbEngine { database, open: None }, options)
}

struct RedbEngine {
    database: Database,
    /// The transaction `write` began and `commit` ends.
    open: Option<WriteTransaction>,
}

impl CommitEngine for RedbEngine {
    fn recover(&mut self) -> Result<Vec<(TaskId, u8)>, QueueError> {
        let txn = self.database.begin_write().map_err(QueueError::redb)?;
        let mut tasks = Vec::new();
        {
            let table = txn.open_table(TASKS).map_err(QueueError::redb)?;
            for entry in table.iter().map_err(QueueError::redb)? {
                let (id, bytes) = entry.map_err(QueueError::redb)?;
                let id = id.value();
                tasks.push((id, TaskRecord::decode(id, bytes.value())?.priority));
            }
        }
        // Commits the table's creation on a fresh file.
        txn.commit().map_err(QueueError::redb)?;
        Ok(tasks)
    }

    fn write(&mut self, batch: &Batch) -> Result<Vec<Vec<u8>>, QueueError> {
        let mut txn = self.database.begin_write().map_err(QueueError::redb)?;
        txn.set_durability(Durability::Immediate).map_err(QueueError::redb)?;
        let mut payloads = Vec::with_capacity(batch.leases.len());
        {
            let mut table = txn.open_table(TASKS).map_err(QueueError::redb)?;
            for (id, priority, payload) in &batch.inserts {
                table.insert(id, TaskRecord::encode_new(*priority, payload).as_slice()).map_err(QueueError::redb)?;
            }
            for mark in &batch.leases {
                let stored = table.get(mark.id).map_err(QueueError::redb)?.map(|bytes| bytes.value().to_vec());
                let stored =
                    stored.ok_or(QueueError::CorruptRecord { id: mark.id, reason: "a ready task has no record" })?;
                let record = TaskRecord::decode(mark.id, &stored)?.leased(mark.token, mark.deadline_ms);
                table.insert(mark.id, record.encode().as_slice()).map_err(QueueError::redb)?;
                payloads.push(record.payload);
            }
            for id in &batch.deletes {
                table.remove(id).map_err(QueueError::redb)?;
            }
        }
        self.open = Some(txn);
        Ok(payloads)
    }

    fn commit(&mut self) -> Result<(), QueueError> {
        match self.open.take() {
            Some(txn) => txn.commit().map_err(QueueError::redb),
            None => Ok(()),
        }
    }
}
