//! Choosing the worker for a job.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use super::input::TaskInput;
use super::ring::HashRing;
use super::slot::WorkerSlot;

/// How a pool picks the worker for a job. Every strategy only picks a worker with room (fewer
/// than `per_worker_limit` jobs outstanding) that is not draining.
///
/// | strategy | picks | when no pick has room |
/// |---|---|---|
/// | `RoundRobin` | the next worker in turn, skipping full ones | pool full |
/// | `LeastLoaded` | the worker with the fewest outstanding jobs (ties rotate) | pool full |
/// | `PowerOfTwoChoices` | the less loaded of two random workers (seeded), else least loaded | pool full |
/// | `CapabilityMatch` | the least loaded worker having the job's `capability` | that capability is full; no such worker → `NoCapableWorker` |
/// | `StickyByKey` | the owner of the job's `routing_key` on a consistent-hash ring over routable workers (keyless jobs: least loaded) | that key's worker is full |
///
/// Sticky routing is stable: adding a worker moves only the keys that land on it; draining
/// one moves only the keys it owned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Routing {
    /// In turn.
    RoundRobin,
    /// Fewest outstanding jobs (the default: a slow job does not hold up a queue).
    #[default]
    LeastLoaded,
    /// Two random candidates, the less loaded wins.
    PowerOfTwoChoices,
    /// Only workers that have the job's capability.
    CapabilityMatch,
    /// Same routing key, same worker.
    StickyByKey,
}

/// Why no worker was picked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoRoute {
    /// Every eligible worker is full (or there are none yet).
    Full,
    /// No worker has the job's capability.
    NoCapableWorker,
}

/// The workers a job can go to, and the ring sticky routing uses.
#[derive(Default)]
pub(crate) struct Roster {
    pub(crate) routable: Vec<Arc<WorkerSlot>>,
    pub(crate) draining: Vec<Arc<WorkerSlot>>,
    /// Workers of a stopped incarnation, kept until the next start so their late counts
    /// still reach the stats.
    pub(crate) stopped: Vec<Arc<WorkerSlot>>,
    pub(crate) ring: HashRing,
}

impl Roster {
    /// Rebuilds the ring after `routable` changed (only sticky routing reads it).
    pub(crate) fn rebuild_ring(&mut self, routing: Routing) {
        self.ring = match routing {
            Routing::StickyByKey => HashRing::new(self.routable.iter().map(|s| &*s.id)),
            _ => HashRing::default(),
        };
    }

    /// Every worker the pool knows, routable first.
    pub(crate) fn all(&self) -> impl Iterator<Item = &Arc<WorkerSlot>> {
        self.routable.iter().chain(&self.draining).chain(&self.stopped)
    }
}

/// The mutable part of routing: a turn counter and a seeded random stream.
pub(crate) struct Router {
    pub(crate) routing: Routing,
    turn: AtomicUsize,
    rng: AtomicU64,
}

impl Router {
    pub(crate) fn new(routing: Routing, seed: u64) -> Self {
        Self { routing, turn: AtomicUsize::new(0), rng: AtomicU64::new(seed) }
    }

    /// Picks a worker for `input` and reserves one unit of its capacity.
    pub(crate) fn route(&self, roster: &Roster, input: &TaskInput) -> Result<Arc<WorkerSlot>, NoRoute> {
        let workers = &roster.routable;
        let picked = match self.routing {
            Routing::RoundRobin => self.round_robin(workers),
            Routing::LeastLoaded => self.least_loaded(workers, |_| true),
            Routing::PowerOfTwoChoices => self.two_choices(workers),
            Routing::CapabilityMatch => {
                let capable = |s: &WorkerSlot| s.has_capability(&input.capability);
                if !workers.iter().any(|s| capable(s)) {
                    return Err(NoRoute::NoCapableWorker);
                }
                self.least_loaded(workers, capable)
            }
            Routing::StickyByKey => match &input.routing_key {
                Some(key) => roster.ring.owner(key).and_then(|i| workers.get(i)).filter(|s| s.try_reserve()),
                None => self.least_loaded(workers, |_| true),
            },
        };
        picked.cloned().ok_or(NoRoute::Full)
    }

    fn round_robin<'a>(&self, workers: &'a [Arc<WorkerSlot>]) -> Option<&'a Arc<WorkerSlot>> {
        let n = workers.len();
        let start = self.turn.fetch_add(1, Ordering::Relaxed);
        (0..n).map(|i| &workers[start.wrapping_add(i) % n.max(1)]).find(|s| s.try_reserve())
    }

    /// The eligible worker with the fewest outstanding jobs; ties go to the first one after a
    /// rotating start, so equally idle workers share the load.
    fn least_loaded<'a>(
        &self,
        workers: &'a [Arc<WorkerSlot>],
        eligible: impl Fn(&WorkerSlot) -> bool,
    ) -> Option<&'a Arc<WorkerSlot>> {
        let n = workers.len();
        if n == 0 {
            return None;
        }
        // A candidate can fill up between the scan and the reservation: scan again, a few times.
        for _ in 0..n.min(8) {
            let start = self.turn.fetch_add(1, Ordering::Relaxed);
            let best = (0..n)
                .map(|i| &workers[start.wrapping_add(i) % n])
                .filter(|s| eligible(s) && s.free() > 0)
                .min_by_key(|s| s.outstanding())?;
            if best.try_reserve() {
                return Some(best);
            }
        }
        None
    }

    fn two_choices<'a>(&self, workers: &'a [Arc<WorkerSlot>]) -> Option<&'a Arc<WorkerSlot>> {
        let n = workers.len();
        if n < 2 {
            return workers.first().filter(|s| s.try_reserve());
        }
        let r = self.next_random();
        let a = (r % n as u64) as usize;
        let b = (a + 1 + ((r >> 32) % (n as u64 - 1)) as usize) % n;
        let (first, second) = if workers[b].outstanding() < workers[a].outstanding() { (b, a) } else { (a, b) };
        if workers[first].try_reserve() {
            return Some(&workers[first]);
        }
        if workers[second].try_reserve() {
            return Some(&workers[second]);
        }
        self.least_loaded(workers, |_| true)
    }

    /// splitmix64 over an atomic counter: lock-free, and the same sequence for the same seed.
    fn next_random(&self) -> u64 {
        let mut z = self.rng.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed).wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}
