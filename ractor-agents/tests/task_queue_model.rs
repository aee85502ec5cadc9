//! The task queue against a reference model, with `proptest-state-machine`.
//!
//! Random sequences of enqueue, batch enqueue, lease, start, extend, ack, nack (transient,
//! permanent, crashed, with retry-after), clock advances, `expire_due`, cancel, redrive, purge,
//! dead-letter pages and crash-and-reopen run on a backend and on the model in
//! `queue/model/reference.rs`. After every step (not only at the end) the backend must hold
//! exactly the model's tasks, counts, dead letters and timers (`queue/model/check.rs`); each
//! answer must be the model's (`queue/model/harness.rs`).
//!
//! Backends:
//! * `QueueState` with an event journal: a crash rebuilds the state by replaying every event
//!   so far through `QueueState::apply` (sometimes compacted to a snapshot, sometimes with a
//!   snapshot written after the events, as when a crash interrupts compaction). That is the
//!   durable store's recovery path, checked here without its disk, and it also exposes
//!   `has_ready`, which the `TaskStore` API does not.
//! * `MemoryStore` through the `TaskStore` API: covers what the store adds around the state
//!   (its clock, purge cut-off, wake-ups on `changes()`). No crash: it has no restart.
//! * `DurableStore` (`queue/model/durable.rs`): a crash drops it unclosed and reopens its
//!   directory; it must hold exactly what the model holds, every acknowledged change included.
//!
//! `PROPTEST_CASES=5000 cargo test -p ractor-agents --release --test task_queue_model` runs more.

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "queue/model/durable.rs"]
mod durable;
#[path = "queue/model/mod.rs"]
mod model;

use std::marker::PhantomData;
use std::time::Duration;

use model::backends::{Journaled, Memory, Queue, Store};
use model::harness::Harness;
use model::reference::Model;
use model::transitions::{QueueModel, Transition};
use proptest::test_runner::Config;
use proptest_state_machine::{StateMachineTest, prop_state_machine};
use ractor_agents::tasks::{
    LeaseRequest, Nack, QueueError, QueueState, RetryPolicy, Task, TaskStatus, TaskStore, Timestamp,
};

/// Cases per backend when `PROPTEST_CASES` is unset: keeps the file within ~30 s in debug.
const DEFAULT_CASES: u32 = 256;

/// Runs the model's transitions on backend `Q`.
struct AgainstModel<Q>(PhantomData<Q>);

impl<Q: Queue> StateMachineTest for AgainstModel<Q> {
    type SystemUnderTest = Harness<Q>;
    type Reference = QueueModel<Q>;

    fn init_test(_: &Model) -> Harness<Q> {
        Harness::default()
    }

    fn apply(mut harness: Harness<Q>, model: &Model, transition: Transition) -> Harness<Q> {
        harness.apply(transition, model);
        harness
    }

    fn check_invariants(harness: &Harness<Q>, model: &Model) {
        harness.check(model);
    }
}

type MemoryStore = Store<Memory>;

fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_CASES);
    Config { cases, ..Config::default() }
}

prop_state_machine! {
    #![proptest_config(config())]

    #[test]
    fn queue_state_rebuilt_from_its_journal_matches_the_model(sequential 1..80 => AgainstModel<Journaled>);

    #[test]
    fn memory_store_matches_the_model(sequential 1..80 => AgainstModel<MemoryStore>);
}

// Regressions the model found, each as the smallest case that shows it.

const T0: Timestamp = Timestamp(model::reference::START_US);

fn at(secs: u64) -> Timestamp {
    T0.add(Duration::from_secs(secs))
}

#[tokio::test]
async fn an_invalid_task_is_refused_even_when_its_idempotency_key_is_known() {
    // It used to come back as a duplicate of the first task, while the same task in a batch
    // was refused.
    let store = ractor_agents::tasks::MemoryStore::new();
    store.enqueue(Task::new("t", "x").idempotency_key("k")).await.unwrap();
    let err = store.enqueue(Task::new("t", "y").idempotency_key("k").max_attempts(0)).await;
    assert!(matches!(err, Err(QueueError::InvalidTask(_))), "{err:?}");
}

#[test]
fn purge_after_replaying_a_snapshot_drops_every_task_that_finished_long_enough_ago() {
    // A snapshot listed finished tasks by id, so the replayed retention queue began with
    // task-1 (finished late) and purge stopped there, keeping task-2 (finished early).
    let mut state = QueueState::new();
    let first = state.enqueue(T0, Task::new("t", "late"), &mut ()).unwrap().id;
    let second = state.enqueue(T0, Task::new("t", "early"), &mut ()).unwrap().id;
    state.cancel(at(0), second, &mut ()).unwrap();
    state.cancel(at(60), first, &mut ()).unwrap();

    let mut replayed = QueueState::new();
    for event in state.snapshot() {
        replayed.apply(event);
    }
    assert_eq!(replayed.purge_finished(at(30), &mut ()), 1);
    assert!(replayed.get(second).is_none(), "finished at 0 s, purged with a 30 s cut-off");
    assert_eq!(replayed.get(first).map(|r| r.status), Some(TaskStatus::Cancelled));
}

#[test]
fn has_ready_sees_a_due_retry_behind_an_earlier_one_of_another_capability() {
    // It looked only at the earliest waiting retry, which here is capability b's.
    let mut state = QueueState::new();
    let retry = RetryPolicy::exponential(2, Duration::from_secs(1), Duration::from_secs(1)).jitter(0.0);
    let b = state.enqueue(T0, Task::new("b", "x").retry(retry), &mut ()).unwrap().id;
    let a = state.enqueue(T0, Task::new("a", "y").retry(retry), &mut ()).unwrap().id;
    for (capability, id) in [("b", b), ("a", a)] {
        let lease = state.lease(T0, &LeaseRequest::new(capability), &mut ()).remove(0);
        state.nack(T0, id, lease.token, Nack::transient("again"), &mut ()).unwrap();
    }
    assert!(!state.has_ready("a", T0), "both wait for their 1 s backoff");
    assert!(state.has_ready("a", at(1)));
    assert_eq!(state.lease(at(1), &LeaseRequest::new("a"), &mut ())[0].id(), a);
}
