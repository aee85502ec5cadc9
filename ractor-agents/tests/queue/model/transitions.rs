//! The operations a test case runs, how they are generated from the model's state, and the
//! `ReferenceStateMachine` that applies them to the model.

use std::marker::PhantomData;
use std::time::Duration;

use proptest::prelude::*;
use proptest::sample::select;
use proptest::strategy::{BoxedStrategy, Union};
use proptest_state_machine::ReferenceStateMachine;
use ractor_agents::tasks::{FailureKind, Nack, Payload, RetryPolicy, Task, TaskStatus, Timestamp};

use super::backends::Queue;
use super::reference::{Expected, Model, SECOND_US, START_US};

/// A task to enqueue, as plain data (a `Task` is built from it for every backend).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskSpec {
    /// Empty now and then: such a task is refused.
    pub kind: &'static str,
    /// Defaults to the kind.
    pub capability: Option<&'static str>,
    pub payload: u8,
    pub priority: u8,
    pub key: Option<&'static str>,
    pub deadline: Option<DeadlineSpec>,
    pub retry: RetrySpec,
}

impl TaskSpec {
    pub fn is_valid(&self) -> bool {
        !self.kind.is_empty() && self.retry.max_attempts > 0
    }

    pub fn payload(&self) -> Payload {
        Payload::from(format!("payload {}", self.payload))
    }

