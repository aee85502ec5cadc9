//! An embedded, append-only journal with group commit: the durable store's log (and, later,
//! the message bus's outbox). It knows nothing of tasks: records are opaque bytes.
//!
//! # Contract
//!
//! * [`Journal::append`] is cheap and never blocks on I/O: it copies the record into a shared
//!   buffer under a short lock and returns a [`Ticket`]. Owners call it *under their own state
//!   lock*, so the journal's order is their state's order.
//! * [`Journal::wait_durable`] resolves once the record is on disk (fdatasync'ed, with
//!   [`SyncMode::EveryBatch`]). Only then may the owner acknowledge the operation: an
//!   acknowledged record survives `kill -9` and power loss.
//! * One writer thread takes everything appended since its last sync, writes it as one batch
//!   and syncs once (group commit): many concurrent appenders share each fdatasync.
//! * [`Journal::open`] replays: the latest snapshot's records, then every record after its cut.
//!   A torn or corrupt tail (only the last, unsynced batch can be torn) is dropped with a
//!   warning; damage *followed by acknowledged batches* is [`JournalError::Corrupt`] unless the
//!   `repair` option says to truncate there. A file that is not a journal's is a clear error,
//!   never a panic.
//! * Compaction: [`Journal::cut`] (under the owner's lock) starts a new segment;
//!   [`Journal::write_snapshot`] writes the owner's live records for everything before the cut
//!   and deletes the older segments. A crash at any step leaves a directory `open` recovers.
//!
//! # Use
//!
//! ```text
//! let (journal, replay) = Journal::open(dir, JournalOptions::default())?;
//! for record in replay.iter() { state.apply(decode(record)?) }        // rebuild the state
//!
//! let ticket = { let mut s = state.lock(); let t = journal.append(&encode(&event))?; s.apply(event); t };
//! journal.wait_durable(ticket).await?;                                  // now acknowledge
//!
//! let (cut, live) = { let s = state.lock(); (journal.cut()?, s.live_records()) };
//! spawn_blocking(move || journal.write_snapshot(cut, live));             // compaction
//! ```
//!
//! The on-disk format is described in `format.rs`; the files in `layout.rs`.

mod compaction;
mod durability;
mod error;
mod format;
mod layout;
mod options;
mod recovery;
mod writer;

#[cfg(test)]
mod tests;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

pub(crate) use compaction::Cut;
pub(crate) use durability::{Ticket, WaitDurable};
pub(crate) use error::JournalError;
pub(crate) use options::{JournalOptions, SyncMode};
pub(crate) use recovery::Replay;

use durability::Durability;
use format::{FileHeader, FileKind, HEADER_LEN, MAX_RECORD_LEN};
use writer::{CutSlot, Pending, PendingCut, SegmentFile, Shared, Writer};

use crate::telemetry::metrics::JournalMetrics;

/// Counts of what the writer did since the journal was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct JournalStats {
    /// Batches written, each with one fdatasync (unless sync is off).
    pub(crate) batches: u64,
    /// Records written.
    pub(crate) records: u64,
    /// Bytes written to segments.
    pub(crate) bytes: u64,
}

/// An open journal directory. Dropping it flushes what was appended and stops the writer.
pub(crate) struct Journal {
    shared: Arc<Shared>,
    dir: PathBuf,
    writer: Mutex<Option<JoinHandle<()>>>,
    /// LSN of the latest snapshot's cut; also serialises compactions.
    snapshot_lsn: Mutex<u64>,
    /// Holds the directory's flock until `close`.
    lock: Mutex<Option<File>>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal").field("dir", &self.dir).finish_non_exhaustive()
    }
}

