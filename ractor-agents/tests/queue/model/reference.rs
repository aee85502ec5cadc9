//! The reference model: what the queue should hold after any sequence of operations.
//!
//! It is written to be obviously right rather than fast: tasks live in a `BTreeMap` by id and
//! every question ("which task is leased next?", "what is due?") is a plain scan. It shares no
//! code with the implementation; it uses only the public types (`TaskStatus`, `FailureKind`,
//! `NackOutcome`) and, for jittered backoff alone, the public `RetryPolicy::delay`.
//!
//! The rules, as the queue's documentation states them (`ractor_agents::tasks`):
//! * ids are 1, 2, 3, … in enqueue order and never reused; tokens are never reused either;
//! * a lease first runs what is due, then hands out the Pending tasks of its capability whose
//!   retry time has come, highest priority first, lowest id first within a priority;
//! * a lease holds until the queue runs its timers (`lease` or `expire_due`): the only holder of
//!   a lease past its expiry may still report, because nobody else can hold the task yet;
//! * when a deadline and a lease expiry are due at the same check, the deadline wins;
//! * purging drops finished tasks that finished strictly before `now - older_than`;
//! * a retry time is noticed by the queue's timers (`expire_due`, which every lease runs
//!   first): until then the task waits outside its capability's leasable set. `expire_due`
//!   counts the tasks it changed and the retries it noticed, and an operation reports
//!   `became_ready` when some capability's leasable set went from empty to non-empty. A
//!   restarted queue has noticed nothing yet: each retry waiting at the crash is noticed again.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

use ractor_agents::tasks::{FailureKind, NackOutcome, TaskId, TaskStatus, Timestamp};

use super::transitions::{DeadlineSpec, NackSpec, RetrySpec, TaskSpec};

/// Where the model's (and every backend's) clock starts, in microseconds since the epoch.
pub const START_US: u64 = 1_700_000_000_000_000;

pub const SECOND_US: u64 = 1_000_000;

/// One task as the model expects the queue to hold it.
#[derive(Debug, Clone)]
pub struct ModelTask {
    pub id: u64,
    pub spec: TaskSpec,
    pub status: TaskStatus,
    pub attempts: u32,
    /// Absolute, in µs.
    pub deadline: Option<u64>,
    /// Not leasable before this, in µs.
    pub available_at: u64,
    /// When it last became Pending, in µs.
    pub pending_since: u64,
    /// Pending, with a retry time the queue's timers have not noticed yet.
    pub waiting_for_retry: bool,
    pub lease: Option<ModelLease>,
    pub failure: Option<ModelFailure>,
    pub result: Option<u8>,
    pub created_at: u64,
    /// When it reached its current final status, in µs (None while unfinished).
    pub finished_at: Option<u64>,
}

impl ModelTask {
    pub fn capability(&self) -> &'static str {
        self.spec.capability.unwrap_or(self.spec.kind)
    }

    pub fn is_final(&self) -> bool {
        matches!(
            self.status,
            TaskStatus::Succeeded | TaskStatus::Failed | TaskStatus::DeadLettered | TaskStatus::Cancelled
        )
    }

    pub fn is_held(&self) -> bool {
        matches!(self.status, TaskStatus::Leased | TaskStatus::Running)
    }
}

/// A lease the model issued: its number indexes `Model::leases` (and the harness's tokens).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelLease {
    pub number: usize,
    pub leased_at: u64,
    pub expires_at: u64,
    pub worker: Option<&'static str>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelFailure {
    pub kind: FailureKind,
    /// The worker's message; None for the queue's own (expiries), whose wording is not specified.
    pub message: Option<String>,
    pub attempt: u32,
}

/// Why the queue must refuse an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    NotFound(u64),
    LeaseLost(u64, TaskStatus),
    AlreadyFinished(u64, TaskStatus),
    NotRedrivable(u64, TaskStatus),
    InvalidTask,
}

