//! The workload every peer runs: `producers` closed-loop producers, each keeping up to `in_flight`
//! enqueues outstanding, and `consumers` consumers that lease up to `lease_batch` tasks and ack
//! them all at once, until `tasks` tasks (or `max_enqueue_time` of enqueueing) are done.
//!
//! Every payload carries the instant its enqueue was called; a task's end-to-end latency runs from
//! there to the moment its ack is durable (the ack call returns). Throughput is tasks completed per
//! second from the first enqueue call to the last durable ack. Every payload leased is checked to
//! be the one enqueued, and every task to complete exactly once.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::task::JoinSet;

use super::{CommitStats, DurableQueue, LeasedTask, QueueError};

/// The shape of one run.
#[derive(Debug, Clone)]
pub struct Workload {
    /// Closed-loop producers.
    pub producers: usize,
    /// Enqueues each producer keeps outstanding.
    pub in_flight: usize,
    /// Consumers, each leasing and acking in batches.
    pub consumers: usize,
    /// Most tasks one lease takes.
    pub lease_batch: usize,
    /// Tasks to enqueue and complete.
    pub tasks: u64,
    /// Producers stop starting enqueues after this, even short of `tasks`.
    pub max_enqueue_time: Duration,
    /// Bytes per task payload (at least 16: the enqueue instant and the task's number).
    pub payload_bytes: usize,
    /// Distinct priorities used, round robin.
    pub priorities: u8,
    /// How long a lease lasts (longer than any run, so no lease runs out).
    pub lease_for: Duration,
    /// How long a lease call waits for a ready task.
    pub lease_wait: Duration,
    /// How long consumers may go without finishing once producers are done.
    pub drain_limit: Duration,
}

impl Default for Workload {
    /// The workload: 16 producers × 64 in flight, 4 consumers, 100-byte payloads.
    fn default() -> Self {
        Workload {
            producers: 16,
            in_flight: 64,
            consumers: 4,
            // As many as all producers keep in flight: consumers never cap what the producers
            // could sustain, and the backlog stays bounded.
            lease_batch: 1_024,
            tasks: 2_000_000,
            max_enqueue_time: Duration::from_secs(15),
            payload_bytes: 100,
            priorities: 4,
            lease_for: Duration::from_secs(300),
            lease_wait: Duration::from_millis(50),
            drain_limit: Duration::from_secs(120),
        }
    }
}

/// Why a run did not finish.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The peer failed.
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// Consumers made no headway for `drain_limit` after producers finished: tasks were lost.
    #[error("{completed} of {enqueued} tasks completed; none more within the drain limit: the peer lost tasks")]
    Stalled {
        /// Tasks acked.
        completed: u64,
        /// Tasks whose enqueue was acknowledged.
        enqueued: u64,
    },
    /// More tasks were acked than enqueued: the peer handed a task out twice.
    #[error("{completed} tasks completed but only {enqueued} enqueued: the peer leased a task twice")]
    Duplicated {
        /// Tasks acked.
        completed: u64,
        /// Tasks whose enqueue was acknowledged.
        enqueued: u64,
    },
    /// A leased payload is not the one enqueued.
    #[error("task {id} came back with a payload that was never enqueued: the peer corrupts payloads")]
    WrongPayload {
        /// The task.
        id: u64,
    },
    /// The workload's numbers cannot be measured.
    #[error("a latency histogram could not be made: {0}")]
    Histogram(#[from] hdrhistogram::CreationError),
    /// The consumers' latency histograms could not be merged.
    #[error("latency histograms could not be merged: {0}")]
    Merge(#[from] hdrhistogram::AdditionError),
    /// A producer or consumer task panicked.
    #[error("a producer or consumer task panicked: {0}")]
    Panicked(String),
}

/// What one run measured.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// The peer.
    pub peer: String,
    /// Tasks whose enqueue was acknowledged.
    pub enqueued: u64,
    /// Tasks acked.
    pub completed: u64,
    /// First enqueue call to last durable ack.
    pub elapsed: Duration,
    /// First enqueue call to last acknowledged enqueue.
    pub enqueue_elapsed: Duration,
    /// End-to-end latency, µs.
    pub latency: Histogram<u64>,
    /// Commits and records during the run, where the peer counts them.
    pub commits: Option<CommitStats>,
}

impl RunReport {
    /// Tasks completed per second.
    pub fn tasks_per_second(&self) -> f64 {
        self.completed as f64 / self.elapsed.as_secs_f64().max(f64::MIN_POSITIVE)
    }

