//! The queue's rules, as tests every `TaskStore` backend must pass.
//!
//! A backend's test file does `mod queue; queue_conformance!(make_store);` where
//! `make_store(clock: ManualClock) -> Fixture`. Each case gets a fresh store on a manual clock
//! starting at `START`.
#![allow(dead_code, unreachable_pub, missing_docs, clippy::unwrap_used)]

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use ractor_agents::tasks::*;

pub const START: Timestamp = Timestamp(1_700_000_000_000_000);

/// A store under test, its clock, and whatever must live as long as it (a temp dir).
pub struct Fixture {
    pub store: Arc<dyn TaskStore>,
    pub clock: ManualClock,
    pub guard: Box<dyn Any + Send>,
}

const SEC: Duration = Duration::from_secs(1);

fn no_jitter(attempts: u32) -> RetryPolicy {
    RetryPolicy::exponential(attempts, SEC, Duration::from_secs(60)).jitter(0.0)
}

async fn lease_one(f: &Fixture, capability: &str) -> Option<Lease> {
    f.store.lease(LeaseRequest::new(capability).lease_for(Duration::from_secs(30))).await.unwrap().pop()
}

async fn status(f: &Fixture, id: TaskId) -> TaskStatus {
    f.store.get(id).await.unwrap().unwrap().status
}

pub async fn a_leased_task_is_the_one_enqueued_with_its_first_attempt_counted(f: Fixture) {
    let id = f.store.enqueue(Task::new("echo", "hi")).await.unwrap().id;
    let lease = lease_one(&f, "echo").await.unwrap();
    assert_eq!(lease.id(), id);
    assert_eq!(lease.task.payload, Payload::from("hi"));
    assert_eq!(lease.task.attempts, 1);
    assert_eq!(lease.task.status, TaskStatus::Leased);
    assert!(lease_one(&f, "echo").await.is_none(), "a leased task is not handed out twice");
}

pub async fn higher_priority_is_leased_first_and_fifo_within_a_priority(f: Fixture) {
    let mut ids = Vec::new();
    for (i, p) in [1u8, 5, 1, 5, 9].into_iter().enumerate() {
        ids.push(f.store.enqueue(Task::new("t", format!("{i}")).priority(p)).await.unwrap().id);
    }
    let leases = f.store.lease(LeaseRequest::new("t").max(10)).await.unwrap();
    let order: Vec<TaskId> = leases.iter().map(Lease::id).collect();
    assert_eq!(order, vec![ids[4], ids[1], ids[3], ids[0], ids[2]]);
}

pub async fn a_lease_only_returns_tasks_of_the_requested_capability(f: Fixture) {
    let a = f.store.enqueue(Task::new("resize", "x").capability("gpu")).await.unwrap().id;
    f.store.enqueue(Task::new("resize", "y")).await.unwrap();
    let leases = f.store.lease(LeaseRequest::new("gpu").max(10)).await.unwrap();
    assert_eq!(leases.iter().map(Lease::id).collect::<Vec<_>>(), vec![a]);
    assert!(f.store.lease(LeaseRequest::new("nothing")).await.unwrap().is_empty());
}

pub async fn an_idempotency_key_seen_before_returns_the_first_task(f: Fixture) {
    let first = f.store.enqueue(Task::new("t", "1").idempotency_key("k")).await.unwrap();
    let second = f.store.enqueue(Task::new("t", "2").idempotency_key("k")).await.unwrap();
    assert!(!first.deduplicated);
    assert_eq!(second, Enqueued { id: first.id, deduplicated: true });
    assert_eq!(f.store.counts().await.unwrap().status(TaskStatus::Pending), 1);
}

pub async fn a_batch_with_an_invalid_task_enqueues_nothing(f: Fixture) {
    let err = f.store.enqueue_batch(vec![Task::new("t", "ok"), Task::new("t", "bad").max_attempts(0)]).await;
    assert!(matches!(err, Err(QueueError::InvalidTask(_))), "{err:?}");
    assert_eq!(f.store.counts().await.unwrap().status(TaskStatus::Pending), 0);
    let ok = f
        .store
        .enqueue_batch(vec![
            Task::new("t", "a"),
            Task::new("t", "b").idempotency_key("x"),
            Task::new("t", "c").idempotency_key("x"),
        ])
        .await
        .unwrap();
    assert_eq!(ok.len(), 3);
    assert!(ok[2].deduplicated && ok[2].id == ok[1].id);
}

