//! The writer thread: group commit.
//!
//! Appenders copy framed records into one shared buffer under a short lock. The writer swaps
//! that buffer out, writes it as one batch (a `BatchStart` frame + the records, one `pwritev`),
//! fdatasyncs, then publishes the durable position. Whatever arrives during a sync waits for
//! the next one, so the batch grows with the load: one sync serves every record appended since
//! the previous one.

use std::fs::File;
use std::io::{self, IoSlice};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Instant;

use super::durability::Durability;
use super::error::JournalError;
use super::format::{self, BATCH_START_FRAME_LEN, Control, FileHeader, FileKind, HEADER_LEN};
use super::layout::{self, Spare};
use super::options::{JournalOptions, SyncMode};
use crate::telemetry::metrics::JournalMetrics;

/// State shared by appenders, the writer and waiters.
pub(crate) struct Shared {
    pub(crate) pending: Mutex<Pending>,
    pub(crate) wake_writer: Condvar,
    pub(crate) durability: Durability,
    pub(crate) metrics: JournalMetrics,
    pub(crate) stats: WriterStats,
    /// `Pending::next_lsn`, readable without the lock (it only grows; written under it).
    pub(crate) head: AtomicU64,
    /// Fault injection for tests: the next batch write fails with this error kind.
    #[cfg(test)]
    pub(crate) fail_next_write: Mutex<Option<io::ErrorKind>>,
}

/// What the writer has done since open; read by [`Journal::stats`](super::Journal::stats).
#[derive(Debug, Default)]
pub(crate) struct WriterStats {
    pub(crate) batches: AtomicU64,
    pub(crate) records: AtomicU64,
    pub(crate) bytes: AtomicU64,
}

impl Shared {
    pub(crate) fn lock_pending(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What appenders have handed over and the writer has not taken yet.
#[derive(Default)]
pub(crate) struct Pending {
    /// Record frames, back to back.
    pub(crate) frames: Vec<u8>,
    /// LSN the next appended record gets.
    pub(crate) next_lsn: u64,
    /// Cuts among `frames`, in order.
    pub(crate) cuts: Vec<PendingCut>,
    /// The writer sleeps: the next appender must notify it.
    pub(crate) writer_idle: bool,
    pub(crate) closing: bool,
    pub(crate) failed: bool,
}

/// A cut waiting for the writer: records before `offset` of `frames` go to the current
/// segment, the rest to a new one.
pub(crate) struct PendingCut {
    pub(crate) offset: usize,
    pub(crate) slot: Arc<CutSlot>,
}

/// Where the writer reports the segment a cut opened.
#[derive(Default)]
pub(crate) struct CutSlot {
    state: Mutex<CutState>,
    ready: Condvar,
}

#[derive(Default, Clone, Copy)]
enum CutState {
    #[default]
    Waiting,
    Opened(u64),
    Abandoned,
}

impl CutSlot {
    fn settle(&self, state: CutState) {
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = state;
        self.ready.notify_all();
    }

    /// Blocks until the writer opened the cut's segment; `None` if it never will.
    pub(crate) fn wait_segment(&self) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            match *state {
                CutState::Waiting => state = self.ready.wait(state).unwrap_or_else(|e| e.into_inner()),
                CutState::Opened(id) => return Some(id),
                CutState::Abandoned => return None,
            }
        }
    }
}

/// The segment being appended to.
pub(crate) struct SegmentFile {
    pub(crate) id: u64,
    pub(crate) file: File,
    pub(crate) path: PathBuf,
    /// Where the next batch goes, in bytes from the start of the file.
    pub(crate) pos: u64,
}

pub(crate) struct Writer {
    shared: Arc<Shared>,
    dir: PathBuf,
    options: JournalOptions,
    segment: SegmentFile,
    /// LSN of the next record to write.
    lsn: u64,
    spare: Option<JoinHandle<Result<Spare, JournalError>>>,
    marker: Vec<u8>,
}

impl Writer {
    pub(crate) fn new(
        shared: Arc<Shared>,
        dir: &Path,
        options: JournalOptions,
        segment: SegmentFile,
        lsn: u64,
    ) -> Self {
        let mut writer = Self {
            shared,
            dir: dir.to_path_buf(),
            options,
            segment,
            lsn,
            spare: None,
            marker: Vec::with_capacity(BATCH_START_FRAME_LEN),
        };
        writer.prepare_next_spare();
        writer
    }

    /// The writer thread's body; returns when the journal closes or a write fails.
    pub(crate) fn run(mut self) {
        let mut taken = Vec::new();
        loop {
            let cuts = {
                let mut pending = self.shared.lock_pending();
                while pending.frames.is_empty() && pending.cuts.is_empty() {
                    if pending.closing {
                        drop(pending);
                        self.finish();
                        return;
                    }
                    pending.writer_idle = true;
                    pending = self.shared.wake_writer.wait(pending).unwrap_or_else(|e| e.into_inner());
                }
                pending.writer_idle = false;
                std::mem::swap(&mut pending.frames, &mut taken);
                std::mem::take(&mut pending.cuts)
            };
            if let Err(error) = self.write_out(&taken, cuts) {
                self.fail(error);
                return;
            }
            taken.clear();
        }
    }

