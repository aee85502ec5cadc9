//! Autoscaling, draining, supervision trees and traces.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ractor_agents::agent::{TraceContext, current_trace, in_trace};
use ractor_agents::pool::{
    AbandonReason, AutoscalePolicy, Job, JobOutcome, PoolSpec, StoreJobs, SubmitError, TaskHandler, TaskInput,
};
use ractor_agents::prelude::*;
use ractor_agents::supervisor::ChildKind;
use ractor_agents::tasks::{LeaseRequest, MemoryStore, Nack, Payload, RetryPolicy, Task, TaskStatus, TaskStore};

use crate::support::*;

fn eager_policy() -> AutoscalePolicy {
    AutoscalePolicy {
        // Jobs already queued at a worker stay there (no work stealing), so one busy worker
        // with a queue reads as 50 % utilisation once a second worker idles beside it: the
        // backlog rule is what grows the pool further.
        backlog_per_worker: Some(4),
        interval: Duration::from_millis(20),
        samples: 2,
        scale_up_cooldown: Duration::ZERO,
        scale_down_cooldown: Duration::from_millis(50),
        ..AutoscalePolicy::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_autoscaler_adds_workers_under_load_and_drains_them_when_idle() {
    let (log, gate) = (Log::default(), closed_gate());
    let pool = PoolSpec::new("elastic", 1..=3, scripted(&log, &gate, |_| vec![]))
        .autoscale(eager_policy())
        .start()
        .await
        .unwrap();
    assert_eq!(pool.stats().workers, 1);
    let mut receipts = Vec::new();
    for k in 0..12 {
        receipts.push(submit(&pool, &format!("block-{k}")).await);
    }
    eventually("the pool grows to its maximum", || pool.stats().workers == 3).await;
    // The new workers take new jobs (least loaded: the two idle newcomers).
    let fresh = [submit(&pool, "block-new-a").await, submit(&pool, "block-new-b").await];
    eventually("the new workers run the new jobs", || log.runs().iter().any(|(w, _)| *w == 2)).await;
    let new_workers: HashSet<u64> =
        log.runs().iter().filter(|(_, p)| p.starts_with("block-new")).map(|(w, _)| *w).collect();
    assert_eq!(new_workers, HashSet::from([1, 2]));
    gate.add_permits(14);
    for r in receipts.into_iter().chain(fresh) {
        assert!(matches!(outcome(r).await, JobOutcome::Succeeded(_)), "draining a worker lets its jobs finish");
    }
    eventually("the idle pool shrinks back to its minimum", || {
        let s = pool.stats();
        s.workers == 1 && s.draining == 0
    })
    .await;
    let stats = pool.stats();
    assert_eq!((stats.processed, stats.abandoned), (14, 0));
    assert!(matches!(outcome(submit(&pool, "after").await).await, JobOutcome::Succeeded(_)));
    pool.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_lets_in_flight_jobs_finish_then_stops_the_pool() {
    let (log, gate) = (Log::default(), closed_gate());
    let pool = PoolSpec::new("draining", 2, scripted(&log, &gate, |_| vec![])).start().await.unwrap();
    let mut receipts = Vec::new();
    for k in 0..6 {
        receipts.push(submit(&pool, &format!("block-{k}")).await);
    }
    let drain = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.drain(PATIENCE).await })
    };
    eventually("intake closes", || !pool.is_open()).await;
    let (late, _) = job("late");
    assert!(matches!(pool.try_submit(late), Err(SubmitError::Closed { .. })));
    gate.add_permits(6);
    let report = tokio::time::timeout(PATIENCE, drain).await.unwrap().unwrap();
    assert!(report.finished_in_time);
    assert_eq!((report.completed, report.abandoned), (6, 0));
    for r in receipts {
        assert!(matches!(outcome(r).await, JobOutcome::Succeeded(_)));
    }
    assert_eq!(pool.stats().workers, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_that_times_out_abandons_the_rest_and_their_tasks_go_back_to_the_queue() {
    let store = Arc::new(MemoryStore::new());
    for k in 0..5 {
        let retry_at_once = RetryPolicy::exponential(3, Duration::ZERO, Duration::ZERO);
        store.enqueue(Task::new("work", format!("block-{k}")).retry(retry_at_once)).await.unwrap();
    }
    let (log, gate) = (Log::default(), closed_gate());
    let pool = PoolSpec::new("stuck", 2, scripted(&log, &gate, |_| vec![])).start().await.unwrap();
    let jobs = StoreJobs::new(store.clone());
    for lease in store.lease(LeaseRequest::new("work").max(5)).await.unwrap() {
        pool.submit(jobs.job(lease)).await.unwrap();
    }
    eventually("two jobs run, three wait", || log.runs().len() == 2).await;
    let report = pool.drain(Duration::from_millis(50)).await;
    assert!(!report.finished_in_time);
    assert_eq!((report.completed, report.abandoned), (0, 5));
    jobs.settled().await;
    let counts = store.counts().await.unwrap();
    assert_eq!(counts.status(TaskStatus::Pending), 5, "every unfinished task is back in the queue");
    let back = store.lease(LeaseRequest::new("work").max(5)).await.unwrap();
    // The two that ran spent an attempt; the three that never started were released unspent.
    let (ran, waited): (Vec<_>, Vec<_>) = back.iter().partition(|l| l.task.failure.is_some());
    assert_eq!((ran.len(), waited.len()), (2, 3));
    assert!(ran.iter().all(|l| l.task.attempts == 2 && l.task.failure.as_ref().unwrap().message.contains("drain")));
    assert!(waited.iter().all(|l| l.task.attempts == 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_in_a_supervision_tree_is_found_by_name_and_drained_when_the_tree_stops() {
    let (log, gate) = (Log::default(), closed_gate());
    let root = Supervisor::new("tree", Strategy::OneForOne)
        .child(ChildSpec::pool(PoolSpec::new("workers", 2, scripted(&log, &gate, |_| vec![]))))
        .start()
        .await
        .unwrap();
    let kinds: Vec<_> = root.children().await.unwrap().into_iter().map(|c| c.kind).collect();
    assert_eq!(kinds, [ChildKind::Pool]);
    let pool = root.pool("workers").unwrap();
    let running = submit(&pool, "block").await;
    eventually("the job runs", || log.runs().len() == 1).await;
    let stopping = {
        let root = root.clone();
        tokio::spawn(async move { root.stop().await })
    };
    eventually("the pool closes its intake first", || !pool.is_open()).await;
    gate.add_permits(1);
    assert!(matches!(outcome(running).await, JobOutcome::Succeeded(_)), "the tree's stop drained the pool");
    tokio::time::timeout(PATIENCE, stopping).await.unwrap().unwrap();
    assert!(!pool.is_open());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_whose_workers_crash_beyond_its_intensity_fails_and_its_supervisor_restarts_it() {
    quiet_simulated_crashes();
    let (log, gate) = (Log::default(), closed_gate());
    let spec = PoolSpec::new("fragile", 1, scripted(&log, &gate, |_| vec![])).intensity(1, Duration::from_secs(60));
    let root = Supervisor::new("tree", Strategy::OneForOne).child(ChildSpec::pool(spec)).start().await.unwrap();
    let pool = root.pool("fragile").unwrap();
    let crashes = [submit(&pool, "panic-1").await, submit(&pool, "panic-2").await];
    for r in crashes {
        assert_eq!(outcome(r).await, JobOutcome::Abandoned(AbandonReason::WorkerCrashed));
    }
    // The second crash exceeded the pool's intensity: the pool failed and the root restarted it.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while root.children().await.unwrap()[0].restarts == 0 {
        assert!(tokio::time::Instant::now() < deadline, "the root did not restart the pool");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert!(pool.is_open(), "the same handle reaches the restarted pool");
    assert!(matches!(outcome(submit(&pool, "fine").await).await, JobOutcome::Succeeded(_)));
    assert_eq!(log.runs().iter().filter(|(_, p)| p == "fine").count(), 1);
    root.stop().await;
}

/// Records the trace each task runs in.
struct TraceProbe(Arc<Mutex<Vec<Option<TraceContext>>>>);

impl TaskHandler for TraceProbe {
    async fn handle(&mut self, _task: &TaskInput) -> Result<Payload, Nack> {
        self.0.lock().unwrap().push(current_trace());
        Ok(Payload::default())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_runs_inside_its_tasks_trace() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let probe = seen.clone();
    let pool = PoolSpec::new("traced", 1, move || TraceProbe(probe.clone())).start().await.unwrap();
    let producer = TraceContext::parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();

    let (job, receipt) = Job::with_receipt(TaskInput::new("t", "x").trace(producer));
    pool.submit(job).await.unwrap();
    outcome(receipt).await;

    // Through a task store: the task records its producer's traceparent when enqueued.
    let store = Arc::new(MemoryStore::new());
    let id = in_trace(producer, None, async { store.enqueue(Task::new("t", "y")).await.unwrap().id }).await;
    let jobs = StoreJobs::new(store.clone());
    let lease = store.lease(LeaseRequest::new("t")).await.unwrap().remove(0);
    pool.submit(jobs.job(lease)).await.unwrap();
    store.wait(id, PATIENCE).await.unwrap();

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    for trace in seen {
        let trace = trace.expect("the handler runs inside a trace");
        assert_eq!(trace.trace_id, producer.trace_id);
        assert_ne!(trace.span_id, producer.span_id, "the handler is a child span of the producer");
    }
    pool.stop().await;
}
