//! Stats and metrics add up.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use metrics_util::debugging::DebugValue;
use ractor_agents::pool::{Job, JobOutcome, Overflow, PoolSpec, TaskHandler, TaskInput};
use ractor_agents::tasks::{Nack, Payload};
use ractor_agents::telemetry::metrics::pool_names as names;
use std::time::Duration;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_add_up_every_accepted_job_ends_exactly_once() {
    quiet_simulated_crashes();
    let (log, gate) = (Log::default(), closed_gate());
    let pool = PoolSpec::new("accounting", 3, scripted(&log, &gate, |_| vec![]))
        .per_worker_limit(2)
        .overflow(Overflow::Reject)
        .start()
        .await
        .unwrap();
    // Fill the pool with blocking jobs, and count the ones it sheds.
    let mut receipts = Vec::new();
    let mut rejected = 0;
    for k in 0..10 {
        let (job, receipt) = job(&format!("block-{k}"));
        match pool.try_submit(job) {
            Ok(()) => receipts.push(receipt),
            Err(_) => rejected += 1,
        }
    }
    assert_eq!((receipts.len(), rejected), (6, 4));
    let full = pool.stats();
    assert_eq!(
        (full.workers, full.busy, full.idle, full.available, full.in_flight, full.free_capacity),
        (3, 3, 0, 0, 6, 0)
    );
    gate.add_permits(6);
    // A mix of outcomes: 20 successes, 10 failures, 5 crashes.
    for k in 0..35 {
        let payload = match k % 7 {
            0 => format!("panic-{k}"),
            1 | 2 => format!("fail-{k}"),
            _ => format!("ok-{k}"),
        };
        loop {
            let (job, receipt) = job(&payload);
            if pool.try_submit(job).is_ok() {
                receipts.push(receipt);
                break;
            }
            rejected += 1;
            pool.wait_for_capacity().await.unwrap();
        }
    }
    let mut by_outcome: HashMap<&str, u64> = HashMap::new();
    for r in receipts {
        let kind = match outcome(r).await {
            JobOutcome::Succeeded(_) => "succeeded",
            JobOutcome::Failed(_) => "failed",
            JobOutcome::Abandoned(_) => "abandoned",
        };
        *by_outcome.entry(kind).or_default() += 1;
    }
    // A job reports its outcome just before it gives its worker's slot back.
    eventually("every job has left its worker", || pool.stats().in_flight == 0).await;
    let s = pool.stats();
    assert_eq!(
        (s.processed, s.failed, s.abandoned),
        (by_outcome["succeeded"], by_outcome["failed"], by_outcome["abandoned"])
    );
    assert_eq!((s.processed, s.failed, s.abandoned), (26, 10, 5));
    assert_eq!(s.processed + s.failed + s.abandoned, 41, "every accepted job ended once");
    assert_eq!(s.rejected, rejected);
    assert_eq!(s.in_flight, 0);
    assert_eq!(s.workers, s.idle + s.busy + s.draining);
    assert_eq!((s.workers, s.idle, s.free_capacity), (3, 3, 6), "crashed workers were restarted");
    assert_eq!(s.latency.count, s.processed + s.failed);
    assert_eq!(s.run_time.count, s.processed + s.failed);
    assert!(s.latency.p50 <= s.latency.p99 && s.latency.p99 <= s.latency.max);
    assert!(s.run_time.p99 <= s.latency.max, "a job's run is part of its latency");
    pool.stop().await;
}

use crate::shared_metrics::recorder;

/// A metric's value, folded over every snapshot so far (snapshots drain counters and
/// histograms): counters summed, histograms counted, gauges as last set.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Value {
    Counter(u64),
    Gauge(f64),
    Samples(usize),
}

type Metrics = HashMap<(String, Vec<(String, String)>), Value>;