    /// Enqueues acknowledged per second.
    pub fn enqueues_per_second(&self) -> f64 {
        self.enqueued as f64 / self.enqueue_elapsed.as_secs_f64().max(f64::MIN_POSITIVE)
    }

    /// End-to-end latency at `quantile` (0.5 = median).
    pub fn latency_at(&self, quantile: f64) -> Duration {
        Duration::from_micros(self.latency.value_at_quantile(quantile))
    }

    /// Disk commits per second, where counted.
    pub fn commits_per_second(&self) -> Option<f64> {
        self.commits.map(|c| c.commits as f64 / self.elapsed.as_secs_f64().max(f64::MIN_POSITIVE))
    }

    /// Task records per disk commit, where counted.
    pub fn records_per_commit(&self) -> Option<f64> {
        self.commits.filter(|c| c.commits > 0).map(|c| c.records as f64 / c.commits as f64)
    }
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

impl fmt::Display for RunReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:<9} {:>8.0} tasks/s  (enqueue {:>8.0}/s)  e2e p50 {:>7.2} ms  p99 {:>7.2} ms  p999 {:>7.2} ms",
            self.peer,
            self.tasks_per_second(),
            self.enqueues_per_second(),
            millis(self.latency_at(0.5)),
            millis(self.latency_at(0.99)),
            millis(self.latency_at(0.999)),
        )?;
        match (self.commits_per_second(), self.records_per_commit()) {
            (Some(commits), Some(records)) => write!(f, "  {commits:>6.0} commits/s  {records:>6.1} records/commit")?,
            _ => write!(f, "  commits not counted")?,
        }
        write!(f, "  [{} tasks in {:.1} s]", self.completed, self.elapsed.as_secs_f64())
    }
}

/// Counters shared by producers and consumers; instants are ns since the run's start.
#[derive(Default)]
struct Progress {
    issued: AtomicU64,
    enqueued: AtomicU64,
    completed: AtomicU64,
    producers_done: AtomicBool,
    failed: AtomicBool,
    last_enqueue_ns: AtomicU64,
    last_ack_ns: AtomicU64,
}

struct Run {
    queue: Arc<dyn DurableQueue>,
    workload: Workload,
    start: Instant,
    progress: Progress,
}

