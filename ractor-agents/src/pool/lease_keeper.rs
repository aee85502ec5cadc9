//! Keeps the leases of store-backed jobs alive while a pool holds them (queued or running).
//!
//! One background task per [`StoreJobs`](super::StoreJobs) extends every kept lease when half
//! of it is left, by its original duration. It sleeps until the earliest renewal is due, but at
//! most `check_every` (1 s by default; lower it for leases shorter than a few seconds, or in
//! tests that drive the store's clock by hand). A lease the store says is lost is dropped from
//! the set and counted; the job's own report then finds it lost too.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::Notify;

use crate::tasks::{LeaseToken, QueueError, TaskId, TaskStore, Timestamp};
use crate::telemetry::metrics::pool_names as names;

struct Kept {
    token: LeaseToken,
    /// The lease's original length: each renewal extends by it again.
    duration: Duration,
    /// When to extend (half the lease left), on the store's clock.
    renew_at: Timestamp,
    capability: Arc<str>,
}

/// Hashes task ids (sequential u64s) with one multiply: every held job is inserted and removed
/// once, so SipHash showed in profiles of the store-backed path.
#[derive(Default)]
struct TaskIdHasher(u64);

impl Hasher for TaskIdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type Leases = HashMap<TaskId, Kept, BuildHasherDefault<TaskIdHasher>>;

/// A lease to extend now: task, token, by how long, and its capability (a metric label).
type DueLease = (TaskId, LeaseToken, Duration, Arc<str>);

pub(crate) struct KeeperShared {
    store: Arc<dyn TaskStore>,
    leases: Mutex<Leases>,
    wake: Arc<Notify>,
    check_every_us: AtomicU64,
    pub(crate) extended: AtomicU64,
    pub(crate) lost: AtomicU64,
    pub(crate) errors: AtomicU64,
}

impl Drop for KeeperShared {
    fn drop(&mut self) {
        // Lets the background task see it is no longer needed.
        self.wake.notify_one();
    }
}

fn half(d: Duration) -> Duration {
    d / 2
}

fn before(t: Timestamp, d: Duration) -> Timestamp {
    Timestamp(t.as_micros().saturating_sub(u64::try_from(d.as_micros()).unwrap_or(u64::MAX)))
}

impl KeeperShared {
    pub(crate) fn start(store: Arc<dyn TaskStore>, runtime: &tokio::runtime::Handle) -> Arc<Self> {
        let wake = Arc::new(Notify::new());
        let shared = Arc::new(Self {
            store,
            leases: Mutex::new(Leases::default()),
            wake: wake.clone(),
            check_every_us: AtomicU64::new(1_000_000),
            extended: AtomicU64::new(0),
            lost: AtomicU64::new(0),
            errors: AtomicU64::new(0),
        });
        runtime.spawn(run(Arc::downgrade(&shared), wake));
        shared
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Leases> {
        self.leases.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn set_check_every(&self, every: Duration) {
        let us = u64::try_from(every.as_micros()).unwrap_or(u64::MAX).max(1_000);
        self.check_every_us.store(us, Ordering::Relaxed);
        self.wake.notify_one();
    }

    fn check_every(&self) -> Duration {
        Duration::from_micros(self.check_every_us.load(Ordering::Relaxed))
    }

    /// Keeps the lease `token` on `id` alive from now on.
    pub(crate) fn keep(
        &self,
        id: TaskId,
        token: LeaseToken,
        expires_at: Timestamp,
        duration: Duration,
        capability: Arc<str>,
    ) {
        let renew_at = before(expires_at, half(duration));
        let first = {
            let mut leases = self.lock();
            leases.insert(id, Kept { token, duration, renew_at, capability });
            leases.len() == 1
        };
        // The task sleeps without a timer while nothing is kept; new leases expire after the
        // ones already kept (same duration), so only the first one needs to wake it.
        if first {
            self.wake.notify_one();
        }
    }

    /// Stops keeping the lease (the job ended).
    pub(crate) fn release(&self, id: TaskId, token: LeaseToken) {
        let mut leases = self.lock();
        if leases.get(&id).is_some_and(|k| k.token == token) {
            leases.remove(&id);
        }
    }

    pub(crate) fn kept(&self) -> usize {
        self.lock().len()
    }

    /// The leases due for renewal now, and how long to sleep after renewing them.
    fn due(&self) -> (Vec<DueLease>, Option<Duration>) {
        let now = self.store.clock().now();
        let check_every = self.check_every();
        let mut leases = self.lock();
        let mut due = Vec::new();
        let mut next: Option<Timestamp> = None;
        for (id, kept) in leases.iter_mut() {
            if kept.renew_at <= now {
                due.push((*id, kept.token, kept.duration, kept.capability.clone()));
                // Not picked again before this renewal's answer (or an error) moves it.
                kept.renew_at = now.add(check_every);
            } else {
                next = Some(next.map_or(kept.renew_at, |n| n.min(kept.renew_at)));
            }
        }
        let sleep =
            if leases.is_empty() { None } else { Some(next.map_or(check_every, |n| n.since(now).min(check_every))) };
        (due, sleep)
    }

    async fn renew(&self, id: TaskId, token: LeaseToken, duration: Duration, capability: Arc<str>) {
        match self.store.extend(id, token, duration).await {
            Ok(expires_at) => {
                self.extended.fetch_add(1, Ordering::Relaxed);
                if let Some(kept) = self.lock().get_mut(&id).filter(|k| k.token == token) {
                    kept.renew_at = before(expires_at, half(duration));
                }
            }
            Err(QueueError::LeaseLost { status, .. }) => {
                self.lost.fetch_add(1, Ordering::Relaxed);
                metrics::counter!(names::POOL_LEASE_LOST, "capability" => capability.to_string(), "operation" => "extend")
                    .increment(1);
                tracing::warn!(task = %id, %status, "lost the lease while keeping it alive; the task was handed out again or cancelled");
                self.release(id, token);
            }
            Err(err) => {
                self.errors.fetch_add(1, Ordering::Relaxed);
                metrics::counter!(names::POOL_STORE_REPORT_ERRORS, "capability" => capability.to_string(), "operation" => "extend")
                    .increment(1);
                tracing::error!(task = %id, error = %err, "could not extend a lease; retrying at the next check");
            }
        }
    }
}

async fn run(shared: Weak<KeeperShared>, wake: Arc<Notify>) {
    loop {
        let Some(keeper) = shared.upgrade() else { return };
        let (due, sleep) = keeper.due();
        for (id, token, duration, capability) in due {
            keeper.renew(id, token, duration, capability).await;
        }
        drop(keeper);
        let notified = wake.notified();
        match sleep {
            Some(sleep) => {
                let _ = tokio::time::timeout(sleep, notified).await;
            }
            None => notified.await,
        }
    }
}
