//! Updates of one agent: status, load, max concurrency, heartbeat, and the lifecycle notices
//! the executor and supervisor send. Each is one CAS on the record's state word, then
//! `Shared::change` publishes it; none takes a lock that a lookup takes.

use std::sync::Arc;

use tokio::time::Instant;

use super::shared::Shared;
use super::state::Record;
use super::{AgentStatus, MAX_CONCURRENCY, RegistryError, StatusReason};

fn unknown(record: &Record) -> RegistryError {
    RegistryError::UnknownAgent { id: record.id.clone() }
}

impl Shared {
    /// Sets the status; `Available` and `Busy` give whichever the load says. Answers the
    /// previous status.
    pub(crate) fn set_status(&self, record: &Arc<Record>, status: AgentStatus) -> Result<AgentStatus, RegistryError> {
        let mut previous = None;
        self.change(record, Some(StatusReason::Requested), |s| {
            previous = s.status();
            Some(if status.takes_work() { s.in_service() } else { s.with_status(status) })
        });
        previous.ok_or_else(|| unknown(record))
    }

    pub(crate) fn set_load(&self, record: &Arc<Record>, load: u32) -> Result<(), RegistryError> {
        if load > MAX_CONCURRENCY {
            return Err(RegistryError::InvalidLoad { id: record.id.clone(), load: u64::from(load) });
        }
        self.change(record, None, |s| Some(s.with_load(load).follow_load()));
        self.ensure_registered(record)
    }

    /// Adds `delta` (negative to subtract) to the load, saturating at 0 and
    /// [`MAX_CONCURRENCY`]; answers the new load.
    pub(crate) fn adjust_load(&self, record: &Arc<Record>, delta: i64) -> Result<u32, RegistryError> {
        let mut load = 0;
        self.change(record, None, |s| {
            load = (i64::from(s.load()).saturating_add(delta)).clamp(0, i64::from(MAX_CONCURRENCY)) as u32;
            Some(s.with_load(load).follow_load())
        });
        self.ensure_registered(record).map(|()| load)
    }

    pub(crate) fn set_max_concurrency(&self, record: &Arc<Record>, max: u32) -> Result<(), RegistryError> {
        if max == 0 || max > MAX_CONCURRENCY {
            return Err(RegistryError::InvalidMaxConcurrency { id: record.id.clone(), max });
        }
        self.change(record, None, |s| Some(s.with_max(max).follow_load()));
        self.ensure_registered(record)
    }

    /// Records a heartbeat; an agent the timer had marked `Unavailable` for missing them goes
    /// back to `Available` (or `Busy`).
    pub(crate) fn heartbeat(&self, record: &Arc<Record>) -> Result<(), RegistryError> {
        record.touch(self.now_ns(Instant::now()));
        if record.state().expired() {
            self.change(record, Some(StatusReason::HeartbeatResumed), |s| s.expired().then(|| s.in_service()));
        }
        self.ensure_registered(record)
    }

    fn ensure_registered(&self, record: &Record) -> Result<(), RegistryError> {
        match record.state().status() {
            Some(_) => Ok(()),
            None => Err(unknown(record)),
        }
    }

    /// Incarnation `incarnation` is running.
    pub(crate) fn came_up(&self, record: &Arc<Record>, incarnation: u64) {
        let reason = if incarnation <= 1 { StatusReason::Started } else { StatusReason::Restarted };
        self.change(record, Some(reason), |s| Some(s.in_service().with_epoch(incarnation)));
    }

    /// A graceful stop was requested: a running agent takes no new work.
    pub(crate) fn draining(&self, record: &Arc<Record>) {
        self.change(record, Some(StatusReason::Stopping), |s| {
            s.status().is_some_and(AgentStatus::takes_work).then(|| s.with_status(AgentStatus::Draining))
        });
    }

    /// Incarnation `incarnation` ended (`Stopped` or `Killed`). A notice from an incarnation
    /// that is no longer the one the status belongs to is ignored: its successor may be up.
    pub(crate) fn went_down(&self, record: &Arc<Record>, incarnation: u64, reason: StatusReason) {
        self.change(record, Some(reason), |s| {
            (s.same_epoch(incarnation) && s.status().is_some_and(AgentStatus::is_running))
                .then(|| s.with_status(AgentStatus::Unavailable))
        });
    }

    /// Incarnation `incarnation` crashed, or failed to start. Never overrides a running
    /// successor.
    pub(crate) fn crashed(&self, record: &Arc<Record>, incarnation: u64) {
        self.change(record, Some(StatusReason::Crashed), |s| {
            (s.same_epoch(incarnation) || !s.status().is_some_and(AgentStatus::is_running))
                .then(|| s.with_status(AgentStatus::Failed).with_epoch(incarnation))
        });
    }
}
