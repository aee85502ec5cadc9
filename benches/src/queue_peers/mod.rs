//! Durable task queues measured on one workload, to choose the engine of the embedded task store by
//! measurement (issue 3).
//!
//! Each peer implements [`DurableQueue`]: `enqueue` answers only once the task is durable, `lease`
//! hands out ready tasks (highest priority first, FIFO within a priority) for a time, and `ack`
//! answers only once the completion is durable. [`workload::run`] drives any of them with `P`
//! closed-loop producers, each keeping up to `K` enqueues in flight, and `C` consumers leasing in
//! batches and acking, and reports tasks completed per second, the end-to-end latency (enqueue
//! call → ack durable) and, where the peer can tell, how many records each disk commit carried.
//!
//! | peer | module | durable by | group commit |
//! |---|---|---|---|
//! | PostgreSQL `FOR UPDATE SKIP LOCKED` | [`postgres_queue`] | `synchronous_commit = on` | inserts batched per statement; the server groups WAL flushes |
//! | redb 5 | [`redb_queue`] | `Durability::Immediate` | one writer thread, one write transaction per batch |
//! | SQLite (WAL) | [`sqlite_queue`] | `synchronous = FULL` | one writer thread, one transaction per batch |
//! | fjall 3 | [`fjall_queue`] | `PersistMode::SyncData` on each batch | one writer thread, one write batch per batch |
//!
//! The disk itself is measured by [`disk_sync`] (appends and overwrites, each followed by
//! `fdatasync`), the ceiling of any design that syncs once per commit.
//!
//! Every peer keeps the same semantics, so the comparison is fair: a lease is written to the store
//! (token, deadline, attempt count) in the same commit as other work, but the lease call answers
//! before that commit's fsync by default: losing a lease in a crash only means the task is leased
//! again (at-least-once), so nothing waits for it. `QueueOptions::sync_leases` makes every peer
//! wait for it instead.
//!
//! # Example
//!
//! Run the SQLite peer on a small workload:
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use ractor_agents_benches::queue_peers::{sqlite_queue, workload, DurableQueue, QueueOptions};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
//! let report = runtime.block_on(async {
//!     let queue: Arc<dyn DurableQueue> = Arc::new(sqlite_queue::open(dir.path(), QueueOptions::default())?);
//!     let shape = workload::Workload { tasks: 2_000, producers: 4, in_flight: 8, consumers: 2, ..Default::default() };
//!     let report = workload::run(queue.clone(), &shape).await?;
//!     queue.close().await?;
//!     Ok::<_, workload::RunError>(report)
//! })?;
//! assert_eq!(report.completed, 2_000);
//! println!("{report}");
//! # Ok(())
//! # }
//! ```
//!
//! # Plugging in another store
//!
//! A store whose operations are `enqueue(Task) -> id`, `lease(capability, max, lease_duration) ->
//! Vec<Lease>` and `ack(id, lease_token, result)` implements [`DurableQueue`] with a thin adapter:
//! `enqueue` wraps the payload and priority in a task, `lease` passes a fixed capability and maps
//! each lease to a [`LeasedTask`] (waiting up to `wait` when nothing is ready), and `ack` acks each
//! [`Ack`] (concurrently) with an empty result.

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;

pub mod disk_sync;
pub mod fjall_queue;
pub mod group_commit;
pub mod postgres_queue;
pub mod ractor_agents_queue;
pub mod redb_queue;
mod schedule;
pub mod sqlite_queue;
mod task_record;
pub mod workload;

/// A task's identity in one queue, assigned by the queue at enqueue.
pub type TaskId = u64;

/// A task handed to a consumer by [`DurableQueue::lease`], held until `lease_for` runs out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeasedTask {
    /// The task.
    pub id: TaskId,
    /// Proves this lease when acking: a task leased again after its lease ran out gets a new token.
    pub token: u64,
    /// The bytes given to [`DurableQueue::enqueue`].
    pub payload: Vec<u8>,
}

impl LeasedTask {
    /// The acknowledgement of this lease.
    pub fn ack(&self) -> Ack {
        Ack { id: self.id, token: self.token }
    }
}

/// Completes one leased task (see [`DurableQueue::ack`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ack {
    /// The task.
    pub id: TaskId,
    /// The token of the lease being completed.
    pub token: u64,
}

/// Disk commits a peer made and the task records they carried, counted since it opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommitStats {
    /// Commits that reached the disk (one fsync each; for PostgreSQL, its WAL syncs).
    pub commits: u64,
    /// Task records written: one per enqueue, per task leased and per task acked.
    pub records: u64,
}

