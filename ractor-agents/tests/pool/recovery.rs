//! Crashes, task stores and leases: nothing is lost.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ractor_agents::pool::{PoolRef, PoolSpec, StoreJobs, TaskHandler, TaskInput};
use ractor_agents::tasks::{
    Clock, FailureKind, LeaseRequest, ManualClock, MemoryStore, Nack, Payload, RetryPolicy, Task, TaskStatus,
    TaskStore, Timestamp,
};

use crate::support::*;

fn store() -> Arc<MemoryStore> {
    Arc::new(MemoryStore::new())
}

fn retry_at_once(attempts: u32) -> RetryPolicy {
    RetryPolicy::exponential(attempts, Duration::ZERO, Duration::ZERO)
}

/// What a coordinator does, minimally: lease what the pool can take, submit it; when nothing
/// is leasable, wait for the store to say something may be. Returns when no task is unfinished.
async fn feed(store: &Arc<MemoryStore>, pool: &PoolRef, jobs: &StoreJobs, capability: &str) {
    let mut changes = store.changes();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while store.counts().await.unwrap().unfinished() > 0 {
        assert!(tokio::time::Instant::now() < deadline, "tasks left unfinished");
        changes.borrow_and_update();
        let room = pool.wait_for_capacity().await.unwrap();
        let leases = store.lease(LeaseRequest::new(capability).max(room)).await.unwrap();
        if leases.is_empty() {
            // Finishing tasks wake nobody; a short timeout re-checks `unfinished`.
            let _ = tokio::time::timeout(Duration::from_millis(20), changes.changed()).await;
        }
        for lease in leases {
            pool.submit(jobs.job(lease)).await.unwrap();
        }
    }
}

/// Crashes on the first attempt of a task, succeeds on the others; counts how often it is built.
struct CrashOnce;

