//! Runs a transition on a backend and compares its answer with the model's.
//!
//! Besides the model's expectations, the harness keeps a few facts of its own, so the
//! headline properties are asserted directly (with a message naming them) and not only as a
//! mismatch with the model: a token is issued once; an acked task is never leased again; a
//! token that is not the task's latest is always refused; one lease call hands tasks out in
//! priority order.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use ractor_agents::tasks::{LeaseRequest, LeaseToken, QueueError, TaskId, TaskStatus, Timestamp};

use super::backends::{Queue, Wakeup};
use super::reference::{Expected, Model, Refusal};
use super::transitions::{Report, Transition};

pub struct Harness<Q: Queue> {
    pub queue: Q,
    /// The token of every lease issued, by lease number.
    pub tokens: Vec<LeaseToken>,
    /// Task id → the number of the last lease the queue issued for it.
    latest_lease: BTreeMap<u64, usize>,
    /// Tasks the queue acked.
    acked: BTreeSet<u64>,
}

impl<Q: Queue> Default for Harness<Q> {
    fn default() -> Self {
        Self { queue: Q::fresh(), tokens: Vec::new(), latest_lease: BTreeMap::new(), acked: BTreeSet::new() }
    }
}

impl<Q: Queue> Harness<Q> {
    /// Runs `t` on the backend; `m` is the model after `t`, holding what `t` must answer.
    pub fn apply(&mut self, t: Transition, m: &Model) {
        let crash = matches!(t, Transition::CrashAndReopen { .. });
        self.run(t, m);
        // A restarted queue's first word on readiness reflects its replay, not an operation.
        match self.queue.take_wakeup() {
            _ if crash => {}
            Wakeup::BecameReady(got) => {
                assert_eq!(got, m.became_ready, "became_ready: a capability's leasable set went from empty to not")
            }
            Wakeup::Ticked(ticked) => {
                assert!(ticked || !m.became_ready, "lost wake-up: tasks became leasable and changes() did not tick")
            }
        }
    }

    fn run(&mut self, t: Transition, m: &Model) {
        match (t, &m.expected) {
            (Transition::Enqueue(spec), Expected::Enqueued(want)) => {
                let got = self.queue.enqueue(spec.task()).map(|e| vec![(e.id.0, e.deduplicated)]);
                assert_eq!(outcome(got), *want, "enqueue {spec:?}");
            }
            (Transition::EnqueueBatch(specs), Expected::Enqueued(want)) => {
                let got = self.queue.enqueue_batch(specs.iter().map(|s| s.task()).collect());
                let got = got.map(|all| all.iter().map(|e| (e.id.0, e.deduplicated)).collect::<Vec<_>>());
                assert_eq!(outcome(got), *want, "enqueue_batch {specs:?}");
            }
            (Transition::Lease { capability, max, lease_for_s, worker }, Expected::Leased(numbers)) => {
                let mut request = LeaseRequest::new(capability).max(max).lease_for(Duration::from_secs(lease_for_s));
                if let Some(worker) = worker {
                    request = request.worker(worker);
                }
                let leases = self.queue.lease(request).expect("lease");
                let got: Vec<u64> = leases.iter().map(|l| l.id().0).collect();
                let want: Vec<u64> = numbers.iter().map(|n| m.leases[*n]).collect();
                assert_eq!(got, want, "lease {capability:?} max {max}: the model's highest-priority, lowest-id tasks");
                let order: Vec<_> = leases.iter().map(|l| (Reverse(l.task.priority), l.id())).collect();
                assert!(order.is_sorted(), "one lease call handed tasks out of priority order: {order:?}");
                for (lease, &number) in leases.iter().zip(numbers) {
                    let id = lease.id().0;
                    assert!(!self.acked.contains(&id), "{} was acked, yet leased again", lease.id());
                    assert!(!self.tokens.contains(&lease.token), "token {:?} issued twice", lease.token);
                    let task = &m.tasks[&id];
                    let expires_at = task.lease.map(|l| Timestamp(l.expires_at));
                    assert_eq!(Some(lease.expires_at), expires_at, "expiry of the lease on {}", lease.id());
                    assert_eq!((lease.task.status, lease.task.attempts), (TaskStatus::Leased, task.attempts));
                    assert_eq!(lease.task.lease.as_ref().map(|l| l.token), Some(lease.token));
                    let stored = self.queue.get(lease.id()).expect("get");
                    assert_eq!(stored.as_ref(), Some(&lease.task), "a lease carries the record as stored");
                    assert_eq!(self.tokens.len(), number);
                    self.tokens.push(lease.token);
                    self.latest_lease.insert(id, number);
                }
            }
            (Transition::Report { id, lease, report }, expected) => self.report(id, lease, report, expected),
            (Transition::Cancel { id }, Expected::Cancelled(want)) => {
                let got = self.queue.cancel(TaskId(id)).map(|rec| {
                    assert_eq!(rec.status, TaskStatus::Cancelled, "cancel returns the cancelled record");
                    let stored = self.queue.get(TaskId(id)).expect("get");
                    assert_eq!(stored.as_ref(), Some(&rec), "cancel returns the record as stored");
                });
                assert_eq!(outcome(got), *want, "cancel task-{id}");
            }
            (Transition::Redrive { id }, Expected::Redriven(want)) => {
                assert_eq!(outcome(self.queue.redrive(TaskId(id))), *want, "redrive task-{id}");
            }
            (Transition::Advance { by_ms }, Expected::Nothing) => self.queue.advance(Duration::from_millis(by_ms)),
            (Transition::ExpireDue, Expected::Expired(want)) => {
                assert_eq!(self.queue.expire_due().expect("expire_due"), *want, "tasks changed by expire_due");
            }
            (Transition::Purge { older_than_s }, Expected::Purged(want)) => {
                let got = self.queue.purge_finished(Duration::from_secs(older_than_s)).expect("purge_finished");
                assert_eq!(got, *want, "tasks purged (finished more than {older_than_s} s ago)");
            }
            (Transition::DeadLetters { after, limit }, Expected::DeadLetters(want)) => {
                let got = self.queue.dead_letters(after.map(TaskId), limit).expect("dead_letters");
                assert_eq!(got.iter().map(|r| r.id.0).collect::<Vec<_>>(), *want, "dead letters after {after:?}");
            }
            (Transition::CrashAndReopen { journal }, Expected::Nothing) => self.queue.crash_and_reopen(journal),
            (t, expected) => panic!("the model answered {expected:?} to {t:?}: the harness and model disagree"),
        }
    }

