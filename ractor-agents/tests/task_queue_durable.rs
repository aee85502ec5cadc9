//! The queue's conformance suite on the durable backend, plus what only a durable store
//! promises: everything acknowledged is there after a reopen.

mod queue;

use std::sync::Arc;
use std::time::Duration;

use queue::conformance::{Fixture, START};
use ractor_agents::tasks::*;

fn options(clock: &ManualClock) -> DurableOptions {
    // Small preallocated segments keep each case's disk use and setup time small.
    DurableOptions::default().segment_bytes(256 << 10).clock(Arc::new(clock.clone()))
}

async fn durable(clock: ManualClock) -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = DurableStore::open_with(dir.path(), options(&clock)).expect("open");
    Fixture { store: Arc::new(store), clock, guard: Box::new(dir) }
}

queue_conformance!(durable);

/// The same suite with leases that do not wait for their own record.
mod leases_not_awaited {
    use super::*;

    async fn leases_not_awaited(clock: ManualClock) -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = DurableStore::open_with(dir.path(), options(&clock).durable_leases(false)).expect("open");
        Fixture { store: Arc::new(store), clock, guard: Box::new(dir) }
    }

    queue_conformance!(leases_not_awaited);
}

#[tokio::test]
async fn every_acknowledged_change_is_there_after_a_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = ManualClock::new(START);
    let (done, retrying, pending, dead) = {
        let store = DurableStore::open_with(dir.path(), options(&clock)).expect("open");
        let retry = RetryPolicy::exponential(1, Duration::from_secs(1), Duration::from_secs(1)).jitter(0.0);
        let done = store.enqueue(Task::new("a", "1").idempotency_key("k1")).await.expect("enqueue").id;
        let retrying = store.enqueue(Task::new("a", "2")).await.expect("enqueue").id;
        let pending = store.enqueue(Task::new("b", "3").priority(5)).await.expect("enqueue").id;
        let dead = store.enqueue(Task::new("c", "4").retry(retry)).await.expect("enqueue").id;
        let lease = store.lease(LeaseRequest::new("a").max(2)).await.expect("lease");
        store.ack(lease[0].id(), lease[0].token, Payload::from("r1")).await.expect("ack");
        store.nack(lease[1].id(), lease[1].token, Nack::transient("busy")).await.expect("nack");
        let c = store.lease(LeaseRequest::new("c")).await.expect("lease").remove(0);
        store.nack(c.id(), c.token, Nack::transient("boom")).await.expect("nack");
        (done, retrying, pending, dead)
    };
    let store = DurableStore::open_with(dir.path(), options(&clock)).expect("reopen");
    let status = |id| {
        let store = &store;
        async move { store.get(id).await.expect("get").expect("kept").status }
    };
    assert_eq!(status(done).await, TaskStatus::Succeeded);
    assert_eq!(store.get(done).await.expect("get").and_then(|r| r.result), Some(Payload::from("r1")));
    assert_eq!(status(retrying).await, TaskStatus::Pending);
    assert_eq!(status(pending).await, TaskStatus::Pending);
    assert_eq!(status(dead).await, TaskStatus::DeadLettered);
    // Idempotency keys survive: the same key finds the first task.
    let again = store.enqueue(Task::new("a", "again").idempotency_key("k1")).await.expect("enqueue");
    assert_eq!((again.id, again.deduplicated), (done, true));
    // New ids never reuse old ones.
    let fresh = store.enqueue(Task::new("a", "new")).await.expect("enqueue").id;
    assert!(fresh > dead);
}

#[tokio::test]
async fn compaction_keeps_every_task_and_result_across_reopens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = ManualClock::new(START);
    // A tiny threshold: compaction runs many times during the test.
    let opts = || options(&clock).segment_bytes(16 << 10).compact_after_bytes(8 << 10);
    let mut acked = Vec::new();
    let mut pending = Vec::new();
    {
        let store = Arc::new(DurableStore::open_with(dir.path(), opts()).expect("open"));
        for round in 0..40 {
            // Concurrent enqueues, so they share syncs.
            let mut enqueues = tokio::task::JoinSet::new();
            for i in 0..20 {
                let store = store.clone();
                enqueues.spawn(async move { store.enqueue(Task::new("w", format!("task {round}-{i}"))).await });
            }
            while let Some(done) = enqueues.join_next().await {
                pending.push(done.expect("task").expect("enqueue").id);
            }
            for lease in store.lease(LeaseRequest::new("w").max(10)).await.expect("lease") {
                store.ack(lease.id(), lease.token, Payload::from(format!("done {}", lease.id()))).await.expect("ack");
                acked.push(lease.id());
            }
        }
        assert!(store.stats().syncs > 0);
    }
    let store = DurableStore::open_with(dir.path(), opts()).expect("reopen");
    for id in &acked {
        let rec = store.get(*id).await.expect("get").expect("kept");
        assert_eq!(rec.status, TaskStatus::Succeeded);
        assert_eq!(rec.result, Some(Payload::from(format!("done {id}"))));
    }
    let counts = store.counts().await.expect("counts");
    assert_eq!(counts.iter().map(|(_, _, n)| n).sum::<u64>(), pending.len() as u64);
    assert_eq!(counts.status(TaskStatus::Succeeded), acked.len() as u64);
    let segments = std::fs::read_dir(dir.path())
        .expect("list")
        .filter(|e| e.as_ref().is_ok_and(|e| e.path().extension().is_some_and(|x| x == "seg")));
    assert!(segments.count() <= 3, "compaction deleted the log it covered");
}

#[tokio::test]
async fn a_directory_that_is_not_a_journal_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("tasks.sqlite"), b"SQLite format 3\0").expect("write");
    let error = DurableStore::open(dir.path()).expect_err("not a journal");
    assert!(error.to_string().contains("tasks.sqlite"), "{error}");
}

#[tokio::test]
async fn a_second_store_on_the_same_directory_is_refused_until_the_first_closes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = DurableStore::open(dir.path()).expect("open");
    let id = first.enqueue(Task::new("a", "x")).await.expect("enqueue").id;
    assert!(DurableStore::open(dir.path()).is_err());
    first.close().expect("close");
    assert!(matches!(first.enqueue(Task::new("a", "y")).await, Err(QueueError::Closed)));
    let second = DurableStore::open(dir.path()).expect("open after close");
    assert!(second.get(id).await.expect("get").is_some());
}
