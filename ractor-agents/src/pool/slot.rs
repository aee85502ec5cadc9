//! [`WorkerSlot`]: the pool's side of one worker — its mailbox, its outstanding-job count, its
//! counters and histograms — and [`PoolSignals`], what every slot shares with the pool.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use super::job::{AbandonReason, Job, JobOutcome};
use super::stats::{JobHistograms, PoolMetrics};
use crate::agent::mailbox::Mailbox;
use crate::agent::{Envelope, Meta};

/// Keeps a hot atomic on its own cache line(s), so workers updating their own counters do not
/// slow each other down (128 bytes: adjacent-line prefetching pairs 64-byte lines).
#[repr(align(128))]
#[derive(Default)]
pub(crate) struct Padded<T>(pub(crate) T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// What a pool's slots share: wake-ups for capacity and idleness, the stop reason, metrics.
pub(crate) struct PoolSignals {
    /// Woken when a worker's outstanding count drops to half its limit (hysteresis: a waiting
    /// producer is woken once per half-emptied worker, not once per finished job), when a worker
    /// is added, and when the pool closes.
    pub(crate) capacity: Notify,
    /// Producers and `wait_for_capacity` callers parked on `capacity`; zero on the fast path.
    pub(crate) capacity_waiters: AtomicUsize,
    /// Woken when a watched worker's outstanding count reaches zero (drains wait on it).
    pub(crate) idle: Notify,
    /// Drains in progress (pool-wide or one worker); zero on the fast path.
    pub(crate) idle_watchers: AtomicUsize,
    /// Why queued or running jobs are being abandoned (0: not stopping).
    stop_reason: AtomicU8,
    pub(crate) metrics: PoolMetrics,
}

impl PoolSignals {
    pub(crate) fn new(pool: &Arc<str>) -> Self {
        Self {
            capacity: Notify::new(),
            capacity_waiters: AtomicUsize::new(0),
            idle: Notify::new(),
            idle_watchers: AtomicUsize::new(0),
            stop_reason: AtomicU8::new(0),
            metrics: PoolMetrics::new(pool),
        }
    }

    pub(crate) fn set_stop_reason(&self, reason: Option<AbandonReason>) {
        let code = match reason {
            None => 0,
            Some(AbandonReason::DrainTimedOut) => 2,
            Some(_) => 1,
        };
        self.stop_reason.store(code, Ordering::SeqCst);
    }

    pub(crate) fn stop_reason(&self) -> Option<AbandonReason> {
        match self.stop_reason.load(Ordering::SeqCst) {
            0 => None,
            2 => Some(AbandonReason::DrainTimedOut),
            _ => Some(AbandonReason::PoolStopped),
        }
    }

    pub(crate) fn wake_capacity_waiters(&self) {
        self.capacity.notify_waiters();
    }
}

/// Counters of one worker's finished jobs.
#[derive(Default)]
pub(crate) struct JobCounts {
    pub(crate) succeeded: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) abandoned: AtomicU64,
}

/// The pool's view of one worker. Stable across the worker's restarts (the mailbox is too).
pub(crate) struct WorkerSlot {
    /// The worker's child id in the pool's worker supervisor, and its name on the hash ring.
    pub(crate) id: Arc<str>,
    /// Order of creation in the pool (the drain picks newer workers first on ties).
    pub(crate) number: u64,
    /// Capabilities beyond the pool's (see [`TaskHandler::capabilities`](super::TaskHandler)).
    pub(crate) capabilities: Box<[Arc<str>]>,
    pub(crate) mailbox: Arc<Mailbox<Job>>,
    /// Jobs assigned and not finished (queued in the mailbox or running); at most `limit`.
    outstanding: Padded<AtomicUsize>,
    limit: usize,
    /// No longer routable: finishing what it has, then it stops.
    draining: AtomicBool,
    pub(crate) counts: Padded<JobCounts>,
    pub(crate) histograms: Mutex<JobHistograms>,
    pub(crate) signals: Arc<PoolSignals>,
}

