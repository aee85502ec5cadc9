//! The coordinator routes queued tasks to routes with room, waits without polling, and reports
//! results and failures. The routes here are small in-test pools (a semaphore of slots and a
//! tokio task per job) so the coordinator's own behaviour is what is tested; `tests/pool.rs`
//! covers the real worker pools behind it.

// Test code: a panic on an unexpected `Err` is the failure report.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use ractor_agents::dispatch::{Coordinator, DispatchError, Refused, Route, RouteClosed};
use ractor_agents::tasks::*;
use tokio::sync::Semaphore;

/// Answers each task with its payload upper-cased; `fail` and `drop` payloads misbehave.
struct SlotRoute {
    capability: String,
    store: Arc<dyn TaskStore>,
    slots: Arc<Semaphore>,
    handled: Arc<AtomicUsize>,
    dropping: Arc<AtomicBool>,
}

impl SlotRoute {
    fn new(capability: &str, slots: usize, store: &Arc<dyn TaskStore>) -> Self {
        Self {
            capability: capability.into(),
            store: store.clone(),
            slots: Arc::new(Semaphore::new(slots)),
            handled: Arc::default(),
            dropping: Arc::default(),
        }
    }
}

#[async_trait]
impl Route for SlotRoute {
    fn capability(&self) -> &str {
        &self.capability
    }
    fn free(&self) -> usize {
        self.slots.available_permits()
    }
    async fn has_room(&self) -> Result<(), RouteClosed> {
        // Acquire-and-release: resolves exactly when a permit exists, missing none.
        drop(self.slots.acquire().await.map_err(|_| RouteClosed)?);
        Ok(())
    }
    fn dispatch(&self, lease: Lease) -> Result<(), Refused> {
        let (store, handled, dropping) = (self.store.clone(), self.handled.clone(), self.dropping.clone());
        let Ok(permit) = self.slots.clone().try_acquire_owned() else {
            tokio::spawn(async move { store.nack(lease.id(), lease.token, Nack::transient("full")).await });
            return Err(Refused);
        };
        tokio::spawn(async move {
            let _permit = permit;
            handled.fetch_add(1, Ordering::SeqCst);
            let text = String::from_utf8_lossy(lease.task.payload.as_bytes()).into_owned();
            if dropping.load(Ordering::SeqCst) {
                return; // lost by the worker: only the lease expiry brings it back
            }
            if text == "fail" {
                let _ = store.nack(lease.id(), lease.token, Nack::permanent("cannot shout `fail`")).await;
            } else {
                let _ = store.ack(lease.id(), lease.token, Payload::from(text.to_uppercase())).await;
            }
        });
        Ok(())
    }
}

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn a_submitted_task_comes_back_with_its_result() {
    let store: Arc<dyn TaskStore> = Arc::new(MemoryStore::new());
    let coordinator =
        Coordinator::builder(store.clone()).route(SlotRoute::new("shout", 4, &store)).start().await.unwrap();
    let id = coordinator.submit(Task::new("shout", "hello")).await.unwrap();
    let result = coordinator.result(id).timeout(WAIT).await.unwrap();
    assert_eq!(result, Payload::from("HELLO"));
    assert_eq!(coordinator.status(id).await.unwrap(), TaskStatus::Succeeded);
    coordinator.stop().await;
}

#[tokio::test]
async fn a_task_no_route_serves_is_refused_unless_unrouted_tasks_are_accepted() {
    let store: Arc<dyn TaskStore> = Arc::new(MemoryStore::new());
    let strict = Coordinator::builder(store.clone()).route(SlotRoute::new("shout", 1, &store)).start().await.unwrap();
    let err = strict.submit(Task::new("whisper", "x")).await.unwrap_err();
    assert!(matches!(err, DispatchError::NoRoute { ref capability } if capability == "whisper"), "{err}");
    strict.stop().await;
    let lenient = Coordinator::builder(store).name("lenient").accept_unrouted(true).start().await.unwrap();
    let id = lenient.submit(Task::new("whisper", "x")).await.unwrap();
    assert_eq!(lenient.status(id).await.unwrap(), TaskStatus::Pending);
    lenient.stop().await;
}

#[tokio::test]
async fn two_routes_for_one_capability_are_refused_at_build() {
    let store: Arc<dyn TaskStore> = Arc::new(MemoryStore::new());
    let built = Coordinator::builder(store.clone())
        .route(SlotRoute::new("a", 1, &store))
        .route(SlotRoute::new("a", 1, &store))
        .build();
    assert!(matches!(built, Err(DispatchError::Start(_))));
}

