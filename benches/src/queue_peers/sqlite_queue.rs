//! SQLite (bundled, WAL mode, `synchronous = FULL`: the WAL is fsynced at every commit) behind one
//! group-committing writer: one transaction per batch, and within it set-based statements (multi-row
//! `INSERT`s, `UPDATE`/`DELETE … WHERE id IN rarray(?)`), prepared once and cached.
//!
//! One table, `tasks`, keyed by the task id (SQLite's rowid). An enqueue inserts a row, a lease
//! updates its token, deadline and attempts (`RETURNING payload`), an ack deletes it; the ready
//! order is kept in memory by the writer (see [`group_commit`](super::group_commit)), so the table
//! needs no secondary index.

use std::collections::HashMap;
use std::path::Path;
use std::rc::Rc;

use rusqlite::types::Value;
use rusqlite::{Connection, params};

use super::group_commit::{Batch, CommitEngine, GroupCommitQueue, LeaseMark};
use super::{QueueError, QueueOptions, TaskId};

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS tasks (
    id INTEGER PRIMARY KEY,
    priority INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    lease_token INTEGER NOT NULL DEFAULT 0,
    lease_deadline_ms INTEGER NOT NULL DEFAULT 0,
    payload BLOB NOT NULL
)";
const LEASE: &str = "UPDATE tasks SET attempts = attempts + 1, lease_token = ?1, lease_deadline_ms = ?2
    WHERE id IN rarray(?3) RETURNING id, payload";
const DELETE: &str = "DELETE FROM tasks WHERE id IN rarray(?1)";
/// Rows per multi-row `INSERT`, largest first: a batch is cut into these, so only this many
/// statements are ever prepared (SQLite allows 32,766 parameters; 128 rows use 384).
const INSERT_ROWS: [usize; 5] = [128, 32, 8, 2, 1];

fn insert_sql(rows: usize) -> String {
    let values = vec!["(?, ?, ?)"; rows].join(", ");
    format!("INSERT INTO tasks (id, priority, payload) VALUES {values}")
}

/// Opens (or creates) the queue stored in `dir/queue.sqlite`.
pub fn open(dir: &Path, options: QueueOptions) -> Result<GroupCommitQueue, QueueError> {
    let connection = Connection::open(dir.join("queue.sqlite"))?;
    let mode: String = connection.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(QueueError::SqliteNotWal { mode });
    }
    connection.pragma_update(None, "synchronous", "FULL")?;
    connection.execute_batch(SCHEMA)?;
    rusqlite::vtab::array::load_module(&connection)?;
    connection.set_prepared_statement_cache_capacity(16);
    GroupCommitQueue::start("sqlite", SqliteEngine { connection, in_transaction: false }, options)
}

struct SqliteEngine {
    connection: Connection,
    in_transaction: bool,
}

/// SQLite's integers are signed; ids, tokens and deadlines stay far below 2^63.
fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn id_array(ids: impl Iterator<Item = TaskId>) -> Rc<Vec<Value>> {
    Rc::new(ids.map(|id| Value::Integer(signed(id))).collect())
}

impl SqliteEngine {
    fn insert(&mut self, inserts: &[(TaskId, u8, Vec<u8>)]) -> Result<(), QueueError> {
        let mut rest = inserts;
        for rows in INSERT_ROWS {
            if rest.len() < rows {
                continue;
            }
            let mut statement = self.connection.prepare_cached(&insert_sql(rows))?;
            while rest.len() >= rows {
                let (chunk, tail) = rest.split_at(rows);
                let mut index = 1;
                for (id, priority, payload) in chunk {
                    statement.raw_bind_parameter(index, signed(*id))?;
                    statement.raw_bind_parameter(index + 1, priority)?;
                    statement.raw_bind_parameter(index + 2, payload)?;
                    index += 3;
                }
                statement.raw_execute()?;
                rest = tail;
            }
        }
        Ok(())
    }

    /// Marks the leases, one statement per lease call; returns the payloads in `marks` order.
    fn lease(&mut self, marks: &[LeaseMark]) -> Result<Vec<Vec<u8>>, QueueError> {
        let mut payloads: HashMap<TaskId, Vec<u8>> = HashMap::with_capacity(marks.len());
        let mut statement = self.connection.prepare_cached(LEASE)?;
        for call in marks.chunk_by(|a, b| a.token == b.token) {
            let ids = id_array(call.iter().map(|mark| mark.id));
            let mut rows = statement.query(params![signed(call[0].token), signed(call[0].deadline_ms), ids])?;
            while let Some(row) = rows.next()? {
                payloads.insert(row.get::<_, i64>(0)? as TaskId, row.get(1)?);
            }
        }
        marks
            .iter()
            .map(|mark| {
                payloads
                    .remove(&mark.id)
                    .ok_or(QueueError::CorruptRecord { id: mark.id, reason: "a ready task has no row" })
            })
            .collect()
    }
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
        self.insert(&batch.inserts)?;
        let payloads = self.lease(&batch.leases)?;
        if !batch.deletes.is_empty() {
            self.connection.prepare_cached(DELETE)?.execute([id_array(batch.deletes.iter().copied())])?;
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