impl Run {
    fn now_ns(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// The next task's number, if another enqueue may start.
    fn ticket(&self) -> Option<u64> {
        let go = !self.progress.failed.load(Ordering::Relaxed) && self.start.elapsed() < self.workload.max_enqueue_time;
        let ticket = go.then(|| self.progress.issued.fetch_add(1, Ordering::Relaxed))?;
        (ticket < self.workload.tasks).then_some(ticket)
    }

    /// Enqueue instant, task number, then the task number's low byte as filler.
    fn payload(&self, ticket: u64) -> Vec<u8> {
        let mut payload = Vec::with_capacity(self.workload.payload_bytes.max(16));
        payload.extend_from_slice(&self.now_ns().to_le_bytes());
        payload.extend_from_slice(&ticket.to_le_bytes());
        payload.resize(self.workload.payload_bytes.max(16), ticket as u8);
        payload
    }

    /// The enqueue instant of a leased task, once its payload is checked.
    fn enqueued_at(&self, task: &LeasedTask) -> Result<u64, RunError> {
        let wrong = || RunError::WrongPayload { id: task.id };
        let word = |at: usize| -> Result<u64, RunError> {
            let bytes = task.payload.get(at..at + 8).ok_or_else(wrong)?;
            Ok(bytes.iter().rev().fold(0, |n, b| n << 8 | u64::from(*b)))
        };
        let ticket = word(8)?;
        let filler_ok = task.payload[16..].iter().all(|b| *b == ticket as u8);
        if task.payload.len() != self.workload.payload_bytes.max(16) || !filler_ok {
            return Err(wrong());
        }
        word(0)
    }

    async fn produce(self: Arc<Self>) -> Result<(), RunError> {
        let mut in_flight = JoinSet::new();
        loop {
            while in_flight.len() < self.workload.in_flight {
                let Some(ticket) = self.ticket() else { break };
                let priority = (ticket % u64::from(self.workload.priorities.max(1))) as u8;
                let (queue, payload) = (self.queue.clone(), self.payload(ticket));
                in_flight.spawn(async move { queue.enqueue(payload, priority).await });
            }
            match in_flight.join_next().await {
                None => return Ok(()),
                Some(Ok(Ok(_id))) => {
                    self.progress.enqueued.fetch_add(1, Ordering::Relaxed);
                    self.progress.last_enqueue_ns.fetch_max(self.now_ns(), Ordering::Relaxed);
                }
                Some(Ok(Err(error))) => return Err(self.fail(error.into())),
                Some(Err(panic)) => return Err(self.fail(RunError::Panicked(panic.to_string()))),
            }
        }
    }

    async fn consume(self: Arc<Self>) -> Result<Histogram<u64>, RunError> {
        // 1 µs to 1 hour at 3 significant digits; longer latencies are recorded as 1 hour.
        let mut latency = Histogram::new_with_bounds(1, 3_600_000_000, 3)?;
        let mut drained_since: Option<Instant> = None;
        loop {
            let progress = &self.progress;
            if progress.failed.load(Ordering::Relaxed) {
                return Ok(latency);
            }
            if progress.producers_done.load(Ordering::Acquire) {
                let (completed, enqueued) =
                    (progress.completed.load(Ordering::Relaxed), progress.enqueued.load(Ordering::Relaxed));
                if completed >= enqueued {
                    return Ok(latency);
                }
                if drained_since.get_or_insert_with(Instant::now).elapsed() > self.workload.drain_limit {
                    return Err(self.fail(RunError::Stalled { completed, enqueued }));
                }
            }
            let w = &self.workload;
            let leased = match self.queue.lease(w.lease_batch, w.lease_for, w.lease_wait).await {
                Ok(leased) => leased,
                Err(error) => return Err(self.fail(error.into())),
            };
            if leased.is_empty() {
                continue;
            }
            drained_since = None;
            let enqueued_at = match leased.iter().map(|task| self.enqueued_at(task)).collect::<Result<Vec<_>, _>>() {
                Ok(instants) => instants,
                Err(error) => return Err(self.fail(error)),
            };
            if let Err(error) = self.queue.ack(leased.iter().map(LeasedTask::ack).collect()).await {
                return Err(self.fail(error.into()));
            }
            let now = self.now_ns();
            for at in enqueued_at {
                latency.saturating_record(now.saturating_sub(at) / 1_000);
            }
            progress.completed.fetch_add(leased.len() as u64, Ordering::Relaxed);
            progress.last_ack_ns.fetch_max(now, Ordering::Relaxed);
        }
    }

    fn fail(&self, error: RunError) -> RunError {
        self.progress.failed.store(true, Ordering::Relaxed);
        error
    }
}

/// Runs `workload` against `queue` (freshly opened and empty) and reports what it measured.
pub async fn run(queue: Arc<dyn DurableQueue>, workload: &Workload) -> Result<RunReport, RunError> {
    let commits_before = queue.commit_stats().await?;
    let run = Arc::new(Run {
        queue: queue.clone(),
        workload: workload.clone(),
        start: Instant::now(),
        progress: Progress::default(),
    });
    let mut producers = JoinSet::new();
    for _ in 0..workload.producers.max(1) {
        producers.spawn(run.clone().produce());
    }
    let mut consumers = JoinSet::new();
    for _ in 0..workload.consumers.max(1) {
        consumers.spawn(run.clone().consume());
    }
    let mut first_error = None;
    while let Some(outcome) = producers.join_next().await {
        if let Err(error) = flatten(outcome) {
            first_error.get_or_insert(error);
        }
    }
    run.progress.producers_done.store(true, Ordering::Release);
    let mut latency = Histogram::new_with_bounds(1, 3_600_000_000, 3)?;
    while let Some(outcome) = consumers.join_next().await {
        match flatten(outcome) {
            Ok(histogram) => latency.add(histogram)?,
            Err(error) => drop(first_error.get_or_insert(error)),
        }
    }
    if let Some(error) = first_error {
        return Err(error);
    }
    let progress = &run.progress;
    let (enqueued, completed) = (progress.enqueued.load(Ordering::Relaxed), progress.completed.load(Ordering::Relaxed));
    if completed > enqueued {
        return Err(RunError::Duplicated { completed, enqueued });
    }
    let commits = match (queue.commit_stats().await?, commits_before) {
        (Some(after), Some(before)) => Some(after.since(&before)),
        _ => None,
    };
    Ok(RunReport {
        peer: queue.name(),
        enqueued,
        completed,
        elapsed: Duration::from_nanos(progress.last_ack_ns.load(Ordering::Relaxed)),
        enqueue_elapsed: Duration::from_nanos(progress.last_enqueue_ns.load(Ordering::Relaxed)),
        latency,
        commits,
    })
}

fn flatten<T>(outcome: Result<Result<T, RunError>, tokio::task::JoinError>) -> Result<T, RunError> {
    outcome.map_err(|panic| RunError::Panicked(panic.to_string()))?
}