/// What the last transition must have answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    Nothing,
    /// (id, deduplicated) per task.
    Enqueued(Result<Vec<(u64, bool)>, Refusal>),
    /// The lease numbers issued, in the order they must be returned.
    Leased(Vec<usize>),
    Started(Result<(), Refusal>),
    /// The new expiry, in µs.
    Extended(Result<u64, Refusal>),
    Acked(Result<(), Refusal>),
    Nacked(Result<NackOutcome, Refusal>),
    Cancelled(Result<(), Refusal>),
    Redriven(Result<(), Refusal>),
    Expired(usize),
    Purged(usize),
    DeadLetters(Vec<u64>),
}

/// The whole queue as the model sees it.
#[derive(Debug, Clone)]
pub struct Model {
    /// The clock, in µs.
    pub now: u64,
    pub next_id: u64,
    /// Every task enqueued and not purged.
    pub tasks: BTreeMap<u64, ModelTask>,
    /// Lease number → the task it was issued for.
    pub leases: Vec<u64>,
    pub expected: Expected,
    /// Whether the last transition made some capability's leasable set non-empty.
    pub became_ready: bool,
}

impl Default for Model {
    fn default() -> Self {
        Self {
            now: START_US,
            next_id: 1,
            tasks: BTreeMap::new(),
            leases: Vec::new(),
            expected: Expected::Nothing,
            became_ready: false,
        }
    }
}

