//! How a [`DurableStore`](super::DurableStore) syncs, compacts and reads the time.

use std::sync::Arc;

use crate::journal::{JournalOptions, SyncMode};
use crate::tasks::time::{Clock, SystemClock};

/// Options of [`DurableStore::open_with`](super::DurableStore::open_with).
///
/// ```
/// use ractor_agents::tasks::DurableOptions;
/// let options = DurableOptions::default()
///     .compact_after_bytes(256 << 20) // keep up to 256 MiB of log between snapshots
///     .segment_bytes(32 << 20);
/// # let _ = options;
/// ```
#[derive(Clone)]
pub struct DurableOptions {
    pub(super) fsync: bool,
    pub(super) segment_bytes: u64,
    pub(super) preallocate: bool,
    pub(super) compact_after_bytes: u64,
    pub(super) repair: bool,
    pub(super) durable_leases: bool,
    pub(super) clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for DurableOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DurableOptions")
            .field("fsync", &self.fsync)
            .field("segment_bytes", &self.segment_bytes)
            .field("preallocate", &self.preallocate)
            .field("compact_after_bytes", &self.compact_after_bytes)
            .field("repair", &self.repair)
            .field("durable_leases", &self.durable_leases)
            .finish_non_exhaustive()
    }
}

impl Default for DurableOptions {
    /// fdatasync on, 64 MiB preallocated segments, compaction after 64 MiB of log (or twice
    /// the last snapshot, whichever is more), no repair, durable leases, the system clock.
    fn default() -> Self {
        Self {
            fsync: true,
            segment_bytes: 64 << 20,
            preallocate: true,
            compact_after_bytes: 64 << 20,
            repair: false,
            durable_leases: true,
            clock: Arc::new(SystemClock),
        }
    }
}

impl DurableOptions {
    /// With `false`, changes are written to the OS but never fdatasync'ed: they survive the
    /// process being killed, not the machine losing power. For tests and for comparing engines
    /// with their syncs off; services keep the default (`true`).
    pub fn fsync(mut self, on: bool) -> Self {
        self.fsync = on;
        self
    }

    /// Size of one log segment file in bytes (at least 4 KiB; default 64 MiB).
    pub fn segment_bytes(mut self, bytes: u64) -> Self {
        self.segment_bytes = bytes;
        self
    }

    /// Zero-fill each segment ahead of use (default on): syncs then overwrite allocated blocks,
    /// which is faster than growing the file. Costs `segment_bytes` of disk up front.
    pub fn preallocate(mut self, on: bool) -> Self {
        self.preallocate = on;
        self
    }

    /// Compact (snapshot the live tasks, delete the log before it) once this many bytes were
    /// logged since the last snapshot, or twice the last snapshot's size if that is more.
    pub fn compact_after_bytes(mut self, bytes: u64) -> Self {
        self.compact_after_bytes = bytes;
        self
    }

    /// Open a journal with mid-log corruption by truncating it there, losing the changes after
    /// the damage. Off by default (opening fails with an error that says where the damage is);
    /// for an operator who has no backup to restore.
    pub fn repair(mut self, on: bool) -> Self {
        self.repair = on;
        self
    }

    /// With `true` (the default), a lease answers only once its own lease record is durable, like
    /// every operation. With `false`, it answers once the tasks it hands out are durable: a lease
    /// lost in a crash only means the task is leased again, as after an expired lease; this
    /// spares one sync per lease (worth it for consumers that lease small batches).
    pub fn durable_leases(mut self, on: bool) -> Self {
        self.durable_leases = on;
        self
    }

    /// The clock task times are read from (a [`ManualClock`](crate::tasks::ManualClock) in tests).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub(super) fn journal(&self) -> JournalOptions {
        JournalOptions::default()
            .sync(if self.fsync { SyncMode::EveryBatch } else { SyncMode::Never })
            .segment_bytes(self.segment_bytes)
            .preallocate(self.preallocate)
            .repair(self.repair)
            .name("tasks")
    }
}
