//! [`DurableStore`]: the queue in memory, every change journaled to local disk before it is
//! acknowledged (its guarantees are on the type).

mod codec;
mod compaction;
mod options;
mod sink;
mod store_impl;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

pub use options::DurableOptions;

use super::QueueError;
use super::signals::Signals;
use super::state::QueueState;
use super::time::{Clock, Timestamp};
use crate::journal::{Journal, JournalError, Ticket};
use sink::JournalSink;

/// A [`TaskStore`](super::TaskStore) whose every acknowledged change is on local disk: the
/// default for services.
///
/// ```text
///  operation ──state lock──▶ QueueState op ──Event──▶ journal.append (copy into a buffer)
///                                  └──────▶ apply
///            ◀── reply ◀── wake-ups ◀── wait_durable(head) ◀── writer thread: write + fdatasync
///                                                              (one sync for every operation
///                                                               that arrived during the last one)
/// ```
///
/// * **Acknowledged means on disk.** An operation's reply, the result-waiters it wakes and the
///   "tasks may be leasable" signal all come after its events were fdatasync'ed (and after
///   everything the reply may depend on was: a reply waits for the journal's head, not only its
///   own events). An acknowledged enqueue survives `kill -9` and power loss; an acknowledged ack
///   is never redelivered.
/// * **Leases** answer once their own lease record is durable too, like every other operation.
///   [`DurableOptions::durable_leases(false)`](DurableOptions::durable_leases) relaxes that: a
///   lease then answers once the tasks it hands out (and everything logged before it) are
///   durable, not its own record — if the process dies before that record reaches the disk, the
///   task is Pending again after the restart and is leased anew, as after an expired lease
///   (at-least-once). It saves a consumer that leases small batches one sync per lease.
/// * **Group commit.** Concurrent operations share fdatasyncs, so throughput grows with
///   concurrency while latency stays about one sync.
/// * **Recovery** replays the journal into a fresh [`QueueState`] through the same `apply` as
///   live operations. A torn tail (a crash mid-write) is dropped with a warning; damage before
///   acknowledged data makes `open` fail with an error that says where and what to do.
/// * **Compaction** runs on its own thread once the log since the last snapshot is large: the
///   live tasks (finished ones included, until purged) become a snapshot and the log before it
///   is deleted.
///
/// ```
/// use ractor_agents::tasks::{DurableStore, LeaseRequest, Payload, Task, TaskStatus, TaskStore};
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let id = {
///     let store = DurableStore::open(dir.path())?;
///     let id = store.enqueue(Task::new("resize", "a.png")).await?.id; // on disk when this returns
///     let lease = store.lease(LeaseRequest::new("resize")).await?.remove(0);
///     store.ack(lease.id(), lease.token, Payload::from("done")).await?;
///     id
/// };
/// // A new process (here: a new store on the same directory) finds everything acknowledged.
/// let store = DurableStore::open(dir.path())?;
/// let task = store.get(id).await?.expect("kept");
/// assert_eq!(task.status, TaskStatus::Succeeded);
/// assert_eq!(task.result, Some(Payload::from("done")));
/// # Ok(()) }
/// ```
///
/// One process at a time may open a directory (a second `open` fails until the first store is
/// dropped or [closed](Self::close)).
pub struct DurableStore {
    inner: Arc<Inner>,
    compactor: Mutex<Option<JoinHandle<()>>>,
}

struct Inner {
    locked: Mutex<Locked>,
    journal: Journal,
    signals: Signals,
    clock: Arc<dyn Clock>,
    compact_after_bytes: u64,
    /// Leases reply only once their own events are durable too (the default).
    durable_leases: bool,
    dir: PathBuf,
}

/// What the state lock guards.
struct Locked {
    state: QueueState,
    /// Encoding buffer, reused by every event.
    scratch: Vec<u8>,
    /// Record bytes logged since the last cut.
    logged_bytes: u64,
    /// Record bytes of the last snapshot (or of the journal as opened).
    snapshot_bytes: u64,
    compacting: bool,
    closed: bool,
    /// Why the store refuses operations: an event could not be logged, so memory is ahead of
    /// the journal. Only a reopen (which replays the journal) gets back to a known state.
    broken: Option<String>,
}

/// Counts of [`DurableStore::stats`], since the store was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DurableStats {
    /// Batches the journal wrote, each with one fdatasync (unless fsync is off).
    pub syncs: u64,
    /// Events logged (an enqueue, each task leased, an ack: one each).
    pub records: u64,
    /// Bytes written to the log.
    pub bytes: u64,
}