impl Model {
    /// The capabilities with a task in their leasable set.
    fn capabilities_with_ready_tasks(&self) -> BTreeSet<&'static str> {
        let ready = self.tasks.values().filter(|t| t.status == TaskStatus::Pending && !t.waiting_for_retry);
        ready.map(|t| t.capability()).collect()
    }

    /// Runs `op`, which may only add tasks to leasable sets, and notes whether a set that was
    /// empty gained one.
    fn adding_ready_tasks<T>(&mut self, op: impl FnOnce(&mut Self) -> T) -> T {
        let before = self.capabilities_with_ready_tasks();
        let out = op(self);
        self.became_ready |= self.capabilities_with_ready_tasks() != before;
        out
    }

    /// A restart: the rebuilt queue has noticed no retry time yet.
    pub fn restart(&mut self) {
        for t in self.tasks.values_mut() {
            t.waiting_for_retry = t.status == TaskStatus::Pending && t.available_at > t.pending_since;
        }
    }

    pub fn enqueue(&mut self, spec: &TaskSpec) -> Result<(u64, bool), Refusal> {
        self.adding_ready_tasks(|m| m.enqueue_one(spec))
    }

    fn enqueue_one(&mut self, spec: &TaskSpec) -> Result<(u64, bool), Refusal> {
        if !spec.is_valid() {
            return Err(Refusal::InvalidTask);
        }
        if let Some(key) = spec.key
            && let Some(holder) = self.tasks.values().find(|t| t.spec.key == Some(key))
        {
            return Ok((holder.id, true));
        }
        let id = self.next_id;
        self.next_id += 1;
        let deadline = spec.deadline.map(|d| match d {
            DeadlineSpec::In { secs } => self.now + secs * SECOND_US,
            DeadlineSpec::At { secs_after_start } => START_US + secs_after_start * SECOND_US,
        });
        let task = ModelTask {
            id,
            spec: spec.clone(),
            status: TaskStatus::Pending,
            attempts: 0,
            deadline,
            available_at: self.now,
            pending_since: self.now,
            waiting_for_retry: false,
            lease: None,
            failure: None,
            result: None,
            created_at: self.now,
            finished_at: None,
        };
        self.tasks.insert(id, task);
        Ok((id, false))
    }

    /// All or nothing: one invalid task refuses the batch.
    pub fn enqueue_batch(&mut self, specs: &[TaskSpec]) -> Result<Vec<(u64, bool)>, Refusal> {
        if !specs.iter().all(TaskSpec::is_valid) {
            return Err(Refusal::InvalidTask);
        }
        self.adding_ready_tasks(|m| specs.iter().map(|s| m.enqueue_one(s)).collect())
    }

    /// Passed deadlines dead-letter unfinished tasks; then expired leases count as failed
    /// attempts; then retry times that came are noticed. Returns how many tasks changed or were
    /// noticed.
    pub fn expire_due(&mut self) -> usize {
        let now = self.now;
        let mut changed = 0;
        for task in self.tasks.values_mut() {
            if !task.is_final() && task.deadline.is_some_and(|d| d <= now) {
                task.failure =
                    Some(ModelFailure { kind: FailureKind::DeadlineExceeded, message: None, attempt: task.attempts });
                finish(task, TaskStatus::DeadLettered, now);
                changed += 1;
            }
        }
        // Only additions to leasable sets from here on.
        changed
            + self.adding_ready_tasks(|m| {
                let mut changed = 0;
                for task in m.tasks.values_mut() {
                    if task.is_held() && task.lease.is_some_and(|l| l.expires_at <= now) {
                        let failure =
                            ModelFailure { kind: FailureKind::LeaseExpired, message: None, attempt: task.attempts };
                        fail_attempt(task, failure, None, now);
                        changed += 1;
                    }
                }
                for task in m.tasks.values_mut() {
                    if task.waiting_for_retry && task.available_at <= now {
                        task.waiting_for_retry = false;
                        changed += 1;
                    }
                }
                changed
            })
    }

    pub fn lease(
        &mut self,
        capability: &str,
        max: usize,
        lease_for_us: u64,
        worker: Option<&'static str>,
    ) -> Vec<usize> {
        self.expire_due();
        let now = self.now;
        let mut ready: Vec<&ModelTask> = self
            .tasks
            .values()
            .filter(|t| t.status == TaskStatus::Pending && t.capability() == capability && t.available_at <= now)
            .collect();
        ready.sort_by_key(|t| (Reverse(t.spec.priority), t.id));
        let chosen: Vec<u64> = ready.iter().take(max).map(|t| t.id).collect();
        let mut numbers = Vec::new();
        for id in chosen {
            let number = self.leases.len();
            self.leases.push(id);
            if let Some(task) = self.tasks.get_mut(&id) {
                task.status = TaskStatus::Leased;
                task.attempts += 1;
                task.lease = Some(ModelLease { number, leased_at: now, expires_at: now + lease_for_us, worker });
            }
            numbers.push(number);
        }
        numbers
    }

    /// The task `id`, if lease `number` is its current lease.
    fn held(&mut self, id: u64, number: usize) -> Result<&mut ModelTask, Refusal> {
        let task = self.tasks.get_mut(&id).ok_or(Refusal::NotFound(id))?;
        if task.is_held() && task.lease.is_some_and(|l| l.number == number) {
            Ok(task)
        } else {
            Err(Refusal::LeaseLost(id, task.status))
        }
    }

    pub fn start(&mut self, id: u64, number: usize) -> Result<(), Refusal> {
        let task = self.held(id, number)?;
        task.status = TaskStatus::Running;
        Ok(())
    }

    pub fn extend(&mut self, id: u64, number: usize, by_us: u64) -> Result<u64, Refusal> {
        let now = self.now;
        let task = self.held(id, number)?;
        let expires_at = now + by_us;
        if let Some(lease) = &mut task.lease {
            lease.expires_at = expires_at;
        }
        Ok(expires_at)
    }

    pub fn ack(&mut self, id: u64, number: usize, result: u8) -> Result<(), Refusal> {
        let now = self.now;
        let task = self.held(id, number)?;
        task.result = Some(result);
        finish(task, TaskStatus::Succeeded, now);
        Ok(())
    }

    pub fn nack(&mut self, id: u64, number: usize, nack: &NackSpec) -> Result<NackOutcome, Refusal> {
        let now = self.now;
        self.adding_ready_tasks(|m| {
            let task = m.held(id, number)?;
            let failure = ModelFailure { kind: nack.kind, message: Some(nack.message(number)), attempt: task.attempts };
            Ok(fail_attempt(task, failure, nack.retry_after_s.map(|s| s * SECOND_US), now))
        })
    }

    pub fn cancel(&mut self, id: u64) -> Result<(), Refusal> {
        let now = self.now;
        let task = self.tasks.get_mut(&id).ok_or(Refusal::NotFound(id))?;
        if task.is_final() {
            return Err(Refusal::AlreadyFinished(id, task.status));
        }
        finish(task, TaskStatus::Cancelled, now);
        Ok(())
    }

    pub fn redrive(&mut self, id: u64) -> Result<(), Refusal> {
        self.adding_ready_tasks(|m| m.redrive_one(id))
    }

    fn redrive_one(&mut self, id: u64) -> Result<(), Refusal> {
        let now = self.now;
        let task = self.tasks.get_mut(&id).ok_or(Refusal::NotFound(id))?;
        if !matches!(task.status, TaskStatus::DeadLettered | TaskStatus::Failed) {
            return Err(Refusal::NotRedrivable(id, task.status));
        }
        task.status = TaskStatus::Pending;
        task.attempts = 0;
        task.available_at = now;
        task.pending_since = now;
        task.deadline = None;
        task.finished_at = None;
        Ok(())
    }

    pub fn purge(&mut self, older_than_us: u64) -> usize {
        let before = self.now.saturating_sub(older_than_us);
        let old: Vec<u64> =
            self.tasks.values().filter(|t| t.finished_at.is_some_and(|at| at < before)).map(|t| t.id).collect();
        for id in &old {
            self.tasks.remove(id);
        }
        old.len()
    }

    pub fn dead_letters(&self, after: Option<u64>, limit: usize) -> Vec<u64> {
        self.tasks
            .values()
            .filter(|t| t.status == TaskStatus::DeadLettered && after.is_none_or(|a| t.id > a))
            .map(|t| t.id)
            .take(limit)
            .collect()
    }

    /// The earliest time after now at which something happens by itself: a retry time, a lease
    /// expiry, a deadline. Things already due (at or before now) are left out.
    pub fn next_timer_after_now(&self) -> Option<u64> {
        let mut times = Vec::new();
        for t in self.tasks.values() {
            if t.status == TaskStatus::Pending && t.available_at > self.now {
                times.push(t.available_at);
            }
            if let (true, Some(lease)) = (t.is_held(), t.lease) {
                times.push(lease.expires_at);
            }
            if let (false, Some(deadline)) = (t.is_final(), t.deadline) {
                times.push(deadline);
            }
        }
        times.into_iter().min()
    }

    /// Lease numbers that are some task's current lease.
    pub fn live_leases(&self) -> Vec<usize> {
        self.tasks.values().filter(|t| t.is_held()).filter_map(|t| t.lease.map(|l| l.number)).collect()
    }
}

