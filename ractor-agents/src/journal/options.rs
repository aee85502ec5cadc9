//! How a journal syncs, sizes its segments and batches its writes.

/// When the writer makes a batch durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SyncMode {
    /// One `fdatasync` per batch: a record is durable (survives power loss) once its
    /// `wait_durable` returns. The default.
    EveryBatch,
    /// Never sync: a record is "durable" once written to the OS, which survives the process
    /// being killed but not the machine losing power. For tests and for comparing engines
    /// with their syncs off.
    Never,
}

/// Options of [`Journal::open`](super::Journal::open).
#[derive(Clone, Debug)]
pub(crate) struct JournalOptions {
    pub(crate) sync: SyncMode,
    /// A segment is closed once it holds this many bytes (64 MiB by default).
    pub(crate) segment_bytes: u64,
    /// Zero-fill each segment to `segment_bytes` ahead of use (on a helper thread), so that
    /// fdatasync overwrites allocated blocks instead of growing the file. On by default.
    pub(crate) preallocate: bool,
    /// At most this many bytes go into one write + fdatasync (4 MiB by default); a backlog
    /// larger than this is written as several batches, each synced before the next.
    pub(crate) max_batch_bytes: usize,
    /// Truncate at mid-log corruption instead of refusing to open. Loses the records after the
    /// damage: only for an operator who has no backup. Off by default.
    pub(crate) repair: bool,
    /// The `journal` label of the journal's metrics.
    pub(crate) name: &'static str,
}

impl Default for JournalOptions {
    fn default() -> Self {
        Self {
            sync: SyncMode::EveryBatch,
            segment_bytes: 64 << 20,
            preallocate: true,
            max_batch_bytes: 4 << 20,
            repair: false,
            name: "journal",
        }
    }
}

impl JournalOptions {
    /// Sets the sync mode.
    pub(crate) fn sync(mut self, sync: SyncMode) -> Self {
        self.sync = sync;
        self
    }

    /// Sets the segment size in bytes (at least 4 KiB).
    pub(crate) fn segment_bytes(mut self, bytes: u64) -> Self {
        self.segment_bytes = bytes.max(4096);
        self
    }

    /// Turns preallocation on or off.
    pub(crate) fn preallocate(mut self, on: bool) -> Self {
        self.preallocate = on;
        self
    }

    /// Sets the most bytes per write + fdatasync (at least 4 KiB).
    #[cfg(test)]
    pub(crate) fn max_batch_bytes(mut self, bytes: usize) -> Self {
        self.max_batch_bytes = bytes.max(4096);
        self
    }

    /// Allows truncating the journal at mid-log corruption (losing the records after it).
    pub(crate) fn repair(mut self, on: bool) -> Self {
        self.repair = on;
        self
    }

    /// Sets the `journal` metric label.
    pub(crate) fn name(mut self, name: &'static str) -> Self {
        self.name = name;
        self
    }
}
