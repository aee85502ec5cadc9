//! The raw reference: how many `write` + `fdatasync` pairs per second this disk takes, one thread,
//! one file, no engine — the ceiling of any design that syncs once per commit.
//!
//! Two cases, because they differ on ext4: **appending** grows the file, so each `fdatasync` also
//! commits the new size to the file system's journal; **overwriting** space already written (as
//! a log that preallocates its segments does) only flushes the data.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant};

use super::QueueError;

/// Bytes written before each sync: about one task record.
pub const RECORD_BYTES: usize = 128;

/// Space written (and synced) once before the overwrite case starts, then rewritten in a ring.
const PREALLOCATED_BYTES: u64 = 64 << 20;

/// Syncs done in a measured span.
#[derive(Debug, Clone, Copy)]
pub struct SyncRate {
    /// `write` + `fdatasync` pairs completed.
    pub syncs: u64,
    /// How long they took.
    pub elapsed: Duration,
}

impl SyncRate {
    /// Syncs per second.
    pub fn per_second(&self) -> f64 {
        self.syncs as f64 / self.elapsed.as_secs_f64().max(f64::MIN_POSITIVE)
    }

    /// Mean time of one `write` + `fdatasync`.
    pub fn mean(&self) -> Duration {
        self.elapsed / u32::try_from(self.syncs.max(1)).unwrap_or(u32::MAX)
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> QueueError + '_ {
    move |source| QueueError::Io { path: path.to_owned(), source }
}

/// Appends [`RECORD_BYTES`] to a new file in `dir` and `fdatasync`s it, over and over, for `span`.
pub fn append_then_fdatasync(dir: &Path, span: Duration) -> Result<SyncRate, QueueError> {
    let path = dir.join("append.log");
    let mut file = OpenOptions::new().create_new(true).append(true).open(&path).map_err(io(&path))?;
    let record = [0x5a_u8; RECORD_BYTES];
    let started = Instant::now();
    let mut syncs = 0;
    while started.elapsed() < span {
        file.write_all(&record).map_err(io(&path))?;
        file.sync_data().map_err(io(&path))?;
        syncs += 1;
    }
    Ok(SyncRate { syncs, elapsed: started.elapsed() })
}

/// Writes [`RECORD_BYTES`] at the next offset of a file whose space was written and synced
/// beforehand, and `fdatasync`s it, over and over, for `span`.
pub fn overwrite_then_fdatasync(dir: &Path, span: Duration) -> Result<SyncRate, QueueError> {
    let path = dir.join("preallocated.log");
    let file = preallocate(&path)?;
    let record = [0xa5_u8; RECORD_BYTES];
    let mut offset = 0;
    let started = Instant::now();
    let mut syncs = 0;
    while started.elapsed() < span {
        file.write_all_at(&record, offset).map_err(io(&path))?;
        file.sync_data().map_err(io(&path))?;
        offset = (offset + RECORD_BYTES as u64) % PREALLOCATED_BYTES;
        syncs += 1;
    }
    Ok(SyncRate { syncs, elapsed: started.elapsed() })
}

/// Zero-fills the file for real (not `fallocate`: unwritten extents would make the first write of
/// each block a metadata change again) and syncs it, size included.
fn preallocate(path: &Path) -> Result<File, QueueError> {
    let mut file =
        OpenOptions::new().create(true).truncate(true).read(true).write(true).open(path).map_err(io(path))?;
    let chunk = vec![0_u8; 1 << 20];
    for _ in 0..(PREALLOCATED_BYTES / chunk.len() as u64) {
        file.write_all(&chunk).map_err(io(path))?;
    }
    file.sync_all().map_err(io(path))?;
    Ok(file)
}