/// Every metric of pool `pool`: (name, labels without `pool`) → value.
fn pool_metrics(pool: &str) -> Metrics {
    static SEEN: OnceLock<Mutex<Metrics>> = OnceLock::new();
    let mut seen = SEEN.get_or_init(Default::default).lock().unwrap();
    for (key, _, _, value) in recorder().snapshot().into_vec() {
        let key = key.key();
        if !key.labels().any(|l| l.key() == "pool" && l.value() == pool) {
            continue;
        }
        let labels =
            key.labels().filter(|l| l.key() != "pool").map(|l| (l.key().to_owned(), l.value().to_owned())).collect();
        let entry = seen.entry((key.name().to_owned(), labels));
        match (value, entry.or_insert(Value::Samples(0))) {
            (DebugValue::Counter(n), v @ Value::Samples(0)) => *v = Value::Counter(n),
            (DebugValue::Counter(n), Value::Counter(total)) => *total += n,
            (DebugValue::Gauge(g), v) => *v = Value::Gauge(g.into_inner()),
            (DebugValue::Histogram(xs), Value::Samples(count)) => *count += xs.len(),
            (value, v) => panic!("{value:?} after {v:?}"),
        }
    }
    seen.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_publishes_its_catalogue_metrics() {
    recorder();
    let (log, gate) = (Log::default(), closed_gate());
    let pool = PoolSpec::new("metered", 2, scripted(&log, &gate, |_| vec![]))
        .per_worker_limit(1)
        .overflow(Overflow::Reject)
        .start()
        .await
        .unwrap();
    let blocked = [submit(&pool, "block-1").await, submit(&pool, "block-2").await];
    let (job, _receipt) = job("shed");
    assert!(pool.try_submit(job).is_err());
    let label = |k: &str, v: &str| vec![(k.to_owned(), v.to_owned())];
    eventually("the busy gauge is sampled", || {
        pool_metrics("metered").get(&(names::POOL_WORKERS.to_owned(), label("state", "busy")))
            == Some(&Value::Gauge(2.0))
    })
    .await;
    gate.add_permits(2);
    for r in blocked {
        outcome(r).await;
    }
    outcome(submit(&pool, "fail-1").await).await;
    let m = pool_metrics("metered");
    let counter = |name: &str, labels: Vec<(String, String)>| match m.get(&(name.to_owned(), labels)) {
        Some(Value::Counter(n)) => *n,
        other => panic!("{name}: {other:?}"),
    };
    assert_eq!(counter(names::POOL_JOBS, label("outcome", "succeeded")), 2);
    assert_eq!(counter(names::POOL_JOBS, label("outcome", "failed")), 1);
    assert_eq!(counter(names::POOL_JOBS_REJECTED, label("reason", "overloaded")), 1);
    assert_eq!(m.get(&(names::POOL_JOB_DURATION.to_owned(), vec![])), Some(&Value::Samples(3)));
    pool.stop().await;
}

/// Sleeps 20 ms a job.
struct Nap;

impl TaskHandler for Nap {
    async fn handle(&mut self, _task: &TaskInput) -> Result<Payload, Nack> {
        tokio::time::sleep(Duration::from_millis(20)).await;
        Ok(Payload::default())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_time_and_latency_percentiles_are_in_real_units() {
    let pool = PoolSpec::new("nap", 2, || Nap).start().await.unwrap();
    let mut receipts = Vec::new();
    for _ in 0..10 {
        let (job, receipt) = Job::with_receipt(TaskInput::new("nap", "x"));
        pool.submit(job).await.unwrap();
        receipts.push(receipt);
    }
    for r in receipts {
        assert!(matches!(r.await, JobOutcome::Succeeded(_)));
    }
    eventually("every job has left its worker", || pool.stats().in_flight == 0).await;
    let s = pool.stats();
    assert!(s.run_time.p50 >= Duration::from_millis(19), "a 20 ms job's run time: {:?}", s.run_time);
    assert!(s.latency.p99 >= s.run_time.p50, "{:?} vs {:?}", s.latency, s.run_time);
    pool.stop().await;
}