/// Moves `task` to a final status at `now` (its last failure, if any, stays recorded).
fn finish(task: &mut ModelTask, status: TaskStatus, now: u64) {
    task.status = status;
    task.lease = None;
    task.waiting_for_retry = false;
    task.finished_at = Some(now);
}

/// A failed attempt: permanent → Failed; attempts spent → DeadLettered; else back to Pending
/// after `retry_after` or the policy's backoff.
fn fail_attempt(task: &mut ModelTask, failure: ModelFailure, retry_after_us: Option<u64>, now: u64) -> NackOutcome {
    let permanent = failure.kind == FailureKind::Permanent;
    task.failure = Some(failure);
    if permanent {
        finish(task, TaskStatus::Failed, now);
        NackOutcome::Failed
    } else if task.attempts >= task.spec.retry.max_attempts {
        finish(task, TaskStatus::DeadLettered, now);
        NackOutcome::DeadLettered
    } else {
        let at = now + retry_after_us.unwrap_or_else(|| backoff_us(&task.spec.retry, task.id, task.attempts));
        task.status = TaskStatus::Pending;
        task.available_at = at;
        task.pending_since = now;
        task.waiting_for_retry = at > now;
        task.lease = None;
        NackOutcome::Retrying { at: Timestamp(at) }
    }
}

/// The wait after `failed` failed attempts: `min(initial · factor^(failed-1), max)`, computed
/// here in integers; with jitter, the public `RetryPolicy::delay` decides the cut (it is a hash
/// of the id and attempt, tested by its own doc test).
fn backoff_us(retry: &RetrySpec, id: u64, failed: u32) -> u64 {
    if retry.jitter_pct > 0 {
        let delay = retry.policy().delay(TaskId(id), failed);
        return u64::try_from(delay.as_micros()).unwrap_or(u64::MAX);
    }
    let max = retry.max_ms * 1_000;
    let mut delay = retry.initial_ms * 1_000;
    for _ in 1..failed {
        delay = delay.saturating_mul(u64::from(retry.factor)).min(max);
    }
    delay.min(max)
}