pub async fn an_empty_kind_is_refused_with_a_reason(f: Fixture) {
    let err = f.store.enqueue(Task::new("", "x")).await.unwrap_err();
    assert!(err.to_string().contains("kind is empty"), "{err}");
}

pub async fn an_acked_task_succeeds_and_is_never_leased_again(f: Fixture) {
    let id = f.store.enqueue(Task::new("t", "x")).await.unwrap().id;
    let lease = lease_one(&f, "t").await.unwrap();
    f.store.start(id, lease.token).await.unwrap();
    assert_eq!(status(&f, id).await, TaskStatus::Running);
    f.store.ack(id, lease.token, Payload::from("done")).await.unwrap();
    f.clock.advance(Duration::from_secs(3600));
    assert!(lease_one(&f, "t").await.is_none());
    let rec = f.store.get(id).await.unwrap().unwrap();
    assert_eq!((rec.status, rec.result), (TaskStatus::Succeeded, Some(Payload::from("done"))));
    let again = f.store.ack(id, lease.token, Payload::from("twice")).await;
    assert!(matches!(again, Err(QueueError::LeaseLost { .. })), "{again:?}");
}

pub async fn a_batch_ack_answers_each_task_and_refuses_only_the_stale_one(f: Fixture) {
    for i in 0..3 {
        f.store.enqueue(Task::new("t", format!("{i}"))).await.unwrap();
    }
    let leases = f.store.lease(LeaseRequest::new("t").max(3)).await.unwrap();
    let mut acks: Vec<_> = leases.iter().map(|l| (l.id(), l.token, Payload::from("done"))).collect();
    acks[1].1 = LeaseToken(acks[1].1.0 + 1_000);
    let answers = f.store.ack_batch(acks).await.unwrap();
    assert!(answers[0].is_ok() && answers[2].is_ok(), "{answers:?}");
    assert!(matches!(answers[1], Err(QueueError::LeaseLost { status: TaskStatus::Leased, .. })), "{answers:?}");
    assert_eq!(f.store.counts().await.unwrap().status(TaskStatus::Succeeded), 2);
}

pub async fn a_stale_lease_token_is_refused_after_the_task_was_handed_out_again(f: Fixture) {
    let id = f.store.enqueue(Task::new("t", "x").retry(no_jitter(3))).await.unwrap().id;
    let old = lease_one(&f, "t").await.unwrap();
    f.clock.advance(Duration::from_secs(31));
    assert_eq!(f.store.expire_due().await.unwrap(), 1);
    f.clock.advance(SEC); // past the 1 s retry backoff
    let new = lease_one(&f, "t").await.unwrap();
    assert_eq!(new.task.attempts, 2);
    let err = f.store.ack(id, old.token, Payload::from("late")).await.unwrap_err();
    assert!(matches!(err, QueueError::LeaseLost { status: TaskStatus::Leased, .. }), "{err}");
    f.store.ack(id, new.token, Payload::from("ok")).await.unwrap();
}

