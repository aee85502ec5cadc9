//! Compaction of the store's journal: when the log since the last snapshot is large, the live
//! tasks become a snapshot (written on a thread of its own) and the log before it is deleted.

use std::sync::Arc;

use super::codec;
use super::{DurableStore, Inner, Locked};
use crate::journal::Cut;
use crate::tasks::Event;

/// A snapshot to write: the cut and the state's events as of the cut.
pub(super) struct CompactionJob {
    cut: Cut,
    events: Vec<Event>,
}

impl Inner {
    /// Takes a cut and the live state when the log since the last snapshot reached the
    /// threshold (and no compaction is running). Called under the state lock, so the cut and
    /// the state match exactly.
    pub(super) fn compaction_due(&self, locked: &mut Locked) -> Option<CompactionJob> {
        let threshold = self.compact_after_bytes.max(locked.snapshot_bytes.saturating_mul(2));
        if locked.compacting || locked.logged_bytes < threshold {
            return None;
        }
        let cut = match self.journal.cut() {
            Ok(cut) => cut,
            Err(error) => {
                tracing::warn!(%error, "durable task store: no compaction (the journal refused a cut)");
                return None;
            }
        };
        locked.compacting = true;
        locked.logged_bytes = 0;
        Some(CompactionJob { cut, events: locked.state.snapshot() })
    }

    /// Encodes and writes the snapshot; blocking.
    fn compact(&self, job: CompactionJob) {
        // One buffer for every record (not one allocation each: a snapshot holds every task).
        let mut bytes = Vec::new();
        let mut ends = Vec::with_capacity(job.events.len());
        let mut record = Vec::new();
        let mut encoded = Ok(());
        for event in &job.events {
            if let Err(error) = codec::encode(event, &mut record) {
                encoded = Err(error);
                break;
            }
            bytes.extend_from_slice(&record);
            ends.push(bytes.len());
        }
        drop(job.events);
        let records = ends.iter().scan(0, |start, &end| {
            let slice = &bytes[*start..end];
            *start = end;
            Some(slice)
        });
        let written = encoded.and_then(|()| self.journal.write_snapshot(job.cut, records).map_err(|e| e.to_string()));
        let mut locked = self.lock();
        locked.compacting = false;
        match written {
            Ok(report) => {
                locked.snapshot_bytes = bytes.len() as u64;
                tracing::debug!(
                    records = report.records,
                    deleted_files = report.deleted_files,
                    "durable task store compacted"
                );
            }
            // The log is intact: the next threshold crossing tries again.
            Err(error) => tracing::warn!(%error, dir = %self.dir.display(), "durable task store: compaction failed"),
        }
    }
}

impl DurableStore {
    pub(super) fn start_compaction(&self, job: CompactionJob) {
        self.join_compactor();
        let inner = Arc::clone(&self.inner);
        let spawned = std::thread::Builder::new().name("task-store-compactor".into()).spawn(move || inner.compact(job));
        match spawned {
            Ok(handle) => *self.compactor.lock().unwrap_or_else(|e| e.into_inner()) = Some(handle),
            Err(error) => {
                tracing::warn!(%error, "durable task store: could not start the compaction thread");
                self.inner.lock().compacting = false;
            }
        }
    }

    /// Waits for the running compaction, if any.
    pub(super) fn join_compactor(&self) {
        let handle = self.compactor.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(handle) = handle
            && handle.join().is_err()
        {
            tracing::error!("durable task store: the compaction thread panicked");
        }
    }
}
