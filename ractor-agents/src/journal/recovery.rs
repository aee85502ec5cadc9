//! Opening a journal directory: find the latest snapshot, read it and every segment after its
//! cut, drop a torn tail, refuse anything that would silently lose acknowledged records.

use std::fs::{File, OpenOptions};
use std::io::Read as _;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::error::JournalError;
use super::format::{self, Control, FileHeader, FileKind, Frame, HEADER_LEN, Read};
use super::layout::{self, Listing};
use super::options::JournalOptions;

/// The records a journal held when it was opened, in the order to apply them: the latest
/// snapshot's records, then every record appended after its cut.
#[derive(Debug, Default)]
pub(crate) struct Replay {
    buffers: Vec<Vec<u8>>,
    records: Vec<(usize, Range<usize>)>,
    truncated_bytes: u64,
}

impl Replay {
    /// The records, oldest first.
    pub(crate) fn iter(&self) -> impl ExactSizeIterator<Item = &[u8]> + '_ {
        self.records.iter().map(|(buffer, range)| &self.buffers[*buffer][range.clone()])
    }

    /// How many records there are.
    pub(crate) fn len(&self) -> usize {
        self.records.len()
    }

    /// Bytes of a torn or corrupt tail (or of a repaired segment) that were dropped on open.
    pub(crate) fn truncated_bytes(&self) -> u64 {
        self.truncated_bytes
    }
}

/// The segment the writer goes on appending to.
#[derive(Debug)]
pub(crate) struct OpenSegment {
    pub(crate) id: u64,
    pub(crate) file: File,
    /// Where the next batch goes (bytes from the start of the file).
    pub(crate) end: u64,
}

/// Everything `open` learned.
#[derive(Debug)]
pub(crate) struct Recovered {
    pub(crate) replay: Replay,
    /// The last segment, or `None` when the directory has none after the snapshot.
    pub(crate) last: Option<OpenSegment>,
    /// Number of the segment to create when `last` is `None`.
    pub(crate) first_segment_id: u64,
    /// LSN of the next record to append.
    pub(crate) next_lsn: u64,
    /// LSN of the latest snapshot's cut (0 without one).
    pub(crate) snapshot_lsn: u64,
}

/// Reads the journal in `dir` (which exists and is locked).
pub(crate) fn recover(dir: &Path, options: &JournalOptions) -> Result<Recovered, JournalError> {
    let Listing { segments, snapshots, temporaries } = layout::list(dir)?;
    layout::remove_files(dir, &temporaries)?;
    let mut replay = Replay::default();
    let mut obsolete = Vec::new();

    let (first_segment_id, mut lsn) = match snapshots.last_key_value() {
        Some((&id, path)) => (id, read_snapshot(path, id, &mut replay)?),
        None => (1, 0),
    };
    let snapshot_lsn = lsn;
    obsolete.extend(snapshots.range(..first_segment_id).map(|(_, p)| p.clone()));
    obsolete.extend(segments.range(..first_segment_id).map(|(_, p)| p.clone()));

    let live: Vec<(u64, PathBuf)> = segments.range(first_segment_id..).map(|(&id, p)| (id, p.clone())).collect();
    for (expected, (id, _)) in (first_segment_id..).zip(&live) {
        if *id != expected {
            let detail = format!("segment {expected} is missing (found segment {id} after it)");
            return Err(JournalError::Inconsistent { path: dir.to_path_buf(), detail });
        }
    }

    let mut last = None;
    for (index, (id, path)) in live.iter().enumerate() {
        let is_last = index + 1 == live.len();
        let (file, mut bytes) = open_and_read(path)?;
        let header = FileHeader::decode(&bytes, path)?;
        if header.kind != FileKind::Segment || header.id != *id {
            return Err(JournalError::CorruptHeader { path: path.clone() });
        }
        if header.base_lsn != lsn {
            let detail = format!("segment starts at record {} where record {lsn} was expected", header.base_lsn);
            return Err(JournalError::Inconsistent { path: path.clone(), detail });
        }
        let scan = scan_segment(&bytes, lsn);
        let mut end = scan.end;
        if let Some(damage) = scan.damage {
            // Batch k+1 is written only after batch k was synced, so damage is a torn tail
            // only in the last segment and only if no batch starts after it.
            let acknowledged_follow = !is_last || format::find_batch_start(&bytes, damage + 1).is_some();
            if acknowledged_follow && !options.repair {
                return Err(JournalError::Corrupt { segment: path.clone(), offset: damage as u64 });
            }
            let dropped = format::end_of_nonzero(&bytes, damage) - damage;
            if acknowledged_follow {
                let later: Vec<PathBuf> = live[index + 1..].iter().map(|(_, p)| p.clone()).collect();
                tracing::warn!(
                    segment = %path.display(), offset = damage, dropped_bytes = dropped, dropped_segments = later.len(),
                    "journal: repairing mid-log corruption by truncating the journal here; the records after it are lost"
                );
                layout::remove_files(dir, &later)?;
            } else {
                tracing::warn!(
                    segment = %path.display(), offset = damage, dropped_bytes = dropped,
                    "journal: dropped a torn or corrupt tail (records never acknowledged as durable)"
                );
            }
            truncate_at(&file, path, damage, dropped, options.preallocate)?;
            replay.truncated_bytes += dropped as u64;
            end = damage;
        }
        lsn = scan.next_lsn;
        bytes.truncate(end);
        bytes.shrink_to_fit();
        let buffer = replay.buffers.len();
        replay.records.extend(scan.records.into_iter().map(|range| (buffer, range)));
        replay.buffers.push(bytes);
        if is_last || scan.damage.is_some() {
            last = Some(OpenSegment { id: *id, file, end: end as u64 });
            break;
        }
    }

    layout::remove_files(dir, &obsolete)?;
    Ok(Recovered { replay, last, first_segment_id, next_lsn: lsn, snapshot_lsn })
}