    pub fn task(&self) -> Task {
        let mut task = Task::new(self.kind, self.payload()).priority(self.priority).retry(self.retry.policy());
        if let Some(capability) = self.capability {
            task = task.capability(capability);
        }
        if let Some(key) = self.key {
            task = task.idempotency_key(key);
        }
        match self.deadline {
            Some(DeadlineSpec::In { secs }) => task.deadline_in(Duration::from_secs(secs)),
            Some(DeadlineSpec::At { secs_after_start }) => {
                task.deadline(Timestamp(START_US + secs_after_start * SECOND_US))
            }
            None => task,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadlineSpec {
    /// Relative to the enqueue (0: due at once).
    In { secs: u64 },
    /// Absolute (may already have passed).
    At { secs_after_start: u64 },
}

/// A retry policy as integers, so the model can compute its delays exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetrySpec {
    /// 0 now and then: such a task is refused.
    pub max_attempts: u32,
    pub initial_ms: u64,
    /// At least `initial_ms`.
    pub max_ms: u64,
    pub factor: u32,
    /// 0 or 50: the share of a delay jitter may remove, in percent.
    pub jitter_pct: u32,
}

impl RetrySpec {
    pub fn policy(&self) -> RetryPolicy {
        RetryPolicy::exponential(
            self.max_attempts,
            Duration::from_millis(self.initial_ms),
            Duration::from_millis(self.max_ms),
        )
        .factor(f64::from(self.factor))
        .jitter(f64::from(self.jitter_pct) / 100.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NackSpec {
    /// Transient, Permanent or WorkerCrashed.
    pub kind: FailureKind,
    pub retry_after_s: Option<u64>,
}

impl NackSpec {
    /// The worker's message: names the lease, so a record shows which report it kept.
    pub fn message(&self, lease: usize) -> String {
        format!("{:?} on lease {lease}", self.kind)
    }

    pub fn nack(&self, lease: usize) -> Nack {
        let message = self.message(lease);
        let nack = match self.kind {
            FailureKind::Permanent => Nack::permanent(message),
            FailureKind::WorkerCrashed => Nack::crashed(message),
            _ => Nack::transient(message),
        };
        match self.retry_after_s {
            Some(secs) => nack.retry_after(Duration::from_secs(secs)),
            None => nack,
        }
    }
}

/// What a lease holder reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    Start,
    Extend { by_s: u64 },
    Ack { result: u8 },
    Nack(NackSpec),
}

/// One step of a test case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    Enqueue(TaskSpec),
    EnqueueBatch(Vec<TaskSpec>),
    Lease {
        capability: &'static str,
        max: usize,
        lease_for_s: u64,
        worker: Option<&'static str>,
    },
    /// A report on task `id` with the token of lease number `lease` (usually that lease's task,
    /// sometimes another one, sometimes a lease long gone).
    Report {
        id: u64,
        lease: usize,
        report: Report,
    },
    Cancel {
        id: u64,
    },
    Redrive {
        id: u64,
    },
    Advance {
        by_ms: u64,
    },
    ExpireDue,
    Purge {
        older_than_s: u64,
    },
    DeadLetters {
        after: Option<u64>,
        limit: usize,
    },
    /// Stop the backend without a clean close and open it again.
    CrashAndReopen {
        journal: Journal,
    },
}

/// What a journaled backend's journal holds when it crashes (a store with its own journal
/// ignores this: its files are what they are).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Journal {
    /// Every event so far.
    Full,
    /// Compacted: a snapshot of the state replaced the events so far.
    Snapshot,
    /// A crash in the middle of compacting: the snapshot was written after the old events,
    /// which were not dropped yet.
    SnapshotAfterEvents,
}

/// The model as a `ReferenceStateMachine` for backend `Q`: generates transitions from its
/// state (crashes only for a backend that restarts), applies them.
pub struct QueueModel<Q>(PhantomData<Q>);

impl<Q: Queue> ReferenceStateMachine for QueueModel<Q> {
    type State = Model;
    type Transition = Transition;

    fn init_state() -> BoxedStrategy<Model> {
        Just(Model::default()).boxed()
    }

    fn transitions(m: &Model) -> BoxedStrategy<Transition> {
        let mut choices: Vec<(u32, BoxedStrategy<Transition>)> = vec![
            (5, task_spec().prop_map(Transition::Enqueue).boxed()),
            (2, prop::collection::vec(task_spec(), 0..4).prop_map(Transition::EnqueueBatch).boxed()),
            (6, lease().boxed()),
            (3, advance().boxed()),
            (1, Just(Transition::ExpireDue).boxed()),
            (2, select(vec![0u64, 1, 10, 60]).prop_map(|older_than_s| Transition::Purge { older_than_s }).boxed()),
            (
                1,
                (proptest::option::of(any_id(m)), 0usize..4)
                    .prop_map(|(after, limit)| Transition::DeadLetters { after, limit })
                    .boxed(),
            ),
            (1, any_id(m).prop_map(|id| Transition::Cancel { id }).boxed()),
            (1, any_id(m).prop_map(|id| Transition::Redrive { id }).boxed()),
        ];
        if Q::RESTARTS {
            let journal = select(vec![Journal::Full, Journal::Snapshot, Journal::SnapshotAfterEvents]);
            choices.push((2, journal.prop_map(|journal| Transition::CrashAndReopen { journal }).boxed()));
        }
        let unfinished: Vec<u64> = m.tasks.values().filter(|t| !t.is_final()).map(|t| t.id).collect();
        if !unfinished.is_empty() {
            choices.push((1, select(unfinished).prop_map(|id| Transition::Cancel { id }).boxed()));
        }
        let redrivable: Vec<u64> = m
            .tasks
            .values()
            .filter(|t| matches!(t.status, TaskStatus::DeadLettered | TaskStatus::Failed))
            .map(|t| t.id)
            .collect();
        if !redrivable.is_empty() {
            choices.push((2, select(redrivable).prop_map(|id| Transition::Redrive { id }).boxed()));
        }
        let live = m.live_leases();
        if !live.is_empty() {
            choices.push((10, report_on(select(live), m).boxed()));
        }
        if !m.leases.is_empty() {
            choices.push((2, report_on(0..m.leases.len(), m).boxed()));
        }
        Union::new_weighted(choices).boxed()
    }

    fn preconditions(m: &Model, t: &Transition) -> bool {
        // Shrinking may drop the lease a report names.
        match t {
            Transition::Report { lease, .. } => *lease < m.leases.len(),
            _ => true,
        }
    }

    fn apply(mut m: Model, t: &Transition) -> Model {
        m.became_ready = false;
        m.expected = match t {
            Transition::Enqueue(spec) => Expected::Enqueued(m.enqueue(spec).map(|e| vec![e])),
            Transition::EnqueueBatch(specs) => Expected::Enqueued(m.enqueue_batch(specs)),
            Transition::Lease { capability, max, lease_for_s, worker } => {
                Expected::Leased(m.lease(capability, *max, lease_for_s * SECOND_US, *worker))
            }
            Transition::Report { id, lease, report } => match report {
                Report::Start => Expected::Started(m.start(*id, *lease)),
                Report::Extend { by_s } => Expected::Extended(m.extend(*id, *lease, by_s * SECOND_US)),
                Report::Ack { result } => Expected::Acked(m.ack(*id, *lease, *result)),
                Report::Nack(nack) => Expected::Nacked(m.nack(*id, *lease, nack)),
            },
            Transition::Cancel { id } => Expected::Cancelled(m.cancel(*id)),
            Transition::Redrive { id } => Expected::Redriven(m.redrive(*id)),
            Transition::Advance { by_ms } => {
                m.now += by_ms * 1_000;
                Expected::Nothing
            }
            Transition::ExpireDue => Expected::Expired(m.expire_due()),
            Transition::Purge { older_than_s } => Expected::Purged(m.purge(older_than_s * SECOND_US)),
            Transition::DeadLetters { after, limit } => Expected::DeadLetters(m.dead_letters(*after, *limit)),
            Transition::CrashAndReopen { .. } => {
                m.restart();
                Expected::Nothing
            }
        };
        m
    }
}

/// Any id: one the model holds, one purged, or the next one (never issued).
fn any_id(m: &Model) -> impl Strategy<Value = u64> + use<> {
    1..=m.next_id
}

fn task_spec() -> impl Strategy<Value = TaskSpec> {
    let kind = prop_oneof![15 => Just("a"), 15 => Just("b"), 1 => Just("")];
    let capability = prop_oneof![4 => Just(None), 1 => Just(Some("a")), 1 => Just(Some("b"))];
    let priority = select(vec![0u8, 1, 5, 255]);
    let key = prop_oneof![3 => Just(None), 1 => select(vec!["k0", "k1", "k2"]).prop_map(Some)];
    let deadline = prop_oneof![
        4 => Just(None),
        1 => select(vec![0u64, 5, 20, 60]).prop_map(|secs| Some(DeadlineSpec::In { secs })),
        1 => select(vec![0u64, 30, 120]).prop_map(|secs_after_start| Some(DeadlineSpec::At { secs_after_start })),
    ];
    (kind, capability, any::<u8>(), priority, key, deadline, retry_spec()).prop_map(
        |(kind, capability, payload, priority, key, deadline, retry)| TaskSpec {
            kind,
            capability,
            payload,
            priority,
            key,
            deadline,
            retry,
        },
    )
}

fn retry_spec() -> impl Strategy<Value = RetrySpec> {
    let max_attempts = prop_oneof![1 => Just(0u32), 20 => 1u32..=3];
    let initial_ms = select(vec![0u64, 1_000, 3_000]);
    let extra_ms = select(vec![0u64, 7_000]);
    let jitter_pct = prop_oneof![3 => Just(0u32), 1 => Just(50u32)];
    (max_attempts, initial_ms, extra_ms, 1u32..=3, jitter_pct).prop_map(
        |(max_attempts, initial_ms, extra_ms, factor, jitter_pct)| RetrySpec {
            max_attempts,
            initial_ms,
            max_ms: initial_ms + extra_ms,
            factor,
            jitter_pct,
        },
    )
}

fn lease() -> impl Strategy<Value = Transition> {
    let capability = prop_oneof![5 => Just("a"), 5 => Just("b"), 1 => Just("c")];
    let max = prop_oneof![1 => Just(0usize), 6 => 1usize..=3];
    let lease_for_s = prop_oneof![1 => Just(0u64), 1 => Just(1u64), 2 => Just(10u64), 3 => Just(30u64)];
    let worker = select(vec![None, Some("w1"), Some("w2")]);
    (capability, max, lease_for_s, worker).prop_map(|(capability, max, lease_for_s, worker)| Transition::Lease {
        capability,
        max,
        lease_for_s,
        worker,
    })
}

fn advance() -> impl Strategy<Value = Transition> {
    let by_ms = prop_oneof![
        1 => Just(1u64),
        2 => Just(1_000u64),
        2 => Just(5_000u64),
        2 => Just(31_000u64),
        1 => Just(61_000u64),
        1 => Just(3_600_000u64),
    ];
    by_ms.prop_map(|by_ms| Transition::Advance { by_ms })
}

/// A report with the token of a lease picked by `lease`: mostly on that lease's own task.
fn report_on<L: Strategy<Value = usize>>(lease: L, m: &Model) -> impl Strategy<Value = Transition> + use<L> {
    let tasks_of_leases = m.leases.clone();
    let nack = (
        prop_oneof![3 => Just(FailureKind::Transient), 1 => Just(FailureKind::Permanent), 1 => Just(FailureKind::WorkerCrashed)],
        prop_oneof![3 => Just(None), 1 => select(vec![0u64, 2, 7]).prop_map(Some)],
    )
        .prop_map(|(kind, retry_after_s)| Report::Nack(NackSpec { kind, retry_after_s }));
    let report = prop_oneof![
        2 => Just(Report::Start),
        1 => select(vec![0u64, 5, 30, 60]).prop_map(|by_s| Report::Extend { by_s }),
        4 => any::<u8>().prop_map(|result| Report::Ack { result }),
        4 => nack,
    ];
    (lease, report, prop::bool::weighted(0.1), any_id(m)).prop_map(move |(lease, report, other_task, other)| {
        let id = if other_task { other } else { tasks_of_leases[lease] };
        Transition::Report { id, lease, report }
    })
}
