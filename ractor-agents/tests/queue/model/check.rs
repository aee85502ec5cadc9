//! The invariants checked after every step: the backend holds exactly the model's tasks, in the
//! model's states, with the model's counts, dead letters and timers.

use std::collections::{BTreeMap, BTreeSet};

use ractor_agents::tasks::{Payload, TaskId, TaskRecord, TaskStatus, Timestamp};

use super::backends::Queue;
use super::harness::Harness;
use super::reference::{Model, ModelTask};

/// The result a worker acks with, from the transition's byte.
pub fn result_payload(result: u8) -> Payload {
    Payload::from(format!("result {result}"))
}

impl<Q: Queue> Harness<Q> {
    pub fn check(&self, m: &Model) {
        assert_eq!(self.queue.now(), Timestamp(m.now), "the backend's clock follows the model's");
        self.check_tasks(m);
        self.check_counts(m);
        let dead: Vec<u64> =
            self.queue.dead_letters(None, usize::MAX).expect("dead_letters").iter().map(|r| r.id.0).collect();
        assert_eq!(dead, m.dead_letters(None, usize::MAX), "dead letters, in id order");
        self.check_timers(m);
        assert_eq!(self.queue.ignored_events(), 0, "the live state ignored events: an operation named a missing task");
    }

    /// No task lost, none invented: every id ever issued (and the next one) reads back as the
    /// model holds it, or as absent.
    fn check_tasks(&self, m: &Model) {
        let mut keys = BTreeSet::new();
        for id in 1..=m.next_id {
            let got = self.queue.get(TaskId(id)).expect("get");
            match (m.tasks.get(&id), got) {
                (None, None) => {}
                (Some(want), Some(got)) => {
                    self.check_record(want, &got);
                    attempts_within_budget(&got);
                    if let Some(key) = &got.idempotency_key {
                        assert!(keys.insert(key.clone()), "two kept tasks hold idempotency key {key:?}");
                    }
                }
                (Some(want), None) => panic!("task-{id} lost: the model holds it {}", want.status),
                (None, Some(got)) => {
                    panic!("task-{id} is {} but was never enqueued or was purged", got.status)
                }
            }
        }
    }

    fn check_record(&self, want: &ModelTask, got: &TaskRecord) {
        let id = got.id;
        let spec = &want.spec;
        assert_eq!(
            (&*got.kind, &*got.capability, &got.payload, got.priority, got.idempotency_key.as_deref()),
            (spec.kind, want.capability(), &spec.payload(), spec.priority, spec.key),
            "{id}: what was enqueued"
        );
        assert_eq!(got.retry, spec.retry.policy(), "{id}: retry policy");
        assert_eq!(got.traceparent, None, "{id}: no trace was current at enqueue");
        assert_eq!(
            (got.status, got.attempts, got.deadline, got.available_at, got.created_at),
            (
                want.status,
                want.attempts,
                want.deadline.map(Timestamp),
                Timestamp(want.available_at),
                Timestamp(want.created_at)
            ),
            "{id}: (status, attempts, deadline, available_at, created_at)"
        );
        match (&got.lease, &want.lease) {
            (None, None) => {}
            (Some(got_lease), Some(want_lease)) => {
                assert_eq!(
                    (got_lease.token, got_lease.leased_at, got_lease.expires_at, got_lease.worker.as_deref()),
                    (
                        self.tokens[want_lease.number],
                        Timestamp(want_lease.leased_at),
                        Timestamp(want_lease.expires_at),
                        want_lease.worker
                    ),
                    "{id}: its lease"
                );
            }
            (got_lease, want_lease) => panic!("{id}: lease {got_lease:?}, the model has {want_lease:?}"),
        }
        match (&got.failure, &want.failure) {
            (None, None) => {}
            (Some(got_failure), Some(want_failure)) => {
                assert_eq!(
                    (got_failure.kind, got_failure.attempt),
                    (want_failure.kind, want_failure.attempt),
                    "{id}: last failure"
                );
                if let Some(message) = &want_failure.message {
                    assert_eq!(&got_failure.message, message, "{id}: the worker's failure message");
                }
            }
            (got_failure, want_failure) => panic!("{id}: failure {got_failure:?}, the model has {want_failure:?}"),
        }
        assert_eq!(got.result, want.result.map(result_payload), "{id}: result");
        if let Some(finished_at) = want.finished_at {
            assert_eq!(
                got.updated_at,
                Timestamp(finished_at),
                "{id}: a finished task's updated_at is when it finished"
            );
        }
    }

    fn check_counts(&self, m: &Model) {
        let counts = self.queue.counts().expect("counts");
        let mut want: BTreeMap<(TaskStatus, u8), u64> = BTreeMap::new();
        for t in m.tasks.values() {
            *want.entry((t.status, t.spec.priority)).or_default() += 1;
        }
        let got: BTreeMap<(TaskStatus, u8), u64> = counts.iter().map(|(s, p, n)| ((s, p), n)).collect();
        assert_eq!(got, want, "counts by (status, priority)");
        for status in TaskStatus::ALL {
            let n = m.tasks.values().filter(|t| t.status == status).count() as u64;
            assert_eq!(counts.status(status), n, "count of {status} tasks");
        }
    }

    /// `next_due` never lies in the future past the model's next timer (a consumer sleeping
    /// until then would miss it), and a future `next_due` is exactly that timer. It may be at or
    /// before now (something is due, or a retry time passed and the next lease has yet to
    /// notice). `has_ready` says whether Pending tasks of that capability are past their retry time.
    fn check_timers(&self, m: &Model) {
        let got = self.queue.next_due();
        let want = m.next_timer_after_now().map(Timestamp);
        match (got, want) {
            (Some(got), _) if got <= Timestamp(m.now) => {}
            (got, want) => assert_eq!(got, want, "next_due (now is {})", m.now),
        }
        for capability in ["a", "b", "c"] {
            let ready = m
                .tasks
                .values()
                .any(|t| t.status == TaskStatus::Pending && t.capability() == capability && t.available_at <= m.now);
            if let Some(got) = self.queue.has_ready(capability) {
                assert_eq!(
                    got, ready,
                    "has_ready({capability:?}): a Pending task of that capability is past its retry time"
                );
            }
        }
    }
}

/// A task never runs more attempts than its policy allows: one that spent them is not Pending.
fn attempts_within_budget(got: &TaskRecord) {
    let max = got.retry.max_attempts;
    assert!(got.attempts <= max, "{} ran {} attempts of {max}", got.id, got.attempts);
    if got.status == TaskStatus::Pending {
        assert!(got.attempts < max, "{} is Pending with all {max} attempts spent", got.id);
    }
}