/// What a segment holds.
struct SegmentScan {
    records: Vec<Range<usize>>,
    /// Offset just past the last good frame.
    end: usize,
    next_lsn: u64,
    /// Offset of the first byte that is neither a good frame nor end-of-data zeros.
    damage: Option<usize>,
}

fn scan_segment(bytes: &[u8], base_lsn: u64) -> SegmentScan {
    let (mut pos, mut lsn, mut in_batch) = (HEADER_LEN, base_lsn, false);
    let mut records = Vec::new();
    let damage = loop {
        match format::read_frame(bytes, pos) {
            // A batch may hold fewer records than its start announced: a torn batch whose
            // good prefix was kept, followed by batches appended after the reopen. What must
            // hold is that record numbers follow each other.
            Read::Frame { frame: Frame::Control(Control::BatchStart { first_lsn, .. }), next } if first_lsn == lsn => {
                in_batch = true;
                pos = next;
            }
            Read::Frame { frame: Frame::Record(_), next } if in_batch => {
                records.push(pos + format::FRAME_HEADER_LEN..next);
                lsn += 1;
                pos = next;
            }
            Read::End => break (format::end_of_nonzero(bytes, pos) != pos).then_some(pos),
            Read::Frame { .. } | Read::Invalid => break Some(pos),
        }
    };
    SegmentScan { records, end: pos, next_lsn: lsn, damage }
}

fn read_snapshot(path: &Path, id: u64, replay: &mut Replay) -> Result<u64, JournalError> {
    let (_, bytes) = open_and_read(path)?;
    let header = FileHeader::decode(&bytes, path)?;
    if header.kind != FileKind::Snapshot || header.id != id {
        return Err(JournalError::CorruptHeader { path: path.to_path_buf() });
    }
    let buffer = replay.buffers.len();
    let first = replay.records.len();
    let mut pos = HEADER_LEN;
    loop {
        let corrupt = JournalError::CorruptSnapshot { path: path.to_path_buf(), offset: pos as u64 };
        match format::read_frame(&bytes, pos) {
            Read::Frame { frame: Frame::Record(_), next } => {
                replay.records.push((buffer, pos + format::FRAME_HEADER_LEN..next));
                pos = next;
            }
            Read::Frame { frame: Frame::Control(Control::SnapshotEnd { records, bytes: len }), .. } => {
                let read = (replay.records.len() - first) as u64;
                if records != read || len != (pos - HEADER_LEN) as u64 {
                    return Err(corrupt);
                }
                break;
            }
            Read::Frame { .. } | Read::End | Read::Invalid => return Err(corrupt),
        }
    }
    replay.buffers.push(bytes);
    Ok(header.base_lsn)
}

fn open_and_read(path: &Path) -> Result<(File, Vec<u8>), JournalError> {
    let mut file = OpenOptions::new().read(true).write(true).open(path).map_err(JournalError::io("open", path))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(JournalError::io("read", path))?;
    Ok((file, bytes))
}

/// Drops everything from `at` on: zeros over the `dropped` damaged bytes (a preallocated file
/// keeps its written blocks), or a shorter file without preallocation; then syncs.
fn truncate_at(file: &File, path: &Path, at: usize, dropped: usize, preallocate: bool) -> Result<(), JournalError> {
    if preallocate {
        file.write_all_at(&vec![0u8; dropped], at as u64).map_err(JournalError::io("zero the torn tail of", path))?;
    } else {
        file.set_len(at as u64).map_err(JournalError::io("truncate", path))?;
    }
    file.sync_data().map_err(JournalError::io("fsync", path))
}
