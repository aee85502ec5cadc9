//! What a pool reports: [`PoolStats`] (a snapshot) and its metric handles.

use std::sync::Arc;
use std::time::Duration;

use hdrhistogram::Histogram;
use metrics::{Counter, Gauge, Histogram as MetricHistogram};

use crate::telemetry::metrics::pool_names as names;

/// Percentiles of a duration distribution (from an HDR histogram, 2 significant digits: ±1 %).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Percentiles {
    /// How many durations were recorded.
    pub count: u64,
    /// Median.
    pub p50: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Largest.
    pub max: Duration,
}

impl Percentiles {
    fn of(h: &Histogram<u64>) -> Self {
        let ns = |v: u64| Duration::from_nanos(v);
        if h.is_empty() {
            return Self::default();
        }
        Self { count: h.len(), p50: ns(h.value_at_quantile(0.5)), p99: ns(h.value_at_quantile(0.99)), max: ns(h.max()) }
    }
}

/// A snapshot of a pool.
///
/// Workers: `workers == idle + busy + draining`. Jobs: every job a pool accepted ends as
/// exactly one of `processed`, `failed` or `abandoned`, so once the pool is quiet, accepted jobs
/// `== processed + failed + abandoned`; `in_flight` counts the ones not ended yet. Rejected jobs
/// were never accepted (they went back to the caller).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolStats {
    /// Running workers (routable and draining).
    pub workers: usize,
    /// Routable workers with nothing to do.
    pub idle: usize,
    /// Routable workers with at least one job (running or queued).
    pub busy: usize,
    /// Workers that take no new jobs and stop once their queue is empty.
    pub draining: usize,
    /// Routable workers with room for another job.
    pub available: usize,
    /// Jobs accepted and not ended (queued at a worker or running). A job leaves it just
    /// after its outcome is reported (so a drain that sees zero knows every report is out).
    pub in_flight: usize,
    /// How many more jobs the pool accepts now.
    pub free_capacity: usize,
    /// Jobs whose handler returned a result.
    pub processed: u64,
    /// Jobs whose handler returned a failure.
    pub failed: u64,
    /// Jobs that ended without their handler returning (crash, stop, drain timeout).
    pub abandoned: u64,
    /// Jobs refused at submit (overloaded, no capable worker, closed).
    pub rejected: u64,
    /// From acceptance to the end of the handler (processed and failed jobs).
    pub latency: Percentiles,
    /// How long handlers ran (processed and failed jobs).
    pub run_time: Percentiles,
}

/// Per-worker histograms of run time and latency, in nanoseconds.
pub(crate) struct JobHistograms {
    run: Histogram<u64>,
    latency: Histogram<u64>,
}

fn histogram() -> Histogram<u64> {
    // Auto-resizing, so an idle worker costs a few KB, not the full nanosecond-to-hour range.
    #[allow(clippy::expect_used)]
    Histogram::new(2).expect("2 significant digits is a valid precision")
}

impl JobHistograms {
    pub(crate) fn new() -> Self {
        Self { run: histogram(), latency: histogram() }
    }

    pub(crate) fn record(&mut self, run: Option<Duration>, latency: Option<Duration>) {
        let ns = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1);
        if let Some(run) = run {
            self.run.saturating_record(ns(run));
        }
        if let Some(latency) = latency {
            self.latency.saturating_record(ns(latency));
        }
    }

    pub(crate) fn merge(&mut self, other: &JobHistograms) {
        // Both auto-resize, so adding cannot run out of range.
        let _ = self.run.add(&other.run);
        let _ = self.latency.add(&other.latency);
    }

    pub(crate) fn percentiles(&self) -> (Percentiles, Percentiles) {
        (Percentiles::of(&self.latency), Percentiles::of(&self.run))
    }
}

/// A pool's metric handles, resolved once (a labelled lookup costs more than a job).
pub(crate) struct PoolMetrics {
    pub(crate) succeeded: Counter,
    pub(crate) failed: Counter,
    pub(crate) abandoned: Counter,
    pub(crate) duration: MetricHistogram,
    pub(crate) rejected_overloaded: Counter,
    pub(crate) rejected_no_capable_worker: Counter,
    pub(crate) rejected_closed: Counter,
    pub(crate) scaled_up: Counter,
    pub(crate) scaled_down: Counter,
    pub(crate) idle: Gauge,
    pub(crate) busy: Gauge,
    pub(crate) draining: Gauge,
}

impl PoolMetrics {
    pub(crate) fn new(pool: &Arc<str>) -> Self {
        let pool = pool.to_string();
        let jobs =
            |outcome: &'static str| metrics::counter!(names::POOL_JOBS, "pool" => pool.clone(), "outcome" => outcome);
        let rejected = |reason: &'static str| metrics::counter!(names::POOL_JOBS_REJECTED, "pool" => pool.clone(), "reason" => reason);
        let scaled = |direction: &'static str| metrics::counter!(names::POOL_SCALE_EVENTS, "pool" => pool.clone(), "direction" => direction);
        let workers =
            |state: &'static str| metrics::gauge!(names::POOL_WORKERS, "pool" => pool.clone(), "state" => state);
        Self {
            succeeded: jobs("succeeded"),
            failed: jobs("failed"),
            abandoned: jobs("abandoned"),
            duration: metrics::histogram!(names::POOL_JOB_DURATION, "pool" => pool.clone()),
            rejected_overloaded: rejected("overloaded"),
            rejected_no_capable_worker: rejected("no_capable_worker"),
            rejected_closed: rejected("closed"),
            scaled_up: scaled("up"),
            scaled_down: scaled("down"),
            idle: workers("idle"),
            busy: workers("busy"),
            draining: workers("draining"),
        }
    }
}
