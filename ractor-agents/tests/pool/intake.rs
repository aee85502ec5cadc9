//! Bounded intake: load shedding, backpressure, waiting for capacity, closing.

use std::time::Duration;

use ractor_agents::pool::{JobOutcome, Overflow, PoolSpec, SubmitError};

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_pool_rejects_with_overloaded_and_hands_the_job_back() {
    let (log, gate) = (Log::default(), closed_gate());
    let pool = PoolSpec::new("shedding", 2, scripted(&log, &gate, |_| vec![]))
        .per_worker_limit(2)
        .overflow(Overflow::Reject)
        .start()
        .await
        .unwrap();
    let mut receipts = Vec::new();
    for k in 0..4 {
        receipts.push(submit(&pool, &format!("block-{k}")).await);
    }
    assert_eq!(pool.free_capacity(), 0);
    let (job, extra) = job("extra");
    let job = match pool.try_submit(job) {
        Err(SubmitError::Overloaded { capacity, job, .. }) => {
            assert_eq!(capacity, 4);
            job
        }
        other => panic!("expected Overloaded, got {other:?}"),
    };
    // Under `Overflow::Reject`, `submit` sheds load too.
    let job = pool.submit(job).await.expect_err("the pool is still full").into_job();
    assert_eq!(job.input().payload.as_bytes(), b"extra");
    assert_eq!(pool.stats().rejected, 2);
    gate.add_permits(4);
    for r in receipts {
        assert!(matches!(outcome(r).await, JobOutcome::Succeeded(_)));
    }
    pool.try_submit(job).expect("room again: the job handed back is submitted as it is");
    assert!(matches!(outcome(extra).await, JobOutcome::Succeeded(_)));
    pool.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backpressure_makes_submit_wait_until_a_worker_has_room() {
    let (log, gate) = (Log::default(), closed_gate());
    let pool =
        PoolSpec::new("backpressure", 1, scripted(&log, &gate, |_| vec![])).per_worker_limit(2).start().await.unwrap();
    let first = [submit(&pool, "block-0").await, submit(&pool, "block-1").await];
    let (third, third_receipt) = job("third");
    let waiting = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.submit(third).await })
    };
    // However long we look, a full pool does not take the third job.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!waiting.is_finished(), "submit returned while the pool was full");
    assert_eq!(pool.stats().rejected, 0, "backpressure waits, it does not reject");
    gate.add_permits(1);
    tokio::time::timeout(PATIENCE, waiting).await.expect("submit returned once there was room").unwrap().unwrap();
    gate.add_permits(1);
    for r in first {
        outcome(r).await;
    }
    assert!(matches!(outcome(third_receipt).await, JobOutcome::Succeeded(_)));
    pool.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_for_capacity_wakes_once_a_full_worker_is_half_empty() {
    let (log, gate) = (Log::default(), closed_gate());
    let pool =
        PoolSpec::new("capacity", 1, scripted(&log, &gate, |_| vec![])).per_worker_limit(4).start().await.unwrap();
    let mut receipts = Vec::new();
    for k in 0..4 {
        receipts.push(submit(&pool, &format!("block-{k}")).await);
    }
    assert_eq!(pool.free_capacity(), 0);
    let waiter = pool.wait_for_capacity();
    tokio::pin!(waiter);
    assert!(poll_once(waiter.as_mut()).await.is_pending(), "a full pool has no capacity");
    gate.add_permits(1);
    eventually("one job done", || pool.stats().in_flight == 3).await;
    assert!(
        poll_once(waiter.as_mut()).await.is_pending(),
        "woken for a single free slot: coordinators would lease one task at a time"
    );
    gate.add_permits(1);
    let free = tokio::time::timeout(PATIENCE, waiter).await.expect("woken at half").unwrap();
    assert!(free >= 2, "woken with at least half the worker free, got {free}");
    gate.add_permits(2);
    for r in receipts {
        outcome(r).await;
    }
    // A job reports its outcome just before it gives its worker's slot back.
    eventually("every job has left its worker", || pool.stats().in_flight == 0).await;
    assert_eq!(pool.wait_for_capacity().await, Ok(4), "an idle pool answers at once");
    pool.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draining_a_pool_hands_waiting_producers_their_jobs_back() {
    let (log, gate) = (Log::default(), closed_gate());
    let pool =
        PoolSpec::new("closing", 1, scripted(&log, &gate, |_| vec![])).per_worker_limit(1).start().await.unwrap();
    let running = submit(&pool, "block").await;
    let producer = {
        let pool = pool.clone();
        tokio::spawn(async move {
            let (job, _receipt) = job("late");
            pool.submit(job).await
        })
    };
    let capacity_waiter = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.wait_for_capacity().await })
    };
    eventually("both wait", || pool.free_capacity() == 0).await;
    let drain = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.drain(PATIENCE).await })
    };
    match tokio::time::timeout(PATIENCE, producer).await.unwrap().unwrap() {
        Err(SubmitError::Closed { job, .. }) => assert_eq!(job.input().payload.as_bytes(), b"late"),
        other => panic!("expected Closed, got {other:?}"),
    }
    assert!(tokio::time::timeout(PATIENCE, capacity_waiter).await.unwrap().unwrap().is_err());
    gate.add_permits(1);
    assert!(matches!(outcome(running).await, JobOutcome::Succeeded(_)), "the drain let the running job finish");
    assert!(drain.await.unwrap().finished_in_time);
    let (job, _receipt) = job("after");
    assert!(matches!(pool.try_submit(job), Err(SubmitError::Closed { .. })));
}