impl Journal {
    /// Opens (or creates) the journal in `dir` and returns it with the records to replay.
    pub(crate) fn open(dir: impl AsRef<Path>, options: JournalOptions) -> Result<(Self, Replay), JournalError> {
        let dir = dir.as_ref().to_path_buf();
        layout::ensure_dir(&dir)?;
        let lock = layout::lock(&dir)?;
        let recovered = recovery::recover(&dir, &options)?;
        let metrics = JournalMetrics::new(options.name);
        metrics.recovered_records.increment(recovered.replay.len() as u64);
        metrics.truncated_bytes.increment(recovered.replay.truncated_bytes());

        let segment = match recovered.last {
            Some(last) => {
                let path = layout::segment_path(&dir, last.id);
                SegmentFile { id: last.id, file: last.file, path, pos: last.end }
            }
            None => {
                let id = recovered.first_segment_id;
                let header = FileHeader { kind: FileKind::Segment, id, base_lsn: recovered.next_lsn };
                let spare =
                    if options.preallocate { Some(layout::prepare_spare(&dir, options.segment_bytes)?) } else { None };
                let path = layout::segment_path(&dir, id);
                let file = layout::create_file(&dir, &path, &header, spare)?;
                SegmentFile { id, file, path, pos: HEADER_LEN as u64 }
            }
        };
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending { next_lsn: recovered.next_lsn, ..Pending::default() }),
            wake_writer: Condvar::new(),
            durability: Durability::starting_at(recovered.next_lsn),
            metrics,
            stats: Default::default(),
            head: AtomicU64::new(recovered.next_lsn),
            #[cfg(test)]
            fail_next_write: Mutex::new(None),
        });
        let writer = Writer::new(shared.clone(), &dir, options, segment, recovered.next_lsn);
        let handle = std::thread::Builder::new()
            .name("journal-writer".into())
            .spawn(move || writer.run())
            .map_err(JournalError::io("start the writer thread for", &dir))?;
        let journal = Self {
            shared,
            dir,
            writer: Mutex::new(Some(handle)),
            snapshot_lsn: Mutex::new(recovered.snapshot_lsn),
            lock: Mutex::new(Some(lock)),
        };
        Ok((journal, recovered.replay))
    }

    /// Appends one record. Cheap: copies it into the shared buffer; never waits for I/O.
    pub(crate) fn append(&self, record: &[u8]) -> Result<Ticket, JournalError> {
        if record.len() > MAX_RECORD_LEN {
            return Err(JournalError::RecordTooLarge { len: record.len(), max: MAX_RECORD_LEN });
        }
        let mut pending = self.shared.lock_pending();
        self.check_open(&pending)?;
        format::put_record(&mut pending.frames, record);
        pending.next_lsn += 1;
        let ticket = Ticket(pending.next_lsn);
        self.shared.head.store(pending.next_lsn, Ordering::Release);
        let wake = std::mem::take(&mut pending.writer_idle);
        drop(pending);
        if wake {
            self.shared.wake_writer.notify_one();
        }
        Ok(ticket)
    }

    /// Resolves once the record of `ticket` is durable, or fails if it never will be (the
    /// writer failed or the journal closed first).
    pub(crate) fn wait_durable(&self, ticket: Ticket) -> WaitDurable<'_> {
        self.shared.durability.wait(ticket)
    }

    /// The ticket of the last record appended (or of the journal's start): it is durable once
    /// everything appended so far is.
    pub(crate) fn head(&self) -> Ticket {
        Ticket(self.shared.head.load(Ordering::Acquire))
    }

    /// Whether the record of `ticket` is durable already.
    #[cfg(test)]
    pub(crate) fn is_durable(&self, ticket: Ticket) -> bool {
        self.shared.durability.is_durable(ticket)
    }

    /// Number of records durable since the journal was created (snapshotted ones included).
    #[cfg(test)]
    pub(crate) fn durable_records(&self) -> u64 {
        self.shared.durability.durable()
    }

    /// What the writer has done since the journal was opened.
    pub(crate) fn stats(&self) -> JournalStats {
        let stats = &self.shared.stats;
        JournalStats {
            batches: stats.batches.load(Ordering::Relaxed),
            records: stats.records.load(Ordering::Relaxed),
            bytes: stats.bytes.load(Ordering::Relaxed),
        }
    }

    /// Marks a cut: records appended from now on go to a new segment. Cheap; call it under the
    /// owner's state lock, together with taking the live records the snapshot will hold.
    pub(crate) fn cut(&self) -> Result<Cut, JournalError> {
        let slot = Arc::new(CutSlot::default());
        let mut pending = self.shared.lock_pending();
        self.check_open(&pending)?;
        let offset = pending.frames.len();
        pending.cuts.push(PendingCut { offset, slot: slot.clone() });
        let lsn = pending.next_lsn;
        let wake = std::mem::take(&mut pending.writer_idle);
        drop(pending);
        if wake {
            self.shared.wake_writer.notify_one();
        }
        Ok(Cut { lsn, slot })
    }

    /// Writes out and syncs everything appended, stops the writer and releases the directory
    /// (another `Journal` may open it). Appends after this fail with [`JournalError::Closed`].
    pub(crate) fn close(&self) -> Result<(), JournalError> {
        self.shared.lock_pending().closing = true;
        self.shared.wake_writer.notify_one();
        let handle = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(handle) = handle
            && handle.join().is_err()
        {
            tracing::error!("journal: the writer thread panicked");
        }
        drop(self.lock.lock().unwrap_or_else(|e| e.into_inner()).take());
        match self.shared.durability.terminal_error() {
            Some(JournalError::Closed) | None => Ok(()),
            Some(error) => Err(error),
        }
    }

    /// Fault injection for tests: the error kind the next batch write fails with.
    #[cfg(test)]
    pub(crate) fn fail_next_write(&self) -> std::sync::MutexGuard<'_, Option<std::io::ErrorKind>> {
        self.shared.fail_next_write.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn check_open(&self, pending: &Pending) -> Result<(), JournalError> {
        if pending.failed {
            return Err(self.shared.durability.terminal_error().unwrap_or(JournalError::Closed));
        }
        if pending.closing {
            return Err(JournalError::Closed);
        }
        Ok(())
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        let _ = self.close();
    }
}
