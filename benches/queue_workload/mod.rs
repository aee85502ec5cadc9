//! The durable task queue workload (issue 3): `P` producers each keeping `K` enqueues in flight,
//! `C` consumers leasing in batches and acking, every enqueue and ack acknowledged only once
//! durable. Reports tasks completed per second, the end-to-end latency (enqueue call → ack
//! acknowledged) and, where the queue can count them, records per disk sync.
//!
//! A queue under test implements the small [`QueueUnderTest`] trait; [`TaskStoreQueue`] adapts
//! any `ractor_agents::tasks::TaskStore` (the durable store, the memory store). Engine peers
//! (redb, SQLite, PostgreSQL…) plug in with an adapter of their own.
//!
//! ```no_run
//! use std::sync::Arc;
//! use ractor_agents::tasks::DurableStore;
//! use ractor_agents_benches::queue_workload::{run, TaskStoreQueue, Workload};
//! # async fn example(dir: &std::path::Path) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let store = Arc::new(DurableStore::open(dir)?);
//! let queue = Arc::new(TaskStoreQueue::durable("durable", store));
//! let report = run(queue, &Workload { tasks: 50_000, ..Workload::default() }).await?;
//! println!("{report}");
//! # Ok(()) }
//! ```

mod task_store;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use hdrhistogram::Histogram;

pub use task_store::TaskStoreQueue;

/// Any error a queue under test reports.
pub type QueueError = Box<dyn std::error::Error + Send + Sync>;

/// A leased task, as the workload sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leased {
    /// The task's id in its queue.
    pub id: u64,
    /// The lease's token (proves the lease when acking).
    pub token: u64,
    /// The bytes given to [`QueueUnderTest::enqueue`].
    pub payload: Vec<u8>,
}

/// Disk syncs and records a queue wrote since it opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommitStats {
    /// fdatasyncs (one per group commit).
    pub syncs: u64,
    /// Records written: one per enqueue, per task leased and per ack.
    pub records: u64,
}

/// A durable task queue with leases, as the workload drives it.
#[async_trait]
pub trait QueueUnderTest: Send + Sync + 'static {
    /// Its name in reports.
    fn name(&self) -> String;
    /// Adds a task; answers once it is durable.
    async fn enqueue(&self, payload: Vec<u8>, priority: u8) -> Result<u64, QueueError>;
    /// Leases up to `max` tasks for `lease_for`, waiting up to `wait` for one to be ready.
    async fn lease(&self, max: usize, lease_for: Duration, wait: Duration) -> Result<Vec<Leased>, QueueError>;
    /// Completes leased tasks; answers once every completion is durable.
    async fn ack(&self, tasks: Vec<Leased>) -> Result<(), QueueError>;
    /// Syncs and records since it opened, if it can count them.
    fn commit_stats(&self) -> Option<CommitStats>;
}

/// The shape of one run.
#[derive(Debug, Clone)]
pub struct Workload {
    /// Closed-loop producers.
    pub producers: usize,
    /// Enqueues each producer keeps outstanding.
    pub in_flight: usize,
    /// Consumers, each leasing in batches and acking the batch concurrently.
    pub consumers: usize,
    /// Most tasks one lease takes.
    pub lease_batch: usize,
    /// Tasks to enqueue and complete.
    pub tasks: u64,
    /// Bytes per task payload (at least 8: the enqueue instant).
    pub payload_bytes: usize,
    /// Distinct priorities, round robin.
    pub priorities: u8,
    /// Open loop: tasks offered per second (task `n` is due at `n / rate` s, and its latency
    /// counts from then, so a stall is not hidden). `None`: closed loop, as fast as acknowledged.
    pub rate: Option<f64>,
}

impl Default for Workload {
    /// The issue's workload: 16 producers × 64 in flight, 4 consumers leasing up to 1,024 tasks at
    /// a time, 100-byte payloads, closed loop.
    fn default() -> Self {
        Self {
            producers: 16,
            in_flight: 64,
            consumers: 4,
            lease_batch: 1_024,
            tasks: 300_000,
            payload_bytes: 100,
            priorities: 4,
            rate: None,
        }
    }
}

/// What one run measured.
#[derive(Debug, Clone)]
pub struct Report {
    /// The queue's name.
    pub queue: String,
    /// Tasks enqueued and acked.
    pub completed: u64,
    /// From the first enqueue to the last ack.
    pub elapsed: Duration,
    /// End-to-end latency (enqueue call → ack acknowledged), µs.
    pub latency_us: Histogram<u64>,
    /// Enqueue latency (call → acknowledged), µs.
    pub enqueue_us: Histogram<u64>,
    /// Syncs and records during the run, if counted.
    pub commits: Option<CommitStats>,
}

impl Report {
    /// Tasks completed per second.
    pub fn tasks_per_second(&self) -> f64 {
        self.completed as f64 / self.elapsed.as_secs_f64()
    }