#[tokio::test]
async fn with_no_room_tasks_wait_in_the_queue_and_flow_when_room_appears() {
    let store: Arc<dyn TaskStore> = Arc::new(MemoryStore::new());
    let route = SlotRoute::new("shout", 0, &store);
    let slots = route.slots.clone();
    let coordinator = Coordinator::builder(store.clone()).route(route).start().await.unwrap();
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(coordinator.submit(Task::new("shout", format!("t{i}"))).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(store.counts().await.unwrap().status(TaskStatus::Pending), 20, "nothing leased without room");
    slots.add_permits(3);
    for id in ids {
        coordinator.result(id).timeout(WAIT).await.unwrap();
    }
    let stats = coordinator.stats().await.unwrap();
    assert_eq!(stats.queue.status(TaskStatus::Succeeded), 20);
    assert_eq!(stats.routes[0].dispatched, 20);
    coordinator.stop().await;
}

#[tokio::test]
async fn a_failed_task_is_reported_with_its_failure() {
    let store: Arc<dyn TaskStore> = Arc::new(MemoryStore::new());
    let coordinator =
        Coordinator::builder(store.clone()).route(SlotRoute::new("shout", 1, &store)).start().await.unwrap();
    let id = coordinator.submit(Task::new("shout", "fail")).await.unwrap();
    let err = coordinator.result(id).timeout(WAIT).await.unwrap_err();
    match err {
        DispatchError::TaskFailed { status: TaskStatus::Failed, failure: Some(f), .. } => {
            assert_eq!(f.kind, FailureKind::Permanent);
            assert!(f.message.contains("cannot shout"));
        }
        other => panic!("unexpected {other}"),
    }
    coordinator.stop().await;
}

#[tokio::test]
async fn a_cancelled_task_reports_cancelled() {
    let store: Arc<dyn TaskStore> = Arc::new(MemoryStore::new());
    let coordinator =
        Coordinator::builder(store.clone()).route(SlotRoute::new("shout", 0, &store)).start().await.unwrap();
    let id = coordinator.submit(Task::new("shout", "x")).await.unwrap();
    coordinator.cancel(id).await.unwrap();
    let err = coordinator.result(id).timeout(WAIT).await.unwrap_err();
    assert!(matches!(err, DispatchError::TaskFailed { status: TaskStatus::Cancelled, .. }), "{err}");
    coordinator.stop().await;
}

#[tokio::test]
async fn a_task_retried_later_is_dispatched_when_its_retry_time_comes_without_new_work() {
    let store: Arc<dyn TaskStore> = Arc::new(MemoryStore::new());
    let coordinator =
        Coordinator::builder(store.clone()).route(SlotRoute::new("shout", 1, &store)).start().await.unwrap();
    // Lease it by hand and nack it with a retry time, so only the timekeeper can bring it back.
    let id = store.enqueue(Task::new("shout", "again")).await.unwrap().id;
    // The dispatcher may win the race for the first lease; then there is nothing to nack.
    if let Some(lease) = store.lease(LeaseRequest::new("shout")).await.unwrap().pop() {
        store.nack(id, lease.token, Nack::transient("later").retry_after(Duration::from_millis(200))).await.unwrap();
    }
    assert_eq!(coordinator.result(id).timeout(WAIT).await.unwrap(), Payload::from("AGAIN"));
    coordinator.stop().await;
}

#[tokio::test]
async fn a_task_lost_by_its_worker_comes_back_when_its_lease_expires_and_then_completes() {
    let store: Arc<dyn TaskStore> = Arc::new(MemoryStore::new());
    let route = SlotRoute::new("shout", 1, &store);
    let (dropping, handled) = (route.dropping.clone(), route.handled.clone());
    dropping.store(true, Ordering::SeqCst);
    let coordinator =
        Coordinator::builder(store.clone()).route(route).lease_for(Duration::from_millis(100)).start().await.unwrap();
    let id = coordinator
        .submit(Task::new("shout", "lost").retry(RetryPolicy::exponential(3, Duration::ZERO, Duration::ZERO)))
        .await
        .unwrap();
    while handled.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    dropping.store(false, Ordering::SeqCst);
    assert_eq!(coordinator.result(id).timeout(WAIT).await.unwrap(), Payload::from("LOST"));
    let rec = coordinator.task(id).await.unwrap();
    assert_eq!(rec.attempts, 2, "the expired lease counted as an attempt");
    coordinator.stop().await;
}

#[tokio::test]
async fn many_tasks_from_many_producers_all_complete_exactly_once() {
    let store: Arc<dyn TaskStore> = Arc::new(MemoryStore::new());
    let route = SlotRoute::new("shout", 8, &store);
    let handled = route.handled.clone();
    let coordinator = Coordinator::builder(store.clone()).route(route).batch(16).start().await.unwrap();
    let mut producers = Vec::new();
    for p in 0..8 {
        let c = coordinator.clone();
        producers.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..250 {
                ids.push(c.submit(Task::new("shout", format!("p{p}-{i}"))).await.unwrap());
            }
            for id in &ids {
                c.result(*id).timeout(WAIT).await.unwrap();
            }
            ids.len()
        }));
    }
    let mut total = 0;
    for p in producers {
        total += p.await.unwrap();
    }
    assert_eq!(total, 2000);
    assert_eq!(handled.load(Ordering::SeqCst), 2000, "each task handed out exactly once");
    coordinator.stop().await;
}