impl std::fmt::Debug for DurableStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DurableStore").field("dir", &self.inner.dir).finish_non_exhaustive()
    }
}

fn storage(operation: &'static str, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> QueueError {
    QueueError::Storage { operation, source: source.into() }
}

fn journal_error(operation: &'static str, error: JournalError) -> QueueError {
    match error {
        JournalError::Closed => QueueError::Closed,
        error => storage(operation, error),
    }
}

impl DurableStore {
    /// Opens (or creates) the store in `dir` with the default options, replaying its journal.
    /// Blocks while it reads the journal: call it at startup (or in `spawn_blocking`).
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, QueueError> {
        Self::open_with(dir, DurableOptions::default())
    }

    /// Opens (or creates) the store in `dir`, replaying its journal.
    ///
    /// Fails with [`QueueError::Storage`] when the directory holds something else than a
    /// journal, was written by a newer version, is damaged before acknowledged data (the error
    /// names the file and offset; see [`DurableOptions::repair`]), or is open in another store.
    pub fn open_with(dir: impl AsRef<Path>, options: DurableOptions) -> Result<Self, QueueError> {
        let dir = dir.as_ref().to_path_buf();
        let (journal, replay) = Journal::open(&dir, options.journal()).map_err(|e| journal_error("open", e))?;
        let mut state = QueueState::new();
        let mut replayed_bytes = 0u64;
        for (index, record) in replay.iter().enumerate() {
            let event = codec::decode(record).map_err(|reason| {
                storage("open", format!("record {index} of the journal in `{}` is unreadable: {reason}", dir.display()))
            })?;
            replayed_bytes += record.len() as u64;
            state.apply(event);
        }
        tracing::info!(
            dir = %dir.display(), records = replay.len(), tasks = state.len(), truncated_bytes = replay.truncated_bytes(),
            "durable task store opened"
        );
        drop(replay);
        let locked = Locked {
            state,
            scratch: Vec::with_capacity(512),
            logged_bytes: 0,
            snapshot_bytes: replayed_bytes,
            compacting: false,
            closed: false,
            broken: None,
        };
        let inner = Inner {
            locked: Mutex::new(locked),
            journal,
            signals: Signals::default(),
            clock: options.clock,
            compact_after_bytes: options.compact_after_bytes,
            durable_leases: options.durable_leases,
            dir,
        };
        Ok(Self { inner: Arc::new(inner), compactor: Mutex::new(None) })
    }

    /// What the journal's writer did since the store was opened: how well operations share
    /// fdatasyncs (`records / syncs`).
    pub fn stats(&self) -> DurableStats {
        let stats = self.inner.journal.stats();
        DurableStats { syncs: stats.batches, records: stats.records, bytes: stats.bytes }
    }

    /// The directory the store keeps its journal in.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Finishes a running compaction, syncs what was logged and releases the directory.
    /// Operations after this fail with [`QueueError::Closed`]. Dropping the store does the same.
    pub fn close(&self) -> Result<(), QueueError> {
        self.join_compactor();
        let mut locked = self.inner.lock();
        locked.closed = true;
        self.inner.journal.close().map_err(|e| journal_error("close", e))
    }