    /// Records per sync (the group-commit factor), if counted.
    pub fn records_per_sync(&self) -> Option<f64> {
        self.commits.filter(|c| c.syncs > 0).map(|c| c.records as f64 / c.syncs as f64)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        write!(
            f,
            "{:<24} {:>9.0} tasks/s  end-to-end p50 {:>7.2} ms  p99 {:>7.2} ms  enqueue p50 {:>6.2} ms  p99 {:>6.2} ms",
            self.queue,
            self.tasks_per_second(),
            ms(&self.latency_us, 0.5),
            ms(&self.latency_us, 0.99),
            ms(&self.enqueue_us, 0.5),
            ms(&self.enqueue_us, 0.99),
        )?;
        match (self.commits, self.records_per_sync()) {
            (Some(c), Some(per_sync)) => {
                let syncs_per_s = c.syncs as f64 / self.elapsed.as_secs_f64();
                write!(f, "  {per_sync:>5.1} records/sync  {syncs_per_s:>5.0} syncs/s")
            }
            _ => Ok(()),
        }
    }
}

struct Shared {
    queue: Arc<dyn QueueUnderTest>,
    workload: Workload,
    start: Instant,
    next_task: AtomicU64,
    completed: AtomicU64,
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("histogram bounds")
}

/// Runs `workload` on `queue` to completion.
pub async fn run(queue: Arc<dyn QueueUnderTest>, workload: &Workload) -> Result<Report, QueueError> {
    let before = queue.commit_stats();
    let shared = Arc::new(Shared {
        queue: queue.clone(),
        workload: workload.clone(),
        start: Instant::now(),
        next_task: AtomicU64::new(0),
        completed: AtomicU64::new(0),
    });
    let mut producers = tokio::task::JoinSet::new();
    for _ in 0..workload.producers.max(1) * workload.in_flight.max(1) {
        producers.spawn(shared.clone().produce());
    }
    let mut consumers = tokio::task::JoinSet::new();
    for _ in 0..workload.consumers.max(1) {
        consumers.spawn(shared.clone().consume());
    }
    let mut enqueue_us = histogram();
    while let Some(done) = producers.join_next().await {
        enqueue_us.add(done??).map_err(|e| e.to_string())?;
    }
    let mut latency_us = histogram();
    let mut last_ack = shared.start;
    while let Some(done) = consumers.join_next().await {
        let (histogram, at) = done??;
        latency_us.add(histogram).map_err(|e| e.to_string())?;
        last_ack = last_ack.max(at);
    }
    let commits = match (before, queue.commit_stats()) {
        (Some(b), Some(a)) => Some(CommitStats { syncs: a.syncs - b.syncs, records: a.records - b.records }),
        _ => None,
    };
    Ok(Report {
        queue: queue.name(),
        completed: shared.completed.load(Ordering::Relaxed),
        elapsed: last_ack - shared.start,
        latency_us,
        enqueue_us,
        commits,
    })
}

impl Shared {
    /// One of the `P × K` enqueue loops: each keeps one enqueue outstanding.
    async fn produce(self: Arc<Self>) -> Result<Histogram<u64>, QueueError> {
        let mut latency = histogram();
        let size = self.workload.payload_bytes.max(8);
        loop {
            let n = self.next_task.fetch_add(1, Ordering::Relaxed);
            if n >= self.workload.tasks {
                return Ok(latency);
            }
            let started = match self.workload.rate {
                Some(rate) => {
                    let due = Duration::from_secs_f64(n as f64 / rate);
                    tokio::time::sleep_until((self.start + due).into()).await;
                    due.as_micros() as u64
                }
                None => self.start.elapsed().as_micros() as u64,
            };
            let mut payload = vec![0u8; size];
            payload[..8].copy_from_slice(&started.to_le_bytes());
            let priority = (n % u64::from(self.workload.priorities.max(1))) as u8;
            self.queue.enqueue(payload, priority).await?;
            latency.saturating_record(self.start.elapsed().as_micros() as u64 - started);
        }
    }

    /// A consumer: lease a batch, ack it, record each task's end-to-end latency.
    async fn consume(self: Arc<Self>) -> Result<(Histogram<u64>, Instant), QueueError> {
        let mut latency = histogram();
        let mut last = self.start;
        while self.completed.load(Ordering::Relaxed) < self.workload.tasks {
            let leased =
                self.queue.lease(self.workload.lease_batch, Duration::from_secs(600), Duration::from_millis(5)).await?;
            if leased.is_empty() {
                continue;
            }
            let started: Vec<u64> = leased
                .iter()
                .map(|t| t.payload.get(..8).and_then(|b| b.try_into().ok()).map_or(0, u64::from_le_bytes))
                .collect();
            let count = leased.len() as u64;
            self.queue.ack(leased).await?;
            let now = self.start.elapsed().as_micros() as u64;
            for enqueued in started {
                latency.saturating_record(now.saturating_sub(enqueued));
            }
            self.completed.fetch_add(count, Ordering::Relaxed);
            last = Instant::now();
        }
        Ok((latency, last))
    }
}
