//! [`PoolCore`]: the state a pool's handle, its actor and its workers share.

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use ractor::ActorRef;

use super::actor::PoolMsg;
use super::job::{AbandonReason, Job};
use super::routing::{NoRoute, Roster, Router};
use super::slot::{PoolSignals, WorkerSlot};
use super::spec::PoolConfig;
use super::stats::{JobHistograms, PoolStats};

/// Whether a pool takes jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Intake {
    /// Not running (not started yet, or stopped).
    Stopped = 0,
    Open = 1,
    /// Draining or stopping: no new jobs, in-flight ones finish.
    Closed = 2,
}

/// Why a job was not placed.
pub(crate) enum NoPlace {
    Route(NoRoute),
    Closed,
}

/// Jobs of workers that were drained away, so stats still add up after they are gone.
#[derive(Default)]
struct Retired {
    succeeded: u64,
    failed: u64,
    abandoned: u64,
    histograms: Option<JobHistograms>,
}

pub(crate) struct PoolCore {
    pub(crate) name: Arc<str>,
    pub(crate) config: PoolConfig,
    roster: RwLock<Roster>,
    pub(crate) router: Router,
    pub(crate) signals: Arc<PoolSignals>,
    intake: AtomicU8,
    pub(crate) actor: Mutex<Option<ActorRef<PoolMsg>>>,
    /// Incremented by every start of the pool, so a stale incarnation's cleanup does nothing.
    pub(crate) generation: AtomicU64,
    pub(crate) next_worker: AtomicU64,
    pub(crate) backlog: AtomicU64,
    pub(crate) rejected: AtomicU64,
    retired: Mutex<Retired>,
    /// The timeout `PoolRef::drain` asked for; the actor's stop uses it, or the configured one.
    pub(crate) requested_drain: Mutex<Option<Duration>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl PoolCore {
    pub(crate) fn new(name: Arc<str>, config: PoolConfig, seed: u64) -> Self {
        Self {
            signals: Arc::new(PoolSignals::new(&name)),
            router: Router::new(config.routing, seed),
            name,
            config,
            roster: RwLock::new(Roster::default()),
            intake: AtomicU8::new(Intake::Stopped as u8),
            actor: Mutex::new(None),
            generation: AtomicU64::new(0),
            next_worker: AtomicU64::new(0),
            backlog: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            retired: Mutex::new(Retired::default()),
            requested_drain: Mutex::new(None),
        }
    }

    pub(crate) fn roster(&self) -> RwLockReadGuard<'_, Roster> {
        self.roster.read().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn roster_mut(&self) -> RwLockWriteGuard<'_, Roster> {
        self.roster.write().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn intake(&self) -> Intake {
        match self.intake.load(Ordering::SeqCst) {
            1 => Intake::Open,
            2 => Intake::Closed,
            _ => Intake::Stopped,
        }
    }

    pub(crate) fn current_actor(&self) -> Option<ActorRef<PoolMsg>> {
        lock(&self.actor).clone()
    }

    pub(crate) fn set_actor(&self, actor: Option<ActorRef<PoolMsg>>) {
        *lock(&self.actor) = actor;
    }

    /// Opens intake (a started incarnation).
    pub(crate) fn open(&self) {
        self.signals.set_stop_reason(None);
        self.intake.store(Intake::Open as u8, Ordering::SeqCst);
        self.signals.wake_capacity_waiters();
    }

    /// Closes intake: parked producers wake up and get their job back.
    pub(crate) fn close_intake(&self) {
        let _ =
            self.intake.compare_exchange(Intake::Open as u8, Intake::Closed as u8, Ordering::SeqCst, Ordering::SeqCst);
        self.signals.wake_capacity_waiters();
    }

    /// Routes `job` to a worker and pushes it there.
    pub(crate) fn place(&self, mut job: Job) -> Result<(), (NoPlace, Job)> {
        // A few tries: a worker can stop for good between being picked and being pushed to.
        for _ in 0..3 {
            if self.intake() != Intake::Open {
                return Err((NoPlace::Closed, job));
            }
            let slot = match self.router.route(&self.roster(), job.input()) {
                Ok(slot) => slot,
                Err(no_route) => return Err((NoPlace::Route(no_route), job)),
            };
            job.assign(slot.clone(), quanta::Instant::now());
            match slot.push(job) {
                Ok(()) => return Ok(()),
                Err(mut back) => {
                    back.unassign();
                    job = back;
                }
            }
        }
        Err((NoPlace::Closed, job))
    }

    /// How many more jobs the routable workers take now.
    pub(crate) fn free_capacity(&self) -> usize {
        self.roster().routable.iter().map(|s| s.free()).sum()
    }

    /// Jobs accepted and not ended, over every running worker.
    pub(crate) fn in_flight(&self) -> usize {
        self.roster().all().map(|s| s.outstanding()).sum()
    }

    /// Waits until no worker has a job, at most `timeout`. Returns whether it got there.
    pub(crate) async fn wait_idle(&self, timeout: Duration) -> bool {
        self.wait_until(timeout, || self.in_flight() == 0).await
    }

    /// Waits until `slot` has no job, at most `timeout`.
    pub(crate) async fn wait_slot_idle(&self, slot: &WorkerSlot, timeout: Duration) -> bool {
        self.wait_until(timeout, || slot.outstanding() == 0).await
    }

    async fn wait_until(&self, timeout: Duration, done: impl Fn() -> bool) -> bool {
        let signals = &self.signals;
        signals.idle_watchers.fetch_add(1, Ordering::SeqCst);
        let deadline = tokio::time::Instant::now() + timeout;
        let reached = loop {
            let notified = signals.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if done() {
                break true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                break done();
            }
        };
        signals.idle_watchers.fetch_sub(1, Ordering::SeqCst);
        reached
    }

    /// Folds the workers of a previous incarnation into the totals (their jobs ended long ago).
    pub(crate) fn retire_stopped(&self) {
        let stopped = std::mem::take(&mut self.roster_mut().stopped);
        for slot in &stopped {
            self.retire(slot);
        }
    }

    /// Makes `slot` routable.
    pub(crate) fn add_slot(&self, slot: Arc<WorkerSlot>) {
        let mut roster = self.roster_mut();
        roster.routable.push(slot);
        roster.rebuild_ring(self.config.routing);
        drop(roster);
        self.signals.wake_capacity_waiters();
    }

    /// Takes `slot` out of routing; it finishes what it has.
    pub(crate) fn start_draining(&self, slot: &Arc<WorkerSlot>) {
        let mut roster = self.roster_mut();
        roster.routable.retain(|s| !Arc::ptr_eq(s, slot));
        roster.draining.push(slot.clone());
        roster.rebuild_ring(self.config.routing);
        drop(roster);
        slot.start_draining();
    }

    /// Forgets a stopped worker, keeping its counts and histograms in the pool's totals.
    pub(crate) fn retire(&self, slot: &Arc<WorkerSlot>) {
        let mut roster = self.roster_mut();
        roster.routable.retain(|s| !Arc::ptr_eq(s, slot));
        roster.draining.retain(|s| !Arc::ptr_eq(s, slot));
        roster.stopped.retain(|s| !Arc::ptr_eq(s, slot));
        roster.rebuild_ring(self.config.routing);
        drop(roster);
        let mut retired = lock(&self.retired);
        retired.succeeded += slot.counts.succeeded.load(Ordering::Relaxed);
        retired.failed += slot.counts.failed.load(Ordering::Relaxed);
        retired.abandoned += slot.counts.abandoned.load(Ordering::Relaxed);
        let histograms = slot.histograms.lock().unwrap_or_else(|p| p.into_inner());
        retired.histograms.get_or_insert_with(JobHistograms::new).merge(&histograms);
    }

    /// The pool stopped (normally or not): no intake, every worker's queue abandoned, every
    /// waiter woken. Only for the incarnation `generation` (a newer one may already run).
    pub(crate) fn shut_down(&self, generation: u64, reason: AbandonReason) {
        if self.generation.load(Ordering::SeqCst) != generation {
            return;
        }
        self.intake.store(Intake::Stopped as u8, Ordering::SeqCst);
        if self.signals.stop_reason().is_none() {
            self.signals.set_stop_reason(Some(reason));
        }
        let slots = {
            let mut roster = self.roster_mut();
            let mut slots = std::mem::take(&mut roster.routable);
            slots.append(&mut roster.draining);
            roster.stopped.extend(slots.iter().cloned());
            roster.rebuild_ring(self.config.routing);
            slots
        };
        for slot in &slots {
            // Queued jobs are dropped here and complete themselves as abandoned.
            slot.mailbox.close();
        }
        self.set_actor(None);
        self.signals.wake_capacity_waiters();
        self.signals.idle.notify_waiters();
    }

    pub(crate) fn stats(&self) -> PoolStats {
        let roster = self.roster();
        let mut stats = PoolStats { draining: roster.draining.len(), ..PoolStats::default() };
        let retired = lock(&self.retired);
        let mut histograms = JobHistograms::new();
        if let Some(h) = &retired.histograms {
            histograms.merge(h);
        }
        stats.processed = retired.succeeded;
        stats.failed = retired.failed;
        stats.abandoned = retired.abandoned;
        drop(retired);
        for slot in roster.all() {
            let outstanding = slot.outstanding();
            stats.in_flight += outstanding;
            stats.processed += slot.counts.succeeded.load(Ordering::Relaxed);
            stats.failed += slot.counts.failed.load(Ordering::Relaxed);
            stats.abandoned += slot.counts.abandoned.load(Ordering::Relaxed);
            histograms.merge(&slot.histograms.lock().unwrap_or_else(|p| p.into_inner()));
        }
        for slot in &roster.routable {
            let outstanding = slot.outstanding();
            if outstanding == 0 {
                stats.idle += 1;
            } else {
                stats.busy += 1;
            }
            if outstanding < slot.limit() {
                stats.available += 1;
            }
            stats.free_capacity += slot.free();
        }
        stats.workers = stats.idle + stats.busy + stats.draining;
        stats.rejected = self.rejected.load(Ordering::Relaxed);
        (stats.latency, stats.run_time) = histograms.percentiles();
        stats
    }
}