    /// Runs `op` on the state under the lock, logging its events; replies (and wakes waiters)
    /// once everything logged so far is durable.
    async fn run<T>(
        &self,
        operation: &'static str,
        op: impl FnOnce(&mut QueueState, Timestamp, &mut JournalSink<'_>) -> T,
    ) -> Result<T, QueueError> {
        self.run_until(operation, Durable::Everything, op).await
    }

    /// [`run`](Self::run), replying once `until` is durable.
    async fn run_until<T>(
        &self,
        operation: &'static str,
        until: Durable,
        op: impl FnOnce(&mut QueueState, Timestamp, &mut JournalSink<'_>) -> T,
    ) -> Result<T, QueueError> {
        let now = self.inner.clock.now();
        let (out, wakeups, ticket, compaction) = {
            let mut guard = self.inner.lock();
            let locked = &mut *guard;
            locked.usable(operation)?;
            let prior = self.inner.journal.head();
            let mut sink = JournalSink::new(&self.inner.journal, &mut locked.scratch, self.inner.signals.wakeups());
            let before = locked.state.next_due();
            let out = op(&mut locked.state, now, &mut sink);
            let after = locked.state.next_due();
            if after.is_some() && (before.is_none() || after < before) {
                // A timer now fires earlier than before: consumers sleeping until the old one
                // must re-read it.
                sink.wakeups.mark_ready();
            }
            let (mut wakeups, logged, error) = sink.finish();
            if let Some(error) = error {
                let reason = format!("an event could not be logged ({error}); reopen the store");
                tracing::error!(dir = %self.inner.dir.display(), %reason, "durable task store stops");
                locked.broken = Some(reason);
                return Err(storage(operation, error));
            }
            self.inner.signals.resolve(&mut wakeups, &mut locked.state);
            locked.logged_bytes += logged;
            let compaction = self.inner.compaction_due(locked);
            let ticket = match until {
                Durable::Everything => self.inner.journal.head(),
                Durable::PriorChanges => prior,
            };
            (out, wakeups, ticket, compaction)
        };
        if let Some(job) = compaction {
            self.start_compaction(job);
        }
        self.inner.wait_durable(operation, ticket).await?;
        self.inner.signals.deliver(wakeups);
        Ok(out)
    }

    /// Reads the state under the lock; replies once everything the read may have seen is durable.
    async fn read<T>(&self, operation: &'static str, read: impl FnOnce(&QueueState) -> T) -> Result<T, QueueError> {
        let (out, ticket) = {
            let locked = self.inner.lock();
            locked.usable(operation)?;
            (read(&locked.state), self.inner.journal.head())
        };
        self.inner.wait_durable(operation, ticket).await?;
        Ok(out)
    }
}

/// What an operation's reply waits for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Durable {
    /// Everything logged up to and including the operation's own events.
    Everything,
    /// Everything logged before the operation (not its own events).
    PriorChanges,
}

impl Inner {
    /// Waits for `ticket`; a journal that can no longer make it durable breaks the store
    /// (memory holds changes the disk never will).
    async fn wait_durable(&self, operation: &'static str, ticket: Ticket) -> Result<(), QueueError> {
        match self.journal.wait_durable(ticket).await {
            Ok(()) => Ok(()),
            Err(JournalError::Closed) => Err(QueueError::Closed),
            Err(error) => {
                let reason = format!("the journal failed ({error}); reopen the store");
                self.lock().broken.get_or_insert(reason);
                Err(storage(operation, error))
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, Locked> {
        // `apply` does not panic and each event is applied whole, so a poisoned lock still
        // guards a consistent state.
        self.locked.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Locked {
    fn usable(&self, operation: &'static str) -> Result<(), QueueError> {
        if self.closed {
            return Err(QueueError::Closed);
        }
        match &self.broken {
            Some(reason) => Err(storage(operation, reason.clone())),
            None => Ok(()),
        }
    }
}

impl Drop for DurableStore {
    fn drop(&mut self) {
        self.join_compactor();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::{Task, TaskStore};

    #[tokio::test]
    async fn a_failed_disk_write_is_never_acknowledged_and_the_store_refuses_work_until_reopened() {
        let dir = tempfile::tempdir().expect("tempdir");
        let options = || DurableOptions::default().segment_bytes(64 << 10);
        let kept = {
            let store = DurableStore::open_with(dir.path(), options()).expect("open");
            let kept = store.enqueue(Task::new("a", "kept")).await.expect("enqueue").id;
            *store.inner.journal.fail_next_write() = Some(std::io::ErrorKind::StorageFull);
            let failed = store.enqueue(Task::new("a", "lost")).await;
            assert!(matches!(failed, Err(QueueError::Storage { .. })), "{failed:?}");
            assert!(store.get(kept).await.is_err(), "reads are refused: memory is ahead of the disk");
            let refused = store.enqueue(Task::new("a", "refused")).await;
            assert!(refused.as_ref().is_err_and(|e| e.to_string().contains("reopen")), "{refused:?}");
            kept
        };
        let store = DurableStore::open_with(dir.path(), options()).expect("reopen");
        assert!(store.get(kept).await.expect("get").is_some());
        let counts = store.counts().await.expect("counts");
        assert_eq!(counts.iter().map(|(_, _, n)| n).sum::<u64>(), 1, "only the acknowledged task survived");
    }
}