    fn report(&mut self, id: u64, lease: usize, report: Report, expected: &Expected) {
        let token = self.tokens[lease];
        let task = TaskId(id);
        let accepted = match (report, expected) {
            (Report::Start, Expected::Started(want)) => {
                let got = outcome(self.queue.start(task, token));
                assert_eq!(got, *want, "start {task} with lease {lease}");
                got.is_ok()
            }
            (Report::Extend { by_s }, Expected::Extended(want)) => {
                let got = outcome(self.queue.extend(task, token, Duration::from_secs(by_s)).map(|t| t.0));
                assert_eq!(got, *want, "extend {task} with lease {lease} by {by_s} s");
                got.is_ok()
            }
            (Report::Ack { result }, Expected::Acked(want)) => {
                let payload = super::check::result_payload(result);
                let got = outcome(self.queue.ack(task, token, payload));
                assert_eq!(got, *want, "ack {task} with lease {lease}");
                if got.is_ok() {
                    self.acked.insert(id);
                }
                got.is_ok()
            }
            (Report::Nack(nack), Expected::Nacked(want)) => {
                let got = outcome(self.queue.nack(task, token, nack.nack(lease)));
                assert_eq!(got, *want, "nack {task} with lease {lease}: {nack:?}");
                got.is_ok()
            }
            (report, expected) => panic!("the model answered {expected:?} to {report:?}"),
        };
        if accepted {
            assert_eq!(self.latest_lease.get(&id), Some(&lease), "a stale lease token was accepted for {task}");
        }
    }
}

/// The refusal an error stands for; any other error fails the test.
fn outcome<T>(result: Result<T, QueueError>) -> Result<T, Refusal> {
    result.map_err(|e| match e {
        QueueError::NotFound(id) => Refusal::NotFound(id.0),
        QueueError::LeaseLost { id, status } => Refusal::LeaseLost(id.0, status),
        QueueError::AlreadyFinished { id, status } => Refusal::AlreadyFinished(id.0, status),
        QueueError::NotRedrivable { id, status } => Refusal::NotRedrivable(id.0, status),
        QueueError::InvalidTask(_) => Refusal::InvalidTask,
        other => panic!("unexpected error: {other}"),
    })
}