    fn write_out(&mut self, frames: &[u8], cuts: Vec<PendingCut>) -> Result<(), JournalError> {
        let mut start = 0;
        let mut cuts = cuts.into_iter();
        let mut result = Ok(());
        for cut in cuts.by_ref() {
            result = self.write_range(&frames[start..cut.offset]).and_then(|()| self.rotate());
            start = cut.offset;
            match result {
                Ok(()) => cut.slot.settle(CutState::Opened(self.segment.id)),
                Err(_) => {
                    cut.slot.settle(CutState::Abandoned);
                    break;
                }
            }
        }
        cuts.for_each(|cut| cut.slot.settle(CutState::Abandoned));
        result.and_then(|()| self.write_range(&frames[start..]))
    }

    /// Writes whole record frames as batches of at most `max_batch_bytes`, each synced.
    fn write_range(&mut self, mut frames: &[u8]) -> Result<(), JournalError> {
        while !frames.is_empty() {
            let (records, len) = format::count_frames(frames, self.options.max_batch_bytes);
            let batch_len = (BATCH_START_FRAME_LEN + len) as u64;
            if self.segment.pos > HEADER_LEN as u64 && self.segment.pos + batch_len > self.options.segment_bytes {
                self.rotate()?;
            }
            self.write_batch(records, &frames[..len])?;
            frames = &frames[len..];
        }
        Ok(())
    }

    fn write_batch(&mut self, records: u32, frames: &[u8]) -> Result<(), JournalError> {
        let started = Instant::now();
        self.marker.clear();
        let control = Control::BatchStart { first_lsn: self.lsn, records, bytes: frames.len() as u32 };
        format::put_control(&mut self.marker, control);
        #[cfg(test)]
        if let Some(kind) = self.shared.fail_next_write.lock().unwrap_or_else(|e| e.into_inner()).take() {
            return Err(JournalError::io("write", &self.segment.path)(kind.into()));
        }
        let mut slices = [IoSlice::new(&self.marker), IoSlice::new(frames)];
        write_all_at(&self.segment.file, &mut slices, self.segment.pos)
            .map_err(JournalError::io("write", &self.segment.path))?;
        if self.options.sync == SyncMode::EveryBatch {
            self.segment.file.sync_data().map_err(JournalError::io("fdatasync", &self.segment.path))?;
        }
        let written = (self.marker.len() + frames.len()) as u64;
        self.segment.pos += written;
        self.lsn += u64::from(records);
        let stats = &self.shared.stats;
        stats.batches.fetch_add(1, Ordering::Relaxed);
        stats.records.fetch_add(u64::from(records), Ordering::Relaxed);
        stats.bytes.fetch_add(written, Ordering::Relaxed);
        let metrics = &self.shared.metrics;
        metrics.syncs.increment(1);
        metrics.written_bytes.increment(written);
        metrics.records_per_sync.record(f64::from(records));
        metrics.sync_duration.record(started.elapsed().as_secs_f64());
        self.shared.durability.publish(self.lsn);
        Ok(())
    }

    /// Closes the current segment and opens the next, starting at the next LSN. Every batch of
    /// the current segment was synced before this (each batch is), so only the last segment
    /// can ever have a torn tail.
    fn rotate(&mut self) -> Result<(), JournalError> {
        let id = self.segment.id + 1;
        let header = FileHeader { kind: FileKind::Segment, id, base_lsn: self.lsn };
        let path = layout::segment_path(&self.dir, id);
        let spare = self.take_spare();
        let file = layout::create_file(&self.dir, &path, &header, spare)?;
        self.segment = SegmentFile { id, file, path, pos: HEADER_LEN as u64 };
        self.prepare_next_spare();
        Ok(())
    }

    fn prepare_next_spare(&mut self) {
        if !self.options.preallocate {
            return;
        }
        let (dir, bytes) = (self.dir.clone(), self.options.segment_bytes);
        let spawned = std::thread::Builder::new()
            .name("journal-prealloc".into())
            .spawn(move || layout::prepare_spare(&dir, bytes));
        match spawned {
            Ok(handle) => self.spare = Some(handle),
            Err(error) => tracing::warn!(%error, "journal: could not start the preallocation thread"),
        }
    }

    fn take_spare(&mut self) -> Option<Spare> {
        match self.spare.take()?.join() {
            Ok(Ok(spare)) => Some(spare),
            Ok(Err(error)) => {
                tracing::warn!(%error, "journal: preallocating the next segment failed; it grows as it is written");
                None
            }
            Err(_) => {
                tracing::warn!("journal: the preallocation thread panicked; the next segment grows as it is written");
                None
            }
        }
    }

    fn finish(&mut self) {
        // The spare is deleted as a leftover at the next open.
        let _ = self.take_spare();
        self.shared.durability.close();
    }

    fn fail(&mut self, error: JournalError) {
        tracing::error!(%error, "journal: the writer failed; the journal takes no more records");
        let source = Arc::new(io::Error::other(error));
        {
            let mut pending = self.shared.lock_pending();
            pending.failed = true;
            pending.frames = Vec::new();
            pending.cuts.drain(..).for_each(|cut| cut.slot.settle(CutState::Abandoned));
        }
        self.shared.durability.fail(source);
        let _ = self.take_spare();
    }
}

fn write_all_at(file: &File, mut slices: &mut [IoSlice<'_>], mut offset: u64) -> io::Result<()> {
    while !slices.is_empty() {
        match rustix::io::pwritev(file, slices, offset) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                offset += n as u64;
                IoSlice::advance_slices(&mut slices, n);
            }
            Err(rustix::io::Errno::INTR) => {}
            Err(errno) => return Err(errno.into()),
        }
    }
    Ok(())
}
