//! The queue's operations on [`QueueState`]: each checks its request against the task's state,
//! then commits one event per change.

use std::time::Duration;

use super::QueueError;
use super::event::{Event, EventSink};
use super::model::{
    Enqueued, FailureInfo, FailureKind, Lease, LeaseRequest, LeaseToken, Nack, NackOutcome, Task, TaskId, TaskRecord,
    TaskStatus,
};
use super::payload::Payload;
use super::state::QueueState;
use super::time::Timestamp;

impl QueueState {
    /// Adds a task, or returns the id of the task already holding its idempotency key. An
    /// invalid task is refused even when its key is known (as in a batch).
    pub fn enqueue(&mut self, now: Timestamp, task: Task, sink: &mut impl EventSink) -> Result<Enqueued, QueueError> {
        task.validate()?;
        if let Some(id) = task.idempotency_key.as_ref().and_then(|k| self.idx.idempotency.get(k)) {
            return Ok(Enqueued { id: *id, deduplicated: true });
        }
        let rec = task.into_record(TaskId(self.next_id), now)?;
        let id = rec.id;
        let rec = Box::new(rec);
        self.idx.lane(&rec.capability).metrics.enqueued.increment(1);
        self.commit(Event::Enqueued(rec), sink);
        Ok(Enqueued { id, deduplicated: false })
    }

    /// Adds several tasks: all of them, or none if one is invalid. Duplicates (by idempotency
    /// key, within the batch too) are reported as such.
    pub fn enqueue_batch(
        &mut self,
        now: Timestamp,
        tasks: Vec<Task>,
        sink: &mut impl EventSink,
    ) -> Result<Vec<Enqueued>, QueueError> {
        for task in &tasks {
            task.validate()?;
        }
        tasks.into_iter().map(|t| self.enqueue(now, t, sink)).collect()
    }

    /// Leases up to `req.max` tasks requiring `req.capability`, highest priority first, FIFO
    /// within a priority. Runs due timers first (expired leases, passed deadlines, retry times).
    pub fn lease(&mut self, now: Timestamp, req: &LeaseRequest, sink: &mut impl EventSink) -> Vec<Lease> {
        self.expire_due(now, sink);
        let mut leases = Vec::with_capacity(req.max.min(64));
        let expires_at = now.add(req.duration);
        while leases.len() < req.max {
            let Some((_, id)) = self.idx.lanes.get_mut(&req.capability).and_then(|l| l.ready.pop_first()) else {
                break;
            };
            let Some(rec) = self.tasks.get(&id) else { continue };
            let token = LeaseToken(self.next_token);
            let waited = now.since(rec.available_at);
            self.commit(Event::Leased { id, token, at: now, expires_at, worker: req.worker.clone() }, sink);
            if let Some(rec) = self.tasks.get(&id) {
                if let Some(m) = self.idx.metrics(&rec.capability) {
                    m.record_lease(waited);
                }
                leases.push(Lease { task: TaskRecord::clone(rec), token, expires_at });
            }
        }
        leases
    }

    /// The lease holder reports it started (Leased → Running). Idempotent while Running.
    pub fn start(
        &mut self,
        now: Timestamp,
        id: TaskId,
        token: LeaseToken,
        sink: &mut impl EventSink,
    ) -> Result<(), QueueError> {
        if self.held(id, token)?.status == TaskStatus::Leased {
            self.commit(Event::Started { id, at: now }, sink);
        }
        Ok(())
    }

    /// Moves the lease's expiry to `now + by`; returns the new expiry.
    pub fn extend(
        &mut self,
        now: Timestamp,
        id: TaskId,
        token: LeaseToken,
        by: Duration,
        sink: &mut impl EventSink,
    ) -> Result<Timestamp, QueueError> {
        self.held(id, token)?;
        let expires_at = now.add(by);
        self.commit(Event::Extended { id, expires_at }, sink);
        Ok(expires_at)
    }

    /// Completes the task with `result`. It will never be handed out again.
    pub fn ack(
        &mut self,
        now: Timestamp,
        id: TaskId,
        token: LeaseToken,
        result: Payload,
        sink: &mut impl EventSink,
    ) -> Result<(), QueueError> {
        let rec = self.held(id, token)?;
        if let (Some(lease), Some(m)) = (&rec.lease, self.idx.metrics(&rec.capability)) {
            m.record_success(now.since(lease.leased_at), rec.attempts);
        }
        self.commit(Event::Acked { id, at: now, result }, sink);
        Ok(())
    }

    /// Gives the task back after a failed attempt: retried after its backoff (or the nack's
    /// retry-after), dead-lettered when its attempts are spent, Failed when permanent.
    pub fn nack(
        &mut self,
        now: Timestamp,
        id: TaskId,
        token: LeaseToken,
        nack: Nack,
        sink: &mut impl EventSink,
    ) -> Result<NackOutcome, QueueError> {
        let rec = self.held(id, token)?;
        let failure = FailureInfo { kind: nack.kind, message: nack.message, attempt: rec.attempts };
        if let Some(m) = self.idx.metrics(&rec.capability) {
            m.nacked.increment(1);
        }
        let (event, outcome) = self.failure_event(rec, now, failure, nack.retry_after);
        self.commit(event, sink);
        Ok(outcome)
    }