impl TaskHandler for CrashOnce {
    async fn handle(&mut self, task: &TaskInput) -> Result<Payload, Nack> {
        if task.attempt == 1 {
            panic!("simulated crash on attempt 1");
        }
        Ok(Payload::from(format!("done on attempt {}", task.attempt)))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_panicking_mid_task_sends_the_task_back_to_the_store_and_the_restarted_worker_completes_it() {
    quiet_simulated_crashes();
    let store = store();
    let id = store.enqueue(Task::new("work", "x").retry(retry_at_once(3))).await.unwrap().id;
    let built = Arc::new(AtomicU64::new(0));
    let factory = {
        let built = built.clone();
        move || {
            built.fetch_add(1, Ordering::SeqCst);
            CrashOnce
        }
    };
    let pool = PoolSpec::new("crashing", 1, factory).start().await.unwrap();
    let jobs = StoreJobs::new(store.clone());

    let lease = store.lease(LeaseRequest::new("work")).await.unwrap().remove(0);
    pool.submit(jobs.job(lease)).await.unwrap();
    eventually("the crash abandons the job", || pool.stats().abandoned == 1).await;
    jobs.settled().await;
    let back = store.get(id).await.unwrap().unwrap();
    assert_eq!((back.status, back.attempts), (TaskStatus::Pending, 1), "back in the queue, attempt counted");
    assert_eq!(back.failure.as_ref().map(|f| f.kind), Some(FailureKind::WorkerCrashed));

    let lease = store.lease(LeaseRequest::new("work")).await.unwrap().remove(0);
    pool.submit(jobs.job(lease)).await.unwrap();
    let done = store.wait(id, PATIENCE).await.unwrap();
    assert_eq!((done.status, done.attempts), (TaskStatus::Succeeded, 2));
    assert_eq!(done.result, Some(Payload::from("done on attempt 2")));
    assert_eq!(built.load(Ordering::SeqCst), 2, "the supervisor restarted the worker with a fresh handler");
    let stats = pool.stats();
    assert_eq!((stats.abandoned, stats.processed, stats.workers), (1, 1, 1));
    pool.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_job_that_is_dropped_unsubmitted_gives_its_task_back_without_spending_an_attempt() {
    let store = store();
    let id = store.enqueue(Task::new("work", "x").retry(retry_at_once(3))).await.unwrap().id;
    let jobs = StoreJobs::new(store.clone());
    let lease = store.lease(LeaseRequest::new("work")).await.unwrap().remove(0);
    drop(jobs.job(lease));
    jobs.settled().await;
    let back = store.get(id).await.unwrap().unwrap();
    assert_eq!((back.status, back.attempts), (TaskStatus::Pending, 0));
    assert!(back.failure.is_none());
    assert_eq!(jobs.stats().released, 1);
}

/// Crashes on a pseudo-random tenth of attempts (never past attempt 4), else doubles a number.
struct Doubler;

impl TaskHandler for Doubler {
    async fn handle(&mut self, task: &TaskInput) -> Result<Payload, Nack> {
        let n: u64 = task.payload.decode().map_err(|e| Nack::permanent(e.to_string()))?;
        let roll =
            (n.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ u64::from(task.attempt).wrapping_mul(0xBF58_476D_1CE4_E5B9)) % 10;
        if roll == 0 && task.attempt <= 4 {
            panic!("simulated crash on {n}");
        }
        Ok(Payload::json(&(n * 2)).unwrap())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_tasks_with_random_worker_crashes_all_succeed_and_none_is_lost() {
    quiet_simulated_crashes();
    let store = store();
    let tasks: Vec<Task> = (0..1000u64).map(|n| Task::json("double", &n).unwrap().retry(retry_at_once(10))).collect();
    let ids: Vec<_> = store.enqueue_batch(tasks).await.unwrap().into_iter().map(|e| e.id).collect();
    let pool =
        PoolSpec::new("doublers", 4, || Doubler).intensity(10_000, Duration::from_secs(1)).start().await.unwrap();
    let jobs = StoreJobs::new(store.clone());
    feed(&store, &pool, &jobs, "double").await;
    jobs.settled().await;

    let mut retries = 0;
    for (n, id) in ids.iter().enumerate() {
        let rec = store.get(*id).await.unwrap().unwrap();
        assert_eq!(rec.status, TaskStatus::Succeeded, "task {n}");
        assert_eq!(rec.result.unwrap().decode::<u64>().unwrap(), 2 * n as u64);
        retries += u64::from(rec.attempts - 1);
    }
    assert!(retries > 50, "the crashes happened ({retries} retries)");
    let stats = pool.stats();
    assert_eq!(stats.processed, 1000);
    assert_eq!(stats.abandoned, retries, "every crash abandoned exactly one attempt, which was retried");
    let reported = jobs.stats();
    assert_eq!((reported.acked, reported.nacked, reported.lease_lost, reported.report_errors), (1000, retries, 0, 0));
    assert_eq!(stats.workers, 4);
    pool.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_task_keeps_its_lease_alive_until_it_finishes() {
    let clock = ManualClock::new(Timestamp(1_000_000_000));
    let store = Arc::new(MemoryStore::with_clock(Arc::new(clock.clone())));
    let id = store.enqueue(Task::new("slow", "block")).await.unwrap().id;
    let (log, gate) = (Log::default(), closed_gate());
    let pool = PoolSpec::new("slow", 1, scripted(&log, &gate, |_| vec![])).start().await.unwrap();
    let jobs = StoreJobs::new(store.clone()).renew_check(Duration::from_millis(5));
    let lease = store.lease(LeaseRequest::new("slow").lease_for(Duration::from_secs(30))).await.unwrap().remove(0);
    let mut expires = lease.expires_at;
    pool.submit(jobs.job(lease)).await.unwrap();
    for _ in 0..3 {
        // 20 s later only 10 s of the 30 s lease would be left: the keeper extends it.
        clock.advance(Duration::from_secs(20));
        let rec = || async { store.get(id).await.unwrap().unwrap().lease.unwrap().expires_at };
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while rec().await <= expires {
            assert!(tokio::time::Instant::now() < deadline, "the lease was not extended");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        expires = rec().await;
        assert_eq!(expires, clock.now().add(Duration::from_secs(30)), "extended by the lease's own length");
        assert_eq!(store.expire_due().await.unwrap(), 0, "nothing expired");
    }
    gate.add_permits(1);
    let done = store.wait(id, PATIENCE).await.unwrap();
    assert_eq!((done.status, done.attempts), (TaskStatus::Succeeded, 1));
    assert!(jobs.stats().extended >= 3);
    jobs.settled().await;
    assert_eq!(jobs.stats().kept, 0, "a finished job's lease is no longer kept");
    pool.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_that_finds_its_lease_lost_is_counted_not_a_panic() {
    let store = store();
    let id = store.enqueue(Task::new("work", "block")).await.unwrap().id;
    let (log, gate) = (Log::default(), closed_gate());
    let pool = PoolSpec::new("lost", 1, scripted(&log, &gate, |_| vec![])).start().await.unwrap();
    let jobs = StoreJobs::new(store.clone());
    let lease = store.lease(LeaseRequest::new("work")).await.unwrap().remove(0);
    pool.submit(jobs.job(lease)).await.unwrap();
    eventually("the job runs", || log.runs().len() == 1).await;
    store.cancel(id).await.unwrap();
    gate.add_permits(1);
    eventually("the job ends", || pool.stats().processed == 1).await;
    jobs.settled().await;
    assert_eq!(jobs.stats().lease_lost, 1);
    assert_eq!(store.get(id).await.unwrap().unwrap().status, TaskStatus::Cancelled);
    // The pool carries on.
    assert!(matches!(outcome(submit(&pool, "next").await).await, ractor_agents::pool::JobOutcome::Succeeded(_)));
    pool.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_report_start_a_running_job_shows_its_task_as_running() {
    let store = store();
    let id = store.enqueue(Task::new("work", "block")).await.unwrap().id;
    let (log, gate) = (Log::default(), closed_gate());
    let pool = PoolSpec::new("started", 1, scripted(&log, &gate, |_| vec![])).start().await.unwrap();
    let jobs = StoreJobs::new(store.clone()).report_start(true);
    let lease = store.lease(LeaseRequest::new("work")).await.unwrap().remove(0);
    pool.submit(jobs.job(lease)).await.unwrap();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while store.get(id).await.unwrap().unwrap().status != TaskStatus::Running {
        assert!(tokio::time::Instant::now() < deadline, "the task never showed as running");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    gate.add_permits(1);
    assert_eq!(store.wait(id, PATIENCE).await.unwrap().status, TaskStatus::Succeeded);
    pool.stop().await;
}
