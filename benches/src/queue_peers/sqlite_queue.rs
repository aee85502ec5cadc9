//! SQLite (bundled, WAL mode, `synchronous = FULL`: the WAL is fsynced at every commit) behind one
//! group-committing writer: one transaction per batch, prepared statements cached.
//!
//! One table, `tasks`, keyed by the task id (SQLite's rowid). An enqueue inserts a row, a lease
//! updates its token, deadline and attempts (`RETURNING payload`), an ack deletes it; the ready
//! order is kept in memory by the writer (see [`group_commit`](super::group_commit)), so the table
//! needs no secondary index.

use std::path::Path;

use rusqlite::{Connection, params};

use super::group_commit::{Batch, CommitEngine, GroupCommitQueue};
use super::{QueueError, QueueOptions, TaskId};

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS tasks (
    id INTEGER PRIMARY KEY,
    priority INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    lease_token INTEGER NOT NULL DEFAULT 0,
    lease_deadline_ms INTEGER NOT NULL DEFAULT 0,
    payload BLOB NOT NULL
)";
const INSERT: &str = "INSERT INTO tasks (id, priority, payload) VALUES (?1, ?2, ?3)";
const LEASE: &str =
    "UPDATE tasks SET attempts = attempts + 1, lease_token = ?2, lease_deadline_ms = ?3 WHERE id = ?1 RETURNING payload";
const DELETE: &str = "DELETE FROM tasks WHERE id = ?1";

/// Opens (or creates) the queue stored in `dir/queue.sqlite`.
pub fn open(dir: &Path, options: QueueOptions) -> Result<GroupCommitQueue, QueueError> {
    let connection = Connection::open(dir.join("queue.sqlite"))?;
    let mode: String = connection.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(QueueError::Sqlite(rusqlite::Error::InvalidQuery));
    }
    connection.pragma_update(None, "synchronous", "FULL")?;
    connection.execute_batch(SCHEMA)?;
    GroupCommitQueue::start("sqlite", SqliteEngine { connection, in_transaction: false }, options)
}

struct SqliteEngine {
    connection: Connection,
    in_transaction: bool,
}

/// SQLite's integers are signed; ids and tokens stay far below 2^63.
fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl CommitEngine for SqliteEngine {
    fn recover(&mut self) -> Result<Vec<(TaskId, u8)>, QueueError> {
        let mut statement = self.connection.prepare("SELECT id, priority FROM tasks")?;
        let rows = statement.query_map([], |row| Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?)))?;
        let mut tasks = Vec::new();
        for row in rows {
            let (id, priority) = row?;
            let id = TaskId::try_from(id).map_err(|_| QueueError::CorruptRecord { id: 0, reason: "negative id" })?;
            let priority = u8::try_from(priority)
                .map_err(|_| QueueError::CorruptRecord { id, reason: "priority out of range" })?;
            tasks.push((id, priority));
        }
        Ok(tasks)
    }

    fn write(&mut self, batch: &Batch) -> Result<Vec<Vec<u8>>, QueueError> {
        self.connection.execute_batch("BEGIN IMMEDIATE")?;
        self.in_transaction = true;
        let mut payloads = Vec::with_capacity(batch.leases.len());
        {
            let mut insert = self.connection.prepare_cached(INSERT)?;
            for (id, priority, payload) in &batch.inserts {
                insert.execute(params![signed(*id), priority, payload])?;
            }
        }
        {
            let mut lease = self.connection.prepare_cached(LEASE)?;
            for mark in &batch.leases {
                let params = params![signed(mark.id), signed(mark.token), signed(mark.deadline_ms)];
                payloads.push(lease.query_row(params, |row| row.get::<_, Vec<u8>>(0))?);
            }
        }
        {
            let mut delete = self.connection.prepare_cached(DELETE)?;
            for id in &batch.deletes {
                delete.execute([signed(*id)])?;
            }
        }
        Ok(payloads)
    }

    fn commit(&mut self) -> Result<(), QueueError> {
        if std::mem::take(&mut self.in_transaction) {
            self.connection.execute_batch("COMMIT")?;
        }
        Ok(())
    }
}