mod with_pools {
    use super::*;
    use ractor_agents::pool::{PoolSpec, TaskHandler, TaskInput};

    /// Upper-cases; panics on the first attempt at payloads starting with "crash".
    struct Shout;

    impl TaskHandler for Shout {
        async fn handle(&mut self, task: &TaskInput) -> Result<Payload, Nack> {
            let text = String::from_utf8_lossy(task.payload.as_bytes()).into_owned();
            if text.starts_with("crash") && task.attempt == 1 {
                panic!("simulated worker crash on {text}");
            }
            Ok(Payload::from(text.to_uppercase()))
        }
    }

    fn quick_retry() -> RetryPolicy {
        RetryPolicy::exponential(3, Duration::ZERO, Duration::ZERO)
    }

    async fn run_through_pool(store: Arc<dyn TaskStore>) {
        // 30 crashes in about a second: allow them (the default intensity would, rightly, give up).
        let pool =
            PoolSpec::new("shouters", 3, || Shout).intensity(1000, Duration::from_secs(1)).start().await.unwrap();
        let coordinator = Coordinator::builder(store.clone()).pool("shout", pool.clone()).start().await.unwrap();
        let mut ids = Vec::new();
        for i in 0..300 {
            let text = if i % 10 == 0 { format!("crash-{i}") } else { format!("t-{i}") };
            ids.push((coordinator.submit(Task::new("shout", text.clone()).retry(quick_retry())).await.unwrap(), text));
        }
        for (id, text) in &ids {
            let result = match coordinator.result(*id).timeout(WAIT).await {
                Ok(r) => r,
                Err(e) => panic!(
                    "{e}: {:?} {:?} {:?}",
                    coordinator.stats().await.unwrap(),
                    pool.stats(),
                    coordinator.task(*id).await.unwrap()
                ),
            };
            assert_eq!(result, Payload::from(text.to_uppercase()));
            let attempts = coordinator.task(*id).await.unwrap().attempts;
            let expected = if text.starts_with("crash") { 2 } else { 1 };
            assert_eq!(attempts, expected, "{text}");
        }
        let stats = pool.stats();
        assert_eq!(stats.abandoned, 30, "each crash abandoned exactly its own task: {stats:?}");
        coordinator.stop().await;
        pool.drain(Duration::from_secs(5)).await;
    }

    #[tokio::test]
    async fn tasks_flow_through_a_worker_pool_and_a_worker_crash_sends_its_task_back_to_be_done() {
        run_through_pool(Arc::new(MemoryStore::new())).await;
    }

    #[tokio::test]
    async fn the_same_holds_on_the_durable_store() {
        let dir = tempfile::tempdir().unwrap();
        run_through_pool(Arc::new(DurableStore::open(dir.path()).unwrap())).await;
    }

    #[tokio::test]
    async fn tasks_left_in_a_durable_queue_are_done_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let ids: Vec<TaskId> = {
            let store: Arc<dyn TaskStore> = Arc::new(DurableStore::open(dir.path()).unwrap());
            let mut ids = Vec::new();
            for i in 0..50 {
                ids.push(store.enqueue(Task::new("shout", format!("left-{i}"))).await.unwrap().id);
            }
            ids
        };
        let store: Arc<dyn TaskStore> = Arc::new(DurableStore::open(dir.path()).unwrap());
        let pool = PoolSpec::new("shouters", 2, || Shout).start().await.unwrap();
        let coordinator = Coordinator::builder(store).pool("shout", pool.clone()).start().await.unwrap();
        for (i, id) in ids.into_iter().enumerate() {
            assert_eq!(coordinator.result(id).timeout(WAIT).await.unwrap(), Payload::from(format!("LEFT-{i}")));
        }
        coordinator.stop().await;
        pool.drain(Duration::from_secs(5)).await;
    }
}
