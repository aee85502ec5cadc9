//! Each routing strategy's behaviour.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use ractor_agents::pool::{AutoscalePolicy, Job, JobOutcome, PoolSpec, Routing, SubmitError, TaskInput};

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_gives_the_workers_jobs_in_turn() {
    let (log, gate) = (Log::default(), closed_gate());
    let pool =
        PoolSpec::new("rr", 3, scripted(&log, &gate, |_| vec![])).routing(Routing::RoundRobin).start().await.unwrap();
    let mut receipts = Vec::new();
    for k in 0..9 {
        receipts.push(submit(&pool, &format!("job-{k}")).await);
    }
    for r in receipts {
        assert!(matches!(outcome(r).await, JobOutcome::Succeeded(_)));
    }
    let first = log.worker_of("job-0").unwrap();
    for k in 0..9u64 {
        assert_eq!(log.worker_of(&format!("job-{k}")), Some((first + k) % 3), "job {k}");
    }
    pool.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn least_loaded_sends_each_job_to_the_worker_with_the_fewest_outstanding_jobs() {
    let (log, gate) = (Log::default(), closed_gate());
    let pool = PoolSpec::new("least", 3, scripted(&log, &gate, |_| vec![])).start().await.unwrap();
    let blocked = [submit(&pool, "block-a").await, submit(&pool, "block-b").await];
    eventually("both blocking jobs run", || log.runs().len() == 2).await;
    let busy: HashSet<u64> = log.runs().iter().map(|(w, _)| *w).collect();
    assert_eq!(busy.len(), 2, "the two blocking jobs went to two different idle workers");
    let free = (0..3).find(|w| !busy.contains(w)).unwrap();
    for k in 0..10 {
        let payload = format!("quick-{k}");
        outcome(submit(&pool, &payload).await).await;
        assert_eq!(log.worker_of(&payload), Some(free), "{payload} went to the only idle worker");
        // A job reports its outcome just before it frees its worker.
        eventually("the quick job has left its worker", || pool.stats().in_flight == 2).await;
    }
    gate.add_permits(2);
    for r in blocked {
        outcome(r).await;
    }
    pool.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn power_of_two_choices_takes_the_less_loaded_of_its_two_candidates() {
    let (log, gate) = (Log::default(), closed_gate());
    // With two workers both are always the candidates, so the choice is never random.
    let pool = PoolSpec::new("p2c", 2, scripted(&log, &gate, |_| vec![]))
        .routing(Routing::PowerOfTwoChoices)
        .start()
        .await
        .unwrap();
    let blocked = submit(&pool, "block").await;
    eventually("the blocking job runs", || log.runs().len() == 1).await;
    let busy = log.worker_of("block").unwrap();
    for k in 0..10 {
        let payload = format!("quick-{k}");
        outcome(submit(&pool, &payload).await).await;
        assert_eq!(log.worker_of(&payload), Some(1 - busy));
        eventually("the quick job has left its worker", || pool.stats().in_flight == 1).await;
    }
    gate.add_permits(1);
    outcome(blocked).await;
    pool.stop().await;
}

/// Submits 60 blocking jobs to an 8-worker pool with `seed`, then lets them run; returns
/// which worker got each job (per-worker FIFO makes this independent of timing).
async fn two_choices_assignment(seed: u64) -> Vec<u64> {
    let (log, gate) = (Log::default(), closed_gate());
    let pool = PoolSpec::new("p2c-seeded", 8, scripted(&log, &gate, |_| vec![]))
        .routing(Routing::PowerOfTwoChoices)
        .seed(seed)
        .start()
        .await
        .unwrap();
    let mut receipts = Vec::new();
    for k in 0..60 {
        receipts.push(submit(&pool, &format!("block-{k}")).await);
    }
    gate.add_permits(60);
    for r in receipts {
        outcome(r).await;
    }
    pool.stop().await;
    (0..60).map(|k| log.worker_of(&format!("block-{k}")).unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn power_of_two_choices_routes_the_same_way_for_the_same_seed() {
    let a = two_choices_assignment(42).await;
    assert_eq!(a, two_choices_assignment(42).await);
    assert_ne!(a, two_choices_assignment(43).await);
    let used: HashSet<_> = a.iter().collect();
    assert!(used.len() >= 6, "two choices spread 60 jobs over most of 8 workers: {a:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capability_match_routes_only_to_workers_with_the_capability() {
    let (log, gate) = (Log::default(), closed_gate());
    let pool = PoolSpec::new("caps", 3, scripted(&log, &gate, |n| if n == 1 { vec!["gpu"] } else { vec![] }))
        .routing(Routing::CapabilityMatch)
        .capabilities(["cpu"])
        .start()
        .await
        .unwrap();
    let mut receipts = Vec::new();
    for k in 0..20 {
        let (job, receipt) = Job::with_receipt(TaskInput::new("render", format!("gpu-{k}")).capability("gpu"));
        pool.submit(job).await.unwrap();
        receipts.push(receipt);
        let (job, receipt) = Job::with_receipt(TaskInput::new("render", format!("cpu-{k}")).capability("cpu"));
        pool.submit(job).await.unwrap();
        receipts.push(receipt);
    }
    for r in receipts {
        outcome(r).await;
    }
    let runs = log.runs();
    assert!(runs.iter().filter(|(_, p)| p.starts_with("gpu")).all(|(w, _)| *w == 1));
    let cpu_workers: HashSet<u64> = runs.iter().filter(|(_, p)| p.starts_with("cpu")).map(|(w, _)| *w).collect();
    assert!(cpu_workers.len() > 1, "every worker has the pool's `cpu` capability");
    let (job, _receipt) = Job::with_receipt(TaskInput::new("render", "tpu-0").capability("tpu"));
    match pool.submit(job).await {
        Err(SubmitError::NoCapableWorker { capability, job, .. }) => {
            assert_eq!(&*capability, "tpu");
            assert_eq!(job.input().payload.as_bytes(), b"tpu-0");
        }
        other => panic!("expected NoCapableWorker, got {other:?}"),
    }
    pool.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sticky_routing_sends_every_job_of_a_key_to_the_same_worker() {
    let (log, gate) = (Log::default(), closed_gate());
    let pool = PoolSpec::new("sticky", 4, scripted(&log, &gate, |_| vec![]))
        .routing(Routing::StickyByKey)
        .start()
        .await
        .unwrap();
    let mut receipts = Vec::new();
    for k in 0..200 {
        let (job, receipt) =
            Job::with_receipt(TaskInput::new("t", format!("{}-{k}", k % 20)).routing_key(format!("key-{}", k % 20)));
        pool.submit(job).await.unwrap();
        receipts.push(receipt);
    }
    for r in receipts {
        outcome(r).await;
    }
    let mut owner: HashMap<String, HashSet<u64>> = HashMap::new();
    for (worker, payload) in log.runs() {
        let key = payload.split('-').next().unwrap().to_owned();
        owner.entry(key).or_default().insert(worker);
    }
    assert!(owner.values().all(|workers| workers.len() == 1), "a key went to two workers: {owner:?}");
    let used: HashSet<u64> = owner.values().flatten().copied().collect();
    assert!(used.len() >= 3, "20 keys spread over the 4 workers: {used:?}");
    pool.stop().await;
}

/// Runs one job per key and returns the worker each key went to.
async fn owners(pool: &ractor_agents::pool::PoolRef, log: &Log, round: &str) -> HashMap<u32, u64> {
    let mut receipts = Vec::new();
    for key in 0..40u32 {
        let (job, receipt) =
            Job::with_receipt(TaskInput::new("t", format!("{round}-{key}")).routing_key(format!("key-{key}")));
        pool.submit(job).await.unwrap();
        receipts.push(receipt);
    }
    for r in receipts {
        outcome(r).await;
    }
    (0..40).map(|key| (key, log.worker_of(&format!("{round}-{key}")).unwrap())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sticky_keys_move_only_to_an_added_worker_and_return_when_it_is_drained() {
    let (log, gate) = (Log::default(), closed_gate());
    let policy = AutoscalePolicy {
        interval: Duration::from_millis(20),
        samples: 2,
        scale_up_cooldown: Duration::ZERO,
        scale_down_cooldown: Duration::from_millis(300),
        ..AutoscalePolicy::default()
    };
    let pool = PoolSpec::new("sticky-scaling", 2..=3, scripted(&log, &gate, |_| vec![]))
        .routing(Routing::StickyByKey)
        .autoscale(policy)
        .start()
        .await
        .unwrap();
    let before = owners(&pool, &log, "before").await;
    // Keyless blocking jobs go to the least loaded workers: both busy, the pool grows.
    let blocked = [submit(&pool, "block-1").await, submit(&pool, "block-2").await];
    eventually("the pool grows to 3 workers", || pool.stats().workers == 3).await;
    gate.add_permits(2);
    for r in blocked {
        outcome(r).await;
    }
    let grown = owners(&pool, &log, "grown").await;
    for (key, worker) in &grown {
        assert!(*worker == before[key] || *worker == 2, "key {key} moved from {} to {worker}", before[key]);
    }
    eventually("the idle pool drains back to 2 workers", || {
        let s = pool.stats();
        s.workers == 2 && s.draining == 0
    })
    .await;
    assert_eq!(owners(&pool, &log, "after").await, before, "every key is back on its first worker");
    pool.stop().await;
}
