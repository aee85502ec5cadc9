//! Compaction: a snapshot of the owner's live records replaces the segments before a cut.
//!
//! ```text
//!  cut()                 under the owner's lock: records appended after go to a new segment N
//!  write_snapshot(cut)   1. wait until the writer opened segment N (all records before it synced)
//!                        2. N.snap.tmp ← header, the live records, SnapshotEnd; fsync
//!                        3. rename to N.snap; fsync the directory
//!                        4. delete segments and snapshots before N; fsync the directory
//! ```
//!
//! A crash at any point leaves a directory `open` recovers: before step 3 the old snapshot and
//! every segment are still there (the `.tmp` is deleted as a leftover); after it, `open` uses
//! `N.snap` + segments from N and deletes what step 4 did not get to.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;

use super::Journal;
use super::error::JournalError;
use super::format::{self, Control, FileHeader, FileKind, MAX_RECORD_LEN};
use super::layout;
use super::writer::CutSlot;

/// A point in the journal, taken by [`Journal::cut`]: records appended before it are what a
/// snapshot for it must stand for; records appended after it stay in the log.
#[must_use = "a cut only opens a new segment; pass it to `write_snapshot` to compact"]
pub(crate) struct Cut {
    pub(super) lsn: u64,
    pub(super) slot: Arc<CutSlot>,
}

impl std::fmt::Debug for Cut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cut").field("lsn", &self.lsn).finish_non_exhaustive()
    }
}

/// How far compaction goes: all the way, or (to test crash safety) only to a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum CompactionStep {
    /// The snapshot is written and synced under its temporary name.
    TempWritten,
    /// The snapshot is renamed into place; older files are still there.
    Renamed,
    /// The oldest obsolete file is deleted, the others not yet.
    PartlyDeleted,
    /// Every obsolete file is deleted.
    Done,
}

/// What a snapshot replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SnapshotReport {
    /// Records in the snapshot.
    pub(crate) records: u64,
    /// Segment and snapshot files deleted.
    pub(crate) deleted_files: usize,
}

impl Journal {
    /// Writes `records` (the owner's live state as of `cut`) as the snapshot for `cut`, then
    /// deletes the segments before it. Blocking I/O: call it from a blocking thread.
    pub(crate) fn write_snapshot<I>(&self, cut: Cut, records: I) -> Result<SnapshotReport, JournalError>
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        self.compact_until(cut, records, CompactionStep::Done)
    }

    pub(crate) fn compact_until<I>(
        &self,
        cut: Cut,
        records: I,
        last_step: CompactionStep,
    ) -> Result<SnapshotReport, JournalError>
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        let Some(segment) = cut.slot.wait_segment() else {
            return Err(self.shared.durability.terminal_error().unwrap_or(JournalError::Closed));
        };
        let mut latest = self.snapshot_lsn.lock().unwrap_or_else(|e| e.into_inner());
        if cut.lsn < *latest {
            return Err(JournalError::StaleCut { cut_lsn: cut.lsn, latest_lsn: *latest });
        }
        let final_path = layout::snapshot_path(&self.dir, segment);
        let temp = final_path.with_extension("snap.tmp");
        let header = FileHeader { kind: FileKind::Snapshot, id: segment, base_lsn: cut.lsn };
        let written = write_snapshot_file(&temp, &header, records)?;
        if last_step == CompactionStep::TempWritten {
            return Ok(SnapshotReport { records: written, deleted_files: 0 });
        }
        fs::rename(&temp, &final_path).map_err(JournalError::io("rename into place", &final_path))?;
        layout::sync_dir(&self.dir)?;
        *latest = cut.lsn;
        self.shared.metrics.snapshots.increment(1);
        if last_step == CompactionStep::Renamed {
            return Ok(SnapshotReport { records: written, deleted_files: 0 });
        }
        let listing = layout::list(&self.dir)?;
        let mut obsolete: Vec<_> = listing.segments.range(..segment).map(|(_, p)| p.clone()).collect();
        obsolete.extend(listing.snapshots.range(..segment).map(|(_, p)| p.clone()));
        if last_step == CompactionStep::PartlyDeleted {
            obsolete.truncate(1);
        }
        layout::remove_files(&self.dir, &obsolete)?;
        Ok(SnapshotReport { records: written, deleted_files: obsolete.len() })
    }
}

fn write_snapshot_file<I>(path: &Path, header: &FileHeader, records: I) -> Result<u64, JournalError>
where
    I: IntoIterator,
    I::Item: AsRef<[u8]>,
{
    let file = File::create(path).map_err(JournalError::io("create", path))?;
    let written = write_frames(&file, path, header, records).and_then(|count| {
        file.sync_all().map_err(JournalError::io("fsync", path))?;
        Ok(count)
    });
    if written.is_err() {
        // Best effort: a leftover `.tmp` is deleted at the next open anyway.
        let _ = fs::remove_file(path);
    }
    written
}

fn write_frames<I>(file: &File, path: &Path, header: &FileHeader, records: I) -> Result<u64, JournalError>
where
    I: IntoIterator,
    I::Item: AsRef<[u8]>,
{
    let io = |source| JournalError::Io { action: "write", path: path.to_path_buf(), source };
    let mut out = BufWriter::with_capacity(1 << 20, file);
    out.write_all(&header.encode()).map_err(io)?;
    let (mut count, mut bytes) = (0u64, 0u64);
    let mut frame = Vec::new();
    for record in records {
        let record = record.as_ref();
        if record.len() > MAX_RECORD_LEN {
            return Err(JournalError::RecordTooLarge { len: record.len(), max: MAX_RECORD_LEN });
        }
        frame.clear();
        format::put_record(&mut frame, record);
        out.write_all(&frame).map_err(io)?;
        count += 1;
        bytes += frame.len() as u64;
    }
    frame.clear();
    format::put_control(&mut frame, Control::SnapshotEnd { records: count, bytes });
    out.write_all(&frame).map_err(io)?;
    out.flush().map_err(io)?;
    Ok(count)
}