impl WorkerSlot {
    pub(crate) fn new(
        id: Arc<str>,
        number: u64,
        capabilities: Box<[Arc<str>]>,
        mailbox: Arc<Mailbox<Job>>,
        limit: usize,
        signals: Arc<PoolSignals>,
    ) -> Self {
        Self {
            id,
            number,
            capabilities,
            mailbox,
            outstanding: Padded(AtomicUsize::new(0)),
            limit: limit.max(1),
            draining: AtomicBool::new(false),
            counts: Padded(JobCounts::default()),
            histograms: Mutex::new(JobHistograms::new()),
            signals,
        }
    }

    pub(crate) fn outstanding(&self) -> usize {
        self.outstanding.load(Ordering::Relaxed)
    }

    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    pub(crate) fn free(&self) -> usize {
        self.limit.saturating_sub(self.outstanding())
    }

    pub(crate) fn has_capability(&self, capability: &str) -> bool {
        self.capabilities.iter().any(|c| &**c == capability)
    }

    pub(crate) fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// Takes one unit of this worker's capacity, unless it is full or draining.
    ///
    /// Draining is a Dekker handshake with [`WorkerSlot::start_draining`]: the reservation is
    /// made, then `draining` read (both SeqCst); the drain sets `draining`, then reads the count.
    /// Either this sees the flag and backs out, or the drain sees the reservation and waits.
    pub(crate) fn try_reserve(&self) -> bool {
        let limit = self.limit;
        let reserved =
            self.outstanding.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| (n < limit).then_some(n + 1)).is_ok();
        if reserved && self.is_draining() {
            self.release();
            return false;
        }
        reserved
    }

    /// Gives one unit back (a job ended, or a reservation was not used) and wakes who waits.
    pub(crate) fn release(&self) {
        let after = self.outstanding.fetch_sub(1, Ordering::SeqCst).saturating_sub(1);
        if after == self.limit / 2 && self.signals.capacity_waiters.load(Ordering::SeqCst) > 0 {
            self.signals.capacity.notify_waiters();
        }
        if after == 0 && self.signals.idle_watchers.load(Ordering::SeqCst) > 0 {
            self.signals.idle.notify_waiters();
        }
    }

    /// Stops routing to this worker; returns how many jobs it still has.
    pub(crate) fn start_draining(&self) -> usize {
        self.draining.store(true, Ordering::SeqCst);
        self.outstanding.load(Ordering::SeqCst)
    }

    /// Pushes an assigned job into the worker's mailbox; gives it back if the mailbox is closed
    /// (the worker stopped for good) or, against the sizing invariant, full.
    pub(crate) fn push(&self, job: Job) -> Result<(), Job> {
        // The mailbox holds `limit + DRAIN_BUDGET` (see `spawn_worker`): outstanding jobs never
        // exceed `limit`, and a drain releases the slots of handled jobs at the latest at the
        // end of its batch of at most DRAIN_BUDGET, so a reservation always finds a slot.
        if !self.mailbox.try_reserve() {
            return Err(job);
        }
        self.mailbox.push(Envelope { msg: job, meta: Meta::outgoing(None) }).map_err(|env| {
            self.mailbox.release(1);
            env.msg
        })
    }

    /// Counts a finished job and records its times.
    pub(crate) fn record(
        &self,
        outcome: &JobOutcome,
        started_at: Option<quanta::Instant>,
        accepted_at: Option<quanta::Instant>,
    ) {
        let metrics = &self.signals.metrics;
        match outcome {
            JobOutcome::Succeeded(_) => {
                self.counts.succeeded.fetch_add(1, Ordering::Relaxed);
                metrics.succeeded.increment(1);
            }
            JobOutcome::Failed(_) => {
                self.counts.failed.fetch_add(1, Ordering::Relaxed);
                metrics.failed.increment(1);
            }
            JobOutcome::Abandoned(_) => {
                self.counts.abandoned.fetch_add(1, Ordering::Relaxed);
                metrics.abandoned.increment(1);
                return;
            }
        }
        let now = quanta::Instant::now();
        let run = started_at.map(|s| now.saturating_duration_since(s));
        let latency = accepted_at.map(|a| now.saturating_duration_since(a));
        if let Some(run) = run {
            metrics.duration.record(run.as_secs_f64());
        }
        self.histograms.lock().unwrap_or_else(|p| p.into_inner()).record(run, latency);
    }

    pub(crate) fn stop_reason(&self) -> Option<AbandonReason> {
        self.signals.stop_reason()
    }
}