pub async fn a_transient_nack_retries_after_backoff_then_dead_letters_when_attempts_are_spent(f: Fixture) {
    let id = f.store.enqueue(Task::new("t", "x").retry(no_jitter(3))).await.unwrap().id;
    let mut delays = Vec::new();
    for attempt in 1..=3u32 {
        let lease = lease_one(&f, "t").await.unwrap();
        assert_eq!(lease.task.attempts, attempt);
        match f.store.nack(id, lease.token, Nack::transient("boom")).await.unwrap() {
            NackOutcome::Retrying { at } => {
                delays.push(at.since(f.clock.now()));
                assert!(lease_one(&f, "t").await.is_none(), "not leasable before its retry time");
                f.clock.set(at);
            }
            NackOutcome::DeadLettered => assert_eq!(attempt, 3),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(delays, vec![SEC, 2 * SEC]);
    let rec = f.store.get(id).await.unwrap().unwrap();
    assert_eq!(rec.status, TaskStatus::DeadLettered);
    assert_eq!(rec.failure.unwrap().attempt, 3);
}

pub async fn a_released_task_is_pending_at_once_without_its_attempt_counted(f: Fixture) {
    let id = f.store.enqueue(Task::new("t", "x").retry(no_jitter(2))).await.unwrap().id;
    for _ in 0..5 {
        let lease = lease_one(&f, "t").await.unwrap();
        f.store.release(id, lease.token).await.unwrap();
        let rec = f.store.get(id).await.unwrap().unwrap();
        assert_eq!((rec.status, rec.attempts), (TaskStatus::Pending, 0));
        let stale = f.store.release(id, lease.token).await;
        assert!(matches!(stale, Err(QueueError::LeaseLost { .. })), "{stale:?}");
    }
}

pub async fn a_permanent_nack_fails_the_task_at_once(f: Fixture) {
    let id = f.store.enqueue(Task::new("t", "x").retry(no_jitter(5))).await.unwrap().id;
    let lease = lease_one(&f, "t").await.unwrap();
    assert_eq!(f.store.nack(id, lease.token, Nack::permanent("bad input")).await.unwrap(), NackOutcome::Failed);
    let rec = f.store.get(id).await.unwrap().unwrap();
    assert_eq!(rec.status, TaskStatus::Failed);
    assert_eq!(rec.failure.unwrap().kind, FailureKind::Permanent);
}

pub async fn retry_after_overrides_the_backoff(f: Fixture) {
    let id = f.store.enqueue(Task::new("t", "x").retry(no_jitter(5))).await.unwrap().id;
    let lease = lease_one(&f, "t").await.unwrap();
    let out = f.store.nack(id, lease.token, Nack::transient("429").retry_after(Duration::from_secs(7))).await.unwrap();
    assert_eq!(out, NackOutcome::Retrying { at: f.clock.now().add(Duration::from_secs(7)) });
}

pub async fn an_expired_lease_returns_the_task_to_pending_with_its_attempt_counted(f: Fixture) {
    let id = f.store.enqueue(Task::new("t", "x").retry(no_jitter(3))).await.unwrap().id;
    lease_one(&f, "t").await.unwrap();
    f.clock.advance(Duration::from_secs(31));
    assert_eq!(f.store.expire_due().await.unwrap(), 1);
    let rec = f.store.get(id).await.unwrap().unwrap();
    assert_eq!((rec.status, rec.attempts), (TaskStatus::Pending, 1));
    assert_eq!(rec.failure.unwrap().kind, FailureKind::LeaseExpired);
}

pub async fn an_expired_lease_on_the_last_attempt_dead_letters(f: Fixture) {
    let id = f.store.enqueue(Task::new("t", "x").max_attempts(1)).await.unwrap().id;
    lease_one(&f, "t").await.unwrap();
    f.clock.advance(Duration::from_secs(31));
    assert!(lease_one(&f, "t").await.is_none());
    assert_eq!(status(&f, id).await, TaskStatus::DeadLettered);
}

pub async fn an_extended_lease_does_not_expire_at_its_first_expiry(f: Fixture) {
    let id = f.store.enqueue(Task::new("t", "x")).await.unwrap().id;
    let lease = lease_one(&f, "t").await.unwrap();
    f.clock.advance(Duration::from_secs(20));
    f.store.extend(id, lease.token, Duration::from_secs(30)).await.unwrap();
    f.clock.advance(Duration::from_secs(20));
    assert_eq!(f.store.expire_due().await.unwrap(), 0);
    f.store.ack(id, lease.token, Payload::default()).await.unwrap();
}

pub async fn a_task_past_its_deadline_is_dead_lettered_instead_of_leased(f: Fixture) {
    let id = f.store.enqueue(Task::new("t", "x").deadline_in(Duration::from_secs(10))).await.unwrap().id;
    f.clock.advance(Duration::from_secs(11));
    assert!(lease_one(&f, "t").await.is_none());
    let rec = f.store.get(id).await.unwrap().unwrap();
    assert_eq!(rec.status, TaskStatus::DeadLettered);
    assert_eq!(rec.failure.unwrap().kind, FailureKind::DeadlineExceeded);
}

pub async fn cancel_stops_pending_and_leased_tasks_but_not_finished_ones(f: Fixture) {
    let pending = f.store.enqueue(Task::new("t", "a")).await.unwrap().id;
    assert_eq!(f.store.cancel(pending).await.unwrap().status, TaskStatus::Cancelled);
    let leased = f.store.enqueue(Task::new("t", "b")).await.unwrap().id;
    let lease = lease_one(&f, "t").await.unwrap();
    f.store.cancel(leased).await.unwrap();
    assert!(matches!(f.store.ack(leased, lease.token, Payload::default()).await, Err(QueueError::LeaseLost { .. })));
    let err = f.store.cancel(leased).await.unwrap_err();
    assert!(matches!(err, QueueError::AlreadyFinished { status: TaskStatus::Cancelled, .. }));
    assert!(matches!(f.store.cancel(TaskId(999_999)).await, Err(QueueError::NotFound(_))));
}

pub async fn redrive_gives_a_dead_letter_a_fresh_attempt_budget(f: Fixture) {
    let id = f.store.enqueue(Task::new("t", "x").max_attempts(1)).await.unwrap().id;
    let lease = lease_one(&f, "t").await.unwrap();
    f.store.nack(id, lease.token, Nack::transient("no")).await.unwrap();
    assert_eq!(f.store.dead_letters(None, 10).await.unwrap().iter().map(|r| r.id).collect::<Vec<_>>(), vec![id]);
    assert!(matches!(f.store.redrive(TaskId(424_242)).await, Err(QueueError::NotFound(_))));
    f.store.redrive(id).await.unwrap();
    let lease = lease_one(&f, "t").await.unwrap();
    assert_eq!(lease.task.attempts, 1);
    assert!(matches!(f.store.redrive(id).await, Err(QueueError::NotRedrivable { .. })));
}

pub async fn dead_letters_page_in_id_order(f: Fixture) {
    let mut ids = Vec::new();
    for i in 0..5 {
        let id = f.store.enqueue(Task::new("t", format!("{i}")).max_attempts(1)).await.unwrap().id;
        let lease = lease_one(&f, "t").await.unwrap();
        f.store.nack(id, lease.token, Nack::transient("x")).await.unwrap();
        ids.push(id);
    }
    let first = f.store.dead_letters(None, 2).await.unwrap();
    let rest = f.store.dead_letters(first.last().map(|r| r.id), 10).await.unwrap();
    let all: Vec<TaskId> = first.iter().chain(&rest).map(|r| r.id).collect();
    assert_eq!(all, ids);
}

pub async fn counts_are_kept_by_status_and_priority(f: Fixture) {
    for p in [0u8, 0, 3] {
        f.store.enqueue(Task::new("t", "x").priority(p)).await.unwrap();
    }
    lease_one(&f, "t").await.unwrap();
    let counts = f.store.counts().await.unwrap();
    assert_eq!(counts.status(TaskStatus::Pending), 2);
    assert_eq!(counts.status(TaskStatus::Leased), 1);
    assert_eq!(counts.status_priority(TaskStatus::Leased, 3), 1);
    assert_eq!(counts.status_priority(TaskStatus::Pending, 0), 2);
    assert_eq!(counts.unfinished(), 3);
}

pub async fn wait_returns_the_final_record_or_times_out_with_the_status(f: Fixture) {
    let id = f.store.enqueue(Task::new("t", "x")).await.unwrap().id;
    let err = f.store.wait(id, Duration::from_millis(10)).await.unwrap_err();
    assert!(matches!(err, QueueError::WaitTimeout { status: TaskStatus::Pending, .. }), "{err}");
    let store = f.store.clone();
    let waiter = tokio::spawn(async move { store.wait(id, Duration::from_secs(30)).await });
    let lease = lease_one(&f, "t").await.unwrap();
    f.store.ack(id, lease.token, Payload::from("r")).await.unwrap();
    let rec = waiter.await.unwrap().unwrap();
    assert_eq!(rec.result, Some(Payload::from("r")));
    assert_eq!(f.store.wait(id, Duration::ZERO).await.unwrap().status, TaskStatus::Succeeded);
}

pub async fn purge_drops_old_finished_tasks_and_frees_their_idempotency_keys(f: Fixture) {
    let id = f.store.enqueue(Task::new("t", "x").idempotency_key("k")).await.unwrap().id;
    let lease = lease_one(&f, "t").await.unwrap();
    f.store.ack(id, lease.token, Payload::default()).await.unwrap();
    let keep = f.store.enqueue(Task::new("t", "y")).await.unwrap().id;
    assert_eq!(f.store.purge_finished(Duration::from_secs(60)).await.unwrap(), 0);
    f.clock.advance(Duration::from_secs(61));
    assert_eq!(f.store.purge_finished(Duration::from_secs(60)).await.unwrap(), 1);
    assert!(f.store.get(id).await.unwrap().is_none());
    assert!(f.store.get(keep).await.unwrap().is_some());
    let again = f.store.enqueue(Task::new("t", "z").idempotency_key("k")).await.unwrap();
    assert!(!again.deduplicated);
}

pub async fn ready_count_counts_leasable_tasks_of_a_capability(f: Fixture) {
    for _ in 0..3 {
        f.store.enqueue(Task::new("t", "x").retry(no_jitter(3))).await.unwrap();
    }
    f.store.enqueue(Task::new("u", "y")).await.unwrap();
    assert_eq!(f.store.ready_count("t").await.unwrap(), 3);
    let lease = lease_one(&f, "t").await.unwrap();
    assert_eq!(f.store.ready_count("t").await.unwrap(), 2);
    f.store.nack(lease.id(), lease.token, Nack::transient("later")).await.unwrap();
    assert_eq!(f.store.ready_count("t").await.unwrap(), 2, "not before its retry time");
    f.clock.advance(SEC);
    assert_eq!(f.store.ready_count("t").await.unwrap(), 3, "a retry whose time came counts");
    assert_eq!(f.store.ready_count("nobody").await.unwrap(), 0);
}

pub async fn changes_tick_when_work_arrives(f: Fixture) {
    let mut changes = f.store.changes();
    changes.mark_unchanged();
    f.store.enqueue(Task::new("t", "x")).await.unwrap();
    assert!(changes.has_changed().unwrap());
}

pub async fn next_due_is_the_earliest_lease_expiry_retry_or_deadline(f: Fixture) {
    assert_eq!(f.store.next_due(), None);
    f.store.enqueue(Task::new("t", "x").deadline_in(Duration::from_secs(100))).await.unwrap();
    assert_eq!(f.store.next_due(), Some(START.add(Duration::from_secs(100))));
    f.store.enqueue(Task::new("u", "y")).await.unwrap();
    f.store.lease(LeaseRequest::new("u").lease_for(Duration::from_secs(5))).await.unwrap();
    assert_eq!(f.store.next_due(), Some(START.add(Duration::from_secs(5))));
}

/// Generates one `#[tokio::test]` per case for the backend built by `$make`.
#[macro_export]
macro_rules! queue_conformance {
    ($make:path) => {
        $crate::queue_conformance!(@cases $make;
            a_leased_task_is_the_one_enqueued_with_its_first_attempt_counted,
            higher_priority_is_leased_first_and_fifo_within_a_priority,
            a_lease_only_returns_tasks_of_the_requested_capability,
            an_idempotency_key_seen_before_returns_the_first_task,
            a_batch_with_an_invalid_task_enqueues_nothing,
            an_empty_kind_is_refused_with_a_reason,
            an_acked_task_succeeds_and_is_never_leased_again,
            a_stale_lease_token_is_refused_after_the_task_was_handed_out_again,
            a_batch_ack_answers_each_task_and_refuses_only_the_stale_one,
            a_transient_nack_retries_after_backoff_then_dead_letters_when_attempts_are_spent,
            a_released_task_is_pending_at_once_without_its_attempt_counted,
            a_permanent_nack_fails_the_task_at_once,
            retry_after_overrides_the_backoff,
            an_expired_lease_returns_the_task_to_pending_with_its_attempt_counted,
            an_expired_lease_on_the_last_attempt_dead_letters,
            an_extended_lease_does_not_expire_at_its_first_expiry,
            a_task_past_its_deadline_is_dead_lettered_instead_of_leased,
            cancel_stops_pending_and_leased_tasks_but_not_finished_ones,
            redrive_gives_a_dead_letter_a_fresh_attempt_budget,
            dead_letters_page_in_id_order,
            counts_are_kept_by_status_and_priority,
            wait_returns_the_final_record_or_times_out_with_the_status,
            purge_drops_old_finished_tasks_and_frees_their_idempotency_keys,
            ready_count_counts_leasable_tasks_of_a_capability,
            changes_tick_when_work_arrives,
            next_due_is_the_earliest_lease_expiry_retry_or_deadline,
        );
    };
    (@cases $make:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                let clock = ractor_agents::tasks::ManualClock::new(queue::conformance::START);
                queue::conformance::$case($make(clock).await).await;
            }
        )*
    };
}