    /// Gives a leased task back untouched — it was never handed to a worker, or its worker
    /// never started it: Pending at once, and this lease does not count as an attempt.
    pub fn release(
        &mut self,
        now: Timestamp,
        id: TaskId,
        token: LeaseToken,
        sink: &mut impl EventSink,
    ) -> Result<(), QueueError> {
        self.held(id, token)?;
        self.commit(Event::Released { id, at: now }, sink);
        Ok(())
    }

    /// Cancels a task that has not finished; returns its record. A worker holding it gets
    /// `LeaseLost` when it reports.
    pub fn cancel(&mut self, now: Timestamp, id: TaskId, sink: &mut impl EventSink) -> Result<TaskRecord, QueueError> {
        let rec = self.tasks.get(&id).ok_or(QueueError::NotFound(id))?;
        if rec.status.is_final() {
            return Err(QueueError::AlreadyFinished { id, status: rec.status });
        }
        self.commit(Event::Cancelled { id, at: now }, sink);
        self.tasks.get(&id).map(|r| TaskRecord::clone(r)).ok_or(QueueError::NotFound(id))
    }

    /// Sends a dead-lettered (or failed) task back to Pending with a fresh attempt budget and no
    /// deadline.
    pub fn redrive(&mut self, now: Timestamp, id: TaskId, sink: &mut impl EventSink) -> Result<(), QueueError> {
        let rec = self.tasks.get(&id).ok_or(QueueError::NotFound(id))?;
        if !matches!(rec.status, TaskStatus::DeadLettered | TaskStatus::Failed) {
            return Err(QueueError::NotRedrivable { id, status: rec.status });
        }
        self.commit(Event::Redriven { id, at: now }, sink);
        Ok(())
    }

    /// Runs what is due at `now`: retry times that have come make tasks leasable, expired leases
    /// count as failed attempts, passed deadlines dead-letter. Returns how many tasks changed
    /// state or became leasable.
    pub fn expire_due(&mut self, now: Timestamp, sink: &mut impl EventSink) -> usize {
        let mut changed = 0;
        while let Some(&(deadline, id)) = self.idx.deadlines.first() {
            if deadline > now {
                break;
            }
            let attempt = self.tasks.get(&id).map_or(0, |r| r.attempts);
            let failure = FailureInfo {
                kind: FailureKind::DeadlineExceeded,
                message: "the task's deadline passed before it finished".into(),
                attempt,
            };
            self.idx.deadlines.pop_first();
            crate::telemetry::metrics::dead_letter("deadline");
            self.commit(Event::DeadLettered { id, at: now, failure }, sink);
            changed += 1;
        }
        while let Some(&(expires_at, id)) = self.idx.leases.first() {
            if expires_at > now {
                break;
            }
            let Some(rec) = self.tasks.get(&id) else {
                self.idx.leases.pop_first();
                continue;
            };
            let failure = FailureInfo {
                kind: FailureKind::LeaseExpired,
                message: "the lease ran out before the worker acked".into(),
                attempt: rec.attempts,
            };
            if let Some(m) = self.idx.metrics(&rec.capability) {
                m.lease_expired.increment(1);
            }
            let (event, _) = self.failure_event(rec, now, failure, None);
            self.commit(event, sink);
            changed += 1;
        }
        changed + self.idx.promote_due(now, &self.tasks)
    }

    /// Drops finished tasks that finished before `before` (their results and idempotency keys
    /// go with them). Returns how many.
    pub fn purge_finished(&mut self, before: Timestamp, sink: &mut impl EventSink) -> usize {
        let mut purged = 0;
        while let Some(&(at, id)) = self.idx.finished.front() {
            if at >= before {
                break;
            }
            self.idx.finished.pop_front();
            // Skip stale entries: the task was redriven (or re-finished later).
            if self.tasks.get(&id).is_some_and(|r| r.status.is_final() && r.updated_at == at) {
                self.commit(Event::Purged { id }, sink);
                purged += 1;
            }
        }
        purged
    }

    /// The task if `token` is its current lease.
    fn held(&self, id: TaskId, token: LeaseToken) -> Result<&TaskRecord, QueueError> {
        let rec = self.tasks.get(&id).ok_or(QueueError::NotFound(id))?;
        match &rec.lease {
            Some(lease) if lease.token == token && rec.status.is_leased() => Ok(rec),
            _ => Err(QueueError::LeaseLost { id, status: rec.status }),
        }
    }

    /// What a failed attempt leads to.
    fn failure_event(
        &self,
        rec: &TaskRecord,
        now: Timestamp,
        failure: FailureInfo,
        retry_after: Option<Duration>,
    ) -> (Event, NackOutcome) {
        let id = rec.id;
        if failure.kind == FailureKind::Permanent {
            if let Some(m) = self.idx.metrics(&rec.capability) {
                m.failed.increment(1);
            }
            (Event::Failed { id, at: now, failure }, NackOutcome::Failed)
        } else if rec.attempts >= rec.retry.max_attempts {
            crate::telemetry::metrics::dead_letter("attempts_spent");
            (Event::DeadLettered { id, at: now, failure }, NackOutcome::DeadLettered)
        } else {
            let delay = retry_after.unwrap_or_else(|| rec.retry.delay(id, rec.attempts));
            let at = now.add(delay);
            (Event::Retrying { id, at: now, available_at: at, failure }, NackOutcome::Retrying { at })
        }
    }
}