impl CommitStats {
    /// What happened between `earlier` and `self`.
    pub fn since(&self, earlier: &CommitStats) -> CommitStats {
        CommitStats {
            commits: self.commits.saturating_sub(earlier.commits),
            records: self.records.saturating_sub(earlier.records),
        }
    }
}

/// Choices every peer honours the same way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueOptions {
    /// Answer a lease only once it is durable (default: answer before its commit's fsync).
    pub sync_leases: bool,
}

/// A durable priority task queue with leases, as the benchmark sees it.
///
/// Ordering: a lease takes the ready tasks of highest `priority` first, and within a priority the
/// earliest enqueued first. A task is ready once its enqueue is durable and while it is neither
/// leased nor acked; a lease that runs out makes it ready again.
#[async_trait]
pub trait DurableQueue: Send + Sync {
    /// The peer's name in reports.
    fn name(&self) -> String;

    /// Adds a task; answers once the task is durable (it survives a crash from then on).
    async fn enqueue(&self, payload: Vec<u8>, priority: u8) -> Result<TaskId, QueueError>;

    /// Leases up to `max` ready tasks for `lease_for`. Waits up to `wait` for at least one task
    /// to be ready, then answers with what it got (empty if none). An implementation should wait
    /// rather than answer empty at once: a consumer that spins takes the CPU producers need.
    async fn lease(&self, max: usize, lease_for: Duration, wait: Duration) -> Result<Vec<LeasedTask>, QueueError>;

    /// Completes leased tasks; answers once their completion is durable.
    async fn ack(&self, acks: Vec<Ack>) -> Result<(), QueueError>;

    /// Commits and records since the queue opened, if the peer can count them.
    async fn commit_stats(&self) -> Result<Option<CommitStats>, QueueError>;

    /// Stops the queue's writers and removes what the run created outside its data directory.
    async fn close(&self) -> Result<(), QueueError>;
}

/// What went wrong in a peer.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// redb refused an operation: the data directory may be full or unwritable.
    #[error("redb failed: {0} (check that the data directory is writable and has room)")]
    Redb(#[from] redb::Error),
    /// SQLite refused an operation.
    #[error("SQLite failed: {0} (check that the data directory is writable and has room)")]
    Sqlite(#[from] rusqlite::Error),
    /// fjall refused an operation.
    #[error("fjall failed: {0} (check that the data directory is writable and has room)")]
    Fjall(#[from] fjall::Error),
    /// PostgreSQL refused an operation or could not be reached.
    #[error("PostgreSQL failed: {0} (check RACTOR_AGENTS_POSTGRES_URL and that the server runs)")]
    Postgres(#[from] tokio_postgres::Error),
    /// SQLite would not switch to WAL mode.
    #[error("SQLite stayed in journal mode {mode:?} instead of WAL; put the data directory on a local file system")]
    SqliteNotWal {
        /// The mode SQLite reported.
        mode: String,
    },
    /// A file operation failed.
    #[error("I/O on {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A stored task record could not be read back: the data directory is damaged or not a queue's.
    #[error("task {id} is stored in an unreadable form: {reason}; use a fresh data directory")]
    CorruptRecord {
        /// The task whose record is unreadable.
        id: TaskId,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An ack named a lease the queue does not hold: it ran out (and the task may be leased again)
    /// or the task was already acked.
    #[error("task {id} is not leased under token {token}: the lease ran out or was already acked")]
    LeaseNotHeld {
        /// The task.
        id: TaskId,
        /// The token given.
        token: u64,
    },
    /// The project's own task store refused an operation.
    #[error("ractor-agents task store failed: {0}")]
    TaskStore(#[from] ractor_agents::tasks::QueueError),
    /// A commit failed; nothing in it took effect and the writer has stopped.
    #[error("a {peer} commit failed: {reason}; the writer has stopped, reopen the queue")]
    CommitFailed {
        /// Which peer.
        peer: &'static str,
        /// The engine's error, as text (every request in the failed commit gets a copy).
        reason: String,
    },
    /// The writer thread stopped after a failed commit; what it had not committed is lost.
    #[error("the {peer} writer has stopped after a failed commit; reopen the queue")]
    WriterStopped {
        /// Which peer.
        peer: &'static str,
    },
}

impl QueueError {
    /// Wraps any of redb's error types.
    pub(crate) fn redb(error: impl Into<redb::Error>) -> QueueError {
        QueueError::Redb(error.into())
    }
}
